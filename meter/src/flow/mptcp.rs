//! Multipath TCP (RFC 8684 v1, RFC 6824 v0) option analysis for one TCP connection
//! (one subflow).
//!
//! [`MptcpOption::parse`] validates one option (kind 30) against the layouts of the
//! reference (§4.2): every subtype has a fixed set of valid lengths, and anything else is
//! refused (`None`, the caller counts BAD_TCP_OPTION). It never panics on any input and
//! never allocates. Where v0 and v1 layouts differ, the option itself tells them apart
//! (MP_CAPABLE's version nibble, ADD_ADDR's low nibble, MP_PRIO's length), so parsing
//! needs no connection state; MP_TCPRST (v1 only) is accepted whatever MP_CAPABLE said, as
//! a peer sending it speaks v1. [`MptcpConnInfo::apply`] folds a valid option into per-direction state
//! ([`MptcpDirInfo`], what each direction SENT), and derives each endpoint's token and IDSN
//! from its key (SHA-256 for v1, SHA-1 for v0, reference §4.3) once per new key.
//!
//! Subflows of one connection are separate TCP connections (and usually land on different
//! workers); they are linked at the collector through tokens: the key-derived sender
//! tokens of the initial subflow, and the MP_JOIN SYN's receiver token on a joined subflow.
//! Keys and HMACs authenticate MP_JOIN and MP_FASTCLOSE: they are never stored in a public
//! field (the keys kept for re-derivation are private and redacted from `Debug`); MP_JOIN
//! HMACs, nonces and the MP_FASTCLOSE key are not kept at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// MPTCP option subtypes (high nibble of the option's third octet).
pub mod subtype {
    pub const MP_CAPABLE: u8 = 0;
    pub const MP_JOIN: u8 = 1;
    pub const DSS: u8 = 2;
    pub const ADD_ADDR: u8 = 3;
    pub const REMOVE_ADDR: u8 = 4;
    pub const MP_PRIO: u8 = 5;
    pub const MP_FAIL: u8 = 6;
    pub const MP_FASTCLOSE: u8 = 7;
    pub const MP_TCPRST: u8 = 8;
    pub const MP_EXPERIMENTAL: u8 = 15;
}

/// [`MptcpDirInfo::flags`] bits (reference §4.4 mptcpFlags).
pub mod flags {
    /// MP_JOIN with B = 1 at setup (backup subflow).
    pub const JOIN_BACKUP: u16 = 0x0001;
    /// MP_PRIO with B = 1 seen.
    pub const PRIO_BACKUP: u16 = 0x0002;
    /// MP_PRIO with B = 0 seen.
    pub const PRIO_REGULAR: u16 = 0x0004;
    /// MP_CAPABLE flag A: checksum required.
    pub const CHECKSUM_REQUIRED: u16 = 0x0008;
    pub const MP_FAIL: u16 = 0x0010;
    pub const MP_FASTCLOSE: u16 = 0x0020;
    pub const MP_TCPRST: u16 = 0x0040;
    /// MP_TCPRST flag T: transient error.
    pub const TCPRST_TRANSIENT: u16 = 0x0080;
    pub const DATA_FIN: u16 = 0x0100;
    /// DSS mapping with data-level length 0 (infinite mapping: fallback to TCP).
    pub const INFINITE_MAPPING: u16 = 0x0200;
    pub const ADD_ADDR_ECHO: u16 = 0x0400;
    /// MP_CAPABLE v1 flag C: no new subflows to this address and port.
    pub const NO_NEW_SUBFLOWS: u16 = 0x0800;
    /// MP_CAPABLE seen, but this direction's token could not be derived.
    pub const KEYS_INCOMPLETE: u16 = 0x1000;
    /// A DSS mapping carried a 32-bit DSN.
    pub const DSN_32BIT: u16 = 0x2000;
}

/// How many distinct ADD_ADDR advertisements a direction keeps.
pub const MAX_ADVERTISED: usize = 4;

fn split_digest(h: &[u8]) -> (u32, u64) {
    let token = h.first_chunk::<4>().map_or(0, |b| u32::from_be_bytes(*b));
    let idsn = h.last_chunk::<8>().map_or(0, |b| u64::from_be_bytes(*b));
    (token, idsn)
}

/// (token, IDSN) of an MPTCP v1 key: the most significant 32 bits and the least
/// significant 64 bits of SHA-256 over the 8 key octets as carried (big-endian).
pub fn token_v1(key: u64) -> (u32, u64) {
    split_digest(Sha256::digest(key.to_be_bytes()).as_slice())
}

/// (token, IDSN) of an MPTCP v0 key: as [`token_v1`] with SHA-1.
pub fn token_v0(key: u64) -> (u32, u64) {
    split_digest(Sha1::digest(key.to_be_bytes()).as_slice())
}

/// One ADD_ADDR advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertisedAddr {
    pub id: u8,
    pub addr: IpAddr,
    /// 0 = no port in the option.
    pub port: u16,
    /// v1 echo (E = 1): the receiver acknowledging an advertisement of the other side.
    pub echo: bool,
}

