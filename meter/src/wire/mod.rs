//! Typed, zero-copy views over header bytes, in the manner of smoltcp's `wire` module.
//!
//! Contract shared by every view in this module:
//! - A view is `X<T: AsRef<[u8]>> { buffer: T }`. `X::new_checked(buf)` validates, once,
//!   that the fixed part of the header (and any length the header states about itself,
//!   such as IPv4 IHL or TCP data offset) lies inside `buf`; it returns [`Error`] otherwise.
//!   `X::new_unchecked` wraps without checking.
//! - Accessors never panic, whatever the buffer: every read goes through a checked
//!   `get`, and a field outside the buffer (possible only after `new_unchecked`) reads as 0
//!   or as an empty slice. After `new_checked` every fixed field is inside the buffer.
//! - Field offsets are named constants in each file's `field` module.
//! - Views only read: nothing is emitted, nothing allocates.
//! - Lengths that depend on other layers (an IP total length against the capture, a TCP
//!   header against the IP payload) are the dissector's business ([`crate::dissect`]), not
//!   the view's.

pub mod dccp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod sctp;
pub mod sll;
pub mod tcp;
pub mod udp;

use core::ops::Range;

/// Why a view could not be made over a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header's fixed part or than the length the header
    /// states for itself.
    Truncated,
    /// A field contradicts the protocol (wrong version, a self-length below the minimum).
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "header truncated",
            Error::Malformed => "header malformed",
        })
    }
}

impl std::error::Error for Error {}

/// EtherType values the parser follows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag.
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ service tag.
    pub const QINQ_OLD: u16 = 0x9100;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
}

/// IP protocol numbers the parser follows.
pub mod ip_proto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const DCCP: u8 = 33;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
    pub const EXPERIMENT1: u8 = 253;
    pub const EXPERIMENT2: u8 = 254;
}

/// The byte at `at`, or 0 outside the buffer.
#[inline(always)]
pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Big-endian u16 over `r` (2 bytes), or 0 outside the buffer.
#[inline(always)]
pub(crate) fn be16(b: &[u8], r: Range<usize>) -> u16 {
    match b.get(r) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Big-endian u32 over `r` (4 bytes), or 0 outside the buffer.
#[inline(always)]
pub(crate) fn be32(b: &[u8], r: Range<usize>) -> u32 {
    match b.get(r) {
        Some(&[a, c, d, e]) => u32::from_be_bytes([a, c, d, e]),
        _ => 0,
    }
}

/// `N` bytes over `r`, or zeros outside the buffer.
#[inline(always)]
pub(crate) fn array<const N: usize>(b: &[u8], r: Range<usize>) -> [u8; N] {
    b.get(r)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// The `N` bytes from `at` as a fixed-size array (a view whose every read is in bounds),
/// or `None` when the buffer is shorter.
#[inline(always)]
pub(crate) fn chunk_at<const N: usize>(b: &[u8], at: usize) -> Option<&[u8; N]> {
    b.get(at..)?.first_chunk::<N>()
}

/// `b[from..]`, or empty when `from` is past the end.
#[inline(always)]
pub(crate) fn tail(b: &[u8], from: usize) -> &[u8] {
    b.get(from..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_read_zero_outside_the_buffer() {
        let b = [0x12, 0x34, 0x56];
        assert_eq!(u8_at(&b, 2), 0x56);
        assert_eq!(u8_at(&b, 3), 0);
        assert_eq!(be16(&b, 0..2), 0x1234);
        assert_eq!(be16(&b, 2..4), 0);
        assert_eq!(be32(&b, 0..4), 0);
        assert_eq!(array::<3>(&b, 0..3), [0x12, 0x34, 0x56]);
        assert_eq!(array::<4>(&b, 0..4), [0; 4]);
        assert_eq!(tail(&b, 1), &[0x34, 0x56]);
        assert_eq!(tail(&b, 9), &[] as &[u8]);
        // An inverted range must not panic either.
        #[allow(clippy::reversed_empty_ranges)]
        let r = 3..1;
        assert_eq!(be16(&b, r), 0);
    }
}
