//! IPFIX message building (RFC 7011 §3): bounded size, sets, sequence numbers.
//!
//! [`MessageBuilder`] packs data records into data sets and messages of at most
//! `max_message_size` octets and hands each finished message to an `emit` callback with
//! the number of data records it carries. Template sets travel in their own messages.
//!
//! Sequence numbers (RFC 7011 §3.1): the header of each message carries the number of data
//! records sent in the session *before* this message, modulo 2^32. Template records do not
//! count. Records that are lost before they reach a message (too large, malformed) are
//! still counted ([`MessageBuilder::skip_records`]), so collectors see the loss as a gap.
//!
//! Never panics: a record that cannot fit even an empty message is refused and counted,
//! never emitted as a broken message.

use crate::template::Template;

/// Version number in the message header.
pub const IPFIX_VERSION: u16 = 10;
/// Octets of the message header.
pub const MESSAGE_HEADER_LEN: usize = 16;
/// Octets of a set header.
pub const SET_HEADER_LEN: usize = 4;
/// Smallest message size a builder accepts (smaller requests are raised to it).
pub const MIN_MESSAGE_SIZE: usize = 256;
/// Largest message size (the header's length field is 16 bits).
pub const MAX_MESSAGE_SIZE: usize = 65535;

/// Clamp a configured message size to what RFC 7011 and this builder allow.
pub fn clamp_message_size(max: usize) -> usize {
    max.clamp(MIN_MESSAGE_SIZE, MAX_MESSAGE_SIZE)
}

fn write_header(msg: &mut [u8], export_time: u32, seq: u32, odid: u32) {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    if let Some(h) = msg.get_mut(..MESSAGE_HEADER_LEN) {
        h[0..2].copy_from_slice(&IPFIX_VERSION.to_be_bytes());
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h[4..8].copy_from_slice(&export_time.to_be_bytes());
        h[8..12].copy_from_slice(&seq.to_be_bytes());
        h[12..16].copy_from_slice(&odid.to_be_bytes());
    }
}

/// Rewrite the sequence number of a finished message (no-op on a short buffer).
pub fn set_sequence(msg: &mut [u8], seq: u32) {
    if let Some(h) = msg.get_mut(8..12) {
        h.copy_from_slice(&seq.to_be_bytes());
    }
}

/// Rewrite the export time of a finished message (no-op on a short buffer).
pub fn set_export_time(msg: &mut [u8], export_time: u32) {
    if let Some(h) = msg.get_mut(4..8) {
        h.copy_from_slice(&export_time.to_be_bytes());
    }
}

