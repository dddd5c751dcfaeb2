//! The default export profile: which information elements leave the meter, in which
//! templates, and where each value comes from.
//!
//! A flow record becomes one uniflow record per direction that carried packets (RFC 5103
//! record adjacency: the two directions of a connection are exported back to back). Each
//! uniflow picks one of a small set of templates by IP version and by what it carries:
//! ICMP, other non-TCP, TCP, or TCP with MPTCP, and for TCP whether an option kind ≥ 64 was seen (then
//! tcpOptionsFull needs all 32 octets instead of 8).
//!
//! Every template is a list of `(Field, Getter)` pairs: the template record, the binary
//! data record and the JSON object are all produced from that one list, so they cannot
//! disagree about order, length or name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipfix_export::ie::{self, Ie, enterprise as ent, iana};
use ipfix_export::template::{Field, Template};
use ipfix_export::value::{FieldSink, RecordEncoder, Value};

use crate::flow::mptcp::{MptcpConnInfo, MptcpDirInfo};
use crate::flow::tcp::TcpDirInfo;
use crate::flow::{DirStats, FlowRecord};
use crate::packet::{Addr, addr_to_v4, addr_to_v6};

/// First data template ID; IDs up to 399 are ours, 400+ belong to options templates.
pub const FIRST_TEMPLATE_ID: u16 = 256;

/// One direction of a flow record, as it is exported.
pub struct Uniflow<'a> {
    pub rec: &'a FlowRecord,
    /// 0 = initiator → responder.
    pub dir: usize,
    pub src: &'a Addr,
    pub dst: &'a Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub stats: &'a DirStats,
    pub tcp: Option<&'a TcpDirInfo>,
    pub mptcp: Option<(&'a MptcpConnInfo, &'a MptcpDirInfo)>,
    /// Enterprise number of our own IEs (list elements need it).
    pub pen: u32,
    removed_ids: [u8; 64],
    removed_len: usize,
}

impl<'a> Uniflow<'a> {
    /// The uniflows of a record: one per direction that saw packets.
    pub fn of(rec: &'a FlowRecord, pen: u32) -> impl Iterator<Item = Uniflow<'a>> {
        (0..2)
            .filter(|&d| rec.dir[d].packets > 0)
            .map(move |d| Uniflow::new(rec, d, pen))
    }

    pub fn new(rec: &'a FlowRecord, dir: usize, pen: u32) -> Uniflow<'a> {
        let (src, src_port, dst, dst_port) = if dir == 0 {
            (
                &rec.initiator,
                rec.initiator_port,
                &rec.responder,
                rec.responder_port,
            )
        } else {
            (
                &rec.responder,
                rec.responder_port,
                &rec.initiator,
                rec.initiator_port,
            )
        };
        let tcp = rec.tcp.as_ref().map(|t| &t.dir[dir]);
        let mptcp = rec
            .tcp
            .as_ref()
            .and_then(|t| t.mptcp.as_deref())
            .map(|m| (m, &m.dir[dir]));
        let mut removed_ids = [0u8; 64];
        let mut removed_len = 0;
        if let Some((_, md)) = mptcp {
            for id in md.removed_ids().take(removed_ids.len()) {
                removed_ids[removed_len] = id;
                removed_len += 1;
            }
        }
        Uniflow {
            rec,
            dir,
            src,
            dst,
            src_port,
            dst_port,
            stats: &rec.dir[dir],
            tcp,
            mptcp,
            pen,
            removed_ids,
            removed_len,
        }
    }

    pub fn src_ip(&self) -> IpAddr {
        ip_of(self.rec.ip_version, self.src)
    }

    pub fn dst_ip(&self) -> IpAddr {
        ip_of(self.rec.ip_version, self.dst)
    }

    fn removed(&self) -> &[u8] {
        &self.removed_ids[..self.removed_len]
    }
}

pub fn ip_of(version: u8, a: &Addr) -> IpAddr {
    if version == 4 {
        IpAddr::V4(addr_to_v4(a))
    } else {
        IpAddr::V6(addr_to_v6(a))
    }
}

/// Where a field's value comes from.
pub type Getter = for<'u> fn(&'u Uniflow<'u>) -> Value<'u>;
/// A field's value written straight into a binary record (see `field!`).
pub type Writer = for<'u, 'b, 'e> fn(&'u Uniflow<'u>, &Field, &'e mut RecordEncoder<'b>);

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub ipv6: bool,
    pub layer: Layer,
    /// tcpOptionsFull with all 32 octets (a kind ≥ 64 was seen).
    pub wide_options: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Neither TCP nor ICMP: UDP, SCTP, DCCP, port-less protocols.
    Other,
    /// ICMP / ICMPv6: the type and code ride in their own IE. They never share a template
    /// with destinationTransportPort, because nfdump stores both in one slot and keeps the
    /// later one.
    Icmp,
    Tcp,
    Mptcp,
}

impl Kind {
    /// Layers in template-ID order (within one IP version).
    const LAYERS: [(Layer, bool); 6] = [
        (Layer::Other, false),
        (Layer::Icmp, false),
        (Layer::Tcp, false),
        (Layer::Tcp, true),
        (Layer::Mptcp, false),
        (Layer::Mptcp, true),
    ];

