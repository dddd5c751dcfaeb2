//! Templates and options templates (RFC 7011 §3.4) and their wire encoding.
//!
//! A [`Template`] is a list of [`Field`]s (an IE plus its encoded length); an options
//! template has `scope_fields > 0` and its scope fields first. [`Template::check`] says
//! whether a template can be exported at all; [`Template::data_record_len`] validates a
//! data record against the template without trusting it (checked arithmetic, no panics).

use crate::ie::{Ie, VARLEN};

/// Set ID of a Template Set.
pub const SET_ID_TEMPLATE: u16 = 2;
/// Set ID of an Options Template Set.
pub const SET_ID_OPTIONS_TEMPLATE: u16 = 3;
/// Lowest template ID (IDs 0–255 are set IDs).
pub const MIN_TEMPLATE_ID: u16 = 256;

/// One field of a template: an IE and its encoded length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub ie: Ie,
    /// Encoded length: the IE's default, a reduced size, or [`VARLEN`].
    pub length: u16,
}

impl Field {
    /// The IE at its default length.
    pub const fn new(ie: Ie) -> Field {
        Field {
            ie,
            length: ie.length,
        }
    }

    /// The IE at an explicit length (reduced-size encoding or [`VARLEN`]).
    pub const fn sized(ie: Ie, length: u16) -> Field {
        Field { ie, length }
    }

    /// Octets of this field's specifier in a template record.
    pub const fn specifier_len(&self) -> usize {
        if self.ie.pen == 0 { 4 } else { 8 }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        if self.ie.pen == 0 {
            out.extend_from_slice(&self.ie.id.to_be_bytes());
            out.extend_from_slice(&self.length.to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000 | self.ie.id).to_be_bytes());
            out.extend_from_slice(&self.length.to_be_bytes());
            out.extend_from_slice(&self.ie.pen.to_be_bytes());
        }
    }
}

/// A template (data template when `scope_fields == 0`) or options template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// Template ID, ≥ 256.
    pub id: u16,
    /// Number of scope fields at the start of `fields`; 0 = data template.
    pub scope_fields: u16,
    pub fields: Vec<Field>,
}

impl Template {
    /// A data template.
    pub fn new(id: u16, fields: Vec<Field>) -> Template {
        Template {
            id,
            scope_fields: 0,
            fields,
        }
    }

    /// An options template: `scope` fields first, then `fields`.
    pub fn options(id: u16, scope: Vec<Field>, fields: Vec<Field>) -> Template {
        let scope_fields = u16::try_from(scope.len()).unwrap_or(u16::MAX);
        let mut all = scope;
        all.extend(fields);
        Template {
            id,
            scope_fields,
            fields: all,
        }
    }

    pub fn is_options(&self) -> bool {
        self.scope_fields > 0
    }

    /// The set this template travels in: 2 (template) or 3 (options template).
    pub fn set_id(&self) -> u16 {
        if self.is_options() {
            SET_ID_OPTIONS_TEMPLATE
        } else {
            SET_ID_TEMPLATE
        }
    }

    /// Octets of the template record.
    pub fn record_len(&self) -> usize {
        let header = if self.is_options() { 6 } else { 4 };
        header + self.fields.iter().map(Field::specifier_len).sum::<usize>()
    }

    /// Whether this template can be exported: ID ≥ 256; 1..=65535 fields; for options
    /// templates at least one scope and one non-scope field; IE IDs fit 15 bits; no field
    /// of length 0. (Whether it fits a message is the message builder's business.)
    pub fn check(&self) -> Result<(), String> {
        if self.id < MIN_TEMPLATE_ID {
            return Err(format!(
                "template ID {} is below 256 (IDs 0-255 are reserved for sets)",
                self.id
            ));
        }
        if self.fields.is_empty() || self.fields.len() > usize::from(u16::MAX) {
            return Err(format!(
                "template {} has {} fields (1 to 65535 allowed)",
                self.id,
                self.fields.len()
            ));
        }
        if self.is_options() && usize::from(self.scope_fields) >= self.fields.len() {
            return Err(format!(
                "options template {} needs at least one non-scope field",
                self.id
            ));
        }
        for f in &self.fields {
            if f.ie.id > 0x7FFF {
                return Err(format!(
                    "template {}: IE {} has ID {} which does not fit 15 bits",
                    self.id, f.ie.name, f.ie.id
                ));
            }
            if f.length == 0 {
                return Err(format!(
                    "template {}: IE {} has length 0",
                    self.id, f.ie.name
                ));
            }
        }
        Ok(())
    }

    /// Append the template record (not the set header) to `out`.
    pub fn encode_record_into(&self, out: &mut Vec<u8>) {
        let count = u16::try_from(self.fields.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        if self.is_options() {
            out.extend_from_slice(&self.scope_fields.to_be_bytes());
        }
        for f in self.fields.iter().take(usize::from(count)) {
            f.encode_into(out);
        }
    }

    /// Append a withdrawal record for this template (field count 0, RFC 7011 §8.1).
    pub fn encode_withdrawal_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }

