//! The parsed packet: the one fixed-size summary the parser hands to the flow table.
//!
//! A capture source yields raw frames; `dissect` (in [`crate::dissect`]) fills a
//! [`PacketMeta`] from one frame, and from then on nothing looks at the frame again.
//! The struct is plain data, fixed size and allocation-free so it can be batched and
//! moved between threads (reader -> worker) by value.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Maximum TCP option space (60-byte header minus 20-byte fixed part).
pub const TCP_OPTIONS_MAX: usize = 40;

/// Link-layer framing of a capture, from the pcap/pcapng link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB (1).
    Ethernet,
    /// DLT_RAW (101) / LINKTYPE_IPV4 (228) / LINKTYPE_IPV6 (229): the frame starts with the IP header.
    RawIp,
    /// DLT_NULL (0) and DLT_LOOP (108): 4-byte address family, then IP.
    Null { big_endian: bool },
    /// DLT_LINUX_SLL (113): 16-byte cooked header.
    LinuxSll,
    /// DLT_LINUX_SLL2 (276): 20-byte cooked header.
    LinuxSll2,
}

impl LinkType {
    /// Map a pcap/pcapng link type number; `None` if it carries neither Ethernet nor IP.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        match linktype {
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            0 => Some(LinkType::Null { big_endian: false }),
            108 => Some(LinkType::Null { big_endian: true }),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// An IP address as it sits in the flow key: IPv4 addresses are stored as IPv4-mapped
/// IPv6 (`::ffff:a.b.c.d`) so one 16-byte array serves both families.
pub type Addr = [u8; 16];

/// Store an IPv4 address in the key form.
#[inline]
pub fn addr_v4(a: [u8; 4]) -> Addr {
    let mut x = [0u8; 16];
    x[10] = 0xff;
    x[11] = 0xff;
    x[12..].copy_from_slice(&a);
    x
}

/// The IPv4 address of a key-form address (the last four bytes).
#[inline]
pub fn addr_to_v4(a: &Addr) -> Ipv4Addr {
    Ipv4Addr::new(a[12], a[13], a[14], a[15])
}

/// The IPv6 address of a key-form address.
#[inline]
pub fn addr_to_v6(a: &Addr) -> Ipv6Addr {
    Ipv6Addr::from(*a)
}

/// Why a frame could not become part of any flow. Every such frame is counted under
/// exactly one of these reasons (conservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// The link layer is too short to hold its own header (or a VLAN/MPLS/SLL header).
    TruncatedLinkHeader = 0,
    /// Ethernet type (after tags) is neither IPv4 nor IPv6 (ARP, LLDP, STP, ...).
    NotIp = 1,
    /// An MPLS label stack deeper than we follow, or whose payload is not IP.
    MplsNotIp = 2,
    /// Fewer bytes than a minimal IPv4/IPv6 header, or the version nibble is wrong.
    TruncatedIpHeader = 3,
    /// IPv4 header that lies: IHL < 5, or IHL beyond the captured bytes.
    BadIpv4Header = 4,
    /// The link type of the capture carries neither Ethernet nor IP.
    UnsupportedLinkType = 5,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::TruncatedLinkHeader,
        DropReason::NotIp,
        DropReason::MplsNotIp,
        DropReason::TruncatedIpHeader,
        DropReason::BadIpv4Header,
        DropReason::UnsupportedLinkType,
    ];
    /// Stable snake_case name for summaries, JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TruncatedLinkHeader => "truncated_link_header",
            DropReason::NotIp => "not_ip",
            DropReason::MplsNotIp => "mpls_not_ip",
            DropReason::TruncatedIpHeader => "truncated_ip_header",
            DropReason::BadIpv4Header => "bad_ipv4_header",
            DropReason::UnsupportedLinkType => "unsupported_link_type",
        }
    }
}

/// Things that were wrong with a packet that still became part of a flow. They are
/// informational counters (the packet is in a record); bits of [`PacketMeta::anomalies`].
pub mod anomaly {
    /// The transport header was cut short by the capture (snap length) or the IP length:
    /// the packet is metered as a port-less flow of its protocol.
    pub const TRUNCATED_L4: u16 = 1 << 0;
    /// IPv4 total length / IPv6 payload length disagrees with the bytes on the wire.
    pub const IP_LENGTH_MISMATCH: u16 = 1 << 1;
    /// A TCP option had an impossible length; walking stopped there.
    pub const BAD_TCP_OPTION: u16 = 1 << 2;
    /// An IPv6 extension-header chain was truncated or longer than we follow.
    pub const IPV6_EXT_LIMIT: u16 = 1 << 3;
    /// TCP data offset < 5 or beyond the captured bytes.
    pub const BAD_TCP_HEADER: u16 = 1 << 4;
    /// IPv4 header checksum or options malformed (options walk stopped).
    pub const BAD_IPV4_OPTIONS: u16 = 1 << 5;
    /// Non-first fragment: no transport header, metered without ports.
    pub const FRAGMENT_NO_L4: u16 = 1 << 6;
    /// Number of anomaly kinds (bits 0..COUNT).
    pub const COUNT: usize = 7;
    /// Names, index = bit number.
    pub const NAMES: [&str; COUNT] = [
        "truncated_l4",
        "ip_length_mismatch",
        "bad_tcp_option",
        "ipv6_ext_limit",
        "bad_tcp_header",
        "bad_ipv4_options",
        "fragment_no_l4",
    ];
}

