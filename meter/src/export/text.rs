//! Readable flow lines on stdout: the built-in default when no output is chosen.
//!
//! One line per uniflow record, columns separated by spaces:
//! `start(UTC) duration proto src:port -> dst:port packets bytes flags end-reason [extras]`.
//! Extras name TCP options and MPTCP tokens when present.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use super::profile::Uniflow;
use super::{FlowOutput, OutputReport};
use crate::flow::FlowRecord;
use crate::pipeline::MeterStats;

pub struct TextOutput<W: Write + Send> {
    out: BufWriter<W>,
    line: String,
    records: u64,
    header_done: bool,
    error: Option<io::Error>,
}

impl<W: Write + Send> TextOutput<W> {
    pub fn new(w: W) -> Self {
        TextOutput {
            out: BufWriter::with_capacity(1 << 16, w),
            line: String::with_capacity(256),
            records: 0,
            header_done: false,
            error: None,
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of a time in nanoseconds since the epoch.
pub fn format_time(s: &mut String, ns: u64) {
    let secs = ns / 1_000_000_000;
    let ms = (ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{ms:03}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

pub fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "ICMP",
        2 => "IGMP",
        6 => "TCP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        89 => "OSPF",
        132 => "SCTP",
        136 => "UDPLite",
        _ => return None,
    })
}

/// TCP flags as nfdump shows them: `CEUAPRSF` with `.` for unset bits.
fn flags_into(s: &mut String, f: u16) {
    for (bit, c) in [
        (0x80, 'C'),
        (0x40, 'E'),
        (0x20, 'U'),
        (0x10, 'A'),
        (0x08, 'P'),
        (0x04, 'R'),
        (0x02, 'S'),
        (0x01, 'F'),
    ] {
        s.push(if f & bit != 0 { c } else { '.' });
    }
}

fn endpoint_into(s: &mut String, uf: &Uniflow<'_>, src: bool) {
    let (ip, port) = if src {
        (uf.src_ip(), uf.src_port)
    } else {
        (uf.dst_ip(), uf.dst_port)
    };
    let _ = match ip {
        std::net::IpAddr::V4(a) => write!(s, "{a}:{port}"),
        std::net::IpAddr::V6(a) => write!(s, "[{a}]:{port}"),
    };
}

impl<W: Write + Send> TextOutput<W> {
    fn format(&mut self, uf: &Uniflow<'_>) {
        let s = &mut self.line;
        s.clear();
        let st = uf.stats;
        format_time(s, st.first_ns);
        let dur_ms = (st.last_ns.saturating_sub(st.first_ns)) / 1_000_000;
        let _ = write!(s, " {:>5}.{:03} ", dur_ms / 1000, dur_ms % 1000);
        match protocol_name(uf.rec.protocol) {
            Some(n) => s.push_str(n),
            None => {
                let _ = write!(s, "{}", uf.rec.protocol);
            }
        }
        s.push(' ');
        endpoint_into(s, uf, true);
        s.push_str(" -> ");
        endpoint_into(s, uf, false);
        let _ = write!(s, " {} {} ", st.packets, st.octets);
        if uf.rec.protocol == 6 {
            flags_into(s, st.tcp_flags);
        } else if matches!(uf.rec.protocol, 1 | 58) {
            let _ = write!(s, "{}.{}", st.icmp_type, st.icmp_code);
        } else {
            s.push('-');
        }
        let _ = write!(s, " {}", uf.rec.end_reason.name());
        if uf.rec.vlan != 0 {
            let _ = write!(s, " vlan={}", uf.rec.vlan);
        }
        if let Some(t) = uf.tcp {
            if t.has_mss {
                let _ = write!(s, " mss={}", t.mss);
            }
            if t.has_window_scale {
                let _ = write!(s, " ws={}", t.window_scale);
            }
            if t.sack_permitted {
                s.push_str(" sackOK");
            }
            if t.has_ts {
                s.push_str(" ts");
            }
        }
        if let Some((c, d)) = uf.mptcp {
            let _ = write!(s, " mptcp");
            if let Some(v) = c.version {
                let _ = write!(s, " v{v}");
            }
            if d.has_sender_token {
                let _ = write!(s, " token=0x{:08x}", d.sender_token);
            }
            if let Some(t) = c.receiver_token(uf.dir) {
                let _ = write!(s, " peer-token=0x{t:08x}");
            }
            if d.has_address_id {
                let _ = write!(s, " addr-id={}", d.address_id);
            }
            if let Some(a) = d.first_advertised() {
                let _ = write!(s, " add-addr={}#{}", a.addr, a.id);
                if a.port != 0 {
                    let _ = write!(s, ":{}", a.port);
                }
            }
        }
        s.push('\n');
    }
}

impl<W: Write + Send> FlowOutput for TextOutput<W> {
    fn write(&mut self, rec: &FlowRecord, _now_secs: u32) {
        if !self.header_done {
            self.header_done = true;
            let h = "start(UTC)              duration proto src -> dst packets bytes flags end\n";
            if let Err(e) = self.out.write_all(h.as_bytes()) {
                self.error.get_or_insert(e);
            }
        }
        for uf in Uniflow::of(rec, 0) {
            self.format(&uf);
            if let Err(e) = self.out.write_all(self.line.as_bytes()) {
                self.error.get_or_insert(e);
            }
            self.records += 1;
        }
    }

    fn tick(&mut self, _now_secs: u32) {
        let _ = self.out.flush();
    }

    fn finish(mut self: Box<Self>, _stats: &MeterStats, _now: u32) -> Result<OutputReport, String> {
        super::finish_lines(&mut self.out, self.error.take(), "text", self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_formatting() {
        let mut s = String::new();
        // 2020-01-13 15:51:06.676 UTC = 1578930666.676 s (tcpdump's mptcp-v1 capture).
        format_time(&mut s, 1_578_930_666_676_845_000);
        assert_eq!(s, "2020-01-13 15:51:06.676");
        s.clear();
        format_time(&mut s, 951_782_400_000_000_000); // 2000-02-29 00:00:00
        assert_eq!(s, "2000-02-29 00:00:00.000");
    }
}
