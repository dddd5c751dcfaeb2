//! TCP option builders, including Multipath TCP options laid out as in RFC 8684 §3
//! (and reference/ipfix-ie-reference.md §4.2), plus the key → token / IDSN derivation and
//! the HMACs that MP_JOIN and ADD_ADDR carry.
//!
//! [`TcpOptions`] is a fixed 40-octet area (the most a TCP header holds), so building
//! options never allocates; every append that would not fit returns
//! [`OptionsFull`] and leaves the area unchanged.

use std::fmt;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

/// The option area is full (40 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionsFull;

impl fmt::Display for OptionsFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TCP option area (40 octets) is full")
    }
}

impl std::error::Error for OptionsFull {}

/// TCP option kinds used here.
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    pub const MPTCP: u8 = 30;
}

/// MPTCP option subtypes (high nibble of the third octet).
pub mod subtype {
    pub const MP_CAPABLE: u8 = 0;
    pub const MP_JOIN: u8 = 1;
    pub const DSS: u8 = 2;
    pub const ADD_ADDR: u8 = 3;
}

/// MP_CAPABLE v1 flag H: HMAC-SHA256 (RFC 8684 §3.1).
pub const MP_CAPABLE_FLAG_H: u8 = 0x01;
/// MP_CAPABLE flag A: checksum required.
pub const MP_CAPABLE_FLAG_A: u8 = 0x80;

/// A TCP option area under construction (at most 40 octets).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    buf: [u8; 40],
    len: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl fmt::Debug for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpOptions({:02x?})", self.as_bytes())
    }
}

/// DSS mapping: Data Sequence Number, Subflow Sequence Number (relative to the subflow's
/// initial sequence number), Data-Level Length, optional checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssMapping {
    pub dsn: u64,
    /// Send the DSN as 8 octets (flag m); else its low 32 bits.
    pub dsn64: bool,
    pub ssn: u32,
    pub data_len: u16,
    pub checksum: Option<u16>,
}

/// A DSS option (RFC 8684 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dss {
    /// Data ACK and whether it is sent as 8 octets (flag a).
    pub data_ack: Option<(u64, bool)>,
    pub mapping: Option<DssMapping>,
    pub data_fin: bool,
}

