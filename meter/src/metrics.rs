//! The metrics endpoint: the pipeline's counters as Prometheus/OpenMetrics text over HTTP.
//!
//! The pipeline owns its counters (plain integers in each worker, never shared on the fast
//! path); whoever runs it copies them into a [`MetricsSnapshot`] when asked. [`Metrics`]
//! encodes the latest snapshot with the `prometheus-client` crate through a custom collector:
//! the snapshot's counters are already monotonic totals, so each scrape encodes them as
//! constant counters instead of mirroring them into live `Counter`s that would have to be
//! incremented by differences.
//!
//! [`serve`] answers `GET /metrics` on its own thread with a small blocking HTTP/1.1
//! responder (one request at a time, short deadlines), enough for a scraper or two and no
//! async runtime. Scrapers that ask for OpenMetrics (Prometheus does) get
//! `application/openmetrics-text`; anything else (curl, `promtool check metrics`, which only
//! reads the classic format) gets the classic Prometheus text format 0.0.4 with the same
//! samples.

use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::flow::EndReason;
use crate::packet::{DropReason, anomaly};

/// Content type of the OpenMetrics rendering.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text rendering.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The default listen address of the endpoint (the `metrics` setting).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Transport protocol classes for throughput and goodput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp = 0,
    Udp = 1,
    /// ICMP and ICMPv6.
    Icmp = 2,
    Other = 3,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::Other,
    ];

    /// The class of an IP protocol number (IPv4 protocol / IPv6 next header after extensions).
    pub fn from_ip_proto(proto: u8) -> Protocol {
        match proto {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 | 58 => Protocol::Icmp,
            _ => Protocol::Other,
        }
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Other => "other",
        }
    }
}

/// Counters of the XDP program for one queue (from its per-CPU maps, summed over CPUs):
/// seen, redirected, passed (no socket on the queue), filtered (pre-filter), unparsable
/// (still redirected), redirect_failed.
pub use xdp_redirect::QueueCounters as XdpProgramCounters;

/// The kernel's `XDP_STATISTICS` for one AF_XDP socket (`struct xdp_statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStatistics {
    /// `rx_dropped`: dropped for reasons other than invalid descriptors.
    pub rx_dropped: u64,
    /// `rx_ring_full`: dropped because the rx ring was full (the worker fell behind).
    pub rx_ring_full: u64,
    /// `rx_fill_ring_empty_descs`: times the fill ring was empty (no buffer for a packet).
    pub fill_ring_empty: u64,
    /// `rx_invalid_descs`.
    pub rx_invalid_descs: u64,
}

/// Everything counted for one NIC queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueMetrics {
    /// NIC queue id (the `queue` label).
    pub queue: u32,
    /// Frames received from the AF_XDP socket (or the capture file) by this queue's worker.
    pub rx_packets: u64,
    /// Their wire length in bytes.
    pub rx_bytes: u64,
    pub xdp: XdpProgramCounters,
    pub xsk: XskStatistics,
}

/// Counters of one IPFIX destination (the `collector` label is its URL or file path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorMetrics {
    pub collector: String,
    /// Data records sent.
    pub records: u64,
    /// IPFIX messages sent (data and template messages).
    pub messages: u64,
    /// Bytes sent (whole messages).
    pub bytes: u64,
    /// Send or connect errors.
    pub errors: u64,
    /// Messages that could not be sent.
    pub dropped_messages: u64,
    /// Data records that did not reach this collector.
    pub dropped_records: u64,
}

/// Packets and bytes of one protocol class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolMetrics {
    /// Metered packets.
    pub packets: u64,
    /// Layer-3 bytes (IP header + payload, as in IPFIX octetDeltaCount): throughput.
    pub bytes: u64,
    /// Transport payload bytes (after the TCP/UDP/ICMP header): goodput.
    pub payload_bytes: u64,
}

