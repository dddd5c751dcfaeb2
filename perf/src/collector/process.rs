//! Child-process guard, temporary directories and free ports.
//!
//! A [`Daemon`] starts a program in its own process group with stdout and stderr piped.
//! Two reader threads forward output lines and a waiter thread reports the exit, all as
//! events on one channel, so readiness ("bound to port …"), exit and the end of output
//! are waited for as events with deadlines, never with sleeps. Dropping the guard kills
//! the whole group (a daemon's forked helpers included) and reaps it.
//!
//! Signals are sent with the `kill` utility (procps) so that no `unsafe` is needed.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{HarnessError, io_err};

/// Lines of daemon output kept for error messages.
const LOG_KEEP: usize = 400;

enum Event {
    Line(String),
    StreamClosed,
    Exited(Option<ExitStatus>),
}

/// A running daemon (see the module doc).
pub(crate) struct Daemon {
    program: String,
    pid: u32,
    events: Receiver<Event>,
    log: Vec<String>,
    exited: Option<Option<ExitStatus>>,
    open_streams: usize,
}

fn forward<R: Read + Send + 'static>(stream: R, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut r = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if tx.send(Event::Line(s)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Event::StreamClosed);
    });
}

impl Daemon {
    /// Start `cmd` in a new process group.
    pub(crate) fn spawn(mut cmd: Command, program: &str) -> Result<Daemon, HarnessError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            program: program.to_string(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let mut open_streams = 0;
        if let Some(out) = child.stdout.take() {
            forward(out, tx.clone());
            open_streams += 1;
        }
        if let Some(err) = child.stderr.take() {
            forward(err, tx.clone());
            open_streams += 1;
        }
        let pid = child.id();
        thread::spawn(move || {
            let status = child.wait().ok();
            let _ = tx.send(Event::Exited(status));
        });
        Ok(Daemon {
            program: program.to_string(),
            pid,
            events: rx,
            log: Vec::new(),
            exited: None,
            open_streams,
        })
    }

    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    fn handle(&mut self, ev: Event) -> Option<String> {
        match ev {
            Event::Line(l) => {
                if self.log.len() >= LOG_KEEP {
                    self.log.remove(0);
                }
                self.log.push(l.clone());
                Some(l)
            }
            Event::StreamClosed => {
                self.open_streams = self.open_streams.saturating_sub(1);
                None
            }
            Event::Exited(s) => {
                self.exited = Some(s);
                None
            }
        }
    }

