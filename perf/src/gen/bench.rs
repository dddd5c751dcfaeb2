//! Bulk capture generator for throughput benchmarks: millions of packets over up to
//! millions of flows, streamed to a file (the capture is never held in memory).
//!
//! Speed comes from templates: one pre-built frame per (IP version, TCP/UDP, size); per
//! packet only addresses, ports, sequence number, flags and IP ID are patched in a small
//! scratch copy, and the IPv4 header and TCP/UDP checksums are finished from precomputed
//! partial sums (RFC 1071 incremental update), so every checksum in the file is correct.
//!
//! Flow identities are derived statelessly from the flow number (bijective mixes), so any
//! number of flows costs no memory and two flow numbers never share a 5-tuple. Everything
//! is deterministic for a seed.
//!
//! Sizes follow the benchmarking convention of wire frames including the 4-octet FCS
//! (RFC 2544: 64 … 1518); the capture holds the frame without FCS, so `Fixed(64)` writes
//! 60-octet frames. A size too small for a packet's headers (IPv6 + TCP needs 78) is
//! raised to the minimum for that packet.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::packet::{
    self, Ethernet, Frame, Ip, Ipv4, Ipv6, L4, Link, Payload, Tcp, Udp, fold_checksum, ones_sum,
    tcp_flags,
};
use super::pcap::{CaptureFile, CaptureFormat, CaptureWrite, DEFAULT_SNAPLEN, LinkType};
use super::rng::{SplitMix64, mix64, share_threshold};
use super::tcpopt::TcpOptions;

/// Frame sizes on the wire, FCS included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSize {
    /// Every frame this size (64 ..= 9018).
    Fixed(u16),
    /// Simple IMIX: 64, 594 and 1518 octets in the ratio 7:4:1.
    Imix,
}

/// How packets are spread over flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Popularity {
    /// New flows start evenly over the run (so every flow is used); the other packets go
    /// to already started flows with a power-law skew (density ∝ rank^-0.875, the oldest
    /// flows being the heaviest): a Zipf-like mix of elephants and mice.
    #[default]
    Zipf,
    /// Packet i belongs to flow i mod flows: every flow gets the same share, and
    /// consecutive packets of one flow are as far apart as possible.
    RoundRobin,
}

/// Parameters of [`gen_bench`].
#[derive(Debug, Clone, PartialEq)]
pub struct BenchParams {
    pub packets: u64,
    pub flows: u64,
    pub size: FrameSize,
    pub seed: u64,
    /// Fraction of flows that are IPv6 (0.0 ..= 1.0).
    pub ipv6_share: f64,
    /// Fraction of flows that are UDP rather than TCP (0.0 ..= 1.0).
    pub udp_share: f64,
    pub popularity: Popularity,
    /// Capture snap length: frames are cut to it, the original length is kept.
    pub snaplen: u32,
    pub format: CaptureFormat,
    pub start_ns: u64,
    /// Time between consecutive packets.
    pub gap_ns: u64,
}

impl Default for BenchParams {
    fn default() -> Self {
        BenchParams {
            packets: 10_000_000,
            flows: 1_000_000,
            size: FrameSize::Imix,
            seed: 1,
            ipv6_share: 0.0,
            udp_share: 0.2,
            popularity: Popularity::Zipf,
            snaplen: DEFAULT_SNAPLEN,
            format: CaptureFormat::Pcap,
            start_ns: 1_700_000_000_000_000_000,
            // 10 M packets in one second: far below any flow timeout.
            gap_ns: 100,
        }
    }
}

/// What [`gen_bench`] wrote, accumulated from the templates it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BenchTruth {
    pub packets: u64,
    /// Distinct flows that received at least one packet.
    pub flows: u64,
    /// Sum of original frame lengths (without FCS).
    pub wire_octets: u64,
    /// Sum of captured lengths.
    pub captured_octets: u64,
    /// Sum of layer-3 lengths (IP header + payload): what a meter's octet counters total.
    pub l3_octets: u64,
    pub ipv6_packets: u64,
    pub udp_packets: u64,
    /// Packets that were the first of their flow (TCP ones carry SYN).
    pub first_packets: u64,
}

