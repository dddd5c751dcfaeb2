//! Capture sources. Offline: pcap/pcapng files, whose packet timestamps drive the clock,
//! read ahead of the parser on a thread of their own. Live: one AF_XDP socket per NIC
//! receive queue, timestamped by the clock per batch.
pub mod afxdp;
pub mod pcap;
pub mod read_ahead;