impl TcpOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// The option octets as built (not yet padded).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append raw option octets (anything, including malformed options).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<&mut Self, OptionsFull> {
        let end = self.len.checked_add(bytes.len()).ok_or(OptionsFull)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(OptionsFull)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(self)
    }

    pub fn nop(&mut self) -> Result<&mut Self, OptionsFull> {
        self.raw(&[kind::NOP])
    }

    pub fn eol(&mut self) -> Result<&mut Self, OptionsFull> {
        self.raw(&[kind::EOL])
    }

    pub fn mss(&mut self, mss: u16) -> Result<&mut Self, OptionsFull> {
        let m = mss.to_be_bytes();
        self.raw(&[kind::MSS, 4, m[0], m[1]])
    }

    pub fn window_scale(&mut self, shift: u8) -> Result<&mut Self, OptionsFull> {
        self.raw(&[kind::WS, 3, shift])
    }

    pub fn sack_permitted(&mut self) -> Result<&mut Self, OptionsFull> {
        self.raw(&[kind::SACK_PERM, 2])
    }

    /// SACK blocks (left, right edges); at most 4 fit.
    pub fn sack(&mut self, blocks: &[(u32, u32)]) -> Result<&mut Self, OptionsFull> {
        let len = 2 + 8 * blocks.len();
        let len8 = u8::try_from(len).map_err(|_| OptionsFull)?;
        if self.len + len > 40 {
            return Err(OptionsFull);
        }
        self.raw(&[kind::SACK, len8])?;
        for (l, r) in blocks {
            self.raw(&l.to_be_bytes())?;
            self.raw(&r.to_be_bytes())?;
        }
        Ok(self)
    }

    pub fn timestamps(&mut self, tsval: u32, tsecr: u32) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 10];
        o[0] = kind::TIMESTAMP;
        o[1] = 10;
        o[2..6].copy_from_slice(&tsval.to_be_bytes());
        o[6..10].copy_from_slice(&tsecr.to_be_bytes());
        self.raw(&o)
    }

    /// MP_CAPABLE v1 on a SYN: length 4, no key.
    pub fn mp_capable_syn(&mut self, flags: u8) -> Result<&mut Self, OptionsFull> {
        self.raw(&[kind::MPTCP, 4, (subtype::MP_CAPABLE << 4) | 1, flags])
    }

    /// MP_CAPABLE v1 on a SYN/ACK: length 12, the sender's (server's) key.
    pub fn mp_capable_synack(&mut self, flags: u8, key: u64) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 12];
        o[..4].copy_from_slice(&[kind::MPTCP, 12, (subtype::MP_CAPABLE << 4) | 1, flags]);
        o[4..].copy_from_slice(&key.to_be_bytes());
        self.raw(&o)
    }

    /// MP_CAPABLE v1 on the third ACK: length 20, sender's key then receiver's key.
    pub fn mp_capable_ack(
        &mut self,
        flags: u8,
        sender_key: u64,
        receiver_key: u64,
    ) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 20];
        o[..4].copy_from_slice(&[kind::MPTCP, 20, (subtype::MP_CAPABLE << 4) | 1, flags]);
        o[4..12].copy_from_slice(&sender_key.to_be_bytes());
        o[12..].copy_from_slice(&receiver_key.to_be_bytes());
        self.raw(&o)
    }

    /// MP_JOIN on a SYN: length 12, address ID, receiver's token, sender's random number.
    pub fn mp_join_syn(
        &mut self,
        backup: bool,
        addr_id: u8,
        receiver_token: u32,
        nonce: u32,
    ) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 12];
        o[..4].copy_from_slice(&[
            kind::MPTCP,
            12,
            (subtype::MP_JOIN << 4) | u8::from(backup),
            addr_id,
        ]);
        o[4..8].copy_from_slice(&receiver_token.to_be_bytes());
        o[8..].copy_from_slice(&nonce.to_be_bytes());
        self.raw(&o)
    }

    /// MP_JOIN on a SYN/ACK: length 16, address ID, truncated HMAC (64 bits), random number.
    pub fn mp_join_synack(
        &mut self,
        backup: bool,
        addr_id: u8,
        truncated_hmac: u64,
        nonce: u32,
    ) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 16];
        o[..4].copy_from_slice(&[
            kind::MPTCP,
            16,
            (subtype::MP_JOIN << 4) | u8::from(backup),
            addr_id,
        ]);
        o[4..12].copy_from_slice(&truncated_hmac.to_be_bytes());
        o[12..].copy_from_slice(&nonce.to_be_bytes());
        self.raw(&o)
    }

    /// MP_JOIN on the third ACK: length 24, the sender's HMAC (160 bits).
    pub fn mp_join_ack(&mut self, hmac: &[u8; 20]) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 24];
        o[..4].copy_from_slice(&[kind::MPTCP, 24, subtype::MP_JOIN << 4, 0]);
        o[4..].copy_from_slice(hmac);
        self.raw(&o)
    }

    /// ADD_ADDR v1 for an IPv4 address: with `Some(hmac)` (E = 0) length 16 (18 with a
    /// port); with `None` it is an echo (E = 1), length 8 (10).
    pub fn add_addr_v4(
        &mut self,
        addr_id: u8,
        addr: Ipv4Addr,
        port: Option<u16>,
        truncated_hmac: Option<u64>,
    ) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 18];
        let len =
            8 + if port.is_some() { 2 } else { 0 } + if truncated_hmac.is_some() { 8 } else { 0 };
        let echo = u8::from(truncated_hmac.is_none());
        o[..4].copy_from_slice(&[
            kind::MPTCP,
            len as u8,
            (subtype::ADD_ADDR << 4) | echo,
            addr_id,
        ]);
        o[4..8].copy_from_slice(&addr.octets());
        let mut at = 8;
        if let Some(p) = port {
            o[8..10].copy_from_slice(&p.to_be_bytes());
            at = 10;
        }
        if let Some(h) = truncated_hmac {
            o[at..at + 8].copy_from_slice(&h.to_be_bytes());
        }
        if self.len + len > 40 {
            return Err(OptionsFull);
        }
        self.raw(&o[..len])
    }

    /// DSS (subtype 2) with the flags implied by `dss`.
    pub fn dss(&mut self, dss: &Dss) -> Result<&mut Self, OptionsFull> {
        let mut o = [0u8; 28];
        let mut flags = 0u8;
        let mut at = 4;
        if let Some((ack, ack64)) = dss.data_ack {
            flags |= 0x01;
            if ack64 {
                flags |= 0x02;
                o[at..at + 8].copy_from_slice(&ack.to_be_bytes());
                at += 8;
            } else {
                o[at..at + 4].copy_from_slice(&(ack as u32).to_be_bytes());
                at += 4;
            }
        }
        if let Some(m) = dss.mapping {
            flags |= 0x04;
            if m.dsn64 {
                flags |= 0x08;
                o[at..at + 8].copy_from_slice(&m.dsn.to_be_bytes());
                at += 8;
            } else {
                o[at..at + 4].copy_from_slice(&(m.dsn as u32).to_be_bytes());
                at += 4;
            }
            o[at..at + 4].copy_from_slice(&m.ssn.to_be_bytes());
            o[at + 4..at + 6].copy_from_slice(&m.data_len.to_be_bytes());
            at += 6;
            if let Some(c) = m.checksum {
                o[at..at + 2].copy_from_slice(&c.to_be_bytes());
                at += 2;
            }
        }
        if dss.data_fin {
            flags |= 0x10;
        }
        o[..4].copy_from_slice(&[kind::MPTCP, at as u8, subtype::DSS << 4, flags]);
        if self.len + at > 40 {
            return Err(OptionsFull);
        }
        self.raw(&o[..at])
    }
}

