#!/usr/bin/env bash
# Builds the release artefacts into dist/ (or $1):
#
#   certfleet-collector            Linux collector (release profile, stripped)
#   certfleet-agent                Linux agent (release-agent: fat LTO, stripped, panic = abort)
#   certfleet-agent.exe            Windows agent, cross-built by scripts/build-windows-agent.sh
#                                  (Debian's Rust with -Zbuild-std and mingw-w64; see README)
#   certfleet-agent-VERSION.msi    the MSI for Group Policy / Intune (deploy/windows/build-msi.sh)
#   install-agent.ps1, uninstall-agent.ps1
#   SHA256SUMS                     sha256sum of all of the above; install-agent.ps1 checks the
#                                  exe against it, so publish it next to the exe
#
# Run it on Debian 12 (as root, missing packages are installed; otherwise it names them).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
target_dir=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

mkdir -p "$out"
cargo release-collector --locked
cargo release-agent --locked
exe=$(./scripts/build-windows-agent.sh | tail -n 1)
./deploy/windows/build-msi.sh "$exe" "$version" "$out/certfleet-agent-$version.msi"
cp "$target_dir/release/certfleet-collector" "$target_dir/release-agent/certfleet-agent" "$exe" \
  deploy/windows/install-agent.ps1 deploy/windows/uninstall-agent.ps1 "$out/"
(
  cd "$out"
  sha256sum certfleet-collector certfleet-agent certfleet-agent.exe \
    "certfleet-agent-$version.msi" install-agent.ps1 uninstall-agent.ps1 >SHA256SUMS
  ls -l
  cat SHA256SUMS
)
