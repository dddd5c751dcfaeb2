//! The meter's XDP program and its loader.
//!
//! The program (src/bpf/redirect.bpf.c, compiled by build.rs and embedded here) sends each
//! receive queue's frames to the AF_XDP socket registered for that queue, after an optional
//! pre-filter ([`filter`]), and counts per queue where every frame went ([`QueueCounters`]).
//!
//! Life cycle: [`XdpProgram::load`] → [`XdpProgram::register_socket`] for each queue →
//! [`XdpProgram::attach`]. The program is attached through a BPF link: the kernel detaches
//! it when the link's file descriptor closes, so it is gone when the meter exits — also
//! when the process is killed. This crate is the BPF edge: its only `unsafe` is the one
//! libbpf call that creates the link with explicit XDP mode flags.

pub mod filter;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};

pub use filter::{Action, Filter, FilterError, Rule};

/// The compiled program.
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/redirect.bpf.o"));
const PROGRAM: &str = "meter_redirect";

/// Queues the program's maps hold (MAX_QUEUES in redirect.bpf.c).
pub const MAX_QUEUES: u32 = 256;

/// How to attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeRequest {
    /// Native (driver) mode, falling back to generic mode when the driver has no XDP.
    Auto,
    Native,
    Generic,
}

/// How the program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    Native,
    Generic,
}

impl AttachMode {
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }

    fn flags(self) -> u32 {
        match self {
            AttachMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }
}

/// What went wrong, worded for an operator.
#[derive(Debug)]
pub enum Error {
    Load(String),
    Map(String),
    Attach {
        iface: String,
        mode: AttachMode,
        errno: i32,
    },
    Filter(FilterError),
    QueueOutOfRange(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => write!(
                f,
                "cannot load the XDP program: {e} (needs root or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)"
            ),
            Error::Map(e) => write!(f, "cannot update the XDP program's maps: {e}"),
            Error::Attach { iface, mode, errno } => {
                let m = mode.name();
                let why = match *errno {
                    libc::EPERM | libc::EACCES => {
                        "not permitted (needs root or CAP_NET_ADMIN and CAP_BPF)".to_string()
                    }
                    libc::EBUSY | libc::EEXIST => format!(
                        "another XDP program is attached (see `ip link show {iface}`; remove it with `ip link set dev {iface} xdp off`)"
                    ),
                    libc::EOPNOTSUPP | libc::EINVAL if *mode == AttachMode::Native => {
                        "the driver does not support native XDP (use --xdp-mode generic or auto)"
                            .to_string()
                    }
                    libc::ERANGE => {
                        "the MTU is too large for XDP on this interface (lower the MTU)".to_string()
                    }
                    libc::ENODEV => "no such interface".to_string(),
                    e => std::io::Error::from_raw_os_error(e).to_string(),
                };
                write!(f, "cannot attach XDP in {m} mode to {iface}: {why}")
            }
            Error::Filter(e) => write!(f, "filter: {e}"),
            Error::QueueOutOfRange(q) => {
                write!(
                    f,
                    "queue {q} is out of range (the XDP program handles queues 0..{MAX_QUEUES})"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// Where the program sent one queue's frames (summed over CPUs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    pub seen: u64,
    pub redirected: u64,
    /// No socket on the queue: left to the kernel stack.
    pub passed: u64,
    /// Dropped by the pre-filter.
    pub filtered: u64,
    /// The filter could not parse them (not IP, truncated); they were still redirected.
    pub unparsable: u64,
    /// `bpf_redirect_map` failed although a socket was registered.
    pub redirect_failed: u64,
}

const COUNTERS: usize = 6;

impl QueueCounters {
    pub fn add(&mut self, o: &QueueCounters) {
        self.seen += o.seen;
        self.redirected += o.redirected;
        self.passed += o.passed;
        self.filtered += o.filtered;
        self.unparsable += o.unparsable;
        self.redirect_failed += o.redirect_failed;
    }
}

/// The loaded program; attached once [`XdpProgram::attach`] succeeded.
pub struct XdpProgram {
    object: Object,
    /// The BPF link: closing it detaches the program.
    link: Option<OwnedFd>,
    mode: Option<AttachMode>,
}

fn map<'a>(object: &'a Object, name: &str) -> Result<libbpf_rs::Map<'a>, Error> {
    object
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| Error::Map(format!("map {name} missing from the program")))
}

impl XdpProgram {
    /// Load the program and install `filter` (empty: every frame goes to the meter).
    pub fn load(filter: &Filter) -> Result<XdpProgram, Error> {
        let open = ObjectBuilder::default()
            .name("meter")
            .map_err(|e| Error::Load(e.to_string()))?
            .open_memory(OBJECT)
            .map_err(|e| Error::Load(e.to_string()))?;
        let object = open.load().map_err(|e| Error::Load(e.to_string()))?;
        let prog = XdpProgram {
            object,
            link: None,
            mode: None,
        };
        prog.install_filter(filter)?;
        Ok(prog)
    }

    fn install_filter(&self, filter: &Filter) -> Result<(), Error> {
        let rules = map(&self.object, "rules")?;
        for (i, r) in filter.table.iter().enumerate() {
            rules
                .update(&(i as u32).to_ne_bytes(), &r.to_bytes(), MapFlags::ANY)
                .map_err(|e| Error::Map(e.to_string()))?;
        }
        let default_action = match filter.default_action {
            Some(Action::Exclude) => 1u32,
            _ => 0,
        };
        let mut cfg = [0u8; 8];
        cfg[..4].copy_from_slice(&(filter.table.len() as u32).to_ne_bytes());
        cfg[4..].copy_from_slice(&default_action.to_ne_bytes());
        map(&self.object, "config")?
            .update(&0u32.to_ne_bytes(), &cfg, MapFlags::ANY)
            .map_err(|e| Error::Map(e.to_string()))
    }

