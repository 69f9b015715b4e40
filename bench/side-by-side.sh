#!/bin/sh
# Two builds side by side on one instance list, instance by instance (so that load drifts hit both alike): the
# Release CLI of another checkout (BASE, e.g. a git worktree of the commit before a change) runs BASE_CONFIG, this
# checkout's runs CONFIGS, each instance as a one-line list. Results: OUT/base.csv and OUT/new.csv (bench rows).
# Run from the repository root after `dotnet build -c Release` in both checkouts:
#   sh bench/side-by-side.sh LIST BASE OUT [BASE_CONFIG] [CONFIGS]
# e.g. sh bench/side-by-side.sh bench/partition.csv /work/wt-old /tmp/sbs output+input output+input,output+input:nobranch
set -eu
list=$1
base=$2
out=$3
base_config=${4:-output+input}
configs=${5:-output+input}
dir=$(dirname "$list")
new_cli=src/QEquiv.Cli/bin/Release/net10.0/qequiv
base_cli=$base/src/QEquiv.Cli/bin/Release/net10.0/qequiv
mkdir -p "$out"
header=$(grep -v '^#' "$list" | head -1)
grep -v '^#' "$list" | tail -n +2 | grep -v '^[[:space:]]*$' > "$out/lines"
i=0
while IFS= read -r line; do
  i=$((i + 1))
  one="$dir/.side-by-side-$i.csv"
  printf '%s\n%s\n' "$header" "$line" > "$one"
  "$base_cli" bench "$one" --strategy "$base_config" --out "$out/base-$i.csv" --quiet > /dev/null 2>&1 || true
  "$new_cli" bench "$one" --strategy "$configs" --out "$out/new-$i.csv" --quiet > /dev/null 2>&1 || true
  rm -f "$one"
  echo "[$i] $(tail -n +2 "$out/base-$i.csv" | cut -d, -f2,6,7 | tr '\n' ' ') | $(tail -n +2 "$out/new-$i.csv" | cut -d, -f2,6,7 | tr '\n' ' ')"
done < "$out/lines"
for side in base new; do
  first=$(ls "$out"/$side-*.csv | head -1)
  head -1 "$first" > "$out/$side.csv"
  for f in "$out"/$side-*.csv; do tail -n +2 "$f" >> "$out/$side.csv"; done
done
