//! Capture-file source: classic pcap (µs and ns, either byte order) and pcapng.
//!
//! The file is read in blocks of 2 MiB by a thread of its own ([`ReadAhead`]) and frames
//! are handed out as slices of them, so reading costs the parser no system call and no
//! allocation per packet, and the kernel's copy of the file runs beside it. The reader
//! trusts nothing in the file: every length is checked against the buffer before it is
//! used, and a file that ends in the middle of a record is reported as
//! [`SourceError::Truncated`] with the byte offset, after every complete frame before it was
//! delivered.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::read_ahead::{HEADROOM, ReadAhead};
use crate::packet::LinkType;

/// Records larger than this are a corrupt length field, not a packet.
const MAX_RECORD: usize = 1 << 20;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 0x0000_0001;
const PCAPNG_SPB: u32 = 0x0000_0003;
const PCAPNG_EPB: u32 = 0x0000_0006;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const PCAPNG_OPT_IF_TSRESOL: u16 = 9;
const PCAPNG_OPT_IF_TSOFFSET: u16 = 14;

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts_ns: u64,
    /// Length on the wire (pcap orig_len); may exceed `data.len()`.
    pub wire_len: u32,
    pub data: &'a [u8],
    /// Link type of the interface the frame was captured on; `None` if it carries neither
    /// Ethernet nor IP (the caller counts the frame as dropped).
    pub link: Option<LinkType>,
}

/// What can go wrong reading a capture file. `Display` is one line for an operator.
#[derive(Debug)]
pub enum SourceError {
    Open(PathBuf, io::Error),
    Read(PathBuf, io::Error),
    NotACapture(PathBuf),
    Empty(PathBuf),
    /// The file ends inside a record (offset of that record).
    Truncated(PathBuf, u64),
    /// A record's length field is impossible (offset of that record).
    Corrupt(PathBuf, u64, &'static str),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Open(p, e) => write!(f, "cannot open capture {}: {e}", p.display()),
            SourceError::Read(p, e) => write!(f, "cannot read capture {}: {e}", p.display()),
            SourceError::NotACapture(p) => write!(
                f,
                "{} is not a pcap or pcapng file (unknown magic number)",
                p.display()
            ),
            SourceError::Empty(p) => write!(f, "capture {} is empty", p.display()),
            SourceError::Truncated(p, off) => write!(
                f,
                "capture {} ends in the middle of a packet at byte {off} (truncated file); packets before it were metered",
                p.display()
            ),
            SourceError::Corrupt(p, off, what) => write!(
                f,
                "capture {} is corrupt at byte {off}: {what}; packets before it were metered",
                p.display()
            ),
        }
    }
}

impl std::error::Error for SourceError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap { swapped: bool, nanos: bool },
    Pcapng { swapped: bool },
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: Option<LinkType>,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_secs: i64,
}

/// Streaming reader of one capture file.
pub struct CaptureReader {
    path: PathBuf,
    src: ReadAhead,
    /// The current block (or, for a record longer than the headroom, several joined).
    buf: Vec<u8>,
    /// Valid bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    format: Format,
    /// Classic pcap's one link type, or pcapng's interfaces by index.
    pcap_link: Option<LinkType>,
    interfaces: Vec<Interface>,
    /// Link type numbers seen that we cannot meter (for the summary).
    pub unsupported_linktypes: Vec<u32>,
}

