//! The dissector: one captured frame in, one [`PacketMeta`] out (or the one reason it
//! cannot be metered).
//!
//! Contract:
//! - Never panics and never allocates, whatever the frame. Every header is read through a
//!   [`crate::wire`] view whose `new_checked` validated it first.
//! - `Err(reason)` only when no IP flow can be formed: link header cut, not IP, MPLS payload
//!   not IP, IP header cut or lying about its own size (see [`DropReason`]). Each dropped
//!   frame has exactly one reason.
//! - Otherwise `Ok(())` with every [`PacketMeta`] field filled from this frame alone (the
//!   struct is reset first). Problems above the IP header are anomaly bits
//!   ([`anomaly`]), never drops: a transport header cut by the capture or by the IP length,
//!   or one that lies about its size, leaves the ports at 0 and the packet is metered as a
//!   port-less flow of its protocol. One exception: a TCP header whose fixed 20 octets
//!   were captured but whose options the snap length cut keeps its ports and fields and
//!   copies the options it has (anomaly BAD_TCP_HEADER), as headers-only captures are
//!   common and their flows must not lose their ports.
//! - IPv6: the flags of every extension header walked go to `ipv6_ext` (RFC 9740 bits);
//!   UNK is set when the transport after the chain is not one parsed here, or when the
//!   chain could not be walked to its end (then also IPV6_EXT_LIMIT).
//! - Layers followed: Ethernet II with up to 8 VLAN tags (802.1Q, 802.1ad, 0x9100), MPLS
//!   stacks up to 16 labels (payload guessed from its first nibble), Linux cooked v1/v2,
//!   BSD loopback (either byte order), raw IP; IPv4 with options and fragments; IPv6 with
//!   its extension-header chain; TCP, UDP, UDP-Lite, SCTP and DCCP ports; ICMP and ICMPv6
//!   type/code.
//! - Tunnels (IP-in-IP, GRE, VXLAN, ...) are NOT decapsulated: the outer header is what is
//!   metered, as a flow of protocol 4/41/47 or of UDP.
//! - `octets` is the IP header's own length when it fits in the wire length, else what
//!   the wire length allows (anomaly IP_LENGTH_MISMATCH); an IPv4 total length or IPv6
//!   payload length of 0 (TSO captures, jumbograms) takes the wire-derived length. So
//!   Ethernet padding and a kept FCS are never counted, and the snap length never matters.

use crate::packet::{DropReason, LinkType, PacketMeta, TCP_OPTIONS_MAX, addr_v4, anomaly, frag};
use crate::wire::dccp::DccpPacket;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::{self, Ipv4OptionIter, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet, ext_bits};
use crate::wire::mpls::{self, MplsPayload};
use crate::wire::sctp::SctpPacket;
use crate::wire::sll::{self, Sll2Header, SllHeader};
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp::{self, UdpPacket};
use crate::wire::{Error, chunk_at, ethertype, ip_proto, tail};

/// Address-family values of DLT_NULL / DLT_LOOP for IPv4 and IPv6 (Linux, the BSDs, Darwin).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

#[derive(Clone, Copy, PartialEq, Eq)]
enum IpVersion {
    V4,
    V6,
    /// Decide from the first nibble (raw IP links).
    Sniff,
}

/// Dissect one frame of link type `link` into `meta`.
///
/// `frame` is what was captured, `wire_len` the length the frame had on the wire (pcap
/// orig_len); a `wire_len` below the captured length is taken as the captured length.
#[inline]
pub fn dissect(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    ts_ns: u64,
    meta: &mut PacketMeta,
) -> Result<(), DropReason> {
    start(meta, ts_ns);
    if link == LinkType::Ethernet && common_frame(frame, wire_len, meta) {
        return Ok(());
    }
    dissect_layers(link, frame, wire_len, meta)
}

/// Ethernet II untagged or with one VLAN tag; an IPv4 header of 20 octets that is not a
/// fragment, or an IPv6 header followed directly by TCP or UDP, whose length is plausible;
/// and a TCP or UDP header captured whole: most frames on a mirror port. Decoded in one
/// step, to the same [`PacketMeta`] the layered path gives (a test compares the two on
/// every corpus frame and on mutations of them); any other frame returns false with
/// `meta` untouched.
///
/// The views are the [`crate::wire`] ones over fixed-size chunks of the frame at offsets
/// that are constants once the helpers are inlined, so their field offsets are the only
/// ones used and the compiler sees most reads are in bounds.
#[inline(always)]
fn common_frame(frame: &[u8], wire_len: u32, meta: &mut PacketMeta) -> bool {
    const IP: usize = ethernet::HEADER_LEN;
    let Some(eth) = frame.first_chunk::<{ ethernet::HEADER_LEN }>() else {
        return false;
    };
    match EthernetFrame::new_unchecked(&eth[..]).ethertype() {
        t if ethernet::is_tag(t) => common_tagged(frame, wire_len, meta),
        t => common_ip(t, frame, IP, wire_len, meta),
    }
}

/// The IP header the EtherType `et` announces at `ip_at`.
#[inline(always)]
fn common_ip(et: u16, frame: &[u8], ip_at: usize, wire_len: u32, meta: &mut PacketMeta) -> bool {
    match et {
        ethertype::IPV4 => common_ipv4(frame, ip_at, wire_len, meta),
        ethertype::IPV6 => common_ipv6(frame, ip_at, wire_len, meta),
        _ => false,
    }
}

/// [`common_frame`] after one VLAN tag (of any of the tag types the layered path follows);
/// a second tag is left to the layered path.
#[inline]
fn common_tagged(frame: &[u8], wire_len: u32, meta: &mut PacketMeta) -> bool {
    const IP: usize = ethernet::HEADER_LEN + ethernet::TAG_LEN;
    let Some(t) = chunk_at::<{ ethernet::TAG_LEN }>(frame, ethernet::HEADER_LEN) else {
        return false;
    };
    let tag = ethernet::VlanTag::new_unchecked(&t[..]);
    let taken = common_ip(tag.ethertype(), frame, IP, wire_len, meta);
    if taken {
        meta.vlan = tag.vid();
    }
    taken
}

/// IPv4 at `ip_at`: version 4, IHL 5 (`new_checked`'s conditions for a header without
/// options), not a fragment, a total length between the header and the wire.
#[inline(always)]
fn common_ipv4(frame: &[u8], ip_at: usize, wire_len: u32, meta: &mut PacketMeta) -> bool {
    let Some(ip_header) = chunk_at::<{ ipv4::MIN_HEADER_LEN }>(frame, ip_at) else {
        return false;
    };
    let ip = Ipv4Packet::new_unchecked(&ip_header[..]);
    if ip.version() != 4 || ip.header_len() != ipv4::MIN_HEADER_LEN {
        return false;
    }
    let total = usize::from(ip.total_len());
    // What `l3_length` accepts without an anomaly: a claim between the header and the wire.
    if ip.more_frags()
        || ip.frag_offset() != 0
        || total < ipv4::MIN_HEADER_LEN
        || total > wire_avail(frame, wire_len, ip_at)
    {
        return false;
    }
    let proto = ip.protocol();
    if !common_l4(frame, ip_at, ipv4::MIN_HEADER_LEN, total, proto, meta) {
        return false;
    }
    meta.ip_version = 4;
    meta.protocol = proto;
    meta.tos = ip.tos();
    meta.ttl = ip.ttl();
    meta.src = addr_v4(ip.src_addr());
    meta.dst = addr_v4(ip.dst_addr());
    meta.octets = total as u32;
    if ip.dont_frag() {
        meta.frag = frag::DONT_FRAGMENT;
    }
    if !ipv4::header_checksum_ok(ip_header) {
        meta.anomalies = anomaly::BAD_IPV4_OPTIONS;
    }
    true
}

