//! Measurements of flow meters: the metering limit ([`limit`]) and the machine's random
//! memory access it is bounded by ([`memory`]), offline runs of whole programs on a
//! capture ([`offline`]), live runs over a veth ([`live`]), peers as command templates
//! ([`peers`]), and the report ([`report`]). [`compare`] runs them all.

pub mod limit;
pub mod live;
pub mod memory;
pub mod offline;
pub mod peers;
pub mod report;
pub mod sys;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::r#gen::CaptureFormat;
use crate::r#gen::traffic::{SizeMix, TrafficParams, write_traffic_pcap, write_trafgen_config};

/// What `perf compare` runs.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    pub out: PathBuf,
    pub quick: bool,
    /// Runs per measurement (best and minimum are reported).
    pub runs: usize,
    pub meter: PathBuf,
    /// This program (limit cells run in child processes of it).
    pub perf: PathBuf,
    pub peers: Vec<peers::Peer>,
    pub limit: bool,
    pub offline: bool,
    pub live: bool,
    pub nominal_pps: u64,
    pub sender: SenderChoice,
}

/// The live measurement's traffic sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderChoice {
    /// trafgen if on PATH, else tcpreplay.
    Auto,
    Tcpreplay,
    Trafgen,
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine(quick: bool) -> Value {
    let packets = if quick { 1_000_000 } else { 4_000_000 };
    let memory = memory::probes_json(
        &memory::ProbeSizes {
            mib: if quick { 256 } else { 512 },
            accesses: 4_000_000,
            translation_accesses: packets,
            // The table's pattern at the 1 M flows of the goal (README "What bounds it").
            pattern_flows: 1_000_000,
            pattern_packets: packets,
        },
        1,
    );
    json!({
        "memory": memory,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"),
        "kernel": sh("uname -r"),
        "memory_kib": sh("grep MemTotal /proc/meminfo | awk '{print $2}'").parse::<u64>().unwrap_or(0),
        // Huge pages change the cost of a flow lookup by a third (README "Performance").
        "thp": std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        "glibc_tunables": std::env::var("GLIBC_TUNABLES").unwrap_or_default(),
    })
}

/// One limit cell in a child process (fresh memory and accounting per cell).
fn limit_child(o: &CompareOpts, spec: &limit::LimitSpec) -> Value {
    let mut cmd = Command::new(&o.perf);
    cmd.arg("limit")
        .arg("--flows")
        .arg(spec.active_flows.to_string())
        .arg("--new-flows")
        .arg(spec.new_flows_per_sec.to_string())
        .arg("--packets")
        .arg(spec.packets.to_string())
        .arg("--rate")
        .arg(spec.nominal_pps.to_string())
        .arg("--size")
        .arg(spec.size.name())
        .arg("--seed")
        .arg(spec.seed.to_string())
        .arg("--chunk")
        .arg(spec.chunk.to_string());
    let tag = format!(
        "limit-{}-{}-{}",
        spec.active_flows, spec.new_flows_per_sec, spec.seed
    );
    let so = o.out.join("logs").join(format!("{tag}.stdout"));
    let se = o.out.join("logs").join(format!("{tag}.stderr"));
    let fail = |why: String| {
        json!({"kind": "limit", "meter": "meter", "active_flows": spec.active_flows,
               "new_flows_per_sec": spec.new_flows_per_sec, "status": "failed", "reason": why})
    };
    match sys::run_sampled(cmd, &so, &se, Duration::from_secs(900)) {
        Ok(r) if r.status.is_some_and(|s| s.success()) => {
            match std::fs::read_to_string(&so)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t.trim()).ok())
            {
                Some(v) => v,
                None => fail("no JSON from perf limit".into()),
            }
        }
        Ok(_) => fail(
            std::fs::read_to_string(&se)
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        Err(e) => fail(e),
    }
}

