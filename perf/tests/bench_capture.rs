//! The bulk benchmark generator writes valid captures: capinfos and tshark count what was
//! asked for, and the layer-3 totals agree with tshark's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use perf::collector::{tshark_fields_with, tshark_totals};
use perf::r#gen::{BenchParams, CaptureFormat, FrameSize, Popularity, gen_bench};

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// capinfos' machine-readable packet count and file type.
fn capinfos(path: &Path) -> (u64, String) {
    let out = Command::new("capinfos")
        .args(["-M", "-c", "-t"])
        .arg(path)
        .output()
        .expect("run capinfos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut count = None;
    let mut kind = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Number of packets:") {
            count = v.trim().parse().ok();
        }
        if let Some(v) = line.strip_prefix("File type:") {
            kind = v.trim().to_string();
        }
    }
    (count.expect("packet count in capinfos output"), kind)
}

#[test]
fn imix_capture_with_snaplen_is_valid() {
    let path = tmp("bench-imix.pcap");
    let p = BenchParams {
        packets: 20_000,
        flows: 2_000,
        size: FrameSize::Imix,
        snaplen: 128,
        ipv6_share: 0.3,
        ..BenchParams::default()
    };
    let truth = gen_bench(&path, &p).expect("generate");
    let (count, kind) = capinfos(&path);
    assert_eq!(count, 20_000);
    assert_eq!(kind, "nsecpcap");
    // tshark reads the IP headers inside the 128-octet snap length, so its L3 total is
    // the on-the-wire total even though payloads were cut.
    let t = tshark_totals(&path).expect("tshark");
    assert_eq!(t.frames, 20_000);
    assert_eq!(t.ip_packets, 20_000);
    assert_eq!(t.ipv6_packets, truth.ipv6_packets);
    assert_eq!(t.l3_octets, truth.l3_octets);
    assert!(truth.captured_octets < truth.wire_octets);

    // Distinct 5-tuples as tshark sees them = flows asked for.
    let rows = tshark_fields_with(
        &path,
        &[],
        &[
            "ip.src",
            "ip.dst",
            "ipv6.src",
            "ipv6.dst",
            "tcp.srcport",
            "tcp.dstport",
            "udp.srcport",
            "udp.dstport",
            "tcp.flags.syn",
        ],
    )
    .expect("tshark fields");
    let mut tuples = HashSet::new();
    let mut syns = 0;
    for r in &rows {
        let key: Vec<String> = (0..8)
            .map(|i| r.first(i).unwrap_or("").to_string())
            .collect();
        tuples.insert(key);
        if matches!(r.first(8), Some("1") | Some("True")) {
            syns += 1;
        }
    }
    assert_eq!(tuples.len() as u64, 2_000);
    assert_eq!(truth.flows, 2_000);
    // Only a TCP flow's first packet carries SYN.
    assert!(syns > 0 && syns < 2_000, "{syns}");
}

#[test]
fn small_frames_round_robin_pcapng() {
    let path = tmp("bench-64.pcapng");
    let p = BenchParams {
        packets: 10_000,
        flows: 5_000,
        size: FrameSize::Fixed(64),
        popularity: Popularity::RoundRobin,
        format: CaptureFormat::Pcapng,
        ..BenchParams::default()
    };
    let truth = gen_bench(&path, &p).expect("generate");
    let (count, kind) = capinfos(&path);
    assert_eq!(count, 10_000);
    assert!(kind.contains("pcapng"), "{kind}");
    let t = tshark_totals(&path).expect("tshark");
    assert_eq!(t.ip_packets, 10_000);
    assert_eq!(t.l3_octets, truth.l3_octets);
    // 64-octet wire frames are 60 captured octets: 46 of them are the IPv4 packet.
    assert_eq!(truth.l3_octets, 10_000 * 46);
    assert_eq!(truth.wire_octets, 10_000 * 60);
    assert_eq!(truth.first_packets, 5_000);
}

#[test]
fn same_seed_same_bytes() {
    let p = BenchParams {
        packets: 3_000,
        flows: 500,
        ..BenchParams::default()
    };
    let (a, b) = (tmp("bench-seed-a.pcap"), tmp("bench-seed-b.pcap"));
    gen_bench(&a, &p).expect("a");
    gen_bench(&b, &p).expect("b");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let c = tmp("bench-seed-c.pcap");
    gen_bench(&c, &BenchParams { seed: 2, ..p }).expect("c");
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}