    /// Octets of every data record, or `None` if a field has variable length.
    pub fn fixed_record_len(&self) -> Option<usize> {
        self.fields.iter().try_fold(0usize, |acc, f| {
            (f.length != VARLEN).then(|| acc + usize::from(f.length))
        })
    }

    /// The length of the data record at the start of `data`, walking variable-length
    /// prefixes; `None` if `data` is too short for one record.
    pub fn data_record_len(&self, data: &[u8]) -> Option<usize> {
        let mut pos = 0usize;
        for f in &self.fields {
            let len = if f.length == VARLEN {
                let first = *data.get(pos)?;
                if first < 255 {
                    pos += 1;
                    usize::from(first)
                } else {
                    let hi = *data.get(pos + 1)?;
                    let lo = *data.get(pos + 2)?;
                    pos += 3;
                    usize::from(u16::from_be_bytes([hi, lo]))
                }
            } else {
                usize::from(f.length)
            };
            pos = pos.checked_add(len)?;
            if pos > data.len() {
                return None;
            }
        }
        Some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{enterprise, iana};

    #[test]
    fn data_template_record_bytes() {
        // RFC 7011 §3.4.1: ID, field count, then (id, length) per IANA field and
        // (0x8000|id, length, PEN) per enterprise field.
        let t = Template::new(
            256,
            vec![
                Field::new(iana::SOURCE_IPV4_ADDRESS),
                Field::sized(iana::OCTET_DELTA_COUNT, 4),
                Field::new(enterprise::MPTCP_SENDER_TOKEN.with_pen(32473)),
                Field::sized(iana::INFORMATION_ELEMENT_NAME, VARLEN),
            ],
        );
        let mut out = Vec::new();
        t.encode_record_into(&mut out);
        let expected = [
            0x01, 0x00, 0x00, 0x04, // ID 256, 4 fields
            0x00, 0x08, 0x00, 0x04, // sourceIPv4Address, 4
            0x00, 0x01, 0x00, 0x04, // octetDeltaCount, reduced to 4
            0x84, 0x4F, 0x00, 0x04, 0x00, 0x00, 0x7E, 0xD9, // E|1103, 4, PEN 32473
            0x01, 0x55, 0xFF, 0xFF, // informationElementName, varlen
        ];
        assert_eq!(out, expected);
        assert_eq!(t.record_len(), expected.len());
        assert_eq!(t.fixed_record_len(), None);
        assert_eq!(t.set_id(), 2);
        assert!(t.check().is_ok());
    }

    #[test]
    fn options_template_record_bytes() {
        // RFC 7011 §3.4.2.2: ID, field count, scope field count, scope fields first.
        let t = Template::options(
            400,
            vec![Field::new(iana::OBSERVATION_DOMAIN_ID)],
            vec![
                Field::new(iana::EXPORTED_MESSAGE_TOTAL_COUNT),
                Field::new(enterprise::MPTCP_FLAGS.with_pen(65537)),
            ],
        );
        let mut out = Vec::new();
        t.encode_record_into(&mut out);
        let expected = [
            0x01, 0x90, 0x00, 0x03, 0x00, 0x01, // ID 400, 3 fields, 1 scope
            0x00, 0x95, 0x00, 0x04, // observationDomainId (149), 4
            0x00, 0x29, 0x00, 0x08, // exportedMessageTotalCount (41), 8
            0x84, 0x52, 0x00, 0x02, 0x00, 0x01, 0x00, 0x01, // E|1106, 2, PEN 65537
        ];
        assert_eq!(out, expected);
        assert_eq!(t.set_id(), 3);
        assert_eq!(t.fixed_record_len(), Some(4 + 8 + 2));
        assert!(t.check().is_ok());
    }

    #[test]
    fn check_rejects_bad_templates() {
        assert!(
            Template::new(255, vec![Field::new(iana::IP_VERSION)])
                .check()
                .is_err()
        );
        assert!(Template::new(300, vec![]).check().is_err());
        assert!(
            Template::new(300, vec![Field::sized(iana::IP_VERSION, 0)])
                .check()
                .is_err()
        );
        let mut bad_id = iana::IP_VERSION;
        bad_id.id = 0x8001;
        assert!(
            Template::new(300, vec![Field::new(bad_id)])
                .check()
                .is_err()
        );
        assert!(
            Template::options(300, vec![Field::new(iana::IP_VERSION)], vec![])
                .check()
                .is_err()
        );
    }

    #[test]
    fn data_record_len_walks_varlen() {
        let t = Template::new(
            300,
            vec![
                Field::new(iana::IP_VERSION),
                Field::sized(iana::INFORMATION_ELEMENT_NAME, VARLEN),
            ],
        );
        assert_eq!(t.data_record_len(&[4, 2, b'a', b'b']), Some(4));
        assert_eq!(t.data_record_len(&[4, 3, b'a', b'b']), None);
        assert_eq!(t.data_record_len(&[4, 255, 0, 1, b'x']), Some(5));
        assert_eq!(t.data_record_len(&[4, 255, 0]), None);
        assert_eq!(t.data_record_len(&[]), None);
    }
}
