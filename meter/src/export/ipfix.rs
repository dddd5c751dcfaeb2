//! IPFIX output: every collector (UDP, TCP, file) gets the whole stream.
//!
//! At start the data templates of the profile and the options templates are announced and
//! an RFC 5610 type record is sent for each of our enterprise IEs, so libfixbuf-based
//! collectors learn their names and types. At the end the RFC 7011 §4 statistics records
//! (metering process, its reliability, exporting-process reliability) report the run, and
//! live runs add one record of the capture counters (template 404).

use ipfix_export::exporter::{Exporter, ExporterConfig};
use ipfix_export::ie::{Ie, enterprise as ent, iana};
use ipfix_export::options;
use ipfix_export::template::{Field, Template};
use ipfix_export::transport::CollectorUrl;
use ipfix_export::value::{FieldSink, Octets, RecordEncoder, Value};

use super::profile::{Profile, Uniflow};
use super::{FlowOutput, OutputReport};
use crate::flow::FlowRecord;
use crate::metrics::CollectorMetrics;
use crate::pipeline::MeterStats;

pub struct IpfixOutput {
    exporter: Exporter,
    profile: Profile,
    odid: u32,
    records: u64,
}

/// Options template of the live capture counters (XDP program and AF_XDP sockets), scoped
/// by observationDomainId. Announced always, used only by live runs.
pub const TID_CAPTURE_STATS: u16 = 404;

fn capture_template(pen: u32) -> Template {
    let f = |ie: Ie| Field::new(ie.with_pen(pen));
    Template::options(
        TID_CAPTURE_STATS,
        vec![Field::new(iana::OBSERVATION_DOMAIN_ID)],
        vec![
            f(ent::CAPTURE_XDP_SEEN),
            f(ent::CAPTURE_XDP_REDIRECTED),
            f(ent::CAPTURE_XDP_PASSED),
            f(ent::CAPTURE_PREFILTER_DROPPED),
            f(ent::CAPTURE_XDP_UNPARSABLE),
            f(ent::CAPTURE_SOCKET_DROPPED),
            f(ent::CAPTURE_SOCKET_RING_FULL),
            f(ent::CAPTURE_SOCKET_INVALID),
            f(ent::CAPTURE_FILL_RING_EMPTY),
        ],
    )
}

impl IpfixOutput {
    pub fn new(
        collectors: &[CollectorUrl],
        cfg: ExporterConfig,
        pen: u32,
        tcp_flags_octets: u16,
        now_secs: u32,
    ) -> Result<IpfixOutput, String> {
        let odid = cfg.odid;
        let mut exporter = Exporter::new(cfg, collectors).map_err(|e| e.to_string())?;
        let profile = Profile::with_tcp_flags_octets(pen, tcp_flags_octets);
        for spec in profile.specs() {
            exporter.add_template(spec.template.clone());
        }
        for t in [
            options::metering_stats_template(),
            options::metering_reliability_template(),
            options::exporting_reliability_template(),
            options::ie_type_template(),
            capture_template(pen),
        ] {
            exporter.add_template(t);
        }
        for ie in profile.enterprise_ies().collect::<Vec<_>>() {
            exporter.export_with(options::TID_IE_TYPE, now_secs, |enc| {
                options::write_ie_type_record(enc, &ie)
            });
        }
        // Options records travel in messages of their own: nfcapd counts only the records
        // of templates it understands, and a message that mixes both would make it report
        // sequence errors for a correct stream.
        exporter.flush(now_secs);
        Ok(IpfixOutput {
            exporter,
            profile,
            odid,
            records: 0,
        })
    }

    /// Write an options record whose values are chosen by information element, so the
    /// record follows whatever field order the template has.
    fn write_options(&mut self, tid: u16, now: u32, value_of: impl Fn(&Ie) -> Value<'static>) {
        let Some(t) = self.exporter.template(tid).cloned() else {
            return;
        };
        self.exporter
            .export_with(tid, now, |enc| fill_by_ie(enc, &t, &value_of));
    }
}

fn fill_by_ie(
    enc: &mut RecordEncoder<'_, impl Octets>,
    t: &Template,
    value_of: &impl Fn(&Ie) -> Value<'static>,
) {
    for field in &t.fields {
        enc.put(field, value_of(&field.ie));
    }
}

impl FlowOutput for IpfixOutput {
    fn write(&mut self, rec: &FlowRecord, now_secs: u32) {
        for uf in Uniflow::of(rec, self.profile.pen) {
            let spec = self.profile.spec(&uf);
            let profile = &self.profile;
            self.exporter
                .export_with(spec.template.id, now_secs, |enc| {
                    profile.encode(spec, &uf, enc)
                });
            self.records += 1;
        }
    }

    fn tick(&mut self, now_secs: u32) {
        self.exporter.tick(now_secs);
    }

    fn collector_stats(&self) -> Vec<CollectorMetrics> {
        self.exporter
            .stats()
            .per_collector
            .into_iter()
            .map(|c| CollectorMetrics {
                collector: c.url,
                records: c.records,
                messages: c.messages,
                bytes: c.octets,
                errors: c.errors,
                dropped_messages: c.dropped_messages,
                dropped_records: c.dropped_records,
            })
            .collect()
    }

