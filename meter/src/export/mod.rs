//! Export: finished flow records leave the meter through one or more outputs.
//!
//! Workers hand records in batches to one exporter thread through a bounded queue; the
//! thread writes every record to every output: IPFIX to collectors and files
//! ([`ipfix::IpfixOutput`]), JSON lines ([`json::JsonOutput`]) or readable lines
//! ([`text::TextOutput`]) on stdout. All outputs describe a record with the same
//! information elements ([`profile`]).

pub mod ipfix;
pub mod json;
pub mod profile;
pub mod text;

use std::io::{self, BufWriter, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flow::FlowRecord;
use crate::pipeline::MeterStats;

/// What one output reports at the end.
#[derive(Debug, Clone, Default)]
pub struct OutputReport {
    /// e.g. "udp://127.0.0.1:4739", "json", "text".
    pub name: String,
    /// Uniflow records written.
    pub records: u64,
    /// Lines of detail for the summary (per collector counters, drops).
    pub details: Vec<String>,
    /// Uniflow records that could not be delivered (queue full, send errors).
    pub dropped_records: u64,
    /// Packets in the records that could not be delivered.
    pub dropped_packets: u64,
}

/// A destination for flow records. Runs on the exporter thread.
pub trait FlowOutput: Send {
    /// Write one flow record (all its uniflows).
    fn write(&mut self, rec: &FlowRecord, now_secs: u32);
    /// Called at least once a second: template refresh, flush of waiting messages.
    fn tick(&mut self, now_secs: u32);
    /// The run is over: write final statistics, flush and close.
    fn finish(self: Box<Self>, stats: &MeterStats, now_secs: u32) -> Result<OutputReport, String>;
    /// Per-collector counters so far, for the metrics endpoint (outputs without
    /// collectors have none).
    fn collector_stats(&self) -> Vec<crate::metrics::CollectorMetrics> {
        Vec::new()
    }
}

/// Wall-clock seconds for IPFIX export times.
pub fn wall_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// End a line-oriented output: flush it and turn the first write error into the result.
/// A closed pipe (`meter ... | head`) is the reader's choice, not a failure.
pub(crate) fn finish_lines<W: Write>(
    out: &mut BufWriter<W>,
    error: Option<io::Error>,
    name: &str,
    records: u64,
) -> Result<OutputReport, String> {
    let error = error.or_else(|| out.flush().err());
    match error {
        Some(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write {name} output: {e}"))
        }
        _ => Ok(OutputReport {
            name: name.into(),
            records,
            ..Default::default()
        }),
    }
}
