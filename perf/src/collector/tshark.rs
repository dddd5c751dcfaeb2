//! tshark as an independent decoder: field extraction (`-T fields`) and traffic totals.
//!
//! Fields are requested with every occurrence (`-E occurrence=a`), occurrences joined by
//! the ASCII unit separator (0x1f) which no decoded value contains, fields separated by
//! tabs; each frame becomes one [`FieldRow`].

use std::path::Path;
use std::process::Command;

use super::HarnessError;
use super::process::run_tool;

const AGGREGATOR: char = '\u{1f}';

/// One frame's values: for each requested field, every occurrence in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldRow {
    pub values: Vec<Vec<String>>,
}

impl FieldRow {
    /// All occurrences of the i-th requested field (empty if absent).
    pub fn all(&self, i: usize) -> &[String] {
        self.values.get(i).map_or(&[], Vec::as_slice)
    }

    /// The first occurrence of the i-th requested field.
    pub fn first(&self, i: usize) -> Option<&str> {
        self.all(i).first().map(String::as_str)
    }
}

/// Run tshark on `capture` with extra arguments (preferences, decode-as, display filter)
/// and return the requested fields per frame.
pub fn tshark_fields_with(
    capture: &Path,
    extra_args: &[&str],
    fields: &[&str],
) -> Result<Vec<FieldRow>, HarnessError> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(capture).args(extra_args);
    cmd.args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
    ]);
    cmd.arg(format!("aggregator={AGGREGATOR}"));
    for f in fields {
        cmd.arg("-e").arg(f);
    }
    let out = run_tool(cmd, "tshark")?;
    Ok(parse_fields(&out, fields.len()))
}

fn parse_fields(out: &str, nfields: usize) -> Vec<FieldRow> {
    out.lines()
        .map(|line| {
            let mut values: Vec<Vec<String>> = line
                .split('\t')
                .map(|cell| {
                    if cell.is_empty() {
                        Vec::new()
                    } else {
                        cell.split(AGGREGATOR).map(str::to_string).collect()
                    }
                })
                .collect();
            values.resize(nfields, Vec::new());
            FieldRow { values }
        })
        .collect()
}

/// Decode a capture of IPFIX datagrams sent to UDP `port` (see
/// [`super::Captured::write_pcap`]) and return the requested fields per frame, e.g.
/// `&["cflow.packets", "cflow.octets"]`.
pub fn tshark_fields(
    capture: &Path,
    port: u16,
    fields: &[&str],
) -> Result<Vec<FieldRow>, HarnessError> {
    let decode = format!("udp.port=={port},cflow");
    tshark_fields_with(capture, &["-d", &decode], fields)
}

/// Totals of a traffic capture as tshark sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficTotals {
    pub frames: u64,
    /// Frames whose outermost network layer is IPv4 or IPv6 with the whole fixed header
    /// present (tshark decoded its destination address).
    pub ip_packets: u64,
    pub ipv4_packets: u64,
    pub ipv6_packets: u64,
    /// Sum over those of ip.len, or ipv6.plen + 40.
    pub l3_octets: u64,
}

/// Count IP packets and layer-3 octets of `capture` with tshark (reassembly off, so every
/// fragment counts with its own header).
pub fn tshark_totals(capture: &Path) -> Result<TrafficTotals, HarnessError> {
    let fields = [
        "frame.protocols",
        "ip.dst",
        "ip.len",
        "ipv6.dst",
        "ipv6.plen",
    ];
    let rows = tshark_fields_with(
        capture,
        &[
            "-o",
            "ip.defragment:FALSE",
            "-o",
            "ipv6.defragment:FALSE",
            "-o",
            "tcp.desegment_tcp_streams:FALSE",
        ],
        &fields,
    )?;
    let mut t = TrafficTotals::default();
    for row in rows {
        t.frames += 1;
        let protos = row.first(0).unwrap_or("");
        let outer = protos.split(':').find(|p| *p == "ip" || *p == "ipv6");
        let num = |i: usize| -> Result<Option<u64>, HarnessError> {
            row.first(i)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| HarnessError::Parse {
                        what: format!("tshark {}", fields.get(i).unwrap_or(&"")),
                        line: v.to_string(),
                    })
                })
                .transpose()
        };
        match outer {
            Some("ip") if row.first(1).is_some() => {
                if let Some(len) = num(2)? {
                    t.ip_packets += 1;
                    t.ipv4_packets += 1;
                    t.l3_octets += len;
                }
            }
            Some("ipv6") if row.first(3).is_some() => {
                if let Some(plen) = num(4)? {
                    t.ip_packets += 1;
                    t.ipv6_packets += 1;
                    t.l3_octets += plen + 40;
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_occurrences() {
        let out = "7\x1f9\t\tdeadbeef\n\t1\n";
        let rows = parse_fields(out, 3);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].all(0), &["7".to_string(), "9".to_string()]);
        assert!(rows[0].all(1).is_empty());
        assert_eq!(rows[0].first(2), Some("deadbeef"));
        assert_eq!(rows[1].first(0), None);
        assert_eq!(rows[1].first(1), Some("1"));
        assert!(rows[1].all(2).is_empty());
        assert!(rows[1].all(7).is_empty());
    }
}
