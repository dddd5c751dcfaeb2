//! `perf`: generate benchmark and scenario captures.
//!
//! ```text
//! perf gen --out FILE [--packets N] [--flows N] [--size 64|imix|N] [--seed S] [--pcapng]
//!          [--snaplen N] [--ipv6-share F] [--udp-share F] [--popularity zipf|round-robin]
//! perf scenario --out FILE --truth-json FILE [--pcapng] [--seed S]
//! perf traffic --out FILE [--flows N] [--new-flows N] [--rate PPS] [--packets N]
//!              [--size 64|imix|campus|N] [--snaplen N] [--seed S] [--uniform]
//! perf limit --flows N --new-flows N [--packets N] [--rate PPS] [--size S] [--seed S]
//!            [--chunk N] [--tcp-share F] [--udp-share F] [--icmp-share F] [--ipv6-share F]
//!            [--vlan-share F] [--mptcp-share F] [--uniform]
//! perf memory [--mib N] [--accesses N] [--pattern-flows N] [--pattern-packets N]
//! perf compare --out DIR [--quick] [--runs N] [--meter PATH] [--peer NAME=TEMPLATE]...
//!              [--no-peers] [--no-limit] [--no-offline] [--no-live] [--rate PPS]
//!              [--sender auto|tcpreplay|trafgen]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use perf::r#gen::traffic::write_traffic_pcap;
use perf::r#gen::{
    BenchParams, CaptureFormat, FrameSize, Popularity, Scenario, ScenarioParams, SizeMix,
    TrafficParams, gen_bench,
};
use perf::measure::{self, CompareOpts, SenderChoice, limit, peers};

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

