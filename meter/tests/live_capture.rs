//! Live capture over AF_XDP on veth pairs in network namespaces the tests create and
//! delete. The meter watches a mirror port: a client and a server namespace talk over a
//! veth link whose frames (both directions) are copied with tc mirred to a monitor veth in
//! the meter's namespace, as a switch's SPAN port would. Needs root (CI runs as root).
//!
//! Expected counts come from the senders: traffic.py's datagram counts, ping's reply
//! count, and for TCP the client namespace's own kernel counters (/proc/net/snmp and
//! netstat), never from the meter.

mod live;

use std::collections::HashMap;
use std::process::Command;

use live::*;
use serde_json::Value;

/// Counters of one namespace's kernel (fresh namespaces count only the test's traffic).
fn kernel_counters(ns: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for file in ["/proc/net/snmp", "/proc/net/netstat"] {
        let o = sh(&["ip", "netns", "exec", ns, "cat", file]);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let names: Vec<&str> = names.split_whitespace().collect();
            let values: Vec<&str> = values.split_whitespace().collect();
            let group = names[0].trim_end_matches(':');
            for (n, v) in names.iter().zip(&values).skip(1) {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{group}.{n}"), v);
                }
            }
        }
    }
    out
}

fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>, k: &str) -> u64 {
    after[k] - before[k]
}

fn is_flow(r: &Value, src: &str, dst: &str, sport: u64, dport: u64) -> bool {
    let (s, d) = if src.contains(':') {
        ("sourceIPv6Address", "destinationIPv6Address")
    } else {
        ("sourceIPv4Address", "destinationIPv4Address")
    };
    text(r, s) == src
        && text(r, d) == dst
        && field(r, "sourceTransportPort") == sport
        && field(r, "destinationTransportPort") == dport
}

/// Client and server namespaces linked by c0—s0, s0 mirrored to m0—m1 (m1 in the meter's
/// namespace, with `mirror_queues` queues). Returns (lab, client, server, meter ns).
fn mirror_lab(prefix: &str, net: u8, mirror_queues: u32) -> (Lab, String, String, String) {
    let mut lab = Lab::new(prefix);
    let (c, s, m) = (lab.ns("c"), lab.ns("s"), lab.ns("m"));
    lab.veth(&c, "c0", &s, "s0", 1);
    lab.veth(&s, "m0", &m, "m1", mirror_queues);
    lab.addr(&c, "c0", &format!("10.{net}.0.1/24"));
    lab.addr(&s, "s0", &format!("10.{net}.0.2/24"));
    lab.addr(&c, "c0", &format!("fd00:{net}::1/64"));
    lab.addr(&s, "s0", &format!("fd00:{net}::2/64"));
    lab.mirror(&s, "s0", "m0");
    (lab, c, s, m)
}

fn assert_capture_adds_up(run: &LiveRun) {
    let s = &run.summary;
    assert_eq!(s["conservation_ok"], true, "{:?}", run.stderr);
    let cap = &s["capture"];
    assert_eq!(cap["ok"], true, "{cap}");
    let q = cap["queues"].as_array().expect("queues");
    let read: u64 = q.iter().map(|q| field(q, "read")).sum();
    let redirected: u64 = q.iter().map(|q| field(q, "xdp_redirected")).sum();
    let lost: u64 = q
        .iter()
        .map(|q| field(q, "rx_dropped") + field(q, "rx_ring_full"))
        .sum();
    assert_eq!(read, field(s, "packets"));
    assert_eq!(redirected, read + lost);
    assert_eq!(lost, 0, "the sockets lost frames at test rates: {cap}");
}

