//! The flow index: hash → slab index, one cache line per bucket.
//!
//! Open addressing over buckets of eight slots; a slot holds the upper 32 bits of the flow
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
const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy)]
#[repr(align(64))]
struct Bucket([u64; SLOTS]);

pub struct FlowIndex {
    buckets: Vec<Bucket>,
    /// Per bucket: how many stored entries probed past it (their home bucket is at or before it).
    passed: Vec<u32>,
    mask: usize,
}

#[inline]
fn tag(hash: u64) -> u64 {
    hash >> 32
}

#[inline]
fn slot_word(hash: u64, idx: u32) -> u64 {
    tag(hash) << 32 | u64::from(idx)
}

impl FlowIndex {
    /// An index for up to `capacity` entries.
    pub fn with_capacity(capacity: usize) -> FlowIndex {
        let want = (capacity.max(1) * 2).div_ceil(SLOTS);
        let n = want.next_power_of_two();
        FlowIndex {
            buckets: vec![Bucket([EMPTY; SLOTS]); n],
            passed: vec![0; n],
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
        let t = tag(hash);
        self.buckets[self.home(hash)]
            .0
            .iter()
            .find(|&&w| w != EMPTY && w >> 32 == t)
            .map(|&w| w as u32)
    }

    /// Find the entry for which `is_it(slab index)` holds among those with this hash's tag.
    #[inline]
    pub fn find(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut b = self.home(hash);
        loop {
            for &w in &self.buckets[b].0 {
                if w != EMPTY && w >> 32 == t && is_it(w as u32) {
                    return Some(w as u32);
                }
            }
            if self.passed[b] == 0 {
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
            if let Some(s) = self.buckets[b].0.iter_mut().find(|w| **w == EMPTY) {
                *s = slot_word(hash, idx);
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
        self.buckets.fill(Bucket([EMPTY; SLOTS]));
        self.passed.fill(0);
    }

    /// Remove the entry `(hash, idx)`; false if it is not there.
    pub fn remove(&mut self, hash: u64, idx: u32) -> bool {
        let word = slot_word(hash, idx);
        let home = self.home(hash);
        let mut b = home;
        loop {
            if let Some(s) = self.buckets[b].0.iter_mut().find(|w| **w == word) {
                *s = EMPTY;
                let mut p = home;
                while p != b {
                    self.passed[p] -= 1;
                    p = (p + 1) & self.mask;
                }
                return true;
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
        let mut x = 0x1234_5678_9abc_def1u64;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
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
