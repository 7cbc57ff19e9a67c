#!/usr/bin/env bash
# A/B of the Report path between two collector builds on one throwaway PostgreSQL: for each
# pass, collector A then B (or B then A: ORDER=ba) each get a fresh database and the same load
# (TERMINALS terminals with 3 certificates, ROUNDS rounds unchanged, then ROUNDS rounds changed;
# concurrency 64 over 8 connections), from one load generator. Prints reports/s, p50 and p99
# per phase and build. On a shared machine compare passes made close together, and alternate.
#
#   A=/path/to/old/bin B=$CARGO_TARGET_DIR/release tests/bench/ab-ingest.sh
#
# A and B are directories holding certfleet-collector; the load generator comes from B
# ($B/certfleet-loadgen). The per-address and per-terminal rates (issue 14) are turned off for
# a build that knows them: the load generator is one address playing a whole fleet.
# Environment: TERMINALS (2000), ROUNDS (3), PASSES (2), ORDER (ab), KEEP=1 keeps $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${A:?A=dir of the first collector build}" "${B:?B=dir of the second collector build}"
TERMINALS=${TERMINALS:-2000}
ROUNDS=${ROUNDS:-3}
PASSES=${PASSES:-2}
ORDER=${ORDER:-ab}
BIN=$B
. tests/bench/common.sh
start_pg

run() { # NAME DIR
  local name=$1 dir=$2 db line pid port fraction
  "$dir/certfleet-collector" init --dir "$WORK/$name" --san localhost >/dev/null
  if "$dir/certfleet-collector" terminal --help | grep -q pending; then
    sed -i 's/^\[limits\]$/[limits]\nreports_per_terminal_per_hour = 0\nenroll_per_peer_per_minute = 0\nunauthenticated_per_peer_per_minute = 0/' \
      "$WORK/$name/collector.toml"
  fi
  db=$(create_db "$name")
  RUST_LOG=info,sqlx=warn NO_COLOR=1 "$dir/certfleet-collector" serve --config "$WORK/$name/collector.toml" \
    --database-url "$db" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >/dev/null 2>"$WORK/$name.log" &
  pid=$!
  STARTED_PIDS+=("$pid")
  for _ in $(seq 600); do
    line=$(grep -m1 'collector listening' "$WORK/$name.log" || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$WORK/$name.log" >&2; exit 1; }
  port=$(sed -E 's/.*grpc_addr=[^ ]*:([0-9]+).*/\1/' <<<"$line")
  for fraction in 0 1; do
    "$BIN/certfleet-loadgen" --collector "https://localhost:$port" --ca "$WORK/$name/ca.pem" \
      --enroll-secret-file "$WORK/$name/enroll-secret.txt" --terminals "$TERMINALS" --certs 3 \
      --rounds "$ROUNDS" --changed-fraction "$fraction" --concurrency 64 --connections 8 \
      --machine-prefix "$name-$fraction" --json >"$WORK/$name-$fraction.json"
    python3 - "$name" "$fraction" "$WORK/$name-$fraction.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[3]))
phases = " | ".join(
    f"{p['phase']}: {p['throughput_per_s']:.0f}/s p50 {p['latency']['p50_ms']:.1f} p99 {p['latency']['p99_ms']:.1f}"
    for p in r["phases"])
kind = "changed" if sys.argv[2] == "1" else "unchanged"
print(f"{sys.argv[1]} {kind}: acked {r['reports_acknowledged']} failed {r['reports_failed']} | {phases}")
PY
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for pass in $(seq "$PASSES"); do
  for build in $(grep -o . <<<"$ORDER"); do
    case $build in
      a) run "a$pass" "$A" ;;
      b) run "b$pass" "$B" ;;
    esac
  done
done
