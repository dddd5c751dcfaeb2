//! The offline pipeline: capture file → parse → flow tables → exporter thread.
//!
//! With one worker the reading thread parses and meters itself (no hand-off at all). With
//! N workers the reading thread parses, spreads packets by the symmetric flow hash into
//! per-worker batches, and N pinned threads each own one flow table. Finished records go in
//! batches over one bounded queue to the exporter thread, which writes every output.
//!
//! Offline, nothing is worth losing: when the exporter falls behind, metering waits for it
//! (`ExportPolicy::Block`). A live source uses `ExportPolicy::Drop`, which never blocks a
//! worker and counts what it had to drop.
//!
//! Every frame read ends up in exactly one place: a flow record, or a named drop counter
//! ([`MeterStats::check_conservation`]).

use std::path::Path;
use std::thread;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::dissect::dissect;
use crate::export::{FlowOutput, OutputReport, wall_secs};
use crate::flow::{EndReason, FlowKey, FlowRecord, FlowTable, RecordSink, TableConfig, TableStats};
use crate::metrics::CollectorMetrics;
use crate::packet::{DropReason, PacketMeta};
use crate::source::pcap::{CaptureReader, SourceError};

const PACKET_BATCH: usize = 256;
/// Records per batch to the exporter: each batch wakes the exporter (and, when the queue
/// was full, the worker), which at 256 was a tenth of a mass expiry's time.
pub(crate) const RECORD_BATCH: usize = 1024;
/// Expire at least this often in packet time.
pub(crate) const EXPIRE_EVERY_NS: u64 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportPolicy {
    /// Wait for the exporter (offline).
    Block,
    /// Drop and count (live).
    Drop,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub workers: usize,
    pub table: TableConfig,
    pub pin_workers: bool,
    pub export_policy: ExportPolicy,
    /// Batches the export queue holds (of [`RECORD_BATCH`] records: 64 K records by default).
    pub export_queue_batches: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 1,
            table: TableConfig::default(),
            pin_workers: true,
            export_policy: ExportPolicy::Block,
            export_queue_batches: 64,
        }
    }
}

/// Everything counted during a run.
#[derive(Debug, Clone, Default)]
pub struct MeterStats {
    pub frames: u64,
    pub wire_octets: u64,
    /// Frames that could not form a flow, by [`DropReason`] (index = reason as usize).
    pub drops: [u64; DropReason::ALL.len()],
    pub dropped_wire_octets: u64,
    pub table: TableStats,
    /// Flow records (not uniflows) the export queue could not take, and their packets.
    pub export_dropped_records: u64,
    pub export_dropped_packets: u64,
    /// Packets in records that reached the exporter.
    pub exported_packets: u64,
    pub exported_flow_records: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub idle_timeout_secs: u64,
    pub active_timeout_secs: u64,
    pub workers: usize,
    pub unsupported_linktypes: Vec<u32>,
    /// Live: the XDP program's and the sockets' counters over all queues.
    pub capture: Option<CaptureCounters>,
}

/// Where live frames went before metering, summed over queues.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureCounters {
    pub xdp: xdp_redirect::QueueCounters,
    pub socket: crate::source::afxdp::SocketStats,
}

impl MeterStats {
    pub fn dropped_frames(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Frames read = packets in exported records + packets in records the export queue
    /// dropped + frames dropped before metering. `Err` says what does not add up.
    pub fn check_conservation(&self) -> Result<(), String> {
        let accounted = self.exported_packets + self.export_dropped_packets + self.dropped_frames();
        if accounted == self.frames && self.table.packets == self.frames - self.dropped_frames() {
            Ok(())
        } else {
            Err(format!(
                "conservation violated: {} frames read, {} in exported records, {} in dropped records, {} dropped before metering, {} metered",
                self.frames,
                self.exported_packets,
                self.export_dropped_packets,
                self.dropped_frames(),
                self.table.packets
            ))
        }
    }
}

/// The result of a run.
pub struct RunResult {
    pub stats: MeterStats,
    pub outputs: Vec<Result<OutputReport, String>>,
    /// A capture error that ended reading early (flows up to it were exported).
    pub source_error: Option<SourceError>,
    /// Live runs: where the capture lost frames, per queue.
    pub capture: Option<crate::live::CaptureReport>,
}

/// A batch of finished flow records on its way to the exporter thread.
pub(crate) type RecordBatch = Vec<FlowRecord>;

/// The workers' end of the queue of record batches to the exporter. Emptied batches come
/// back, so their memory is reused: a new batch is a fresh 280 KB allocation, whose pages
/// the kernel faults in and zeroes while the worker waits.
#[derive(Clone)]
pub(crate) struct RecordTx {
    full: Sender<RecordBatch>,
    spent: Receiver<RecordBatch>,
}

/// The exporter's end of the queue.
pub(crate) struct RecordRx {
    full: Receiver<RecordBatch>,
    spent: Sender<RecordBatch>,
}

/// A queue of at most `batches` batches waiting for the exporter.
pub(crate) fn record_queue(batches: usize) -> (RecordTx, RecordRx) {
    let batches = batches.max(1);
    let (full_tx, full_rx) = bounded(batches);
    let (spent_tx, spent_rx) = bounded(batches);
    (
        RecordTx {
            full: full_tx,
            spent: spent_rx,
        },
        RecordRx {
            full: full_rx,
            spent: spent_tx,
        },
    )
}

/// Collects a worker's finished records into batches for the exporter.
pub(crate) struct BatchSink {
    batch: Vec<FlowRecord>,
    tx: RecordTx,
    policy: ExportPolicy,
    pub(crate) dropped_records: u64,
    pub(crate) dropped_packets: u64,
}

impl BatchSink {
    pub(crate) fn new(tx: RecordTx, policy: ExportPolicy) -> Self {
        BatchSink {
            batch: Vec::with_capacity(RECORD_BATCH),
            tx,
            policy,
            dropped_records: 0,
            dropped_packets: 0,
        }
    }

