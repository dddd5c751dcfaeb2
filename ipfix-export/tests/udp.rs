//! UDP transport to a local socket: template announcement (3 copies before the first
//! data), refresh by message count and by time, partial-message flush by tick, sequence
//! numbers, and refused records. Datagrams are received with a timeout, never a sleep.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{decode, header, is_template_message, parser, raw, records_of, templates_of};
use ipfix_export::exporter::{Exporter, ExporterConfig};
use ipfix_export::ie::{VARLEN, enterprise as ent, iana};
use ipfix_export::template::{Field, Template};
use ipfix_export::transport::CollectorUrl;
use ipfix_export::value::{FieldSink, Value};

fn collector() -> (UdpSocket, CollectorUrl) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let url = CollectorUrl::Udp(s.local_addr().unwrap().to_string());
    (s, url)
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).expect("datagram within the timeout");
    buf.truncate(n);
    buf
}

fn template() -> Template {
    Template::new(
        300,
        vec![
            Field::new(iana::SOURCE_TRANSPORT_PORT),
            Field::new(iana::PACKET_DELTA_COUNT),
            Field::new(ent::MPTCP_SENDER_TOKEN.with_pen(32473)),
        ],
    )
}

fn export(e: &mut Exporter, now: u32, port: u16, packets: u64) {
    let t = template();
    e.export_with(300, now, |enc| {
        enc.put(&t.fields[0], Value::U16(port));
        enc.put(&t.fields[1], Value::U64(packets));
        enc.put(&t.fields[2], Value::U32(0xCAFE_F00D));
    });
}

fn cfg(refresh_secs: u32, refresh_messages: u32) -> ExporterConfig {
    ExporterConfig {
        odid: 7,
        template_refresh_secs: refresh_secs,
        template_refresh_messages: refresh_messages,
        ..ExporterConfig::default()
    }
}

#[test]
fn templates_three_times_then_data() {
    let (rx, url) = collector();
    let mut e = Exporter::new(cfg(0, 0), &[url]).unwrap();
    e.add_template(template());
    e.add_template(ipfix_export::options::metering_stats_template());
    assert_eq!(e.template(300), Some(&template()));
    export(&mut e, 1000, 4739, 12);
    export(&mut e, 1000, 4740, 13);
    e.flush(1001);

    let mut p = parser();
    for copy in 0..3 {
        let m = recv(&rx);
        assert!(
            is_template_message(&m),
            "copy {copy} is not a template message"
        );
        let (v, _, t, seq, odid) = header(&m);
        assert_eq!((v, t, seq, odid), (10, 1001, 0, 7));
        let ids: Vec<u16> = templates_of(&decode(&mut p, &m))
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(ids, vec![300, 400]);
    }
    let m = recv(&rx);
    assert!(!is_template_message(&m));
    assert_eq!(header(&m).3, 0);
    let recs = records_of(&decode(&mut p, &m));
    assert_eq!(recs.len(), 2);
    assert_eq!(raw(&recs[0].1[0]), 4739u16.to_be_bytes().to_vec());
    assert_eq!(raw(&recs[1].1[1]), 13u64.to_be_bytes().to_vec());
    assert_eq!(raw(&recs[1].1[2]), vec![0xCA, 0xFE, 0xF0, 0x0D]);

    // The next message continues the sequence; no templates in between.
    export(&mut e, 1002, 1, 1);
    e.flush(1002);
    let m = recv(&rx);
    assert!(!is_template_message(&m));
    assert_eq!(header(&m).3, 2);

    let s = e.close(1003);
    let c = &s.per_collector[0];
    assert_eq!(
        c.url,
        "udp://".to_string() + &rx.local_addr().unwrap().to_string()
    );
    assert_eq!(
        (c.messages, c.records, c.dropped_records, c.errors),
        (5, 3, 0, 0)
    );
}

#[test]
fn refresh_by_message_count() {
    let (rx, url) = collector();
    let mut e = Exporter::new(cfg(0, 3), &[url]).unwrap();
    e.add_template(template());
    let mut kinds = Vec::new();
    for i in 0..7u16 {
        export(&mut e, 1000, i, 1);
        e.flush(1000);
    }
    // 3 announcement copies, then templates before every 4th data message.
    let expected = "TTTDDDTDDDTD";
    for _ in 0..expected.len() {
        let m = recv(&rx);
        kinds.push(if is_template_message(&m) { 'T' } else { 'D' });
        if !is_template_message(&m) {
            let n = kinds.iter().filter(|&&k| k == 'D').count() as u32;
            assert_eq!(header(&m).3, n - 1, "data messages carry one record each");
        }
    }
    assert_eq!(kinds.into_iter().collect::<String>(), expected);
}

