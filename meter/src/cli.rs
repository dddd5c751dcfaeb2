//! The `meter` command line: options, validation into a run plan, and the end-of-run
//! summary. Operator mistakes become one-line errors, never panics.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;

use crate::flow::EndReason;
use crate::live::CaptureReport;
use crate::packet::{DropReason, anomaly};
use crate::pipeline::{MeterStats, RunResult};
use crate::source::afxdp;

/// RFC 5612 "Example Enterprise Number for Documentation Use": fine for tests, never for
/// production. Operators set their own with --pen.
pub const DOCUMENTATION_PEN: u32 = 32473;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpMode {
    Auto,
    Native,
    Generic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ZeroCopy {
    Auto,
    On,
    Off,
}

/// A list of queue or core numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberList(pub Vec<u32>);

/// "0,1,4-6" → [0, 1, 4, 5, 6].
pub fn parse_list(s: &str) -> Result<NumberList, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim) {
        let num = |t: &str| {
            t.parse::<u32>()
                .map_err(|_| format!("'{t}' is not a number (expected a list like 0,1 or 0-3)"))
        };
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b || b - a > 4096 {
                    return Err(format!("bad range '{item}'"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(item)?),
        }
    }
    let mut seen = out.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != out.len() {
        return Err(format!("'{s}' lists a number twice"));
    }
    Ok(NumberList(out))
}

fn parse_rule(s: &str) -> Result<xdp_redirect::Rule, String> {
    s.parse().map_err(|e: xdp_redirect::FilterError| e.0)
}

fn parse_frame_size(s: &str) -> Result<u32, String> {
    match s {
        "2048" => Ok(2048),
        "4096" => Ok(4096),
        _ => Err(format!("'{s}' must be 2048 or 4096")),
    }
}

fn parse_pow2(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n.is_power_of_two() && (64..=1 << 20).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' must be a power of two from 64 to 1048576")),
    }
}

/// High-speed flow meter: packets in, unsampled IPFIX out (with TCP-option and MPTCP
/// information). Without an output option, readable flow lines go to stdout.
#[derive(Debug, Parser)]
#[command(name = "meter", version, about, max_term_width = 100)]
#[command(group(clap::ArgGroup::new("source").args(["pcap", "interface"])))]
pub struct Cli {
    /// Read options from this TOML file (keys are these long option names); options on
    /// the command line override it. Check a file with `meter check-config FILE`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Capture file to meter (pcap or pcapng; Ethernet, raw IP, Linux cooked or loopback).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Capture live from this interface over AF_XDP until SIGINT/SIGTERM (needs root or
    /// CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK).
    #[arg(long, value_name = "IFACE")]
    pub interface: Option<String>,

    /// Live: receive queues to watch, e.g. 0,1 or 0-3 (default: all). One worker per queue.
    #[arg(long, value_name = "LIST", value_parser = parse_list)]
    pub queues: Option<NumberList>,

    /// Live: core of each queue's worker, in queue order, e.g. 2,3 (default: cores 0, 1, … in turn).
    #[arg(long, value_name = "LIST", value_parser = parse_list)]
    pub cores: Option<NumberList>,

    /// Live: XDP attach mode; auto tries native (driver) mode and falls back to generic.
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub xdp_mode: XdpMode,

    /// Live: pre-filter rule run in the XDP program: "[include|exclude] SRC DST SPORT DPORT
    /// PROTO", - for any, CIDR prefixes, port ranges lo-hi, lists [a,b]. Repeatable; the
    /// first match wins. Example: --filter "exclude 10.0.0.0/8 - - 53 [tcp,udp]".
    #[arg(long = "filter", value_name = "RULE", value_parser = parse_rule)]
    pub filter: Vec<xdp_redirect::Rule>,

    /// Live: UMEM frames per queue (a power of two; also the fill ring size).
    #[arg(long, value_name = "N", default_value_t = afxdp::DEFAULT_UMEM_FRAMES, value_parser = parse_pow2)]
    pub umem_frames: u32,

    /// Live: bytes per UMEM frame; longer frames are counted as dropped (rx_dropped).
    #[arg(long, value_name = "2048|4096", default_value_t = afxdp::DEFAULT_FRAME_SIZE, value_parser = parse_frame_size)]
    pub frame_size: u32,

    /// Live: receive ring entries per queue (a power of two).
    #[arg(long, value_name = "N", default_value_t = afxdp::DEFAULT_RING_SIZE, value_parser = parse_pow2)]
    pub ring_size: u32,

    /// Live: zero-copy AF_XDP; auto uses it where the driver supports it, else copy mode.
    #[arg(long, value_enum, default_value_t = ZeroCopy::Auto)]
    pub zero_copy: ZeroCopy,

