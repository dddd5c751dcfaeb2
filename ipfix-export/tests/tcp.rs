//! TCP transport against a local listener: a collector that appears after the exporter
//! started, a collector that drops the connection (templates re-sent first, sequence
//! numbers restart at 0), and a full queue (drops counted, export never blocks).
//! Waiting is always on an event (accept, read) with a timeout, never a sleep.

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{
    decode, header, is_template_message, parser, raw, read_message, records_of, templates_of,
};
use ipfix_export::exporter::{Exporter, ExporterConfig};
use ipfix_export::ie::iana;
use ipfix_export::template::{Field, Template};
use ipfix_export::transport::CollectorUrl;
use ipfix_export::value::{FieldSink, Value};

const WAIT: Duration = Duration::from_secs(20);

fn template() -> Template {
    Template::new(
        310,
        vec![
            Field::new(iana::DESTINATION_TRANSPORT_PORT),
            Field::new(iana::OCTET_DELTA_COUNT),
        ],
    )
}

fn export(e: &mut Exporter, now: u32, port: u16) {
    let t = template();
    e.export_with(310, now, |enc| {
        enc.put(&t.fields[0], Value::U16(port));
        enc.put(&t.fields[1], Value::U64(u64::from(port) * 100));
    });
}

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fast_cfg() -> ExporterConfig {
    ExporterConfig {
        odid: 3,
        tcp_backoff_initial: Duration::from_millis(5),
        tcp_backoff_max: Duration::from_millis(50),
        ..ExporterConfig::default()
    }
}

