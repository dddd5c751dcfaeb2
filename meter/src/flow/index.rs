//! The flow index: hash → slab index, one cache line per bucket.
//!
//! Open addressing over buckets of eight slots; a slot holds 15 upper bits of the flow
//! hash (the tag) and a 32-bit slab index. A lookup reads one cache line and compares tags
//! before it ever touches a flow entry, so a miss costs one memory access and a hit two.
//! Buckets that overflowed into their neighbours keep an exact count of the entries that
//! passed them, so a lookup stops at the first bucket nobody passed (no tombstones, no
//! degradation after millions of inserts and removals). The count lives in the bucket's
//! own line: a lookup that finds nothing (every new flow) decides that from the line it
//! already has, not from a second random access.
//!
//! A tag of 15 bits matches a foreign entry in one lookup of 8 000 or so (the slab entry's
//! key is then compared and differs: a wasted access, never a wrong result); it is what
//! lets eight tags, eight indices and the count share 64 octets.
//!
//! The index is sized once for the table's capacity at a load of at most 50 %, and never
//! grows: memory is bounded by configuration, not by traffic.
//!
//! [`FlowIndex::prefetch`] lets a batched caller ask for a bucket early, so the memory
//! accesses of a whole batch are in flight together.

const SLOTS: usize = 8;
/// The tag of a free slot; [`tag`] never returns it.
const FREE: u16 = 0;

/// Eight slots: their tags, their slab indices and the count of entries that probed past
/// this bucket, in one cache line. Tags side by side let a lookup compare all eight at
/// once (one vector compare and a mask) instead of looping with a branch per slot, whose
/// exit the CPU cannot predict.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; SLOTS],
    idx: [u32; SLOTS],
    /// How many stored entries probed past this bucket (their home bucket is at or
    /// before it).
    passed: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    const EMPTY: Bucket = Bucket {
        tags: [FREE; SLOTS],
        idx: [0; SLOTS],
        passed: 0,
    };

    /// Bit `2 i` set when slot `i` holds tag `t` (see [`first_slot`]): the compare's
    /// own mask, one bit kept per 16-bit lane. Folding it to one bit per slot took nine
    /// instructions per lookup that the slot's number does not need.
    #[inline(always)]
    fn matching(&self, t: u16) -> u32 {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            use safe_arch::{
                cmp_eq_mask_i16_m128i, m128i, move_mask_i8_m128i, set_splat_i16_m128i,
            };
            let eq = cmp_eq_mask_i16_m128i(m128i::from(self.tags), set_splat_i16_m128i(t as i16));
            // Two mask bits per 16-bit lane; keep the low one.
            move_mask_i8_m128i(eq) as u32 & 0x5555
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            let mut m = 0;
            for (i, &x) in self.tags.iter().enumerate() {
                m |= u32::from(x == t) << (2 * i);
            }
            m
        }
    }
}

/// The slot of the lowest match in a [`Bucket::matching`] mask (clearing that match is
/// `m &= m - 1`, as for one bit per slot).
#[inline(always)]
fn first_slot(m: u32) -> usize {
    m.trailing_zeros() as usize / 2
}

pub struct FlowIndex {
    buckets: Vec<Bucket>,
    mask: usize,
}

/// The top 15 bits of the hash above a set low bit, so no tag equals [`FREE`] (the bucket
/// comes from the low bits, so the tag's bits are independent of it).
#[inline]
fn tag(hash: u64) -> u16 {
    (hash >> 48) as u16 | 1
}

/// Buckets of an index for up to `capacity` entries: a load of at most 50 %, a power of
/// two so the home bucket is a mask.
fn buckets_for(capacity: usize) -> usize {
    (capacity.max(1) * 2).div_ceil(SLOTS).next_power_of_two()
}

impl FlowIndex {
    /// The memory of an index for up to `capacity` entries (what `perf memory` models).
    pub fn bytes_for(capacity: usize) -> usize {
        buckets_for(capacity) * std::mem::size_of::<Bucket>()
    }

