//! tcpdump's MPTCP captures through the `meter` command: the exported records carry the
//! tokens, address IDs, ADD_ADDR addresses and MP_TCPRST reasons that tcpdump decoded in
//! the matching `.out` files. Expected tokens are derived here from the keys tcpdump
//! printed (SHA-256 for v1, SHA-1 for v0), independently of the meter's own code; and no
//! exported value may contain a key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha1::Digest;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/tcpdump")
        .join(name)
}

/// (src ip, src port, dst ip, dst port) of a uniflow.
type Dir = (String, u16, String, u16);

fn token(version: u8, key: u64) -> u32 {
    let h: Vec<u8> = if version == 1 {
        sha2::Sha256::digest(key.to_be_bytes()).to_vec()
    } else {
        sha1::Sha1::digest(key.to_be_bytes()).to_vec()
    };
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// Split "10.0.1.1.33306" into ("10.0.1.1", 33306).
fn endpoint(s: &str) -> (String, u16) {
    let (ip, port) = s.rsplit_once('.').expect("endpoint");
    (
        ip.to_string(),
        port.trim_end_matches(':').parse().expect("port"),
    )
}

#[derive(Default, Debug)]
struct Expect {
    sender_token: Option<u32>,
    receiver_token: Option<u32>,
    address_id: Option<u8>,
    first_add_addr: Option<String>,
    echo_seen: bool,
    fastclose_seen: bool,
    /// (reason, transient) of each MP_TCPRST.
    rst: Vec<(u8, bool)>,
}

struct OutFile {
    expect: HashMap<Dir, Expect>,
    keys: Vec<u64>,
}

/// Read what tcpdump decoded.
fn parse_out(path: &Path) -> OutFile {
    let text = std::fs::read_to_string(path).expect("read .out");
    let mut expect: HashMap<Dir, Expect> = HashMap::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let Some(ip_at) = line.find(" IP ") else {
            continue;
        };
        let rest = &line[ip_at + 4..];
        let Some((src, rest)) = rest.split_once(" > ") else {
            continue;
        };
        let Some((dst, rest)) = rest.split_once(": ") else {
            continue;
        };
        let (sip, sport) = endpoint(src);
        let (dip, dport) = endpoint(dst);
        let fwd: Dir = (sip.clone(), sport, dip.clone(), dport);
        let rev: Dir = (dip, dport, sip, sport);
        for opt in rest.split("mptcp ").skip(1) {
            let words: Vec<&str> = opt.split_whitespace().collect();
            let kind = words.get(1).copied().unwrap_or("");
            match kind {
                "capable" => {
                    let version = if words.get(2) == Some(&"v1") { 1 } else { 0 };
                    let inner = opt
                        .split_once('{')
                        .and_then(|(_, r)| r.split_once('}'))
                        .map(|(k, _)| k)
                        .unwrap_or("");
                    let ks: Vec<u64> = inner
                        .split(',')
                        .filter_map(|k| k.strip_prefix("0x"))
                        .map(|k| u64::from_str_radix(k, 16).expect("key"))
                        .collect();
                    keys.extend(&ks);
                    if let Some(&k) = ks.first() {
                        expect.entry(fwd.clone()).or_default().sender_token =
                            Some(token(version, k));
                        expect.entry(rev.clone()).or_default().receiver_token =
                            Some(token(version, k));
                    }
                    if let Some(&k) = ks.get(1) {
                        expect.entry(rev.clone()).or_default().sender_token =
                            Some(token(version, k));
                        expect.entry(fwd.clone()).or_default().receiver_token =
                            Some(token(version, k));
                    }
                }
                "join" => {
                    // "join id N token 0xT nonce ..." (SYN) or "join id N hmac ..." (SYN-ACK).
                    if words.get(2) == Some(&"id") {
                        let id: u8 = words[3].parse().expect("address id");
                        expect.entry(fwd.clone()).or_default().address_id = Some(id);
                    }
                    if words.get(4) == Some(&"token") {
                        let t = u32::from_str_radix(
                            words[5].trim_start_matches("0x").trim_end_matches(','),
                            16,
                        )
                        .expect("token");
                        expect.entry(rev.clone()).or_default().sender_token = Some(t);
                        expect.entry(fwd.clone()).or_default().receiver_token = Some(t);
                    }
                }
                "add-addr" => {
                    let echo = words.get(2).is_some_and(|v| v.ends_with("-echo"));
                    let addr = words[5].trim_end_matches([',', ']']).to_string();
                    let e = expect.entry(fwd.clone()).or_default();
                    if echo {
                        e.echo_seen = true;
                    } else if e.first_add_addr.is_none() {
                        e.first_add_addr = Some(addr);
                    }
                }
                "fast-close" => {
                    let k = words[3]
                        .trim_start_matches("0x")
                        .trim_end_matches([',', ']']);
                    keys.push(u64::from_str_radix(k, 16).expect("fast-close key"));
                    expect.entry(fwd.clone()).or_default().fastclose_seen = true;
                }
                "tcprst" => {
                    let transient = opt.contains("flags [T");
                    let reason = if opt.contains("reason Unspecified error") {
                        0
                    } else if opt.contains("reason MPTCP-specific error") {
                        1
                    } else {
                        panic!("unknown tcprst reason in {line}")
                    };
                    expect
                        .entry(fwd.clone())
                        .or_default()
                        .rst
                        .push((reason, transient));
                }
                _ => {}
            }
        }
    }
    OutFile { expect, keys }
}