/// Token and IDSN of an MPTCP v1 key: SHA-256 over the 8 key octets as on the wire; the
/// token is the most significant 32 bits, the IDSN the least significant 64 bits.
pub fn mptcp_v1_token_idsn(key: u64) -> (u32, u64) {
    let h = Sha256::digest(key.to_be_bytes());
    let mut t = [0u8; 4];
    t.copy_from_slice(&h[..4]);
    let mut i = [0u8; 8];
    i.copy_from_slice(&h[24..32]);
    (u32::from_be_bytes(t), u64::from_be_bytes(i))
}

/// Token and IDSN of an MPTCP v0 key (RFC 6824: the same rule with SHA-1).
pub fn mptcp_v0_token_idsn(key: u64) -> (u32, u64) {
    let h = sha1::Sha1::digest(key.to_be_bytes());
    let mut t = [0u8; 4];
    t.copy_from_slice(&h[..4]);
    let mut i = [0u8; 8];
    i.copy_from_slice(&h[12..20]);
    (u32::from_be_bytes(t), u64::from_be_bytes(i))
}

/// HMAC-SHA256 (RFC 2104) for a key shorter than the 64-octet block.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else if let Some(dst) = k.get_mut(..key.len()) {
        dst.copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let ih = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(ih);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

fn key_pair(first: u64, second: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&first.to_be_bytes());
    k[8..].copy_from_slice(&second.to_be_bytes());
    k
}

/// MP_JOIN SYN/ACK truncated HMAC of host B: leftmost 64 bits of
/// HMAC(Key-B ‖ Key-A, R-B ‖ R-A) (RFC 8684 §3.2).
pub fn mp_join_synack_hmac(key_b: u64, key_a: u64, rand_b: u32, rand_a: u32) -> u64 {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&rand_b.to_be_bytes());
    m[4..].copy_from_slice(&rand_a.to_be_bytes());
    let h = hmac_sha256(&key_pair(key_b, key_a), &m);
    let mut t = [0u8; 8];
    t.copy_from_slice(&h[..8]);
    u64::from_be_bytes(t)
}

/// MP_JOIN third-ACK HMAC of host A: HMAC(Key-A ‖ Key-B, R-A ‖ R-B) cut to 160 bits.
pub fn mp_join_ack_hmac(key_a: u64, key_b: u64, rand_a: u32, rand_b: u32) -> [u8; 20] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&rand_a.to_be_bytes());
    m[4..].copy_from_slice(&rand_b.to_be_bytes());
    let h = hmac_sha256(&key_pair(key_a, key_b), &m);
    let mut t = [0u8; 20];
    t.copy_from_slice(&h[..20]);
    t
}

