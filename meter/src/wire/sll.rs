//! Linux "cooked" capture headers: SLL (DLT_LINUX_SLL, 16 octets) and SLL2
//! (DLT_LINUX_SLL2, 20 octets).
//!
//! Contract: `new_checked` guarantees the whole fixed header is present. The protocol field
//! is an EtherType for every link the parser meters (Ethernet, IP tunnels, PPP); libpcap
//! may re-insert a VLAN tag after the header, so callers continue with the same tag walk as
//! for Ethernet. The address-length field is not trusted: [`SllHeader::addr`] returns at
//! most the 8 octets the header has room for. Nothing panics and nothing allocates.

use super::{Error, be16, be32, tail, u8_at};

pub mod field {
    use core::ops::Range;
    pub const PKTTYPE: Range<usize> = 0..2;
    pub const HATYPE: Range<usize> = 2..4;
    pub const HALEN: Range<usize> = 4..6;
    pub const ADDR: Range<usize> = 6..14;
    pub const PROTOCOL: Range<usize> = 14..16;
    pub const PAYLOAD: usize = 16;
}

pub mod field2 {
    use core::ops::Range;
    pub const PROTOCOL: Range<usize> = 0..2;
    pub const RESERVED: Range<usize> = 2..4;
    pub const IFINDEX: Range<usize> = 4..8;
    pub const HATYPE: Range<usize> = 8..10;
    pub const PKTTYPE: usize = 10;
    pub const HALEN: usize = 11;
    pub const ADDR: Range<usize> = 12..20;
    pub const PAYLOAD: usize = 20;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
pub const HEADER_LEN2: usize = field2::PAYLOAD;

/// A read-only view of an SLL (v1) header.
#[derive(Debug, Clone, Copy)]
pub struct SllHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        SllHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(SllHeader { buffer })
    }

    /// 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us.
    #[inline]
    pub fn packet_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PKTTYPE)
    }

    /// ARPHRD_ type of the interface.
    #[inline]
    pub fn hatype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HATYPE)
    }

    /// The link-layer source address (at most 8 octets, as the header has no more room).
    #[inline]
    pub fn addr(&self) -> &[u8] {
        let n = usize::from(be16(self.buffer.as_ref(), field::HALEN)).min(8);
        self.buffer
            .as_ref()
            .get(field::ADDR.start..field::ADDR.start + n)
            .unwrap_or(&[])
    }

    #[inline]
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

/// A read-only view of an SLL2 header.
#[derive(Debug, Clone, Copy)]
pub struct Sll2Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll2Header<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Sll2Header { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN2 {
            return Err(Error::Truncated);
        }
        Ok(Sll2Header { buffer })
    }

    #[inline]
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field2::PROTOCOL)
    }

    #[inline]
    pub fn interface_index(&self) -> u32 {
        be32(self.buffer.as_ref(), field2::IFINDEX)
    }

    #[inline]
    pub fn hatype(&self) -> u16 {
        be16(self.buffer.as_ref(), field2::HATYPE)
    }

    #[inline]
    pub fn packet_type(&self) -> u8 {
        u8_at(self.buffer.as_ref(), field2::PKTTYPE)
    }

    #[inline]
    pub fn addr(&self) -> &[u8] {
        let n = usize::from(u8_at(self.buffer.as_ref(), field2::HALEN)).min(8);
        self.buffer
            .as_ref()
            .get(field2::ADDR.start..field2::ADDR.start + n)
            .unwrap_or(&[])
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field2::PAYLOAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Outgoing IPv4 on an Ethernet interface (packet type 4, ARPHRD_ETHER 1, 6-byte MAC).
    const SLL: [u8; 17] = [
        0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x00, 0x00, 0x08,
        0x00, 0x45,
    ];

    #[test]
    fn sll_v1() {
        let h = SllHeader::new_checked(&SLL[..]).unwrap();
        assert_eq!(h.packet_type(), 4);
        assert_eq!(h.hatype(), 1);
        assert_eq!(h.addr(), &[0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(h.protocol(), 0x0800);
        assert_eq!(h.payload(), &[0x45]);
        assert_eq!(
            SllHeader::new_checked(&SLL[..15]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn sll_v1_lying_address_length() {
        let mut b = SLL;
        b[5] = 200;
        let h = SllHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.addr().len(), 8);
        // Unchecked view over a short buffer: empty address, no panic.
        assert!(SllHeader::new_unchecked(&b[..7]).addr().is_empty());
    }

    const SLL2: [u8; 21] = [
        0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x06, 0x02, 0x42, 0xac,
        0x11, 0x00, 0x02, 0x00, 0x00, 0x60,
    ];

    #[test]
    fn sll_v2() {
        let h = Sll2Header::new_checked(&SLL2[..]).unwrap();
        assert_eq!(h.protocol(), 0x86dd);
        assert_eq!(h.interface_index(), 3);
        assert_eq!(h.hatype(), 1);
        assert_eq!(h.packet_type(), 0);
        assert_eq!(h.addr(), &[0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(h.payload(), &[0x60]);
        assert_eq!(
            Sll2Header::new_checked(&SLL2[..19]).err(),
            Some(Error::Truncated)
        );
    }
}
