#!/usr/bin/env bash
# Benchmark of the Windows agent under Wine (BENCHMARKS.md "Windows agent"): the size of
# certfleet-agent.exe, and the time and peak memory of `certfleet-agent.exe scan --format json`
# (default sources) for a profile holding N office certificates (default 50) as Personal-store
# files written by crypt32, against the same scan of an empty prefix. Run by hand:
#
#   tests/windows/bench-wine-scan.sh [EXE] [N] [RUNS]
#
# EXE defaults to scripts/build-windows-agent.sh's output. Each run is timed inside Wine by
# certstore-helper's `measure` (CreateProcessW to exit; GetProcessMemoryInfo), so Wine's own
# start-up (wineserver, wineboot) is not counted; the process start inside Wine is. Prints the
# median and the range over RUNS runs (default 11).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
exe=${1:-$("$root/scripts/build-windows-agent.sh" | tail -n 1)}
count=${2:-50}
runs=${3:-11}

work=$(mktemp -d)
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
cleanup() {
  wineserver -k 2>/dev/null || true
  wineserver -w 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
z() { echo "Z:$1" | tr / '\\'; }

x86_64-w64-mingw32-gcc -municode -O2 -s -o "$work/certstore-helper.exe" "$here/certstore-helper.c" \
  -lcrypt32 -lversion -lpsapi
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$work/bcryptprimitives.dll" "$here/bcryptprimitives-shim.c" \
  "$here/bcryptprimitives-shim.def" -ladvapi32
started=$(date +%s.%N)
wineboot -i >/dev/null 2>&1
wineserver -w
python3 -c "import sys; print(f\"wineboot: {float(sys.argv[2]) - float(sys.argv[1]):.1f} s\")" "$started" "$(date +%s.%N)"
agent_dir="$WINEPREFIX/drive_c/Program Files/certfleet"
mkdir -p "$agent_dir"
cp "$exe" "$work/bcryptprimitives.dll" "$agent_dir/"
echo "certfleet-agent.exe: $(stat -c %s "$exe") bytes ($exe)"

measure() {
  local label=$1
  printf '"C:\\Program Files\\certfleet\\certfleet-agent.exe" scan --format json\n' >"$work/cmdline.txt"
  : >"$work/$label.txt"
  for _ in $(seq "$runs"); do
    wine "$(z "$work/certstore-helper.exe")" measure "$(z "$work/cmdline.txt")" \
      >"$work/$label.json" 2>>"$work/$label.txt"
  done
  python3 - "$label" "$work/$label.txt" "$work/$label.json" <<'EOF'
import json, statistics, sys
label, path, out = sys.argv[1:]
rows = [dict(kv.split("=") for kv in line.split()) for line in open(path) if line.startswith("elapsed_ms=")]
doc = json.load(open(out))
for key, unit in (("elapsed_ms", "ms"), ("peak_working_set_kib", "KiB"), ("peak_commit_kib", "KiB")):
    v = sorted(float(r[key]) for r in rows)
    print(f"{label}: {key} median {statistics.median(v):.1f} {unit} (min {v[0]:.1f}, max {v[-1]:.1f}, {len(v)} runs)")
print(f"{label}: {len(doc['certificates'])} certificates listed, {len(doc['errors'])} errors")
EOF
}

measure empty

# N office certificates, each in the profile's Personal store as crypt32 serializes it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
  -subj "/CN=KANAGAWA KOKUHOREN CA" -days 3650 -out "$work/ca.pem" 2>/dev/null
user=$(ls "$WINEPREFIX/drive_c/users" | grep -vx Public | head -n 1)
store="C:\\users\\$user\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates"
mkdir -p "$WINEPREFIX/drive_c/users/$user/AppData/Roaming/Microsoft/SystemCertificates/My/Certificates"
: >"$work/spec.txt"
for i in $(seq "$count"); do
  office=$(printf '14100%05d' "$i")
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
    -subj "/CN=$office" -out "$work/leaf.csr" 2>/dev/null
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -set_serial "$i" -days $((30 + i * 20)) -outform DER -out "$work/$office.der" 2>/dev/null
  printf 'serialize\t%s\\%s\t%s\tcapi\t事業所 %s\n' "$store" "$office" "$(z "$work/$office.der")" "$office" \
    >>"$work/spec.txt"
done
wine "$(z "$work/certstore-helper.exe")" store "$(z "$work/spec.txt")"
measure "profile with $count certificates"