/// The sequence number in a message header.
pub fn sequence_of(msg: &[u8]) -> Option<u32> {
    let b = msg.get(8..12)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The export time in a message header.
pub fn export_time_of(msg: &[u8]) -> Option<u32> {
    let b = msg.get(4..8)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Packs records of one kind (template or withdrawal records) into sets and messages.
struct SetPacker {
    odid: u32,
    max: usize,
    export_time: u32,
    seq: u32,
    done: Vec<Vec<u8>>,
    cur: Vec<u8>,
    set: Option<(u16, usize)>,
}

impl SetPacker {
    fn new(odid: u32, max: usize, export_time: u32, seq: u32) -> SetPacker {
        SetPacker {
            odid,
            max,
            export_time,
            seq,
            done: Vec::new(),
            cur: Vec::new(),
            set: None,
        }
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.set.take() {
            let len = u16::try_from(self.cur.len() - start).unwrap_or(u16::MAX);
            if let Some(l) = self.cur.get_mut(start + 2..start + 4) {
                l.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    fn finish_message(&mut self) {
        self.close_set();
        if self.cur.len() > MESSAGE_HEADER_LEN {
            let mut msg = std::mem::take(&mut self.cur);
            write_header(&mut msg, self.export_time, self.seq, self.odid);
            self.done.push(msg);
        }
        self.cur.clear();
    }

    /// Append one record of `rec_len` octets to a set `set_id`; false if it cannot fit
    /// any message.
    fn push(&mut self, set_id: u16, rec_len: usize, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if MESSAGE_HEADER_LEN + SET_HEADER_LEN + rec_len > self.max {
            return false;
        }
        let same_set = matches!(self.set, Some((id, _)) if id == set_id);
        let need = rec_len + if same_set { 0 } else { SET_HEADER_LEN };
        if !self.cur.is_empty() && self.cur.len() + need > self.max {
            self.finish_message();
        }
        if self.cur.is_empty() {
            self.cur.resize(MESSAGE_HEADER_LEN, 0);
            self.set = None;
        }
        if !matches!(self.set, Some((id, _)) if id == set_id) {
            self.close_set();
            self.set = Some((set_id, self.cur.len()));
            self.cur.extend_from_slice(&set_id.to_be_bytes());
            self.cur.extend_from_slice(&[0, 0]);
        }
        write(&mut self.cur);
        true
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.finish_message();
        self.done
    }
}

/// Encode `templates` as template-only messages of at most `max` octets (template and
/// options template sets, in the given order). Returns the messages and the IDs of the
/// templates that cannot fit any message.
pub fn encode_template_messages<'t>(
    odid: u32,
    max: usize,
    templates: impl IntoIterator<Item = &'t Template>,
    export_time: u32,
    seq: u32,
) -> (Vec<Vec<u8>>, Vec<u16>) {
    let mut p = SetPacker::new(odid, clamp_message_size(max), export_time, seq);
    let mut rejected = Vec::new();
    for t in templates {
        if !p.push(t.set_id(), t.record_len(), |out| t.encode_record_into(out)) {
            rejected.push(t.id);
        }
    }
    (p.finish(), rejected)
}

/// Encode withdrawals (RFC 7011 §8.1) of `templates`.
pub fn encode_withdrawal_messages<'t>(
    odid: u32,
    max: usize,
    templates: impl IntoIterator<Item = &'t Template>,
    export_time: u32,
    seq: u32,
) -> Vec<Vec<u8>> {
    let mut p = SetPacker::new(odid, clamp_message_size(max), export_time, seq);
    for t in templates {
        p.push(t.set_id(), 4, |out| t.encode_withdrawal_into(out));
    }
    p.finish()
}

/// True if `msg` carries template withdrawals (its first template record has no fields).
fn is_withdrawal_message(msg: &[u8]) -> bool {
    msg.get(MESSAGE_HEADER_LEN + SET_HEADER_LEN + 2..MESSAGE_HEADER_LEN + SET_HEADER_LEN + 4)
        == Some(&[0, 0])
}

/// Merge consecutive template-only messages into as few messages of at most `max`
/// octets as possible (the header of the first of each group is kept; its length is
/// rewritten). Withdrawal messages stay on their own so a withdrawal and a redefinition
/// of the same ID never share a message.
pub fn merge_template_messages(msgs: Vec<Vec<u8>>, max: usize) -> Vec<Vec<u8>> {
    let max = clamp_message_size(max);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(msgs.len());
    let mut last_mergeable = false;
    for m in msgs {
        let mergeable = !is_withdrawal_message(&m) && m.len() >= MESSAGE_HEADER_LEN;
        match out.last_mut() {
            Some(prev)
                if mergeable
                    && last_mergeable
                    && prev.len() + m.len() - MESSAGE_HEADER_LEN <= max =>
            {
                prev.extend_from_slice(m.get(MESSAGE_HEADER_LEN..).unwrap_or_default());
                let len = u16::try_from(prev.len()).unwrap_or(u16::MAX);
                if let Some(l) = prev.get_mut(2..4) {
                    l.copy_from_slice(&len.to_be_bytes());
                }
            }
            _ => out.push(m),
        }
        last_mergeable = mergeable;
    }
    out
}

/// Builds the messages of one stream of data records.
pub struct MessageBuilder {
    odid: u32,
    max: usize,
    /// The open message; empty = none.
    buf: Vec<u8>,
    /// Offset of the open data set's header in `buf`.
    set_start: Option<usize>,
    set_id: u16,
    /// Data records in the open message.
    records: u32,
    /// Data records before the open message: its header's sequence number.
    seq: u32,
    /// Records lost after the open message started; counted once it is emitted.
    skipped_after: u32,
    opened_at: u32,
    rejected: u64,
}

impl MessageBuilder {
    /// `max_message_size` is clamped to 256..=65535.
    pub fn new(odid: u32, max_message_size: usize) -> MessageBuilder {
        let max = clamp_message_size(max_message_size);
        MessageBuilder {
            odid,
            max,
            buf: Vec::with_capacity(max),
            set_start: None,
            set_id: 0,
            records: 0,
            seq: 0,
            skipped_after: 0,
            opened_at: 0,
            rejected: 0,
        }
    }

    pub fn odid(&self) -> u32 {
        self.odid
    }

    pub fn max_message_size(&self) -> usize {
        self.max
    }

    /// The largest data record that fits a message.
    pub fn max_record_len(&self) -> usize {
        self.max - MESSAGE_HEADER_LEN - SET_HEADER_LEN
    }

    /// Sequence number of the next message to be emitted.
    pub fn next_sequence(&self) -> u32 {
        self.seq
    }

    /// Records waiting in the open message.
    pub fn pending_records(&self) -> u32 {
        self.records
    }

    /// Export time (seconds) at which the open message was started, if one is open.
    pub fn opened_at(&self) -> Option<u32> {
        (!self.buf.is_empty()).then_some(self.opened_at)
    }

    /// Records refused because they were empty or could not fit any message.
    pub fn rejected_records(&self) -> u64 {
        self.rejected
    }

    /// Account for `n` data records that were lost before reaching a message.
    pub fn skip_records(&mut self, n: u32) {
        if self.buf.is_empty() {
            self.seq = self.seq.wrapping_add(n);
        } else {
            self.skipped_after = self.skipped_after.wrapping_add(n);
        }
    }

    fn close_set(&mut self) {
        if let Some(start) = self.set_start.take() {
            let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
            if let Some(l) = self.buf.get_mut(start + 2..start + 4) {
                l.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Append one encoded data record of template `tid`, opening a new data set or
    /// message as needed; finished messages go to `emit(bytes, data_record_count)`.
    /// Returns false (and counts the record as lost) if the record is empty or larger
    /// than any message allows.
    pub fn add_record(
        &mut self,
        tid: u16,
        record: &[u8],
        now: u32,
        emit: &mut impl FnMut(&[u8], u32),
    ) -> bool {
        if record.is_empty() || record.len() > self.max_record_len() {
            self.rejected += 1;
            self.skip_records(1);
            return false;
        }
        let same_set = self.set_start.is_some() && self.set_id == tid;
        let need = record.len() + if same_set { 0 } else { SET_HEADER_LEN };
        if !self.buf.is_empty() && self.buf.len() + need > self.max {
            self.flush(now, emit);
        }
        if self.buf.is_empty() {
            self.buf.resize(MESSAGE_HEADER_LEN, 0);
            self.opened_at = now;
        }
        if self.set_start.is_none() || self.set_id != tid {
            self.close_set();
            self.set_start = Some(self.buf.len());
            self.set_id = tid;
            self.buf.extend_from_slice(&tid.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
        }
        self.buf.extend_from_slice(record);
        self.records += 1;
        true
    }

    /// Emit the open message, if any.
    pub fn flush(&mut self, now: u32, emit: &mut impl FnMut(&[u8], u32)) {
        if self.buf.is_empty() {
            return;
        }
        self.close_set();
        write_header(&mut self.buf, now, self.seq, self.odid);
        emit(&self.buf, self.records);
        self.seq = self
            .seq
            .wrapping_add(self.records)
            .wrapping_add(self.skipped_after);
        self.records = 0;
        self.skipped_after = 0;
        self.buf.clear();
    }

    /// Flush the open message, then emit `templates` in template-only messages (split as
    /// needed). Returns the IDs of templates that cannot fit any message (not sent).
    pub fn add_templates(
        &mut self,
        templates: &[Template],
        now: u32,
        emit: &mut impl FnMut(&[u8], u32),
    ) -> Vec<u16> {
        self.flush(now, emit);
        let (msgs, rejected) =
            encode_template_messages(self.odid, self.max, templates, now, self.seq);
        for m in &msgs {
            emit(m, 0);
        }
        rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{enterprise, iana};
    use crate::template::Field;

    #[test]
    fn one_record_message_bytes() {
        let mut b = MessageBuilder::new(0x01020304, 1472);
        let mut out: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut emit = |m: &[u8], n: u32| out.push((m.to_vec(), n));
        assert!(b.add_record(300, &[0xAA, 0xBB], 7, &mut emit));
        assert_eq!(b.opened_at(), Some(7));
        b.flush(0x11223344, &mut emit);
        assert_eq!(b.opened_at(), None);
        assert_eq!(
            out,
            vec![(
                vec![
                    0x00, 0x0A, 0x00, 0x16, // version 10, length 22
                    0x11, 0x22, 0x33, 0x44, // export time
                    0x00, 0x00, 0x00, 0x00, // sequence 0
                    0x01, 0x02, 0x03, 0x04, // ODID
                    0x01, 0x2C, 0x00, 0x06, // set 300, length 6
                    0xAA, 0xBB,
                ],
                1
            )]
        );
        assert_eq!(b.next_sequence(), 1);
    }

    #[test]
    fn template_message_bytes() {
        let t = Template::new(
            256,
            vec![
                Field::new(iana::PROTOCOL_IDENTIFIER),
                Field::new(enterprise::MPTCP_VERSION.with_pen(32473)),
            ],
        );
        let o = Template::options(
            400,
            vec![Field::new(iana::OBSERVATION_DOMAIN_ID)],
            vec![Field::new(iana::EXPORTED_MESSAGE_TOTAL_COUNT)],
        );
        let (msgs, rejected) = encode_template_messages(5, 1472, [&t, &o], 100, 9);
        assert!(rejected.is_empty());
        assert_eq!(msgs.len(), 1);
        let expected = vec![
            0x00, 0x0A, 0x00, 0x36, // version, length 54
            0x00, 0x00, 0x00, 0x64, // export time 100
            0x00, 0x00, 0x00, 0x09, // seq 9
            0x00, 0x00, 0x00, 0x05, // ODID 5
            0x00, 0x02, 0x00, 0x14, // template set, length 20
            0x01, 0x00, 0x00, 0x02, // ID 256, 2 fields
            0x00, 0x04, 0x00, 0x01, // protocolIdentifier, 1
            0x84, 0x4D, 0x00, 0x01, 0x00, 0x00, 0x7E, 0xD9, // E|1101, 1, PEN 32473
            0x00, 0x03, 0x00, 0x12, // options template set, length 18
            0x01, 0x90, 0x00, 0x02, 0x00, 0x01, // ID 400, 2 fields, 1 scope
            0x00, 0x95, 0x00, 0x04, // observationDomainId, 4
            0x00, 0x29, 0x00, 0x08, // exportedMessageTotalCount, 8
        ];
        assert_eq!(msgs[0], expected);
        let w = encode_withdrawal_messages(5, 1472, [&t, &o], 100, 9);
        assert_eq!(
            w,
            vec![vec![
                0x00, 0x0A, 0x00, 0x20, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00,
                0x00, 0x05, 0x00, 0x02, 0x00, 0x08, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x08,
                0x01, 0x90, 0x00, 0x00,
            ]]
        );
    }

    #[test]
    fn messages_never_exceed_max_and_sequence_counts_records() {
        let mut b = MessageBuilder::new(1, 256);
        let mut out: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut emit = |m: &[u8], n: u32| out.push((m.to_vec(), n));
        // 100-octet records: 16 + 4 + 2*100 = 220 fits, a third would be 320.
        for i in 0..10u8 {
            let tid = if i % 4 == 3 { 301 } else { 300 };
            assert!(b.add_record(tid, &[i; 100], 1, &mut emit));
        }
        b.flush(2, &mut emit);
        let mut seq = 0u32;
        let mut total = 0u32;
        for (m, n) in &out {
            assert!(m.len() <= 256, "message of {} octets", m.len());
            assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])), m.len());
            assert_eq!(sequence_of(m), Some(seq));
            seq += n;
            total += n;
            // Walk the sets: lengths must add up to the message.
            let mut pos = 16;
            let mut recs = 0;
            while pos < m.len() {
                let len = usize::from(u16::from_be_bytes([m[pos + 2], m[pos + 3]]));
                assert!(len >= 4 && pos + len <= m.len());
                recs += (len - 4) / 100;
                pos += len;
            }
            assert_eq!(pos, m.len());
            assert_eq!(recs as u32, *n);
        }
        assert_eq!(total, 10);
        assert_eq!(b.next_sequence(), 10);
    }

    #[test]
    fn oversized_record_is_refused_and_counted() {
        let mut b = MessageBuilder::new(1, 10); // clamped to 256
        assert_eq!(b.max_message_size(), 256);
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut emit = |m: &[u8], _n: u32| out.push(m.to_vec());
        assert!(b.add_record(300, &[1; 10], 0, &mut emit));
        assert!(!b.add_record(300, &[2; 237], 0, &mut emit));
        assert!(!b.add_record(300, &[], 0, &mut emit));
        assert!(b.add_record(300, &[3; 236], 0, &mut emit)); // exactly 256 with headers
        b.flush(0, &mut emit);
        assert_eq!(b.rejected_records(), 2);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 16 + 4 + 10);
        assert_eq!(out[1].len(), 256);
        assert_eq!(sequence_of(&out[0]), Some(0));
        // The two refused records came after the first one: the gap shows them as lost.
        assert_eq!(sequence_of(&out[1]), Some(3));
        assert_eq!(b.next_sequence(), 4);
    }

    #[test]
    fn merging_template_messages() {
        let a = Template::new(256, vec![Field::new(iana::IP_VERSION)]);
        let b = Template::new(257, vec![Field::new(iana::PROTOCOL_IDENTIFIER)]);
        let one = |t: &Template| encode_template_messages(1, 1472, [t], 5, 0).0;
        let withdraw = encode_withdrawal_messages(1, 1472, [&a], 5, 0);
        let mut msgs = one(&a);
        msgs.extend(one(&b));
        msgs.extend(withdraw.clone());
        msgs.extend(one(&a));
        msgs.extend(one(&b));
        let merged = merge_template_messages(msgs, 1472);
        let both = encode_template_messages(1, 1472, [&a, &b], 5, 0).0;
        // Two sets of one template each instead of one set with two: same content.
        let mut want = one(&a)[0].clone();
        want.extend_from_slice(&one(&b)[0][16..]);
        let len = want.len() as u16;
        want[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(merged, vec![want.clone(), withdraw[0].clone(), want]);
        assert_eq!(both[0].len() + 4, merged[0].len());
        // A size limit keeps them apart: 144 + 128 octets would exceed 256.
        let wide = |id| Template::new(id, vec![Field::new(iana::IP_VERSION); 30]);
        let mut msgs = one(&wide(300));
        msgs.extend(one(&wide(301)));
        assert_eq!(msgs[0].len(), 144);
        assert_eq!(merge_template_messages(msgs.clone(), 256), msgs);
        assert_eq!(merge_template_messages(msgs.clone(), 272).len(), 1);
    }

    #[test]
    fn templates_split_across_messages() {
        let fields: Vec<Field> = (0..20)
            .map(|_| Field::new(enterprise::MPTCP_FLAGS.with_pen(32473)))
            .collect();
        // Each template record: 4 + 20 * 8 = 164 octets; two cannot share 256.
        let ts: Vec<Template> = (0..3)
            .map(|i| Template::new(256 + i, fields.clone()))
            .collect();
        let mut b = MessageBuilder::new(1, 256);
        let mut out: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut emit = |m: &[u8], n: u32| out.push((m.to_vec(), n));
        let rejected = b.add_templates(&ts, 0, &mut emit);
        assert!(rejected.is_empty());
        assert_eq!(out.len(), 3);
        for (m, n) in &out {
            assert_eq!(*n, 0);
            assert_eq!(m.len(), 16 + 4 + 164);
        }
        let huge = Template::new(999, vec![Field::new(iana::IP_VERSION); 70]);
        assert_eq!(b.add_templates(&[huge], 0, &mut |_, _| {}), vec![999]);
    }
}