fn known_traffic(prefix: &str, net: u8, mode: &str) {
    let (_lab, c, s, m) = mirror_lab(prefix, net, 1);
    let meter = start_meter(&m, "m1", &["--xdp-mode", mode]);
    let (cli4, srv4) = (format!("10.{net}.0.1"), format!("10.{net}.0.2"));
    let (cli6, srv6) = (format!("fd00:{net}::1"), format!("fd00:{net}::2"));

    // Listeners, so the server answers nothing (no ICMP port unreachables).
    let mut sinks = Vec::new();
    for (addr, port, count) in [(&srv4, "9001", "20"), (&srv6, "9002", "15")] {
        let mut p = Proc::spawn(traffic(&s, &["udp-sink", addr, port, count]));
        p.wait_line(false, "ready");
        sinks.push(p);
    }
    run_traffic(&c, &["udp", &cli4, &srv4, "4001", "9001", "20", "100"]);
    run_traffic(&c, &["udp", &cli6, &srv6, "4002", "9002", "15", "200"]);
    for mut p in sinks {
        p.wait_line(false, "done");
    }
    // Nothing listens on 9003: the server answers with ICMP port unreachable, which is a
    // flow of its own, not mixed into the echo replies.
    run_traffic(&c, &["udp", &cli4, &srv4, "4003", "9003", "3", "10"]);
    let ping = sh(&[
        "ip", "netns", "exec", &c, "ping", "-c", "4", "-i", "0.2", &srv4,
    ]);
    assert!(ping.status.success(), "ping: {ping:?}");
    assert!(String::from_utf8_lossy(&ping.stdout).contains("4 received"));

    // TCP: one connection, the only IPv4 traffic of the client while the counters run.
    let mut server = Proc::spawn(traffic(&s, &["tcp-server", &srv4, "8080"]));
    server.wait_line(false, "ready");
    let before = kernel_counters(&c);
    let out = run_traffic(&c, &["tcp-client", &cli4, &srv4, "8080", "300000"]);
    assert!(out.contains("got 300000"), "{out}");
    let (st, _, _) = server.finish();
    assert!(st.success());
    let after = kernel_counters(&c);
    let out_segs =
        delta(&before, &after, "Tcp.OutSegs") + delta(&before, &after, "Tcp.RetransSegs");
    let in_segs = delta(&before, &after, "Tcp.InSegs");

    // Stop only once the meter has metered all of it (frames still in flight on the
    // mirror would otherwise be cut off by the detach).
    let expected = 20 + 15 + 3 + 8 + out_segs + in_segs;
    scrape_until(&m, "127.0.0.1:9464", |t| {
        metric_sum(t, "meter_protocol_packets_total") >= expected
    });
    let run = stop_meter(meter);
    assert_capture_adds_up(&run);
    let r = &run.records;
    assert_eq!(
        sum(r, |r| is_flow(r, &cli4, &srv4, 4001, 9001)),
        (20, 20 * (100 + 28))
    );
    assert_eq!(
        sum(r, |r| is_flow(r, &cli6, &srv6, 4002, 9002)),
        (15, 15 * (200 + 48))
    );
    let icmp = |src: &str, dst: &str, type_code: u64| {
        sum(r, |r| {
            text(r, "sourceIPv4Address") == src
                && text(r, "destinationIPv4Address") == dst
                && field(r, "protocolIdentifier") == 1
                && r.get("icmpTypeCodeIPv4").and_then(Value::as_u64) == Some(type_code)
        })
    };
    assert_eq!(icmp(&cli4, &srv4, 8 << 8), (4, 4 * 84), "echo requests");
    assert_eq!(icmp(&srv4, &cli4, 0), (4, 4 * 84), "echo replies");
    assert!(icmp(&srv4, &cli4, 3 << 8 | 3).0 >= 1, "port unreachable");

    let to_server = sum(r, |r| {
        text(r, "sourceIPv4Address") == cli4 && field(r, "destinationTransportPort") == 8080
    });
    let to_client = sum(r, |r| {
        text(r, "destinationIPv4Address") == cli4 && field(r, "sourceTransportPort") == 8080
    });
    // Packets exactly as the client's kernel counted them; octets are the payload plus
    // 40 to 80 header octets (IPv4 20, TCP 20 + options) per packet.
    assert_eq!(to_server.0, out_segs, "client → server packets");
    assert_eq!(to_client.0, in_segs, "server → client packets");
    for (what, (packets, octets), payload) in [
        ("client → server", to_server, 300_000),
        ("server → client", to_client, "got 300000".len() as u64),
    ] {
        assert!(
            (payload + 40 * packets..=payload + 80 * packets).contains(&octets),
            "{what}: {octets} octets in {packets} packets carrying {payload} payload octets"
        );
    }
    // Both directions in one flow entry, ended by the FIN exchange.
    let tcp: Vec<&Value> = r
        .iter()
        .filter(|r| {
            field(r, "destinationTransportPort") == 8080 || field(r, "sourceTransportPort") == 8080
        })
        .collect();
    assert!(
        tcp.iter().all(|r| field(r, "flowEndReason") == 3),
        "{tcp:?}"
    );
}