/// Plain copy of every counter the endpoint shows. Counters are totals since start
/// (monotonic); `flows` and `flow_capacity` are current values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// One entry per queue, any order (rendered in this order).
    pub queues: Vec<QueueMetrics>,
    /// Packets dropped before metering; index = position in [`DropReason::ALL`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Metered packets with an anomaly; index = bit number in [`anomaly::NAMES`].
    pub anomalies: [u64; anomaly::COUNT],
    /// Flow records dropped because the export queue was full, and the packets in them.
    pub export_queue_dropped_records: u64,
    pub export_queue_dropped_packets: u64,
    /// Flows in the tables now (all workers).
    pub flows: u64,
    /// Capacity of the tables (all workers).
    pub flow_capacity: u64,
    pub flows_created: u64,
    /// Flow records ended, index = position in [`EndReason::ALL`] (idle, active, end,
    /// forced, lack_of_resources).
    pub flows_expired: [u64; EndReason::ALL.len()],
    /// Flows evicted because a table was full.
    pub flows_evicted: u64,
    pub collectors: Vec<CollectorMetrics>,
    /// MPTCP connections (MP_CAPABLE handshakes) and joined subflows (MP_JOIN) seen.
    pub mptcp_connections: u64,
    pub mptcp_subflows: u64,
    /// Index = `Protocol as usize`.
    pub protocols: [ProtocolMetrics; Protocol::ALL.len()],
}

impl Default for MetricsSnapshot {
    fn default() -> Self {
        MetricsSnapshot {
            queues: Vec::new(),
            drops: [0; DropReason::ALL.len()],
            anomalies: [0; anomaly::COUNT],
            export_queue_dropped_records: 0,
            export_queue_dropped_packets: 0,
            flows: 0,
            flow_capacity: 0,
            flows_created: 0,
            flows_expired: [0; EndReason::ALL.len()],
            flows_evicted: 0,
            collectors: Vec::new(),
            mptcp_connections: 0,
            mptcp_subflows: 0,
            protocols: [ProtocolMetrics::default(); Protocol::ALL.len()],
        }
    }
}

/// The latest snapshot, shared between [`Metrics`] and the collector in its registry.
#[derive(Debug, Default)]
struct SnapshotCollector {
    latest: Mutex<MetricsSnapshot>,
}

/// Registry with the meter's metric families; [`Metrics::update`] then [`Metrics::render`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    snapshot: Arc<SnapshotCollector>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let snapshot = Arc::new(SnapshotCollector::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&snapshot)));
        Metrics { registry, snapshot }
    }

    /// Replace the values shown by the next [`render`](Metrics::render).
    pub fn update(&self, snap: &MetricsSnapshot) {
        // A panic elsewhere while holding the lock leaves a whole snapshot, still usable.
        let mut latest = self
            .snapshot
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        latest.clone_from(snap);
    }

    /// OpenMetrics text of the latest snapshot, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail and our collector only fails if the writer does.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String");
        out
    }

    /// The same samples in the classic Prometheus text format 0.0.4 (what
    /// `promtool check metrics` and plain-text scrapers read).
    pub fn render_prometheus_text(&self) -> String {
        openmetrics_to_prometheus_text(&self.render())
    }
}

/// A per-queue counter family: name, help, and which field of `T` it shows.
type Field<T> = (&'static str, &'static str, fn(&T) -> u64);

