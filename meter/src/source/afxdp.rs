//! Live frames from one NIC receive queue through an AF_XDP socket (xsk-rs over libxdp).
//!
//! Each [`QueueSocket`] owns its UMEM, fill ring and receive ring: nothing is shared
//! between queues, so each worker runs on its own core without locks. Frames are read in
//! batches straight out of the UMEM and handed back to the fill ring right after the
//! caller has parsed them; no frame is copied or allocated.
//!
//! This module and the xdp-redirect crate are the meter's BPF/AF_XDP edge, the only place
//! with `unsafe`: the ring and UMEM calls of xsk-rs are unsafe because the caller must pair
//! descriptors with the UMEM they belong to. Each block says why it holds.

use std::ffi::CString;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd};

use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

/// Frames read per batch (one clock read, one ring release each).
pub const RX_BATCH: usize = 64;

/// How a queue's socket is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketSettings {
    /// UMEM frames (a power of two; also the fill ring size).
    pub umem_frames: u32,
    /// Bytes per UMEM frame: 2048 or 4096. A frame longer than this minus the headroom is
    /// dropped by the kernel and counted in rx_dropped.
    pub frame_size: u32,
    /// Receive ring entries (a power of two).
    pub ring_size: u32,
    /// Zero-copy: `None` tries it and falls back to copy mode.
    pub zero_copy: Option<bool>,
    /// Busy-poll budget in microseconds (0 = off).
    pub busy_poll_usecs: u32,
}

/// Defaults, shared by [`SocketSettings::default`] and the command line. The ring rides
/// out a worker stalled for 8192 frames (on a 2-core VM 2048 lost 0.05–0.6 % of a few
/// hundred kpps to scheduling); the UMEM is twice the ring so the fill ring never runs dry
/// while the receive ring is full: 64 MiB locked per queue.
pub const DEFAULT_UMEM_FRAMES: u32 = 16384;
pub const DEFAULT_FRAME_SIZE: u32 = 4096;
pub const DEFAULT_RING_SIZE: u32 = 8192;
pub const DEFAULT_BUSY_POLL_USECS: u32 = 20;

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings {
            umem_frames: DEFAULT_UMEM_FRAMES,
            frame_size: DEFAULT_FRAME_SIZE,
            ring_size: DEFAULT_RING_SIZE,
            zero_copy: None,
            busy_poll_usecs: DEFAULT_BUSY_POLL_USECS,
        }
    }
}

/// The kernel's XDP_STATISTICS of one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Dropped: frame larger than a UMEM frame, or no free frame (fill ring empty).
    pub rx_dropped: u64,
    /// Dropped: the receive ring was full (the worker fell behind).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty (a cause; the frames show up in rx_dropped).
    pub rx_fill_ring_empty: u64,
    pub rx_invalid_descs: u64,
}

impl SocketStats {
    /// Frames the socket lost after the XDP program redirected them.
    pub fn lost(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full + self.rx_invalid_descs
    }

    pub fn add(&mut self, o: &SocketStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty += o.rx_fill_ring_empty;
        self.rx_invalid_descs += o.rx_invalid_descs;
    }
}

/// Why a socket could not be opened, worded for an operator.
#[derive(Debug)]
pub struct SocketError(pub String);

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn errno_of(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        cur = err.source();
    }
    None
}

/// One receive queue's AF_XDP socket.
pub struct QueueSocket {
    pub queue: u32,
    pub zero_copy: bool,
    umem: Umem,
    rx: RxQueue,
    fq: FillQueue,
    // Held so the socket and its rings stay alive; the meter never transmits.
    _tx: TxQueue,
    _cq: CompQueue,
    descs: Vec<FrameDesc>,
    /// Why busy-poll could not be turned on, if it could not.
    pub busy_poll_note: Option<String>,
}

