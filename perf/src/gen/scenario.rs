//! A scenario capture with ground truth: a mix of conversations (TCP with handshake, data
//! and FIN/FIN/ACK close, TCP resets, UDP request/response, ICMP and ICMPv6 echo, IPv6
//! with extension headers, VLAN / QinQ / MPLS encapsulations, a fragmented UDP datagram,
//! SCTP, one MPTCP connection with a joined subflow) plus frames that cannot form a flow
//! (ARP, truncated link headers, truncated or bogus IP headers).
//!
//! The [`Truth`] is accumulated from the frame descriptions the generator builds and from
//! the lengths the builder reports; the written capture is never parsed back.
//!
//! Conventions of the truth, which a flow meter's output is compared against:
//! - A uniflow is keyed by (src, dst, sport, dport, proto); the two directions of a TCP
//!   connection are **two** uniflows. ICMP / ICMPv6 uniflows have ports 0 (the type and
//!   code are in [`FlowTruth::icmp_type_code`]); a non-first IPv4 fragment has no
//!   transport header and belongs to the port-less uniflow (src, dst, 0, 0, proto).
//! - Octets are layer-3 octets: IP header + extension headers + payload, never the
//!   Ethernet header, tags, labels or padding.
//! - Every 5-tuple is used by one conversation only, no conversation sends after it
//!   ended (FIN both ways then ACK, or RST), and the whole scenario spans far less than
//!   any idle/active timeout (it is limited to [`MAX_DURATION_NS`]). So the number of
//!   uniflow records a meter must export is exactly the number of distinct directions
//!   that sent at least one packet: [`Truth::expected_uniflow_records`].
//! - Addresses are from documentation ranges: IPv4 in 10.0.0.0/8 and 192.0.2.0/24,
//!   IPv6 in 2001:db8::/32.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path as FsPath;

use super::packet::{
    self, Built, Echo, Ethernet, Frame, Ip, Ipv4, Ipv6, Ipv6Ext, L4, Link, MplsLabel, Payload,
    Sctp, Stack, Tcp, Udp, UdpChecksum, VlanTag, proto, tcp_flags,
};
use super::pcap::{CaptureFile, CaptureFormat, CaptureWrite, DEFAULT_SNAPLEN, LinkType};
use super::rng::SplitMix64;
use super::tcpopt::{self, Dss, DssMapping, MP_CAPABLE_FLAG_H, TcpOptions};

/// Longest span a scenario may cover: far below the 300 s idle timeouts of common meters,
/// so that no timeout can split a conversation.
pub const MAX_DURATION_NS: u64 = 60_000_000_000;

/// Most conversations of one kind (the addressing plan gives each its own client address).
pub const MAX_PER_KIND: usize = 60_000;

/// MPTCP keys of the scenario: the test vectors of reference §4.3, so expected tokens can
/// be checked against published values.
pub const MPTCP_CLIENT_KEY: u64 = 0x1122_3344_5566_7788;
pub const MPTCP_SERVER_KEY: u64 = 0x99aa_bbcc_ddee_ff00;

/// What to put in a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioParams {
    /// IPv4 TCP connections: handshake, data both ways, FIN/FIN/ACK.
    pub tcp: usize,
    /// IPv4 TCP connections ended by RST (alternately refused, and reset after data).
    pub tcp_reset: usize,
    /// IPv4 UDP request/response conversations.
    pub udp: usize,
    /// ICMP echo request/reply conversations.
    pub icmp: usize,
    /// IPv6 TCP connections (FIN close).
    pub ipv6_tcp: usize,
    /// IPv6 UDP conversations; every other one carries hop-by-hop and atomic fragment
    /// extension headers.
    pub ipv6_udp: usize,
    /// ICMPv6 echo conversations.
    pub ipv6_icmp: usize,
    /// 802.1Q-tagged IPv4 TCP connections.
    pub vlan: usize,
    /// QinQ (802.1ad S-tag + 802.1Q C-tag) IPv4 UDP conversations.
    pub qinq: usize,
    /// MPLS (two labels) IPv4 TCP connections.
    pub mpls: usize,
    /// IPv4 UDP datagrams sent as two fragments, answered by one unfragmented datagram.
    pub ipv4_fragmented: usize,
    /// SCTP associations (common header only, both directions).
    pub sctp: usize,
    /// One MPTCP v1 connection with a joined subflow.
    pub mptcp: bool,
    /// ARP requests.
    pub non_ip: usize,
    /// Frames with truncated link headers or truncated / bogus IP headers (cycling kinds).
    pub malformed: usize,
    /// Request/response rounds per conversation (at least 1).
    pub exchanges: usize,
    /// Payload sizes of data packets, drawn uniformly in `payload_min..=payload_max`.
    pub payload_min: usize,
    pub payload_max: usize,
    /// Timestamp of the first frame, ns since the Unix epoch.
    pub start_ns: u64,
    /// Time between consecutive frames of the capture.
    pub gap_ns: u64,
    pub seed: u64,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        ScenarioParams {
            tcp: 4,
            tcp_reset: 2,
            udp: 3,
            icmp: 2,
            ipv6_tcp: 2,
            ipv6_udp: 2,
            ipv6_icmp: 1,
            vlan: 2,
            qinq: 2,
            mpls: 2,
            ipv4_fragmented: 1,
            sctp: 1,
            mptcp: true,
            non_ip: 2,
            malformed: 5,
            exchanges: 3,
            payload_min: 1,
            payload_max: 1200,
            start_ns: 1_700_000_000_000_000_000,
            gap_ns: 100_000,
            seed: 1,
        }
    }
}

/// Why a scenario could not be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    InvalidParams(String),
    Build(packet::BuildError),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::InvalidParams(s) => write!(f, "invalid scenario parameters: {s}"),
            ScenarioError::Build(e) => write!(f, "scenario frame: {e}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl From<packet::BuildError> for ScenarioError {
    fn from(e: packet::BuildError) -> Self {
        ScenarioError::Build(e)
    }
}

impl From<tcpopt::OptionsFull> for ScenarioError {
    fn from(_: tcpopt::OptionsFull) -> Self {
        ScenarioError::Build(packet::BuildError::TcpOptionsTooLong)
    }
}

/// Key of a uniflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UniflowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

impl UniflowKey {
    /// The key of the opposite direction.
    pub fn reversed(&self) -> UniflowKey {
        UniflowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
        }
    }
}

