//! Capture sources. Offline: pcap/pcapng files, whose packet timestamps drive the clock.
//! Live: one AF_XDP socket per NIC receive queue, timestamped by the clock per batch.
pub mod afxdp;
pub mod pcap;
