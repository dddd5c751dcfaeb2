//! The `meter` command: meter a capture file and export its flows.
//!
//! Exit status: 0 success; 1 the run failed (unreadable or truncated capture, an output
//! that could not be written, conservation violated); 2 a usage mistake.

use std::process::ExitCode;
use std::time::Instant;

use ipfix_export::exporter::ExporterConfig;
use ipfix_export::transport::CollectorUrl;

use meter::cli::{self, Cli, DOCUMENTATION_PEN, SummaryFormat};
use meter::export::ipfix::IpfixOutput;
use meter::export::json::JsonOutput;
use meter::export::text::TextOutput;
use meter::export::{FlowOutput, wall_secs};
use meter::flow::TableConfig;
use meter::pipeline::{PipelineConfig, run_file};

fn main() -> ExitCode {
    let cli = match cli::parse_args(std::env::args_os()) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("meter: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("meter: error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
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

    let mut outputs: Vec<Box<dyn FlowOutput>> = Vec::new();
    if !collectors.is_empty() {
        ipfix_export::check_pen(cli.pen).map_err(|e| format!("--pen {}: {e}", cli.pen))?;
        if cli.pen == DOCUMENTATION_PEN {
            eprintln!(
                "meter: warning: exporting our own IEs under PEN 32473, which is for documentation only (RFC 5612); set your organisation's PEN with --pen"
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
        },
        ..PipelineConfig::default()
    };
    let started = Instant::now();
    let result = run_file(&cli.pcap, &cfg, outputs).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    match cli.summary {
        SummaryFormat::Text => eprint!("{}", cli::summary_text(&cli.pcap, &result, elapsed)),
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
