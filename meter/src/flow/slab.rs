//! The flow table's entry storage: a slab that grows in chunks of one huge page and never
//! moves an entry.
//!
//! Writing memory a process has never written costs a page fault and the kernel zeroing
//! the page; on a virtual machine whose host backs guest memory lazily that is several
//! times slower than writing the memory itself (`perf memory` measures both), and a
//! table creating a million flows writes 256 MB of fresh memory. So a table may be given a
//! [`ChunkSupply`]: a thread on its own that makes the next few chunks (their pages
//! faulted in and written) ahead of need, so the metering thread finds them ready. The
//! supply is bounded to [`AHEAD`] chunks: memory still grows with flows, not ahead of
//! them. Without a supply, or when it falls behind, the slab makes the chunk itself.
//!
//! Indices are dense as in a `Vec`. `slab[i]` panics past the chunks; an index past
//! [`Slab::len`] inside the last chunk reads an entry made by `T::default()` (the table
//! only holds indices `push` gave it, and skipping a length check keeps a lookup at two
//! loads).

use std::ops::{Index, IndexMut};
use std::thread;

use crossbeam_channel::{Receiver, bounded};

/// Entries per chunk: 4 KiB short of 4 MiB of 256-byte entries, so that a chunk with the
/// allocator's header is one 4 MiB mapping, which the kernel aligns and transparent huge
/// pages then cover whole (a power-of-two chunk spills a few bytes past its size and gets
/// a partial huge page). Two huge pages, not one: glibc maps an allocation from the
/// reserved pool only when it is at least one huge page with its header (see
/// [`crate::huge_pages`]). Not a power of two: the division by this constant is a
/// multiply and a shift.
pub const CHUNK: usize = 16368;
/// Chunks a supply makes ahead of need.
pub const AHEAD: usize = 4;

pub type Chunk<T> = Box<[T; CHUNK]>;

/// A chunk of entries made by `T::default()`. Of a fixed size, so that indexing into it
/// needs no bounds check (even a small table has one whole chunk).
fn chunk<T: Default>() -> Chunk<T> {
    let entries: Box<[T]> = (0..CHUNK).map(|_| T::default()).collect();
    match entries.try_into() {
        Ok(c) => c,
        Err(_) => unreachable!("CHUNK entries were made"),
    }
}

/// Chunks made ahead on a thread of their own.
pub struct ChunkSupply<T> {
    chunks: Receiver<Chunk<T>>,
}

impl<T: Default + Send + 'static> ChunkSupply<T> {
    /// A thread that makes the chunks for `capacity` entries, at most [`AHEAD`]
    /// before they are taken; it ends when it has made them all or the slab is gone.
    /// `None` if no thread can be started (the slab then makes its chunks itself).
    pub fn spawn(capacity: usize) -> Option<ChunkSupply<T>> {
        let (tx, rx) = bounded(AHEAD);
        let total = capacity.max(1).div_ceil(CHUNK);
        thread::Builder::new()
            .name("meter-table-mem".into())
            .spawn(move || {
                for _ in 0..total {
                    if tx.send(chunk::<T>()).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(ChunkSupply { chunks: rx })
    }
}

pub struct Slab<T> {
    chunks: Vec<Chunk<T>>,
    len: usize,
    supply: Option<ChunkSupply<T>>,
}

impl<T: Default> Slab<T> {
    /// A slab with chunks from `supply` when it has them ready.
    pub fn new(supply: Option<ChunkSupply<T>>) -> Slab<T> {
        Slab {
            chunks: Vec::new(),
            len: 0,
            supply,
        }
    }

    /// Append `value`; its index is the previous [`Slab::len`].
    pub fn push(&mut self, value: T) -> usize {
        let i = self.len;
        if i / CHUNK == self.chunks.len() {
            let made = self.supply.as_ref().and_then(|s| s.chunks.try_recv().ok());
            self.chunks.push(made.unwrap_or_else(chunk::<T>));
        }
        self.len += 1;
        self[i] = value;
        i
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empty the slab and hand over its chunks (entries `0..len` in order, then the unused
    /// rest of the last chunk); the supply stays for the chunks made next.
    pub fn take_chunks(&mut self) -> Vec<Chunk<T>> {
        self.len = 0;
        std::mem::take(&mut self.chunks)
    }

    /// Entry `i` of the chunks made so far, used or not (one never pushed is a
    /// `T::default()`): for hints that are checked where they are used (prefetch targets,
    /// the flow table's candidate entry), which a length check would only slow.
    #[inline]
    pub fn made(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// [`Slab::made`] for writing.
    #[inline]
    pub fn made_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(mut s: Slab<u64>, n: usize) -> Slab<u64> {
        for i in 0..n {
            assert_eq!(s.push(i as u64 * 3), i);
        }
        s
    }

    #[test]
    fn indices_span_chunks() {
        let n = 3 * CHUNK + 5;
        let mut s = fill(Slab::new(None), n);
        assert_eq!(s.len(), n);
        for i in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 7, n - 1] {
            assert_eq!(s[i], i as u64 * 3);
            assert_eq!(s.made(i), Some(&(i as u64 * 3)));
        }
        // Made but never pushed: a default entry; past the chunks: none.
        assert_eq!(s.made(n), Some(&0));
        assert_eq!(s.made(4 * CHUNK), None);
        s[CHUNK] = 7;
        assert_eq!(s[CHUNK], 7);
    }

    #[test]
    fn supplied_chunks_hold_the_same_values() {
        let n = 6 * CHUNK + 1;
        let supply = ChunkSupply::<u64>::spawn(n).expect("thread");
        let s = fill(Slab::new(Some(supply)), n);
        let plain = fill(Slab::new(None), n);
        assert!((0..n).all(|i| s[i] == plain[i]));
        assert_eq!(s.chunks.len(), 7);
    }

    #[test]
    fn taken_chunks_hold_the_entries_and_the_slab_starts_over() {
        let n = 2 * CHUNK + 3;
        let mut s = fill(Slab::new(None), n);
        let chunks = s.take_chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2][2], (2 * CHUNK + 2) as u64 * 3);
        assert!(s.is_empty());
        assert_eq!(s.made(0), None);
        assert_eq!(s.push(5), 0);
        assert_eq!(s[0], 5);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn index_past_the_chunks_panics() {
        let s = fill(Slab::new(None), 3);
        assert_eq!(s[3], 0, "a made but unused entry is the default");
        let _ = s[CHUNK];
    }

    #[test]
    fn a_supply_for_a_small_table_makes_one_chunk() {
        let supply = ChunkSupply::<u64>::spawn(10).expect("thread");
        let first = supply.chunks.recv().expect("one chunk");
        assert!(first.iter().all(|&x| x == 0));
        assert!(
            supply.chunks.recv().is_err(),
            "the thread ends after one chunk"
        );
    }
}
