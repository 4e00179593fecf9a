"""Drives Steward's MCP server with the official MCP Python SDK (`mcp` on PyPI).

Run by the CLI suite (tests/it/service/mcp.rs), never by hand in CI:

    mcp_client.py http  URL  MODE   # Streamable HTTP at URL (…/mcp)
    mcp_client.py stdio STEWARD MODE  # spawns `STEWARD mcp`

MODE is `legacy` (the initialize handshake, protocol 2025-11-25) or `auto` (the client
probes `server/discover` and speaks the newest version both sides know, 2026-07-28).
The token, the worker and the permits come from the environment (STEWARD_TOKEN,
STEWARD_SERVER for stdio, WORKER, TASK_FILE, EVIDENCE_FILE, ACTIVE_PERMIT). It lists
the tools and calls each one, and prints one JSON document with what it saw; the Rust
test asserts on it.
"""

import asyncio
import json
import os
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def result_of(call):
    return {
        "is_error": bool(call.is_error),
        "structured": call.structured_content,
        "text": [c.text for c in call.content if getattr(c, "type", None) == "text"],
    }


async def session(client):
    env = os.environ
    listed = await client.list_tools()
    tools = {
        t.name: {
            "title": t.title,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True)
            if t.annotations
            else None,
            "input_schema": t.input_schema,
        }
        for t in listed.tools
    }
    with open(env["TASK_FILE"]) as f:
        task = json.load(f)
    with open(env["EVIDENCE_FILE"]) as f:
        evidence = json.load(f)
    worker = env["WORKER"]
    calls = {}
    calls["analyze_task"] = await client.call_tool("analyze_task", {"task": task})
    calls["request_permit"] = await client.call_tool(
        "request_permit", {"task": task, "worker_id": worker, "evidence": evidence}
    )
    requested = calls["request_permit"].structured_content or {}
    calls["permit_status"] = await client.call_tool(
        "permit_status", {"permit_id": requested.get("permit_id", "")}
    )
    calls["authorize_operation"] = await client.call_tool(
        "authorize_operation",
        {
            "worker_id": worker,
            "environment": "production",
            "action": "deploy",
            "service": "api",
            "method": "POST",
            "permit_id": env["ACTIVE_PERMIT"],
            "record": True,
        },
    )
    calls["report_telemetry"] = await client.call_tool(
        "report_telemetry",
        {"permit_id": env["ACTIVE_PERMIT"], "error_rate": 0.001, "health": "ok"},
    )
    calls["declare_emergency"] = await client.call_tool(
        "declare_emergency",
        {
            "incident_id": "INC-42",
            "worker_id": worker,
            "scope": {
                "environment": "production",
                "operations": ["restart"],
                "services_affected": ["api"],
            },
            "reason": "api is down",
            "minutes": 30,
        },
    )
    # Refusals come back as tool errors carrying the route's problem document.
    calls["bad_argument"] = await client.call_tool(
        "authorize_operation", {"worker_id": worker, "environment": "moon"}
    )
    calls["unknown_permit"] = await client.call_tool(
        "permit_status", {"permit_id": "no-such-permit"}
    )
    return {
        "protocol_version": client.protocol_version,
        "server": client.server_info.name if client.server_info else None,
        "tools": tools,
        "calls": {name: result_of(call) for name, call in calls.items()},
    }


async def main():
    transport, target, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    token = os.environ["STEWARD_TOKEN"]
    if transport == "http":
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http:
            server = streamable_http_client(target, http_client=http)
            async with Client(server, mode=mode, cache=None) as client:
                report = await session(client)
    else:
        params = StdioServerParameters(
            command=target,
            args=["mcp"],
            env={
                "STEWARD_SERVER": os.environ["STEWARD_SERVER"],
                "STEWARD_TOKEN": token,
            },
        )
        async with Client(params, mode=mode, cache=None) as client:
            report = await session(client)
    print(json.dumps(report))


asyncio.run(main())