/// IPv6 at `ip_at` with TCP or UDP as its next header (no extension header) and a payload
/// length that is not 0 (jumbograms, TSO captures) and fits the wire.
#[inline(always)]
fn common_ipv6(frame: &[u8], ip_at: usize, wire_len: u32, meta: &mut PacketMeta) -> bool {
    let Some(ip_header) = chunk_at::<{ ipv6::HEADER_LEN }>(frame, ip_at) else {
        return false;
    };
    let ip = Ipv6Packet::new_unchecked(&ip_header[..]);
    let proto = ip.next_header();
    if ip.version() != 6 || !matches!(proto, ip_proto::TCP | ip_proto::UDP) {
        return false;
    }
    let plen = usize::from(ip.payload_len());
    let total = ipv6::HEADER_LEN + plen;
    if plen == 0 || total > wire_avail(frame, wire_len, ip_at) {
        return false;
    }
    if !common_l4(frame, ip_at, ipv6::HEADER_LEN, total, proto, meta) {
        return false;
    }
    meta.ip_version = 6;
    meta.protocol = proto;
    meta.tos = ip.traffic_class();
    meta.ttl = ip.hop_limit();
    meta.flow_label = ip.flow_label();
    meta.src = ip.src_addr();
    meta.dst = ip.dst_addr();
    meta.octets = total as u32;
    true
}

/// What the wire carried from offset `at` on (the IP header); never less than what was
/// captured.
#[inline(always)]
fn wire_avail(frame: &[u8], wire_len: u32, at: usize) -> usize {
    (wire_len as usize).max(frame.len()).saturating_sub(at)
}

/// The TCP or UDP header after an IP header of `ip_len` octets at `ip_at` whose packet is
/// `total` octets: taken only when it was captured whole within the IP length; sets the
/// transport fields, else returns false having set nothing.
#[inline(always)]
fn common_l4(
    frame: &[u8],
    ip_at: usize,
    ip_len: usize,
    total: usize,
    proto: u8,
    meta: &mut PacketMeta,
) -> bool {
    let l4_at = ip_at + ip_len;
    // The transport bytes the IP length spans, and those of them captured.
    let l4_len = total - ip_len;
    let l4_cap = (frame.len().min(ip_at + total)).saturating_sub(l4_at);
    match proto {
        ip_proto::TCP => {
            let Some(t) = chunk_at::<{ tcp::MIN_HEADER_LEN }>(frame, l4_at) else {
                return false;
            };
            let t = TcpPacket::new_unchecked(&t[..]);
            let hl = t.header_len();
            // l4_cap <= l4_len, so a header within the capture is within the IP length.
            if hl < tcp::MIN_HEADER_LEN || hl > l4_cap {
                return false;
            }
            let Some(opts) = frame.get(l4_at + tcp::MIN_HEADER_LEN..l4_at + hl) else {
                return false;
            };
            meta.src_port = t.src_port();
            meta.dst_port = t.dst_port();
            meta.tcp_flags = t.flags();
            meta.tcp_seq = t.seq_number();
            meta.payload_len = (l4_len - hl) as u32;
            // hl <= 60, so the options fit the 40-octet array.
            set_tcp_options(meta, opts);
            true
        }
        ip_proto::UDP => {
            let Some(u) = chunk_at::<{ udp::HEADER_LEN }>(frame, l4_at) else {
                return false;
            };
            if l4_cap < udp::HEADER_LEN {
                return false;
            }
            let u = UdpPacket::new_unchecked(&u[..]);
            meta.src_port = u.src_port();
            meta.dst_port = u.dst_port();
            meta.payload_len = (l4_len - udp::HEADER_LEN) as u32;
            true
        }
        _ => false,
    }
}

/// [`dissect`] without its shortcut for common frames: every frame goes through the
/// layers one by one. The reference the shortcut must agree with; tests compare the two.
pub fn dissect_layered(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    ts_ns: u64,
    meta: &mut PacketMeta,
) -> Result<(), DropReason> {
    start(meta, ts_ns);
    dissect_layers(link, frame, wire_len, meta)
}

/// What both paths start from: nothing known but the time.
#[inline(always)]
fn start(meta: &mut PacketMeta, ts_ns: u64) {
    *meta = PacketMeta {
        ts_ns,
        ..PacketMeta::default()
    };
}

/// The general path: every link type, tag and label stack, IP version and transport.
#[inline]
fn dissect_layers(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    meta: &mut PacketMeta,
) -> Result<(), DropReason> {
    let (l3, version) = match link {
        LinkType::Ethernet => {
            let eth =
                EthernetFrame::new_checked(frame).map_err(|_| DropReason::TruncatedLinkHeader)?;
            l2_payload(meta, eth.ethertype(), frame, ethernet::HEADER_LEN)?
        }
        LinkType::RawIp => (0, IpVersion::Sniff),
        LinkType::Null { big_endian } => (4, null_family(frame, big_endian)?),
        LinkType::LinuxSll => {
            let h = SllHeader::new_checked(frame).map_err(|_| DropReason::TruncatedLinkHeader)?;
            l2_payload(meta, h.protocol(), frame, sll::HEADER_LEN)?
        }
        LinkType::LinuxSll2 => {
            let h = Sll2Header::new_checked(frame).map_err(|_| DropReason::TruncatedLinkHeader)?;
            l2_payload(meta, h.protocol(), frame, sll::HEADER_LEN2)?
        }
    };
    let ip = tail(frame, l3);
    let avail = wire_avail(frame, wire_len, l3);
    let nibble = ip.first().map_or(0, |b| b >> 4);
    match (version, nibble) {
        (IpVersion::V4 | IpVersion::Sniff, 4) => ipv4(meta, ip, avail),
        (IpVersion::V6 | IpVersion::Sniff, 6) => ipv6(meta, ip, avail),
        _ => Err(DropReason::TruncatedIpHeader),
    }
}

/// Follow tags and MPLS from an EtherType whose payload starts at `frame[off..]`; return
/// where the IP header starts.
#[inline]
fn l2_payload(
    meta: &mut PacketMeta,
    first: u16,
    frame: &[u8],
    off: usize,
) -> Result<(usize, IpVersion), DropReason> {
    let mut et = first;
    let mut off = off;
    if ethernet::is_tag(et) {
        let t = ethernet::walk_tags(et, tail(frame, off)).map_err(|e| match e {
            Error::Truncated => DropReason::TruncatedLinkHeader,
            Error::Malformed => DropReason::NotIp,
        })?;
        meta.vlan = t.outer_vid;
        meta.inner_vlan = t.inner_vid;
        et = t.ethertype;
        off += t.payload_offset;
    }
    match et {
        ethertype::IPV4 => Ok((off, IpVersion::V4)),
        ethertype::IPV6 => Ok((off, IpVersion::V6)),
        ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => {
            let s = mpls::walk_stack(tail(frame, off)).map_err(|e| match e {
                Error::Truncated => DropReason::TruncatedLinkHeader,
                Error::Malformed => DropReason::MplsNotIp,
            })?;
            meta.mpls_top = s.top;
            let v = match s.payload {
                MplsPayload::Ipv4 => IpVersion::V4,
                MplsPayload::Ipv6 => IpVersion::V6,
            };
            Ok((off + s.payload_offset, v))
        }
        _ => Err(DropReason::NotIp),
    }
}

/// The IP version a DLT_NULL/DLT_LOOP header announces. DLT_NULL is in the capturing
/// host's byte order, which the link type cannot always tell, so the other order is tried
/// when the announced one gives no known family.
#[inline]
fn null_family(frame: &[u8], big_endian: bool) -> Result<IpVersion, DropReason> {
    let Some(&b) = frame.first_chunk::<4>() else {
        return Err(DropReason::TruncatedLinkHeader);
    };
    let (first, second) = if big_endian {
        (u32::from_be_bytes(b), u32::from_le_bytes(b))
    } else {
        (u32::from_le_bytes(b), u32::from_be_bytes(b))
    };
    for af in [first, second] {
        if af == AF_INET {
            return Ok(IpVersion::V4);
        }
        if AF_INET6.contains(&af) {
            return Ok(IpVersion::V6);
        }
    }
    Err(DropReason::NotIp)
}

