#!/usr/bin/env bash
# Runs every check and test of certfleet on a fresh Debian machine: installs what is missing
# (PostgreSQL server binaries, openssl, Chromium and its driver, tinyproxy, Wine, mingw-w64,
# Debian's Rust for the Windows cross-build, wixl and msitools), then fmt, clippy (also over the Windows
# code), builds every binary and the Windows agent (certfleet-agent.exe), and runs the whole
# test suite, including the Windows agent and its MSI under Wine (tests/tests/windows_wine.rs).
# Tests start their own throwaway PostgreSQL clusters and Wine prefixes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused across clean clones on the same machine through a target dir outside the
# clone; set CARGO_TARGET_DIR to override.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/certfleet-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v openssl >/dev/null || need_apt+=(openssl)
# The operators' procedures (tests/tests/procedures.rs): the SQLite backup uses the sqlite3 CLI,
# the docker compose stand-in reads compose.yaml with PyYAML, the service runs as another user
# through setpriv (util-linux).
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || need_apt+=(python3-yaml)
command -v setpriv >/dev/null || need_apt+=(util-linux)
# The dashboard's browser test: headless Chromium over WebDriver, CJK fonts for its screenshots.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
{ command -v fc-list >/dev/null && fc-list | grep -qi 'noto.*cjk'; } || need_apt+=(fonts-noto-cjk)
# The agent behind an office proxy (tests/tests/proxy.rs, windows_wine.rs): a real CONNECT
# proxy process. The tests run their own instances in the foreground on free loopback ports.
command -v tinyproxy >/dev/null || need_apt+=(tinyproxy)
# The Windows agent under Wine (tests/tests/windows_wine.rs): Wine 8 (64-bit), mingw-w64 for the
# test helpers, wixl and msitools for the MSI. scripts/build-windows-agent.sh installs the
# cross-building Rust packages itself.
{ [ -x /usr/lib/wine/wine64 ] && command -v wine >/dev/null; } || need_apt+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64)
command -v wixl >/dev/null || need_apt+=(wixl)
{ command -v msiinfo >/dev/null && command -v msibuild >/dev/null; } || need_apt+=(msitools)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# The alert tests talk to a real SMTP server process: aiosmtpd from PyPI, in its own venv. The
# calendar tests parse the .ics feeds with the real `icalendar` parser from the same venv.
TEST_VENV=/var/tmp/certfleet-tools/test-venv
if ! "$TEST_VENV/bin/python3" -c 'import aiosmtpd, icalendar' 2>/dev/null; then
  echo "== installing aiosmtpd and icalendar (PyPI) into $TEST_VENV"
  if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  fi
  rm -rf "$TEST_VENV"
  /usr/bin/python3 -m venv "$TEST_VENV"
  "$TEST_VENV/bin/pip" install -q --disable-pip-version-check aiosmtpd==1.4.6 icalendar==7.3.0
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Windows code: clippy -D warnings on Linux (windows-sys compiles here; cfg certfleet_check_windows)"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wincheck" RUSTFLAGS="--cfg certfleet_check_windows" \
  cargo clippy -p certfleet-agent --all-targets --locked -- -D warnings

echo "== build every binary (end-to-end tests run the real processes)"
cargo build --workspace --bins --locked

# The real Windows build (a type-check is not a build): Debian's Rust with -Zbuild-std and
# mingw-w64, into $CARGO_TARGET_DIR/windows. tests/tests/windows_wine.rs runs it under Wine.
echo "== Windows agent: cross-build (scripts/build-windows-agent.sh)"
windows_started=$SECONDS
CERTFLEET_WINDOWS_AGENT_EXE=$(./scripts/build-windows-agent.sh | tail -n 1)
export CERTFLEET_WINDOWS_AGENT_EXE
echo "   $CERTFLEET_WINDOWS_AGENT_EXE: $(stat -c %s "$CERTFLEET_WINDOWS_AGENT_EXE") bytes, $((SECONDS - windows_started)) s"

echo "== cargo test"
cargo test --workspace --locked

# Fuzzing smoke (issue 8): every cargo-fuzz target replays its committed corpus, then fuzzes for
# ~25 s; fails on a crash or build failure. Builds go to $CARGO_TARGET_DIR/fuzz (cold: ~30 min
# on a busy 2-core machine, warm: seconds). Details and the long runs: BENCHMARKS.md "Fuzzing".
echo "== fuzz smoke (scripts/fuzz-smoke.sh)"
./scripts/fuzz-smoke.sh

echo "== deploy/ artefacts (systemd, Kubernetes, compose, Dockerfile, Prometheus, Grafana, PowerShell)"
./scripts/check-deploy.sh
