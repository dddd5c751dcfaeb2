//! The scenario capture checked by an independent decoder (tshark 4.0): checksums, MPTCP
//! option fields, and the ground truth (totals and every uniflow).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use perf::collector::{FieldRow, tshark_fields_with, tshark_totals};
use perf::r#gen::{CaptureFormat, Scenario, Truth, UniflowKey};

fn write_scenario(name: &str, format: CaptureFormat) -> (PathBuf, Truth) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let sc = Scenario::default_scenario().expect("scenario");
    let truth = sc.write_file(&path, format).expect("write scenario");
    assert_eq!(&truth, sc.truth(), "write returns the planned truth");
    (path, truth)
}

#[test]
fn truth_totals_agree_with_tshark() {
    for (name, fmt) in [
        ("totals.pcap", CaptureFormat::Pcap),
        ("totals.pcapng", CaptureFormat::Pcapng),
    ] {
        let (path, truth) = write_scenario(name, fmt);
        let t = tshark_totals(&path).expect("tshark");
        assert_eq!(t.frames, truth.frames, "{name}: frames");
        assert_eq!(t.ip_packets, truth.ip_packets, "{name}: IP packets");
        assert_eq!(t.l3_octets, truth.l3_octets, "{name}: L3 octets");
        assert_eq!(
            t.frames - t.ip_packets,
            truth.non_flow.total(),
            "{name}: frames that form no flow"
        );
        // The default scenario has both families and some non-flow frames, so these
        // comparisons are not vacuous.
        assert!(t.ipv4_packets > 0 && t.ipv6_packets > 0);
        assert!(truth.non_flow.total() >= 5);
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    packets: u64,
    l3_octets: u64,
    tcp_flags: u16,
    first_ns: u64,
    last_ns: u64,
    vlan: u16,
    icmp_type_code: Option<u16>,
}

fn parse<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s.and_then(|v| v.parse().ok())
}

fn parse_hex16(s: Option<&str>) -> Option<u16> {
    s.and_then(|v| u16::from_str_radix(v.trim_start_matches("0x"), 16).ok())
}

/// "1700000000.000100000" -> ns, exactly (no float).
fn epoch_ns(s: &str) -> u64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    sec.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
}

#[test]
fn every_uniflow_agrees_with_tshark() {
    let (path, truth) = write_scenario("uniflows.pcap", CaptureFormat::Pcap);
    let fields = [
        "frame.protocols", // 0
        "frame.time_epoch",
        "ip.src",
        "ip.dst",
        "ip.len",
        "ipv6.src", // 5
        "ipv6.dst",
        "ipv6.plen",
        "ip.proto",
        "tcp.srcport",
        "tcp.dstport", // 10
        "udp.srcport",
        "udp.dstport",
        "sctp.srcport",
        "sctp.dstport",
        "tcp.flags", // 15
        "icmp.type",
        "icmp.code",
        "icmpv6.type",
        "icmpv6.code",
        "vlan.id", // 20
        "ieee8021ad.id",
    ];
    let rows = tshark_fields_with(
        &path,
        &["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"],
        &fields,
    )
    .expect("tshark");
    let mut seen: BTreeMap<UniflowKey, Seen> = BTreeMap::new();
    for r in &rows {
        let protos = r.first(0).unwrap_or("");
        let outer = protos.split(':').find(|p| *p == "ip" || *p == "ipv6");
        let (src, dst, l3): (IpAddr, IpAddr, u64) = match outer {
            Some("ip") if r.first(3).is_some() => (
                parse(r.first(2)).unwrap(),
                parse(r.first(3)).unwrap(),
                parse(r.first(4)).unwrap(),
            ),
            Some("ipv6") if r.first(6).is_some() => (
                parse(r.first(5)).unwrap(),
                parse(r.first(6)).unwrap(),
                parse::<u64>(r.first(7)).unwrap() + 40,
            ),
            _ => continue,
        };
        let (sport, dport, proto) = ports_and_proto(r);
        let key = UniflowKey {
            src,
            dst,
            sport,
            dport,
            proto,
        };
        let ts = epoch_ns(r.first(1).unwrap());
        let s = seen.entry(key).or_default();
        if s.packets == 0 {
            s.first_ns = ts;
            // The outer tag: an 802.1ad S-tag if present, else the 802.1Q tag.
            s.vlan = parse(r.first(21)).or(parse(r.first(20))).unwrap_or(0);
            s.icmp_type_code = match (parse::<u16>(r.first(16)), parse::<u16>(r.first(18))) {
                (Some(t), _) => Some(t << 8 | parse::<u16>(r.first(17)).unwrap()),
                (None, Some(t)) => Some(t << 8 | parse::<u16>(r.first(19)).unwrap()),
                _ => None,
            };
        }
        s.packets += 1;
        s.l3_octets += l3;
        s.last_ns = ts;
        s.tcp_flags |= parse_hex16(r.first(15)).unwrap_or(0);
    }
    let expected: BTreeMap<UniflowKey, Seen> = truth
        .uniflows
        .iter()
        .map(|(k, f)| {
            (
                *k,
                Seen {
                    packets: f.packets,
                    l3_octets: f.l3_octets,
                    tcp_flags: f.tcp_flags,
                    first_ns: f.first_ns,
                    last_ns: f.last_ns,
                    vlan: f.vlan,
                    icmp_type_code: f.icmp_type_code,
                },
            )
        })
        .collect();
    assert_eq!(seen.len(), truth.expected_uniflow_records());
    for (k, e) in &expected {
        assert_eq!(seen.get(k), Some(e), "uniflow {k:?}");
    }
    assert_eq!(seen, expected);
}

