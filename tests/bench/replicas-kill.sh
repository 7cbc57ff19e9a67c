#!/usr/bin/env bash
# Two collector replicas on one PostgreSQL share a simulated fleet; one replica is SIGKILLed
# once half of the reports are acknowledged. Afterwards every report the load generator saw
# acknowledged is looked up in the database (tests/bench/verify-acks.sql) and the throughput
# before and after the kill is computed from the acknowledgement log.
#
#   BIN=$CARGO_TARGET_DIR/release tests/bench/replicas-kill.sh [TERMINALS] [ROUNDS]
#
# Environment: CHANGED (changed fraction, 0.5), CONCURRENCY (64), CONNECTIONS (per replica, 4),
# KILL_AT (fraction of all reports acknowledged before the kill, 0.5; 0.625 = the middle of
# round 3 of 4), KEEP=1 keeps $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
TERMINALS=${1:-8000}
ROUNDS=${2:-4}
CHANGED=${CHANGED:-0.5}
KILL_AT=${KILL_AT:-0.5}
. tests/bench/common.sh

start_pg
DB=$(create_db replicas)
init_collector
start_collector replica-a "$DB"; A_PID=$COLLECTOR_PID; A_URL=$COLLECTOR_URL
start_collector replica-b "$DB"; B_PID=$COLLECTOR_PID; B_URL=$COLLECTOR_URL
echo "PostgreSQL :$PG_PORT; replica a pid $A_PID $A_URL; replica b pid $B_PID $B_URL; work $WORK"

ACKS=$WORK/acks.jsonl
: >"$ACKS"
loadgen --collector "$A_URL" --collector "$B_URL" --terminals "$TERMINALS" --rounds "$ROUNDS" \
  --certs 1-5 --changed-fraction "$CHANGED" --concurrency "${CONCURRENCY:-64}" \
  --connections "${CONNECTIONS:-4}" --machine-prefix rk --seed 7 --ack-log "$ACKS" \
  --json >"$WORK/loadgen.json" 2>"$WORK/loadgen.err" &
LG_PID=$!
STARTED_PIDS+=("$LG_PID")

TOTAL=$((TERMINALS * ROUNDS))
KILL_AFTER=$(python3 -c "print(int($TOTAL * $KILL_AT))")
while [ "$(wc -l <"$ACKS")" -lt "$KILL_AFTER" ]; do
  kill -0 "$LG_PID" 2>/dev/null || { echo "loadgen ended before the kill" >&2; cat "$WORK/loadgen.err" >&2; exit 1; }
  sleep 0.05
done
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null || true
ACKED_AT_KILL=$(wc -l <"$ACKS")
T_KILL=$(tail -n1 "$ACKS" | python3 -c 'import json, sys; print(json.load(sys.stdin)["t_s"])')
echo "SIGKILL replica b at loadgen t=${T_KILL}s with $ACKED_AT_KILL of $TOTAL reports acknowledged"

LG_RC=0
wait "$LG_PID" || LG_RC=$?
echo "loadgen exit status $LG_RC"
jq -c '{reports_acknowledged, reports_failed, retries, reports_errors_by_code,
        reports_acknowledged_by_collector, throughput_per_s, reports_elapsed_s}' "$WORK/loadgen.json"
jq -c '.phases[] | {phase, acknowledged, elapsed_s: (.elapsed_s * 10 | round / 10),
        per_s: (.throughput_per_s | round), p50_ms: .latency.p50_ms, p99_ms: .latency.p99_ms,
        max_ms: .latency.max_ms, errors_by_code, acknowledged_by_collector}' "$WORK/loadgen.json"

echo "== acknowledged vs stored (verify-acks.sql)"
psql "$DB" -XAtq -v ON_ERROR_STOP=1 -f tests/bench/verify-acks.sql <"$ACKS" | jq -c .
psql "$DB" -XAtq -c "SELECT 'database: terminals ' || (SELECT count(*) FROM terminals)
  || ', reports ' || (SELECT count(*) FROM reports)
  || ', distinct report ids ' || (SELECT count(DISTINCT report_id) FROM reports)
  || ', live holdings ' || (SELECT count(*) FROM holdings WHERE removed_at IS NULL)"

echo "== throughput from the acknowledgement log (reporting phase only)"
python3 - "$ACKS" "$T_KILL" <<'EOF'
import json, sys
acks = [json.loads(l) for l in open(sys.argv[1])]
t_kill = float(sys.argv[2])
ts = sorted(a["t_s"] for a in acks)
first, last = ts[0], ts[-1]
before = [t for t in ts if t <= t_kill]
after = [t for t in ts if t > t_kill]
print(f"before the kill: {len(before)} acks in {t_kill - first:.1f} s = {len(before) / max(t_kill - first, 1e-9):.0f}/s (both replicas)")
print(f"after the kill:  {len(after)} acks in {last - t_kill:.1f} s = {len(after) / max(last - t_kill, 1e-9):.0f}/s (one replica)")
by = {}
for a in acks:
    key = ("before" if a["t_s"] <= t_kill else "after", a["collector"])
    by[key] = by.get(key, 0) + 1
print("acks by (phase, replica):", dict(sorted(by.items())))
# The dip right after the kill: acknowledgements per second around it.
bucket = {}
for t in ts:
    if t_kill - 5 <= t < t_kill + 10:
        b = int(t - t_kill + 5) - 5
        bucket[b] = bucket.get(b, 0) + 1
print("acks per second around the kill (s from kill: count):", dict(sorted(bucket.items())))
EOF
exit "$LG_RC"
