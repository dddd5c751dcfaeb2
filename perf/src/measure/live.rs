//! Live: generator in a network namespace → veth → meter on the other end, offered rate
//! stepped up until loss appears.
//!
//! Topology (names unique per run, prefix `pf`): namespace `pf<id>g` holds the sending
//! end `pf<id>s` (offloads GSO/TSO/GRO off, an address and a static neighbour entry for
//! the receiver); the receiving end `pf<id>r` stays in this namespace with no address,
//! IPv6 off and forwarding off, and the frames are addressed to a MAC that is not its
//! own, so the stack drops every frame after the capture hooks (XDP, AF_PACKET) saw it:
//! nothing is routed anywhere. [`Veth`] deletes both on drop.
//!
//! Each step: start the meter on `pf<id>r` and wait until it is attached (an XDP program
//! on the interface for ours, a packet socket bound to it for libpcap peers), replay the
//! capture with tcpreplay at the step's rate (`--pps`, the last step `--topspeed`), stop
//! the meter (SIGINT/SIGTERM: it exports everything and exits), and compare what it
//! accounted for with what tcpreplay sent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::peers::{self, Peer, Totals};
use super::sys;
use crate::collector::{Nfcapd, TempDir};

/// Run a command to its end with no standard input.
fn output(args: &[&str]) -> Result<std::process::Output, String> {
    let (p, a) = args.split_first().ok_or("empty command")?;
    Command::new(p)
        .args(a)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {p}: {e}"))
}

fn run(args: &[&str]) -> Result<String, String> {
    let o = output(args)?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// The namespace and veth pair; removed on drop.
pub struct Veth {
    pub ns: String,
    pub send: String,
    pub recv: String,
}

impl Veth {
    pub fn create() -> Result<Veth, String> {
        let id = std::process::id() % 100_000;
        let v = Veth {
            ns: format!("pf{id}g"),
            send: format!("pf{id}s"),
            recv: format!("pf{id}r"),
        };
        run(&["ip", "netns", "add", &v.ns])?;
        // From here on, drop cleans up whatever was made.
        run(&[
            "ip", "link", "add", &v.recv, "type", "veth", "peer", "name", &v.send, "netns", &v.ns,
        ])?;
        let nsx = |a: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", v.ns.as_str()];
            full.extend_from_slice(a);
            run(&full)
        };
        let _ = run(&[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", v.recv),
        ]);
        let _ = run(&[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.conf.{}.forwarding=0", v.recv),
        ]);
        // Nothing but the replayed frames may leave the namespace (no IPv6 autoconf).
        nsx(&["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])?;
        nsx(&["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])?;
        nsx(&["ip", "link", "set", "lo", "up"])?;
        nsx(&["ip", "addr", "add", "198.18.0.1/30", "dev", &v.send])?;
        nsx(&["ip", "link", "set", &v.send, "up"])?;
        nsx(&[
            "ip",
            "neigh",
            "replace",
            "198.18.0.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            &v.send,
            "nud",
            "permanent",
        ])?;
        let _ = nsx(&[
            "ethtool", "-K", &v.send, "gso", "off", "tso", "off", "gro", "off",
        ]);
        run(&["ip", "link", "set", &v.recv, "up"])?;
        Ok(v)
    }

    fn ifindex(&self) -> Option<u32> {
        std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", self.recv))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = run(&["ip", "link", "del", &self.recv]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

/// Whether the meter binary has live capture (`--interface`).
pub fn meter_has_interface(meter: &Path) -> bool {
    meter_has_option(meter, "--interface")
}

/// Whether `meter --help` lists `option`.
pub fn meter_has_option(meter: &Path, option: &str) -> bool {
    Command::new(meter)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(option))
        .unwrap_or(false)
}

/// Socket inodes a process holds.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    rd.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let s = l.to_string_lossy().into_owned();
            s.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect()
}

/// Whether `pid` or a child has a packet socket on `ifindex` (/proc/net/packet), or an
/// XDP program is attached to the interface.
fn attached(pid: u32, ifindex: u32, iface: &str, xdp: bool) -> bool {
    if xdp {
        return run(&["ip", "-d", "link", "show", "dev", iface])
            .map(|s| s.contains("prog/xdp"))
            .unwrap_or(false);
    }
    let Ok(t) = std::fs::read_to_string("/proc/net/packet") else {
        return false;
    };
    let mut pids = vec![pid];
    if let Ok(c) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        pids.extend(c.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
    }
    let inodes: Vec<String> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    // sk RefCnt Type Proto Iface R Rmem User Inode
    t.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(4).and_then(|i| i.parse::<u32>().ok()) == Some(ifindex)
            && f.get(8).is_some_and(|ino| inodes.iter().any(|x| x == ino))
    })
}

/// Whether the main thread of `pid` sleeps waiting for input.
fn idle_in_wait(pid: u32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('S'))
        })
        .unwrap_or(false);
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    state
        && ["poll", "select", "epoll", "wait"]
            .iter()
            .any(|w| wchan.contains(w))
}

