//! The metering limit: packets from memory straight into one flow table, no I/O.
//!
//! The traffic model ([`crate::r#gen::traffic`]) is generated in chunks into a
//! [`FrameArena`] (frames cut to 128 octets, as `tcpdump -s 128`; octet counts use the
//! wire length); only metering a chunk is timed, so the generator is never the
//! bottleneck. Metering is what the meter's one-worker pipeline (`InlineMeter`) does:
//! `dissect` into the table's pipeline slot, `FlowTable::commit`, and `expire` every
//! 100 ms of packet time. Finished records go to a counting sink (the
//! cost of building each record is included, encoding and export are not).
//!
//! The warm-up (one packet per active flow, so the table holds the whole population) is
//! metered but not timed. CPU is this thread's run time over the timed part; memory is
//! the process's peak RSS, which includes one arena chunk and the generator's slots (16
//! octets per active flow) besides the table.

use std::time::Instant;

use meter::dissect::dissect;
use meter::flow::{EndReason, FlowRecord, FlowTable, RecordSink, TableConfig};
use meter::packet::LinkType;
use serde_json::{Value, json};

use super::sys;
use crate::r#gen::traffic::{FrameArena, SizeMix, TrafficGen, TrafficParams};

const EXPIRE_EVERY_NS: u64 = 100_000_000;
const SNAPLEN: u32 = 128;
/// Packets generated and then metered per chunk: one receive ring's worth (the meter's
/// default `--umem-frames`, 16 384). A live meter reads each frame soon after the NIC or the
/// kernel wrote it, from cache; so does this measurement, with 2.5 MB of frames. A chunk
/// of 262 144 (40 MB) left the frames in memory and streamed them in at two lines per
/// packet on top of the table's, which cost a quarter of the rate at 1 M flows (12 against
/// 16 Mpps, same build): that is the harness's cost, not the flow table's.
pub const DEFAULT_CHUNK: usize = meter::source::afxdp::DEFAULT_UMEM_FRAMES as usize;

/// One cell of the grid.
#[derive(Debug, Clone)]
pub struct LimitSpec {
    pub active_flows: u64,
    pub new_flows_per_sec: u64,
    /// Packets metered and timed after the warm-up.
    pub packets: u64,
    /// Packet rate of the timestamps (sets what "per second" means for new flows).
    pub nominal_pps: u64,
    pub size: SizeMix,
    pub seed: u64,
    /// Packets generated per chunk.
    pub chunk: usize,
    pub mix: LimitMix,
}

/// The traffic model's mix for a cell (defaults: the model's own, which the grid uses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitMix {
    /// Shares of flows by protocol (normalised by the model).
    pub tcp: f64,
    pub udp: f64,
    pub icmp: f64,
    /// Shares of flows that are IPv6, VLAN-tagged, and (of the TCP flows) MPTCP.
    pub ipv6: f64,
    pub vlan: f64,
    pub mptcp: f64,
    /// Zipf-like flow popularity (false: uniform).
    pub zipf: bool,
}

impl Default for LimitMix {
    fn default() -> LimitMix {
        let d = TrafficParams::default();
        LimitMix {
            tcp: d.tcp_share,
            udp: d.udp_share,
            icmp: d.icmp_share,
            ipv6: d.ipv6_share,
            vlan: d.vlan_share,
            mptcp: d.mptcp_share,
            zipf: d.zipf,
        }
    }
}

#[derive(Default)]
struct CountingSink {
    records: u64,
    packets: u64,
}

impl RecordSink for CountingSink {
    #[inline]
    fn emit(&mut self, rec: FlowRecord) {
        self.records += 1;
        self.packets += rec.packets();
    }
}

struct Metering {
    table: FlowTable,
    sink: CountingSink,
    next_expire: u64,
    last_ns: u64,
    drops: u64,
    frames: u64,
}

impl Metering {
    fn drain(&mut self) {
        self.table.drain(&mut self.sink);
    }

    /// Not inlined: one call per chunk costs nothing, and the function is what an
    /// instruction profile (`valgrind --tool=callgrind --toggle-collect='*Metering*chunk*'`)
    /// counts, so the per-packet cost of metering can be read off without the generator.
    #[inline(never)]
    fn chunk(&mut self, arena: &FrameArena) {
        for (data, wire, ts) in arena.iter() {
            self.frames += 1;
            if self.next_expire == 0 {
                self.next_expire = ts.saturating_add(EXPIRE_EVERY_NS);
            }
            self.last_ns = self.last_ns.max(ts);
            match dissect(LinkType::Ethernet, data, wire, ts, self.table.slot()) {
                Ok(()) => self.table.commit(&mut self.sink),
                Err(_) => self.drops += 1,
            }
            if self.last_ns >= self.next_expire {
                self.table.expire(self.last_ns, &mut self.sink);
                self.next_expire = self.last_ns.saturating_add(EXPIRE_EVERY_NS);
            }
        }
    }
}

