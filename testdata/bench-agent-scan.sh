#!/usr/bin/env bash
# The "Agent scan" benchmark of BENCHMARKS.md, by hand (not in CI): scans a directory of N
# certificate files (half PEM, half DER; half office certificates) with the release agent,
# then runs `openssl x509 -noout -enddate` over the same files for comparison.
#   N=10000 CORPUS=/var/tmp/certfleet-bench ./testdata/bench-agent-scan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/certfleet-target}"
N="${N:-10000}"
CORPUS="${CORPUS:-/var/tmp/certfleet-bench-$N}"

cargo build --release --locked -q -p certfleet-agent --bin certfleet-agent --example gen_bench_corpus
BIN="$CARGO_TARGET_DIR/release/certfleet-agent"
if [ ! -d "$CORPUS" ]; then
  "$CARGO_TARGET_DIR/release/examples/gen_bench_corpus" "$CORPUS" "$N"
fi

echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "files: $(find "$CORPUS" -type f | wc -l) ($(find "$CORPUS" -name '*.pem' | wc -l) PEM, $(find "$CORPUS" -name '*.der' | wc -l) DER)"
echo "binary: $(stat -c %s "$BIN") bytes; $(file -b "$BIN" | grep -o 'stripped\|not stripped')"

scan() {
  /usr/bin/time -f "  %e s wall, %M KiB peak RSS" "$BIN" scan --path "$CORPUS" "$@" > /dev/null
}
scan --format json # warm the page cache
echo "certfleet-agent scan --format json (office certificates selected):"
for _ in 1 2 3; do scan --format json; done
echo "certfleet-agent scan --all-issuers --format json:"
for _ in 1 2 3; do scan --all-issuers --format json; done

echo "openssl x509 -noout -enddate, one process per file:"
start=$(date +%s.%N)
find "$CORPUS" -name '*.pem' -print0 | xargs -0 -n1 openssl x509 -noout -enddate -in > /dev/null
find "$CORPUS" -name '*.der' -print0 | xargs -0 -n1 openssl x509 -inform DER -noout -enddate -in > /dev/null
end=$(date +%s.%N)
echo "  $(echo "$end - $start" | bc) s wall"
