//! File transport (RFC 5655): the file is the concatenation of valid messages, templates
//! first, decodable by netflow_parser; a redefined template is withdrawn first; a file
//! that cannot be created is a one-line error.

mod common;

use std::path::PathBuf;

use common::{
    decode, header, is_template_message, parser, raw, records_of, sets, split_messages,
    templates_of,
};
use ipfix_export::exporter::{Exporter, ExporterConfig};
use ipfix_export::ie::{enterprise as ent, iana};
use ipfix_export::options;
use ipfix_export::template::{Field, Template};
use ipfix_export::transport::CollectorUrl;
use ipfix_export::value::{FieldSink, Value};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ipfix-export-{}-{name}.ipfix", std::process::id()))
}

struct Remove(PathBuf);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn file_is_concatenated_decodable_messages() {
    let path = temp_path("basic");
    let _cleanup = Remove(path.clone());
    let cfg = ExporterConfig {
        odid: 11,
        max_message_size: 300,
        ..ExporterConfig::default()
    };
    let mut e = Exporter::new(cfg, &[CollectorUrl::File(path.clone())]).unwrap();
    let t = Template::new(
        320,
        vec![
            Field::new(iana::SOURCE_IPV4_ADDRESS),
            Field::new(iana::PACKET_DELTA_COUNT),
            Field::new(ent::MPTCP_RECEIVER_TOKEN.with_pen(32473)),
        ],
    );
    e.add_template(t.clone());
    e.add_template(options::ie_type_template());
    for i in 0..40u32 {
        e.export_with(320, 50, |enc| {
            enc.put(
                &t.fields[0],
                Value::Ipv4(std::net::Ipv4Addr::from(0x0A00_0000 + i)),
            );
            enc.put(&t.fields[1], Value::U64(u64::from(i) + 1));
            enc.put(&t.fields[2], Value::U32(i * 7));
        });
    }
    let pen_ie = ent::TCP_MAXIMUM_SEGMENT_SIZE.with_pen(32473);
    e.export_with(options::TID_IE_TYPE, 51, |enc| {
        options::write_ie_type_record(enc, &pen_ie)
    });
    let s = e.close(52);
    let c = &s.per_collector[0];
    assert_eq!(c.records, 41);
    assert_eq!((c.dropped_records, c.errors), (0, 0));

    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len() as u64, c.octets);
    let msgs = split_messages(&data);
    assert_eq!(msgs.len() as u64, c.messages);
    assert!(is_template_message(&msgs[0]), "templates at the start");
    let mut p = parser();
    let mut seq = 0;
    let mut seen = Vec::new();
    for m in &msgs {
        assert!(m.len() <= 300);
        assert_eq!(header(m).4, 11);
        assert_eq!(header(m).3, seq);
        let d = decode(&mut p, m);
        for (set, v) in records_of(&d) {
            seq += 1;
            seen.push((set, v));
        }
    }
    assert_eq!(seen.len(), 41);
    for (i, (set, v)) in seen.iter().take(40).enumerate() {
        assert_eq!(*set, 320);
        assert_eq!(
            raw(&v[0]),
            (0x0A00_0000u32 + i as u32).to_be_bytes().to_vec()
        );
        assert_eq!(raw(&v[1]), (i as u64 + 1).to_be_bytes().to_vec());
        assert_eq!(raw(&v[2]), (i as u32 * 7).to_be_bytes().to_vec());
    }
    let (set, v) = &seen[40];
    assert_eq!(*set, options::TID_IE_TYPE);
    assert_eq!(raw(&v[1]), 1130u16.to_be_bytes().to_vec());

    // The whole file at once, as a file reader would see it.
    let r = parser().parse_bytes(&data);
    assert!(r.error.is_none());
    assert_eq!(r.packets.len(), msgs.len());
}

#[test]
fn redefined_template_is_withdrawn_then_redefined() {
    let path = temp_path("redefine");
    let _cleanup = Remove(path.clone());
    let mut e = Exporter::new(
        ExporterConfig::default(),
        &[CollectorUrl::File(path.clone())],
    )
    .unwrap();
    let v1 = Template::new(330, vec![Field::new(iana::PROTOCOL_IDENTIFIER)]);
    let v2 = Template::new(
        330,
        vec![
            Field::new(iana::PROTOCOL_IDENTIFIER),
            Field::new(iana::IP_VERSION),
        ],
    );
    e.add_template(v1.clone());
    e.export_with(330, 1, |enc| enc.put(&v1.fields[0], Value::U8(6)));
    e.add_template(v1.clone()); // identical: nothing happens
    e.add_template(v2.clone());
    e.export_with(330, 2, |enc| {
        enc.put(&v2.fields[0], Value::U8(17));
        enc.put(&v2.fields[1], Value::U8(6));
    });
    let s = e.close(3);
    assert_eq!(s.per_collector[0].records, 2);
    let msgs = split_messages(&std::fs::read(&path).unwrap());
    // templates(v1), data(v1), withdrawal(330), templates(v2), data(v2)
    assert_eq!(msgs.len(), 5);
    let kinds: Vec<Vec<u16>> = msgs
        .iter()
        .map(|m| sets(m).iter().map(|s| s.0).collect())
        .collect();
    assert_eq!(kinds, vec![vec![2], vec![330], vec![2], vec![2], vec![330]]);
    // Withdrawal record: template ID 330, field count 0 (RFC 7011 §8.1).
    assert_eq!(sets(&msgs[2])[0].1, vec![0x01, 0x4A, 0x00, 0x00]);
    assert_eq!(header(&msgs[4]).3, 1);
    let mut p = parser();
    decode(&mut p, &msgs[0]);
    assert_eq!(records_of(&decode(&mut p, &msgs[1])).len(), 1);
    let d = decode(&mut p, &msgs[3]);
    assert_eq!(templates_of(&d)[0].2.len(), 2);
    let r = records_of(&decode(&mut p, &msgs[4]));
    assert_eq!((raw(&r[0].1[0]), raw(&r[0].1[1])), (vec![17], vec![6]));
}

#[test]
fn uncreatable_file_is_a_one_line_error() {
    let e = Exporter::new(
        ExporterConfig::default(),
        &[CollectorUrl::File(
            "/nonexistent-dir-for-ipfix-test/x.ipfix".into(),
        )],
    );
    assert_eq!(
        e.err().expect("an error").to_string(),
        "cannot create IPFIX file /nonexistent-dir-for-ipfix-test/x.ipfix: No such file or directory (check the directory exists and is writable)"
    );
}
