#!/usr/bin/env bash
# Every test: install what the tests need, check formatting and lints, run all tests
# (unit, corpus, real collectors on loopback). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
