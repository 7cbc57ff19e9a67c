#!/usr/bin/env bash
# Builds the release artefacts into dist/: the agent (LTO, stripped, panic = abort) and the
# collector, with SHA-256 sums. Pass a target triple to cross-build the agent, e.g.
#   scripts/build-release.sh x86_64-pc-windows-msvc   (on Windows, or with cargo-xwin)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-}"
out=dist
mkdir -p "$out"
if [ -n "$target" ]; then
  cargo release-agent --target "$target" --locked
  agent_dir="${CARGO_TARGET_DIR:-target}/$target/release-agent"
else
  cargo release-agent --locked
  agent_dir="${CARGO_TARGET_DIR:-target}/release-agent"
fi
cargo release-collector --locked
for f in "$agent_dir"/certfleet-agent "$agent_dir"/certfleet-agent.exe "${CARGO_TARGET_DIR:-target}"/release/certfleet-collector; do
  [ -f "$f" ] && cp "$f" "$out/"
done
(cd "$out" && sha256sum certfleet-* > SHA256SUMS && ls -l && cat SHA256SUMS)
