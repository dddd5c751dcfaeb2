//! TCP option analysis per connection: which option kinds each direction sent (RFC 9740
//! tcpOptionsFull and the deprecated tcpOptions), the values of MSS, window scale,
//! SACK-permitted and timestamps, each direction's initial sequence number, and the MPTCP
//! state ([`crate::flow::mptcp`]).
//!
//! Contract: [`tcp_options`] walks raw option bytes and never panics: it yields EOL (then
//! stops) and NOP, and stops at the first option whose length is impossible (missing,
//! below 2, or past the end), reporting it through [`TcpOptionIter::malformed`].
//! [`TcpState::update_split`] reads only the [`PacketMeta`] (no packet bytes), never
//! panics, and allocates at most once per connection (520 octets): when its first valid
//! MPTCP option or its first option kind >= 64 is seen.

use crate::flow::mptcp::{MptcpConnInfo, MptcpOption};
use crate::packet::{PacketMeta, anomaly, tcp_flags};
use crate::wire::tcp::NOP_NOP_TIMESTAMP_LEN;

/// TCP option kinds with a value we keep.
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    pub const MPTCP: u8 = 30;
}

/// Length octet of a timestamp option (kind, length, TSval, TSecr).
const TIMESTAMP_LEN: u8 = 10;
/// Length octets of the other options of a handshake (kind, length, value).
const MSS_LEN: u8 = 4;
const SACK_PERMITTED_LEN: u8 = 2;
const WINDOW_SCALE_LEN: u8 = 3;

/// One TCP option from a walk: its kind and the octets after its length octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

/// Iterator over the options of a TCP header; see [`tcp_options`].
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
    malformed: bool,
    overran: bool,
}

/// Walk the raw option bytes of one TCP header.
pub fn tcp_options(raw: &[u8]) -> TcpOptionIter<'_> {
    TcpOptionIter {
        rest: raw,
        malformed: false,
        overran: false,
    }
}

impl TcpOptionIter<'_> {
    /// Did the walk stop at an impossible length?
    pub fn malformed(&self) -> bool {
        self.malformed
    }

    /// Did it stop because an option ran past the end of the bytes (as when a capture cut
    /// the header), rather than because a length was below 2?
    pub fn overran(&self) -> bool {
        self.overran
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = TcpOption<'a>;

    #[inline]
    fn next(&mut self) -> Option<TcpOption<'a>> {
        let (&k, after) = self.rest.split_first()?;
        match k {
            kind::EOL => {
                self.rest = &[];
                Some(TcpOption { kind: k, data: &[] })
            }
            kind::NOP => {
                self.rest = after;
                Some(TcpOption { kind: k, data: &[] })
            }
            _ => {
                let Some(&len) = after.first() else {
                    self.malformed = true;
                    self.overran = true;
                    self.rest = &[];
                    return None;
                };
                if len < 2 {
                    self.malformed = true;
                    self.rest = &[];
                    return None;
                }
                match self.rest.split_at_checked(usize::from(len)) {
                    Some((opt, rest)) => {
                        self.rest = rest;
                        Some(TcpOption {
                            kind: k,
                            data: opt.get(2..).unwrap_or(&[]),
                        })
                    }
                    None => {
                        self.malformed = true;
                        self.overran = true;
                        self.rest = &[];
                        None
                    }
                }
            }
        }
    }
}

/// Options one direction of a connection sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpDirInfo {
    /// RFC 9740 tcpOptionsFull: bit k (word k/64, bit k%64) = kind k seen.
    pub options_full: [u64; 4],
    /// Last MSS option value.
    pub mss: u16,
    pub has_mss: bool,
    /// Last window-scale shift.
    pub window_scale: u8,
    pub has_window_scale: bool,
    pub sack_permitted: bool,
    /// First and last TSval.
    pub ts_first: u32,
    pub ts_last: u32,
    pub has_ts: bool,
    /// Sequence number of the first SYN in this direction.
    pub isn: u32,
    pub has_isn: bool,
}

impl TcpDirInfo {
    /// IE 209 tcpOptions (deprecated) for kinds 0..63, as a big-endian u64 per reference
    /// §2.4: kind X at bit (7 - X/8)*8 + X%8, i.e. octet X/8 of the wire value with kind 8i
    /// at that octet's least significant bit. E.g. MSS (2) -> 0x0400000000000000.
    pub fn tcp_options_legacy(&self) -> u64 {
        // Word 0 holds kind X at bit X: octet X/8 counted from the least significant end.
        // Reversing the octets puts octet X/8 at the X/8-th position from the most
        // significant end, which is the layout above.
        self.options_full[0].swap_bytes()
    }

