#!/usr/bin/env bash
# The limits of flow meters, ours and the peers side by side (perf/README.md):
# metering limit (one core, from memory), offline (capture file through each program),
# live (tcpreplay in a namespace -> veth -> meter). Results in target/perf/:
# results.json, results.md, throughput.svg, loss.svg.
#
#   scripts/perf.sh            # everything, about 12 minutes on a 2-core VM
#   scripts/perf.sh --quick    # small grid, about 1 minute (the test runs this)
#   scripts/perf.sh --no-live --runs 5 --out target/perf-5
#
# Live needs root (network namespaces, XDP); without it the live rows say "not run".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p meter -p perf --bins -q
# perf re-executes itself with GLIBC_TUNABLES set for huge pages when it is unset, as the
# meter does (meter/src/huge_pages.rs); the peers it starts inherit it, and results.json
# records the setting.
exec target/release/perf compare --meter target/release/meter "$@"
