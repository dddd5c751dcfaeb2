//! A file read ahead of its parser, on a thread of its own.
//!
//! Metering a capture file, the kernel's copy of it from the page cache into our buffer
//! was a sixth of the metering thread's time. So the `read` calls run on a thread of
//! their own (`meter-read`), which fills the next blocks while the parser works through
//! the current one. Blocks go round: full ones to the parser through a short bounded
//! queue, spent ones back to the thread, so after the first few nothing is allocated and
//! at most [`DEPTH`] + 2 blocks exist. Each block keeps [`HEADROOM`] bytes free before its
//! data, where the parser puts the unread tail of the block before (a record cut by the
//! block boundary) instead of moving the new block's data.
//!
//! Where no thread can be started the same blocks are read in line.

use std::fs::File;
use std::io::{self, Read};
use std::thread;

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

/// Bytes of file per block. Every spent block handed back wakes the thread, which is
/// waiting for one (it reads faster than the parser parses), and a wake-up costs
/// microseconds on both sides: with 256 KiB blocks that was 6 % of the metering thread on
/// the mixed benchmark capture, and 2 MiB blocks metered it 8–10 % faster (1 and 4 MiB
/// measured in between and the same). The parser finds a block in the shared cache or in
/// memory either way, since the other core wrote it.
pub const BLOCK: usize = 2 << 20;
/// Free bytes before a block's data, for the tail of the block before.
pub const HEADROOM: usize = 64 << 10;
/// Full blocks waiting for the parser, at most.
pub const DEPTH: usize = 4;

/// `len` bytes of the file at `buf[HEADROOM..HEADROOM + len]`.
pub struct Block {
    pub buf: Vec<u8>,
    pub len: usize,
}

pub struct ReadAhead {
    inner: Inner,
}

enum Inner {
    Thread {
        full: Receiver<io::Result<Block>>,
        spent: Sender<Vec<u8>>,
    },
    InLine {
        file: File,
        spare: Vec<Vec<u8>>,
        done: bool,
    },
}

/// Fill `buf` with the next block of `file`: the bytes read (0 at the end of the file).
fn read_block(file: &mut File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < HEADROOM + BLOCK {
        buf.resize(HEADROOM + BLOCK, 0);
    }
    let mut len = 0;
    while len < BLOCK {
        match file.read(&mut buf[HEADROOM + len..HEADROOM + BLOCK]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

impl ReadAhead {
    pub fn new(file: File) -> ReadAhead {
        // The thread owns the file; a clone of the handle stays here in case the thread
        // cannot be started.
        let Ok(mut theirs) = file.try_clone() else {
            return ReadAhead::in_line(file);
        };
        let (full_tx, full) = bounded(DEPTH);
        let (spent, spent_rx) = bounded::<Vec<u8>>(DEPTH + 2);
        let started = thread::Builder::new()
            .name("meter-read".into())
            .spawn(move || {
                let mut made = 0;
                loop {
                    let mut buf = match spent_rx.try_recv() {
                        Ok(b) => b,
                        Err(TryRecvError::Empty) if made < DEPTH + 2 => {
                            made += 1;
                            Vec::new()
                        }
                        Err(_) => match spent_rx.recv() {
                            Ok(b) => b,
                            // The parser is gone.
                            Err(_) => return,
                        },
                    };
                    match read_block(&mut theirs, &mut buf) {
                        // The end of the file: the closed queue says so.
                        Ok(0) => return,
                        Ok(len) => {
                            if full_tx.send(Ok(Block { buf, len })).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        match started {
            Ok(_) => ReadAhead {
                inner: Inner::Thread { full, spent },
            },
            Err(_) => ReadAhead::in_line(file),
        }
    }

    fn in_line(file: File) -> ReadAhead {
        ReadAhead {
            inner: Inner::InLine {
                file,
                spare: Vec::new(),
                done: false,
            },
        }
    }

    /// The next block, `None` at the end of the file.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        match &mut self.inner {
            Inner::Thread { full, .. } => full.recv().ok().transpose(),
            Inner::InLine { file, spare, done } => {
                if *done {
                    return Ok(None);
                }
                let mut buf = spare.pop().unwrap_or_default();
                let len = read_block(file, &mut buf)?;
                if len == 0 {
                    *done = true;
                    return Ok(None);
                }
                Ok(Some(Block { buf, len }))
            }
        }
    }

    /// Give back a block's buffer the caller is done with. The thread makes
    /// [`DEPTH`] + 2 buffers and then waits for these, so a caller holds at most two
    /// blocks (its current one and the next) before it gives one back.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        match &mut self.inner {
            // A full return queue (cannot happen: the thread made only that many) or a
            // finished thread: the buffer is simply freed.
            Inner::Thread { spent, .. } => {
                let _ = spent.try_send(buf);
            }
            Inner::InLine { spare, .. } => {
                if spare.len() < 2 {
                    spare.push(buf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(name: &str, bytes: &[u8]) -> File {
        let p = std::env::temp_dir().join(format!("meter-ra-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        File::open(&p).unwrap()
    }

    fn read_all(mut r: ReadAhead) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            assert!(b.len <= BLOCK);
            out.extend_from_slice(&b.buf[HEADROOM..HEADROOM + b.len]);
            r.recycle(b.buf);
        }
        assert!(r.next_block().unwrap().is_none(), "the end stays the end");
        out
    }

    #[test]
    fn blocks_join_to_the_file_threaded_and_in_line() {
        // Several blocks and a partial one, bytes that tell their position.
        let bytes: Vec<u8> = (0..(3 * BLOCK + 1234) as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let threaded = ReadAhead::new(file_of("t", &bytes));
        assert!(matches!(threaded.inner, Inner::Thread { .. }));
        assert_eq!(read_all(threaded), bytes);
        assert_eq!(read_all(ReadAhead::in_line(file_of("i", &bytes))), bytes);
        assert!(read_all(ReadAhead::new(file_of("e", b""))).is_empty());
    }

    #[test]
    fn a_parser_holding_two_blocks_gets_every_block() {
        // The contract of `recycle`: holding the current block and the next one while the
        // tail moves over never starves the thread of buffers.
        let bytes = vec![7u8; 10 * BLOCK];
        let mut r = ReadAhead::new(file_of("k", &bytes));
        let mut n = 0;
        let mut kept = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            n += b.len;
            kept.push(b.buf);
            if kept.len() > 2 {
                r.recycle(kept.remove(0));
            }
        }
        assert_eq!(n, bytes.len());
    }
}
