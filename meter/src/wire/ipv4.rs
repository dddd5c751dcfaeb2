//! IPv4 headers, their options and fragment fields.
//!
//! Contract: [`Ipv4Packet::new_checked`] guarantees at least 20 octets, version 4, IHL ≥ 5
//! and IHL·4 octets inside the buffer (so [`Ipv4Packet::options`] is complete and
//! [`Ipv4Packet::verify_checksum`] sees the whole header). Short buffer or an IHL reaching
//! past it: [`Error::Truncated`]; wrong version or IHL < 5: [`Error::Malformed`]. The total
//! length is NOT checked against the buffer: captures cut packets and Ethernet pads them,
//! so the dissector reconciles it with the wire length. [`Ipv4OptionIter`] walks the
//! options and stops at EOL or at the first impossible length. Nothing panics and nothing
//! allocates.

use super::{Error, array, be16, tail, u8_at};

pub mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits: reserved, DF, MF) and fragment offset (13 bits, 8-octet units).
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read-only view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap `buffer` after checking the header it starts with.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(&vi) = b.first() else {
            return Err(Error::Truncated);
        };
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if vi >> 4 != 4 || usize::from(vi & 0x0f) * 4 < MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        if usize::from(vi & 0x0f) * 4 > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    #[inline]
    pub fn version(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in octets (IHL·4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// DSCP and ECN.
    #[inline]
    pub fn tos(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::TOS)
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in 8-octet units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::TTL)
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::PROTOCOL)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::SRC_ADDR)
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The option octets (what the buffer holds of them).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.header_len().min(b.len());
        b.get(field::OPTIONS..end).unwrap_or(&[])
    }

    /// Everything after the header that the buffer holds (may include link padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }

    /// Does the header checksum verify? Over what the buffer holds of the header.
    ///
    /// Sums 32-bit words read in little-endian order and tests the sum for divisibility by
    /// 0xffff, which is what the RFC 1071 one's complement sum being 0xffff comes to (see
    /// [`header_checksum_ok`]); this runs on every IPv4 packet.
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        header_checksum_ok(b.get(..self.header_len()).unwrap_or(b))
    }
}

/// Does the one's complement sum of `header` (an IPv4 header, or what was captured of
/// one) verify? See [`Ipv4Packet::verify_checksum`]; a caller holding a header of known
/// length passes it directly so the sum is unrolled.
///
/// The one's complement sum of 16-bit words is 0xffff exactly when their plain sum is a
/// multiple of 0xffff and not 0 (RFC 1071: the end-around carry is reduction modulo
/// 0xffff, and only all-zero words sum to 0). Modulo 0xffff, 2^16 is 1, so a 32-bit word
/// counts as the sum of its halves; and a word read with its two octets swapped is the
/// word times 2^8, which leaves a multiple of 0xffff a multiple (2^8 has an inverse modulo
/// 0xffff). So the words are summed as the CPU loads them, without swapping bytes, and
/// the test is one multiply and compare instead of four folds.
#[inline(always)]
pub fn header_checksum_ok(header: &[u8]) -> bool {
    let mut sum: u64 = 0;
    let mut words = header.chunks_exact(4);
    for w in &mut words {
        if let Some(x) = w.first_chunk::<4>() {
            sum += u64::from(u32::from_le_bytes(*x));
        }
    }
    // Only a buffer cut inside the header leaves a remainder: an octet at an even offset
    // is the high half of its 16-bit word, which read little-endian is the low one.
    for (i, &x) in words.remainder().iter().enumerate() {
        sum += u64::from(x) << if i % 2 == 0 { 0 } else { 8 };
    }
    sum != 0 && sum.is_multiple_of(0xffff)
}

/// One IPv4 option: type octet and the octets after the length octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

/// Walks IPv4 options; yields EOL (then stops) and NOP; stops at the first impossible
/// length and remembers it.
#[derive(Debug, Clone)]
pub struct Ipv4OptionIter<'a> {
    rest: &'a [u8],
    malformed: bool,
}

impl<'a> Ipv4OptionIter<'a> {
    pub fn new(options: &'a [u8]) -> Self {
        Ipv4OptionIter {
            rest: options,
            malformed: false,
        }
    }

    /// Did the walk stop at an impossible length?
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Ipv4OptionIter<'a> {
    type Item = Ipv4Option<'a>;

