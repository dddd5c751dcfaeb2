//! Transparent huge pages for the flow tables, with no setting to remember.
//!
//! A table of a million flows is 256 MiB touched at random: with 4 KiB pages nearly every
//! lookup also misses the TLB and walks the page tables, which costs about a fifth of the
//! offline rate (README, *Performance*). Debian's kernels give huge pages only to memory
//! a program asks for (`transparent_hugepage/enabled` = `madvise`), and glibc asks for
//! its allocations when `GLIBC_TUNABLES` holds `glibc.malloc.hugetlb=1`. That variable is
//! read once, when the program starts, so the commands that meter re-execute themselves
//! once with it set ([`reexec_with_huge_pages`]) instead of asking every operator and
//! every script to set it. An operator who sets `GLIBC_TUNABLES` at all (even empty)
//! keeps exactly what they set; where the kernel gives huge pages to every program
//! (`always`) or to none (`never`) nothing is re-executed.

use std::ffi::OsStr;

/// The environment variable glibc reads its tunables from.
pub const VAR: &str = "GLIBC_TUNABLES";
/// What the commands set it to.
pub const TUNABLE: &str = "glibc.malloc.hugetlb=1";
const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// The kernel's transparent huge page mode: `always`, `madvise` or `never` (the bracketed
/// word of sysfs), or `None` where the kernel has none.
pub fn thp_mode() -> Option<String> {
    let s = std::fs::read_to_string(THP_ENABLED).ok()?;
    let start = s.find('[')? + 1;
    let len = s.get(start..)?.find(']')?;
    Some(s.get(start..start + len)?.to_string())
}

/// Whether the re-execution is worth doing for this kernel mode and `GLIBC_TUNABLES` value.
fn wanted(mode: Option<&str>, tunables: Option<&OsStr>) -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
        && tunables.is_none()
        && mode == Some("madvise")
}

/// Whether this process's allocations get huge pages: the kernel gives them to everyone,
/// or it gives them on request and glibc was told to ask.
pub fn in_effect() -> bool {
    let tunables = std::env::var(VAR).unwrap_or_default();
    match thp_mode().as_deref() {
        Some("always") => true,
        Some("madvise") => tunables
            .split(':')
            .any(|t| t.strip_prefix("glibc.malloc.hugetlb=").is_some_and(|v| v != "0")),
        _ => false,
    }
}

/// Replace this process by the same program, with the same arguments, and `GLIBC_TUNABLES`
/// set to [`TUNABLE`], when that gives the tables huge pages they would not get otherwise.
/// Call first thing in `main`, before any thread starts. Returns when nothing was to be
/// done, or with the error when the exec failed (the caller then runs on as it is: huge
/// pages are a speed-up, not a requirement).
pub fn reexec_with_huge_pages() -> Option<std::io::Error> {
    // Under valgrind the exec of /proc/self/exe would start the tool's launcher itself,
    // which refuses to run.
    if !wanted(thp_mode().as_deref(), std::env::var_os(VAR).as_deref())
        || std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"))
    {
        return None;
    }
    reexec()
}

#[cfg(unix)]
fn reexec() -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    // /proc/self/exe is the very file this process runs, even if a package upgrade
    // replaced the path in the meantime.
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env(VAR, TUNABLE)
        .exec();
    Some(err)
}

#[cfg(not(unix))]
fn reexec() -> Option<std::io::Error> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unset_variable_on_a_madvise_kernel_asks_for_the_exec() {
        let glibc_linux = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!(wanted(Some("madvise"), None), glibc_linux);
        assert!(!wanted(Some("madvise"), Some(OsStr::new(""))));
        assert!(!wanted(
            Some("madvise"),
            Some(OsStr::new("glibc.malloc.hugetlb=0"))
        ));
        assert!(!wanted(Some("always"), None));
        assert!(!wanted(Some("never"), None));
        assert!(!wanted(None, None));
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
