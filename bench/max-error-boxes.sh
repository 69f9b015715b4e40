#!/bin/sh
# Issue 10's 24 boxes (bench/hard-boxes.sh, the boxes of bench/hard.csv) as a max-error benchmark: for each box
# `max-error` with SEARCH seconds of counterexample search and TIMEOUT seconds in all (one worker), run by this
# checkout's Release CLI and, when BASE is given, by BASE's (another checkout, e.g. a git worktree of the commit before a
# change) right after it on the same box, so load drifts hit both alike.
# Writes OUT/max-error.csv: box, side, witnessed (lower), certified (upper), certified / witnessed, seconds.
# Run from the repository root after `dotnet build -c Release` in each checkout:
#   sh bench/max-error-boxes.sh OUT [SEARCH] [TIMEOUT] [BASE]
# e.g. sh bench/max-error-boxes.sh /tmp/me 10 11 /work/wt-base   (the witnessed side of two builds, 10 s per box)
#      sh bench/max-error-boxes.sh /tmp/me 6 60                   (the issue's interval per box at 60 s)
#      NETS="256x4 256x6" sh bench/max-error-boxes.sh /tmp/me 6 60 /work/wt-base   (only those networks' boxes)
set -eu
out=$1
search=${2:-6}
timeout=${3:-60}
base=${4:-}
mkdir -p "$out"
csv=$out/max-error.csv
echo "box,side,witnessed,certified,ratio,seconds" > "$csv"
run() { # side cli float quant row eps name
  "$2" max-error --float "$3" --quant "$4" --center "bench/centers/row$5.csv" --eps "$6" --clip 0,1 \
    --search-time "$search" --timeout "$timeout" --workers 1 --quiet --json "$out/$7-$1.json" > /dev/null 2>&1 || true
  python3 - "$out/$7-$1.json" "$7" "$1" >> "$csv" <<'PY'
import json, sys
path, box, side = sys.argv[1:]
try:
    j = json.load(open(path))
except Exception:
    print(f"{box},{side},,,,"); sys.exit()
lo, hi = j["lower"], j["upper"]
print(f"{box},{side},{lo:.6g},{hi:.6g},{hi / lo if lo > 0 else float('inf'):.3f},{j.get('seconds', '')}")
PY
  tail -1 "$csv"
}
box() { # float quant row eps name
  if [ -n "${NETS:-}" ]; then
    case " $NETS " in *" ${5%%-row*} "*) ;; *) return 0 ;; esac
  fi
  run new src/QEquiv.Cli/bin/Release/net10.0/qequiv "$1" "$2" "$3" "$4" "$5"
  [ -n "$base" ] && run base "$base/src/QEquiv.Cli/bin/Release/net10.0/qequiv" "$1" "$2" "$3" "$4" "$5"
  return 0
}
. bench/hard-boxes.sh
for_each_hard_box box
python3 - "$csv" <<'PY'
import csv, math, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["ratio"]]
for side in ("new", "base"):
    rs = [r for r in rows if r["side"] == side]
    if not rs: continue
    ratios = [float(r["ratio"]) for r in rs]
    g = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    print(f"{side}: {len(rs)} boxes, certified / witnessed geometric mean {g:.3f}, max {max(ratios):.3f}")
base = {r["box"]: r for r in rows if r["side"] == "base"}
gains = [float(r["witnessed"]) / float(base[r["box"]]["witnessed"]) for r in rows if r["side"] == "new" and r["box"] in base]
if gains:
    g = math.exp(sum(math.log(x) for x in gains) / len(gains))
    print(f"witnessed new / base: geometric mean {g:.3f}, range {min(gains):.3f}-{max(gains):.3f}, higher on {sum(x > 1 for x in gains)} of {len(gains)}")
PY
