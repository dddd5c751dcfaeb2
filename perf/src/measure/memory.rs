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
//! A second probe, [`pattern_probe`], replays the table's own access pattern without the
//! table: per packet one random index line prefetched two stages ahead, then two lines of
//! a random 256-octet entry prefetched one stage ahead and updated, beside a fixed amount of
//! arithmetic standing in for parsing. Timed with the arithmetic alone (footprint in
//! cache), the memory alone, and both, it says whether this machine overlaps a table's
//! misses with the work around them or adds the two, and so what memory costs any table
//! built this way at millions of flows here, apart from what its own code adds.
//!
//! The buffers are ordinary `Vec`s: run under `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
//! (as `scripts/perf.sh` does) to measure with transparent huge pages, as the meter runs.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{Value, json};

use crate::r#gen::rng::{SplitMix64, mix64};
use crate::r#gen::traffic::popular_rank;

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

/// A random cyclic permutation of `0..n` (Sattolo's shuffle gives a single cycle, so a
/// chain through it visits every element before it repeats): element `l` links to
/// `order[l]`.
fn cycle_order(n: usize, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n as u64).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        order.swap(i, j);
    }
    order
}

/// Link the lines of `buf` into one cycle in random order.
fn link_cycle(buf: &mut [u64], seed: u64) {
    for (l, next) in cycle_order(buf.len() / WORDS, seed).into_iter().enumerate() {
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

/// Lines the translation probe chains through: 256 KiB, which the L2 cache holds even
/// with the neighbouring line the hardware fetches along with each, and more 4 KiB pages
/// (one per line when spread) than a core's second-level TLB has entries (2048 on
/// current x86 server cores).
pub const TRANSLATION_LINES: usize = 4096;
const PAGE_WORDS: usize = 4096 / 8;

/// What address translation costs a random access here: one dependent chain through
/// [`TRANSLATION_LINES`] lines that every cache level holds, packed (a few pages) and
/// spread one line per 4 KiB page. With huge pages in effect from the program to the
/// physical memory the spread lines need a handful of TLB entries and the two agree;
/// where each 4 KiB needs its own entry (no huge pages, or a virtual machine whose host
/// maps the guest's memory in 4 KiB pages, whatever the guest uses), every spread access
/// pays a page walk, and so does every miss of a flow table larger than the TLB's reach.
#[derive(Debug, Clone, Copy)]
pub struct TranslationProbe {
    pub lines: usize,
    pub packed_ns: f64,
    pub spread_ns: f64,
}

impl TranslationProbe {
    /// Nanoseconds a page walk adds to an access whose line is cached.
    pub fn added_ns(&self) -> f64 {
        self.spread_ns - self.packed_ns
    }

    pub fn to_json(self) -> Value {
        json!({
            "lines": self.lines,
            "packed_ns": self.packed_ns,
            "one_line_per_4k_page_ns": self.spread_ns,
            "added_ns": self.added_ns(),
        })
    }
}

/// Word offsets of the translation probe's lines: packed, or line `l` in page `l` at line
/// `(l / 32) % 64` of it. A cache's set index is the line's place in its page plus, for
/// an L2 of 2 MiB, 5 bits of the page number; so the spread lines fill the sets as evenly
/// as the packed ones (at `l % 64` they would crowd into 64 sets and miss the L2).
fn translation_lines(spread: bool) -> Vec<usize> {
    (0..TRANSLATION_LINES)
        .map(|l| {
            if spread {
                l * PAGE_WORDS + (l / 32 % (PAGE_WORDS / WORDS)) * WORDS
            } else {
                l * WORDS
            }
        })
        .collect()
}

/// Nanoseconds per access of a dependent chain through the lines at word offsets `at` of
/// `buf` (each line holds the offset of the next), best of three passes of `accesses`
/// after one untimed pass through every line.
fn chain_ns(buf: &mut [u64], at: &[usize], accesses: usize, seed: u64) -> f64 {
    let order = cycle_order(at.len(), seed);
    for (&here, &next) in at.iter().zip(&order) {
        if let (Some(w), Some(&n)) = (buf.get_mut(here), at.get(next as usize)) {
            *w = n as u64;
        }
    }
    let walk = |steps: usize| {
        let mut p = at.first().copied().unwrap_or(0) as u64;
        for _ in 0..steps {
            p = buf.get(p as usize).copied().unwrap_or(0);
        }
        black_box(p)
    };
    walk(at.len());
    (0..3)
        .map(|_| {
            let t = Instant::now();
            walk(accesses.max(1));
            t.elapsed().as_secs_f64() * 1e9 / accesses.max(1) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Time the translation probe with `accesses` accesses per pass.
pub fn translation_probe(accesses: usize, seed: u64) -> TranslationProbe {
    let mut buf = vec![0u64; TRANSLATION_LINES * PAGE_WORDS];
    let packed_ns = chain_ns(&mut buf, &translation_lines(false), accesses, seed);
    let spread_ns = chain_ns(&mut buf, &translation_lines(true), accesses, seed);
    TranslationProbe {
        lines: TRANSLATION_LINES,
        packed_ns,
        spread_ns,
    }
}

/// Packets between the pattern's stages: the table's pipeline's.
const PATTERN_LAG: usize = meter::flow::table::LAG;
/// Words of one entry, as the table lays its entries out (a key line, two side lines, a
/// cold line).
const ENTRY_WORDS: usize = meter::flow::table::ENTRY_BYTES / 8;
/// Rounds of the stand-in arithmetic per packet (about 30 ns on the development VM,
/// near the meter's own work per packet with everything cached).
const WORK_ROUNDS: u32 = 16;

/// How packets pick their flows in the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popularity {
    /// Every flow equally likely: the worst case, nearly every access a miss.
    Uniform,
    /// The traffic model's Zipf-like popularity ([`popular_rank`]: a hundredth of the
    /// flows draws over half the packets), which the metering limit runs with.
    Zipf,
}

/// Memory alone and memory with the work, for one popularity; nanoseconds per packet.
#[derive(Debug, Clone, Copy)]
pub struct PatternRun {
    pub memory_ns: f64,
    pub both_ns: f64,
}

/// Results of [`pattern_probe`]: nanoseconds per packet.
#[derive(Debug, Clone, Copy)]
pub struct PatternProbe {
    /// Index plus entries, the table's at the flow count probed.
    pub footprint_mib: usize,
    pub flows: usize,
    /// The stand-in work alone, with the accesses in a footprint the caches hold.
    pub work_ns: f64,
    pub uniform: PatternRun,
    pub zipf: PatternRun,
}

impl PatternRun {
    /// What memory adds to `work_ns` per packet.
    pub fn added_ns(&self, work_ns: f64) -> f64 {
        (self.both_ns - work_ns).max(0.0)
    }

    /// The share of the shorter of work and memory that the other hides: 1 when they
    /// overlap fully (both = the longer), 0 when they add up (both = the sum).
    pub fn overlap(&self, work_ns: f64) -> f64 {
        let short = work_ns.min(self.memory_ns);
        if short <= 0.0 {
            return 1.0;
        }
        ((work_ns + self.memory_ns - self.both_ns) / short).clamp(0.0, 1.0)
    }

    fn to_json(self, work_ns: f64) -> Value {
        json!({
            "memory_ns": self.memory_ns,
            "both_ns": self.both_ns,
            "added_ns": self.added_ns(work_ns),
            "overlap": self.overlap(work_ns),
        })
    }
}

impl PatternProbe {
    pub fn to_json(self) -> Value {
        json!({
            "footprint_mib": self.footprint_mib,
            "flows": self.flows,
            "stage_lag": PATTERN_LAG,
            "work_ns": self.work_ns,
            "uniform": self.uniform.to_json(self.work_ns),
            "zipf": self.zipf.to_json(self.work_ns),
        })
    }
}

/// The buffers of the pattern: index lines, entries, and per packet its flow's entry, the
/// flow's index line (fixed per flow, as a hash would place it) and the side (line 1 or 2
/// of the entry) it updates. The index lines hold zeros that the second stage reads and
/// folds into the entry number, so that stage waits for the line as a bucket walk does.
struct Pattern {
    index: Vec<u64>,
    entries: Vec<u64>,
    flows: Vec<u32>,
    lines: Vec<u32>,
    sides: Vec<u8>,
}

impl Pattern {
    fn new(
        index_bytes: usize,
        entry_bytes: usize,
        packets: usize,
        popularity: Popularity,
        seed: u64,
    ) -> Pattern {
        let index_lines = (index_bytes / (WORDS * 8)).max(1) as u64;
        let entries = (entry_bytes / meter::flow::table::ENTRY_BYTES).max(1);
        let mut rng = SplitMix64::new(seed);
        let mut flows = Vec::with_capacity(packets);
        let mut lines = Vec::with_capacity(packets);
        let mut sides = Vec::with_capacity(packets);
        for _ in 0..packets {
            let zipf = popularity == Popularity::Zipf;
            let e = popular_rank(rng.next_f64(), entries, zipf);
            flows.push(e as u32);
            // A flow's index line is fixed, as its key's hash would place it.
            lines.push((mix64(e as u64 ^ seed) % index_lines) as u32);
            sides.push(1 + (rng.next_u32() & 1) as u8);
        }
        Pattern {
            index: vec![0u64; index_lines as usize * WORDS],
            entries: vec![0u64; entries * ENTRY_WORDS],
            flows,
            lines,
            sides,
        }
    }

    /// The entry (first word) of packet `j`, read through its index line.
    #[inline(always)]
    fn entry_of(&self, j: usize) -> usize {
        let via_index = self.index[self.lines[j] as usize * WORDS] as usize;
        (self.flows[j] as usize ^ via_index) * ENTRY_WORDS
    }

    /// Run every packet through the three stages; nanoseconds per packet.
    fn run(&mut self, work_rounds: u32) -> f64 {
        const RING: usize = 64;
        const _: () = assert!(RING > 2 * PATTERN_LAG);
        let n = self.flows.len();
        let mut candidate = [0usize; RING];
        let mut acc = 0u64;
        let t = Instant::now();
        for i in 0..n {
            // Stage 1: the index line of the packet two stages ahead.
            if let Some(&l) = self.lines.get(i + 2 * PATTERN_LAG) {
                meter::flow::prefetch(&self.index[l as usize * WORDS]);
            }
            // Stage 2: read the index line of the packet one stage ahead, prefetch its
            // entry's key line and side line.
            let j = i + PATTERN_LAG;
            if j < n {
                let e = self.entry_of(j);
                candidate[j % RING] = e;
                meter::flow::prefetch(&self.entries[e]);
                meter::flow::prefetch(&self.entries[e + usize::from(self.sides[j]) * WORDS]);
            }
            // Stage 3: update the packet's entry, as a fold does (read the key line,
            // stamp it, count in the side line).
            let e = if i < PATTERN_LAG {
                self.entry_of(i)
            } else {
                candidate[i % RING]
            };
            let side = e + usize::from(self.sides[i]) * WORDS;
            acc = acc.wrapping_add(self.entries[e]);
            self.entries[e + 1] = i as u64;
            self.entries[side] += 1;
            self.entries[side + 1] = self.entries[side + 1].wrapping_add(i as u64);
            acc ^= work(i as u64, work_rounds);
        }
        let ns = t.elapsed().as_secs_f64() * 1e9 / n.max(1) as f64;
        black_box(acc);
        ns
    }

    /// Packets counted in the entries' side lines.
    #[cfg(test)]
    fn counted(&self) -> u64 {
        self.entries
            .chunks_exact(ENTRY_WORDS)
            .map(|e| e[WORDS] + e[2 * WORDS])
            .sum()
    }
}

/// Stand-in for a packet's parsing and folding: four independent multiply chains, so it
/// runs at several instructions per cycle as real parsing does.
#[inline(always)]
fn work(seed: u64, rounds: u32) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut a, mut b, mut c, mut d) = (seed, seed ^ 1, seed ^ 2, seed ^ 3);
    for r in 0..u64::from(rounds) {
        a = a.wrapping_mul(K).wrapping_add(r);
        b = b.wrapping_mul(K).wrapping_add(r);
        c = c.wrapping_mul(K).wrapping_add(r);
        d = d.wrapping_mul(K).wrapping_add(r);
        a ^= a >> 29;
        b ^= b >> 29;
        c ^= c >> 29;
        d ^= d >> 29;
    }
    a ^ b ^ c ^ d
}

const MIB: usize = 1 << 20;

/// The sizes of one set of probes (see [`probes_json`]).
pub struct ProbeSizes {
    /// Buffer of the random-access probe.
    pub mib: usize,
    /// Timed accesses per figure of the random-access probe.
    pub accesses: usize,
    /// Timed accesses per pass of the translation probe.
    pub translation_accesses: usize,
    /// Flows of the pattern probe; 0 skips it.
    pub pattern_flows: usize,
    pub pattern_packets: usize,
}

/// Every probe's figures in one object, as `perf memory` prints them and `perf compare`
/// records them for the machine: [`probe`]'s, with `translation` and `table_pattern`.
pub fn probes_json(sizes: &ProbeSizes, seed: u64) -> Value {
    let mut v = probe(sizes.mib, sizes.accesses, seed).to_json();
    v["translation"] = translation_probe(sizes.translation_accesses, seed).to_json();
    if sizes.pattern_flows > 0 {
        v["table_pattern"] =
            pattern_probe(sizes.pattern_flows, sizes.pattern_packets, seed).to_json();
    }
    v
}

/// Octets of the meter's index and entries for `flows` active flows, in a table sized as
/// the metering limit sizes it (no new flows).
fn table_footprint(flows: usize) -> (usize, usize) {
    let capacity = super::limit::capacity_for(flows as u64, 0);
    (
        meter::flow::table::index_bytes(capacity),
        flows.max(1) * meter::flow::table::ENTRY_BYTES,
    )
}

/// The table's access pattern at `flows` flows (the meter's footprint per flow), with
/// `packets` packets per figure: the work alone (2 MiB footprint), then for each
/// popularity the memory alone and both. Each figure is the best of three passes.
pub fn pattern_probe(flows: usize, packets: usize, seed: u64) -> PatternProbe {
    // The meter's own footprint: the index the metering limit's table has for this many
    // flows, and their entries.
    let (index_bytes, entry_bytes) = table_footprint(flows);
    let packets = packets.max(2 * PATTERN_LAG + 1);
    let best =
        |p: &mut Pattern, rounds: u32| (0..3).map(|_| p.run(rounds)).fold(f64::INFINITY, f64::min);
    let work_ns = best(
        &mut Pattern::new(MIB, MIB, packets, Popularity::Uniform, seed),
        WORK_ROUNDS,
    );
    let at_footprint = |popularity| {
        let mut p = Pattern::new(index_bytes, entry_bytes, packets, popularity, seed);
        PatternRun {
            memory_ns: best(&mut p, 0),
            both_ns: best(&mut p, WORK_ROUNDS),
        }
    };
    let uniform = at_footprint(Popularity::Uniform);
    let zipf = at_footprint(Popularity::Zipf);
    PatternProbe {
        footprint_mib: (index_bytes + entry_bytes).div_ceil(MIB),
        flows,
        work_ns,
        uniform,
        zipf,
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
    fn translation_chains_visit_every_line_once() {
        // The spread lines are one per page, and fill the 2048 sets of a 2 MiB L2 two lines
        // each, as the packed ones do; both chains close after visiting every line once.
        let spread = translation_lines(true);
        let pages: std::collections::HashSet<usize> =
            spread.iter().map(|w| w / PAGE_WORDS).collect();
        assert_eq!(pages.len(), TRANSLATION_LINES);
        let l2_set = |w: &usize| w / WORDS % 2048;
        for at in [translation_lines(false), spread.clone()] {
            let mut per_set = std::collections::HashMap::new();
            for w in &at {
                *per_set.entry(l2_set(w)).or_insert(0) += 1;
            }
            assert!(per_set.len() == 2048 && per_set.values().all(|&n| n == 2));
        }
        for at in [translation_lines(false), spread] {
            let mut buf = vec![0u64; TRANSLATION_LINES * PAGE_WORDS];
            chain_ns(&mut buf, &at, 10, 5);
            let lines: std::collections::HashSet<usize> = at.iter().copied().collect();
            let mut seen = std::collections::HashSet::new();
            let mut p = at[0];
            for _ in 0..at.len() {
                assert!(
                    lines.contains(&p) && seen.insert(p),
                    "offset {p} off the chain"
                );
                p = buf[p] as usize;
            }
            assert_eq!(p, at[0], "the chain must close after every line");
        }
        let t = translation_probe(20_000, 3);
        assert!(t.packed_ns > 0.0 && t.spread_ns.is_finite());
        assert_eq!(t.to_json()["added_ns"].as_f64(), Some(t.added_ns()));
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

    #[test]
    fn the_pattern_updates_one_side_per_packet() {
        // Every packet, including those before the pipeline is full, lands in exactly one
        // side line of its own flow's entry; a stage that skipped, doubled or misplaced
        // packets would show in the counts.
        let packets = 5000;
        for popularity in [Popularity::Uniform, Popularity::Zipf] {
            let mut p = Pattern::new(MIB, MIB, packets, popularity, 9);
            let mut per_entry = vec![0u64; p.entries.len() / ENTRY_WORDS];
            for &e in &p.flows {
                per_entry[e as usize] += 1;
            }
            for pass in 1..=2u64 {
                p.run(2);
                assert_eq!(p.counted(), pass * packets as u64);
                for (e, &want) in per_entry.iter().enumerate() {
                    let got =
                        p.entries[e * ENTRY_WORDS + WORDS] + p.entries[e * ENTRY_WORDS + 2 * WORDS];
                    assert_eq!(got, pass * want, "entry {e}");
                }
            }
        }
    }

    #[test]
    fn zipf_popularity_concentrates_packets_on_few_flows() {
        // The traffic model's rank n * u^8: the first hundredth of the flows draws
        // 0.01^(1/8), about 56 %, of the packets; uniform draws about 1 %.
        let packets = 100_000;
        let share = |popularity| {
            let p = Pattern::new(MIB, MIB, packets, popularity, 5);
            let top = (p.entries.len() / ENTRY_WORDS / 100) as u32;
            p.flows.iter().filter(|&&e| e < top).count() as f64 / packets as f64
        };
        let (z, u) = (share(Popularity::Zipf), share(Popularity::Uniform));
        assert!((z - 0.01f64.powf(1.0 / 8.0)).abs() < 0.02, "zipf share {z}");
        assert!(u < 0.02, "uniform share {u}");
    }

    #[test]
    fn footprint_is_the_limit_tables() {
        // By hand: 1 M flows get a capacity of 1 129 096, whose index at 50 % load needs
        // 282 274 buckets, rounded to 2^19 of 64 octets; entries are 256 octets.
        assert_eq!(table_footprint(1_000_000), (32 << 20, 256_000_000));
        assert_eq!(table_footprint(0).1, 256);
    }

    #[test]
    fn overlap_reads_full_and_none() {
        let run = |both_ns| PatternRun {
            memory_ns: 20.0,
            both_ns,
        };
        assert_eq!(run(30.0).overlap(30.0), 1.0);
        assert_eq!(run(50.0).overlap(30.0), 0.0);
        assert!((run(40.0).overlap(30.0) - 0.5).abs() < 1e-12);
        assert_eq!(run(50.0).added_ns(30.0), 20.0);
        let j = pattern_probe(2000, 2000, 1).to_json();
        assert_eq!(j["flows"], 2000);
        // 2000 flows: a capacity of 6346, so 2048 buckets (128 KiB) and 500 KiB of entries.
        assert_eq!(j["footprint_mib"], 1);
        assert!(j["zipf"]["both_ns"].as_f64().unwrap() > 0.0);
        assert!(j["uniform"]["overlap"].as_f64().is_some());
    }
}