    /// Wait for an output line satisfying `ready`. Fails if the process exits first or
    /// the deadline passes.
    pub(crate) fn wait_for_line(
        &mut self,
        mut ready: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.exited.is_some() {
                // Output written just before the exit may still be in flight: drain until
                // the pipes close (bounded), so the error carries the last words.
                let drain_until = Instant::now() + Duration::from_secs(2);
                while self.open_streams > 0 {
                    let left = drain_until.saturating_duration_since(Instant::now());
                    match self.events.recv_timeout(left) {
                        Ok(ev) => {
                            if let Some(l) = self.handle(ev)
                                && ready(&l)
                            {
                                return Ok(l);
                            }
                        }
                        Err(_) => break,
                    }
                }
                return Err(self.not_ready());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    if let Some(l) = self.handle(ev)
                        && ready(&l)
                    {
                        return Ok(l);
                    }
                }
                Err(_) => return Err(self.not_ready()),
            }
        }
    }

    fn not_ready(&self) -> HarnessError {
        HarnessError::NotReady {
            program: self.program.clone(),
            log: self.log_text(),
        }
    }

    /// Everything kept of the daemon's output.
    pub(crate) fn log_text(&self) -> String {
        self.log.join("\n")
    }

    pub(crate) fn log_lines(&self) -> &[String] {
        &self.log
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.exited.is_some()
    }

    /// Wait until the daemon has read and processed every datagram queued on its UDP
    /// socket at 127.0.0.1:`port`: the socket's receive queue is empty and the main
    /// thread is blocked waiting for the next datagram. With `helpers_poll`, every child
    /// process (a pmacct plugin fed by the core through a pipe) must also be asleep in
    /// poll(2): the core's pipe write wakes a plugin before that write returns, so a
    /// plugin seen asleep after the core went idle has consumed everything it was handed.
    /// Collectors act on a stop signal without draining their input, so this must hold
    /// before signalling.
    ///
    /// No kernel event reports this, so it is a condition polled every 2 ms (bounded).
    pub(crate) fn wait_udp_drained(
        &self,
        port: u16,
        helpers_poll: bool,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Order matters: the main process first, then its helpers.
            let queued = udp_rx_queue(port)?;
            let idle = wchan(self.pid).is_some_and(|w| w == "__skb_wait_for_more_packets");
            let helpers = !helpers_poll || children_polling(self.pid);
            if queued == Some(0) && idle && helpers {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::StopTimeout {
                    program: format!(
                        "{} (input not drained: socket queue {queued:?} octets, \
                         main idle {idle}, helpers idle {helpers})",
                        self.program
                    ),
                    log: self.log_text(),
                });
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Send `signal` (a name such as "TERM") to the daemon's main process.
    pub(crate) fn signal(&self, signal: &str) -> Result<(), HarnessError> {
        if self.exited.is_some() {
            return Ok(());
        }
        run_kill(&[&format!("-{signal}"), &self.pid.to_string()])
    }

    /// Send `signal`, then wait until the daemon has exited and every process holding its
    /// output pipes (forked helpers that write results) has gone. On timeout the group is
    /// killed and [`HarnessError::StopTimeout`] returned.
    pub(crate) fn stop(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> Result<Option<ExitStatus>, HarnessError> {
        self.signal(signal)?;
        let deadline = Instant::now() + timeout;
        while self.exited.is_none() || self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.handle(ev);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    self.kill_group();
                    return Err(HarnessError::StopTimeout {
                        program: self.program.clone(),
                        log: self.log_text(),
                    });
                }
            }
        }
        Ok(self.exited.flatten())
    }

    /// The graceful stop of a collector: wait until it has read everything sent to
    /// `port` (and, with `wait_plugin`, until its plugin is idle), send `signal`, and
    /// require a clean exit.
    pub(crate) fn drain_and_stop(
        &mut self,
        port: u16,
        wait_plugin: bool,
        signal: &str,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        self.wait_udp_drained(port, wait_plugin, timeout)?;
        match self.stop(signal, timeout)? {
            Some(s) if s.success() => Ok(()),
            other => Err(HarnessError::Failed {
                what: self.program().to_string(),
                status: other.and_then(|s| s.code()),
                output: self.log_text(),
            }),
        }
    }

    fn kill_group(&mut self) {
        let _ = run_kill(&["-KILL", "--", &format!("-{}", self.pid)]);
        // Reap, and wait until every group member holding the pipes is gone; bounded so
        // that drop never hangs.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.exited.is_none() || self.open_streams > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.handle(ev);
                }
                Err(_) => break,
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited.is_none() || self.open_streams > 0 {
            self.kill_group();
        }
    }
}

