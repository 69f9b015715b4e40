#!/usr/bin/env bash
# VNN-COMP run_instance.sh for QEquiv: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT
# Writes RESULTS_FILE in the competition's format: "sat" and the counterexample ((X_0 v) ... (Y_0 v) ...), "unsat",
# "timeout", "unknown" or "error". The file is QEquiv's own `verify --report DIR` result.txt (see docs/verification.md,
# "Reports and VNN-COMP conventions"): sat = falsified (an input with |N_j - Q_j| >= delta; the Y values are the
# first network's outputs), unsat = verified, timeout = unknown after using up TIMEOUT. What the two networks and delta
# are: see prepare_instance.sh (run first when the instance was not prepared). Extra verify flags: $QEQUIV_ARGS.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
check_version "${1:-}"
if [ $# -ne 6 ]; then echo "usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT" >&2; exit 1; fi
CATEGORY=$2 ONNX_FILE=$3 VNNLIB_FILE=$4 RESULTS_FILE=$5 TIMEOUT=$6
echo "Running QEquiv on benchmark instance in category '$CATEGORY' with onnx file '$ONNX_FILE', vnnlib file '$VNNLIB_FILE', results file '$RESULTS_FILE' and timeout $TIMEOUT"

write_result() { # whole or absent: a temporary file beside RESULTS_FILE, renamed over it
    local tmp="$RESULTS_FILE.tmp.$$"
    if [ -n "${2:-}" ]; then cp "$2" "$tmp"; else printf '%s\n' "$1" > "$tmp"; fi && mv -f "$tmp" "$RESULTS_FILE"
}

DIR=$(instance_dir "$ONNX_FILE" "$VNNLIB_FILE")
if [ ! -f "$DIR/delta" ]; then
    "$SCRIPT_DIR/prepare_instance.sh" v1 "$CATEGORY" "$ONNX_FILE" "$VNNLIB_FILE" || { write_result error; exit 0; }
fi
cmd=$(qequiv_cmd) || { write_result error; exit 0; }
read -r -a QEQUIV_CMD <<<"$cmd"
REPORT="$DIR/report"
rm -rf "$REPORT" "$DIR/witness.csv"

# QEquiv stops itself at --timeout (result "timeout"); the outer `timeout` is only a backstop, 10 s later (SIGTERM:
# QEquiv writes what it has, marked interrupted), then SIGKILL 5 s after that.
# shellcheck disable=SC2086
timeout -k 5 "$(awk -v t="$TIMEOUT" 'BEGIN { print t + 10 }')" "${QEQUIV_CMD[@]}" verify \
    --float "$DIR/float.onnx" --quant "$DIR/quant.onnx" --vnnlib "$DIR/spec.vnnlib" --delta "$(cat "$DIR/delta")" \
    --timeout "$TIMEOUT" --report "$REPORT" --witness "$DIR/witness.csv" --quiet ${QEQUIV_ARGS:-}
status=$?
case $status in
    0|10|20) if [ -f "$REPORT/result.txt" ]; then write_result "" "$REPORT/result.txt"; else write_result error; fi ;;
    124|130|137) write_result timeout ;;  # the backstop stopped it: over the limit
    *) write_result error ;;              # 1 internal error, 2 bad input
esac
echo "qequiv exit $status: $(head -n1 "$RESULTS_FILE")"
exit 0
