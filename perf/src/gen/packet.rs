//! Packet builders: one [`Frame`] description in, one wire frame out, appended to a
//! caller-owned `Vec<u8>` so bulk generation can reuse one buffer (no per-packet
//! allocation once the buffer has grown).
//!
//! Layers: Ethernet with an optional VLAN tag stack (802.1Q / 802.1ad) and MPLS labels,
//! or raw IP; IPv4 (correct header checksum, DF, fragments) or IPv6 (hop-by-hop and
//! fragment extension headers); TCP with arbitrary option bytes, UDP, ICMP / ICMPv6 echo,
//! SCTP common header, or no transport header. Transport checksums are computed over the
//! packet as built (pseudo header included), which is only the datagram's checksum when
//! the packet is not a fragment; fragments should use [`UdpChecksum::Zero`] or no L4.
//!
//! Builders never panic: impossible requests (option area over 40 octets, an IP packet
//! over 65535 octets, too many tags) return [`BuildError`] and leave `buf` truncated to
//! its length on entry.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// TCP options longer than 40 octets (after padding to 4).
    TcpOptionsTooLong,
    /// IPv4 total length or IPv6 payload length would exceed 65535.
    PacketTooLong,
    /// More tags, labels or extension headers than a [`Stack`] holds.
    StackFull,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::TcpOptionsTooLong => "TCP options exceed 40 octets",
            BuildError::PacketTooLong => "IP packet exceeds 65535 octets",
            BuildError::StackFull => "too many tags, labels or extension headers",
        })
    }
}

impl std::error::Error for BuildError {}

/// TCP header flag bits (as in IPFIX tcpControlBits, IE 6).
pub mod tcp_flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const AE: u16 = 0x100;
}

/// IP protocol numbers used here.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_HOPOPTS: u8 = 0;
    pub const IPV6_FRAG: u8 = 44;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NONXT: u8 = 59;
    pub const SCTP: u8 = 132;
}

/// Ethertypes used here.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const DOT1Q: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const DOT1AD: u16 = 0x88a8;
}

/// A fixed-capacity list, so frame descriptions stay `Copy` and allocation-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> Default for Stack<T, N> {
    fn default() -> Self {
        Stack {
            items: [T::default(); N],
            len: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> Stack<T, N> {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stack holding `items`, or [`BuildError::StackFull`].
    pub fn from_slice(items: &[T]) -> Result<Self, BuildError> {
        let mut s = Self::default();
        for &t in items {
            s.push(t)?;
        }
        Ok(s)
    }

    /// Append one item.
    pub fn push(&mut self, t: T) -> Result<(), BuildError> {
        let slot = self.items.get_mut(self.len).ok_or(BuildError::StackFull)?;
        *slot = t;
        self.len += 1;
        Ok(())
    }

    /// The items, outermost first.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

/// One VLAN tag: TPID (0x8100 for 802.1Q, 0x88a8 for an 802.1ad S-tag), PCP and VID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanTag {
    pub tpid: u16,
    pub pcp: u8,
    pub vid: u16,
}

impl VlanTag {
    /// An 802.1Q C-tag.
    pub fn dot1q(vid: u16) -> VlanTag {
        VlanTag {
            tpid: ethertype::DOT1Q,
            pcp: 0,
            vid,
        }
    }
    /// An 802.1ad S-tag (outer tag of a QinQ stack).
    pub fn dot1ad(vid: u16) -> VlanTag {
        VlanTag {
            tpid: ethertype::DOT1AD,
            pcp: 0,
            vid,
        }
    }
}

/// One MPLS label stack entry; the bottom-of-stack bit is set by the builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MplsLabel {
    pub label: u32,
    pub tc: u8,
    pub ttl: u8,
}

impl MplsLabel {
    pub fn new(label: u32) -> MplsLabel {
        MplsLabel {
            label,
            tc: 0,
            ttl: 64,
        }
    }
}

/// Ethernet II header with optional tags and labels. Tags come first (outermost first),
/// then labels, then IP. With `pad`, frames shorter than 60 octets are zero-padded like a
/// NIC does (the padding is not part of the IP packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ethernet {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlans: Stack<VlanTag, 4>,
    pub mpls: Stack<MplsLabel, 8>,
    pub pad: bool,
}

