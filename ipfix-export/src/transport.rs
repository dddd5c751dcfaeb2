//! Collector URLs and the transport sessions: UDP, TCP and IPFIX files.
//!
//! Every session receives the same finished messages from the exporter and handles
//! templates the way its transport needs (RFC 7011 §8, §10; RFC 5655 for files):
//!
//! - **UDP**: a connected, non-blocking socket. A send that would block or fails drops the
//!   message and counts it. After every template change the full template set is sent
//!   `template_announce_copies` times in template-only messages before the next data; it
//!   is re-sent every `template_refresh_secs` seconds and every `template_refresh_messages`
//!   data messages. Templates are never withdrawn over UDP (§8.4).
//! - **TCP**: a sender thread fed by a bounded channel. The exporter only ever `try_send`s:
//!   a full channel drops the message and counts its records. The sender connects with
//!   exponential backoff (first attempt at once, then `backoff_initial` doubling up to
//!   `backoff_max`); on every (re)connect it first sends its copy of the current templates.
//!   It rewrites each message's sequence number so numbering is per connection, starts at
//!   0 and includes records dropped on the exporter side (RFC 7011 §10.4: drops must show
//!   in the sequence numbers). Template changes are queued with the next data, tick or
//!   flush (merged into as few messages as fit); a changed template is withdrawn before
//!   it is redefined. A connection closed by the collector is seen at once by a reader
//!   thread; the message whose write failed is retried once on the next connection.
//!   `close` waits for the sender until its deadline, then cuts a connection stuck in a
//!   write.
//! - **File**: RFC 5655 IPFIX file, the concatenated messages through a buffered writer;
//!   templates are written before the first data that needs them.
//!
//! Nothing here panics on network or file errors; every failure is a counter.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Ipv6Addr, Shutdown, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded, never, select};

use crate::exporter::{CollectorStats, ExportError, ExporterConfig};
use crate::message::{self, export_time_of, sequence_of, set_export_time, set_sequence};

/// Where IPFIX messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CollectorUrl {
    /// `host:port` (IPv6 literals in brackets).
    Udp(String),
    /// `host:port` (IPv6 literals in brackets).
    Tcp(String),
    /// An IPFIX file (RFC 5655).
    File(PathBuf),
}

impl fmt::Display for CollectorUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectorUrl::Udp(a) => write!(f, "udp://{a}"),
            CollectorUrl::Tcp(a) => write!(f, "tcp://{a}"),
            CollectorUrl::File(p) => write!(f, "file://{}", p.display()),
        }
    }
}

/// Why a collector URL was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    reason: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; expected udp://HOST:PORT, tcp://HOST:PORT or HOST:PORT (UDP), e.g. udp://192.0.2.10:4739 or tcp://[2001:db8::1]:4739",
            self.reason
        )
    }
}

impl std::error::Error for UrlError {}

fn url_err(reason: impl Into<String>) -> UrlError {
    UrlError {
        reason: reason.into(),
    }
}

/// Validate `host:port` and return it normalised (IPv6 literals in brackets).
fn parse_host_port(s: &str) -> Result<String, UrlError> {
    if s.is_empty() {
        return Err(url_err("missing host and port"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(url_err(format!("'{s}' has '[' without ']'")));
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(url_err(format!("'{inside}' is not an IPv6 address")));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err(url_err(format!("missing port in '{s}'")));
        };
        (format!("[{inside}]"), port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(url_err(format!("missing port in '{s}'")));
        };
        if host.contains(':') {
            return Err(url_err(format!(
                "IPv6 address '{host}' must be written in brackets, e.g. [{host}]:{port}"
            )));
        }
        if host.is_empty() {
            return Err(url_err(format!("missing host in '{s}'")));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(url_err(format!("'{host}' is not a host name or address")));
        }
        (host.to_string(), port)
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(format!("{host}:{p}")),
        _ => Err(url_err(format!(
            "port '{port}' is not a number between 1 and 65535"
        ))),
    }
}

impl FromStr for CollectorUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<CollectorUrl, UrlError> {
        let s = s.trim();
        let Some((scheme, rest)) = s.split_once("://") else {
            return parse_host_port(s).map(CollectorUrl::Udp);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => parse_host_port(rest).map(CollectorUrl::Udp),
            "tcp" => parse_host_port(rest).map(CollectorUrl::Tcp),
            "file" if !rest.is_empty() => Ok(CollectorUrl::File(PathBuf::from(rest))),
            "file" => Err(url_err("missing file path after file://")),
            other => Err(url_err(format!("unsupported transport '{other}'"))),
        }
    }
}

