//! Capture writers: classic pcap (nanosecond magic) and pcapng (SHB + one IDB + EPBs).
//!
//! Both buffer internally and write little-endian files that tcpdump, tshark and the
//! meter's reader accept. A record is written as given, except that frames longer than the
//! snap length are cut to it (the original length is kept), so that a snap-length capture
//! such as `tcpdump -s 128` can be produced from full frames.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// pcap / pcapng link type of the frames written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): the frame starts with the IPv4 or IPv6 header.
    RawIp,
}

impl LinkType {
    /// The link-type number stored in the file header.
    pub fn number(self) -> u16 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
        }
    }
}

/// Which container format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureFormat {
    /// Classic pcap with the nanosecond magic 0xa1b23c4d.
    #[default]
    Pcap,
    /// pcapng with one interface (if_tsresol = 9, nanoseconds).
    Pcapng,
}

/// Snap length recorded when the caller sets none: large enough for any frame we build.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Large buffer: the bulk generator writes hundreds of MB, and syscalls per record would
/// dominate its cost.
const BUF_CAPACITY: usize = 1 << 20;

/// Something that takes captured frames; implemented by both writers so generators can
/// write either format.
pub trait CaptureWrite {
    /// Append one record. `frame` is what was captured (cut to the snap length by the
    /// writer if longer); `orig_len` is the length on the wire.
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()>;
    /// Flush buffered records to the underlying writer.
    fn flush_all(&mut self) -> io::Result<()>;
}

fn caplen_of(frame: &[u8], snaplen: u32) -> io::Result<u32> {
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than 4 GiB"))?;
    Ok(len.min(snaplen))
}

