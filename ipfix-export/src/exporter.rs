//! The exporter the meter uses: one stream of data records, sent to every collector.
//!
//! Records are encoded once (through [`RecordEncoder`] into a reused buffer), checked
//! against their template, packed by one [`MessageBuilder`] and each finished message is
//! handed to every session (UDP, TCP, file). All sessions therefore see the same data
//! records in the same messages with the same sequence numbers (TCP renumbers per
//! connection, see [`crate::transport`]).
//!
//! Templates: [`Exporter::add_template`] records the template and tells every session;
//! each session announces it before the next data it sends (UDP: the whole template set
//! `template_announce_copies` times in template-only messages; TCP/file: the new
//! definition, preceded by a withdrawal if an existing ID is redefined). Nothing blocks:
//! every loss (full TCP queue, failed send, record too large, malformed record, unknown
//! template) is counted in [`ExporterStats`].
//!
//! Time: every call takes `now_secs` (the meter's clock); it becomes the export time of
//! the messages it completes. [`Exporter::tick`] sends a message that has waited ≥ 1 s and
//! refreshes UDP templates.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::message::{self, MessageBuilder};
use crate::template::Template;
use crate::transport::{CollectorUrl, Session, io_text};
use crate::value::{RecordBuf, RecordEncoder};

/// Exporter settings.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// Observation Domain ID in every message header.
    pub odid: u32,
    /// Largest message in octets (clamped to 256..=65535); 1472 fits a 1500-octet IPv4 MTU.
    pub max_message_size: usize,
    /// UDP: re-send the templates every this many seconds (0 = never by time).
    pub template_refresh_secs: u32,
    /// UDP: re-send the templates every this many data messages (0 = never by count).
    pub template_refresh_messages: u32,
    /// TCP: messages queued for the sender thread before new ones are dropped.
    pub tcp_queue_messages: usize,
    /// UDP: copies of the template set sent before the first data after a change.
    pub template_announce_copies: u32,
    /// TCP: first reconnect delay after a failed attempt (doubles each time).
    pub tcp_backoff_initial: Duration,
    /// TCP: longest reconnect delay.
    pub tcp_backoff_max: Duration,
    /// TCP: a write blocked this long counts as a broken connection.
    pub tcp_write_timeout: Duration,
    /// [`Exporter::close`]: how long TCP senders may take to drain (at most 5 s).
    pub close_timeout: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            odid: 0,
            max_message_size: 1472,
            template_refresh_secs: 60,
            template_refresh_messages: 1000,
            tcp_queue_messages: 1024,
            template_announce_copies: 3,
            tcp_backoff_initial: Duration::from_secs(1),
            tcp_backoff_max: Duration::from_secs(60),
            tcp_write_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// Longest drain at close, whatever the configuration says.
const MAX_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Counters of one collector (transport session).
#[derive(Clone, Debug, Default)]
pub struct CollectorStats {
    pub url: String,
    /// Messages sent (data and template messages).
    pub messages: u64,
    /// Data records sent.
    pub records: u64,
    /// Octets sent (whole messages).
    pub octets: u64,
    pub dropped_messages: u64,
    /// Data records that did not reach this collector (queue full, send failure, record
    /// refused by the encoder or the message builder).
    pub dropped_records: u64,
    pub errors: u64,
    /// TCP connections established.
    pub connects: u64,
}

/// Counters of the exporter.
#[derive(Clone, Debug, Default)]
pub struct ExporterStats {
    pub per_collector: Vec<CollectorStats>,
    /// Values that did not fit their field (sent as zeros).
    pub encode_mismatches: u64,
    /// Records that did not match their template's layout (not sent).
    pub malformed_records: u64,
    /// Records too large for a message, or empty (not sent).
    pub oversized_records: u64,
    /// Records for a template ID that was never added (not sent).
    pub unknown_template_records: u64,
    /// Templates refused by [`Exporter::add_template`] (invalid or too large).
    pub rejected_templates: u64,
}

