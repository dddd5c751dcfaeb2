//! JSON lines: one object per exported uniflow record, keys named after the information
//! elements of the IPFIX template the record would use (e.g. `sourceIPv4Address`,
//! `packetDeltaCount`, `mptcpSenderToken`). Addresses are strings, counters and
//! timestamps numbers (milliseconds since the epoch), flag bitmaps of 32 octets
//! (tcpOptionsFull, ipv6ExtensionHeadersFull) hex strings, lists arrays.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use ipfix_export::template::Field;
use ipfix_export::value::{FieldSink, Value};

use super::profile::{Profile, Uniflow};
use super::{FlowOutput, OutputReport};
use crate::flow::FlowRecord;
use crate::pipeline::MeterStats;

pub struct JsonOutput<W: Write + Send> {
    out: BufWriter<W>,
    profile: Profile,
    line: String,
    records: u64,
    error: Option<io::Error>,
}

impl<W: Write + Send> JsonOutput<W> {
    pub fn new(w: W, pen: u32) -> Self {
        JsonOutput {
            out: BufWriter::with_capacity(1 << 16, w),
            profile: Profile::new(pen),
            line: String::with_capacity(1024),
            records: 0,
            error: None,
        }
    }
}

/// Appends `"name":value` pairs to a line.
pub struct JsonLine<'s> {
    pub line: &'s mut String,
    first: bool,
}

impl<'s> JsonLine<'s> {
    pub fn new(line: &'s mut String) -> Self {
        line.push('{');
        JsonLine { line, first: true }
    }
    pub fn end(self) {
        self.line.push('}');
    }
    fn key(&mut self, name: &str) {
        if !self.first {
            self.line.push(',');
        }
        self.first = false;
        self.line.push('"');
        self.line.push_str(name);
        self.line.push_str("\":");
    }
}

fn hex_into(s: &mut String, bytes: &[u8]) {
    s.push_str("\"0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
}

fn escape_into(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

impl FieldSink for JsonLine<'_> {
    fn put(&mut self, field: &Field, value: Value<'_>) {
        self.key(field.ie.name);
        let s = &mut *self.line;
        let _ = match value {
            Value::U8(v) => write!(s, "{v}"),
            Value::U16(v) => write!(s, "{v}"),
            Value::U32(v) => write!(s, "{v}"),
            Value::U64(v) | Value::DateTimeMs(v) => write!(s, "{v}"),
            Value::U256(v) => {
                // Show the octets the IPFIX field carries (reduced size).
                let n = usize::from(field.length).min(32);
                hex_into(s, &v[32 - n..]);
                Ok(())
            }
            Value::Bool(v) => write!(s, "{v}"),
            Value::Ipv4(a) => write!(s, "\"{a}\""),
            Value::Ipv6(a) => write!(s, "\"{a}\""),
            Value::Mac(m) => write!(
                s,
                "\"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Value::Bytes(b) => {
                hex_into(s, b);
                Ok(())
            }
            Value::Str(v) => {
                escape_into(s, v);
                Ok(())
            }
            Value::BasicList {
                values,
                element_len,
                ..
            } => {
                s.push('[');
                let n = usize::from(element_len.max(1));
                for (i, chunk) in values.chunks(n).enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let v = chunk.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
                    let _ = write!(s, "{v}");
                }
                s.push(']');
                Ok(())
            }
        };
    }
}

impl<W: Write + Send> FlowOutput for JsonOutput<W> {
    fn write(&mut self, rec: &FlowRecord, _now_secs: u32) {
        for uf in Uniflow::of(rec, self.profile.pen) {
            self.line.clear();
            let spec = self.profile.spec(&uf);
            let mut obj = JsonLine::new(&mut self.line);
            self.profile.write(spec, &uf, &mut obj);
            obj.end();
            self.line.push('\n');
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
        super::finish_lines(&mut self.out, self.error.take(), "json", self.records)
    }
}
