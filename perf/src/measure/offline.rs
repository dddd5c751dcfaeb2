//! Offline: a capture file through the whole `meter` binary (1 and N workers), and through
//! every peer that reads capture files.
//!
//! Our meter: `meter --pcap F --ipfix-file /dev/null --summary json --workers N`; its JSON
//! summary (stderr) gives frames, drops, exported packets and conservation, checked
//! against the generator's truth. Once per capture it also exports over UDP to a real
//! nfcapd, whose nfdump totals are checked against the truth like a peer's.
//!
//! Peers: each run gets a fresh nfcapd (or argus's own file); the packets the collector
//! accounts for are compared with the truth: a peer that loses packets shows loss, and its
//! rate is the truth's packets over its time. A peer's fixed start-up cost (pmacctd sleeps
//! 2 s before reading a file) is measured once on a one-packet capture and subtracted
//! (`net_secs`); `wall_secs` is kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::peers::{self, Peer, Totals};
use super::sys::{self, RunStats};
use crate::collector::{Nfcapd, TempDir};
use crate::r#gen::traffic::TrafficTruth;

const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Our meter's offline runs.
pub struct OfflineSpec<'a> {
    pub meter: &'a Path,
    pub pcap: &'a Path,
    pub truth: &'a TrafficTruth,
    pub max_flows: u64,
    pub workers: &'a [usize],
    pub runs: usize,
    pub out: &'a Path,
}

fn meter_summary(stderr: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("meter printed no JSON summary: {}", text.trim()))?;
    serde_json::from_str(line).map_err(|e| format!("meter summary is not JSON ({e}): {line}"))
}

fn rates(packets: u64, wire_octets: u64, secs: f64) -> (f64, f64) {
    let s = secs.max(1e-9);
    (packets as f64 / s, wire_octets as f64 * 8.0 / s)
}

fn base(kind: &str, name: &str, truth: &TrafficTruth, r: &RunStats, secs: f64) -> Value {
    let (pps, bps) = rates(truth.packets, truth.wire_octets, secs);
    json!({
        "kind": kind,
        "meter": name,
        "truth_packets": truth.packets,
        "wall_secs": r.wall_secs,
        "net_secs": secs,
        "pps": pps,
        "bits_per_sec": bps,
        "cpu_secs": r.cpu_secs,
        "cpu_percent": 100.0 * r.cpu_secs / secs.max(1e-9),
        "peak_memory_kib": r.peak_memory_kib,
        "exit_ok": r.status.is_some_and(|s| s.success()),
        "timed_out": r.timed_out,
    })
}

/// Loss from a count checked against the truth (negative = counted more than sent).
fn loss_of(truth: u64, counted: u64) -> f64 {
    if truth == 0 {
        0.0
    } else {
        (truth as f64 - counted as f64) / truth as f64
    }
}