    fn finish(mut self: Box<Self>, stats: &MeterStats, now: u32) -> Result<OutputReport, String> {
        let odid = self.odid;
        let exported = self.exporter.stats();
        let first = exported.per_collector.first().cloned().unwrap_or_default();
        // Frames the sockets lost were observed (by the NIC and the XDP program) but never
        // metered: RFC 7011 §4.2 counts them as ignored. Their octets are unknown.
        let capture = stats.capture;
        let ignored_packets = stats.dropped_frames() + capture.map_or(0, |c| c.socket.lost());
        let ignored_octets = stats.dropped_wire_octets;
        let observed_flows = stats.table.flows_created;
        let (idle, active) = (stats.idle_timeout_secs, stats.active_timeout_secs);
        let not_sent_flows = stats.export_dropped_records;
        let not_sent_packets = stats.export_dropped_packets;
        self.exporter.flush(now);
        self.write_options(options::TID_METERING_STATS, now, |ie| match ie.id {
            id if id == iana::OBSERVATION_DOMAIN_ID.id => Value::U32(odid),
            id if id == iana::EXPORTED_MESSAGE_TOTAL_COUNT.id => Value::U64(first.messages),
            id if id == iana::EXPORTED_FLOW_RECORD_TOTAL_COUNT.id => Value::U64(first.records),
            id if id == iana::EXPORTED_OCTET_TOTAL_COUNT.id => Value::U64(first.octets),
            _ => Value::U64(0),
        });
        self.write_options(options::TID_METERING_RELIABILITY, now, |ie| match ie.id {
            id if id == iana::OBSERVATION_DOMAIN_ID.id => Value::U32(odid),
            id if id == iana::IGNORED_PACKET_TOTAL_COUNT.id => Value::U64(ignored_packets),
            id if id == iana::IGNORED_OCTET_TOTAL_COUNT.id => Value::U64(ignored_octets),
            id if id == iana::OBSERVED_FLOW_TOTAL_COUNT.id => Value::U64(observed_flows),
            id if id == iana::FLOW_ACTIVE_TIMEOUT.id => Value::U16(active.min(65535) as u16),
            id if id == iana::FLOW_IDLE_TIMEOUT.id => Value::U16(idle.min(65535) as u16),
            id if id == iana::SELECTOR_ALGORITHM.id => Value::U16(1),
            id if id == iana::SAMPLING_PACKET_INTERVAL.id => Value::U32(1),
            id if id == iana::SAMPLING_PACKET_SPACE.id => Value::U32(0),
            _ => Value::U64(0),
        });
        self.write_options(options::TID_EXPORTING_RELIABILITY, now, |ie| match ie.id {
            id if id == iana::EXPORTING_PROCESS_ID.id => Value::U32(std::process::id()),
            id if id == iana::OBSERVATION_DOMAIN_ID.id => Value::U32(odid),
            id if id == iana::NOT_SENT_FLOW_TOTAL_COUNT.id => Value::U64(not_sent_flows),
            id if id == iana::NOT_SENT_PACKET_TOTAL_COUNT.id => Value::U64(not_sent_packets),
            _ => Value::U64(0),
        });
        if let Some(c) = capture {
            self.write_options(TID_CAPTURE_STATS, now, |ie| match ie.id {
                id if id == iana::OBSERVATION_DOMAIN_ID.id => Value::U32(odid),
                id if id == ent::CAPTURE_XDP_SEEN.id => Value::U64(c.xdp.seen),
                id if id == ent::CAPTURE_XDP_REDIRECTED.id => Value::U64(c.xdp.redirected),
                id if id == ent::CAPTURE_XDP_PASSED.id => Value::U64(c.xdp.passed),
                id if id == ent::CAPTURE_PREFILTER_DROPPED.id => Value::U64(c.xdp.filtered),
                id if id == ent::CAPTURE_XDP_UNPARSABLE.id => Value::U64(c.xdp.unparsable),
                id if id == ent::CAPTURE_SOCKET_DROPPED.id => Value::U64(c.socket.rx_dropped),
                id if id == ent::CAPTURE_SOCKET_RING_FULL.id => Value::U64(c.socket.rx_ring_full),
                id if id == ent::CAPTURE_SOCKET_INVALID.id => Value::U64(c.socket.rx_invalid_descs),
                id if id == ent::CAPTURE_FILL_RING_EMPTY.id => {
                    Value::U64(c.socket.rx_fill_ring_empty)
                }
                _ => Value::U64(0),
            });
        }
        let records = self.records;
        let s = self.exporter.close(now);
        let mut report = OutputReport {
            name: "ipfix".into(),
            records,
            ..Default::default()
        };
        for c in &s.per_collector {
            report.details.push(format!(
                "{}: {} messages, {} records, {} octets, {} records dropped, {} errors{}",
                c.url,
                c.messages,
                c.records,
                c.octets,
                c.dropped_records,
                c.errors,
                if c.connects > 0 {
                    format!(", {} connections", c.connects)
                } else {
                    String::new()
                }
            ));
            report.dropped_records = report.dropped_records.max(c.dropped_records);
        }
        Ok(report)
    }
}
