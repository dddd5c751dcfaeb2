//! pmacct nfacctd (1.7.7) on 127.0.0.1 with a generated configuration: one print plugin
//! writing CSV, aggregating on src_host, dst_host, src_port, dst_port, proto plus the
//! caller's custom primitives (an `aggregate_primitives` file, e.g.
//! `name=mptcp_sender_token field_type=32473:1103 len=4 semantics=u_int`).
//!
//! Flushing: the print plugin keeps a cache that it purges every `print_refresh_time`
//! and when it exits. The refresh is set to an hour so a test run is one purge, made on
//! exit; `print_output_file_append` keeps earlier purges should a run be longer, and
//! `print_num_protos` prints protocol numbers instead of names.
//!
//! Start waits for both the core ("waiting for NetFlow/IPFIX data") and the print plugin
//! ("cache entries="): data the core passed on before the plugin was up was observed to
//! be lost. Stop first waits until the core has drained its socket and the plugin sleeps
//! in poll(2) with everything consumed, because the plugin's SIGINT handler purges its
//! cache and exits without reading what is still queued; then it sends SIGINT, which
//! pmacct documents as the graceful end (docs/SIGNALS; SIGTERM was observed not to end
//! the 1.7.7 core), and waits until the plugin has closed the inherited output pipes,
//! i.e. has finished writing.
//!
//! Rows are read by CSV header name. A flow that spans two purges appears in two rows.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::process::{Daemon, Launch, TempDir, start_on_free_port};
use super::{HarnessError, io_err};

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const PLUGIN: &str = "perf";

/// Length of a custom primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimitiveLen {
    Fixed(u16),
    /// `len=vlen`: variable-length IEs.
    Variable,
}

/// One line of pmacct's `aggregate_primitives` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPrimitive {
    /// Column name; lower-case letters, digits and '_'.
    pub name: String,
    /// `ID` or `PEN:ID`, e.g. "32473:1103".
    pub field_type: String,
    pub len: PrimitiveLen,
    /// pmacct semantics: u_int, hex, ip, mac, str or raw.
    pub semantics: String,
}

impl CustomPrimitive {
    pub fn new(name: &str, field_type: &str, len: u16, semantics: &str) -> CustomPrimitive {
        CustomPrimitive {
            name: name.to_string(),
            field_type: field_type.to_string(),
            len: PrimitiveLen::Fixed(len),
            semantics: semantics.to_string(),
        }
    }

    fn validate(&self) -> Result<(), HarnessError> {
        let ok_name = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let ok_type = !self.field_type.is_empty()
            && self
                .field_type
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b':')
            && self.field_type.matches(':').count() <= 1;
        let ok_sem = matches!(
            self.semantics.as_str(),
            "u_int" | "hex" | "ip" | "mac" | "str" | "raw"
        );
        if ok_name && ok_type && ok_sem {
            Ok(())
        } else {
            Err(HarnessError::InvalidInput(format!(
                "custom primitive {self:?}"
            )))
        }
    }

    fn line(&self) -> String {
        let len = match self.len {
            PrimitiveLen::Fixed(n) => n.to_string(),
            PrimitiveLen::Variable => "vlen".into(),
        };
        format!(
            "name={} field_type={} len={} semantics={}\n",
            self.name, self.field_type, len, self.semantics
        )
    }
}

/// Configuration knobs beyond the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NfacctdConfig {
    pub primitives: Vec<CustomPrimitive>,
    /// print_cache_entries (buckets; ~10 entries each). pmacct's default 16411 holds
    /// about 150 k aggregates.
    pub cache_entries: Option<u32>,
}

/// One CSV row of the print plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmacctRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    /// Custom primitive values as printed, in configuration order.
    pub custom: Vec<(String, String)>,
}