/// The collectors listen on 127.0.0.1: check that a datagram sent there arrives (an XDP
/// program on `lo`, such as a meter capturing on it, swallows everything).
fn loopback_delivers() -> Result<(), String> {
    use std::net::UdpSocket;
    let err = |e: std::io::Error| format!("loopback UDP check: {e}");
    let r = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    r.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(err)?;
    let s = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    s.send_to(b"perf", r.local_addr().map_err(err)?)
        .map_err(err)?;
    let mut b = [0u8; 16];
    match r.recv_from(&mut b) {
        Ok(_) => Ok(()),
        Err(_) => {
            let xdp = Command::new("ip")
                .args(["-d", "link", "show", "dev", "lo"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp"))
                .unwrap_or(false);
            Err(format!(
                "UDP over 127.0.0.1 does not arrive, so no collector can work{}",
                if xdp {
                    " (an XDP program is attached to lo: is a meter capturing on it?)"
                } else {
                    ""
                }
            ))
        }
    }
}

/// When this run started: progress lines say how far in they are (mm:ss).
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn progress(msg: &str) {
    let t = STARTED
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs();
    eprintln!("perf compare: [{:02}:{:02}] {msg}", t / 60, t % 60);
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Run everything and write `results.json`, `results.md`, `throughput.svg`, `loss.svg`.
pub fn compare(o: &CompareOpts) -> Result<Value, String> {
    std::fs::create_dir_all(o.out.join("logs")).map_err(|e| format!("{}: {e}", o.out.display()))?;
    if !o.meter.is_file() {
        return Err(format!(
            "meter binary {} not found (build it: cargo build --release -p meter)",
            o.meter.display()
        ));
    }
    if o.offline || (o.live && !o.peers.is_empty()) {
        loopback_delivers()?;
    }
    let mut runs: Vec<Value> = Vec::new();
    let started = *STARTED.get_or_init(std::time::Instant::now);
    // The machine as the runs find it, before they load it.
    let machine = machine(o.quick);

    // ---- metering limit
    let (flows, rates, packets): (&[u64], &[u64], u64) = if o.quick {
        (&[10_000, 1_000_000], &[0, 100_000], 2_000_000)
    } else {
        (
            &[1_000, 10_000, 100_000, 1_000_000, 10_000_000],
            &[0, 10_000, 100_000],
            10_000_000,
        )
    };
    let flows = if o.limit { flows } else { &[] };
    // Round by round over the whole grid, not a cell's runs back to back: this class of
    // machine drifts in speed by 10-30 % over minutes, and three runs spread over the phase
    // keep one slow spell from taking every run of a cell (its best is the cell's figure).
    for run in 0..o.runs {
        for &a in flows {
            for &n in rates {
                let spec = limit::LimitSpec {
                    active_flows: a,
                    new_flows_per_sec: n,
                    packets,
                    nominal_pps: o.nominal_pps,
                    size: SizeMix::Imix,
                    seed: 1 + run as u64,
                    chunk: limit::DEFAULT_CHUNK,
                    mix: limit::LimitMix::default(),
                };
                let mut v = limit_child(o, &spec);
                v["run"] = json!(run);
                progress(&format!(
                    "limit {a} flows, {n} new/s, run {run}: {:.2} Mpps",
                    v["pps"].as_f64().unwrap_or(0.0) / 1e6
                ));
                runs.push(v);
            }
        }
    }

    let limit_secs = started.elapsed().as_secs_f64();

    // ---- offline
    let (off_flows, off_new, off_packets) = if o.quick {
        (10_000u64, 5_000u64, 300_000u64)
    } else {
        (100_000, 10_000, 5_000_000)
    };
    let params = TrafficParams {
        active_flows: off_flows,
        new_flows_per_sec: off_new,
        packets_per_sec: 1_000_000,
        size: SizeMix::Imix,
        snaplen: 128,
        ..TrafficParams::default()
    };
    let max_flows = (off_flows + off_new * (off_packets / 1_000_000 + 1)) * 2;
    let mut offline_truth = Value::Null;
    if o.offline {
        let pcap = o.out.join("offline.pcap");
        let truth = write_traffic_pcap(&pcap, &params, off_packets, CaptureFormat::Pcap)
            .map_err(|e| format!("{}: {e}", pcap.display()))?;
        let tiny = o.out.join("tiny.pcap");
        write_traffic_pcap(
            &tiny,
            &TrafficParams {
                active_flows: 1,
                new_flows_per_sec: 0,
                ..params.clone()
            },
            0,
            CaptureFormat::Pcap,
        )
        .map_err(|e| format!("{}: {e}", tiny.display()))?;
        let logs = o.out.join("logs");
        let spec = offline::OfflineSpec {
            meter: &o.meter,
            pcap: &pcap,
            truth: &truth,
            max_flows,
            workers: &[1, 2],
            runs: o.runs,
            out: &logs,
        };
        progress(&format!(
            "offline: {} packets, {off_flows} active flows",
            truth.packets
        ));
        for mut v in offline::run_meter(&spec)? {
            v["active_flows"] = json!(off_flows);
            v["new_flows_per_sec"] = json!(off_new);
            progress(&format!(
                "offline meter {} workers: {:.2} Mpps, loss {}",
                v["workers"],
                v["pps"].as_f64().unwrap_or(0.0) / 1e6,
                v["loss"]
            ));
            runs.push(v);
        }
        let peer_runs = o.runs.min(2);
        for p in &o.peers {
            for mut v in
                offline::run_peer_offline(p, &pcap, &tiny, &truth, max_flows, peer_runs, &logs)
            {
                v["active_flows"] = json!(off_flows);
                v["new_flows_per_sec"] = json!(off_new);
                progress(&format!(
                    "offline {}: {}",
                    p.name,
                    v.get("pps")
                        .and_then(Value::as_f64)
                        .map(|x| format!(
                            "{:.3} Mpps, loss {:.4}",
                            x / 1e6,
                            v["loss"].as_f64().unwrap_or(0.0)
                        ))
                        .unwrap_or_else(|| v["reason"].as_str().unwrap_or("?").to_string())
                ));
                runs.push(v);
            }
        }
        offline_truth = json!({"packets": truth.packets, "wire_octets": truth.wire_octets,
            "l3_octets": truth.l3_octets, "flows_started": truth.flows_started,
            "tcp_packets": truth.tcp_packets, "udp_packets": truth.udp_packets,
            "icmp_packets": truth.icmp_packets, "ipv6_packets": truth.ipv6_packets,
            "vlan_packets": truth.vlan_packets, "mptcp_flows": truth.mptcp_flows});
        let _ = std::fs::remove_file(&pcap);
    }

    let offline_secs = started.elapsed().as_secs_f64() - limit_secs;

    // ---- live
    if o.live {
        runs.extend(run_live(o, max_flows));
    } else {
        runs.push(
            json!({"kind": "live", "meter": "all", "status": "not run", "reason": "--no-live"}),
        );
    }

    let doc = json!({
        "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
        "mode": if o.quick { "quick" } else { "full" },
        "machine": machine,
        "runs_per_measurement": o.runs,
        "nominal_pps": o.nominal_pps,
        "offline_capture": {"packets": off_packets, "active_flows": off_flows,
            "new_flows_per_sec": off_new, "size": "imix", "snaplen": 128, "truth": offline_truth},
        "elapsed_secs": started.elapsed().as_secs_f64(),
        "phase_secs": {"limit": limit_secs, "offline": offline_secs,
            "live": started.elapsed().as_secs_f64() - limit_secs - offline_secs},
        "runs": runs,
    });
    write(
        &o.out.join("results.json"),
        &serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?,
    )?;
    write(&o.out.join("results.md"), &report::markdown(&doc))?;
    write(
        &o.out.join("throughput.svg"),
        &report::throughput_plot(&doc),
    )?;
    write(&o.out.join("loss.svg"), &report::loss_plot(&doc))?;
    Ok(doc)
}

/// Packets after the warm-up in trafgen's configuration (see `run_live`).
const TRAFGEN_PACKETS: u64 = 6_000;

fn run_live(o: &CompareOpts, max_flows: u64) -> Vec<Value> {
    let mut rows = Vec::new();
    let not_run = |m: &str, why: String| json!({"kind": "live", "meter": m, "status": "not run", "reason": why});
    if !sys::on_path("tcpreplay") {
        // Also needed by trafgen runs: it sends the wake-up frame (see live::step).
        rows.push(not_run("all", "tcpreplay is not on PATH".into()));
        return rows;
    }
    let pcap = o.out.join("live.pcap");
    let cfg = o.out.join("live.trafgen");
    let live_packets = if o.quick { 50_000 } else { 200_000 };
    let params = TrafficParams {
        active_flows: 10_000,
        new_flows_per_sec: 1_000,
        packets_per_sec: 1_000_000,
        size: SizeMix::Fixed(64),
        // IPv4 without tags: fprobe exports NetFlow v5 (IPv4 only) and its "ip" filter
        // does not match tagged frames; the offline capture has IPv6 and VLANs.
        ipv6_share: 0.0,
        vlan_share: 0.0,
        ..TrafficParams::default()
    };
    let truth = match write_traffic_pcap(&pcap, &params, live_packets, CaptureFormat::Pcap) {
        Ok(t) => t,
        Err(e) => {
            rows.push(not_run("all", format!("{}: {e}", pcap.display())));
            return rows;
        }
    };
    // Paced steps: tcpreplay, which spaces packets evenly. The top-speed step: trafgen
    // when installed (mmap TX ring, several times faster, but it sends in ring-sized
    // bursts, which is why it does not pace the other steps), else tcpreplay.
    let tcpreplay = live::Sender::Tcpreplay {
        pcap: pcap.clone(),
        packets: truth.packets,
    };
    let use_trafgen = match o.sender {
        SenderChoice::Tcpreplay => false,
        SenderChoice::Auto => sys::on_path("trafgen"),
        SenderChoice::Trafgen => {
            if !sys::on_path("trafgen") {
                rows.push(not_run("all", "trafgen is not on PATH".into()));
                return rows;
            }
            true
        }
    };
    let trafgen = if use_trafgen {
        // trafgen compiles its configuration in time quadratic in the number of packets
        // (here: 10 K packets 0.3 s, 40 K 5 s, 210 K about 4.5 min, none of it in its own
        // send time), so its packet list is the warm-up (every flow's first packet) and a
        // few thousand more, sent round robin.
        let trafgen_packets = live_packets.min(TRAFGEN_PACKETS);
        match write_trafgen_config(&cfg, &params, trafgen_packets) {
            Ok(t) => Some(live::Sender::Trafgen {
                cfg: cfg.clone(),
                packets: t.packets,
            }),
            Err(e) => {
                rows.push(not_run("all", format!("{}: {e}", cfg.display())));
                return rows;
            }
        }
    } else {
        None
    };
    let veth = match live::Veth::create() {
        Ok(v) => v,
        Err(e) => {
            rows.push(not_run(
                "all",
                format!("cannot create namespace and veth: {e}"),
            ));
            return rows;
        }
    };
    let (rates, secs): (Vec<u64>, f64) = if o.quick {
        (vec![20_000], 1.0)
    } else {
        (vec![50_000, 200_000, 400_000, 800_000], 3.0)
    };
    let mut steps: Vec<(Option<u64>, &live::Sender)> =
        rates.iter().map(|r| (Some(*r), &tcpreplay)).collect();
    steps.push((None, &tcpreplay));
    if let Some(t) = &trafgen {
        steps.push((None, t));
    }
    let logs = o.out.join("logs");
    let mut meters: Vec<(String, live::LiveMeter<'_>)> = Vec::new();
    if live::meter_has_interface(&o.meter) {
        meters.push(("meter".into(), live::LiveMeter::Ours(&o.meter)));
    } else {
        rows.push(not_run(
            "meter",
            format!(
                "{} has no --interface option yet (live capture not built)",
                o.meter.display()
            ),
        ));
    }
    for p in &o.peers {
        match (&p.live, sys::on_path(&p.program)) {
            (Ok(_), true) => meters.push((p.name.clone(), live::LiveMeter::Peer(p))),
            (Err(why), _) => rows.push(not_run(&p.name, why.clone())),
            (_, false) => rows.push(not_run(&p.name, format!("{} is not on PATH", p.program))),
        }
    }
    for (name, m) in &meters {
        for &(rate, sender) in &steps {
            match live::step(&veth, m, sender, rate, secs, max_flows, &logs) {
                Ok(v) => {
                    let loss = v["loss"].as_f64().unwrap_or(0.0);
                    progress(&format!(
                        "live {name} at {:.0} kpps offered ({}): loss {:.2} %",
                        v["offered_pps"].as_f64().unwrap_or(0.0) / 1e3,
                        sender.name(),
                        100.0 * loss
                    ));
                    rows.push(v);
                }
                Err(e) => {
                    progress(&format!("live {name}: {e}"));
                    rows.push(json!({"kind": "live", "meter": name, "requested_pps": rate,
                        "status": "failed", "reason": e}));
                    break;
                }
            }
        }
    }
    drop(veth);
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(&cfg);
    rows
}