/// Ground truth for one uniflow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowTruth {
    pub packets: u64,
    /// Layer-3 octets (IP header + payload).
    pub l3_octets: u64,
    /// Union of TCP flags sent ([`tcp_flags`] bits); 0 for non-TCP.
    pub tcp_flags: u16,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Outer VLAN ID (802.1Q, or the 802.1ad S-tag of QinQ); 0 untagged.
    pub vlan: u16,
    /// IPFIX icmpTypeCode style type << 8 | code of the first ICMP packet.
    pub icmp_type_code: Option<u16>,
    /// MPTCP token of this direction's sender, with the semantics of the proposed
    /// mptcpSenderToken (reference §4.4): derived from the key this direction sent in
    /// MP_CAPABLE, or, for a joined subflow, the receiver token of the MP_JOIN SYN
    /// filled into the opposite (SYN-receiving) direction. `None` when unknown.
    pub mptcp_token: Option<u32>,
}

/// Frames that cannot form a flow, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NonFlowCounts {
    /// Not IP at all (ARP).
    pub non_ip: u64,
    /// Too short for the Ethernet header or a VLAN tag.
    pub truncated_link: u64,
    /// Ethertype IPv4/IPv6 but fewer captured octets than the fixed IP header.
    pub truncated_ip: u64,
    /// IPv4 header with IHL < 5.
    pub bad_ip_header: u64,
}

impl NonFlowCounts {
    pub fn total(&self) -> u64 {
        self.non_ip + self.truncated_link + self.truncated_ip + self.bad_ip_header
    }
}

/// Ground truth of a scenario capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Truth {
    /// Every frame written.
    pub frames: u64,
    /// Frames that belong to a uniflow (IP packets with a full fixed IP header).
    pub ip_packets: u64,
    /// Sum of layer-3 octets over all uniflows.
    pub l3_octets: u64,
    pub non_flow: NonFlowCounts,
    pub uniflows: BTreeMap<UniflowKey, FlowTruth>,
}

impl Truth {
    /// Records a meter must export when no timeout splits a flow: one per direction that
    /// sent at least one packet.
    pub fn expected_uniflow_records(&self) -> usize {
        self.uniflows.len()
    }

    /// The truth as JSON (hand-written; field names as in the Rust structs).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\n  \"frames\": {},\n  \"ip_packets\": {},\n  \"l3_octets\": {},\n  \
             \"expected_uniflow_records\": {},\n  \"non_flow\": {{\"non_ip\": {}, \
             \"truncated_link\": {}, \"truncated_ip\": {}, \"bad_ip_header\": {}}},\n  \
             \"uniflows\": [",
            self.frames,
            self.ip_packets,
            self.l3_octets,
            self.expected_uniflow_records(),
            self.non_flow.non_ip,
            self.non_flow.truncated_link,
            self.non_flow.truncated_ip,
            self.non_flow.bad_ip_header,
        );
        for (i, (k, f)) in self.uniflows.iter().enumerate() {
            let opt = |v: Option<u64>| v.map_or_else(|| "null".to_string(), |v| v.to_string());
            let _ = write!(
                s,
                "{}\n    {{\"src\": \"{}\", \"dst\": \"{}\", \"sport\": {}, \"dport\": {}, \
                 \"proto\": {}, \"packets\": {}, \"l3_octets\": {}, \"tcp_flags\": {}, \
                 \"first_ns\": {}, \"last_ns\": {}, \"vlan\": {}, \"icmp_type_code\": {}, \
                 \"mptcp_token\": {}}}",
                if i == 0 { "" } else { "," },
                k.src,
                k.dst,
                k.sport,
                k.dport,
                k.proto,
                f.packets,
                f.l3_octets,
                f.tcp_flags,
                f.first_ns,
                f.last_ns,
                f.vlan,
                opt(f.icmp_type_code.map(u64::from)),
                opt(f.mptcp_token.map(u64::from)),
            );
        }
        s.push_str("\n  ]\n}\n");
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NonFlowKind {
    NonIp,
    TruncatedLink,
    TruncatedIp,
    BadIpHeader,
}

#[derive(Debug, Clone)]
enum Planned {
    /// A frame that belongs to a uniflow.
    Flow(Box<Frame<'static>>),
    /// A frame written verbatim that forms no flow.
    Raw {
        bytes: Vec<u8>,
        orig_len: u32,
        kind: NonFlowKind,
    },
}

/// A planned scenario: every frame described, ready to be written any number of times.
#[derive(Debug, Clone)]
pub struct Scenario {
    params: ScenarioParams,
    /// Frames in capture order.
    frames: Vec<Planned>,
    /// Tokens to record on uniflows (the join's token belongs to the opposite direction).
    mptcp_tokens: Vec<(UniflowKey, u32)>,
    truth: Truth,
}

impl Scenario {
    /// Plan the scenario and compute its truth.
    pub fn new(params: ScenarioParams) -> Result<Scenario, ScenarioError> {
        validate(&params)?;
        let mut p = Planner {
            rng: SplitMix64::new(params.seed),
            params: &params,
            convs: Vec::new(),
            mptcp_tokens: Vec::new(),
        };
        p.plan_all()?;
        let Planner {
            convs,
            mptcp_tokens,
            ..
        } = p;
        check_disjoint(&convs)?;
        let frames = interleave(convs);
        let duration = (frames.len() as u64).saturating_mul(params.gap_ns);
        if duration > MAX_DURATION_NS {
            return Err(ScenarioError::InvalidParams(format!(
                "{} frames at {} ns spacing span {duration} ns, more than {MAX_DURATION_NS}",
                frames.len(),
                params.gap_ns
            )));
        }
        let mut sc = Scenario {
            params,
            frames,
            mptcp_tokens,
            truth: Truth::default(),
        };
        let mut sink = NullCapture;
        sc.truth = sc
            .emit(&mut sink)
            .map_err(|e| ScenarioError::InvalidParams(format!("dry run failed: {e}")))?;
        Ok(sc)
    }

    /// The default scenario.
    pub fn default_scenario() -> Result<Scenario, ScenarioError> {
        Scenario::new(ScenarioParams::default())
    }

    pub fn params(&self) -> &ScenarioParams {
        &self.params
    }

    /// The ground truth of the capture [`Scenario::write_to`] writes.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Number of frames in the capture.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Write every frame to `out` (Ethernet link type) and return the truth.
    pub fn write_to<W: CaptureWrite>(&self, out: &mut W) -> io::Result<Truth> {
        let t = self.emit(out)?;
        out.flush_all()?;
        Ok(t)
    }

