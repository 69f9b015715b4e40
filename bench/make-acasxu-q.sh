#!/bin/sh
# Writes bench/acasxu-q/: the seven ACAS Xu networks of ../shared/benchmarks/acasxu quantized by
# `qequiv quantize` (PyTorch's qnnpack default: histogram activations, per-tensor int8 weights), calibrated on
# 1000 points drawn uniformly (Python's random, seed 7) from the VNN-COMP ACAS Xu input domain in the networks'
# normalized units:
#   rho [-0.3284228772, 0.6798577687], theta, psi, v_own, v_int [-0.5, 0.5]
# (the Reluplex/VNN-COMP normalization of rho 0..60760 ft, theta/psi -pi..pi, v_own 100..1200, v_int 0..1200).
# Run from anywhere: sh bench/make-acasxu-q.sh  (needs python3 for the seeded sample and the .NET SDK).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/acasxu-q"
nets="$here/../../shared/benchmarks/acasxu"
mkdir -p "$out"
python3 - "$out/calibration.csv" <<'PY'
import random, sys
lo = [-0.3284228772, -0.5, -0.5, -0.5, -0.5]
hi = [0.6798577687, 0.5, 0.5, 0.5, 0.5]
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for _ in range(1000):
        f.write(",".join(repr(rng.uniform(l, h)) for l, h in zip(lo, hi)) + "\n")
PY
dotnet build "$here/../src/QEquiv.Cli" -v q --nologo > /dev/null
qequiv="$here/../src/QEquiv.Cli/bin/Debug/net10.0/qequiv"
for f in "$nets"/ACASXU_run2a_*_batch_2000.onnx; do
  name=$(basename "$f" .onnx)
  # The report without its last line ("wrote <absolute path>"), so it reads the same on every machine.
  "$qequiv" quantize "$f" --calibration "$out/calibration.csv" --out "$out/$name.qnnpack-qdq.onnx" | grep -v '^wrote ' > "$out/$name.quantize.txt"
done
