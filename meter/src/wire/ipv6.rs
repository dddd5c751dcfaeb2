//! IPv6 fixed headers and extension-header chains.
//!
//! Contract: [`Ipv6Packet::new_checked`] guarantees 40 octets and version 6 (short:
//! [`Error::Truncated`], wrong version: [`Error::Malformed`]); the payload length is not
//! checked against the buffer (the dissector reconciles it with the wire length).
//! [`Ipv6ExtHeader::new_checked`] guarantees that one extension header of a given type,
//! with the length its own length field states, lies inside the buffer.
//! [`walk_ext_headers`] follows a chain through Hop-by-Hop (0), Routing (43), Fragment (44),
//! AH (51, length in 4-octet units + 2), Destination (60), Mobility (135), HIP (139),
//! Shim6 (140) and the experimental 253/254, at most [`MAX_EXT_HEADERS`] headers; it stops at
//! ESP (50, encrypted beyond), No Next Header (59), a non-first fragment (what follows is
//! not a header) or the first protocol that is not an extension header. A header cut by the
//! buffer or a chain longer than the limit ends the walk with `complete == false`. The walk
//! records RFC 9740 ipv6ExtensionHeadersFull bits ([`ext_bits`]). Nothing panics and
//! nothing allocates.

use super::{Error, array, be16, be32, ip_proto, tail, u8_at};

pub mod field {
    use core::ops::Range;
    /// Version (4) | traffic class (8) | flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const PAYLOAD: usize = 40;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// Longest chain followed; RFC 8883-style limits are of this order, and real traffic has
/// one or two.
pub const MAX_EXT_HEADERS: usize = 16;

/// RFC 9740 ipv6ExtensionHeadersFull (IE 515) bit values.
pub mod ext_bits {
    pub const DST: u16 = 1 << 0;
    pub const HOP: u16 = 1 << 1;
    pub const NO_NEXT: u16 = 1 << 2;
    /// Unknown layer-4 header (encrypted, compressed, not supported).
    pub const UNK: u16 = 1 << 3;
    /// Fragment header, first fragment.
    pub const FRA0: u16 = 1 << 4;
    pub const RH: u16 = 1 << 5;
    /// Fragment header, not the first fragment.
    pub const FRA1: u16 = 1 << 6;
    pub const MOB: u16 = 1 << 7;
    pub const ESP: u16 = 1 << 8;
    pub const AH: u16 = 1 << 9;
    pub const HIP: u16 = 1 << 10;
    pub const SHIM6: u16 = 1 << 11;
    pub const EXP253: u16 = 1 << 12;
    pub const EXP254: u16 = 1 << 13;
}

/// A read-only view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if u8_at(b, 0) >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(Ipv6Packet { buffer })
    }

    #[inline]
    fn first_word(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::NEXT_HEADER)
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::SRC_ADDR)
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Everything after the fixed header that the buffer holds.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

/// Is `nh` an extension header the walk steps over (ESP and No Next Header end it)?
#[inline]
pub fn is_ext_header(nh: u8) -> bool {
    use ip_proto::*;
    matches!(
        nh,
        HOPOPTS
            | ROUTING
            | FRAGMENT
            | AH
            | DSTOPTS
            | MOBILITY
            | HIP
            | SHIM6
            | EXPERIMENT1
            | EXPERIMENT2
    )
}

pub mod ext_field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    /// Fragment header: offset (13 bits, 8-octet units) | res (2) | M (1).
    pub const FRAG_OFF_M: Range<usize> = 2..4;
    pub const FRAG_IDENT: Range<usize> = 4..8;
}

/// A read-only view of one extension header of type `kind`.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    kind: u8,
}

/// Length of an extension header of type `kind` whose length octet is `len_field`.
#[inline]
pub fn ext_header_len(kind: u8, len_field: u8) -> usize {
    match kind {
        ip_proto::FRAGMENT => 8,
        ip_proto::AH => (usize::from(len_field) + 2) * 4,
        _ => (usize::from(len_field) + 1) * 8,
    }
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    pub const fn new_unchecked(buffer: T, kind: u8) -> Self {
        Ipv6ExtHeader { buffer, kind }
    }

    /// Wrap `buffer`, which starts with an extension header of type `kind`, after checking
    /// the whole header is inside it.
    pub fn new_checked(buffer: T, kind: u8) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(&len) = b.get(ext_field::LENGTH) else {
            return Err(Error::Truncated);
        };
        if ext_header_len(kind, len) > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Ipv6ExtHeader { buffer, kind })
    }

    #[inline]
    pub fn kind(&self) -> u8 {
        self.kind
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        u8_at(self.buffer.as_ref(), ext_field::NEXT_HEADER)
    }

    /// Length of this header in octets.
    #[inline]
    pub fn header_len(&self) -> usize {
        ext_header_len(self.kind, u8_at(self.buffer.as_ref(), ext_field::LENGTH))
    }

    /// Fragment header: offset in 8-octet units (0 for other types).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        if self.kind != ip_proto::FRAGMENT {
            return 0;
        }
        be16(self.buffer.as_ref(), ext_field::FRAG_OFF_M) >> 3
    }

    /// Fragment header: more fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.kind == ip_proto::FRAGMENT
            && be16(self.buffer.as_ref(), ext_field::FRAG_OFF_M) & 1 != 0
    }

    #[inline]
    pub fn frag_ident(&self) -> u32 {
        if self.kind != ip_proto::FRAGMENT {
            return 0;
        }
        be32(self.buffer.as_ref(), ext_field::FRAG_IDENT)
    }
}

