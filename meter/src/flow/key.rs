//! The canonical, direction-free flow key and its hash.
//!
//! Both directions of a conversation produce the same key: the (address, port) pairs are
//! ordered so that side `a` is the smaller one, addresses read as little-endian 128-bit
//! integers (the order only has to be the same for both directions, and that reading is
//! a plain load, where network order needed four byte swaps per packet). The hash of a
//! canonical key is therefore symmetric, which is what lets the reader spread packets over
//! workers so that both directions reach the same table.

use std::hint::select_unpredictable;

use crate::packet::{Addr, PacketMeta};

/// Fixed seeds (hex digits of pi): an address word is xored with one before it is
/// multiplied, so ordinary all-zero words (the first half of an IPv4-mapped address) do not
/// zero the product. The last multiply joins two products that are already mixed, and
/// needs none.
const SEED: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The full 128-bit product folded to 64 bits: high and low halves xored.
#[inline(always)]
fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    p as u64 ^ (p >> 64) as u64
}

/// A conversation's identity. Stored as five 64-bit words, not as byte arrays and
/// 16-bit fields, because building one is on every packet's path: choosing side `a` is
/// then five conditional moves, and comparing and hashing work on whole words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Side `a`'s address as a little-endian 128-bit integer, high word first.
    a: [u64; 2],
    b: [u64; 2],
    /// `a_port | b_port << 16 | vlan << 32 | protocol << 48`.
    rest: u64,
}

#[inline(always)]
fn words(x: u128) -> [u64; 2] {
    [(x >> 64) as u64, x as u64]
}

impl FlowKey {
    /// The key of a packet, and whether the packet's source is side `a`.
    #[inline]
    pub fn of(pkt: &PacketMeta) -> (FlowKey, bool) {
        // Side `a` is the smaller (address, port): two 128-bit compares instead of a
        // byte-wise walk, and the sides chosen by conditional moves (a branch on the
        // direction of the packet would be mispredicted half the time).
        let src = u128::from_le_bytes(pkt.src);
        let dst = u128::from_le_bytes(pkt.dst);
        let src_is_a = (src, pkt.src_port) <= (dst, pkt.dst_port);
        let (a, b) = select_unpredictable(src_is_a, (src, dst), (dst, src));
        let (sp, dp) = (u64::from(pkt.src_port), u64::from(pkt.dst_port));
        let ports = select_unpredictable(src_is_a, sp | dp << 16, dp | sp << 16);
        let key = FlowKey {
            a: words(a),
            b: words(b),
            rest: ports | u64::from(pkt.vlan) << 32 | u64::from(pkt.protocol) << 48,
        };
        (key, src_is_a)
    }

    /// Side `a`'s address (key form).
    pub fn a(&self) -> Addr {
        (u128::from(self.a[0]) << 64 | u128::from(self.a[1])).to_le_bytes()
    }

    /// Side `b`'s address (key form).
    pub fn b(&self) -> Addr {
        (u128::from(self.b[0]) << 64 | u128::from(self.b[1])).to_le_bytes()
    }

    pub fn a_port(&self) -> u16 {
        self.rest as u16
    }

    pub fn b_port(&self) -> u16 {
        (self.rest >> 16) as u16
    }

    /// Outer VLAN ID: the same 5-tuple on two VLANs is two flows.
    pub fn vlan(&self) -> u16 {
        (self.rest >> 32) as u16
    }

    pub fn protocol(&self) -> u8 {
        (self.rest >> 48) as u8
    }

