#!/usr/bin/env bash
# Short fuzzing run of every cargo-fuzz target in fuzz/ (CI's smoke test; the long runs are in
# BENCHMARKS.md "Fuzzing"). Each target first replays its whole committed corpus
# (fuzz/corpus/<target>/), then mutates it for FUZZ_SECONDS (default 25). Fails loudly on a build
# failure, a crash, a timeout, an empty corpus or a target that did not run.
#
# Builds go to a persistent directory outside the clone ($CARGO_TARGET_DIR/fuzz, default
# /var/tmp/certfleet-target/fuzz) so that only the first run on a machine is cold. They keep
# debug assertions and overflow checks but use no sanitizer: the code under test is safe Rust,
# so panics and overflows are what a smoke run can find, and an ASan build of the collector is
# much slower to compile. The long runs use ASan.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/certfleet-target}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}"
FUZZ_SECONDS="${FUZZ_SECONDS:-25}"
TARGETS=(element file_front_ends report_request)

fail() {
  echo "fuzz-smoke: FAILED: $*" >&2
  exit 1
}

command -v rustup >/dev/null || fail "rustup is needed to pick the fuzzing toolchain"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly compiler flags (-Z). Without a nightly toolchain the stable compiler
# accepts them when RUSTC_BOOTSTRAP=1, which is enough for these builds; FUZZ_TOOLCHAIN forces one.
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  toolchain="$FUZZ_TOOLCHAIN"
elif rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=nightly
else
  toolchain=stable
fi
if [ "$toolchain" != nightly ]; then
  export RUSTC_BOOTSTRAP=1
fi
host="$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')"
echo "== fuzz smoke: toolchain $toolchain ($(rustup run "$toolchain" rustc --version)), $(cargo fuzz --version)"

# The fuzz workspace has its own lock file, which lags behind whenever a dependency is added to
# the agent or the collector. Cargo then adds only the new packages and keeps every other version;
# failing CI for that would punish the wrong change, so it is a loud note instead.
if ! (cd fuzz && cargo "+$toolchain" metadata --locked --format-version 1 >/dev/null 2>&1); then
  echo "fuzz-smoke: NOTE: fuzz/Cargo.lock is out of date with the crates it fuzzes; updating it" \
    "(commit the result: cd fuzz && cargo metadata --format-version 1 >/dev/null)" >&2
  (cd fuzz && cargo "+$toolchain" metadata --format-version 1 >/dev/null) ||
    fail "cannot resolve the fuzz workspace's dependencies"
fi

build_start=$(date +%s)
(cd fuzz && cargo "+$toolchain" fuzz build --sanitizer none --target-dir "$FUZZ_TARGET_DIR") ||
  fail "cargo fuzz build"
echo "== fuzz targets built in $(($(date +%s) - build_start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
  bin="$FUZZ_TARGET_DIR/$host/release/$t"
  corpus="fuzz/corpus/$t"
  [ -x "$bin" ] || fail "$bin was not built"
  n=$(find "$corpus" -type f 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] || fail "$corpus is empty or missing"
  # New inputs go to a scratch directory (the first one), never into the committed corpus.
  mkdir -p "$scratch/$t/new" "$scratch/$t/artifacts"
  echo "== fuzz $t: $n corpus files, ${FUZZ_SECONDS} s"
  log="$scratch/$t/log"
  if ! "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$scratch/$t/artifacts/" \
    "$scratch/$t/new" "$corpus" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    for a in "$scratch/$t/artifacts/"*; do
      [ -e "$a" ] || continue
      echo "fuzz-smoke: crashing input $(basename "$a") (base64):" >&2
      base64 -w0 "$a" >&2
      echo >&2
    done
    fail "target $t crashed or timed out (input above; reproduce with: cd fuzz && cargo +nightly fuzz run $t <file>)"
  fi
  grep -q '^Done [0-9]* runs' "$log" || { tail -n 20 "$log" >&2; fail "target $t did not run"; }
  # Coverage at start and end and the number of executions, for the CI log (informational).
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units' "$log" |
    sed "s/^/   $t: /" || true
done
echo "== fuzz smoke: ${#TARGETS[@]} targets, no crash"
