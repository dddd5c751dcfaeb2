//! The default export profile: which information elements leave the meter, in which
//! templates, and where each value comes from.
//!
//! A flow record becomes one uniflow record per direction that carried packets (RFC 5103
//! record adjacency: the two directions of a connection are exported back to back). Each
//! uniflow picks one of a small set of templates by IP version and by what it carries:
//! ICMP, other non-TCP, TCP, or TCP with MPTCP, and for TCP whether an option kind ≥ 64 was seen (then
//! tcpOptionsFull needs all 32 octets instead of 8).
//!
//! Every template is a list of sections (runs of fields that always go together, see
//! `section!`), and every field is one expression of its value: the template record, the
//! binary data record and the JSON object are all produced from those, so they cannot
//! disagree about order, length or name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use ipfix_export::ie::{self, Ie, enterprise as ent, iana};
use ipfix_export::template::{Field, Template};
use ipfix_export::value::{FieldSink, Octets, RecordEncoder, Value};

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
    /// The template's sections and their fields' places in it.
    sections: Vec<(Section, Range<usize>)>,
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
    pub fn encode(&self, spec: &Spec, uf: &Uniflow<'_>, enc: &mut RecordEncoder<'_, impl Octets>) {
        for (section, range) in &spec.sections {
            let fields = spec.template.fields.get(range.clone()).unwrap_or_default();
            section.encode(fields, uf, enc);
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

/// What a uniflow without TCP state exports in the TCP fields (never reached: TCP
/// templates are only chosen for uniflows with TCP state).
static NO_TCP: TcpDirInfo = TcpDirInfo {
    options_full: [0; 4],
    mss: 0,
    has_mss: false,
    window_scale: 0,
    has_window_scale: false,
    sack_permitted: false,
    ts_first: 0,
    ts_last: 0,
    has_ts: false,
    isn: 0,
    has_isn: false,
};

fn tcp_of<'u>(uf: &'u Uniflow<'u>) -> &'u TcpDirInfo {
    uf.tcp.unwrap_or(&NO_TCP)
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

/// The profile's settings that shape its fields.
struct Settings {
    pen: u32,
    flags_len: u16,
    /// tcpOptionsFull octets: 32 in the wide templates, else 8.
    options_len: u16,
}

/// One section from one expression per field: `$fields` makes the section's template
/// fields with their getters (JSON, any [`FieldSink`]), `$encode` writes the same
/// expressions straight into a binary record, so the two cannot disagree. The encoder is
/// one inlined function per section: the value's variant is known at each `put`, so the
/// dispatch on [`Value`] folds away, and a record costs no call per field (the
/// exporter's time went mostly to that per-field work).
macro_rules! section {
    ($fields:ident, $encode:ident, |$s:ident, $u:ident| [$($field:expr => $body:expr),* $(,)?]) => {
        fn $fields($s: &Settings) -> Vec<(Field, Getter)> {
            let _ = $s;
            vec![$(($field, |$u| $body)),*]
        }

        #[inline(always)]
        fn $encode(fields: &[Field], $u: &Uniflow<'_>, enc: &mut RecordEncoder<'_, impl Octets>) {
            // One length check, so that the constant indices below need none.
            let count = [$(stringify!($field)),*].len();
            if fields.len() != count {
                return;
            }
            let mut i = 0;
            $(
                enc.put(&fields[i], $body);
                i += 1;
            )*
            let _ = i;
        }
    };
}

section!(ipv4_addresses, encode_ipv4_addresses, |s, u| [
    Field::new(iana::SOURCE_IPV4_ADDRESS) => Value::Ipv4(addr_to_v4(u.src)),
    Field::new(iana::DESTINATION_IPV4_ADDRESS) => Value::Ipv4(addr_to_v4(u.dst)),
]);

section!(ipv6_addresses, encode_ipv6_addresses, |s, u| [
    Field::new(iana::SOURCE_IPV6_ADDRESS) => Value::Ipv6(addr_to_v6(u.src)),
    Field::new(iana::DESTINATION_IPV6_ADDRESS) => Value::Ipv6(addr_to_v6(u.dst)),
]);

section!(common, encode_common, |s, u| [
    Field::new(iana::SOURCE_TRANSPORT_PORT) => Value::U16(u.src_port),
    Field::new(iana::DESTINATION_TRANSPORT_PORT) => Value::U16(u.dst_port),
    Field::new(iana::PROTOCOL_IDENTIFIER) => Value::U8(u.rec.protocol),
    Field::new(iana::IP_VERSION) => Value::U8(u.rec.ip_version),
    Field::new(iana::IP_CLASS_OF_SERVICE) => Value::U8(u.stats.tos),
    Field::new(iana::OCTET_DELTA_COUNT) => Value::U64(u.stats.octets),
    Field::new(iana::PACKET_DELTA_COUNT) => Value::U64(u.stats.packets),
    Field::new(iana::FLOW_START_MILLISECONDS) => Value::DateTimeMs(ms(u.stats.first_ns)),
    Field::new(iana::FLOW_END_MILLISECONDS) => Value::DateTimeMs(ms(u.stats.last_ns)),
    Field::new(iana::FLOW_END_REASON) => Value::U8(u.rec.end_reason as u8),
    Field::new(iana::MINIMUM_TTL) => Value::U8(u.stats.min_ttl),
    Field::new(iana::MAXIMUM_TTL) => Value::U8(u.stats.max_ttl),
    Field::new(iana::VLAN_ID) => Value::U16(u.rec.vlan),
    Field::new(iana::DOT1Q_CUSTOMER_VLAN_ID) => Value::U16(u.rec.inner_vlan),
    Field::sized(iana::MPLS_TOP_LABEL_STACK_SECTION, 3) => Value::U32(u.rec.mpls_top),
    Field::new(iana::INGRESS_INTERFACE) => Value::U32(u.rec.ingress),
]);

section!(ipv6, encode_ipv6, |s, u| [
    Field::new(iana::FLOW_LABEL_IPV6) => Value::U32(u.stats.flow_label),
    Field::sized(iana::IPV6_EXTENSION_HEADERS_FULL, 4) => {
        let mut v = [0u8; 32];
        v[28..].copy_from_slice(&u32::from(u.stats.ipv6_ext).to_be_bytes());
        Value::U256(v)
    },
]);

section!(icmpv4, encode_icmpv4, |s, u| [
    Field::new(iana::ICMP_TYPE_CODE_IPV4) =>
        Value::U16(u16::from(u.stats.icmp_type) << 8 | u16::from(u.stats.icmp_code)),
]);

section!(icmpv6, encode_icmpv6, |s, u| [
    Field::new(iana::ICMP_TYPE_CODE_IPV6) =>
        Value::U16(u16::from(u.stats.icmp_type) << 8 | u16::from(u.stats.icmp_code)),
]);

section!(tcp, encode_tcp, |s, u| [
    Field::sized(iana::TCP_CONTROL_BITS, s.flags_len) => Value::U16(u.stats.tcp_flags),
    Field::sized(iana::TCP_OPTIONS_FULL, s.options_len) =>
        Value::U256(tcp_of(u).tcp_options_full_be()),
    Field::new(iana::TCP_OPTIONS) => Value::U64(tcp_of(u).tcp_options_legacy()),
    Field::new(iana::TCP_SEQUENCE_NUMBER) => Value::U32(tcp_of(u).isn),
    Field::new(iana::TCP_WINDOW_SCALE) => Value::U16(u16::from(tcp_of(u).window_scale)),
    Field::new(ent::TCP_MAXIMUM_SEGMENT_SIZE.with_pen(s.pen)) => Value::U16(tcp_of(u).mss),
    Field::new(ent::TCP_SACK_PERMITTED.with_pen(s.pen)) =>
        Value::Bool(tcp_of(u).sack_permitted),
    Field::new(ent::TCP_TIMESTAMP_FIRST.with_pen(s.pen)) => Value::U32(tcp_of(u).ts_first),
    Field::new(ent::TCP_TIMESTAMP_LAST.with_pen(s.pen)) => Value::U32(tcp_of(u).ts_last),
]);

section!(mptcp, encode_mptcp, |s, u| [
    Field::new(ent::MPTCP_OPTION_SUBTYPES.with_pen(s.pen)) =>
        Value::U16(mp(u).map_or(0, |m| m.subtypes)),
    Field::new(ent::MPTCP_VERSION.with_pen(s.pen)) =>
        Value::U8(u.mptcp.and_then(|(c, _)| c.version).unwrap_or(255)),
    Field::new(ent::MPTCP_CAPABLE_FLAGS.with_pen(s.pen)) =>
        Value::U8(mp(u).map_or(0, |m| m.capable_flags)),
    Field::new(ent::MPTCP_SENDER_TOKEN.with_pen(s.pen)) =>
        Value::U32(mp(u).map_or(0, |m| m.sender_token)),
    Field::new(ent::MPTCP_RECEIVER_TOKEN.with_pen(s.pen)) =>
        Value::U32(u.mptcp.and_then(|(c, _)| c.receiver_token(u.dir)).unwrap_or(0)),
    Field::new(ent::MPTCP_IDSN.with_pen(s.pen)) =>
        Value::U64(mp(u).map_or(0, |m| m.sender_idsn)),
    Field::new(ent::MPTCP_ADDRESS_ID.with_pen(s.pen)) =>
        Value::U8(mp(u).map_or(0, |m| m.address_id)),
    Field::new(ent::MPTCP_FLAGS.with_pen(s.pen)) => Value::U16(mp(u).map_or(0, |m| m.flags)),
    Field::new(ent::MPTCP_RST_REASON.with_pen(s.pen)) =>
        Value::U8(mp(u).map_or(0, |m| m.rst_reason)),
    Field::new(ent::MPTCP_DSN_FIRST.with_pen(s.pen)) =>
        Value::U64(mp(u).map_or(0, |m| m.dsn_first)),
    Field::new(ent::MPTCP_DSN_LAST.with_pen(s.pen)) =>
        Value::U64(mp(u).map_or(0, |m| m.dsn_last)),
    Field::new(ent::MPTCP_DATA_ACK_LAST.with_pen(s.pen)) =>
        Value::U64(mp(u).map_or(0, |m| m.data_ack_last)),
    Field::new(ent::MPTCP_MAPPED_OCTET_DELTA_COUNT.with_pen(s.pen)) =>
        Value::U64(mp(u).map_or(0, |m| m.mapped_octets)),
    Field::new(ent::MPTCP_ADD_ADDR_COUNT.with_pen(s.pen)) =>
        Value::U16(mp(u).map_or(0, |m| m.add_addr_count)),
    Field::new(ent::MPTCP_REMOVE_ADDR_COUNT.with_pen(s.pen)) =>
        Value::U16(mp(u).map_or(0, |m| m.remove_addr_count)),
    Field::new(ent::MPTCP_FIRST_ADVERTISED_IPV4_ADDRESS.with_pen(s.pen)) =>
        Value::Ipv4(advertised_v4(u)),
    Field::new(ent::MPTCP_FIRST_ADVERTISED_IPV6_ADDRESS.with_pen(s.pen)) =>
        Value::Ipv6(advertised_v6(u)),
    Field::new(ent::MPTCP_FIRST_ADVERTISED_PORT.with_pen(s.pen)) =>
        Value::U16(mp(u).and_then(|m| m.first_advertised()).map_or(0, |a| a.port)),
    Field::sized(ent::MPTCP_REMOVED_ADDRESS_ID_LIST.with_pen(s.pen), ie::VARLEN) =>
        Value::BasicList {
            element: ent::MPTCP_ADDRESS_ID.with_pen(u.pen),
            semantic: 3,
            values: u.removed(),
            element_len: 1,
        },
]);

/// The sections and the functions `section!` made for each: one list, from which the enum
/// and both dispatches are made.
macro_rules! sections {
    ($($variant:ident => $fields:ident, $encode:ident;)*) => {
        /// A run of fields that always appear together and in this order; a template is a
        /// list of sections (see [`sections_of`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Section {
            $($variant),*
        }

        impl Section {
            fn fields(self, s: &Settings) -> Vec<(Field, Getter)> {
                match self {
                    $(Section::$variant => $fields(s)),*
                }
            }

            #[inline(always)]
            fn encode(
                self,
                fields: &[Field],
                uf: &Uniflow<'_>,
                enc: &mut RecordEncoder<'_, impl Octets>,
            ) {
                match self {
                    $(Section::$variant => $encode(fields, uf, enc)),*
                }
            }
        }
    };
}

sections! {
    Ipv4Addresses => ipv4_addresses, encode_ipv4_addresses;
    Ipv6Addresses => ipv6_addresses, encode_ipv6_addresses;
    Common => common, encode_common;
    Ipv6 => ipv6, encode_ipv6;
    Icmpv4 => icmpv4, encode_icmpv4;
    Icmpv6 => icmpv6, encode_icmpv6;
    Tcp => tcp, encode_tcp;
    Mptcp => mptcp, encode_mptcp;
}

/// The sections of a template, in order.
fn sections_of(kind: Kind) -> Vec<Section> {
    let mut v = Vec::with_capacity(5);
    if kind.ipv6 {
        v.extend([Section::Ipv6Addresses, Section::Common, Section::Ipv6]);
    } else {
        v.extend([Section::Ipv4Addresses, Section::Common]);
    }
    match (kind.layer, kind.ipv6) {
        (Layer::Other, _) => {}
        (Layer::Icmp, false) => v.push(Section::Icmpv4),
        (Layer::Icmp, true) => v.push(Section::Icmpv6),
        (Layer::Tcp, _) => v.push(Section::Tcp),
        (Layer::Mptcp, _) => v.extend([Section::Tcp, Section::Mptcp]),
    }
    v
}

fn build_spec(kind: Kind, pen: u32, flags_len: u16) -> Spec {
    let settings = Settings {
        pen,
        flags_len,
        options_len: if kind.wide_options { 32 } else { 8 },
    };
    let mut fields = Vec::with_capacity(48);
    let mut getters = Vec::with_capacity(48);
    let mut sections = Vec::new();
    for section in sections_of(kind) {
        let start = fields.len();
        for (field, get) in section.fields(&settings) {
            fields.push(field);
            getters.push(get);
        }
        sections.push((section, start..fields.len()));
    }
    Spec {
        kind,
        template: Template::new(kind.template_id(), fields),
        getters,
        sections,
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
            let covered: usize = s.sections.iter().map(|(_, r)| r.len()).sum();
            assert_eq!(s.template.fields.len(), covered);
            assert_eq!(s.kind.template_id(), s.template.id);
        }
    }
}
