#!/usr/bin/env bash
# Soak: one collector on a throwaway PostgreSQL under steady load for DURATION; every
# SAMPLE_EVERY seconds the collector's VmRSS, VmHWM, open descriptors and threads, its
# PostgreSQL connections (pg_stat_activity) and the load average go to $WORK/samples.tsv.
# Prints the curve (one row every TABLE_EVERY seconds) and the load generator's summary.
#
#   BIN=$CARGO_TARGET_DIR/release nice -n 10 tests/bench/soak.sh
#
# Environment: DURATION (30m), RATE (reports/s, 150), TERMINALS (20000), CHANGED (0.05),
# CONCURRENCY (64), CONNECTIONS (4), SAMPLE_EVERY (10), TABLE_EVERY (150), KEEP=1 keeps $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-30m}
RATE=${RATE:-150}
TERMINALS=${TERMINALS:-20000}
CHANGED=${CHANGED:-0.05}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
TABLE_EVERY=${TABLE_EVERY:-150}
. tests/bench/common.sh

start_pg
DB=$(create_db soak)
init_collector
start_collector soak "$DB"
PID=$COLLECTOR_PID
echo "PostgreSQL :$PG_PORT; collector pid $PID $COLLECTOR_URL; work $WORK"

SAMPLES=$WORK/samples.tsv
printf 't_s\tvm_rss_kb\tvm_hwm_kb\tfds\tthreads\tpg_conns\tload1\n' >"$SAMPLES"
sample() {
  local t=$1 status fds conns
  status=$(cat "/proc/$PID/status")
  fds=$(ls "/proc/$PID/fd" | wc -l)
  # The collector's own sessions: this psql is connected to the maintenance database, not soak.
  conns=$(psql "$PG_URL" -XAtq -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'soak'")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" \
    "$(awk '/^VmRSS:/ {print $2}' <<<"$status")" "$(awk '/^VmHWM:/ {print $2}' <<<"$status")" \
    "$fds" "$(awk '/^Threads:/ {print $2}' <<<"$status")" "$conns" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$SAMPLES"
}

loadgen --collector "$COLLECTOR_URL" --terminals "$TERMINALS" --certs 1-5 \
  --changed-fraction "$CHANGED" --duration "$DURATION" --rate "$RATE" \
  --concurrency "${CONCURRENCY:-64}" --connections "${CONNECTIONS:-4}" --machine-prefix soak \
  --watch-pid "$PID" --json >"$WORK/loadgen.json" 2>"$WORK/loadgen.err" &
LG_PID=$!
STARTED_PIDS+=("$LG_PID")
T0=$(date +%s)
while kill -0 "$LG_PID" 2>/dev/null; do
  sample $(($(date +%s) - T0))
  sleep "$SAMPLE_EVERY"
done
LG_RC=0
wait "$LG_PID" || LG_RC=$?
sample $(($(date +%s) - T0))
# Idle again: what the collector keeps once the load is gone.
sleep 30
sample $(($(date +%s) - T0))

echo "== load generator (exit status $LG_RC)"
jq -c '{reports_acknowledged, reports_failed, retries, reports_errors_by_code, throughput_per_s,
        reports_elapsed_s, expected_live_holdings}' "$WORK/loadgen.json"
jq -c '.phases[] | {phase, latency, latency_by_kind, completion_latency, errors_by_code, extra}' \
  "$WORK/loadgen.json"
jq -c '.watched_process | del(.curve_t_rss_kb_fds)' "$WORK/loadgen.json"
psql "$DB" -XAtq -c "SELECT 'database: terminals ' || (SELECT count(*) FROM terminals)
  || ', reports ' || (SELECT count(*) FROM reports)
  || ', live holdings ' || (SELECT count(*) FROM holdings WHERE removed_at IS NULL)
  || ', size ' || pg_size_pretty(pg_database_size('soak'))"

echo "== curve (one row every ${TABLE_EVERY} s; all samples in $SAMPLES)"
python3 - "$SAMPLES" "$TABLE_EVERY" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
every = int(sys.argv[2])
print("| t | VmRSS | VmHWM | open fds | threads | PostgreSQL connections | load avg (1 min) |")
print("|---|---|---|---|---|---|---|")
next_t = 0
for i, r in enumerate(rows):
    t = int(r["t_s"])
    if t >= next_t or i >= len(rows) - 2:
        print(f"| {t // 60}:{t % 60:02d} | {int(r['vm_rss_kb']) / 1024:.1f} MB | {int(r['vm_hwm_kb']) / 1024:.1f} MB "
              f"| {r['fds']} | {r['threads']} | {r['pg_conns']} | {r['load1']} |")
        next_t = t - t % every + every
rss = [int(r["vm_rss_kb"]) for r in rows[:-1]]
# Flatness: the second half of the run against the first (warm-up excluded: first 2 minutes).
steady = [(int(r["t_s"]), int(r["vm_rss_kb"])) for r in rows[:-2] if int(r["t_s"]) >= 120]
if len(steady) >= 4:
    half = len(steady) // 2
    a = sum(v for _, v in steady[:half]) / half
    b = sum(v for _, v in steady[half:]) / (len(steady) - half)
    n = len(steady)
    mt = sum(t for t, _ in steady) / n
    mv = sum(v for _, v in steady) / n
    slope = sum((t - mt) * (v - mv) for t, v in steady) / max(sum((t - mt) ** 2 for t, _ in steady), 1e-9)
    print(f"RSS after warm-up: mean first half {a / 1024:.1f} MB, second half {b / 1024:.1f} MB; "
          f"least-squares slope {slope * 3600 / 1024:.2f} MB/hour; min {min(v for _, v in steady) / 1024:.1f} MB, "
          f"max {max(v for _, v in steady) / 1024:.1f} MB")
fds = [int(r["fds"]) for r in rows]
conns = [int(r["pg_conns"]) for r in rows]
print(f"fds min {min(fds)} max {max(fds)}; PostgreSQL connections min {min(conns)} max {max(conns)}")
EOF
exit "$LG_RC"