#[derive(Clone, Copy, ValueEnum)]
enum SenderArg {
    Auto,
    Tcpreplay,
    Trafgen,
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
    /// Write a capture of the traffic model (warm-up plus --packets packets).
    Traffic {
        #[arg(long)]
        out: PathBuf,
        /// Active flows.
        #[arg(long, default_value_t = 100_000)]
        flows: u64,
        /// New flows per second of packet time.
        #[arg(long, default_value_t = 10_000)]
        new_flows: u64,
        /// Packet rate of the timestamps.
        #[arg(long, default_value_t = 1_000_000)]
        rate: u64,
        /// Packets after the warm-up (one packet per active flow).
        #[arg(long, default_value_t = 1_000_000)]
        packets: u64,
        /// Frame size with FCS (64..=9018), "imix" or "campus".
        #[arg(long, default_value = "imix", value_parser = SizeMix::parse)]
        size: SizeMix,
        #[arg(long, default_value_t = 65_535)]
        snaplen: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Uniform flow popularity instead of Zipf-like.
        #[arg(long)]
        uniform: bool,
        #[arg(long, default_value_t = 0.2)]
        ipv6_share: f64,
        #[arg(long, default_value_t = 0.1)]
        vlan_share: f64,
    },
    /// Metering limit of one cell: packets from memory into one flow table; prints JSON.
    Limit {
        #[arg(long)]
        flows: u64,
        #[arg(long, default_value_t = 0)]
        new_flows: u64,
        #[arg(long, default_value_t = 20_000_000)]
        packets: u64,
        /// Packet rate of the timestamps.
        #[arg(long, default_value_t = 20_000_000)]
        rate: u64,
        #[arg(long, default_value = "imix", value_parser = SizeMix::parse)]
        size: SizeMix,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Packets generated, then metered, per chunk (its frames' cache residency).
        #[arg(long, default_value_t = limit::DEFAULT_CHUNK)]
        chunk: usize,
        #[command(flatten)]
        mix: MixArgs,
    },
    /// One core's random memory access (latency, lines per second with many misses in
    /// flight, first write of fresh memory, what a page walk adds): the ceiling of the
    /// metering limit; prints JSON.
    Memory {
        /// Buffer size; far above the caches.
        #[arg(long, default_value_t = 512)]
        mib: usize,
        /// Timed accesses per figure.
        #[arg(long, default_value_t = 4_000_000)]
        accesses: usize,
        /// Flows whose table footprint the access-pattern probe replays (the metering
        /// limit's table: at 1 M flows 32 MiB of index and 244 MiB of entries); 0 skips it.
        #[arg(long, default_value_t = 1_000_000)]
        pattern_flows: usize,
        /// Packets per figure of the access-pattern probe.
        #[arg(long, default_value_t = 4_000_000)]
        pattern_packets: usize,
    },
    /// Run every measurement, ours and the peers', and write results.json, results.md and
    /// SVG plots into --out.
    Compare {
        #[arg(long, default_value = "target/perf")]
        out: PathBuf,
        /// Small grid and captures: finishes in about 3 minutes.
        #[arg(long)]
        quick: bool,
        /// Runs per measurement (default 3, 1 with --quick).
        #[arg(long)]
        runs: Option<usize>,
        /// The meter binary (default: beside this program, else target/release/meter).
        #[arg(long)]
        meter: Option<PathBuf>,
        /// Another meter as NAME=COMMAND TEMPLATE (see perf/README.md); repeatable.
        #[arg(long = "peer", value_name = "NAME=TEMPLATE")]
        peer: Vec<String>,
        /// Measure only our meter.
        #[arg(long)]
        no_peers: bool,
        /// Skip the live measurement.
        #[arg(long)]
        no_live: bool,
        /// Skip the metering-limit grid.
        #[arg(long)]
        no_limit: bool,
        /// Skip the offline measurement.
        #[arg(long)]
        no_offline: bool,
        /// Packet rate of the limit grid's timestamps.
        #[arg(long, default_value_t = 20_000_000)]
        rate: u64,
        /// Live traffic sender: trafgen when installed (faster), else tcpreplay.
        #[arg(long, value_enum, default_value = "auto")]
        sender: SenderArg,
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

/// `perf limit`'s traffic mix (defaults: the traffic model's own, which the grid uses).
#[derive(clap::Args)]
struct MixArgs {
    /// Shares of flows by protocol (normalised together; defaults: the model's).
    #[arg(long, default_value_t = limit::LimitMix::default().tcp)]
    tcp_share: f64,
    #[arg(long, default_value_t = limit::LimitMix::default().udp)]
    udp_share: f64,
    #[arg(long, default_value_t = limit::LimitMix::default().icmp)]
    icmp_share: f64,
    /// Share of flows that are IPv6.
    #[arg(long, default_value_t = limit::LimitMix::default().ipv6)]
    ipv6_share: f64,
    /// Share of flows that are VLAN-tagged.
    #[arg(long, default_value_t = limit::LimitMix::default().vlan)]
    vlan_share: f64,
    /// Share of the TCP flows that are MPTCP.
    #[arg(long, default_value_t = limit::LimitMix::default().mptcp)]
    mptcp_share: f64,
    /// Uniform flow popularity instead of Zipf-like.
    #[arg(long)]
    uniform: bool,
}

impl From<MixArgs> for limit::LimitMix {
    fn from(a: MixArgs) -> limit::LimitMix {
        limit::LimitMix {
            tcp: a.tcp_share,
            udp: a.udp_share,
            icmp: a.icmp_share,
            ipv6: a.ipv6_share,
            vlan: a.vlan_share,
            mptcp: a.mptcp_share,
            zipf: !a.uniform,
        }
    }
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

fn default_meter() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("meter")));
    match beside {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("target/release/meter"),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Traffic {
            out,
            flows,
            new_flows,
            rate,
            packets,
            size,
            snaplen,
            seed,
            uniform,
            ipv6_share,
            vlan_share,
        } => {
            let p = TrafficParams {
                active_flows: flows,
                new_flows_per_sec: new_flows,
                packets_per_sec: rate,
                size,
                snaplen,
                seed,
                zipf: !uniform,
                ipv6_share,
                vlan_share,
                ..TrafficParams::default()
            };
            let t0 = Instant::now();
            let t = write_traffic_pcap(&out, &p, packets, CaptureFormat::Pcap)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "perf traffic: {} packets ({} flows started, {} TCP flows closed), {} wire octets -> {} ({:.2} s, {:.2} Mpps)",
                t.packets,
                t.flows_started,
                t.tcp_flows_closed,
                t.wire_octets,
                out.display(),
                secs,
                t.packets as f64 / secs.max(1e-9) / 1e6
            );
            Ok(())
        }
        Cmd::Memory {
            mib,
            accesses,
            pattern_flows,
            pattern_packets,
        } => {
            let sizes = measure::memory::ProbeSizes {
                mib,
                accesses,
                translation_accesses: accesses,
                pattern_flows,
                pattern_packets,
            };
            println!("{}", measure::memory::probes_json(&sizes, 1));
            Ok(())
        }
        Cmd::Limit {
            flows,
            new_flows,
            packets,
            rate,
            size,
            seed,
            chunk,
            mix,
        } => {
            if chunk == 0 {
                return Err("limit: --chunk must be at least 1".into());
            }
            let v = limit::run_limit(&limit::LimitSpec {
                active_flows: flows,
                new_flows_per_sec: new_flows,
                packets,
                nominal_pps: rate,
                size,
                seed,
                chunk,
                mix: mix.into(),
            })?;
            println!("{v}");
            Ok(())
        }
        Cmd::Compare {
            out,
            quick,
            runs,
            meter,
            peer,
            no_peers,
            no_live,
            no_limit,
            no_offline,
            rate,
            sender,
        } => {
            let mut list = if no_peers {
                Vec::new()
            } else {
                peers::builtin()
            };
            for p in &peer {
                list.push(peers::parse_custom(p)?);
            }
            let o = CompareOpts {
                out: out.clone(),
                quick,
                runs: runs.unwrap_or(if quick { 1 } else { 3 }).max(1),
                meter: meter.unwrap_or_else(default_meter),
                perf: std::env::current_exe().map_err(|e| format!("own path: {e}"))?,
                peers: list,
                live: !no_live,
                limit: !no_limit,
                offline: !no_offline,
                nominal_pps: rate.max(1),
                sender: match sender {
                    SenderArg::Auto => SenderChoice::Auto,
                    SenderArg::Tcpreplay => SenderChoice::Tcpreplay,
                    SenderArg::Trafgen => SenderChoice::Trafgen,
                },
            };
            measure::compare(&o)?;
            eprintln!(
                "perf compare: results in {}/results.json, results.md, throughput.svg, loss.svg",
                out.display()
            );
            Ok(())
        }
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
    // The metering limit runs our table in this process: it gets the huge pages the
    // `meter` command gets (see meter::huge_pages). Peers started from here inherit the
    // variable, as they would from scripts/perf.sh.
    let _ = meter::huge_pages::reexec_with_huge_pages();
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
            _ => panic!("wrong subcommand"),
        }
        assert!(Cli::try_parse_from(["perf", "scenario", "--out", "x"]).is_err());
    }

    #[test]
    fn limit_mix_flags_reach_their_own_fields() {
        let mix_of = |extra: &[&str]| {
            let args = ["perf", "limit", "--flows", "10"].iter().chain(extra);
            match Cli::try_parse_from(args).unwrap().cmd {
                Cmd::Limit { mix, .. } => limit::LimitMix::from(mix),
                _ => panic!("wrong subcommand"),
            }
        };
        assert_eq!(mix_of(&[]), limit::LimitMix::default());
        // Distinct values, so two flags swapped on the way would show.
        let m = mix_of(&[
            "--tcp-share",
            "0.1",
            "--udp-share",
            "0.2",
            "--icmp-share",
            "0.3",
            "--ipv6-share",
            "0.4",
            "--vlan-share",
            "0.5",
            "--mptcp-share",
            "0.6",
            "--uniform",
        ]);
        let want = limit::LimitMix {
            tcp: 0.1,
            udp: 0.2,
            icmp: 0.3,
            ipv6: 0.4,
            vlan: 0.5,
            mptcp: 0.6,
            zipf: false,
        };
        assert_eq!(m, want);
        assert!(
            Cli::try_parse_from(["perf", "limit", "--flows", "1", "--tcp-share", "x"]).is_err()
        );
    }
}