#[test]
fn known_traffic_is_metered_exactly_in_native_mode() {
    known_traffic("mlkn", 61, "native");
}

#[test]
fn known_traffic_is_metered_exactly_in_generic_mode() {
    known_traffic("mlkg", 62, "generic");
}

#[test]
fn two_queues_two_workers_and_the_prefilter() {
    let (_lab, c, _s, m) = mirror_lab("mlq", 63, 2);
    let ipfix = std::env::temp_dir().join(format!("meter-live-{}.ipfix", std::process::id()));
    let meter = start_meter(
        &m,
        "m1",
        &[
            "--ipfix-file",
            ipfix.to_str().unwrap(),
            "--xdp-mode",
            "native",
            "--queues",
            "0,1",
            "--filter",
            "exclude - - - 9555 udp",
        ],
    );
    let (cli, srv) = ("10.63.0.1", "10.63.0.2");
    for sport in 5000..5032u32 {
        run_traffic(
            &c,
            &["udp", cli, srv, &sport.to_string(), "9001", "10", "60"],
        );
    }
    for sport in 6000..6005u32 {
        run_traffic(
            &c,
            &["udp", cli, srv, &sport.to_string(), "9555", "10", "60"],
        );
    }
    // The metrics endpoint, scraped over the meter namespace's loopback while it runs,
    // shows the traffic once the workers have published it ...
    let scraped = scrape_until(&m, "127.0.0.1:9464", |t| {
        metric_sum(t, "meter_xdp_filtered_packets_total") == 50
            && metric_sum(t, "meter_protocol_packets_total") >= 320
    });
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write;
            p.stdin
                .take()
                .expect("stdin")
                .write_all(scraped.as_bytes())?;
            p.wait_with_output()
        })
        .expect("promtool");
    assert!(promtool.status.success(), "promtool: {promtool:?}");
    let run = stop_meter(meter);
    assert_capture_adds_up(&run);
    // ... and agrees with the summary printed at exit.
    let s = &run.summary;
    assert!(metric_sum(&scraped, "meter_rx_packets_total") <= field(s, "packets"));
    assert!(
        metric_sum(&scraped, "meter_protocol_packets_total") <= field(s, "packets"),
        "metered packets"
    );
    assert_eq!(
        metric_sum(&scraped, "meter_xdp_filtered_packets_total"),
        50,
        "pre-filter"
    );
    let queues = run.summary["capture"]["queues"].as_array().unwrap().clone();
    assert_eq!(queues.len(), 2);
    assert_eq!(field(&run.summary, "workers"), 2);
    for q in &queues {
        assert!(
            field(q, "read") > 0,
            "queue {} got nothing: {queues:?}",
            q["queue"]
        );
    }
    let filtered: u64 = queues.iter().map(|q| field(q, "xdp_filtered")).sum();
    assert_eq!(filtered, 50, "{queues:?}");
    for sport in 5000..5032u64 {
        assert_eq!(
            sum(&run.records, |r| is_flow(r, cli, srv, sport, 9001)),
            (10, 10 * 88),
            "flow from port {sport}"
        );
    }
    assert!(
        !run.records
            .iter()
            .any(|r| field(r, "destinationTransportPort") == 9555),
        "filtered traffic reached the records"
    );
    // The same counters reach collectors in the capture statistics options record.
    let bytes = std::fs::read(&ipfix).expect("IPFIX file");
    let _ = std::fs::remove_file(&ipfix);
    let rec = capture_stats_record(&bytes);
    let read: u64 = queues.iter().map(|q| field(q, "read")).sum();
    let redirected: u64 = queues.iter().map(|q| field(q, "xdp_redirected")).sum();
    assert_eq!(rec[1], redirected, "captureXdpRedirectedTotalCount");
    assert_eq!(rec[3], 50, "capturePrefilterDroppedTotalCount");
    assert_eq!(rec[1], read + rec[5] + rec[6] + rec[7]);
}