/// Accept connections in a thread; each accepted stream arrives on the channel.
fn acceptor(l: TcpListener) -> mpsc::Receiver<TcpStream> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for s in l.incoming() {
            match s {
                Ok(s) => {
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    if tx.send(s).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    rx
}

#[test]
fn connects_late_and_reconnects_with_templates_first_and_fresh_sequence() {
    let port = free_port();
    let url = CollectorUrl::Tcp(format!("127.0.0.1:{port}"));
    let mut e = Exporter::new(fast_cfg(), &[url]).unwrap();
    e.add_template(template());
    for p in 1..=3 {
        export(&mut e, 100, p);
    }
    e.flush(100);
    // Make sure the collector really was down: the first attempt has failed.
    let t0 = std::time::Instant::now();
    while e.stats().per_collector[0].errors == 0 {
        assert!(t0.elapsed() < WAIT, "no connection attempt");
        thread::yield_now();
    }

    // The collector appears only now.
    let conns = acceptor(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let mut c1 = conns.recv_timeout(WAIT).expect("the exporter connects");
    let mut p = parser();
    let m = read_message(&mut c1).unwrap();
    assert!(is_template_message(&m), "templates come first");
    assert_eq!(header(&m).3, 0);
    assert_eq!(templates_of(&decode(&mut p, &m))[0].0, 310);
    let m = read_message(&mut c1).unwrap();
    let (v, _, t, seq, odid) = header(&m);
    assert_eq!((v, t, seq, odid), (10, 100, 0, 3));
    let recs = records_of(&decode(&mut p, &m));
    assert_eq!(recs.len(), 3);
    assert_eq!(raw(&recs[2].1[1]), 300u64.to_be_bytes().to_vec());

    export(&mut e, 101, 4);
    e.flush(101);
    let m = read_message(&mut c1).unwrap();
    assert_eq!(header(&m).3, 3, "sequence continues on the connection");

    // The collector drops the connection; keep exporting until the exporter is back.
    drop(c1);
    let mut c2 = None;
    for i in 0..400u16 {
        export(&mut e, 102, 1000 + i);
        e.flush(102);
        if let Ok(c) = conns.recv_timeout(Duration::from_millis(50)) {
            c2 = Some(c);
            break;
        }
    }
    let mut c2 = c2.expect("the exporter reconnects");
    // Flush once more so at least one data message follows the reconnect.
    export(&mut e, 103, 2000);
    e.flush(103);

    let mut p2 = parser();
    let m = read_message(&mut c2).unwrap();
    assert!(is_template_message(&m), "templates are re-sent first");
    assert_eq!(header(&m).3, 0);
    assert_eq!(templates_of(&decode(&mut p2, &m))[0].0, 310);
    let mut expected_seq = 0u32;
    loop {
        let m = read_message(&mut c2).unwrap();
        assert!(!is_template_message(&m));
        assert_eq!(
            header(&m).3,
            expected_seq,
            "per-connection numbering from 0"
        );
        let recs = records_of(&decode(&mut p2, &m));
        expected_seq += recs.len() as u32;
        if recs
            .iter()
            .any(|(_, v)| raw(&v[0]) == 2000u16.to_be_bytes().to_vec())
        {
            break;
        }
    }
    let s = e.close(104);
    let c = &s.per_collector[0];
    assert_eq!(c.connects, 2);
    assert!(
        c.errors >= 2,
        "failed first attempt and the lost connection: {c:?}"
    );
}

#[test]
fn full_queue_drops_are_counted_and_export_never_blocks() {
    let port = free_port();
    let url = CollectorUrl::Tcp(format!("127.0.0.1:{port}"));
    let cfg = ExporterConfig {
        tcp_queue_messages: 2,
        // After the first failed attempt the sender waits far longer than this test.
        tcp_backoff_initial: Duration::from_secs(3600),
        tcp_backoff_max: Duration::from_secs(3600),
        close_timeout: Duration::from_millis(100),
        ..ExporterConfig::default()
    };
    let mut e = Exporter::new(cfg, &[url]).unwrap();
    e.add_template(template()); // queue slot 1: the templates
    for p in 0..10 {
        export(&mut e, 1, p);
        e.flush(1); // one message per record: slot 2, then drops
    }
    let s = e.stats();
    let c = &s.per_collector[0];
    assert_eq!(c.dropped_messages, 9);
    assert_eq!(c.dropped_records, 9);
    assert_eq!(c.records, 0);
    // Close gives up at the deadline and counts the queued message as dropped too.
    let s = e.close(2);
    let c = &s.per_collector[0];
    assert_eq!(c.dropped_records, 10);
    assert_eq!(c.records, 0);
    assert_eq!(c.connects, 0);
}

#[test]
fn drops_while_connected_show_as_a_sequence_gap() {
    // The collector stops reading while the exporter produces ~20 MB: the socket buffers
    // fill, the sender blocks in write, the 4-message queue fills and the exporter drops
    // (without blocking). Then the collector reads everything.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = CollectorUrl::Tcp(l.local_addr().unwrap().to_string());
    let conns = acceptor(l);
    let cfg = ExporterConfig {
        tcp_queue_messages: 4,
        tcp_write_timeout: Duration::from_secs(120),
        ..fast_cfg()
    };
    let t = Template::new(
        311,
        vec![
            Field::new(iana::DESTINATION_TRANSPORT_PORT),
            Field::sized(iana::INFORMATION_ELEMENT_DESCRIPTION, ipfix_export::VARLEN),
        ],
    );
    let mut e = Exporter::new(cfg, &[url]).unwrap();
    e.add_template(t.clone());
    let mut c = conns.recv_timeout(WAIT).expect("connect");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        go_rx.recv().unwrap();
        let mut msgs = Vec::new();
        while let Ok(m) = read_message(&mut c) {
            msgs.push(m);
        }
        msgs
    });
    let payload = "p".repeat(1400);
    const N: u16 = 14_000;
    for i in 0..N {
        e.export_with(311, 5, |enc| {
            enc.put(&t.fields[0], Value::U16(i));
            enc.put(&t.fields[1], Value::Str(&payload));
        });
    }
    let before_close = e.stats().per_collector[0].clone();
    assert!(before_close.dropped_records > 0, "{before_close:?}");
    go_tx.send(()).unwrap();
    let s = e.close(6);
    let st = s.per_collector[0].clone();
    assert_eq!(st.records + st.dropped_records, u64::from(N));
    let msgs = reader.join().unwrap();

    let mut p = parser();
    assert!(is_template_message(&msgs[0]));
    decode(&mut p, &msgs[0]);
    let mut received = 0u64;
    let mut prev_end = 0u32;
    let mut gaps = 0u32;
    for m in &msgs[1..] {
        let seq = header(m).3;
        assert!(seq >= prev_end);
        gaps += seq - prev_end;
        let recs = records_of(&decode(&mut p, m));
        // Record i carries port i; the sequence number counts sent and dropped records,
        // so it is the position of the message's first record in the stream.
        let first = u16::from_be_bytes(raw(&recs[0].1[0]).try_into().unwrap());
        assert_eq!(u32::from(first), seq);
        prev_end = seq + recs.len() as u32;
        received += recs.len() as u64;
    }
    assert_eq!(received, st.records);
    assert_eq!(u64::from(gaps) + st.records, u64::from(prev_end));
    // Every dropped record is visible to the collector: as a gap between two messages,
    // or (when nothing followed the drops on this connection) after the last message.
    // Which of the two depends on thread timing; the sum does not.
    let trailing = u64::from(N) - u64::from(prev_end);
    assert_eq!(u64::from(gaps) + trailing, st.dropped_records);
}

#[test]
fn unresolvable_tcp_collector_does_not_fail_start() {
    // TCP connects in the background: a bad host is a counted error, not a start failure.
    let cfg = ExporterConfig {
        close_timeout: Duration::from_millis(50),
        tcp_backoff_initial: Duration::from_millis(5),
        tcp_backoff_max: Duration::from_millis(5),
        ..ExporterConfig::default()
    };
    let mut e = Exporter::new(cfg, &[CollectorUrl::Tcp("host.invalid:4739".into())]).unwrap();
    e.add_template(template());
    export(&mut e, 1, 1);
    let s = e.close(1);
    assert_eq!(s.per_collector[0].dropped_records, 1);
    assert_eq!(s.per_collector[0].records, 0);
}

#[test]
fn close_is_bounded_when_the_collector_stalls() {
    // The collector accepts and never reads: the sender ends up blocked in a write with
    // a long write timeout. Close must still return once its deadline has passed, and
    // every record must be accounted as sent or dropped.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = CollectorUrl::Tcp(l.local_addr().unwrap().to_string());
    let conns = acceptor(l);
    let cfg = ExporterConfig {
        tcp_queue_messages: 8,
        tcp_write_timeout: Duration::from_secs(600),
        close_timeout: Duration::from_millis(200),
        ..fast_cfg()
    };
    let t = Template::new(
        312,
        vec![Field::sized(
            iana::INFORMATION_ELEMENT_DESCRIPTION,
            ipfix_export::VARLEN,
        )],
    );
    let mut e = Exporter::new(cfg, &[url]).unwrap();
    e.add_template(t.clone());
    e.flush(1);
    let _stalled = conns.recv_timeout(WAIT).expect("connect");
    let payload = "s".repeat(1400);
    const N: u64 = 14_000;
    for _ in 0..N {
        e.export_with(312, 1, |enc| enc.put(&t.fields[0], Value::Str(&payload)));
    }
    let s = e.close(2);
    let c = &s.per_collector[0];
    assert_eq!(c.records + c.dropped_records, N);
    assert!(c.dropped_records > 0);
}
