//! perf: traffic generator and collector harness for benchmarking flow meters.
//!
//! - [`r#gen`] builds packets, writes pcap/pcapng captures fast, and generates scenario
//!   captures with ground truth and bulk benchmark captures.
//! - [`collector`] drives real collectors (nfcapd/nfdump, pmacct nfacctd, a UDP sink
//!   decoded by tshark) on loopback, so a meter's IPFIX output can be checked end to end.
//! - [`measure`]: the limits of flow meters, ours and peers side by side (`perf compare`).
//!
//! `gen` is a reserved word in edition 2024, hence the raw identifier: callers write
//! `perf::r#gen::Scenario`.

pub mod collector;
pub mod r#gen;
pub mod measure;
