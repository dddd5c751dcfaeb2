//! Huge pages for the flow tables, with no setting to remember.
//!
//! A table of a million flows is 276 MiB (index and entries) touched at random: with
//! 4 KiB pages nearly every lookup also misses the TLB and walks the page tables, which
//! costs about a fifth of the offline rate (README, *Performance*). And every new flow
//! writes memory the process has never written, whose page faults are slow on virtual
//! machines (the host backs guest memory lazily and takes freed memory back). Huge pages
//! help both ways:
//! - *reserved* ones (`vm.nr_hugepages`, the pool DPDK and nProbe Cento use) stay with the
//!   kernel between runs, so their faults are only the zeroing (10x faster than fresh
//!   memory on the development VM); glibc maps its large allocations from the pool when
//!   `GLIBC_TUNABLES` holds `glibc.malloc.hugetlb=2`, and falls back to ordinary pages
//!   when the pool is empty;
//! - *transparent* ones: Debian's kernels give them to memory a program asks for
//!   (`transparent_hugepage/enabled` = `madvise`), and glibc asks for its allocations
//!   with `glibc.malloc.hugetlb=1`.
//!
//! glibc reads the variable once, when the program starts, so the commands that meter
//! re-execute themselves once with it set ([`reexec_with_huge_pages`]): to the pool when
//! it has free pages, else to transparent pages when the kernel gives them on request. An
//! operator who sets `GLIBC_TUNABLES` at all (even empty) keeps exactly what they set.

use std::ffi::OsStr;

/// The environment variable glibc reads its tunables from.
pub const VAR: &str = "GLIBC_TUNABLES";
/// Large allocations from the reserved pool.
pub const RESERVED: &str = "glibc.malloc.hugetlb=2";
/// Large allocations advised to transparent huge pages.
pub const TRANSPARENT: &str = "glibc.malloc.hugetlb=1";
const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// The kernel's transparent huge page mode: `always`, `madvise` or `never` (the bracketed
/// word of sysfs), or `None` where the kernel has none.
pub fn thp_mode() -> Option<String> {
    let s = std::fs::read_to_string(THP_ENABLED).ok()?;
    let start = s.find('[')? + 1;
    let len = s.get(start..)?.find(']')?;
    Some(s.get(start..start + len)?.to_string())
}

/// Free pages of the reserved huge page pool (`HugePages_Free` of /proc/meminfo).
pub fn pool_free_pages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("HugePages_Free:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The tunable to re-execute with, for this kernel mode, pool and `GLIBC_TUNABLES` value.
fn wanted(mode: Option<&str>, pool_free: u64, tunables: Option<&OsStr>) -> Option<&'static str> {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || tunables.is_some() {
        return None;
    }
    if pool_free > 0 {
        Some(RESERVED)
    } else if mode == Some("madvise") {
        Some(TRANSPARENT)
    } else {
        None
    }
}

/// Which huge pages this process's large allocations get: `reserved` (from the pool while
/// it lasts), `transparent`, or `none`.
pub fn in_effect() -> &'static str {
    let tunables = std::env::var(VAR).unwrap_or_default();
    let hugetlb: u64 = tunables
        .split(':')
        .find_map(|t| t.strip_prefix("glibc.malloc.hugetlb="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mode = thp_mode();
    if hugetlb >= 2 {
        "reserved"
    } else if mode.as_deref() == Some("always")
        || (hugetlb == 1 && mode.as_deref() == Some("madvise"))
    {
        "transparent"
    } else {
        "none"
    }
}

/// Replace this process by the same program, with the same arguments, and `GLIBC_TUNABLES`
/// set as [`wanted`] says, when that gives the tables huge pages they would not get
/// otherwise. Call first thing in `main`, before any thread starts. Returns when nothing
/// was to be done, or with the error when the exec failed (the caller then runs on as it
/// is: huge pages are a speed-up, not a requirement).
pub fn reexec_with_huge_pages() -> Option<std::io::Error> {
    let tunable = wanted(
        thp_mode().as_deref(),
        pool_free_pages(),
        std::env::var_os(VAR).as_deref(),
    )?;
    // Under valgrind an exec leaves the tool (the program would go on natively, unseen).
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload")) {
        return None;
    }
    reexec(tunable)
}

#[cfg(unix)]
fn reexec(tunable: &str) -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    // The program's own path, not /proc/self/exe: the kernel names the process after the
    // file executed, and `ps`, `pgrep meter` and the journal should still say "meter". (If
    // the file was deleted since, the exec fails and the run goes on without.)
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let err = std::process::Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env(VAR, tunable)
        .exec();
    Some(err)
}

#[cfg(not(unix))]
fn reexec(_: &str) -> Option<std::io::Error> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unset_variable_asks_for_the_exec_and_the_pool_comes_first() {
        let on = |t: &'static str| cfg!(all(target_os = "linux", target_env = "gnu")).then_some(t);
        assert_eq!(wanted(Some("madvise"), 0, None), on(TRANSPARENT));
        assert_eq!(wanted(Some("madvise"), 512, None), on(RESERVED));
        assert_eq!(wanted(Some("always"), 512, None), on(RESERVED));
        assert_eq!(wanted(Some("never"), 1, None), on(RESERVED));
        assert_eq!(wanted(Some("madvise"), 512, Some(OsStr::new(""))), None);
        assert_eq!(
            wanted(
                Some("madvise"),
                0,
                Some(OsStr::new("glibc.malloc.hugetlb=0"))
            ),
            None
        );
        assert_eq!(wanted(Some("always"), 0, None), None);
        assert_eq!(wanted(Some("never"), 0, None), None);
        assert_eq!(wanted(None, 0, None), None);
    }

    #[test]
    fn thp_mode_is_one_of_the_kernel_words() {
        if let Some(m) = thp_mode() {
            assert!(["always", "madvise", "never"].contains(&m.as_str()), "{m}");
        } else {
            assert!(std::fs::metadata(THP_ENABLED).is_err());
        }
    }
}