impl QueueSocket {
    /// Create the UMEM and the socket bound to `iface` queue `queue` and fill its fill ring.
    /// The XDP program is not loaded by libxdp: the caller registers [`QueueSocket::fd`] in
    /// its own program.
    pub fn open(iface: &str, queue: u32, s: &SocketSettings) -> Result<QueueSocket, SocketError> {
        let bad = |what: &str| SocketError(what.to_string());
        let frames = NonZeroU32::new(s.umem_frames)
            .filter(|n| n.is_power_of_two())
            .ok_or_else(|| bad("umem-frames must be a power of two"))?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(
                FrameSize::new(s.frame_size).map_err(|_| bad("frame-size must be 2048 or 4096"))?,
            )
            .fill_queue_size(QueueSize::new(s.umem_frames).map_err(|_| bad("bad umem-frames"))?)
            .comp_queue_size(QueueSize::new(64).map_err(|_| bad("bad comp ring"))?)
            .build()
            .map_err(|e| SocketError(format!("UMEM settings: {e}")))?;
        let (umem, descs) = Umem::new(umem_cfg, frames, false).map_err(|e| {
            let mib = (u64::from(s.umem_frames) * u64::from(s.frame_size)) >> 20;
            match errno_of(&e) {
                Some(libc::ENOBUFS | libc::ENOMEM | libc::EPERM | libc::EAGAIN) => SocketError(format!(
                    "cannot lock {mib} MiB of packet buffers (UMEM) for queue {queue}: the locked-memory limit (RLIMIT_MEMLOCK) is too low; run as root or with CAP_IPC_LOCK, raise it (systemd: LimitMEMLOCK=infinity), or lower umem-frames"
                )),
                _ => SocketError(format!("cannot create the UMEM for queue {queue}: {e}")),
            }
        })?;
        let name = CString::new(iface).map_err(|_| bad("interface name contains a NUL byte"))?;
        let ring =
            QueueSize::new(s.ring_size).map_err(|_| bad("ring-size must be a power of two"))?;
        let attempts: &[bool] = match s.zero_copy {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[true, false],
        };
        let mut last_err = None;
        for &zc in attempts {
            let mut flags = BindFlags::XDP_USE_NEED_WAKEUP;
            flags |= if zc {
                BindFlags::XDP_ZEROCOPY
            } else {
                BindFlags::XDP_COPY
            };
            let cfg = SocketConfig::builder()
                .rx_queue_size(ring)
                .tx_queue_size(QueueSize::new(64).map_err(|_| bad("bad tx ring"))?)
                .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
                .bind_flags(flags)
                .build();
            // SAFETY: this UMEM is used by this one socket only (one UMEM per queue), so
            // the shared-UMEM precondition of xsk-rs (INHIBIT_PROG_LOAD when a pair is
            // bound twice) does not arise; we set INHIBIT_PROG_LOAD anyway.
            match unsafe { xsk_rs::Socket::new(cfg, &umem, &Interface::new(name.clone()), queue) } {
                Ok((tx, rx, Some((mut fq, cq)))) => {
                    // SAFETY: the descriptors come from this UMEM and none is in a ring yet.
                    let n = unsafe { fq.produce(&descs) };
                    if n != descs.len() {
                        return Err(SocketError(format!(
                            "queue {queue}: could not fill the fill ring ({n} of {} frames)",
                            descs.len()
                        )));
                    }
                    let mut sock = QueueSocket {
                        queue,
                        zero_copy: zc,
                        umem,
                        rx,
                        fq,
                        _tx: tx,
                        _cq: cq,
                        descs: vec![FrameDesc::default(); RX_BATCH],
                        busy_poll_note: None,
                    };
                    if s.busy_poll_usecs > 0 {
                        sock.busy_poll_note = sock.enable_busy_poll(s.busy_poll_usecs).err();
                    }
                    return Ok(sock);
                }
                Ok(_) => {
                    return Err(SocketError(format!(
                        "queue {queue}: the kernel returned no fill/completion rings"
                    )));
                }
                Err(e) => last_err = Some((zc, errno_of(&e), e.to_string())),
            }
        }
        let (zc, errno, text) = last_err.unwrap_or((false, None, "unknown".into()));
        Err(SocketError(match errno {
            Some(libc::EINVAL) => format!(
                "cannot bind an AF_XDP socket to {iface} queue {queue}: the interface has no such queue (see `ethtool -l {iface}`) or does not support AF_XDP"
            ),
            Some(libc::EOPNOTSUPP) if zc => format!(
                "{iface} does not support zero-copy AF_XDP; leave zero-copy on auto or turn it off"
            ),
            Some(libc::EPERM | libc::EACCES) => format!(
                "cannot open an AF_XDP socket on {iface}: not permitted (needs root or CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK)"
            ),
            Some(libc::EBUSY) => format!(
                "{iface} queue {queue} is already in use by another AF_XDP socket (another meter?)"
            ),
            Some(libc::ENOBUFS | libc::ENOMEM) => format!(
                "cannot map the AF_XDP rings for {iface} queue {queue}: the locked-memory limit (RLIMIT_MEMLOCK) is too low; run as root or with CAP_IPC_LOCK, or lower ring-size"
            ),
            _ => format!("cannot open an AF_XDP socket on {iface} queue {queue}: {text}"),
        }))
    }

