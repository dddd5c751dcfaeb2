//! Messages built by this crate, decoded by an independent IPFIX decoder
//! (netflow_parser): templates, options templates, data and options data, including
//! enterprise IEs under the documentation PEN 32473, reduced-size and variable-length
//! fields. Expected values are the inputs, converted by hand to their wire form.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{decode, header, is_template_message, parser, raw, records_of, templates_of};
use ipfix_export::ie::{VARLEN, enterprise as ent, iana};
use ipfix_export::message::MessageBuilder;
use ipfix_export::options;
use ipfix_export::template::{Field, Template};
use ipfix_export::value::{FieldSink, RecordEncoder, Value};
use netflow_parser::{DataNumber, FieldValue};

const PEN: u32 = 32473;

fn v4_template() -> Template {
    let e = |ie: ipfix_export::Ie| ie.with_pen(PEN);
    Template::new(
        256,
        vec![
            Field::new(iana::SOURCE_IPV4_ADDRESS),
            Field::new(iana::DESTINATION_IPV4_ADDRESS),
            Field::new(iana::SOURCE_TRANSPORT_PORT),
            Field::new(iana::DESTINATION_TRANSPORT_PORT),
            Field::new(iana::PROTOCOL_IDENTIFIER),
            Field::new(iana::OCTET_DELTA_COUNT),
            Field::sized(iana::PACKET_DELTA_COUNT, 4),
            Field::new(iana::FLOW_START_MILLISECONDS),
            Field::new(iana::FLOW_END_MILLISECONDS),
            Field::new(iana::TCP_CONTROL_BITS),
            Field::sized(iana::TCP_OPTIONS_FULL, 8),
            Field::new(iana::FLOW_END_REASON),
            Field::new(iana::MPLS_TOP_LABEL_STACK_SECTION),
            Field::new(e(ent::MPTCP_SENDER_TOKEN)),
            Field::new(e(ent::MPTCP_IDSN)),
            Field::new(e(ent::TCP_SACK_PERMITTED)),
            Field::new(e(ent::MPTCP_FIRST_ADVERTISED_IPV6_ADDRESS)),
            Field::sized(e(ent::MPTCP_REMOVED_ADDRESS_ID_LIST), VARLEN),
        ],
    )
}

fn v6_template() -> Template {
    Template::new(
        257,
        vec![
            Field::new(iana::SOURCE_IPV6_ADDRESS),
            Field::new(iana::DESTINATION_IPV6_ADDRESS),
            Field::new(iana::FLOW_LABEL_IPV6),
            Field::sized(iana::IPV6_EXTENSION_HEADERS_FULL, 4),
            Field::new(iana::ICMP_TYPE_CODE_IPV6),
            Field::sized(iana::OCTET_DELTA_COUNT, 4),
        ],
    )
}

struct V4Flow {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    octets: u64,
    packets: u64,
    start_ms: u64,
    end_ms: u64,
    flags: u16,
    options_low64: u64,
    mpls: u32,
    token: u32,
    idsn: u64,
    sack: bool,
    adv6: Ipv6Addr,
    removed: Vec<u8>,
}

fn flow(i: u32) -> V4Flow {
    V4Flow {
        src: Ipv4Addr::from(0xC000_0200 + i),
        dst: Ipv4Addr::new(198, 51, 100, (i % 250) as u8),
        sport: 40000 + i as u16,
        dport: 443,
        octets: 0x1_0000_0000 + u64::from(i) * 1000,
        packets: 10 + u64::from(i),
        start_ms: 1_700_000_000_000 + u64::from(i),
        end_ms: 1_700_000_005_000 + u64::from(i),
        flags: 0x0112,
        options_low64: 0x4000_000D,
        mpls: 0x0001_2341,
        token: 0xDEAD_0000 | i,
        idsn: 0x0123_4567_89AB_CDEF ^ u64::from(i),
        sack: i.is_multiple_of(2),
        adv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16),
        removed: (0..(i % 4) as u8).collect(),
    }
}

fn encode_v4(t: &Template, f: &V4Flow, out: &mut Vec<u8>) {
    let mut opts = [0u8; 32];
    opts[24..].copy_from_slice(&f.options_low64.to_be_bytes());
    let values = [
        Value::Ipv4(f.src),
        Value::Ipv4(f.dst),
        Value::U16(f.sport),
        Value::U16(f.dport),
        Value::U8(6),
        Value::U64(f.octets),
        Value::U64(f.packets),
        Value::DateTimeMs(f.start_ms),
        Value::DateTimeMs(f.end_ms),
        Value::U16(f.flags),
        Value::U256(opts),
        Value::U8(3),
        Value::U32(f.mpls),
        Value::U32(f.token),
        Value::U64(f.idsn),
        Value::Bool(f.sack),
        Value::Ipv6(f.adv6),
        Value::BasicList {
            element: ent::MPTCP_ADDRESS_ID.with_pen(PEN),
            semantic: 3,
            values: &f.removed,
            element_len: 1,
        },
    ];
    let mut enc = RecordEncoder::new(out);
    for (field, v) in t.fields.iter().zip(values) {
        enc.put(field, v);
    }
    assert_eq!(enc.mismatches, 0);
}