/// The OS error text without Rust's " (os error N)" suffix, for one-line messages.
pub(crate) fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// `now + d`, saturating instead of panicking on absurd configured durations.
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One transport session.
pub(crate) enum Session {
    Udp(UdpSession),
    Tcp(TcpSession),
    File(FileSession),
}

impl Session {
    pub(crate) fn open(url: &CollectorUrl, cfg: &ExporterConfig) -> Result<Session, ExportError> {
        match url {
            CollectorUrl::Udp(addr) => {
                UdpSession::open(url.to_string(), addr, cfg).map(Session::Udp)
            }
            CollectorUrl::Tcp(addr) => {
                TcpSession::open(url.to_string(), addr, cfg).map(Session::Tcp)
            }
            CollectorUrl::File(path) => {
                FileSession::open(url.to_string(), path, cfg.max_message_size).map(Session::File)
            }
        }
    }

    /// The template set changed: `delta` = withdrawals and new definitions (for sessions
    /// that keep state), `full` = every current template.
    pub(crate) fn templates_changed(&mut self, delta: &[Vec<u8>], full: &[Vec<u8>]) {
        match self {
            Session::Udp(s) => s.announce = s.copies,
            // Delivered with the next data, tick or flush, so that templates added in a
            // row travel together.
            Session::Tcp(s) => s.queue_templates(delta, full),
            Session::File(s) => s.pending.extend(delta.iter().cloned()),
        }
    }

    /// A finished data message (`records` data records; header already complete).
    pub(crate) fn send_data(&mut self, msg: &[u8], records: u32, now: u32, full: &[Vec<u8>]) {
        match self {
            Session::Udp(s) => s.send_data(msg, records, now, full),
            Session::Tcp(s) => s.send_data(msg, records),
            Session::File(s) => s.send_data(msg, records, now),
        }
    }

    /// `n` records were lost before reaching any message.
    pub(crate) fn records_lost(&mut self, n: u64) {
        match self {
            Session::Udp(s) => s.stats.dropped_records += n,
            Session::Tcp(s) => s.records_lost(n),
            Session::File(s) => s.stats.dropped_records += n,
        }
    }

    /// Periodic work: pending template announcements, UDP refresh by time.
    pub(crate) fn tick(&mut self, now: u32, seq: u32, full: &[Vec<u8>]) {
        match self {
            Session::Udp(s) => s.tick(now, seq, full),
            Session::Tcp(s) => {
                s.deliver_templates();
            }
            Session::File(s) => s.write_pending(now, seq),
        }
    }