impl Ethernet {
    /// Untagged, padded.
    pub fn new(src: [u8; 6], dst: [u8; 6]) -> Ethernet {
        Ethernet {
            dst,
            src,
            vlans: Stack::new(),
            mpls: Stack::new(),
            pad: true,
        }
    }

    /// The same header for the opposite direction (MACs swapped, tags kept).
    pub fn reversed(&self) -> Ethernet {
        Ethernet {
            dst: self.src,
            src: self.dst,
            ..*self
        }
    }
}

/// Link layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet(Ethernet),
    /// No link header: the frame is the IP packet (LINKTYPE_RAW).
    RawIp,
}

/// IPv4 header fields (no options: IHL 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub tos: u8,
    pub ttl: u8,
    pub id: u16,
    pub df: bool,
    /// More-fragments flag.
    pub mf: bool,
    /// Fragment offset in 8-octet units (13 bits).
    pub frag_offset: u16,
}

impl Ipv4 {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ipv4 {
        Ipv4 {
            src,
            dst,
            tos: 0,
            ttl: 64,
            id: 0,
            df: false,
            mf: false,
            frag_offset: 0,
        }
    }
}

/// An IPv6 extension header, in chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ipv6Ext {
    /// Hop-by-hop options header of 8 octets holding one PadN option.
    #[default]
    HopByHop,
    /// Fragment header; offset in 8-octet units.
    Fragment { offset: u16, more: bool, id: u32 },
}

/// IPv6 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub ext: Stack<Ipv6Ext, 4>,
}

impl Ipv6 {
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Ipv6 {
        Ipv6 {
            src,
            dst,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            ext: Stack::new(),
        }
    }
}

/// Network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ip {
    V4(Ipv4),
    V6(Ipv6),
}

/// TCP header; `options` is padded with EOL octets to a multiple of 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// [`tcp_flags`] bits; the 4 reserved/AE bits go into the high nibble of octet 12.
    pub flags: u16,
    pub window: u16,
    pub options: super::tcpopt::TcpOptions,
}

/// UDP checksum handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpChecksum {
    /// Computed (a result of 0 is sent as 0xffff).
    #[default]
    Compute,
    /// 0: "no checksum", allowed for IPv4 only.
    Zero,
}

/// UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub sport: u16,
    pub dport: u16,
    pub checksum: UdpChecksum,
    /// Length field to write instead of the real one (first fragment of a datagram).
    pub length: Option<u16>,
}

impl Udp {
    pub fn new(sport: u16, dport: u16) -> Udp {
        Udp {
            sport,
            dport,
            checksum: UdpChecksum::Compute,
            length: None,
        }
    }
}

/// ICMP echo (IPv4) or ICMPv6 echo (IPv6), chosen by the IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub reply: bool,
    pub id: u16,
    pub seq: u16,
}

/// SCTP common header only (no chunks unless the payload supplies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sctp {
    pub sport: u16,
    pub dport: u16,
    pub vtag: u32,
}

/// Transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp(Tcp),
    Udp(Udp),
    Echo(Echo),
    Sctp(Sctp),
    /// No transport header (non-first fragment, or an opaque protocol).
    None {
        protocol: u8,
    },
}

impl L4 {
    /// The IP protocol number this header is carried under.
    pub fn protocol(&self, ipv6: bool) -> u8 {
        match self {
            L4::Tcp(_) => proto::TCP,
            L4::Udp(_) => proto::UDP,
            L4::Echo(_) if ipv6 => proto::ICMPV6,
            L4::Echo(_) => proto::ICMP,
            L4::Sctp(_) => proto::SCTP,
            L4::None { protocol } => *protocol,
        }
    }
}