fn queue_label(q: &QueueMetrics) -> [(&'static str, String); 1] {
    [("queue", q.queue.to_string())]
}

/// One counter family: a descriptor and one sample per label set.
fn counters<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in samples {
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter without labels.
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

/// A gauge without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let e = &mut enc;
        let bytes = Some(&Unit::Bytes);

        let info = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        info.encode(e.encode_descriptor(
            "meter_build",
            "Version of the running meter.",
            None,
            info.metric_type(),
        )?)?;

        // Per queue: what the worker received, what the XDP program did, what the kernel
        // dropped before the socket.
        let q = &s.queues;
        counters(
            e,
            "meter_rx_packets",
            "Packets received per NIC queue.",
            None,
            q.iter().map(|q| (queue_label(q), q.rx_packets)),
        )?;
        counters(
            e,
            "meter_rx",
            "Bytes received per NIC queue (wire length).",
            bytes,
            q.iter().map(|q| (queue_label(q), q.rx_bytes)),
        )?;
        let xdp: [Field<XdpProgramCounters>; 6] = [
            (
                "meter_xdp_seen_packets",
                "Packets the XDP program ran on.",
                |x| x.seen,
            ),
            (
                "meter_xdp_redirected_packets",
                "Packets the XDP program redirected to the AF_XDP socket.",
                |x| x.redirected,
            ),
            (
                "meter_xdp_passed_packets",
                "Packets the XDP program passed to the kernel stack (no socket on the queue).",
                |x| x.passed,
            ),
            (
                "meter_xdp_filtered_packets",
                "Packets the XDP pre-filter dropped (filter setting).",
                |x| x.filtered,
            ),
            (
                "meter_xdp_unparsable_packets",
                "Packets the XDP pre-filter could not parse (not IP, truncated); still redirected.",
                |x| x.unparsable,
            ),
            (
                "meter_xdp_redirect_failed_packets",
                "Packets the XDP program failed to redirect to a registered AF_XDP socket (dropped).",
                |x| x.redirect_failed,
            ),
        ];
        for (name, help, get) in xdp {
            counters(
                e,
                name,
                help,
                None,
                q.iter().map(|q| (queue_label(q), get(&q.xdp))),
            )?;
        }
        let xsk: [Field<XskStatistics>; 4] = [
            (
                "meter_xsk_rx_dropped_packets",
                "AF_XDP socket: packets the kernel dropped (XDP_STATISTICS rx_dropped).",
                |x| x.rx_dropped,
            ),
            (
                "meter_xsk_rx_ring_full",
                "AF_XDP socket: packets dropped because the rx ring was full (XDP_STATISTICS rx_ring_full).",
                |x| x.rx_ring_full,
            ),
            (
                "meter_xsk_fill_ring_empty",
                "AF_XDP socket: times the fill ring was empty (XDP_STATISTICS rx_fill_ring_empty_descs).",
                |x| x.fill_ring_empty,
            ),
            (
                "meter_xsk_rx_invalid_descs",
                "AF_XDP socket: invalid rx descriptors (XDP_STATISTICS rx_invalid_descs).",
                |x| x.rx_invalid_descs,
            ),
        ];
        for (name, help, get) in xsk {
            counters(
                e,
                name,
                help,
                None,
                q.iter().map(|q| (queue_label(q), get(&q.xsk))),
            )?;
        }

        // Before and during metering.
        counters(
            e,
            "meter_dropped_packets",
            "Packets dropped before metering, by reason (they could not form a flow).",
            None,
            DropReason::ALL
                .iter()
                .zip(s.drops)
                .map(|(r, v)| ([("reason", r.name())], v)),
        )?;
        counters(
            e,
            "meter_anomaly_packets",
            "Metered packets with an anomaly, by kind (they are in a flow record).",
            None,
            anomaly::NAMES
                .iter()
                .zip(s.anomalies)
                .map(|(k, v)| ([("kind", *k)], v)),
        )?;
        let protos = || Protocol::ALL.iter().zip(s.protocols.iter());
        counters(
            e,
            "meter_protocol_packets",
            "Metered packets by transport protocol.",
            None,
            protos().map(|(p, m)| ([("protocol", p.name())], m.packets)),
        )?;
        counters(
            e,
            "meter_protocol",
            "Metered layer-3 bytes (IP header and payload) by transport protocol: throughput.",
            bytes,
            protos().map(|(p, m)| ([("protocol", p.name())], m.bytes)),
        )?;
        counters(
            e,
            "meter_protocol_payload",
            "Metered transport payload bytes by transport protocol: goodput.",
            bytes,
            protos().map(|(p, m)| ([("protocol", p.name())], m.payload_bytes)),
        )?;

        // Flow tables.
        gauge(e, "meter_flows", "Flows in the flow tables now.", s.flows)?;
        gauge(
            e,
            "meter_flow_capacity",
            "Capacity of the flow tables (flows, all workers).",
            s.flow_capacity,
        )?;
        counter(e, "meter_flows_created", "Flows created.", s.flows_created)?;
        counters(
            e,
            "meter_flows_expired",
            "Flow records ended, by end reason (active: the flow continues in a new record).",
            None,
            EndReason::ALL
                .iter()
                .zip(s.flows_expired)
                .map(|(r, v)| ([("reason", r.name())], v)),
        )?;
        counter(
            e,
            "meter_flows_evicted",
            "Flows evicted because a flow table was full.",
            s.flows_evicted,
        )?;

        // Export.
        counter(
            e,
            "meter_export_queue_dropped_records",
            "Flow records dropped because the export queue was full.",
            s.export_queue_dropped_records,
        )?;
        counter(
            e,
            "meter_export_queue_dropped_packets",
            "Packets in flow records dropped because the export queue was full.",
            s.export_queue_dropped_packets,
        )?;
        let c = &s.collectors;
        let coll = |m: &CollectorMetrics| [("collector", m.collector.clone())];
        counters(
            e,
            "meter_export_records",
            "IPFIX data records sent, per collector.",
            None,
            c.iter().map(|m| (coll(m), m.records)),
        )?;
        counters(
            e,
            "meter_export_messages",
            "IPFIX messages sent, per collector.",
            None,
            c.iter().map(|m| (coll(m), m.messages)),
        )?;
        counters(
            e,
            "meter_export",
            "IPFIX bytes sent, per collector.",
            bytes,
            c.iter().map(|m| (coll(m), m.bytes)),
        )?;
        counters(
            e,
            "meter_export_errors",
            "IPFIX send or connect errors, per collector.",
            None,
            c.iter().map(|m| (coll(m), m.errors)),
        )?;
        counters(
            e,
            "meter_export_dropped_messages",
            "IPFIX messages that could not be sent, per collector.",
            None,
            c.iter().map(|m| (coll(m), m.dropped_messages)),
        )?;
        counters(
            e,
            "meter_export_dropped_records",
            "IPFIX data records that did not reach the collector.",
            None,
            c.iter().map(|m| (coll(m), m.dropped_records)),
        )?;

        // MPTCP.
        counter(
            e,
            "meter_mptcp_connections",
            "MPTCP connections seen (MP_CAPABLE handshakes).",
            s.mptcp_connections,
        )?;
        counter(
            e,
            "meter_mptcp_subflows",
            "MPTCP joined subflows seen (MP_JOIN).",
            s.mptcp_subflows,
        )?;
        Ok(())
    }
}

