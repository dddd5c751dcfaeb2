//! Operator mistakes give one clear line on stderr and a non-zero exit, never a panic.

use std::process::{Command, Output};

fn meter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meter"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run meter")
}

fn stderr_line(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!e.contains("panicked"), "panic: {e}");
    assert!(!e.contains("stack backtrace"), "backtrace: {e}");
    let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {e}");
    lines[0].to_string()
}

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("meter-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_capture_file() {
    let o = meter(&["--pcap", "/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    let l = stderr_line(&o);
    assert!(
        l.contains("/nonexistent/capture.pcap") && l.contains("No such file"),
        "{l}"
    );
}

#[test]
fn corrupt_capture_file() {
    let p = tmp("garbage.pcap", b"GARBAGE GARBAGE GARBAGE GARBAGE");
    let o = meter(&["--pcap", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let l = stderr_line(&o);
    assert!(l.contains("not a pcap or pcapng file"), "{l}");
}

#[test]
fn bad_collector_urls() {
    let p = tmp("empty-but-valid.pcap", &{
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v
    });
    for url in [
        "udp://127.0.0.1",
        "http://127.0.0.1:4739",
        "udp://:4739",
        "tcp://127.0.0.1:99999",
    ] {
        let o = meter(&["--pcap", p.to_str().unwrap(), "--ipfix", url]);
        assert_ne!(o.status.code(), Some(0), "{url} accepted");
        let l = stderr_line(&o);
        assert!(l.contains(url), "{url}: {l}");
    }
}

#[test]
fn unknown_option_and_bad_values() {
    for args in [
        vec!["--pcap", "x.pcap", "--frobnicate"],
        vec!["--pcap", "x.pcap", "--workers", "zero"],
        vec!["--pcap", "x.pcap", "--idle-timeout", "-5"],
        vec![],
    ] {
        let o = meter(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let l = stderr_line(&o);
        assert!(
            l.starts_with("meter: ") && l.ends_with("(see meter --help)"),
            "{l}"
        );
    }
}

#[test]
fn a_capture_with_no_packets_is_not_an_error() {
    let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    let p = tmp("header-only.pcap", &v);
    let o = meter(&["--pcap", p.to_str().unwrap(), "--summary", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("\"packets\":0") && e.contains("\"conservation_ok\":true"),
        "{e}"
    );
}
