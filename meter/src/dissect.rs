//! STUB — replaced by the real dissector.
use crate::packet::{DropReason, LinkType, PacketMeta};
pub fn dissect(
    _link: LinkType,
    _frame: &[u8],
    wire_len: u32,
    ts_ns: u64,
    meta: &mut PacketMeta,
) -> Result<(), DropReason> {
    *meta = PacketMeta {
        ts_ns,
        wire_len,
        ..Default::default()
    };
    Err(DropReason::NotIp)
}
