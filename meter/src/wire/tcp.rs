//! TCP headers.
//!
//! Contract: [`TcpPacket::new_checked`] guarantees the 20-octet fixed header, a data offset
//! ≥ 5 ([`Error::Malformed`] otherwise) and the whole header, options included, inside the
//! buffer ([`Error::Truncated`] otherwise). [`TcpPacket::new_fixed`] checks only the fixed
//! 20 octets and the data offset ≥ 5, for captures whose snap length cuts the options: then
//! [`TcpPacket::options`] returns what the buffer holds of them. Whether the header fits in
//! the IP payload is the dissector's business. Nothing panics and nothing allocates.

use super::{Error, be16, be32, tail};

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (4 bits) | flags (12 bits, IE 6 layout).
    pub const DOFF_FLAGS: Range<usize> = 12..14;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;
/// Length of a header with the most options.
pub const MAX_HEADER_LEN: usize = 60;
/// NOP, NOP, timestamp: the whole option block of nearly every segment after the handshake
/// on a connection that negotiated timestamps (RFC 7323 Appendix A).
pub const NOP_NOP_TIMESTAMP_LEN: usize = 12;

/// A read-only view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Check the fixed header and a sane data offset, not that the options are all there.
    pub fn new_fixed(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = TcpPacket { buffer };
        if p.header_len() < MIN_HEADER_LEN {
            return Err(Error::Malformed);
        }
        Ok(p)
    }

    /// Check the whole header, options included.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_fixed(buffer)?;
        if p.header_len() > p.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in octets (data offset · 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::DOFF_FLAGS) >> 12) * 4
    }

    /// The 12 flag bits (FIN 0x001 … AE 0x100 and the three reserved bits above it).
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DOFF_FLAGS) & 0x0fff
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option octets the buffer holds (all of them after `new_checked`).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.header_len().min(b.len());
        b.get(field::OPTIONS..end).unwrap_or(&[])
    }

    /// The payload octets the buffer holds.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40000 -> 443, SYN|ECE|CWR|AE, doff 6 with MSS 1460.
    const SYN: [u8; 24] = [
        0x9c, 0x40, 0x01, 0xbb, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0xc2, 0xfa,
        0xf0, 0xab, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn good_header() {
        let t = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(t.src_port(), 40000);
        assert_eq!(t.dst_port(), 443);
        assert_eq!(t.seq_number(), 0x1000);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), 0x1c2);
        assert_eq!(t.window_len(), 64240);
        assert_eq!(t.checksum(), 0xabcd);
        assert_eq!(t.urgent_at(), 0);
        assert_eq!(t.options(), &[0x02, 0x04, 0x05, 0xb4]);
        assert!(t.payload().is_empty());
    }

    #[test]
    fn truncated() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).err(),
            Some(Error::Truncated)
        );
        // Options cut by the capture: refused whole, accepted as a fixed header.
        assert_eq!(
            TcpPacket::new_checked(&SYN[..22]).err(),
            Some(Error::Truncated)
        );
        let t = TcpPacket::new_fixed(&SYN[..22]).unwrap();
        assert_eq!(t.options(), &[0x02, 0x04]);
        assert!(t.payload().is_empty());
    }

    #[test]
    fn lying_data_offset() {
        let mut b = SYN;
        b[12] = 0x41; // doff 4
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(Error::Malformed));
        assert_eq!(TcpPacket::new_fixed(&b[..]).err(), Some(Error::Malformed));
        b[12] = 0xf1; // doff 15: 60 octets, 24 present
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(Error::Truncated));
        let u = TcpPacket::new_unchecked(&b[..]);
        assert_eq!(u.options().len(), 4);
        assert!(u.payload().is_empty());
        let e = TcpPacket::new_unchecked(&b[..3]);
        assert_eq!(e.dst_port(), 0);
        assert!(e.options().is_empty());
    }
}
