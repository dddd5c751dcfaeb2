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
//! first, so no new frames arrive; each worker then empties its receive ring, flushes its
//! table and reports its socket's XDP_STATISTICS. Every frame the program redirected is
//! then either metered or in a socket loss counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, bounded};
use xdp_redirect::{AttachMode, Filter, ModeRequest, QueueCounters, XdpProgram};

use crate::dissect::dissect;
use crate::export::{FlowOutput, wall_secs};
use crate::flow::{EndReason, FlowTable, TableConfig};
use crate::packet::LinkType;
use crate::pipeline::{
    BatchSink, CaptureCounters, EXPIRE_EVERY_NS, ExportPolicy, ExportTotals, InlineMeter, Meter,
    MeterStats, PipelineConfig, RecordBatch, RunResult, run_exporter,
};
use crate::source::afxdp::{QueueSocket, SocketSettings, SocketStats};

/// Longest a worker sleeps in poll without traffic.
pub const IDLE_TICK_MS: i32 = 100;

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
const NEEDED_CAPS: [(u32, &str); 4] = [
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (39, "CAP_BPF"),
    (14, "CAP_IPC_LOCK"),
];

/// The needed capabilities this process lacks (from /proc/self/status CapEff).
pub fn missing_capabilities() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    NEEDED_CAPS
        .iter()
        .filter(|(bit, _)| eff & (1u64 << bit) == 0)
        .map(|&(_, name)| name)
        .collect()
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
    stats: &mut MeterStats,
) -> usize {
    sock.recv_batch(timeout_ms, wall_ns, |now, frame| {
        stats.frames += 1;
        let len = frame.len() as u32;
        stats.wire_octets += u64::from(len);
        if stats.first_ns == 0 {
            stats.first_ns = now;
        }
        stats.last_ns = now;
        match dissect(LinkType::Ethernet, frame, len, now, m.slot()) {
            Ok(()) => m.commit(),
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
    tx: Sender<RecordBatch>,
    stop: Arc<AtomicBool>,
    core: Option<usize>,
) -> WorkerOut {
    if let Some(id) = core {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
    let mut m = InlineMeter::new(
        FlowTable::new(table),
        BatchSink::new(tx, ExportPolicy::Drop),
    );
    let mut stats = MeterStats::default();
    let mut next_expire = 0u64;
    while !stop.load(Ordering::Relaxed) {
        meter_batch(&mut sock, &mut m, IDLE_TICK_MS, &mut stats);
        let now = wall_ns();
        if now >= next_expire {
            m.expire(now);
            next_expire = now + EXPIRE_EVERY_NS;
        }
    }
    // The program is detached: whatever is still in the ring is the last of it.
    while meter_batch(&mut sock, &mut m, 0, &mut stats) > 0 {}
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
    on_start: impl FnOnce(&Started),
) -> Result<RunResult, LiveError> {
    let ifindex = ifindex(&live.iface)?;
    let missing = missing_capabilities();
    if !missing.is_empty() {
        return Err(LiveError(format!(
            "live capture needs root or the capabilities CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK; this process lacks {}",
            missing.join(", ")
        )));
    }
    let plan = plan_queues(live)?;
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

    let (tx, rx) = bounded::<RecordBatch>(cfg.export_queue_batches.max(1));
    let exporter = thread::Builder::new()
        .name("meter-export".into())
        .spawn(move || run_exporter(rx, outputs))
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
    let mut handles = Vec::with_capacity(plan.len());
    for (sock, &(queue, core)) in sockets.into_iter().zip(&plan) {
        let (tx, stop, table) = (tx.clone(), stop.clone(), cfg.table);
        let zero_copy = sock.zero_copy;
        let h = thread::Builder::new()
            .name(format!("meter-q{queue}"))
            .spawn(move || live_worker(sock, table, tx, stop, core))
            .map_err(|e| LiveError(format!("cannot start a thread: {e}")))?;
        handles.push((queue, core, zero_copy, h));
    }
    drop(tx);
    on_start(&started);

    while !stop.load(Ordering::Relaxed) {
        thread::park_timeout(std::time::Duration::from_millis(IDLE_TICK_MS as u64));
    }
    program.detach();

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
    let (outputs, totals) = exporter.join().unwrap_or_else(|_| {
        (
            Vec::new(),
            ExportTotals {
                packets: 0,
                records: 0,
            },
        )
    });
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