    /// IE 520 tcpOptionsFull as 32 big-endian octets (kind 0 = least significant bit of the
    /// last octet).
    pub fn tcp_options_full_be(&self) -> [u8; 32] {
        let [w0, w1, w2, w3] = self.options_full;
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&w3.to_be_bytes());
        out[8..16].copy_from_slice(&w2.to_be_bytes());
        out[16..24].copy_from_slice(&w1.to_be_bytes());
        out[24..].copy_from_slice(&w0.to_be_bytes());
        out
    }

    /// Was any kind >= 64 seen (the exporter then needs the 32-octet field)?
    pub fn has_high_kinds(&self) -> bool {
        self.options_full[1..].iter().any(|&w| w != 0)
    }

    #[cfg(test)]
    fn mark(&mut self, k: u8) {
        if let Some(w) = self.options_full.get_mut(usize::from(k >> 6)) {
            *w |= 1u64 << (k & 63);
        }
    }
}

/// TCP option and MPTCP state of one TCP flow (both directions).
#[derive(Clone, Debug, Default)]
pub struct TcpConnInfo {
    /// Index 0 = initiator → responder.
    pub dir: [TcpDirInfo; 2],
    /// Present once a valid MPTCP option was seen.
    pub mptcp: Option<Box<MptcpConnInfo>>,
}

/// The part of one direction's option state that an ordinary data segment changes: the
/// option kinds 0–63 it carried and its last TSval. The flow table keeps it in the cache
/// line of that direction's counters, so a segment with the usual NOP/timestamp/SACK
/// options touches no other line of its entry; [`TcpState::into_info`] joins it with the
/// rest when a record leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpDirHot {
    /// Word 0 of tcpOptionsFull (kinds 0–63).
    pub kinds_low: u64,
    pub ts_last: u32,
    pub has_ts: bool,
}

/// [`TcpDirCold::flags`] bits.
mod cold {
    pub const HAS_MSS: u8 = 1;
    pub const HAS_WINDOW_SCALE: u8 = 2;
    pub const SACK_PERMITTED: u8 = 4;
    pub const HAS_ISN: u8 = 8;
}

/// What SYNs and the less common options set in one direction, in 12 octets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TcpDirCold {
    ts_first: u32,
    isn: u32,
    mss: u16,
    window_scale: u8,
    /// [`cold`] bits.
    flags: u8,
}

impl TcpDirCold {
    /// A timestamp option's TSval when the hot part may not have seen one yet: the
    /// direction's first goes here, every one to the hot part.
    #[inline]
    fn timestamp(&mut self, hot: &mut TcpDirHot, tsval: u32) {
        if !hot.has_ts {
            self.ts_first = tsval;
            hot.has_ts = true;
        }
        hot.ts_last = tsval;
    }
}

/// What only some connections have: option kinds 64–255 and MPTCP state, in one
/// allocation. The MPTCP state is inline and not an `Option`, so the address of what a
/// DSS changes follows from the entry's pointer alone: the flow table prefetches it
/// without reading this allocation first ([`TcpState::prefetch_rare`]).
#[derive(Clone, Debug, Default)]
struct TcpRare {
    /// Words 1–3 of each direction's tcpOptionsFull.
    kinds_high: [[u64; 3]; 2],
    /// The connection's, once a valid MPTCP option was seen ([`MptcpConnInfo::is_seen`]).
    mptcp: MptcpConnInfo,
}

/// A connection's TCP option state as the flow table keeps it: the hot parts
/// ([`TcpDirHot`]) live beside each direction's counters, this holds the rest in 32 octets
/// (so a table entry is four cache lines), with kinds >= 64 and MPTCP behind one
/// allocation that ordinary connections never make. Index 0 = initiator → responder.
#[derive(Clone, Debug, Default)]
pub struct TcpState {
    dir: [TcpDirCold; 2],
    rare: Option<Box<TcpRare>>,
}