impl CaptureReader {
    /// Open a capture and read its file header.
    pub fn open(path: &Path) -> Result<CaptureReader, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::Open(path.to_path_buf(), e))?;
        let mut r = CaptureReader {
            path: path.to_path_buf(),
            src: ReadAhead::new(file),
            buf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            format: Format::Pcap {
                swapped: false,
                nanos: false,
            },
            pcap_link: None,
            interfaces: Vec::new(),
            unsupported_linktypes: Vec::new(),
        };
        r.fill(PCAP_HEADER_LEN)?;
        let avail = r.end - r.start;
        if avail == 0 {
            return Err(SourceError::Empty(r.path));
        }
        if avail < 12 {
            return Err(SourceError::NotACapture(r.path));
        }
        let head = &r.buf[r.start..r.start + 12];
        let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        match magic_le {
            PCAP_MAGIC_US | PCAP_MAGIC_NS => {
                r.format = Format::Pcap {
                    swapped: false,
                    nanos: magic_le == PCAP_MAGIC_NS,
                }
            }
            m if m.swap_bytes() == PCAP_MAGIC_US || m.swap_bytes() == PCAP_MAGIC_NS => {
                r.format = Format::Pcap {
                    swapped: true,
                    nanos: m.swap_bytes() == PCAP_MAGIC_NS,
                }
            }
            PCAPNG_SHB => {
                let bom = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
                let swapped = match bom {
                    PCAPNG_BYTE_ORDER_MAGIC => false,
                    b if b.swap_bytes() == PCAPNG_BYTE_ORDER_MAGIC => true,
                    _ => return Err(SourceError::NotACapture(r.path)),
                };
                r.format = Format::Pcapng { swapped };
            }
            _ => return Err(SourceError::NotACapture(r.path)),
        }
        if let Format::Pcap { swapped, .. } = r.format {
            if avail < PCAP_HEADER_LEN {
                return Err(SourceError::Truncated(r.path, 0));
            }
            let linktype = read_u32(&r.buf, r.start + 20, swapped);
            // The upper 16 bits of the link-type field carry FCS information.
            let linktype = linktype & 0xffff;
            r.pcap_link = LinkType::from_pcap(linktype);
            if r.pcap_link.is_none() {
                r.unsupported_linktypes.push(linktype);
            }
            r.consume(PCAP_HEADER_LEN);
        }
        Ok(r)
    }

    /// The link type of a classic pcap file (pcapng: of the first interface, once seen).
    pub fn link_type(&self) -> Option<LinkType> {
        match self.format {
            Format::Pcap { .. } => self.pcap_link,
            Format::Pcapng { .. } => self.interfaces.first().and_then(|i| i.link),
        }
    }

    /// The next frame, `Ok(None)` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        match self.format {
            Format::Pcap { swapped, nanos } => self.next_pcap(swapped, nanos),
            Format::Pcapng { swapped } => self.next_pcapng(swapped),
        }
    }

    fn next_pcap(&mut self, swapped: bool, nanos: bool) -> Result<Option<Frame<'_>>, SourceError> {
        if !self.fill(PCAP_RECORD_HEADER_LEN)? {
            return self.end_or_truncated();
        }
        let s = self.start;
        // The header as one 16-byte value: one bounds check instead of four.
        let header = self
            .buf
            .get(s..s + PCAP_RECORD_HEADER_LEN)
            .and_then(|h| <[u8; PCAP_RECORD_HEADER_LEN]>::try_from(h).ok())
            .unwrap_or_default();
        let ts_sec = read_u32(&header, 0, swapped) as u64;
        let ts_frac = read_u32(&header, 4, swapped) as u64;
        let caplen = read_u32(&header, 8, swapped) as usize;
        let wire_len = read_u32(&header, 12, swapped);
        if caplen > MAX_RECORD {
            return Err(SourceError::Corrupt(
                self.path.clone(),
                self.offset,
                "packet record longer than 1 MiB",
            ));
        }
        let total = PCAP_RECORD_HEADER_LEN + caplen;
        if !self.fill(total)? {
            return Err(SourceError::Truncated(self.path.clone(), self.offset));
        }
        let frac_ns = if nanos { ts_frac } else { ts_frac * 1000 };
        let ts_ns = ts_sec * 1_000_000_000 + frac_ns;
        let data_start = self.start + PCAP_RECORD_HEADER_LEN;
        self.consume(total);
        Ok(Some(Frame {
            ts_ns,
            // A file whose orig_len is below caplen lies; the captured bytes are the floor.
            wire_len: wire_len.max(caplen as u32),
            data: &self.buf[data_start..data_start + caplen],
            link: self.pcap_link,
        }))
    }

    fn next_pcapng(&mut self, mut swapped: bool) -> Result<Option<Frame<'_>>, SourceError> {
        loop {
            if !self.fill(12)? {
                return self.end_or_truncated();
            }
            let s = self.start;
            let raw_type = read_u32(&self.buf, s, false);
            let block_type = if raw_type == PCAPNG_SHB {
                // A new section may switch byte order.
                let bom = read_u32(&self.buf, s + 8, false);
                swapped = bom != PCAPNG_BYTE_ORDER_MAGIC;
                self.format = Format::Pcapng { swapped };
                self.interfaces.clear();
                PCAPNG_SHB
            } else {
                read_u32(&self.buf, s, swapped)
            };
            let len = read_u32(&self.buf, s + 4, swapped) as usize;
            if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD {
                return Err(SourceError::Corrupt(
                    self.path.clone(),
                    self.offset,
                    "pcapng block length is impossible",
                ));
            }
            if !self.fill(len)? {
                return Err(SourceError::Truncated(self.path.clone(), self.offset));
            }
            let body = s + 8..s + len - 4;
            match block_type {
                PCAPNG_IDB => {
                    let iface = parse_idb(&self.buf[body], swapped);
                    if iface.link.is_none() && len >= 14 {
                        let lt = read_u16(&self.buf, s + 8, swapped) as u32;
                        self.unsupported_linktypes.push(lt);
                    }
                    self.interfaces.push(iface);
                    self.consume(len);
                }
                PCAPNG_EPB => {
                    let b = &self.buf[body.clone()];
                    if b.len() < 20 {
                        return Err(SourceError::Corrupt(
                            self.path.clone(),
                            self.offset,
                            "pcapng enhanced packet block too short",
                        ));
                    }
                    let if_id = read_u32(b, 0, swapped) as usize;
                    let ts =
                        ((read_u32(b, 4, swapped) as u64) << 32) | read_u32(b, 8, swapped) as u64;
                    let caplen = read_u32(b, 12, swapped) as usize;
                    let wire_len = read_u32(b, 16, swapped);
                    if caplen > b.len() - 20 {
                        return Err(SourceError::Corrupt(
                            self.path.clone(),
                            self.offset,
                            "pcapng packet longer than its block",
                        ));
                    }
                    let iface = self.interfaces.get(if_id).copied().unwrap_or(Interface {
                        link: None,
                        units_per_sec: 1_000_000,
                        offset_secs: 0,
                    });
                    let ts_ns = scale_ts(ts, iface.units_per_sec, iface.offset_secs);
                    let data_start = body.start + 20;
                    self.consume(len);
                    return Ok(Some(Frame {
                        ts_ns,
                        wire_len: wire_len.max(caplen as u32),
                        data: &self.buf[data_start..data_start + caplen],
                        link: iface.link,
                    }));
                }
                PCAPNG_SPB => {
                    let b = &self.buf[body.clone()];
                    if b.len() < 4 {
                        return Err(SourceError::Corrupt(
                            self.path.clone(),
                            self.offset,
                            "pcapng simple packet block too short",
                        ));
                    }
                    let wire_len = read_u32(b, 0, swapped);
                    let caplen = (wire_len as usize).min(b.len() - 4);
                    let link = self.interfaces.first().and_then(|i| i.link);
                    let data_start = body.start + 4;
                    self.consume(len);
                    // A simple packet block has no timestamp.
                    return Ok(Some(Frame {
                        ts_ns: 0,
                        wire_len: wire_len.max(caplen as u32),
                        data: &self.buf[data_start..data_start + caplen],
                        link,
                    }));
                }
                _ => self.consume(len),
            }
        }
    }

    fn end_or_truncated(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        if self.end == self.start {
            Ok(None)
        } else {
            Err(SourceError::Truncated(self.path.clone(), self.offset))
        }
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Make at least `need` bytes available at `start`; false if the file ends first.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool, SourceError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.fill_slow(need)
    }

    #[cold]
    fn fill_slow(&mut self, need: usize) -> Result<bool, SourceError> {
        while self.end - self.start < need && !self.eof {
            let block = match self.src.next_block() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    self.eof = true;
                    break;
                }
                Err(e) => return Err(SourceError::Read(self.path.clone(), e)),
            };
            let tail = self.end - self.start;
            let data = HEADROOM..HEADROOM + block.len;
            if tail <= HEADROOM {
                // The unread tail (a record cut by the block boundary) goes just before
                // the new block's data, which stays where it is.
                let mut next = block.buf;
                let at = HEADROOM - tail;
                next[at..HEADROOM].copy_from_slice(&self.buf[self.start..self.end]);
                let spent = std::mem::replace(&mut self.buf, next);
                self.src.recycle(spent);
                self.start = at;
                self.end = data.end;
            } else {
                // A record longer than the headroom: gather it in the current buffer.
                self.buf.copy_within(self.start..self.end, 0);
                self.buf.truncate(tail);
                self.buf.extend_from_slice(&block.buf[data]);
                self.src.recycle(block.buf);
                self.start = 0;
                self.end = self.buf.len();
            }
        }
        Ok(self.end - self.start >= need)
    }
}