    /// Write the capture to `path` and return its truth.
    pub fn write_file(&self, path: &FsPath, format: CaptureFormat) -> io::Result<Truth> {
        let mut f = CaptureFile::create(path, format, LinkType::Ethernet, DEFAULT_SNAPLEN)?;
        let t = self.write_to(&mut f)?;
        f.finish()?;
        Ok(t)
    }

    fn emit<W: CaptureWrite>(&self, out: &mut W) -> io::Result<Truth> {
        let mut truth = Truth::default();
        let mut buf = Vec::with_capacity(2048);
        let mut ts = self.params.start_ns;
        for planned in &self.frames {
            truth.frames += 1;
            match planned {
                Planned::Flow(frame) => {
                    buf.clear();
                    let built = packet::build(&mut buf, frame)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let orig = u32::try_from(buf.len()).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "frame too long")
                    })?;
                    out.write_packet(ts, &buf, orig)?;
                    account(&mut truth, frame, &built, ts);
                }
                Planned::Raw {
                    bytes,
                    orig_len,
                    kind,
                } => {
                    out.write_packet(ts, bytes, *orig_len)?;
                    let c = &mut truth.non_flow;
                    match kind {
                        NonFlowKind::NonIp => c.non_ip += 1,
                        NonFlowKind::TruncatedLink => c.truncated_link += 1,
                        NonFlowKind::TruncatedIp => c.truncated_ip += 1,
                        NonFlowKind::BadIpHeader => c.bad_ip_header += 1,
                    }
                }
            }
            ts = ts.saturating_add(self.params.gap_ns);
        }
        for (key, token) in &self.mptcp_tokens {
            if let Some(f) = truth.uniflows.get_mut(key) {
                f.mptcp_token = Some(*token);
            }
        }
        Ok(truth)
    }
}

struct NullCapture;

impl CaptureWrite for NullCapture {
    fn write_packet(&mut self, _: u64, _: &[u8], _: u32) -> io::Result<()> {
        Ok(())
    }
    fn flush_all(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The uniflow key of a frame, from its description.
pub fn frame_key(frame: &Frame<'_>) -> UniflowKey {
    let (src, dst, v6) = match &frame.ip {
        Ip::V4(h) => (IpAddr::V4(h.src), IpAddr::V4(h.dst), false),
        Ip::V6(h) => (IpAddr::V6(h.src), IpAddr::V6(h.dst), true),
    };
    let (sport, dport) = match &frame.l4 {
        L4::Tcp(t) => (t.sport, t.dport),
        L4::Udp(u) => (u.sport, u.dport),
        L4::Sctp(s) => (s.sport, s.dport),
        L4::Echo(_) | L4::None { .. } => (0, 0),
    };
    UniflowKey {
        src,
        dst,
        sport,
        dport,
        proto: frame.l4.protocol(v6),
    }
}

fn account(truth: &mut Truth, frame: &Frame<'_>, built: &Built, ts: u64) {
    let key = frame_key(frame);
    let l3 = built.l3_len as u64;
    truth.ip_packets += 1;
    truth.l3_octets += l3;
    let f = truth.uniflows.entry(key).or_default();
    if f.packets == 0 {
        f.first_ns = ts;
        if let Link::Ethernet(eth) = &frame.link {
            f.vlan = eth.vlans.as_slice().first().map_or(0, |t| t.vid);
        }
    }
    f.packets += 1;
    f.l3_octets += l3;
    f.last_ns = ts;
    match &frame.l4 {
        L4::Tcp(t) => f.tcp_flags |= t.flags,
        L4::Echo(e) if f.icmp_type_code.is_none() => {
            let ty: u16 = match (matches!(frame.ip, Ip::V6(_)), e.reply) {
                (false, false) => 8,
                (false, true) => 0,
                (true, false) => 128,
                (true, true) => 129,
            };
            f.icmp_type_code = Some(ty << 8);
        }
        _ => {}
    }
}

/// No uniflow may be fed by two conversations: the truth's record count relies on it.
fn check_disjoint(convs: &[Vec<Planned>]) -> Result<(), ScenarioError> {
    let mut owner: BTreeMap<UniflowKey, usize> = BTreeMap::new();
    for (i, conv) in convs.iter().enumerate() {
        for p in conv {
            if let Planned::Flow(f) = p {
                let k = frame_key(f);
                if *owner.entry(k).or_insert(i) != i {
                    return Err(ScenarioError::InvalidParams(format!(
                        "uniflow {k:?} used by two conversations"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Round-robin over conversations: round r emits the r-th frame of every conversation
/// that still has one, so conversations overlap in time as on a real link.
fn interleave(convs: Vec<Vec<Planned>>) -> Vec<Planned> {
    let total = convs.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    let mut iters: Vec<_> = convs.into_iter().map(Vec::into_iter).collect();
    while out.len() < total {
        for it in &mut iters {
            if let Some(p) = it.next() {
                out.push(p);
            }
        }
    }
    out
}

fn validate(p: &ScenarioParams) -> Result<(), ScenarioError> {
    let counts = [
        ("tcp", p.tcp),
        ("tcp_reset", p.tcp_reset),
        ("udp", p.udp),
        ("icmp", p.icmp),
        ("ipv6_tcp", p.ipv6_tcp),
        ("ipv6_udp", p.ipv6_udp),
        ("ipv6_icmp", p.ipv6_icmp),
        ("vlan", p.vlan),
        ("qinq", p.qinq),
        ("mpls", p.mpls),
        ("ipv4_fragmented", p.ipv4_fragmented),
        ("sctp", p.sctp),
        ("non_ip", p.non_ip),
        ("malformed", p.malformed),
    ];
    for (name, n) in counts {
        if n > MAX_PER_KIND {
            return Err(ScenarioError::InvalidParams(format!(
                "{name} = {n} exceeds {MAX_PER_KIND}"
            )));
        }
    }
    if p.exchanges == 0 || p.exchanges > 1000 {
        return Err(ScenarioError::InvalidParams(
            "exchanges must be in 1..=1000".into(),
        ));
    }
    // 1400 keeps every data packet, with 40 octets of TCP options and all encapsulations,
    // inside a 1500-octet IP MTU.
    if p.payload_min == 0 || p.payload_min > p.payload_max || p.payload_max > 1400 {
        return Err(ScenarioError::InvalidParams(
            "need 1 <= payload_min <= payload_max <= 1400".into(),
        ));
    }
    Ok(())
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// Conversation kinds; the discriminant is the second octet of client IPv4 addresses and
/// the third group of client IPv6 addresses, so each kind is recognisable in a capture.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Tcp = 1,
    TcpReset = 2,
    Udp = 3,
    Icmp = 4,
    Ipv6Tcp = 5,
    Ipv6Udp = 6,
    Ipv6Icmp = 7,
    Vlan = 8,
    Qinq = 9,
    Mpls = 10,
    Fragmented = 11,
    Sctp = 12,
    Arp = 30,
}

/// Both ends of a conversation and the link they talk over.
#[derive(Debug, Clone, Copy)]
struct Conv {
    eth: Ethernet,
    client: IpAddr,
    server: IpAddr,
    cport: u16,
    sport: u16,
    v6_ext: Stack<Ipv6Ext, 4>,
}

/// Per-direction state of a TCP conversation.
#[derive(Debug, Clone, Copy)]
struct TcpSide {
    seq: u32,
    ts: u32,
    ip_id: u16,
}

struct Planner<'p> {
    rng: SplitMix64,
    params: &'p ScenarioParams,
    convs: Vec<Vec<Planned>>,
    mptcp_tokens: Vec<(UniflowKey, u32)>,
}

fn client_v4(kind: Kind, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, kind as u8, (i / 250) as u8, (i % 250 + 1) as u8)
}

fn server_v4(kind: Kind) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + kind as u8)
}

fn client_v6(kind: Kind, i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, kind as u16, 0, 0, 0, 0, (i + 1) as u16)
}

fn server_v6(kind: Kind) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, kind as u16)
}

fn client_port(i: usize) -> u16 {
    32768 + (i % 28000) as u16
}

impl Conv {
    fn new(eth: Ethernet, client: IpAddr, server: IpAddr, cport: u16, sport: u16) -> Conv {
        Conv {
            eth,
            client,
            server,
            cport,
            sport,
            v6_ext: Stack::new(),
        }
    }

    fn link(&self, from_client: bool) -> Link {
        Link::Ethernet(if from_client {
            self.eth
        } else {
            self.eth.reversed()
        })
    }

    fn ip(&self, from_client: bool, id: u16, df: bool) -> Ip {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut h = Ipv6::new(s, d);
                h.ext = self.v6_ext;
                h.hop_limit = if from_client { 64 } else { 57 };
                Ip::V6(h)
            }
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = Ipv4::new(s, d);
                h.id = id;
                h.df = df;
                h.ttl = if from_client { 64 } else { 57 };
                Ip::V4(h)
            }
            // Mixed families never happen: paths are built from one family.
            (IpAddr::V4(s), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(s)) => {
                Ip::V4(Ipv4::new(s, s))
            }
        }
    }