/// Bytes after the transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// `len` octets of a fixed pattern (octet i = i mod 251, so that reordering shows).
    Pattern(usize),
    Bytes(&'a [u8]),
}

impl Payload<'_> {
    pub fn len(&self) -> usize {
        match self {
            Payload::Pattern(n) => *n,
            Payload::Bytes(b) => b.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole frame description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub link: Link,
    pub ip: Ip,
    pub l4: L4,
    pub payload: Payload<'a>,
}

/// What [`build`] appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Offset of the IP header within the appended frame.
    pub l3_offset: usize,
    /// IP header + extension headers + transport header + payload: the octets a flow
    /// meter counts (never the Ethernet header or padding).
    pub l3_len: usize,
    /// Frame length including any Ethernet padding.
    pub frame_len: usize,
}

/// One's-complement sum of `data` as big-endian 16-bit words, added to `acc`
/// (RFC 1071); an odd final octet is padded with zero.
#[inline]
pub fn ones_sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold a 64-bit one's-complement accumulator and complement it: the checksum field.
#[inline]
pub fn fold_checksum(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

const PAD_N_HOP_BY_HOP: [u8; 6] = [1, 4, 0, 0, 0, 0];

fn append_pattern(buf: &mut Vec<u8>, n: usize) {
    buf.extend((0..n).map(|i| (i % 251) as u8));
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(s) = buf.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Append `frame` to `buf`. On error `buf` is restored to its length on entry.
pub fn build(buf: &mut Vec<u8>, frame: &Frame<'_>) -> Result<Built, BuildError> {
    let start = buf.len();
    let r = build_inner(buf, start, frame);
    if r.is_err() {
        buf.truncate(start);
    }
    r
}

fn build_inner(buf: &mut Vec<u8>, start: usize, frame: &Frame<'_>) -> Result<Built, BuildError> {
    let ipv6 = matches!(frame.ip, Ip::V6(_));
    // ---- link
    let pad = match &frame.link {
        Link::RawIp => false,
        Link::Ethernet(eth) => {
            buf.extend_from_slice(&eth.dst);
            buf.extend_from_slice(&eth.src);
            for tag in eth.vlans.as_slice() {
                buf.extend_from_slice(&tag.tpid.to_be_bytes());
                let tci = (u16::from(tag.pcp & 7) << 13) | (tag.vid & 0x0fff);
                buf.extend_from_slice(&tci.to_be_bytes());
            }
            let inner = if ipv6 {
                ethertype::IPV6
            } else {
                ethertype::IPV4
            };
            if eth.mpls.is_empty() {
                buf.extend_from_slice(&inner.to_be_bytes());
            } else {
                buf.extend_from_slice(&ethertype::MPLS.to_be_bytes());
                let labels = eth.mpls.as_slice();
                for (i, l) in labels.iter().enumerate() {
                    let bos = u32::from(i + 1 == labels.len());
                    let lse = ((l.label & 0xf_ffff) << 12)
                        | (u32::from(l.tc & 7) << 9)
                        | (bos << 8)
                        | u32::from(l.ttl);
                    buf.extend_from_slice(&lse.to_be_bytes());
                }
            }
            eth.pad
        }
    };
    // ---- sizes
    let protocol = frame.l4.protocol(ipv6);
    let l4_hdr_len = match &frame.l4 {
        L4::Tcp(t) => {
            let opt = t.options.as_bytes().len().div_ceil(4) * 4;
            if opt > 40 {
                return Err(BuildError::TcpOptionsTooLong);
            }
            20 + opt
        }
        L4::Udp(_) | L4::Echo(_) => 8,
        L4::Sctp(_) => 12,
        L4::None { .. } => 0,
    };
    let l4_len = l4_hdr_len
        .checked_add(frame.payload.len())
        .ok_or(BuildError::PacketTooLong)?;
    let l3_offset = buf.len() - start;
    // ---- IP header
    let (pseudo_sum, l4_start) = match &frame.ip {
        Ip::V4(h) => {
            let total16 = l4_len
                .checked_add(20)
                .and_then(|t| u16::try_from(t).ok())
                .ok_or(BuildError::PacketTooLong)?;
            let hs = buf.len();
            let flags_frag =
                (u16::from(h.df) << 14) | (u16::from(h.mf) << 13) | (h.frag_offset & 0x1fff);
            buf.extend_from_slice(&[0x45, h.tos]);
            buf.extend_from_slice(&total16.to_be_bytes());
            buf.extend_from_slice(&h.id.to_be_bytes());
            buf.extend_from_slice(&flags_frag.to_be_bytes());
            buf.extend_from_slice(&[h.ttl, protocol, 0, 0]);
            buf.extend_from_slice(&h.src.octets());
            buf.extend_from_slice(&h.dst.octets());
            let csum = fold_checksum(ones_sum(0, buf.get(hs..).unwrap_or(&[])));
            put_u16(buf, hs + 10, csum);
            let mut ps = ones_sum(0, &h.src.octets());
            ps = ones_sum(ps, &h.dst.octets());
            ps += u64::from(protocol) + l4_len as u64;
            (ps, buf.len())
        }
        Ip::V6(h) => {
            let exts = h.ext.as_slice();
            let ext_len = exts.len() * 8;
            let plen = ext_len
                .checked_add(l4_len)
                .and_then(|t| u16::try_from(t).ok())
                .ok_or(BuildError::PacketTooLong)?;
            let first_nh = match exts.first() {
                None => protocol,
                Some(Ipv6Ext::HopByHop) => proto::IPV6_HOPOPTS,
                Some(Ipv6Ext::Fragment { .. }) => proto::IPV6_FRAG,
            };
            let vtf = (6u32 << 28) | (u32::from(h.traffic_class) << 20) | (h.flow_label & 0xf_ffff);
            buf.extend_from_slice(&vtf.to_be_bytes());
            buf.extend_from_slice(&plen.to_be_bytes());
            buf.extend_from_slice(&[first_nh, h.hop_limit]);
            buf.extend_from_slice(&h.src.octets());
            buf.extend_from_slice(&h.dst.octets());
            for (i, ext) in exts.iter().enumerate() {
                let next = match exts.get(i + 1) {
                    None => protocol,
                    Some(Ipv6Ext::HopByHop) => proto::IPV6_HOPOPTS,
                    Some(Ipv6Ext::Fragment { .. }) => proto::IPV6_FRAG,
                };
                match ext {
                    Ipv6Ext::HopByHop => {
                        buf.extend_from_slice(&[next, 0]);
                        buf.extend_from_slice(&PAD_N_HOP_BY_HOP);
                    }
                    Ipv6Ext::Fragment { offset, more, id } => {
                        let off = ((offset & 0x1fff) << 3) | u16::from(*more);
                        buf.extend_from_slice(&[next, 0]);
                        buf.extend_from_slice(&off.to_be_bytes());
                        buf.extend_from_slice(&id.to_be_bytes());
                    }
                }
            }
            let mut ps = ones_sum(0, &h.src.octets());
            ps = ones_sum(ps, &h.dst.octets());
            ps += l4_len as u64 + u64::from(protocol);
            (ps, buf.len())
        }
    };
    // ---- transport header (checksum zero for now)
    match &frame.l4 {
        L4::Tcp(t) => {
            let opts = t.options.as_bytes();
            let opt_len = opts.len().div_ceil(4) * 4;
            let doff = ((20 + opt_len) / 4) as u16;
            let off_flags = (doff << 12) | (t.flags & 0x0fff);
            buf.extend_from_slice(&t.sport.to_be_bytes());
            buf.extend_from_slice(&t.dport.to_be_bytes());
            buf.extend_from_slice(&t.seq.to_be_bytes());
            buf.extend_from_slice(&t.ack.to_be_bytes());
            buf.extend_from_slice(&off_flags.to_be_bytes());
            buf.extend_from_slice(&t.window.to_be_bytes());
            buf.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            buf.extend_from_slice(opts);
            buf.resize(buf.len() + (opt_len - opts.len()), 0);
        }
        L4::Udp(u) => {
            let len = match u.length {
                Some(l) => l,
                None => u16::try_from(l4_len).map_err(|_| BuildError::PacketTooLong)?,
            };
            buf.extend_from_slice(&u.sport.to_be_bytes());
            buf.extend_from_slice(&u.dport.to_be_bytes());
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&[0, 0]);
        }
        L4::Echo(e) => {
            let ty = match (ipv6, e.reply) {
                (false, false) => 8,
                (false, true) => 0,
                (true, false) => 128,
                (true, true) => 129,
            };
            buf.extend_from_slice(&[ty, 0, 0, 0]);
            buf.extend_from_slice(&e.id.to_be_bytes());
            buf.extend_from_slice(&e.seq.to_be_bytes());
        }
        L4::Sctp(s) => {
            buf.extend_from_slice(&s.sport.to_be_bytes());
            buf.extend_from_slice(&s.dport.to_be_bytes());
            buf.extend_from_slice(&s.vtag.to_be_bytes());
            buf.extend_from_slice(&[0, 0, 0, 0]);
        }
        L4::None { .. } => {}
    }
    match frame.payload {
        Payload::Pattern(n) => append_pattern(buf, n),
        Payload::Bytes(b) => buf.extend_from_slice(b),
    }
    // ---- transport checksum over what was just written
    let seg = buf.get(l4_start..).unwrap_or(&[]);
    match &frame.l4 {
        L4::Tcp(_) => {
            let c = fold_checksum(ones_sum(pseudo_sum, seg));
            put_u16(buf, l4_start + 16, c);
        }
        L4::Udp(u) => {
            if u.checksum == UdpChecksum::Compute {
                let c = fold_checksum(ones_sum(pseudo_sum, seg));
                put_u16(buf, l4_start + 6, if c == 0 { 0xffff } else { c });
            }
        }
        L4::Echo(_) => {
            let acc = if ipv6 { pseudo_sum } else { 0 };
            let c = fold_checksum(ones_sum(acc, seg));
            put_u16(buf, l4_start + 2, c);
        }
        L4::Sctp(_) => {
            let c = crc32c(seg);
            if let Some(s) = buf.get_mut(l4_start + 8..l4_start + 12) {
                // RFC 9260 appendix A: the CRC is stored least-significant octet first.
                s.copy_from_slice(&c.to_le_bytes());
            }
        }
        L4::None { .. } => {}
    }
    let l3_len = buf.len() - start - l3_offset;
    if pad && buf.len() - start < 60 {
        buf.resize(start + 60, 0);
    }
    Ok(Built {
        l3_offset,
        l3_len,
        frame_len: buf.len() - start,
    })
}

/// Append an ARP request frame (Ethernet, padded to 60 octets): a frame that is not IP.
pub fn build_arp_request(buf: &mut Vec<u8>, src_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) {
    let start = buf.len();
    buf.extend_from_slice(&[0xff; 6]);
    buf.extend_from_slice(&src_mac);
    buf.extend_from_slice(&ethertype::ARP.to_be_bytes());
    // htype 1, ptype IPv4, hlen 6, plen 4, op 1 (request)
    buf.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    buf.extend_from_slice(&src_mac);
    buf.extend_from_slice(&sender.octets());
    buf.extend_from_slice(&[0; 6]);
    buf.extend_from_slice(&target.octets());
    buf.resize(start + 60, 0);
}

const fn crc32c_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC-32C (Castagnoli), as SCTP uses it.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r#gen::tcpopt::TcpOptions;

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let acc = ones_sum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(fold_checksum(acc), !0xddf2);
    }

    #[test]
    fn ipv4_header_checksum_matches_known_header() {
        // Well-known example header (Wikipedia "IPv4 header checksum"): checksum b861.
        let f = Frame {
            link: Link::RawIp,
            ip: Ip::V4(Ipv4 {
                src: Ipv4Addr::new(192, 168, 0, 1),
                dst: Ipv4Addr::new(192, 168, 0, 199),
                tos: 0,
                ttl: 64,
                id: 0,
                df: true,
                mf: false,
                frag_offset: 0,
            }),
            l4: L4::None { protocol: 17 },
            payload: Payload::Pattern(0x73 - 20),
        };
        let mut buf = Vec::new();
        let b = build(&mut buf, &f).unwrap();
        assert_eq!(
            &buf[..20],
            &[
                0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
            ]
        );
        assert_eq!(b.l3_len, 0x73);
        assert_eq!(b.l3_offset, 0);
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn ethernet_padding_is_not_l3() {
        let mut eth = Ethernet::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        eth.vlans.push(VlanTag::dot1ad(100)).unwrap();
        eth.vlans.push(VlanTag::dot1q(200)).unwrap();
        let f = Frame {
            link: Link::Ethernet(eth),
            ip: Ip::V4(Ipv4::new(
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
            )),
            l4: L4::Udp(Udp::new(1, 2)),
            payload: Payload::Pattern(2),
        };
        let mut buf = vec![0xee]; // appends after existing content
        let b = build(&mut buf, &f).unwrap();
        assert_eq!(b.l3_offset, 22);
        assert_eq!(b.l3_len, 30);
        assert_eq!(b.frame_len, 60);
        assert_eq!(buf.len(), 61);
        assert_eq!(
            &buf[13..23],
            &[0x88, 0xa8, 0, 100, 0x81, 0, 0, 200, 0x08, 0]
        );
    }

    #[test]
    fn mpls_bottom_of_stack_only_on_last() {
        let mut eth = Ethernet::new([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        eth.mpls.push(MplsLabel::new(100)).unwrap();
        eth.mpls.push(MplsLabel::new(16)).unwrap();
        let f = Frame {
            link: Link::Ethernet(eth),
            ip: Ip::V4(Ipv4::new(
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
            )),
            l4: L4::None { protocol: 253 },
            payload: Payload::Pattern(0),
        };
        let mut buf = Vec::new();
        build(&mut buf, &f).unwrap();
        // 100 << 12 = 0x64000, ttl 64; 16 << 12 = 0x10000 | S | ttl.
        assert_eq!(
            &buf[12..22],
            &[0x88, 0x47, 0x00, 0x06, 0x40, 0x40, 0x00, 0x01, 0x01, 0x40]
        );
    }

    #[test]
    fn oversized_requests_fail_and_restore_buffer() {
        let mut opts = TcpOptions::new();
        opts.raw(&[1; 40]).unwrap();
        let tcp = Tcp {
            sport: 1,
            dport: 2,
            seq: 0,
            ack: 0,
            flags: tcp_flags::SYN,
            window: 0,
            options: opts,
        };
        let mut f = Frame {
            link: Link::RawIp,
            ip: Ip::V4(Ipv4::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)),
            l4: L4::Tcp(tcp),
            payload: Payload::Pattern(65535),
        };
        let mut buf = vec![7u8; 3];
        assert_eq!(build(&mut buf, &f), Err(BuildError::PacketTooLong));
        assert_eq!(buf, vec![7u8; 3]);
        f.payload = Payload::Pattern(0);
        assert!(build(&mut buf, &f).is_ok());
        let mut s: Stack<VlanTag, 4> = Stack::new();
        for _ in 0..4 {
            s.push(VlanTag::dot1q(1)).unwrap();
        }
        assert_eq!(s.push(VlanTag::dot1q(1)), Err(BuildError::StackFull));
    }
}
