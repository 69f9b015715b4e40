#!/bin/sh
# Finds the δ of bench/hard.csv: for each of the 24 boxes (4 network pairs × MNIST test images 0, 1, 2 × radius 1/255
# and 2/255, clipped to [0,1]) a long `max-error` run — SEARCH seconds of counterexample search (default 120), then
# the bounds and MILPs within TIMEOUT seconds (default 180) on one worker — and writes its output (committed) and JSON
# (with the witnesses' inputs; not committed) to bench/hard/search/.
# The witnessed maximum of each box (the largest lower bound over the outputs) sets the box's two δ: 1.1× and 0.9×.
# Run from the repository root after a Release build: sh bench/make-hard.sh [SEARCH] [TIMEOUT]
set -eu
search=${1:-120}
timeout=${2:-180}
q=src/QEquiv.Cli/bin/Release/net10.0/qequiv
out=bench/hard/search
mkdir -p "$out"
search_box() { # float quant row eps name
  [ -s "$out/$5.json" ] && return 0
  "$q" max-error --float "$1" --quant "$2" --center "bench/centers/row$3.csv" --eps "$4" --clip 0,1 \
    --search-time "$search" --timeout "$timeout" --workers 1 --quiet --json "$out/$5.json" > "$out/$5.txt" || true
  echo "$5: $(tail -1 "$out/$5.txt")"
}
. bench/hard-boxes.sh
for_each_hard_box search_box

# The list: per box two δ, 1.1× and 0.9× the witnessed maximum (the overall "lower" of its JSON), 60 s each.
list=bench/hard.csv
{
  echo "# Issue 10's hard instances: mnist-net_256x2/4/6 against their PyTorch twins (../shared/benchmarks/pytorch) and"
  echo "# mnist_relu_3_100 (../shared/benchmarks/pairs) against its \`qequiv quantize\` twin (PyTorch's default qnnpack recipe,"
  echo "# calibrated on mnist/mnist_test_100.csv / 255: hard/mnist_relu_3_100.quantize.txt), on L∞ balls of radius 1/255 and 2/255"
  echo "# around MNIST test images 0, 1, 2 (centers/row0..2.csv), clipped to [0,1]. Per box two δ: 1.1× and 0.9× the best"
  echo "# witnessed max |N − Q| of a long max-error run (bench/make-hard.sh: ${search} s of counterexample search, ${timeout} s in"
  echo "# all, one worker; outputs in hard/search/; for a ±2/255 ball the larger of its own and its ±1/255 ball's maximum,"
  echo "# which lies inside it). 48 instances, 60 s each. Witnessed maxima [witnessed, certified] at the end of each search:"
  for f in "$out"/*.json; do
    echo "#   $(basename "$f" .json): $(tail -1 "${f%.json}.txt")"
  done
  echo "float,quantized,region,delta,timeout"
} > "$list"
for f in "$out"/*.json; do
  name=$(basename "$f" .json)
  net=${name%%-row*}; rest=${name#*-row}; row=${rest%%-grey*}; grey=${rest#*-grey}
  case "$net" in
    relu_3_100) float=../../shared/benchmarks/pairs/mnist_relu_3_100.onnx; quant=hard/mnist_relu_3_100.qnnpack-qdq.onnx ;;
    *) float=../../shared/benchmarks/mnistfc/mnist-net_$net.onnx; quant=../../shared/benchmarks/pytorch/mnist-net_$net.qnnpack-qdq.onnx ;;
  esac
  eps=$(awk "BEGIN { printf \"%.17g\", $grey / 255 }")
  lower=$(awk -F': ' '/"lower"/ { gsub(/,/, "", $2); print $2; exit }' "$f")
  # The ±1/255 ball lies inside the ±2/255 one: what was witnessed in the smaller counts for the larger.
  if [ "$grey" = 2 ] && [ -s "$out/$net-row$row-grey1.json" ]; then
    inner=$(awk -F': ' '/"lower"/ { gsub(/,/, "", $2); print $2; exit }' "$out/$net-row$row-grey1.json")
    lower=$(awk "BEGIN { print ($inner > $lower) ? $inner : $lower }")
  fi
  for factor in 1.1 0.9; do
    delta=$(awk "BEGIN { printf \"%.6g\", $factor * $lower }")
    echo "$float,$quant,ball:centers/row$row.csv:$eps:0:1,$delta,60" >> "$list"
  done
done
echo "wrote $list"