/// The layer-3 length to count: the header's own `claimed` length when it is plausible,
/// else what the wire carried.
#[inline]
fn l3_length(meta: &mut PacketMeta, claimed: usize, min: usize, wire_avail: usize) -> usize {
    if claimed == 0 {
        // TSO/GSO captures and jumbograms: the header does not say.
        wire_avail
    } else if claimed > wire_avail || claimed < min {
        meta.anomalies |= anomaly::IP_LENGTH_MISMATCH;
        wire_avail
    } else {
        claimed
    }
}

#[inline]
fn ipv4(meta: &mut PacketMeta, ip: &[u8], wire_avail: usize) -> Result<(), DropReason> {
    if ip.len() < ipv4::MIN_HEADER_LEN {
        return Err(DropReason::TruncatedIpHeader);
    }
    let p = Ipv4Packet::new_checked(ip).map_err(|_| DropReason::BadIpv4Header)?;
    let hl = p.header_len();
    meta.ip_version = 4;
    meta.tos = p.tos();
    meta.ttl = p.ttl();
    meta.protocol = p.protocol();
    meta.src = addr_v4(p.src_addr());
    meta.dst = addr_v4(p.dst_addr());
    let l3_len = l3_length(meta, usize::from(p.total_len()), hl, wire_avail);
    meta.octets = u32::try_from(l3_len).unwrap_or(u32::MAX);
    if hl > ipv4::MIN_HEADER_LEN {
        let mut opts = Ipv4OptionIter::new(p.options());
        for _ in &mut opts {}
        if opts.malformed() {
            meta.anomalies |= anomaly::BAD_IPV4_OPTIONS;
        }
    }
    if !p.verify_checksum() {
        meta.anomalies |= anomaly::BAD_IPV4_OPTIONS;
    }
    if p.dont_frag() {
        meta.frag |= frag::DONT_FRAGMENT;
    }
    if p.frag_offset() != 0 {
        meta.frag |= frag::IS_FRAGMENT;
        meta.anomalies |= anomaly::FRAGMENT_NO_L4;
        return Ok(());
    }
    if p.more_frags() {
        meta.frag |= frag::IS_FRAGMENT | frag::FIRST;
    }
    let l4 = ip.get(hl..l3_len.min(ip.len())).unwrap_or(&[]);
    transport(meta, meta.protocol, l4, l3_len.saturating_sub(hl));
    Ok(())
}

#[inline]
fn ipv6(meta: &mut PacketMeta, ip: &[u8], wire_avail: usize) -> Result<(), DropReason> {
    let p = Ipv6Packet::new_checked(ip).map_err(|_| DropReason::TruncatedIpHeader)?;
    meta.ip_version = 6;
    meta.tos = p.traffic_class();
    meta.ttl = p.hop_limit();
    meta.flow_label = p.flow_label();
    meta.src = p.src_addr();
    meta.dst = p.dst_addr();
    let nh = p.next_header();
    let plen = usize::from(p.payload_len());
    let claimed = if plen == 0 && nh == ip_proto::NO_NEXT {
        // Nothing follows: 40 octets, whatever padding the link added.
        ipv6::HEADER_LEN
    } else if plen == 0 {
        0
    } else {
        ipv6::HEADER_LEN + plen
    };
    let l3_len = l3_length(meta, claimed, ipv6::HEADER_LEN, wire_avail);
    meta.octets = u32::try_from(l3_len).unwrap_or(u32::MAX);
    let payload = ip
        .get(ipv6::HEADER_LEN..l3_len.min(ip.len()))
        .unwrap_or(&[]);
    let payload_len = l3_len.saturating_sub(ipv6::HEADER_LEN);
    if !ipv6::is_ext_header(nh) && nh != ip_proto::ESP && nh != ip_proto::NO_NEXT {
        // The common case: no extension header at all.
        meta.protocol = nh;
        if !transport(meta, nh, payload, payload_len) {
            meta.ipv6_ext |= ext_bits::UNK;
        }
        return Ok(());
    }
    let c = ipv6::walk_ext_headers(nh, payload);
    meta.protocol = c.protocol;
    meta.ipv6_ext = c.bits;
    if !c.complete {
        meta.anomalies |= anomaly::IPV6_EXT_LIMIT;
        meta.ipv6_ext |= ext_bits::UNK;
        return Ok(());
    }
    if let Some(f) = c.fragment {
        if f.offset != 0 {
            meta.frag |= frag::IS_FRAGMENT;
            meta.anomalies |= anomaly::FRAGMENT_NO_L4;
            return Ok(());
        }
        if f.more {
            meta.frag |= frag::IS_FRAGMENT | frag::FIRST;
        }
    }
    if c.protocol == ip_proto::ESP || c.protocol == ip_proto::NO_NEXT {
        return Ok(());
    }
    let l4 = tail(payload, c.offset);
    if !transport(meta, c.protocol, l4, payload_len.saturating_sub(c.offset)) {
        meta.ipv6_ext |= ext_bits::UNK;
    }
    Ok(())
}

/// Fill the transport fields. `l4` is what was captured of the transport header and
/// payload (already limited to the IP length), `l4_len` what the IP length says they span.
/// Returns false for a protocol that is not parsed.
#[inline]
fn transport(meta: &mut PacketMeta, proto: u8, l4: &[u8], l4_len: usize) -> bool {
    let header = match proto {
        ip_proto::UDP | ip_proto::UDPLITE | ip_proto::ICMP | ip_proto::ICMPV6 => 8,
        _ => 0,
    };
    meta.payload_len = u32::try_from(l4_len.saturating_sub(header)).unwrap_or(u32::MAX);
    match proto {
        ip_proto::TCP => tcp(meta, l4, l4_len),
        ip_proto::UDP | ip_proto::UDPLITE => match UdpPacket::new_checked(l4) {
            Ok(u) => set_ports(meta, u.src_port(), u.dst_port()),
            Err(_) => meta.anomalies |= anomaly::TRUNCATED_L4,
        },
        ip_proto::SCTP => match SctpPacket::new_checked(l4) {
            Ok(s) => set_ports(meta, s.src_port(), s.dst_port()),
            Err(_) => meta.anomalies |= anomaly::TRUNCATED_L4,
        },
        // A data offset below DCCP's own fixed header is as unusable as a cut one.
        ip_proto::DCCP => match DccpPacket::new_checked(l4) {
            Ok(d) => set_ports(meta, d.src_port(), d.dst_port()),
            Err(_) => meta.anomalies |= anomaly::TRUNCATED_L4,
        },
        ip_proto::ICMP | ip_proto::ICMPV6 => match IcmpPacket::new_checked(l4) {
            Ok(i) => {
                meta.icmp_type = i.msg_type();
                meta.icmp_code = i.msg_code();
                icmp_key(meta, proto);
            }
            Err(_) => meta.anomalies |= anomaly::TRUNCATED_L4,
        },
        _ => return false,
    }
    true
}

