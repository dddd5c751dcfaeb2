//! STUB — replaced by the real MPTCP analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertisedAddr {
    pub id: u8,
    pub addr: std::net::IpAddr,
    pub port: u16,
    pub echo: bool,
}
#[derive(Clone, Debug, Default)]
pub struct MptcpDirInfo {
    pub subtypes: u16,
    pub capable_flags: u8,
    pub sender_token: u32,
    pub sender_idsn: u64,
    pub has_sender_token: bool,
    pub address_id: u8,
    pub has_address_id: bool,
    pub flags: u16,
    pub rst_reason: u8,
    pub has_rst_reason: bool,
    pub dsn_first: u64,
    pub dsn_last: u64,
    pub has_dsn: bool,
    pub data_ack_last: u64,
    pub has_data_ack: bool,
    pub mapped_octets: u64,
    pub add_addr_count: u16,
    pub remove_addr_count: u16,
    pub advertised: [Option<AdvertisedAddr>; 4],
    pub removed_ids: [u64; 4],
}
impl MptcpDirInfo {
    pub fn first_advertised(&self) -> Option<AdvertisedAddr> {
        None
    }
    pub fn removed_ids(&self) -> impl Iterator<Item = u8> + '_ {
        std::iter::empty()
    }
}
#[derive(Clone, Debug)]
pub struct MptcpConnInfo {
    pub version: Option<u8>,
    pub dir: [MptcpDirInfo; 2],
}
impl MptcpConnInfo {
    pub fn receiver_token(&self, _dir: usize) -> Option<u32> {
        None
    }
}
