#!/usr/bin/env bash
# Quick start: from a fresh `steward serve` to an active level-2 production permit.
# Run with STEWARD_TOKEN set to the admin token the first `steward serve` printed.
# Needs `steward` and `jq` on PATH; run it from the repository root.
set -euo pipefail

# 1. An approver: a person who may approve level-2 work (and level-2 certifications).
alice=$(steward principal create --kind human --name alice --role engineering_manager --json | jq -r .id)
alice_token=$(steward token create --principal "$alice" --label "alice's laptop" --json | jq -r .token)

# 2. The agent you already run, certified at level 2 on its record elsewhere: you ask,
#    alice approves (nobody approves what they asked for).
worker=$(steward worker register --name deploy-bot --domain api --json | jq -r .id)
steward worker certify "$worker" --level 2 --prior-operations 340 \
  --link https://ci.example.com/bots/deploy-bot \
  --justification "ran 340 production deploys of the API in 2026 without an incident"
STEWARD_TOKEN=$alice_token steward worker approve-certification "$worker" --role engineering_manager

# 3. A production change: request its permit with the evidence level 2 asks for (a
#    rollback plan, test results, a code review); alice approves; the permit is active.
permit=$(steward permit request --task examples/release-api.json --worker "$worker" \
  --evidence-file examples/release-api-evidence.json --json | jq -r .id)
STEWARD_TOKEN=$alice_token steward permit approve "$permit" --role engineering_manager \
  --comment "rollback plan checked"
steward permit show "$permit"