/// What one direction of a subflow SENT.
#[derive(Clone, Debug, Default)]
pub struct MptcpDirInfo {
    /// Bit n = subtype n seen (valid options only); 15 = MP_EXPERIMENTAL.
    pub subtypes: u16,
    /// Flags octet of the last MP_CAPABLE sent in this direction.
    pub capable_flags: u8,
    /// This endpoint's token: derived from its key, or, on a joined subflow, the receiver
    /// token that the other direction's MP_JOIN SYN carried.
    pub sender_token: u32,
    /// IDSN derived from this endpoint's key (0 when the token came from MP_JOIN).
    pub sender_idsn: u64,
    pub has_sender_token: bool,
    /// Address ID of the MP_JOIN SYN (initiator) or SYN/ACK (responder) sent.
    pub address_id: u8,
    pub has_address_id: bool,
    /// [`flags`] bits.
    pub flags: u16,
    /// Last MP_TCPRST reason.
    pub rst_reason: u8,
    pub has_rst_reason: bool,
    /// First and last DSN of DSS mappings (a 32-bit DSN in the low bits).
    pub dsn_first: u64,
    pub dsn_last: u64,
    pub has_dsn: bool,
    /// Last Data ACK (a 32-bit one in the low bits).
    pub data_ack_last: u64,
    pub has_data_ack: bool,
    /// Delta counter: data-level lengths of the mappings sent (DSS, and MP_CAPABLE with
    /// data). The same mapping (DSN, subflow sequence, length) repeated back to back, as TSO
    /// segments and TCP retransmissions carry it, counts once; a data-level retransmission
    /// (same DSN on a new subflow sequence) counts again, as its octets cross the subflow again.
    pub mapped_octets: u64,
    pub add_addr_count: u16,
    pub remove_addr_count: u16,
    /// The first [`MAX_ADVERTISED`] distinct ADD_ADDR options (echoes too, flagged).
    pub advertised: [Option<AdvertisedAddr>; MAX_ADVERTISED],
    /// Bitmap of the address IDs in REMOVE_ADDR options (bit i = ID i).
    pub removed_ids: [u64; 4],
}

impl MptcpDirInfo {
    /// The first advertisement that is not an echo.
    pub fn first_advertised(&self) -> Option<AdvertisedAddr> {
        self.advertised.iter().flatten().find(|a| !a.echo).copied()
    }

    /// The removed address IDs, ascending.
    pub fn removed_ids(&self) -> impl Iterator<Item = u8> + '_ {
        (0u8..=255).filter(|&id| {
            self.removed_ids
                .get(usize::from(id >> 6))
                .is_some_and(|w| w & (1u64 << (id & 63)) != 0)
        })
    }
}

/// MPTCP state of one subflow, both directions.
#[derive(Clone, Default)]
pub struct MptcpConnInfo {
    /// Version nibble of the last MP_CAPABLE seen (the negotiated one: a v0-only server
    /// answers a v1 SYN with v0); `None` on a joined subflow.
    pub version: Option<u8>,
    /// Index 0 = initiator → responder.
    pub dir: [MptcpDirInfo; 2],
    /// Each endpoint's key and the version it was derived with. Never exported.
    keys: [Option<(u64, u8)>; 2],
    capable_seen: bool,
    /// Last (DSN, subflow sequence, length) mapped per direction, to count a repeated
    /// mapping once.
    last_map: [Option<(u64, u32, u16)>; 2],
}

impl std::fmt::Debug for MptcpConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MptcpConnInfo")
            .field("version", &self.version)
            .field("dir", &self.dir)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// A DSS mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub dsn: u64,
    pub dsn64: bool,
    pub subflow_seq: u32,
    pub data_len: u16,
    pub checksum: bool,
}

/// One validated MPTCP option. Borrowed parts point into the option bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MptcpOption<'a> {
    Capable {
        version: u8,
        flags: u8,
        /// The option sender's key (SYN v0, SYN/ACK, third ACK, first data).
        sender_key: Option<u64>,
        /// The receiver's key (third ACK, first data).
        receiver_key: Option<u64>,
        /// Data-level length of a v1 MP_CAPABLE with data (22/24 octets).
        data_len: Option<u16>,
    },
    JoinSyn {
        backup: bool,
        address_id: u8,
        receiver_token: u32,
    },
    JoinSynAck {
        backup: bool,
        address_id: u8,
    },
    JoinAck,
    Dss {
        data_fin: bool,
        /// (value, 64-bit?)
        data_ack: Option<(u64, bool)>,
        mapping: Option<Mapping>,
    },
    AddAddr(AdvertisedAddr),
    RemoveAddr(&'a [u8]),
    Prio {
        backup: bool,
    },
    Fail,
    FastClose,
    TcpRst {
        transient: bool,
        reason: u8,
    },
    /// MP_EXPERIMENTAL or an unassigned subtype: only its presence is recorded.
    Other(u8),
}

#[inline]
fn be64(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at.checked_add(8)?)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
}

#[inline]
fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at.checked_add(4)?)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
}

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at.checked_add(2)?)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_be_bytes)
}

fn ip_at(d: &[u8], at: usize, v6: bool) -> Option<IpAddr> {
    if v6 {
        let b: [u8; 16] = d.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(b)))
    } else {
        let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(b)))
    }
}

