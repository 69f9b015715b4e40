#!/usr/bin/env bash
# VNN-COMP install_tool.sh for QEquiv: install_tool.sh v1
# Builds QEquiv from this repository and installs it as a .NET tool in vnncomp/.tool (where run_instance.sh looks).
# Needs the .NET 10 SDK: used when present (`dotnet --list-sdks` shows 10.x); otherwise installed with apt-get as
# dotnet-sdk-10.0, which Ubuntu 24.04+ ships and Debian serves once Microsoft's package feed is configured
# (https://learn.microsoft.com/dotnet/core/install/linux-debian). Plain Debian 12 has no SDK package: there the
# script stops with that message. NuGet packages are restored from nuget.org.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
check_version "${1:-}"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { $SUDO apt-get update; apt_updated=1; }
    $SUDO apt-get install -y --no-install-recommends "$@"
}

# What the scripts use beside the SDK: gzip (compressed instances), coreutils' timeout and sha1sum, awk; NuGet needs
# ca-certificates; OR-Tools' native libraries need only libc, libgcc and libstdc++ (they bring the rest); .NET runs
# with InvariantGlobalization, so no libicu. Only what is missing is installed, so the script also runs without root
# where everything is present.
missing=()
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
{ command -v timeout && command -v sha1sum; } >/dev/null 2>&1 || missing+=(coreutils)
command -v awk >/dev/null 2>&1 || missing+=(gawk)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
ldconfig -p 2>/dev/null | grep -q 'libstdc++\.so\.6' || missing+=(libstdc++6)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

has_sdk10() { command -v dotnet >/dev/null 2>&1 && dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; }
if ! has_sdk10; then
    [ -n "$apt_updated" ] || { $SUDO apt-get update; apt_updated=1; }
    if apt-cache show dotnet-sdk-10.0 >/dev/null 2>&1; then
        apt_install dotnet-sdk-10.0
    else
        echo "install_tool.sh: the .NET 10 SDK is missing and apt has no dotnet-sdk-10.0 package;" >&2
        echo "  add Microsoft's package feed (https://learn.microsoft.com/dotnet/core/install/linux-debian) and run again." >&2
        exit 1
    fi
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# The README's install commands: pack the tool, install it into a private tool path.
cd "$ROOT"
dotnet pack src/QEquiv.Cli -c Release -o artifacts
rm -rf "$SCRIPT_DIR/.tool"
dotnet tool install qequiv --tool-path "$SCRIPT_DIR/.tool" --add-source artifacts
"$SCRIPT_DIR/.tool/qequiv" --version
echo "QEquiv installed: $SCRIPT_DIR/.tool/qequiv"
