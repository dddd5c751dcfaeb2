//! Flow state: one table per worker, both directions of a conversation in one entry.
//!
//! A packet is folded into its flow by [`table::FlowTable::update`]; finished flows leave
//! the table as [`FlowRecord`]s, each carrying both directions and the reason it ended.
//! The exporter turns a record into one uniflow record per direction that saw packets.

pub mod index;
pub mod key;
pub mod mptcp;
pub mod slab;
pub mod table;
pub mod tcp;

pub use key::FlowKey;
pub use table::{FlowTable, TableConfig, TableStats};

use crate::packet::{Addr, PacketMeta};
use tcp::TcpConnInfo;

/// Ask the CPU to bring the cache line holding `x` in, without waiting for it. A hint: it
/// never faults and has no effect on results, only on when memory is read. Public so
/// `perf memory` replays the table's pattern with the table's own prefetch.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

/// IPFIX flowEndReason (IE 136) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EndReason {
    Idle = 1,
    Active = 2,
    /// TCP FIN in both directions, or RST.
    EndDetected = 3,
    /// End of input or shutdown.
    Forced = 4,
    /// Evicted because the table was full.
    LackOfResources = 5,
}

impl EndReason {
    pub const ALL: [EndReason; 5] = [
        EndReason::Idle,
        EndReason::Active,
        EndReason::EndDetected,
        EndReason::Forced,
        EndReason::LackOfResources,
    ];
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::EndDetected => "end",
            EndReason::Forced => "forced",
            EndReason::LackOfResources => "lack_of_resources",
        }
    }
}

/// Per-direction counters of one record interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    pub packets: u64,
    pub octets: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Union of TCP flags (IE 6 layout).
    pub tcp_flags: u16,
    pub min_ttl: u8,
    pub max_ttl: u8,
    /// TOS / traffic class of the first packet.
    pub tos: u8,
    /// ICMP type and code of the first packet.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Union of [`crate::packet::frag`] bits.
    pub frag: u8,
    /// Union of IPv6 extension-header bits (IE 515).
    pub ipv6_ext: u16,
    pub flow_label: u32,
    /// Union of [`crate::packet::anomaly`] bits.
    pub anomalies: u16,
}

impl DirStats {
    #[inline]
    pub(crate) fn add(&mut self, pkt: &PacketMeta) {
        if self.packets == 0 {
            self.first_ns = pkt.ts_ns;
            self.last_ns = pkt.ts_ns;
            self.min_ttl = pkt.ttl;
            self.max_ttl = pkt.ttl;
            self.tos = pkt.tos;
            self.icmp_type = pkt.icmp_type;
            self.icmp_code = pkt.icmp_code;
            self.flow_label = pkt.flow_label;
        } else {
            self.first_ns = self.first_ns.min(pkt.ts_ns);
            self.last_ns = self.last_ns.max(pkt.ts_ns);
            self.min_ttl = self.min_ttl.min(pkt.ttl);
            self.max_ttl = self.max_ttl.max(pkt.ttl);
        }
        self.packets += 1;
        self.octets += pkt.octets as u64;
        self.tcp_flags |= pkt.tcp_flags;
        self.frag |= pkt.frag;
        self.ipv6_ext |= pkt.ipv6_ext;
        self.anomalies |= pkt.anomalies;
    }
}

/// A finished (or active-timeout) flow leaving the table. `dir[0]` is initiator → responder.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Initiator address and port (source of direction 0).
    pub initiator: Addr,
    pub initiator_port: u16,
    pub responder: Addr,
    pub responder_port: u16,
    pub protocol: u8,
    pub ip_version: u8,
    pub vlan: u16,
    pub inner_vlan: u16,
    pub mpls_top: u32,
    pub ingress: u32,
    pub dir: [DirStats; 2],
    /// TCP option and MPTCP state, TCP flows only.
    pub tcp: Option<TcpConnInfo>,
    pub end_reason: EndReason,
}

impl FlowRecord {
    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.dir[0].packets + self.dir[1].packets
    }
    pub fn octets(&self) -> u64 {
        self.dir[0].octets + self.dir[1].octets
    }
    /// Directions that carried packets in this record (0, 1 or 2 uniflow records).
    pub fn uniflows(&self) -> usize {
        self.dir.iter().filter(|d| d.packets > 0).count()
    }
}

/// Where a table puts the records it finishes.
pub trait RecordSink {
    fn emit(&mut self, rec: FlowRecord);
}

impl RecordSink for Vec<FlowRecord> {
    fn emit(&mut self, rec: FlowRecord) {
        self.push(rec);
    }
}