impl PmacctRecord {
    /// The printed value of a custom primitive.
    pub fn custom(&self, name: &str) -> Option<&str> {
        self.custom
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running (or stopped) nfacctd; its process group is killed on drop.
pub struct Nfacctd {
    daemon: Daemon,
    dir: TempDir,
    port: u16,
    csv: PathBuf,
    primitives: Vec<CustomPrimitive>,
    stopped: bool,
}

impl Nfacctd {
    /// Start with these custom primitives (may be empty).
    pub fn start(primitives: &[CustomPrimitive]) -> Result<Nfacctd, HarnessError> {
        Nfacctd::start_with(&NfacctdConfig {
            primitives: primitives.to_vec(),
            ..NfacctdConfig::default()
        })
    }

    /// Start with a full configuration.
    pub fn start_with(cfg: &NfacctdConfig) -> Result<Nfacctd, HarnessError> {
        for p in &cfg.primitives {
            p.validate()?;
        }
        // "bind() ... failed (errno: 98)": the port was taken between probe and bind.
        start_on_free_port("nfacctd", "errno: 98", |port| {
            let dir = TempDir::new("perf-nfacctd")?;
            let csv = dir.path().join("records.csv");
            let conf = dir.path().join("nfacctd.conf");
            let prims = dir.path().join("primitives.lst");
            let mut text = String::new();
            let _ = writeln!(text, "daemonize: false");
            let _ = writeln!(text, "nfacctd_ip: 127.0.0.1");
            let _ = writeln!(text, "nfacctd_port: {port}");
            let _ = writeln!(text, "plugins: print[{PLUGIN}]");
            let mut agg = String::from("src_host, dst_host, src_port, dst_port, proto");
            for p in &cfg.primitives {
                agg.push_str(", ");
                agg.push_str(&p.name);
            }
            let _ = writeln!(text, "aggregate[{PLUGIN}]: {agg}");
            if !cfg.primitives.is_empty() {
                let list: String = cfg.primitives.iter().map(CustomPrimitive::line).collect();
                std::fs::write(&prims, list).map_err(io_err("write primitives file"))?;
                let _ = writeln!(text, "aggregate_primitives: {}", prims.display());
            }
            let _ = writeln!(text, "print_output[{PLUGIN}]: csv");
            let _ = writeln!(text, "print_output_file[{PLUGIN}]: {}", csv.display());
            let _ = writeln!(text, "print_output_file_append[{PLUGIN}]: true");
            let _ = writeln!(text, "print_refresh_time[{PLUGIN}]: 3600");
            let _ = writeln!(text, "print_num_protos[{PLUGIN}]: true");
            if let Some(n) = cfg.cache_entries {
                let _ = writeln!(text, "print_cache_entries[{PLUGIN}]: {n}");
            }
            std::fs::write(&conf, text).map_err(io_err("write nfacctd.conf"))?;

            let mut cmd = Command::new("nfacctd");
            cmd.arg("-f").arg(&conf);
            let mut daemon = Daemon::spawn(cmd, "nfacctd")?;
            let ready = format!("waiting for NetFlow/IPFIX data on 127.0.0.1:{port}");
            // The core is ready when bound; data it passes on before the print plugin has
            // set up its cache was observed to be lost, so wait for the plugin too.
            let plugin = format!("( {PLUGIN}/print ): cache entries=");
            let mut core_up = false;
            let mut plugin_up = false;
            let r = daemon.wait_for_line(
                |l| {
                    core_up |= l.contains(&ready);
                    plugin_up |= l.contains(&plugin);
                    core_up && plugin_up
                },
                READY_TIMEOUT,
            );
            Ok(match r {
                Ok(_) => Launch::Ready(Nfacctd {
                    daemon,
                    dir,
                    port,
                    csv,
                    primitives: cfg.primitives.clone(),
                    stopped: false,
                }),
                Err(e) => Launch::Failed(e, daemon),
            })
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where exporters should send.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// The working directory (configuration, primitives file, CSV output).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        self.daemon.log_text()
    }

    /// SIGINT; wait for the core to exit and the plugin to finish writing. Idempotent.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        if self.stopped {
            return Ok(());
        }
        let r = self
            .daemon
            .drain_and_stop(self.port, true, "INT", STOP_TIMEOUT);
        self.stopped = true;
        r
    }

    /// The plugin's rows. Requires [`Nfacctd::stop`]; no file means no flows were purged.
    pub fn records(&self) -> Result<Vec<PmacctRecord>, HarnessError> {
        if !self.stopped {
            return Err(HarnessError::NotStopped);
        }
        let text = match std::fs::read_to_string(&self.csv) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read nfacctd CSV")(e)),
        };
        parse_csv(&text, &self.primitives)
    }
}

fn parse_csv(text: &str, prims: &[CustomPrimitive]) -> Result<Vec<PmacctRecord>, HarnessError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| HarnessError::Parse {
                what: format!("nfacctd CSV header (no {name})"),
                line: header.to_string(),
            })
    };
    let (i_src, i_dst, i_sp, i_dp, i_pr, i_pk, i_by) = (
        col("SRC_IP")?,
        col("DST_IP")?,
        col("SRC_PORT")?,
        col("DST_PORT")?,
        col("PROTOCOL")?,
        col("PACKETS")?,
        col("BYTES")?,
    );
    let custom_cols: Vec<(String, usize)> = prims
        .iter()
        .map(|p| col(&p.name).map(|i| (p.name.clone(), i)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for line in lines {
        if line == header {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize, what: &str| {
            f.get(i).copied().ok_or_else(|| HarnessError::Parse {
                what: format!("nfacctd CSV {what}"),
                line: line.to_string(),
            })
        };
        let num = |i: usize, what: &str| -> Result<u64, HarnessError> {
            get(i, what)?.parse().map_err(|_| HarnessError::Parse {
                what: format!("nfacctd CSV {what}"),
                line: line.to_string(),
            })
        };
        let addr = |i: usize, what: &str| -> Result<IpAddr, HarnessError> {
            get(i, what)?.parse().map_err(|_| HarnessError::Parse {
                what: format!("nfacctd CSV {what}"),
                line: line.to_string(),
            })
        };
        let small = |v: u64, what: &str, max: u64| {
            if v <= max {
                Ok(v)
            } else {
                Err(HarnessError::Parse {
                    what: format!("nfacctd CSV {what}"),
                    line: line.to_string(),
                })
            }
        };
        out.push(PmacctRecord {
            src: addr(i_src, "SRC_IP")?,
            dst: addr(i_dst, "DST_IP")?,
            sport: small(num(i_sp, "SRC_PORT")?, "SRC_PORT", 65535)? as u16,
            dport: small(num(i_dp, "DST_PORT")?, "DST_PORT", 65535)? as u16,
            proto: small(num(i_pr, "PROTOCOL")?, "PROTOCOL", 255)? as u8,
            packets: num(i_pk, "PACKETS")?,
            bytes: num(i_by, "BYTES")?,
            custom: custom_cols
                .iter()
                .map(|(n, i)| get(*i, n).map(|v| (n.clone(), v.to_string())))
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_print_plugin_csv() {
        // As written by nfacctd 1.7.7 with print_num_protos (captured by hand).
        let text = "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,mptcp_sender_token,PACKETS,BYTES\n\
                    192.0.2.1,192.0.2.2,40000,443,6,3735928559,14,2468\n\
                    2001:db8::1,2001:db8::2,1,2,17,0,1,100\n";
        let p = [CustomPrimitive::new(
            "mptcp_sender_token",
            "32473:1103",
            4,
            "u_int",
        )];
        let r = parse_csv(text, &p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].packets, 14);
        assert_eq!(r[0].bytes, 2468);
        assert_eq!(r[0].proto, 6);
        assert_eq!(r[0].custom("mptcp_sender_token"), Some("3735928559"));
        assert_eq!(r[1].src, "2001:db8::1".parse::<IpAddr>().unwrap());
        // A missing custom column is an error, not a silent empty value.
        let q = [CustomPrimitive::new("other", "32473:1", 4, "u_int")];
        assert!(parse_csv(text, &q).is_err());
        assert!(parse_csv("SRC_IP,DST_IP\n", &[]).is_err());
    }

    #[test]
    fn primitives_are_validated() {
        assert!(
            CustomPrimitive::new("ok_1", "32473:1103", 4, "u_int")
                .validate()
                .is_ok()
        );
        assert!(
            CustomPrimitive::new("bad name", "1", 4, "u_int")
                .validate()
                .is_err()
        );
        assert!(
            CustomPrimitive::new("x", "1:2:3", 4, "u_int")
                .validate()
                .is_err()
        );
        assert!(
            CustomPrimitive::new("x", "1", 4, "float")
                .validate()
                .is_err()
        );
        assert_eq!(
            CustomPrimitive::new("t", "32473:1103", 4, "u_int").line(),
            "name=t field_type=32473:1103 len=4 semantics=u_int\n"
        );
    }
}