/// Rewrite OpenMetrics text into the classic Prometheus text format 0.0.4. The samples are
/// identical; only the metadata differs: classic families are named like their samples
/// (`foo_total` for counters, `foo_info` for infos, which become gauges), and there is no
/// `# UNIT` or `# EOF`. Our help texts contain no characters whose escaping differs.
pub fn openmetrics_to_prometheus_text(om: &str) -> String {
    let mut types = std::collections::HashMap::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, ty)) = rest.split_once(' ')
        {
            types.insert(name, ty);
        }
    }
    let rename = |name: &str| -> String {
        match types.get(name) {
            Some(&"counter") => format!("{name}_total"),
            Some(&"info") => format!("{name}_info"),
            _ => name.to_string(),
        }
    };
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let _ = writeln!(out, "# HELP {} {help}", rename(name));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let ty = match ty {
                "info" | "stateset" => "gauge",
                "unknown" => "untyped",
                other => other,
            };
            let _ = writeln!(out, "# TYPE {} {ty}", rename(name));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Parse the `metrics` setting: `"none"` turns the endpoint off, otherwise `IP:PORT`.
pub fn parse_listen_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    t.parse::<SocketAddr>().map(Some).map_err(|_| {
        format!(
            "metrics: invalid address {s:?}: expected IP:PORT (like {DEFAULT_ADDR} or [::1]:9464) or \"none\""
        )
    })
}

