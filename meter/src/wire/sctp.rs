//! SCTP common headers (ports only; chunks are not parsed).
//!
//! Contract: [`SctpPacket::new_checked`] guarantees the 12-octet common header. Nothing
//! panics and nothing allocates.

use super::{Error, be16, be32, tail};

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const VERIFICATION_TAG: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 8..12;
    pub const CHUNKS: usize = 12;
}

pub const HEADER_LEN: usize = field::CHUNKS;

/// A read-only view of an SCTP packet.
#[derive(Debug, Clone, Copy)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        SctpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(SctpPacket { buffer })
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
    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VERIFICATION_TAG)
    }

    #[inline]
    pub fn checksum(&self) -> u32 {
        be32(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn chunks(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::CHUNKS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_truncated() {
        let b = [
            0x0b, 0x59, 0x0b, 0x5a, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x01,
        ];
        let s = SctpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(s.src_port(), 2905);
        assert_eq!(s.dst_port(), 2906);
        assert_eq!(s.verification_tag(), 0xdeadbeef);
        assert_eq!(s.checksum(), 0x01020304);
        assert_eq!(s.chunks(), &[0x01]);
        assert_eq!(
            SctpPacket::new_checked(&b[..11]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(SctpPacket::new_unchecked(&b[..5]).verification_tag(), 0);
    }
}