/// Why an exporter could not be created.
#[derive(Debug)]
pub enum ExportError {
    NoCollectors,
    Resolve { url: String, error: io::Error },
    Socket { url: String, error: io::Error },
    CreateFile { path: PathBuf, error: io::Error },
    Thread { url: String, error: io::Error },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::NoCollectors => write!(
                f,
                "no IPFIX collector given (add udp://HOST:PORT, tcp://HOST:PORT or an IPFIX file)"
            ),
            ExportError::Resolve { url, error } => write!(
                f,
                "cannot resolve IPFIX collector {url}: {} (check the host name and the DNS configuration)",
                io_text(error)
            ),
            ExportError::Socket { url, error } => write!(
                f,
                "cannot open a UDP socket to IPFIX collector {url}: {} (check the address and that a route to it exists)",
                io_text(error)
            ),
            ExportError::CreateFile { path, error } => write!(
                f,
                "cannot create IPFIX file {}: {} (check the directory exists and is writable)",
                path.display(),
                io_text(error)
            ),
            ExportError::Thread { url, error } => write!(
                f,
                "cannot start the sender thread for IPFIX collector {url}: {} (check the process and thread limits)",
                io_text(error)
            ),
        }
    }
}

impl std::error::Error for ExportError {}

/// The exporting process: templates, one message stream, every collector.
pub struct Exporter {
    cfg: ExporterConfig,
    builder: MessageBuilder,
    templates: Vec<Template>,
    /// Data record length of each template in `templates`, if fixed.
    fixed_len: Vec<Option<usize>>,
    /// The current template set encoded as template-only messages.
    full: Vec<Vec<u8>>,
    sessions: Vec<Session>,
    /// Where `export_with` encodes a record before it goes into the message.
    scratch: Option<Box<RecordBuf>>,
    last_index: usize,
    last_now: u32,
    encode_mismatches: u64,
    malformed_records: u64,
    unknown_template_records: u64,
    rejected_templates: u64,
}

impl Exporter {
    /// Open every collector: UDP sockets are bound and connected, files created, TCP
    /// senders started (they connect in the background).
    pub fn new(cfg: ExporterConfig, collectors: &[CollectorUrl]) -> Result<Exporter, ExportError> {
        if collectors.is_empty() {
            return Err(ExportError::NoCollectors);
        }
        let sessions = collectors
            .iter()
            .map(|u| Session::open(u, &cfg))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = MessageBuilder::new(cfg.odid, cfg.max_message_size);
        let last_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        Ok(Exporter {
            scratch: Some(RecordBuf::new()),
            builder,
            cfg,
            templates: Vec::new(),
            fixed_len: Vec::new(),
            full: Vec::new(),
            sessions,
            last_index: 0,
            last_now,
            encode_mismatches: 0,
            malformed_records: 0,
            unknown_template_records: 0,
            rejected_templates: 0,
        })
    }

    pub fn config(&self) -> &ExporterConfig {
        &self.cfg
    }

    /// Add a data or options template (or redefine one) and announce it to every session.
    /// An invalid template, or one too large for a message, is refused and counted.
    pub fn add_template(&mut self, t: Template) {
        if t.check().is_err()
            || t.record_len()
                > self.builder.max_message_size()
                    - message::MESSAGE_HEADER_LEN
                    - message::SET_HEADER_LEN
        {
            self.rejected_templates += 1;
            return;
        }
        let odid = self.builder.odid();
        let max = self.builder.max_message_size();
        let now = self.last_now;
        let seq = self.builder.next_sequence();
        let mut delta = Vec::new();
        match self.templates.iter().position(|x| x.id == t.id) {
            Some(i) if self.templates[i] == t => return,
            Some(i) => {
                // Records of the old definition must leave before it is replaced.
                self.flush_builder(now);
                delta.extend(message::encode_withdrawal_messages(
                    odid,
                    max,
                    [&self.templates[i]],
                    now,
                    seq,
                ));
                delta.extend(message::encode_template_messages(odid, max, [&t], now, seq).0);
                self.fixed_len[i] = t.fixed_record_len();
                self.templates[i] = t;
            }
            None => {
                delta.extend(message::encode_template_messages(odid, max, [&t], now, seq).0);
                self.fixed_len.push(t.fixed_record_len());
                self.templates.push(t);
            }
        }
        self.full = message::encode_template_messages(odid, max, &self.templates, now, seq).0;
        for s in &mut self.sessions {
            s.templates_changed(&delta, &self.full);
        }
    }

    pub fn template(&self, id: u16) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    fn template_index(&mut self, tid: u16) -> Option<usize> {
        if self
            .templates
            .get(self.last_index)
            .is_some_and(|t| t.id == tid)
        {
            return Some(self.last_index);
        }
        let i = self.templates.iter().position(|t| t.id == tid)?;
        self.last_index = i;
        Some(i)
    }