    fn key(&self, from_client: bool, proto: u8) -> UniflowKey {
        let k = UniflowKey {
            src: self.client,
            dst: self.server,
            sport: self.cport,
            dport: self.sport,
            proto,
        };
        if from_client { k } else { k.reversed() }
    }
}

/// What one TCP segment carries besides the per-side state.
struct Seg {
    ack: u32,
    flags: u16,
    options: TcpOptions,
    payload: usize,
}

fn seg(ack: u32, flags: u16, options: TcpOptions, payload: usize) -> Seg {
    Seg {
        ack,
        flags,
        options,
        payload,
    }
}

/// How a TCP conversation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpEnd {
    Fin,
    /// SYN answered by RST/ACK.
    Refused,
    /// Handshake, one exchange, then the client resets.
    ResetAfterData,
}

fn syn_options(ts: u32, ecr: u32) -> Result<TcpOptions, ScenarioError> {
    let mut o = TcpOptions::new();
    o.mss(1460)?
        .sack_permitted()?
        .timestamps(ts, ecr)?
        .nop()?
        .window_scale(7)?;
    Ok(o)
}

fn ts_options(ts: u32, ecr: u32) -> Result<TcpOptions, ScenarioError> {
    let mut o = TcpOptions::new();
    o.nop()?.nop()?.timestamps(ts, ecr)?;
    Ok(o)
}