impl TcpState {
    /// Fold one packet's TCP options (sent in direction `dir`: 0 initiator → responder, 1
    /// back; larger values count as 1), `hot` being that direction's hot part. Returns
    /// [`anomaly`] bits: BAD_TCP_OPTION for an impossible option length, a known option
    /// with a wrong length, or an MPTCP option with a length its subtype does not allow. A
    /// walk that only ran into the end of a capture-cut header (the dissector marked
    /// BAD_TCP_HEADER) is not counted again. Only a SYN, an option other than
    /// EOL/NOP/SACK/timestamp, or the first timestamp writes to `self`.
    ///
    /// Always inlined into the fold: out of line, its call and register saves were 8–11
    /// instructions per packet (valgrind).
    #[inline(always)]
    pub fn update_split(&mut self, hot: &mut TcpDirHot, dir: usize, pkt: &PacketMeta) -> u16 {
        let d = dir.min(1);
        if pkt.tcp_flags & tcp_flags::SYN != 0 && self.syn(hot, d, pkt) {
            return 0;
        }
        // NOP, NOP, timestamp: the whole option block of nearly every segment after the
        // handshake on a connection that negotiated timestamps (RFC 7323 Appendix A), so
        // it skips the walk. The first timestamp of a direction still goes the long way.
        // Matched on the fixed-size array, so the common case needs no slice bounds check.
        if let [
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMP,
            TIMESTAMP_LEN,
            a,
            b,
            c,
            e,
            ..,
        ] = pkt.tcp_options
            && usize::from(pkt.tcp_options_len) == NOP_NOP_TIMESTAMP_LEN
            && hot.has_ts
        {
            hot.kinds_low |= 1 << kind::NOP | 1 << kind::TIMESTAMP;
            hot.ts_last = u32::from_be_bytes([a, b, c, e]);
            return 0;
        }
        let raw = pkt.tcp_options();
        if raw.is_empty() {
            return 0;
        }
        let mut bad = false;
        let mut it = tcp_options(raw);
        for opt in &mut it {
            if let Some(bit) = 1u64.checked_shl(u32::from(opt.kind)) {
                hot.kinds_low |= bit;
            }
            match (opt.kind, opt.data) {
                (kind::EOL | kind::NOP | kind::SACK, _) => {}
                (kind::TIMESTAMP, &[a, b, c, e, _, _, _, _]) if hot.has_ts => {
                    hot.ts_last = u32::from_be_bytes([a, b, c, e]);
                }
                _ => bad |= self.option_out_of_line(hot, d, opt),
            }
        }
        if it.malformed() && !(it.overran() && pkt.anomalies & anomaly::BAD_TCP_HEADER != 0) {
            bad = true;
        }
        if bad { anomaly::BAD_TCP_OPTION } else { 0 }
    }

    /// A SYN: its sequence number is the direction's ISN if none was seen. Returns true
    /// when its options are the block of every SYN and SYN-ACK Linux sends without MPTCP
    /// (MSS, SACK permitted, timestamps, NOP, window scale), which this then folds as the
    /// walk would: most handshakes skip the walk's five steps and four calls out of line.
    /// Out of line for the reason given at [`TcpState::option_out_of_line`].
    #[cold]
    #[inline(never)]
    fn syn(&mut self, hot: &mut TcpDirHot, d: usize, pkt: &PacketMeta) -> bool {
        let di = &mut self.dir[d];
        if di.flags & cold::HAS_ISN == 0 {
            di.isn = pkt.tcp_seq;
            di.flags |= cold::HAS_ISN;
        }
        let &[
            kind::MSS,
            MSS_LEN,
            m0,
            m1,
            kind::SACK_PERMITTED,
            SACK_PERMITTED_LEN,
            kind::TIMESTAMP,
            TIMESTAMP_LEN,
            a,
            b,
            c,
            e,
            _,
            _,
            _,
            _,
            kind::NOP,
            kind::WINDOW_SCALE,
            WINDOW_SCALE_LEN,
            shift,
        ] = pkt.tcp_options()
        else {
            return false;
        };
        hot.kinds_low |= 1 << kind::MSS
            | 1 << kind::SACK_PERMITTED
            | 1 << kind::TIMESTAMP
            | 1 << kind::NOP
            | 1 << kind::WINDOW_SCALE;
        di.timestamp(hot, u32::from_be_bytes([a, b, c, e]));
        di.mss = u16::from_be_bytes([m0, m1]);
        di.window_scale = shift;
        di.flags |= cold::HAS_MSS | cold::SACK_PERMITTED | cold::HAS_WINDOW_SCALE;
        true
    }

