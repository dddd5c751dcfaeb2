//! Real collectors on loopback, to check a meter's IPFIX end to end.
//!
//! - [`Nfcapd`]: nfcapd (nfdump 1.7.1) writing into a temporary directory; totals and
//!   per-flow rows read back with `nfdump -R`.
//! - [`Nfacctd`]: pmacct nfacctd (1.7.7) with a print plugin writing CSV, aggregating on the
//!   5-tuple plus caller-supplied custom primitives (enterprise IEs).
//! - [`UdpSink`]: a plain UDP socket that keeps every datagram and writes them as a pcap
//!   that tshark decodes as IPFIX ([`tshark_fields`]).
//! - [`tshark_totals`]: an independent count of IP packets and layer-3 octets of a
//!   *traffic* capture.
//!
//! Every child process runs in its own process group and is killed (group-wide) when its
//! guard is dropped; temporary directories are removed on drop. Failures are returned as
//! [`HarnessError`], never panics.

mod nfacctd;
mod nfcapd;
mod process;
mod sink;
mod tshark;

use std::fmt;
use std::io;

pub use nfacctd::{CustomPrimitive, Nfacctd, NfacctdConfig, PmacctRecord, PrimitiveLen};
pub use nfcapd::{Nfcapd, NfcapdStats, NfdumpFlow, NfdumpTotals};
pub use process::{TempDir, free_udp_port};
pub use sink::{Captured, Datagram, UdpSink};
pub use tshark::{FieldRow, TrafficTotals, tshark_fields, tshark_fields_with, tshark_totals};

/// Why a harness step failed. Messages carry the tail of the tool's output.
#[derive(Debug)]
pub enum HarnessError {
    /// A file or socket operation failed.
    Io { what: String, source: io::Error },
    /// A program could not be started (not installed?).
    Spawn { program: String, source: io::Error },
    /// A daemon exited, or did not report readiness in time, before it was ready.
    NotReady { program: String, log: String },
    /// A daemon did not exit in time after being told to stop (it was then killed).
    StopTimeout { program: String, log: String },
    /// A tool ran but reported failure.
    Failed {
        what: String,
        status: Option<i32>,
        output: String,
    },
    /// Output of a tool that could not be understood.
    Parse { what: String, line: String },
    /// Results were asked for while the collector is still running.
    NotStopped,
    /// A caller-supplied value that would make an invalid configuration.
    InvalidInput(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Io { what, source } => write!(f, "{what}: {source}"),
            HarnessError::Spawn { program, source } => {
                write!(f, "cannot start {program}: {source}")
            }
            HarnessError::NotReady { program, log } => {
                write!(f, "{program} did not become ready; output:\n{log}")
            }
            HarnessError::StopTimeout { program, log } => {
                write!(f, "{program} did not stop in time (killed); output:\n{log}")
            }
            HarnessError::Failed {
                what,
                status,
                output,
            } => write!(f, "{what} failed (status {status:?}):\n{output}"),
            HarnessError::Parse { what, line } => write!(f, "cannot parse {what}: {line:?}"),
            HarnessError::NotStopped => f.write_str("collector still running: call stop() first"),
            HarnessError::InvalidInput(s) => write!(f, "invalid input: {s}"),
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Io { source, .. } | HarnessError::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}
