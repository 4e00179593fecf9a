#!/usr/bin/env bash
# The seeds' master flow with the steward CLI alone: analyse the task, request a permit
# and wait for its approval, spawn the worker with its own token, and have the worker
# authorize every step before it takes it.
#
#   STEWARD_SERVER=… STEWARD_TOKEN=<master token> WORKER=<worker id> \
#     examples/master-flow.sh examples/release-api.json examples/release-api-evidence.json
#
# WORKER is a worker this master owns, certified for the task's level. Needs `steward`
# and `jq` on PATH. Exit codes: 0 done; the wait's code when no permit was granted (4
# rejected, 5 expired, 6 revoked, 7 changes requested, 9 timed out after WAIT_TIMEOUT,
# default 2h); 1 when the worker was denied a step; 2 bad input.
set -euo pipefail

task=${1:?usage: master-flow.sh TASK_FILE [EVIDENCE_FILE]}
evidence=${2:-}
: "${WORKER:?set WORKER to the id of a worker you own}"

# 1. Analyse the task: which worker, which level, does it need a permit?
analysis=$(steward check "$task")
worker_type=$(jq -r .certification_decision.worker_type <<<"$analysis")
level=$(jq -r .certification_decision.certification_level_required <<<"$analysis")
environment=$(jq -r .environment_detected <<<"$analysis")
echo "master: $(jq -r .task_id <<<"$analysis") needs a $worker_type worker at level $level"

# 2. Union work: request the permit and wait while people decide.
permit=
if [ "$(jq -r .certification_decision.permit_required <<<"$analysis")" = true ]; then
  code=0
  answer=$(steward permit request --task "$task" --worker "$WORKER" \
    ${evidence:+--evidence-file "$evidence"} \
    --wait --timeout "${WAIT_TIMEOUT:-2h}" --json) || code=$?
  if [ "$code" -ne 0 ]; then
    # A refused request (exit 2) prints nothing here; a wait that ended prints its answer.
    if [ -n "$answer" ]; then
      echo "master: permit $(jq -r .permit.id <<<"$answer") not granted:" \
        "$(jq -r .outcome <<<"$answer")" >&2
    fi
    exit "$code"
  fi
  permit=$(jq -r .permit.id <<<"$answer")
  echo "master: permit $permit is active (review: $(jq -r .link <<<"$answer"))"
fi

# 3. Spawn the worker with an identity and a token of its own: its operations are then
#    authorized, and audited, as the worker's, not the master's.
if [ -z "$(steward worker show "$WORKER" --json | jq -r '.principal_id // empty')" ]; then
  steward worker identity create "$WORKER" >/dev/null
fi
worker_token=$(steward worker token create "$WORKER" --label "spawn for ${permit:-$level}" \
  --expires-in-hours 8 --json | jq -r .token)

# The worker: in life a separate agent process started with STEWARD_TOKEN set to its token.
# Before each step it asks Steward; a denied step stops it (exit 1).
run_worker() {
  local started=$SECONDS operation service operations services
  mapfile -t operations < <(jq -r '.operations[]' "$task")
  mapfile -t services < <(jq -r '.services_affected[]' "$task")
  if [ -n "$permit" ]; then steward permit start "$permit" >/dev/null; fi
  for operation in "${operations[@]}"; do
    for service in "${services[@]}"; do
      steward authorize --worker "$WORKER" --environment "$environment" \
        --action "$operation" --service "$service" --method POST ${permit:+--permit "$permit"}
      echo "worker: $operation $service"    # the step itself would run here
    done
  done
  if [ -n "$permit" ]; then
    jq -n --arg seconds "$((SECONDS - started))" --argjson ops "$(jq .operations "$task")" \
      --argjson services "$(jq .services_affected "$task")" '{
        operation_type: "release", resources_accessed: $services, resources_modified: $services,
        duration_seconds: ($seconds | tonumber), input_parameters: {operations: $ops},
        output_results: "all steps done", error_conditions: []}' >"$report"
    steward permit complete "$permit" --outcome success --report-file "$report" >/dev/null
  fi
}
report=$(mktemp)
trap 'rm -f "$report"' EXIT
(export STEWARD_TOKEN=$worker_token; run_worker)

# 4. Close the permit with its audit summary.
if [ -n "$permit" ]; then
  steward permit close "$permit" >/dev/null
  echo "master: permit $permit closed"
fi
