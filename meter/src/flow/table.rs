//! The per-worker flow table: bounded, both directions in one entry, expiry in O(1).
//!
//! Entries live in a [`Slab`] (chunks of one huge page) found through a [`FlowIndex`]
//! (cache-line buckets of slab indices keyed by the canonical [`FlowKey`] hash). The index
//! costs a line per packet, and placing the entries themselves by hash would save it; but
//! at the load that keeps probes short that is twice the entry memory, and measured side
//! by side it was a fifth slower at 1 M flows (README "What bounds it"). Packets go
//! through a three-stage software pipeline (bucket prefetch, entry prefetch, fold; see
//! [`FlowTable::commit`]; segments with more options than usual also get their MPTCP
//! state prefetched half-way between the last two) and are folded in order, so the memory
//! accesses of consecutive packets overlap each other and the parsing of the next ones
//! instead of queueing.
//! Two intrusive lists order the entries:
//! - the *LRU list* by last packet time: idle expiry pops from its head, and when the table
//!   is full its head is evicted (flowEndReason lackOfResources, counted). The list is
//!   lazy: a packet only stamps its flow, and moves it to the tail at most once per
//!   `max(1 s, idle timeout / 64)`, because a move touches two neighbouring entries (two
//!   cache misses) and most packets follow their flow's previous one closely. The head is
//!   re-checked against the stamp before it is expired or evicted, so the result is the
//!   same as an exact LRU up to that granularity;
//! - the *age list* by start of the current record: active-timeout export pops from its head
//!   and moves the entry to the tail with its counters restarted.
//!
//! The table's clock is the largest packet/tick time it has seen, so a capture with slightly
//! out-of-order timestamps cannot move it backwards. Memory is bounded by `max_flows`
//! entries; nothing else grows with traffic.

use super::index::FlowIndex;
use super::slab::{CHUNK, ChunkSupply, Slab};
use super::tcp::{TcpDirHot, TcpState};
use super::{DirStats, EndReason, FlowKey, FlowRecord, RecordSink, prefetch};
use crate::packet::{PacketMeta, anomaly, tcp_flags};
use crate::wire::{ip_proto, tcp::NOP_NOP_TIMESTAMP_LEN};

const NIL: u32 = u32::MAX;
/// New flows between the one whose slot is prefetched and the one made now.
const CREATE_AHEAD: usize = 3;
const NS: u64 = 1_000_000_000;

const TCP_FIN_0: u8 = 1;
const TCP_FIN_1: u8 = 2;
const TCP_RST: u8 = 4;

/// Settings of one table.
#[derive(Debug, Clone, Copy)]
pub struct TableConfig {
    pub max_flows: usize,
    pub idle_timeout_ns: u64,
    pub active_timeout_ns: u64,
    /// Make the entries' memory ahead of need on a thread of its own (see
    /// [`super::slab`]), so the metering thread does not wait for page faults.
    pub memory_ahead: bool,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            max_flows: 1 << 20,
            idle_timeout_ns: 300 * NS,
            active_timeout_ns: 1800 * NS,
            memory_ahead: true,
        }
    }
}

/// Counters of one table; summed over workers for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    pub packets: u64,
    pub octets: u64,
    pub flows_created: u64,
    /// Records emitted, by [`EndReason`] (index = reason as usize).
    pub records_by_reason: [u64; 6],
    /// Packets with each anomaly bit (index = bit number).
    pub anomalies: [u64; anomaly::COUNT],
    /// Largest number of flows held at once (merged over workers: the sum of their peaks,
    /// an upper bound of what all tables held together).
    pub peak_flows: u64,
    /// Flows with MPTCP options seen (every subflow), counted when they end.
    pub mptcp_flows: u64,
    /// Of those, the initial subflows (MP_CAPABLE seen): MPTCP connections.
    pub mptcp_connections: u64,
}

impl TableStats {
    pub fn merge(&mut self, o: &TableStats) {
        self.packets += o.packets;
        self.octets += o.octets;
        self.flows_created += o.flows_created;
        for (a, b) in self.records_by_reason.iter_mut().zip(o.records_by_reason) {
            *a += b;
        }
        for (a, b) in self.anomalies.iter_mut().zip(o.anomalies) {
            *a += b;
        }
        self.peak_flows += o.peak_flows;
        self.mptcp_flows += o.mptcp_flows;
        self.mptcp_connections += o.mptcp_connections;
    }
}

/// What a packet changes on its side of a flow: that side's counters and the hot part of
/// its TCP option state, in one cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Side {
    stats: DirStats,
    tcp: TcpDirHot,
}

/// One flow, four cache lines. The layout is explicit because a packet's cost is the
/// cache lines it touches: line 0 holds what every lookup and touch needs (key, times,
/// direction, TCP state), and lines 1 and 2 one key side each. The sides are indexed by
/// key side (0 = `key.a` sent), not by initiator, so a batched lookup knows which line a
/// packet will change before it has read line 0, and loads two lines of the entry instead
/// of three. An ordinary packet touches nothing else; line 3 holds the list links, the
/// record start and the TCP option values set by SYNs (kinds >= 64 and MPTCP state behind
/// a pointer), which keeps the entry a third smaller than a six-line one.
#[repr(C, align(64))]
struct Flow {
    // Line 0.
    key: FlowKey,
    /// Table clock at the last packet.
    last_seen_ns: u64,
    /// Table clock when the flow was last moved to the LRU tail (orders the LRU list).
    lru_stamp_ns: u64,
    a_is_initiator: bool,
    tcp_state: u8,
    ip_version: u8,
    /// In the table (false once finished, until the slot is reused).
    live: bool,
    mpls_top: u32,
    // Lines 1–2.
    side: [Side; 2],
    // Line 3 on.
    /// Table clock when the current record started (orders the age list).
    record_start_ns: u64,
    lru_prev: u32,
    lru_next: u32,
    age_prev: u32,
    age_next: u32,
    inner_vlan: u16,
    ingress: u32,
    /// Indexed by initiator direction, as in the record; the hot parts live in `side`.
    tcp: TcpState,
}

impl Default for Flow {
    /// A vacant entry (slab chunks are made of these).
    fn default() -> Flow {
        Flow {
            key: FlowKey::default(),
            last_seen_ns: 0,
            lru_stamp_ns: 0,
            a_is_initiator: true,
            tcp_state: 0,
            ip_version: 0,
            live: false,
            mpls_top: 0,
            side: [Side::default(); 2],
            record_start_ns: 0,
            lru_prev: NIL,
            lru_next: NIL,
            age_prev: NIL,
            age_next: NIL,
            inner_vlan: 0,
            ingress: 0,
            tcp: TcpState::default(),
        }
    }
}

