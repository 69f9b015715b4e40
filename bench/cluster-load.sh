#!/usr/bin/env bash
# Load test of the coordinator: a real `qequiv coordinator` process (Release build, loopback) and, in one client
# process, simulated workers with a fake solver (`qequiv cluster-load`): ≥ 200 workers over ≥ 10 000 sub-problems,
# some worker processes vanishing mid-lease. Prints the client's line (throughput, leases lost and reclaimed, and any
# VIOLATION: a sub-problem lost or recorded twice) and the coordinator's CPU time over the run, per sub-problem.
# docs/distributed.md has the numbers.
#   bench/cluster-load.sh [SUB_PROBLEMS] [WORKERS] [MEAN_MS] [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
workers=${2:-200}
mean=${3:-100}
port=${4:-11611}
out=$(mktemp -d)
nice dotnet build src/QEquiv.Cli -c Release -o "$out/bin" >/dev/null
q="$out/bin/qequiv"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT
: >"$out/coordinator.log"
"$q" coordinator --port "$port" --host 127.0.0.1 >"$out/coordinator.log" 2>&1 & pids+=($!)
coordinator=$!
until grep -q '^coordinator at' "$out/coordinator.log"; do sleep 0.2; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$coordinator/stat"; }
before=$(cpu)
start=$(date +%s.%N)
timeout 300 "$q" cluster-load --cluster "127.0.0.1:$port" --sub-problems "$n" --workers "$workers" --mean-ms "$mean" | tee "$out/load.txt"
after=$(cpu)
end=$(date +%s.%N)
attempts=$(grep -o '[0-9]* sub-problems finished' "$out/load.txt" | grep -o '^[0-9]*')
awk -v b="$before" -v a="$after" -v t="$ticks" -v s="$start" -v e="$end" -v k="$attempts" 'BEGIN {
  c = (a - b) / t; w = e - s;
  printf "coordinator: %.2f s CPU over %.1f s (%.0f %% of a core), %.0f µs CPU per sub-problem\n", c, w, 100 * c / w, 1e6 * c / k }'