    /// A fixed-seed hash: the same in every worker and every run (reproducible spreading).
    ///
    /// Three folded 64x64->128-bit multiplies (the mixing step of wyhash):
    /// one per address, both independent, then one joining them with the ports, VLAN and
    /// protocol. A per-packet cost on the table's path, so it does no more mixing than the
    /// index needs: every input bit reaches the low bits (bucket) and the high 32 (tag).
    #[inline]
    pub fn hash64(&self) -> u64 {
        let ha = fold_mul(self.a[0] ^ SEED[0], self.a[1] ^ SEED[1]);
        let hb = fold_mul(self.b[0] ^ SEED[2], self.b[1] ^ SEED[3]);
        fold_mul(ha ^ self.rest, hb)
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
    fn side_a_is_one_endpoint_for_both_directions_with_its_own_port() {
        // Addresses that differ in their first, middle and last octets, with ports that
        // would order the other way: both directions name the same side `a`, and each
        // side keeps its own port; the port only decides when the addresses are equal.
        let pairs: [([u8; 16], [u8; 16]); 3] = [
            ([1; 16], [2; 16]),
            (
                *b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
                *b"\x20\x01\x0d\xb8\0\0\0\x01\0\0\0\0\0\0\0\0",
            ),
            (addr_v4([10, 0, 0, 1]), addr_v4([10, 0, 0, 2])),
        ];
        for (x, y) in pairs {
            let packet = |src, dst, src_port, dst_port| PacketMeta {
                src,
                dst,
                src_port,
                dst_port,
                protocol: 6,
                ..Default::default()
            };
            for (x_port, y_port) in [(60000, 1), (1, 60000)] {
                let (k1, s1) = FlowKey::of(&packet(x, y, x_port, y_port));
                let (k2, s2) = FlowKey::of(&packet(y, x, y_port, x_port));
                assert_eq!(k1, k2);
                assert_ne!(s1, s2);
                let (a, b) = if s1 { (x, y) } else { (y, x) };
                assert_eq!((k1.a(), k1.b()), (a, b));
                let (a_port, b_port) = if s1 {
                    (x_port, y_port)
                } else {
                    (y_port, x_port)
                };
                assert_eq!((k1.a_port(), k1.b_port()), (a_port, b_port));
                // The ports do not move side `a` between addresses.
                let (k3, _) = FlowKey::of(&packet(x, y, y_port, x_port));
                assert_eq!(k3.a(), k1.a());
            }
            // Same address on both sides: the smaller port is side a.
            let (k, s) = FlowKey::of(&packet(x, x, 443, 80));
            assert!(!s);
            assert_eq!((k.a_port(), k.b_port()), (80, 443));
        }
    }

    #[test]
    fn hash_spreads_keys_that_differ_in_one_field() {
        // Keys as a mirror port sees them: consecutive client addresses, consecutive
        // ports, one server. The index takes its bucket from the low bits and its tag
        // from the high 32; both must spread such keys, or lookups collide.
        let base = PacketMeta {
            src: addr_v4([10, 0, 0, 0]),
            dst: addr_v4([192, 0, 2, 1]),
            src_port: 0,
            dst_port: 443,
            protocol: 6,
            ..Default::default()
        };
        // (Filled by mutation: struct-update syntax inside these closures trips rustc
        // 1.95 with an internal compiler error.)
        let with = |f: &dyn Fn(&mut PacketMeta, u32)| -> Vec<PacketMeta> {
            (0..1u32 << 16)
                .map(|i| {
                    let mut p = base;
                    f(&mut p, i);
                    p
                })
                .collect()
        };
        let by_addr = with(&|p, i| p.src = addr_v4((0x0a00_0000 | i).to_be_bytes()));
        let by_port = with(&|p, i| p.src_port = i as u16);
        let by_v6 = with(&|p, i| {
            p.src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            p.src[8..12].copy_from_slice(&i.to_be_bytes());
        });
        for (name, keys) in [
            ("addresses", by_addr),
            ("ports", by_port),
            ("ipv6 interface ids", by_v6),
        ] {
            let n = keys.len();
            // 4096 buckets, 16 keys each on average.
            let mut buckets = vec![0u32; 4096];
            let mut tags = std::collections::HashSet::new();
            for p in &keys {
                let h = FlowKey::of(p).0.hash64();
                buckets[(h & 4095) as usize] += 1;
                tags.insert(h >> 32);
            }
            let max = *buckets.iter().max().unwrap();
            assert!(max <= 40, "{name}: fullest bucket {max} (mean 16)");
            // 65536 random 32-bit tags collide about 0.5 times on average.
            assert!(
                n - tags.len() <= 4,
                "{name}: {} tag collisions",
                n - tags.len()
            );
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
