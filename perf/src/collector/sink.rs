//! A UDP sink on 127.0.0.1: a background thread keeps every datagram until told to stop
//! or until a quiet period passes after the last datagram, then the datagrams can be
//! written as a pcap (Ethernet / IPv4 / UDP to the sink's port) for tshark.
//!
//! Stopping is an event, not a poll: `stop()` sends a random token datagram from a socket
//! the sink knows; loopback delivery is in order, so everything sent before `stop()` was
//! called has been received when the token arrives. The quiet period is the socket's read
//! timeout.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{HarnessError, io_err};
use crate::r#gen::packet::{self, Ethernet, Frame, Ip, Ipv4, L4, Link, Payload, Udp};
use crate::r#gen::pcap::{LinkType, PcapWriter};
use crate::r#gen::rng::SplitMix64;

/// One received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Receive time, ns since the Unix epoch.
    pub ts_ns: u64,
    pub src: SocketAddr,
    pub payload: Vec<u8>,
}

/// Everything a sink received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    /// The sink's port (destination port in the written pcap).
    pub port: u16,
    pub datagrams: Vec<Datagram>,
}

type Collected = Result<Vec<Datagram>, std::io::Error>;

/// A running sink (see the module doc). Dropping it stops the thread.
pub struct UdpSink {
    port: u16,
    stopper: UdpSocket,
    token: [u8; 16],
    handle: Option<JoinHandle<Collected>>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl UdpSink {
    /// Bind 127.0.0.1:0 and start receiving. The thread ends when [`UdpSink::stop`] is
    /// called, or when `quiet` passes without a datagram after at least one arrived, or
    /// when `max_wait` has passed in total.
    pub fn start(quiet: Duration, max_wait: Duration) -> Result<UdpSink, HarnessError> {
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(io_err("bind UDP sink"))?;
        let port = sock.local_addr().map_err(io_err("sink address"))?.port();
        let stopper = UdpSocket::bind("127.0.0.1:0").map_err(io_err("bind sink stopper"))?;
        let stopper_addr = stopper.local_addr().map_err(io_err("stopper address"))?;
        let mut rng = SplitMix64::new(now_ns() ^ u64::from(std::process::id()) << 32);
        let mut token = [0u8; 16];
        token[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        token[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
        sock.set_read_timeout(Some(quiet.max(Duration::from_millis(1))))
            .map_err(io_err("sink read timeout"))?;
        let handle = thread::spawn(move || collect(sock, stopper_addr, token, max_wait));
        Ok(UdpSink {
            port,
            stopper,
            token,
            handle: Some(handle),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where exporters should send.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// Stop now and return what was received.
    pub fn stop(mut self) -> Result<Captured, HarnessError> {
        // If the thread already ended (quiet period), the token is simply never read.
        self.stopper
            .send_to(&self.token, self.addr())
            .map_err(io_err("send stop token"))?;
        self.join()
    }

    /// Wait until the quiet period (or `max_wait`) ends the collection.
    pub fn wait(mut self) -> Result<Captured, HarnessError> {
        self.join()
    }

    fn join(&mut self) -> Result<Captured, HarnessError> {
        let Some(h) = self.handle.take() else {
            return Ok(Captured {
                port: self.port,
                datagrams: Vec::new(),
            });
        };
        let datagrams = h
            .join()
            .map_err(|_| HarnessError::InvalidInput("sink thread panicked".into()))?
            .map_err(io_err("receive on UDP sink"))?;
        Ok(Captured {
            port: self.port,
            datagrams,
        })
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stopper.send_to(&self.token, self.addr());
            let _ = self.join();
        }
    }
}

fn collect(sock: UdpSocket, stopper: SocketAddr, token: [u8; 16], max_wait: Duration) -> Collected {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                let data = buf.get(..n).unwrap_or(&[]);
                if src == stopper && data == token {
                    return Ok(got);
                }
                got.push(Datagram {
                    ts_ns: now_ns(),
                    src,
                    payload: data.to_vec(),
                });
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !got.is_empty() {
                    return Ok(got);
                }
            }
            Err(e) => return Err(e),
        }
        if start.elapsed() >= max_wait {
            return Ok(got);
        }
    }
}

impl Captured {
    /// Write the datagrams as Ethernet / IPv4 / UDP frames from their source port to the
    /// sink's port on 127.0.0.1, with the receive timestamps, so that
    /// `tshark -d udp.port==PORT,cflow` decodes them.
    pub fn write_pcap(&self, path: &Path) -> Result<(), HarnessError> {
        let file = File::create(path).map_err(io_err(format!("create {}", path.display())))?;
        let mut w = PcapWriter::new(file, LinkType::Ethernet).map_err(io_err("pcap header"))?;
        let mut buf = Vec::with_capacity(65600);
        for (i, d) in self.datagrams.iter().enumerate() {
            let mut ip = Ipv4::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
            ip.id = i as u16;
            ip.df = true;
            buf.clear();
            packet::build(
                &mut buf,
                &Frame {
                    link: Link::Ethernet(Ethernet::new(
                        [0x02, 0, 0, 0, 0, 0x01],
                        [0x02, 0, 0, 0, 0, 0x02],
                    )),
                    ip: Ip::V4(ip),
                    l4: L4::Udp(Udp::new(d.src.port(), self.port)),
                    payload: Payload::Bytes(&d.payload),
                },
            )
            .map_err(|e| HarnessError::InvalidInput(format!("datagram {i}: {e}")))?;
            w.write(d.ts_ns, &buf, buf.len() as u32)
                .map_err(io_err("write pcap record"))?;
        }
        w.finish().map_err(io_err("flush pcap"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_returns_everything_sent_before_it() {
        let sink = UdpSink::start(Duration::from_secs(30), Duration::from_secs(60)).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..50u8 {
            tx.send_to(&[i; 3], sink.addr()).unwrap();
        }
        let port = sink.port();
        let c = sink.stop().unwrap();
        assert_eq!(c.port, port);
        assert_eq!(c.datagrams.len(), 50);
        assert!(
            c.datagrams
                .iter()
                .enumerate()
                .all(|(i, d)| d.payload == [i as u8; 3])
        );
        assert_eq!(c.datagrams[0].src, tx.local_addr().unwrap());
    }

    #[test]
    fn quiet_period_ends_collection_after_traffic() {
        let sink = UdpSink::start(Duration::from_millis(200), Duration::from_secs(60)).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"one", sink.addr()).unwrap();
        let c = sink.wait().unwrap();
        assert_eq!(c.datagrams.len(), 1);
        assert_eq!(c.datagrams[0].payload, b"one");
    }
}
