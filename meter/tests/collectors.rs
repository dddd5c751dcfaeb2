//! The `meter` command end to end against real collectors and independent decoders:
//! nfcapd/nfdump 1.7.1, pmacct nfacctd 1.7.7, tshark 4.0 and the `netflow_parser` crate.
//!
//! Every test generates its own scenario capture with perf's generator; the expected
//! numbers come from the generator's ground truth (cross-checked with tshark's count of the
//! capture), never from the meter. The scenario mixes TCP (FIN and RST ends), UDP, ICMP,
//! IPv6 with extension headers, VLAN/QinQ/MPLS, a fragmented datagram, SCTP and an MPTCP
//! connection with a joined subflow, plus frames that form no flow; it spans far less than
//! any timeout, so the meter must export exactly one record per uniflow of the truth.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use netflow_parser::variable_versions::ipfix::FlowSetBody;
use netflow_parser::{FieldValue, IpfixField, IpfixFlowRecord, NetflowPacket, NetflowParser};
use perf::collector::{
    Captured, CustomPrimitive, Nfacctd, Nfcapd, PmacctRecord, TempDir, UdpSink, tshark_fields,
    tshark_totals,
};
use perf::r#gen::{CaptureFormat, Scenario, ScenarioParams, Truth, UniflowKey};
use serde_json::Value;

/// Data templates of the default export profile; 400..=403 are options templates.
const FLOW_TEMPLATES: std::ops::RangeInclusive<u16> = 256..=267;
/// RFC 5612 documentation PEN, passed explicitly so the custom primitives below match.
const PEN: u32 = 32473;

/// A scenario capture in a temporary directory and its ground truth.
struct Fixture {
    dir: TempDir,
    capture: PathBuf,
    truth: Truth,
}

/// Write a scenario (the default mix; `seed` varies payload sizes between tests) and check
/// that tshark counts the same IP packets and layer-3 octets as the truth.
fn fixture(seed: u64) -> Fixture {
    let dir = TempDir::new("meter-collectors").expect("temp dir");
    let capture = dir.path().join("scenario.pcap");
    let sc = Scenario::new(ScenarioParams {
        seed,
        ..ScenarioParams::default()
    })
    .expect("scenario");
    let truth = sc
        .write_file(&capture, CaptureFormat::Pcap)
        .expect("write capture");
    let t = tshark_totals(&capture).expect("tshark totals");
    assert_eq!(
        (t.frames, t.ip_packets, t.l3_octets),
        (truth.frames, truth.ip_packets, truth.l3_octets),
        "tshark and the generator disagree about the capture"
    );
    assert!(truth.uniflows.values().any(|f| f.mptcp_token.is_some()));
    Fixture {
        dir,
        capture,
        truth,
    }
}

/// Run the meter on the fixture's capture and check its JSON summary against the truth:
/// every frame read, every IP packet exported, the non-flow frames in their drop counters,
/// conservation holds, and every output wrote one record per uniflow and lost none.
/// Returns the summary.
fn run_meter(fx: &Fixture, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_meter"))
        .arg("--pcap")
        .arg(&fx.capture)
        .args(args)
        .args(["--summary", "json"])
        .output()
        .expect("run meter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "meter {args:?} failed:\n{stderr}");
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary on stderr:\n{stderr}"));
    let s: Value = serde_json::from_str(line).expect("summary is JSON");
    let t = &fx.truth;
    assert_eq!(s["packets"], t.frames, "{line}");
    assert_eq!(s["exported_packets"], t.ip_packets, "{line}");
    assert_eq!(s["conservation_ok"], true, "{line}");
    let nf = &t.non_flow;
    for (name, want) in [
        ("not_ip", nf.non_ip),
        ("truncated_link_header", nf.truncated_link),
        ("truncated_ip_header", nf.truncated_ip),
        ("bad_ipv4_header", nf.bad_ip_header),
        ("export_queue_full_records", 0),
    ] {
        assert_eq!(s["drops"][name], want, "drops.{name}: {line}");
    }
    let outputs = s["outputs"].as_array().expect("outputs");
    assert!(!outputs.is_empty(), "{line}");
    for o in outputs {
        assert_eq!(o["records"], t.expected_uniflow_records(), "{line}");
        assert_eq!(o["dropped_records"], 0, "{line}");
    }
    s
}

fn udp_url(addr: std::net::SocketAddr) -> String {
    format!("udp://{addr}")
}

/// Packets and layer-3 octets per uniflow.
type Counts = BTreeMap<UniflowKey, (u64, u64)>;

/// How a collector shows a uniflow's destination port.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// As exported (ICMP: 0).
    Exported,
    /// nfdump 1.7.1: ICMP type and code in the destination port. (nfdump keeps whichever
    /// of destinationTransportPort and icmpTypeCode comes last in a template, so the
    /// meter never puts both in one template and SCTP keeps its ports.)
    Nfdump,
}