const IMIX: [u16; 3] = [64, 594, 1518];
const FCS: usize = 4;
const TCP_PORTS: [u16; 8] = [80, 443, 443, 443, 8080, 22, 25, 993];
const UDP_PORTS: [u16; 4] = [53, 443, 123, 4500];

/// One pre-built frame and the partial checksums of its constant parts.
struct Template {
    frame: Vec<u8>,
    l3_off: usize,
    l4_off: usize,
    ipv6: bool,
    udp: bool,
    l3_len: u64,
    /// Sum of the IPv4 header with id, addresses and checksum zeroed.
    ip_sum: u64,
    /// Sum of the L4 header (variable fields zeroed) + payload + pseudo-header constants.
    l4_sum: u64,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn build_template(wire: u16, ipv6: bool, udp: bool) -> io::Result<Template> {
    let frame_len = usize::from(wire).saturating_sub(FCS).max(60);
    let ip_hdr = if ipv6 { 40 } else { 20 };
    let l4_hdr = if udp { 8 } else { 20 };
    let payload = frame_len.saturating_sub(14 + ip_hdr + l4_hdr);
    let ip = if ipv6 {
        Ip::V6(Ipv6::new(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED))
    } else {
        let mut h = Ipv4::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
        h.df = true;
        Ip::V4(h)
    };
    let l4 = if udp {
        L4::Udp(Udp::new(0, 0))
    } else {
        L4::Tcp(Tcp {
            sport: 0,
            dport: 0,
            seq: 0,
            ack: 1,
            flags: 0,
            window: 502,
            options: TcpOptions::new(),
        })
    };
    let mut frame = Vec::with_capacity(frame_len);
    let built = packet::build(
        &mut frame,
        &Frame {
            link: Link::Ethernet(Ethernet::new(
                [0x02, 0, 0, 0, 0, 0x01],
                [0x02, 0, 0, 0, 0, 0x02],
            )),
            ip,
            l4,
            payload: Payload::Pattern(payload),
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    let l3_off = built.l3_offset;
    let l4_off = l3_off + ip_hdr;
    // Zero the variable fields so the stored sums cover only constant octets.
    let zero = |f: &mut Vec<u8>, at: usize, n: usize| {
        if let Some(s) = f.get_mut(at..at + n) {
            s.fill(0);
        }
    };
    if ipv6 {
        zero(&mut frame, l3_off + 8, 32);
    } else {
        zero(&mut frame, l3_off + 4, 2); // id
        zero(&mut frame, l3_off + 10, 2); // checksum
        zero(&mut frame, l3_off + 12, 8); // addresses
    }
    if udp {
        zero(&mut frame, l4_off, 4); // ports
        zero(&mut frame, l4_off + 6, 2); // checksum
    } else {
        zero(&mut frame, l4_off, 8); // ports, seq
        zero(&mut frame, l4_off + 12, 2); // data offset + flags
        zero(&mut frame, l4_off + 16, 2); // checksum
    }
    let ip_sum = if ipv6 {
        0
    } else {
        ones_sum(0, frame.get(l3_off..l4_off).unwrap_or(&[]))
    };
    let l4_len = (built.l3_len - ip_hdr) as u64;
    let proto = if udp { 17 } else { 6 };
    let l4_sum =
        ones_sum(0, frame.get(l4_off..l3_off + built.l3_len).unwrap_or(&[])) + l4_len + proto;
    Ok(Template {
        frame,
        l3_off,
        l4_off,
        ipv6,
        udp,
        l3_len: built.l3_len as u64,
        ip_sum,
        l4_sum,
    })
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn sum32(v: u32) -> u64 {
    u64::from(v >> 16) + u64::from(v & 0xffff)
}

fn sum64(v: u64) -> u64 {
    sum32((v >> 32) as u32) + sum32(v as u32)
}

/// A bijection on 23-bit integers (odd multiplications and an xorshift), so consecutive
/// flow numbers get scattered addresses.
fn perm23(x: u64) -> u32 {
    const M: u64 = (1 << 23) - 1;
    let mut x = (x & M).wrapping_mul(0x5bd1e9) & M;
    x ^= x >> 11;
    x = x.wrapping_mul(0x2c1b3) & M;
    x as u32
}

const V4_SRC_BITS: u32 = 23;
const SPORT_SPAN: u64 = 64512;

fn check(p: &BenchParams) -> io::Result<()> {
    if p.packets == 0 || p.flows == 0 {
        return Err(invalid("packets and flows must be at least 1"));
    }
    if let FrameSize::Fixed(n) = p.size
        && !(64..=9018).contains(&n)
    {
        return Err(invalid(format!("frame size {n} outside 64..=9018")));
    }
    if !(0.0..=1.0).contains(&p.ipv6_share) || !(0.0..=1.0).contains(&p.udp_share) {
        return Err(invalid("shares must be within 0..=1"));
    }
    // IPv4 flows are unique by (source address, source port).
    if p.flows > (1u64 << V4_SRC_BITS) * SPORT_SPAN {
        return Err(invalid("too many flows for unique IPv4 5-tuples"));
    }
    Ok(())
}

/// Generate the benchmark capture into `path`.
pub fn gen_bench(path: &Path, p: &BenchParams) -> io::Result<BenchTruth> {
    check(p)?;
    let mut out = CaptureFile::create(path, p.format, LinkType::Ethernet, p.snaplen)?;
    let truth = gen_bench_to(&mut out, p)?;
    out.finish()?;
    Ok(truth)
}

/// Generate the benchmark capture into any capture writer.
pub fn gen_bench_to<W: CaptureWrite>(out: &mut W, p: &BenchParams) -> io::Result<BenchTruth> {
    check(p)?;
    let sizes: &[u16] = match &p.size {
        FrameSize::Fixed(n) => std::slice::from_ref(n),
        FrameSize::Imix => &IMIX,
    };
    // templates[size][ipv6 * 2 + udp]
    let mut templates = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let mut row = Vec::with_capacity(4);
        for (v6, udp) in [(false, false), (false, true), (true, false), (true, true)] {
            row.push(build_template(s, v6, udp)?);
        }
        templates.push(row);
    }
    let v6_thr = share_threshold(p.ipv6_share);
    let udp_thr = share_threshold(p.udp_share);
    let snaplen = p.snaplen.max(1) as usize;
    let seed_mix = mix64(p.seed ^ 0x5eed_5eed_5eed_5eed);
    let mut rng = SplitMix64::new(p.seed);
    let mut scratch = vec![0u8; 9100];
    let mut truth = BenchTruth::default();
    let mut created: u64 = 0;
    let mut ts = p.start_ns;

    for i in 0..p.packets {
        // ---- which flow
        let (flow, first) = match p.popularity {
            Popularity::RoundRobin => (i % p.flows, i < p.flows),
            Popularity::Zipf => {
                let target =
                    ((u128::from(i) + 1) * u128::from(p.flows)).div_ceil(u128::from(p.packets));
                if u128::from(created) < target && created < p.flows {
                    created += 1;
                    (created - 1, true)
                } else {
                    let mut u = rng.next_f64();
                    u *= u;
                    u *= u;
                    u *= u;
                    let r = ((u * created as f64) as u64).min(created.saturating_sub(1));
                    (r, false)
                }
            }
        };
        // ---- its identity
        let h = mix64(flow ^ seed_mix);
        let ipv6 = mix64(h ^ 0x6666) < v6_thr;
        let udp = mix64(h ^ 0x1717) < udp_thr;
        let size_idx = match p.size {
            FrameSize::Fixed(_) => 0,
            // 7:4:1
            FrameSize::Imix => match rng.next_u32() % 12 {
                0..=6 => 0,
                7..=10 => 1,
                _ => 2,
            },
        };
        let Some(t) = templates
            .get(size_idx)
            .and_then(|row| row.get(usize::from(ipv6) * 2 + usize::from(udp)))
        else {
            return Err(invalid("template index"));
        };
        let cap = t.frame.len().min(snaplen);
        let Some(dst) = scratch.get_mut(..cap) else {
            return Err(invalid("frame larger than scratch"));
        };
        dst.copy_from_slice(t.frame.get(..cap).unwrap_or(&[]));
        // The header region must be patched even when the snap length cuts into it, so
        // patch a full header copy and write only the captured part.
        let hdr_end = t.l4_off + if t.udp { 8 } else { 20 };
        let mut hdr = [0u8; 80];
        let Some(hdr) = hdr.get_mut(..hdr_end) else {
            return Err(invalid("header larger than scratch"));
        };
        hdr.copy_from_slice(t.frame.get(..hdr_end).unwrap_or(&[]));

        let low = flow & ((1 << V4_SRC_BITS) - 1);
        let hl = mix64(low ^ seed_mix);
        let sport = 1024 + (((flow >> V4_SRC_BITS) + (hl >> 40)) % SPORT_SPAN) as u16;
        let dport = if t.udp {
            UDP_PORTS[(h >> 61) as usize & 3]
        } else {
            TCP_PORTS[(h >> 61) as usize & 7]
        };
        let mut l4 = t.l4_sum + u64::from(sport) + u64::from(dport);
        if t.ipv6 {
            let src_hi = 0x2001_0db8_0000_0000u64;
            let src_lo = mix64(flow ^ 0xa5a5_a5a5);
            let dst_hi = 0x2001_0db8_ffff_0000u64 | ((h >> 32) & 0xffff);
            let dst_lo = h;
            let a = t.l3_off + 8;
            put32(hdr, a, (src_hi >> 32) as u32);
            put32(hdr, a + 4, src_hi as u32);
            put32(hdr, a + 8, (src_lo >> 32) as u32);
            put32(hdr, a + 12, src_lo as u32);
            put32(hdr, a + 16, (dst_hi >> 32) as u32);
            put32(hdr, a + 20, dst_hi as u32);
            put32(hdr, a + 24, (dst_lo >> 32) as u32);
            put32(hdr, a + 28, dst_lo as u32);
            l4 += sum64(src_hi) + sum64(src_lo) + sum64(dst_hi) + sum64(dst_lo);
        } else {
            let src = (10u32 << 24) | perm23(low);
            let dst = (10u32 << 24) | (1 << 23) | ((h >> 8) as u32 & 0x7f_ffff);
            let id = i as u16;
            put16(hdr, t.l3_off + 4, id);
            put32(hdr, t.l3_off + 12, src);
            put32(hdr, t.l3_off + 16, dst);
            let ipc = fold_checksum(t.ip_sum + u64::from(id) + sum32(src) + sum32(dst));
            put16(hdr, t.l3_off + 10, ipc);
            l4 += sum32(src) + sum32(dst);
        }
        put16(hdr, t.l4_off, sport);
        put16(hdr, t.l4_off + 2, dport);
        if t.udp {
            let c = fold_checksum(l4);
            put16(hdr, t.l4_off + 6, if c == 0 { 0xffff } else { c });
            truth.udp_packets += 1;
        } else {
            let seq = (h as u32).wrapping_add(i as u32);
            let flags = if first {
                tcp_flags::SYN
            } else {
                tcp_flags::ACK | tcp_flags::PSH
            };
            let off_flags = (5u16 << 12) | flags;
            put32(hdr, t.l4_off + 4, seq);
            put16(hdr, t.l4_off + 12, off_flags);
            l4 += sum32(seq) + u64::from(off_flags);
            put16(hdr, t.l4_off + 16, fold_checksum(l4));
        }
        let n = hdr_end.min(cap);
        if let (Some(d), Some(s)) = (dst.get_mut(..n), hdr.get(..n)) {
            d.copy_from_slice(s);
        }
        out.write_packet(ts, dst, t.frame.len() as u32)?;

        truth.packets += 1;
        truth.wire_octets += t.frame.len() as u64;
        truth.captured_octets += cap as u64;
        truth.l3_octets += t.l3_len;
        truth.ipv6_packets += u64::from(t.ipv6);
        truth.first_packets += u64::from(first);
        ts = ts.saturating_add(p.gap_ns);
    }
    truth.flows = match p.popularity {
        Popularity::Zipf => created,
        Popularity::RoundRobin => p.flows.min(p.packets),
    };
    out.flush_all()?;
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that keeps frames, for checking them with an independent checksum pass.
    #[derive(Default)]
    struct Keep(Vec<(Vec<u8>, u32)>);

    impl CaptureWrite for Keep {
        fn write_packet(&mut self, _: u64, frame: &[u8], orig: u32) -> io::Result<()> {
            self.0.push((frame.to_vec(), orig));
            Ok(())
        }
        fn flush_all(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn patched_checksums_verify_from_scratch() {
        let p = BenchParams {
            packets: 2000,
            flows: 300,
            size: FrameSize::Imix,
            ipv6_share: 0.5,
            udp_share: 0.5,
            ..BenchParams::default()
        };
        let mut k = Keep::default();
        let t = gen_bench_to(&mut k, &p).unwrap();
        assert_eq!(t.packets, 2000);
        assert_eq!(t.flows, 300);
        let mut seen_v6 = 0;
        for (f, orig) in &k.0 {
            assert_eq!(f.len() as u32, *orig);
            let v6 = f[12..14] == [0x86, 0xdd];
            // A correct checksum makes the one's-complement sum over the covered octets
            // (with the pseudo header) fold to 0xffff, i.e. fold_checksum() == 0.
            let (l4_off, proto, pseudo) = if v6 {
                seen_v6 += 1;
                let plen = u16::from_be_bytes([f[18], f[19]]) as u64;
                (54, f[20], ones_sum(0, &f[22..54]) + plen + u64::from(f[20]))
            } else {
                assert_eq!(fold_checksum(ones_sum(0, &f[14..34])), 0, "IPv4 header");
                let tl = u16::from_be_bytes([f[16], f[17]]) as u64;
                (
                    34,
                    f[23],
                    ones_sum(0, &f[26..34]) + (tl - 20) + u64::from(f[23]),
                )
            };
            let end = if v6 {
                54 + u16::from_be_bytes([f[18], f[19]]) as usize
            } else {
                14 + u16::from_be_bytes([f[16], f[17]]) as usize
            };
            assert!(proto == 6 || proto == 17);
            assert_eq!(fold_checksum(ones_sum(pseudo, &f[l4_off..end])), 0);
        }
        assert!(seen_v6 > 0 && seen_v6 < 2000);
    }

    #[test]
    fn every_flow_is_used_and_tuples_are_unique() {
        for pop in [Popularity::Zipf, Popularity::RoundRobin] {
            let p = BenchParams {
                packets: 5000,
                flows: 1000,
                size: FrameSize::Fixed(64),
                popularity: pop,
                ..BenchParams::default()
            };
            let mut k = Keep::default();
            let t = gen_bench_to(&mut k, &p).unwrap();
            let mut tuples = std::collections::HashSet::new();
            for (f, _) in &k.0 {
                assert_eq!(f.len(), 60);
                // IPv4 src/dst, ports, protocol
                let mut key = f[26..38].to_vec();
                key.push(f[23]);
                tuples.insert(key);
            }
            assert_eq!(tuples.len(), 1000, "{pop:?}");
            assert_eq!(t.flows, 1000);
            assert_eq!(t.first_packets, 1000);
        }
    }

    #[test]
    fn snaplen_cuts_but_keeps_original_length() {
        let p = BenchParams {
            packets: 100,
            flows: 10,
            size: FrameSize::Fixed(1518),
            snaplen: 40,
            ..BenchParams::default()
        };
        let mut k = Keep::default();
        let t = gen_bench_to(&mut k, &p).unwrap();
        assert!(k.0.iter().all(|(f, o)| f.len() == 40 && *o == 1514));
        assert_eq!(t.captured_octets, 4000);
        assert_eq!(t.wire_octets, 151_400);
        assert_eq!(t.l3_octets, 150_000);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let mut k = Keep::default();
        for p in [
            BenchParams {
                packets: 0,
                ..BenchParams::default()
            },
            BenchParams {
                size: FrameSize::Fixed(63),
                ..BenchParams::default()
            },
            BenchParams {
                ipv6_share: 1.5,
                ..BenchParams::default()
            },
        ] {
            assert!(gen_bench_to(&mut k, &p).is_err());
        }
    }
}
