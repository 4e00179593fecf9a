"""Steward's own Schemathesis check: every 4xx is RFC 9457 problem+json with a `rule`.

Loaded with SCHEMATHESIS_HOOKS=steward_checks (this directory on PYTHONPATH) by the
contract test in crates/steward-cli/tests/it/contract.rs.
"""

import json

import schemathesis


@schemathesis.check
def problem_json_for_4xx(ctx, response, case):
    """A 4xx answer is `application/problem+json` with `status` and a `rule`."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = ";".join(response.headers.get("content-type", []))
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered with Content-Type {content_type!r}, "
            "not application/problem+json"
        )
    try:
        problem = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"{response.status_code} problem is not JSON: {error}")
    if not isinstance(problem, dict):
        raise AssertionError(f"{response.status_code} problem is not a JSON object")
    if problem.get("status") != response.status_code:
        raise AssertionError(
            f"problem `status` {problem.get('status')!r} differs from {response.status_code}"
        )
    if not isinstance(problem.get("rule"), str) or not problem["rule"]:
        raise AssertionError(f"{response.status_code} problem has no `rule`: {problem}")
    return None
