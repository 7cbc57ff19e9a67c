# Shared by bench_reports.sh and bench_dashboard.sh (sourced, not run): starts
# `certfleet-collector serve` on $DATABASE_URL with its HTTP listener on loopback (no login),
# and times GETs against it.
#
# After `start_collector`: $PORT is the HTTP port, $PID the collector, $DIR its directory
# (removed on exit together with the process).

start_collector() {
  BIN="$TARGET/release/certfleet-collector"
  DIR="$(mktemp -d)"
  trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
  "$BIN" init --dir "$DIR" >/dev/null
  PORT=$((20000 + $$ % 20000))
  RUST_LOG=warn "$BIN" serve --config "$DIR/collector.toml" --database-url "$DATABASE_URL" \
    --grpc-listen 127.0.0.1:$((PORT + 1)) --http-listen 127.0.0.1:$PORT 2>"$DIR/log" &
  PID=$!
  until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.2; done
}

# p50/p90/max of $RUNS timed GETs of $1 (a first request warms the pool and is not counted)
# and the size of the answer.
timeit() {
  SIZE=$(curl -fs -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PORT$1")
  for _ in $(seq "$RUNS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$1"
  done | sort -n | awk -v what="$1" -v size="$SIZE" '{ t[NR] = $1 } END {
    printf "%-44s p50 %5.0f ms  p90 %5.0f ms  max %5.0f ms  %9d bytes  (%d runs)\n", what,
      t[int((NR + 1) / 2)] * 1000, t[int(NR * 0.9 + 0.5)] * 1000, t[NR] * 1000, size, NR }'
}