/// CPU seconds of `pid` and its direct children (a pmacct plugin).
fn cpu_of_group(pid: u32) -> f64 {
    let mut t = sys::process_cpu_secs(pid).unwrap_or(0.0);
    if let Ok(c) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        for c in c.split_whitespace().filter_map(|x| x.parse::<u32>().ok()) {
            t += sys::process_cpu_secs(c).unwrap_or(0.0);
        }
    }
    t
}

/// tcpreplay's "Actual: N packets (B bytes) sent in S seconds" and failures.
pub fn parse_tcpreplay(out: &str) -> Option<(u64, u64, f64, u64)> {
    let l = out
        .lines()
        .find(|l| l.trim_start().starts_with("Actual:"))?;
    let w: Vec<&str> = l.split_whitespace().collect();
    let pkts = w.get(1)?.parse().ok()?;
    let bytes = w.get(3)?.trim_start_matches('(').parse().ok()?;
    let secs = w.get(7)?.parse().ok()?;
    let failed = out
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Failed packets:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some((pkts, bytes, secs, failed))
}

/// A capture of one non-IP frame (ethertype 0x88b5, local experimental).
fn write_wake_frame(path: &Path) -> Result<(), String> {
    use crate::r#gen::pcap::{CaptureFile, CaptureFormat, CaptureWrite, LinkType};
    let mut f = [0u8; 60];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    let mut w = CaptureFile::create(path, CaptureFormat::Pcap, LinkType::Ethernet, 65535)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    w.write_packet(1_700_000_000_000_000_000, &f, 60)
        .and_then(|_| w.finish())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What sends the traffic from the namespace.
pub enum Sender {
    /// tcpreplay of a capture: `--pps=R --loop=L`, or `--topspeed`.
    Tcpreplay {
        pcap: std::path::PathBuf,
        packets: u64,
    },
    /// trafgen (netsniff-ng) of a packet configuration on one CPU: `-b Rpps -n N`, or
    /// unpaced. Faster than tcpreplay (mmap TX ring).
    Trafgen {
        cfg: std::path::PathBuf,
        packets: u64,
    },
}

impl Sender {
    pub fn name(&self) -> &'static str {
        match self {
            Sender::Tcpreplay { .. } => "tcpreplay",
            Sender::Trafgen { .. } => "trafgen",
        }
    }

    /// Send at `rate` (None: as fast as it can) for about `secs`; returns (packets,
    /// bytes, seconds, failed).
    fn send(
        &self,
        veth: &Veth,
        rate: Option<u64>,
        secs: f64,
    ) -> Result<(u64, u64, f64, u64), String> {
        match self {
            Sender::Tcpreplay { pcap, packets } => {
                let loops = match rate {
                    Some(r) => ((r as f64 * secs) / *packets as f64).ceil().max(1.0) as u64,
                    None => 3,
                };
                let speed = match rate {
                    Some(r) => format!("--pps={r}"),
                    None => "--topspeed".into(),
                };
                let pcap_s = pcap.display().to_string();
                let loops_s = format!("--loop={loops}");
                // On CPU 0, like trafgen -P 1, so the meter's core is the meter's alone.
                let out = run(&[
                    "ip",
                    "netns",
                    "exec",
                    &veth.ns,
                    "taskset",
                    "-c",
                    "0",
                    "tcpreplay",
                    "-i",
                    &veth.send,
                    &speed,
                    &loops_s,
                    "--preload-pcap",
                    &pcap_s,
                ])?;
                parse_tcpreplay(&out).ok_or_else(|| format!("cannot read tcpreplay output: {out}"))
            }
            Sender::Trafgen { cfg, packets } => {
                // Unpaced: as many packets as 3 Mpps would send in `secs`.
                let n = match rate {
                    Some(r) => (r as f64 * secs) as u64,
                    None => (3e6 * secs) as u64,
                }
                .max(*packets);
                let cfg_s = cfg.display().to_string();
                let n_s = n.to_string();
                let mut args = vec![
                    "ip", "netns", "exec", &veth.ns, "trafgen", "-i", &cfg_s, "-o", &veth.send,
                    "-n", &n_s, "-P", "1",
                ];
                let rate_s = rate.map(|r| format!("{r}pps"));
                if let Some(r) = &rate_s {
                    args.extend_from_slice(&["-b", r]);
                }
                let t0 = Instant::now();
                let out = run_all(&args)?;
                let wall = t0.elapsed().as_secs_f64();
                parse_trafgen(&out, wall)
                    .ok_or_else(|| format!("cannot read trafgen output: {out}"))
            }
        }
    }
}

