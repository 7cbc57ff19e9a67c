#!/usr/bin/env bash
# Cross-builds the Windows agent, certfleet-agent.exe (x86_64-pc-windows-gnu, profile
# release-agent: fat LTO, stripped, panic = abort), on Debian 12 without rustup's Windows
# target: Debian's Rust (rustc-web, cargo-web 1.96) builds the standard library for the target
# from rust-web-src's sources (-Zbuild-std, enabled on a stable compiler by RUSTC_BOOTSTRAP=1),
# and mingw-w64 links it (.cargo/config.toml). Debian's /usr/bin/cargo and /usr/bin/rustc are
# called directly, so rustup's proxies are not involved; the Cargo.lock is shared with the
# rustup toolchain (--locked). Missing Debian packages are installed when running as root;
# otherwise the script fails naming them.
#
# Builds go to $CARGO_TARGET_DIR/windows (default target/windows), reused between runs.
# Prints the path of the exe as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-windows-agent: missing Debian packages: ${missing[*]} (apt-get install them as root)" >&2
    exit 1
  fi
  echo "== installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
sysroot=$(/usr/bin/rustc --print sysroot)
if [ ! -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]; then
  echo "build-windows-agent: no standard library sources under $sysroot/lib/rustlib/src (rust-web-src)" >&2
  exit 1
fi

target=x86_64-pc-windows-gnu
out_dir="${CARGO_TARGET_DIR:-$PWD/target}/windows"
# rustup's variables would point Debian's cargo at rustup's toolchain.
env -u RUSTUP_TOOLCHAIN -u RUSTUP_HOME -u RUSTC_WRAPPER -u RUSTFLAGS \
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$out_dir" \
  /usr/bin/cargo build -Zbuild-std=std,panic_abort --target "$target" \
  --profile release-agent -p certfleet-agent --bin certfleet-agent --locked >&2
exe="$out_dir/$target/release-agent/certfleet-agent.exe"
[ -f "$exe" ] || {
  echo "build-windows-agent: $exe was not produced" >&2
  exit 1
}
echo "$exe"
