//! The collector harness end to end, without the meter: one hand-encoded IPFIX message
//! goes to nfcapd, nfacctd and a UDP sink decoded by tshark, and each must report exactly
//! what the message says.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use perf::collector::{CustomPrimitive, HarnessError, Nfacctd, Nfcapd, UdpSink, tshark_fields};

/// One IPFIX message (RFC 7011), written out by hand: a template and one data record.
#[rustfmt::skip]
const MSG: [u8; 121] = [
    // Message header: version 10, length 121, export time 1700000001, sequence 0, ODID 1.
    0x00, 0x0a, 0x00, 0x79, 0x65, 0x53, 0xf1, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    // Template set (ID 2), length 52: template 256 with 10 fields.
    0x00, 0x02, 0x00, 0x34, 0x01, 0x00, 0x00, 0x0a,
    0x00, 0x08, 0x00, 0x04, // sourceIPv4Address
    0x00, 0x0c, 0x00, 0x04, // destinationIPv4Address
    0x00, 0x07, 0x00, 0x02, // sourceTransportPort
    0x00, 0x0b, 0x00, 0x02, // destinationTransportPort
    0x00, 0x04, 0x00, 0x01, // protocolIdentifier
    0x00, 0x02, 0x00, 0x08, // packetDeltaCount
    0x00, 0x01, 0x00, 0x08, // octetDeltaCount
    0x00, 0x98, 0x00, 0x08, // flowStartMilliseconds
    0x00, 0x99, 0x00, 0x08, // flowEndMilliseconds
    0x84, 0x4f, 0x00, 0x04, 0x00, 0x00, 0x7e, 0xd9, // enterprise bit | 1103, PEN 32473
    // Data set 256, length 53: one record.
    0x01, 0x00, 0x00, 0x35,
    192, 0, 2, 1,                                   // 192.0.2.1
    192, 0, 2, 2,                                   // 192.0.2.2
    0x9c, 0x40,                                     // 40000
    0x01, 0xbb,                                     // 443
    0x06,                                           // TCP
    0, 0, 0, 0, 0, 0, 0, 7,                         // 7 packets
    0, 0, 0, 0, 0, 0, 0x04, 0xd2,                   // 1234 octets
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,       // 1700000000000 ms
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x6b, 0xe8,       // 1700000001000 ms
    0xde, 0xad, 0xbe, 0xef,                         // enterprise value
];

fn send(to: SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let n = s.send_to(&MSG, to).expect("send");
    assert_eq!(n, MSG.len());
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn message_is_self_consistent() {
    // Lengths in the header and set headers add up, so the collectors see what we mean.
    assert_eq!(usize::from(u16::from_be_bytes([MSG[2], MSG[3]])), MSG.len());
    assert_eq!(16 + 52 + 53, MSG.len());
}

#[test]
fn nfcapd_reports_the_record() {
    let mut nf = Nfcapd::start().expect("start nfcapd");
    assert!(matches!(nf.totals(), Err(HarnessError::NotStopped)));
    send(nf.addr());
    nf.stop().expect("stop nfcapd");
    let t = nf.totals().expect("nfdump");
    assert_eq!((t.flows, t.packets, t.bytes), (1, 7, 1234), "{t:?}");
    assert_eq!(t.records.len(), 1);
    let r = &t.records[0];
    assert_eq!(r.src, v4(192, 0, 2, 1));
    assert_eq!(r.dst, v4(192, 0, 2, 2));
    assert_eq!((r.sport, r.dport, r.proto), (40000, 443, 6));
    let st = nf.stats().expect("stats");
    assert_eq!(st.flows, 1);
    assert_eq!(st.packets, 7);
    assert_eq!(st.bytes, 1234);
    assert_eq!(st.sequence_errors, 0);
}

#[test]
fn nfacctd_reports_the_record_and_enterprise_field() {
    let prim = CustomPrimitive::new("mptcp_sender_token", "32473:1103", 4, "u_int");
    let mut pm = Nfacctd::start(std::slice::from_ref(&prim)).expect("start nfacctd");
    assert!(matches!(pm.records(), Err(HarnessError::NotStopped)));
    send(pm.addr());
    pm.stop().expect("stop nfacctd");
    let rows = pm.records().expect("records");
    assert_eq!(rows.len(), 1, "{rows:?}\n{}", pm.log());
    let r = &rows[0];
    assert_eq!(r.src, v4(192, 0, 2, 1));
    assert_eq!(r.dst, v4(192, 0, 2, 2));
    assert_eq!((r.sport, r.dport, r.proto), (40000, 443, 6));
    assert_eq!((r.packets, r.bytes), (7, 1234));
    // 0xdeadbeef printed as an unsigned integer.
    assert_eq!(r.custom("mptcp_sender_token"), Some("3735928559"));
}

#[test]
fn udp_sink_capture_decodes_in_tshark() {
    let sink = UdpSink::start(Duration::from_secs(30), Duration::from_secs(60)).expect("sink");
    send(sink.addr());
    let captured = sink.stop().expect("stop sink");
    assert_eq!(captured.datagrams.len(), 1);
    assert_eq!(captured.datagrams[0].payload, MSG);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sink.pcap");
    captured.write_pcap(&path).expect("write pcap");
    let rows = tshark_fields(
        &path,
        captured.port,
        &[
            "cflow.od_id",
            "cflow.srcaddr",
            "cflow.dstaddr",
            "cflow.srcport",
            "cflow.dstport",
            "cflow.protocol",
            "cflow.packets",
            "cflow.octets",
            "cflow.template_ipfix_field_pen",
            "cflow.enterprise_private_entry",
        ],
    )
    .expect("tshark");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.first(0), Some("1"));
    assert_eq!(r.first(1), Some("192.0.2.1"));
    assert_eq!(r.first(2), Some("192.0.2.2"));
    assert_eq!(r.first(3), Some("40000"));
    assert_eq!(r.first(4), Some("443"));
    assert_eq!(r.first(5), Some("6"));
    assert_eq!(r.all(6), &["7".to_string()]);
    assert_eq!(r.all(7), &["1234".to_string()]);
    assert_eq!(r.first(8), Some("32473"));
    assert_eq!(r.first(9), Some("deadbeef"));
}
