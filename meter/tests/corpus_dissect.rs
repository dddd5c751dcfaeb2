//! Every frame of tcpdump's corpus (830 real and deliberately malformed captures) goes
//! through the dissector: none may panic, each is either metered or dropped for exactly one
//! reason, and every metered packet satisfies the `PacketMeta` invariants. Every metered
//! TCP packet is then folded into its connection's TCP-option/MPTCP state.

use std::collections::HashMap;

use meter::{dissect, flow, packet};

use dissect::{dissect, dissect_layered};
use flow::tcp::TcpConnInfo;
use packet::{DropReason, LinkType, PacketMeta, TCP_OPTIONS_MAX, anomaly, frag};

mod pcap_frames;

const PORT_PROTOCOLS: [u8; 5] = [6, 17, 33, 132, 136];

/// The invariants `PacketMeta` promises for a metered packet.
fn check(m: &PacketMeta, caplen: usize, wire_len: u32, what: &str) {
    let frame_len = (wire_len as usize).max(caplen);
    assert!(m.ip_version == 4 || m.ip_version == 6, "{what}: version");
    if m.ip_version == 4 {
        assert_eq!(
            m.src[..12],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
            "{what}"
        );
        assert_eq!(
            m.dst[..12],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
            "{what}"
        );
        assert!(m.octets >= 20, "{what}: octets {}", m.octets);
        assert_eq!((m.flow_label, m.ipv6_ext), (0, 0), "{what}");
    } else {
        assert!(m.octets >= 40, "{what}: octets {}", m.octets);
        assert!(m.flow_label < 1 << 20, "{what}");
        assert_eq!(m.frag & frag::DONT_FRAGMENT, 0, "{what}");
    }
    assert!(
        m.octets as usize <= frame_len,
        "{what}: octets beyond the frame"
    );
    if m.protocol == 1 || m.protocol == 58 {
        // The key carries the message: (0, type << 8 | code), or for a reply its
        // request's type in the source slot.
        let message = u16::from(m.icmp_type) << 8 | u16::from(m.icmp_code);
        let is_reply = matches!((m.protocol, m.icmp_type), (1, 0 | 14 | 16 | 18) | (58, 129));
        if m.anomalies & (anomaly::TRUNCATED_L4 | anomaly::FRAGMENT_NO_L4) != 0 {
            assert_eq!((m.src_port, m.dst_port), (0, 0), "{what}: ports");
        } else if is_reply {
            assert_eq!(m.dst_port, 0, "{what}: reply");
            assert_ne!(m.src_port, 0, "{what}: reply");
        } else {
            assert_eq!((m.src_port, m.dst_port), (0, message), "{what}: message");
        }
    } else if !PORT_PROTOCOLS.contains(&m.protocol) {
        assert_eq!((m.src_port, m.dst_port), (0, 0), "{what}: ports");
    }
    if m.protocol != 1 && m.protocol != 58 {
        assert_eq!((m.icmp_type, m.icmp_code), (0, 0), "{what}: icmp");
    }
    if m.protocol == 6 {
        assert!(m.tcp_flags <= 0x0fff, "{what}: flags");
        assert!(m.tcp_options_len as usize <= TCP_OPTIONS_MAX, "{what}");
        assert!(
            m.payload_len as usize + 20 <= m.octets as usize,
            "{what}: payload {} octets {}",
            m.payload_len,
            m.octets
        );
    } else {
        assert_eq!(
            (m.tcp_flags, m.tcp_options_len, m.tcp_seq),
            (0, 0, 0),
            "{what}: TCP fields on protocol {}",
            m.protocol
        );
    }
    if m.frag & frag::IS_FRAGMENT != 0 && m.frag & frag::FIRST == 0 {
        assert_eq!((m.src_port, m.dst_port), (0, 0), "{what}: later fragment");
        assert_ne!(m.anomalies & anomaly::FRAGMENT_NO_L4, 0, "{what}");
    }
    assert!(m.anomalies < 1 << anomaly::COUNT, "{what}: anomaly bits");
}

type Endpoint = ([u8; 16], u16);

