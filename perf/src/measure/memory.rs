//! What one core of this machine can do with random memory accesses: the ceiling the
//! metering limit is read against.
//!
//! A flow-table update at millions of flows is a few cache lines that no cache holds
//! (index bucket, entry key line, entry side line), so a meter's rate there is bounded
//! by how many such lines one core completes per second. The probe walks one random
//! cycle through a buffer much larger than the caches: one chain at a time gives the
//! latency of a miss; [`CHAINS`] chains walked in step give the misses a core keeps in
//! flight, i.e. its line throughput. It also times writing the fresh buffer against
//! writing it again: on a virtual machine whose host backs memory lazily the first is
//! far slower (a short offline run creating millions of flows pays it once per page of
//! its table).
//!
//! The buffer is an ordinary `Vec`: run under `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
//! (as `scripts/perf.sh` does) to measure with transparent huge pages, as the meter runs.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{Value, json};

/// Words per cache line; the chain's next index sits in the first word of each line.
const WORDS: usize = 8;
/// Chains walked together for the throughput figure: above any core's miss buffers.
pub const CHAINS: usize = 32;

/// Results of one probe.
#[derive(Debug, Clone, Copy)]
pub struct MemoryProbe {
    pub buffer_mib: usize,
    /// Nanoseconds per access of one dependent chain.
    pub latency_ns: f64,
    /// Lines per second with [`CHAINS`] independent chains.
    pub lines_per_sec: f64,
    /// Bytes per second writing a fresh buffer (page faults included) ...
    pub first_touch_bytes_per_sec: f64,
    /// ... and writing it again.
    pub rewrite_bytes_per_sec: f64,
}

impl MemoryProbe {
    pub fn to_json(self) -> Value {
        json!({
            "buffer_mib": self.buffer_mib,
            "latency_ns": self.latency_ns,
            "random_lines_per_sec": self.lines_per_sec,
            "chains": CHAINS,
            "first_touch_bytes_per_sec": self.first_touch_bytes_per_sec,
            "rewrite_bytes_per_sec": self.rewrite_bytes_per_sec,
        })
    }
}

/// Link the lines of `buf` into one cycle in random order (Sattolo's shuffle gives a
/// single cycle, so every chain visits every line before it repeats).
fn link_cycle(buf: &mut [u64], seed: u64) {
    let n = buf.len() / WORDS;
    let mut order: Vec<u64> = (0..n as u64).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        order.swap(i, j);
    }
    // `order` is now a cyclic permutation: line l links to line order[l].
    for (l, &next) in order.iter().enumerate() {
        if let Some(w) = buf.get_mut(l * WORDS) {
            *w = next;
        }
    }
}

#[inline(always)]
fn step(buf: &[u64], at: u64) -> u64 {
    buf.get(at as usize * WORDS).copied().unwrap_or(0)
}

/// Probe with a buffer of `mib` MiB (at least 1) and `accesses` timed accesses per
/// figure.
pub fn probe(mib: usize, accesses: usize, seed: u64) -> MemoryProbe {
    let mib = mib.max(1);
    let bytes = mib << 20;
    let mut buf: Vec<u64> = Vec::with_capacity(bytes / 8);
    // Writing memory never written (the reserved capacity), then the same memory again.
    let t = Instant::now();
    buf.resize(bytes / 8, 1);
    let first_touch = bytes as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let t = Instant::now();
    buf.fill(2);
    black_box(&buf);
    let rewrite = bytes as f64 / t.elapsed().as_secs_f64().max(1e-9);
    link_cycle(&mut buf, seed);
    let n = (buf.len() / WORDS) as u64;

    let steps = accesses.max(1);
    let mut at = 0;
    let t = Instant::now();
    for _ in 0..steps {
        at = step(&buf, at);
    }
    let latency_ns = t.elapsed().as_secs_f64() * 1e9 / steps as f64;
    black_box(at);

    let mut chains: [u64; CHAINS] = std::array::from_fn(|k| k as u64 * (n / CHAINS as u64));
    let rounds = (steps / CHAINS).max(1);
    let t = Instant::now();
    for _ in 0..rounds {
        for c in chains.iter_mut() {
            *c = step(&buf, *c);
        }
    }
    let lines_per_sec = (rounds * CHAINS) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    black_box(chains);

    MemoryProbe {
        buffer_mib: mib,
        latency_ns,
        lines_per_sec,
        first_touch_bytes_per_sec: first_touch,
        rewrite_bytes_per_sec: rewrite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_form_one_cycle() {
        let lines = 4096;
        let mut buf = vec![0u64; lines * WORDS];
        link_cycle(&mut buf, 7);
        let mut seen = vec![false; lines];
        let mut at = 0u64;
        for i in 0..lines {
            assert!(!seen[at as usize], "line {at} revisited after {i} steps");
            seen[at as usize] = true;
            at = step(&buf, at);
        }
        assert_eq!(at, 0, "the walk must close after visiting every line");
    }

    #[test]
    fn probe_reports_positive_figures() {
        let p = probe(2, 20_000, 3);
        assert_eq!(p.buffer_mib, 2);
        assert!(p.latency_ns > 0.0 && p.latency_ns.is_finite());
        assert!(p.lines_per_sec > 0.0 && p.lines_per_sec.is_finite());
        assert!(p.first_touch_bytes_per_sec > 0.0 && p.rewrite_bytes_per_sec > 0.0);
        assert_eq!(p.to_json()["chains"], CHAINS);
    }
}