fn run_kill(args: &[&str]) -> Result<(), HarnessError> {
    let out = Command::new("kill")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            program: "kill".into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Failed {
            what: format!("kill {}", args.join(" ")),
            status: out.status.code(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Kernel function the main thread of `pid` sleeps in.
fn wchan(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/wchan"))
        .ok()
        .map(|w| w.trim().to_string())
}

/// Scheduler state letter of `pid` (R, S, D, Z, ...).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesised and may contain spaces: the state follows ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// True when every live child of `pid` sleeps in poll(2).
fn children_polling(pid: u32) -> bool {
    let Ok(list) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) else {
        return false;
    };
    list.split_whitespace()
        .filter_map(|c| c.parse::<u32>().ok())
        .all(|c| match proc_state(c) {
            None | Some('Z') | Some('X') => true,
            Some('S') => wchan(c).is_some_and(|w| w.contains("poll")),
            Some(_) => false,
        })
}

/// Octets queued for reading on the UDP socket bound to 127.0.0.1:`port`, from
/// /proc/net/udp; `None` if no such socket exists.
pub(crate) fn udp_rx_queue(port: u16) -> Result<Option<u64>, HarnessError> {
    let text = std::fs::read_to_string("/proc/net/udp").map_err(io_err("read /proc/net/udp"))?;
    Ok(parse_udp_rx_queue(&text, port))
}

fn parse_udp_rx_queue(text: &str, port: u16) -> Option<u64> {
    // "  sl  local_address rem_address   st tx_queue rx_queue ..."
    // "   5: 0100007F:98B3 00000000:0000 07 00000000:00000000 ..."
    let want = format!("0100007F:{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let mut f = line.split_whitespace();
        let local = f.nth(1)?;
        if local != want {
            return None;
        }
        let queues = f.nth(2)?;
        let (_, rx) = queues.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// Datagrams the kernel dropped on the UDP socket bound to 127.0.0.1:`port` because its
/// receive buffer was full (the `drops` column of /proc/net/udp); `None` if no such socket.
pub(crate) fn udp_drops(port: u16) -> Result<Option<u64>, HarnessError> {
    let text = std::fs::read_to_string("/proc/net/udp").map_err(io_err("read /proc/net/udp"))?;
    Ok(parse_udp_drops(&text, port))
}

fn parse_udp_drops(text: &str, port: u16) -> Option<u64> {
    let want = format!("0100007F:{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&want.as_str()) {
            return None;
        }
        f.last()?.parse().ok()
    })
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
/// Another process may take it before the caller binds it; callers retry on failure.
/// Ports a collector start tries before giving up.
const START_ATTEMPTS: usize = 8;

/// What one start attempt of a collector gave.
pub(crate) enum Launch<T> {
    Ready(T),
    /// It did not come up; the daemon is kept so its exit and log can be examined.
    Failed(HarnessError, Daemon),
}

/// Start a collector on a free UDP port. The port can be taken by someone else between
/// probing and binding; the collector then exits with `port_taken` in its log and another
/// port is tried. `launch` spawns the collector on a port and waits until it is ready.
pub(crate) fn start_on_free_port<T>(
    program: &str,
    port_taken: &str,
    mut launch: impl FnMut(u16) -> Result<Launch<T>, HarnessError>,
) -> Result<T, HarnessError> {
    let mut last = None;
    for _ in 0..START_ATTEMPTS {
        match launch(free_udp_port()?)? {
            Launch::Ready(t) => return Ok(t),
            Launch::Failed(e @ HarnessError::NotReady { .. }, daemon)
                if daemon.has_exited() && daemon.log_text().contains(port_taken) =>
            {
                last = Some(e);
            }
            Launch::Failed(e, _) => return Err(e),
        }
    }
    Err(last.unwrap_or(HarnessError::NotReady {
        program: program.into(),
        log: String::new(),
    }))
}

pub fn free_udp_port() -> Result<u16, HarnessError> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(io_err("bind 127.0.0.1:0"))?;
    let port = s
        .local_addr()
        .map_err(io_err("local address of probe socket"))?
        .port();
    Ok(port)
}

/// A directory under the system temporary directory, removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    /// Create `<tmp>/<prefix>-<pid>-<n>-<nanos>`.
    pub fn new(prefix: &str) -> Result<TempDir, HarnessError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(io_err(format!("create {}", path.display())))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Run a tool to completion and return its stdout; a non-zero exit is an error carrying
/// stderr.
pub(crate) fn run_tool(mut cmd: Command, what: &str) -> Result<String, HarnessError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn { program, source })?;
    if !out.status.success() {
        return Err(HarnessError::Failed {
            what: what.to_string(),
            status: out.status.code(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_and_stop_are_events() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo starting; echo ready >&2; exec sleep 30"]);
        let mut d = Daemon::spawn(cmd, "sh").unwrap();
        let l = d
            .wait_for_line(|l| l == "ready", Duration::from_secs(10))
            .unwrap();
        assert_eq!(l, "ready");
        assert!(!d.has_exited());
        let status = d.stop("TERM", Duration::from_secs(10)).unwrap();
        assert!(d.has_exited());
        // Killed by SIGTERM: no exit code, not success.
        let status = status.unwrap();
        assert!(!status.success());
        assert_eq!(status.code(), None);
        assert!(d.log_lines().iter().any(|l| l == "starting"));
    }

    #[test]
    fn exit_before_ready_is_not_ready() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo failing; exit 3"]);
        let mut d = Daemon::spawn(cmd, "sh").unwrap();
        match d.wait_for_line(|l| l == "never", Duration::from_secs(10)) {
            Err(HarnessError::NotReady { log, .. }) => assert!(log.contains("failing")),
            other => panic!("unexpected: {other:?}"),
        }
    }

    #[test]
    fn drop_kills_the_whole_group() {
        let mut cmd = Command::new("sh");
        // A background helper that ignores TERM, like a forked plugin would outlive it.
        cmd.args(["-c", "trap '' TERM; sleep 60 & echo helper $!; wait"]);
        let mut d = Daemon::spawn(cmd, "sh").unwrap();
        let l = d
            .wait_for_line(|l| l.starts_with("helper "), Duration::from_secs(10))
            .unwrap();
        let helper = l.trim_start_matches("helper ").to_string();
        let stat = format!("/proc/{helper}/stat");
        assert!(std::path::Path::new(&stat).exists());
        drop(d);
        // Gone, a zombie, or at least past closing its files (it may not have reached the
        // zombie state the instant its pipe end closed).
        if let Ok(s) = std::fs::read_to_string(&stat) {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            let dead = state.starts_with('Z') || state.starts_with('X');
            let no_files = std::fs::read_dir(format!("/proc/{helper}/fd"))
                .map(|mut d| d.next().is_none())
                .unwrap_or(true);
            assert!(dead || no_files, "{s}");
        }
    }

    #[test]
    fn parses_proc_net_udp() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    \x20 372: 0100007F:98B3 00000000:0000 07 00000000:00000000 00 00000000     0        0 123 2 0 0\n\
                    \x20 373: 0100007F:98B4 00000000:0000 07 00000000:00000200 00 00000000     0        0 124 2 0 0\n";
        assert_eq!(parse_udp_rx_queue(text, 0x98b3), Some(0));
        assert_eq!(parse_udp_rx_queue(text, 0x98b4), Some(0x200));
        assert_eq!(parse_udp_rx_queue(text, 1), None);
        let with_drops = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                          \x20 372: 0100007F:98B3 00000000:0000 07 00000000:00000000 00 00000000     0        0 123 2 0000000000000000 17\n";
        assert_eq!(parse_udp_drops(with_drops, 0x98b3), Some(17));
        assert_eq!(parse_udp_drops(with_drops, 1), None);
        // A live socket with one unread datagram shows a non-empty queue.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert_eq!(udp_rx_queue(port).unwrap(), Some(0));
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(&[1, 2, 3], ("127.0.0.1", port))
            .unwrap();
        assert!(udp_rx_queue(port).unwrap().unwrap() > 0);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let t = TempDir::new("perf-unit").unwrap();
        let p = t.path().to_path_buf();
        std::fs::write(p.join("f"), b"x").unwrap();
        assert!(p.is_dir());
        drop(t);
        assert!(!p.exists());
    }
}
