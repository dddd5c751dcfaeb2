//! The flow index: hash → slab index, one cache line per bucket.
//!
//! Open addressing over buckets of eight slots; a slot holds 31 upper bits of the flow
//! hash (the tag) and a 32-bit slab index. A lookup reads one cache line and compares tags
//! before it ever touches a flow entry, so a miss costs one memory access and a hit two.
//! Buckets that overflowed into their neighbours keep an exact count of the entries that
//! passed them, so a lookup stops at the first bucket nobody passed (no tombstones, no
//! degradation after millions of inserts and removals).
//!
//! The index is sized once for the table's capacity at a load of at most 50 %, and never
//! grows: memory is bounded by configuration, not by traffic.
//!
//! [`FlowIndex::prefetch`] lets a batched caller ask for a bucket early, so the memory
//! accesses of a whole batch are in flight together.

const SLOTS: usize = 8;
/// The tag of a free slot; [`tag`] never returns it.
const FREE: u32 = 0;

/// Eight slots: their tags, then their slab indices, in one cache line. Tags side by side
/// let a lookup compare all eight at once (two vector compares and a mask) instead of
/// looping with a branch per slot, whose exit the CPU cannot predict.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u32; SLOTS],
    idx: [u32; SLOTS],
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        tags: [FREE; SLOTS],
        idx: [0; SLOTS],
    };

    /// Bit `i` set when slot `i` holds tag `t`.
    #[inline(always)]
    fn matching(&self, t: u32) -> u32 {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            use safe_arch::{
                cast_to_m128_from_m128i, cmp_eq_mask_i32_m128i, m128i, move_mask_m128,
                set_splat_i32_m128i,
            };
            let [a, b, c, d, e, f, g, h] = self.tags;
            let want = set_splat_i32_m128i(t as i32);
            let half = |x: [u32; 4]| {
                let eq = cmp_eq_mask_i32_m128i(m128i::from(x), want);
                move_mask_m128(cast_to_m128_from_m128i(eq)) as u32
            };
            half([a, b, c, d]) | half([e, f, g, h]) << 4
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            let mut m = 0;
            for (i, &x) in self.tags.iter().enumerate() {
                m |= u32::from(x == t) << i;
            }
            m
        }
    }
}

pub struct FlowIndex {
    buckets: Vec<Bucket>,
    /// Per bucket: how many stored entries probed past it (their home bucket is at or before it).
    passed: Vec<u32>,
    mask: usize,
}

/// The upper half of the hash with its low bit set, so no tag equals [`FREE`] (the bucket
/// comes from the low bits, so tags keep 31 independent bits).
#[inline]
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32 | 1
}

impl FlowIndex {
    /// An index for up to `capacity` entries.
    pub fn with_capacity(capacity: usize) -> FlowIndex {
        let want = (capacity.max(1) * 2).div_ceil(SLOTS);
        let n = want.next_power_of_two();
        // Written now, not left to the allocator's zeroed pages: those would be faulted in
        // (and zeroed by the kernel) by the first lookups that land on them, i.e. stalls of
        // the metering thread in the first seconds of traffic; buckets are hit at random, so
        // every page would be. (Hence not `vec![0; n]`, which gets zeroed pages unwritten.)
        let mut buckets = Vec::with_capacity(n);
        buckets.resize(n, Bucket::EMPTY);
        #[allow(clippy::slow_vector_initialization)] // the point: see above
        let mut passed = Vec::with_capacity(n);
        passed.resize(n, 0);
        FlowIndex {
            buckets,
            passed,
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
        b.idx.get(m.trailing_zeros() as usize).copied()
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
                if let Some(&i) = bucket.idx.get(m.trailing_zeros() as usize)
                    && is_it(i)
                {
                    return Some(i);
                }
                m &= m - 1;
            }
            if self.passed.get(b).is_none_or(|&p| p == 0) {
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
                let i = free.trailing_zeros() as usize;
                bucket.tags[i] = tag(hash);
                bucket.idx[i] = idx;
                // Count this entry on every bucket it passed.
                let mut p = home;
                while p != b {
                    self.passed[p] += 1;
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
        self.passed.fill(0);
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
                let i = m.trailing_zeros() as usize;
                if bucket.idx[i] == idx {
                    bucket.tags[i] = FREE;
                    let mut p = home;
                    while p != b {
                        self.passed[p] -= 1;
                        p = (p + 1) & self.mask;
                    }
                    return true;
                }
                m &= m - 1;
            }
            if self.passed[b] == 0 {
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
        assert!(ix.passed.iter().all(|&p| p == 0));
        assert!(!ix.remove(h, 3));
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