/// The wire form of each field, derived from the inputs by hand.
fn expected_v4(f: &V4Flow) -> Vec<Vec<u8>> {
    let mut list = vec![3u8, 0x84, 0x51, 0x00, 0x01, 0x00, 0x00, 0x7E, 0xD9];
    list.extend_from_slice(&f.removed);
    vec![
        f.src.octets().to_vec(),
        f.dst.octets().to_vec(),
        f.sport.to_be_bytes().to_vec(),
        f.dport.to_be_bytes().to_vec(),
        vec![6],
        f.octets.to_be_bytes().to_vec(),
        (f.packets as u32).to_be_bytes().to_vec(),
        f.start_ms.to_be_bytes().to_vec(),
        f.end_ms.to_be_bytes().to_vec(),
        f.flags.to_be_bytes().to_vec(),
        f.options_low64.to_be_bytes().to_vec(),
        vec![3],
        f.mpls.to_be_bytes()[1..].to_vec(),
        f.token.to_be_bytes().to_vec(),
        f.idsn.to_be_bytes().to_vec(),
        vec![if f.sack { 1 } else { 2 }],
        f.adv6.octets().to_vec(),
        list,
    ]
}

fn specs(t: &Template) -> Vec<(u16, u16, Option<u32>)> {
    t.fields
        .iter()
        .map(|f| (f.ie.id, f.length, (f.ie.pen != 0).then_some(f.ie.pen)))
        .collect()
}

