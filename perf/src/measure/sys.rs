//! Process accounting from /proc: CPU time of this thread, of reaped children, of a
//! process; peak memory (VmHWM plus reserved huge pages); running a command while
//! sampling it.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Clock ticks per second of /proc/*/stat times (USER_HZ, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// Fields after the parenthesised command name of a /proc stat line; field 3 (state) is
/// index 0.
fn stat_fields(text: &str) -> Vec<&str> {
    text.rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default()
}

fn ticks(fields: &[&str], idx: &[usize]) -> Option<f64> {
    let mut t = 0u64;
    for &i in idx {
        t += fields.get(i)?.parse::<u64>().ok()?;
    }
    Some(t as f64 / USER_HZ)
}

/// CPU seconds this thread has run: /proc/thread-self/schedstat (nanoseconds), else
/// utime + stime of /proc/thread-self/stat.
pub fn thread_cpu_secs() -> f64 {
    if let Ok(s) = fs::read_to_string("/proc/thread-self/schedstat")
        && let Some(ns) = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
    {
        return ns as f64 / 1e9;
    }
    fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| ticks(&stat_fields(&s), &[11, 12]))
        .unwrap_or(0.0)
}

/// CPU seconds of this process's children that have been waited for (cutime + cstime).
pub fn reaped_children_cpu_secs() -> f64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&stat_fields(&s), &[13, 14]))
        .unwrap_or(0.0)
}

/// utime + stime of a live process.
pub fn process_cpu_secs(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks(&stat_fields(&s), &[11, 12])
}

/// Peak memory of a process in KiB; `None` for this process means "self": VmHWM (the
/// peak resident set) plus the huge pages it holds from the reserved pool now
/// (HugetlbPages), which the resident set does not count: a meter whose tables come from
/// the pool shows a few MiB of VmHWM. Sampled while a process runs, the largest value is
/// its peak to within a sampling interval.
pub fn peak_memory_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    let s = fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(field("VmHWM:")? + field("HugetlbPages:").unwrap_or(0))
}

fn children_of(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What [`run_sampled`] observed.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub wall_secs: f64,
    /// CPU seconds of the process and every descendant it waited for.
    pub cpu_secs: f64,
    /// Largest [`peak_memory_kib`] sum of the process and its direct children seen while
    /// sampling.
    pub peak_memory_kib: u64,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
}

/// Run `cmd` to completion (stdin closed, stdout and stderr into files), sampling its peak
/// memory every 20 ms. The exit is an event (a waiter thread), not a poll; on `timeout`
/// the process group is killed. CPU is the increase of this process's reaped-children
/// time, so nothing else may be reaped meanwhile (collector guards are reaped at their
/// own stop).
pub fn run_sampled(
    cmd: Command,
    stdout: &Path,
    stderr: &Path,
    timeout: Duration,
) -> Result<RunStats, String> {
    let (tx, _rx) = mpsc::channel();
    run_sampled_with_pid(cmd, stdout, stderr, timeout, tx)
}

/// [`run_sampled`], sending the child's process ID on `pid_tx` once it started.
pub fn run_sampled_with_pid(
    mut cmd: Command,
    stdout: &Path,
    stderr: &Path,
    timeout: Duration,
    pid_tx: mpsc::Sender<u32>,
) -> Result<RunStats, String> {
    use std::os::unix::process::CommandExt;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = fs::File::create(stdout).map_err(|e| format!("{}: {e}", stdout.display()))?;
    let err = fs::File::create(stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let cpu0 = reaped_children_cpu_secs();
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child.id();
    let _ = pid_tx.send(pid);
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let s = child.wait().ok();
        let _ = tx.send(s);
    });
    let mut peak = 0u64;
    let mut timed_out = false;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(s) => break s,
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut mem = peak_memory_kib(Some(pid)).unwrap_or(0);
                for c in children_of(pid) {
                    mem += peak_memory_kib(Some(c)).unwrap_or(0);
                }
                peak = peak.max(mem);
                if t0.elapsed() > timeout && !timed_out {
                    timed_out = true;
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pid}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    };
    let wall = t0.elapsed().as_secs_f64();
    let _ = waiter.join();
    let cpu = reaped_children_cpu_secs() - cpu0;
    Ok(RunStats {
        wall_secs: wall,
        cpu_secs: cpu.max(0.0),
        peak_memory_kib: peak,
        status,
        timed_out,
    })
}

/// Whether `program` is an executable on PATH (or a path that exists).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_accounting_reads_proc() {
        let a = thread_cpu_secs();
        // Burn 50 ms of this thread's time.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(x > 0);
        assert!(thread_cpu_secs() > a);
        assert!(peak_memory_kib(None).unwrap() > 0);
        assert!(on_path("sh"));
        assert!(!on_path("no-such-program-perf"));
    }

    #[test]
    fn sampled_run_reports_exit_and_cpu() {
        let dir = crate::collector::TempDir::new("perf-sys").unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done",
        ]);
        let r = run_sampled(
            cmd,
            &dir.path().join("o"),
            &dir.path().join("e"),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(r.status.unwrap().success());
        assert!(!r.timed_out);
        assert!(r.cpu_secs > 0.0);
        assert_eq!(fs::read_to_string(dir.path().join("o")).unwrap(), "done\n");
    }
}
