//! The `meter` command: meter a capture file or a live interface and export its flows.
//!
//! Exit status: 0 success; 1 the run failed (unreadable or truncated capture, an output
//! that could not be written, capture could not start, conservation violated); 2 a usage
//! or configuration mistake (systemd does not restart on it).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use ipfix_export::exporter::ExporterConfig;
use ipfix_export::transport::CollectorUrl;

use meter::cli::{self, Cli, DOCUMENTATION_PEN, SummaryFormat};
use meter::cli::{XdpMode, ZeroCopy};
use meter::export::ipfix::IpfixOutput;
use meter::export::json::JsonOutput;
use meter::export::text::TextOutput;
use meter::export::{FlowOutput, wall_secs};
use meter::flow::TableConfig;
use meter::live::{LiveConfig, Started, run_live};
use meter::logging;
use meter::pipeline::{ExportPolicy, PipelineConfig, RunResult, run_file};
use meter::source::afxdp::SocketSettings;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use xdp_redirect::{Filter, ModeRequest};

fn main() -> ExitCode {
    // Before anything else (threads, allocations worth having on huge pages): returns
    // only when there is nothing to re-execute, or the exec failed.
    let reexec_error = meter::huge_pages::reexec_with_huge_pages();
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "check-config") {
        return check_config(&argv);
    }
    let cli = match cli::parse_args(argv) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("meter: {msg}");
            return ExitCode::from(2);
        }
    };
    logging::init(cli.log_level);
    if let Some(e) = reexec_error {
        tracing::debug!(
            "could not re-execute with {} set: {e}; running without huge pages",
            meter::huge_pages::VAR
        );
    }
    let settings = match Settings::of(&cli) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("meter: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(cli, settings) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("meter: error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// What the options mean once checked beyond their syntax (collector URLs, filter rules,
/// the metrics address). A mistake here is a usage error (exit 2), like a bad flag.
struct Settings {
    collectors: Vec<CollectorUrl>,
    filter: Filter,
    metrics: Option<SocketAddr>,
}

impl Settings {
    fn of(cli: &Cli) -> Result<Settings, String> {
        if cli.pcap.is_none() && cli.interface.is_none() {
            return Err(
                "nothing to meter: give --pcap FILE or --interface IFACE (or set interface in the config file) (see meter --help)"
                    .into(),
            );
        }
        let mut collectors = Vec::new();
        for u in &cli.ipfix {
            let url: CollectorUrl = u.parse().map_err(|e| format!("--ipfix {u}: {e}"))?;
            if matches!(url, CollectorUrl::File(_)) {
                return Err(format!(
                    "--ipfix {u}: expected udp://HOST:PORT or tcp://HOST:PORT (use --ipfix-file for files)"
                ));
            }
            collectors.push(url);
        }
        collectors.extend(cli.ipfix_file.iter().cloned().map(CollectorUrl::File));
        if !collectors.is_empty() {
            ipfix_export::check_pen(cli.pen).map_err(|e| format!("--pen {}: {e}", cli.pen))?;
        }
        let filter = Filter::compile(&cli.filter).map_err(|e| format!("--filter: {e}"))?;
        let metrics = match (&cli.interface, cli.metrics.as_deref()) {
            // Offline runs serve metrics only when asked to.
            (None, None) => None,
            (_, m) => meter::metrics::parse_listen_addr(m.unwrap_or(meter::metrics::DEFAULT_ADDR))
                .map_err(|e| format!("--{e}"))?,
        };
        if cli.pcap.is_some() && metrics.is_some() {
            return Err("--metrics serves live captures (--interface) only".into());
        }
        Ok(Settings {
            collectors,
            filter,
            metrics,
        })
    }
}

/// `meter check-config FILE`: validate a config file and print the effective settings.
fn check_config(argv: &[OsString]) -> ExitCode {
    let Some(path) = argv.get(2) else {
        eprintln!("meter: check-config needs the file to check: meter check-config FILE");
        return ExitCode::from(2);
    };
    let base = vec![argv[0].clone()];
    let checked = meter::config::file_args(std::path::Path::new(path), &base).and_then(|fa| {
        let cli = cli::parse_with_file(&base, Some(&fa))?;
        Settings::of(&Cli {
            // The unit gives the interface on the command line (meter@IFACE).
            interface: cli.interface.clone().or_else(|| Some("IFACE".into())),
            ..cli
        })?;
        Ok(fa)
    });
    match checked {
        Ok(fa) => {
            println!("{}: ok", fa.path);
            print!("{}", cli::effective_settings(&fa));
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("meter: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Capture live until SIGINT or SIGTERM. A second signal ends the process at once,
/// without flushing.
fn run_interface(
    cli: &Cli,
    iface: &str,
    mut cfg: PipelineConfig,
    outputs: Vec<Box<dyn FlowOutput>>,
    filter: Filter,
    metrics: Option<SocketAddr>,
) -> Result<RunResult, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let live = LiveConfig {
        iface: iface.to_string(),
        queues: cli.queues.as_ref().map(|q| q.0.clone()),
        cores: cli
            .cores
            .as_ref()
            .map(|c| c.0.iter().map(|&c| c as usize).collect()),
        mode: match cli.xdp_mode {
            XdpMode::Auto => ModeRequest::Auto,
            XdpMode::Native => ModeRequest::Native,
            XdpMode::Generic => ModeRequest::Generic,
        },
        filter,
        socket: SocketSettings {
            umem_frames: cli.umem_frames,
            frame_size: cli.frame_size,
            ring_size: cli.ring_size,
            zero_copy: match cli.zero_copy {
                ZeroCopy::Auto => None,
                ZeroCopy::On => Some(true),
                ZeroCopy::Off => Some(false),
            },
            busy_poll_usecs: cli.busy_poll,
        },
    };
    cfg.export_policy = ExportPolicy::Drop;
    run_live(&live, &cfg, outputs, stop, metrics, |st: &Started| {
        let queues: Vec<String> = st
            .queues
            .iter()
            .map(|(q, core, zc)| {
                format!(
                    "queue {q} on core {} ({})",
                    core.map_or("-".into(), |c| c.to_string()),
                    if *zc { "zero-copy" } else { "copy mode" }
                )
            })
            .collect();
        tracing::info!(
            interface = iface,
            xdp_mode = st.mode.name(),
            metrics = %metrics.map_or("none".to_string(), |a| a.to_string()),
            "capturing on {iface}: {} XDP, {}",
            st.mode.name(),
            queues.join(", ")
        );
        for n in &st.notes {
            tracing::warn!(interface = iface, "{n}");
        }
    })
    .map_err(|e| e.to_string())
}

fn run(cli: Cli, settings: Settings) -> Result<ExitCode, String> {
    let Settings {
        collectors,
        filter,
        metrics,
    } = settings;
    let mut outputs: Vec<Box<dyn FlowOutput>> = Vec::new();
    if !collectors.is_empty() {
        if cli.pen == DOCUMENTATION_PEN {
            tracing::warn!(
                "exporting our own IEs under PEN 32473, which is for documentation only (RFC 5612); set your organisation's PEN with --pen"
            );
        }
        let cfg = ExporterConfig {
            odid: cli.observation_domain,
            max_message_size: cli.max_message_size as usize,
            template_refresh_secs: cli.template_refresh,
            ..ExporterConfig::default()
        };
        outputs.push(Box::new(IpfixOutput::new(
            &collectors,
            cfg,
            cli.pen,
            cli.tcp_flags_octets,
            wall_secs(),
        )?));
    }
    if cli.json {
        outputs.push(Box::new(JsonOutput::new(std::io::stdout(), cli.pen)));
    }
    if outputs.is_empty() {
        outputs.push(Box::new(TextOutput::new(std::io::stdout())));
    }

    let cfg = PipelineConfig {
        workers: usize::from(cli.workers),
        table: TableConfig {
            max_flows: cli.max_flows as usize,
            idle_timeout_ns: u64::from(cli.idle_timeout) * 1_000_000_000,
            active_timeout_ns: u64::from(cli.active_timeout) * 1_000_000_000,
            ..TableConfig::default()
        },
        ..PipelineConfig::default()
    };
    let started = Instant::now();
    let (result, source) = match (&cli.interface, &cli.pcap) {
        (Some(iface), _) => (
            run_interface(&cli, iface, cfg, outputs, filter, metrics)?,
            iface.clone(),
        ),
        (None, Some(path)) => (
            run_file(path, &cfg, outputs).map_err(|e| e.to_string())?,
            path.display().to_string(),
        ),
        (None, None) => return Err("give --pcap FILE or --interface IFACE".into()),
    };
    let elapsed = started.elapsed();
    match cli.summary {
        SummaryFormat::Text => eprint!("{}", cli::summary_text(&source, &result, elapsed)),
        SummaryFormat::Json => eprintln!("{}", cli::summary_json(&result, elapsed)),
        SummaryFormat::None => {}
    }
    let mut failed = false;
    if let Some(e) = &result.source_error {
        eprintln!("meter: error: {e}");
        failed = true;
    }
    for e in result.outputs.iter().filter_map(|o| o.as_ref().err()) {
        eprintln!("meter: error: {e}");
        failed = true;
    }
    if let Some(Err(e)) = result.capture.as_ref().map(|c| c.check()) {
        eprintln!("meter: error: {e}");
        failed = true;
    }
    if let Err(e) = result.stats.check_conservation() {
        eprintln!("meter: error: {e}");
        failed = true;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
