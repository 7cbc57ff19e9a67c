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
# median and the range over RUNS runs (default 11). Needs Wine, mingw-w64, openssl and GNU time
# (Debian packages wine64, gcc-mingw-w64-x86-64, openssl, time).
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

# measure LABEL ARGUMENTS...: RUNS runs of certfleet-agent.exe ARGUMENTS, summarized.
measure() {
  local label=$1
  shift
  printf '"C:\\Program Files\\certfleet\\certfleet-agent.exe" %s\n' "$*" >"$work/cmdline.txt"
  : >"$work/runs.txt"
  for _ in $(seq "$runs"); do
    wine "$(z "$work/certstore-helper.exe")" measure "$(z "$work/cmdline.txt")" \
      >"$work/out.txt" 2>>"$work/runs.txt"
  done
  python3 - "$label" "$work/runs.txt" "$work/out.txt" <<'EOF'
import json, statistics, sys
label, path, out = sys.argv[1:]
rows = [dict(kv.split("=") for kv in line.split()) for line in open(path) if line.startswith("elapsed_ms=")]
for key, unit in (("elapsed_ms", "ms"), ("peak_working_set_kib", "KiB"), ("peak_commit_kib", "KiB")):
    v = sorted(float(r[key]) for r in rows if r[key] != "n/a")
    if v:
        print(f"{label}: {key} median {statistics.median(v):.1f} {unit} "
              f"(min {v[0]:.1f}, max {v[-1]:.1f}, {len(v)} of {len(rows)} runs)")
try:
    doc = json.load(open(out))
    print(f"{label}: {len(doc['certificates'])} certificates listed, {len(doc['errors'])} errors")
except ValueError:
    pass
EOF
}

# rss LABEL ARGUMENTS...: the maximum resident set of the Wine process running the agent, as
# Linux sees it (GNU time; Wine's own counters above cannot always be read back).
rss() {
  local label=$1
  shift
  : >"$work/rss.txt"
  for _ in $(seq "$runs"); do
    /usr/bin/time -a -o "$work/rss.txt" -f '%M' wine 'C:\Program Files\certfleet\certfleet-agent.exe' "$@" >/dev/null
  done
  python3 -c 'import statistics, sys
v = sorted(int(l) for l in open(sys.argv[2]) if l.strip().isdigit())
print(f"{sys.argv[1]}: max RSS of the Wine process median {statistics.median(v)} KiB (min {v[0]}, max {v[-1]}, {len(v)} runs)")' "$label" "$work/rss.txt"
}

# Process start and exit under Wine, for reference.
measure "--version" --version
measure "empty prefix" scan --format json
rss "empty prefix" scan --format json

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
measure "profile with $count certificates" scan --format json
rss "profile with $count certificates" scan --format json
