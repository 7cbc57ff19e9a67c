#!/bin/sh
# Report benchmark (BENCHMARKS.md "## Reports"). Needs an empty PostgreSQL database:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet collector/examples/bench_reports.sh
# Builds release binaries, generates the fleet, starts `certfleet-collector serve` on it and
# times the report API, the CLI, /metrics and the collector's memory.
set -eu
: "${DATABASE_URL:?set DATABASE_URL to an empty PostgreSQL database}"
RUNS="${RUNS:-21}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p certfleet-collector --bin certfleet-collector --example gen_fleet
BIN="$TARGET/release/certfleet-collector"
"$TARGET/release/examples/gen_fleet" "$DATABASE_URL"

DIR="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN" init --dir "$DIR" >/dev/null
PORT=$((20000 + $$ % 20000))
RUST_LOG=warn "$BIN" serve --config "$DIR/collector.toml" --database-url "$DATABASE_URL" \
  --grpc-listen 127.0.0.1:$((PORT + 1)) --http-listen 127.0.0.1:$PORT 2>"$DIR/log" &
PID=$!
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.2; done
echo "collector RSS after start: $(grep VmRSS /proc/$PID/status)"

# p50/p90/max of $RUNS timed GETs (first request warms the pool; not counted).
timeit() {
  curl -fs -o /dev/null "http://127.0.0.1:$PORT$1"
  for _ in $(seq "$RUNS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$1"
  done | sort -n | awk -v what="$1" '{ t[NR] = $1 } END {
    printf "%-48s p50 %6.0f ms  p90 %6.0f ms  max %6.0f ms  (%d runs)\n", what,
      t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, NR }'
}
SIZE=$(curl -fs "http://127.0.0.1:$PORT/api/v1/reports/expiring" | wc -c)
ROWS=$(curl -fs "http://127.0.0.1:$PORT/api/v1/reports/expiring?format=csv" | wc -l)
echo "expiring report: $((ROWS - 1)) rows, $SIZE bytes of JSON"
timeit "/api/v1/reports/expiring"
timeit "/api/v1/reports/expiring?within=14"
timeit "/api/v1/reports/expiring?office=1000000042"
timeit "/api/v1/reports/expiring?format=csv"
RUNS=5 timeit "/api/v1/reports/terminals"
RUNS=5 timeit "/api/v1/reports/offices"
RUNS=5 timeit "/api/v1/reports/multi-office"
RUNS=5 timeit "/api/v1/reports/stale"
# /metrics: first scrape computes the fleet gauges, the next ones within 30 s use the cache.
curl -fs -o /dev/null -w "metrics first scrape: %{time_total} s, %{size_download} bytes\n" \
  "http://127.0.0.1:$PORT/metrics"
curl -fs -o /dev/null -w "metrics cached scrape: %{time_total} s\n" "http://127.0.0.1:$PORT/metrics"
echo "collector memory after the reports: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"

echo "CLI (process start, migration check, report, JSON to stdout):"
for _ in 1 2 3; do
  /usr/bin/time -f "  report expiring --format json: %e s, max RSS %M KiB" \
    "$BIN" --database-url "$DATABASE_URL" report expiring --format json >/dev/null
done