/// The nine counters of the one data record of options template 404 (scope
/// observationDomainId, then nine unsigned64 counters), found by walking the RFC 7011
/// message and set headers of an IPFIX file.
fn capture_stats_record(file: &[u8]) -> Vec<u64> {
    let be16 = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]) as usize;
    let mut found = Vec::new();
    let mut m = 0;
    while m + 16 <= file.len() {
        assert_eq!(be16(file, m), 10, "IPFIX version");
        let msg_len = be16(file, m + 2);
        let mut set = m + 16;
        while set + 4 <= m + msg_len {
            let (id, len) = (be16(file, set), be16(file, set + 2));
            if id == 404 {
                let rec = &file[set + 4..set + 4 + 4 + 9 * 8];
                found.push(
                    (0..9)
                        .map(|i| u64::from_be_bytes(rec[4 + i * 8..12 + i * 8].try_into().unwrap()))
                        .collect::<Vec<u64>>(),
                );
            }
            set += len.max(4);
        }
        m += msg_len.max(16);
    }
    assert_eq!(found.len(), 1, "one capture statistics record");
    found.remove(0)
}

/// The kernel's own MPTCP token of a connection, as traffic.py printed it.
fn token_of(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("token=")))
        .map(|t| u64::from_str_radix(t, 16).expect("hex token"))
        .unwrap_or_else(|| panic!("no token in {lines:?}"))
}

#[test]
fn mptcp_subflows_carry_tokens_that_link_them_to_their_connection() {
    let mut lab = Lab::new("mlm");
    let (c, s, m) = (lab.ns("c"), lab.ns("s"), lab.ns("m"));
    lab.veth(&c, "c0", &s, "s0", 1);
    lab.veth(&c, "c1", &s, "s1", 1);
    lab.veth(&s, "m0", &m, "m1", 1);
    lab.addr(&c, "c0", "10.64.1.1/24");
    lab.addr(&s, "s0", "10.64.1.2/24");
    lab.addr(&c, "c1", "10.64.2.1/24");
    lab.addr(&s, "s1", "10.64.2.2/24");
    lab.mirror(&s, "s0", "m0");
    lab.mirror(&s, "s1", "m0");
    for ns in [&c, &s] {
        must(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "net.mptcp.enabled=1",
        ]);
        must(&[
            "ip",
            "-n",
            ns,
            "mptcp",
            "limits",
            "set",
            "subflows",
            "2",
            "add_addr_accepted",
            "2",
        ]);
    }
    // The server announces its second address; the client's kernel joins a subflow to it.
    must(&[
        "ip",
        "-n",
        &s,
        "mptcp",
        "endpoint",
        "add",
        "10.64.2.2",
        "dev",
        "s1",
        "signal",
    ]);

    let meter = start_meter(&m, "m1", &["--xdp-mode", "native"]);
    // Listening on every address: the join arrives at the announced one.
    let mut server = Proc::spawn(traffic(&s, &["tcp-server", "0.0.0.0", "8443", "mptcp"]));
    server.wait_line(false, "ready");
    let client = run_traffic(
        &c,
        &[
            "tcp-client",
            "10.64.1.1",
            "10.64.1.2",
            "8443",
            "400000",
            "mptcp",
        ],
    );
    let (st, server_out, _) = server.finish();
    assert!(st.success(), "{server_out:?}");
    let run = stop_meter(meter);
    assert_capture_adds_up(&run);

    let client_token = token_of(std::slice::from_ref(&client));
    let server_token = token_of(&server_out);
    assert!(
        client.contains("subflows=1"),
        "the join never happened: {client}"
    );
    let r = &run.records;
    let dir = |src: &str, dst: &str| -> Vec<&Value> {
        r.iter()
            .filter(|x| {
                text(x, "sourceIPv4Address") == src && text(x, "destinationIPv4Address") == dst
            })
            .filter(|x| field(x, "protocolIdentifier") == 6)
            .collect()
    };
    let initial_up = dir("10.64.1.1", "10.64.1.2");
    let initial_down = dir("10.64.1.2", "10.64.1.1");
    let join_up = dir("10.64.2.1", "10.64.2.2");
    assert!(
        !initial_up.is_empty() && !initial_down.is_empty() && !join_up.is_empty(),
        "{r:?}"
    );
    // MP_CAPABLE keys → each endpoint's token, as the kernels themselves report them.
    assert!(
        initial_up
            .iter()
            .any(|x| field(x, "mptcpSenderToken") == client_token),
        "client token {client_token:#x}: {initial_up:?}"
    );
    assert!(
        initial_down
            .iter()
            .any(|x| field(x, "mptcpSenderToken") == server_token),
        "server token {server_token:#x}: {initial_down:?}"
    );
    // MP_JOIN names the connection by the server's token: the link a collector follows.
    assert!(
        join_up
            .iter()
            .any(|x| field(x, "mptcpReceiverToken") == server_token),
        "join subflow without the connection's token {server_token:#x}: {join_up:?}"
    );
    // Every packet of both subflows is in a record.
    let (p, _) = sum(r, |x| field(x, "protocolIdentifier") == 6);
    assert!(p > 0);
}

