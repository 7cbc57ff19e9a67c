#!/bin/sh
# Coverage benchmark (BENCHMARKS.md "## Coverage"). Needs an empty PostgreSQL database (or
# REUSE_FLEET=1 and the fleet of an earlier run):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleet collector/examples/bench_coverage.sh
# Builds release binaries, generates the report benchmark's fleet (100,000 terminals,
# store/examples/gen_fleet.sql), marks 5 % of the terminals as running agent 0.0.9, writes an
# expected-terminal list of 100,000 PCs (99,000 of the fleet with their offices, every 100th
# with one office more, and 1,000 PCs that never reported), times its import with the CLI,
# then times `GET /api/v1/reports/coverage` (JSON and CSV) and the CLI report.
set -eu
: "${DATABASE_URL:?set DATABASE_URL to an empty PostgreSQL database}"
RUNS="${RUNS:-11}"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p certfleet-collector --bin certfleet-collector
cargo build --release -q -p certfleet-store --example gen_fleet
if [ -z "${REUSE_FLEET:-}" ]; then
  "$TARGET/release/examples/gen_fleet" "$DATABASE_URL"
  psql -q "$DATABASE_URL" -c "UPDATE terminals SET agent_version = '0.0.9' WHERE id % 20 = 0"
fi

LIST="$(mktemp)"
# The offices of terminal i are gen_fleet.sql's: 1000000000 + (i * 7919 + k) % 30000 for
# k = 1 … n(i). Terminal ids are 1 … 100,000 in a fresh database.
python3 - "$LIST" <<'PY'
import sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("hostname,machine_id,offices\n")
    for i in range(1, 99001):
        r = i % 10
        n = 1 if r < 3 else 2 if r < 5 else 3 if r < 7 else 4 if r < 9 else 5
        offices = [str(1000000000 + (i * 7919 + k) % 30000) for k in range(1, n + 1)]
        if i % 100 == 0:
            offices.append("1999999999")
        machine = f"bench-machine-{i}" if i % 2 == 0 else ""
        f.write(f"PC-{i:06d},{machine},{';'.join(offices)}\n")
    for i in range(1, 1001):
        f.write(f"missing-pc-{i:04d},,1000000001\n")
PY
BIN="$TARGET/release/certfleet-collector"
echo "expected-terminal list: $(wc -l < "$LIST") lines, $(wc -c < "$LIST") bytes"
for _ in 1 2 3; do
  /usr/bin/time -f "  coverage import (100,000 PCs): %e s, max RSS %M KiB" \
    "$BIN" --database-url "$DATABASE_URL" coverage import "$LIST" >/dev/null
done

. "$(dirname "$0")/bench_lib.sh"
start_collector
# `init` writes an API token, and the API then asks for it even from loopback.
AUTH="Authorization: Bearer $(cat "$DIR/api-token.txt")"
URL="http://127.0.0.1:$PORT/api/v1/reports/coverage"
curl -fs -H "$AUTH" "$URL?format=csv" | cut -d, -f1 | sort | uniq -c
for QUERY in "" "?format=csv"; do
  SIZE=$(curl -fs -H "$AUTH" -o /dev/null -w '%{size_download}' "$URL$QUERY")
  for _ in $(seq "$RUNS"); do
    curl -fs -H "$AUTH" -o /dev/null -w '%{time_total}\n' "$URL$QUERY"
  done | sort -n | awk -v what="coverage$QUERY" -v size="$SIZE" '{ t[NR] = $1 } END {
    printf "%-28s p50 %5.0f ms  p90 %5.0f ms  max %5.0f ms  %9d bytes  (%d runs)\n", what,
      t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, size, NR }'
done
echo "collector memory after the reports: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
for _ in 1 2 3; do
  /usr/bin/time -f "  CLI report coverage --format json: %e s, max RSS %M KiB" \
    "$BIN" --database-url "$DATABASE_URL" report coverage --format json >/dev/null
done
rm -f "$LIST"
