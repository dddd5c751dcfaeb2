//! STUB — replaced by the real TCP option analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpDirInfo {
    pub options_full: [u64; 4],
    pub mss: u16,
    pub has_mss: bool,
    pub window_scale: u8,
    pub has_window_scale: bool,
    pub sack_permitted: bool,
    pub ts_first: u32,
    pub ts_last: u32,
    pub has_ts: bool,
    pub isn: u32,
    pub has_isn: bool,
}
impl TcpDirInfo {
    pub fn tcp_options_legacy(&self) -> u64 {
        0
    }
    pub fn tcp_options_full_be(&self) -> [u8; 32] {
        [0; 32]
    }
    pub fn has_high_kinds(&self) -> bool {
        false
    }
}
#[derive(Clone, Debug, Default)]
pub struct TcpConnInfo {
    pub dir: [TcpDirInfo; 2],
    pub mptcp: Option<Box<crate::flow::mptcp::MptcpConnInfo>>,
}
impl TcpConnInfo {
    pub fn update(&mut self, _dir: usize, _pkt: &crate::packet::PacketMeta) -> u16 {
        0
    }
    pub fn reset_deltas(&mut self) {}
}
