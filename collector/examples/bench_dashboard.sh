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

. "$(dirname "$0")/bench_lib.sh"
start_collector

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
