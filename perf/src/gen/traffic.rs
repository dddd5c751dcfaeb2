//! Traffic model for limit measurements: a steady population of active flows with a
//! configured rate of new flows, a packet-size mix, a protocol mix and Zipf-like
//! popularity, produced packet by packet into memory ([`FrameArena`]) or a capture file.
//!
//! The model:
//! - `active_flows` slots each hold one flow. The stream starts with a *warm-up*: one
//!   packet per slot, in slot order (every flow's first packet: a TCP SYN, a UDP datagram
//!   or an ICMP echo request), so that a meter's table holds the whole population before
//!   anything is measured. [`TrafficGen::warmup_packets`] says how many packets that is.
//! - After the warm-up, each packet goes to a slot drawn by popularity (Zipf-like: slot
//!   rank r is chosen with density ∝ r^-0.875, a few elephants and many mice; or
//!   uniform), and is that flow's next packet: TCP flows do the three-way handshake with
//!   the options Linux sends (MSS, SACK-permitted, timestamps, window scale; timestamps on
//!   every later segment), then data in both directions; MPTCP flows (a share of TCP)
//!   carry the MP_CAPABLE v1 handshake with real keys and a DSS option with data ACK and
//!   mapping on every data segment, DATA_FIN at the close; UDP flows alternate directions;
//!   ICMP flows are echo request/reply pairs.
//! - New flows arrive at exactly `new_flows_per_sec` of packet time: the flow in a
//!   uniformly drawn slot ends and a new one takes the slot. An ending TCP flow sends
//!   FIN/ACK, FIN/ACK, ACK (a meter ends it at once); UDP and ICMP flows simply stop and
//!   are left to the meter's idle timeout.
//! - Packet time advances by exactly 1/`packets_per_sec` per packet, so rates of new
//!   flows and timeouts are real for a meter that reads the timestamps.
//!
//! Sizes: [`SizeMix`]. Handshake and close segments are minimum-size (as on a real
//! network) unless the mix is [`SizeMix::Fixed`], where every frame has the fixed size;
//! a size too small for a packet's headers is raised to what it needs.
//!
//! Every IPv4 header checksum and every TCP/UDP/ICMP checksum is correct for the whole
//! packet even when the snap length cuts the frame (payload sums are precomputed).
//! Flow identities derive statelessly from a flow number, so two concurrently active
//! flows never share a key (IPv4: source address and port are a bijection of the flow
//! number below 2^24 × 64512; ICMP keys repeat after 2^24 flows). Everything is
//! deterministic for a seed.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use super::packet::{fold_checksum, ones_sum};
use super::pcap::{CaptureFile, CaptureFormat, CaptureWrite, LinkType};
use super::rng::{SplitMix64, mix64, share_threshold};
use super::tcpopt::{Dss, DssMapping, MP_CAPABLE_FLAG_H, TcpOptions, mptcp_v1_token_idsn};

/// Packet sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeMix {
    /// Every frame this size on the wire, FCS included (64 ..= 9018).
    Fixed(u16),
    /// Simple IMIX: wire frames of 64, 594 and 1518 octets in the ratio 7:4:1.
    Imix,
    /// A campus-edge mix of IP packet lengths, see [`CAMPUS_MIX`].
    Campus,
}

impl SizeMix {
    /// "64".."9018", "imix" or "campus".
    pub fn parse(s: &str) -> Result<SizeMix, String> {
        if s.eq_ignore_ascii_case("imix") {
            return Ok(SizeMix::Imix);
        }
        if s.eq_ignore_ascii_case("campus") {
            return Ok(SizeMix::Campus);
        }
        let n: u16 = s
            .parse()
            .map_err(|_| format!("expected a frame size, \"imix\" or \"campus\", got {s:?}"))?;
        if !(64..=9018).contains(&n) {
            return Err(format!("frame size {n} outside 64..=9018"));
        }
        Ok(SizeMix::Fixed(n))
    }

    pub fn name(&self) -> String {
        match self {
            SizeMix::Fixed(n) => n.to_string(),
            SizeMix::Imix => "imix".into(),
            SizeMix::Campus => "campus".into(),
        }
    }
}

/// The campus mix: (IP packet length in octets, percent of packets).
///
/// Shape from R. Sinha, C. Papadopoulos, J. Heidemann, "Internet Packet Size
/// Distributions: Some Observations", USC/ISI TR-2007-643 (web page of October 2005),
/// measured on a university's Internet2 link (USC) and its regional ISP (Los Nettos):
/// bimodal at 40 octets (≈40 % of packets: ACKs) and 1500 octets (≈20 %), with a strong
/// mode at 1300 octets (VPN MTUs) on the campus link. The report gives those modes in its
/// text; the intermediate bins below (the remaining 40 %) are our approximation of its
/// curves, not measured values. Mean 560 octets of IP packet.
pub const CAMPUS_MIX: [(u16, u8); 10] = [
    (40, 40),
    (80, 8),
    (140, 6),
    (250, 4),
    (420, 4),
    (576, 3),
    (900, 3),
    (1300, 10),
    (1420, 2),
    (1500, 20),
];