/// Table capacity for a cell: the active flows, plus every flow that may start during the
/// run (ended UDP/ICMP flows wait for the idle timeout), plus slack; so nothing is evicted
/// for lack of room (evictions are still counted and reported).
pub fn table_capacity(spec: &LimitSpec) -> usize {
    let span_secs = (spec.active_flows + spec.packets) as f64 / spec.nominal_pps.max(1) as f64;
    let lingering = (spec.new_flows_per_sec as f64 * span_secs).ceil() as u64;
    capacity_for(spec.active_flows, lingering)
}

/// Table capacity for `active` flows and `lingering` ended ones that still hold an entry:
/// an eighth and 4096 entries of slack on top.
pub fn capacity_for(active: u64, lingering: u64) -> usize {
    (active + active / 8 + lingering + 4096) as usize
}

/// Wall and this thread's CPU seconds of `f`.
fn measured(f: impl FnOnce()) -> (f64, f64) {
    let c0 = sys::thread_cpu_secs();
    let t = Instant::now();
    f();
    (t.elapsed().as_secs_f64(), sys::thread_cpu_secs() - c0)
}

/// Run one cell; the result is a JSON object (see the README for the fields).
pub fn run_limit(spec: &LimitSpec) -> Result<Value, String> {
    let params = TrafficParams {
        active_flows: spec.active_flows,
        new_flows_per_sec: spec.new_flows_per_sec,
        packets_per_sec: spec.nominal_pps,
        size: spec.size,
        seed: spec.seed,
        snaplen: SNAPLEN,
        tcp_share: spec.mix.tcp,
        udp_share: spec.mix.udp,
        icmp_share: spec.mix.icmp,
        ipv6_share: spec.mix.ipv6,
        vlan_share: spec.mix.vlan,
        mptcp_share: spec.mix.mptcp,
        zipf: spec.mix.zipf,
        ..TrafficParams::default()
    };
    let mut tgen = TrafficGen::new(params)?;
    let cfg = TableConfig {
        max_flows: table_capacity(spec),
        ..TableConfig::default()
    };
    let mut m = Metering {
        table: FlowTable::new(cfg),
        sink: CountingSink::default(),
        next_expire: 0,
        last_ns: 0,
        drops: 0,
        frames: 0,
    };
    let chunk = spec.chunk.max(1);
    let mut arena = FrameArena::default();
    let mut gen_secs = 0.0;
    let mut gen_packets = 0u64;
    // Generate `packets` in chunks and meter each; only metering is timed (wall, CPU).
    let mut feed = |m: &mut Metering, tgen: &mut TrafficGen, packets: u64| {
        let (mut secs, mut cpu) = (0.0, 0.0);
        let mut left = packets;
        while left > 0 {
            let n = left.min(chunk as u64) as usize;
            arena.clear();
            let t = Instant::now();
            tgen.fill(&mut arena, n);
            gen_secs += t.elapsed().as_secs_f64();
            gen_packets += n as u64;
            let (s, c) = measured(|| m.chunk(&arena));
            secs += s;
            cpu += c;
            left -= n as u64;
        }
        (secs, cpu)
    };

    // Warm-up: untimed.
    let warmup = tgen.warmup_packets();
    feed(&mut m, &mut tgen, warmup);
    m.drain();
    let warm_flows = m.table.len();
    let wire0 = tgen.truth().wire_octets;
    let created0 = m.table.stats().flows_created;

    // Timed part; the last partial batch belongs to it.
    let (mut secs, mut cpu) = feed(&mut m, &mut tgen, spec.packets);
    let (s, c) = measured(|| m.drain());
    secs += s;
    cpu += c;

    let peak_in_table = m.table.stats().peak_flows;
    // Before the flush, which gives the table's chunks back.
    let peak_memory = sys::peak_memory_kib(None).unwrap_or(0);
    let created = m.table.stats().flows_created - created0;
    m.table.flush(EndReason::Forced, &mut m.sink);
    let st = m.table.stats().clone();
    let truth = *tgen.truth();
    let conservation_ok = m.frames == truth.packets
        && st.packets + m.drops == truth.packets
        && m.sink.packets == st.packets;
    let wire_timed = truth.wire_octets - wire0;
    let secs = secs.max(1e-9);
    Ok(json!({
        "kind": "limit",
        "meter": "meter",
        "active_flows": spec.active_flows,
        "new_flows_per_sec": spec.new_flows_per_sec,
        "nominal_pps": spec.nominal_pps,
        "size": spec.size.name(),
        "mix": {
            "tcp_share": spec.mix.tcp,
            "udp_share": spec.mix.udp,
            "icmp_share": spec.mix.icmp,
            "ipv6_share": spec.mix.ipv6,
            "vlan_share": spec.mix.vlan,
            "mptcp_share": spec.mix.mptcp,
            "popularity": if spec.mix.zipf { "zipf" } else { "uniform" },
        },
        "packets": spec.packets,
        "warmup_packets": tgen.warmup_packets(),
        "secs": secs,
        "pps": spec.packets as f64 / secs,
        // Layer-2 bits (frames without FCS, preamble and gap) per second.
        "bits_per_sec": wire_timed as f64 * 8.0 / secs,
        "loss": if truth.packets > 0 { m.drops as f64 / truth.packets as f64 } else { 0.0 },
        "cpu_secs": cpu,
        "cpu_percent": 100.0 * cpu / secs,
        "peak_memory_kib": peak_memory,
        "table_capacity": cfg.max_flows,
        "flows_after_warmup": warm_flows,
        "flows_created_timed": created,
        "new_flows_per_sec_at_measured_rate": created as f64 / secs,
        "peak_flows": peak_in_table,
        "evicted": st.records_by_reason[EndReason::LackOfResources as usize],
        "records": m.sink.records,
        "dropped_before_metering": m.drops,
        "truth_packets": truth.packets,
        "metered_packets": st.packets,
        "conservation_ok": conservation_ok,
        // The generator's own count, not the table's claim, is what the rate is judged by.
        "totals_checked": true,
        "check": "generator truth: frames generated = frames metered = packets in flow records",
        "generator_pps": gen_packets as f64 / gen_secs.max(1e-9),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_reaches_the_generator() {
        // Flows replaced by new ones end with a FIN exchange when they are TCP and linger
        // until their idle timeout when they are UDP, so the table's peak tells the two
        // mixes apart.
        let cell = |tcp: f64, udp: f64| {
            let spec = LimitSpec {
                active_flows: 1000,
                new_flows_per_sec: 20_000,
                packets: 100_000,
                nominal_pps: 200_000,
                size: SizeMix::Imix,
                seed: 5,
                chunk: 4096,
                mix: LimitMix {
                    tcp,
                    udp,
                    icmp: 0.0,
                    mptcp: 0.0,
                    ..LimitMix::default()
                },
            };
            run_limit(&spec).unwrap()
        };
        let (tcp, udp) = (cell(1.0, 0.0), cell(0.0, 1.0));
        assert_eq!(udp["mix"]["udp_share"], 1.0);
        for v in [&tcp, &udp] {
            assert_eq!(v["conservation_ok"], true);
            assert_eq!(v["flows_created_timed"], 10_000);
        }
        assert_eq!(
            udp["peak_flows"], 11_000,
            "every UDP flow stays until the end"
        );
        let tcp_peak = tcp["peak_flows"].as_u64().unwrap();
        assert!(
            tcp_peak < 10_000,
            "closed TCP flows leave the table: {tcp_peak}"
        );
    }

    #[test]
    fn small_cell_conserves_every_packet() {
        let spec = LimitSpec {
            active_flows: 1000,
            new_flows_per_sec: 10_000,
            packets: 50_000,
            nominal_pps: 100_000,
            size: SizeMix::Imix,
            seed: 3,
            chunk: 4096,
            mix: LimitMix::default(),
        };
        let v = run_limit(&spec).unwrap();
        assert_eq!(v["conservation_ok"], true);
        assert_eq!(v["truth_packets"], 51_000);
        assert_eq!(v["dropped_before_metering"], 0);
        assert_eq!(v["flows_after_warmup"], 1000);
        // 0.5 s of packet time at 10 K new flows/s: 5000 flows started in the timed part.
        assert_eq!(v["flows_created_timed"], 5000);
        assert_eq!(v["evicted"], 0);
        assert!(v["pps"].as_f64().unwrap() > 0.0);
    }
}