#[test]
fn refresh_by_time_and_flush_by_tick() {
    let (rx, url) = collector();
    let mut e = Exporter::new(cfg(60, 0), &[url]).unwrap();
    e.add_template(template());
    export(&mut e, 1000, 1, 1);
    e.flush(1000);
    for _ in 0..3 {
        assert!(is_template_message(&recv(&rx)));
    }
    assert!(!is_template_message(&recv(&rx)));

    // 59 s later: no refresh yet, so the next datagram is data.
    e.tick(1059);
    export(&mut e, 1059, 2, 1);
    e.flush(1059);
    let m = recv(&rx);
    assert!(!is_template_message(&m));
    assert_eq!(header(&m).3, 1);

    // 60 s after the announcement: one refresh copy, sent by tick alone.
    e.tick(1060);
    let m = recv(&rx);
    assert!(is_template_message(&m));
    let (_, _, t, seq, _) = header(&m);
    assert_eq!((t, seq), (1060, 2));

    // Much later: tick(2000) owes a refresh and sends it; the record exported at 2000
    // waits in its message until a tick one second later.
    export(&mut e, 2000, 3, 1);
    e.tick(2000);
    let m = recv(&rx);
    assert!(is_template_message(&m));
    assert_eq!((header(&m).2, header(&m).3), (2000, 2));
    e.tick(2001);
    let m = recv(&rx);
    assert!(!is_template_message(&m));
    assert_eq!((header(&m).2, header(&m).3), (2001, 2));
}

#[test]
fn oversized_and_malformed_records_are_counted_and_leave_a_gap() {
    let (rx, url) = collector();
    let mut e = Exporter::new(
        ExporterConfig {
            max_message_size: 512,
            ..cfg(0, 0)
        },
        &[url],
    )
    .unwrap();
    let t = Template::new(
        301,
        vec![
            Field::new(iana::PROTOCOL_IDENTIFIER),
            Field::sized(iana::INFORMATION_ELEMENT_NAME, VARLEN),
        ],
    );
    e.add_template(t.clone());
    let big = "x".repeat(600);
    e.export_with(301, 10, |enc| {
        enc.put(&t.fields[0], Value::U8(6));
        enc.put(&t.fields[1], Value::Str("ok"));
    });
    e.export_with(301, 10, |enc| {
        enc.put(&t.fields[0], Value::U8(6));
        enc.put(&t.fields[1], Value::Str(&big));
    });
    // Only one of two fields: does not match the template, not sent.
    e.export_with(301, 10, |enc| enc.put(&t.fields[0], Value::U8(17)));
    // Unknown template.
    e.export_record(999, 10, &[1, 2, 3]);
    e.export_with(301, 10, |enc| {
        enc.put(&t.fields[0], Value::U8(17));
        enc.put(&t.fields[1], Value::Str("next"));
    });
    e.flush(11);
    let mut p = parser();
    for _ in 0..3 {
        let m = recv(&rx);
        assert!(is_template_message(&m));
        decode(&mut p, &m);
    }
    let m = recv(&rx);
    assert!(m.len() <= 512);
    assert_eq!(header(&m).3, 0);
    let recs = records_of(&decode(&mut p, &m));
    assert_eq!(recs.len(), 2);
    let s = e.stats();
    assert_eq!(s.oversized_records, 1);
    assert_eq!(s.malformed_records, 1);
    assert_eq!(s.unknown_template_records, 1);
    assert_eq!(s.per_collector[0].dropped_records, 3);
    assert_eq!(s.per_collector[0].records, 2);
    // The three lost records came after the first one: the next message shows the gap.
    e.export_with(301, 12, |enc| {
        enc.put(&t.fields[0], Value::U8(1));
        enc.put(&t.fields[1], Value::Str("z"));
    });
    e.flush(12);
    assert_eq!(header(&recv(&rx)).3, 5);
}

#[test]
fn unreachable_address_is_an_error_value_not_a_panic() {
    let e = Exporter::new(
        ExporterConfig::default(),
        &[CollectorUrl::Udp("host.invalid:4739".into())],
    );
    let msg = e.err().expect("an error").to_string();
    assert!(
        msg.starts_with("cannot resolve IPFIX collector udp://host.invalid:4739: "),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert!(Exporter::new(ExporterConfig::default(), &[]).is_err());
}