const IMIX: [(u16, u8); 3] = [(64, 7), (594, 4), (1518, 1)];

/// Parameters of [`TrafficGen`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficParams {
    /// Flows alive at any time (≥ 1).
    pub active_flows: u64,
    /// Flows that end and are replaced per second of packet time.
    pub new_flows_per_sec: u64,
    /// Packet rate that sets the timestamps (≥ 1).
    pub packets_per_sec: u64,
    pub size: SizeMix,
    /// Shares of flows by protocol (normalised; all zero means all TCP).
    pub tcp_share: f64,
    pub udp_share: f64,
    pub icmp_share: f64,
    /// Fraction of flows that are IPv6.
    pub ipv6_share: f64,
    /// Fraction of flows carried in an 802.1Q tag.
    pub vlan_share: f64,
    /// Fraction of TCP flows that are MPTCP.
    pub mptcp_share: f64,
    /// Zipf-like popularity (true) or uniform.
    pub zipf: bool,
    pub seed: u64,
    pub start_ns: u64,
    /// Frames are cut to this many octets (the original length is kept).
    pub snaplen: u32,
}

impl Default for TrafficParams {
    fn default() -> Self {
        TrafficParams {
            active_flows: 100_000,
            new_flows_per_sec: 10_000,
            packets_per_sec: 1_000_000,
            size: SizeMix::Imix,
            tcp_share: 0.75,
            udp_share: 0.2,
            icmp_share: 0.05,
            ipv6_share: 0.2,
            vlan_share: 0.1,
            mptcp_share: 0.02,
            zipf: true,
            seed: 1,
            start_ns: 1_700_000_000_000_000_000,
            snaplen: 65_535,
        }
    }
}

/// Counts of what was generated; what a lossless meter must account for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficTruth {
    pub packets: u64,
    /// Sum of frame lengths on the wire without FCS (pcap orig_len).
    pub wire_octets: u64,
    /// Sum of IP packet lengths: what a meter's octet counters total.
    pub l3_octets: u64,
    /// Sum of captured lengths.
    pub captured_octets: u64,
    /// Flows that sent their first packet.
    pub flows_started: u64,
    /// TCP flows closed with FIN in both directions and the final ACK.
    pub tcp_flows_closed: u64,
    pub tcp_packets: u64,
    pub udp_packets: u64,
    pub icmp_packets: u64,
    pub ipv6_packets: u64,
    pub vlan_packets: u64,
    pub mptcp_flows: u64,
}

/// One generated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub ts_ns: u64,
    /// Frame length on the wire without FCS.
    pub wire_len: u32,
    /// Octets appended (≤ snap length).
    pub cap_len: u32,
    pub l3_len: u32,
}

/// Frames held in memory: one contiguous buffer plus an index.
#[derive(Debug, Default)]
pub struct FrameArena {
    pub data: Vec<u8>,
    pub frames: Vec<ArenaFrame>,
}

/// The rank (0 = most popular) of `n` that a uniform draw `u` in [0, 1) picks: Zipf-like
/// `n * u^8` (a hundredth of the ranks draws 0.01^(1/8), about 56 %, of the draws) or
/// uniform. The traffic model's flow popularity, and `perf memory`'s replay of it.
#[inline]
pub fn popular_rank(u: f64, n: usize, zipf: bool) -> usize {
    let v = if zipf {
        let mut v = u * u;
        v *= v;
        v * v
    } else {
        u
    };
    ((v * n as f64) as usize).min(n.saturating_sub(1))
}

/// Where one frame of a [`FrameArena`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaFrame {
    pub offset: usize,
    pub cap_len: u32,
    pub wire_len: u32,
    pub ts_ns: u64,
}

impl FrameArena {
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `i`: (captured bytes, wire length, timestamp).
    #[inline]
    pub fn get(&self, i: usize) -> Option<(&[u8], u32, u64)> {
        let f = self.frames.get(i)?;
        let d = self.data.get(f.offset..f.offset + f.cap_len as usize)?;
        Some((d, f.wire_len, f.ts_ns))
    }

