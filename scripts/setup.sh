#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build meter in release
# mode, generate the built-in demo capture and meter it (flow lines on stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --workspace --bins
mkdir -p target/demo
target/release/perf scenario --out target/demo/scenario.pcap --truth-json target/demo/scenario-truth.json
echo "setup: metering target/demo/scenario.pcap (the built-in demo capture)" >&2
target/release/meter --pcap target/demo/scenario.pcap "$@"