/// The truth's counts, keyed as a collector shows them.
fn expected_counts(truth: &Truth, ports: Ports) -> Counts {
    truth
        .uniflows
        .iter()
        .map(|(k, f)| {
            let mut k = *k;
            if ports == Ports::Nfdump && matches!(k.proto, 1 | 58) {
                k.dport = f.icmp_type_code.unwrap_or(0);
            }
            (k, (f.packets, f.l3_octets))
        })
        .collect()
}

/// Every truth uniflow appears exactly once with exactly its counts, and nothing else
/// appears.
fn assert_same_flows(
    what: &str,
    got: impl IntoIterator<Item = (UniflowKey, u64, u64)>,
    want: &Counts,
) {
    let mut seen = Counts::new();
    for (k, p, b) in got {
        assert!(
            seen.insert(k, (p, b)).is_none(),
            "{what}: {k:?} in two records"
        );
    }
    if &seen != want {
        let mut diff = Vec::new();
        for (k, w) in want {
            match seen.get(k) {
                Some(g) if g == w => {}
                g => diff.push(format!("{k:?}: want {w:?}, got {g:?}")),
            }
        }
        for (k, g) in &seen {
            if !want.contains_key(k) {
                diff.push(format!("{k:?}: unexpected {g:?}"));
            }
        }
        panic!(
            "{what}: {} uniflows differ:\n{}",
            diff.len(),
            diff.join("\n")
        );
    }
}

/// Start nfcapd, meter into it, and check nfdump's totals, every uniflow and nfcapd's own
/// statistics against the truth.
fn nfcapd_case(seed: u64, workers: u16) {
    let fx = fixture(seed);
    let mut nf = Nfcapd::start().expect("start nfcapd");
    let (url, n) = (udp_url(nf.addr()), workers.to_string());
    let summary = run_meter(&fx, &["--ipfix", &url, "--workers", &n]);
    assert_eq!(summary["workers"], workers);
    nf.stop().expect("stop nfcapd");
    let t = nf.totals().expect("nfdump");
    let truth = &fx.truth;
    assert_eq!(
        (t.flows, t.packets, t.bytes),
        (
            truth.expected_uniflow_records() as u64,
            truth.ip_packets,
            truth.l3_octets
        ),
        "nfdump totals (flows, packets, bytes)"
    );
    let rows = t.records.iter().map(|r| {
        assert_eq!(r.flows, 1, "{r:?}");
        let k = UniflowKey {
            src: r.src,
            dst: r.dst,
            sport: r.sport,
            dport: r.dport,
            proto: r.proto,
        };
        (k, r.packets, r.bytes)
    });
    assert_same_flows("nfdump", rows, &expected_counts(truth, Ports::Nfdump));
    let st = nf.stats().expect("nfcapd statistics");
    assert_eq!(st.sequence_errors, 0, "{}", nf.log());
    assert_eq!(st.bad_packets, 0, "{}", nf.log());
    assert_eq!(
        (st.flows, st.packets, st.bytes),
        (
            truth.expected_uniflow_records() as u64,
            truth.ip_packets,
            truth.l3_octets
        ),
        "nfcapd statistics (flows, packets, bytes)\n{}",
        nf.log()
    );
}