impl Flow {
    /// The key side the initiator's packets come from (direction 0 of the record).
    #[inline]
    fn initiator_side(&self) -> usize {
        usize::from(!self.a_is_initiator)
    }

    fn has_packets(&self) -> bool {
        self.side[0].stats.packets + self.side[1].stats.packets > 0
    }

    /// The flow's record (counted in `stats`); `take` moves its TCP state out (the flow
    /// ends), else copies it (an active-timeout record).
    fn record(&mut self, stats: &mut TableStats, reason: EndReason, take: bool) -> FlowRecord {
        stats.records_by_reason[reason as usize] += 1;
        let is_tcp = self.key.protocol() == 6;
        let init = self.initiator_side();
        let tcp = if !is_tcp {
            None
        } else {
            let hot = [&self.side[init].tcp, &self.side[init ^ 1].tcp];
            Some(if take {
                std::mem::take(&mut self.tcp).into_info(hot)
            } else {
                self.tcp.clone().into_info(hot)
            })
        };
        if take && let Some(m) = tcp.as_ref().and_then(|t| t.mptcp.as_ref()) {
            stats.mptcp_flows += 1;
            stats.mptcp_connections += u64::from(m.version.is_some());
        }
        let k = &self.key;
        let (initiator, initiator_port, responder, responder_port) = if self.a_is_initiator {
            (k.a(), k.a_port(), k.b(), k.b_port())
        } else {
            (k.b(), k.b_port(), k.a(), k.a_port())
        };
        // ICMP's key "ports" are its message type (see dissect): not ports to export.
        let (initiator_port, responder_port) = if matches!(k.protocol(), 1 | 58) {
            (0, 0)
        } else {
            (initiator_port, responder_port)
        };
        FlowRecord {
            initiator,
            initiator_port,
            responder,
            responder_port,
            protocol: k.protocol(),
            ip_version: self.ip_version,
            vlan: k.vlan(),
            inner_vlan: self.inner_vlan,
            mpls_top: self.mpls_top,
            ingress: self.ingress,
            dir: [self.side[init].stats, self.side[init ^ 1].stats],
            tcp,
            end_reason: reason,
        }
    }
}

/// Head and tail of an intrusive list.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// The flow table of one worker. Packets go in through a short software pipeline
/// ([`FlowTable::slot`], [`FlowTable::commit`]); everything that reads or ends flows
/// ([`FlowTable::expire`], [`FlowTable::flush`], [`FlowTable::update`]) first folds the
/// packets still in it, so the order of packets is kept.
pub struct FlowTable {
    pipe: Pipeline,
    core: Core,
}

/// Packets between the pipeline's stages (public for `perf memory`, whose access-pattern
/// probe replays this pipeline).
pub const LAG: usize = 8;
/// Octets of one flow entry: the memory per flow that grows with the flows (public for
/// `perf memory`, which lays its stand-in table out the same way).
pub const ENTRY_BYTES: usize = std::mem::size_of::<Flow>();
/// Packets a committed packet waits before it is keyed.
const KEY_DELAY: usize = 1;
/// Packets committed and not folded, at most.
const IN_FLIGHT: usize = KEY_DELAY + 2 * LAG;
/// Packets a committed packet waits before its MPTCP state is prefetched: half-way
/// between its entry's prefetch and its fold, so the entry's last line has arrived and the
/// state has as long again.
const MPTCP_STAGE: usize = KEY_DELAY + LAG + LAG / 2;
/// Pipeline slots: a power of two above the packets in flight.
const RING: usize = 32;
const _: () = assert!(RING.is_power_of_two() && RING > IN_FLIGHT);

/// What the first stages compute for a packet: its key, the key's hash, whether the
/// source is key side `a`, and the slab index its bucket named (or `NIL`).
#[derive(Clone, Copy)]
struct Prep {
    key: FlowKey,
    hash: u64,
    src_is_a: bool,
    candidate: u32,
}

impl Default for Prep {
    fn default() -> Prep {
        Prep {
            key: FlowKey::default(),
            hash: 0,
            src_is_a: false,
            candidate: NIL,
        }
    }
}

/// A TCP segment with more options than NOP-NOP-timestamp (MPTCP's DSS, a handshake): its
/// candidate's last line is prefetched with the others, and the MPTCP stage looks at what
/// that line points to.
#[inline(always)]
fn more_options(pkt: &PacketMeta) -> bool {
    usize::from(pkt.tcp_options_len) > NOP_NOP_TIMESTAMP_LEN
}

/// A SYN without ACK on the 5-tuple of a connection that already saw a FIN or RST: a new
/// connection, which ends the old one. The entry's state is tested first: for nearly every
/// packet it is 0, and the flags are never looked at.
#[inline(always)]
fn reopens(f: &Flow, pkt: &PacketMeta) -> bool {
    f.tcp_state != 0
        && pkt.protocol == ip_proto::TCP
        && pkt.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
}

/// Committed packets not folded yet, in a ring.
struct Pipeline {
    pkts: Box<[PacketMeta; RING]>,
    prep: Box<[Prep; RING]>,
    /// Number of the next packet (its slot is `head % RING`).
    head: usize,
    /// Packets committed and not yet folded: the `pending` before `head`.
    pending: usize,
}

struct Core {
    cfg: TableConfig,
    relink_ns: u64,
    slab: Slab<Flow>,
    free: Vec<u32>,
    index: FlowIndex,
    lru: List,
    age: List,
    len: usize,
    clock_ns: u64,
    stats: TableStats,
}

impl FlowTable {
    pub fn new(cfg: TableConfig) -> FlowTable {
        FlowTable {
            pipe: Pipeline {
                pkts: Box::new([PacketMeta::default(); RING]),
                prep: Box::new([Prep::default(); RING]),
                head: 0,
                pending: 0,
            },
            core: Core::new(cfg),
        }
    }

    pub fn len(&self) -> usize {
        self.core.len
    }

    pub fn is_empty(&self) -> bool {
        self.core.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.core.cfg.max_flows
    }

    /// Counters of the packets folded so far (not those still in the pipeline).
    pub fn stats(&self) -> &TableStats {
        &self.core.stats
    }

    pub fn clock_ns(&self) -> u64 {
        self.core.clock_ns
    }

