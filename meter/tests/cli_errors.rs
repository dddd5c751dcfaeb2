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
        assert_eq!(o.status.code(), Some(2), "{url}: a usage mistake");
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

fn example_config() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../systemd/meter.toml").to_string()
}

#[test]
fn the_shipped_example_config_checks_out() {
    let o = meter(&["check-config", &example_config()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().next().unwrap().ends_with(": ok"), "{out}");
    // Every option appears with its value and origin.
    for key in [
        "idle-timeout = 300",
        "xdp-mode = auto",
        "metrics = 127.0.0.1:9464",
        "json = false",
    ] {
        assert!(out.contains(key), "{key} missing from:\n{out}");
    }
    assert!(out.contains("# from"), "{out}");
    assert!(out.contains("# default"), "{out}");
}

#[test]
fn config_mistakes_name_file_line_and_key() {
    let bad_value = tmp("bad-value.toml", b"# meter\nipfix = []\nidle-timeout = 0\n");
    let unknown = tmp("unknown.toml", b"idle-timout = 30\n");
    let syntax = tmp("syntax.toml", b"active-timeout = = 3\n");
    let bad_rule = tmp("bad-rule.toml", b"filter = [\"exclude - - - 99999 udp\"]\n");
    for (file, needle) in [
        (&bad_value, "line 3, key idle-timeout: invalid value '0'"),
        (&unknown, "line 1, key idle-timout: unknown key"),
        (&syntax, "line 1:"),
        (&bad_rule, "99999"),
    ] {
        for args in [
            vec!["check-config", file.to_str().unwrap()],
            vec!["--config", file.to_str().unwrap(), "--pcap", "x.pcap"],
        ] {
            let o = meter(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
            let l = stderr_line(&o);
            assert!(
                l.contains(file.to_str().unwrap()) || needle == "99999",
                "{l}"
            );
            assert!(l.contains(needle), "{args:?}: {l}");
        }
    }
}

#[test]
fn command_line_options_override_the_config_file() {
    // The file's bad value is never used when the command line sets the option.
    let f = tmp("override.toml", b"idle-timeout = 0\nsummary = \"json\"\n");
    let pcap = tmp("override-empty.pcap", &{
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v
    });
    let o = meter(&[
        "--config",
        f.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--idle-timeout",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // summary = "json" came from the file.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with('{') && l.contains("\"packets\":0")),
        "{err}"
    );
}

#[test]
fn nothing_to_meter_is_a_usage_error() {
    let o = meter(&[]);
    assert_eq!(o.status.code(), Some(2));
    let l = stderr_line(&o);
    assert!(l.contains("give --pcap FILE or --interface IFACE"), "{l}");
}
