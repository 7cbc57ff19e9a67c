#!/usr/bin/env bash
# Builds certfleet-agent.msi from certfleet-agent.wxs with wixl (Debian package `wixl`) and
# msibuild (`msitools`), on Linux:
#
#   deploy/windows/build-msi.sh AGENT_EXE VERSION OUTPUT.msi [PROPERTY=VALUE]...
#
# VERSION is the crate version (MSI ProductVersion: major.minor.patch, numbers only).
# PROPERTY=VALUE pairs (COLLECTORURL, CAFILE, ENROLLSECRETFILE, CONFIGFILE, DAILYAT,
# RANDOMDELAYHOURS, STARTUPDELAYMINUTES, PROXY) are written into the package: a site's own MSI for
# Group Policy, which passes no command line (instead of a transform). Each build gets a new
# package code, so such MSIs never collide in Windows Installer's cache. wixl does
# not implement Property/@Secure, MajorUpgrade/@Schedule or After= for a property-setting
# action, so this script sets SecureCustomProperties, moves RemoveExistingProducts to right
# after InstallInitialize (the old version is removed, keeping the task and data, before the
# new one is installed) and UseRememberedUrl/UseRememberedProxy between AppSearch and
# LaunchConditions, then checks
# the result with msiinfo. Used by scripts/build-release.sh and by
# tests/tests/windows_wine.rs.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 AGENT_EXE VERSION OUTPUT.msi [PROPERTY=VALUE]..." >&2
  exit 2
fi
exe=$1
version=${2%%[-+]*}
out=$3
shift 3
queries=()
for pair in "$@"; do
  name=${pair%%=*}
  value=${pair#*=}
  case "$name" in
    COLLECTORURL | CAFILE | ENROLLSECRETFILE | CONFIGFILE | DAILYAT | RANDOMDELAYHOURS | STARTUPDELAYMINUTES | PROXY) ;;
    *)
      echo "build-msi: unknown property $name" >&2
      exit 1
      ;;
  esac
  if [ "$pair" = "$name" ] || [[ $value == *"'"* ]]; then
    echo "build-msi: $pair is not PROPERTY=VALUE (without single quotes)" >&2
    exit 1
  fi
  queries+=(-q "DELETE FROM \`Property\` WHERE \`Property\` = '$name'"
    -q "INSERT INTO \`Property\` (\`Property\`, \`Value\`) VALUES ('$name', '$value')")
done
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
secure="COLLECTORURL;CAFILE;ENROLLSECRETFILE;CONFIGFILE;DAILYAT;RANDOMDELAYHOURS;STARTUPDELAYMINUTES;PROXY;WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED"
msibuild "$work/agent.msi" \
  -q "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'" \
  -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 1501 WHERE \`Action\` = 'RemoveExistingProducts'" \
  -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 51 WHERE \`Action\` = 'UseRememberedUrl'" \
  -q "UPDATE \`InstallUISequence\` SET \`Sequence\` = 51 WHERE \`Action\` = 'UseRememberedUrl'" \
  -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 52 WHERE \`Action\` = 'UseRememberedProxy'" \
  -q "UPDATE \`InstallUISequence\` SET \`Sequence\` = 52 WHERE \`Action\` = 'UseRememberedProxy'" \
  "${queries[@]}"
# The edits, read back.
msiinfo export "$work/agent.msi" Property | tr -d "\r" | grep -qx "SecureCustomProperties	$secure" || {
  echo "build-msi: SecureCustomProperties not set" >&2
  exit 1
}
msiinfo export "$work/agent.msi" InstallExecuteSequence | tr -d "\r" | grep -qx "RemoveExistingProducts		1501" || {
  echo "build-msi: RemoveExistingProducts not rescheduled" >&2
  exit 1
}
for table in InstallExecuteSequence InstallUISequence; do
  msiinfo export "$work/agent.msi" "$table" | tr -d "\r" |
    grep -qx "UseRememberedUrl	NOT COLLECTORURL AND REMEMBEREDURL	51" || {
    echo "build-msi: UseRememberedUrl not between AppSearch and LaunchConditions in $table" >&2
    exit 1
  }
  msiinfo export "$work/agent.msi" "$table" | tr -d "\r" |
    grep -qx "UseRememberedProxy	NOT PROXY AND REMEMBEREDPROXY	52" || {
    echo "build-msi: UseRememberedProxy not between AppSearch and LaunchConditions in $table" >&2
    exit 1
  }
done
for pair in "$@"; do
  msiinfo export "$work/agent.msi" Property | tr -d "\r" | grep -qxF "${pair%%=*}	${pair#*=}" || {
    echo "build-msi: property ${pair%%=*} not set" >&2
    exit 1
  }
done
mv "$work/agent.msi" "$out"
echo "built $out (certfleet agent $version)"