/// Run the meter with JSON output and group records by uniflow.
fn meter_json(capture: &Path) -> (HashMap<Dir, Vec<Value>>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_meter"))
        .args(["--pcap"])
        .arg(capture)
        .args(["--json", "--summary", "none"])
        .output()
        .expect("run meter");
    assert!(
        out.status.success(),
        "meter failed on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut by_dir: HashMap<Dir, Vec<Value>> = HashMap::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("one JSON object per line");
        let ip = |k: &str| v[k].as_str().map(str::to_string);
        let (Some(s), Some(d)) = (
            ip("sourceIPv4Address").or_else(|| ip("sourceIPv6Address")),
            ip("destinationIPv4Address").or_else(|| ip("destinationIPv6Address")),
        ) else {
            panic!("record without addresses: {line}");
        };
        let sp = v["sourceTransportPort"].as_u64().expect("sport") as u16;
        let dp = v["destinationTransportPort"].as_u64().expect("dport") as u16;
        by_dir.entry((s, sp, d, dp)).or_default().push(v);
        lines.push(line.to_string());
    }
    (by_dir, lines)
}

fn field(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn check_capture(name: &str) -> usize {
    let out = parse_out(&corpus(&format!("{name}.out")));
    let (records, lines) = meter_json(&corpus(&format!("{name}.pcap")));
    let mut checked = 0;
    for (dir, e) in &out.expect {
        let recs = records
            .get(dir)
            .unwrap_or_else(|| panic!("{name}: no record for {dir:?}"));
        let any = |f: &dyn Fn(&Value) -> bool| recs.iter().any(f);
        if let Some(t) = e.sender_token {
            assert!(
                any(&|r| field(r, "mptcpSenderToken") == u64::from(t)),
                "{name} {dir:?}: sender token {t:#010x} not exported: {recs:?}"
            );
            checked += 1;
        }
        if let Some(t) = e.receiver_token {
            assert!(
                any(&|r| field(r, "mptcpReceiverToken") == u64::from(t)),
                "{name} {dir:?}: receiver token {t:#010x} not exported"
            );
            checked += 1;
        }
        if let Some(id) = e.address_id {
            assert!(
                any(&|r| field(r, "mptcpAddressId") == u64::from(id)),
                "{name} {dir:?}: address id {id} not exported"
            );
            checked += 1;
        }
        if let Some(a) = &e.first_add_addr {
            assert!(
                any(&|r| r["mptcpFirstAdvertisedIPv4Address"].as_str() == Some(a.as_str())),
                "{name} {dir:?}: ADD_ADDR {a} not exported"
            );
            checked += 1;
        }
        if e.echo_seen {
            assert!(
                any(&|r| field(r, "mptcpFlags") & 0x0400 != 0),
                "{name}: echo flag"
            );
            checked += 1;
        }
        if e.fastclose_seen {
            assert!(
                any(&|r| field(r, "mptcpFlags") & 0x0020 != 0),
                "{name}: fastclose"
            );
            checked += 1;
        }
        if !e.rst.is_empty() {
            let mut got: Vec<(u8, bool)> = recs
                .iter()
                .filter(|r| field(r, "mptcpFlags") & 0x0040 != 0)
                .map(|r| {
                    (
                        field(r, "mptcpRstReason") as u8,
                        field(r, "mptcpFlags") & 0x0080 != 0,
                    )
                })
                .collect();
            let mut want = e.rst.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name} {dir:?}: MP_TCPRST");
            checked += 1;
        }
    }
    // Keys authenticate MP_JOIN and MP_FASTCLOSE: they must never leave the meter.
    for k in &out.keys {
        let dec = k.to_string();
        let hex = format!("{k:016x}");
        for l in &lines {
            assert!(
                !l.contains(&dec) && !l.contains(&hex),
                "{name}: key {hex} exported: {l}"
            );
        }
    }
    checked
}

#[test]
fn mptcp_v1_tokens() {
    assert!(check_capture("mptcp-v1") >= 4);
}

#[test]
fn mptcp_v0_tokens_joins_and_add_addr() {
    assert!(check_capture("mptcp-v0") >= 8);
}

#[test]
fn mptcp_add_addr_v1_and_echo() {
    assert!(check_capture("mptcp-aa-v1") >= 5);
    assert!(check_capture("mptcp-aa-echo") >= 2);
}

#[test]
fn mptcp_fastclose_and_tcprst() {
    assert!(check_capture("mptcp-fclose") >= 5);
    assert!(check_capture("mptcp-tcprst") >= 1);
}

#[test]
fn malformed_dss_is_metered_without_failure() {
    let (records, _) = meter_json(&corpus("mptcp-dss-oobr.pcap"));
    assert!(!records.is_empty());
}