    fn next(&mut self) -> Option<Ipv4Option<'a>> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            0 => {
                self.rest = &[];
                Some(Ipv4Option { kind, data: &[] })
            }
            1 => {
                self.rest = after;
                Some(Ipv4Option { kind, data: &[] })
            }
            _ => {
                let len = after.first().map_or(0, |&l| usize::from(l));
                match (len >= 2)
                    .then(|| self.rest.split_at_checked(len))
                    .flatten()
                {
                    Some((opt, rest)) => {
                        self.rest = rest;
                        Some(Ipv4Option {
                            kind,
                            data: opt.get(2..).unwrap_or(&[]),
                        })
                    }
                    None => {
                        self.malformed = true;
                        self.rest = &[];
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 192.0.2.1 -> 198.51.100.2, TCP, total length 40, DF, TTL 64, checksum valid.
    pub(crate) fn header() -> [u8; 20] {
        let mut h = [
            0x45, 0x10, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 192, 0, 2, 1,
            198, 51, 100, 2,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    /// RFC 1071 checksum, written independently of `verify_checksum`.
    fn checksum(h: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for i in (0..h.len()).step_by(2) {
            s += (u64::from(h[i]) << 8) | u64::from(*h.get(i + 1).unwrap_or(&0));
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn good_header() {
        let h = header();
        let p = Ipv4Packet::new_checked(&h[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0x10);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.src_addr(), [192, 0, 2, 1]);
        assert_eq!(p.dst_addr(), [198, 51, 100, 2]);
        assert!(p.options().is_empty());
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum());
    }

    #[test]
    fn checksum_agrees_with_rfc1071_for_every_header_length() {
        // Deterministic pseudo-random headers, IHL 5..=15.
        let mut noise = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = || noise() as u8;
        for ihl in 5..=15usize {
            for _ in 0..50 {
                let mut h: Vec<u8> = (0..ihl * 4).map(|_| next()).collect();
                h[0] = 0x40 | ihl as u8;
                h[10] = 0;
                h[11] = 0;
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                assert!(Ipv4Packet::new_checked(&h[..]).unwrap().verify_checksum());
                // Any single flipped bit outside the version/IHL octet breaks it.
                let bit = usize::from(next()) % ((ihl * 4 - 1) * 8) + 8;
                h[bit / 8] ^= 1 << (bit % 8);
                assert!(!Ipv4Packet::new_checked(&h[..]).unwrap().verify_checksum());
            }
        }
    }

    #[test]
    fn checksum_agrees_with_rfc1071_on_cut_and_degenerate_buffers() {
        // Every length a capture can cut a header to (odd ones included), with the checksum
        // field set so the RFC 1071 sum verifies, then one bit flipped; and buffers of all
        // zeros and all ones, whose sums are 0 and a multiple of 0xffff.
        let mut noise = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = || noise() as u8;
        for len in 0..=60usize {
            for fill in [0x00, 0xff] {
                let h = vec![fill; len];
                assert_eq!(
                    header_checksum_ok(&h),
                    checksum(&h) == 0,
                    "{len} x {fill:#x}"
                );
            }
            if len < 12 {
                continue;
            }
            for _ in 0..20 {
                let mut h: Vec<u8> = (0..len).map(|_| next()).collect();
                h[10] = 0;
                h[11] = 0;
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                assert!(header_checksum_ok(&h), "{h:02x?}");
                let bit = usize::from(next()) % (len * 8);
                h[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(header_checksum_ok(&h), checksum(&h) == 0, "{h:02x?}");
            }
        }
    }

    #[test]
    fn bad_checksum() {
        let mut h = header();
        h[8] = 63;
        assert!(!Ipv4Packet::new_checked(&h[..]).unwrap().verify_checksum());
    }

    #[test]
    fn fragment_fields() {
        let mut h = header();
        // MF set, offset 185 (1480 octets).
        h[6..8].copy_from_slice(&(0x2000u16 | 185).to_be_bytes());
        let p = Ipv4Packet::new_unchecked(&h[..]);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 185);
    }

    #[test]
    fn truncated_and_lying() {
        let h = header();
        assert_eq!(
            Ipv4Packet::new_checked(&h[..19]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Ipv4Packet::new_checked(&[][..]).err(),
            Some(Error::Truncated)
        );
        let mut v6 = h;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).err(),
            Some(Error::Malformed)
        );
        let mut ihl4 = h;
        ihl4[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl4[..]).err(),
            Some(Error::Malformed)
        );
        // IHL 6 needs 24 octets.
        let mut ihl6 = h;
        ihl6[0] = 0x46;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl6[..]).err(),
            Some(Error::Truncated)
        );
        // Unchecked view of a lying header: accessors stay inside the buffer.
        let p = Ipv4Packet::new_unchecked(&ihl6[..]);
        assert_eq!(p.options(), &[] as &[u8]);
        assert!(p.payload().is_empty());
        let _ = p.verify_checksum();
        let empty = Ipv4Packet::new_unchecked(&[][..]);
        assert_eq!(empty.total_len(), 0);
        assert_eq!(empty.src_addr(), [0; 4]);
    }

    #[test]
    fn options_walk() {
        let mut h = header().to_vec();
        h[0] = 0x47; // 28-octet header
        // NOP, Router Alert (148, len 4, value 0), EOL, padding.
        h.extend_from_slice(&[0x01, 0x94, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
        let p = Ipv4Packet::new_checked(&h[..]).unwrap();
        assert_eq!(p.options().len(), 8);
        let mut it = Ipv4OptionIter::new(p.options());
        assert_eq!(it.next(), Some(Ipv4Option { kind: 1, data: &[] }));
        assert_eq!(
            it.next(),
            Some(Ipv4Option {
                kind: 0x94,
                data: &[0, 0]
            })
        );
        assert_eq!(it.next(), Some(Ipv4Option { kind: 0, data: &[] }));
        assert_eq!(it.next(), None);
        assert!(!it.malformed());
    }

    #[test]
    fn options_bad_lengths() {
        for bad in [
            &[0x94u8, 0x01][..],
            &[0x94, 0x00],
            &[0x94, 0x09, 0, 0],
            &[0x07],
        ] {
            let mut it = Ipv4OptionIter::new(bad);
            assert_eq!(it.next(), None, "{bad:?}");
            assert!(it.malformed(), "{bad:?}");
            assert_eq!(it.next(), None);
        }
    }
}
