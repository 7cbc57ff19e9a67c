#!/usr/bin/env bash
# Runs every check and test of certfleet on a fresh Debian machine: installs what is missing
# (PostgreSQL server binaries, openssl, Chromium and its driver), then fmt, clippy, the Windows
# type-check and the whole test suite. Tests start their own throwaway PostgreSQL clusters.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused across clean clones on the same machine through a target dir outside the
# clone; set CARGO_TARGET_DIR to override.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/certfleet-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Windows code type-check (windows-sys compiles on Linux; cfg certfleet_check_windows)"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wincheck" RUSTFLAGS="--cfg certfleet_check_windows" \
  cargo check -p certfleet-agent --all-targets --locked

echo "== cargo test"
cargo test --workspace --locked
