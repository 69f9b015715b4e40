#!/bin/sh
# Writes bench/centers/row<K>.csv: row K (0-based) of the shared reference inputs, as a one-row CSV
# usable as the centre of a `ball:` region. Run from anywhere: sh bench/make-centers.sh [K ...] (default 0 1 2).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
inputs="$here/../../shared/benchmarks/pytorch/inputs.csv"
mkdir -p "$here/centers"
[ $# -gt 0 ] || set -- 0 1 2
for k in "$@"; do
  sed -n "$((k + 1))p" "$inputs" > "$here/centers/row$k.csv"
done