    pub const ALL: [Kind; 12] = {
        let mut all = [Kind {
            ipv6: false,
            layer: Layer::Other,
            wide_options: false,
        }; 12];
        let mut i = 0;
        while i < 12 {
            let (layer, wide_options) = Kind::LAYERS[i % 6];
            all[i] = Kind {
                ipv6: i >= 6,
                layer,
                wide_options,
            };
            i += 1;
        }
        all
    };

    pub fn of(uf: &Uniflow<'_>) -> Kind {
        let layer = match (uf.tcp, uf.mptcp) {
            (None, _) if matches!(uf.rec.protocol, 1 | 58) => Layer::Icmp,
            (None, _) => Layer::Other,
            (Some(_), None) => Layer::Tcp,
            (Some(_), Some(_)) => Layer::Mptcp,
        };
        Kind {
            ipv6: uf.rec.ip_version == 6,
            layer,
            wide_options: uf.tcp.is_some_and(|t| t.has_high_kinds()),
        }
    }

    fn index(self) -> usize {
        let l = Kind::LAYERS
            .iter()
            .position(|&(layer, wide)| layer == self.layer && wide == self.wide_options)
            .unwrap_or(0);
        usize::from(self.ipv6) * 6 + l
    }

    pub fn template_id(self) -> u16 {
        FIRST_TEMPLATE_ID + self.index() as u16
    }
}

/// One template: its fields and the getters that fill them, in the same order.
pub struct Spec {
    pub kind: Kind,
    pub template: Template,
    pub getters: Vec<Getter>,
    pub writers: Vec<Writer>,
}

/// The default profile, built once for a PEN.
pub struct Profile {
    pub pen: u32,
    specs: Vec<Spec>,
}

impl Profile {
    pub fn new(pen: u32) -> Profile {
        Profile::with_tcp_flags_octets(pen, 2)
    }

    /// `tcp_flags_octets` 1 exports tcpControlBits reduced to its low 8 bits (RFC 9565
    /// allows it): pmacct before 1.7.8, Debian 12's among them, reads the 2-octet form as 0.
    pub fn with_tcp_flags_octets(pen: u32, tcp_flags_octets: u16) -> Profile {
        let flags_len = tcp_flags_octets.clamp(1, 2);
        let specs = Kind::ALL
            .iter()
            .map(|&k| build_spec(k, pen, flags_len))
            .collect();
        Profile { pen, specs }
    }

    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    pub fn spec(&self, uf: &Uniflow<'_>) -> &Spec {
        &self.specs[Kind::of(uf).index()]
    }

    /// Write the uniflow's values through `sink`, in template order.
    pub fn write(&self, spec: &Spec, uf: &Uniflow<'_>, sink: &mut impl FieldSink) {
        for (field, get) in spec.template.fields.iter().zip(&spec.getters) {
            sink.put(field, get(uf));
        }
    }

    /// Encode the uniflow as a binary data record of the spec's template: what
    /// [`Profile::write`] into a [`RecordEncoder`] gives, faster.
    pub fn encode(&self, spec: &Spec, uf: &Uniflow<'_>, enc: &mut RecordEncoder<'_>) {
        for (field, write) in spec.template.fields.iter().zip(&spec.writers) {
            write(uf, field, enc);
        }
    }

