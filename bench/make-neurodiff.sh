#!/bin/sh
# Writes NeuroDiff's ACAS Xu benchmark (ASE 2020) as two bench lists, bench/neurodiff-0.05.csv and bench/neurodiff-0.01.csv:
# the 143 (property, network) runs of its published logs (../shared/benchmarks/neurodiff/logs/acas_EPS.neurodiff.log, in
# log order), each an original ACAS Xu NNet file against its float16-rounded copy, delta = EPS, 100 s.
# Boxes (bench/neurodiff/pN_lo.csv, pN_hi.csv): NeuroDiff's load_inputs() in nnet.c, raw units, turned into the networks'
# normalised units as its normalize_input() does: (min(max(raw, min_i), max_i) - mean_i) / range_i with the NNet header's
# input bounds, means and ranges (the same in all 45 files). Properties 1, 3, 4, 5, 7-10 are the standard ACAS Xu boxes
# (2 = 1, 11 = 14 = 5, 12 = 1); 13, 15, 16 and 26 are ReluVal's and NeuroDiff's own boxes, read off nnet.c as written:
#   13: rho in [60000, 60760], theta, psi in [-pi, pi], v_own, v_int in [0, 360] (v_own clipped to its minimum 100)
#   15: like 5 with theta in [-0.4, -0.2]
#   16: rho in [12000, 62000] (clipped to 60760), theta in [-pi, -0.7], psi in [-pi, -pi + 0.005], v_own in [100, 200], v_int in [0, 1200]
#   26: like 16 with theta in [0.7, pi]
# NeuroDiff's outputs are the networks' normalised outputs (nnet.c never applies the output mean/range), as QEquiv reads NNet
# files. NeuroDiff proves |f - g| <= EPS; QEquiv proves |f - g| < delta, the stronger claim.
# Run from anywhere: sh bench/make-neurodiff.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=../../shared/benchmarks/neurodiff   # as the lists reach it, from bench/
logs="$here/$data/logs"
mkdir -p "$here/neurodiff"
header=$(grep -v '^//' "$here/$data/nnet/ACASXU_run2a_1_1_batch_2000.nnet" | sed -n 4,7p | tr '\n' ';')
box() { # name lo0..lo4 hi0..hi4 (raw units)
  echo "$header" | awk -v name="$1" -v lo="$2" -v hi="$3" -v out="$here/neurodiff" 'BEGIN { FS = ";" } {
    split($1, mn, ","); split($2, mx, ","); split($3, me, ","); split($4, ra, ",")
    n = split(lo, l, " "); split(hi, h, " ")
    for (i = 1; i <= n; i++) {
      a = l[i]; if (a < mn[i]) a = mn[i]; if (a > mx[i]) a = mx[i]
      b = h[i]; if (b < mn[i]) b = mn[i]; if (b > mx[i]) b = mx[i]
      los = los (i > 1 ? "," : "") sprintf("%.10g", (a - me[i]) / ra[i])
      his = his (i > 1 ? "," : "") sprintf("%.10g", (b - me[i]) / ra[i])
    }
    print los > (out "/p" name "_lo.csv"); print his > (out "/p" name "_hi.csv")
  }'
}
pi=3.141592
box 1  "55947.691 -$pi -$pi 1145 0"         "60760 $pi $pi 1200 60"
box 3  "1500 -0.06 3.10 980 960"              "1800 0.06 $pi 1200 1200"
box 4  "1500 -0.06 0 1000 700"                "1800 0.06 0 1200 800"
box 5  "250 0.2 -3.1415926 100 0"             "400 0.4 -3.1360926 400 400"
box 7  "0 -$pi -$pi 100 0"                    "60760 $pi $pi 1200 1200"
box 8  "0 -$pi -0.1 600 600"                  "60760 -2.356194 0.1 1200 1200"
box 9  "2000 -0.4 -$pi 100 0"                 "7000 -0.14 -3.131592 150 150"
box 10 "36000 0.7 -$pi 900 600"               "60760 $pi -3.131592 1200 1200"
box 11 "250 0.2 -3.1415926 100 0"             "400 0.4 -3.1360926 400 400"
box 12 "55947.691 -$pi -$pi 1145 0"         "60760 $pi $pi 1200 60"
box 13 "60000 -$pi -$pi 0 0"                  "60760 $pi $pi 360 360"
box 14 "250 0.2 -3.1415926 100 0"             "400 0.4 -3.1360926 400 400"
box 15 "250 -0.4 -3.1415926 100 0"            "400 -0.2 -3.1360926 400 400"
box 16 "12000 -$pi -$pi 100 0"                "62000 -0.7 -3.136592 200 1200"
box 26 "12000 0.7 -$pi 100 0"                 "62000 $pi -3.136592 200 1200"
# NeuroDiff checks one output per property (verificationParams->target in load_inputs): 0 for 1-4, 10, 12, 13, 16, 26;
# 4 for 5, 7, 11, 14; 1 for 8; 3 for 9 and 15. neurodiff-EPS.csv asks exactly that (the sixth column); neurodiff-EPS-all.csv
# asks every output, the stronger claim.
target() { case $1 in 5|7|11|14) echo 4 ;; 8) echo 1 ;; 9|15) echo 3 ;; *) echo 0 ;; esac; }
for eps in 0.05 0.01; do
  for kind in target all; do
    if [ $kind = target ]; then out="$here/neurodiff-$eps.csv"; else out="$here/neurodiff-$eps-all.csv"; fi
    {
      echo "# NeuroDiff's ACAS Xu benchmark at epsilon = $eps (made by make-neurodiff.sh, which says how the boxes are read): the"
      echo "# 143 (property, network) runs of logs/acas_$eps.neurodiff.log, in its order; each original NNet file of nnet/ against"
      echo "# its float16 copy of compressed_nnets/, on the property's box in normalised units, delta = $eps, 100 s;"
      if [ $kind = target ]; then
        echo "# on the one output NeuroDiff checks for the property (column 6), as its delta_network_test does."
        echo "reference,other,region,delta,timeout,outputs"
      else
        echo "# on every output (stronger than NeuroDiff's claim, which is about one)."
        echo "reference,other,region,delta,timeout"
      fi
      echo "# Paths are relative to this file's folder (bench/), with ../shared/benchmarks beside the repository."
      grep -o 'delta_network_test [0-9]* nnet/[^ ]*' "$logs/acas_$eps.neurodiff.log" | while read -r _ p net; do
        base=$(basename "$net" .nnet)
        row="$data/nnet/$base.nnet,$data/compressed_nnets/${base}_16bit.nnet,box:neurodiff/p${p}_lo.csv:neurodiff/p${p}_hi.csv,$eps,100"
        if [ $kind = target ]; then echo "$row,$(target "$p")"; else echo "$row"; fi
      done
    } > "$out"
    echo "wrote $out ($(grep -c '^\.\.' "$out") instances)"
  done
done