    fn enable_busy_poll(&mut self, usecs: u32) -> Result<(), String> {
        const SO_PREFER_BUSY_POLL: libc::c_int = 69;
        const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
        let fd = self.rx.fd().as_raw_fd();
        for (opt, val, name) in [
            (SO_PREFER_BUSY_POLL, 1i32, "SO_PREFER_BUSY_POLL"),
            (libc::SO_BUSY_POLL, usecs as i32, "SO_BUSY_POLL"),
            (SO_BUSY_POLL_BUDGET, RX_BATCH as i32, "SO_BUSY_POLL_BUDGET"),
        ] {
            // SAFETY: `fd` is this socket's open descriptor; the option value is a live
            // c_int whose size we pass.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&val as *const i32).cast(),
                    std::mem::size_of::<i32>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(format!(
                    "queue {}: busy-poll off ({name}: {})",
                    self.queue,
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    }

    /// The socket's descriptor, to register in the XDP program's XSKMAP.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to `self.rx`, which keeps the socket open for at
        // least as long as the returned borrow of `self`.
        unsafe { BorrowedFd::borrow_raw(self.rx.fd().as_raw_fd()) }
    }

    /// Wait up to `timeout_ms` for frames, read the clock once, then call
    /// `each(now_ns, frame)` for every frame read (at most [`RX_BATCH`]) and give the frames
    /// back to the kernel. Returns the count.
    pub fn recv_batch(
        &mut self,
        timeout_ms: i32,
        clock: impl FnOnce() -> u64,
        mut each: impl FnMut(u64, &[u8]),
    ) -> usize {
        if self.fq.needs_wakeup() {
            // Errors here are transient (EAGAIN/EBUSY): the next round retries.
            let _ = self.fq.wakeup(self.rx.fd_mut(), 0);
        }
        // SAFETY: `descs` is our own scratch array; the descriptors consumed into it belong
        // to this socket's UMEM, the only UMEM this socket is bound to.
        let n = match unsafe { self.rx.poll_and_consume(&mut self.descs, timeout_ms) } {
            Ok(n) => n,
            Err(_) => return 0,
        };
        let now = if n > 0 { clock() } else { 0 };
        for d in &self.descs[..n] {
            // SAFETY: `d` was just consumed from this socket's receive ring, so it points
            // into `self.umem`, and the kernel will not write the frame until we hand it
            // back through the fill ring below, after `each` has returned.
            let data = unsafe { self.umem.data(d) };
            each(now, data.contents());
        }
        if n > 0 {
            // SAFETY: the descriptors are this UMEM's and no longer in use. The fill ring
            // has room for them: every frame is either in the fill ring, in the kernel, in
            // the receive ring or here, and the fill ring holds all of them.
            let back = unsafe { self.fq.produce(&self.descs[..n]) };
            debug_assert_eq!(back, n);
        }
        n
    }

    pub fn stats(&self) -> SocketStats {
        match self.rx.fd().xdp_statistics() {
            Ok(s) => SocketStats {
                rx_dropped: s.rx_dropped(),
                rx_ring_full: s.rx_ring_full(),
                rx_fill_ring_empty: s.rx_fill_ring_empty_descs(),
                rx_invalid_descs: s.rx_invalid_descs(),
            },
            Err(_) => SocketStats::default(),
        }
    }
}