    /// Where the next packet is to be written before [`FlowTable::commit`]. A slot that is
    /// written and not committed (a packet the parser refused) is simply reused.
    #[inline]
    pub fn slot(&mut self) -> &mut PacketMeta {
        &mut self.pipe.pkts[self.pipe.head % RING]
    }

    /// Take the packet in [`FlowTable::slot`] and advance the pipeline by one packet.
    ///
    /// Three stages, `LAG` packets apart: the packet committed just before this one is
    /// keyed, hashed and its home index bucket prefetched (not this one: its fields were
    /// just stored by the parser in pieces, and reading them back as whole words would
    /// wait for those stores); the packet `LAG` before that reads its (now cached)
    /// bucket and prefetches the candidate entry's key line and the side line it will
    /// change (for a SYN or a segment with more options than NOP-NOP-timestamp also the
    /// line its handshake options and MPTCP state's pointer are in); the packet `LAG`
    /// before that is folded into its flow, mostly from cache. Half-way between the last
    /// two, such a segment has the MPTCP state its entry points to prefetched (else it
    /// waits for two misses in turn). Prefetches retire at once, so the misses of
    /// `2 * LAG` packets are in flight together; and because the caller
    /// parses the next packet in between, that work overlaps them too (a batch that
    /// parses 256 packets and then looks up 256 leaves the memory idle for the first half
    /// and the core waiting in the second). A prefetch is only a hint: a candidate that a
    /// fold in between removed or replaced costs a miss, never a wrong result.
    #[inline]
    pub fn commit(&mut self, sink: &mut impl RecordSink) {
        let p = &mut self.pipe;
        let i = p.head;
        // The first stages run on every commit, also while the pipeline fills: their slots
        // then hold packets already folded (or the defaults the ring starts with), whose
        // key is only recomputed and whose hints only prefetch; every packet is keyed and
        // has its candidate looked up before its own fold (here or in `drain`). Only the
        // fold waits for its packet. (Checking the fill level at each stage cost
        // three compares and branches per packet.)
        let j = i.wrapping_sub(KEY_DELAY) % RING;
        p.prep[j] = self.core.prepare(&p.pkts[j]);
        let j = i.wrapping_sub(KEY_DELAY + LAG) % RING;
        self.core.prefetch_entry(&p.pkts[j], &mut p.prep[j]);
        let j = i.wrapping_sub(MPTCP_STAGE) % RING;
        self.core.prefetch_rare(&p.pkts[j], &p.prep[j]);
        if p.pending == IN_FLIGHT {
            let j = i.wrapping_sub(IN_FLIGHT) % RING;
            self.core.update_keyed(&p.pkts[j], &p.prep[j], sink);
        } else {
            p.pending += 1;
        }
        p.head = i.wrapping_add(1);
    }

    /// Fold every packet still in the pipeline.
    pub fn drain(&mut self, sink: &mut impl RecordSink) {
        let p = &mut self.pipe;
        let first = p.head.wrapping_sub(p.pending);
        // The newest have not been keyed, or not had their entry prefetched.
        for k in p.pending.saturating_sub(KEY_DELAY)..p.pending {
            let j = first.wrapping_add(k) % RING;
            p.prep[j] = self.core.prepare(&p.pkts[j]);
        }
        for k in p.pending.saturating_sub(KEY_DELAY + LAG)..p.pending {
            let j = first.wrapping_add(k) % RING;
            self.core.prefetch_entry(&p.pkts[j], &mut p.prep[j]);
        }
        for k in 0..p.pending {
            let j = first.wrapping_add(k) % RING;
            self.core.update_keyed(&p.pkts[j], &p.prep[j], sink);
        }
        p.pending = 0;
    }

    /// Fold one packet into its flow at once (after those in the pipeline). May finish
    /// flows (TCP end, eviction) into `sink`.
    pub fn update(&mut self, pkt: &PacketMeta, sink: &mut impl RecordSink) {
        self.drain(sink);
        let prep = self.core.prepare(pkt);
        self.core.update_keyed(pkt, &prep, sink);
    }

    /// Fold a batch of packets, in order, through the pipeline; all of them are folded
    /// when it returns.
    pub fn update_batch(&mut self, pkts: &[PacketMeta], sink: &mut impl RecordSink) {
        for pkt in pkts {
            *self.slot() = *pkt;
            self.commit(sink);
        }
        self.drain(sink);
    }

    /// Advance the clock to `now_ns` and export what timed out.
    pub fn expire(&mut self, now_ns: u64, sink: &mut impl RecordSink) {
        self.drain(sink);
        self.core.expire(now_ns, sink);
    }

    /// Export every flow (end of input, shutdown).
    pub fn flush(&mut self, reason: EndReason, sink: &mut impl RecordSink) {
        self.drain(sink);
        self.core.flush(reason, sink);
    }
}

/// The entries a table can hold for a configured `max_flows` (a slab index is a `u32`
/// and [`NIL`] is taken).
fn clamped_max_flows(max_flows: usize) -> usize {
    max_flows.clamp(1, NIL as usize - 1)
}

/// Octets of the index of a table for `max_flows` flows, allocated whole when the table is
/// made (the entries come on top: [`ENTRY_BYTES`] per flow held).
pub fn index_bytes(max_flows: usize) -> usize {
    FlowIndex::bytes_for(clamped_max_flows(max_flows))
}

impl Core {
    fn new(cfg: TableConfig) -> Core {
        let max = clamped_max_flows(cfg.max_flows);
        let cfg = TableConfig {
            max_flows: max,
            ..cfg
        };
        // The index is sized once: it never rehashes while metering.
        Core {
            cfg,
            relink_ns: (cfg.idle_timeout_ns / 64).max(NS),
            slab: Slab::new(cfg.memory_ahead.then(|| ChunkSupply::spawn(max)).flatten()),
            free: Vec::new(),
            index: FlowIndex::with_capacity(max),
            lru: List::EMPTY,
            age: List::EMPTY,
            len: 0,
            clock_ns: 0,
            stats: TableStats::default(),
        }
    }

    /// Pipeline stage 1: key and hash, and the home bucket on its way into the cache.
    #[inline]
    fn prepare(&self, pkt: &PacketMeta) -> Prep {
        let (key, src_is_a) = FlowKey::of(pkt);
        let hash = key.hash64();
        self.index.prefetch(hash);
        Prep {
            key,
            hash,
            src_is_a,
            candidate: NIL,
        }
    }

