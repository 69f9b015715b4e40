#!/usr/bin/env bash
# VNN-COMP prepare_instance.sh for QEquiv: prepare_instance.sh v1 CATEGORY ONNX VNNLIB
# Exit 0 when QEquiv can run the instance, non-zero to skip it (the competition's convention).
#
# QEquiv compares TWO networks, a float one N and its quantized (or otherwise approximated) twin Q, and proves
# max_j |N_j(x) - Q_j(x)| < delta on the input box. The pair, the box and delta come from the instance:
#   - ONNX is a list of named networks, as the equivalence categories (VNN-COMP 2026 isomorphic_acasxu) write it:
#     "[('f', 'nets/a.onnx'), ('g', 'nets_pruned/b.onnx')]": N = the first, Q = the second; relative paths are taken
#     from the current folder, else from the VNNLIB's folder. VNNLIB is then a VNN-LIB 2.0 file with
#     (declare-network f ...) (declare-network g ...), bounds on X_f[i], X_f[i] == X_g[i] for every i, and
#     |Y_g[j] - Y_f[j]| <= D on every output: delta = D (one D for all outputs).
#   - ONNX is one network <net>.onnx: N = it, Q = $QEQUIV_QUANT if set, else <net>.q.onnx beside it (or .q.onnx.gz).
#     VNNLIB is VNN-LIB 1.0 (its input box is used; its output part describes another property and is ignored), and
#     delta = $QEQUIV_DELTA if set, else the number in <vnnlib stem>.delta beside the VNNLIB.
# The second network must be quantized (checked with `qequiv inspect` when qequiv is found); two float networks are
# skipped (exit 1), since `qequiv verify` compares a float network with a quantized one.
# gzip-compressed files (.onnx.gz, .vnnlib.gz) are decompressed into the instance's scratch folder
# ($QEQUIV_SCRATCH, default ${TMPDIR:-/tmp}/qequiv-vnncomp), where float.onnx, quant.onnx, spec.vnnlib and delta go.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
check_version "${1:-}"
if [ $# -ne 4 ]; then echo "usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB" >&2; exit 1; fi
CATEGORY=$2 ONNX_FILE=$3 VNNLIB_FILE=$4
echo "Preparing QEquiv for benchmark instance in category '$CATEGORY' with onnx file '$ONNX_FILE' and vnnlib file '$VNNLIB_FILE'"

fail() { echo "prepare_instance.sh: $*" >&2; exit 1; }

DIR=$(instance_dir "$ONNX_FILE" "$VNNLIB_FILE")
rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
trap 'rm -rf "$DIR.tmp"' EXIT

# copy_plain SRC DEST: SRC as plain text/bytes, gunzipped when it is gzip-compressed (by content, not by name).
copy_plain() {
    [ -f "$1" ] || fail "$1: no such file"
    if [ "$(head -c2 "$1" | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then gzip -dc "$1" > "$2"; else cp "$1" "$2"; fi
}
# resolve PATH: as given, else relative to the VNNLIB's folder.
resolve() {
    if [ -e "$1" ] || [[ "$1" = /* ]]; then echo "$1"; else echo "$(dirname "$VNNLIB_FILE")/$1"; fi
}

copy_plain "$VNNLIB_FILE" "$DIR.tmp/given.vnnlib"

if [[ "$ONNX_FILE" == \[* ]]; then
    # A list of named networks: the quoted paths in order (names and paths alternate).
    mapfile -t quoted < <(grep -oE "'[^']*'|\"[^\"]*\"" <<<"$ONNX_FILE" | sed -E "s/^['\"]|['\"]$//g")
    [ "${#quoted[@]}" -eq 4 ] || fail "ONNX list must name exactly two networks: $ONNX_FILE"
    FLOAT=$(resolve "${quoted[1]}") QUANT=$(resolve "${quoted[3]}")
else
    FLOAT=$ONNX_FILE
    if [ -n "${QEQUIV_QUANT:-}" ]; then QUANT=$QEQUIV_QUANT
    else
        stem=${ONNX_FILE%.gz}; stem=${stem%.onnx}
        if [ -f "$stem.q.onnx" ]; then QUANT=$stem.q.onnx
        elif [ -f "$stem.q.onnx.gz" ]; then QUANT=$stem.q.onnx.gz
        else fail "no second network: set QEQUIV_QUANT or put $stem.q.onnx beside $ONNX_FILE"; fi
    fi
fi
copy_plain "$FLOAT" "$DIR.tmp/float.onnx"
copy_plain "$QUANT" "$DIR.tmp/quant.onnx"
# QEquiv compares a float network with a quantized one (QDQ or QOperator ONNX): skip pairs of two float networks
# (e.g. isomorphic_acasxu's pruned copies) here rather than answer "error" in run_instance.sh.
if cmd=$(qequiv_cmd 2>/dev/null); then
    read -r -a QEQUIV_CMD <<<"$cmd"
    kind=$("${QEQUIV_CMD[@]}" inspect "$DIR.tmp/quant.onnx" --json - --quiet 2>/dev/null | grep -o '"kind": *"[a-z]*"' | head -n1) || true
    case $kind in
        *quantized*) ;;
        *float*) fail "$QUANT is a float network; QEquiv's second network must be quantized (QDQ or QOperator)" ;;
        *) fail "$QUANT: qequiv inspect cannot read it" ;;
    esac
fi

if grep -q 'declare-network' "$DIR.tmp/given.vnnlib"; then
    # VNN-LIB 2.0 equivalence spec -> a VNN-LIB 1.0 box (X_f[i] -> X_i) and delta.
    awk -v out="$DIR.tmp/spec.vnnlib" -v dfile="$DIR.tmp/delta" '
        BEGIN { n = -1 }
        { sub(/;.*/, "") }
        /declare-network/ { nets++; if (nets == 1) { match($0, /declare-network[ \t]+[A-Za-z0-9_]+/); f = substr($0, RSTART + 16, RLENGTH - 16); gsub(/[ \t]/, "", f) } }
        nets == 1 && /declare-input/ && n < 0 { if (match($0, /\[[0-9]+\]/)) n = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
        {
            line = $0
            while (match(line, /\((<=|>=) X_[A-Za-z0-9_]+\[[0-9]+\] [-+0-9.eE]+\)/)) {
                t = substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH)
                split(t, p, " "); split(p[2], v, /[\[\]]/)
                if (v[1] != "X_" f) continue
                b[(p[1] == "<=" ? "hi" : "lo") SUBSEP v[2]] = p[3]
            }
            line = $0
            while (match(line, /\(== X_[A-Za-z0-9_]+\[[0-9]+\] X_[A-Za-z0-9_]+\[[0-9]+\]\)/)) { eq++; line = substr(line, RSTART + RLENGTH) }
            line = $0
            while (match(line, /\([+-] Y_[A-Za-z0-9_]+\[[0-9]+\] [0-9.eE+-]+\)/)) {
                t = substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH)
                split(t, p, " "); d[p[3]] = 1
            }
        }
        END {
            if (nets != 2) { print "expected two declare-network blocks, found " nets > "/dev/stderr"; exit 1 }
            if (n <= 0) { print "no declare-input size for network " f > "/dev/stderr"; exit 1 }
            if (eq < n) { print "the networks do not get the same input (X_f[i] == X_g[i] for every i)" > "/dev/stderr"; exit 1 }
            for (i = 0; i < n; i++) if (!(("lo" SUBSEP i) in b) || !(("hi" SUBSEP i) in b)) { print "X_" f "[" i "] has no lower and upper bound" > "/dev/stderr"; exit 1 }
            k = 0; for (x in d) { k++; delta = x }
            if (k != 1) { print "expected one tolerance |Y_g - Y_f| <= D for every output, found " k > "/dev/stderr"; exit 1 }
            for (i = 0; i < n; i++) printf "(declare-const X_%d Real)\n", i > out
            for (i = 0; i < n; i++) printf "(assert (>= X_%d %s))\n(assert (<= X_%d %s))\n", i, b["lo", i], i, b["hi", i] > out
            print delta > dfile
        }' "$DIR.tmp/given.vnnlib" || fail "$VNNLIB_FILE: not a VNN-LIB 2.0 equivalence spec QEquiv reads"
else
    mv "$DIR.tmp/given.vnnlib" "$DIR.tmp/spec.vnnlib"
    if [ -n "${QEQUIV_DELTA:-}" ]; then echo "$QEQUIV_DELTA" > "$DIR.tmp/delta"
    else
        stem=${VNNLIB_FILE%.gz}; stem=${stem%.vnnlib}
        [ -f "$stem.delta" ] || fail "no tolerance: set QEQUIV_DELTA or put the number in $stem.delta"
        tr -d ' \t\r\n' < "$stem.delta" > "$DIR.tmp/delta"; echo >> "$DIR.tmp/delta"
    fi
fi
rm -f "$DIR.tmp/given.vnnlib"
rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
trap - EXIT
echo "prepared $DIR: delta $(cat "$DIR/delta")"
exit 0