/// ADD_ADDR truncated HMAC: rightmost 64 bits of HMAC(sender key ‖ peer key,
/// address ID ‖ address ‖ port (0 when absent)) (RFC 8684 §3.4.1).
pub fn add_addr_hmac_v4(
    sender_key: u64,
    peer_key: u64,
    addr_id: u8,
    addr: Ipv4Addr,
    port: Option<u16>,
) -> u64 {
    let mut m = [0u8; 7];
    m[0] = addr_id;
    m[1..5].copy_from_slice(&addr.octets());
    m[5..7].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    let h = hmac_sha256(&key_pair(sender_key, peer_key), &m);
    let mut t = [0u8; 8];
    t.copy_from_slice(&h[24..32]);
    u64::from_be_bytes(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_vectors_from_the_reference() {
        // reference/ipfix-ie-reference.md §4.3, confirmed there against Wireshark.
        assert_eq!(
            mptcp_v1_token_idsn(0x1122_3344_5566_7788),
            (0x1dce_6604, 0x6281_5714_b76a_e9a5)
        );
        assert_eq!(
            mptcp_v1_token_idsn(0x99aa_bbcc_ddee_ff00),
            (0x7b98_1f5b, 0xf9fb_2ac1_ea2c_e0d2)
        );
        assert_eq!(
            mptcp_v0_token_idsn(0x0123_4567_89ab_cdef),
            (0x0ca2_eadb, 0xe3df_8ee1_21f1_0547)
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(h[..8], [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e]);
        assert_eq!(h[28..], [0x64, 0xec, 0x38, 0x43]);
    }

    #[test]
    fn option_layouts_match_rfc8684() {
        let mut o = TcpOptions::new();
        o.mp_capable_syn(MP_CAPABLE_FLAG_H).unwrap();
        assert_eq!(o.as_bytes(), &[30, 4, 0x01, 0x01]);

        let mut o = TcpOptions::new();
        o.mp_join_syn(true, 2, 0x7b98_1f5b, 0x0102_0304).unwrap();
        assert_eq!(
            o.as_bytes(),
            &[30, 12, 0x11, 2, 0x7b, 0x98, 0x1f, 0x5b, 1, 2, 3, 4]
        );

        let mut o = TcpOptions::new();
        o.add_addr_v4(
            1,
            Ipv4Addr::new(192, 0, 2, 81),
            None,
            Some(0x1122_3344_5566_7788),
        )
        .unwrap();
        assert_eq!(
            o.as_bytes(),
            &[
                30, 16, 0x30, 1, 192, 0, 2, 81, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
            ]
        );

        // Data ACK 8 + DSN 8 + SSN + length, no checksum: 4 + 8 + 14 = 26, flags a|A|m|M.
        let mut o = TcpOptions::new();
        o.dss(&Dss {
            data_ack: Some((5, true)),
            mapping: Some(DssMapping {
                dsn: 6,
                dsn64: true,
                ssn: 1,
                data_len: 100,
                checksum: None,
            }),
            data_fin: false,
        })
        .unwrap();
        let b = o.as_bytes();
        assert_eq!(b.len(), 26);
        assert_eq!(&b[..4], &[30, 26, 0x20, 0x0f]);
        assert_eq!(&b[4..12], &[0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&b[12..20], &[0, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(&b[20..26], &[0, 0, 0, 1, 0, 100]);

        // DATA_FIN with a 4-octet Data ACK only: length 8, flags F|A.
        let mut o = TcpOptions::new();
        o.dss(&Dss {
            data_ack: Some((0x1_0000_0007, false)),
            mapping: None,
            data_fin: true,
        })
        .unwrap();
        assert_eq!(o.as_bytes(), &[30, 8, 0x20, 0x11, 0, 0, 0, 7]);
    }

    #[test]
    fn full_area_rejects_without_change() {
        let mut o = TcpOptions::new();
        o.raw(&[1; 30]).unwrap();
        assert_eq!(o.mp_capable_ack(0x01, 1, 2), Err(OptionsFull));
        assert_eq!(o.len(), 30);
        o.timestamps(1, 2).unwrap();
        assert_eq!(o.len(), 40);
        assert_eq!(o.nop(), Err(OptionsFull));
    }
}
