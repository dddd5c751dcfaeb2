#!/usr/bin/env bash
# Install what building and testing meter needs on Debian 12: the C toolchain for the
# XDP side, the collectors the tests talk to (nfdump/nfcapd, pmacct/nfacctd, tshark), and
# the pinned Rust toolchain. Idempotent: does nothing when everything is there.
set -euo pipefail

PKGS=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config m4 make gcc
      nfdump pmacct tshark tcpdump iproute2 ethtool
      python3 iputils-ping softflowd fprobe argus-server argus-client netsniff-ng tcpreplay
      prometheus xdp-tools util-linux strace systemd)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "deps: no Rust toolchain; installing rustup (needs access to static.rust-lang.org)" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# rust-toolchain.toml pins the version; this makes rustup fetch it now, not mid-build.
cargo --version >/dev/null