#[test]
fn every_corpus_frame_is_metered_or_dropped_once() {
    let files = pcap_frames::corpus_files();
    assert!(files.len() >= 800, "corpus has {} files", files.len());
    let mut read = 0u64;
    let mut ok = 0u64;
    let mut drops: HashMap<DropReason, u64> = HashMap::new();
    let mut anomalies = [0u64; anomaly::COUNT];
    let mut unreadable = 0;
    let mut tcp_updates = 0u64;
    let mut bad_option_packets = 0u64;
    let mut mptcp_conns = 0u64;
    let mut meta = PacketMeta::default();
    let mut reference = PacketMeta::default();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let cap = pcap_frames::read_capture(path);
        if cap.error.is_some() {
            unreadable += 1;
        }
        let mut conns: HashMap<(Endpoint, Endpoint, u8), (Endpoint, TcpConnInfo)> = HashMap::new();
        for (i, f) in cap.frames.iter().enumerate() {
            read += 1;
            let Some(link) = f.linktype.and_then(LinkType::from_pcap) else {
                *drops.entry(DropReason::UnsupportedLinkType).or_default() += 1;
                continue;
            };
            let result = dissect(link, &f.data, f.wire_len, f.ts_ns, &mut meta);
            // The shortcut for common frames must not change what any frame becomes.
            let layered = dissect_layered(link, &f.data, f.wire_len, f.ts_ns, &mut reference);
            assert_eq!(result, layered, "{name} #{}: shortcut vs layers", i + 1);
            if result.is_ok() {
                assert_eq!(meta, reference, "{name} #{}: shortcut vs layers", i + 1);
            }
            match result {
                Ok(()) => {
                    ok += 1;
                    let what = format!("{name} #{}", i + 1);
                    check(&meta, f.data.len(), f.wire_len, &what);
                    for (b, n) in anomalies.iter_mut().enumerate() {
                        if meta.anomalies & (1 << b) != 0 {
                            *n += 1;
                        }
                    }
                    if meta.protocol == 6 && meta.src_port != 0 {
                        let a = (meta.src, meta.src_port);
                        let b = (meta.dst, meta.dst_port);
                        let key = if a <= b { (a, b, 6) } else { (b, a, 6) };
                        let (initiator, conn) = conns
                            .entry(key)
                            .or_insert_with(|| (a, TcpConnInfo::default()));
                        let dir = usize::from(*initiator != a);
                        let bits = conn.update(dir, &meta);
                        assert_eq!(bits & !anomaly::BAD_TCP_OPTION, 0, "{what}");
                        tcp_updates += 1;
                        if bits != 0 {
                            bad_option_packets += 1;
                        }
                    }
                }
                Err(r) => *drops.entry(r).or_default() += 1,
            }
        }
        mptcp_conns += conns.values().filter(|(_, c)| c.mptcp.is_some()).count() as u64;
    }
    let dropped: u64 = drops.values().sum();
    eprintln!(
        "corpus: {} files ({unreadable} stop early), {read} frames: {ok} metered, {dropped} dropped",
        files.len()
    );
    let mut reasons: Vec<_> = drops.iter().collect();
    reasons.sort();
    for (r, n) in reasons {
        eprintln!("  drop {:<24} {n}", r.name());
    }
    for (b, n) in anomalies.iter().enumerate() {
        eprintln!("  anomaly {:<22} {n}", anomaly::NAMES[b]);
    }
    eprintln!(
        "  tcp updates {tcp_updates}, with bad options {bad_option_packets}, mptcp connections {mptcp_conns}"
    );
    // Conservation: each frame read is metered or dropped for one reason.
    assert_eq!(ok + dropped, read);
    assert!(read > 10_000, "only {read} frames read");
    // The corpus holds ARP (mptcp-fclose.out shows two), so NotIp must occur; and it holds
    // the seven MPTCP captures, whose connections must have MPTCP state.
    assert!(drops.get(&DropReason::NotIp).copied().unwrap_or(0) >= 2);
    assert!(mptcp_conns >= 7, "{mptcp_conns} MPTCP connections");
    assert!(ok > dropped);
}
