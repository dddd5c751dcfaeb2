//! The canonical, direction-free flow key and its hash.
//!
//! Both directions of a conversation produce the same key: the (address, port) pairs are
//! ordered so that side `a` is the smaller one. The hash of a canonical key is therefore
//! symmetric, which is what lets the reader spread packets over workers so that both
//! directions reach the same table.

use std::hash::{BuildHasher, Hasher};

use crate::packet::{Addr, PacketMeta};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub a: Addr,
    pub b: Addr,
    pub a_port: u16,
    pub b_port: u16,
    /// Outer VLAN ID: the same 5-tuple on two VLANs is two flows.
    pub vlan: u16,
    pub protocol: u8,
}

impl FlowKey {
    /// The key of a packet, and whether the packet's source is side `a`.
    #[inline]
    pub fn of(pkt: &PacketMeta) -> (FlowKey, bool) {
        // Big-endian integers order as the byte arrays do; two 128-bit compares instead
        // of a byte-wise lexicographic walk.
        let src_is_a = (u128::from_be_bytes(pkt.src), pkt.src_port)
            <= (u128::from_be_bytes(pkt.dst), pkt.dst_port);
        let (a, a_port, b, b_port) = if src_is_a {
            (pkt.src, pkt.src_port, pkt.dst, pkt.dst_port)
        } else {
            (pkt.dst, pkt.dst_port, pkt.src, pkt.src_port)
        };
        (
            FlowKey {
                a,
                b,
                a_port,
                b_port,
                vlan: pkt.vlan,
                protocol: pkt.protocol,
            },
            src_is_a,
        )
    }

    /// A fixed-seed hash: the same in every worker and every run (reproducible spreading).
    #[inline]
    pub fn hash64(&self) -> u64 {
        let mut h = foldhash::fast::FixedState::with_seed(0x6d5a_6d5a_6d5a_6d5a).build_hasher();
        h.write_u64(u64::from_ne_bytes(
            self.a[0..8].try_into().unwrap_or([0; 8]),
        ));
        h.write_u64(u64::from_ne_bytes(
            self.a[8..16].try_into().unwrap_or([0; 8]),
        ));
        h.write_u64(u64::from_ne_bytes(
            self.b[0..8].try_into().unwrap_or([0; 8]),
        ));
        h.write_u64(u64::from_ne_bytes(
            self.b[8..16].try_into().unwrap_or([0; 8]),
        ));
        h.write_u64(
            (self.a_port as u64)
                | (self.b_port as u64) << 16
                | (self.vlan as u64) << 32
                | (self.protocol as u64) << 48,
        );
        h.finish()
    }

    /// Which of `n` workers owns this key. Uses the high half of the hash so the table,
    /// which indexes by the low bits, still sees well-spread hashes inside each worker.
    #[inline]
    pub fn worker(hash: u64, n: usize) -> usize {
        (((hash >> 32) * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::addr_v4;

    #[test]
    fn both_directions_share_key_and_hash() {
        let mut p = PacketMeta {
            src: addr_v4([10, 0, 0, 2]),
            dst: addr_v4([10, 0, 0, 1]),
            src_port: 40000,
            dst_port: 80,
            protocol: 6,
            ..Default::default()
        };
        let (k1, s1) = FlowKey::of(&p);
        std::mem::swap(&mut p.src, &mut p.dst);
        std::mem::swap(&mut p.src_port, &mut p.dst_port);
        let (k2, s2) = FlowKey::of(&p);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.hash64(), k2.hash64());
        // Same addresses, ports swapped between sides, is another flow.
        p.src_port = 40000;
        p.dst_port = 80;
        assert_ne!(FlowKey::of(&p).0, k1);
    }

    #[test]
    fn side_a_is_the_lexicographically_smaller_address_and_port() {
        // Addresses that differ in their first, middle and last octets, with ports that
        // would order the other way: the address decides, the port only on a tie.
        let cases: [([u8; 16], [u8; 16]); 3] = [
            ([1; 16], [2; 16]),
            (
                *b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
                *b"\x20\x01\x0d\xb8\0\0\0\x01\0\0\0\0\0\0\0\0",
            ),
            (addr_v4([10, 0, 0, 1]), addr_v4([10, 0, 0, 2])),
        ];
        for (lo, hi) in cases {
            assert!(lo < hi);
            for (src, dst, src_is_a) in [(lo, hi, true), (hi, lo, false)] {
                let p = PacketMeta {
                    src,
                    dst,
                    src_port: if src_is_a { 60000 } else { 1 },
                    dst_port: if src_is_a { 1 } else { 60000 },
                    protocol: 6,
                    ..Default::default()
                };
                let (k, s) = FlowKey::of(&p);
                assert_eq!(s, src_is_a);
                assert_eq!(k.a, lo);
            }
            // Same address on both sides: the smaller port is side a.
            let p = PacketMeta {
                src: lo,
                dst: lo,
                src_port: 443,
                dst_port: 80,
                ..Default::default()
            };
            let (k, s) = FlowKey::of(&p);
            assert!(!s);
            assert_eq!((k.a_port, k.b_port), (80, 443));
        }
    }

    #[test]
    fn worker_choice_is_in_range_and_spread() {
        let mut counts = [0usize; 3];
        for i in 0..3000u32 {
            let p = PacketMeta {
                src: addr_v4(i.to_be_bytes()),
                dst: addr_v4([10, 0, 0, 1]),
                src_port: 1000,
                dst_port: 53,
                protocol: 17,
                ..Default::default()
            };
            counts[FlowKey::worker(FlowKey::of(&p).0.hash64(), 3)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
    }
}