fn parse_idb(b: &[u8], swapped: bool) -> Interface {
    let mut iface = Interface {
        link: None,
        units_per_sec: 1_000_000,
        offset_secs: 0,
    };
    if b.len() < 8 {
        return iface;
    }
    iface.link = LinkType::from_pcap(read_u16(b, 0, swapped) as u32);
    let mut p = 8;
    while p + 4 <= b.len() {
        let code = read_u16(b, p, swapped);
        let olen = read_u16(b, p + 2, swapped) as usize;
        let Some(val) = b.get(p + 4..p + 4 + olen) else {
            break;
        };
        match code {
            0 => break,
            PCAPNG_OPT_IF_TSRESOL if olen >= 1 => {
                let r = val[0];
                let units = if r & 0x80 == 0 {
                    10u64.checked_pow(r as u32)
                } else {
                    1u64.checked_shl((r & 0x7f) as u32)
                };
                if let Some(u) = units.filter(|&u| u > 0) {
                    iface.units_per_sec = u;
                }
            }
            PCAPNG_OPT_IF_TSOFFSET if olen >= 8 => {
                iface.offset_secs = read_u64(val, 0, swapped) as i64;
            }
            _ => {}
        }
        p += 4 + olen.div_ceil(4) * 4;
    }
    iface
}

