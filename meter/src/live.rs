//! The live pipeline: NIC queues → XDP redirect → one AF_XDP socket and one pinned worker
//! per queue → per-worker flow tables → the exporter thread.
//!
//! Workers share nothing: each owns its socket, UMEM and flow table, reads frames in
//! batches, stamps each batch with the clock once, and meters it with the same parser and
//! tables as the offline pipeline. A worker wakes at least every [`IDLE_TICK_MS`] even
//! without traffic so idle and active timeouts fire on time. Export never blocks a worker
//! ([`ExportPolicy::Drop`], counted).
//!
//! Stopping: the caller sets the stop flag (SIGINT/SIGTERM). The XDP program is detached
//! first, so no new frames arrive, and only then are the workers told to finish (a flag of
//! their own: a worker that stopped on the caller's flag could empty its ring before the
//! detach and miss the frames redirected in between); each worker then empties its
//! receive ring, flushes its table and reports its socket's XDP_STATISTICS. Every frame the program redirected is
//! then either metered or in a socket loss counter.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use xdp_redirect::{AttachMode, Filter, ModeRequest, QueueCounters, XdpProgram};

use crate::dissect::dissect;
use crate::export::{FlowOutput, wall_secs};
use crate::flow::{EndReason, FlowTable, TableConfig};
use crate::metrics::{MetricsSnapshot, Protocol, QueueMetrics, XskStatistics};
use crate::packet::{DropReason, LinkType, anomaly};
use crate::pipeline::{
    BatchSink, CaptureCounters, CollectorBoard, EXPIRE_EVERY_NS, ExportPolicy, InlineMeter, Meter,
    MeterStats, PipelineConfig, RecordTx, RunResult, join_exporter, record_queue, run_exporter,
};
use crate::source::afxdp::{QueueSocket, SocketSettings, SocketStats};

/// Longest a worker sleeps in poll without traffic.
pub const IDLE_TICK_MS: i32 = 100;
/// How long a stopping worker waits for one more frame before its ring counts as empty: a
/// frame the program redirected is written into the ring at the end of the (other core's)
/// receive poll that ran it, microseconds later, which may be after the detach.
const FINAL_DRAIN_MS: i32 = 10;

/// What to capture and how.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub iface: String,
    /// Receive queues to watch; `None` = all of the interface's.
    pub queues: Option<Vec<u32>>,
    /// Core of each queue's worker, in queue order; `None` = cores 0, 1, … in turn.
    pub cores: Option<Vec<usize>>,
    pub mode: ModeRequest,
    pub filter: Filter,
    pub socket: SocketSettings,
}

/// One queue's view of where frames went.
#[derive(Debug, Clone, Default)]
pub struct QueueReport {
    pub queue: u32,
    pub core: Option<usize>,
    pub zero_copy: bool,
    /// Frames the worker read from its socket.
    pub frames: u64,
    pub socket: SocketStats,
    pub xdp: QueueCounters,
}

/// Where the capture stood at the end of a live run.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    pub iface: String,
    pub mode: AttachMode,
    pub queues: Vec<QueueReport>,
}

impl CaptureReport {
    pub fn xdp_total(&self) -> QueueCounters {
        let mut t = QueueCounters::default();
        self.queues.iter().for_each(|q| t.add(&q.xdp));
        t
    }

    pub fn socket_total(&self) -> SocketStats {
        let mut t = SocketStats::default();
        self.queues.iter().for_each(|q| t.add(&q.socket));
        t
    }

    /// Redirected frames = frames read + frames the sockets lost. `Err` says what is off.
    pub fn check(&self) -> Result<(), String> {
        let x = self.xdp_total();
        let read: u64 = self.queues.iter().map(|q| q.frames).sum();
        let lost = self.socket_total().lost();
        if x.redirected == read + lost {
            Ok(())
        } else {
            Err(format!(
                "capture does not add up: the XDP program redirected {} frames, the workers read {read} and the sockets lost {lost}",
                x.redirected
            ))
        }
    }
}

/// What is reported once capture runs (for the start-up log line).
#[derive(Debug, Clone)]
pub struct Started {
    pub mode: AttachMode,
    pub queues: Vec<(u32, Option<usize>, bool)>,
    /// Fallbacks and settings that could not be applied.
    pub notes: Vec<String>,
}