#[test]
fn nfcapd_stores_every_uniflow_exactly() {
    nfcapd_case(11, 1);
}

#[test]
fn nfcapd_stores_every_uniflow_exactly_with_two_workers() {
    nfcapd_case(12, 2);
}

/// A UDP sink that ends when told, never by its quiet period during a run.
fn sink() -> UdpSink {
    UdpSink::start(Duration::from_secs(120), Duration::from_secs(300)).expect("UDP sink")
}

#[test]
fn tshark_decodes_every_flow_record() {
    let fx = fixture(13);
    let sink = sink();
    run_meter(&fx, &["--ipfix", &udp_url(sink.addr())]);
    let captured = sink.stop().expect("stop sink");
    let pcap = fx.dir.path().join("ipfix.pcap");
    captured.write_pcap(&pcap).expect("write IPFIX pcap");
    let fields = [
        "cflow.flowset_id",
        "cflow.packets",
        "cflow.octets",
        "cflow.srcaddr",
        "cflow.srcaddrv6",
    ];
    let rows = tshark_fields(&pcap, captured.port, &fields).expect("tshark");
    assert_eq!(rows.len(), captured.datagrams.len());
    let (mut records, mut packets, mut octets) = (0usize, 0u64, 0u64);
    for (i, row) in rows.iter().enumerate() {
        let sets: Vec<u16> = row
            .all(0)
            .iter()
            .map(|s| s.parse().expect("set ID"))
            .collect();
        assert!(!sets.is_empty(), "frame {i} not decoded as IPFIX");
        // One source address per flow record: options records (400..=403) have none, so
        // counting them counts the records of the flow templates.
        let n = row.all(3).len() + row.all(4).len();
        if !sets.iter().any(|s| FLOW_TEMPLATES.contains(s)) {
            assert_eq!(
                n + row.all(1).len() + row.all(2).len(),
                0,
                "frame {i}: {row:?}"
            );
            continue;
        }
        assert_eq!(
            row.all(1).len(),
            n,
            "frame {i}: a flow record without packets"
        );
        assert_eq!(
            row.all(2).len(),
            n,
            "frame {i}: a flow record without octets"
        );
        records += n;
        let sum = |col: usize| -> u64 {
            row.all(col)
                .iter()
                .map(|v| v.parse::<u64>().expect("count"))
                .sum()
        };
        packets += sum(1);
        octets += sum(2);
    }
    let truth = &fx.truth;
    assert_eq!(records, truth.expected_uniflow_records(), "flow records");
    assert_eq!(packets, truth.ip_packets, "sum of packetDeltaCount");
    assert_eq!(octets, truth.l3_octets, "sum of octetDeltaCount");
}

