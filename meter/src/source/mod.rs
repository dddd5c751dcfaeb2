//! Capture sources. Offline: pcap/pcapng files, whose packet timestamps drive the clock.
pub mod pcap;
