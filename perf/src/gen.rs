//! Packet and capture generation.
//!
//! - [`pcap`]: pcap / pcapng writers.
//! - [`packet`]: frame builders (Ethernet, VLAN, MPLS, IPv4, IPv6, TCP, UDP, ICMP, SCTP).
//! - [`tcpopt`]: TCP and MPTCP option builders, MPTCP token / HMAC derivation.
//! - [`scenario`]: a mixed capture with ground truth.
//! - [`bench`]: streaming bulk generator for throughput benchmarks.
//! - [`traffic`]: the traffic model of the limit measurements (active flows, new flows
//!   per second, size and protocol mixes, popularity), into memory or a capture.

pub mod bench;
pub mod packet;
pub mod pcap;
pub mod rng;
pub mod scenario;
pub mod tcpopt;
pub mod traffic;

pub use bench::{BenchParams, BenchTruth, FrameSize, Popularity, gen_bench};
pub use pcap::{CaptureFile, CaptureFormat, CaptureWrite, LinkType, PcapWriter, PcapngWriter};
pub use scenario::{FlowTruth, NonFlowCounts, Scenario, ScenarioParams, Truth, UniflowKey};
pub use traffic::{FrameArena, SizeMix, TrafficGen, TrafficParams, TrafficTruth};