    /// An index for up to `capacity` entries.
    pub fn with_capacity(capacity: usize) -> FlowIndex {
        let n = buckets_for(capacity);
        // Written now, not left to the allocator's zeroed pages: those would be faulted in
        // (and zeroed by the kernel) by the first lookups that land on them, i.e. stalls of
        // the metering thread in the first seconds of traffic; buckets are hit at random, so
        // every page would be. (Hence not `vec![0; n]`, which gets zeroed pages unwritten.)
        let mut buckets = Vec::with_capacity(n);
        buckets.resize(n, Bucket::EMPTY);
        FlowIndex {
            buckets,
            mask: n - 1,
        }
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// Start loading the home bucket of `hash` so a later lookup finds it in cache.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(b) = self.buckets.get(self.home(hash)) {
            super::prefetch(b);
        }
    }

    /// The first candidate slab index whose tag matches (a hint for prefetching the entry).
    #[inline]
    pub fn first_candidate(&self, hash: u64) -> Option<u32> {
        let b = self.buckets.get(self.home(hash))?;
        let m = b.matching(tag(hash));
        b.idx.get(first_slot(m)).copied()
    }

    /// Find the entry for which `is_it(slab index)` holds among those with this hash's tag.
    #[inline]
    pub fn find(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut b = self.home(hash);
        loop {
            let bucket = self.buckets.get(b)?;
            let mut m = bucket.matching(t);
            while m != 0 {
                if let Some(&i) = bucket.idx.get(first_slot(m))
                    && is_it(i)
                {
                    return Some(i);
                }
                m &= m - 1;
            }
            if bucket.passed == 0 {
                return None;
            }
            b = (b + 1) & self.mask;
        }
    }

    /// Insert an entry known to be absent. The caller keeps the number of entries within
    /// the capacity, so a free slot always exists.
    pub fn insert(&mut self, hash: u64, idx: u32) {
        let home = self.home(hash);
        let mut b = home;
        loop {
            let bucket = &mut self.buckets[b];
            let free = bucket.matching(FREE);
            if free != 0 {
                let i = first_slot(free);
                bucket.tags[i] = tag(hash);
                bucket.idx[i] = idx;
                // Count this entry on every bucket it passed.
                let mut p = home;
                while p != b {
                    self.buckets[p].passed += 1;
                    p = (p + 1) & self.mask;
                }
                return;
            }
            b = (b + 1) & self.mask;
            if b == home {
                // Cannot happen at a load of at most 50 %; refusing is safer than looping.
                return;
            }
        }
    }

    /// Forget every entry.
    pub fn clear(&mut self) {
        self.buckets.fill(Bucket::EMPTY);
    }

    /// Remove the entry `(hash, idx)`; false if it is not there.
    pub fn remove(&mut self, hash: u64, idx: u32) -> bool {
        let t = tag(hash);
        let home = self.home(hash);
        let mut b = home;
        loop {
            let bucket = &mut self.buckets[b];
            let mut m = bucket.matching(t);
            while m != 0 {
                let i = first_slot(m);
                if bucket.idx[i] == idx {
                    bucket.tags[i] = FREE;
                    let mut p = home;
                    while p != b {
                        self.buckets[p].passed -= 1;
                        p = (p + 1) & self.mask;
                    }
                    return true;
                }
                m &= m - 1;
            }
            if self.buckets[b].passed == 0 {
                return false;
            }
            b = (b + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_with_forced_collisions() {
        // 16 entries with the same home bucket and tag: overflow across three buckets.
        let mut ix = FlowIndex::with_capacity(64);
        let h = 0xdead_beef_0000_0003u64;
        for i in 0..16 {
            ix.insert(h, i);
        }
        for i in 0..16 {
            assert_eq!(ix.find(h, |c| c == i), Some(i));
        }
        assert_eq!(ix.find(h, |c| c == 99), None);
        // Remove from the home bucket: the ones that overflowed are still found.
        for i in 0..8 {
            assert!(ix.remove(h, i));
        }
        for i in 8..16 {
            assert_eq!(ix.find(h, |c| c == i), Some(i));
        }
        for i in 8..16 {
            assert!(ix.remove(h, i));
        }
        assert!(ix.buckets.iter().all(|b| b.passed == 0));
        assert!(!ix.remove(h, 3));
    }

    #[test]
    fn bytes_for_is_what_with_capacity_allocates() {
        for cap in [1, 4, 5, 1000, 1 << 20, (1 << 20) + 1] {
            let ix = FlowIndex::with_capacity(cap);
            assert_eq!(FlowIndex::bytes_for(cap), ix.buckets.len() * 64, "{cap}");
            assert!(
                ix.buckets.len() * SLOTS >= 2 * cap,
                "{cap}: load above 50 %"
            );
        }
    }

    #[test]
    fn every_slot_matches_its_own_tag_only() {
        let mut b = Bucket::EMPTY;
        for i in 0..SLOTS {
            b.tags[i] = 0x8001 + 2 * i as u16;
        }
        for i in 0..SLOTS {
            let m = b.matching(0x8001 + 2 * i as u16);
            assert_eq!(m, 1 << (2 * i));
            assert_eq!(first_slot(m), i);
        }
        assert_eq!(b.matching(0x7fff), 0);
        b.tags[3] = b.tags[6];
        let m = b.matching(b.tags[6]);
        assert_eq!(m, 1 << 6 | 1 << 12);
        assert_eq!((first_slot(m), first_slot(m & (m - 1))), (3, 6));
        assert_eq!(Bucket::EMPTY.matching(FREE), 0x5555);
    }

    #[test]
    fn churn_keeps_index_exact() {
        let cap = 1000;
        let mut ix = FlowIndex::with_capacity(cap);
        let mut live: std::collections::VecDeque<(u64, u32)> = Default::default();
        let mut next = crate::testing::xorshift(0x1234_5678_9abc_def1);
        for i in 0..200_000u32 {
            let x = next();
            // Few distinct low bits: heavy bucket pressure.
            let h = x & !0xfff0;
            if live.len() == cap {
                let (oh, oi) = live.pop_front().unwrap();
                assert!(ix.remove(oh, oi));
            }
            ix.insert(h, i);
            live.push_back((h, i));
        }
        for &(h, i) in &live {
            assert_eq!(ix.find(h, |c| c == i), Some(i));
        }
    }
}
