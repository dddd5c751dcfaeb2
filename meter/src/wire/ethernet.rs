//! Ethernet II frames and 802.1Q / 802.1ad / QinQ tag stacks.
//!
//! Contract: [`EthernetFrame::new_checked`] guarantees the 14-octet header is present.
//! [`VlanTag::new_checked`] guarantees one 4-octet tag (TCI + inner EtherType).
//! [`walk_tags`] follows a stack of up to [`MAX_TAGS`] tags (0x8100, 0x88a8, 0x9100 in any
//! order) and reports the first non-tag EtherType; a tag cut by the buffer is
//! [`Error::Truncated`], a stack deeper than [`MAX_TAGS`] is [`Error::Malformed`].
//! Nothing panics and nothing allocates. The FCS, when a capture keeps it, is not removed:
//! the IP length decides what is counted.

use super::{Error, array, be16, ethertype, tail};

/// Deepest tag stack we follow. Real networks use one or two; more is a loop or an attack.
pub const MAX_TAGS: usize = 8;

pub mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Header length of an untagged Ethernet II frame.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read-only view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wrap `buffer` after checking it holds the 14-octet header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        array(self.buffer.as_ref(), field::DESTINATION)
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        array(self.buffer.as_ref(), field::SOURCE)
    }

    /// The outer EtherType (a tag type if the frame is tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Everything after the 14-octet header (tags included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

pub mod tag_field {
    use core::ops::Range;
    pub const TCI: Range<usize> = 0..2;
    pub const ETHERTYPE: Range<usize> = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// Length of one VLAN tag as it follows the tag's own TPID.
pub const TAG_LEN: usize = tag_field::PAYLOAD;

/// A read-only view of one VLAN tag: the 4 octets after a 0x8100/0x88a8/0x9100 TPID.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < TAG_LEN {
            return Err(Error::Truncated);
        }
        Ok(VlanTag { buffer })
    }

    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), tag_field::TCI)
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// The EtherType that follows the tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), tag_field::ETHERTYPE)
    }
}

/// Is `t` one of the tag protocol identifiers we follow?
#[inline]
pub fn is_tag(t: u16) -> bool {
    matches!(t, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD)
}

/// Result of following a tag stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tags {
    /// VLAN ID of the outermost tag (802.1Q, or the 802.1ad S-tag); 0 = untagged.
    pub outer_vid: u16,
    /// VLAN ID of the second tag (QinQ C-tag); 0 = none.
    pub inner_vid: u16,
    /// Number of tags followed.
    pub count: u8,
    /// The first EtherType that is not a tag.
    pub ethertype: u16,
    /// Offset in the walked buffer where that EtherType's payload starts.
    pub payload_offset: usize,
}

/// Follow the tags of a frame whose (outer) EtherType is `first` and whose bytes after that
/// EtherType are `buf`.
#[inline]
pub fn walk_tags(first: u16, buf: &[u8]) -> Result<Tags, Error> {
    let mut t = Tags {
        ethertype: first,
        ..Tags::default()
    };
    while is_tag(t.ethertype) {
        if t.count as usize == MAX_TAGS {
            return Err(Error::Malformed);
        }
        let tag = VlanTag::new_checked(tail(buf, t.payload_offset))?;
        match t.count {
            0 => t.outer_vid = tag.vid(),
            1 => t.inner_vid = tag.vid(),
            _ => {}
        }
        t.count += 1;
        t.ethertype = tag.ethertype();
        t.payload_offset += TAG_LEN;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 18] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // dst
        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, // src
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x14,
    ];

    #[test]
    fn good_frame() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(f.src_addr(), [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]);
        assert_eq!(f.ethertype(), 0x0800);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x14]);
    }

    #[test]
    fn truncated_frame() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).err(),
            Some(Error::Truncated)
        );
        // Exactly a header: valid, empty payload.
        let f = EthernetFrame::new_checked(&FRAME[..14]).unwrap();
        assert!(f.payload().is_empty());
        // Unchecked over nothing: accessors read zero, no panic.
        let u = EthernetFrame::new_unchecked(&[][..]);
        assert_eq!(u.ethertype(), 0);
        assert_eq!(u.src_addr(), [0; 6]);
        assert!(u.payload().is_empty());
    }

    #[test]
    fn tag_fields() {
        // PCP 5, DEI 1, VID 0xabc, inner EtherType IPv6.
        let t = VlanTag::new_checked(&[0xba, 0xbc, 0x86, 0xdd][..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0xabc);
        assert_eq!(t.ethertype(), 0x86dd);
        assert_eq!(
            VlanTag::new_checked(&[0x00, 0x01, 0x08][..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn untagged_walk() {
        let t = walk_tags(0x0800, &[0x45]).unwrap();
        assert_eq!(
            t,
            Tags {
                ethertype: 0x0800,
                ..Tags::default()
            }
        );
    }

    #[test]
    fn qinq_walk() {
        // S-tag VID 100 (0x88a8), C-tag VID 200 (0x8100), then IPv4.
        let buf = [0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, 0x45];
        let t = walk_tags(0x88a8, &buf).unwrap();
        assert_eq!(t.outer_vid, 100);
        assert_eq!(t.inner_vid, 200);
        assert_eq!(t.count, 2);
        assert_eq!(t.ethertype, 0x0800);
        assert_eq!(t.payload_offset, 8);
    }

    #[test]
    fn old_qinq_and_three_tags() {
        // 0x9100 VID 1 -> 0x8100 VID 2 -> 0x8100 VID 3 -> ARP.
        let buf = [
            0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x81, 0x00, 0x00, 0x03, 0x08, 0x06,
        ];
        let t = walk_tags(0x9100, &buf).unwrap();
        assert_eq!((t.outer_vid, t.inner_vid, t.count), (1, 2, 3));
        assert_eq!(t.ethertype, 0x0806);
        assert_eq!(t.payload_offset, 12);
    }

    #[test]
    fn truncated_tag() {
        assert_eq!(
            walk_tags(0x8100, &[0x00, 0x01, 0x08]),
            Err(Error::Truncated)
        );
        // Second tag cut.
        assert_eq!(
            walk_tags(0x8100, &[0x00, 0x01, 0x81, 0x00, 0x00]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn tag_limit() {
        // Eight tags are followed; a ninth is refused.
        let mut buf = Vec::new();
        for i in 0..8u8 {
            buf.extend_from_slice(&[0, i + 1, 0x81, 0x00]);
        }
        buf.extend_from_slice(&[0, 9, 0x08, 0x00]);
        assert_eq!(walk_tags(0x8100, &buf), Err(Error::Malformed));
        // Replace the 8th tag's inner EtherType by IPv4: exactly 8 tags, accepted.
        buf[30] = 0x08;
        let t = walk_tags(0x8100, &buf).unwrap();
        assert_eq!(t.count, 8);
        assert_eq!(t.ethertype, 0x0800);
        assert_eq!(t.payload_offset, 32);
    }
}