/// Fragment header facts found on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    /// Offset in 8-octet units.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

/// The outcome of walking an extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtChain {
    /// The protocol after the chain (the transport), or the header at which it stopped.
    pub protocol: u8,
    /// Offset of that header in the walked buffer (the chain's length in octets).
    pub offset: usize,
    /// [`ext_bits`] seen.
    pub bits: u16,
    pub fragment: Option<FragInfo>,
    /// Number of extension headers stepped over.
    pub count: u8,
    /// False if the walk stopped at a cut header or at [`MAX_EXT_HEADERS`].
    pub complete: bool,
}

impl ExtChain {
    /// Is this a fragment other than the first one (no transport header follows)?
    #[inline]
    pub fn non_first_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.offset != 0)
    }
}

#[inline]
fn bit_of(nh: u8) -> u16 {
    use ext_bits::*;
    match nh {
        ip_proto::HOPOPTS => HOP,
        ip_proto::ROUTING => RH,
        ip_proto::AH => AH,
        ip_proto::DSTOPTS => DST,
        ip_proto::MOBILITY => MOB,
        ip_proto::HIP => HIP,
        ip_proto::SHIM6 => SHIM6,
        ip_proto::EXPERIMENT1 => EXP253,
        ip_proto::EXPERIMENT2 => EXP254,
        _ => 0,
    }
}

