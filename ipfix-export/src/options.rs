//! Self-description and statistics: RFC 7011 §4 options templates and RFC 5610
//! information-element type records.
//!
//! Template IDs 400–403 are reserved here; the meter's data templates use 256–399.
//! Values are written by IE (see the meter's `write_options`), so the field order below is
//! the only contract: scope fields first, as RFC 7011 §3.4.2.2 requires.

use crate::ie::{Ie, VARLEN, iana};
use crate::template::{Field, Template};
use crate::value::{FieldSink, Value};

pub const TID_METERING_STATS: u16 = 400;
pub const TID_METERING_RELIABILITY: u16 = 401;
pub const TID_EXPORTING_RELIABILITY: u16 = 402;
pub const TID_IE_TYPE: u16 = 403;

/// RFC 7011 §4.1 Metering Process Statistics, scoped by observationDomainId.
pub fn metering_stats_template() -> Template {
    Template::options(
        TID_METERING_STATS,
        vec![Field::new(iana::OBSERVATION_DOMAIN_ID)],
        vec![
            Field::new(iana::EXPORTED_MESSAGE_TOTAL_COUNT),
            Field::new(iana::EXPORTED_FLOW_RECORD_TOTAL_COUNT),
            Field::new(iana::EXPORTED_OCTET_TOTAL_COUNT),
        ],
    )
}

/// RFC 7011 §4.2 Metering Process Reliability Statistics, scoped by observationDomainId,
/// plus the flow count, the timeouts and the sampling declaration (1/1/0 = every packet;
/// GoFlow2 takes its sampling rate from samplingPacketInterval).
pub fn metering_reliability_template() -> Template {
    Template::options(
        TID_METERING_RELIABILITY,
        vec![Field::new(iana::OBSERVATION_DOMAIN_ID)],
        vec![
            Field::new(iana::IGNORED_PACKET_TOTAL_COUNT),
            Field::new(iana::IGNORED_OCTET_TOTAL_COUNT),
            Field::new(iana::OBSERVED_FLOW_TOTAL_COUNT),
            Field::new(iana::FLOW_ACTIVE_TIMEOUT),
            Field::new(iana::FLOW_IDLE_TIMEOUT),
            Field::new(iana::SELECTOR_ALGORITHM),
            Field::new(iana::SAMPLING_PACKET_INTERVAL),
            Field::new(iana::SAMPLING_PACKET_SPACE),
        ],
    )
}

/// RFC 7011 §4.3 Exporting Process Reliability Statistics, scoped by exportingProcessId.
pub fn exporting_reliability_template() -> Template {
    Template::options(
        TID_EXPORTING_RELIABILITY,
        vec![Field::new(iana::EXPORTING_PROCESS_ID)],
        vec![
            Field::new(iana::NOT_SENT_FLOW_TOTAL_COUNT),
            Field::new(iana::NOT_SENT_PACKET_TOTAL_COUNT),
            Field::new(iana::NOT_SENT_OCTET_TOTAL_COUNT),
        ],
    )
}

/// The fields of the RFC 5610 type-record template, in order.
const IE_TYPE_FIELDS: [Field; 7] = [
    Field::new(iana::PRIVATE_ENTERPRISE_NUMBER),
    Field::new(iana::INFORMATION_ELEMENT_ID),
    Field::new(iana::INFORMATION_ELEMENT_DATA_TYPE),
    Field::new(iana::INFORMATION_ELEMENT_SEMANTICS),
    Field::new(iana::INFORMATION_ELEMENT_UNITS),
    Field::sized(iana::INFORMATION_ELEMENT_NAME, VARLEN),
    Field::sized(iana::INFORMATION_ELEMENT_DESCRIPTION, VARLEN),
];

/// RFC 5610 information-element type records, scoped by (privateEnterpriseNumber,
/// informationElementId).
pub fn ie_type_template() -> Template {
    Template::options(
        TID_IE_TYPE,
        IE_TYPE_FIELDS[..2].to_vec(),
        IE_TYPE_FIELDS[2..].to_vec(),
    )
}

/// Write one type record for `ie` (its PEN as given, its ID without the enterprise bit,
/// as RFC 5610 §3.1 requires).
pub fn write_ie_type_record(sink: &mut impl FieldSink, ie: &Ie) {
    let [pen, id, data_type, semantics, units, name, description] = &IE_TYPE_FIELDS;
    sink.put(pen, Value::U32(ie.pen));
    sink.put(id, Value::U16(ie.id & 0x7FFF));
    sink.put(data_type, Value::U8(ie.data_type as u8));
    sink.put(semantics, Value::U8(ie.semantics as u8));
    sink.put(units, Value::U16(ie.units as u16));
    sink.put(name, Value::Str(ie.name));
    sink.put(description, Value::Str(ie.description));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::enterprise;
    use crate::value::RecordEncoder;

    #[test]
    fn type_record_bytes() {
        let ie = enterprise::MPTCP_SENDER_TOKEN.with_pen(32473);
        let mut buf = Vec::new();
        write_ie_type_record(&mut RecordEncoder::new(&mut buf), &ie);
        let mut want = vec![
            0x00, 0x00, 0x7E, 0xD9, // PEN 32473
            0x04, 0x4F, // 1103
            3,    // unsigned32
            4,    // identifier
            0x00, 0x00, // units none
            16,   // "mptcpSenderToken"
        ];
        want.extend_from_slice(b"mptcpSenderToken");
        let d = ie.description.as_bytes();
        assert!(d.len() < 255);
        want.push(d.len() as u8);
        want.extend_from_slice(d);
        assert_eq!(buf, want);
        let t = ie_type_template();
        assert_eq!(t.data_record_len(&buf), Some(buf.len()));
        assert_eq!(t.scope_fields, 2);
    }

    #[test]
    fn templates_are_valid_options_templates() {
        for t in [
            metering_stats_template(),
            metering_reliability_template(),
            exporting_reliability_template(),
            ie_type_template(),
        ] {
            assert!(t.check().is_ok(), "{}", t.id);
            assert!(t.is_options());
            assert!((400..=403).contains(&t.id));
        }
        assert_eq!(
            metering_stats_template().fields[0].ie,
            iana::OBSERVATION_DOMAIN_ID
        );
        assert_eq!(
            exporting_reliability_template().fields[0].ie,
            iana::EXPORTING_PROCESS_ID
        );
    }
}
