//! `ipfix-export`: the meter's IPFIX (RFC 7011) Exporting Process.
//!
//! Layers, bottom up:
//! - [`ie`]: the information-element registry (IANA and our enterprise IEs).
//! - [`template`]: templates and options templates, and their wire form.
//! - [`value`]: typed values and the [`value::FieldSink`] trait shared by the binary
//!   encoder ([`value::RecordEncoder`]) and the meter's JSON writer.
//! - [`message`]: IPFIX messages of bounded size with per-session sequence numbers.
//! - [`transport`]: collector URLs and the UDP, TCP and file sessions.
//! - [`exporter`]: what the meter uses — templates announced to every session, records
//!   encoded once and sent to all collectors, template refresh, statistics.
//! - [`options`]: RFC 7011 §4 statistics templates and RFC 5610 type records.
//!
//! Nothing here panics on data: values that do not fit their field, records that do not
//! fit a message, full queues and unreachable collectors are counted, never fatal.
//!
//! # Private Enterprise Number
//!
//! Our own IEs ([`ie::enterprise`]) are exported under a PEN that is a runtime setting.
//! 32473 is RFC 5612's "example enterprise number for documentation use": fine for tests
//! and examples, never for production — operators must set their organisation's own PEN.
//! nfdump truncates PENs to 16 bits, so a PEN ≥ 65536 must not alias a PEN that nfdump
//! interprets (0 = IANA, 9 = Cisco, 637, 6871 = CERT, 29305 = RFC 5103 reverse);
//! [`check_pen`] enforces that.

pub mod exporter;
pub mod ie;
pub mod message;
pub mod options;
pub mod template;
pub mod transport;
pub mod value;

pub use exporter::{CollectorStats, ExportError, Exporter, ExporterConfig, ExporterStats};
pub use ie::{DataType, Ie, Semantics, Units, VARLEN};
pub use template::{Field, Template};
pub use transport::CollectorUrl;
pub use value::{FieldSink, RecordEncoder, Value};

/// PENs that nfdump would confuse our PEN with after truncating it to 16 bits.
const NFDUMP_ALIASED_PENS: [u32; 5] = [0, 9, 637, 6871, 29305];

/// Check that `pen` can carry our enterprise IEs.
///
/// Rejects 0 (that would turn our IEs into unassigned IANA IEs) and any PEN ≥ 65536 whose
/// low 16 bits are one of 0, 9, 637, 6871, 29305 (nfdump keeps only those 16 bits).
pub fn check_pen(pen: u32) -> Result<(), String> {
    if pen == 0 {
        return Err(
            "PEN 0 means IANA, so our enterprise IEs would be read as unassigned IANA IEs; use your organisation's PEN"
                .to_string(),
        );
    }
    let low = pen % 65536;
    if pen >= 65536 && NFDUMP_ALIASED_PENS.contains(&low) {
        return Err(format!(
            "nfdump truncates PENs to 16 bits and would read PEN {pen} as {low}, which it interprets differently; use a PEN whose value mod 65536 is not 0, 9, 637, 6871 or 29305"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_pen;

    #[test]
    fn pen_rules() {
        assert!(check_pen(32473).is_ok());
        assert!(check_pen(6871).is_ok(), "below 65536 nothing is truncated");
        assert!(check_pen(65535).is_ok());
        assert!(check_pen(65536 + 1).is_ok());
        assert!(check_pen(0).is_err());
        for low in [0u32, 9, 637, 6871, 29305] {
            for high in [1u32, 2, 100] {
                let pen = high * 65536 + low;
                let e = check_pen(pen).unwrap_err();
                assert!(
                    e.contains(&pen.to_string()) && e.contains(&low.to_string()),
                    "{e}"
                );
                assert!(!e.contains('\n'));
            }
        }
    }
}
