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
pub mod huge_pages;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod packet;
pub mod pipeline;
pub mod source;
pub mod wire;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A deterministic 64-bit xorshift stream (Marsaglia's 13/7/17), for tests that want
    /// reproducible noise without a dependency.
    pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }
}
