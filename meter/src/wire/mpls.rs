//! MPLS label stacks (EtherTypes 0x8847 / 0x8848).
//!
//! Contract: [`MplsLabel::new_checked`] guarantees one 4-octet label stack entry.
//! [`walk_stack`] follows entries until the bottom-of-stack bit, at most [`MAX_LABELS`]; a
//! stack cut by the buffer is [`Error::Truncated`]. MPLS does not say what it carries, so
//! after the bottom of the stack the payload's first nibble is taken as the IP version
//! (4 or 6), as routers' ECMP hashing does; anything else (pseudowire control word,
//! Ethernet over MPLS, no payload at all) and a stack deeper than [`MAX_LABELS`] are
//! [`Error::Malformed`]. Nothing panics and nothing allocates.

use super::{Error, be32, tail};

/// Deepest label stack we follow.
pub const MAX_LABELS: usize = 16;

pub mod field {
    use core::ops::Range;
    /// Label (20) | TC (3) | S (1) | TTL (8).
    pub const ENTRY: Range<usize> = 0..4;
    pub const PAYLOAD: usize = 4;
}

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = field::PAYLOAD;

/// A read-only view of one label stack entry.
#[derive(Debug, Clone, Copy)]
pub struct MplsLabel<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MplsLabel<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        MplsLabel { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < ENTRY_LEN {
            return Err(Error::Truncated);
        }
        Ok(MplsLabel { buffer })
    }

    /// The whole 32-bit entry.
    #[inline]
    pub fn entry(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ENTRY)
    }

    #[inline]
    pub fn label(&self) -> u32 {
        self.entry() >> 12
    }

    /// Traffic class (formerly EXP), 3 bits.
    #[inline]
    pub fn tc(&self) -> u8 {
        ((self.entry() >> 9) & 0x7) as u8
    }

    #[inline]
    pub fn bottom_of_stack(&self) -> bool {
        self.entry() & 0x100 != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.entry() as u8
    }
}

/// What the payload after the stack looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MplsPayload {
    Ipv4,
    Ipv6,
}

/// Result of following a label stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MplsStack {
    /// Top entry without its TTL: label (20) | TC (3) | S (1), in the low 24 bits.
    pub top: u32,
    /// Number of entries.
    pub depth: u8,
    /// Offset of the payload in the walked buffer.
    pub payload_offset: usize,
    pub payload: MplsPayload,
}

/// Follow the label stack at the start of `buf`.
#[inline]
pub fn walk_stack(buf: &[u8]) -> Result<MplsStack, Error> {
    let mut off = 0usize;
    let mut top = 0u32;
    for depth in 1..=MAX_LABELS {
        let l = MplsLabel::new_checked(tail(buf, off))?;
        if depth == 1 {
            top = l.entry() >> 8;
        }
        off += ENTRY_LEN;
        if l.bottom_of_stack() {
            let payload = match buf.get(off).map(|b| b >> 4) {
                Some(4) => MplsPayload::Ipv4,
                Some(6) => MplsPayload::Ipv6,
                _ => return Err(Error::Malformed),
            };
            return Ok(MplsStack {
                top,
                depth: depth as u8,
                payload_offset: off,
                payload,
            });
        }
    }
    Err(Error::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields() {
        // Label 0x12345, TC 5, S 1, TTL 64.
        let e = (0x12345u32 << 12) | (5 << 9) | (1 << 8) | 64;
        let b = e.to_be_bytes();
        let l = MplsLabel::new_checked(&b[..]).unwrap();
        assert_eq!(l.label(), 0x12345);
        assert_eq!(l.tc(), 5);
        assert!(l.bottom_of_stack());
        assert_eq!(l.ttl(), 64);
        assert_eq!(
            MplsLabel::new_checked(&b[..3]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(MplsLabel::new_unchecked(&b[..2]).entry(), 0);
    }

    fn entry(label: u32, bottom: bool) -> [u8; 4] {
        ((label << 12) | (u32::from(bottom) << 8) | 255).to_be_bytes()
    }

    #[test]
    fn two_labels_then_ipv4() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&entry(16, false));
        buf.extend_from_slice(&entry(17, true));
        buf.push(0x45);
        let s = walk_stack(&buf).unwrap();
        assert_eq!(s.depth, 2);
        assert_eq!(s.top, 16 << 4);
        assert_eq!(s.payload_offset, 8);
        assert_eq!(s.payload, MplsPayload::Ipv4);
    }

    #[test]
    fn ipv6_payload() {
        let mut buf = entry(3, true).to_vec();
        buf.push(0x60);
        assert_eq!(walk_stack(&buf).unwrap().payload, MplsPayload::Ipv6);
    }

    #[test]
    fn not_ip_payload() {
        // Pseudowire control word starts with nibble 0.
        let mut buf = entry(3, true).to_vec();
        buf.push(0x00);
        assert_eq!(walk_stack(&buf), Err(Error::Malformed));
        // Nothing after the stack.
        assert_eq!(walk_stack(&entry(3, true)), Err(Error::Malformed));
    }

    #[test]
    fn truncated_stack() {
        assert_eq!(walk_stack(&[0, 0, 0]), Err(Error::Truncated));
        let mut buf = entry(5, false).to_vec();
        buf.extend_from_slice(&[0, 0]);
        assert_eq!(walk_stack(&buf), Err(Error::Truncated));
    }

    #[test]
    fn depth_limit() {
        let mut buf = Vec::new();
        for i in 0..MAX_LABELS {
            buf.extend_from_slice(&entry(100 + i as u32, i + 1 == MAX_LABELS));
        }
        buf.push(0x45);
        assert_eq!(walk_stack(&buf).unwrap().depth, MAX_LABELS as u8);
        // One more label before the bottom: refused.
        let mut deep = entry(99, false).to_vec();
        deep.extend_from_slice(&buf);
        assert_eq!(walk_stack(&deep), Err(Error::Malformed));
    }
}
