# Shared helpers of the benchmark scripts in tests/bench/ (sourced, not run): a throwaway
# PostgreSQL cluster, `certfleet-collector init` and `serve` on ports the OS picks, and cleanup
# of exactly the processes these helpers started.
#
# Needs: the release binaries in $BIN (default $CARGO_TARGET_DIR/release or target/release),
# PostgreSQL 15 server binaries in $PG_BIN (default /usr/lib/postgresql/15/bin), psql, python3.

BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
for b in certfleet-collector certfleet-loadgen; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: cargo build --release -p certfleet-collector -p certfleet-e2e --bins" >&2; exit 2; }
done
[ -x "$PG_BIN/initdb" ] || { echo "missing $PG_BIN/initdb: apt-get install postgresql-15" >&2; exit 2; }

# Everything lives in one work directory, removed at exit unless KEEP=1.
WORK="${WORK:-$(mktemp -d /var/tmp/certfleet-bench.XXXXXX)}"
mkdir -p "$WORK"
# mktemp makes it private; the postgres user must reach the cluster directory inside.
chmod 755 "$WORK"
STARTED_PIDS=()

# PostgreSQL refuses to run as root: as root, server commands run as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A loopback port that is free now (the OS picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_pg: a throwaway cluster with the settings of BENCHMARKS.md (fsync and synchronous_commit
# on, shared_buffers 256MB, max_connections 200); sets PG_PORT, PG_URL (maintenance database).
start_pg() {
  mkdir -p "$WORK/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg"
  as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  PG_PORT=$(free_port)
  cat >>"$WORK/pg/data/postgresql.conf" <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/pg'
shared_buffers = 256MB
max_connections = 200
EOF
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# create_db NAME: prints the database's URL.
create_db() {
  psql "$PG_URL" -XAtq -c "CREATE DATABASE $1" >/dev/null
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

# init_collector: CA, server certificate and secrets in $WORK/collector. The load generator
# is a whole fleet on one address reporting in quick rounds, so the per-address and
# per-terminal rates a real fleet lives within are turned off (tests/hostile.rs tests them).
init_collector() {
  "$BIN/certfleet-collector" init --dir "$WORK/collector" --san localhost --san 127.0.0.1 >/dev/null
  sed -i 's/^\[limits\]$/[limits]\nreports_per_terminal_per_hour = 0\nenroll_per_peer_per_minute = 0\nunauthenticated_per_peer_per_minute = 0/' \
    "$WORK/collector/collector.toml"
}

# start_collector NAME DATABASE_URL: `serve` on OS-chosen loopback ports, logging to
# $WORK/NAME.log; sets COLLECTOR_PID and COLLECTOR_URL once it listens.
start_collector() {
  local name=$1 db=$2 line
  RUST_LOG=info,sqlx=warn NO_COLOR=1 "$BIN/certfleet-collector" serve \
    --config "$WORK/collector/collector.toml" --database-url "$db" \
    --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >/dev/null 2>"$WORK/$name.log" &
  COLLECTOR_PID=$!
  STARTED_PIDS+=("$COLLECTOR_PID")
  for _ in $(seq 600); do
    line=$(grep -m1 'collector listening' "$WORK/$name.log" || true)
    [ -n "$line" ] && break
    kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$line" ] || { echo "$name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1; }
  COLLECTOR_URL="https://localhost:$(sed -E 's/.*grpc_addr=[^ ]*:([0-9]+).*/\1/' <<<"$line")"
}

# The load generator with the deployment's CA and enroll secret.
loadgen() {
  "$BIN/certfleet-loadgen" --ca "$WORK/collector/ca.pem" \
    --enroll-secret-file "$WORK/collector/enroll-secret.txt" "$@"
}