    /// Send queue `queue`'s frames to the AF_XDP socket `fd`.
    pub fn register_socket(&self, queue: u32, fd: BorrowedFd<'_>) -> Result<(), Error> {
        if queue >= MAX_QUEUES {
            return Err(Error::QueueOutOfRange(queue));
        }
        map(&self.object, "xsks")?
            .update(
                &queue.to_ne_bytes(),
                &fd.as_raw_fd().to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| Error::Map(format!("registering the socket of queue {queue}: {e}")))
    }

    /// Attach to interface `ifindex` (named `iface` in messages). With
    /// [`ModeRequest::Auto`] a native-mode failure falls back to generic mode; the returned
    /// note says so (for the log).
    pub fn attach(
        &mut self,
        iface: &str,
        ifindex: u32,
        request: ModeRequest,
    ) -> Result<Option<String>, Error> {
        let first = match request {
            ModeRequest::Generic => AttachMode::Generic,
            _ => AttachMode::Native,
        };
        match self.link_create(iface, ifindex, first) {
            Ok(()) => Ok(None),
            Err(Error::Attach { errno, .. })
                if request == ModeRequest::Auto
                    && !matches!(
                        errno,
                        libc::EPERM | libc::EACCES | libc::EBUSY | libc::EEXIST | libc::ENODEV
                    ) =>
            {
                let why = Error::Attach {
                    iface: iface.to_string(),
                    mode: AttachMode::Native,
                    errno,
                };
                self.link_create(iface, ifindex, AttachMode::Generic)?;
                Ok(Some(format!("{why}; using generic mode (slower)")))
            }
            Err(e) => Err(e),
        }
    }

    fn program(&mut self) -> Result<libbpf_rs::ProgramMut<'_>, Error> {
        self.object
            .progs_mut()
            .find(|p| p.name() == PROGRAM)
            .ok_or_else(|| Error::Load(format!("program {PROGRAM} missing")))
    }

    fn link_create(&mut self, iface: &str, ifindex: u32, mode: AttachMode) -> Result<(), Error> {
        let prog = self.program()?;
        let opts = libbpf_sys::bpf_link_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as libbpf_sys::size_t,
            flags: mode.flags(),
            ..Default::default()
        };
        // SAFETY: `prog` is a loaded program whose fd stays open for the call; `opts` is a
        // fully initialised options struct with its own size in `sz`, as libbpf requires,
        // and outlives the call. libbpf returns a new fd we own, or a negative errno.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(
                prog.as_fd().as_raw_fd(),
                ifindex as i32,
                libbpf_sys::BPF_XDP,
                &opts,
            )
        };
        if fd < 0 {
            return Err(Error::Attach {
                iface: iface.to_string(),
                mode,
                errno: -fd,
            });
        }
        // SAFETY: `fd` is a fresh file descriptor returned to us by the kernel and owned by
        // nothing else; OwnedFd closes it exactly once.
        self.link = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        self.mode = Some(mode);
        Ok(())
    }

    /// The mode it is attached in, if attached.
    pub fn mode(&self) -> Option<AttachMode> {
        self.mode
    }

    /// Detach now (dropping the program does the same).
    pub fn detach(&mut self) {
        self.link = None;
        self.mode = None;
    }

    /// Run the program once on `frame` in the kernel (BPF_PROG_TEST_RUN, queue 0) and
    /// return its verdict (`XDP_DROP` = 1, `XDP_PASS` = 2, `XDP_REDIRECT` = 4). For tests
    /// and for checking a filter without traffic.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<u32, Error> {
        let prog = self.program()?;
        let input = libbpf_rs::ProgramInput {
            data_in: Some(frame),
            ..Default::default()
        };
        prog.test_run(input)
            .map(|o| o.return_value)
            .map_err(|e| Error::Load(format!("test run: {e}")))
    }

    /// Counters of one queue, summed over CPUs.
    pub fn counters(&self, queue: u32) -> Result<QueueCounters, Error> {
        let per_cpu = map(&self.object, "counters")?
            .lookup_percpu(&queue.min(MAX_QUEUES - 1).to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| Error::Map(e.to_string()))?
            .unwrap_or_default();
        let mut sum = [0u64; COUNTERS];
        for cpu in per_cpu {
            for (i, s) in sum.iter_mut().enumerate() {
                if let Some(b) = cpu.get(i * 8..i * 8 + 8) {
                    *s += u64::from_ne_bytes(b.try_into().unwrap_or_default());
                }
            }
        }
        let [
            seen,
            redirected,
            passed,
            filtered,
            unparsable,
            redirect_failed,
        ] = sum;
        Ok(QueueCounters {
            seen,
            redirected,
            passed,
            filtered,
            unparsable,
            redirect_failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_object_is_an_elf_bpf_object() {
        assert_eq!(&OBJECT[..4], b"\x7fELF");
        // e_machine 247 = EM_BPF.
        assert_eq!(u16::from_le_bytes([OBJECT[18], OBJECT[19]]), 247);
    }

    #[test]
    fn attach_errors_name_the_cause() {
        let e = |errno, mode| {
            Error::Attach {
                iface: "eth9".into(),
                mode,
                errno,
            }
            .to_string()
        };
        assert!(e(libc::EPERM, AttachMode::Native).contains("CAP_NET_ADMIN"));
        assert!(e(libc::EBUSY, AttachMode::Native).contains("ip link set dev eth9 xdp off"));
        assert!(e(libc::EOPNOTSUPP, AttachMode::Native).contains("--xdp-mode generic"));
        assert!(e(libc::ERANGE, AttachMode::Native).contains("MTU"));
    }
}
