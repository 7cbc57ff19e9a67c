#!/bin/sh
# Dashboard benchmark (BENCHMARKS.md "## Dashboard"): server time of every dashboard page on
# the report benchmark's fleet. Run collector/examples/bench_reports.sh first (it generates the
# 100,000-terminal fleet into the same database), then:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet collector/examples/bench_dashboard.sh
# The collector listens on loopback, so the pages need no login.
set -eu
: "${DATABASE_URL:?set DATABASE_URL to the database bench_reports.sh filled}"
RUNS="${RUNS:-11}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p certfleet-collector --bin certfleet-collector
BIN="$TARGET/release/certfleet-collector"

DIR="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN" init --dir "$DIR" >/dev/null
PORT=$((20000 + $$ % 20000))
RUST_LOG=warn "$BIN" serve --config "$DIR/collector.toml" --database-url "$DATABASE_URL" \
  --grpc-listen 127.0.0.1:$((PORT + 1)) --http-listen 127.0.0.1:$PORT 2>"$DIR/log" &
PID=$!
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.2; done

# p50/p90/max of $RUNS timed GETs (the first request is not counted), and the page size.
timeit() {
  SIZE=$(curl -fs -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PORT$1")
  for _ in $(seq "$RUNS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$1"
  done | sort -n | awk -v what="$1" -v size="$SIZE" '{ t[NR] = $1 } END {
    printf "%-36s p50 %5.0f ms  p90 %5.0f ms  max %5.0f ms  %8d bytes\n", what,
      t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, size }'
}
OFFICE=$(psql "$DATABASE_URL" -Atc "SELECT office_number FROM pair_expiry ORDER BY not_after LIMIT 1 OFFSET 5000")
TERMINAL=$(psql "$DATABASE_URL" -Atc "SELECT terminal_id FROM pair_expiry GROUP BY terminal_id HAVING count(*) = 5 LIMIT 1")
timeit "/"
timeit "/expiring"
timeit "/expiring?page=20"
timeit "/expiring?sort=office&dir=desc"
timeit "/expiring?status=expired"
timeit "/expiring?office=$OFFICE"
timeit "/expiring.csv"
timeit "/offices"
timeit "/offices?uncovered=1"
timeit "/offices/$OFFICE"
timeit "/terminals/$TERMINAL"
timeit "/multi-office"
timeit "/stale"
timeit "/alerts"
echo "collector memory after the pages: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