    /// An option that writes more than the hot part: MSS, window scale, SACK-permitted,
    /// MPTCP, kinds >= 64, the first timestamp, and any with a wrong length. Out of line so
    /// the compiler cannot hoist loads of `self` (a cache line an ordinary segment does not
    /// need) into the loop over a segment's options. Returns whether the option was bad.
    #[cold]
    #[inline(never)]
    fn option_out_of_line(&mut self, hot: &mut TcpDirHot, d: usize, opt: TcpOption<'_>) -> bool {
        let data = opt.data;
        let di = &mut self.dir[d];
        match opt.kind {
            kind::TIMESTAMP => match *data {
                [a, b, c, e, _, _, _, _] => di.timestamp(hot, u32::from_be_bytes([a, b, c, e])),
                _ => return true,
            },
            kind::MSS => match *data {
                [a, b] => {
                    di.mss = u16::from_be_bytes([a, b]);
                    di.flags |= cold::HAS_MSS;
                }
                _ => return true,
            },
            kind::WINDOW_SCALE => match *data {
                [s] => {
                    di.window_scale = s;
                    di.flags |= cold::HAS_WINDOW_SCALE;
                }
                _ => return true,
            },
            kind::SACK_PERMITTED => {
                if !data.is_empty() {
                    return true;
                }
                di.flags |= cold::SACK_PERMITTED;
            }
            kind::MPTCP => match MptcpOption::parse(data) {
                Some(m) => self
                    .rare
                    .get_or_insert_with(Default::default)
                    .mptcp
                    .apply(d, &m),
                None => return true,
            },
            k if k >= 64 => {
                let r = self.rare.get_or_insert_with(Default::default);
                if let Some(w) = r.kinds_high[d].get_mut(usize::from(k >> 6) - 1) {
                    *w |= 1u64 << (k & 63);
                }
            }
            _ => {}
        }
        false
    }

    /// Restart the delta counters after an export (active timeout).
    pub fn reset_deltas(&mut self) {
        if let Some(r) = self.rare.as_deref_mut() {
            r.mptcp.reset_deltas();
        }
    }

    /// Bring in what an MPTCP segment sent in direction `dir` will change, if this
    /// connection has MPTCP state (a hint for the flow table's pipeline).
    #[inline]
    pub fn prefetch_rare(&self, dir: usize) {
        if let Some(r) = self.rare.as_deref() {
            r.mptcp.prefetch_dss(dir);
        }
    }

    /// The record form, joined with each direction's hot part (`hot[0]` initiator →
    /// responder).
    pub fn into_info(self, hot: [&TcpDirHot; 2]) -> TcpConnInfo {
        let (kinds_high, mptcp) = match self.rare {
            Some(r) => (r.kinds_high, r.mptcp.is_seen().then(|| Box::new(r.mptcp))),
            None => ([[0; 3]; 2], None),
        };
        let dir = [0, 1].map(|d| {
            let (c, h, k) = (self.dir[d], hot[d], kinds_high[d]);
            TcpDirInfo {
                options_full: [h.kinds_low, k[0], k[1], k[2]],
                mss: c.mss,
                has_mss: c.flags & cold::HAS_MSS != 0,
                window_scale: c.window_scale,
                has_window_scale: c.flags & cold::HAS_WINDOW_SCALE != 0,
                sack_permitted: c.flags & cold::SACK_PERMITTED != 0,
                ts_first: c.ts_first,
                ts_last: h.ts_last,
                has_ts: h.has_ts,
                isn: c.isn,
                has_isn: c.flags & cold::HAS_ISN != 0,
            }
        });
        TcpConnInfo { dir, mptcp }
    }

    /// The inverse of [`TcpState::into_info`].
    fn split(info: TcpConnInfo) -> (TcpState, [TcpDirHot; 2]) {
        let TcpConnInfo { dir, mptcp } = info;
        let part = |i: &TcpDirInfo| {
            let bit = |on: bool, b: u8| if on { b } else { 0 };
            let flags = bit(i.has_mss, cold::HAS_MSS)
                | bit(i.has_window_scale, cold::HAS_WINDOW_SCALE)
                | bit(i.sack_permitted, cold::SACK_PERMITTED)
                | bit(i.has_isn, cold::HAS_ISN);
            let c = TcpDirCold {
                ts_first: i.ts_first,
                isn: i.isn,
                mss: i.mss,
                window_scale: i.window_scale,
                flags,
            };
            let h = TcpDirHot {
                kinds_low: i.options_full[0],
                ts_last: i.ts_last,
                has_ts: i.has_ts,
            };
            let [_, k1, k2, k3] = i.options_full;
            (c, h, [k1, k2, k3])
        };
        let (c0, h0, k0) = part(&dir[0]);
        let (c1, h1, k1) = part(&dir[1]);
        let kinds_high = [k0, k1];
        let rare = (mptcp.is_some() || kinds_high != [[0; 3]; 2]).then(|| {
            Box::new(TcpRare {
                kinds_high,
                mptcp: mptcp.map(|m| *m).unwrap_or_default(),
            })
        });
        (
            TcpState {
                dir: [c0, c1],
                rare,
            },
            [h0, h1],
        )
    }
}

