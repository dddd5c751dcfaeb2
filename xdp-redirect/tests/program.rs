//! The XDP program in the running kernel: it passes the verifier, and its pre-filter and
//! counters do what the rules say, checked with BPF_PROG_TEST_RUN on hand-built frames
//! (no interface needed). Needs root or CAP_BPF + CAP_NET_ADMIN, as CI has.

use xdp_redirect::{Filter, QueueCounters, Rule, XdpProgram};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn eth(ethertype: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if let Some(id) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn l4(proto: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.resize(if proto == 6 { 20 } else { 8 }, 0);
    h
}

fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut f = eth(0x0800, vlan);
    let payload = l4(proto, sport, dport);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    f.extend(ip);
    f.extend(payload);
    f
}

fn v6(src: &str, dst: &str, proto: u8, sport: u16, dport: u16, hop_by_hop: bool) -> Vec<u8> {
    let mut f = eth(0x86dd, None);
    let mut payload = Vec::new();
    if hop_by_hop {
        payload.extend_from_slice(&[proto, 0, 1, 4, 0, 0, 0, 0]);
    }
    payload.extend(l4(proto, sport, dport));
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.push(if hop_by_hop { 0 } else { proto });
    f.push(64);
    for a in [src, dst] {
        f.extend_from_slice(&a.parse::<std::net::Ipv6Addr>().unwrap().octets());
    }
    f.extend(payload);
    f
}

fn program(rules: &[&str]) -> XdpProgram {
    let rules: Vec<Rule> = rules.iter().map(|r| r.parse().unwrap()).collect();
    XdpProgram::load(&Filter::compile(&rules).unwrap()).expect("the program loads (run as root)")
}

#[test]
fn without_rules_every_frame_is_seen_and_passed_when_no_socket_is_registered() {
    let mut p = program(&[]);
    assert_eq!(
        p.test_run(&v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1, 2, None))
            .unwrap(),
        XDP_PASS
    );
    assert_eq!(p.test_run(&[0u8; 20]).unwrap(), XDP_PASS);
    let c = p.counters(0).unwrap();
    assert_eq!(
        c,
        QueueCounters {
            seen: 2,
            passed: 2,
            ..Default::default()
        }
    );
}

#[test]
fn deny_list_drops_matches_and_counts_them() {
    let mut p = program(&["exclude 10.0.0.0/8 - - 53 [tcp,udp]"]);
    let cases = [
        (
            v4([10, 1, 2, 3], [192, 0, 2, 1], 17, 5000, 53, None),
            XDP_DROP,
        ),
        (
            v4([10, 1, 2, 3], [192, 0, 2, 1], 6, 5000, 53, Some(7)),
            XDP_DROP,
        ),
        // Wrong port, wrong protocol, wrong source: kept.
        (
            v4([10, 1, 2, 3], [192, 0, 2, 1], 17, 5000, 54, None),
            XDP_PASS,
        ),
        (
            v4([10, 1, 2, 3], [192, 0, 2, 1], 132, 5000, 53, None),
            XDP_PASS,
        ),
        (
            v4([11, 1, 2, 3], [192, 0, 2, 1], 17, 5000, 53, None),
            XDP_PASS,
        ),
        // IPv6 never matches an IPv4 prefix.
        (
            v6("2001:db8::1", "2001:db8::2", 17, 5000, 53, false),
            XDP_PASS,
        ),
    ];
    for (i, (frame, verdict)) in cases.iter().enumerate() {
        assert_eq!(p.test_run(frame).unwrap(), *verdict, "case {i}");
    }
    let c = p.counters(0).unwrap();
    assert_eq!((c.seen, c.filtered, c.passed, c.unparsable), (6, 2, 4, 0));
}

#[test]
fn allow_list_keeps_only_matches_and_first_match_wins() {
    let mut p = program(&[
        "exclude 2001:db8:1::/48 - - - -",
        "include 2001:db8::/32 - - [443,8000-8100] tcp",
        "include - 192.0.2.0/24 - - icmp",
    ]);
    let cases = [
        (
            v6("2001:db8:2::1", "2001:db8::2", 6, 40000, 443, false),
            XDP_PASS,
        ),
        // Through a hop-by-hop header to the TCP ports.
        (
            v6("2001:db8:2::1", "2001:db8::2", 6, 40000, 8050, true),
            XDP_PASS,
        ),
        // The earlier exclude wins over the include.
        (
            v6("2001:db8:1::1", "2001:db8::2", 6, 40000, 443, false),
            XDP_DROP,
        ),
        (
            v6("2001:db8:2::1", "2001:db8::2", 17, 40000, 443, false),
            XDP_DROP,
        ),
        (
            v4([198, 51, 100, 1], [192, 0, 2, 9], 1, 0, 0, None),
            XDP_PASS,
        ),
        (
            v4([198, 51, 100, 1], [198, 51, 100, 9], 1, 0, 0, None),
            XDP_DROP,
        ),
    ];
    for (i, (frame, verdict)) in cases.iter().enumerate() {
        assert_eq!(p.test_run(frame).unwrap(), *verdict, "case {i}");
    }
    // ARP is not IP: the filter cannot judge it, so it goes on (and is counted).
    let mut arp = eth(0x0806, None);
    arp.resize(42, 0);
    assert_eq!(p.test_run(&arp).unwrap(), XDP_PASS);
    // Truncated IPv4 header.
    let mut short = v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 1, 2, None);
    short.truncate(20);
    assert_eq!(p.test_run(&short).unwrap(), XDP_PASS);
    let c = p.counters(0).unwrap();
    assert_eq!((c.seen, c.filtered, c.unparsable), (8, 3, 2));
    assert_eq!(c.passed, 5);
}
