#!/usr/bin/env bash
# Builds certfleet-agent.msi from certfleet-agent.wxs with wixl (Debian package `wixl`) and
# msibuild (`msitools`), on Linux:
#
#   deploy/windows/build-msi.sh AGENT_EXE VERSION OUTPUT.msi
#
# VERSION is the crate version (MSI ProductVersion: major.minor.patch, numbers only). wixl does
# not implement Property/@Secure or MajorUpgrade/@Schedule, so this script sets
# SecureCustomProperties and moves RemoveExistingProducts to right after InstallInitialize
# (the old version is removed, keeping the task and data, before the new one is installed),
# then checks the result with msiinfo. Used by scripts/build-release.sh and by
# tests/tests/windows_wine.rs.
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "usage: $0 AGENT_EXE VERSION OUTPUT.msi" >&2
  exit 2
fi
exe=$1
version=${2%%[-+]*}
out=$3
here=$(cd "$(dirname "$0")" && pwd)
for tool in wixl msibuild msiinfo; do
  command -v "$tool" >/dev/null || {
    echo "build-msi: $tool is missing (apt-get install wixl msitools)" >&2
    exit 1
  }
done
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "build-msi: version $2 is not MAJOR.MINOR.PATCH" >&2
  exit 1
}
[ -f "$exe" ] || {
  echo "build-msi: $exe not found" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$exe" "$work/certfleet-agent.exe"
# wixl prints GLib warnings for attributes it ignores; they are known (see the .wxs).
(cd "$work" && wixl -a x64 -D "Version=$version" -D AgentExe=certfleet-agent.exe \
  -o "$work/agent.msi" "$here/certfleet-agent.wxs" 2> >(grep -v -e 'has no property named' -e '^$' >&2))
secure="COLLECTORURL;CAFILE;ENROLLSECRETFILE;CONFIGFILE;DAILYAT;RANDOMDELAYHOURS;STARTUPDELAYMINUTES;WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED"
msibuild "$work/agent.msi" \
  -q "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'" \
  -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 1501 WHERE \`Action\` = 'RemoveExistingProducts'"
# The two edits, read back.
msiinfo export "$work/agent.msi" Property | tr -d "\r" | grep -qx "SecureCustomProperties	$secure" || {
  echo "build-msi: SecureCustomProperties not set" >&2
  exit 1
}
msiinfo export "$work/agent.msi" InstallExecuteSequence | tr -d "\r" | grep -qx "RemoveExistingProducts		1501" || {
  echo "build-msi: RemoveExistingProducts not rescheduled" >&2
  exit 1
}
mv "$work/agent.msi" "$out"
echo "built $out (certfleet agent $version)"