/// Longest time one request may take to arrive and be answered: a stuck or slow client
/// holds the (single) responder at most this long.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Largest request head we read; scrapers send a few hundred bytes.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Handle of the running endpoint; dropping it stops the responder thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The responder blocks in accept(); a connection of our own wakes it to see the flag.
        let wake = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let woke = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.thread.take()
            && woke
        {
            // If the wake-up failed the thread is left to end with the process rather
            // than hanging the caller.
            let _ = t.join();
        }
    }
}

/// Why binding failed, in operator words.
fn bind_error(addr: SocketAddr, e: &io::Error) -> io::Error {
    let why = match e.kind() {
        io::ErrorKind::AddrInUse => "address in use".to_string(),
        io::ErrorKind::AddrNotAvailable => "no such address on this host".to_string(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)".to_string()
        }
        _ => e.to_string(),
    };
    io::Error::new(
        e.kind(),
        format!(
            "metrics: cannot listen on {addr}: {why}; set metrics = \"none\" or another address"
        ),
    )
}

/// Listen on `addr` and answer `GET /metrics` with the snapshot `snapshot()` returns at
/// each scrape. Errors are one line, ready for the log.
pub fn serve(
    addr: SocketAddr,
    snapshot: impl Fn() -> MetricsSnapshot + Send + 'static,
) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr).map_err(|e| bind_error(addr, &e))?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let metrics = Metrics::new();
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                match conn {
                    Ok(stream) => {
                        // A failed exchange concerns only that client.
                        let _ = respond(stream, &metrics, &snapshot);
                    }
                    // Out of file descriptors and the like: do not spin on the error.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })?;
    Ok(MetricsServer {
        addr: local,
        stop,
        thread: Some(thread),
    })
}

/// Read one request head (up to the blank line) within [`REQUEST_DEADLINE`].
fn read_head(stream: &mut TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}

/// Does the Accept header ask for OpenMetrics (with a non-zero quality)?
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        media.eq_ignore_ascii_case("application/openmetrics-text") && q > 0.0
    })
}

fn respond(
    mut stream: TcpStream,
    metrics: &Metrics,
    snapshot: &impl Fn() -> MetricsSnapshot,
) -> io::Result<()> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let head = match read_head(&mut stream, deadline) {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return reply(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request head too large\n",
                true,
            );
        }
        Err(e) => return Err(e),
    };
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let request = lines.next().unwrap_or("");
    let mut words = request.split_whitespace();
    let (method, target, version) = (words.next(), words.next(), words.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return reply(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
            true,
        );
    };
    if !version.starts_with("HTTP/1.") {
        return reply(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
            true,
        );
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return reply(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found; metrics are at /metrics\n",
            true,
        );
    }
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => {
            return reply(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"use GET\n",
                true,
            );
        }
    };
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    metrics.update(&snapshot());
    let (body, ctype) = if wants_openmetrics(&accept) {
        (metrics.render(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            metrics.render_prometheus_text(),
            PROMETHEUS_TEXT_CONTENT_TYPE,
        )
    };
    reply(&mut stream, "200 OK", ctype, body.as_bytes(), with_body)
}