impl Planner<'_> {
    fn payload(&mut self) -> usize {
        self.rng.range(
            self.params.payload_min as u64,
            self.params.payload_max as u64,
        ) as usize
    }

    fn plan_all(&mut self) -> Result<(), ScenarioError> {
        let p = self.params;
        let plain = Ethernet::new(CLIENT_MAC, SERVER_MAC);
        for i in 0..p.tcp {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::Tcp, i)),
                IpAddr::V4(server_v4(Kind::Tcp)),
                client_port(i),
                80,
            );
            self.tcp(&path, TcpEnd::Fin)?;
        }
        for i in 0..p.tcp_reset {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::TcpReset, i)),
                IpAddr::V4(server_v4(Kind::TcpReset)),
                client_port(i),
                8080,
            );
            let end = if i % 2 == 0 {
                TcpEnd::Refused
            } else {
                TcpEnd::ResetAfterData
            };
            self.tcp(&path, end)?;
        }
        for i in 0..p.udp {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::Udp, i)),
                IpAddr::V4(server_v4(Kind::Udp)),
                client_port(i),
                40053,
            );
            self.udp(&path)?;
        }
        for i in 0..p.icmp {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::Icmp, i)),
                IpAddr::V4(server_v4(Kind::Icmp)),
                0,
                0,
            );
            self.echo(&path, i as u16 + 1)?;
        }
        for i in 0..p.ipv6_tcp {
            let path = Conv::new(
                plain,
                IpAddr::V6(client_v6(Kind::Ipv6Tcp, i)),
                IpAddr::V6(server_v6(Kind::Ipv6Tcp)),
                client_port(i),
                443,
            );
            self.tcp(&path, TcpEnd::Fin)?;
        }
        for i in 0..p.ipv6_udp {
            let mut path = Conv::new(
                plain,
                IpAddr::V6(client_v6(Kind::Ipv6Udp, i)),
                IpAddr::V6(server_v6(Kind::Ipv6Udp)),
                client_port(i),
                40053,
            );
            if i % 2 == 0 {
                path.v6_ext = Stack::from_slice(&[
                    Ipv6Ext::HopByHop,
                    Ipv6Ext::Fragment {
                        offset: 0,
                        more: false,
                        id: 0x1000 + i as u32,
                    },
                ])?;
            }
            self.udp(&path)?;
        }
        for i in 0..p.ipv6_icmp {
            let path = Conv::new(
                plain,
                IpAddr::V6(client_v6(Kind::Ipv6Icmp, i)),
                IpAddr::V6(server_v6(Kind::Ipv6Icmp)),
                0,
                0,
            );
            self.echo(&path, i as u16 + 1)?;
        }
        for i in 0..p.vlan {
            let mut eth = plain;
            eth.vlans.push(VlanTag::dot1q(10 + i as u16))?;
            let path = Conv::new(
                eth,
                IpAddr::V4(client_v4(Kind::Vlan, i)),
                IpAddr::V4(server_v4(Kind::Vlan)),
                client_port(i),
                80,
            );
            self.tcp(&path, TcpEnd::Fin)?;
        }
        for i in 0..p.qinq {
            let mut eth = plain;
            eth.vlans.push(VlanTag::dot1ad(100 + (i % 3000) as u16))?;
            eth.vlans.push(VlanTag::dot1q(200 + (i % 3000) as u16))?;
            let path = Conv::new(
                eth,
                IpAddr::V4(client_v4(Kind::Qinq, i)),
                IpAddr::V4(server_v4(Kind::Qinq)),
                client_port(i),
                40053,
            );
            self.udp(&path)?;
        }
        for i in 0..p.mpls {
            let mut eth = plain;
            eth.mpls.push(MplsLabel::new(1000 + i as u32))?;
            eth.mpls.push(MplsLabel::new(16))?;
            let path = Conv::new(
                eth,
                IpAddr::V4(client_v4(Kind::Mpls, i)),
                IpAddr::V4(server_v4(Kind::Mpls)),
                client_port(i),
                80,
            );
            self.tcp(&path, TcpEnd::Fin)?;
        }
        for i in 0..p.ipv4_fragmented {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::Fragmented, i)),
                IpAddr::V4(server_v4(Kind::Fragmented)),
                client_port(i),
                40054,
            );
            self.fragmented_udp(&path, i as u16)?;
        }
        for i in 0..p.sctp {
            let path = Conv::new(
                plain,
                IpAddr::V4(client_v4(Kind::Sctp, i)),
                IpAddr::V4(server_v4(Kind::Sctp)),
                client_port(i),
                38412,
            );
            self.sctp(&path);
        }
        if p.mptcp {
            self.mptcp()?;
        }
        for i in 0..p.non_ip {
            let mut bytes = Vec::with_capacity(60);
            packet::build_arp_request(
                &mut bytes,
                CLIENT_MAC,
                client_v4(Kind::Arp, i),
                Ipv4Addr::new(10, Kind::Arp as u8, 255, 254),
            );
            self.convs.push(vec![Planned::Raw {
                orig_len: bytes.len() as u32,
                bytes,
                kind: NonFlowKind::NonIp,
            }]);
        }
        for i in 0..p.malformed {
            self.convs.push(vec![malformed(i)]);
        }
        Ok(())
    }

    fn tcp_frame(&self, path: &Conv, from_client: bool, side: &mut TcpSide, seg: Seg) -> Planned {
        let Seg {
            ack,
            flags,
            options,
            payload,
        } = seg;
        let (sport, dport) = if from_client {
            (path.cport, path.sport)
        } else {
            (path.sport, path.cport)
        };
        let frame = Frame {
            link: path.link(from_client),
            ip: path.ip(from_client, side.ip_id, true),
            l4: L4::Tcp(Tcp {
                sport,
                dport,
                seq: side.seq,
                ack,
                flags,
                window: if flags & tcp_flags::SYN != 0 {
                    64240
                } else {
                    502
                },
                options,
            }),
            payload: Payload::Pattern(payload),
        };
        side.ip_id = side.ip_id.wrapping_add(1);
        side.ts = side.ts.wrapping_add(7);
        let consumed = payload as u32 + u32::from(flags & (tcp_flags::SYN | tcp_flags::FIN) != 0);
        side.seq = side.seq.wrapping_add(consumed);
        flow(frame)
    }

    fn new_side(&mut self) -> TcpSide {
        TcpSide {
            seq: self.rng.next_u32(),
            ts: self.rng.next_u32() >> 4,
            ip_id: self.rng.next_u32() as u16,
        }
    }

    fn tcp(&mut self, path: &Conv, end: TcpEnd) -> Result<(), ScenarioError> {
        use tcp_flags::{ACK, PSH, RST, SYN};
        let mut c = self.new_side();
        let mut s = self.new_side();
        let mut v = Vec::new();
        let o = syn_options(c.ts, 0)?;
        v.push(self.tcp_frame(path, true, &mut c, seg(0, SYN, o, 0)));
        if end == TcpEnd::Refused {
            // RFC 9293 §3.10.7.1: RST with SEQ 0 and ACK = SEG.SEQ + 1.
            s.seq = 0;
            let ack = c.seq;
            v.push(self.tcp_frame(
                path,
                false,
                &mut s,
                seg(ack, RST | ACK, TcpOptions::new(), 0),
            ));
            self.convs.push(v);
            return Ok(());
        }
        let o = syn_options(s.ts, c.ts)?;
        let ack = c.seq;
        v.push(self.tcp_frame(path, false, &mut s, seg(ack, SYN | ACK, o, 0)));
        let o = ts_options(c.ts, s.ts)?;
        v.push(self.tcp_frame(path, true, &mut c, seg(s.seq, ACK, o, 0)));
        let rounds = if end == TcpEnd::ResetAfterData {
            1
        } else {
            self.params.exchanges
        };
        for _ in 0..rounds {
            let n = self.payload();
            let o = ts_options(c.ts, s.ts)?;
            v.push(self.tcp_frame(path, true, &mut c, seg(s.seq, PSH | ACK, o, n)));
            let n = self.payload();
            let o = ts_options(s.ts, c.ts)?;
            let ack = c.seq;
            v.push(self.tcp_frame(path, false, &mut s, seg(ack, PSH | ACK, o, n)));
        }
        if end == TcpEnd::ResetAfterData {
            v.push(self.tcp_frame(
                path,
                true,
                &mut c,
                seg(s.seq, RST | ACK, TcpOptions::new(), 0),
            ));
        } else {
            self.close(&mut v, path, &mut c, &mut s)?;
        }
        self.convs.push(v);
        Ok(())
    }

    /// FIN from the client, FIN from the server, last ACK from the client.
    fn close(
        &self,
        v: &mut Vec<Planned>,
        path: &Conv,
        c: &mut TcpSide,
        s: &mut TcpSide,
    ) -> Result<(), ScenarioError> {
        use tcp_flags::{ACK, FIN};
        let o = ts_options(c.ts, s.ts)?;
        v.push(self.tcp_frame(path, true, c, seg(s.seq, FIN | ACK, o, 0)));
        let o = ts_options(s.ts, c.ts)?;
        v.push(self.tcp_frame(path, false, s, seg(c.seq, FIN | ACK, o, 0)));
        let o = ts_options(c.ts, s.ts)?;
        v.push(self.tcp_frame(path, true, c, seg(s.seq, ACK, o, 0)));
        Ok(())
    }

    fn udp_frame(&self, path: &Conv, from_client: bool, id: u16, payload: usize) -> Planned {
        let (sport, dport) = if from_client {
            (path.cport, path.sport)
        } else {
            (path.sport, path.cport)
        };
        flow(Frame {
            link: path.link(from_client),
            ip: path.ip(from_client, id, false),
            l4: L4::Udp(Udp::new(sport, dport)),
            payload: Payload::Pattern(payload),
        })
    }

    fn udp(&mut self, path: &Conv) -> Result<(), ScenarioError> {
        let mut v = Vec::new();
        let mut id = self.rng.next_u32() as u16;
        for _ in 0..self.params.exchanges {
            let n = self.payload();
            v.push(self.udp_frame(path, true, id, n));
            let n = self.payload();
            v.push(self.udp_frame(path, false, id, n));
            id = id.wrapping_add(1);
        }
        self.convs.push(v);
        Ok(())
    }

    fn echo(&mut self, path: &Conv, ident: u16) -> Result<(), ScenarioError> {
        let mut v = Vec::new();
        for k in 0..self.params.exchanges {
            for reply in [false, true] {
                v.push(flow(Frame {
                    link: path.link(!reply),
                    ip: path.ip(!reply, k as u16, false),
                    l4: L4::Echo(Echo {
                        reply,
                        id: ident,
                        seq: k as u16 + 1,
                    }),
                    // The 56 octets of ping's default payload.
                    payload: Payload::Pattern(56),
                }));
            }
        }
        self.convs.push(v);
        Ok(())
    }

    fn sctp(&mut self, path: &Conv) {
        let mut v = Vec::new();
        let (vc, vs) = (self.rng.next_u32(), self.rng.next_u32());
        for _ in 0..self.params.exchanges {
            for from_client in [true, false] {
                let (sport, dport, vtag) = if from_client {
                    (path.cport, path.sport, vs)
                } else {
                    (path.sport, path.cport, vc)
                };
                v.push(flow(Frame {
                    link: path.link(from_client),
                    ip: path.ip(from_client, 0, true),
                    l4: L4::Sctp(Sctp { sport, dport, vtag }),
                    payload: Payload::Pattern(0),
                }));
            }
        }
        self.convs.push(v);
    }

    /// One UDP datagram of 2000 payload octets split at the 1500-octet MTU: the first
    /// fragment carries the UDP header (length of the whole datagram, checksum 0 since the
    /// builder cannot sum octets it does not emit), the second carries no header.
    fn fragmented_udp(&mut self, path: &Conv, i: u16) -> Result<(), ScenarioError> {
        let id = 0x4000 + i;
        let mut v = Vec::new();
        let first_payload = 1480 - 8;
        let rest = 2000 - first_payload;
        let mut udp = Udp::new(path.cport, path.sport);
        udp.checksum = UdpChecksum::Zero;
        udp.length = Some(8 + 2000);
        let mut ip1 = path.ip(true, id, false);
        if let Ip::V4(h) = &mut ip1 {
            h.mf = true;
        }
        v.push(flow(Frame {
            link: path.link(true),
            ip: ip1,
            l4: L4::Udp(udp),
            payload: Payload::Pattern(first_payload),
        }));
        let mut ip2 = path.ip(true, id, false);
        if let Ip::V4(h) = &mut ip2 {
            h.frag_offset = 1480 / 8;
        }
        v.push(flow(Frame {
            link: path.link(true),
            ip: ip2,
            l4: L4::None {
                protocol: proto::UDP,
            },
            payload: Payload::Pattern(rest),
        }));
        let n = self.payload();
        v.push(self.udp_frame(path, false, id, n));
        self.convs.push(v);
        Ok(())
    }

    /// One MPTCP v1 connection (RFC 8684): initial subflow with the MP_CAPABLE handshake,
    /// data with DSS mappings, an ADD_ADDR (with HMAC) from the server, a second subflow
    /// joined from the client's second address (MP_JOIN SYN / SYN-ACK / ACK with real
    /// HMACs), DATA_FIN exchange, and FIN/FIN/ACK on both subflows.
    fn mptcp(&mut self) -> Result<(), ScenarioError> {
        use tcp_flags::{ACK, PSH, SYN};
        let key_a = MPTCP_CLIENT_KEY;
        let key_b = MPTCP_SERVER_KEY;
        let (token_a, idsn_a) = tcpopt::mptcp_v1_token_idsn(key_a);
        let (token_b, idsn_b) = tcpopt::mptcp_v1_token_idsn(key_b);
        let plain = Ethernet::new(CLIENT_MAC, SERVER_MAC);
        let server = Ipv4Addr::new(192, 0, 2, 80);
        let sf1 = Conv::new(
            plain,
            IpAddr::V4(Ipv4Addr::new(10, 20, 0, 1)),
            IpAddr::V4(server),
            50000,
            443,
        );
        let sf2 = Conv::new(
            plain,
            IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
            IpAddr::V4(server),
            50001,
            443,
        );
        let (p1, p2, p3) = (self.payload(), self.payload(), self.payload());
        // Data sequence space: each side's first data octet is IDSN + 1.
        let mut dsn_a = idsn_a.wrapping_add(1);
        let mut dsn_b = idsn_b.wrapping_add(1);
        let mut v = Vec::new();

        // ---- initial subflow handshake
        let mut c = self.new_side();
        let mut s = self.new_side();
        let mut o = syn_options(c.ts, 0)?;
        o.mp_capable_syn(MP_CAPABLE_FLAG_H)?;
        v.push(self.tcp_frame(&sf1, true, &mut c, seg(0, SYN, o, 0)));
        let mut o = syn_options(s.ts, c.ts)?;
        o.mp_capable_synack(MP_CAPABLE_FLAG_H, key_b)?;
        v.push(self.tcp_frame(&sf1, false, &mut s, seg(c.seq, SYN | ACK, o, 0)));
        let mut o = ts_options(c.ts, s.ts)?;
        o.mp_capable_ack(MP_CAPABLE_FLAG_H, key_a, key_b)?;
        v.push(self.tcp_frame(&sf1, true, &mut c, seg(s.seq, ACK, o, 0)));
        let (c_isn, s_isn) = (c.seq.wrapping_sub(1), s.seq.wrapping_sub(1));

        // ---- data both ways on subflow 1
        let mut o = ts_options(c.ts, s.ts)?;
        o.dss(&dss_map(dsn_b, dsn_a, c.seq.wrapping_sub(c_isn), p1))?;
        v.push(self.tcp_frame(&sf1, true, &mut c, seg(s.seq, PSH | ACK, o, p1)));
        dsn_a = dsn_a.wrapping_add(p1 as u64);
        let mut o = ts_options(s.ts, c.ts)?;
        o.dss(&dss_map(dsn_a, dsn_b, s.seq.wrapping_sub(s_isn), p2))?;
        v.push(self.tcp_frame(&sf1, false, &mut s, seg(c.seq, PSH | ACK, o, p2)));
        dsn_b = dsn_b.wrapping_add(p2 as u64);

        // ---- server advertises a second address
        let adv = Ipv4Addr::new(192, 0, 2, 81);
        let hmac = tcpopt::add_addr_hmac_v4(key_b, key_a, 1, adv, None);
        let mut o = ts_options(s.ts, c.ts)?;
        o.add_addr_v4(1, adv, None, Some(hmac))?;
        o.dss(&dss_ack(dsn_a))?;
        v.push(self.tcp_frame(&sf1, false, &mut s, seg(c.seq, ACK, o, 0)));

        // ---- subflow 2 joins from the client's second address
        let (rand_a, rand_b) = (self.rng.next_u32(), self.rng.next_u32());
        let mut c2 = self.new_side();
        let mut s2 = self.new_side();
        let mut o = syn_options(c2.ts, 0)?;
        o.mp_join_syn(false, 2, token_b, rand_a)?;
        v.push(self.tcp_frame(&sf2, true, &mut c2, seg(0, SYN, o, 0)));
        let mut o = syn_options(s2.ts, c2.ts)?;
        let hmac_b = tcpopt::mp_join_synack_hmac(key_b, key_a, rand_b, rand_a);
        o.mp_join_synack(false, 0, hmac_b, rand_b)?;
        v.push(self.tcp_frame(&sf2, false, &mut s2, seg(c2.seq, SYN | ACK, o, 0)));
        let mut o = ts_options(c2.ts, s2.ts)?;
        o.mp_join_ack(&tcpopt::mp_join_ack_hmac(key_a, key_b, rand_a, rand_b))?;
        v.push(self.tcp_frame(&sf2, true, &mut c2, seg(s2.seq, ACK, o, 0)));
        let mut o = ts_options(s2.ts, c2.ts)?;
        o.dss(&dss_ack(dsn_a))?;
        v.push(self.tcp_frame(&sf2, false, &mut s2, seg(c2.seq, ACK, o, 0)));
        let c2_isn = c2.seq.wrapping_sub(1);

        // ---- data on subflow 2
        let mut o = ts_options(c2.ts, s2.ts)?;
        o.dss(&dss_map(dsn_b, dsn_a, c2.seq.wrapping_sub(c2_isn), p3))?;
        v.push(self.tcp_frame(&sf2, true, &mut c2, seg(s2.seq, PSH | ACK, o, p3)));
        dsn_a = dsn_a.wrapping_add(p3 as u64);
        let mut o = ts_options(s2.ts, c2.ts)?;
        o.dss(&dss_ack(dsn_a))?;
        v.push(self.tcp_frame(&sf2, false, &mut s2, seg(c2.seq, ACK, o, 0)));

        // ---- DATA_FIN both ways on subflow 1 (each occupies one data sequence number)
        let mut o = ts_options(c.ts, s.ts)?;
        o.dss(&dss_data_fin(dsn_b, dsn_a))?;
        v.push(self.tcp_frame(&sf1, true, &mut c, seg(s.seq, ACK, o, 0)));
        dsn_a = dsn_a.wrapping_add(1);
        let mut o = ts_options(s.ts, c.ts)?;
        o.dss(&dss_data_fin(dsn_a, dsn_b))?;
        v.push(self.tcp_frame(&sf1, false, &mut s, seg(c.seq, ACK, o, 0)));
        dsn_b = dsn_b.wrapping_add(1);
        let mut o = ts_options(c.ts, s.ts)?;
        o.dss(&dss_ack(dsn_b))?;
        v.push(self.tcp_frame(&sf1, true, &mut c, seg(s.seq, ACK, o, 0)));

        // ---- close both subflows
        self.close(&mut v, &sf2, &mut c2, &mut s2)?;
        self.close(&mut v, &sf1, &mut c, &mut s)?;
        self.convs.push(v);

        self.mptcp_tokens.push((sf1.key(true, proto::TCP), token_a));
        self.mptcp_tokens
            .push((sf1.key(false, proto::TCP), token_b));
        // The join SYN names the server's token: it belongs to the server's direction.
        self.mptcp_tokens
            .push((sf2.key(false, proto::TCP), token_b));
        Ok(())
    }
}

