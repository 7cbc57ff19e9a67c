#!/usr/bin/env bash
# What reaching the collector through an HTTP proxy costs one agent report: RUNS runs of
# `certfleet-agent report` straight to the collector and RUNS through tinyproxy (CONNECT
# tunnel), interleaved, against one collector (SQLite) with one certificate; prints the median
# and p90 wall time of each way and the median difference. Run by hand; the figures are in
# BENCHMARKS.md, "Agent through an HTTP proxy".
#
#   tests/bench/proxy-overhead.sh [RUNS=30]
#
# Needs certfleet-agent and certfleet-collector in $BIN (default $CARGO_TARGET_DIR/release, or
# target/release; BIN=.../debug works too), tinyproxy, openssl and python3. Everything runs on
# loopback and is removed at exit; only the processes this script started are stopped.
set -euo pipefail
RUNS=${1:-30}
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release}"
for b in certfleet-agent certfleet-collector; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: cargo build --release -p certfleet-agent -p certfleet-collector" >&2; exit 2; }
done
command -v tinyproxy >/dev/null || { echo "missing tinyproxy: apt-get install tinyproxy" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/certfleet-proxy-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$BIN/certfleet-collector" init --dir "$WORK/collector" --san localhost >/dev/null
GRPC_PORT=$(free_port)
HTTP_PORT=$(free_port)
RUST_LOG=warn "$BIN/certfleet-collector" serve --config "$WORK/collector/collector.toml" \
  --database-url "sqlite://$WORK/collector.sqlite?mode=rwc" \
  --grpc-listen "127.0.0.1:$GRPC_PORT" --http-listen "127.0.0.1:$HTTP_PORT" 2>"$WORK/collector.log" &
PIDS+=($!)

PROXY_PORT=$(free_port)
cat >"$WORK/tinyproxy.conf" <<EOF
Port $PROXY_PORT
Listen 127.0.0.1
Timeout 60
MaxClients 50
LogLevel Warning
ConnectPort $GRPC_PORT
EOF
tinyproxy -d -c "$WORK/tinyproxy.conf" >"$WORK/tinyproxy.log" 2>&1 &
PIDS+=($!)

mkdir -p "$WORK/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
  -subj "/CN=1410000041" -days 400 -out "$WORK/certs/office.pem" 2>/dev/null

python3 - "$RUNS" "$BIN/certfleet-agent" "$WORK" "$GRPC_PORT" "$PROXY_PORT" <<'EOF'
import os, socket, statistics, subprocess, sys, time

runs, agent, work, grpc_port, proxy_port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
for port in (grpc_port, proxy_port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit(f"nothing listens on {port}: see {work}/*.log")
env = {k: v for k, v in os.environ.items()
       if not k.lower().endswith("_proxy") and not k.startswith("CERTFLEET_")}
env["RUST_LOG"] = "warn"
base = [agent, "report", "--collector", f"https://localhost:{grpc_port}",
        "--ca", f"{work}/collector/ca.pem",
        "--enroll-secret-file", f"{work}/collector/enroll-secret.txt",
        "--state-dir", f"{work}/state", "--machine-id", "bench-pc",
        "--path", f"{work}/certs", "--all-issuers", "--attempts", "1"]
ways = {"direct": ["--proxy", "none"], "proxy": ["--proxy", f"http://127.0.0.1:{proxy_port}"]}
times = {w: [] for w in ways}
# One enrollment first, so every measured run is a plain report.
subprocess.run(base + ways["direct"], env=env, check=True, capture_output=True)
for i in range(runs):
    for way in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
        start = time.perf_counter()
        out = subprocess.run(base + ways[way], env=env, capture_output=True, text=True)
        elapsed = (time.perf_counter() - start) * 1000
        if out.returncode != 0 or ("through the proxy" in out.stdout) != (way == "proxy"):
            sys.exit(f"{way} run failed:\n{out.stdout}\n{out.stderr}")
        times[way].append(elapsed)

def p90(xs):
    return sorted(xs)[max(0, int(round(0.9 * len(xs))) - 1)]

for way, xs in times.items():
    print(f"{way:7} runs={len(xs)} median={statistics.median(xs):.1f} ms p90={p90(xs):.1f} ms")
diff = statistics.median([p - d for p, d in zip(times["proxy"], times["direct"])])
print(f"through the proxy: median {diff:+.1f} ms per report (paired)")
EOF