/// Walk the chain that starts with next-header `first` at the start of `buf` (the octets
/// after the fixed header, limited by the caller to what the packet really holds).
pub fn walk_ext_headers(first: u8, buf: &[u8]) -> ExtChain {
    let mut c = ExtChain {
        protocol: first,
        offset: 0,
        bits: 0,
        fragment: None,
        count: 0,
        complete: true,
    };
    loop {
        match c.protocol {
            ip_proto::ESP => {
                c.bits |= ext_bits::ESP;
                return c;
            }
            ip_proto::NO_NEXT => {
                c.bits |= ext_bits::NO_NEXT;
                return c;
            }
            nh if is_ext_header(nh) => {
                if c.count as usize == MAX_EXT_HEADERS {
                    c.complete = false;
                    return c;
                }
                let Ok(h) = Ipv6ExtHeader::new_checked(tail(buf, c.offset), nh) else {
                    c.complete = false;
                    return c;
                };
                c.count += 1;
                c.offset += h.header_len();
                c.protocol = h.next_header();
                if nh == ip_proto::FRAGMENT {
                    let f = FragInfo {
                        offset: h.frag_offset(),
                        more: h.more_frags(),
                        ident: h.frag_ident(),
                    };
                    c.fragment = Some(f);
                    if f.offset != 0 {
                        c.bits |= ext_bits::FRA1;
                        return c;
                    }
                    c.bits |= ext_bits::FRA0;
                } else {
                    c.bits |= bit_of(nh);
                }
            }
            _ => return c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2001:db8::1 -> 2001:db8::2, TC 0xb8, flow label 0x12345, payload `plen`, next `nh`.
    pub(crate) fn header(plen: u16, nh: u8) -> Vec<u8> {
        let mut h = vec![0x6b, 0x81, 0x23, 0x45];
        h.extend_from_slice(&plen.to_be_bytes());
        h.push(nh);
        h.push(57);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    }

    #[test]
    fn good_header() {
        let h = header(8, 17);
        let p = Ipv6Packet::new_checked(&h[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 57);
        assert_eq!(p.src_addr()[15], 1);
        assert_eq!(p.dst_addr()[15], 2);
        assert_eq!(p.src_addr()[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn truncated_and_wrong_version() {
        let h = header(0, 59);
        assert_eq!(
            Ipv6Packet::new_checked(&h[..39]).err(),
            Some(Error::Truncated)
        );
        let mut v4 = h.clone();
        v4[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).err(),
            Some(Error::Malformed)
        );
        let u = Ipv6Packet::new_unchecked(&h[..6]);
        assert_eq!(u.src_addr(), [0; 16]);
        assert_eq!(u.next_header(), 0);
    }

    #[test]
    fn no_chain() {
        let c = walk_ext_headers(6, &[0; 20]);
        assert_eq!(c.protocol, 6);
        assert_eq!(c.offset, 0);
        assert_eq!(c.bits, 0);
        assert!(c.complete);
    }

    #[test]
    fn hop_routing_dst_then_tcp() {
        let mut b = vec![43, 0, 0, 0, 0, 0, 0, 0]; // HBH (8) -> RH
        b.extend_from_slice(&[60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // RH (16) -> DST
        b.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]); // DST (8) -> TCP
        b.extend_from_slice(&[0xaa; 20]);
        let c = walk_ext_headers(0, &b);
        assert_eq!(c.protocol, 6);
        assert_eq!(c.offset, 32);
        assert_eq!(c.count, 3);
        assert_eq!(c.bits, ext_bits::HOP | ext_bits::RH | ext_bits::DST);
        assert!(c.complete);
        assert_eq!(c.fragment, None);
    }

    #[test]
    fn ah_length_in_four_octet_units() {
        // AH payload length 4 -> (4 + 2) * 4 = 24 octets, then UDP.
        let mut b = vec![17, 4];
        b.extend_from_slice(&[0; 22]);
        b.extend_from_slice(&[0xbb; 8]);
        let c = walk_ext_headers(51, &b);
        assert_eq!((c.protocol, c.offset, c.bits), (17, 24, ext_bits::AH));
    }

    #[test]
    fn first_and_later_fragments() {
        // Fragment: next UDP, offset 0, M set, ident 0xdeadbeef.
        let first = [17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
        let c = walk_ext_headers(44, &first);
        assert_eq!(c.protocol, 17);
        assert_eq!(c.offset, 8);
        assert_eq!(c.bits, ext_bits::FRA0);
        assert_eq!(
            c.fragment,
            Some(FragInfo {
                offset: 0,
                more: true,
                ident: 0xdeadbeef
            })
        );
        assert!(!c.non_first_fragment());
        // Offset 185 (1480 octets), last fragment; the payload looks like a header but is not.
        let later = [
            0,
            0,
            (185u16 << 3).to_be_bytes()[0],
            (185u16 << 3).to_be_bytes()[1],
            0,
            0,
            0,
            1,
            43,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        let c = walk_ext_headers(44, &later);
        assert_eq!(c.protocol, 0);
        assert_eq!(c.offset, 8);
        assert_eq!(c.count, 1);
        assert_eq!(c.bits, ext_bits::FRA1);
        assert!(c.non_first_fragment());
        assert_eq!(c.fragment.map(|f| (f.offset, f.more)), Some((185, false)));
    }

    #[test]
    fn esp_and_no_next_stop() {
        let c = walk_ext_headers(50, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!((c.protocol, c.offset, c.bits), (50, 0, ext_bits::ESP));
        let b = [59, 0, 0, 0, 0, 0, 0, 0, 0xff];
        let c = walk_ext_headers(60, &b);
        assert_eq!(c.protocol, 59);
        assert_eq!(c.bits, ext_bits::DST | ext_bits::NO_NEXT);
        assert!(c.complete);
    }

    #[test]
    fn mobility_hip_shim6_experimental() {
        let mut b = Vec::new();
        for nh in [139u8, 140, 253, 254, 59] {
            b.extend_from_slice(&[nh, 0, 0, 0, 0, 0, 0, 0]);
        }
        let c = walk_ext_headers(135, &b);
        assert_eq!(c.protocol, 59);
        assert_eq!(c.count, 5);
        assert_eq!(
            c.bits,
            ext_bits::MOB
                | ext_bits::HIP
                | ext_bits::SHIM6
                | ext_bits::EXP253
                | ext_bits::EXP254
                | ext_bits::NO_NEXT
        );
    }

    #[test]
    fn truncated_chain() {
        // HBH claims 16 octets, 10 present.
        let c = walk_ext_headers(0, &[6, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!c.complete);
        assert_eq!(c.protocol, 0);
        assert_eq!(c.offset, 0);
        assert_eq!(c.bits, 0);
        // Only the next-header octet.
        assert!(!walk_ext_headers(60, &[6]).complete);
        assert!(!walk_ext_headers(44, &[]).complete);
    }

    #[test]
    fn chain_limit() {
        let mut b = Vec::new();
        for _ in 0..MAX_EXT_HEADERS {
            b.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        b.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        let c = walk_ext_headers(60, &b);
        assert!(!c.complete);
        assert_eq!(c.count as usize, MAX_EXT_HEADERS);
        assert_eq!(c.protocol, 60);
        // One header fewer: the chain fits.
        let c = walk_ext_headers(60, &b[8..]);
        assert!(c.complete);
        assert_eq!(c.protocol, 6);
        assert_eq!(c.count as usize, MAX_EXT_HEADERS);
    }

    #[test]
    fn ext_header_view() {
        let b = [17, 2, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Ipv6ExtHeader::new_checked(&b[..], 60).err(),
            Some(Error::Truncated)
        );
        let h = Ipv6ExtHeader::new_checked(&b[..], 44).unwrap();
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.next_header(), 17);
        let d = Ipv6ExtHeader::new_unchecked(&b[..1], 60);
        assert_eq!(d.frag_offset(), 0);
        assert!(!d.more_frags());
    }
}
