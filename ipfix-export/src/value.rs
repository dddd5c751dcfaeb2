//! Typed values and the [`FieldSink`] trait, plus the binary record encoder.
//!
//! A record is produced by calling [`FieldSink::put`] once per template field, in template
//! order. The binary [`RecordEncoder`] appends each value with exactly `field.length`
//! octets (or a variable-length prefix and the value). It never panics: a value that does
//! not fit its field is written as zeros of the field's length (an empty value for
//! variable-length fields) and counted in [`RecordEncoder::mismatches`], so the record
//! keeps its layout and the collector can still decode it.
//!
//! Encoding rules (RFC 7011 §6, RFC 6313, RFC 9740):
//! - Unsigned values (`U8`..`U64`, `U256`) take the low-order `length` octets, big-endian:
//!   reduced-size encoding when the field is shorter than the value, zero-extended when it
//!   is longer (up to 32 octets). Dropping non-zero high octets is the caller's choice of
//!   field size and is not counted.
//! - `Bool`: one octet, 1 = true, 2 = false.
//! - `Ipv4`/`Ipv6`/`Mac`: exactly 4/16/6 octets.
//! - `DateTimeMs` (milliseconds since the Unix epoch) follows the field's data type:
//!   dateTimeSeconds (4 octets), dateTimeMilliseconds (8), dateTimeMicroseconds /
//!   dateTimeNanoseconds (8, NTP format: seconds since 1900 and a 2^-32 fraction; the low
//!   11 fraction bits are zero for microseconds). Reduced size is not allowed for times.
//! - `Bytes`/`Str` in a fixed field: at most `length` octets, zero-padded on the right.
//! - Variable-length fields: a 1-octet length if < 255, else 255 and a 2-octet length.
//! - `BasicList`: semantic ‖ field ID (enterprise bit if the element has a PEN) ‖ element
//!   length ‖ PEN (if any) ‖ elements (RFC 6313 §4.5.1).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ie::{DataType, Ie, VARLEN};
use crate::template::Field;