/// Ports and protocol as a port-based meter sees them: transport ports when tshark
/// decoded a transport header, else 0/0 with the IP protocol (non-first fragment).
fn ports_and_proto(r: &FieldRow) -> (u16, u16, u8) {
    if let Some(sp) = parse(r.first(9)) {
        return (sp, parse(r.first(10)).unwrap(), 6);
    }
    if let Some(sp) = parse(r.first(11)) {
        return (sp, parse(r.first(12)).unwrap(), 17);
    }
    if let Some(sp) = parse(r.first(13)) {
        return (sp, parse(r.first(14)).unwrap(), 132);
    }
    if r.first(16).is_some() {
        return (0, 0, 1);
    }
    if r.first(18).is_some() {
        return (0, 0, 58);
    }
    (0, 0, parse(r.first(8)).unwrap())
}

#[test]
fn checksums_verify_in_tshark() {
    let (path, truth) = write_scenario("checksums.pcap", CaptureFormat::Pcap);
    let fields = [
        "ip.checksum.status",
        "tcp.checksum.status",
        "udp.checksum.status",
        "icmp.checksum.status",
        "icmpv6.checksum.status",
        "sctp.checksum.status",
    ];
    let rows = tshark_fields_with(
        &path,
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "sctp.checksum:CRC-32C",
            "-o",
            "ip.defragment:FALSE",
        ],
        &fields,
    )
    .expect("tshark");
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified, 3 not present.
    let mut good = [0u64; 6];
    for r in &rows {
        for (i, g) in good.iter_mut().enumerate() {
            for v in r.all(i) {
                assert_ne!(v, "0", "bad {} in {:?}", fields[i], r);
                if v == "1" {
                    *g += 1;
                }
            }
        }
    }
    let count = |pred: &dyn Fn(&UniflowKey) -> bool| -> u64 {
        truth
            .uniflows
            .iter()
            .filter(|(k, _)| pred(k))
            .map(|(_, f)| f.packets)
            .sum()
    };
    let v4 = count(&|k| k.src.is_ipv4());
    let tcp = count(&|k| k.proto == 6);
    // UDP packets with a UDP header and a checksum: all but the fragmented datagram's
    // two pieces (the first carries checksum 0, the second no UDP header).
    let udp = count(&|k| k.proto == 17) - 2;
    let icmp = count(&|k| k.proto == 1);
    let icmp6 = count(&|k| k.proto == 58);
    let sctp = count(&|k| k.proto == 132);
    assert_eq!(good, [v4, tcp, udp, icmp, icmp6, sctp]);
    assert!(good.iter().all(|&g| g > 0));
}