impl<'a> MptcpOption<'a> {
    /// Validate one MPTCP option. `data` is what follows the kind and length octets, so the
    /// option length is `data.len() + 2` and the reference's octet n is `data[n - 2]`.
    /// `None` = a length the subtype does not allow.
    pub fn parse(data: &'a [u8]) -> Option<MptcpOption<'a>> {
        let d = data;
        let len = d.len() + 2;
        let b2 = *d.first()?;
        let st = b2 >> 4;
        let low = b2 & 0x0f;
        match st {
            subtype::MP_CAPABLE => {
                let ok = match low {
                    0 => matches!(len, 12 | 20),
                    _ => matches!(len, 4 | 12 | 20 | 22 | 24),
                };
                if !ok {
                    return None;
                }
                Some(MptcpOption::Capable {
                    version: low,
                    flags: *d.get(1)?,
                    sender_key: be64(d, 2),
                    receiver_key: be64(d, 10),
                    data_len: be16(d, 18),
                })
            }
            subtype::MP_JOIN => match len {
                12 => Some(MptcpOption::JoinSyn {
                    backup: low & 1 != 0,
                    address_id: *d.get(1)?,
                    receiver_token: be32(d, 2)?,
                }),
                16 => Some(MptcpOption::JoinSynAck {
                    backup: low & 1 != 0,
                    address_id: *d.get(1)?,
                }),
                24 => Some(MptcpOption::JoinAck),
                _ => None,
            },
            subtype::DSS => {
                let f = *d.get(1)?;
                let has_ack = f & 0x01 != 0;
                let ack64 = f & 0x02 != 0;
                let has_map = f & 0x04 != 0;
                let dsn64 = f & 0x08 != 0;
                let ack_len = match (has_ack, ack64) {
                    (false, _) => 0,
                    (true, false) => 4,
                    (true, true) => 8,
                };
                let map_len = match (has_map, dsn64) {
                    (false, _) => 0,
                    (true, false) => 4 + 4 + 2,
                    (true, true) => 8 + 4 + 2,
                };
                let base = 4 + ack_len + map_len;
                let checksum = has_map && len == base + 2;
                if len != base && !checksum {
                    return None;
                }
                let mut at = 2;
                let data_ack = if has_ack {
                    let v = if ack64 {
                        be64(d, at)?
                    } else {
                        u64::from(be32(d, at)?)
                    };
                    at += ack_len;
                    Some((v, ack64))
                } else {
                    None
                };
                let mapping = if has_map {
                    let (dsn, n) = if dsn64 {
                        (be64(d, at)?, 8)
                    } else {
                        (u64::from(be32(d, at)?), 4)
                    };
                    at += n;
                    Some(Mapping {
                        dsn,
                        dsn64,
                        subflow_seq: be32(d, at)?,
                        data_len: be16(d, at + 4)?,
                        checksum,
                    })
                } else {
                    None
                };
                Some(MptcpOption::Dss {
                    data_fin: f & 0x10 != 0,
                    data_ack,
                    mapping,
                })
            }
            subtype::ADD_ADDR => {
                let id = *d.get(1)?;
                // v0 puts the IP version in the low nibble; v1 puts rsv(3) + E there.
                let (v6, port_at, echo) = match low {
                    4 => match len {
                        8 => (false, None, false),
                        10 => (false, Some(6), false),
                        _ => return None,
                    },
                    6 => match len {
                        20 => (true, None, false),
                        22 => (true, Some(18), false),
                        _ => return None,
                    },
                    _ if low & 1 != 0 => match len {
                        8 => (false, None, true),
                        10 => (false, Some(6), true),
                        20 => (true, None, true),
                        22 => (true, Some(18), true),
                        _ => return None,
                    },
                    _ => match len {
                        16 => (false, None, false),
                        18 => (false, Some(6), false),
                        28 => (true, None, false),
                        30 => (true, Some(18), false),
                        _ => return None,
                    },
                };
                let port = match port_at {
                    Some(p) => be16(d, p)?,
                    None => 0,
                };
                Some(MptcpOption::AddAddr(AdvertisedAddr {
                    id,
                    addr: ip_at(d, 2, v6)?,
                    port,
                    echo,
                }))
            }
            subtype::REMOVE_ADDR => match d.get(1..) {
                Some(ids) if !ids.is_empty() => Some(MptcpOption::RemoveAddr(ids)),
                _ => None,
            },
            subtype::MP_PRIO => match len {
                3 | 4 => Some(MptcpOption::Prio {
                    backup: low & 1 != 0,
                }),
                _ => None,
            },
            subtype::MP_FAIL => (len == 12).then_some(MptcpOption::Fail),
            subtype::MP_FASTCLOSE => (len == 12).then_some(MptcpOption::FastClose),
            subtype::MP_TCPRST => match len {
                4 => Some(MptcpOption::TcpRst {
                    transient: low & 1 != 0,
                    reason: *d.get(1)?,
                }),
                _ => None,
            },
            other => Some(MptcpOption::Other(other)),
        }
    }

    /// The subtype this option was parsed from.
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::Capable { .. } => subtype::MP_CAPABLE,
            MptcpOption::JoinSyn { .. } | MptcpOption::JoinSynAck { .. } | MptcpOption::JoinAck => {
                subtype::MP_JOIN
            }
            MptcpOption::Dss { .. } => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::Prio { .. } => subtype::MP_PRIO,
            MptcpOption::Fail => subtype::MP_FAIL,
            MptcpOption::FastClose => subtype::MP_FASTCLOSE,
            MptcpOption::TcpRst { .. } => subtype::MP_TCPRST,
            MptcpOption::Other(s) => *s & 0x0f,
        }
    }
}

impl MptcpConnInfo {
    /// Whether any valid option was applied ([`MptcpConnInfo::apply`] marks its subtype,
    /// and nothing clears the marks).
    pub fn is_seen(&self) -> bool {
        self.dir.iter().any(|d| d.subtypes != 0)
    }

    pub fn new() -> Self {
        Self::default()
    }

    /// The peer's token as seen from `dir`: the other direction's sender token, if known.
    pub fn receiver_token(&self, dir: usize) -> Option<u32> {
        let other = self.dir.get(1 - dir.min(1))?;
        other.has_sender_token.then_some(other.sender_token)
    }

