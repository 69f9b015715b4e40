#!/usr/bin/env bash
# Cluster overhead on one machine: the instances of a list verified locally with 2 worker threads and on a
# localhost cluster of a coordinator and 2 single-worker processes, side by side in one bench run (same
# instances, interleaved), from a Release build. Both without the idle-core race (:norace): two single-worker
# processes have no idle core to race on, so the comparison isolates what the cluster costs. Writes bench/results-cluster.csv; docs/benchmarks.md has the numbers.
#   bench/cluster-overhead.sh [INSTANCES.csv] [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
list=${1:-bench/pieces.csv}
port=${2:-11511}
out=$(mktemp -d)
nice dotnet build src/QEquiv.Cli -c Release -o "$out/bin" >/dev/null
q="$out/bin/qequiv"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT
"$q" coordinator --port "$port" --host 127.0.0.1 >"$out/coordinator.log" 2>&1 & pids+=($!)
until grep -q '^coordinator at' "$out/coordinator.log"; do sleep 0.2; done
for k in 1 2; do
  "$q" worker --join "127.0.0.1:$port" --workers 1 >"$out/worker$k.log" 2>&1 & pids+=($!)
done
until [ "$(cat "$out"/worker*.log | grep -c ' joined ')" -ge 2 ]; do sleep 0.2; done
"$q" bench "$list" --strategy output+input:w2:norace,output+input:cluster:norace --cluster "127.0.0.1:$port" --out bench/results-cluster.csv