#[test]
fn mptcp_options_decode_as_intended() {
    let (path, _) = write_scenario("mptcp.pcap", CaptureFormat::Pcap);
    let fields = [
        "tcp.srcport",                         // 0
        "tcp.len",                             // 1
        "tcp.options.mptcp.subtype",           // 2
        "tcp.options.mptcp.version",           // 3
        "tcp.options.mptcp.sendkey",           // 4
        "tcp.options.mptcp.recvkey",           // 5
        "tcp.options.mptcp.recvtok",           // 6
        "mptcp.expected_token",                // 7
        "mptcp.stream",                        // 8
        "tcp.options.mptcp.addrid",            // 9
        "tcp.options.mptcp.ipv4",              // 10
        "tcp.options.mptcp.datalvllen",        // 11
        "tcp.options.mptcp.echo",              // 12
        "tcp.options.mptcp.datafin.flag",      // 13
        "tcp.options.mptcp.sha256.flag",       // 14
        "tcp.options.mptcp.addaddrtrunchmac",  // 15
        "tcp.options.mptcp.sendhmac",          // 16
        "tcp.options.mptcp.dseqnpresent.flag", // 17
    ];
    let rows = tshark_fields_with(
        &path,
        &["-o", "mptcp.analyze_mptcp:TRUE", "-Y", "mptcp"],
        &fields,
    )
    .expect("tshark");
    let with = |i: usize, v: &str| -> Vec<&FieldRow> {
        rows.iter()
            .filter(|r| r.all(i).iter().any(|x| x == v))
            .collect()
    };
    // Keys of reference §4.3 (0x1122334455667788 client, 0x99aabbccddeeff00 server) as
    // tshark prints them (decimal).
    let client_key = "1234605616436508552";
    let server_key = "11072869122414935808";
    let mp_capable = with(2, "0");
    assert_eq!(mp_capable.len(), 3, "SYN, SYN/ACK, ACK carry MP_CAPABLE");
    assert!(
        mp_capable.iter().all(|r| r.first(3) == Some("1")),
        "version 1"
    );
    assert!(
        mp_capable.iter().all(|r| r.first(14) == Some("1")),
        "HMAC-SHA256"
    );
    let synack: Vec<_> = mp_capable
        .iter()
        .filter(|r| r.first(4) == Some(server_key) && r.first(5).is_none())
        .collect();
    assert_eq!(synack.len(), 1);
    assert_eq!(synack[0].first(0), Some("443"));
    let third_ack: Vec<_> = mp_capable
        .iter()
        .filter(|r| r.first(4) == Some(client_key) && r.first(5) == Some(server_key))
        .collect();
    assert_eq!(third_ack.len(), 1);
    assert_eq!(third_ack[0].first(0), Some("50000"));
    // tshark derives the tokens from the keys: 0x1dce6604 and 0x7b981f5b (§4.3).
    let tokens: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.all(7))
        .map(String::as_str)
        .collect();
    assert!(tokens.contains(&"500065796"), "{tokens:?}");
    assert!(tokens.contains(&"2073567067"), "{tokens:?}");

    // MP_JOIN: SYN with the server's token and address ID 2, SYN/ACK, third ACK (HMAC).
    let join = with(2, "1");
    assert_eq!(join.len(), 3);
    let syn: Vec<_> = join.iter().filter(|r| r.first(6).is_some()).collect();
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].first(6), Some("2073567067"));
    assert_eq!(syn[0].first(9), Some("2"));
    assert_eq!(syn[0].first(0), Some("50001"));
    assert_eq!(join.iter().filter(|r| r.first(16).is_some()).count(), 1);
    // tshark joined both subflows into one MPTCP stream by the token.
    let streams: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r.first(8)).collect();
    assert_eq!(streams.len(), 1, "{streams:?}");

    // ADD_ADDR v1 with HMAC for 192.0.2.81, address ID 1, not an echo.
    let add = with(2, "3");
    assert_eq!(add.len(), 1);
    assert_eq!(add[0].first(10), Some("192.0.2.81"));
    assert_eq!(add[0].first(9), Some("1"));
    assert_eq!(add[0].first(12), Some("0"));
    assert!(add[0].first(15).is_some());

    // DSS: every mapping covers exactly the segment's payload, except DATA_FIN mappings
    // (length 1, no payload); two DATA_FINs, one per direction.
    let dss = with(2, "2");
    assert!(dss.len() >= 8);
    let mut data_fins = 0;
    for r in &dss {
        if r.first(17) == Some("1") {
            if r.first(13) == Some("1") {
                data_fins += 1;
                assert_eq!(r.first(11), Some("1"));
                assert_eq!(r.first(1), Some("0"));
            } else {
                assert_eq!(r.first(11), r.first(1), "mapping length = payload: {r:?}");
            }
        }
    }
    assert_eq!(data_fins, 2);
}

#[test]
fn truth_json_parses_and_matches() {
    let (_, truth) = write_scenario("json.pcap", CaptureFormat::Pcap);
    let v: serde_json::Value = serde_json::from_str(&truth.to_json()).expect("valid JSON");
    assert_eq!(v["frames"], truth.frames);
    assert_eq!(v["l3_octets"], truth.l3_octets);
    assert_eq!(v["non_flow"]["truncated_ip"], truth.non_flow.truncated_ip);
    let flows = v["uniflows"].as_array().expect("array");
    assert_eq!(flows.len(), truth.uniflows.len());
    for (j, (k, f)) in flows.iter().zip(truth.uniflows.iter()) {
        assert_eq!(j["src"], k.src.to_string());
        assert_eq!(j["dport"], k.dport);
        assert_eq!(j["packets"], f.packets);
        match f.mptcp_token {
            Some(t) => assert_eq!(j["mptcp_token"], t),
            None => assert!(j["mptcp_token"].is_null()),
        }
    }
}