    /// Fold one valid option sent in direction `dir` (0 or 1; larger values count as 1).
    pub fn apply(&mut self, dir: usize, opt: &MptcpOption<'_>) {
        let d = dir.min(1);
        let o = 1 - d;
        self.dir[d].subtypes |= 1 << opt.subtype();
        match *opt {
            MptcpOption::Capable {
                version,
                flags: fl,
                sender_key,
                receiver_key,
                data_len,
            } => {
                self.capable_seen = true;
                self.version = Some(version);
                let di = &mut self.dir[d];
                di.capable_flags = fl;
                if fl & 0x80 != 0 {
                    di.flags |= flags::CHECKSUM_REQUIRED;
                }
                if version == 1 && fl & 0x20 != 0 {
                    di.flags |= flags::NO_NEW_SUBFLOWS;
                }
                // Which hash the keys take. An unknown version is derived only where its
                // length exists in v1 alone (with data: 22/24 octets).
                let derive = match version {
                    0 | 1 => Some(version),
                    _ if data_len.is_some() => Some(1),
                    _ => None,
                };
                if let Some(v) = derive {
                    if let Some(k) = sender_key {
                        self.set_key(d, k, v);
                    }
                    if let Some(k) = receiver_key {
                        self.set_key(o, k, v);
                    }
                }
                if let Some(n) = data_len {
                    let di = &mut self.dir[d];
                    di.mapped_octets = di.mapped_octets.saturating_add(u64::from(n));
                }
            }
            MptcpOption::JoinSyn {
                backup,
                address_id,
                receiver_token,
            } => {
                let di = &mut self.dir[d];
                if backup {
                    di.flags |= flags::JOIN_BACKUP;
                }
                di.address_id = address_id;
                di.has_address_id = true;
                // The token names the endpoint being joined: the receiver of this SYN.
                let peer = &mut self.dir[o];
                peer.sender_token = receiver_token;
                peer.has_sender_token = true;
            }
            MptcpOption::JoinSynAck { backup, address_id } => {
                let di = &mut self.dir[d];
                if backup {
                    di.flags |= flags::JOIN_BACKUP;
                }
                di.address_id = address_id;
                di.has_address_id = true;
            }
            MptcpOption::JoinAck | MptcpOption::Other(_) => {}
            MptcpOption::Dss {
                data_fin,
                data_ack,
                mapping,
            } => {
                let last = &mut self.last_map[d];
                let di = &mut self.dir[d];
                if data_fin {
                    di.flags |= flags::DATA_FIN;
                }
                if let Some((ack, _)) = data_ack {
                    di.data_ack_last = ack;
                    di.has_data_ack = true;
                }
                if let Some(m) = mapping {
                    if m.data_len == 0 {
                        di.flags |= flags::INFINITE_MAPPING;
                    }
                    if !m.dsn64 {
                        di.flags |= flags::DSN_32BIT;
                    }
                    if !di.has_dsn {
                        di.dsn_first = m.dsn;
                        di.has_dsn = true;
                    }
                    di.dsn_last = m.dsn;
                    let this = Some((m.dsn, m.subflow_seq, m.data_len));
                    if *last != this {
                        di.mapped_octets = di.mapped_octets.saturating_add(u64::from(m.data_len));
                        *last = this;
                    }
                }
            }
            MptcpOption::AddAddr(a) => {
                let di = &mut self.dir[d];
                di.add_addr_count = di.add_addr_count.saturating_add(1);
                if a.echo {
                    di.flags |= flags::ADD_ADDR_ECHO;
                }
                if !di.advertised.contains(&Some(a))
                    && let Some(slot) = di.advertised.iter_mut().find(|s| s.is_none())
                {
                    *slot = Some(a);
                }
            }
            MptcpOption::RemoveAddr(ids) => {
                let di = &mut self.dir[d];
                di.remove_addr_count = di.remove_addr_count.saturating_add(1);
                for &id in ids {
                    if let Some(w) = di.removed_ids.get_mut(usize::from(id >> 6)) {
                        *w |= 1u64 << (id & 63);
                    }
                }
            }
            MptcpOption::Prio { backup } => {
                self.dir[d].flags |= if backup {
                    flags::PRIO_BACKUP
                } else {
                    flags::PRIO_REGULAR
                };
            }
            MptcpOption::Fail => self.dir[d].flags |= flags::MP_FAIL,
            MptcpOption::FastClose => self.dir[d].flags |= flags::MP_FASTCLOSE,
            MptcpOption::TcpRst { transient, reason } => {
                let di = &mut self.dir[d];
                di.flags |= flags::MP_TCPRST;
                if transient {
                    di.flags |= flags::TCPRST_TRANSIENT;
                }
                di.rst_reason = reason;
                di.has_rst_reason = true;
            }
        }
        self.mark_incomplete_keys();
    }

    /// Parse and fold one option (`data` after kind and length). False if its length is
    /// invalid for its subtype (then nothing changed).
    pub fn process(&mut self, dir: usize, data: &[u8]) -> bool {
        match MptcpOption::parse(data) {
            Some(opt) => {
                self.apply(dir, &opt);
                true
            }
            None => false,
        }
    }

    /// Record endpoint `d`'s key; hash only when it is new.
    fn set_key(&mut self, d: usize, key: u64, version: u8) {
        if self.keys[d] == Some((key, version)) {
            return;
        }
        self.keys[d] = Some((key, version));
        let (token, idsn) = if version == 0 {
            token_v0(key)
        } else {
            token_v1(key)
        };
        let di = &mut self.dir[d];
        di.sender_token = token;
        di.sender_idsn = idsn;
        di.has_sender_token = true;
    }

    fn mark_incomplete_keys(&mut self) {
        for di in &mut self.dir {
            if self.capable_seen && !di.has_sender_token {
                di.flags |= flags::KEYS_INCOMPLETE;
            } else {
                di.flags &= !flags::KEYS_INCOMPLETE;
            }
        }
    }

    /// Bring in the fields a DSS sent in direction `dir` changes (a prefetch hint: the
    /// flow table issues it a few packets before the segment is folded).
    #[inline]
    pub fn prefetch_dss(&self, dir: usize) {
        let d = dir.min(1);
        let di = &self.dir[d];
        crate::flow::prefetch(&self.last_map[d]);
        crate::flow::prefetch(&di.subtypes);
        crate::flow::prefetch(&di.dsn_last);
        crate::flow::prefetch(&di.mapped_octets);
        crate::flow::prefetch(&di.data_ack_last);
    }