#[test]
fn nfacctd_reads_counts_and_mptcp_tokens() {
    let fx = fixture(14);
    let prims = [
        CustomPrimitive::new("mptcp_sender_token", &format!("{PEN}:1103"), 4, "u_int"),
        CustomPrimitive::new("mptcp_receiver_token", &format!("{PEN}:1123"), 4, "u_int"),
    ];
    let mut pm = Nfacctd::start(&prims).expect("start nfacctd");
    let pen = PEN.to_string();
    run_meter(&fx, &["--ipfix", &udp_url(pm.addr()), "--pen", &pen]);
    pm.stop().expect("stop nfacctd");
    let rows = pm.records().expect("nfacctd records");
    let truth = &fx.truth;
    assert_eq!(
        (
            rows.iter().map(|r| r.packets).sum::<u64>(),
            rows.iter().map(|r| r.bytes).sum::<u64>()
        ),
        (truth.ip_packets, truth.l3_octets),
        "nfacctd totals (packets, bytes)\n{}",
        pm.log()
    );
    let key = |r: &PmacctRecord| UniflowKey {
        src: r.src,
        dst: r.dst,
        sport: r.sport,
        dport: r.dport,
        proto: r.proto,
    };
    let flows = rows.iter().map(|r| (key(r), r.packets, r.bytes));
    assert_same_flows("nfacctd", flows, &expected_counts(truth, Ports::Exported));
    let by_key: BTreeMap<UniflowKey, &PmacctRecord> = rows.iter().map(|r| (key(r), r)).collect();
    let mut checked = 0;
    for (k, f) in &truth.uniflows {
        let r = by_key
            .get(k)
            .expect("every uniflow has a row (checked above)");
        let peer = truth
            .uniflows
            .get(&k.reversed())
            .and_then(|p| p.mptcp_token);
        let want = |t: Option<u32>| t.map(|t| t.to_string());
        if f.mptcp_token.is_none() && peer.is_none() {
            // Not MPTCP: the record's template has neither IE, which nfacctd shows as 0.
            assert_eq!(r.custom("mptcp_sender_token"), Some("0"), "{k:?}: {r:?}");
            assert_eq!(r.custom("mptcp_receiver_token"), Some("0"), "{k:?}: {r:?}");
            continue;
        }
        if let Some(t) = want(f.mptcp_token) {
            assert_eq!(
                r.custom("mptcp_sender_token"),
                Some(t.as_str()),
                "{k:?}: {r:?}"
            );
            checked += 1;
        }
        if let Some(t) = want(peer) {
            assert_eq!(
                r.custom("mptcp_receiver_token"),
                Some(t.as_str()),
                "{k:?}: {r:?}"
            );
            checked += 1;
        }
    }
    // Both directions of the first subflow know both tokens; the joined subflow adds more.
    assert!(checked >= 4, "only {checked} MPTCP tokens checked");
}

/// Decode a stream of IPFIX messages in order with one parser (templates carry over) and
/// return the flow data records; every message must decode completely.
fn decode_stream<'a>(
    what: &str,
    messages: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<IpfixFlowRecord> {
    let mut parser = NetflowParser::default();
    let mut records = Vec::new();
    let mut options = 0;
    for (i, msg) in messages.into_iter().enumerate() {
        let res = parser.parse_bytes(msg);
        assert!(res.error.is_none(), "{what}: message {i}: {:?}", res.error);
        let [NetflowPacket::IPFix(m)] = res.packets.as_slice() else {
            panic!(
                "{what}: message {i} is not one IPFIX message: {:?}",
                res.packets
            );
        };
        assert_eq!(
            usize::from(m.header.length),
            msg.len(),
            "{what}: message {i} length"
        );
        for set in &m.flowsets {
            let id = set.header.header_id;
            match &set.body {
                FlowSetBody::Data(d) if FLOW_TEMPLATES.contains(&id) => {
                    records.extend(d.fields.iter().cloned())
                }
                FlowSetBody::OptionsData(d) if (400..=403).contains(&id) => {
                    options += d.fields.len()
                }
                FlowSetBody::Template(_)
                | FlowSetBody::Templates(_)
                | FlowSetBody::OptionsTemplate(_)
                | FlowSetBody::OptionsTemplates(_) => {}
                other => panic!("{what}: message {i}: set {id} decoded as {other:?}"),
            }
        }
    }
    assert!(options > 0, "{what}: no options records");
    records
}

/// Split an RFC 5655 file into its messages by their header lengths.
fn split_messages(file: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = file;
    while !rest.is_empty() {
        let len = match rest.get(..4) {
            Some([0, 10, a, b]) => usize::from(u16::from_be_bytes([*a, *b])),
            _ => panic!(
                "IPFIX file: no message header at offset {}",
                file.len() - rest.len()
            ),
        };
        assert!(
            len >= 16 && len <= rest.len(),
            "IPFIX file: bad message length {len}"
        );
        let (msg, tail) = rest.split_at(len);
        out.push(msg);
        rest = tail;
    }
    out
}