/// Like [`run`], returning stdout and stderr together (trafgen reports on stderr).
fn run_all(args: &[&str]) -> Result<String, String> {
    let o = output(args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(format!("{} failed: {}", args.join(" "), text.trim()))
    }
}

/// trafgen's closing statistics: "N packets outgoing", "B bytes outgoing" and the CPU line
/// "S sec, U usec on CPU0 (N packets)"; the send time is that CPU line's, else `wall`.
pub fn parse_trafgen(out: &str, wall: f64) -> Option<(u64, u64, f64, u64)> {
    let num_before = |suffix: &str| {
        out.lines().find_map(|l| {
            let l = l.trim();
            l.strip_suffix(suffix)
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
    };
    let pkts = num_before("packets outgoing")?;
    let bytes = num_before("bytes outgoing").unwrap_or(0);
    let secs = out
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let (s, rest) = l.split_once(" sec, ")?;
            let (us, _) = rest.split_once(" usec")?;
            Some(s.trim().parse::<f64>().ok()? + us.trim().parse::<f64>().ok()? / 1e6)
        })
        .filter(|s| *s > 0.0)
        .unwrap_or(wall);
    Some((pkts, bytes, secs, 0))
}

/// One meter on the live path.
pub enum LiveMeter<'a> {
    Ours(&'a Path),
    Peer(&'a Peer),
}

/// One step: returns a JSON row.
#[allow(clippy::too_many_arguments)]
pub fn step(
    veth: &Veth,
    m: &LiveMeter<'_>,
    sender: &Sender,
    rate: Option<u64>,
    secs: f64,
    max_flows: u64,
    dir: &Path,
) -> Result<Value, String> {
    let name = match m {
        LiveMeter::Ours(_) => "meter".to_string(),
        LiveMeter::Peer(p) => p.name.clone(),
    };
    let scratch = TempDir::new("perf-live").map_err(|e| e.to_string())?;
    let mut nf = match m {
        LiveMeter::Peer(p) if p.totals == Totals::Nfcapd => {
            Some(Nfcapd::start().map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let port = nf.as_ref().map(|n| n.port()).unwrap_or(0);
    let mut cmd;
    let stop_signal;
    let mut stop_command: Option<Vec<String>> = None;
    match m {
        LiveMeter::Ours(meter) => {
            cmd = Command::new(meter);
            cmd.args(["--interface", &veth.recv, "--xdp-mode", "auto"]);
            // No metrics endpoint: its fixed default port may be taken by another meter.
            if meter_has_option(meter, "--metrics") {
                cmd.args(["--metrics", "none"]);
            }
            // The senders run on CPU 0: put the meter's worker on the last core.
            if meter_has_option(meter, "--cores") {
                let last = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    - 1;
                cmd.args(["--cores", &last.to_string()]);
            }
            cmd.args(["--ipfix-file", "/dev/null", "--summary", "json"])
                .arg("--max-flows")
                .arg(max_flows.to_string());
            stop_signal = "INT";
        }
        LiveMeter::Peer(p) => {
            let template = p.live.clone()?;
            let mut vars = vec![
                ("iface", veth.recv.clone()),
                ("max_flows", max_flows.to_string()),
                ("collector_port", port.to_string()),
                ("collector", format!("127.0.0.1:{port}")),
                ("out", scratch.path().display().to_string()),
            ];
            if let Some((_, c)) = &p.conf {
                let f = scratch.path().join("peer.conf");
                std::fs::write(&f, peers::fill(c, &vars)).map_err(|e| e.to_string())?;
                vars.push(("conf", f.display().to_string()));
            }
            let argv = peers::argv(&peers::fill(&template, &vars));
            let (prog, args) = argv.split_first().ok_or("empty template")?;
            cmd = Command::new(prog);
            cmd.args(args);
            stop_signal = p.stop_signal;
            stop_command = p
                .stop_command
                .as_ref()
                .map(|c| peers::argv(&peers::fill(c, &vars)));
        }
    }
    let tag = format!(
        "{}-{}",
        sender.name(),
        rate.map(|r| r.to_string()).unwrap_or("top".into())
    );
    let err_path = dir.join(format!("live-{name}-{tag}.stderr"));
    let out_path = dir.join(format!("live-{name}-{tag}.stdout"));
    let ifindex = veth.ifindex().ok_or("receive interface vanished")?;
    let wake = scratch.path().join("wake.pcap");
    write_wake_frame(&wake)?;
    let xdp = matches!(m, LiveMeter::Ours(_));
    let meter_run = std::thread::scope(|s| -> Result<(Value, sys::RunStats), String> {
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let h = s.spawn(move || {
            sys::run_sampled_with_pid(cmd, &out_path, &err_path, Duration::from_secs(600), pid_tx)
        });
        let pid: u32 = pid_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "meter did not start")?;
        // Attachment has no event to wait on: poll the condition (bounded).
        let t0 = Instant::now();
        while !attached(pid, ifindex, &veth.recv, xdp) {
            if h.is_finished() {
                let _ = h.join();
                return Err(format!("{name} exited before attaching to {}", veth.recv));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = run(&["kill", "-KILL", "--", &format!("-{pid}")]);
                let _ = h.join();
                return Err(format!(
                    "{name} did not attach to {} within 20 s",
                    veth.recv
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // libpcap drops what arrived before its filter was set: wait until the meter sits
        // in its capture loop (asleep in poll/select), bounded.
        if !xdp {
            let t0 = Instant::now();
            while !idle_in_wait(pid) && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            // No event tells that a multi-threaded peer's capture thread has installed its
            // filter (until then libpcap discards what arrives): give it a second.
            std::thread::sleep(Duration::from_secs(1));
        }
        let cpu0 = cpu_of_group(pid);
        let replay = sender.send(veth, rate, secs);
        let send_cpu = cpu_of_group(pid) - cpu0;
        // Let it consume what is still queued: wait until its CPU time has not grown for
        // 300 ms (bounded), so the stop does not cut off frames still in its ring.
        let t0 = Instant::now();
        let mut last = cpu_of_group(pid);
        let mut still_since = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
            let now = cpu_of_group(pid);
            if now > last + 0.005 {
                last = now;
                still_since = Instant::now();
            } else if still_since.elapsed() >= Duration::from_millis(300) {
                break;
            }
        }
        match &stop_command {
            Some(c) => {
                let c: Vec<&str> = c.iter().map(String::as_str).collect();
                let _ = run(&c);
            }
            None => {
                let _ = run(&["kill", &format!("-{stop_signal}"), &pid.to_string()]);
            }
        }
        // softflowd acts on a stop signal only when its next packet arrives: while it has
        // not exited, send it one non-IP frame (ethertype 0x88b5, which no meter counts in
        // a flow) every 250 ms, at most 20 times.
        for _ in 0..20 {
            let t = Instant::now();
            while !h.is_finished() && t.elapsed() < Duration::from_millis(250) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                break;
            }
            let w = wake.display().to_string();
            let _ = run(&[
                "ip",
                "netns",
                "exec",
                &veth.ns,
                "tcpreplay",
                "-q",
                "-i",
                &veth.send,
                &w,
            ]);
        }
        let r = h.join().map_err(|_| "sampling thread failed")??;
        let (sent, bytes, rsecs, failed) = replay?;
        Ok((
            json!({"sent_packets": sent, "sent_bytes": bytes, "send_secs": rsecs,
                   "send_failed": failed, "requested_pps": rate, "sender": sender.name(),
                   "cpu_secs_while_sending": send_cpu}),
            r,
        ))
    })?;
    let (mut v, r) = meter_run;
    let sent = v["sent_packets"].as_u64().unwrap_or(0);
    let counted = match (m, nf.as_mut()) {
        (LiveMeter::Ours(_), _) => {
            let text = std::fs::read_to_string(dir.join(format!("live-{name}-{tag}.stderr")))
                .unwrap_or_default();
            let s: Value = text
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .and_then(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| format!("meter printed no JSON summary: {}", text.trim()))?;
            v["summary"] = s.clone();
            s["packets"].as_u64().unwrap_or(0)
        }
        (LiveMeter::Peer(_), Some(nf)) => {
            v["collector_socket_drops"] = json!(nf.socket_drops().unwrap_or(0));
            nf.stop().map_err(|e| e.to_string())?;
            nf.totals().map_err(|e| e.to_string())?.packets
        }
        (LiveMeter::Peer(_), None) => {
            let o = Command::new("racount")
                .arg("-r")
                .arg(scratch.path().join("argus.out"))
                .output()
                .map_err(|e| format!("cannot start racount: {e}"))?;
            peers::parse_racount(&String::from_utf8_lossy(&o.stdout)).unwrap_or(0)
        }
    };
    let send_secs = v["send_secs"].as_f64().unwrap_or(0.0).max(1e-9);
    let offered = sent as f64 / send_secs;
    v["kind"] = json!("live");
    v["meter"] = json!(name);
    v["offered_pps"] = json!(offered);
    v["offered_bits_per_sec"] = json!(v["sent_bytes"].as_f64().unwrap_or(0.0) * 8.0 / send_secs);
    v["counted_packets"] = json!(counted);
    v["loss"] = json!(if sent > 0 {
        (sent as f64 - counted as f64) / sent as f64
    } else {
        0.0
    });
    v["pps"] = json!(counted as f64 / send_secs);
    // CPU while the traffic was sent, over the send time (the whole run's CPU, start-up
    // and drain included, is cpu_secs).
    v["cpu_secs"] = json!(r.cpu_secs);
    v["cpu_percent"] =
        json!(100.0 * v["cpu_secs_while_sending"].as_f64().unwrap_or(0.0) / send_secs);
    v["peak_memory_kib"] = json!(r.peak_memory_kib);
    v["totals_checked"] = json!(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trafgen_summary() {
        // As printed by trafgen 0.6.8 on exit.
        let out = "\n   6000000 packets outgoing\n   384000000 bytes outgoing\n         2 sec, 500000 usec on CPU0 (6000000 packets)\n";
        assert_eq!(
            parse_trafgen(out, 9.0),
            Some((6_000_000, 384_000_000, 2.5, 0))
        );
        assert_eq!(
            parse_trafgen("   10 packets outgoing\n", 1.5),
            Some((10, 0, 1.5, 0))
        );
        assert_eq!(parse_trafgen("nothing", 1.0), None);
    }

    #[test]
    fn tcpreplay_summary() {
        // As printed by tcpreplay 4.4.
        let out = "Actual: 20000 packets (7119196 bytes) sent in 0.204581 seconds\nRated: 34798753.5 Bps, 278.39 Mbps, 97760.30 pps\nStatistics for network device: pf1s\n\tSuccessful packets:        20000\n\tFailed packets:            3\n";
        assert_eq!(parse_tcpreplay(out), Some((20000, 7119196, 0.204581, 3)));
        assert_eq!(parse_tcpreplay("nonsense"), None);
    }
}