fn meter_cmd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meter"))
        .args(args)
        .output()
        .expect("meter")
}

fn one_line_error(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_missing_interface_is_a_one_line_error() {
    let err = one_line_error(&meter_cmd(&["--interface", "nosuch9"]));
    assert!(err.contains("interface nosuch9 does not exist"), "{err}");
}

#[test]
fn an_unprivileged_run_names_the_capabilities_it_needs() {
    // Root's uid, but no capabilities at all (bounding and inheritable sets cleared).
    let o = Command::new("setpriv")
        .args(["--bounding-set", "-all", "--inh-caps", "-all", "--"])
        .arg(env!("CARGO_BIN_EXE_meter"))
        .args(["--interface", "lo"])
        .output()
        .expect("setpriv");
    let err = one_line_error(&o);
    for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK"] {
        assert!(err.contains(cap), "{err}");
    }
}

#[test]
fn a_queue_the_interface_lacks_is_a_one_line_error() {
    let err = one_line_error(&meter_cmd(&["--interface", "lo", "--queues", "0,7"]));
    assert!(err.contains("queue 7 does not exist on lo"), "{err}");
}

#[test]
fn frames_longer_than_a_buffer_are_counted_as_dropped_by_the_socket() {
    // Jumbo frames on the link; the meter's 2048-byte buffers cannot hold them. Generic
    // mode: native XDP on veth refuses an MTU this large.
    let (lab, c, s, m) = mirror_lab("mlj", 65, 1);
    for (ns, dev) in [(&c, "c0"), (&s, "s0"), (&s, "m0"), (&m, "m1")] {
        must(&["ip", "-n", ns, "link", "set", dev, "mtu", "9000"]);
    }
    let meter = start_meter(&m, "m1", &["--xdp-mode", "generic", "--frame-size", "2048"]);
    let mut sink = Proc::spawn(traffic(&s, &["udp-sink", "10.65.0.2", "9001", "7"]));
    sink.wait_line(false, "ready");
    run_traffic(
        &c,
        &["udp", "10.65.0.1", "10.65.0.2", "4001", "9001", "5", "100"],
    );
    run_traffic(
        &c,
        &["udp", "10.65.0.1", "10.65.0.2", "4001", "9001", "2", "5000"],
    );
    sink.wait_line(false, "done");
    scrape_until(&m, "127.0.0.1:9464", |t| {
        metric_sum(t, "meter_xsk_rx_dropped_packets_total") >= 2
            && metric_sum(t, "meter_protocol_packets_total") >= 5
    });
    let run = stop_meter(meter);
    drop(lab);
    assert_capture_adds_up_with_losses(&run, 2);
    assert_eq!(
        sum(&run.records, |r| is_flow(
            r,
            "10.65.0.1",
            "10.65.0.2",
            4001,
            9001
        )),
        (5, 5 * 128),
        "the small datagrams are metered, the jumbo ones are counted as lost"
    );
}

