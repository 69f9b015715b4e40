# Shared by prepare_instance.sh and run_instance.sh (sourced, not run). See vnncomp/README.md.

VERSION_STRING=v1
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The qequiv command: $QEQUIV (a command line, e.g. "dotnet /path/qequiv.dll"), else the tool install_tool.sh put in
# vnncomp/.tool, else qequiv on PATH.
qequiv_cmd() {
    if [ -n "${QEQUIV:-}" ]; then echo "$QEQUIV"
    elif [ -x "$SCRIPT_DIR/.tool/qequiv" ]; then echo "$SCRIPT_DIR/.tool/qequiv"
    elif command -v qequiv >/dev/null 2>&1; then echo qequiv
    else echo "qequiv not found: run install_tool.sh v1 or set QEQUIV" >&2; return 1
    fi
}

# One scratch folder per (onnx, vnnlib) pair, so that run_instance.sh finds what prepare_instance.sh made.
instance_dir() {
    local key
    key=$(printf '%s\n%s\n' "$1" "$2" | sha1sum | cut -c1-16)
    echo "${QEQUIV_SCRATCH:-${TMPDIR:-/tmp}/qequiv-vnncomp}/$key"
}

check_version() {
    if [ "${1:-}" != "$VERSION_STRING" ]; then
        echo "Expected first argument (version string) '$VERSION_STRING', got '${1:-}'" >&2
        exit 1
    fi
}