/// ICMP has no ports, so the flow key carries the message instead (as yaf does): each
/// kind of message between two hosts is its own flow, and a reply pairs with its request
/// in one bidirectional entry. A request or any other message keys on destination "port"
/// type << 8 | code; a reply on source "port" = its request's type << 8. Records show
/// ICMP without ports and with icmpTypeCode per direction.
#[inline]
fn icmp_key(meta: &mut PacketMeta, proto: u8) {
    let request_of_reply = match (proto, meta.icmp_type) {
        (ip_proto::ICMP, 0) => Some(8u8), // echo
        (ip_proto::ICMP, 14) => Some(13), // timestamp
        (ip_proto::ICMP, 16) => Some(15), // information
        (ip_proto::ICMP, 18) => Some(17), // address mask
        (ip_proto::ICMPV6, 129) => Some(128),
        _ => None,
    };
    match request_of_reply {
        Some(req) => set_ports(meta, u16::from(req) << 8, 0),
        None => set_ports(
            meta,
            0,
            u16::from(meta.icmp_type) << 8 | u16::from(meta.icmp_code),
        ),
    }
}

#[inline]
fn set_ports(meta: &mut PacketMeta, src: u16, dst: u16) {
    meta.src_port = src;
    meta.dst_port = dst;
}

#[inline]
fn tcp(meta: &mut PacketMeta, l4: &[u8], l4_len: usize) {
    let t = match TcpPacket::new_fixed(l4) {
        Ok(t) => t,
        Err(Error::Truncated) => {
            meta.anomalies |= anomaly::TRUNCATED_L4;
            return;
        }
        Err(Error::Malformed) => {
            meta.anomalies |= anomaly::BAD_TCP_HEADER;
            return;
        }
    };
    let hl = t.header_len();
    if hl > l4_len {
        // The header claims more than the IP packet holds: nothing in it can be trusted.
        meta.anomalies |= anomaly::BAD_TCP_HEADER;
        return;
    }
    if hl > l4.len() {
        // The capture cut the options; the fixed header is whole and kept.
        meta.anomalies |= anomaly::BAD_TCP_HEADER;
    }
    meta.src_port = t.src_port();
    meta.dst_port = t.dst_port();
    meta.tcp_flags = t.flags();
    meta.tcp_seq = t.seq_number();
    meta.payload_len = u32::try_from(l4_len - hl).unwrap_or(u32::MAX);
    let opts = t.options();
    set_tcp_options(meta, opts.get(..TCP_OPTIONS_MAX).unwrap_or(opts));
}