    pub(crate) fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let next = self
            .tx
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(RECORD_BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        let lost = match self.policy {
            ExportPolicy::Block => self.tx.full.send(batch).err().map(|e| e.0),
            ExportPolicy::Drop => match self.tx.full.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => Some(m),
            },
        };
        if let Some(b) = lost {
            self.dropped_records += b.len() as u64;
            self.dropped_packets += b.iter().map(FlowRecord::packets).sum::<u64>();
        }
    }
}

impl RecordSink for BatchSink {
    #[inline]
    fn emit(&mut self, rec: FlowRecord) {
        self.batch.push(rec);
        if self.batch.len() >= RECORD_BATCH {
            self.send();
        }
    }
}

pub(crate) struct ExportTotals {
    pub(crate) packets: u64,
    pub(crate) records: u64,
}

/// Where the exporter thread publishes its collectors' counters for the metrics endpoint.
pub(crate) type CollectorBoard = std::sync::Arc<std::sync::Mutex<Vec<CollectorMetrics>>>;

pub(crate) fn run_exporter(
    rx: RecordRx,
    mut outputs: Vec<Box<dyn FlowOutput>>,
    board: Option<CollectorBoard>,
) -> (Vec<Box<dyn FlowOutput>>, ExportTotals) {
    // Collector trouble is logged when it starts and then at most every 10 s per
    // collector, with how many errors and lost records there were meanwhile.
    let mut trouble: Vec<(String, u64, crate::logging::RateLimited)> = Vec::new();
    let mut publish = |outputs: &[Box<dyn FlowOutput>]| {
        let all: Vec<CollectorMetrics> = outputs.iter().flat_map(|o| o.collector_stats()).collect();
        let now = std::time::Instant::now();
        for c in &all {
            let bad = c.errors + c.dropped_records;
            let i = match trouble.iter().position(|t| t.0 == c.collector) {
                Some(i) => i,
                None => {
                    trouble.push((
                        c.collector.clone(),
                        0,
                        crate::logging::RateLimited::new(std::time::Duration::from_secs(10)),
                    ));
                    trouble.len() - 1
                }
            };
            let (_, seen, limit) = &mut trouble[i];
            if bad > *seen && limit.check(now).is_some() {
                tracing::warn!(
                    collector = %c.collector,
                    errors = c.errors,
                    dropped_records = c.dropped_records,
                    "collector {}: {} send errors and {} records lost so far",
                    c.collector,
                    c.errors,
                    c.dropped_records
                );
                *seen = bad;
            }
        }
        if let Some(b) = &board
            && let Ok(mut g) = b.lock()
        {
            *g = all;
        }
    };
    let mut totals = ExportTotals {
        packets: 0,
        records: 0,
    };
    let mut last_tick = wall_secs();
    loop {
        match rx.full.recv_timeout(std::time::Duration::from_millis(500)) {
            Ok(mut batch) => {
                let now = wall_secs();
                for rec in &batch {
                    totals.packets += rec.packets();
                    totals.records += 1;
                    for o in outputs.iter_mut() {
                        o.write(rec, now);
                    }
                }
                batch.clear();
                // A worker makes a batch only when none came back, so the batches that
                // exist are never more than before recycling (queue, exporter, one per
                // worker); a full return queue just frees this one.
                let _ = rx.spent.try_send(batch);
                if now != last_tick {
                    last_tick = now;
                    outputs.iter_mut().for_each(|o| o.tick(now));
                    publish(&outputs);
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let now = wall_secs();
                last_tick = now;
                outputs.iter_mut().for_each(|o| o.tick(now));
                publish(&outputs);
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    (outputs, totals)
}

/// The exporter thread's outputs and totals (none if it panicked: the conservation check
/// then reports the missing packets).
pub(crate) fn join_exporter(h: ExporterThread) -> (Vec<Box<dyn FlowOutput>>, ExportTotals) {
    h.join().unwrap_or_else(|_| {
        (
            Vec::new(),
            ExportTotals {
                packets: 0,
                records: 0,
            },
        )
    })
}

pub(crate) type ExporterThread = thread::JoinHandle<(Vec<Box<dyn FlowOutput>>, ExportTotals)>;

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    Source(SourceError),
    Spawn(std::io::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Source(e) => e.fmt(f),
            RunError::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl From<SourceError> for RunError {
    fn from(e: SourceError) -> Self {
        RunError::Source(e)
    }
}

/// Where parsed packets go: straight into a table, or to the worker that owns their flow.
/// The parser writes into [`Meter::slot`]; [`Meter::commit`] takes the packet.
pub(crate) trait Meter {
    fn slot(&mut self) -> &mut PacketMeta;
    fn commit(&mut self);
    /// Packet time has advanced to `now_ns`.
    fn expire(&mut self, now_ns: u64);
}

/// One worker: the reading thread meters itself, parsing each packet straight into the
/// table's pipeline slot (the parsing of one packet overlaps the lookups of earlier ones).
pub(crate) struct InlineMeter {
    pub(crate) table: FlowTable,
    pub(crate) sink: BatchSink,
}

impl InlineMeter {
    pub(crate) fn new(table: FlowTable, sink: BatchSink) -> Self {
        InlineMeter { table, sink }
    }

    pub(crate) fn drain(&mut self) {
        self.table.drain(&mut self.sink);
    }
}

impl Meter for InlineMeter {
    #[inline]
    fn slot(&mut self) -> &mut PacketMeta {
        self.table.slot()
    }
    #[inline]
    fn commit(&mut self) {
        self.table.commit(&mut self.sink);
    }
    fn expire(&mut self, now_ns: u64) {
        self.table.expire(now_ns, &mut self.sink);
        // What expired goes out now, not when a full batch has gathered: on a quiet link
        // that could be hours (on-time export).
        self.sink.send();
    }
}

struct PacketBatch {
    packets: Vec<PacketMeta>,
    /// Reader clock when the batch was sent: the worker expires up to it.
    now_ns: u64,
}

/// N workers: spread packets by the symmetric flow hash.
struct Dispatcher {
    senders: Vec<Sender<PacketBatch>>,
    batches: Vec<Vec<PacketMeta>>,
    clock: u64,
    scratch: PacketMeta,
}

impl Dispatcher {
    fn send(&mut self, w: usize) {
        let packets = std::mem::replace(&mut self.batches[w], Vec::with_capacity(PACKET_BATCH));
        // A worker only disappears if it panicked; its packets are then lost to the
        // conservation check, which reports it.
        let _ = self.senders[w].send(PacketBatch {
            packets,
            now_ns: self.clock,
        });
    }
}

impl Meter for Dispatcher {
    #[inline]
    fn slot(&mut self) -> &mut PacketMeta {
        &mut self.scratch
    }
    #[inline]
    fn commit(&mut self) {
        let meta = &self.scratch;
        let (key, _) = FlowKey::of(meta);
        let w = FlowKey::worker(key.hash64(), self.senders.len());
        self.clock = self.clock.max(meta.ts_ns);
        self.batches[w].push(*meta);
        if self.batches[w].len() >= PACKET_BATCH {
            self.send(w);
        }
    }
    fn expire(&mut self, now_ns: u64) {
        // Time passes for every worker, including those that got no packets.
        self.clock = self.clock.max(now_ns);
        for w in 0..self.senders.len() {
            self.send(w);
        }
    }
}

/// Meter one capture file into `outputs`.
pub fn run_file(
    path: &Path,
    cfg: &PipelineConfig,
    outputs: Vec<Box<dyn FlowOutput>>,
) -> Result<RunResult, RunError> {
    let mut reader = CaptureReader::open(path)?;
    let workers = cfg.workers.max(1);
    let (tx, rx) = record_queue(cfg.export_queue_batches);
    let exporter = thread::Builder::new()
        .name("meter-export".into())
        .spawn(move || run_exporter(rx, outputs, None))
        .map_err(RunError::Spawn)?;

    let mut stats = MeterStats {
        idle_timeout_secs: cfg.table.idle_timeout_ns / 1_000_000_000,
        active_timeout_secs: cfg.table.active_timeout_ns / 1_000_000_000,
        workers,
        ..Default::default()
    };
    let source_error = if workers == 1 {
        let mut m = InlineMeter::new(
            FlowTable::new(cfg.table),
            BatchSink::new(tx, cfg.export_policy),
        );
        let err = read_loop(&mut reader, &mut stats, &mut m);
        m.drain();
        m.table.flush(EndReason::Forced, &mut m.sink);
        m.sink.send();
        stats.table = m.table.stats().clone();
        stats.export_dropped_records = m.sink.dropped_records;
        stats.export_dropped_packets = m.sink.dropped_packets;
        err
    } else {
        run_workers(&mut reader, &mut stats, cfg, workers, tx)?
    };
    stats.unsupported_linktypes = reader.unsupported_linktypes.clone();

    let (outputs, totals) = join_exporter(exporter);
    stats.exported_packets = totals.packets;
    stats.exported_flow_records = totals.records;
    let now = wall_secs();
    let outputs = outputs.into_iter().map(|o| o.finish(&stats, now)).collect();
    Ok(RunResult {
        stats,
        outputs,
        source_error,
        capture: None,
    })
}

/// Read and parse every frame into `meter`, expiring as packet time advances. Returns the
/// error that stopped reading early, if any.
fn read_loop(
    reader: &mut CaptureReader,
    stats: &mut MeterStats,
    meter: &mut impl Meter,
) -> Option<SourceError> {
    let mut next_expire = 0u64;
    let mut first = true;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => return Some(e),
        };
        stats.frames += 1;
        stats.wire_octets += u64::from(frame.wire_len);
        if first {
            first = false;
            stats.first_ns = frame.ts_ns;
            next_expire = frame.ts_ns.saturating_add(EXPIRE_EVERY_NS);
        }
        stats.last_ns = stats.last_ns.max(frame.ts_ns);
        let result = match frame.link {
            Some(link) => dissect(link, frame.data, frame.wire_len, frame.ts_ns, meter.slot()),
            None => Err(DropReason::UnsupportedLinkType),
        };
        match result {
            Ok(()) => meter.commit(),
            Err(reason) => {
                stats.drops[reason as usize] += 1;
                stats.dropped_wire_octets += u64::from(frame.wire_len);
            }
        }
        if stats.last_ns >= next_expire {
            meter.expire(stats.last_ns);
            next_expire = stats.last_ns.saturating_add(EXPIRE_EVERY_NS);
        }
    }
}

type WorkerResult = (TableStats, u64, u64);

fn run_workers(
    reader: &mut CaptureReader,
    stats: &mut MeterStats,
    cfg: &PipelineConfig,
    workers: usize,
    tx: RecordTx,
) -> Result<Option<SourceError>, RunError> {
    let cores = if cfg.pin_workers {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut senders = Vec::with_capacity(workers);
    let mut handles: Vec<thread::JoinHandle<WorkerResult>> = Vec::with_capacity(workers);
    for w in 0..workers {
        let (ptx, prx) = bounded::<PacketBatch>(64);
        senders.push(ptx);
        let tx = tx.clone();
        let table_cfg = cfg.table;
        let policy = cfg.export_policy;
        let core = (!cores.is_empty()).then(|| cores[w % cores.len()]);
        let h = thread::Builder::new()
            .name(format!("meter-worker-{w}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                let mut table = FlowTable::new(table_cfg);
                let mut sink = BatchSink::new(tx, policy);
                let mut next_send = 0;
                for batch in prx {
                    table.update_batch(&batch.packets, &mut sink);
                    table.expire(batch.now_ns, &mut sink);
                    // Partial batches too, as often as the single-worker path expires.
                    if batch.now_ns >= next_send {
                        sink.send();
                        next_send = batch.now_ns.saturating_add(EXPIRE_EVERY_NS);
                    }
                }
                table.flush(EndReason::Forced, &mut sink);
                sink.send();
                (
                    table.stats().clone(),
                    sink.dropped_records,
                    sink.dropped_packets,
                )
            })
            .map_err(RunError::Spawn)?;
        handles.push(h);
    }
    drop(tx);

    let mut d = Dispatcher {
        senders,
        batches: (0..workers)
            .map(|_| Vec::with_capacity(PACKET_BATCH))
            .collect(),
        clock: 0,
        scratch: PacketMeta::default(),
    };
    let err = read_loop(reader, stats, &mut d);
    for w in 0..workers {
        d.send(w);
    }
    drop(d);
    for h in handles {
        if let Ok((t, dr, dp)) = h.join() {
            stats.table.merge(&t);
            stats.export_dropped_records += dr;
            stats.export_dropped_packets += dp;
        }
    }
    Ok(err)
}