/// One typed value.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    /// Big-endian 256-bit unsigned value.
    U256([u8; 32]),
    Bool(bool),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Mac([u8; 6]),
    /// Milliseconds since the Unix epoch.
    DateTimeMs(u64),
    Bytes(&'a [u8]),
    Str(&'a str),
    /// RFC 6313 basicList of fixed-size elements.
    BasicList {
        element: Ie,
        /// 0xFF undefined, 0 noneOf, 1 exactlyOneOf, 2 oneOrMoreOf, 3 allOf, 4 ordered.
        semantic: u8,
        /// Concatenated element values, each `element_len` octets.
        values: &'a [u8],
        element_len: u16,
    },
}

/// Where the values of a record go: the binary encoder or, in the meter, a JSON line.
pub trait FieldSink {
    fn put(&mut self, field: &Field, value: Value<'_>);
}

/// Seconds between the NTP era 0 epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Where a [`RecordEncoder`] appends octets.
pub trait Octets {
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn push(&mut self, byte: u8);
    fn zeros(&mut self, n: usize);
}

impl Octets for Vec<u8> {
    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

/// Octets a [`RecordBuf`] holds: more than any IPFIX message.
pub const RECORD_BUF_LEN: usize = 1 << 16;

/// One data record's octets in a fixed array. Appending to it is a bounds check and a
/// store: a `Vec` behind a reference is reloaded and capacity-checked at every append
/// (the store could have changed it, as far as the compiler knows), which was a third of
/// the exporter's instructions. What does not fit is dropped and the record marked
/// overflowed (no message could carry it anyway).
pub struct RecordBuf {
    bytes: [u8; RECORD_BUF_LEN],
    len: usize,
    overflow: bool,
}

impl RecordBuf {
    pub fn new() -> Box<RecordBuf> {
        Box::new(RecordBuf {
            bytes: [0; RECORD_BUF_LEN],
            len: 0,
            overflow: false,
        })
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// The record, or `None` if it overflowed.
    pub fn record(&self) -> Option<&[u8]> {
        if self.overflow {
            None
        } else {
            self.bytes.get(..self.len)
        }
    }
}

impl Octets for RecordBuf {
    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }
    #[inline(always)]
    fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }
    fn zeros(&mut self, n: usize) {
        match self.bytes.get_mut(self.len..self.len.saturating_add(n)) {
            Some(to) => {
                to.fill(0);
                self.len += n;
            }
            None => self.overflow = true,
        }
    }
}

/// Binary encoder: appends each value to `buf` in its wire form.
pub struct RecordEncoder<'b, O: Octets = Vec<u8>> {
    pub buf: &'b mut O,
    /// Values that did not fit their field (written as zeros).
    pub mismatches: u32,
}

impl<'b, O: Octets> RecordEncoder<'b, O> {
    pub fn new(buf: &'b mut O) -> RecordEncoder<'b, O> {
        RecordEncoder { buf, mismatches: 0 }
    }

    fn mismatch(&mut self, length: u16) {
        self.mismatches = self.mismatches.saturating_add(1);
        if length == VARLEN {
            self.buf.push(0);
        } else {
            self.buf.zeros(usize::from(length));
        }
    }

    /// Low-order `len` octets of a big-endian 32-octet value, zero-extended above 32.
    #[inline]
    fn put_unsigned_be(&mut self, be32: &[u8; 32], length: u16) {
        if length == VARLEN {
            // No field size to reduce to: send the shortest form that keeps the value,
            // but at least one octet.
            let skip = be32.iter().take(31).take_while(|&&b| b == 0).count();
            let body = &be32[skip..];
            self.put_varlen_prefix(body.len());
            self.buf.extend_from_slice(body);
            return;
        }
        // The usual reduced sizes as fixed-size copies (a computed length is a memcpy call).
        match length {
            8 => self.buf.extend_from_slice(&be32[24..]),
            4 => self.buf.extend_from_slice(&be32[28..]),
            32 => self.buf.extend_from_slice(be32),
            l if l > 32 => self.mismatch(length),
            l => self.buf.extend_from_slice(&be32[32 - usize::from(l)..]),
        }
    }

    /// An unsigned value in a field of at most 8 octets (every unsigned IE but 256-bit
    /// flags): the low-order octets, without the 32-octet detour.
    #[inline(always)]
    fn put_uint(&mut self, v: u64, length: u16) {
        // The common sizes as fixed-size copies, which compile to one store each; a copy of
        // a computed length is a call to memcpy (most of the encoder's time before).
        match length {
            1 => self.buf.push(v as u8),
            2 => self.buf.extend_from_slice(&(v as u16).to_be_bytes()),
            4 => self.buf.extend_from_slice(&(v as u32).to_be_bytes()),
            8 => self.buf.extend_from_slice(&v.to_be_bytes()),
            l if l != VARLEN && l < 8 => {
                self.buf
                    .extend_from_slice(&v.to_be_bytes()[8 - usize::from(l)..]);
            }
            _ => self.put_unsigned_be(&be32_of(v), length),
        }
    }

    /// A value of exactly `N` octets (an address, a time) into a field of `length`.
    #[inline]
    fn put_array<const N: usize>(&mut self, bytes: [u8; N], length: u16) {
        if usize::from(length) == N {
            self.buf.extend_from_slice(&bytes);
        } else {
            self.put_exact(&bytes, length);
        }
    }

    fn put_varlen_prefix(&mut self, len: usize) {
        if len < 255 {
            self.buf.push(len as u8);
        } else {
            self.buf.push(255);
            self.buf
                .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        }
    }

    /// Exactly-sized values (addresses, booleans, times): the field must have that size,
    /// or be variable-length.
    fn put_exact(&mut self, bytes: &[u8], length: u16) {
        if length == VARLEN {
            self.put_varlen_prefix(bytes.len());
            self.buf.extend_from_slice(bytes);
        } else if usize::from(length) == bytes.len() {
            self.buf.extend_from_slice(bytes);
        } else {
            self.mismatch(length);
        }
    }

    fn put_octets(&mut self, bytes: &[u8], length: u16) {
        if length == VARLEN {
            if bytes.len() > usize::from(u16::MAX) {
                self.mismatch(length);
                return;
            }
            self.put_varlen_prefix(bytes.len());
            self.buf.extend_from_slice(bytes);
        } else if bytes.len() <= usize::from(length) {
            self.buf.extend_from_slice(bytes);
            self.buf.zeros(usize::from(length) - bytes.len());
        } else {
            self.mismatch(length);
        }
    }

    #[inline(always)]
    fn put_datetime_ms(&mut self, ms: u64, field: &Field) {
        match field.ie.data_type {
            DataType::DateTimeSeconds => match u32::try_from(ms / 1000) {
                Ok(s) => self.put_array(s.to_be_bytes(), field.length),
                Err(_) => self.mismatch(field.length),
            },
            DataType::DateTimeMicroseconds | DataType::DateTimeNanoseconds => {
                // NTP seconds wrap at era boundaries (2036); RFC 7011 §6.1.9 leaves the
                // era implicit, so wrapping is the wire format.
                let secs = (ms / 1000).wrapping_add(NTP_UNIX_OFFSET) as u32;
                let mut frac = (((ms % 1000) << 32) / 1000) as u32;
                if field.ie.data_type == DataType::DateTimeMicroseconds {
                    frac &= !0x7FF;
                }
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&secs.to_be_bytes());
                b[4..].copy_from_slice(&frac.to_be_bytes());
                self.put_array(b, field.length);
            }
            _ => self.put_array(ms.to_be_bytes(), field.length),
        }
    }

    fn put_basic_list(
        &mut self,
        element: &Ie,
        semantic: u8,
        values: &[u8],
        element_len: u16,
        length: u16,
    ) {
        let well_formed = element.id <= 0x7FFF
            && element_len != 0
            && (element_len == VARLEN || values.len().is_multiple_of(usize::from(element_len)));
        let header = if element.pen == 0 { 5 } else { 9 };
        let content = header + values.len();
        let fits = if length == VARLEN {
            content <= usize::from(u16::MAX)
        } else {
            content == usize::from(length)
        };
        if !well_formed || !fits {
            self.mismatch(length);
            return;
        }
        if length == VARLEN {
            self.put_varlen_prefix(content);
        }
        self.buf.push(semantic);
        if element.pen == 0 {
            self.buf.extend_from_slice(&element.id.to_be_bytes());
            self.buf.extend_from_slice(&element_len.to_be_bytes());
        } else {
            self.buf
                .extend_from_slice(&(0x8000 | element.id).to_be_bytes());
            self.buf.extend_from_slice(&element_len.to_be_bytes());
            self.buf.extend_from_slice(&element.pen.to_be_bytes());
        }
        self.buf.extend_from_slice(values);
    }
}

fn be32_of(v: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&v.to_be_bytes());
    b
}