fn flow(frame: Frame<'static>) -> Planned {
    Planned::Flow(Box::new(frame))
}

fn dss_map(data_ack: u64, dsn: u64, ssn: u32, len: usize) -> Dss {
    Dss {
        data_ack: Some((data_ack, true)),
        mapping: Some(DssMapping {
            dsn,
            dsn64: true,
            ssn,
            data_len: len as u16,
            checksum: None,
        }),
        data_fin: false,
    }
}

fn dss_ack(data_ack: u64) -> Dss {
    Dss {
        data_ack: Some((data_ack, true)),
        mapping: None,
        data_fin: false,
    }
}

/// DATA_FIN without data: a mapping of length 1 with subflow sequence number 0
/// (RFC 8684 §3.3.3).
fn dss_data_fin(data_ack: u64, dsn: u64) -> Dss {
    Dss {
        data_ack: Some((data_ack, true)),
        mapping: Some(DssMapping {
            dsn,
            dsn64: true,
            ssn: 0,
            data_len: 1,
            checksum: None,
        }),
        data_fin: true,
    }
}

/// The i-th malformed frame, cycling through the kinds. Truncated frames are recorded with
/// an original length larger than what was captured, as a snap length would leave them.
fn malformed(i: usize) -> Planned {
    let mut head = Vec::with_capacity(64);
    head.extend_from_slice(&SERVER_MAC);
    head.extend_from_slice(&CLIENT_MAC);
    let (bytes, orig_len, kind) = match i % 5 {
        0 => {
            // Shorter than the Ethernet header itself.
            head.truncate(10);
            (head, 60, NonFlowKind::TruncatedLink)
        }
        1 => {
            // An 802.1Q tag whose TCI is present but the inner ethertype is cut off.
            head.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
            (head, 64, NonFlowKind::TruncatedLink)
        }
        2 => {
            // IPv4 ethertype, 12 octets of a 20-octet header.
            head.extend_from_slice(&[0x08, 0x00]);
            head.extend_from_slice(&[0x45, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
            (head, 60, NonFlowKind::TruncatedIp)
        }
        3 => {
            // IPv6 ethertype, 30 octets of a 40-octet header.
            head.extend_from_slice(&[0x86, 0xdd]);
            head.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
            head.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            head.resize(14 + 30, 0);
            (head, 62, NonFlowKind::TruncatedIp)
        }
        _ => {
            // Version 4 with IHL 3: an impossible header length.
            head.extend_from_slice(&[0x08, 0x00]);
            head.extend_from_slice(&[0x43, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0]);
            head.extend_from_slice(&[10, 40, 0, 1, 10, 40, 0, 2]);
            head.resize(60, 0);
            (head, 60, NonFlowKind::BadIpHeader)
        }
    };
    Planned::Raw {
        bytes,
        orig_len,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_counts_by_construction() {
        let sc = Scenario::default_scenario().unwrap();
        let t = sc.truth();
        let p = sc.params();
        // Uniflows per conversation kind, counted by hand from the plans above:
        // TCP/UDP/ICMP/SCTP/VLAN/QinQ/MPLS conversations: 2 directions each; resets: 2;
        // fragmented UDP: first fragment, port-less second fragment, reply = 3;
        // MPTCP: 2 subflows x 2 directions = 4.
        let two_way = p.tcp
            + p.tcp_reset
            + p.udp
            + p.icmp
            + p.ipv6_tcp
            + p.ipv6_udp
            + p.ipv6_icmp
            + p.vlan
            + p.qinq
            + p.mpls
            + p.sctp;
        assert_eq!(t.uniflows.len(), 2 * two_way + 3 * p.ipv4_fragmented + 4);
        assert_eq!(t.non_flow.non_ip, 2);
        // malformed = 5 cycles once through: 2 link, 2 IP, 1 bad IHL.
        assert_eq!(t.non_flow.truncated_link, 2);
        assert_eq!(t.non_flow.truncated_ip, 2);
        assert_eq!(t.non_flow.bad_ip_header, 1);
        assert_eq!(t.frames, t.ip_packets + t.non_flow.total());
        assert_eq!(t.frames as usize, sc.frame_count());
        let sum: u64 = t.uniflows.values().map(|f| f.packets).sum();
        assert_eq!(sum, t.ip_packets);
        // TCP with FIN close: 3 handshake + 2 * exchanges data + 3 close, split 4+e / 3+e.
        let k = UniflowKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
            sport: 32768,
            dport: 80,
            proto: 6,
        };
        let e = p.exchanges as u64;
        assert_eq!(t.uniflows[&k].packets, 4 + e);
        assert_eq!(t.uniflows[&k.reversed()].packets, 2 + e);
        assert_eq!(t.uniflows[&k].tcp_flags, 0x1b); // FIN SYN PSH ACK
    }

    #[test]
    fn truth_is_deterministic_for_a_seed() {
        let a = Scenario::default_scenario().unwrap();
        let b = Scenario::default_scenario().unwrap();
        assert_eq!(a.truth(), b.truth());
        let c = Scenario::new(ScenarioParams {
            seed: 2,
            ..ScenarioParams::default()
        })
        .unwrap();
        assert_ne!(a.truth().l3_octets, c.truth().l3_octets);
    }

    #[test]
    fn mptcp_tokens_follow_the_reference_vectors() {
        let sc = Scenario::default_scenario().unwrap();
        let t = sc.truth();
        let a1 = UniflowKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 80)),
            sport: 50000,
            dport: 443,
            proto: 6,
        };
        let a2 = UniflowKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
            sport: 50001,
            ..a1
        };
        // reference §4.3: token(0x1122334455667788) = 0x1dce6604,
        // token(0x99aabbccddeeff00) = 0x7b981f5b.
        assert_eq!(t.uniflows[&a1].mptcp_token, Some(0x1dce_6604));
        assert_eq!(t.uniflows[&a1.reversed()].mptcp_token, Some(0x7b98_1f5b));
        assert_eq!(t.uniflows[&a2.reversed()].mptcp_token, Some(0x7b98_1f5b));
        assert_eq!(t.uniflows[&a2].mptcp_token, None);
    }

    #[test]
    fn large_scenarios_keep_uniflows_disjoint() {
        let p = ScenarioParams {
            tcp: 600,
            tcp_reset: 300,
            udp: 600,
            icmp: 300,
            ipv6_tcp: 300,
            ipv6_udp: 300,
            ipv6_icmp: 300,
            vlan: 300,
            qinq: 300,
            mpls: 300,
            ipv4_fragmented: 300,
            sctp: 300,
            gap_ns: 1_000,
            ..ScenarioParams::default()
        };
        let sc = Scenario::new(p).unwrap();
        let t = sc.truth();
        // 2 uniflows per conversation, 3 per fragmented datagram, 4 for MPTCP.
        let two_way = 600 + 300 + 600 + 300 + 300 + 300 + 300 + 300 + 300 + 300 + 300;
        assert_eq!(t.uniflows.len(), 2 * two_way + 3 * 300 + 4);
    }

    #[test]
    fn bad_params_are_rejected() {
        let too_long = ScenarioParams {
            gap_ns: 1_000_000_000,
            ..ScenarioParams::default()
        };
        assert!(matches!(
            Scenario::new(too_long),
            Err(ScenarioError::InvalidParams(_))
        ));
        let bad_payload = ScenarioParams {
            payload_min: 10,
            payload_max: 5,
            ..ScenarioParams::default()
        };
        assert!(Scenario::new(bad_payload).is_err());
    }

    #[test]
    fn json_is_well_formed() {
        let sc = Scenario::default_scenario().unwrap();
        let j = sc.truth().to_json();
        assert!(j.starts_with('{') && j.trim_end().ends_with('}'));
        assert_eq!(j.matches("\"src\"").count(), sc.truth().uniflows.len());
        assert!(j.contains("\"mptcp_token\": 2073567067")); // 0x7b981f5b
    }
}