    /// Restart the delta counters (after an export).
    pub fn reset_deltas(&mut self) {
        for di in &mut self.dir {
            di.mapped_octets = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build option data (after kind and length) from the octets of reference §4.2,
    /// starting at octet 2.
    fn parse(bytes: &[u8]) -> Option<MptcpOption<'_>> {
        MptcpOption::parse(bytes)
    }

    #[test]
    fn token_vectors_from_the_reference() {
        // Reference §4.3, confirmed there against Wireshark 4.0.17.
        assert_eq!(
            token_v1(0x1122334455667788),
            (0x1dce6604, 0x62815714b76ae9a5)
        );
        assert_eq!(
            token_v1(0x99aabbccddeeff00),
            (0x7b981f5b, 0xf9fb2ac1ea2ce0d2)
        );
        assert_eq!(
            token_v0(0x0123456789abcdef),
            (0x0ca2eadb, 0xe3df8ee121f10547)
        );
    }

    const K1: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    const K2: [u8; 8] = [0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00];

    fn capable(ver: u8, flags: u8, keys: &[[u8; 8]], tail: &[u8]) -> Vec<u8> {
        let mut d = vec![ver, flags];
        for k in keys {
            d.extend_from_slice(k);
        }
        d.extend_from_slice(tail);
        d
    }

    #[test]
    fn capable_lengths() {
        // v1: 4, 12, 20, 22, 24 valid.
        assert!(matches!(
            parse(&capable(1, 0x01, &[], &[])),
            Some(MptcpOption::Capable {
                version: 1,
                flags: 1,
                sender_key: None,
                receiver_key: None,
                data_len: None
            })
        ));
        assert!(matches!(
            parse(&capable(1, 0x01, &[K1], &[])),
            Some(MptcpOption::Capable {
                sender_key: Some(0x1122334455667788),
                receiver_key: None,
                ..
            })
        ));
        assert!(matches!(
            parse(&capable(1, 0x01, &[K1, K2], &[])),
            Some(MptcpOption::Capable {
                sender_key: Some(0x1122334455667788),
                receiver_key: Some(0x99aabbccddeeff00),
                data_len: None,
                ..
            })
        ));
        assert!(matches!(
            parse(&capable(1, 0x01, &[K1, K2], &[0x20, 0x00])),
            Some(MptcpOption::Capable {
                data_len: Some(8192),
                ..
            })
        ));
        assert!(matches!(
            parse(&capable(1, 0x81, &[K1, K2], &[0x00, 0x10, 0xab, 0xcd])),
            Some(MptcpOption::Capable {
                data_len: Some(16),
                ..
            })
        ));
        // Invalid v1 lengths: 3, 5, 11, 13, 21, 23, 25.
        for n in [1usize, 3, 9, 11, 19, 21, 23] {
            let d = vec![0x01u8; n];
            assert_eq!(parse(&d), None, "len {}", n + 2);
        }
        // v0: only 12 and 20.
        assert!(parse(&capable(0, 0x81, &[K1], &[])).is_some());
        assert!(parse(&capable(0, 0x81, &[K1, K2], &[])).is_some());
        assert_eq!(parse(&capable(0, 0x81, &[], &[])), None);
        assert_eq!(parse(&capable(0, 0x81, &[K1, K2], &[0, 1])), None);
        // Length 2 (no subtype octet) and 3.
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x01]), None);
    }

    #[test]
    fn join_lengths() {
        let syn = [0x11, 0x05, 0xe4, 0x7f, 0x01, 0x42, 1, 2, 3, 4];
        assert_eq!(
            parse(&syn),
            Some(MptcpOption::JoinSyn {
                backup: true,
                address_id: 5,
                receiver_token: 0xe47f0142
            })
        );
        let mut synack = vec![0x10, 0x01];
        synack.extend_from_slice(&[0xaa; 12]);
        assert_eq!(
            parse(&synack),
            Some(MptcpOption::JoinSynAck {
                backup: false,
                address_id: 1
            })
        );
        let mut ack = vec![0x10, 0x00];
        ack.extend_from_slice(&[0xbb; 20]);
        assert_eq!(parse(&ack), Some(MptcpOption::JoinAck));
        for n in [1usize, 2, 9, 11, 13, 15, 21, 23] {
            let mut d = vec![0x10u8];
            d.resize(n, 0);
            assert_eq!(parse(&d), None, "len {}", n + 2);
        }
    }

    #[test]
    fn dss_lengths_and_fields() {
        // ack 8 + dsn 8 + ssn + dll, no checksum: 26 (tcpdump mptcp-v1 packet 7).
        let mut d = vec![0x20, 0x0f];
        d.extend_from_slice(&14413541604287230030u64.to_be_bytes());
        d.extend_from_slice(&11713449205243392242u64.to_be_bytes());
        d.extend_from_slice(&1u32.to_be_bytes());
        d.extend_from_slice(&8192u16.to_be_bytes());
        assert_eq!(d.len() + 2, 26);
        assert_eq!(
            parse(&d),
            Some(MptcpOption::Dss {
                data_fin: false,
                data_ack: Some((14413541604287230030, true)),
                mapping: Some(Mapping {
                    dsn: 11713449205243392242,
                    dsn64: true,
                    subflow_seq: 1,
                    data_len: 8192,
                    checksum: false
                })
            })
        );
        // Same plus checksum: 28.
        d.extend_from_slice(&[0x12, 0x34]);
        assert!(matches!(
            parse(&d),
            Some(MptcpOption::Dss {
                mapping: Some(Mapping { checksum: true, .. }),
                ..
            })
        ));
        // 32-bit ack and DSN with checksum: 20 (tcpdump mptcp-v0).
        let mut v0 = vec![0x20, 0x05];
        v0.extend_from_slice(&3518592185u32.to_be_bytes());
        v0.extend_from_slice(&3576348362u32.to_be_bytes());
        v0.extend_from_slice(&1u32.to_be_bytes());
        v0.extend_from_slice(&41u16.to_be_bytes());
        v0.extend_from_slice(&[0x45, 0xc9]);
        assert_eq!(v0.len() + 2, 20);
        assert_eq!(
            parse(&v0),
            Some(MptcpOption::Dss {
                data_fin: false,
                data_ack: Some((3518592185, false)),
                mapping: Some(Mapping {
                    dsn: 3576348362,
                    dsn64: false,
                    subflow_seq: 1,
                    data_len: 41,
                    checksum: true
                })
            })
        );
        // Ack only: 8 (32-bit) and 12 (64-bit).
        assert!(matches!(
            parse(&[0x20, 0x01, 0, 0, 0, 7]),
            Some(MptcpOption::Dss {
                data_ack: Some((7, false)),
                mapping: None,
                ..
            })
        ));
        assert!(matches!(
            parse(&[0x20, 0x03, 0, 0, 0, 0, 0, 0, 0, 9]),
            Some(MptcpOption::Dss {
                data_ack: Some((9, true)),
                ..
            })
        ));
        // Ack-only with two extra octets: a checksum needs a mapping, so invalid.
        assert_eq!(parse(&[0x20, 0x01, 0, 0, 0, 7, 0, 0]), None);
        // Length 3 (tcpdump's mptcp-dss-oobr) and a mapping cut short.
        assert_eq!(parse(&[0x20]), None);
        assert_eq!(parse(&[0x20, 0x04, 0, 0, 0, 1, 0, 0, 0, 1, 0]), None);
        // DATA_FIN flag.
        let mut fin = vec![0x20, 0x1c];
        fin.extend_from_slice(&5u64.to_be_bytes());
        fin.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        assert!(matches!(
            parse(&fin),
            Some(MptcpOption::Dss { data_fin: true, .. })
        ));
    }

    #[test]
    fn add_addr_v0_v1_lengths() {
        let ip4 = [10, 1, 2, 2];
        let a4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 2));
        // v0 IPv4: 8 and 10 (port).
        let mut d = vec![0x34, 1];
        d.extend_from_slice(&ip4);
        assert_eq!(
            parse(&d),
            Some(MptcpOption::AddAddr(AdvertisedAddr {
                id: 1,
                addr: a4,
                port: 0,
                echo: false
            }))
        );
        let mut p = d.clone();
        p.extend_from_slice(&8080u16.to_be_bytes());
        assert!(matches!(
            parse(&p),
            Some(MptcpOption::AddAddr(AdvertisedAddr { port: 8080, .. }))
        ));
        // v0 IPv6: 20, 22; IPVer 6 with an IPv4 length is invalid.
        let ip6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9);
        let mut d6 = vec![0x36, 2];
        d6.extend_from_slice(&ip6.octets());
        assert!(matches!(
            parse(&d6),
            Some(MptcpOption::AddAddr(AdvertisedAddr { id: 2, addr: IpAddr::V6(a), port: 0, echo: false })) if a == ip6
        ));
        d6.extend_from_slice(&[0x1f, 0x90]);
        assert!(matches!(
            parse(&d6),
            Some(MptcpOption::AddAddr(AdvertisedAddr { port: 8080, .. }))
        ));
        let mut bad = vec![0x36, 1];
        bad.extend_from_slice(&ip4);
        assert_eq!(parse(&bad), None);
        // v1 echo IPv4: 8 (same length as v0, told apart by the nibble).
        let mut e = vec![0x31, 1];
        e.extend_from_slice(&ip4);
        assert_eq!(
            parse(&e),
            Some(MptcpOption::AddAddr(AdvertisedAddr {
                id: 1,
                addr: a4,
                port: 0,
                echo: true
            }))
        );
        // v1 with HMAC: 16, 18 (port), 28, 30.
        let mut h = vec![0x30, 1];
        h.extend_from_slice(&ip4);
        h.extend_from_slice(&[0xee; 8]);
        assert!(matches!(
            parse(&h),
            Some(MptcpOption::AddAddr(AdvertisedAddr {
                echo: false,
                port: 0,
                ..
            }))
        ));
        let mut hp = vec![0x30, 1];
        hp.extend_from_slice(&ip4);
        hp.extend_from_slice(&[0x00, 0x50]);
        hp.extend_from_slice(&[0xee; 8]);
        assert!(matches!(
            parse(&hp),
            Some(MptcpOption::AddAddr(AdvertisedAddr { port: 80, .. }))
        ));
        let mut h6 = vec![0x30, 3];
        h6.extend_from_slice(&ip6.octets());
        h6.extend_from_slice(&[0xee; 8]);
        assert!(matches!(
            parse(&h6),
            Some(MptcpOption::AddAddr(AdvertisedAddr {
                addr: IpAddr::V6(_),
                ..
            }))
        ));
        let mut h6p = vec![0x30, 3];
        h6p.extend_from_slice(&ip6.octets());
        h6p.extend_from_slice(&[0x00, 0x51]);
        h6p.extend_from_slice(&[0xee; 8]);
        assert!(matches!(
            parse(&h6p),
            Some(MptcpOption::AddAddr(AdvertisedAddr { port: 81, .. }))
        ));
        // v1 non-echo without HMAC (8) is invalid; v1 echo with HMAC length (16) too.
        assert_eq!(parse(&[0x30, 1, 10, 1, 2, 2]), None);
        let mut eh = vec![0x31, 1];
        eh.extend_from_slice(&ip4);
        eh.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&eh), None);
        assert_eq!(parse(&[0x30]), None);
    }

    #[test]
    fn remove_prio_fail_fastclose_tcprst_other() {
        assert_eq!(parse(&[0x40, 3, 7]), Some(MptcpOption::RemoveAddr(&[3, 7])));
        assert_eq!(parse(&[0x40]), None);
        assert_eq!(parse(&[0x51]), Some(MptcpOption::Prio { backup: true }));
        assert_eq!(parse(&[0x50, 4]), Some(MptcpOption::Prio { backup: false }));
        assert_eq!(parse(&[0x50, 4, 0]), None);
        let mut fail = vec![0x60, 0];
        fail.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&fail), Some(MptcpOption::Fail));
        assert_eq!(parse(&fail[..9]), None);
        let mut fc = vec![0x70, 0];
        fc.extend_from_slice(&K1);
        assert_eq!(parse(&fc), Some(MptcpOption::FastClose));
        fc.push(0);
        assert_eq!(parse(&fc), None);
        assert_eq!(
            parse(&[0x81, 1]),
            Some(MptcpOption::TcpRst {
                transient: true,
                reason: 1
            })
        );
        assert_eq!(parse(&[0x80]), None);
        assert_eq!(parse(&[0x80, 0, 0]), None);
        assert_eq!(parse(&[0xf0, 1, 2, 3]), Some(MptcpOption::Other(15)));
        assert_eq!(parse(&[0x90]), Some(MptcpOption::Other(9)));
    }

    #[test]
    fn v1_handshake_tokens() {
        let mut c = MptcpConnInfo::new();
        // SYN: no key yet.
        c.apply(0, &parse(&capable(1, 0x01, &[], &[])).unwrap());
        assert_eq!(c.version, Some(1));
        assert!(!c.dir[0].has_sender_token);
        assert_ne!(c.dir[0].flags & flags::KEYS_INCOMPLETE, 0);
        // SYN/ACK: server key -> dir 1.
        c.apply(1, &parse(&capable(1, 0x01, &[K2], &[])).unwrap());
        assert_eq!(
            (c.dir[1].sender_token, c.dir[1].sender_idsn),
            (0x7b981f5b, 0xf9fb2ac1ea2ce0d2)
        );
        assert_eq!(c.receiver_token(0), Some(0x7b981f5b));
        assert_eq!(c.receiver_token(1), None);
        assert_eq!(c.dir[1].flags & flags::KEYS_INCOMPLETE, 0);
        // Third ACK: client key (sender) and server key (receiver).
        c.apply(0, &parse(&capable(1, 0x01, &[K1, K2], &[])).unwrap());
        assert_eq!(
            (c.dir[0].sender_token, c.dir[0].sender_idsn),
            (0x1dce6604, 0x62815714b76ae9a5)
        );
        assert_eq!(c.receiver_token(1), Some(0x1dce6604));
        assert_eq!(c.dir[0].flags & flags::KEYS_INCOMPLETE, 0);
        assert_eq!(c.dir[0].subtypes, 1);
        assert_eq!(c.dir[0].capable_flags, 0x01);
        // The keys do not show in Debug output.
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("1122334455667788") && !dbg.contains(&0x1122334455667788u64.to_string())
        );
    }

    #[test]
    fn v1_first_data_packet_carries_keys_and_mapping() {
        let mut c = MptcpConnInfo::new();
        c.apply(
            0,
            &parse(&capable(1, 0xa1, &[K1, K2], &[0x20, 0x00])).unwrap(),
        );
        assert_eq!(c.dir[0].sender_token, 0x1dce6604);
        assert_eq!(c.dir[1].sender_token, 0x7b981f5b);
        assert_eq!(c.dir[0].mapped_octets, 8192);
        assert_eq!(
            c.dir[0].flags,
            flags::CHECKSUM_REQUIRED | flags::NO_NEW_SUBFLOWS
        );
    }

    #[test]
    fn v0_tokens_from_syn_and_synack() {
        let k0 = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let mut c = MptcpConnInfo::new();
        c.apply(0, &parse(&capable(0, 0x81, &[k0], &[])).unwrap());
        assert_eq!(c.version, Some(0));
        assert_eq!(
            (c.dir[0].sender_token, c.dir[0].sender_idsn),
            (0x0ca2eadb, 0xe3df8ee121f10547)
        );
        // v0's C flag is a crypto bit, not "no new subflows".
        c.apply(1, &parse(&capable(0, 0xa1, &[k0], &[])).unwrap());
        assert_eq!(c.dir[1].flags, flags::CHECKSUM_REQUIRED);
    }

    #[test]
    fn unknown_version_derives_only_when_unambiguous() {
        let mut c = MptcpConnInfo::new();
        c.apply(0, &parse(&capable(2, 0x01, &[K1, K2], &[])).unwrap());
        assert_eq!(c.version, Some(2));
        assert!(!c.dir[0].has_sender_token && !c.dir[1].has_sender_token);
        assert_ne!(c.dir[0].flags & flags::KEYS_INCOMPLETE, 0);
        assert_ne!(c.dir[1].flags & flags::KEYS_INCOMPLETE, 0);
        // 22 octets exist only in v1.
        c.apply(0, &parse(&capable(2, 0x01, &[K1, K2], &[0, 5])).unwrap());
        assert_eq!(c.dir[0].sender_token, 0x1dce6604);
        assert_eq!(c.dir[1].sender_token, 0x7b981f5b);
        assert_eq!(c.dir[0].flags & flags::KEYS_INCOMPLETE, 0);
    }

    #[test]
    fn join_fills_the_other_directions_token() {
        let mut c = MptcpConnInfo::new();
        c.apply(
            0,
            &parse(&[0x11, 0x00, 0xe4, 0x7f, 0x01, 0x42, 1, 2, 3, 4]).unwrap(),
        );
        assert_eq!(c.version, None);
        assert!(!c.dir[0].has_sender_token);
        assert_eq!(c.dir[1].sender_token, 0xe47f0142);
        assert_eq!(c.dir[1].sender_idsn, 0);
        assert_eq!(c.receiver_token(0), Some(0xe47f0142));
        assert_eq!((c.dir[0].address_id, c.dir[0].has_address_id), (0, true));
        assert_eq!(c.dir[0].flags, flags::JOIN_BACKUP);
        let mut synack = vec![0x10, 0x01];
        synack.extend_from_slice(&[0xaa; 12]);
        c.apply(1, &parse(&synack).unwrap());
        assert_eq!((c.dir[1].address_id, c.dir[1].has_address_id), (1, true));
        // No MP_CAPABLE on a joined subflow: keys are not "incomplete".
        assert_eq!(c.dir[1].flags, 0);
        assert_eq!(c.dir[0].subtypes, 1 << subtype::MP_JOIN);
    }

    #[test]
    fn dss_state_and_deltas() {
        let mut c = MptcpConnInfo::new();
        let map = |dsn: u32, ssn: u32, len: u16, f: u8| {
            let mut d = vec![0x20, 0x05 | f];
            d.extend_from_slice(&100u32.to_be_bytes());
            d.extend_from_slice(&dsn.to_be_bytes());
            d.extend_from_slice(&ssn.to_be_bytes());
            d.extend_from_slice(&len.to_be_bytes());
            d
        };
        assert!(c.process(0, &map(1000, 1, 10, 0)));
        // The same mapping again (TSO split, TCP retransmission): counted once.
        assert!(c.process(0, &map(1000, 1, 10, 0)));
        assert!(c.process(0, &map(1010, 11, 5, 0)));
        let d = &c.dir[0];
        assert_eq!((d.dsn_first, d.dsn_last, d.has_dsn), (1000, 1010, true));
        assert_eq!((d.data_ack_last, d.has_data_ack), (100, true));
        assert_eq!(d.mapped_octets, 15);
        assert_eq!(d.flags, flags::DSN_32BIT);
        // Data-level retransmission: same DSN, new subflow sequence: crosses again.
        assert!(c.process(0, &map(1010, 16, 5, 0)));
        assert_eq!(c.dir[0].mapped_octets, 20);
        // Infinite mapping and DATA_FIN.
        assert!(c.process(0, &map(1015, 21, 0, 0x10)));
        assert_eq!(
            c.dir[0].flags,
            flags::DSN_32BIT | flags::INFINITE_MAPPING | flags::DATA_FIN
        );
        c.reset_deltas();
        assert_eq!(c.dir[0].mapped_octets, 0);
        assert_eq!(c.dir[0].dsn_first, 1000);
        assert!(c.process(0, &map(1020, 21, 7, 0)));
        assert_eq!(c.dir[0].mapped_octets, 7);
        assert!(!c.process(0, &[0x20]));
    }

    #[test]
    fn add_and_remove_addr_state() {
        let mut c = MptcpConnInfo::new();
        let echo = [0x31, 1, 10, 0, 2, 1];
        let mut adv = vec![0x30, 1, 10, 0, 2, 1];
        adv.extend_from_slice(&[0; 8]);
        assert!(c.process(1, &echo));
        assert!(c.process(1, &adv));
        assert!(c.process(1, &adv));
        let d = &c.dir[1];
        assert_eq!(d.add_addr_count, 3);
        assert_eq!(d.flags, flags::ADD_ADDR_ECHO);
        assert_eq!(d.advertised.iter().flatten().count(), 2);
        let first = d.first_advertised().unwrap();
        assert_eq!(first.addr, IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)));
        assert!(!first.echo);
        // Only the first 4 distinct ones are kept.
        for i in 2..10u8 {
            assert!(c.process(1, &[0x34, i, 10, 0, 0, i]));
        }
        assert_eq!(c.dir[1].advertised.iter().flatten().count(), 4);
        assert_eq!(c.dir[1].add_addr_count, 11);
        assert!(c.process(0, &[0x40, 0, 200, 63, 64]));
        assert!(c.process(0, &[0x40, 255]));
        assert_eq!(
            c.dir[0].removed_ids().collect::<Vec<_>>(),
            vec![0, 63, 64, 200, 255]
        );
        assert_eq!(c.dir[0].remove_addr_count, 2);
        assert_eq!(c.dir[0].first_advertised(), None);
    }

    #[test]
    fn prio_fail_fastclose_tcprst_state() {
        let mut c = MptcpConnInfo::new();
        assert!(c.process(0, &[0x51]));
        assert!(c.process(0, &[0x50, 2]));
        let mut fail = vec![0x60, 0];
        fail.extend_from_slice(&[0; 8]);
        assert!(c.process(0, &fail));
        let mut fc = vec![0x70, 0];
        fc.extend_from_slice(&K1);
        assert!(c.process(1, &fc));
        assert!(c.process(1, &[0x81, 6]));
        assert_eq!(
            c.dir[0].flags,
            flags::PRIO_BACKUP | flags::PRIO_REGULAR | flags::MP_FAIL
        );
        assert_eq!(
            c.dir[1].flags,
            flags::MP_FASTCLOSE | flags::MP_TCPRST | flags::TCPRST_TRANSIENT
        );
        assert_eq!((c.dir[1].rst_reason, c.dir[1].has_rst_reason), (6, true));
        assert_eq!(
            c.dir[1].subtypes,
            (1 << subtype::MP_FASTCLOSE) | (1 << subtype::MP_TCPRST)
        );
        assert!(c.process(1, &[0xf0, 0]));
        assert_ne!(c.dir[1].subtypes & 0x8000, 0);
        // A direction index out of range counts as direction 1, never panics.
        assert!(c.process(7, &[0x50]));
        assert_ne!(c.dir[1].flags & flags::PRIO_REGULAR, 0);
        assert_eq!(c.receiver_token(9), None);
    }

    #[test]
    fn parse_never_panics_on_any_short_input() {
        // Every subtype/low-nibble combination at every length up to 40 octets.
        let mut buf = [0xffu8; 38];
        for b2 in 0..=255u8 {
            buf[0] = b2;
            for n in 0..=buf.len() {
                let _ = MptcpOption::parse(&buf[..n]);
                let mut c = MptcpConnInfo::new();
                let _ = c.process(0, &buf[..n]);
            }
        }
    }
}