    /// Live: Prometheus/OpenMetrics endpoint (GET /metrics) at IP:PORT, or none
    /// [default: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR|none")]
    pub metrics: Option<String>,

    /// Live: busy-poll budget in microseconds where the kernel offers it (0 = off).
    #[arg(long, value_name = "USECS", default_value_t = afxdp::DEFAULT_BUSY_POLL_USECS)]
    pub busy_poll: u32,

    /// Send IPFIX to a collector: udp://HOST:PORT or tcp://HOST:PORT. Repeatable; every
    /// collector gets the whole stream.
    #[arg(long = "ipfix", value_name = "URL")]
    pub ipfix: Vec<String>,

    /// Write IPFIX to a file (RFC 5655). Repeatable.
    #[arg(long = "ipfix-file", value_name = "PATH")]
    pub ipfix_file: Vec<PathBuf>,

    /// Write one JSON object per flow record to stdout (keys are IE names).
    #[arg(long)]
    pub json: bool,

    /// Worker threads; packets are spread by a symmetric flow hash, each worker pinned to a core.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,

    /// Seconds without packets after which a flow is exported (yaf's default).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub idle_timeout: u32,

    /// Seconds after which a long flow is exported and continues in a new record (yaf's default).
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u32).range(1..))]
    pub active_timeout: u32,

    /// Flow-table capacity per worker; when full, the least recently seen flow is exported
    /// with flowEndReason lackOfResources.
    #[arg(long, value_name = "N", default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    pub max_flows: u32,

    /// IPFIX observation domain ID.
    #[arg(long, value_name = "ID", default_value_t = 1)]
    pub observation_domain: u32,

    /// Private enterprise number of our own IEs (TCP options, MPTCP). 32473 is for
    /// documentation only: set your organisation's PEN.
    #[arg(long, value_name = "PEN", default_value_t = DOCUMENTATION_PEN)]
    pub pen: u32,

    /// Largest IPFIX message in octets (UDP: keep it below the path MTU).
    #[arg(long, value_name = "OCTETS", default_value_t = 1472, value_parser = clap::value_parser!(u32).range(256..=65535))]
    pub max_message_size: u32,

    /// Octets of tcpControlBits in IPFIX: 2 (all flags, RFC 9565) or 1 (the low 8 bits, for
    /// pmacct nfacctd before 1.7.8 — Debian 12's — which reads the 2-octet form as 0).
    #[arg(long, value_name = "1|2", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=2))]
    pub tcp_flags_octets: u16,

    /// Seconds between template retransmissions over UDP.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400))]
    pub template_refresh: u32,

    /// Least severe log events written to stderr.
    #[arg(long, value_enum, default_value_t = crate::logging::LogLevel::Info)]
    pub log_level: crate::logging::LogLevel,

    /// End-of-run summary on stderr.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
}

/// Parse arguments (and the config file `--config` names); on a mistake return the
/// one-line message (help and version are printed and exit as usual).
pub fn parse_args<I, T>(args: I) -> Result<Cli, String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let file = match crate::config::config_path(&argv) {
        Some(p) => Some(crate::config::file_args(&p, &argv)?),
        None => None,
    };
    parse_with_file(&argv, file.as_ref())
}

/// Parse `argv` with the arguments of a config file placed before its own.
pub fn parse_with_file(
    argv: &[std::ffi::OsString],
    file: Option<&crate::config::FileArgs>,
) -> Result<Cli, String> {
    let mut all: Vec<std::ffi::OsString> = argv.iter().take(1).cloned().collect();
    if let Some(f) = file {
        all.extend(f.args.iter().cloned());
    }
    all.extend(argv.iter().skip(1).cloned());
    Cli::try_parse_from(all).map_err(|e| {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
            _ => {
                let text = e.render().to_string();
                let line = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_string();
                // A bad value from the file: say where it is.
                let arg = match e.get(ContextKind::InvalidArg) {
                    Some(ContextValue::String(a)) => a.clone(),
                    _ => String::new(),
                };
                let long = arg
                    .trim_start_matches("--")
                    .split([' ', '='])
                    .next()
                    .unwrap_or("")
                    .to_string();
                let from_file = file
                    .filter(|_| {
                        !argv.iter().any(|a| {
                            a.to_str().is_some_and(|a| {
                                a == format!("--{long}") || a.starts_with(&format!("--{long}="))
                            })
                        })
                    })
                    .and_then(|f| f.locate(&long));
                match from_file {
                    Some(at) => format!("config {at}: {line}"),
                    None => format!("{line} (see meter --help)"),
                }
            }
        }
    })
}