/// Convert a pcapng timestamp in `units` per second to ns, saturating.
fn scale_ts(ts: u64, units: u64, offset_secs: i64) -> u64 {
    let secs = ts / units;
    let frac = ts % units;
    let frac_ns = (frac as u128 * 1_000_000_000u128 / units as u128) as u64;
    let secs = (secs as i64).saturating_add(offset_secs).max(0) as u64;
    secs.saturating_mul(1_000_000_000).saturating_add(frac_ns)
}

#[inline]
fn read_u16(b: &[u8], at: usize, swapped: bool) -> u16 {
    let v = match b.get(at..at + 2) {
        Some(x) => u16::from_le_bytes([x[0], x[1]]),
        None => 0,
    };
    if swapped { v.swap_bytes() } else { v }
}

#[inline]
fn read_u32(b: &[u8], at: usize, swapped: bool) -> u32 {
    let v = match b.get(at..at + 4) {
        Some(x) => u32::from_le_bytes([x[0], x[1], x[2], x[3]]),
        None => 0,
    };
    if swapped { v.swap_bytes() } else { v }
}

#[inline]
fn read_u64(b: &[u8], at: usize, swapped: bool) -> u64 {
    let v = match b.get(at..at + 8) {
        Some(x) => u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]),
        None => 0,
    };
    if swapped { v.swap_bytes() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmpfile(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meter-pcap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn pcap_header(magic: u32, linktype: u32, be: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let w32 = |v: &mut Vec<u8>, x: u32| {
            if be {
                v.extend_from_slice(&x.to_be_bytes())
            } else {
                v.extend_from_slice(&x.to_le_bytes())
            }
        };
        w32(&mut v, magic);
        v.extend_from_slice(&if be { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65535);
        w32(&mut v, linktype);
        v
    }

    fn record(v: &mut Vec<u8>, sec: u32, frac: u32, data: &[u8], orig: u32, be: bool) {
        for x in [sec, frac, data.len() as u32, orig] {
            if be {
                v.extend_from_slice(&x.to_be_bytes())
            } else {
                v.extend_from_slice(&x.to_le_bytes())
            }
        }
        v.extend_from_slice(data);
    }

    #[test]
    fn classic_pcap_both_byte_orders_and_resolutions() {
        for (magic, be, frac, want_ns) in [
            (PCAP_MAGIC_US, false, 5u32, 5_000u64),
            (PCAP_MAGIC_NS, false, 5, 5),
            (PCAP_MAGIC_US, true, 7, 7_000),
        ] {
            let mut f = pcap_header(magic, 1, be);
            record(&mut f, 10, frac, &[1, 2, 3], 60, be);
            record(&mut f, 11, 0, &[4; 20], 20, be);
            let p = tmpfile(&format!("c{magic:x}{be}.pcap"), &f);
            let mut r = CaptureReader::open(&p).unwrap();
            assert_eq!(r.link_type(), Some(LinkType::Ethernet));
            let a = r.next_frame().unwrap().unwrap();
            assert_eq!(a.ts_ns, 10_000_000_000 + want_ns);
            assert_eq!(a.wire_len, 60);
            assert_eq!(a.data, &[1, 2, 3]);
            let b = r.next_frame().unwrap().unwrap();
            assert_eq!(b.data.len(), 20);
            assert!(r.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn records_across_read_chunks_and_larger_than_a_chunk() {
        // Records of many sizes, the longest a record may be (many times the headroom, and
        // bigger than a block if blocks are smaller) and some about the headroom before a
        // block, so record headers and data straddle every kind of block boundary (tail
        // moved into the headroom, and records gathered).
        use crate::source::read_ahead::BLOCK;
        let sizes: Vec<usize> = (0..3000)
            .map(|i| (i * 7919) % 1600)
            .chain([(BLOCK + 12_345).min(MAX_RECORD - 1), 3, MAX_RECORD])
            .chain([HEADROOM - 17, HEADROOM - 16, HEADROOM, HEADROOM + 1, 5])
            .chain([HEADROOM - 16; 12])
            .chain((0..3000).map(|i| (i * 104_729) % 9000))
            .collect();
        let mut f = pcap_header(PCAP_MAGIC_NS, 1, false);
        for (i, &n) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..n).map(|j| (i + j) as u8).collect();
            record(&mut f, i as u32, 0, &data, n as u32, false);
        }
        let p = tmpfile("chunks.pcap", &f);
        let mut r = CaptureReader::open(&p).unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            let fr = r.next_frame().unwrap().unwrap();
            assert_eq!(fr.ts_ns, i as u64 * 1_000_000_000);
            assert_eq!(fr.data.len(), n, "record {i}");
            assert!(fr.data.iter().enumerate().all(|(j, &b)| b == (i + j) as u8));
        }
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn truncated_and_garbage_files_are_errors_not_panics() {
        let mut f = pcap_header(PCAP_MAGIC_US, 1, false);
        record(&mut f, 1, 0, &[9; 30], 30, false);
        f.truncate(f.len() - 5);
        let p = tmpfile("trunc.pcap", &f);
        let mut r = CaptureReader::open(&p).unwrap();
        assert!(matches!(r.next_frame(), Err(SourceError::Truncated(_, 24))));

        let p = tmpfile("garbage.pcap", b"this is not a capture file at all");
        assert!(matches!(
            CaptureReader::open(&p),
            Err(SourceError::NotACapture(_))
        ));
        let p = tmpfile("empty.pcap", b"");
        assert!(matches!(
            CaptureReader::open(&p),
            Err(SourceError::Empty(_))
        ));

        let mut f = pcap_header(PCAP_MAGIC_US, 1, false);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let p = tmpfile("huge.pcap", &f);
        let mut r = CaptureReader::open(&p).unwrap();
        assert!(matches!(r.next_frame(), Err(SourceError::Corrupt(..))));
    }

    #[test]
    fn pcapng_with_tsresol_and_two_interfaces() {
        let mut f = Vec::new();
        // SHB: type, len 28, BOM, version 1.0, section length -1, len.
        for x in [PCAPNG_SHB, 28, PCAPNG_BYTE_ORDER_MAGIC] {
            f.extend_from_slice(&x.to_le_bytes());
        }
        f.extend_from_slice(&[1, 0, 0, 0]);
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&28u32.to_le_bytes());
        // IDB 0: Ethernet, if_tsresol = 9 (ns).
        f.extend_from_slice(&PCAPNG_IDB.to_le_bytes());
        f.extend_from_slice(&32u32.to_le_bytes());
        f.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&32u32.to_le_bytes());
        // IDB 1: raw IP (101), default µs.
        f.extend_from_slice(&PCAPNG_IDB.to_le_bytes());
        f.extend_from_slice(&20u32.to_le_bytes());
        f.extend_from_slice(&[101, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&20u32.to_le_bytes());
        // EPB on interface 1, ts = 3_000_001 µs, 5 bytes captured of 100.
        let epb = |f: &mut Vec<u8>, if_id: u32, ts: u64, data: &[u8], orig: u32| {
            let padded = data.len().div_ceil(4) * 4;
            let len = (32 + padded) as u32;
            f.extend_from_slice(&PCAPNG_EPB.to_le_bytes());
            f.extend_from_slice(&len.to_le_bytes());
            f.extend_from_slice(&if_id.to_le_bytes());
            f.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            f.extend_from_slice(&(ts as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&orig.to_le_bytes());
            f.extend_from_slice(data);
            f.resize(f.len() + padded - data.len(), 0);
            f.extend_from_slice(&len.to_le_bytes());
        };
        epb(&mut f, 1, 3_000_001, &[0x45, 0, 0, 100, 7], 100);
        epb(&mut f, 0, 42, &[1, 2, 3, 4], 64);
        let p = tmpfile("two.pcapng", &f);
        let mut r = CaptureReader::open(&p).unwrap();
        let a = r.next_frame().unwrap().unwrap();
        assert_eq!(a.link, Some(LinkType::RawIp));
        assert_eq!(a.ts_ns, 3_000_001_000);
        assert_eq!((a.wire_len, a.data.len()), (100, 5));
        let b = r.next_frame().unwrap().unwrap();
        assert_eq!(b.link, Some(LinkType::Ethernet));
        assert_eq!(b.ts_ns, 42);
        assert!(r.next_frame().unwrap().is_none());
    }
}