/// The uniflow key and counters of a decoded flow record.
fn flow_of(rec: &IpfixFlowRecord) -> (UniflowKey, u64, u64) {
    let is = |f: &IpfixField, want: u16| *f == IpfixField::new(want, None);
    let one = |want: u16| -> &FieldValue {
        let mut it = rec.iter().filter(|(f, _)| is(f, want));
        let v = it
            .next()
            .unwrap_or_else(|| panic!("IE {want} missing in {rec:?}"));
        assert!(it.next().is_none(), "IE {want} twice in {rec:?}");
        &v.1
    };
    let num = |want: u16| {
        one(want)
            .as_u64()
            .unwrap_or_else(|| panic!("IE {want} not a number in {rec:?}"))
    };
    let has = |want: u16| rec.iter().any(|(f, _)| is(f, want));
    let (s, d) = if has(8) { (8, 12) } else { (27, 28) };
    let addr =
        |ie: u16| IpAddr::try_from(one(ie)).unwrap_or_else(|_| panic!("IE {ie} not an address"));
    let port = |ie: u16| u16::try_from(num(ie)).expect("port");
    let key = UniflowKey {
        src: addr(s),
        dst: addr(d),
        sport: port(7),
        dport: port(11),
        proto: one(4).as_u8().expect("protocolIdentifier"),
    };
    (key, num(2), num(1))
}

fn check_decoded(what: &str, recs: &[IpfixFlowRecord], truth: &Truth) {
    assert_eq!(
        recs.len(),
        truth.expected_uniflow_records(),
        "{what}: flow records"
    );
    let flows: Vec<_> = recs.iter().map(flow_of).collect();
    let packets: u64 = flows.iter().map(|f| f.1).sum();
    let octets: u64 = flows.iter().map(|f| f.2).sum();
    assert_eq!(
        (packets, octets),
        (truth.ip_packets, truth.l3_octets),
        "{what}: totals"
    );
    assert_same_flows(what, flows, &expected_counts(truth, Ports::Exported));
}

#[test]
fn netflow_parser_decodes_file_and_udp_streams() {
    let fx = fixture(15);
    let file = fx.dir.path().join("export.ipfix");
    let sink = sink();
    let file_arg = file.to_str().expect("UTF-8 temp path");
    run_meter(
        &fx,
        &["--ipfix-file", file_arg, "--ipfix", &udp_url(sink.addr())],
    );
    let captured: Captured = sink.stop().expect("stop sink");
    let bytes = std::fs::read(&file).expect("read IPFIX file");
    let from_file = decode_stream("file", split_messages(&bytes));
    let from_udp = decode_stream(
        "udp",
        captured.datagrams.iter().map(|d| d.payload.as_slice()),
    );
    check_decoded("file", &from_file, &fx.truth);
    check_decoded("udp", &from_udp, &fx.truth);
    // Every output gets the whole stream: the same records in the same order.
    assert!(
        from_file == from_udp,
        "file and UDP streams carry different records"
    );
}

/// nfacctd 1.7.7 (Debian 12) reads a 2-octet tcpControlBits as 0; with
/// `--tcp-flags-octets 1` it reads the flags each TCP uniflow really sent.
#[test]
fn nfacctd_reads_tcp_flags_in_one_octet_mode() {
    let fx = fixture(15);
    let prims = [CustomPrimitive::new("tcp_flags_1", "6", 1, "u_int")];
    let mut pm = Nfacctd::start(&prims).expect("start nfacctd");
    run_meter(
        &fx,
        &["--ipfix", &udp_url(pm.addr()), "--tcp-flags-octets", "1"],
    );
    pm.stop().expect("stop nfacctd");
    let rows = pm.records().expect("nfacctd records");
    let mut checked = 0;
    for r in rows.iter().filter(|r| r.proto == 6) {
        let k = UniflowKey {
            src: r.src,
            dst: r.dst,
            sport: r.sport,
            dport: r.dport,
            proto: r.proto,
        };
        let want = fx.truth.uniflows[&k].tcp_flags & 0xff;
        let got: u16 = r
            .custom("tcp_flags_1")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no tcp_flags_1 in {r:?}"));
        assert_eq!(got, want, "{k:?}");
        assert_ne!(
            got, 0,
            "{k:?}: every TCP uniflow of the scenario sent flags"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} TCP uniflows");
}
