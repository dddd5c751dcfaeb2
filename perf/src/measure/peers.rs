//! Flow meters measured side by side, as command templates.
//!
//! A template is one command line; `{placeholders}` are replaced before it is split on
//! spaces (every substituted value is a path or number without spaces):
//!
//! | placeholder | value |
//! |---|---|
//! | `{pcap}` | the capture file (offline) |
//! | `{iface}` | the capture interface (live) |
//! | `{collector_port}` | UDP port of the nfcapd started for this run, on 127.0.0.1 |
//! | `{collector}` | `127.0.0.1:{collector_port}` |
//! | `{max_flows}` | flow-table size the run needs |
//! | `{out}` | a scratch directory of this run |
//! | `{conf}` | a configuration file written from the peer's `conf` template |
//!
//! Each peer's export goes to a real collector (nfcapd, read back with nfdump) or, for
//! argus, to its own file read back with `racount`; the packets it accounts for are
//! compared with the generator's truth.

/// Where a peer's totals are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Totals {
    /// NetFlow/IPFIX to nfcapd, totals by nfdump.
    Nfcapd,
    /// argus writes `{out}/argus.out`; totals by `racount`.
    Racount,
}

/// One meter to compare.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    /// The program that must be on PATH.
    pub program: String,
    /// Command for a capture file, or why there is none.
    pub offline: Result<String, String>,
    /// Command for an interface, or why there is none.
    pub live: Result<String, String>,
    /// Configuration file template for `{conf}` (offline, live).
    pub conf: Option<(String, String)>,
    pub totals: Totals,
    /// Signal that makes it export everything and exit (live).
    pub stop_signal: &'static str,
    /// Command that does that instead of a signal (live), a template like the others.
    pub stop_command: Option<String>,
}

const PMACCT_COMMON: &str = "daemonize: false\nplugins: nfprobe\nnfprobe_receiver: {collector}\nnfprobe_version: 10\nnfprobe_maxflows: {max_flows}\n";

/// The built-in peers (Debian packages), plus yaf and ipfixprobe (used when on PATH).
pub fn builtin() -> Vec<Peer> {
    vec![
        Peer {
            name: "softflowd".into(),
            program: "softflowd".into(),
            offline: Ok("softflowd -d -r {pcap} -n {collector} -v 10 -m {max_flows}".into()),
            live: Ok(
                "softflowd -d -i {iface} -n {collector} -v 10 -m {max_flows} -c {out}/softflowd.ctl"
                    .into(),
            ),
            conf: None,
            totals: Totals::Nfcapd,
            stop_signal: "TERM",
            // On a signal softflowd exits without exporting its flows; `shutdown` exports
            // them first.
            stop_command: Some("softflowctl -c {out}/softflowd.ctl shutdown".into()),
        },
        Peer {
            name: "pmacctd".into(),
            program: "pmacctd".into(),
            offline: Ok("pmacctd -f {conf}".into()),
            live: Ok("pmacctd -f {conf}".into()),
            conf: Some((
                format!("{PMACCT_COMMON}pcap_savefile: {{pcap}}\n"),
                format!("{PMACCT_COMMON}pcap_interface: {{iface}}\n"),
            )),
            totals: Totals::Nfcapd,
            stop_signal: "INT",
            stop_command: None,
        },
        Peer {
            name: "fprobe".into(),
            program: "fprobe".into(),
            offline: Err("fprobe reads interfaces only (no capture-file input)".into()),
            // NetFlow v5 (IPv4 only); -f ip: every IP packet; -l 2: log to stdout, stay in the
            // foreground.
            live: Ok("fprobe -l 2 -i {iface} -f ip -q 100000 -B 8192 {collector}".into()),
            conf: None,
            totals: Totals::Nfcapd,
            stop_signal: "TERM",
            stop_command: None,
        },
        Peer {
            name: "argus".into(),
            program: "argus".into(),
            offline: Ok("argus -r {pcap} -w {out}/argus.out".into()),
            live: Ok("argus -i {iface} -w {out}/argus.out".into()),
            conf: None,
            totals: Totals::Racount,
            stop_signal: "TERM",
            stop_command: None,
        },
        Peer {
            name: "yaf".into(),
            program: "yaf".into(),
            offline: Ok(
                "yaf --in {pcap} --out 127.0.0.1 --ipfix udp --ipfix-port {collector_port}".into(),
            ),
            live: Ok(
                "yaf --live pcap --in {iface} --out 127.0.0.1 --ipfix udp --ipfix-port {collector_port}"
                    .into(),
            ),
            conf: None,
            totals: Totals::Nfcapd,
            stop_signal: "TERM",
            stop_command: None,
        },
        Peer {
            name: "ipfixprobe".into(),
            program: "ipfixprobe".into(),
            offline: Ok(
                "ipfixprobe -i pcap;file={pcap} -o ipfix;h=127.0.0.1;p={collector_port};u".into(),
            ),
            live: Ok(
                "ipfixprobe -i raw;ifc={iface} -o ipfix;h=127.0.0.1;p={collector_port};u".into(),
            ),
            conf: None,
            totals: Totals::Nfcapd,
            stop_signal: "TERM",
            stop_command: None,
        },
    ]
}

