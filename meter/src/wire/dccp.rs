//! DCCP generic headers (ports and the parts that give the header's size).
//!
//! Contract: [`DccpPacket::new_checked`] guarantees the generic header: 12 octets, or 16
//! when the X bit announces 48-bit sequence numbers ([`Error::Truncated`] otherwise), and a
//! data offset not smaller than that ([`Error::Malformed`]). Options beyond the generic
//! header are not needed for metering and not checked. Nothing panics and nothing
//! allocates.

use super::{Error, be16, u8_at};

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    /// Header length in 4-octet words.
    pub const DATA_OFFSET: usize = 4;
    pub const CCVAL_CSCOV: usize = 5;
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Reserved (3) | type (4) | X (1).
    pub const RES_TYPE_X: usize = 8;
}

/// Generic header length with 24-bit sequence numbers (X = 0).
pub const SHORT_HEADER_LEN: usize = 12;
/// Generic header length with 48-bit sequence numbers (X = 1).
pub const LONG_HEADER_LEN: usize = 16;

/// A read-only view of a DCCP packet.
#[derive(Debug, Clone, Copy)]
pub struct DccpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DccpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        DccpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = DccpPacket { buffer };
        let len = p.buffer.as_ref().len();
        if len < SHORT_HEADER_LEN || len < p.generic_header_len() {
            return Err(Error::Truncated);
        }
        if p.header_len() < p.generic_header_len() {
            return Err(Error::Malformed);
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

    /// Header length in octets (data offset · 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.buffer.as_ref(), field::DATA_OFFSET)) * 4
    }

    /// Packet type (0 Request … 9 Sync).
    #[inline]
    pub fn packet_type(&self) -> u8 {
        (u8_at(self.buffer.as_ref(), field::RES_TYPE_X) >> 1) & 0x0f
    }

    #[inline]
    pub fn extended_seq(&self) -> bool {
        u8_at(self.buffer.as_ref(), field::RES_TYPE_X) & 1 != 0
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// 12 or 16 octets, by the X bit.
    #[inline]
    pub fn generic_header_len(&self) -> usize {
        if self.extended_seq() {
            LONG_HEADER_LEN
        } else {
            SHORT_HEADER_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_with_extended_seq() {
        // 5001 -> 5002, doff 5 (20 octets), type Request (0), X = 1.
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&[0x13, 0x89, 0x13, 0x8a]);
        b[4] = 5;
        b[8] = 0x01;
        let d = DccpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((d.src_port(), d.dst_port()), (5001, 5002));
        assert_eq!(d.packet_type(), 0);
        assert!(d.extended_seq());
        assert_eq!(d.header_len(), 20);
        assert_eq!(d.generic_header_len(), 16);
        // X = 1 needs 16 octets.
        assert_eq!(
            DccpPacket::new_checked(&b[..14]).err(),
            Some(Error::Truncated)
        );
        // Data offset below the generic header.
        let mut lie = b;
        lie[4] = 3;
        assert_eq!(
            DccpPacket::new_checked(&lie[..]).err(),
            Some(Error::Malformed)
        );
        // X = 0, type Data (2): 12 octets are enough.
        let mut short = [0u8; 12];
        short[4] = 3;
        short[8] = 2 << 1;
        let d = DccpPacket::new_checked(&short[..]).unwrap();
        assert_eq!(d.packet_type(), 2);
        assert_eq!(
            DccpPacket::new_checked(&short[..11]).err(),
            Some(Error::Truncated)
        );
    }
}
