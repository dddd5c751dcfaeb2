//! ICMP (IPv4) and ICMPv6 headers: type, code and checksum, the part every message shares.
//!
//! Contract: [`IcmpPacket::new_checked`] guarantees those 4 octets. The message body is not
//! interpreted (an error message's quoted header is not metered as a flow). Nothing panics
//! and nothing allocates.

use super::{Error, be16, tail, u8_at};

pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const BODY: usize = 4;
}

pub const HEADER_LEN: usize = field::BODY;

/// A read-only view of an ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(IcmpPacket { buffer })
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::TYPE)
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field::CODE)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn body(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::BODY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_and_truncation() {
        // ICMPv4 destination unreachable, port unreachable.
        let b = [3, 3, 0xfc, 0xfc, 0, 0, 0, 0];
        let i = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((i.msg_type(), i.msg_code()), (3, 3));
        assert_eq!(i.checksum(), 0xfcfc);
        assert_eq!(i.body(), &[0, 0, 0, 0]);
        // ICMPv6 echo request.
        let v6 = IcmpPacket::new_checked(&[128u8, 0, 0x12, 0x34][..]).unwrap();
        assert_eq!((v6.msg_type(), v6.msg_code()), (128, 0));
        assert!(v6.body().is_empty());
        assert_eq!(
            IcmpPacket::new_checked(&b[..3]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(IcmpPacket::new_unchecked(&b[..1]).msg_code(), 0);
    }
}