/// A user-supplied peer: `NAME=COMMAND TEMPLATE` (offline when it has `{pcap}`, live
/// when it has `{iface}`), exporting NetFlow/IPFIX to `{collector}`.
pub fn parse_custom(spec: &str) -> Result<Peer, String> {
    let (name, cmd) = spec
        .split_once('=')
        .ok_or_else(|| format!("peer {spec:?}: expected NAME=COMMAND"))?;
    let name = name.trim();
    let cmd = cmd.trim();
    if name.is_empty() || cmd.is_empty() {
        return Err(format!("peer {spec:?}: expected NAME=COMMAND"));
    }
    let program = cmd.split_whitespace().next().unwrap_or("").to_string();
    let has = |p: &str| cmd.contains(p);
    Ok(Peer {
        name: name.into(),
        program,
        offline: if has("{pcap}") {
            Ok(cmd.into())
        } else {
            Err("template has no {pcap}".into())
        },
        live: if has("{iface}") {
            Ok(cmd.into())
        } else {
            Err("template has no {iface}".into())
        },
        conf: None,
        totals: Totals::Nfcapd,
        stop_signal: "TERM",
        stop_command: None,
    })
}

/// Replace `{key}` by value for every pair.
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Split a filled template into program and arguments.
pub fn argv(filled: &str) -> Vec<String> {
    filled.split_whitespace().map(str::to_string).collect()
}

/// Parse `racount` output: the `sum` row's total packets.
pub fn parse_racount(out: &str) -> Option<u64> {
    let header = out.lines().find(|l| l.contains("total_pkts"))?;
    let col = header.split_whitespace().position(|c| c == "total_pkts")?;
    let row = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("sum"))?;
    row.split_whitespace().nth(col)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_split() {
        let f = fill(
            "softflowd -r {pcap} -n {collector} -m {max_flows}",
            &[
                ("pcap", "/tmp/x.pcap".into()),
                ("collector", "127.0.0.1:9".into()),
                ("max_flows", "10".into()),
            ],
        );
        assert_eq!(
            argv(&f),
            [
                "softflowd",
                "-r",
                "/tmp/x.pcap",
                "-n",
                "127.0.0.1:9",
                "-m",
                "10"
            ]
        );
        let p = parse_custom("mine=/opt/m -r {pcap} -e {collector}").unwrap();
        assert_eq!(p.program, "/opt/m");
        assert!(p.offline.is_ok() && p.live.is_err());
        assert!(parse_custom("nothing").is_err());
        assert!(
            builtin()
                .iter()
                .any(|p| p.name == "fprobe" && p.offline.is_err())
        );
    }

    #[test]
    fn racount_sum_row() {
        // As printed by racount (argus-client 3.0).
        let out = "racount   records     total_pkts     src_pkts       dst_pkts       total_bytes\n    sum   2001        20000          20000          0              7119196\n";
        assert_eq!(parse_racount(out), Some(20000));
        assert_eq!(parse_racount("nothing"), None);
    }
}
