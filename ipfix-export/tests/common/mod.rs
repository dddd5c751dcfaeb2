//! Test helpers: an independent decoder (netflow_parser) and a minimal hand-written walk
//! of the RFC 7011 message layout, so tests check the bytes without trusting the code
//! under test.
#![allow(dead_code)]

use netflow_parser::variable_versions::enterprise_registry::EnterpriseFieldDef;
use netflow_parser::variable_versions::ipfix::{FlowSetBody, IPFix, TemplateField};
use netflow_parser::{FieldDataType, FieldValue, NetflowPacket, NetflowParser};

/// A parser that knows mptcpSenderToken under the documentation PEN, so that one
/// enterprise IE is decoded as a number rather than raw bytes.
pub fn parser() -> NetflowParser {
    NetflowParser::builder()
        .register_enterprise_field(EnterpriseFieldDef::new(
            32473,
            1103,
            "mptcpSenderToken",
            FieldDataType::UnsignedDataNumber,
        ))
        .build()
        .expect("parser configuration")
}

/// Decode one message; every message we produce must decode without error.
pub fn decode(p: &mut NetflowParser, msg: &[u8]) -> IPFix {
    let r = p.parse_bytes(msg);
    assert!(
        r.error.is_none(),
        "decode error {:?} for {:02x?}",
        r.error,
        msg
    );
    assert_eq!(r.packets.len(), 1, "one message expected in {:02x?}", msg);
    match r.packets.into_iter().next() {
        Some(NetflowPacket::IPFix(m)) => m,
        other => panic!("not IPFIX: {other:?}"),
    }
}

/// The wire bytes of a decoded value, as the independent decoder understood them.
pub fn raw(v: &FieldValue) -> Vec<u8> {
    let mut b = Vec::new();
    v.write_be_bytes(&mut b).expect("re-encode");
    b
}

/// A decoded template field: (id, length, PEN).
pub type Spec = (u16, u16, Option<u32>);

/// A decoded template: (template id, scope field count, fields).
pub type Def = (u16, u16, Vec<Spec>);

/// A decoded template field: (id, length, PEN).
pub fn spec(f: &TemplateField) -> Spec {
    (f.field_type_number, f.field_length, f.enterprise_number)
}

/// Template definitions in a decoded message: (template id, scope count, fields).
pub fn templates_of(m: &IPFix) -> Vec<Def> {
    let mut out = Vec::new();
    for fs in &m.flowsets {
        match &fs.body {
            FlowSetBody::Template(t) => {
                out.push((t.template_id, 0, t.fields.iter().map(spec).collect()))
            }
            FlowSetBody::Templates(ts) => {
                for t in ts {
                    out.push((t.template_id, 0, t.fields.iter().map(spec).collect()));
                }
            }
            FlowSetBody::OptionsTemplate(t) => out.push((
                t.template_id,
                t.scope_field_count,
                t.fields.iter().map(spec).collect(),
            )),
            FlowSetBody::OptionsTemplates(ts) => {
                for t in ts {
                    out.push((
                        t.template_id,
                        t.scope_field_count,
                        t.fields.iter().map(spec).collect(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// Data records of a decoded message: (set id, values in template order).
pub fn records_of(m: &IPFix) -> Vec<(u16, Vec<FieldValue>)> {
    let mut out = Vec::new();
    for fs in &m.flowsets {
        let recs: Vec<Vec<FieldValue>> = match &fs.body {
            FlowSetBody::Data(d) => d
                .fields
                .iter()
                .map(|r| r.iter().map(|(_, v)| v.clone()).collect())
                .collect(),
            FlowSetBody::OptionsData(d) => d
                .fields
                .iter()
                .map(|r| r.iter().map(|(_, v)| v.clone()).collect())
                .collect(),
            FlowSetBody::NoTemplate(info) => panic!("no template for set {}", info.template_id),
            _ => continue,
        };
        for r in recs {
            out.push((fs.header.header_id, r));
        }
    }
    out
}

/// Header fields read by hand: (version, length, export time, sequence, ODID).
pub fn header(msg: &[u8]) -> (u16, u16, u32, u32, u32) {
    let u16_at = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let u32_at = |i: usize| u32::from_be_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
    (u16_at(0), u16_at(2), u32_at(4), u32_at(8), u32_at(12))
}

/// Sets of a message read by hand: (set id, body). Panics on a malformed layout.
pub fn sets(msg: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let (_, len, ..) = header(msg);
    assert_eq!(usize::from(len), msg.len(), "header length");
    let mut pos = 16;
    let mut out = Vec::new();
    while pos < msg.len() {
        let id = u16::from_be_bytes([msg[pos], msg[pos + 1]]);
        let l = usize::from(u16::from_be_bytes([msg[pos + 2], msg[pos + 3]]));
        assert!(l >= 4 && pos + l <= msg.len(), "set length {l} at {pos}");
        out.push((id, msg[pos + 4..pos + l].to_vec()));
        pos += l;
    }
    out
}

/// True if the message holds only template / options template sets.
pub fn is_template_message(msg: &[u8]) -> bool {
    sets(msg).iter().all(|(id, _)| *id == 2 || *id == 3)
}

/// Split a byte stream (file or TCP) into messages by their length fields.
pub fn split_messages(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 16, "truncated header");
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        assert!(len >= 16 && len <= data.len(), "bad message length {len}");
        out.push(data[..len].to_vec());
        data = &data[len..];
    }
    out
}

/// Read one message from a stream.
pub fn read_message(r: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 16];
    r.read_exact(&mut h)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    assert!(len >= 16, "bad message length {len}");
    let mut msg = h.to_vec();
    msg.resize(len, 0);
    r.read_exact(&mut msg[16..])?;
    Ok(msg)
}