    /// Pipeline stage 2: the lines of the candidate entry this packet will read and change.
    /// The fold tries the candidate first, so it need not walk the bucket again.
    #[inline]
    fn prefetch_entry(&self, pkt: &PacketMeta, prep: &mut Prep) {
        if let Some(c) = self.index.first_candidate(prep.hash)
            && let Some(f) = self.slab.made(c as usize)
        {
            prep.candidate = c;
            prefetch(f);
            prefetch(&f.side[usize::from(!prep.src_is_a)]);
            // A SYN (the SYN-ACK of a known flow) writes the ISN and the options of the
            // handshake in the entry's last line; a segment with options beyond
            // NOP-NOP-timestamp (MPTCP's DSS on every data segment) may read it, and
            // what it points to (the MPTCP stage).
            if pkt.tcp_flags & tcp_flags::SYN != 0 || more_options(pkt) {
                prefetch(&f.tcp);
            }
        }
    }

    /// Between stages 2 and 3, for a segment with more options than usual: the entry's
    /// last line has arrived, so bring in the MPTCP state it points to (else a segment of
    /// an MPTCP flow no cache holds waits for two misses in turn when it is folded). Reads
    /// only that line and the key line, both prefetched at stage 2.
    #[inline]
    fn prefetch_rare(&self, pkt: &PacketMeta, prep: &Prep) {
        if more_options(pkt)
            && let Some(f) = self.slab.made(prep.candidate as usize)
        {
            f.tcp
                .prefetch_rare(usize::from(prep.src_is_a != f.a_is_initiator));
        }
    }

    /// Pipeline stage 3: fold the packet into its flow. Inlined into `commit` even though
    /// it is long: as a call, its register saves and restores were 14 of the 560
    /// instructions per packet (valgrind).
    #[inline(always)]
    fn update_keyed(&mut self, pkt: &PacketMeta, prep: &Prep, sink: &mut impl RecordSink) {
        let &Prep {
            ref key,
            src_is_a,
            candidate,
            ..
        } = prep;
        if pkt.ts_ns > self.clock_ns {
            self.clock_ns = pkt.ts_ns;
        }
        self.stats.packets += 1;
        let is_tcp = pkt.protocol == ip_proto::TCP;

        // The candidate is a hint from a few packets ago: the flows folded since may have
        // ended it or put another flow in its place, so it counts only if it is live and
        // has this key (live flows are exactly those in the index, and keys are unique;
        // an entry made but never pushed is a default one, not live). The usual packet
        // looks its entry up this once; the rest ([`Core::locate`]) is out of line.
        let (idx, f) = match self.slab.made_mut(candidate as usize) {
            Some(f) if f.live && f.key == *key && !reopens(f, pkt) => (candidate, f),
            _ => {
                let idx = self.locate(prep, pkt, sink);
                (idx, &mut self.slab[idx as usize])
            }
        };
        let now = self.clock_ns;
        f.last_seen_ns = now;
        // Its place in the LRU list is refreshed when stale (a new flow's never is).
        let relink = now - f.lru_stamp_ns >= self.relink_ns;
        let d = usize::from(src_is_a != f.a_is_initiator);
        let side = &mut f.side[usize::from(!src_is_a)];
        let mut anomalies = pkt.anomalies;
        if is_tcp {
            anomalies |= f.tcp.update_split(&mut side.tcp, d, pkt);
        }
        side.stats.add(pkt);
        side.stats.anomalies |= anomalies;
        // Apart from the packet count: side by side, the two were added as one vector
        // (six instructions instead of two).
        self.stats.octets += pkt.octets as u64;
        let mut end = false;
        if is_tcp {
            let flags = pkt.tcp_flags;
            if flags & tcp_flags::RST != 0 {
                f.tcp_state |= TCP_RST;
                end = true;
            } else if flags & tcp_flags::FIN != 0 {
                f.tcp_state |= if d == 0 { TCP_FIN_0 } else { TCP_FIN_1 };
            } else if f.tcp_state & (TCP_FIN_0 | TCP_FIN_1) == TCP_FIN_0 | TCP_FIN_1
                && flags & (tcp_flags::ACK | tcp_flags::SYN) == tcp_flags::ACK
                && pkt.payload_len == 0
            {
                // The ACK of the second FIN: the connection is over.
                end = true;
            }
        }
        if anomalies != 0 {
            for (bit, n) in self.stats.anomalies.iter_mut().enumerate() {
                *n += u64::from(anomalies >> bit & 1);
            }
        }
        if end {
            self.finish(idx, EndReason::EndDetected, sink);
        } else if relink {
            self.relink(idx);
        }
    }

    /// The fold's entry when the candidate is not it: the one the index finds, else a new
    /// flow; also a new flow when a SYN opens a new connection on the 5-tuple of one that
    /// already closed (which ends first). Out of line: the usual packet's candidate is its
    /// flow.
    #[inline(never)]
    fn locate(&mut self, prep: &Prep, pkt: &PacketMeta, sink: &mut impl RecordSink) -> u32 {
        let &Prep {
            ref key,
            hash,
            src_is_a,
            ..
        } = prep;
        let slab = &self.slab;
        match self.index.find(hash, |i| slab[i as usize].key == *key) {
            Some(idx) if reopens(&self.slab[idx as usize], pkt) => {
                self.finish(idx, EndReason::EndDetected, sink);
                self.create(*key, hash, src_is_a, pkt, sink)
            }
            Some(idx) => idx,
            None => self.create(*key, hash, src_is_a, pkt, sink),
        }
    }

    fn expire(&mut self, now_ns: u64, sink: &mut impl RecordSink) {
        if now_ns > self.clock_ns {
            self.clock_ns = now_ns;
        }
        let now = self.clock_ns;
        while self.lru.head != NIL {
            let idx = self.lru.head;
            let f = &self.slab[idx as usize];
            if f.last_seen_ns.saturating_add(self.cfg.idle_timeout_ns) > now {
                if f.lru_stamp_ns.saturating_add(self.cfg.idle_timeout_ns) > now {
                    break;
                }
                // Seen since it was placed: it belongs further back.
                self.relink(idx);
                continue;
            }
            let reason = if f.tcp_state & (TCP_FIN_0 | TCP_FIN_1) == TCP_FIN_0 | TCP_FIN_1 {
                EndReason::EndDetected
            } else {
                EndReason::Idle
            };
            self.finish(idx, reason, sink);
        }
        while self.age.head != NIL {
            let idx = self.age.head;
            let f = &self.slab[idx as usize];
            if f.record_start_ns.saturating_add(self.cfg.active_timeout_ns) > now {
                break;
            }
            self.active_export(idx, sink);
        }
    }