    /// Iterate over (captured bytes, wire length, timestamp).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u32, u64)> + '_ {
        self.frames.iter().map(|f| {
            (
                self.data
                    .get(f.offset..f.offset + f.cap_len as usize)
                    .unwrap_or(&[]),
                f.wire_len,
                f.ts_ns,
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    flow: u64,
    step: u32,
}

/// A closing TCP flow's remaining segments.
#[derive(Debug, Clone, Copy)]
struct Closing {
    flow: u64,
    step: u32,
    /// 0: FIN from A, 1: FIN from B, 2: final ACK from A.
    phase: u8,
}

/// Identity of a flow, derived from its number.
#[derive(Debug, Clone, Copy)]
struct FlowIdent {
    proto: Proto,
    v6: bool,
    vlan: u16,
    mptcp: bool,
    /// Addresses as 16 octets (IPv4 in the first 4).
    a: [u8; 16],
    b: [u8; 16],
    a_port: u16,
    b_port: u16,
    h: u64,
}

const TCP_PORTS: [u16; 8] = [443, 443, 443, 80, 8080, 22, 993, 25];
const UDP_PORTS: [u16; 4] = [53, 443, 123, 4500];
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const FCS: u32 = 4;
const SPORT_SPAN: u64 = 64512;
const MAX_FRAME: usize = 9014;
/// Slots drawn ahead (see [`TrafficGen::pick_slot`]).
const AHEAD: usize = 32;

/// A bijection on 24-bit integers.
fn perm24(x: u64) -> u32 {
    const M: u64 = (1 << 24) - 1;
    let mut x = (x & M).wrapping_mul(0x9e3779) & M;
    x ^= x >> 12;
    x = x.wrapping_mul(0x2c1b3d) & M;
    x ^= x >> 7;
    x as u32
}

/// Cumulative thresholds (out of 2^32) of a weighted list of sizes.
fn cumulative(bins: &[(u16, u8)]) -> Vec<(u64, u16)> {
    let total: u64 = bins.iter().map(|b| u64::from(b.1)).sum::<u64>().max(1);
    let mut acc = 0u64;
    bins.iter()
        .map(|&(size, w)| {
            acc += u64::from(w);
            ((acc << 32) / total, size)
        })
        .collect()
}

/// The generator (see the module doc).
pub struct TrafficGen {
    p: TrafficParams,
    slots: Vec<Slot>,
    closing: VecDeque<Closing>,
    next_flow: u64,
    rng: SplitMix64,
    /// Popularity draws (a stream of their own, drawn ahead).
    pick_rng: SplitMix64,
    ahead: [u32; AHEAD],
    ahead_pos: usize,
    seed_mix: u64,
    emitted: u64,
    new_acc: u64,
    tcp_thr: u64,
    udp_thr: u64,
    v6_thr: u64,
    vlan_thr: u64,
    mptcp_thr: u64,
    /// (threshold, size) where size is a wire frame size with FCS (Imix) or an IP length
    /// (Campus).
    mix: Vec<(u64, u16)>,
    /// pat_sum[n]: one's-complement sum of the first n payload octets.
    pat_sum: Vec<u64>,
    pattern: Vec<u8>,
    truth: TrafficTruth,
}

impl TrafficGen {
    pub fn new(p: TrafficParams) -> Result<TrafficGen, String> {
        if p.active_flows == 0 {
            return Err("active flows must be at least 1".into());
        }
        if p.active_flows > 1 << 28 {
            return Err("at most 2^28 active flows".into());
        }
        if p.packets_per_sec == 0 {
            return Err("packet rate must be at least 1".into());
        }
        if p.new_flows_per_sec > p.packets_per_sec {
            return Err(format!(
                "{} new flows/s need at least as many packets/s (got {})",
                p.new_flows_per_sec, p.packets_per_sec
            ));
        }
        for (name, v) in [
            ("tcp share", p.tcp_share),
            ("udp share", p.udp_share),
            ("icmp share", p.icmp_share),
            ("ipv6 share", p.ipv6_share),
            ("vlan share", p.vlan_share),
            ("mptcp share", p.mptcp_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} {v} outside 0..=1"));
            }
        }
        if let SizeMix::Fixed(n) = p.size
            && !(64..=9018).contains(&n)
        {
            return Err(format!("frame size {n} outside 64..=9018"));
        }
        let total = p.tcp_share + p.udp_share + p.icmp_share;
        let (tcp, udp) = if total <= 0.0 {
            (1.0, 0.0)
        } else {
            (p.tcp_share / total, p.udp_share / total)
        };
        let mix = match p.size {
            SizeMix::Fixed(n) => vec![(1 << 32, n)],
            SizeMix::Imix => cumulative(&IMIX),
            SizeMix::Campus => cumulative(&CAMPUS_MIX),
        };
        let pattern: Vec<u8> = (0..MAX_FRAME).map(|i| (i % 251) as u8).collect();
        let mut pat_sum = Vec::with_capacity(MAX_FRAME + 1);
        let mut acc = 0u64;
        pat_sum.push(0);
        for (i, &b) in pattern.iter().enumerate() {
            acc += if i % 2 == 0 {
                u64::from(b) << 8
            } else {
                u64::from(b)
            };
            pat_sum.push(acc);
        }
        let n = p.active_flows as usize;
        let slots = (0..n)
            .map(|i| Slot {
                flow: i as u64,
                step: 0,
            })
            .collect();
        Ok(TrafficGen {
            slots,
            closing: VecDeque::new(),
            next_flow: p.active_flows,
            rng: SplitMix64::new(p.seed),
            pick_rng: SplitMix64::new(mix64(p.seed ^ 0x5107)),
            ahead: [0; AHEAD],
            ahead_pos: AHEAD,
            seed_mix: mix64(p.seed ^ 0x7aff_1c00_5eed),
            emitted: 0,
            new_acc: 0,
            tcp_thr: share_threshold(tcp),
            udp_thr: share_threshold(tcp + udp),
            v6_thr: share_threshold(p.ipv6_share),
            vlan_thr: share_threshold(p.vlan_share),
            mptcp_thr: share_threshold(p.mptcp_share),
            mix,
            pat_sum,
            pattern,
            truth: TrafficTruth::default(),
            p,
        })
    }

    pub fn params(&self) -> &TrafficParams {
        &self.p
    }

    /// Packets of the warm-up (one per active flow) at the start of the stream.
    pub fn warmup_packets(&self) -> u64 {
        self.p.active_flows
    }

    /// Packets emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    pub fn truth(&self) -> &TrafficTruth {
        &self.truth
    }

    /// Timestamp of packet `i` of the stream.
    fn ts_of(&self, i: u64) -> u64 {
        let off = u128::from(i) * 1_000_000_000 / u128::from(self.p.packets_per_sec);
        self.p.start_ns.saturating_add(off as u64)
    }

    fn ident(&self, flow: u64) -> FlowIdent {
        let h = mix64(flow ^ self.seed_mix);
        let sel = mix64(h ^ 0x7c9);
        let proto = if sel < self.tcp_thr {
            Proto::Tcp
        } else if sel < self.udp_thr {
            Proto::Udp
        } else {
            Proto::Icmp
        };
        let v6 = mix64(h ^ 0x6666) < self.v6_thr;
        let vlan = if mix64(h ^ 0x8100) < self.vlan_thr {
            1 + (h >> 20) as u16 % 4094
        } else {
            0
        };
        let mptcp = proto == Proto::Tcp && mix64(h ^ 0x1e) < self.mptcp_thr;
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        if v6 {
            a[..8].copy_from_slice(&0x2001_0db8_0000_0000u64.to_be_bytes());
            a[8..].copy_from_slice(&mix64(flow ^ 0xa5a5_a5a5).to_be_bytes());
            b[..8].copy_from_slice(&(0x2001_0db8_ffff_0000u64 | (h >> 48)).to_be_bytes());
            b[8..].copy_from_slice(&h.to_be_bytes());
        } else {
            let src = (10u32 << 24) | perm24(flow);
            let dst = 0xac10_0000u32 | ((h >> 8) as u32 & 0x000f_ffff);
            a[..4].copy_from_slice(&src.to_be_bytes());
            b[..4].copy_from_slice(&dst.to_be_bytes());
        }
        let a_port = 1024 + (((flow >> 24) + (h >> 40)) % SPORT_SPAN) as u16;
        let (a_port, b_port) = match proto {
            Proto::Tcp => (a_port, TCP_PORTS[(h >> 61) as usize & 7]),
            Proto::Udp => (a_port, UDP_PORTS[(h >> 62) as usize & 3]),
            Proto::Icmp => (flow as u16, 0),
        };
        FlowIdent {
            proto,
            v6,
            vlan,
            mptcp,
            a,
            b,
            a_port,
            b_port,
            h,
        }
    }

    /// Draw a target size: a wire size with FCS (Fixed, Imix) or an IP length (Campus).
    fn draw_size(&mut self) -> u16 {
        if self.mix.len() == 1 {
            return self.mix[0].1;
        }
        let u = u64::from(self.rng.next_u32());
        self.mix
            .iter()
            .find(|(t, _)| u < *t)
            .or(self.mix.last())
            .map(|m| m.1)
            .unwrap_or(64)
    }

    /// The next slot by popularity. Slots are drawn [`AHEAD`] at a time and loaded in one
    /// tight loop, so that with millions of flows their cache misses overlap instead of
    /// stalling one packet each.
    fn pick_slot(&mut self) -> usize {
        if self.ahead_pos >= self.ahead.len() {
            let mut touch = 0u64;
            for k in 0..self.ahead.len() {
                let s = self.draw_slot();
                self.ahead[k] = s as u32;
                touch ^= self.slots[s].flow;
            }
            std::hint::black_box(touch);
            self.ahead_pos = 0;
        }
        let s = self.ahead[self.ahead_pos] as usize;
        self.ahead_pos += 1;
        s
    }

    fn draw_slot(&mut self) -> usize {
        popular_rank(self.pick_rng.next_f64(), self.slots.len(), self.p.zipf)
    }

    /// Generate the next packet, appending its captured octets to `buf`.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> PacketInfo {
        let i = self.emitted;
        let ts = self.ts_of(i);
        self.emitted += 1;
        // Warm-up: every slot's first packet, in order.
        if i < self.p.active_flows {
            let flow = self.slots[i as usize].flow;
            self.slots[i as usize].step = 1;
            return self.emit_step(buf, ts, flow, 0, None);
        }
        self.new_acc += self.p.new_flows_per_sec;
        if self.new_acc >= self.p.packets_per_sec {
            self.new_acc -= self.p.packets_per_sec;
            let s = (self.rng.next_u64() % self.slots.len() as u64) as usize;
            let old = self.slots[s];
            // A TCP flow past its handshake closes properly.
            if old.step >= 3 && self.ident(old.flow).proto == Proto::Tcp {
                self.closing.push_back(Closing {
                    flow: old.flow,
                    step: old.step,
                    phase: 0,
                });
            }
            let flow = self.next_flow;
            self.next_flow += 1;
            self.slots[s] = Slot { flow, step: 1 };
            return self.emit_step(buf, ts, flow, 0, None);
        }
        // Closing segments of ended TCP flows come before other packets.
        if let Some(c) = self.closing.pop_front() {
            if c.phase < 2 {
                self.closing.push_front(Closing {
                    phase: c.phase + 1,
                    ..c
                });
            } else {
                self.truth.tcp_flows_closed += 1;
            }
            return self.emit_step(buf, ts, c.flow, c.step, Some(c.phase));
        }
        let s = self.pick_slot();
        let Slot { flow, step } = self.slots[s];
        self.slots[s].step = step.saturating_add(1);
        self.emit_step(buf, ts, flow, step, None)
    }