impl TcpConnInfo {
    /// Fold one packet's TCP options, as [`TcpState::update_split`] does, into this record
    /// form: for analysis outside a flow table (tests, tools). The flow table keeps the
    /// split form, which this converts to and from per packet.
    pub fn update(&mut self, dir: usize, pkt: &PacketMeta) -> u16 {
        let d = dir.min(1);
        let (mut state, mut hot) = TcpState::split(std::mem::take(self));
        let bad = state.update_split(&mut hot[d], d, pkt);
        *self = state.into_info([&hot[0], &hot[1]]);
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::mptcp::flags as mflags;

    fn walk(raw: &[u8]) -> (Vec<(u8, Vec<u8>)>, bool, bool) {
        let mut it = tcp_options(raw);
        let v = (&mut it).map(|o| (o.kind, o.data.to_vec())).collect();
        (v, it.malformed(), it.overran())
    }

    #[test]
    fn walker_typical_syn() {
        // mss 1460, sackOK, TS val 1 ecr 0, nop, wscale 7.
        let raw = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let (v, bad, _) = walk(&raw);
        assert!(!bad);
        assert_eq!(
            v,
            vec![
                (2, vec![5, 180]),
                (4, vec![]),
                (8, vec![0, 0, 0, 1, 0, 0, 0, 0]),
                (1, vec![]),
                (3, vec![7]),
            ]
        );
    }

    #[test]
    fn walker_eol_stops_and_is_yielded() {
        let (v, bad, _) = walk(&[1, 0, 2, 4, 5, 180]);
        assert_eq!(v, vec![(1, vec![]), (0, vec![])]);
        assert!(!bad);
    }

    #[test]
    fn walker_bad_lengths() {
        // Length 0 and 1: malformed, not an overrun.
        for raw in [&[2u8, 0, 1, 1][..], &[2, 1, 1, 1]] {
            let (v, bad, over) = walk(raw);
            assert!(v.is_empty() && bad && !over, "{raw:?}");
        }
        // Length past the end, and a kind with no length octet.
        let (v, bad, over) = walk(&[1, 8, 10, 0, 0]);
        assert_eq!(v, vec![(1, vec![])]);
        assert!(bad && over);
        let (v, bad, over) = walk(&[1, 1, 30]);
        assert_eq!(v.len(), 2);
        assert!(bad && over);
        // Exactly at the end is fine; an empty area is fine.
        assert!(!walk(&[2, 4, 5, 180]).1);
        assert_eq!(walk(&[]), (vec![], false, false));
        // Nothing more after a failure.
        let mut it = tcp_options(&[2, 0, 1]);
        assert!(it.next().is_none() && it.next().is_none());
    }

    fn pkt(flags: u16, seq: u32, opts: &[u8]) -> PacketMeta {
        let mut m = PacketMeta {
            tcp_flags: flags,
            tcp_seq: seq,
            protocol: 6,
            ..PacketMeta::default()
        };
        m.tcp_options[..opts.len()].copy_from_slice(opts);
        m.tcp_options_len = opts.len() as u8;
        m
    }

    #[test]
    fn bitmaps_and_values() {
        let mut c = TcpConnInfo::default();
        // EOL + MSS + WS: RFC 9740's example value 0x0D.
        let a = c.update(0, &pkt(tcp_flags::SYN, 1000, &[2, 4, 5, 180, 3, 3, 7, 0]));
        assert_eq!(a, 0);
        let d = c.dir[0];
        assert_eq!(d.options_full, [0x0d, 0, 0, 0]);
        assert_eq!(d.tcp_options_full_be()[31], 0x0d);
        assert_eq!(d.tcp_options_full_be()[..31], [0; 31]);
        // IE 209: EOL bit 56, MSS bit 58, WS bit 59.
        assert_eq!(d.tcp_options_legacy(), 0x0d00_0000_0000_0000);
        assert_eq!((d.mss, d.has_mss), (1460, true));
        assert_eq!((d.window_scale, d.has_window_scale), (7, true));
        assert_eq!((d.isn, d.has_isn), (1000, true));
        assert!(!d.has_high_kinds());
        assert_eq!(c.dir[1], TcpDirInfo::default());
    }

    #[test]
    fn legacy_layout_examples_from_the_reference() {
        let mut d = TcpDirInfo::default();
        d.mark(2);
        assert_eq!(d.tcp_options_legacy(), 0x0400000000000000);
        let mut d = TcpDirInfo::default();
        d.mark(30);
        assert_eq!(d.tcp_options_legacy(), 0x0000004000000000);
        // MPTCP in IE 520 needs 4 octets: bit 30 is in the 4th octet from the end.
        assert_eq!(d.tcp_options_full_be()[28], 0x40);
        // Kinds >= 64 do not exist in IE 209.
        let mut d = TcpDirInfo::default();
        d.mark(64);
        d.mark(255);
        assert_eq!(d.tcp_options_legacy(), 0);
        assert!(d.has_high_kinds());
        let be = d.tcp_options_full_be();
        assert_eq!(be[0], 0x80);
        assert_eq!(be[23], 0x01);
    }

    #[test]
    fn linux_handshake_block_sets_what_the_walk_sets() {
        // The block Linux sends on a SYN and a SYN-ACK (its shortcut), against the same
        // options in another order (which the walk takes), on a fresh direction and on one
        // whose timestamps were seen; and with a wrong length somewhere (walked, flagged).
        let ts = |v: u32| [v.to_be_bytes(), 77u32.to_be_bytes()].concat();
        let linux = |v: u32| [&[2, 4, 5, 0xb4, 4, 2, 8, 10][..], &ts(v), &[1, 3, 3, 7]].concat();
        let walked = |v: u32| [&[1, 3, 3, 7, 4, 2, 2, 4, 5, 0xb4, 8, 10][..], &ts(v)].concat();
        assert_eq!(linux(1).len(), 20);
        assert_eq!(walked(1).len(), 20);
        for flags in [tcp_flags::SYN, tcp_flags::SYN | tcp_flags::ACK] {
            for seen_before in [false, true] {
                let run = |opts: &dyn Fn(u32) -> Vec<u8>| {
                    let mut c = TcpConnInfo::default();
                    if seen_before {
                        c.update(
                            1,
                            &pkt(tcp_flags::ACK, 5, &[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0]),
                        );
                    }
                    let bad = c.update(1, &pkt(flags, 1000, &opts(42)));
                    (bad, c)
                };
                let (bad, fast) = run(&linux);
                let (_, slow) = run(&walked);
                assert_eq!(bad, 0);
                assert_eq!(fast.dir, slow.dir);
                assert!(fast.mptcp.is_none() && slow.mptcp.is_none());
                let d = fast.dir[1];
                assert_eq!(
                    (d.mss, d.has_mss, d.window_scale, d.has_window_scale),
                    (1460, true, 7, true)
                );
                assert!(d.sack_permitted && d.has_ts && d.has_isn);
                assert_eq!(
                    (d.ts_first, d.ts_last),
                    (if seen_before { 9 } else { 42 }, 42)
                );
                assert_eq!(
                    d.options_full[0],
                    1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 8
                );
                assert_eq!(fast.dir[0], TcpDirInfo::default());
            }
        }
        let mut wrong = linux(1);
        wrong[18] = 4; // window scale of length 4 overruns the block
        let mut c = TcpConnInfo::default();
        assert_eq!(
            c.update(0, &pkt(tcp_flags::SYN, 1, &wrong)),
            anomaly::BAD_TCP_OPTION
        );
    }

    #[test]
    fn isn_is_the_first_syn_and_timestamps_first_last() {
        let mut c = TcpConnInfo::default();
        let ts = |v: u32| {
            let mut o = vec![1, 1, 8, 10];
            o.extend_from_slice(&v.to_be_bytes());
            o.extend_from_slice(&[0, 0, 0, 0]);
            o
        };
        c.update(1, &pkt(tcp_flags::SYN | tcp_flags::ACK, 500, &ts(10)));
        c.update(1, &pkt(tcp_flags::SYN | tcp_flags::ACK, 900, &ts(20)));
        c.update(1, &pkt(tcp_flags::ACK, 501, &ts(30)));
        let d = c.dir[1];
        assert_eq!((d.isn, d.has_isn), (500, true));
        assert_eq!((d.ts_first, d.ts_last, d.has_ts), (10, 30, true));
        assert!(!c.dir[0].has_isn);
        // A non-SYN first packet sets no ISN.
        let mut c = TcpConnInfo::default();
        c.update(0, &pkt(tcp_flags::ACK, 7, &[]));
        assert!(!c.dir[0].has_isn);
    }

    #[test]
    fn nop_nop_timestamp_shortcut_matches_the_walk() {
        // The same options in the shortcut's layout and in two the walk must take (TS
        // first; TS then two NOPs): per direction, every resulting state agrees, with the
        // first timestamp (which goes the long way) and without it.
        let layouts = |tsval: u32| -> [Vec<u8>; 3] {
            let v = tsval.to_be_bytes();
            let mut a = vec![1, 1, 8, 10];
            a.extend_from_slice(&v);
            a.extend_from_slice(&[0, 0, 0, 9]);
            let mut b = vec![8, 10];
            b.extend_from_slice(&v);
            b.extend_from_slice(&[0, 0, 0, 9, 1, 1]);
            let mut c = vec![1, 8, 10];
            c.extend_from_slice(&v);
            c.extend_from_slice(&[0, 0, 0, 9, 1]);
            [a, b, c]
        };
        let mut states: Vec<(TcpState, TcpDirHot)> = Vec::new();
        for layout in 0..3 {
            let mut st = TcpState::default();
            let mut hot = TcpDirHot::default();
            for (i, tsval) in [100u32, 101, 250, 7].into_iter().enumerate() {
                let flags = if i == 0 {
                    tcp_flags::SYN
                } else {
                    tcp_flags::ACK
                };
                let p = pkt(flags, 1000 + i as u32, &layouts(tsval)[layout]);
                assert_eq!(st.update_split(&mut hot, 0, &p), 0);
            }
            states.push((st, hot));
        }
        let info: Vec<TcpConnInfo> = states
            .into_iter()
            .map(|(st, hot)| st.into_info([&hot, &TcpDirHot::default()]))
            .collect();
        let d = info[0].dir[0];
        assert_eq!((d.ts_first, d.ts_last, d.has_ts), (100, 7, true));
        assert_eq!(d.options_full[0], 1 << 1 | 1 << 8);
        for other in &info[1..] {
            assert_eq!(other.dir[0], d);
        }
    }

    #[test]
    fn bad_options_are_reported() {
        let mut c = TcpConnInfo::default();
        // MSS with length 3, WS with length 4, SACK-permitted with data, TS with length 6.
        for raw in [
            &[2u8, 3, 5, 1][..],
            &[3, 4, 1, 1],
            &[4, 3, 0, 1],
            &[8, 6, 0, 0, 0, 0, 1, 1],
            &[2, 0, 1, 1],
            &[1, 1, 2, 9, 0, 0],
        ] {
            assert_eq!(
                c.update(0, &pkt(tcp_flags::ACK, 0, raw)),
                anomaly::BAD_TCP_OPTION,
                "{raw:?}"
            );
        }
        assert!(!c.dir[0].has_mss && !c.dir[0].has_window_scale);
        assert!(!c.dir[0].sack_permitted && !c.dir[0].has_ts);
        // An overrun in a header the capture cut is not an option error.
        let mut p = pkt(tcp_flags::ACK, 0, &[1, 1, 8, 10, 0, 0]);
        p.anomalies = anomaly::BAD_TCP_HEADER;
        assert_eq!(c.update(0, &p), 0);
        // A wrong length inside a cut header still is.
        let mut p = pkt(tcp_flags::ACK, 0, &[2, 1, 0, 0]);
        p.anomalies = anomaly::BAD_TCP_HEADER;
        assert_eq!(c.update(0, &p), anomaly::BAD_TCP_OPTION);
    }

    #[test]
    fn mptcp_allocates_only_for_valid_options() {
        let mut c = TcpConnInfo::default();
        // tcpdump's mptcp-dss-oobr: DSS with length 3.
        let a = c.update(0, &pkt(tcp_flags::SYN, 1, &[2, 4, 64, 12, 30, 3, 0x20, 1]));
        assert_eq!(a, anomaly::BAD_TCP_OPTION);
        assert!(c.mptcp.is_none());
        assert_ne!(c.dir[0].options_full[0] & (1 << 30), 0);
        // MP_CAPABLE v1 SYN.
        let a = c.update(0, &pkt(tcp_flags::SYN, 1, &[30, 4, 0x01, 0x01]));
        assert_eq!(a, 0);
        let m = c.mptcp.as_deref().unwrap();
        assert_eq!(m.version, Some(1));
        assert_eq!(m.dir[0].subtypes, 1);
        assert_ne!(m.dir[0].flags & mflags::KEYS_INCOMPLETE, 0);
    }

    #[test]
    fn mptcp_v1_handshake_through_update() {
        let mut c = TcpConnInfo::default();
        let k_srv = 0x99aabbccddeeff00u64.to_be_bytes();
        let k_cli = 0x1122334455667788u64.to_be_bytes();
        let mut synack = vec![30, 12, 0x01, 0x01];
        synack.extend_from_slice(&k_srv);
        let mut ack = vec![1, 1, 30, 20, 0x01, 0x01];
        ack.extend_from_slice(&k_cli);
        ack.extend_from_slice(&k_srv);
        assert_eq!(
            c.update(0, &pkt(tcp_flags::SYN, 1, &[30, 4, 0x01, 0x01])),
            0
        );
        assert_eq!(
            c.update(1, &pkt(tcp_flags::SYN | tcp_flags::ACK, 2, &synack)),
            0
        );
        assert_eq!(c.update(0, &pkt(tcp_flags::ACK, 2, &ack)), 0);
        let m = c.mptcp.as_deref().unwrap();
        assert_eq!(m.dir[0].sender_token, 0x1dce6604);
        assert_eq!(m.dir[1].sender_token, 0x7b981f5b);
        assert_eq!(m.receiver_token(0), Some(0x7b981f5b));
        assert_eq!(m.dir[0].flags & mflags::KEYS_INCOMPLETE, 0);
    }

    #[test]
    fn reset_deltas_clears_mapped_octets() {
        let mut s = TcpState::default();
        let mut hot = [TcpDirHot::default(); 2];
        s.reset_deltas();
        let mut dss = vec![30, 14, 0x20, 0x04];
        dss.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 100]);
        assert_eq!(
            s.update_split(&mut hot[0], 0, &pkt(tcp_flags::ACK, 0, &dss)),
            0
        );
        let info = |s: &TcpState| s.clone().into_info([&hot[0], &hot[1]]);
        assert_eq!(info(&s).mptcp.as_deref().unwrap().dir[0].mapped_octets, 100);
        s.reset_deltas();
        assert_eq!(info(&s).mptcp.as_deref().unwrap().dir[0].mapped_octets, 0);
    }

    #[test]
    fn rare_state_is_one_allocation_of_the_documented_size() {
        // The module doc and the README's --max-flows row state it.
        assert_eq!(std::mem::size_of::<TcpRare>(), 520);
        // What stays in the flow entry: its last line holds this beside the list links.
        assert_eq!(std::mem::size_of::<TcpState>(), 32);
    }

    #[test]
    fn ordinary_connections_allocate_nothing_and_rare_state_survives_the_split() {
        let mut s = TcpState::default();
        let mut hot = [TcpDirHot::default(); 2];
        // SYN with MSS, SACK-permitted, timestamps, window scale; SYN-ACK likewise.
        let syn = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        s.update_split(&mut hot[0], 0, &pkt(tcp_flags::SYN, 100, &syn));
        s.update_split(
            &mut hot[1],
            1,
            &pkt(tcp_flags::SYN | tcp_flags::ACK, 900, &syn),
        );
        let ts = |v: u8| [1, 1, 8, 10, 0, 0, 0, v, 0, 0, 0, 0];
        s.update_split(&mut hot[0], 0, &pkt(tcp_flags::ACK, 101, &ts(9)));
        assert!(s.rare.is_none());
        let i = s.clone().into_info([&hot[0], &hot[1]]);
        let d = i.dir[0];
        assert_eq!(
            (d.mss, d.has_mss, d.window_scale, d.has_window_scale),
            (1460, true, 7, true)
        );
        assert!(d.sack_permitted);
        assert_eq!((d.ts_first, d.ts_last, d.has_ts), (7, 9, true));
        assert_eq!((d.isn, d.has_isn), (100, true));
        assert_eq!(
            d.options_full,
            [1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 8, 0, 0, 0]
        );
        assert_eq!((i.dir[1].isn, i.dir[1].ts_last), (900, 7));
        assert!(i.mptcp.is_none());

        // Kind 253 (experimental) and an MP_CAPABLE: one allocation, and both come back.
        s.update_split(&mut hot[1], 1, &pkt(tcp_flags::ACK, 901, &[253, 4, 0, 0]));
        assert!(s.rare.is_some());
        s.update_split(
            &mut hot[0],
            0,
            &pkt(tcp_flags::ACK, 102, &[30, 4, 0x01, 0x01]),
        );
        let i = s.into_info([&hot[0], &hot[1]]);
        assert_eq!(i.dir[1].options_full[3], 1 << (253 - 192));
        assert!(i.dir[1].has_high_kinds() && !i.dir[0].has_high_kinds());
        assert!(i.mptcp.is_some());
        // The record form converts back without loss.
        let (s2, h2) = TcpState::split(i.clone());
        let j = s2.into_info([&h2[0], &h2[1]]);
        assert_eq!(j.dir, i.dir);
        assert!(j.mptcp.is_some());
    }

    #[test]
    fn update_never_panics_on_garbage() {
        let mut c = TcpConnInfo::default();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            let mut raw = [0u8; 40];
            for b in raw.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // Bias toward small kinds and lengths so the walk gets somewhere.
                *b = if x & 3 == 0 { 30 } else { (x >> 8) as u8 % 44 };
            }
            let n = (x as usize) % 41;
            let _ = c.update((x >> 3) as usize % 3, &pkt(tcp_flags::ACK, x, &raw[..n]));
        }
    }
}