/// A segment's options into `meta` (`opts` fits [`TCP_OPTIONS_MAX`]; longer is ignored).
/// NOP-NOP-timestamp, nearly every segment's whole block, is one fixed-size move: a copy
/// whose length is known only at run time is a call to `memcpy`, on every TCP packet.
#[inline(always)]
fn set_tcp_options(meta: &mut PacketMeta, opts: &[u8]) {
    const TS: usize = tcp::NOP_NOP_TIMESTAMP_LEN;
    if let (Ok(src), Some(dst)) = (
        <&[u8; TS]>::try_from(opts),
        meta.tcp_options.first_chunk_mut::<TS>(),
    ) {
        *dst = *src;
        meta.tcp_options_len = TS as u8;
    } else if let Some(dst) = meta.tcp_options.get_mut(..opts.len()) {
        dst.copy_from_slice(opts);
        meta.tcp_options_len = opts.len() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{addr_to_v4, addr_to_v6, tcp_flags};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn csum(h: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in h.chunks(2) {
            s += (u32::from(c[0]) << 8) | u32::from(*c.get(1).unwrap_or(&0));
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// IPv4 header 10.0.0.1 -> 10.0.0.2 with `opts`, valid checksum.
    fn v4(proto: u8, total_len: u16, flg_off: u16, opts: &[u8]) -> Vec<u8> {
        let ihl = 5 + opts.len() / 4;
        let mut h = vec![0x40 | ihl as u8, 0x2e];
        h.extend_from_slice(&total_len.to_be_bytes());
        h.extend_from_slice(&[0xab, 0xcd]);
        h.extend_from_slice(&flg_off.to_be_bytes());
        h.extend_from_slice(&[63, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(opts);
        let c = csum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    fn v6(plen: u16, nh: u8) -> Vec<u8> {
        let mut h = vec![0x60, 0x30, 0x00, 0x07];
        h.extend_from_slice(&plen.to_be_bytes());
        h.extend_from_slice(&[nh, 255]);
        h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        h
    }

    /// TCP 1234 -> 80 with `flags` and `opts` (a multiple of 4).
    fn tcp_hdr(flags: u16, opts: &[u8]) -> Vec<u8> {
        let doff = (5 + opts.len() / 4) as u16;
        let mut t = vec![0x04, 0xd2, 0x00, 0x50, 0, 0, 0x30, 0x39, 0, 0, 0x01, 0x00];
        t.extend_from_slice(&((doff << 12) | flags).to_be_bytes());
        t.extend_from_slice(&[0x72, 0x10, 0, 0, 0, 0]);
        t.extend_from_slice(opts);
        t
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn run(link: LinkType, frame: &[u8]) -> (Result<(), DropReason>, PacketMeta) {
        run_wire(link, frame, frame.len() as u32)
    }

    fn run_wire(
        link: LinkType,
        frame: &[u8],
        wire_len: u32,
    ) -> (Result<(), DropReason>, PacketMeta) {
        let mut m = PacketMeta::default();
        let r = dissect(link, frame, wire_len, 77, &mut m);
        (r, m)
    }

    const MSS_WS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 3, 3, 7];

    fn syn_v4() -> Vec<u8> {
        let t = tcp_hdr(tcp_flags::SYN | tcp_flags::ECE | tcp_flags::CWR, &MSS_WS);
        let mut ip = v4(6, (20 + t.len()) as u16, 0x4000, &[]);
        ip.extend_from_slice(&t);
        ip
    }

    #[test]
    fn ethernet_ipv4_tcp_syn() {
        let f = eth(0x0800, &syn_v4());
        let (r, m) = run(LinkType::Ethernet, &f);
        assert_eq!(r, Ok(()));
        assert_eq!(m.ts_ns, 77);
        assert_eq!(m.ip_version, 4);
        assert_eq!(addr_to_v4(&m.src), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(addr_to_v4(&m.dst), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(m.src[..12], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(m.protocol, 6);
        assert_eq!(m.tos, 0x2e);
        assert_eq!(m.ttl, 63);
        assert_eq!(m.octets, 48);
        assert_eq!((m.src_port, m.dst_port), (1234, 80));
        assert_eq!(m.tcp_flags, 0x0c2);
        assert_eq!(m.tcp_seq, 12345);
        assert_eq!(m.payload_len, 0);
        assert_eq!(m.tcp_options(), &MSS_WS);
        assert_eq!(m.frag, frag::DONT_FRAGMENT);
        assert_eq!(m.anomalies, 0);
        assert_eq!((m.vlan, m.inner_vlan, m.mpls_top), (0, 0, 0));
    }

    #[test]
    fn options_of_every_length_are_kept_on_both_paths() {
        // NOP-NOP-timestamp takes the fixed-size copy; none, one NOP fewer, a SACK block
        // more and the most a header holds take the other.
        let ts = [1, 1, 8, 10, 0, 0, 1, 2, 3, 4, 5, 6];
        let sack = [1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 12];
        let cases: [Vec<u8>; 5] = [
            ts.to_vec(),
            Vec::new(),
            [&ts[..], &sack[..]].concat(),
            [&ts[1..], &[0; 5][..]].concat(),
            [&sack[..], &ts[..], &sack[..], &[1, 1, 1, 0]].concat(),
        ];
        for opts in &cases {
            let t = tcp_hdr(tcp_flags::ACK, opts);
            let mut ip = v4(6, (20 + t.len()) as u16, 0x4000, &[]);
            ip.extend_from_slice(&t);
            let f = eth(0x0800, &ip);
            let (r, m) = run(LinkType::Ethernet, &f);
            assert_eq!(r, Ok(()));
            assert_eq!(
                m.tcp_options(),
                &opts[..],
                "shortcut, {} octets",
                opts.len()
            );
            assert!(m.tcp_options[opts.len()..].iter().all(|&b| b == 0));
            let mut l = PacketMeta::default();
            assert_eq!(
                dissect_layered(LinkType::Ethernet, &f, f.len() as u32, 77, &mut l),
                Ok(())
            );
            assert_eq!(l.tcp_options(), &opts[..], "layered, {} octets", opts.len());
        }
    }

    #[test]
    fn tcp_flags_exclude_data_offset_and_keep_reserved_bits() {
        // AE and the three reserved bits, plus FIN|ACK.
        let t = tcp_hdr(0xe00 | tcp_flags::AE | tcp_flags::FIN | tcp_flags::ACK, &[]);
        let mut ip = v4(6, 40, 0, &[]);
        ip.extend_from_slice(&t);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.tcp_flags, 0xf11);
    }

    #[test]
    fn padding_is_not_counted_and_snap_length_does_not_matter() {
        // A 40-octet TCP ACK in a 60-octet Ethernet frame; captured with 54 octets.
        let t = tcp_hdr(tcp_flags::ACK, &[]);
        let mut ip = v4(6, 40, 0, &[]);
        ip.extend_from_slice(&t);
        let mut f = eth(0x0800, &ip);
        f.extend_from_slice(&[0; 6]);
        let (r, m) = run(LinkType::Ethernet, &f);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 40);
        assert_eq!(m.anomalies, 0);
        let (r, m2) = run_wire(LinkType::Ethernet, &f[..54], 60);
        assert_eq!(r, Ok(()));
        assert_eq!(m2.octets, 40);
        assert_eq!(m2.src_port, 1234);
    }

    #[test]
    fn payload_length_from_ip_not_capture() {
        // 1000 payload octets on the wire, 96 octets captured.
        let t = tcp_hdr(tcp_flags::PSH | tcp_flags::ACK, &[]);
        let mut ip = v4(6, 1040, 0, &[]);
        ip.extend_from_slice(&t);
        ip.extend_from_slice(&[0x55; 1000]);
        let f = eth(0x0800, &ip);
        let (r, m) = run_wire(LinkType::Ethernet, &f[..96], f.len() as u32);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 1040);
        assert_eq!(m.payload_len, 1000);
        assert_eq!(m.payload_len, 1000);
        assert_eq!(m.anomalies, 0);
    }

    #[test]
    fn ip_length_beyond_wire_is_clamped_and_flagged() {
        let t = tcp_hdr(tcp_flags::ACK, &[]);
        let mut ip = v4(6, 1500, 0, &[]);
        ip.extend_from_slice(&t);
        ip.extend_from_slice(&[0; 10]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 50);
        assert_eq!(m.payload_len, 10);
        assert_eq!(m.anomalies, anomaly::IP_LENGTH_MISMATCH);
        // Total length smaller than the header itself.
        let mut ip = v4(6, 12, 0, &[]);
        ip.extend_from_slice(&t);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 40);
        assert_ne!(m.anomalies & anomaly::IP_LENGTH_MISMATCH, 0);
    }

    #[test]
    fn zero_total_length_uses_the_wire() {
        let t = tcp_hdr(tcp_flags::ACK, &[]);
        let mut ip = v4(6, 0, 0, &[]);
        ip.extend_from_slice(&t);
        let (r, m) = run_wire(LinkType::RawIp, &ip, 9040);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 9040);
        assert_eq!(m.payload_len, 9000);
        assert_eq!(m.anomalies, 0);
    }

    #[test]
    fn wire_len_below_capture_is_raised() {
        let ip = syn_v4();
        let (r, m) = run_wire(LinkType::RawIp, &ip, 10);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 48);
        assert_eq!(m.anomalies, 0);
    }

    #[test]
    fn vlan_qinq_and_mpls() {
        let ip = syn_v4();
        // 802.1Q VID 10.
        let mut p = vec![0x20, 0x0a, 0x08, 0x00];
        p.extend_from_slice(&ip);
        let (r, m) = run(LinkType::Ethernet, &eth(0x8100, &p));
        assert_eq!(r, Ok(()));
        assert_eq!((m.vlan, m.inner_vlan), (10, 0));
        assert_eq!(m.src_port, 1234);
        // 802.1ad S-tag 100, C-tag 200, then MPLS 2 labels, then IPv4.
        let mut p = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x88, 0x47];
        p.extend_from_slice(&((1000u32 << 12) | (3 << 9) | 64).to_be_bytes());
        p.extend_from_slice(&((2000u32 << 12) | (1 << 8) | 64).to_be_bytes());
        p.extend_from_slice(&ip);
        let (r, m) = run(LinkType::Ethernet, &eth(0x88a8, &p));
        assert_eq!(r, Ok(()));
        assert_eq!((m.vlan, m.inner_vlan), (100, 200));
        assert_eq!(m.mpls_top, (1000 << 4) | (3 << 1));
        assert_eq!(m.octets, 48);
        assert_eq!(m.dst_port, 80);
    }

    #[test]
    fn mpls_ipv6_payload() {
        let mut ip = v6(8, 17);
        ip.extend_from_slice(&[0x00, 0x35, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        let mut p = ((16u32 << 12) | (1 << 8) | 1).to_be_bytes().to_vec();
        p.extend_from_slice(&ip);
        let (r, m) = run(LinkType::Ethernet, &eth(0x8847, &p));
        assert_eq!(r, Ok(()));
        assert_eq!(m.ip_version, 6);
        assert_eq!((m.src_port, m.dst_port), (53, 53));
        assert_eq!(m.mpls_top, (16 << 4) | 1);
    }

    #[test]
    fn drop_reasons() {
        use DropReason::*;
        let ip = syn_v4();
        // Link header cut.
        assert_eq!(
            run(LinkType::Ethernet, &[0; 13]).0,
            Err(TruncatedLinkHeader)
        );
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x8100, &[0, 1])).0,
            Err(TruncatedLinkHeader)
        );
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x8847, &[0, 0, 1])).0,
            Err(TruncatedLinkHeader)
        );
        assert_eq!(
            run(LinkType::LinuxSll, &[0; 15]).0,
            Err(TruncatedLinkHeader)
        );
        assert_eq!(
            run(LinkType::LinuxSll2, &[0; 19]).0,
            Err(TruncatedLinkHeader)
        );
        assert_eq!(
            run(LinkType::Null { big_endian: false }, &[2, 0, 0]).0,
            Err(TruncatedLinkHeader)
        );
        // Not IP.
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x0806, &[0; 28])).0,
            Err(NotIp)
        );
        let mut deep = Vec::new();
        for _ in 0..9 {
            deep.extend_from_slice(&[0, 1, 0x81, 0x00]);
        }
        deep.extend_from_slice(&ip);
        assert_eq!(run(LinkType::Ethernet, &eth(0x8100, &deep)).0, Err(NotIp));
        assert_eq!(
            run(LinkType::Null { big_endian: false }, &[7, 0, 0, 0, 0x45]).0,
            Err(NotIp)
        );
        // MPLS not IP: control word after the stack.
        let mut p = ((16u32 << 12) | (1 << 8)).to_be_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(run(LinkType::Ethernet, &eth(0x8847, &p)).0, Err(MplsNotIp));
        // IP header cut or wrong version.
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x0800, &ip[..19])).0,
            Err(TruncatedIpHeader)
        );
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x0800, &v6(0, 59))).0,
            Err(TruncatedIpHeader)
        );
        assert_eq!(run(LinkType::RawIp, &[]).0, Err(TruncatedIpHeader));
        assert_eq!(run(LinkType::RawIp, &[0x50; 40]).0, Err(TruncatedIpHeader));
        assert_eq!(
            run(LinkType::Ethernet, &eth(0x86dd, &v6(0, 59)[..39])).0,
            Err(TruncatedIpHeader)
        );
        // IPv4 lying about its header length.
        let mut bad = ip.clone();
        bad[0] = 0x44;
        assert_eq!(run(LinkType::RawIp, &bad).0, Err(BadIpv4Header));
        bad[0] = 0x4f; // 60 octets, 48 present
        assert_eq!(run(LinkType::RawIp, &bad).0, Err(BadIpv4Header));
    }

    #[test]
    fn meta_is_reset_between_packets() {
        let mut m = PacketMeta::default();
        let f = eth(0x8100, &{
            let mut p = vec![0x00, 0x05, 0x08, 0x00];
            p.extend_from_slice(&syn_v4());
            p
        });
        assert_eq!(dissect(LinkType::Ethernet, &f, 100, 1, &mut m), Ok(()));
        assert_eq!(m.vlan, 5);
        let mut udp = v4(17, 28, 0, &[]);
        udp.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        assert_eq!(dissect(LinkType::RawIp, &udp, 28, 2, &mut m), Ok(()));
        assert_eq!(m.vlan, 0);
        assert_eq!(m.tcp_options_len, 0);
        assert_eq!(m.tcp_flags, 0);
        assert_eq!(m.frag, 0);
        assert_eq!(m.ts_ns, 2);
        assert_eq!((m.src_port, m.dst_port, m.protocol), (1, 2, 17));
        // A drop leaves no stale fields either.
        assert!(dissect(LinkType::RawIp, &[0x45], 1, 3, &mut m).is_err());
        assert_eq!(
            (m.ts_ns, m.src_port, m.protocol, m.ip_version),
            (3, 0, 0, 0)
        );
    }

    #[test]
    fn ipv4_fragments() {
        // First fragment: MF, offset 0, carries UDP ports.
        let mut first = v4(17, 36, 0x2000, &[]);
        first.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0x05, 0xdc, 0, 0]);
        first.extend_from_slice(&[0; 8]);
        let (r, m) = run(LinkType::RawIp, &first);
        assert_eq!(r, Ok(()));
        assert_eq!(m.frag, frag::IS_FRAGMENT | frag::FIRST);
        assert_eq!((m.src_port, m.dst_port), (5000, 5001));
        assert_eq!(m.anomalies, 0);
        // Later fragment: offset 2 (16 octets); what follows looks like ports but is not.
        let mut later = v4(17, 36, 2, &[]);
        later.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 0, 0, 0]);
        later.extend_from_slice(&[0; 8]);
        let (r, m) = run(LinkType::RawIp, &later);
        assert_eq!(r, Ok(()));
        assert_eq!(m.frag, frag::IS_FRAGMENT);
        assert_eq!((m.src_port, m.dst_port), (0, 0));
        assert_eq!(m.protocol, 17);
        assert_eq!(m.octets, 36);
        assert_eq!(m.anomalies, anomaly::FRAGMENT_NO_L4);
    }

    #[test]
    fn ipv4_options_and_checksum() {
        // Router Alert + EOL padding: valid.
        let mut ip = v4(17, 32, 0, &[0x94, 0x04, 0x00, 0x00]);
        ip.extend_from_slice(&[0, 7, 0, 9, 0, 8, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.anomalies, 0);
        assert_eq!((m.src_port, m.dst_port), (7, 9));
        // Option length running past the header.
        let mut ip = v4(17, 32, 0, &[0x94, 0x09, 0x00, 0x00]);
        ip.extend_from_slice(&[0, 7, 0, 9, 0, 8, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.anomalies, anomaly::BAD_IPV4_OPTIONS);
        assert_eq!(m.src_port, 7);
        // Wrong checksum.
        let mut ip = syn_v4();
        ip[11] ^= 0xff;
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.anomalies, anomaly::BAD_IPV4_OPTIONS);
    }

    #[test]
    fn tcp_truncated_and_lying() {
        // Fixed header cut by the capture: port-less.
        let ip = syn_v4();
        let (r, m) = run_wire(LinkType::RawIp, &ip[..30], 48);
        assert_eq!(r, Ok(()));
        assert_eq!((m.src_port, m.dst_port, m.tcp_flags), (0, 0, 0));
        assert_eq!(m.protocol, 6);
        assert_eq!(m.octets, 48);
        assert_eq!(m.anomalies, anomaly::TRUNCATED_L4);
        // Options cut by the capture: ports and flags kept, options partial.
        let (r, m) = run_wire(LinkType::RawIp, &ip[..42], 48);
        assert_eq!(r, Ok(()));
        assert_eq!((m.src_port, m.dst_port), (1234, 80));
        assert_eq!(m.tcp_flags, 0x0c2);
        assert_eq!(m.tcp_options(), &MSS_WS[..2]);
        assert_eq!(m.anomalies, anomaly::BAD_TCP_HEADER);
        // Data offset 4.
        let mut bad = ip.clone();
        bad[32] = 0x40;
        let (r, m) = run(LinkType::RawIp, &bad);
        assert_eq!(r, Ok(()));
        assert_eq!(m.src_port, 0);
        assert_eq!(m.anomalies, anomaly::BAD_TCP_HEADER);
        // Data offset beyond the IP length (lying): port-less.
        let mut bad = ip.clone();
        bad[32] = 0xf0;
        let (r, m) = run(LinkType::RawIp, &bad);
        assert_eq!(r, Ok(()));
        assert_eq!((m.src_port, m.tcp_options_len), (0, 0));
        assert_eq!(m.anomalies, anomaly::BAD_TCP_HEADER);
        // IP length too short for the TCP header although the capture has it all.
        let mut short = ip.clone();
        short[2..4].copy_from_slice(&30u16.to_be_bytes());
        let c = csum(&{
            let mut h = short[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        short[10..12].copy_from_slice(&c.to_be_bytes());
        let (r, m) = run(LinkType::RawIp, &short);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 30);
        assert_eq!(m.src_port, 0);
        assert_eq!(m.anomalies, anomaly::TRUNCATED_L4);
    }

    #[test]
    fn full_option_space_is_copied() {
        let opts = [1u8; 40];
        let t = tcp_hdr(tcp_flags::SYN, &opts);
        let mut ip = v4(6, 80, 0, &[]);
        ip.extend_from_slice(&t);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.tcp_options_len, 40);
        assert_eq!(m.tcp_options(), &opts);
    }

    #[test]
    fn udp_sctp_dccp_udplite_ports() {
        for (proto, hdr, ports) in [
            (
                17u8,
                vec![0, 53, 0xc0, 0x00, 0, 8, 0, 0],
                (53u16, 0xc000u16),
            ),
            (136, vec![0, 1, 0, 2, 0, 0, 0, 0], (1, 2)),
            (
                132,
                vec![0x0b, 0x59, 0x0b, 0x5a, 0, 0, 0, 1, 0, 0, 0, 0],
                (2905, 2906),
            ),
            (
                33,
                vec![0x13, 0x89, 0x13, 0x8a, 3, 0, 0, 0, 4, 0, 0, 0],
                (5001, 5002),
            ),
        ] {
            let mut ip = v4(proto, (20 + hdr.len()) as u16, 0, &[]);
            ip.extend_from_slice(&hdr);
            let (r, m) = run(LinkType::RawIp, &ip);
            assert_eq!(r, Ok(()), "proto {proto}");
            assert_eq!((m.src_port, m.dst_port), ports, "proto {proto}");
            assert_eq!(m.anomalies, 0, "proto {proto}");
            // Cut one octet short: port-less with TRUNCATED_L4.
            let (r, m) = run_wire(LinkType::RawIp, &ip[..ip.len() - 1], ip.len() as u32);
            assert_eq!(r, Ok(()));
            assert_eq!((m.src_port, m.dst_port), (0, 0), "proto {proto}");
            assert_eq!(m.anomalies, anomaly::TRUNCATED_L4, "proto {proto}");
        }
    }

    #[test]
    fn dccp_lying_data_offset_is_port_less() {
        let mut ip = v4(33, 32, 0, &[]);
        ip.extend_from_slice(&[0x13, 0x89, 0x13, 0x8a, 2, 0, 0, 0, 4, 0, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!((m.src_port, m.dst_port), (0, 0));
        assert_eq!(m.anomalies, anomaly::TRUNCATED_L4);
    }

    #[test]
    fn icmp_and_other_protocols() {
        let mut ip = v4(1, 28, 0, &[]);
        ip.extend_from_slice(&[11, 0, 0xf4, 0xff, 0, 0, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!((m.icmp_type, m.icmp_code), (11, 0));
        // Keyed by its message: time exceeded, code 0.
        assert_eq!((m.src_port, m.dst_port), (0, 11 << 8));
        assert_eq!(m.payload_len, 0, "the ICMP header is not payload");
        // GRE: metered as the outer header, port-less, no anomaly.
        let mut ip = v4(47, 28, 0, &[]);
        ip.extend_from_slice(&[0, 0, 0x08, 0x00, 0x45, 0, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.protocol, 47);
        assert_eq!((m.src_port, m.dst_port, m.anomalies), (0, 0, 0));
        assert_eq!(m.payload_len, 8, "all of an unparsed protocol is payload");
    }

    #[test]
    fn ipv6_udp_and_icmpv6() {
        let mut ip = v6(8, 17);
        ip.extend_from_slice(&[0x02, 0x22, 0x02, 0x23, 0, 8, 0, 0]);
        let f = eth(0x86dd, &ip);
        let (r, m) = run(LinkType::Ethernet, &f);
        assert_eq!(r, Ok(()));
        assert_eq!(m.ip_version, 6);
        assert_eq!(
            addr_to_v6(&m.src),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
        );
        assert_eq!(m.tos, 0x03);
        assert_eq!(m.flow_label, 0x7);
        assert_eq!(m.ttl, 255);
        assert_eq!(m.octets, 48);
        assert_eq!((m.src_port, m.dst_port), (546, 547));
        assert_eq!((m.ipv6_ext, m.anomalies), (0, 0));
        assert_eq!(m.payload_len, 0);
        let mut ip = v6(8, 58);
        ip.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!((m.icmp_type, m.icmp_code, m.protocol), (135, 0, 58));
        assert_eq!((m.src_port, m.dst_port), (0, 135 << 8));
        // An echo reply keys on its request's type, so both share one flow entry.
        let mut ip = v6(8, 58);
        ip.extend_from_slice(&[129, 0, 0, 0, 0, 0, 0, 0]);
        let (_, m) = run(LinkType::RawIp, &ip);
        assert_eq!((m.src_port, m.dst_port), (128 << 8, 0));
    }

    #[test]
    fn ipv6_extension_chain_to_tcp() {
        let t = tcp_hdr(tcp_flags::SYN, &MSS_WS);
        let mut ip = v6((16 + t.len()) as u16, 0);
        ip.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]); // HBH -> DST
        ip.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]); // DST -> TCP
        ip.extend_from_slice(&t);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.protocol, 6);
        assert_eq!(m.ipv6_ext, ext_bits::HOP | ext_bits::DST);
        assert_eq!((m.src_port, m.dst_port), (1234, 80));
        assert_eq!(m.payload_len, 0);
        assert_eq!(m.tcp_options(), &MSS_WS);
        assert_eq!(m.octets, 40 + 16 + 28);
    }

    #[test]
    fn ipv6_fragments() {
        // First fragment (offset 0, M) of UDP.
        let mut ip = v6(24, 44);
        ip.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 9]);
        ip.extend_from_slice(&[
            0x04, 0x00, 0x04, 0x01, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.frag, frag::IS_FRAGMENT | frag::FIRST);
        assert_eq!(m.ipv6_ext, ext_bits::FRA0);
        assert_eq!((m.src_port, m.dst_port, m.protocol), (1024, 1025, 17));
        // Non-first fragment.
        let mut ip = v6(24, 44);
        ip.extend_from_slice(&[17, 0, 0x00, 0x10, 0, 0, 0, 9]);
        ip.extend_from_slice(&[
            0x04, 0x00, 0x04, 0x01, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.frag, frag::IS_FRAGMENT);
        assert_eq!(m.ipv6_ext, ext_bits::FRA1);
        assert_eq!((m.src_port, m.dst_port, m.protocol), (0, 0, 17));
        assert_eq!(m.anomalies, anomaly::FRAGMENT_NO_L4);
    }

    #[test]
    fn ipv6_esp_no_next_and_unknown() {
        let mut ip = v6(16, 50);
        ip.extend_from_slice(&[0; 16]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(
            (m.protocol, m.ipv6_ext, m.anomalies),
            (50, ext_bits::ESP, 0)
        );
        // Empty payload, No Next Header, in a padded Ethernet frame: 40 octets.
        let mut f = eth(0x86dd, &v6(0, 59));
        f.extend_from_slice(&[0; 6]);
        let (r, m) = run(LinkType::Ethernet, &f);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 40);
        assert_eq!((m.protocol, m.ipv6_ext), (59, ext_bits::NO_NEXT));
        // OSPF (89): a transport we do not parse.
        let mut ip = v6(4, 89);
        ip.extend_from_slice(&[2, 1, 0, 4]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(
            (m.protocol, m.ipv6_ext, m.anomalies),
            (89, ext_bits::UNK, 0)
        );
    }

    #[test]
    fn ipv6_chain_truncated_or_too_long() {
        // HBH claims 16 octets; the payload length allows 8.
        let mut ip = v6(8, 0);
        ip.extend_from_slice(&[6, 1, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&[0; 8]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 48);
        assert_eq!(m.src_port, 0);
        assert_eq!(m.anomalies, anomaly::IPV6_EXT_LIMIT);
        assert_eq!(m.ipv6_ext & ext_bits::UNK, ext_bits::UNK);
        // 17 destination headers.
        let mut ip = v6(18 * 8, 60);
        for _ in 0..17 {
            ip.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        ip.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.anomalies, anomaly::IPV6_EXT_LIMIT);
        assert_eq!(m.protocol, 60);
    }

    #[test]
    fn ipv6_zero_payload_length_uses_wire() {
        let t = tcp_hdr(tcp_flags::ACK, &[]);
        let mut ip = v6(0, 6);
        ip.extend_from_slice(&t);
        let (r, m) = run_wire(LinkType::RawIp, &ip, 40 + 20 + 64000);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 64060);
        assert_eq!(m.payload_len, 64000);
        assert_eq!(m.anomalies, 0);
        // Payload length beyond the wire.
        let mut ip = v6(100, 6);
        ip.extend_from_slice(&t);
        let (r, m) = run(LinkType::RawIp, &ip);
        assert_eq!(r, Ok(()));
        assert_eq!(m.octets, 60);
        assert_eq!(m.anomalies, anomaly::IP_LENGTH_MISMATCH);
        assert_eq!(m.src_port, 1234);
    }

    #[test]
    fn linux_cooked_and_loopback() {
        let ip = syn_v4();
        let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        let (r, m) = run(LinkType::LinuxSll, &sll);
        assert_eq!(r, Ok(()));
        assert_eq!((m.src_port, m.octets), (1234, 48));
        // SLL with a re-inserted VLAN tag.
        let mut sllv = vec![
            0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x81, 0x00, 0, 42, 8, 0,
        ];
        sllv.extend_from_slice(&ip);
        let (r, m) = run(LinkType::LinuxSll, &sllv);
        assert_eq!(r, Ok(()));
        assert_eq!(m.vlan, 42);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        let (r, m) = run(LinkType::LinuxSll2, &sll2);
        assert_eq!(r, Ok(()));
        assert_eq!(m.dst_port, 80);
        // SLL carrying ARP.
        let mut arp = sll.clone();
        arp[14..16].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(run(LinkType::LinuxSll, &arp).0, Err(DropReason::NotIp));
        // BSD loopback, little- and big-endian families, and the wrong order tried second.
        let mut lo = vec![2, 0, 0, 0];
        lo.extend_from_slice(&ip);
        assert_eq!(run(LinkType::Null { big_endian: false }, &lo).0, Ok(()));
        assert_eq!(run(LinkType::Null { big_endian: true }, &lo).0, Ok(()));
        let mut lo6 = vec![0, 0, 0, 30];
        lo6.extend_from_slice(&v6(0, 59));
        let (r, m) = run(LinkType::Null { big_endian: true }, &lo6);
        assert_eq!(r, Ok(()));
        assert_eq!(m.ip_version, 6);
        // Family says IPv6 but the header is IPv4.
        let mut wrong = vec![24, 0, 0, 0];
        wrong.extend_from_slice(&ip);
        assert_eq!(
            run(LinkType::Null { big_endian: false }, &wrong).0,
            Err(DropReason::TruncatedIpHeader)
        );
    }

    #[test]
    fn shortcut_agrees_with_the_layered_path() {
        // Frames the shortcut takes (TCP with and without options, UDP, DF set, bad
        // checksum) and, by mutating their header octets, cut lengths and wire lengths,
        // frames on every side of each condition it tests.
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        let udp = {
            let mut u = vec![0x30, 0x39, 0x00, 0x35, 0, 20, 0, 0];
            u.extend_from_slice(&[7; 12]);
            u
        };
        let mut tcp_ts = tcp_hdr(tcp_flags::ACK, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        tcp_ts.extend_from_slice(&[9; 30]);
        let v4_ts = {
            let mut ip = v4(6, 20 + 32 + 30, 0x4000, &[]);
            ip.extend_from_slice(&tcp_ts);
            ip
        };
        let v4_udp = {
            let mut ip = v4(17, 20 + 20, 0, &[]);
            ip.extend_from_slice(&udp);
            ip
        };
        let v6_ts = {
            let mut ip = v6(32 + 30, 6);
            ip.extend_from_slice(&tcp_ts);
            ip
        };
        let v6_udp = {
            let mut ip = v6(20, 17);
            ip.extend_from_slice(&udp);
            ip
        };
        // One VLAN tag (VID 0x123, PCP 5) before the EtherType of `ip`.
        let tagged = |et: u16, ip: &[u8]| {
            let mut t = vec![0xa1, 0x23];
            t.extend_from_slice(&et.to_be_bytes());
            t.extend_from_slice(ip);
            eth(0x8100, &t)
        };
        let seeds = [
            eth(0x0800, &syn_v4()),
            eth(0x0800, &v4_ts),
            eth(0x0800, &v4_udp),
            eth(0x86dd, &v6_ts),
            eth(0x86dd, &v6_udp),
            tagged(0x0800, &v4_ts),
            tagged(0x86dd, &v6_udp),
        ];
        let (mut taken, mut differ_checked) = (0u32, 0u32);
        let mut taken_by_seed = [0u32; 7];
        for i in 0..420_000u32 {
            let mut f = seeds[i as usize % seeds.len()].clone();
            for _ in 0..(next() % 4) {
                // Mostly the Ethernet, tag, IP and TCP/UDP header octets.
                let at = (next() % 94) as usize % f.len();
                f[at] = match next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => f[at] ^ (1 << (next() % 8)),
                    _ => next() as u8,
                };
            }
            if next().is_multiple_of(4) {
                f.truncate((next() as usize) % (f.len() + 1));
            }
            let wire = match next() % 3 {
                0 => f.len() as u32,
                1 => (f.len() as u32).saturating_sub((next() % 40) as u32),
                _ => f.len() as u32 + (next() % 2000) as u32,
            };
            let mut fast = PacketMeta::default();
            let mut layered = PacketMeta::default();
            fast.src_port = 0xdead; // stale fields must not survive either path
            let a = dissect(LinkType::Ethernet, &f, wire, 5, &mut fast);
            let b = dissect_layered(LinkType::Ethernet, &f, wire, 5, &mut layered);
            assert_eq!(a, b, "frame {f:02x?} wire {wire}");
            if a.is_ok() {
                assert_eq!(fast, layered, "frame {f:02x?} wire {wire}");
                differ_checked += 1;
            }
            let mut probe = PacketMeta::default();
            if common_frame(&f, wire, &mut probe) {
                taken += 1;
                taken_by_seed[i as usize % seeds.len()] += 1;
            }
        }
        // Both sides of the shortcut were exercised, from every seed.
        assert!(
            taken > 70_000 && differ_checked > taken + 28_000,
            "{taken} {differ_checked}"
        );
        assert!(
            taken_by_seed.iter().all(|&n| n > 8_000),
            "{taken_by_seed:?}"
        );
    }

    #[test]
    fn random_frames_never_panic() {
        // Deterministic xorshift noise, biased toward the values that steer the parser.
        let mut next = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
        let links = [
            LinkType::Ethernet,
            LinkType::RawIp,
            LinkType::Null { big_endian: false },
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
        ];
        let steer: [&[u8]; 8] = [
            &[0x08, 0x00],
            &[0x86, 0xdd],
            &[0x81, 0x00],
            &[0x88, 0x47],
            &[0x45],
            &[0x60],
            &[6, 17, 44, 0, 60, 43, 51, 50, 59, 58, 1, 132, 33, 136],
            &[0x01, 0x50, 0xf1, 0x05, 0x14],
        ];
        let mut frame = [0u8; 160];
        let mut oks = 0;
        for _ in 0..200_000 {
            let r = next();
            for b in frame.iter_mut() {
                let v = next();
                let s = steer[(v % 8) as usize];
                *b = if v & 0x30 == 0 {
                    s[((v >> 8) as usize) % s.len()]
                } else {
                    (v >> 16) as u8
                };
            }
            let len = (r % 161) as usize;
            let link = links[((r >> 8) % 5) as usize];
            let wire = (r >> 16) as u32 % 2000;
            let (res, m) = run_wire(link, &frame[..len], wire);
            if res.is_ok() {
                oks += 1;
                assert!(m.ip_version == 4 || m.ip_version == 6);
                assert!(m.octets as usize <= len.max(wire as usize));
                assert!(m.tcp_options_len as usize <= TCP_OPTIONS_MAX);
            }
        }
        assert!(oks > 1000, "the noise reached IP only {oks} times");
    }

    #[test]
    fn every_prefix_of_a_frame_is_safe() {
        // Cut a rich frame (QinQ, MPLS, IPv6 chain, TCP options) at every length.
        let t = tcp_hdr(tcp_flags::SYN, &MSS_WS);
        let mut ip = v6((16 + t.len()) as u16, 0);
        ip.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 7]);
        ip.extend_from_slice(&t);
        let mut p = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x88, 0x47];
        p.extend_from_slice(&((16u32 << 12) | (1 << 8)).to_be_bytes());
        p.extend_from_slice(&ip);
        let f = eth(0x88a8, &p);
        let mut oks = 0;
        for n in 0..=f.len() {
            let (r, m) = run_wire(LinkType::Ethernet, &f[..n], f.len() as u32);
            if r.is_ok() {
                oks += 1;
                assert_eq!(m.octets as usize, ip.len());
            }
        }
        // Ok from the first length that holds the whole IPv6 fixed header.
        assert_eq!(oks, ip.len() - 40 + 1);
        let (r, m) = run(LinkType::Ethernet, &f);
        assert_eq!(r, Ok(()));
        assert_eq!(m.ipv6_ext, ext_bits::HOP | ext_bits::FRA0);
        assert_eq!(m.src_port, 1234);
    }
}
