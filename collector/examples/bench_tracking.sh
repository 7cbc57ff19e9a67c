#!/bin/sh
# Renewal-tracking benchmark (BENCHMARKS.md "## Renewal tracking"), A/B in one run on the fleet
# of bench_reports.sh (100,000 terminals, 260,000 pairs):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet collector/examples/bench_tracking.sh
# A = no pair tracked, B = 10 % of the pairs tracked (every stored state), alternated twice:
# `report expiring` over the API, the fleet-wide calendar feed, and one tracking change
# (POST /api/v1/tracking, a request then its clear).
set -eu
: "${DATABASE_URL:?set DATABASE_URL to an empty PostgreSQL database}"
RUNS="${RUNS:-21}"
TARGET="${CARGO_TARGET_DIR:-target}"
PSQL="${PSQL:-/usr/lib/postgresql/15/bin/psql}"
cargo build --release -q -p certfleet-collector --bin certfleet-collector
cargo build --release -q -p certfleet-store --example gen_fleet
[ -n "${REUSE_FLEET:-}" ] || "$TARGET/release/examples/gen_fleet" "$DATABASE_URL"

. "$(dirname "$0")/bench_lib.sh"
start_collector
TOKEN="$(cat "$DIR/api-token.txt")"
# bench_lib's timeit with the API token (init configures one, so the API needs it).
timeit() {
  SIZE=$(curl -fs -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{size_download}' \
    "http://127.0.0.1:$PORT$1")
  for _ in $(seq "$RUNS"); do
    curl -fs -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{time_total}\n' \
      "http://127.0.0.1:$PORT$1"
  done | sort -n | awk -v what="$1" -v size="$SIZE" '{ t[NR] = $1 } END {
    printf "%-44s p50 %5.0f ms  p90 %5.0f ms  max %5.0f ms  %9d bytes  (%d runs)\n", what,
      t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, size, NR }'
}

untrack() { "$PSQL" -q "$DATABASE_URL" -c "TRUNCATE pair_tracking, pair_tracking_history"; }
# 10 % of the live pairs (a repeatable sample), spread over the five stored states.
track() {
  "$PSQL" -q "$DATABASE_URL" -c "
    INSERT INTO pair_tracking (terminal_id, office_number, state, requested_on, hold_until, note,
      baseline_not_after, renewed_at, renewed_not_after, changed_at, changed_by)
    SELECT terminal_id, office_number, s.state,
           CASE WHEN s.state IN ('requested','reissue','renewed')
                THEN current_date - (h % 10) END,
           CASE WHEN s.state = 'on_hold' THEN current_date + 20 END,
           'bench', not_after,
           CASE WHEN s.state = 'renewed' THEN now() END,
           CASE WHEN s.state = 'renewed' THEN not_after END,
           now(), 'bench'
    FROM (SELECT *, abs(hashtext(terminal_id::text || office_number)) AS h
          FROM pair_expiry TABLESAMPLE BERNOULLI (10) REPEATABLE (42)) p
    CROSS JOIN LATERAL (SELECT (ARRAY['requested','reissue','on_hold','retired','renewed'])
                               [1 + p.h % 5] AS state) s"
  "$PSQL" -Atq "$DATABASE_URL" -c "SELECT 'tracked pairs: ' || count(*) FROM pair_tracking"
}

FEED=$("$BIN" --database-url "$DATABASE_URL" calendar create --label bench | tail -1)
for round in 1 2; do
  untrack
  echo "A$round: no pair tracked"
  timeit "/api/v1/reports/expiring"
  RUNS=7 timeit "$FEED"
  track
  echo "B$round: 10 % of pairs tracked"
  timeit "/api/v1/reports/expiring"
  timeit "/api/v1/reports/expiring?state=stuck,requested,reissue"
  RUNS=7 timeit "$FEED"
done

# One tracking change: a pair that is not tracked, requested then cleared, each POST timed.
PAIR=$("$PSQL" -Atq "$DATABASE_URL" -c "SELECT p.terminal_id || ' ' || p.office_number
  FROM pair_expiry p LEFT JOIN pair_tracking t USING (terminal_id, office_number)
  WHERE t.terminal_id IS NULL LIMIT 1")
set -- $PAIR
for _ in $(seq "$RUNS"); do
  for action in requested clear; do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' \
      -d "{\"terminal\":\"$1\",\"office\":\"$2\",\"action\":\"$action\"}" \
      "http://127.0.0.1:$PORT/api/v1/tracking"
  done
done | sort -n | awk '{ t[NR] = $1 } END {
  printf "%-44s p50 %5.0f ms  p90 %5.0f ms  max %5.0f ms  (%d changes)\n", "POST /api/v1/tracking",
    t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, NR }'
echo "collector memory: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