/// Every option with its effective value and where it came from (`meter check-config`).
pub fn effective_settings(file: &crate::config::FileArgs) -> String {
    use clap::CommandFactory;
    let mut argv: Vec<std::ffi::OsString> = vec!["meter".into()];
    argv.extend(file.args.iter().cloned());
    let mut o = String::new();
    let Ok(m) = Cli::command().try_get_matches_from(argv) else {
        return o;
    };
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "config" | "help" | "version") {
            continue;
        }
        let id = arg.get_id().as_str();
        let value = m
            .get_raw(id)
            .map(|v| {
                v.map(|x| x.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "(not set)".into());
        let origin = match file.locate(long) {
            Some(at) => format!("from {at}"),
            None if long == "interface" && value == "(not set)" => {
                "given by meter@IFACE or --interface".into()
            }
            None => "default".into(),
        };
        let _ = writeln!(o, "{long} = {value}    # {origin}");
    }
    o
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The human summary printed on stderr at the end of a run.
pub fn summary_text(source: &str, r: &RunResult, elapsed: std::time::Duration) -> String {
    let s = &r.stats;
    let mut o = String::new();
    let el = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        o,
        "meter: read {} packets, {} bytes from {} in {:.3} s ({:.2} Mpps); capture spans {:.3} s",
        s.frames,
        s.wire_octets,
        source,
        el,
        s.frames as f64 / el / 1e6,
        secs(s.last_ns.saturating_sub(s.first_ns))
    );
    if let Some(c) = &r.capture {
        capture_text(&mut o, c);
    }
    let _ = write!(
        o,
        "meter: flows: {} created, {} flow records exported, peak {} in tables ({} worker{}); by end reason:",
        s.table.flows_created,
        s.exported_flow_records,
        s.table.peak_flows,
        s.workers,
        if s.workers == 1 { "" } else { "s" }
    );
    for reason in EndReason::ALL {
        let _ = write!(
            o,
            " {} {}",
            reason.name(),
            s.table.records_by_reason[reason as usize]
        );
    }
    let _ = writeln!(o, "; mptcp flows {}", s.table.mptcp_flows);
    let _ = write!(o, "meter: dropped before metering:");
    for reason in DropReason::ALL {
        let _ = write!(o, " {} {}", reason.name(), s.drops[reason as usize]);
    }
    let _ = writeln!(
        o,
        "; export queue full: {} flow records ({} packets)",
        s.export_dropped_records, s.export_dropped_packets
    );
    let _ = write!(o, "meter: anomalies in metered packets:");
    for (i, name) in anomaly::NAMES.iter().enumerate() {
        let _ = write!(o, " {} {}", name, s.table.anomalies[i]);
    }
    o.push('\n');
    if !s.unsupported_linktypes.is_empty() {
        let _ = writeln!(
            o,
            "meter: link types that carry neither Ethernet nor IP: {:?}",
            s.unsupported_linktypes
        );
    }
    for out in &r.outputs {
        match out {
            Ok(rep) => {
                let _ = writeln!(
                    o,
                    "meter: output {}: {} uniflow records",
                    rep.name, rep.records
                );
                for d in &rep.details {
                    let _ = writeln!(o, "meter:   {d}");
                }
            }
            Err(e) => {
                let _ = writeln!(o, "meter: output failed: {e}");
            }
        }
    }
    if let Some(Err(e)) = r.capture.as_ref().map(CaptureReport::check) {
        let _ = writeln!(o, "meter: {e}");
    }
    match s.check_conservation() {
        Ok(()) => {
            let _ = writeln!(
                o,
                "meter: conservation ok: {} packets = {} in exported records + {} in dropped records + {} dropped before metering",
                s.frames,
                s.exported_packets,
                s.export_dropped_packets,
                s.dropped_frames()
            );
        }
        Err(e) => {
            let _ = writeln!(o, "meter: {e}");
        }
    }
    o
}

