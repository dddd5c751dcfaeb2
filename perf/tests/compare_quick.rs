//! `perf compare --quick` end to end: every output exists and is well-formed, every
//! measured run had its totals checked against the generator's truth, and our meter lost
//! nothing offline. No speed is asserted.
//!
//! Needs the meter binary beside perf's (as `cargo test --workspace --release` builds it),
//! or its path in METER_BIN.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn meter_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("METER_BIN") {
        return PathBuf::from(p);
    }
    let perf = PathBuf::from(env!("CARGO_BIN_EXE_perf"));
    let m = perf.with_file_name("meter");
    assert!(
        m.is_file(),
        "meter binary not found at {}: build it (cargo build --release -p meter) or set METER_BIN",
        m.display()
    );
    m
}

#[test]
fn quick_compare_writes_checked_results() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("perf-compare-quick");
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new(env!("CARGO_BIN_EXE_perf"))
        .args(["compare", "--quick", "--out"])
        .arg(&out)
        .arg("--meter")
        .arg(meter_bin())
        .status()
        .expect("run perf compare");
    assert!(st.success(), "perf compare --quick failed");

    // Every output exists and is well-formed.
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(doc["mode"], "quick");
    let runs = doc["runs"].as_array().expect("runs array");
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.contains("## Metering limit") && md.contains("## Offline") && md.contains("## Live")
    );
    for svg in ["throughput.svg", "loss.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }

    // The limit grid: every cell measured, conserving every packet, at 1 M flows too.
    let limit: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "limit").collect();
    assert_eq!(limit.len(), 4, "{limit:?}");
    for r in &limit {
        assert_eq!(r["conservation_ok"], true, "{r}");
        assert_eq!(r["metered_packets"], r["truth_packets"], "{r}");
        assert!(r["pps"].as_f64().unwrap() > 0.0);
        assert!(r["cpu_secs"].as_f64().unwrap() > 0.0);
        assert!(r["peak_memory_kib"].as_u64().unwrap() > 0);
    }
    assert!(
        limit
            .iter()
            .any(|r| r["active_flows"] == 1_000_000 && r["new_flows_per_sec"] == 100_000)
    );

    // Offline: our meter lost nothing, by its own accounting and by nfdump's.
    let truth = doc["offline_capture"]["truth"]["packets"].as_u64().unwrap();
    assert!(truth > 0);
    let ours: Vec<&Value> = runs
        .iter()
        .filter(|r| r["kind"] == "offline" && r["meter"] == "meter")
        .collect();
    assert!(ours.iter().any(|r| r["workers"] == 2));
    assert!(ours.iter().any(|r| r["run"] == "collector-check"));
    for r in &ours {
        assert_eq!(r["totals_checked"], true, "{r}");
        assert_eq!(r["counted_packets"].as_u64(), Some(truth), "{r}");
        assert_eq!(r["loss"].as_f64(), Some(0.0), "{r}");
        assert_eq!(r["conservation_ok"], true, "{r}");
    }

    // Every measured row, ours or a peer's, offline or live, was checked against a count
    // that is not its own claim of speed; rows not measured say why.
    for r in runs {
        if r["pps"].is_number() {
            assert_eq!(r["totals_checked"], true, "{r}");
            assert!(r["loss"].is_number(), "{r}");
            assert!(r["counted_packets"].is_u64() || r["kind"] == "limit", "{r}");
        } else {
            assert!(r["status"].is_string() && r["reason"].is_string(), "{r}");
        }
    }
    // fprobe has no capture-file input: reported as not run offline, never as a number.
    if let Some(f) = runs
        .iter()
        .find(|r| r["kind"] == "offline" && r["meter"] == "fprobe")
    {
        assert_eq!(f["status"], "not run");
    }
}