    /// The enterprise IEs of this profile (for RFC 5610 type records).
    pub fn enterprise_ies(&self) -> impl Iterator<Item = Ie> + '_ {
        ent::ALL.iter().map(move |i| i.with_pen(self.pen))
    }
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

fn tcp_of<'u>(uf: &'u Uniflow<'u>) -> TcpDirInfo {
    uf.tcp.copied().unwrap_or_default()
}

fn mp<'u>(uf: &'u Uniflow<'u>) -> Option<&'u MptcpDirInfo> {
    uf.mptcp.map(|(_, d)| d)
}

fn advertised_v4(uf: &Uniflow<'_>) -> Ipv4Addr {
    match mp(uf).and_then(|m| m.first_advertised()).map(|a| a.addr) {
        Some(IpAddr::V4(a)) => a,
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn advertised_v6(uf: &Uniflow<'_>) -> Ipv6Addr {
    match mp(uf).and_then(|m| m.first_advertised()).map(|a| a.addr) {
        Some(IpAddr::V6(a)) => a,
        _ => Ipv6Addr::UNSPECIFIED,
    }
}

/// One template field from one expression of its value: the getter (JSON, any
/// [`FieldSink`]) and the writer for the binary encoder are both made from it, so they
/// cannot disagree. The writer is a function of its own in which the value's variant is
/// known, so encoding a field skips the dispatch on [`Value`] that the getter path pays
/// (the exporter's time goes mostly to that per-field work).
macro_rules! field {
    ($f:ident, $field:expr, |$u:ident| $body:expr) => {{
        let get: Getter = |$u| $body;
        // rustfmt puts long bodies in braces, which are redundant as an argument.
        #[allow(unused_braces)]
        let write: Writer = |$u, field, enc| enc.put(field, $body);
        $f.push(($field, get, write));
    }};
}

fn build_spec(kind: Kind, pen: u32, flags_len: u16) -> Spec {
    let mut f: Vec<(Field, Getter, Writer)> = Vec::with_capacity(48);
    let e = |i: Ie| i.with_pen(pen);
    if kind.ipv6 {
        field!(f, Field::new(iana::SOURCE_IPV6_ADDRESS), |u| Value::Ipv6(
            addr_to_v6(u.src)
        ));
        field!(f, Field::new(iana::DESTINATION_IPV6_ADDRESS), |u| {
            Value::Ipv6(addr_to_v6(u.dst))
        });
    } else {
        field!(f, Field::new(iana::SOURCE_IPV4_ADDRESS), |u| Value::Ipv4(
            addr_to_v4(u.src)
        ));
        field!(f, Field::new(iana::DESTINATION_IPV4_ADDRESS), |u| {
            Value::Ipv4(addr_to_v4(u.dst))
        });
    }
    field!(f, Field::new(iana::SOURCE_TRANSPORT_PORT), |u| Value::U16(
        u.src_port
    ));
    field!(f, Field::new(iana::DESTINATION_TRANSPORT_PORT), |u| {
        Value::U16(u.dst_port)
    });
    field!(f, Field::new(iana::PROTOCOL_IDENTIFIER), |u| Value::U8(
        u.rec.protocol
    ));
    field!(f, Field::new(iana::IP_VERSION), |u| Value::U8(
        u.rec.ip_version
    ));
    field!(f, Field::new(iana::IP_CLASS_OF_SERVICE), |u| Value::U8(
        u.stats.tos
    ));
    field!(f, Field::new(iana::OCTET_DELTA_COUNT), |u| Value::U64(
        u.stats.octets
    ));
    field!(f, Field::new(iana::PACKET_DELTA_COUNT), |u| Value::U64(
        u.stats.packets
    ));
    field!(f, Field::new(iana::FLOW_START_MILLISECONDS), |u| {
        Value::DateTimeMs(ms(u.stats.first_ns))
    });
    field!(f, Field::new(iana::FLOW_END_MILLISECONDS), |u| {
        Value::DateTimeMs(ms(u.stats.last_ns))
    });
    field!(f, Field::new(iana::FLOW_END_REASON), |u| Value::U8(
        u.rec.end_reason as u8
    ));
    field!(f, Field::new(iana::MINIMUM_TTL), |u| Value::U8(
        u.stats.min_ttl
    ));
    field!(f, Field::new(iana::MAXIMUM_TTL), |u| Value::U8(
        u.stats.max_ttl
    ));
    field!(f, Field::new(iana::VLAN_ID), |u| Value::U16(u.rec.vlan));
    field!(f, Field::new(iana::DOT1Q_CUSTOMER_VLAN_ID), |u| Value::U16(
        u.rec.inner_vlan
    ));
    field!(
        f,
        Field::sized(iana::MPLS_TOP_LABEL_STACK_SECTION, 3),
        |u| { Value::U32(u.rec.mpls_top) }
    );
    field!(f, Field::new(iana::INGRESS_INTERFACE), |u| Value::U32(
        u.rec.ingress
    ));
    if kind.ipv6 {
        field!(f, Field::new(iana::FLOW_LABEL_IPV6), |u| Value::U32(
            u.stats.flow_label
        ));
        field!(f, Field::sized(iana::IPV6_EXTENSION_HEADERS_FULL, 4), |u| {
            let mut v = [0u8; 32];
            v[28..].copy_from_slice(&u32::from(u.stats.ipv6_ext).to_be_bytes());
            Value::U256(v)
        });
    }
    match kind.layer {
        Layer::Other => {}
        Layer::Icmp => {
            if kind.ipv6 {
                field!(f, Field::new(iana::ICMP_TYPE_CODE_IPV6), |u| Value::U16(
                    u16::from(u.stats.icmp_type) << 8 | u16::from(u.stats.icmp_code)
                ));
            } else {
                field!(f, Field::new(iana::ICMP_TYPE_CODE_IPV4), |u| Value::U16(
                    u16::from(u.stats.icmp_type) << 8 | u16::from(u.stats.icmp_code)
                ));
            }
        }
        Layer::Tcp | Layer::Mptcp => {
            field!(f, Field::sized(iana::TCP_CONTROL_BITS, flags_len), |u| {
                Value::U16(u.stats.tcp_flags)
            });
            let opt_len = if kind.wide_options { 32 } else { 8 };
            field!(f, Field::sized(iana::TCP_OPTIONS_FULL, opt_len), |u| {
                Value::U256(tcp_of(u).tcp_options_full_be())
            });
            field!(f, Field::new(iana::TCP_OPTIONS), |u| Value::U64(
                tcp_of(u).tcp_options_legacy()
            ));
            field!(f, Field::new(iana::TCP_SEQUENCE_NUMBER), |u| Value::U32(
                tcp_of(u).isn
            ));
            field!(f, Field::new(iana::TCP_WINDOW_SCALE), |u| Value::U16(
                u16::from(tcp_of(u).window_scale)
            ));
            field!(f, Field::new(e(ent::TCP_MAXIMUM_SEGMENT_SIZE)), |u| {
                Value::U16(tcp_of(u).mss)
            });
            field!(f, Field::new(e(ent::TCP_SACK_PERMITTED)), |u| Value::Bool(
                tcp_of(u).sack_permitted
            ));
            field!(f, Field::new(e(ent::TCP_TIMESTAMP_FIRST)), |u| Value::U32(
                tcp_of(u).ts_first
            ));
            field!(f, Field::new(e(ent::TCP_TIMESTAMP_LAST)), |u| Value::U32(
                tcp_of(u).ts_last
            ));
        }
    }
    if kind.layer == Layer::Mptcp {
        field!(
            f,
            Field::new(e(ent::MPTCP_OPTION_SUBTYPES)),
            |u| Value::U16(mp(u).map_or(0, |m| m.subtypes))
        );
        field!(f, Field::new(e(ent::MPTCP_VERSION)), |u| Value::U8(
            u.mptcp.and_then(|(c, _)| c.version).unwrap_or(255)
        ));
        field!(f, Field::new(e(ent::MPTCP_CAPABLE_FLAGS)), |u| Value::U8(
            mp(u).map_or(0, |m| m.capable_flags)
        ));
        field!(f, Field::new(e(ent::MPTCP_SENDER_TOKEN)), |u| Value::U32(
            mp(u).map_or(0, |m| m.sender_token)
        ));
        field!(f, Field::new(e(ent::MPTCP_RECEIVER_TOKEN)), |u| Value::U32(
            u.mptcp
                .and_then(|(c, _)| c.receiver_token(u.dir))
                .unwrap_or(0),
        ));
        field!(f, Field::new(e(ent::MPTCP_IDSN)), |u| Value::U64(
            mp(u).map_or(0, |m| m.sender_idsn)
        ));
        field!(f, Field::new(e(ent::MPTCP_ADDRESS_ID)), |u| Value::U8(
            mp(u).map_or(0, |m| m.address_id)
        ));
        field!(f, Field::new(e(ent::MPTCP_FLAGS)), |u| Value::U16(
            mp(u).map_or(0, |m| m.flags)
        ));
        field!(f, Field::new(e(ent::MPTCP_RST_REASON)), |u| Value::U8(
            mp(u).map_or(0, |m| m.rst_reason)
        ));
        field!(f, Field::new(e(ent::MPTCP_DSN_FIRST)), |u| Value::U64(
            mp(u).map_or(0, |m| m.dsn_first)
        ));
        field!(f, Field::new(e(ent::MPTCP_DSN_LAST)), |u| Value::U64(
            mp(u).map_or(0, |m| m.dsn_last)
        ));
        field!(f, Field::new(e(ent::MPTCP_DATA_ACK_LAST)), |u| Value::U64(
            mp(u).map_or(0, |m| m.data_ack_last)
        ));
        field!(f, Field::new(e(ent::MPTCP_MAPPED_OCTET_DELTA_COUNT)), |u| {
            Value::U64(mp(u).map_or(0, |m| m.mapped_octets))
        });
        field!(f, Field::new(e(ent::MPTCP_ADD_ADDR_COUNT)), |u| Value::U16(
            mp(u).map_or(0, |m| m.add_addr_count)
        ));
        field!(f, Field::new(e(ent::MPTCP_REMOVE_ADDR_COUNT)), |u| {
            Value::U16(mp(u).map_or(0, |m| m.remove_addr_count))
        });
        field!(
            f,
            Field::new(e(ent::MPTCP_FIRST_ADVERTISED_IPV4_ADDRESS)),
            |u| Value::Ipv4(advertised_v4(u))
        );
        field!(
            f,
            Field::new(e(ent::MPTCP_FIRST_ADVERTISED_IPV6_ADDRESS)),
            |u| Value::Ipv6(advertised_v6(u))
        );
        field!(f, Field::new(e(ent::MPTCP_FIRST_ADVERTISED_PORT)), |u| {
            Value::U16(
                mp(u)
                    .and_then(|m| m.first_advertised())
                    .map_or(0, |a| a.port),
            )
        });
        field!(
            f,
            Field::sized(e(ent::MPTCP_REMOVED_ADDRESS_ID_LIST), ie::VARLEN),
            |u| Value::BasicList {
                element: ent::MPTCP_ADDRESS_ID.with_pen(u.pen),
                semantic: 3,
                values: u.removed(),
                element_len: 1,
            }
        );
    }
    let id = kind.template_id();
    let mut fields = Vec::with_capacity(f.len());
    let mut getters = Vec::with_capacity(f.len());
    let mut writers = Vec::with_capacity(f.len());
    for (field, get, write) in f {
        fields.push(field);
        getters.push(get);
        writers.push(write);
    }
    Spec {
        kind,
        template: Template::new(id, fields),
        getters,
        writers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_len(p: &Profile, layer: Layer) -> Option<u16> {
        let spec = p.specs().iter().find(|s| s.kind.layer == layer)?;
        spec.template
            .fields
            .iter()
            .find(|f| f.ie.id == iana::TCP_CONTROL_BITS.id)
            .map(|f| f.length)
    }

    #[test]
    fn tcp_flags_width_follows_the_setting() {
        assert_eq!(flags_len(&Profile::new(32473), Layer::Tcp), Some(2));
        let compat = Profile::with_tcp_flags_octets(32473, 1);
        assert_eq!(flags_len(&compat, Layer::Tcp), Some(1));
        assert_eq!(flags_len(&compat, Layer::Mptcp), Some(1));
        assert_eq!(flags_len(&compat, Layer::Other), None);
    }

    #[test]
    fn template_ids_are_distinct_and_fields_match_getters() {
        let p = Profile::new(32473);
        let mut ids: Vec<u16> = p.specs().iter().map(|s| s.template.id).collect();
        ids.dedup();
        assert_eq!(ids, (256..=267).collect::<Vec<_>>());
        for s in p.specs() {
            assert_eq!(s.template.fields.len(), s.getters.len());
            assert_eq!(s.template.fields.len(), s.writers.len());
            assert_eq!(s.kind.template_id(), s.template.id);
        }
    }
}