/// IPFIX fragmentFlags (IE 197) bits we record, and our own "is a fragment" marks.
pub mod frag {
    /// The packet is a fragment (offset != 0 or MF set).
    pub const IS_FRAGMENT: u8 = 1 << 0;
    /// First fragment (offset 0, MF set): carries the L4 header.
    pub const FIRST: u8 = 1 << 1;
    /// DF bit set (IPv4).
    pub const DONT_FRAGMENT: u8 = 1 << 2;
}

/// Everything the flow table needs from one packet.
///
/// Invariants the parser guarantees:
/// - `ip_version` is 4 or 6; addresses are in key form ([`addr_v4`] for IPv4).
/// - `octets` is the layer-3 size (IP header + payload) as sent: the IP header's own
///   length when it fits within the original wire length, else what the wire length
///   allows. It never uses the captured (snap) length.
/// - `src_port`/`dst_port` are 0 when the protocol has no ports or L4 was unavailable.
/// - `tcp_options[..tcp_options_len]` is the raw option area of a TCP header (possibly
///   cut by the capture); `tcp_options_len == 0` for non-TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Layer-3 octets counted for IPFIX octetDeltaCount.
    pub octets: u32,
    pub src: Addr,
    pub dst: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol of the transport header (IPv6: after the extension-header chain).
    pub protocol: u8,
    pub ip_version: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// Outer VLAN ID (802.1Q or the 802.1ad S-tag); 0 = untagged.
    pub vlan: u16,
    /// Inner (customer) VLAN ID of a QinQ stack; 0 = none.
    pub inner_vlan: u16,
    /// Top MPLS label stack entry (label 20 bits | TC 3 | S 1) in the low 24 bits; 0 = none.
    pub mpls_top: u32,
    /// IPv6 flow label (20 bits); 0 for IPv4.
    pub flow_label: u32,
    /// [`frag`] bits.
    pub frag: u8,
    /// IPv6 extension headers seen, as RFC 9740 ipv6ExtensionHeadersFull bits (IE 515):
    /// 0 DST, 1 HOP, 2 NoNxt, 3 UNK, 4 FRA0, 5 RH, 6 FRA1, 7 MOB, 8 ESP, 9 AH, 10 HIP, 11 SHIM6.
    pub ipv6_ext: u16,
    /// ICMP / ICMPv6 type and code (protocol 1 or 58), else 0.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// TCP header flags, 12 bits (FIN 0x001 ... AE 0x100 and the reserved bits), as in IE 6.
    pub tcp_flags: u16,
    pub tcp_seq: u32,
    /// Octets after the transport header (TCP/UDP payload, ICMP body, the whole IP payload
    /// of other protocols), from the IP length, not the capture: goodput. For TCP it is the
    /// segment's data length, which the table's end-of-connection rule reads.
    pub payload_len: u32,
    pub tcp_options_len: u8,
    pub tcp_options: [u8; TCP_OPTIONS_MAX],
    /// [`anomaly`] bits.
    pub anomalies: u16,
    /// Which capture interface/queue it came from (ingressInterface); 0 offline.
    pub ingress: u32,
}

impl Default for PacketMeta {
    fn default() -> Self {
        PacketMeta {
            ts_ns: 0,
            octets: 0,
            src: [0; 16],
            dst: [0; 16],
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            ip_version: 0,
            tos: 0,
            ttl: 0,
            vlan: 0,
            inner_vlan: 0,
            mpls_top: 0,
            flow_label: 0,
            frag: 0,
            ipv6_ext: 0,
            icmp_type: 0,
            icmp_code: 0,
            tcp_flags: 0,
            tcp_seq: 0,
            payload_len: 0,
            tcp_options_len: 0,
            tcp_options: [0; TCP_OPTIONS_MAX],
            anomalies: 0,
            ingress: 0,
        }
    }
}

impl PacketMeta {
    /// The captured TCP option bytes.
    #[inline]
    pub fn tcp_options(&self) -> &[u8] {
        &self.tcp_options[..self.tcp_options_len as usize]
    }
}

/// TCP flag bits (IE 6 layout).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_meta_is_two_cache_lines() {
        // A batch of them is what the parser writes and the table reads per packet; the
        // fields are chosen to fit 128 octets (no wire length, ACK number or window).
        assert!(std::mem::size_of::<PacketMeta>() <= 128);
    }
}
