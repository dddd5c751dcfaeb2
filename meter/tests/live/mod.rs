//! Test support for live capture: network namespaces and veth pairs made and removed by
//! name, the meter run inside a namespace, and traffic from traffic.py. Needs root, as CI
//! has. Every wait is for an event (a line a process prints, a process exit), never a
//! sleep.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// Longest wait for any one event before the test fails with what it saw.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn sh(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]))
}

pub fn must(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A set of namespaces named `{prefix}…`, deleted (with their veths) on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

impl Lab {
    pub fn new(prefix: &str) -> Lab {
        // Leftovers of a killed earlier run.
        let list = String::from_utf8_lossy(&sh(&["ip", "netns", "list"]).stdout).to_string();
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(prefix) {
                let _ = sh(&["ip", "netns", "del", ns]);
            }
        }
        Lab {
            prefix: prefix.to_string(),
            namespaces: Vec::new(),
        }
    }

    /// Create namespace `{prefix}{name}` with loopback up; returns its full name.
    pub fn ns(&mut self, name: &str) -> String {
        let ns = format!("{}{name}", self.prefix);
        must(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// A veth pair `a` (in `ns_a`) — `b` (in `ns_b`), both up, with `queues` queues each,
    /// segmentation and receive offloads off so every frame is a real wire frame.
    pub fn veth(&self, ns_a: &str, a: &str, ns_b: &str, b: &str, queues: u32) {
        let q = queues.to_string();
        must(&[
            "ip",
            "-n",
            ns_a,
            "link",
            "add",
            a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            b,
            "netns",
            ns_b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]);
        for (ns, dev) in [(ns_a, a), (ns_b, b)] {
            must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            must(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ]);
        }
    }

    pub fn addr(&self, ns: &str, dev: &str, cidr: &str) {
        let mut args = vec!["ip", "-n", ns, "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        must(&args);
    }

    /// Copy every frame `dev` receives or sends to `to` (a mirror port, as on a switch).
    /// A u32 match-all: this kernel has cls_u32 but not cls_matchall.
    pub fn mirror(&self, ns: &str, dev: &str, to: &str) {
        let _ = sh(&[
            "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "clsact",
        ]);
        for dir in ["ingress", "egress"] {
            must(&[
                "ip", "netns", "exec", ns, "tc", "filter", "add", "dev", dev, dir, "protocol",
                "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror",
                "dev", to,
            ]);
        }
    }

    pub fn mac(&self, ns: &str, dev: &str) -> String {
        let o = sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{dev}/address"),
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// A permanent neighbour entry: the meter's socket swallows ARP/ND on its interface.
    pub fn neigh(&self, ns: &str, dev: &str, ip: &str, mac: &str) {
        must(&[
            "ip",
            "-n",
            ns,
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

/// A process whose stdout and stderr lines arrive over channels.
pub struct Proc {
    pub child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    pub out_lines: Vec<String>,
    pub err_lines: Vec<String>,
}

fn pump(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = pump(child.stdout.take().expect("stdout"));
        let err = pump(child.stderr.take().expect("stderr"));
        Proc {
            child,
            out,
            err,
            out_lines: Vec::new(),
            err_lines: Vec::new(),
        }
    }

    /// Wait for a stdout (`stderr == false`) or stderr line containing `needle`.
    pub fn wait_line(&mut self, stderr: bool, needle: &str) -> String {
        loop {
            let (rx, seen) = if stderr {
                (&self.err, &mut self.err_lines)
            } else {
                (&self.out, &mut self.out_lines)
            };
            match rx.recv_timeout(EVENT_TIMEOUT) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    self.drain();
                    panic!(
                        "no line with {needle:?}; stdout: {:?} stderr: {:?}",
                        self.out_lines, self.err_lines
                    )
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Ok(l) = self.out.recv_timeout(Duration::from_secs(5)) {
            self.out_lines.push(l);
        }
        while let Ok(l) = self.err.recv_timeout(Duration::from_secs(5)) {
            self.err_lines.push(l);
        }
    }

    /// Signal the process and collect everything it printed until it exited.
    pub fn stop(self, signal: &str) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        must(&["kill", &format!("-{signal}"), &self.child.id().to_string()]);
        self.finish()
    }

    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        let status = self.child.wait().expect("wait");
        self.drain();
        (status, self.out_lines, self.err_lines)
    }
}

pub fn traffic_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/live/traffic.py"
    ))
}

/// traffic.py in namespace `ns`.
pub fn traffic(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "python3"])
        .arg(traffic_script())
        .args(args);
    c
}

/// Run traffic.py to completion and return its stdout.
pub fn run_traffic(ns: &str, args: &[&str]) -> String {
    let o = traffic(ns, args).output().expect("python3");
    assert!(
        o.status.success(),
        "traffic.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The meter capturing on `iface` inside `ns`, with JSON records on stdout and the JSON
/// summary on stderr. Returns once it says it is capturing.
pub fn start_meter(ns: &str, iface: &str, extra: &[&str]) -> Proc {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_meter")])
        .args(["--interface", iface, "--json", "--summary", "json"])
        .args(extra);
    let mut p = Proc::spawn(c);
    p.wait_line(true, "meter: capturing on");
    p
}

/// What a live run produced.
pub struct LiveRun {
    pub records: Vec<Value>,
    pub summary: Value,
    pub stderr: Vec<String>,
}

/// Stop the meter with SIGTERM (as systemd does) and parse what it wrote.
pub fn stop_meter(p: Proc) -> LiveRun {
    let (status, out, err) = p.stop("TERM");
    assert!(status.success(), "meter exited with {status}: {err:?}");
    let records = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = err
        .iter()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("summary JSON"))
        .unwrap_or_else(|| panic!("no JSON summary: {err:?}"));
    LiveRun {
        records,
        summary,
        stderr: err,
    }
}

pub fn field(r: &Value, k: &str) -> u64 {
    r.get(k).and_then(Value::as_u64).unwrap_or(0)
}

pub fn text(r: &Value, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Packets and octets of the uniflow records matching `pred`.
pub fn sum(records: &[Value], pred: impl Fn(&Value) -> bool) -> (u64, u64) {
    records
        .iter()
        .filter(|r| pred(r))
        .fold((0, 0), |(p, o), r| {
            (
                p + field(r, "packetDeltaCount"),
                o + field(r, "octetDeltaCount"),
            )
        })
}

/// One scrape of the meter's metrics endpoint from inside `ns` (its loopback).
pub fn scrape(ns: &str, addr: &str) -> String {
    let code = format!(
        "import urllib.request; print(urllib.request.urlopen('http://{addr}/metrics', timeout=5).read().decode(), end='')"
    );
    let o = sh(&["ip", "netns", "exec", ns, "python3", "-c", &code]);
    assert!(
        o.status.success(),
        "scrape: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Sum of every sample of metric `name` (all label sets) in a text exposition.
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Scrape until `done(text)` holds (the meter publishes every 100 ms), or fail after the
/// event timeout with the last scrape.
pub fn scrape_until(ns: &str, addr: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let text = scrape(ns, addr);
        if done(&text) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics never showed the expected counts:\n{text}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
