//! Test support: every frame of a pcap or pcapng file, read with pcap-parser (a reader
//! independent of the meter's own), with the link type of the interface it came from.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

/// The shared tcpdump corpus (never copied into the repository).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/tcpdump"
    ))
}

/// Every .pcap and .pcapng file of the corpus, sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    v
}

pub struct Frame {
    /// Link-type number (low 16 bits of the pcap field), `None` if no interface described it.
    pub linktype: Option<u32>,
    pub data: Vec<u8>,
    pub wire_len: u32,
    pub ts_ns: u64,
}

pub struct Capture {
    pub frames: Vec<Frame>,
    /// Why reading stopped before the end of the file, if it did.
    pub error: Option<String>,
}

/// Read all frames pcap-parser can get out of `path`.
pub fn read_capture(path: &Path) -> Capture {
    let mut frames = Vec::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Capture {
                frames,
                error: Some(e.to_string()),
            };
        }
    };
    let mut reader = match create_reader(1 << 16, file) {
        Ok(r) => r,
        Err(e) => {
            return Capture {
                frames,
                error: Some(format!("{e:?}")),
            };
        }
    };
    let mut legacy_link = None;
    let mut if_links: Vec<u32> = Vec::new();
    let mut stalled = 0;
    let mut size = 1usize << 16;
    let error = loop {
        match reader.next() {
            Ok((offset, block)) => {
                stalled = 0;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = Some(h.network.0 as u32 & 0xffff);
                    }
                    PcapBlockOwned::Legacy(b) => frames.push(Frame {
                        linktype: legacy_link,
                        data: b.data.to_vec(),
                        wire_len: b.origlen,
                        ts_ns: u64::from(b.ts_sec)
                            .wrapping_mul(1_000_000_000)
                            .wrapping_add(u64::from(b.ts_usec).wrapping_mul(1000)),
                    }),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => if_links.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if_links.push(idb.linktype.0 as u32 & 0xffff);
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => frames.push(Frame {
                        linktype: if_links.get(epb.if_id as usize).copied(),
                        data: epb.packet_data().to_vec(),
                        wire_len: epb.origlen,
                        // Corrupt files carry any value; the dissector only copies it.
                        ts_ns: (u64::from(epb.ts_high) << 32 | u64::from(epb.ts_low))
                            .wrapping_mul(1000),
                    }),
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => frames.push(Frame {
                        linktype: if_links.first().copied(),
                        data: spb.packet_data().to_vec(),
                        wire_len: spb.origlen,
                        ts_ns: 0,
                    }),
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break None,
            Err(PcapError::Incomplete(_)) => {
                stalled += 1;
                if stalled > 2 {
                    break Some("file ends inside a block".to_string());
                }
                if let Err(e) = reader.refill() {
                    break Some(format!("refill: {e:?}"));
                }
            }
            Err(PcapError::BufferTooSmall) => {
                size *= 2;
                if size > 1 << 26 || !reader.grow(size) {
                    break Some("block larger than 64 MiB".to_string());
                }
            }
            Err(e) => break Some(format!("{e:?}")),
        }
    };
    Capture { frames, error }
}