/// Counters a worker publishes at every tick (at least every [`IDLE_TICK_MS`]) for the
/// metrics endpoint: relaxed stores of its own totals, nothing on the per-packet path.
#[derive(Default)]
struct WorkerGauges {
    frames: AtomicU64,
    octets: AtomicU64,
    drops: [AtomicU64; DropReason::ALL.len()],
    anomalies: [AtomicU64; anomaly::COUNT],
    flows: AtomicU64,
    flows_created: AtomicU64,
    // Indexed by the flowEndReason code (1..=5), as TableStats::records_by_reason.
    ended: [AtomicU64; 6],
    mptcp_flows: AtomicU64,
    mptcp_connections: AtomicU64,
    export_dropped_records: AtomicU64,
    export_dropped_packets: AtomicU64,
    /// Per [`Protocol`]: packets, octets, payload octets.
    protocols: [[AtomicU64; 3]; Protocol::ALL.len()],
    socket: [AtomicU64; 4],
}

fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// A worker's running totals that the table does not keep.
#[derive(Default)]
struct WorkerTotals {
    stats: MeterStats,
    /// Per [`Protocol`]: packets, octets, payload octets.
    protocols: [[u64; 3]; Protocol::ALL.len()],
}

impl WorkerGauges {
    fn publish(&self, t: &WorkerTotals, m: &InlineMeter, sock: &QueueSocket) {
        let (s, table) = (&t.stats, m.table.stats());
        set(&self.frames, s.frames);
        set(&self.octets, s.wire_octets);
        for (g, v) in self.drops.iter().zip(s.drops) {
            set(g, v);
        }
        for (g, v) in self.anomalies.iter().zip(table.anomalies) {
            set(g, v);
        }
        set(&self.flows, m.table.len() as u64);
        set(&self.flows_created, table.flows_created);
        for (g, v) in self.ended.iter().zip(table.records_by_reason) {
            set(g, v);
        }
        set(&self.mptcp_flows, table.mptcp_flows);
        set(&self.mptcp_connections, table.mptcp_connections);
        set(&self.export_dropped_records, m.sink.dropped_records);
        set(&self.export_dropped_packets, m.sink.dropped_packets);
        for (g, v) in self.protocols.iter().zip(&t.protocols) {
            for (g, v) in g.iter().zip(v) {
                set(g, *v);
            }
        }
        let k = sock.stats();
        for (g, v) in self.socket.iter().zip([
            k.rx_dropped,
            k.rx_ring_full,
            k.rx_fill_ring_empty,
            k.rx_invalid_descs,
        ]) {
            set(g, v);
        }
    }
}

/// The metrics snapshot of a running capture: the workers' gauges, the program's counters
/// and the exporter's collector counters.
fn snapshot(
    gauges: &[(u32, Arc<WorkerGauges>)],
    program: &XdpProgram,
    board: &CollectorBoard,
    capacity: u64,
) -> MetricsSnapshot {
    let mut snap = MetricsSnapshot {
        flow_capacity: capacity,
        ..Default::default()
    };
    for (queue, g) in gauges {
        let x = program.counters(*queue).unwrap_or_default();
        snap.queues.push(QueueMetrics {
            queue: *queue,
            rx_packets: get(&g.frames),
            rx_bytes: get(&g.octets),
            xdp: x,
            xsk: XskStatistics {
                rx_dropped: get(&g.socket[0]),
                rx_ring_full: get(&g.socket[1]),
                fill_ring_empty: get(&g.socket[2]),
                rx_invalid_descs: get(&g.socket[3]),
            },
        });
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            snap.drops[i] += get(&g.drops[*reason as usize]);
        }
        for (t, v) in snap.anomalies.iter_mut().zip(&g.anomalies) {
            *t += get(v);
        }
        for (i, reason) in EndReason::ALL.iter().enumerate() {
            snap.flows_expired[i] += get(&g.ended[*reason as usize]);
        }
        snap.flows_evicted += get(&g.ended[EndReason::LackOfResources as usize]);
        snap.flows += get(&g.flows);
        snap.flows_created += get(&g.flows_created);
        snap.mptcp_connections += get(&g.mptcp_connections);
        snap.mptcp_subflows += get(&g.mptcp_flows);
        snap.export_queue_dropped_records += get(&g.export_dropped_records);
        snap.export_queue_dropped_packets += get(&g.export_dropped_packets);
        for (p, g) in snap.protocols.iter_mut().zip(&g.protocols) {
            p.packets += get(&g[0]);
            p.bytes += get(&g[1]);
            p.payload_bytes += get(&g[2]);
        }
    }
    if let Ok(c) = board.lock() {
        snap.collectors = c.clone();
    }
    snap
}