    /// Send what is waiting (templates; buffered file data).
    pub(crate) fn flush(&mut self, now: u32, seq: u32, full: &[Vec<u8>]) {
        match self {
            Session::Udp(s) => s.tick(now, seq, full),
            Session::Tcp(s) => {
                s.deliver_templates();
            }
            Session::File(s) => {
                s.write_pending(now, seq);
                if let Err(_e) = s.w.flush() {
                    s.stats.errors += 1;
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> CollectorStats {
        match self {
            Session::Udp(s) => s.stats.clone(),
            Session::Tcp(s) => s.stats(),
            Session::File(s) => s.stats.clone(),
        }
    }

    /// Finish the session: TCP senders get until `deadline` to deliver what is queued.
    pub(crate) fn close(
        self,
        now: u32,
        seq: u32,
        full: &[Vec<u8>],
        deadline: Instant,
    ) -> CollectorStats {
        match self {
            Session::Udp(mut s) => {
                s.tick(now, seq, full);
                s.stats
            }
            Session::Tcp(s) => s.close(deadline),
            Session::File(mut s) => {
                s.write_pending(now, seq);
                if s.w.flush().is_err() {
                    s.stats.errors += 1;
                }
                s.stats
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// UDP

pub(crate) struct UdpSession {
    sock: UdpSocket,
    stats: CollectorStats,
    /// Template-set copies still to send before the next data.
    announce: u32,
    copies: u32,
    refresh_secs: u32,
    refresh_messages: u32,
    last_templates: Option<u32>,
    messages_since_templates: u32,
    scratch: Vec<u8>,
}

impl UdpSession {
    fn open(url: String, addr: &str, cfg: &ExporterConfig) -> Result<UdpSession, ExportError> {
        let targets: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|error| ExportError::Resolve {
                url: url.clone(),
                error,
            })?
            .collect();
        let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address found");
        for target in targets {
            let local = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let attempt = UdpSocket::bind(local).and_then(|s| {
                s.connect(target)?;
                s.set_nonblocking(true)?;
                Ok(s)
            });
            match attempt {
                Ok(sock) => {
                    return Ok(UdpSession {
                        sock,
                        stats: CollectorStats {
                            url,
                            ..CollectorStats::default()
                        },
                        announce: 0,
                        copies: cfg.template_announce_copies.max(1),
                        refresh_secs: cfg.template_refresh_secs,
                        refresh_messages: cfg.template_refresh_messages,
                        last_templates: None,
                        messages_since_templates: 0,
                        scratch: Vec::new(),
                    });
                }
                Err(e) => last_err = e,
            }
        }
        Err(ExportError::Socket {
            url,
            error: last_err,
        })
    }

    fn send(&mut self, msg: &[u8], records: u32) {
        match self.sock.send(msg) {
            Ok(n) if n == msg.len() => {
                self.stats.messages += 1;
                self.stats.records += u64::from(records);
                self.stats.octets += msg.len() as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.dropped_messages += 1;
                self.stats.dropped_records += u64::from(records);
            }
            // A short datagram or an error (e.g. ICMP port unreachable reported on the
            // connected socket): the message is lost.
            _ => {
                self.stats.errors += 1;
                self.stats.dropped_messages += 1;
                self.stats.dropped_records += u64::from(records);
            }
        }
    }

    fn send_templates(&mut self, copies: u32, now: u32, seq: u32, full: &[Vec<u8>]) {
        if full.is_empty() {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        for _ in 0..copies {
            for m in full {
                scratch.clear();
                scratch.extend_from_slice(m);
                set_sequence(&mut scratch, seq);
                set_export_time(&mut scratch, now);
                self.send(&scratch, 0);
            }
        }
        self.scratch = scratch;
        self.last_templates = Some(now);
        self.messages_since_templates = 0;
    }

    fn refresh_due(&self, now: u32) -> bool {
        let by_time = self.refresh_secs > 0
            && self
                .last_templates
                .is_some_and(|t| now.saturating_sub(t) >= self.refresh_secs);
        let by_count =
            self.refresh_messages > 0 && self.messages_since_templates >= self.refresh_messages;
        by_time || by_count
    }

    fn tick(&mut self, now: u32, seq: u32, full: &[Vec<u8>]) {
        if self.announce > 0 {
            self.send_templates(self.announce, now, seq, full);
            self.announce = 0;
        } else if self.refresh_due(now) {
            self.send_templates(1, now, seq, full);
        }
    }

    fn send_data(&mut self, msg: &[u8], records: u32, now: u32, full: &[Vec<u8>]) {
        let seq = sequence_of(msg).unwrap_or(0);
        self.tick(now, seq, full);
        self.send(msg, records);
        self.messages_since_templates = self.messages_since_templates.saturating_add(1);
    }
}

// ---------------------------------------------------------------------------------------
// TCP

/// Counters shared by the exporter side and the sender thread.
#[derive(Default)]
struct TcpShared {
    messages: AtomicU64,
    records: AtomicU64,
    octets: AtomicU64,
    dropped_messages: AtomicU64,
    dropped_records: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
}

/// A template change for a TCP connection: what to send on the live connection
/// (`delta`: withdrawals and new definitions) and the whole set for later connections.
struct TemplateUpdate {
    delta: Vec<Vec<u8>>,
    full: Vec<Vec<u8>>,
}

enum ToSender {
    /// `lost_before`: records lost on the exporter side before this message (full queue,
    /// refused records); differences between messages become sequence-number gaps.
    Data {
        buf: Vec<u8>,
        records: u32,
        lost_before: u64,
    },
    Templates(TemplateUpdate),
}

pub(crate) struct TcpSession {
    url: String,
    tx: Option<Sender<ToSender>>,
    ctl: Option<Sender<Instant>>,
    recycled: Receiver<Vec<u8>>,
    shared: Arc<TcpShared>,
    /// Template changes not yet accepted by the channel.
    pending: Option<TemplateUpdate>,
    thread: Option<JoinHandle<()>>,
    /// Disconnects when the sender thread ends.
    done: Receiver<()>,
    /// The sender's current connection, so that close can break a blocked write.
    live: LiveStream,
    max_message: usize,
    /// Records lost before reaching the sender.
    lost: u64,
}

type LiveStream = Arc<Mutex<Option<TcpStream>>>;

fn set_live(live: &LiveStream, s: Option<TcpStream>) {
    if let Ok(mut g) = live.lock() {
        *g = s;
    }
}

impl TcpSession {
    fn open(url: String, addr: &str, cfg: &ExporterConfig) -> Result<TcpSession, ExportError> {
        let capacity = cfg.tcp_queue_messages.max(1);
        let (tx, rx) = bounded(capacity);
        let (ctl_tx, ctl_rx) = bounded(1);
        let (recycle_tx, recycle_rx) = bounded(capacity);
        let shared = Arc::new(TcpShared::default());
        let (done_tx, done_rx) = bounded::<()>(0);
        let live: LiveStream = Arc::new(Mutex::new(None));
        let sender = TcpSender {
            _done: done_tx,
            live: Arc::clone(&live),
            addr: addr.to_string(),
            rx,
            ctl: ctl_rx,
            recycle: recycle_tx,
            shared: Arc::clone(&shared),
            backoff_initial: cfg.tcp_backoff_initial.max(Duration::from_millis(1)),
            backoff_max: cfg.tcp_backoff_max.max(cfg.tcp_backoff_initial),
            write_timeout: cfg.tcp_write_timeout.max(Duration::from_millis(1)),
            close_timeout: cfg.close_timeout,
            templates: Vec::new(),
            deadline: None,
            last_export_time: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("ipfix-tcp {addr}"))
            .spawn(move || sender.run())
            .map_err(|error| ExportError::Thread {
                url: url.clone(),
                error,
            })?;
        Ok(TcpSession {
            url,
            tx: Some(tx),
            ctl: Some(ctl_tx),
            recycled: recycle_rx,
            shared,
            pending: None,
            thread: Some(thread),
            done: done_rx,
            live,
            max_message: message::clamp_message_size(cfg.max_message_size),
            lost: 0,
        })
    }

    fn queue_templates(&mut self, delta: &[Vec<u8>], full: &[Vec<u8>]) {
        match &mut self.pending {
            Some(u) => {
                u.delta.extend(delta.iter().cloned());
                u.full = full.to_vec();
            }
            None => {
                self.pending = Some(TemplateUpdate {
                    delta: delta.to_vec(),
                    full: full.to_vec(),
                })
            }
        }
    }

    /// Hand pending template changes to the sender; false if the channel is full.
    fn deliver_templates(&mut self) -> bool {
        let Some(tx) = &self.tx else {
            return self.pending.is_none();
        };
        let Some(mut update) = self.pending.take() else {
            return true;
        };
        update.delta = message::merge_template_messages(update.delta, self.max_message);
        match tx.try_send(ToSender::Templates(update)) {
            Ok(()) => true,
            Err(TrySendError::Full(ToSender::Templates(u)))
            | Err(TrySendError::Disconnected(ToSender::Templates(u))) => {
                self.pending = Some(u);
                false
            }
            Err(_) => false,
        }
    }

    fn drop_message(&mut self, records: u32) {
        add(&self.shared.dropped_messages, 1);
        self.records_lost(u64::from(records));
    }

    fn records_lost(&mut self, n: u64) {
        add(&self.shared.dropped_records, n);
        self.lost += n;
    }

    fn send_data(&mut self, msg: &[u8], records: u32) {
        // Data must never overtake the templates it needs.
        if !self.deliver_templates() {
            self.drop_message(records);
            return;
        }
        let Some(tx) = &self.tx else {
            self.drop_message(records);
            return;
        };
        let mut buf = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.max_message));
        buf.clear();
        buf.extend_from_slice(msg);
        let item = ToSender::Data {
            buf,
            records,
            lost_before: self.lost,
        };
        if tx.try_send(item).is_err() {
            self.drop_message(records);
        }
    }

    fn stats(&self) -> CollectorStats {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CollectorStats {
            url: self.url.clone(),
            messages: get(&s.messages),
            records: get(&s.records),
            octets: get(&s.octets),
            dropped_messages: get(&s.dropped_messages),
            dropped_records: get(&s.dropped_records),
            errors: get(&s.errors),
            connects: get(&s.connects),
        }
    }

    fn close(mut self, deadline: Instant) -> CollectorStats {
        if !self.deliver_templates() {
            add(&self.shared.errors, 1);
        }
        // Dropping the data channel lets the sender finish once it has drained it.
        self.tx = None;
        if let Some(ctl) = self.ctl.take() {
            let _ = ctl.try_send(deadline);
        }
        // A write blocked on a stalled collector would outlast the deadline: cut the
        // connection so the sender returns.
        if let Err(RecvTimeoutError::Timeout) = self.done.recv_deadline(deadline)
            && let Ok(g) = self.live.lock()
            && let Some(s) = g.as_ref()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            add(&self.shared.errors, 1);
        }
        self.stats()
    }
}

/// One TCP connection and the thread that notices when the collector closes it.
struct Conn {
    stream: TcpStream,
    live: LiveStream,
    closed: Receiver<()>,
    reader: Option<JoinHandle<()>>,
    seq: u32,
    /// `lost_before` of the first data message on this connection.
    lost_base: Option<u64>,
    since: Instant,
}

impl Drop for Conn {
    fn drop(&mut self) {
        set_live(&self.live, None);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

struct TcpSender {
    /// Dropped when the thread ends, which tells `close` it is done.
    _done: Sender<()>,
    live: LiveStream,
    addr: String,
    rx: Receiver<ToSender>,
    ctl: Receiver<Instant>,
    recycle: Sender<Vec<u8>>,
    shared: Arc<TcpShared>,
    backoff_initial: Duration,
    backoff_max: Duration,
    write_timeout: Duration,
    close_timeout: Duration,
    /// Copy of the current template messages, sent first on every connection.
    templates: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    /// Export time of the latest data message, reused for re-sent templates.
    last_export_time: Option<u32>,
}

/// A data message whose write failed, and whether it was already retried.
struct Retry {
    buf: Vec<u8>,
    records: u32,
    lost_before: u64,
    retried: bool,
}

impl TcpSender {
    fn on_ctl(&mut self, m: Result<Instant, crossbeam_channel::RecvError>) {
        // A dropped control channel (the exporter was dropped without close) closes too.
        let d = m.unwrap_or_else(|_| later(self.close_timeout));
        self.deadline = Some(self.deadline.map_or(d, |old| old.min(d)));
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn timeout(&self) -> Duration {
        match self.remaining() {
            Some(r) => r.min(self.write_timeout).max(Duration::from_millis(1)),
            None => self.write_timeout,
        }
    }

    fn connect(&mut self) -> io::Result<Conn> {
        let timeout = self.timeout();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address found");
        for a in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_write_timeout(Some(self.write_timeout))?;
                    let _ = stream.set_nodelay(true);
                    let mut reader_stream = stream.try_clone()?;
                    let (closed_tx, closed_rx) = bounded(1);
                    let reader = std::thread::Builder::new()
                        .name("ipfix-tcp-reader".into())
                        .spawn(move || {
                            // Collectors send nothing; EOF or an error means the
                            // connection is gone.
                            let mut buf = [0u8; 256];
                            loop {
                                match reader_stream.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(_) => {}
                                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                    Err(_) => break,
                                }
                            }
                            let _ = closed_tx.send(());
                        })?;
                    set_live(&self.live, stream.try_clone().ok());
                    return Ok(Conn {
                        stream,
                        live: Arc::clone(&self.live),
                        closed: closed_rx,
                        reader: Some(reader),
                        seq: 0,
                        lost_base: None,
                        since: Instant::now(),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn write(&self, conn: &mut Conn, msg: &[u8]) -> io::Result<()> {
        if self.deadline.is_some() {
            conn.stream.set_write_timeout(Some(self.timeout()))?;
        }
        conn.stream.write_all(msg)?;
        add(&self.shared.messages, 1);
        add(&self.shared.octets, msg.len() as u64);
        Ok(())
    }

    fn write_templates(&self, conn: &mut Conn, msgs: &[Vec<u8>]) -> io::Result<()> {
        for m in msgs {
            let mut m = m.clone();
            set_sequence(&mut m, conn.seq);
            if let Some(t) = self.last_export_time {
                set_export_time(&mut m, t);
            }
            self.write(conn, &m)?;
        }
        Ok(())
    }

    fn write_data(&mut self, conn: &mut Conn, r: &mut Retry) -> io::Result<()> {
        // Numbering starts at 0 with the first message of the connection; later losses
        // on the exporter side show as gaps.
        let base = *conn.lost_base.get_or_insert(r.lost_before);
        let seq = conn
            .seq
            .wrapping_add(r.lost_before.wrapping_sub(base) as u32);
        let buf = &mut r.buf;
        set_sequence(buf, seq);
        self.last_export_time = export_time_of(buf).or(self.last_export_time);
        self.write(conn, buf)?;
        conn.seq = conn.seq.wrapping_add(r.records);
        add(&self.shared.records, u64::from(r.records));
        Ok(())
    }

    fn drop_data(&self, records: u32) {
        add(&self.shared.dropped_messages, 1);
        add(&self.shared.dropped_records, u64::from(records));
    }

    fn recycle(&self, buf: Vec<u8>) {
        let _ = self.recycle.try_send(buf);
    }

    fn run(mut self) {
        let mut backoff = Backoff {
            current: self.backoff_initial,
            initial: self.backoff_initial,
            max: self.backoff_max,
            next_attempt: Instant::now(),
        };
        let mut conn: Option<Conn> = None;
        let mut retry: Option<Retry> = None;
        loop {
            if self.remaining().is_some_and(|r| r.is_zero()) {
                break;
            }
            let Some(mut c) = conn.take() else {
                if self.deadline.is_some() && retry.is_none() {
                    // Closing: connect only if something is left to deliver.
                    match self.rx.try_recv() {
                        Ok(ToSender::Templates(TemplateUpdate { full, .. })) => {
                            self.templates = full;
                            continue;
                        }
                        Ok(ToSender::Data {
                            buf,
                            records,
                            lost_before,
                        }) => {
                            retry = Some(Retry {
                                buf,
                                records,
                                lost_before,
                                retried: false,
                            });
                        }
                        Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                        Err(crossbeam_channel::TryRecvError::Empty) => {}
                    }
                }
                let now = Instant::now();
                if backoff.next_attempt > now {
                    let until = match self.deadline {
                        Some(d) => d.min(backoff.next_attempt),
                        None => backoff.next_attempt,
                    };
                    select! {
                        recv(self.ctl) -> m => self.on_ctl(m),
                        recv(crossbeam_channel::at(until)) -> _ => {}
                    }
                    continue;
                }
                match self.connect() {
                    Ok(mut c) => {
                        add(&self.shared.connects, 1);
                        let templates = std::mem::take(&mut self.templates);
                        let sent = self.write_templates(&mut c, &templates);
                        self.templates = templates;
                        if sent.is_ok() {
                            conn = Some(c);
                        } else {
                            add(&self.shared.errors, 1);
                            backoff.failed();
                        }
                    }
                    Err(_) => {
                        add(&self.shared.errors, 1);
                        backoff.failed();
                    }
                }
                continue;
            };

            let item = if let Some(r) = retry.take() {
                Some(Ok(r))
            } else {
                let deadline_rx = match self.deadline {
                    Some(d) => crossbeam_channel::at(d),
                    None => never(),
                };
                let closed = c.closed.clone();
                select! {
                    recv(self.rx) -> m => match m {
                        Ok(ToSender::Data { buf, records, lost_before }) => {
                            Some(Ok(Retry { buf, records, lost_before, retried: false }))
                        }
                        Ok(ToSender::Templates(u)) => Some(Err(u)),
                        // The exporter closed the channel and everything was sent.
                        Err(_) => break,
                    },
                    recv(closed) -> _ => None,
                    recv(self.ctl) -> m => {
                        self.on_ctl(m);
                        conn = Some(c);
                        continue;
                    },
                    recv(deadline_rx) -> _ => break,
                }
            };

            match item {
                // The collector closed the connection.
                None => {
                    add(&self.shared.errors, 1);
                    backoff.lost(&c);
                }
                Some(Err(TemplateUpdate { delta, full })) => {
                    self.templates = full;
                    if self.write_templates(&mut c, &delta).is_ok() {
                        conn = Some(c);
                    } else {
                        // The full set goes out again on the next connection.
                        add(&self.shared.errors, 1);
                        backoff.lost(&c);
                    }
                }
                Some(Ok(mut r)) => {
                    // The collector may have closed the connection since the last write;
                    // writing now would succeed locally and lose the message.
                    if c.closed.try_recv().is_ok() {
                        add(&self.shared.errors, 1);
                        backoff.lost(&c);
                        retry = Some(r);
                        continue;
                    }
                    match self.write_data(&mut c, &mut r) {
                        Ok(()) => {
                            self.recycle(r.buf);
                            conn = Some(c);
                        }
                        Err(_) => {
                            add(&self.shared.errors, 1);
                            backoff.lost(&c);
                            if r.retried {
                                self.drop_data(r.records);
                                self.recycle(r.buf);
                            } else {
                                r.retried = true;
                                retry = Some(r);
                            }
                        }
                    }
                }
            }
        }
        drop(conn);
        if let Some(r) = retry {
            self.drop_data(r.records);
        }
        for item in self.rx.try_iter() {
            if let ToSender::Data { records, .. } = item {
                self.drop_data(records);
            }
        }
    }
}

/// Reconnect schedule: first attempt at once, then `initial` doubling up to `max`.
struct Backoff {
    current: Duration,
    initial: Duration,
    max: Duration,
    next_attempt: Instant,
}

impl Backoff {
    fn failed(&mut self) {
        self.next_attempt = later(self.current);
        self.current = self
            .current
            .checked_mul(2)
            .unwrap_or(self.max)
            .min(self.max);
    }

    /// A connection ended. One that lived long enough earns an immediate reconnect and a
    /// fresh schedule; one that died young (a collector accepting and closing at once)
    /// keeps backing off instead of spinning.
    fn lost(&mut self, c: &Conn) {
        if c.since.elapsed() >= self.initial {
            self.current = self.initial;
            self.next_attempt = Instant::now();
        } else {
            self.failed();
        }
    }
}

// ---------------------------------------------------------------------------------------
// File

pub(crate) struct FileSession {
    w: BufWriter<File>,
    max_message: usize,
    stats: CollectorStats,
    /// Template messages not yet written.
    pending: Vec<Vec<u8>>,
}

impl FileSession {
    fn open(url: String, path: &PathBuf, max_message: usize) -> Result<FileSession, ExportError> {
        let f = File::create(path).map_err(|error| ExportError::CreateFile {
            path: path.clone(),
            error,
        })?;
        Ok(FileSession {
            w: BufWriter::with_capacity(1 << 16, f),
            max_message: message::clamp_message_size(max_message),
            stats: CollectorStats {
                url,
                ..CollectorStats::default()
            },
            pending: Vec::new(),
        })
    }

    fn write(&mut self, msg: &[u8], records: u32) {
        match self.w.write_all(msg) {
            Ok(()) => {
                self.stats.messages += 1;
                self.stats.records += u64::from(records);
                self.stats.octets += msg.len() as u64;
            }
            Err(_) => {
                self.stats.errors += 1;
                self.stats.dropped_messages += 1;
                self.stats.dropped_records += u64::from(records);
            }
        }
    }

    fn write_pending(&mut self, now: u32, seq: u32) {
        let pending = std::mem::take(&mut self.pending);
        for mut m in message::merge_template_messages(pending, self.max_message) {
            set_sequence(&mut m, seq);
            set_export_time(&mut m, now);
            self.write(&m, 0);
        }
    }

    fn send_data(&mut self, msg: &[u8], records: u32, now: u32) {
        if !self.pending.is_empty() {
            self.write_pending(now, sequence_of(msg).unwrap_or(0));
        }
        self.write(msg, records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> CollectorUrl {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn urls() {
        assert_eq!(
            ok("udp://127.0.0.1:4739"),
            CollectorUrl::Udp("127.0.0.1:4739".into())
        );
        assert_eq!(
            ok("tcp://collector.example:4739"),
            CollectorUrl::Tcp("collector.example:4739".into())
        );
        assert_eq!(ok("[::1]:4739"), CollectorUrl::Udp("[::1]:4739".into()));
        assert_eq!(
            ok("UDP://[2001:db8::1]:9995"),
            CollectorUrl::Udp("[2001:db8::1]:9995".into())
        );
        assert_eq!(
            ok("file:///tmp/x.ipfix"),
            CollectorUrl::File("/tmp/x.ipfix".into())
        );
        assert_eq!(ok("tcp://h:1").to_string(), "tcp://h:1");
        for bad in [
            "",
            "udp://",
            "udp://host",
            "udp://host:",
            "udp://:4739",
            "udp://host:0",
            "udp://host:65536",
            "udp://host:x",
            "::1:4739",
            "udp://[::1]",
            "udp://[zz]:1",
            "sctp://h:1",
            "udp://a b:1",
            "file://",
        ] {
            let e = bad.parse::<CollectorUrl>().unwrap_err().to_string();
            assert!(e.contains("expected udp://HOST:PORT"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
        let e = "::1:4739".parse::<CollectorUrl>().unwrap_err().to_string();
        assert!(e.contains("brackets"), "{e}");
        let e = "udp://host"
            .parse::<CollectorUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("missing port"), "{e}");
    }

    #[test]
    fn io_text_strips_os_error() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(io_text(&e), "No such file or directory");
        let e = io::Error::other("plain");
        assert_eq!(io_text(&e), "plain");
    }
}