    /// Build one packet of `flow` at `step` (or a closing segment).
    fn emit_step(
        &mut self,
        buf: &mut Vec<u8>,
        ts: u64,
        flow: u64,
        step: u32,
        closing: Option<u8>,
    ) -> PacketInfo {
        let id = self.ident(flow);
        let t = &mut self.truth;
        if step == 0 && closing.is_none() {
            t.flows_started += 1;
            if id.mptcp {
                t.mptcp_flows += 1;
            }
        }
        // Direction (true = A -> B), TCP flags and options, whether minimum-size.
        let mut opts = TcpOptions::new();
        let tsval = (ts / 1_000_000) as u32;
        let isn_a = id.h as u32;
        let isn_b = (id.h >> 32) as u32;
        let (keys, idsn) = if id.mptcp {
            let ka = mix64(id.h ^ 0x6b65_7941);
            let kb = mix64(id.h ^ 0x6b65_7942);
            let ia = mptcp_v1_token_idsn(ka).1;
            let ib = mptcp_v1_token_idsn(kb).1;
            ((ka, kb), (ia, ib))
        } else {
            ((0, 0), (0, 0))
        };
        let (a_to_b, flags, seq, ack, control) = match (id.proto, closing) {
            (Proto::Tcp, Some(phase)) => {
                let sa = isn_a.wrapping_add(1 + step * 700);
                let sb = isn_b.wrapping_add(1 + step * 700);
                let _ = opts
                    .nop()
                    .and_then(|o| o.nop())
                    .and_then(|o| o.timestamps(tsval, tsval.wrapping_sub(1)));
                if id.mptcp && phase < 2 {
                    let (own, peer) = if phase == 0 { idsn } else { (idsn.1, idsn.0) };
                    let at = 1 + u64::from(step) * 700;
                    // DATA_FIN occupies one octet of data-sequence space (RFC 8684 §3.3.3),
                    // signalled with a mapping of length 1 and subflow sequence 0.
                    let dss = Dss {
                        data_ack: Some((peer.wrapping_add(at), false)),
                        mapping: Some(DssMapping {
                            dsn: own.wrapping_add(at),
                            dsn64: false,
                            ssn: 0,
                            data_len: 1,
                            checksum: None,
                        }),
                        data_fin: true,
                    };
                    let _ = opts.dss(&dss);
                }
                match phase {
                    0 => (true, 0x011u16, sa, sb, true),
                    1 => (false, 0x011, sb, sa.wrapping_add(1), true),
                    _ => (true, 0x010, sa.wrapping_add(1), sb.wrapping_add(1), true),
                }
            }
            (Proto::Tcp, None) => match step {
                0 => {
                    let _ = opts
                        .mss(1460)
                        .and_then(|o| o.sack_permitted())
                        .and_then(|o| o.timestamps(tsval, 0))
                        .and_then(|o| o.nop())
                        .and_then(|o| o.window_scale(7));
                    if id.mptcp {
                        let _ = opts.mp_capable_syn(MP_CAPABLE_FLAG_H);
                    }
                    (true, 0x002u16, isn_a, 0, true)
                }
                1 => {
                    let _ = opts
                        .mss(1460)
                        .and_then(|o| o.sack_permitted())
                        .and_then(|o| o.timestamps(tsval, tsval))
                        .and_then(|o| o.nop())
                        .and_then(|o| o.window_scale(9));
                    if id.mptcp {
                        // 20 + 12 octets fit; the NOP/WS pair stays.
                        let _ = opts.mp_capable_synack(MP_CAPABLE_FLAG_H, keys.1);
                    }
                    (false, 0x012, isn_b, isn_a.wrapping_add(1), true)
                }
                2 => {
                    let _ = opts
                        .nop()
                        .and_then(|o| o.nop())
                        .and_then(|o| o.timestamps(tsval, tsval));
                    if id.mptcp {
                        let _ = opts.mp_capable_ack(MP_CAPABLE_FLAG_H, keys.0, keys.1);
                    }
                    (
                        true,
                        0x010,
                        isn_a.wrapping_add(1),
                        isn_b.wrapping_add(1),
                        true,
                    )
                }
                _ => {
                    let a_to_b = self.rng.next_u32() % 5 < 2;
                    let _ = opts
                        .nop()
                        .and_then(|o| o.nop())
                        .and_then(|o| o.timestamps(tsval, tsval.wrapping_sub(1)));
                    let sa = isn_a.wrapping_add(1 + step * 700);
                    let sb = isn_b.wrapping_add(1 + step * 700);
                    if id.mptcp {
                        let (own, peer) = if a_to_b { idsn } else { (idsn.1, idsn.0) };
                        let dss = Dss {
                            data_ack: Some((peer.wrapping_add(1 + u64::from(step) * 700), false)),
                            mapping: Some(DssMapping {
                                dsn: own.wrapping_add(1 + u64::from(step) * 700),
                                dsn64: false,
                                ssn: 1 + step * 700,
                                data_len: 700,
                                checksum: None,
                            }),
                            data_fin: false,
                        };
                        let _ = opts.dss(&dss);
                    }
                    if a_to_b {
                        (true, 0x018, sa, sb, false)
                    } else {
                        (false, 0x018, sb, sa, false)
                    }
                }
            },
            (Proto::Udp, _) => {
                let a_to_b = step == 0 || self.rng.next_u32() & 1 == 0;
                (a_to_b, 0, 0, 0, false)
            }
            (Proto::Icmp, _) => (step.is_multiple_of(2), 0, 0, 0, false),
        };
        let link_len = 14 + if id.vlan != 0 { 4 } else { 0 };
        let ip_len = if id.v6 { 40 } else { 20 };
        let opt_len = opts.len().div_ceil(4) * 4;
        let l4_hdr = match id.proto {
            Proto::Tcp => 20 + opt_len,
            Proto::Udp | Proto::Icmp => 8,
        };
        let hdr_len = link_len + ip_len + l4_hdr;
        let fixed = matches!(self.p.size, SizeMix::Fixed(_));
        let frame_len = if control && !fixed {
            hdr_len.max(60)
        } else {
            let s = usize::from(self.draw_size());
            let target = match self.p.size {
                SizeMix::Campus => s + link_len,
                _ => s.saturating_sub(FCS as usize),
            };
            target.max(hdr_len).clamp(60, MAX_FRAME)
        };
        let payload = frame_len - hdr_len;
        let l3_len = frame_len - link_len;

        // ---- headers into a scratch array
        let mut h = [0u8; 128];
        let (src, dst, sport, dport, smac, dmac) = if a_to_b {
            (id.a, id.b, id.a_port, id.b_port, MAC_A, MAC_B)
        } else {
            (id.b, id.a, id.b_port, id.a_port, MAC_B, MAC_A)
        };
        h[0..6].copy_from_slice(&dmac);
        h[6..12].copy_from_slice(&smac);
        let mut at = 12;
        if id.vlan != 0 {
            h[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            h[14..16].copy_from_slice(&id.vlan.to_be_bytes());
            at = 16;
        }
        let proto_num: u8 = match (id.proto, id.v6) {
            (Proto::Tcp, _) => 6,
            (Proto::Udp, _) => 17,
            (Proto::Icmp, false) => 1,
            (Proto::Icmp, true) => 58,
        };
        let l4_total = (l3_len - ip_len) as u64;
        let l3 = at + 2;
        let mut pseudo;
        if id.v6 {
            h[at..at + 2].copy_from_slice(&0x86ddu16.to_be_bytes());
            let fl = (id.h as u32) & 0x000f_ffff;
            h[l3..l3 + 4].copy_from_slice(&((6u32 << 28) | fl).to_be_bytes());
            h[l3 + 4..l3 + 6].copy_from_slice(&(l4_total as u16).to_be_bytes());
            h[l3 + 6] = proto_num;
            h[l3 + 7] = 64;
            h[l3 + 8..l3 + 24].copy_from_slice(&src);
            h[l3 + 24..l3 + 40].copy_from_slice(&dst);
            pseudo = ones_sum(0, &h[l3 + 8..l3 + 40]) + l4_total + u64::from(proto_num);
        } else {
            h[at..at + 2].copy_from_slice(&0x0800u16.to_be_bytes());
            h[l3] = 0x45;
            h[l3 + 2..l3 + 4].copy_from_slice(&(l3_len as u16).to_be_bytes());
            h[l3 + 4..l3 + 6].copy_from_slice(&(i_id(ts)).to_be_bytes());
            h[l3 + 6] = 0x40; // DF
            h[l3 + 8] = 64;
            h[l3 + 9] = proto_num;
            h[l3 + 12..l3 + 16].copy_from_slice(&src[..4]);
            h[l3 + 16..l3 + 20].copy_from_slice(&dst[..4]);
            let c = fold_checksum(ones_sum(0, &h[l3..l3 + 20]));
            h[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            pseudo = ones_sum(0, &h[l3 + 12..l3 + 20]) + l4_total + u64::from(proto_num);
        }
        let l4 = l3 + ip_len;
        match id.proto {
            Proto::Tcp => {
                h[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
                h[l4 + 2..l4 + 4].copy_from_slice(&dport.to_be_bytes());
                h[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                h[l4 + 8..l4 + 12].copy_from_slice(&ack.to_be_bytes());
                let off_flags = ((l4_hdr as u16 / 4) << 12) | flags;
                h[l4 + 12..l4 + 14].copy_from_slice(&off_flags.to_be_bytes());
                h[l4 + 14..l4 + 16].copy_from_slice(&502u16.to_be_bytes());
                let ob = opts.as_bytes();
                h[l4 + 20..l4 + 20 + ob.len()].copy_from_slice(ob);
                // Padding with EOL (0) is already in place.
            }
            Proto::Udp => {
                h[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
                h[l4 + 2..l4 + 4].copy_from_slice(&dport.to_be_bytes());
                h[l4 + 4..l4 + 6].copy_from_slice(&(l4_total as u16).to_be_bytes());
            }
            Proto::Icmp => {
                h[l4] = match (id.v6, a_to_b) {
                    (false, true) => 8,
                    (false, false) => 0,
                    (true, true) => 128,
                    (true, false) => 129,
                };
                h[l4 + 4..l4 + 6].copy_from_slice(&id.a_port.to_be_bytes());
                h[l4 + 6..l4 + 8].copy_from_slice(&((step / 2) as u16).to_be_bytes());
                if !id.v6 {
                    pseudo = 0; // ICMPv4 has no pseudo-header.
                }
            }
        }
        let sum = pseudo + ones_sum(0, &h[l4..l4 + l4_hdr]) + self.pat_sum[payload];
        let c = fold_checksum(sum);
        match id.proto {
            Proto::Tcp => h[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes()),
            Proto::Udp => {
                let c = if c == 0 { 0xffff } else { c };
                h[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
            }
            Proto::Icmp => h[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes()),
        }

        let cap = frame_len.min(self.p.snaplen.max(1) as usize);
        let hdr_part = hdr_len.min(cap);
        buf.extend_from_slice(&h[..hdr_part]);
        if cap > hdr_len {
            buf.extend_from_slice(&self.pattern[..cap - hdr_len]);
        }

        let t = &mut self.truth;
        t.packets += 1;
        t.wire_octets += frame_len as u64;
        t.l3_octets += l3_len as u64;
        t.captured_octets += cap as u64;
        match id.proto {
            Proto::Tcp => t.tcp_packets += 1,
            Proto::Udp => t.udp_packets += 1,
            Proto::Icmp => t.icmp_packets += 1,
        }
        t.ipv6_packets += u64::from(id.v6);
        t.vlan_packets += u64::from(id.vlan != 0);
        PacketInfo {
            ts_ns: ts,
            wire_len: frame_len as u32,
            cap_len: cap as u32,
            l3_len: l3_len as u32,
        }
    }

    /// Append the next `n` packets to `arena`.
    pub fn fill(&mut self, arena: &mut FrameArena, n: usize) {
        arena.frames.reserve(n);
        for _ in 0..n {
            let offset = arena.data.len();
            let info = self.next_into(&mut arena.data);
            arena.frames.push(ArenaFrame {
                offset,
                cap_len: info.cap_len,
                wire_len: info.wire_len,
                ts_ns: info.ts_ns,
            });
        }
    }

    /// Write the next `n` packets to a capture writer.
    pub fn write_to<W: CaptureWrite>(&mut self, out: &mut W, n: u64) -> io::Result<()> {
        let mut buf = Vec::with_capacity(MAX_FRAME);
        for _ in 0..n {
            buf.clear();
            let info = self.next_into(&mut buf);
            out.write_packet(info.ts_ns, &buf, info.wire_len)?;
        }
        out.flush_all()
    }
}

/// IPv4 identification from the timestamp (varies packet to packet).
#[inline]
fn i_id(ts: u64) -> u16 {
    (ts >> 6) as u16
}

/// Write a capture of the warm-up plus `packets` further packets to `path`.
pub fn write_traffic_pcap(
    path: &Path,
    p: &TrafficParams,
    packets: u64,
    format: CaptureFormat,
) -> io::Result<TrafficTruth> {
    let mut g =
        TrafficGen::new(p.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut out = CaptureFile::create(path, format, LinkType::Ethernet, p.snaplen)?;
    let n = g.warmup_packets() + packets;
    g.write_to(&mut out, n)?;
    out.finish()?;
    Ok(*g.truth())
}

/// Write the warm-up plus `packets` further packets as a trafgen (netsniff-ng) packet
/// configuration: one `{ 0x.., ... }` block per frame (full frames, timestamps dropped;
/// trafgen sends them round robin).
pub fn write_trafgen_config(
    path: &Path,
    p: &TrafficParams,
    packets: u64,
) -> io::Result<TrafficTruth> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let mut g =
        TrafficGen::new(p.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = Vec::with_capacity(MAX_FRAME);
    let mut line = String::with_capacity(8 * MAX_FRAME);
    for _ in 0..g.warmup_packets() + packets {
        buf.clear();
        g.next_into(&mut buf);
        line.clear();
        line.push('{');
        for (i, b) in buf.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(line, "0x{b:02x}");
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(*g.truth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(size: SizeMix) -> TrafficParams {
        TrafficParams {
            active_flows: 200,
            new_flows_per_sec: 1000,
            packets_per_sec: 10_000,
            size,
            ..TrafficParams::default()
        }
    }

    #[test]
    fn deterministic_and_counts_add_up() {
        let mut a = FrameArena::default();
        let mut b = FrameArena::default();
        let mut g1 = TrafficGen::new(small(SizeMix::Imix)).unwrap();
        let mut g2 = TrafficGen::new(small(SizeMix::Imix)).unwrap();
        g1.fill(&mut a, 5000);
        g2.fill(&mut b, 5000);
        assert_eq!(a.data, b.data);
        let t = g1.truth();
        assert_eq!(t.packets, 5000);
        assert_eq!(t.tcp_packets + t.udp_packets + t.icmp_packets, 5000);
        // 4800 packets after the warm-up at 10 kpps with 1000 new flows/s: 480 new flows.
        assert_eq!(t.flows_started, 200 + 480);
        let wire: u64 = a.frames.iter().map(|f| u64::from(f.wire_len)).sum();
        assert_eq!(wire, t.wire_octets);
        // Timestamps advance by 100 µs.
        assert_eq!(a.frames[1].ts_ns - a.frames[0].ts_ns, 100_000);
        assert!(t.tcp_flows_closed > 0);
    }

    #[test]
    fn checksums_are_valid() {
        let mut g = TrafficGen::new(TrafficParams {
            ipv6_share: 0.5,
            vlan_share: 0.5,
            mptcp_share: 0.5,
            ..small(SizeMix::Campus)
        })
        .unwrap();
        let mut a = FrameArena::default();
        g.fill(&mut a, 3000);
        for (f, wire, _) in a.iter() {
            assert_eq!(f.len() as u32, wire);
            let mut at = 12;
            let mut et = u16::from_be_bytes([f[12], f[13]]);
            if et == 0x8100 {
                at = 16;
                et = u16::from_be_bytes([f[16], f[17]]);
            }
            let l3 = at + 2;
            if et == 0x0800 {
                assert_eq!(fold_checksum(ones_sum(0, &f[l3..l3 + 20])), 0);
                let proto = f[l3 + 9];
                let l4 = &f[l3 + 20..];
                let mut s = ones_sum(0, l4);
                if proto != 1 {
                    s += ones_sum(0, &f[l3 + 12..l3 + 20]) + l4.len() as u64 + u64::from(proto);
                }
                assert_eq!(fold_checksum(s), 0, "proto {proto}");
            } else {
                assert_eq!(et, 0x86dd);
                let proto = f[l3 + 6];
                let l4 = &f[l3 + 40..];
                let s = ones_sum(0, l4)
                    + ones_sum(0, &f[l3 + 8..l3 + 40])
                    + l4.len() as u64
                    + u64::from(proto);
                assert_eq!(fold_checksum(s), 0, "v6 proto {proto}");
            }
        }
    }

    #[test]
    fn snaplen_cuts_and_fixed_size_holds() {
        let mut g = TrafficGen::new(TrafficParams {
            snaplen: 64,
            ipv6_share: 0.0,
            vlan_share: 0.0,
            ..small(SizeMix::Fixed(1518))
        })
        .unwrap();
        let mut a = FrameArena::default();
        g.fill(&mut a, 1000);
        assert!(
            a.frames
                .iter()
                .all(|f| f.cap_len == 64 && f.wire_len == 1514)
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(
            TrafficGen::new(TrafficParams {
                active_flows: 0,
                ..TrafficParams::default()
            })
            .is_err()
        );
        assert!(
            TrafficGen::new(TrafficParams {
                new_flows_per_sec: 10,
                packets_per_sec: 5,
                ..TrafficParams::default()
            })
            .is_err()
        );
        assert!(SizeMix::parse("63").is_err());
        assert_eq!(SizeMix::parse("campus"), Ok(SizeMix::Campus));
    }
}
