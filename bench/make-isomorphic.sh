#!/bin/sh
# Writes bench/isomorphic.csv: VNN-COMP 2026's isomorphic_acasxu pairs from ../shared/benchmarks/isomorphic, in VNN-COMP's
# two-network instance form ("[('f', ORIGINAL), ('g', PRUNED)]", the VNN-LIB 2.0 spec, 100 s).
# Rule: the originals of nets/ that have node-pruned copies in nets_pruned/ (35 of the 45), in name order; the first
# N of them (default 10), each with all its copies (pruned5, pruned10, pruned30): 3N instances.
# Run from anywhere: sh bench/make-isomorphic.sh [N]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-10}
data=../../shared/benchmarks/isomorphic   # as the list reaches it, from bench/
out="$here/isomorphic.csv"
{
  echo "# VNN-COMP 2026 isomorphic_acasxu, from ../shared/benchmarks/isomorphic (made by make-isomorphic.sh $n): each ACAS Xu"
  echo "# network f of nets/ against a pruned copy g of nets_pruned/ (pruned5, pruned10, pruned30). The copies keep f's layout"
  echo "# (6 x 50 ReLUs, so the differential bounds align them layer by layer): pruning zeroed weights in place and the other weights"
  echo "# differ from f's too (1_2's copies: 793, 1852, 4612 of its 13 000 weights are zero). One spec for all,"
  echo "# prop1-eps0.05.vnnlib (VNN-LIB 2.0: ACAS Xu property 1's box, X_f = X_g, |Y_g - Y_f| <= 0.05 on all five outputs,"
  echo "# so delta = 0.05), 100 s each."
  echo "# Pairs: the first $n originals (name order) of the 35 that have pruned copies, each with all three copies."
  echo "# Paths are relative to this file's folder (bench/), with ../shared/benchmarks beside the repository."
  for f in $(ls "$here/$data/nets_pruned" | sed 's/_pruned[0-9]*\.onnx$//' | sort -u | head -n "$n"); do
    for p in 5 10 30; do
      echo "\"[('f', '$data/nets/$f.onnx'), ('g', '$data/nets_pruned/${f}_pruned$p.onnx')]\",$data/prop1-eps0.05.vnnlib,100"
    done
  done
} > "$out"
echo "wrote $out ($(grep -c '^"' "$out") instances)"