#[test]
fn independent_decoder_reads_everything() {
    let t4 = v4_template();
    let t6 = v6_template();
    let stats = options::metering_stats_template();
    let types = options::ie_type_template();
    let all = [t4.clone(), t6.clone(), stats.clone(), types.clone()];

    let mut b = MessageBuilder::new(42, 512);
    let mut msgs: Vec<(Vec<u8>, u32)> = Vec::new();
    let mut emit = |m: &[u8], n: u32| msgs.push((m.to_vec(), n));
    assert!(b.add_templates(&all, 1_700_000_100, &mut emit).is_empty());

    let flows: Vec<V4Flow> = (0..12).map(flow).collect();
    let mut rec = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        rec.clear();
        encode_v4(&t4, f, &mut rec);
        assert!(b.add_record(256, &rec, 1_700_000_100, &mut emit));
        if i == 5 {
            // An IPv6 record in between: a new data set in the same message.
            rec.clear();
            let mut enc = RecordEncoder::new(&mut rec);
            let vals = [
                Value::Ipv6("2001:db8::1".parse().unwrap()),
                Value::Ipv6("2001:db8::2".parse().unwrap()),
                Value::U32(0x000A_BCDE),
                Value::U256({
                    let mut v = [0u8; 32];
                    v[31] = 0b1001_0001; // DST, FRA0, MOB... any bits
                    v
                }),
                Value::U16(0x8000),
                Value::U64(1500),
            ];
            for (field, v) in t6.fields.iter().zip(vals) {
                enc.put(field, v);
            }
            assert!(b.add_record(257, &rec, 1_700_000_100, &mut emit));
        }
    }
    // Options data: statistics and a type record per enterprise IE.
    rec.clear();
    let mut enc = RecordEncoder::new(&mut rec);
    let stat_vals = [
        Value::U32(42),
        Value::U64(7),
        Value::U64(13),
        Value::U64(9000),
    ];
    for (field, v) in stats.fields.iter().zip(stat_vals) {
        enc.put(field, v);
    }
    assert!(b.add_record(options::TID_METERING_STATS, &rec, 1_700_000_101, &mut emit));
    for ie in ent::ALL {
        rec.clear();
        options::write_ie_type_record(&mut RecordEncoder::new(&mut rec), &ie.with_pen(PEN));
        assert!(b.add_record(options::TID_IE_TYPE, &rec, 1_700_000_101, &mut emit));
    }
    b.flush(1_700_000_102, &mut emit);

    let mut p = parser();
    let mut seq = 0u32;
    let mut v4_seen = Vec::new();
    let mut v6_seen = 0;
    let mut stats_seen = 0;
    let mut types_seen = Vec::new();
    let mut template_defs = Vec::new();
    for (m, n) in &msgs {
        assert!(m.len() <= 512);
        let d = decode(&mut p, m);
        assert_eq!(d.header.version, 10);
        assert_eq!(d.header.observation_domain_id, 42);
        assert_eq!(usize::from(d.header.length), m.len());
        // Sequence number = data records before this message; templates do not count.
        assert_eq!(d.header.sequence_number, seq);
        assert_eq!(header(m).3, seq);
        seq += n;
        template_defs.extend(templates_of(&d));
        let recs = records_of(&d);
        assert_eq!(recs.len() as u32, *n);
        if *n == 0 {
            assert!(is_template_message(m));
        }
        for (set, values) in recs {
            match set {
                256 => v4_seen.push(values),
                257 => {
                    v6_seen += 1;
                    assert_eq!(
                        values[0],
                        FieldValue::Ip6Addr("2001:db8::1".parse().unwrap())
                    );
                    assert_eq!(
                        values[1],
                        FieldValue::Ip6Addr("2001:db8::2".parse().unwrap())
                    );
                    assert_eq!(raw(&values[2]), vec![0, 0x0A, 0xBC, 0xDE]);
                    assert_eq!(raw(&values[3]), vec![0, 0, 0, 0b1001_0001]);
                    assert_eq!(raw(&values[4]), vec![0x80, 0]);
                    assert_eq!(raw(&values[5]), 1500u32.to_be_bytes().to_vec());
                }
                400 => {
                    stats_seen += 1;
                    let want: [&[u8]; 4] = [
                        &42u32.to_be_bytes(),
                        &7u64.to_be_bytes(),
                        &13u64.to_be_bytes(),
                        &9000u64.to_be_bytes(),
                    ];
                    for (v, w) in values.iter().zip(want) {
                        assert_eq!(raw(v), w);
                    }
                }
                403 => types_seen.push(values),
                other => panic!("unexpected set {other}"),
            }
        }
    }
    assert_eq!(seq, 12 + 1 + 1 + ent::ALL.len() as u32);

    // Templates as the independent decoder read them.
    let def = |id: u16| {
        template_defs
            .iter()
            .find(|(t, ..)| *t == id)
            .unwrap_or_else(|| panic!("template {id} not decoded"))
            .clone()
    };
    assert_eq!(def(256), (256, 0, specs(&t4)));
    assert_eq!(def(257), (257, 0, specs(&t6)));
    assert_eq!(def(400), (400, 1, specs(&stats)));
    assert_eq!(def(403), (403, 2, specs(&types)));
    assert_eq!(def(256).2[13], (1103, 4, Some(32473)));

    assert_eq!(v4_seen.len(), flows.len());
    for (values, f) in v4_seen.iter().zip(&flows) {
        assert_eq!(values.len(), 18);
        assert_eq!(values[0], FieldValue::Ip4Addr(f.src));
        assert_eq!(values[1], FieldValue::Ip4Addr(f.dst));
        // The registered enterprise IE under PEN 32473 comes back as a number.
        assert_eq!(values[13], FieldValue::DataNumber(DataNumber::U32(f.token)));
        for (i, (v, want)) in values.iter().zip(expected_v4(f)).enumerate() {
            assert_eq!(raw(v), want, "field {i} of flow {:?}", f.src);
        }
    }
    assert_eq!(v6_seen, 1);
    assert_eq!(stats_seen, 1);

    assert_eq!(types_seen.len(), ent::ALL.len());
    for (values, ie) in types_seen.iter().zip(ent::ALL) {
        assert_eq!(raw(&values[0]), PEN.to_be_bytes().to_vec());
        assert_eq!(raw(&values[1]), ie.id.to_be_bytes().to_vec());
        assert_eq!(raw(&values[2]), vec![ie.data_type as u8]);
        assert_eq!(raw(&values[3]), vec![ie.semantics as u8]);
        assert_eq!(raw(&values[4]), (ie.units as u16).to_be_bytes().to_vec());
        match (&values[5], &values[6]) {
            (FieldValue::String(n), FieldValue::String(d)) => {
                assert_eq!(n.value, ie.name);
                assert_eq!(d.value, ie.description);
            }
            other => panic!("name/description not strings: {other:?}"),
        }
    }
}

