//! UDP and UDP-Lite headers (same 8-octet layout; UDP-Lite's length field is the checksum
//! coverage).
//!
//! Contract: [`UdpPacket::new_checked`] guarantees the 8-octet header. The length field is
//! reported, not trusted: the IP length decides what is counted. Nothing panics and
//! nothing allocates.

use super::{Error, be16, tail};

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read-only view of a UDP (or UDP-Lite) datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(UdpPacket { buffer })
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// UDP: datagram length; UDP-Lite: checksum coverage.
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_truncated_lying() {
        let b = [0x00, 0x35, 0xc3, 0x50, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(u.src_port(), 53);
        assert_eq!(u.dst_port(), 50000);
        assert_eq!(u.length(), 12);
        assert_eq!(u.checksum(), 0x1234);
        assert_eq!(u.payload(), &[1, 2, 3, 4]);
        assert_eq!(
            UdpPacket::new_checked(&b[..7]).err(),
            Some(Error::Truncated)
        );
        // A length field claiming more than is there is reported as is.
        let mut lie = b;
        lie[4] = 0xff;
        assert_eq!(UdpPacket::new_checked(&lie[..]).unwrap().length(), 0xff0c);
        let e = UdpPacket::new_unchecked(&b[..1]);
        assert_eq!((e.src_port(), e.length()), (0, 0));
        assert!(e.payload().is_empty());
    }
}
