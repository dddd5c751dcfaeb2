//! `perf`: generate benchmark and scenario captures.
//!
//! ```text
//! perf gen --out FILE [--packets N] [--flows N] [--size 64|imix|N] [--seed S] [--pcapng]
//!          [--snaplen N] [--ipv6-share F] [--udp-share F] [--popularity zipf|round-robin]
//! perf scenario --out FILE --truth-json FILE [--pcapng] [--seed S]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use perf::r#gen::{
    BenchParams, CaptureFormat, FrameSize, Popularity, Scenario, ScenarioParams, gen_bench,
};

#[derive(Parser)]
#[command(name = "perf", about = "Traffic generator for flow-meter benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum PopularityArg {
    Zipf,
    RoundRobin,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stream a bulk benchmark capture (TCP/UDP flows, deterministic for a seed).
    Gen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000_000)]
        packets: u64,
        #[arg(long, default_value_t = 1_000_000)]
        flows: u64,
        /// Wire frame size with FCS (64..=9018), or "imix" (64/594/1518 in 7:4:1).
        #[arg(long, default_value = "imix", value_parser = parse_size)]
        size: FrameSize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write pcapng instead of pcap.
        #[arg(long)]
        pcapng: bool,
        /// Cut frames to this many octets (original lengths are kept).
        #[arg(long)]
        snaplen: Option<u32>,
        /// Fraction of flows that are IPv6.
        #[arg(long, default_value_t = 0.0)]
        ipv6_share: f64,
        /// Fraction of flows that are UDP.
        #[arg(long, default_value_t = 0.2)]
        udp_share: f64,
        #[arg(long, value_enum, default_value = "zipf")]
        popularity: PopularityArg,
    },
    /// Write the default scenario capture and its ground truth as JSON.
    Scenario {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        truth_json: PathBuf,
        #[arg(long)]
        pcapng: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_size(s: &str) -> Result<FrameSize, String> {
    if s.eq_ignore_ascii_case("imix") {
        return Ok(FrameSize::Imix);
    }
    let n: u16 = s
        .parse()
        .map_err(|_| format!("expected a frame size or \"imix\", got {s:?}"))?;
    if !(64..=9018).contains(&n) {
        return Err(format!("frame size {n} outside 64..=9018"));
    }
    Ok(FrameSize::Fixed(n))
}

fn format_of(pcapng: bool) -> CaptureFormat {
    if pcapng {
        CaptureFormat::Pcapng
    } else {
        CaptureFormat::Pcap
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Gen {
            out,
            packets,
            flows,
            size,
            seed,
            pcapng,
            snaplen,
            ipv6_share,
            udp_share,
            popularity,
        } => {
            let p = BenchParams {
                packets,
                flows,
                size,
                seed,
                ipv6_share,
                udp_share,
                popularity: match popularity {
                    PopularityArg::Zipf => Popularity::Zipf,
                    PopularityArg::RoundRobin => Popularity::RoundRobin,
                },
                snaplen: snaplen.unwrap_or(perf::r#gen::pcap::DEFAULT_SNAPLEN),
                format: format_of(pcapng),
                ..BenchParams::default()
            };
            let t0 = Instant::now();
            let t = gen_bench(&out, &p).map_err(|e| format!("{}: {e}", out.display()))?;
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "perf gen: {} packets, {} flows, {} wire octets, {} L3 octets -> {} \
                 ({:.2} s, {:.2} Mpps)",
                t.packets,
                t.flows,
                t.wire_octets,
                t.l3_octets,
                out.display(),
                secs,
                t.packets as f64 / secs.max(1e-9) / 1e6
            );
            Ok(())
        }
        Cmd::Scenario {
            out,
            truth_json,
            pcapng,
            seed,
        } => {
            let sc = Scenario::new(ScenarioParams {
                seed,
                ..ScenarioParams::default()
            })
            .map_err(|e| e.to_string())?;
            let truth = sc
                .write_file(&out, format_of(pcapng))
                .map_err(|e| format!("{}: {e}", out.display()))?;
            std::fs::write(&truth_json, truth.to_json())
                .map_err(|e| format!("{}: {e}", truth_json.display()))?;
            eprintln!(
                "perf scenario: {} frames ({} IP packets, {} uniflows, {} non-flow) -> {}",
                truth.frames,
                truth.ip_packets,
                truth.expected_uniflow_records(),
                truth.non_flow.total(),
                out.display()
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perf: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_argument_forms() {
        assert_eq!(parse_size("imix"), Ok(FrameSize::Imix));
        assert_eq!(parse_size("IMIX"), Ok(FrameSize::Imix));
        assert_eq!(parse_size("64"), Ok(FrameSize::Fixed(64)));
        assert_eq!(parse_size("1518"), Ok(FrameSize::Fixed(1518)));
        assert!(parse_size("63").is_err());
        assert!(parse_size("9019").is_err());
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn command_line_parses() {
        let cli = Cli::try_parse_from([
            "perf",
            "gen",
            "--out",
            "x.pcap",
            "--packets",
            "5",
            "--size",
            "64",
            "--snaplen",
            "128",
            "--pcapng",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Gen {
                packets,
                size,
                snaplen,
                pcapng,
                ..
            } => {
                assert_eq!(packets, 5);
                assert_eq!(size, FrameSize::Fixed(64));
                assert_eq!(snaplen, Some(128));
                assert!(pcapng);
            }
            Cmd::Scenario { .. } => panic!("wrong subcommand"),
        }
        assert!(Cli::try_parse_from(["perf", "scenario", "--out", "x"]).is_err());
    }
}