/// As [`assert_capture_adds_up`], but with exactly `lost` frames dropped by the sockets.
fn assert_capture_adds_up_with_losses(run: &LiveRun, lost: u64) {
    let s = &run.summary;
    assert_eq!(s["conservation_ok"], true, "{:?}", run.stderr);
    let cap = &s["capture"];
    assert_eq!(cap["ok"], true, "{cap}");
    let q = cap["queues"].as_array().expect("queues");
    let dropped: u64 = q.iter().map(|q| field(q, "rx_dropped")).sum();
    assert_eq!(dropped, lost, "{cap}");
}

#[test]
fn idle_flows_are_exported_on_time_without_further_traffic() {
    let (_lab, c, _s, m) = mirror_lab("mli", 66, 1);
    let meter = start_meter(&m, "m1", &["--idle-timeout", "1"]);
    run_traffic(
        &c,
        &["udp", "10.66.0.1", "10.66.0.2", "4001", "9001", "3", "10"],
    );
    // Nothing else is sent: only the workers' idle ticks can expire the flow.
    let t = scrape_until(&m, "127.0.0.1:9464", |t| {
        t.lines().any(|l| {
            l.starts_with("meter_flows_expired_total{reason=\"idle\"}") && !l.ends_with(" 0")
        })
    });
    assert!(metric_sum(&t, "meter_flows_expired_total") >= 1);
    // And exported while the meter runs, not only by the flush when it stops: the record
    // reaches stdout (flushed every second) before the meter is told to stop.
    let mut meter = meter;
    meter.wait_line(false, "\"sourceTransportPort\":4001");
    // SIGINT ends a run as SIGTERM does.
    let (status, out, _) = meter.stop("INT");
    assert!(status.success());
    let idle = out
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| is_flow(r, "10.66.0.1", "10.66.0.2", 4001, 9001))
        .map(|r| field(&r, "flowEndReason"))
        .collect::<Vec<_>>();
    assert_eq!(idle, vec![1], "one record, ended by the idle timeout");
}

#[test]
fn a_killed_meter_leaves_no_xdp_program_behind() {
    let (_lab, _c, _s, m) = mirror_lab("mlk9", 67, 1);
    let meter = start_meter(&m, "m1", &[]);
    let attached = sh(&["ip", "-n", &m, "link", "show", "m1"]);
    assert!(
        String::from_utf8_lossy(&attached.stdout).contains("xdp"),
        "{attached:?}"
    );
    let (status, _, _) = meter.stop("KILL");
    assert!(!status.success());
    // The BPF link died with the process; the kernel detached the program.
    let after = sh(&["ip", "-n", &m, "link", "show", "m1"]);
    assert!(
        !String::from_utf8_lossy(&after.stdout).contains("xdp"),
        "{after:?}"
    );
}

#[test]
fn an_interface_without_native_xdp_is_a_one_line_error_in_native_mode() {
    let mut lab = Lab::new("mlx");
    let ns = lab.ns("n");
    let o = Command::new("ip")
        .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_meter")])
        .args(["--interface", "lo", "--xdp-mode", "native"])
        .output()
        .expect("meter");
    let err = one_line_error(&o);
    assert!(err.contains("does not support native XDP"), "{err}");
}

#[test]
fn a_low_locked_memory_limit_without_cap_ipc_lock_is_a_one_line_error() {
    let mut lab = Lab::new("mll");
    let ns = lab.ns("n");
    let o = Command::new("ip")
        .args(["netns", "exec", &ns, "prlimit", "--memlock=4194304:4194304"])
        .args(["setpriv", "--bounding-set", "-ipc_lock", "--"])
        .arg(env!("CARGO_BIN_EXE_meter"))
        .args(["--interface", "lo"])
        .output()
        .expect("meter");
    let err = one_line_error(&o);
    assert!(
        err.contains("locked-memory limit (RLIMIT_MEMLOCK) is 4096 KiB"),
        "{err}"
    );
    assert!(err.contains("CAP_IPC_LOCK"), "{err}");
}