#[test]
fn enterprise_table_matches_reference() {
    // Reference §4.4 plus the task's additions, written out by hand.
    use ipfix_export::ie::{DataType as T, Semantics as S};
    let want: &[(&str, u16, T, S)] = &[
        ("mptcpOptionSubtypes", 1100, T::Unsigned16, S::Flags),
        ("mptcpVersion", 1101, T::Unsigned8, S::Identifier),
        ("mptcpCapableFlags", 1102, T::Unsigned8, S::Flags),
        ("mptcpSenderToken", 1103, T::Unsigned32, S::Identifier),
        ("mptcpIdsn", 1104, T::Unsigned64, S::Identifier),
        ("mptcpAddressId", 1105, T::Unsigned8, S::Identifier),
        ("mptcpFlags", 1106, T::Unsigned16, S::Flags),
        ("mptcpRstReason", 1107, T::Unsigned8, S::Identifier),
        ("mptcpDsnFirst", 1108, T::Unsigned64, S::Identifier),
        ("mptcpDsnLast", 1109, T::Unsigned64, S::Identifier),
        ("mptcpDataAckLast", 1110, T::Unsigned64, S::Identifier),
        (
            "mptcpMappedOctetDeltaCount",
            1111,
            T::Unsigned64,
            S::DeltaCounter,
        ),
        ("mptcpAddAddrCount", 1112, T::Unsigned16, S::TotalCounter),
        ("mptcpRemoveAddrCount", 1113, T::Unsigned16, S::TotalCounter),
        (
            "mptcpAdvertisedAddressList",
            1114,
            T::SubTemplateList,
            S::List,
        ),
        (
            "mptcpAdvertisedIPv4Address",
            1115,
            T::Ipv4Address,
            S::Default,
        ),
        (
            "mptcpAdvertisedIPv6Address",
            1116,
            T::Ipv6Address,
            S::Default,
        ),
        ("mptcpAdvertisedPort", 1117, T::Unsigned16, S::Default),
        ("mptcpAddAddrEcho", 1118, T::Boolean, S::Default),
        ("mptcpRemovedAddressIdList", 1119, T::BasicList, S::List),
        (
            "mptcpFirstAdvertisedIPv4Address",
            1120,
            T::Ipv4Address,
            S::Default,
        ),
        (
            "mptcpFirstAdvertisedIPv6Address",
            1121,
            T::Ipv6Address,
            S::Default,
        ),
        ("mptcpFirstAdvertisedPort", 1122, T::Unsigned16, S::Default),
        ("mptcpReceiverToken", 1123, T::Unsigned32, S::Identifier),
        ("tcpMaximumSegmentSize", 1130, T::Unsigned16, S::Quantity),
        ("tcpSackPermitted", 1131, T::Boolean, S::Default),
        ("tcpTimestampFirst", 1132, T::Unsigned32, S::Identifier),
        ("tcpTimestampLast", 1133, T::Unsigned32, S::Identifier),
        // Live capture counters (not in the reference: the meter's own).
        (
            "captureXdpSeenTotalCount",
            1140,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureXdpRedirectedTotalCount",
            1141,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureXdpPassedTotalCount",
            1142,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "capturePrefilterDroppedTotalCount",
            1143,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureXdpUnparsableTotalCount",
            1144,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureSocketDroppedTotalCount",
            1145,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureSocketRingFullTotalCount",
            1146,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureSocketInvalidDescTotalCount",
            1147,
            T::Unsigned64,
            S::TotalCounter,
        ),
        (
            "captureFillRingEmptyTotalCount",
            1148,
            T::Unsigned64,
            S::TotalCounter,
        ),
    ];
    assert_eq!(ent::ALL.len(), want.len());
    for (name, id, dt, sem) in want {
        let ie = ipfix_export::ie::lookup(PEN, *id).unwrap_or_else(|| panic!("{id}"));
        assert_eq!(
            (ie.name, ie.data_type, ie.semantics, ie.pen),
            (*name, *dt, *sem, 0)
        );
    }
    assert_eq!(
        ent::TCP_MAXIMUM_SEGMENT_SIZE.units,
        ipfix_export::ie::Units::Octets
    );
    assert_eq!(
        ent::MPTCP_MAPPED_OCTET_DELTA_COUNT.units,
        ipfix_export::ie::Units::Octets
    );
    // IANA lookups, with values from the IANA registry.
    let tof = ipfix_export::ie::lookup(0, 520).unwrap();
    assert_eq!(
        (tof.name, tof.data_type, tof.length),
        ("tcpOptionsFull", T::Unsigned256, 32)
    );
    assert_eq!(ipfix_export::ie::lookup(0, 6).unwrap().length, 2);
    assert_eq!(ipfix_export::ie::lookup(0, 70).unwrap().length, 3);
    assert!(ipfix_export::ie::lookup(0, 1103).is_none());
    assert!(ipfix_export::ie::lookup(PEN, 8).is_none());
}