fn reply(
    stream: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
    with_body: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// A snapshot with a distinct value in every field, so a mix-up shows.
    fn filled() -> MetricsSnapshot {
        let mut s = MetricsSnapshot::default();
        let mut v = 1000u64;
        let mut next = || {
            v += 1;
            v
        };
        for queue in [0u32, 3] {
            s.queues.push(QueueMetrics {
                queue,
                rx_packets: next(),
                rx_bytes: next(),
                xdp: XdpProgramCounters {
                    seen: next(),
                    redirected: next(),
                    passed: next(),
                    filtered: next(),
                    unparsable: next(),
                    redirect_failed: next(),
                },
                xsk: XskStatistics {
                    rx_dropped: next(),
                    rx_ring_full: next(),
                    fill_ring_empty: next(),
                    rx_invalid_descs: next(),
                },
            });
        }
        for d in &mut s.drops {
            *d = next();
        }
        for a in &mut s.anomalies {
            *a = next();
        }
        s.export_queue_dropped_records = next();
        s.export_queue_dropped_packets = next();
        s.flows = next();
        s.flow_capacity = next();
        s.flows_created = next();
        for x in &mut s.flows_expired {
            *x = next();
        }
        s.flows_evicted = next();
        for url in [
            "udp://192.0.2.1:4739",
            "tcp://[2001:db8::1]:4739",
            "/var/lib/meter/flows \"q\".ipfix",
        ] {
            s.collectors.push(CollectorMetrics {
                collector: url.to_string(),
                records: next(),
                messages: next(),
                bytes: next(),
                errors: next(),
                dropped_messages: next(),
                dropped_records: next(),
            });
        }
        s.mptcp_connections = next();
        s.mptcp_subflows = next();
        for p in &mut s.protocols {
            *p = ProtocolMetrics {
                packets: next(),
                bytes: next(),
                payload_bytes: next(),
            };
        }
        s
    }

    /// The value of the sample with exactly this name and label text (`{..}` or "").
    fn sample(text: &str, series: &str) -> Option<u64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn render_shows_every_snapshot_value_under_its_name() {
        let m = Metrics::new();
        let s = filled();
        m.update(&s);
        let om = m.render();
        assert!(
            om.ends_with("# EOF\n"),
            "OpenMetrics text must end with # EOF"
        );
        assert_eq!(
            sample(&om, "meter_rx_packets_total{queue=\"3\"}"),
            Some(s.queues[1].rx_packets)
        );
        assert_eq!(
            sample(&om, "meter_rx_bytes_total{queue=\"0\"}"),
            Some(s.queues[0].rx_bytes)
        );
        assert_eq!(
            sample(&om, "meter_xdp_filtered_packets_total{queue=\"3\"}"),
            Some(s.queues[1].xdp.filtered)
        );
        assert_eq!(
            sample(&om, "meter_xsk_rx_ring_full_total{queue=\"0\"}"),
            Some(s.queues[0].xsk.rx_ring_full)
        );
        assert_eq!(
            sample(&om, "meter_dropped_packets_total{reason=\"not_ip\"}"),
            Some(s.drops[DropReason::NotIp as usize])
        );
        assert_eq!(
            sample(&om, "meter_anomaly_packets_total{kind=\"fragment_no_l4\"}"),
            Some(s.anomalies[6])
        );
        assert_eq!(sample(&om, "meter_flows"), Some(s.flows));
        assert_eq!(sample(&om, "meter_flow_capacity"), Some(s.flow_capacity));
        assert_eq!(
            sample(&om, "meter_flows_created_total"),
            Some(s.flows_created)
        );
        assert_eq!(
            sample(
                &om,
                "meter_flows_expired_total{reason=\"lack_of_resources\"}"
            ),
            Some(s.flows_expired[4])
        );
        assert_eq!(
            sample(&om, "meter_flows_expired_total{reason=\"idle\"}"),
            Some(s.flows_expired[0])
        );
        assert_eq!(
            sample(&om, "meter_flows_evicted_total"),
            Some(s.flows_evicted)
        );
        assert_eq!(
            sample(&om, "meter_export_queue_dropped_packets_total"),
            Some(s.export_queue_dropped_packets)
        );
        assert_eq!(
            sample(
                &om,
                "meter_export_bytes_total{collector=\"tcp://[2001:db8::1]:4739\"}"
            ),
            Some(s.collectors[1].bytes)
        );
        // Label values are escaped, not cut.
        assert_eq!(
            sample(
                &om,
                "meter_export_records_total{collector=\"/var/lib/meter/flows \\\"q\\\".ipfix\"}"
            ),
            Some(s.collectors[2].records)
        );
        assert_eq!(
            sample(&om, "meter_mptcp_subflows_total"),
            Some(s.mptcp_subflows)
        );
        assert_eq!(
            sample(&om, "meter_protocol_payload_bytes_total{protocol=\"icmp\"}"),
            Some(s.protocols[Protocol::Icmp as usize].payload_bytes)
        );
        assert_eq!(
            sample(&om, "meter_protocol_bytes_total{protocol=\"other\"}"),
            Some(s.protocols[3].bytes)
        );
        assert!(om.contains("# UNIT meter_rx_bytes bytes\n"));

        // A newer snapshot replaces the old values.
        let mut s2 = s.clone();
        s2.flows_created += 5;
        m.update(&s2);
        assert_eq!(
            sample(&m.render(), "meter_flows_created_total"),
            Some(s.flows_created + 5)
        );
    }

    #[test]
    fn classic_text_has_the_same_samples() {
        let m = Metrics::new();
        m.update(&filled());
        let om = m.render();
        let text = m.render_prometheus_text();
        let samples = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(samples(&om), samples(&text));
        assert!(text.contains("# TYPE meter_flows_created_total counter\n"));
        assert!(text.contains("# TYPE meter_build_info gauge\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    }

    fn promtool(input: &str) -> (bool, String) {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (Debian package prometheus) must be installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let msg = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), msg)
    }

    #[test]
    fn promtool_finds_nothing_to_complain_about() {
        let m = Metrics::new();
        m.update(&filled());
        let (ok, msg) = promtool(&m.render_prometheus_text());
        assert!(
            ok && msg.trim().is_empty(),
            "promtool check metrics complained:\n{msg}"
        );
        // An empty snapshot (no queues, no collectors yet) is valid too.
        m.update(&MetricsSnapshot::default());
        let (ok, msg) = promtool(&m.render_prometheus_text());
        assert!(
            ok && msg.trim().is_empty(),
            "promtool on an empty snapshot:\n{msg}"
        );
        // The linter is not a rubber stamp: a counter without _total is refused.
        let (ok, _) = promtool("# HELP meter_bad Bad.\n# TYPE meter_bad counter\nmeter_bad 1\n");
        assert!(!ok);
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::new();
        m.update(&filled());
        let text = m.render_prometheus_text();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut w = line.split(' ').skip(2);
            let (name, ty) = (w.next().unwrap(), w.next().unwrap());
            assert!(name.starts_with("meter_"), "{name}");
            assert_eq!(name.ends_with("_total"), ty == "counter", "{line}");
            assert!(!name.contains("octets"), "{name}: use base unit bytes");
        }
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }

    #[test]
    fn listen_addr_setting() {
        assert_eq!(parse_listen_addr("none"), Ok(None));
        assert_eq!(
            parse_listen_addr("127.0.0.1:9464"),
            Ok(Some("127.0.0.1:9464".parse().unwrap()))
        );
        assert_eq!(
            parse_listen_addr("[::1]:9464"),
            Ok(Some("[::1]:9464".parse().unwrap()))
        );
        let e = parse_listen_addr("localhost").unwrap_err();
        assert!(
            e.starts_with("metrics: invalid address \"localhost\"") && !e.contains('\n'),
            "{e}"
        );
    }

    /// One HTTP exchange; returns (status line, headers lowercased, body).
    fn http(addr: SocketAddr, request: &str) -> (String, String, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").expect("response head");
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (
            status.to_string(),
            headers.to_ascii_lowercase(),
            body.to_string(),
        )
    }

    #[test]
    fn serves_metrics_over_loopback() {
        let scrapes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let scrapes2 = Arc::clone(&scrapes);
        let server = serve("127.0.0.1:0".parse().unwrap(), move || {
            // Each scrape sees a fresh snapshot: the counter moves between scrapes.
            let n = scrapes2.fetch_add(1, Ordering::SeqCst) + 1;
            MetricsSnapshot {
                flows_created: 40 + n,
                queues: vec![QueueMetrics {
                    queue: 2,
                    rx_packets: 123_456,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);

        let (status, headers, body) = http(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n",
        );
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains(
                "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"
            ),
            "{headers}"
        );
        assert!(
            headers.contains(&format!("content-length: {}", body.len())),
            "{headers}"
        );
        assert_eq!(
            sample(&body, "meter_rx_packets_total{queue=\"2\"}"),
            Some(123_456)
        );
        assert_eq!(sample(&body, "meter_flows_created_total"), Some(41));
        assert!(body.ends_with("# EOF\n"));

        // Plain scrapers (curl, promtool) get the classic format, with a fresh snapshot.
        let (status, headers, body) =
            http(addr, "GET /metrics?x=1 HTTP/1.0\r\nAccept: */*\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{headers}"
        );
        assert_eq!(sample(&body, "meter_flows_created_total"), Some(42));
        let (ok, msg) = promtool(&body);
        assert!(
            ok && msg.trim().is_empty(),
            "promtool on the scrape:\n{msg}"
        );

        let (status, _, body) = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
        let (status, _, _) = http(addr, "GET / HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        let (status, _, _) = http(addr, "GET /metricsx HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        let (status, _, _) = http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
        let (status, _, _) = http(addr, "garbage\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
        assert_eq!(
            scrapes.load(Ordering::SeqCst),
            3,
            "only the three /metrics requests take a snapshot"
        );

        // Dropping the handle stops the thread and closes the port.
        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "listener still open after drop"
        );
    }

    #[test]
    fn a_silent_client_does_not_block_the_endpoint() {
        let server = serve("127.0.0.1:0".parse().unwrap(), MetricsSnapshot::default).unwrap();
        let addr = server.local_addr();
        // Connects and never sends: the responder gives up on it after its deadline.
        let _silent = TcpStream::connect(addr).unwrap();
        let (status, _, _) = http(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
    }

    #[test]
    fn address_in_use_is_one_clear_line() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = serve(addr, MetricsSnapshot::default).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            e.to_string(),
            format!(
                "metrics: cannot listen on {addr}: address in use; set metrics = \"none\" or another address"
            )
        );
    }

    /// Every metric the Grafana dashboard queries is one the endpoint exports.
    #[test]
    fn dashboard_queries_only_exported_metrics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../grafana/meter-dashboard.json"
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path).expect("grafana/meter-dashboard.json"),
        )
        .unwrap();
        let mut exprs = Vec::new();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                // Data-source pickers (the DS_PROMETHEUS variable, __inputs) are no queries.
                serde_json::Value::Object(m)
                    if m.get("type").is_some_and(|t| t == "datasource") => {}
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v) {
                            ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                            _ => walk(v, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(&json, &mut exprs);
        assert!(exprs.len() >= 10, "dashboard has {} queries", exprs.len());

        let m = Metrics::new();
        m.update(&filled());
        let text = m.render_prometheus_text();
        let exported: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        for e in &exprs {
            let mut names = Vec::new();
            let mut rest = e.as_str();
            while let Some(i) = rest.find("meter_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.push(&tail[..end]);
                rest = &tail[end..];
            }
            assert!(!names.is_empty(), "query without a meter metric: {e:?}");
            for name in names {
                assert!(
                    exported.contains(name),
                    "dashboard queries {name}, which is not exported (in {e:?})"
                );
            }
        }
    }
}
