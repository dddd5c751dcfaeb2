//! meter: a flow meter library. The data path, one module per stage:
//!
//! source ([`source`]) → parse ([`wire`], [`dissect`] into [`packet::PacketMeta`]) →
//! flow tables ([`flow`]) → export ([`export`]), driven by [`pipeline`] (capture files) or
//! [`live`] (AF_XDP).

pub mod cli;
pub mod config;
pub mod dissect;
pub mod export;
pub mod flow;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod packet;
pub mod pipeline;
pub mod source;
pub mod wire;
