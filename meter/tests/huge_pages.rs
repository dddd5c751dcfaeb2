//! The meter re-executes itself so that its tables get transparent huge pages without the
//! operator setting `GLIBC_TUNABLES`, and leaves an operator's own setting alone.

use std::process::Command;

fn empty_capture() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("meter-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("empty.pcap");
    let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    std::fs::write(&p, v).unwrap();
    p
}

/// The `huge_pages` the summary reports, with `GLIBC_TUNABLES` unset or set to `value`.
fn reported(tunables: Option<&str>) -> String {
    let p = empty_capture();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meter"));
    cmd.args(["--pcap", p.to_str().unwrap(), "--summary", "json"]);
    match tunables {
        Some(v) => cmd.env("GLIBC_TUNABLES", v),
        None => cmd.env_remove("GLIBC_TUNABLES"),
    };
    let o = cmd.output().expect("run meter");
    // The re-executed process got every argument and its exit status is the command's.
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().last().expect("a summary line");
    let s: serde_json::Value = serde_json::from_str(line).expect(line);
    assert_eq!(s["conservation_ok"], true, "{line}");
    s["huge_pages"].as_str().expect(line).to_string()
}

#[test]
fn the_re_executed_process_is_still_called_meter() {
    let p = empty_capture();
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meter"))
        .args(["--pcap", p.to_str().unwrap(), "--summary", "json"])
        .env_remove("GLIBC_TUNABLES")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run meter");
    // The end of its stderr is the end of the run, so every exec is behind it; not yet
    // waited for, the process stays in /proc with the name the kernel gave it (what ps,
    // pgrep and the journal show), which is that of the file last executed.
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id()));
    let status = child.wait().expect("wait");
    assert!(status.success(), "{err}");
    assert!(err.contains("\"huge_pages\""), "{err}");
    assert_eq!(comm.expect("comm").trim(), "meter");
}

#[test]
fn huge_pages_by_default_and_as_the_operator_says_otherwise() {
    let mode = meter::huge_pages::thp_mode();
    let pool = meter::huge_pages::pool_free_pages();
    let always = mode.as_deref() == Some("always");
    let by_default = if pool > 0 {
        "reserved"
    } else if always || mode.as_deref() == Some("madvise") {
        "transparent"
    } else {
        "none"
    };
    let context = format!("THP mode {mode:?}, {pool} free reserved pages");
    // Unset: the meter asks for the best the machine has.
    assert_eq!(reported(None), by_default, "{context}");
    // Set by the operator, even to nothing: left as it is.
    let untouched = if always { "transparent" } else { "none" };
    assert_eq!(reported(Some("")), untouched, "{context}");
    assert_eq!(
        reported(Some("glibc.malloc.hugetlb=0")),
        untouched,
        "{context}"
    );
    assert_eq!(
        reported(Some("glibc.malloc.hugetlb=2")),
        "reserved",
        "{context}"
    );
}
