#!/usr/bin/env bash
# Offline throughput benchmark: meter generated captures with one worker, IPFIX encoded
# and written to /dev/null, and report packets per second (the minimum and the best of
# RUNS runs; this machine is noisy, compare side by side in one run).
#
#   scripts/bench.sh            # both captures, RUNS=5
#   RUNS=3 scripts/bench.sh mix # only the mixed-size capture
#
# Captures (generated once into target/bench/, deterministic for their seed):
#   mix: 10 M packets, 1 M TCP/UDP flows, IMIX sizes, Zipf-like flow popularity,
#        snap length 128 (as `tcpdump -s 128`; octet counts use the wire length)
#   64B: 10 M packets of 64 bytes, 5 M flows (two packets each, far apart): every other
#        packet creates a flow
#
# The meter picks huge pages itself (README "Performance"): from the reserved pool when
# vm.nr_hugepages has free pages, else transparent ones; each line says which it had.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
WHICH=${1:-all}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p meter -p perf --bins -q
mkdir -p target/bench
MIX=target/bench/mix-10M-1Mflows.pcap
SMALL=target/bench/64B-10M-5Mflows.pcap
if [ ! -s "$MIX" ] && [ "$WHICH" != 64B ]; then
  target/release/perf gen --out "$MIX" --packets 10000000 --flows 1000000 --size imix --snaplen 128 --seed 1
fi
if [ ! -s "$SMALL" ] && [ "$WHICH" != mix ]; then
  target/release/perf gen --out "$SMALL" --packets 10000000 --flows 5000000 --size 64 --popularity round-robin --seed 2
fi

run() { # name file extra-args...
  local name=$1 file=$2; shift 2
  local best=0 worst=0 pages=""
  # Runs time metering, not the disk: the capture is read once into the page cache first.
  cat "$file" > /dev/null
  for i in $(seq "$RUNS"); do
    local out
    out=$(target/release/meter --pcap "$file" --ipfix-file /dev/null --summary json "$@" 2>&1 >/dev/null | tail -1)
    local mpps
    mpps=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["conservation_ok"], s; print("%.2f" % (s["packets"]/s["elapsed_secs"]/1e6))' "$out")
    pages=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("huge_pages", "none"))' "$out")
    echo "  $name run $i: $mpps Mpps" >&2
    best=$(python3 -c "print(max($best, $mpps))")
    if [ "$worst" = 0 ]; then worst=$mpps; else worst=$(python3 -c "print(min($worst, $mpps))"); fi
  done
  echo "$name: min $worst Mpps, best $best Mpps over $RUNS runs ($(nproc) cores, $(uname -r), huge pages: $pages)"
}
[ "$WHICH" = 64B ] || run "mix 10M pkts / 1M flows, 1 worker" "$MIX"
[ "$WHICH" = mix ] || run "64B 10M pkts / 5M flows, 1 worker" "$SMALL" --max-flows 8388608