impl<O: Octets> FieldSink for RecordEncoder<'_, O> {
    // Inline: where the value's variant is known at the call (the profile's writers), the
    // dispatch below folds away.
    #[inline(always)]
    fn put(&mut self, field: &Field, value: Value<'_>) {
        let length = field.length;
        // A value in a field of its own width, the usual case, is one compare and one
        // store; the width-changing cases go through `put_uint`'s match (which was a
        // sixth of the exporter's instructions when every field took it).
        match value {
            Value::U8(v) if length == 1 => self.buf.push(v),
            Value::U16(v) if length == 2 => self.buf.extend_from_slice(&v.to_be_bytes()),
            Value::U32(v) if length == 4 => self.buf.extend_from_slice(&v.to_be_bytes()),
            Value::U64(v) if length == 8 => self.buf.extend_from_slice(&v.to_be_bytes()),
            Value::U8(v) => self.put_uint(u64::from(v), length),
            Value::U16(v) => self.put_uint(u64::from(v), length),
            Value::U32(v) => self.put_uint(u64::from(v), length),
            Value::U64(v) => self.put_uint(v, length),
            Value::U256(v) => self.put_unsigned_be(&v, length),
            Value::Bool(v) => self.put_array([if v { 1 } else { 2 }], length),
            Value::Ipv4(a) => self.put_array(a.octets(), length),
            Value::Ipv6(a) => self.put_array(a.octets(), length),
            Value::Mac(m) => self.put_array(m, length),
            Value::DateTimeMs(ms) => self.put_datetime_ms(ms, field),
            Value::Bytes(b) => self.put_octets(b, length),
            Value::Str(s) => self.put_octets(s.as_bytes(), length),
            Value::BasicList {
                element,
                semantic,
                values,
                element_len,
            } => self.put_basic_list(&element, semantic, values, element_len, length),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{enterprise, iana};

    fn enc(field: Field, value: Value<'_>) -> (Vec<u8>, u32) {
        let mut buf = vec![0xEE]; // something already in the buffer must stay untouched
        let mut e = RecordEncoder::new(&mut buf);
        e.put(&field, value);
        let m = e.mismatches;
        assert_eq!(buf[0], 0xEE);
        (buf[1..].to_vec(), m)
    }

    #[test]
    fn unsigned_full_size() {
        let f = Field::new;
        assert_eq!(
            enc(f(iana::PROTOCOL_IDENTIFIER), Value::U8(6)),
            (vec![6], 0)
        );
        assert_eq!(
            enc(f(iana::SOURCE_TRANSPORT_PORT), Value::U16(0x1F90)),
            (vec![0x1F, 0x90], 0)
        );
        assert_eq!(
            enc(f(iana::INGRESS_INTERFACE), Value::U32(0x01020304)),
            (vec![1, 2, 3, 4], 0)
        );
        assert_eq!(
            enc(f(iana::OCTET_DELTA_COUNT), Value::U64(0x0102030405060708)),
            (vec![1, 2, 3, 4, 5, 6, 7, 8], 0)
        );
    }

    #[test]
    fn unsigned_reduced_and_widened() {
        // Reduced size keeps the low-order octets (RFC 7011 §6.2).
        assert_eq!(
            enc(
                Field::sized(iana::OCTET_DELTA_COUNT, 4),
                Value::U64(0x0000_0000_DEAD_BEEF)
            ),
            (vec![0xDE, 0xAD, 0xBE, 0xEF], 0)
        );
        assert_eq!(
            enc(Field::sized(iana::TCP_CONTROL_BITS, 1), Value::U16(0x0112)),
            (vec![0x12], 0)
        );
        // MPLS label stack section: 3 octets taken from a u32.
        assert_eq!(
            enc(
                Field::new(iana::MPLS_TOP_LABEL_STACK_SECTION),
                Value::U32(0x00AB_CDEF)
            ),
            (vec![0xAB, 0xCD, 0xEF], 0)
        );
        // A smaller value in a wider field is zero-extended.
        assert_eq!(
            enc(Field::new(iana::SELECTOR_ALGORITHM), Value::U8(1)),
            (vec![0, 1], 0)
        );
        assert_eq!(
            enc(Field::sized(iana::OCTET_DELTA_COUNT, 40), Value::U64(1)),
            (vec![0; 40], 1)
        );
    }

    #[test]
    fn record_buf_holds_what_a_vec_would_and_marks_overflow() {
        let fields = [
            (Field::new(iana::SOURCE_TRANSPORT_PORT), Value::U16(0x1F90)),
            (
                Field::sized(iana::OCTET_DELTA_COUNT, 3),
                Value::U64(0xABCDEF),
            ),
            (
                Field::sized(iana::INFORMATION_ELEMENT_NAME, 6),
                Value::Str("eth0"),
            ),
            (Field::new(iana::PROTOCOL_IDENTIFIER), Value::U8(17)),
        ];
        let (mut v, mut b) = (Vec::new(), RecordBuf::new());
        let (mut ev, mut eb) = (RecordEncoder::new(&mut v), RecordEncoder::new(&mut *b));
        for (f, x) in &fields {
            ev.put(f, *x);
            eb.put(f, *x);
        }
        assert_eq!(b.record(), Some(&v[..]));
        assert_eq!(v.len(), 2 + 3 + 6 + 1);
        b.clear();
        assert_eq!(b.record(), Some(&[][..]));
        let long = vec![7u8; RECORD_BUF_LEN - 1];
        b.extend_from_slice(&long);
        assert_eq!(b.record().map(<[u8]>::len), Some(RECORD_BUF_LEN - 1));
        b.extend_from_slice(&[1, 2]);
        assert_eq!(
            b.record(),
            None,
            "past its size the record is marked overflowed"
        );
        b.clear();
        b.zeros(RECORD_BUF_LEN + 1);
        assert_eq!(b.record(), None);
    }

    #[test]
    fn u256_full_and_reduced() {
        // RFC 9740 example: EOL + MSS + WS = kinds 0, 2, 3 = 0x0D.
        let mut v = [0u8; 32];
        v[31] = 0x0D;
        v[28] = 0x40; // kind 30 (MPTCP) = bit 30 = octet 28 from the top, 0x40
        let (full, m) = enc(Field::new(iana::TCP_OPTIONS_FULL), Value::U256(v));
        assert_eq!(m, 0);
        assert_eq!(full.len(), 32);
        assert_eq!(&full[28..], &[0x40, 0, 0, 0x0D]);
        assert!(full[..28].iter().all(|&b| b == 0));
        assert_eq!(
            enc(Field::sized(iana::TCP_OPTIONS_FULL, 4), Value::U256(v)),
            (vec![0x40, 0, 0, 0x0D], 0)
        );
        assert_eq!(
            enc(Field::sized(iana::TCP_OPTIONS_FULL, 1), Value::U256(v)),
            (vec![0x0D], 0)
        );
        v[24] = 0x99;
        assert_eq!(
            enc(Field::sized(iana::TCP_OPTIONS_FULL, 8), Value::U256(v)),
            (vec![0x99, 0, 0, 0, 0x40, 0, 0, 0x0D], 0)
        );
        assert_eq!(
            enc(Field::sized(iana::TCP_OPTIONS_FULL, 7), Value::U256(v)),
            (vec![0, 0, 0, 0x40, 0, 0, 0x0D], 0)
        );
        assert_eq!(
            enc(Field::sized(iana::TCP_OPTIONS_FULL, 33), Value::U256(v)),
            (vec![0; 33], 1),
            "wider than 256 bits: zeros and a mismatch"
        );
    }

    #[test]
    fn bool_addresses_mac() {
        assert_eq!(
            enc(
                Field::new(enterprise::TCP_SACK_PERMITTED),
                Value::Bool(true)
            ),
            (vec![1], 0)
        );
        assert_eq!(
            enc(
                Field::new(enterprise::TCP_SACK_PERMITTED),
                Value::Bool(false)
            ),
            (vec![2], 0)
        );
        assert_eq!(
            enc(
                Field::new(iana::SOURCE_IPV4_ADDRESS),
                Value::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
            ),
            (vec![192, 0, 2, 1], 0)
        );
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut want = vec![0x20, 0x01, 0x0d, 0xb8];
        want.extend_from_slice(&[0; 11]);
        want.push(1);
        assert_eq!(
            enc(Field::new(iana::SOURCE_IPV6_ADDRESS), Value::Ipv6(v6)),
            (want, 0)
        );
        assert_eq!(
            enc(
                Field::new(iana::SOURCE_MAC_ADDRESS),
                Value::Mac([0, 0x11, 0x22, 0x33, 0x44, 0x55])
            ),
            (vec![0, 0x11, 0x22, 0x33, 0x44, 0x55], 0)
        );
    }

    #[test]
    fn datetimes() {
        // 2021-01-01T00:00:00.250Z = 1609459200 s * 1000 + 250 ms.
        let ms = 1_609_459_200_250u64;
        assert_eq!(
            enc(
                Field::new(iana::FLOW_START_MILLISECONDS),
                Value::DateTimeMs(ms)
            ),
            (ms.to_be_bytes().to_vec(), 0)
        );
        // Seconds: 1609459200 = 0x5FEE6600.
        assert_eq!(
            enc(Field::new(iana::FLOW_START_SECONDS), Value::DateTimeMs(ms)),
            (vec![0x5F, 0xEE, 0x66, 0x00], 0)
        );
        // NTP: 1609459200 + 2208988800 = 3818448000 = 0xE398E480; 0.25 s = 0x40000000.
        assert_eq!(
            enc(
                Field::new(iana::FLOW_START_NANOSECONDS),
                Value::DateTimeMs(ms)
            ),
            (vec![0xE3, 0x98, 0xE4, 0x80, 0x40, 0, 0, 0], 0)
        );
        // 1 ms = 2^32/1000 = 4294967.296 -> 0x00418937; micro clears the low 11 bits
        // -> 0x00418800.
        assert_eq!(
            enc(
                Field::new(iana::FLOW_START_MICROSECONDS),
                Value::DateTimeMs(1_609_459_200_001)
            ),
            (vec![0xE3, 0x98, 0xE4, 0x80, 0x00, 0x41, 0x88, 0x00], 0)
        );
        assert_eq!(
            enc(
                Field::new(iana::FLOW_START_NANOSECONDS),
                Value::DateTimeMs(1_609_459_200_001)
            ),
            (vec![0xE3, 0x98, 0xE4, 0x80, 0x00, 0x41, 0x89, 0x37], 0)
        );
        // Reduced size is not allowed for times.
        assert_eq!(
            enc(
                Field::sized(iana::FLOW_START_MILLISECONDS, 4),
                Value::DateTimeMs(ms)
            ),
            (vec![0; 4], 1)
        );
    }

    #[test]
    fn varlen_one_and_three_octet_prefix() {
        let f = Field::sized(iana::INFORMATION_ELEMENT_NAME, VARLEN);
        assert_eq!(enc(f, Value::Str("ab")), (vec![2, b'a', b'b'], 0));
        let s254 = "x".repeat(254);
        let (b, m) = enc(f, Value::Str(&s254));
        assert_eq!((b[0], b.len(), m), (254, 255, 0));
        let s255 = "y".repeat(255);
        let (b, m) = enc(f, Value::Str(&s255));
        assert_eq!((&b[..3], b.len(), m), (&[255u8, 0, 255][..], 258, 0));
        let big = vec![7u8; 1000];
        let (b, m) = enc(f, Value::Bytes(&big));
        assert_eq!((&b[..3], b.len(), m), (&[255u8, 0x03, 0xE8][..], 1003, 0));
        let huge = vec![0u8; 70_000];
        assert_eq!(enc(f, Value::Bytes(&huge)), (vec![0], 1));
        // Unsigned values in a varlen field use the shortest form.
        assert_eq!(enc(f, Value::U64(0x1234)), (vec![2, 0x12, 0x34], 0));
        assert_eq!(enc(f, Value::U64(0)), (vec![1, 0], 0));
    }

    #[test]
    fn fixed_octets_padded_or_rejected() {
        let f = Field::sized(iana::INFORMATION_ELEMENT_NAME, 4);
        assert_eq!(enc(f, Value::Str("ab")), (vec![b'a', b'b', 0, 0], 0));
        assert_eq!(enc(f, Value::Bytes(&[1, 2, 3, 4])), (vec![1, 2, 3, 4], 0));
        assert_eq!(enc(f, Value::Str("abcde")), (vec![0; 4], 1));
    }

    #[test]
    fn basic_list_iana_and_enterprise() {
        // RFC 6313 §4.5.1 layout with the enterprise bit and PEN.
        let f = Field::sized(
            enterprise::MPTCP_REMOVED_ADDRESS_ID_LIST.with_pen(32473),
            VARLEN,
        );
        let v = Value::BasicList {
            element: enterprise::MPTCP_ADDRESS_ID.with_pen(32473),
            semantic: 3,
            values: &[1, 5],
            element_len: 1,
        };
        assert_eq!(
            enc(f, v),
            (
                vec![
                    11, // varlen prefix: 9 header octets + 2 elements
                    3, 0x84, 0x51, 0x00, 0x01, 0x00, 0x00, 0x7E, 0xD9, 1, 5
                ],
                0
            )
        );
        let empty = Value::BasicList {
            element: iana::TCP_SHARED_OPTION_EX_ID16,
            semantic: 3,
            values: &[],
            element_len: 2,
        };
        assert_eq!(
            enc(
                Field::sized(iana::TCP_SHARED_OPTION_EX_ID16_LIST, VARLEN),
                empty
            ),
            (vec![5, 3, 0x02, 0x09, 0x00, 0x02], 0)
        );
        let ragged = Value::BasicList {
            element: iana::TCP_SHARED_OPTION_EX_ID16,
            semantic: 3,
            values: &[1, 2, 3],
            element_len: 2,
        };
        assert_eq!(
            enc(
                Field::sized(iana::TCP_SHARED_OPTION_EX_ID16_LIST, VARLEN),
                ragged
            ),
            (vec![0], 1)
        );
    }

    #[test]
    fn kind_mismatches_become_zeros() {
        assert_eq!(
            enc(
                Field::new(iana::SOURCE_IPV4_ADDRESS),
                Value::Ipv6(Ipv6Addr::LOCALHOST)
            ),
            (vec![0; 4], 1)
        );
        assert_eq!(
            enc(Field::new(iana::SOURCE_MAC_ADDRESS), Value::Bool(true)),
            (vec![0; 6], 1)
        );
        let mut buf = Vec::new();
        let mut e = RecordEncoder::new(&mut buf);
        e.put(&Field::new(iana::SOURCE_IPV4_ADDRESS), Value::Mac([0; 6]));
        e.put(&Field::new(iana::PROTOCOL_IDENTIFIER), Value::U8(17));
        assert_eq!(e.mismatches, 1);
        assert_eq!(buf, vec![0, 0, 0, 0, 17]);
    }
}