    /// Export every flow: walks the slab in memory order, releasing each chunk of entries
    /// once its flows are out, and clears the index in one pass instead of removing flows
    /// one by one. The table is empty afterwards and grows again from nothing (its memory
    /// goes back while the records leave, not in one walk over it afterwards).
    fn flush(&mut self, reason: EndReason, sink: &mut impl RecordSink) {
        let mut left = self.slab.len();
        for mut chunk in self.slab.take_chunks() {
            for f in chunk.iter_mut().take(left) {
                if f.live {
                    f.live = false;
                    if f.has_packets() {
                        sink.emit(f.record(&mut self.stats, reason, true));
                    }
                }
            }
            left = left.saturating_sub(CHUNK);
        }
        self.index.clear();
        self.lru = List::EMPTY;
        self.age = List::EMPTY;
        self.free.clear();
        self.len = 0;
    }

    // Not inlined into the fold: a new flow is the rare case there.
    #[inline(never)]
    fn create(
        &mut self,
        key: FlowKey,
        hash: u64,
        src_is_a: bool,
        pkt: &PacketMeta,
        sink: &mut impl RecordSink,
    ) -> u32 {
        if self.len >= self.cfg.max_flows {
            // Skip (and re-place) a few heads that were seen since they were placed.
            for _ in 0..8 {
                let h = self.lru.head;
                if h == NIL
                    || self.slab[h as usize].last_seen_ns == self.slab[h as usize].lru_stamp_ns
                {
                    break;
                }
                self.relink(h);
            }
            self.finish(self.lru.head, EndReason::LackOfResources, sink);
        }
        // A flow whose first packet is a SYN-ACK was opened by the packet's destination.
        let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
        let initiator_is_src = !(pkt.protocol == 6 && pkt.tcp_flags & syn_ack == syn_ack);
        let flow = Flow {
            key,
            lru_prev: NIL,
            lru_next: NIL,
            age_prev: NIL,
            age_next: NIL,
            last_seen_ns: self.clock_ns,
            lru_stamp_ns: self.clock_ns,
            record_start_ns: self.clock_ns,
            a_is_initiator: src_is_a == initiator_is_src,
            tcp_state: 0,
            ip_version: pkt.ip_version,
            live: true,
            inner_vlan: pkt.inner_vlan,
            mpls_top: pkt.mpls_top,
            ingress: pkt.ingress,
            side: [Side::default(); 2],
            tcp: TcpState::default(),
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = flow;
                i
            }
            None => self.slab.push(flow) as u32,
        };
        self.prefetch_slot_ahead();
        self.index.insert(hash, idx);
        self.push_lru(idx);
        self.push_age(idx);
        self.len += 1;
        self.stats.flows_created += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.len as u64);
        idx
    }

    /// Bring in the entry that the creation [`CREATE_AHEAD`] after the next will fill:
    /// storing a new flow first reads the slot (the old value is dropped), and a slot
    /// not in cache made that read a stall of every new flow.
    #[inline]
    fn prefetch_slot_ahead(&self) {
        let i = match self.free.len().checked_sub(CREATE_AHEAD + 1) {
            Some(k) => self.free[k] as usize,
            None if self.free.is_empty() => self.slab.len() + CREATE_AHEAD,
            None => return,
        };
        if let Some(f) = self.slab.made(i) {
            prefetch(f);
            prefetch(&f.side[0]);
            prefetch(&f.side[1]);
            prefetch(&f.record_start_ns);
        }
    }

    fn relink(&mut self, idx: u32) {
        self.slab[idx as usize].lru_stamp_ns = self.slab[idx as usize].last_seen_ns;
        if self.lru.tail != idx {
            self.unlink_lru(idx);
            self.push_lru(idx);
        }
    }

    /// Remove a flow and emit its record.
    fn finish(&mut self, idx: u32, reason: EndReason, sink: &mut impl RecordSink) {
        if idx == NIL {
            return;
        }
        let hash = self.slab[idx as usize].key.hash64();
        self.index.remove(hash, idx);
        self.unlink_lru(idx);
        self.unlink_age(idx);
        self.slab[idx as usize].live = false;
        self.free.push(idx);
        self.len -= 1;
        // A flow whose packets all left in an active-timeout record has nothing more to say.
        if self.has_packets(idx) {
            let rec = self.record(idx, reason, true);
            sink.emit(rec);
        }
    }

    fn has_packets(&self, idx: u32) -> bool {
        self.slab[idx as usize].has_packets()
    }

    /// Active timeout: emit what the flow has so far and restart its counters.
    fn active_export(&mut self, idx: u32, sink: &mut impl RecordSink) {
        let rec = self
            .has_packets(idx)
            .then(|| self.record(idx, EndReason::Active, false));
        let now = self.clock_ns;
        let f = &mut self.slab[idx as usize];
        for s in &mut f.side {
            s.stats = DirStats::default();
        }
        f.tcp.reset_deltas();
        f.record_start_ns = now;
        self.unlink_age(idx);
        self.push_age(idx);
        if let Some(rec) = rec {
            sink.emit(rec);
        }
    }

    fn record(&mut self, idx: u32, reason: EndReason, take: bool) -> FlowRecord {
        self.slab[idx as usize].record(&mut self.stats, reason, take)
    }

    fn push_lru(&mut self, idx: u32) {
        let tail = self.lru.tail;
        {
            let f = &mut self.slab[idx as usize];
            f.lru_prev = tail;
            f.lru_next = NIL;
        }
        if tail == NIL {
            self.lru.head = idx;
        } else {
            self.slab[tail as usize].lru_next = idx;
        }
        self.lru.tail = idx;
    }

    fn unlink_lru(&mut self, idx: u32) {
        let (prev, next) = {
            let f = &self.slab[idx as usize];
            (f.lru_prev, f.lru_next)
        };
        if prev == NIL {
            self.lru.head = next;
        } else {
            self.slab[prev as usize].lru_next = next;
        }
        if next == NIL {
            self.lru.tail = prev;
        } else {
            self.slab[next as usize].lru_prev = prev;
        }
    }

    fn push_age(&mut self, idx: u32) {
        let tail = self.age.tail;
        {
            let f = &mut self.slab[idx as usize];
            f.age_prev = tail;
            f.age_next = NIL;
        }
        if tail == NIL {
            self.age.head = idx;
        } else {
            self.slab[tail as usize].age_next = idx;
        }
        self.age.tail = idx;
    }

    fn unlink_age(&mut self, idx: u32) {
        let (prev, next) = {
            let f = &self.slab[idx as usize];
            (f.age_prev, f.age_next)
        };
        if prev == NIL {
            self.age.head = next;
        } else {
            self.slab[prev as usize].age_next = next;
        }
        if next == NIL {
            self.age.tail = prev;
        } else {
            self.slab[next as usize].age_prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::addr_v4;

    fn pkt(
        ts_s: u64,
        src: u8,
        sport: u16,
        dst: u8,
        dport: u16,
        proto: u8,
        flags: u16,
    ) -> PacketMeta {
        PacketMeta {
            ts_ns: ts_s * NS,
            octets: 86,
            src: addr_v4([10, 0, 0, src]),
            dst: addr_v4([10, 0, 0, dst]),
            src_port: sport,
            dst_port: dport,
            protocol: proto,
            ip_version: 4,
            ttl: 64,
            tcp_flags: flags,
            ..Default::default()
        }
    }

    fn cfg(max: usize) -> TableConfig {
        TableConfig {
            max_flows: max,
            idle_timeout_ns: 10 * NS,
            active_timeout_ns: 100 * NS,
            memory_ahead: false,
        }
    }

    const S: u16 = tcp_flags::SYN;
    const SA: u16 = tcp_flags::SYN | tcp_flags::ACK;
    const A: u16 = tcp_flags::ACK;
    const FA: u16 = tcp_flags::FIN | tcp_flags::ACK;

    #[test]
    fn hot_fields_share_the_first_cache_line() {
        // The fast path relies on this layout; a change of field order must be deliberate.
        assert_eq!(std::mem::align_of::<Flow>(), 64);
        assert_eq!(std::mem::offset_of!(Flow, side), 64);
        assert_eq!(std::mem::size_of::<Side>(), 64);
        assert!(std::mem::offset_of!(Flow, mpls_top) + 4 <= 64);
        assert_eq!(std::mem::offset_of!(Flow, record_start_ns), 192);
        // The README states the memory per flow.
        assert_eq!(ENTRY_BYTES, 256);
    }

    #[test]
    fn tcp_connection_is_one_record_ended_by_last_ack() {
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        for p in [
            pkt(1, 1, 5000, 2, 80, 6, S),
            pkt(1, 2, 80, 1, 5000, 6, SA),
            pkt(1, 1, 5000, 2, 80, 6, A),
            pkt(2, 1, 5000, 2, 80, 6, FA),
            pkt(2, 2, 80, 1, 5000, 6, FA),
        ] {
            t.update(&p, &mut out);
        }
        assert!(out.is_empty(), "flow must wait for the last ACK");
        t.update(&pkt(2, 1, 5000, 2, 80, 6, A), &mut out);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.end_reason, EndReason::EndDetected);
        assert_eq!(r.initiator, addr_v4([10, 0, 0, 1]));
        assert_eq!(r.initiator_port, 5000);
        assert_eq!((r.dir[0].packets, r.dir[1].packets), (4, 2));
        assert_eq!(r.dir[0].tcp_flags, S | A | FA);
        assert_eq!(r.dir[1].tcp_flags, SA | FA);
        assert!(t.is_empty());
    }

    /// TCP options of one segment: timestamp `tsval`, plus MSS 1460 on a SYN.
    fn with_options(mut p: PacketMeta, tsval: u32) -> PacketMeta {
        let mut opts = vec![1, 1, 8, 10];
        opts.extend(tsval.to_be_bytes());
        opts.extend([0, 0, 0, 0]);
        if p.tcp_flags & S != 0 {
            opts.extend([2, 4, 5, 180]);
        }
        p.tcp_options[..opts.len()].copy_from_slice(&opts);
        p.tcp_options_len = opts.len() as u8;
        p
    }

    #[test]
    fn initiator_on_key_side_b_keeps_counters_and_options_by_direction() {
        // 10.0.0.9:5000 -> 10.0.0.2:80: the initiator is the larger endpoint, key side b.
        // The table keeps counters and per-segment option state by key side; the record
        // must still put the initiator's in direction 0, across an active-timeout record.
        let mut t = FlowTable::new(TableConfig {
            idle_timeout_ns: 1000 * NS,
            ..cfg(16)
        });
        let mut out = Vec::new();
        let c = |ts, f, tsval| with_options(pkt(ts, 9, 5000, 2, 80, 6, f), tsval);
        let s = |ts, f, tsval| with_options(pkt(ts, 2, 80, 9, 5000, 6, f), tsval);
        let batch = [c(1, S, 100), s(1, SA, 7000), c(1, A, 101), c(2, A, 102)];
        t.update_batch(&batch, &mut out);
        // Active timeout (100 s): a record with what the flow has so far.
        t.expire(101 * NS, &mut out);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.end_reason, EndReason::Active);
        assert_eq!(
            (r.initiator, r.initiator_port),
            (addr_v4([10, 0, 0, 9]), 5000)
        );
        assert_eq!((r.dir[0].packets, r.dir[1].packets), (3, 1));
        assert_eq!((r.dir[0].tcp_flags, r.dir[1].tcp_flags), (S | A, SA));
        let tcp = r.tcp.as_ref().expect("TCP state");
        let (i, o) = (&tcp.dir[0], &tcp.dir[1]);
        assert_eq!((i.ts_first, i.ts_last, i.has_ts), (100, 102, true));
        assert_eq!((o.ts_first, o.ts_last, o.has_ts), (7000, 7000, true));
        assert_eq!((i.mss, o.mss), (1460, 1460));
        // NOP, MSS, timestamps: kinds 1, 2 and 8, both ways.
        assert_eq!(i.options_full, [1 << 1 | 1 << 2 | 1 << 8, 0, 0, 0]);
        assert_eq!(o.options_full, i.options_full);
        // The next record continues the option state and starts new counters.
        t.update(&s(102, A, 7001), &mut out);
        t.flush(EndReason::Forced, &mut out);
        assert_eq!(out.len(), 2);
        let r = &out[1];
        assert_eq!(r.initiator, addr_v4([10, 0, 0, 9]));
        assert_eq!((r.dir[0].packets, r.dir[1].packets), (0, 1));
        let tcp = r.tcp.as_ref().expect("TCP state");
        assert_eq!((tcp.dir[0].ts_last, tcp.dir[1].ts_last), (102, 7001));
        assert_eq!(tcp.dir[1].ts_first, 7000);
    }

    #[test]
    fn rst_ends_at_once_and_syn_ack_first_sets_initiator() {
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        t.update(&pkt(1, 2, 80, 1, 5000, 6, SA), &mut out);
        t.update(&pkt(1, 1, 5000, 2, 80, 6, tcp_flags::RST), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].initiator, addr_v4([10, 0, 0, 1]));
        assert_eq!((out[0].dir[0].packets, out[0].dir[1].packets), (1, 1));
    }

    #[test]
    fn idle_and_active_timeouts() {
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        t.update(&pkt(0, 1, 53, 2, 53, 17, 0), &mut out);
        t.update(&pkt(5, 3, 53, 4, 53, 17, 0), &mut out);
        t.expire(9 * NS, &mut out);
        assert!(out.is_empty());
        t.expire(10 * NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end_reason, EndReason::Idle);
        assert_eq!(out[0].initiator, addr_v4([10, 0, 0, 1]));
        // A chatty flow: one packet every 5 s for 250 s -> active records at 100 s and 200 s.
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        for s in (0..=250).step_by(5) {
            t.expire(s * NS, &mut out);
            t.update(&pkt(s, 1, 1, 2, 2, 17, 0), &mut out);
        }
        t.flush(EndReason::Forced, &mut out);
        let reasons: Vec<_> = out.iter().map(|r| r.end_reason).collect();
        assert_eq!(
            reasons,
            [EndReason::Active, EndReason::Active, EndReason::Forced]
        );
        let total: u64 = out.iter().map(|r| r.packets()).sum();
        assert_eq!(total, 51);
        assert_eq!(out[0].packets(), 20); // t = 0..95
    }

    #[test]
    fn no_record_without_packets_after_an_active_export() {
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        t.update(&pkt(0, 1, 1, 2, 2, 17, 0), &mut out);
        t.update(&pkt(5, 1, 1, 2, 2, 17, 0), &mut out);
        t.expire(100 * NS, &mut out); // idle would fire too, but the flow was seen at 5 s
        t.update(&pkt(100, 1, 1, 2, 2, 17, 0), &mut out);
        t.expire(100 * NS, &mut out);
        t.flush(EndReason::Forced, &mut out);
        assert!(out.iter().all(|r| r.packets() > 0));
        assert_eq!(out.iter().map(|r| r.packets()).sum::<u64>(), 3);
        // Active timeout while silent for longer than the active timeout: no empty record.
        let mut t = FlowTable::new(TableConfig {
            idle_timeout_ns: 1000 * NS,
            active_timeout_ns: 10 * NS,
            ..cfg(4)
        });
        let mut out = Vec::new();
        t.update(&pkt(0, 1, 1, 2, 2, 17, 0), &mut out);
        t.update(&pkt(20, 1, 1, 2, 2, 17, 0), &mut out);
        t.expire(20 * NS, &mut out);
        t.expire(40 * NS, &mut out);
        t.flush(EndReason::Forced, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end_reason, EndReason::Active);
        assert_eq!(out[0].packets(), 2);
    }

    #[test]
    fn full_table_evicts_least_recent_and_counts_it() {
        let mut t = FlowTable::new(cfg(3));
        let mut out = Vec::new();
        for i in 1..=3 {
            t.update(&pkt(i, i as u8, 1, 100, 2, 17, 0), &mut out);
        }
        // Touch flow 1 so flow 2 becomes least recent.
        t.update(&pkt(4, 1, 1, 100, 2, 17, 0), &mut out);
        t.update(&pkt(5, 9, 1, 100, 2, 17, 0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end_reason, EndReason::LackOfResources);
        assert_eq!(out[0].initiator, addr_v4([10, 0, 0, 2]));
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.stats().records_by_reason[EndReason::LackOfResources as usize],
            1
        );
        t.flush(EndReason::Forced, &mut out);
        let total: u64 = out.iter().map(|r| r.packets()).sum();
        assert_eq!(total, t.stats().packets);
    }

    #[test]
    fn lazy_lru_still_evicts_and_expires_the_least_recent() {
        // All within one relink interval: a touch only stamps, the head is re-checked.
        let mut t = FlowTable::new(cfg(3));
        let mut out = Vec::new();
        let at = |ms: u64, src: u8| {
            let mut p = pkt(0, src, 1, 100, 2, 17, 0);
            p.ts_ns = 1_000 * 1_000_000 + ms * 1_000_000;
            p
        };
        for (ms, src) in [(0, 1), (100, 2), (200, 3), (300, 1)] {
            t.update(&at(ms, src), &mut out);
        }
        t.update(&at(400, 9), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].initiator, addr_v4([10, 0, 0, 2]));
        // Idle expiry: flow 3 (last seen 1.2 s) goes at 11.2 s, flow 1 (1.3 s) not yet.
        t.expire(11_250 * 1_000_000, &mut out);
        let gone: Vec<_> = out[1..].iter().map(|r| r.initiator[15]).collect();
        assert_eq!(gone, [3]);
        t.expire(11_350 * 1_000_000, &mut out);
        let gone: Vec<_> = out[1..].iter().map(|r| r.initiator[15]).collect();
        assert_eq!(gone, [3, 1]);
    }

    #[test]
    fn pipeline_folds_as_one_packet_at_a_time_would() {
        // The same stream into two tables: one through the pipeline (with refused slots
        // and expiry in between), one packet by packet. Few flows, small capacity and
        // every TCP end: flows end and 5-tuples come back while their packets are in
        // the pipeline, so stale prefetch candidates are exercised.
        let mut piped = FlowTable::new(cfg(24));
        let mut single = FlowTable::new(cfg(24));
        let (mut out_p, mut out_s) = (Vec::new(), Vec::new());
        let mut next = crate::testing::xorshift(0x5eed_0ff1_0e01);
        let flags = [S, SA, A, A, A, FA, tcp_flags::RST, 0];
        for i in 0..20_000u64 {
            let x = next();
            let (a, b) = ((x % 7) as u8 + 1, (x >> 8) as u8 % 5 + 1);
            let proto = if x >> 20 & 3 == 0 { 17 } else { 6 };
            let f = if proto == 6 {
                flags[(x >> 24) as usize % 8]
            } else {
                0
            };
            let mut p = pkt(0, a, 1000 + (x >> 32) as u16 % 3, b, 80, proto, f);
            p.ts_ns = i * 3_000_000;
            if proto == 6 && x >> 44 & 3 == 0 {
                // MPTCP options (MP_CAPABLE on a SYN, else a DSS), so the stage that
                // prefetches MPTCP state runs on candidates that may be stale too.
                p = with_options(p, i as u32);
                let mut opts = p.tcp_options[..usize::from(p.tcp_options_len)].to_vec();
                if f & S != 0 {
                    opts.extend([30, 4, 0x01, 0x81]);
                } else {
                    opts.extend([30, 18, 0x20, 0x05]);
                    opts.extend((i as u32).to_be_bytes());
                    opts.extend((i as u32 * 7).to_be_bytes());
                    opts.extend((i as u32 * 3).to_be_bytes());
                    opts.extend(100u16.to_be_bytes());
                }
                let n = opts.len().min(p.tcp_options.len());
                p.tcp_options[..n].copy_from_slice(&opts[..n]);
                p.tcp_options_len = n as u8;
            }
            if x >> 40 & 15 == 0 {
                // Written and refused: the slot is reused.
                *piped.slot() = pkt(0, 99, 9, 99, 9, 17, 0);
            }
            *piped.slot() = p;
            piped.commit(&mut out_p);
            single.update(&p, &mut out_s);
            if i % 1500 == 0 {
                piped.expire(p.ts_ns, &mut out_p);
                single.expire(p.ts_ns, &mut out_s);
            }
        }
        piped.flush(EndReason::Forced, &mut out_p);
        single.flush(EndReason::Forced, &mut out_s);
        assert_eq!(piped.stats(), single.stats());
        assert_eq!(piped.stats().packets, 20_000);
        assert!(out_s.len() > 1000, "the stream must end many flows");
        let mptcp = out_s
            .iter()
            .filter(|r| r.tcp.as_ref().is_some_and(|t| t.mptcp.is_some()))
            .count();
        assert!(mptcp > 100, "the stream must carry MPTCP state: {mptcp}");
        assert_eq!(format!("{out_p:?}"), format!("{out_s:?}"));
    }

    #[test]
    fn entries_made_ahead_meter_as_entries_made_inline() {
        // Two slab chunks, with flows ending (their entries reused) and evicted.
        use std::hash::{DefaultHasher, Hash, Hasher};
        let cap = crate::flow::slab::CHUNK + 10;
        let hosts = cap + cap / 2;
        let mut digests = Vec::new();
        for memory_ahead in [false, true] {
            let mut t = FlowTable::new(TableConfig {
                memory_ahead,
                ..cfg(cap)
            });
            let mut out = Vec::new();
            let mut digest = DefaultHasher::new();
            for i in 0..2 * hosts as u32 {
                let host = (i % hosts as u32).to_be_bytes();
                let f = if i % 5 == 0 { tcp_flags::RST } else { A };
                let mut p = pkt(u64::from(i / 1000), 1, 1, 2, 80, 6, f);
                p.src = addr_v4([10, host[1], host[2], host[3]]);
                *t.slot() = p;
                t.commit(&mut out);
                for r in out.drain(..) {
                    format!("{r:?}").hash(&mut digest);
                }
            }
            t.flush(EndReason::Forced, &mut out);
            for r in out.drain(..) {
                format!("{r:?}").hash(&mut digest);
            }
            assert_eq!(t.stats().packets, 2 * hosts as u64);
            assert!(t.stats().peak_flows > crate::flow::slab::CHUNK as u64);
            assert!(t.stats().records_by_reason[EndReason::LackOfResources as usize] > 0);
            digests.push((digest.finish(), t.stats().clone()));
        }
        assert!(digests[0] == digests[1]);
    }

    #[test]
    fn conservation_under_a_flood_of_new_flows() {
        let mut t = FlowTable::new(cfg(64));
        let mut out = Vec::new();
        let mut n = 0u64;
        for i in 0..10_000u32 {
            let mut p = pkt(u64::from(i / 100), 1, 1, 2, 2, 17, 0);
            p.src = addr_v4((0x0a00_0000 + i % 500).to_be_bytes());
            t.update(&p, &mut out);
            n += 1;
            if i % 97 == 0 {
                t.expire(p.ts_ns, &mut out);
            }
            assert!(t.len() <= 64);
        }
        t.flush(EndReason::Forced, &mut out);
        assert_eq!(out.iter().map(|r| r.packets()).sum::<u64>(), n);
    }

    #[test]
    fn syn_after_close_starts_a_new_flow() {
        let mut t = FlowTable::new(cfg(16));
        let mut out = Vec::new();
        t.update(&pkt(1, 1, 5000, 2, 80, 6, S), &mut out);
        t.update(&pkt(1, 2, 80, 1, 5000, 6, SA), &mut out);
        t.update(&pkt(1, 1, 5000, 2, 80, 6, FA), &mut out);
        t.update(&pkt(1, 1, 5000, 2, 80, 6, S), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].packets(), 3);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn syn_after_close_starts_a_new_flow_when_its_candidate_is_the_old_one() {
        // Through the pipeline, each packet followed by enough others that the connection's
        // entry exists when the next one's candidate is taken: the SYN's candidate is then
        // the closed connection, which must end, not take the SYN.
        let mut t = FlowTable::new(cfg(64));
        let mut out = Vec::new();
        let conn = [
            pkt(1, 1, 5000, 2, 80, 6, S),
            pkt(1, 2, 80, 1, 5000, 6, SA),
            pkt(1, 1, 5000, 2, 80, 6, FA),
            pkt(1, 1, 5000, 2, 80, 6, S),
        ];
        for p in conn {
            *t.slot() = p;
            t.commit(&mut out);
            for k in 0..2 * IN_FLIGHT as u8 {
                *t.slot() = pkt(1, 100 + k, 1, 200, 2, 17, 0);
                t.commit(&mut out);
            }
        }
        t.flush(EndReason::Forced, &mut out);
        let ours: Vec<_> = out.iter().filter(|r| r.protocol == 6).collect();
        assert_eq!(ours.len(), 2, "{ours:?}");
        assert_eq!(
            (ours[0].packets(), ours[0].end_reason),
            (3, EndReason::EndDetected)
        );
        assert_eq!(
            (ours[1].packets(), ours[1].end_reason),
            (1, EndReason::Forced)
        );
        assert_eq!(
            t.stats().packets,
            out.iter().map(|r| r.packets()).sum::<u64>()
        );
    }
}