/// Why live capture could not start; one line for the operator.
#[derive(Debug)]
pub struct LiveError(pub String);

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Capabilities live capture needs (bit numbers of linux/capability.h).
const NEEDED_CAPS: [(u32, &str); 3] = [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW"), (39, "CAP_BPF")];
/// Without it, packet buffers count against RLIMIT_MEMLOCK.
const CAP_IPC_LOCK: u32 = 14;

fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// The needed capabilities this process lacks (from /proc/self/status CapEff).
pub fn missing_capabilities() -> Vec<&'static str> {
    let eff = effective_caps();
    NEEDED_CAPS
        .iter()
        .filter(|(bit, _)| eff & (1u64 << bit) == 0)
        .map(|&(_, name)| name)
        .collect()
}

/// RLIMIT_MEMLOCK (soft) in bytes, from /proc/self/limits; `None` = unlimited.
fn memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Locked memory the sockets of `queues` queues need: UMEM plus rings, rounded up.
fn memlock_needed(s: &SocketSettings, queues: usize) -> u64 {
    let per_queue = u64::from(s.umem_frames) * u64::from(s.frame_size)
        + u64::from(s.umem_frames) * 8
        + u64::from(s.ring_size) * 16
        + (64 << 10);
    per_queue * queues as u64
}

/// Can this process lock what the sockets need? Root and CAP_IPC_LOCK always can.
fn check_memlock(s: &SocketSettings, queues: usize) -> Result<(), LiveError> {
    if effective_caps() & (1u64 << CAP_IPC_LOCK) != 0 {
        return Ok(());
    }
    let need = memlock_needed(s, queues);
    match memlock_limit() {
        Some(limit) if limit < need => Err(LiveError(format!(
            "the locked-memory limit (RLIMIT_MEMLOCK) is {} KiB but the packet buffers of {queues} queue{} need {} KiB: run as root or with CAP_IPC_LOCK, raise the limit (systemd: LimitMEMLOCK=infinity), or lower --umem-frames",
            limit >> 10,
            if queues == 1 { "" } else { "s" },
            need.div_ceil(1024)
        ))),
        _ => Ok(()),
    }
}

fn ifindex(iface: &str) -> Result<u32, LiveError> {
    let path = format!("/sys/class/net/{iface}/ifindex");
    if iface.is_empty() || iface.contains('/') || iface.len() > 15 {
        return Err(LiveError(format!(
            "'{iface}' is not a valid interface name"
        )));
    }
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            LiveError(format!(
                "interface {iface} does not exist (see `ip link`; in a network namespace, run the meter inside it)"
            ))
        })
}