    /// Encode one record through the sink interface: `fill` puts every field of template
    /// `tid` in order; the record is then appended for every session.
    pub fn export_with(
        &mut self,
        tid: u16,
        now_secs: u32,
        fill: impl FnOnce(&mut RecordEncoder<'_, RecordBuf>),
    ) {
        let mut scratch = self.scratch.take().unwrap_or_else(RecordBuf::new);
        scratch.clear();
        let mut enc = RecordEncoder::new(&mut *scratch);
        fill(&mut enc);
        self.encode_mismatches += u64::from(enc.mismatches);
        match scratch.record() {
            Some(record) => self.export_record(tid, now_secs, record),
            None => {
                // Longer than any message: nothing can carry it.
                self.last_now = now_secs;
                self.malformed_records += 1;
                self.lose(1);
            }
        }
        self.scratch = Some(scratch);
    }

    /// Append one already encoded data record of template `tid`.
    pub fn export_record(&mut self, tid: u16, now_secs: u32, record: &[u8]) {
        self.last_now = now_secs;
        let Some(i) = self.template_index(tid) else {
            self.unknown_template_records += 1;
            self.lose(1);
            return;
        };
        let well_formed = match self.fixed_len.get(i).copied().flatten() {
            Some(n) => n == record.len(),
            None => self.templates[i].data_record_len(record) == Some(record.len()),
        };
        if !well_formed {
            self.malformed_records += 1;
            self.lose(1);
            return;
        }
        let Exporter {
            builder,
            sessions,
            full,
            ..
        } = self;
        let sent = builder.add_record(tid, record, now_secs, &mut |msg, n| {
            for s in sessions.iter_mut() {
                s.send_data(msg, n, now_secs, full);
            }
        });
        if !sent {
            // The builder already counted it in the sequence number.
            for s in &mut self.sessions {
                s.records_lost(1);
            }
        }
    }

    /// A record that will never reach a message: counted for every session and in the
    /// sequence numbers.
    fn lose(&mut self, n: u32) {
        self.builder.skip_records(n);
        for s in &mut self.sessions {
            s.records_lost(u64::from(n));
        }
    }

    fn flush_builder(&mut self, now: u32) {
        let Exporter {
            builder,
            sessions,
            full,
            ..
        } = self;
        builder.flush(now, &mut |msg, n| {
            for s in sessions.iter_mut() {
                s.send_data(msg, n, now, full);
            }
        });
    }

    /// Periodic work (call at least once a second): send a message that has waited ≥ 1 s,
    /// announce pending templates, refresh UDP templates by time.
    pub fn tick(&mut self, now_secs: u32) {
        self.last_now = now_secs;
        if self
            .builder
            .opened_at()
            .is_some_and(|t| now_secs.saturating_sub(t) >= 1)
        {
            self.flush_builder(now_secs);
        }
        let seq = self.builder.next_sequence();
        for s in &mut self.sessions {
            s.tick(now_secs, seq, &self.full);
        }
    }

    /// Send the partial message and anything else waiting, now.
    pub fn flush(&mut self, now_secs: u32) {
        self.last_now = now_secs;
        self.flush_builder(now_secs);
        let seq = self.builder.next_sequence();
        for s in &mut self.sessions {
            s.flush(now_secs, seq, &self.full);
        }
    }

    /// Flush, let TCP senders drain (bounded by `close_timeout`, at most 5 s), close files.
    pub fn close(mut self, now_secs: u32) -> ExporterStats {
        self.flush(now_secs);
        let seq = self.builder.next_sequence();
        let deadline = Instant::now() + self.cfg.close_timeout.min(MAX_CLOSE_WAIT);
        let sessions = std::mem::take(&mut self.sessions);
        let per_collector = sessions
            .into_iter()
            .map(|s| s.close(now_secs, seq, &self.full, deadline))
            .collect();
        ExporterStats {
            per_collector,
            ..self.counters()
        }
    }

    fn counters(&self) -> ExporterStats {
        ExporterStats {
            per_collector: Vec::new(),
            encode_mismatches: self.encode_mismatches,
            malformed_records: self.malformed_records,
            oversized_records: self.builder.rejected_records(),
            unknown_template_records: self.unknown_template_records,
            rejected_templates: self.rejected_templates,
        }
    }

    pub fn stats(&self) -> ExporterStats {
        ExporterStats {
            per_collector: self.sessions.iter().map(Session::stats).collect(),
            ..self.counters()
        }
    }
}