/// Run our meter `runs` times per worker count, plus one run exporting to nfcapd.
pub fn run_meter(spec: &OfflineSpec<'_>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for &w in spec.workers {
        for run in 0..spec.runs {
            let mut cmd = Command::new(spec.meter);
            cmd.arg("--pcap")
                .arg(spec.pcap)
                .args(["--ipfix-file", "/dev/null", "--summary", "json"])
                .arg("--workers")
                .arg(w.to_string())
                .arg("--max-flows")
                .arg(spec.max_flows.to_string());
            let e = spec.out.join(format!("meter-w{w}-r{run}.stderr"));
            let r = sys::run_sampled(cmd, &spec.out.join("meter.stdout"), &e, RUN_TIMEOUT)?;
            let s = meter_summary(&e)?;
            let secs = s["elapsed_secs"].as_f64().unwrap_or(r.wall_secs);
            let mut v = base("offline", "meter", spec.truth, &r, secs);
            let frames = s["packets"].as_u64().unwrap_or(0);
            let exported = s["exported_packets"].as_u64().unwrap_or(0);
            v["workers"] = json!(w);
            v["run"] = json!(run);
            v["counted_packets"] = json!(exported);
            v["loss"] = json!(loss_of(spec.truth.packets, exported));
            v["check"] = json!("meter summary: frames read, packets in exported records");
            v["totals_checked"] = json!(true);
            v["totals_match"] = json!(frames == spec.truth.packets && exported == frames);
            v["conservation_ok"] = s["conservation_ok"].clone();
            v["summary"] = s;
            out.push(v);
        }
    }
    // One run through a real collector.
    let mut nf = Nfcapd::start().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(spec.meter);
    cmd.arg("--pcap")
        .arg(spec.pcap)
        .arg("--ipfix")
        .arg(format!("udp://127.0.0.1:{}", nf.port()))
        .args(["--summary", "json", "--tcp-flags-octets", "1"])
        .arg("--max-flows")
        .arg(spec.max_flows.to_string());
    let e = spec.out.join("meter-nfcapd.stderr");
    let r = sys::run_sampled(cmd, &spec.out.join("meter.stdout"), &e, RUN_TIMEOUT)?;
    let drops = nf.socket_drops().unwrap_or(0);
    nf.stop().map_err(|e| e.to_string())?;
    // nfcapd's own account (its statistics line) for when its totals disagree.
    let _ = std::fs::write(spec.out.join("meter-nfcapd.collector.log"), nf.log());
    let t = nf.totals().map_err(|e| e.to_string())?;
    let s = meter_summary(&e)?;
    let secs = s["elapsed_secs"].as_f64().unwrap_or(r.wall_secs);
    let mut v = base("offline", "meter", spec.truth, &r, secs);
    v["workers"] = json!(1);
    v["run"] = json!("collector-check");
    v["counted_packets"] = json!(t.packets);
    v["loss"] = json!(loss_of(spec.truth.packets, t.packets));
    v["check"] = json!(if drops > 0 {
        format!("nfcapd/nfdump totals (IPFIX over UDP); nfcapd's socket dropped {drops} datagrams")
    } else {
        "nfcapd/nfdump totals (IPFIX over UDP)".to_string()
    });
    v["collector_socket_drops"] = json!(drops);
    v["totals_checked"] = json!(true);
    v["totals_match"] = json!(t.packets == spec.truth.packets);
    v["conservation_ok"] = s["conservation_ok"].clone();
    out.push(v);
    Ok(out)
}

/// Run one peer command once; returns its run statistics and the packets its collector
/// accounted for.
pub fn run_peer_once(
    peer: &Peer,
    template: &str,
    conf: Option<&str>,
    vars: &[(&str, String)],
    dir: &Path,
    tag: &str,
) -> Result<(RunStats, u64, String, u64), String> {
    let scratch = TempDir::new("perf-peer").map_err(|e| e.to_string())?;
    let mut nf = match peer.totals {
        Totals::Nfcapd => Some(Nfcapd::start().map_err(|e| e.to_string())?),
        Totals::Racount => None,
    };
    let port = nf.as_ref().map(|n| n.port()).unwrap_or(0);
    let mut vars: Vec<(&str, String)> = vars.to_vec();
    vars.push(("collector_port", port.to_string()));
    vars.push(("collector", format!("127.0.0.1:{port}")));
    vars.push(("out", scratch.path().display().to_string()));
    if let Some(c) = conf {
        let p = scratch.path().join("peer.conf");
        std::fs::write(&p, peers::fill(c, &vars)).map_err(|e| format!("{}: {e}", p.display()))?;
        vars.push(("conf", p.display().to_string()));
    }
    let argv = peers::argv(&peers::fill(template, &vars));
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| format!("{}: empty command", peer.name))?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let r = sys::run_sampled(
        cmd,
        &dir.join(format!("{}-{tag}.stdout", peer.name)),
        &dir.join(format!("{}-{tag}.stderr", peer.name)),
        RUN_TIMEOUT,
    )?;
    let mut socket_drops = 0;
    let (counted, how) = match nf.as_mut() {
        Some(nf) => {
            let drops = nf.socket_drops().unwrap_or(0);
            socket_drops = drops;
            nf.stop().map_err(|e| e.to_string())?;
            let t = nf.totals().map_err(|e| e.to_string())?;
            let how = if drops > 0 {
                format!("nfcapd/nfdump totals; nfcapd's socket dropped {drops} datagrams")
            } else {
                "nfcapd/nfdump totals".to_string()
            };
            (t.packets, how)
        }
        None => {
            let f = scratch.path().join("argus.out");
            let o = Command::new("racount")
                .arg("-r")
                .arg(&f)
                .output()
                .map_err(|e| format!("cannot start racount: {e}"))?;
            let text = String::from_utf8_lossy(&o.stdout);
            let n = peers::parse_racount(&text).unwrap_or(0);
            (n, "racount totals of the argus file".to_string())
        }
    };
    Ok((r, counted, how, socket_drops))
}