/// The receive queues of `iface` (rx-0 … rx-N-1 in sysfs).
pub fn rx_queue_count(iface: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

fn plan_queues(live: &LiveConfig) -> Result<Vec<(u32, Option<usize>)>, LiveError> {
    let count = rx_queue_count(&live.iface);
    let queues = match &live.queues {
        Some(q) => q.clone(),
        None => (0..count).collect(),
    };
    if let Some(&bad) = queues.iter().find(|&&q| q >= count) {
        return Err(LiveError(format!(
            "queue {bad} does not exist on {}: it has {count} receive queue{} (0..={})",
            live.iface,
            if count == 1 { "" } else { "s" },
            count - 1
        )));
    }
    let online = core_affinity::get_core_ids().unwrap_or_default();
    let cores: Vec<Option<usize>> = match &live.cores {
        Some(c) => {
            if c.len() != queues.len() {
                return Err(LiveError(format!(
                    "{} cores given for {} queues: give one core per queue",
                    c.len(),
                    queues.len()
                )));
            }
            if let Some(&bad) = c.iter().find(|&&c| !online.iter().any(|o| o.id == c)) {
                return Err(LiveError(format!(
                    "core {bad} is not available to this process (online: {})",
                    online
                        .iter()
                        .map(|c| c.id.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )));
            }
            c.iter().copied().map(Some).collect()
        }
        None if online.is_empty() => vec![None; queues.len()],
        None => (0..queues.len())
            .map(|i| Some(online[i % online.len()].id))
            .collect(),
    };
    Ok(queues.into_iter().zip(cores).collect())
}

/// Read one batch from the socket and meter it.
fn meter_batch(
    sock: &mut QueueSocket,
    m: &mut InlineMeter,
    timeout_ms: i32,
    t: &mut WorkerTotals,
) -> usize {
    sock.recv_batch(timeout_ms, wall_ns, |now, frame| {
        let stats = &mut t.stats;
        stats.frames += 1;
        let len = frame.len() as u32;
        stats.wire_octets += u64::from(len);
        if stats.first_ns == 0 {
            stats.first_ns = now;
        }
        stats.last_ns = now;
        let meta = m.slot();
        match dissect(LinkType::Ethernet, frame, len, now, meta) {
            Ok(()) => {
                let p = &mut t.protocols[Protocol::from_ip_proto(meta.protocol) as usize];
                p[0] += 1;
                p[1] += u64::from(meta.octets);
                p[2] += u64::from(meta.payload_len);
                m.commit();
            }
            Err(reason) => {
                stats.drops[reason as usize] += 1;
                stats.dropped_wire_octets += u64::from(len);
            }
        }
    })
}

struct WorkerOut {
    stats: MeterStats,
    socket: SocketStats,
    dropped_records: u64,
    dropped_packets: u64,
}

fn live_worker(
    mut sock: QueueSocket,
    table: TableConfig,
    tx: RecordTx,
    detached: Arc<AtomicBool>,
    core: Option<usize>,
    gauges: Arc<WorkerGauges>,
) -> WorkerOut {
    if let Some(id) = core {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
    let mut m = InlineMeter::new(
        FlowTable::new(table),
        BatchSink::new(tx, ExportPolicy::Drop),
    );
    let mut t = WorkerTotals::default();
    let mut next_expire = 0u64;
    while !detached.load(Ordering::Acquire) {
        meter_batch(&mut sock, &mut m, IDLE_TICK_MS, &mut t);
        let now = wall_ns();
        if now >= next_expire {
            m.expire(now);
            gauges.publish(&t, &m, &sock);
            next_expire = now + EXPIRE_EVERY_NS;
        }
    }
    // The program is detached: whatever is still in the ring, or on its way into it from
    // a receive poll that ran the program just before the detach, is the last of it.
    while meter_batch(&mut sock, &mut m, FINAL_DRAIN_MS, &mut t) > 0 {}
    let mut stats = t.stats;
    m.drain();
    m.table.flush(EndReason::Forced, &mut m.sink);
    m.sink.send();
    stats.table = m.table.stats().clone();
    WorkerOut {
        stats,
        socket: sock.stats(),
        dropped_records: m.sink.dropped_records,
        dropped_packets: m.sink.dropped_packets,
    }
}

/// Capture live until `stop` is set, then flush and report. `on_start` runs once the
/// program is attached and every worker reads its queue.
pub fn run_live(
    live: &LiveConfig,
    cfg: &PipelineConfig,
    outputs: Vec<Box<dyn FlowOutput>>,
    stop: Arc<AtomicBool>,
    metrics: Option<std::net::SocketAddr>,
    on_start: impl FnOnce(&Started),
) -> Result<RunResult, LiveError> {
    let ifindex = ifindex(&live.iface)?;
    let missing = missing_capabilities();
    if !missing.is_empty() {
        return Err(LiveError(format!(
            "live capture needs root or the capabilities CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK (or a high enough locked-memory limit); this process lacks {}",
            missing.join(", ")
        )));
    }
    let plan = plan_queues(live)?;
    check_memlock(&live.socket, plan.len())?;
    let mut program = XdpProgram::load(&live.filter).map_err(|e| LiveError(e.to_string()))?;
    let mut notes = Vec::new();
    let mut sockets = Vec::with_capacity(plan.len());
    for &(queue, _) in &plan {
        let sock = QueueSocket::open(&live.iface, queue, &live.socket)
            .map_err(|e| LiveError(e.to_string()))?;
        program
            .register_socket(queue, sock.fd())
            .map_err(|e| LiveError(e.to_string()))?;
        if let Some(n) = &sock.busy_poll_note {
            notes.push(n.clone());
        }
        sockets.push(sock);
    }
    if let Some(n) = program
        .attach(&live.iface, ifindex, live.mode)
        .map_err(|e| LiveError(e.to_string()))?
    {
        notes.push(n);
    }
    let mode = program.mode().unwrap_or(AttachMode::Generic);
    if mode == AttachMode::Generic && plan.len() > 1 {
        notes.push(
            "generic XDP delivers every frame on queue 0 on some drivers (veth among them); use native mode for several queues"
                .into(),
        );
    }

    let board = CollectorBoard::default();
    let (tx, rx) = record_queue(cfg.export_queue_batches);
    let exporter_board = board.clone();
    let exporter = thread::Builder::new()
        .name("meter-export".into())
        .spawn(move || run_exporter(rx, outputs, Some(exporter_board)))
        .map_err(|e| LiveError(format!("cannot start a thread: {e}")))?;
    let started = Started {
        mode,
        queues: plan
            .iter()
            .zip(&sockets)
            .map(|(&(q, c), s)| (q, c, s.zero_copy))
            .collect(),
        notes,
    };
    // Set once the program is detached: the workers' signal to empty their rings and end.
    let detached = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(plan.len());
    let mut gauges = Vec::with_capacity(plan.len());
    for (sock, &(queue, core)) in sockets.into_iter().zip(&plan) {
        let (tx, detached_w, table) = (tx.clone(), detached.clone(), cfg.table);
        let g = Arc::new(WorkerGauges::default());
        gauges.push((queue, g.clone()));
        let zero_copy = sock.zero_copy;
        let h = thread::Builder::new()
            .name(format!("meter-q{queue}"))
            .spawn(move || live_worker(sock, table, tx, detached_w, core, g))
            .map_err(|e| {
                detached.store(true, Ordering::Release);
                LiveError(format!("cannot start a thread: {e}"))
            })?;
        handles.push((queue, core, zero_copy, h));
    }
    drop(tx);

    // The endpoint answers from the latest snapshot, which this thread refreshes every
    // tick (the XDP program's maps are read here, where the program lives).
    let latest = Arc::new(Mutex::new(MetricsSnapshot::default()));
    let capacity = (cfg.table.max_flows * plan.len()) as u64;
    let _server = match metrics {
        Some(addr) => {
            let l = latest.clone();
            let server = crate::metrics::serve(addr, move || {
                l.lock().map(|s| s.clone()).unwrap_or_default()
            });
            match server {
                Ok(s) => Some(s),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    program.detach();
                    detached.store(true, Ordering::Release);
                    for (_, _, _, h) in handles {
                        let _ = h.join();
                    }
                    return Err(LiveError(e.to_string()));
                }
            }
        }
        None => None,
    };
    on_start(&started);

    while !stop.load(Ordering::Relaxed) {
        if metrics.is_some() {
            let snap = snapshot(&gauges, &program, &board, capacity);
            if let Ok(mut l) = latest.lock() {
                *l = snap;
            }
        }
        thread::park_timeout(std::time::Duration::from_millis(IDLE_TICK_MS as u64));
    }
    program.detach();
    detached.store(true, Ordering::Release);

    let mut stats = MeterStats {
        idle_timeout_secs: cfg.table.idle_timeout_ns / 1_000_000_000,
        active_timeout_secs: cfg.table.active_timeout_ns / 1_000_000_000,
        workers: handles.len(),
        ..Default::default()
    };
    let mut queues = Vec::with_capacity(handles.len());
    for (queue, core, zero_copy, h) in handles {
        let Ok(w) = h.join() else {
            continue;
        };
        let s = &w.stats;
        stats.frames += s.frames;
        stats.wire_octets += s.wire_octets;
        for (t, d) in stats.drops.iter_mut().zip(s.drops) {
            *t += d;
        }
        stats.dropped_wire_octets += s.dropped_wire_octets;
        stats.first_ns = match (stats.first_ns, s.first_ns) {
            (0, f) | (f, 0) => f,
            (a, b) => a.min(b),
        };
        stats.last_ns = stats.last_ns.max(s.last_ns);
        stats.table.merge(&s.table);
        stats.export_dropped_records += w.dropped_records;
        stats.export_dropped_packets += w.dropped_packets;
        queues.push(QueueReport {
            queue,
            core,
            zero_copy,
            frames: s.frames,
            socket: w.socket,
            xdp: program.counters(queue).unwrap_or_default(),
        });
    }
    let (outputs, totals) = join_exporter(exporter);
    stats.exported_packets = totals.packets;
    stats.exported_flow_records = totals.records;
    let capture = CaptureReport {
        iface: live.iface.clone(),
        mode,
        queues,
    };
    stats.capture = Some(CaptureCounters {
        xdp: capture.xdp_total(),
        socket: capture.socket_total(),
    });
    let now = wall_secs();
    let outputs = outputs.into_iter().map(|o| o.finish(&stats, now)).collect();
    Ok(RunResult {
        stats,
        outputs,
        source_error: None,
        capture: Some(capture),
    })
}