/// Classic pcap writer, nanosecond timestamps.
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header; records are cut to [`DEFAULT_SNAPLEN`].
    pub fn new(inner: W, link: LinkType) -> io::Result<Self> {
        Self::with_snaplen(inner, link, DEFAULT_SNAPLEN)
    }

    /// Write the file header; records longer than `snaplen` are cut to it.
    pub fn with_snaplen(inner: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let snaplen = snaplen.max(1);
        let mut out = BufWriter::with_capacity(BUF_CAPACITY, inner);
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        hdr[16..20].copy_from_slice(&snaplen.to_le_bytes());
        hdr[20..24].copy_from_slice(&u32::from(link.number()).to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Append one record (see [`CaptureWrite::write_packet`]).
    #[inline]
    pub fn write(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        let caplen = caplen_of(frame, self.snaplen)?;
        let secs = u32::try_from(ts_ns / 1_000_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp beyond 2106"))?;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out
            .write_all(frame.get(..caplen as usize).unwrap_or(frame))
    }

    /// Flush and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> CaptureWrite for PcapWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        self.write(ts_ns, frame, orig_len)
    }
    fn flush_all(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// pcapng writer: one Section Header Block, one Interface Description Block (nanosecond
/// resolution), then one Enhanced Packet Block per record.
pub struct PcapngWriter<W: Write> {
    out: BufWriter<W>,
    snaplen: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Write SHB and IDB; records are cut to [`DEFAULT_SNAPLEN`].
    pub fn new(inner: W, link: LinkType) -> io::Result<Self> {
        Self::with_snaplen(inner, link, DEFAULT_SNAPLEN)
    }

    /// Write SHB and IDB; records longer than `snaplen` are cut to it.
    pub fn with_snaplen(inner: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let snaplen = snaplen.max(1);
        let mut out = BufWriter::with_capacity(BUF_CAPACITY, inner);
        // Section Header Block, no options: 28 octets.
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        shb.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&shb)?;
        // Interface Description Block with if_tsresol = 9 (10^-9 s) and opt_endofopt.
        let mut idb = Vec::with_capacity(32);
        idb.extend_from_slice(&1u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&link.number().to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&snaplen.to_le_bytes());
        idb.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]); // value 9, padded to 32 bits
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        idb.extend_from_slice(&32u32.to_le_bytes());
        out.write_all(&idb)?;
        Ok(PcapngWriter { out, snaplen })
    }

    /// Append one Enhanced Packet Block.
    #[inline]
    pub fn write(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        let caplen = caplen_of(frame, self.snaplen)?;
        let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "frame too long");
        let padded = caplen.div_ceil(4).checked_mul(4).ok_or_else(too_long)?;
        let total = padded.checked_add(32).ok_or_else(too_long)?;
        let mut hdr = [0u8; 28];
        hdr[0..4].copy_from_slice(&6u32.to_le_bytes());
        hdr[4..8].copy_from_slice(&total.to_le_bytes());
        // interface id 0 stays zero.
        hdr[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        hdr[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
        hdr[20..24].copy_from_slice(&caplen.to_le_bytes());
        hdr[24..28].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&hdr)?;
        self.out
            .write_all(frame.get(..caplen as usize).unwrap_or(frame))?;
        let pad = (padded - caplen) as usize;
        self.out.write_all(&[0u8; 3][..pad.min(3)])?;
        self.out.write_all(&total.to_le_bytes())
    }

    /// Flush and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> CaptureWrite for PcapngWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        self.write(ts_ns, frame, orig_len)
    }
    fn flush_all(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A capture file of either format, for callers that choose the format at run time.
pub enum CaptureFile {
    Pcap(PcapWriter<File>),
    Pcapng(PcapngWriter<File>),
}

impl CaptureFile {
    /// Create (truncate) `path` and write the file header.
    pub fn create(
        path: &Path,
        format: CaptureFormat,
        link: LinkType,
        snaplen: u32,
    ) -> io::Result<CaptureFile> {
        let file = File::create(path)?;
        Ok(match format {
            CaptureFormat::Pcap => {
                CaptureFile::Pcap(PcapWriter::with_snaplen(file, link, snaplen)?)
            }
            CaptureFormat::Pcapng => {
                CaptureFile::Pcapng(PcapngWriter::with_snaplen(file, link, snaplen)?)
            }
        })
    }

    /// Flush everything to the file (no fsync: the page cache is enough for readers on
    /// this host, and syncing gigabytes would dominate generation time).
    pub fn finish(self) -> io::Result<()> {
        match self {
            CaptureFile::Pcap(w) => w.finish().map(drop),
            CaptureFile::Pcapng(w) => w.finish().map(drop),
        }
    }
}

impl CaptureWrite for CaptureFile {
    #[inline]
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        match self {
            CaptureFile::Pcap(w) => w.write(ts_ns, frame, orig_len),
            CaptureFile::Pcapng(w) => w.write(ts_ns, frame, orig_len),
        }
    }
    fn flush_all(&mut self) -> io::Result<()> {
        match self {
            CaptureFile::Pcap(w) => w.flush_all(),
            CaptureFile::Pcapng(w) => w.flush_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_layout_is_as_specified() {
        let mut w = PcapWriter::with_snaplen(Vec::new(), LinkType::RawIp, 4).unwrap();
        w.write(1_500_000_000_123_456_789, &[1, 2, 3, 4, 5, 6], 6)
            .unwrap();
        let b = w.finish().unwrap();
        // Header: magic (LE), 2.4, zone 0, sigfigs 0, snaplen 4, linktype 101.
        assert_eq!(
            &b[..24],
            &[
                0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 101, 0, 0,
                0
            ]
        );
        // 1_500_000_000 s = 0x59682f00, 123_456_789 ns = 0x075bcd15, caplen 4, orig 6.
        assert_eq!(
            &b[24..40],
            &[
                0x00, 0x2f, 0x68, 0x59, 0x15, 0xcd, 0x5b, 0x07, 4, 0, 0, 0, 6, 0, 0, 0
            ]
        );
        assert_eq!(&b[40..], &[1, 2, 3, 4]);
    }

    #[test]
    fn pcapng_blocks_are_padded_and_framed() {
        let mut w = PcapngWriter::new(Vec::new(), LinkType::Ethernet).unwrap();
        w.write(0x0000_0001_0000_0002, &[0xaa; 5], 9).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(b.len(), 28 + 32 + 32 + 8);
        let epb = &b[60..];
        assert_eq!(&epb[0..4], &[6, 0, 0, 0]);
        assert_eq!(&epb[4..8], &[40, 0, 0, 0]); // 32 + 5 padded to 8
        assert_eq!(&epb[12..16], &[1, 0, 0, 0]); // ts high
        assert_eq!(&epb[16..20], &[2, 0, 0, 0]); // ts low
        assert_eq!(&epb[20..24], &[5, 0, 0, 0]);
        assert_eq!(&epb[24..28], &[9, 0, 0, 0]);
        assert_eq!(&epb[28..36], &[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0]);
        assert_eq!(&epb[36..40], &[40, 0, 0, 0]);
        // IDB if_tsresol option = 9.
        assert_eq!(&b[28 + 16..28 + 24], &[9, 0, 1, 0, 9, 0, 0, 0]);
    }
}