/// The time a peer spent on the capture: its wall time less its start-up time, but never
/// less than its CPU time spread over every core (a start-up measured on a one-packet
/// capture can include waits that a longer run overlaps with work, which would otherwise
/// inflate the rate beyond what the machine can do), nor below 5 % of the wall time.
fn net_secs(wall: f64, startup: f64, cpu: f64) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (wall - startup).max(cpu / cores).max(wall * 0.05)
}

/// Wall time of one pass past which a peer is not run again.
const SLOW_PEER_SECS: f64 = 60.0;

/// Offline runs of one peer: a baseline on `tiny` (one packet) for the start-up cost,
/// then `runs` runs on the capture.
#[allow(clippy::too_many_arguments)]
pub fn run_peer_offline(
    peer: &Peer,
    pcap: &Path,
    tiny: &Path,
    truth: &TrafficTruth,
    max_flows: u64,
    runs: usize,
    dir: &Path,
) -> Vec<Value> {
    let skip = |why: String| {
        vec![json!({"kind": "offline", "meter": peer.name, "status": "not run", "reason": why})]
    };
    let template = match &peer.offline {
        Ok(t) => t.clone(),
        Err(why) => return skip(why.clone()),
    };
    if !sys::on_path(&peer.program) {
        return skip(format!("{} is not on PATH", peer.program));
    }
    let conf = peer.conf.as_ref().map(|c| c.0.as_str());
    let vars_for = |p: &PathBuf| {
        vec![
            ("pcap", p.display().to_string()),
            ("max_flows", max_flows.to_string()),
        ]
    };
    let startup = match run_peer_once(
        peer,
        &template,
        conf,
        &vars_for(&tiny.to_path_buf()),
        dir,
        "baseline",
    ) {
        Ok((r, ..)) => r.wall_secs,
        Err(e) => return skip(format!("baseline run failed: {e}")),
    };
    let mut out = Vec::new();
    for run in 0..runs {
        // A peer that needed over a minute for one pass (pmacctd paces its file reads) is
        // not run again: a second pass would say the same and cost minutes of the budget.
        if out
            .last()
            .and_then(|v: &Value| v["wall_secs"].as_f64())
            .is_some_and(|w| w > SLOW_PEER_SECS)
        {
            break;
        }
        match run_peer_once(
            peer,
            &template,
            conf,
            &vars_for(&pcap.to_path_buf()),
            dir,
            &format!("r{run}"),
        ) {
            Ok((r, counted, how, drops)) => {
                let net = net_secs(r.wall_secs, startup, r.cpu_secs);
                let mut v = base("offline", &peer.name, truth, &r, net);
                v["run"] = json!(run);
                v["startup_secs"] = json!(startup);
                v["workers"] = json!(1);
                v["counted_packets"] = json!(counted);
                v["loss"] = json!(loss_of(truth.packets, counted));
                v["check"] = json!(how);
                v["collector_socket_drops"] = json!(drops);
                v["totals_checked"] = json!(true);
                v["totals_match"] = json!(counted == truth.packets);
                out.push(v);
            }
            Err(e) => out.push(json!({"kind": "offline", "meter": peer.name, "run": run,
                "status": "failed", "reason": e})),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_time_is_never_below_the_cpu_time_the_machine_can_give() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        // Start-up subtracted where it leaves room for the CPU time used.
        assert_eq!(net_secs(10.0, 2.0, 1.0), 8.0);
        // A start-up that would leave 0.1 s for 3 s of CPU: bounded by the cores.
        assert_eq!(net_secs(2.0, 1.9, 3.0), (3.0 / cores).max(0.1));
        // Never below 5 % of the wall time.
        assert_eq!(net_secs(2.0, 2.0, 0.0), 0.1);
    }
}
