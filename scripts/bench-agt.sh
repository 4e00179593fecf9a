#!/usr/bin/env bash
# Steward's authorize check against the Agent Governance Toolkit's PolicyEvaluator doing
# the same 11-rule check (BENCHMARKS.md, "Authorize"). Run from the repository root:
#
#     scripts/bench-agt.sh
#
# Creates (once) the virtualenv .venv-agt with agent-governance-toolkit-core, runs the peer
# script (../shared/peers/agt_authorize_bench.py, or $AGT_PEER), builds and runs
# `steward-loadgen authorize-inproc` (release), and prints both p50s and their ratio.
set -euo pipefail

cd "$(dirname "$0")/.."
peer="${AGT_PEER:-../shared/peers/agt_authorize_bench.py}"
venv=.venv-agt

if [ ! -f "$peer" ]; then
    echo "bench-agt: peer script not found: $peer (set AGT_PEER)" >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet agent-governance-toolkit-core
fi

cargo build --quiet --release -p steward-loadgen

agt=$("$venv/bin/python" "$peer")
steward=$(target/release/steward-loadgen authorize-inproc)
echo "$agt"
echo "$steward"

p50() { sed -n 's/.* p50 \([0-9.]*\) us, p99.*/\1/p' <<<"$1"; }
agt_p50=$(p50 "$agt")
steward_p50=$(p50 "$steward")
if [ -z "$agt_p50" ] || [ -z "$steward_p50" ]; then
    echo "bench-agt: could not read a p50 from the output above" >&2
    exit 1
fi
awk -v a="$agt_p50" -v s="$steward_p50" 'BEGIN {
    if (s <= 0) { print "ratio: Steward p50 below timer resolution"; exit }
    printf "p50: AGT %s us, Steward %s us, ratio %.0fx (target >= 50x)\n", a, s, a / s
}'