/// One queue's capture counters, named as in the JSON summary.
fn queue_counters(q: &crate::live::QueueReport) -> [(&'static str, u64); 11] {
    let (x, k) = (&q.xdp, &q.socket);
    [
        ("read", q.frames),
        ("xdp_seen", x.seen),
        ("xdp_redirected", x.redirected),
        ("xdp_passed", x.passed),
        ("xdp_filtered", x.filtered),
        ("xdp_unparsable", x.unparsable),
        ("xdp_redirect_failed", x.redirect_failed),
        ("rx_dropped", k.rx_dropped),
        ("rx_ring_full", k.rx_ring_full),
        ("rx_invalid_descs", k.rx_invalid_descs),
        ("rx_fill_ring_empty", k.rx_fill_ring_empty),
    ]
}

fn capture_text(o: &mut String, c: &CaptureReport) {
    for q in &c.queues {
        let _ = write!(
            o,
            "meter: {} queue {} (core {}, {} XDP, {}):",
            c.iface,
            q.queue,
            q.core.map_or("-".to_string(), |c| c.to_string()),
            c.mode.name(),
            if q.zero_copy {
                "zero-copy"
            } else {
                "copy mode"
            },
        );
        for (name, v) in queue_counters(q) {
            let _ = write!(o, " {name} {v}");
        }
        let _ = writeln!(o, "; lost by the socket {}", q.socket.lost());
    }
}

fn capture_json(o: &mut String, c: &CaptureReport) {
    let _ = write!(
        o,
        ",\"capture\":{{\"interface\":{:?},\"xdp_mode\":\"{}\",\"ok\":{},\"queues\":[",
        c.iface,
        c.mode.name(),
        c.check().is_ok()
    );
    for (i, q) in c.queues.iter().enumerate() {
        let _ = write!(
            o,
            "{}{{\"queue\":{},\"core\":{},\"zero_copy\":{}",
            if i > 0 { "," } else { "" },
            q.queue,
            q.core.map_or("null".to_string(), |c| c.to_string()),
            q.zero_copy,
        );
        for (name, v) in queue_counters(q) {
            let _ = write!(o, ",\"{name}\":{v}");
        }
        o.push('}');
    }
    o.push_str("]}");
}

/// The summary as one JSON object (for scripts and tests).
pub fn summary_json(r: &RunResult, elapsed: std::time::Duration) -> String {
    let s: &MeterStats = &r.stats;
    let mut o = String::from("{");
    let _ = write!(
        o,
        "\"packets\":{},\"wire_octets\":{},\"octets_metered\":{},\"elapsed_secs\":{:.6},\"flows_created\":{},\"flow_records\":{},\"exported_packets\":{},\"peak_flows\":{},\"mptcp_flows\":{},\"workers\":{}",
        s.frames,
        s.wire_octets,
        s.table.octets,
        elapsed.as_secs_f64(),
        s.table.flows_created,
        s.exported_flow_records,
        s.exported_packets,
        s.table.peak_flows,
        s.table.mptcp_flows,
        s.workers
    );
    o.push_str(",\"end_reasons\":{");
    for (i, reason) in EndReason::ALL.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(
            o,
            "{sep}\"{}\":{}",
            reason.name(),
            s.table.records_by_reason[*reason as usize]
        );
    }
    o.push_str("},\"drops\":{");
    for (i, reason) in DropReason::ALL.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(
            o,
            "{sep}\"{}\":{}",
            reason.name(),
            s.drops[*reason as usize]
        );
    }
    let _ = write!(
        o,
        ",\"export_queue_full_records\":{},\"export_queue_full_packets\":{}}}",
        s.export_dropped_records, s.export_dropped_packets
    );
    o.push_str(",\"anomalies\":{");
    for (i, name) in anomaly::NAMES.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(o, "{sep}\"{name}\":{}", s.table.anomalies[i]);
    }
    o.push_str("},\"outputs\":[");
    for (i, out) in r.outputs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        match out {
            Ok(rep) => {
                let _ = write!(
                    o,
                    "{{\"name\":\"{}\",\"records\":{},\"dropped_records\":{}}}",
                    rep.name, rep.records, rep.dropped_records
                );
            }
            Err(e) => {
                let _ = write!(o, "{{\"error\":{:?}}}", e);
            }
        }
    }
    o.push(']');
    if let Some(c) = &r.capture {
        capture_json(&mut o, c);
    }
    let _ = write!(
        o,
        ",\"huge_pages\":\"{}\",\"conservation_ok\":{},\"source_error\":{}}}",
        crate::huge_pages::in_effect(),
        s.check_conservation().is_ok(),
        match &r.source_error {
            Some(e) => format!("{:?}", e.to_string()),
            None => "null".into(),
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_yafs() {
        let c = parse_args(["meter", "--pcap", "x.pcap"]).unwrap();
        assert_eq!((c.idle_timeout, c.active_timeout), (300, 1800));
        assert_eq!(c.workers, 1);
        assert_eq!(c.pen, DOCUMENTATION_PEN);
    }

    #[test]
    fn mistakes_are_one_line() {
        for args in [
            vec!["meter", "--pcap", "x", "--bogus"],
            vec!["meter", "--pcap", "x", "--interface", "eth0"],
            vec!["meter", "--pcap", "x", "--workers", "0"],
            vec!["meter", "--interface", "eth0", "--queues", "0,x"],
            vec!["meter", "--interface", "eth0", "--umem-frames", "1000"],
            vec!["meter", "--interface", "eth0", "--filter", "- - - 53"],
            vec!["meter", "--pcap", "x", "--max-message-size", "70000"],
        ] {
            let e = parse_args(args.clone()).unwrap_err();
            assert!(!e.contains('\n'), "{args:?}: {e}");
            assert!(e.ends_with("(see meter --help)"), "{e}");
        }
    }
}
