//! `tuning/meter-tune` against a real veth pair in a private network namespace: check finds
//! what is not set, dry-run prints commands and changes nothing, apply really changes the
//! device (read back with `ethtool`), check passes afterwards, and what veth lacks (RSS,
//! interrupts) is reported as "not supported by driver veth". The RSS path is exercised with
//! a stand-in `ethtool -x/-X` that behaves like a multi-queue NIC's driver, because veth has
//! none. Needs root (CI runs as root); everything created is deleted by drop guards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tuning/meter-tune");

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn must(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A network namespace holding a veth pair with 4 queues, deleted (with its veths) on drop.
struct Netns {
    name: String,
    /// The end meter-tune works on; its peer is `{dev}p`.
    dev: String,
}

impl Netns {
    fn new(tag: char) -> Netns {
        let name = format!("tu{}{tag}", std::process::id());
        // Leftover of an earlier run that was killed before its guard ran.
        let _ = run("ip", &["netns", "del", &name]);
        assert!(
            run("ip", &["netns", "add", &name]).status.success(),
            "cannot create network namespace {name}: this test needs root (CI runs as root)"
        );
        let ns = Netns {
            dev: name.clone(),
            name,
        };
        let peer = format!("{}p", ns.dev);
        must(
            "ip",
            &[
                "-n",
                &ns.name,
                "link",
                "add",
                &ns.dev,
                "numrxqueues",
                "4",
                "numtxqueues",
                "4",
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "numrxqueues",
                "4",
                "numtxqueues",
                "4",
            ],
        );
        // veth starts with GRO off; turn it on so there is an offload to undo.
        ns.exec("ethtool", &["-K", &ns.dev, "generic-receive-offload", "on"]);
        ns
    }

    fn exec(&self, cmd: &str, args: &[&str]) -> String {
        let mut a = vec!["netns", "exec", &self.name, cmd];
        a.extend_from_slice(args);
        must("ip", &a)
    }

    /// Run meter-tune in the namespace; (exit code, stdout). Stderr must be empty unless
    /// the run is a usage error.
    fn tune(&self, args: &[&str], path_prefix: Option<&Path>) -> (i32, String) {
        self.tune_in(args, path_prefix, None)
    }

    /// As [`tune`](Netns::tune), optionally with sysfs and procfs replaced by `fake_root`'s
    /// `sys` and `proc` (meter-tune's METER_TUNE_SYSFS/METER_TUNE_PROCFS).
    fn tune_in(
        &self,
        args: &[&str],
        path_prefix: Option<&Path>,
        fake_root: Option<&Path>,
    ) -> (i32, String) {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, SCRIPT]).args(args);
        if let Some(root) = fake_root {
            c.env("METER_TUNE_SYSFS", root.join("sys"));
            c.env("METER_TUNE_PROCFS", root.join("proc"));
        }
        if let Some(p) = path_prefix {
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("{}:{path}", p.display()));
        }
        let o = c.output().expect("run meter-tune");
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let code = o.status.code().expect("meter-tune exited by a signal");
        println!(
            "$ meter-tune {}\n{stdout}{stderr}(exit {code})",
            args.join(" ")
        );
        assert!(
            stderr.is_empty() || code == 2,
            "meter-tune wrote to stderr: {stderr}"
        );
        (code, stdout)
    }

    /// What meter-tune may change, as the kernel reports it.
    fn device_state(&self) -> String {
        let sysfs = |f: &str| self.exec("cat", &[&format!("/sys/class/net/{}/{f}", self.dev)]);
        format!(
            "{}{}napi_defer_hard_irqs {}gro_flush_timeout {}",
            self.exec("ethtool", &["-k", &self.dev]),
            self.exec("ethtool", &["-l", &self.dev]),
            sysfs("napi_defer_hard_irqs"),
            sysfs("gro_flush_timeout"),
        )
    }

    fn feature(&self, name: &str) -> String {
        let k = self.exec("ethtool", &["-k", &self.dev]);
        k.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} missing from ethtool -k"))
            .to_string()
    }

    fn rx_channels(&self) -> u32 {
        let l = self.exec("ethtool", &["-l", &self.dev]);
        let current = l.split("Current hardware settings:").nth(1).unwrap();
        current
            .lines()
            .find_map(|l| l.strip_prefix("RX:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes both veth ends inside it.
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// The status word of the line about `setting`.
fn status<'a>(out: &'a str, setting: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(setting))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line about {setting} in:\n{out}"))
}

fn line<'a>(out: &'a str, setting: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(setting))
        .unwrap_or_else(|| panic!("no line about {setting} in:\n{out}"))
}

#[test]
fn check_apply_check_on_veth() {
    let ns = Netns::new('a');
    let dev = ns.dev.clone();

    let (code, out) = ns.tune(&["check", &dev, "--cores", "0,1"], None);
    assert_eq!(code, 1, "check must fail before apply");
    for s in [
        "generic-receive-offload",
        "rx-vlan-offload",
        "rx-vlan-stag-hw-parse",
        "queues",
        "napi_defer_hard_irqs",
        "gro_flush_timeout",
    ] {
        assert_eq!(status(&out, s), "FIX", "{s}");
    }
    assert!(line(&out, "queues").contains("4 -> 2 rx channels"));
    // LRO cannot be on for veth (fixed off): nothing to do, reported ok.
    assert_eq!(status(&out, "large-receive-offload"), "ok");
    // What veth lacks is said plainly and does not fail the check by itself.
    assert!(line(&out, "symmetric").contains("not supported by driver veth"));
    assert!(
        out.contains("IRQ affinity")
            && out.contains("not supported by driver veth (virtual device")
    );
    assert!(
        out.contains("6 setting(s) not as the meter needs them"),
        "{out}"
    );

    let (code, out) = ns.tune(&["apply", &dev, "--cores", "0,1"], None);
    assert_eq!(code, 0, "apply failed");
    assert_eq!(status(&out, "generic-receive-offload"), "set");
    assert_eq!(ns.feature("generic-receive-offload"), "off");
    assert_eq!(ns.feature("rx-vlan-offload"), "off");
    assert_eq!(ns.feature("rx-vlan-stag-hw-parse"), "off");
    assert_eq!(ns.rx_channels(), 2);
    let sysfs = |f: &str| ns.exec("cat", &[&format!("/sys/class/net/{dev}/{f}")]);
    assert_eq!(sysfs("napi_defer_hard_irqs").trim(), "2");
    assert_eq!(sysfs("gro_flush_timeout").trim(), "200000");

    let (code, out) = ns.tune(&["check", &dev, "--cores", "0,1"], None);
    assert_eq!(code, 0, "check must pass after apply");
    assert!(!out.lines().any(|l| l.starts_with("FIX")), "{out}");
    assert!(out.contains("every setting as the meter needs it"));

    // A second apply has nothing left to do.
    let (code, out) = ns.tune(&["apply", &dev, "--cores", "0,1"], None);
    assert_eq!(code, 0);
    assert!(!out.lines().any(|l| l.starts_with("set")), "{out}");

    // Asking for more queues than the driver has fails in both modes, saying why.
    let (code, out) = ns.tune(&["check", &dev, "--queues", "9"], None);
    assert_eq!(code, 1);
    assert!(line(&out, "queues").contains("driver veth offers at most 4 rx channels"));
    let (code, out) = ns.tune(&["apply", &dev, "--queues", "9"], None);
    assert_eq!(code, 1);
    assert_eq!(status(&out, "queues"), "FAIL");
    assert_eq!(ns.rx_channels(), 2);
}

#[test]
fn dry_run_prints_commands_and_changes_nothing() {
    let ns = Netns::new('d');
    let dev = ns.dev.clone();
    let before = ns.device_state();
    assert!(before.contains("generic-receive-offload: on"));

    let (code, out) = ns.tune(&["--dry-run", "apply", &dev, "--queues", "1"], None);
    assert_eq!(code, 0);
    for cmd in [
        format!("ethtool -L {dev} rx 1"),
        format!("ethtool -K {dev} generic-receive-offload off"),
        format!("ethtool -K {dev} rx-vlan-offload off"),
        format!("echo 2 > /sys/class/net/{dev}/napi_defer_hard_irqs"),
        format!("echo 200000 > /sys/class/net/{dev}/gro_flush_timeout"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("would") && l.ends_with(&cmd)),
            "dry run does not show {cmd:?}"
        );
    }
    assert!(out.trim_end().ends_with("dry run: nothing changed"));
    assert_eq!(ns.device_state(), before, "dry run changed the device");
    // With one queue, RSS does not matter; the line says so.
    assert!(line(&out, "symmetric").contains("one receive queue"));
}

/// A stand-in for `ethtool -x/-X` of a NIC with 4 queues and a 40-byte Toeplitz key (as
/// i40e, mlx5 and ixgbe print it); every other call goes to the real ethtool.
fn fake_rss_ethtool(dir: &Path) {
    let real = String::from_utf8(run("sh", &["-c", "command -v ethtool"]).stdout).unwrap();
    let script = format!(
        r#"#!/bin/sh
state={dir}/key
[ -e "$state" ] || echo 7c:9c:37:de:18:dd:17:7a:dd:ae:7b:f3:a2:16:1a:74:06:c8:ee:ef:d3:23:f7:ab:86:83:4c:40:1d:9d:4f:61:c5:e5:85:64:d6:5c:8e:9f > "$state"
case "$1" in
-x)
    printf 'RX flow hash indirection table for %s with 4 RX ring(s):\n    0:      0     1     2     3     0     1     2     3\n' "$2"
    printf 'RSS hash key:\n%s\nRSS hash function:\n    toeplitz: on\n    xor: off\n    crc32: off\n' "$(cat "$state")"
    ;;
-X)
    echo "$@" >> {dir}/log
    [ "$3 $4 $5" = "hfunc toeplitz hkey" ] || exit 1
    echo "$6" > "$state"
    ;;
*) exec {real} "$@" ;;
esac
"#,
        dir = dir.display(),
        real = real.trim()
    );
    let path = dir.join("ethtool");
    std::fs::write(&path, script).unwrap();
    must("chmod", &["+x", path.to_str().unwrap()]);
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn symmetric_rss_key_is_set_where_the_driver_allows() {
    let ns = Netns::new('r');
    let dev = ns.dev.clone();
    let shim = TempDir(std::env::temp_dir().join(format!("tu{}shim", std::process::id())));
    let _ = std::fs::remove_dir_all(&shim.0);
    std::fs::create_dir_all(&shim.0).unwrap();
    fake_rss_ethtool(&shim.0);

    let (code, out) = ns.tune(&["check", &dev], Some(shim.0.as_path()));
    assert_eq!(code, 1);
    assert_eq!(status(&out, "symmetric"), "FIX");

    let (_, out) = ns.tune(&["--dry-run", "apply", &dev], Some(shim.0.as_path()));
    let key: Vec<&str> = ["6d", "5a"].iter().copied().cycle().take(40).collect();
    let want = format!("ethtool -X {dev} hfunc toeplitz hkey {}", key.join(":"));
    assert!(line(&out, "symmetric").ends_with(&want), "{out}");
    assert!(!shim.0.join("log").exists(), "dry run ran ethtool -X");

    let (code, _) = ns.tune(&["apply", &dev], Some(shim.0.as_path()));
    assert_eq!(code, 0);
    let log = std::fs::read_to_string(shim.0.join("log")).unwrap();
    assert_eq!(log.trim(), want.trim_start_matches("ethtool "));

    let (code, out) = ns.tune(&["check", &dev], Some(shim.0.as_path()));
    assert_eq!(code, 0, "check after apply");
    assert_eq!(status(&out, "symmetric"), "ok");
}

#[test]
fn usage_mistakes_exit_2_with_one_clear_line() {
    for (args, says) in [
        (vec!["check", "tunosuch0"], "no interface 'tunosuch0'"),
        (
            vec!["--dry-run", "check", "lo"],
            "--dry-run goes with apply",
        ),
        (vec!["frob", "lo"], "unknown command frob"),
        (vec!["check", "lo", "--cores", "x"], "--cores wants a list"),
        (
            vec!["check", "lo", "--cores", "100000"],
            "core 100000 does not exist",
        ),
        (
            vec!["check", "lo", "--queues", "0"],
            "--queues wants a number >= 1",
        ),
    ] {
        let o = run(SCRIPT, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            err.lines().next().unwrap_or("").contains(says),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

fn irq_line(out: &str, irq: u32) -> &str {
    out.lines()
        .find(|l| l.contains(&format!(" IRQ {irq} (")))
        .unwrap_or_else(|| panic!("no line about IRQ {irq} in:\n{out}"))
}

/// A made-up sysfs/procfs for the veth: a NIC with an admin interrupt and three queue
/// interrupts, and host-wide sysctls at their defaults. Lets the test exercise interrupt
/// affinity, busy-poll sysctls and hugepages without a NIC and without changing the host.
fn fake_tree(root: &Path, dev: &str) {
    let w = |p: &str, v: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    };
    for irq in ["40", "41", "42", "43"] {
        w(
            &format!("sys/class/net/{dev}/device/msi_irqs/{irq}"),
            "msix\n",
        );
    }
    for q in ["rx-0", "rx-1", "tx-0", "tx-1"] {
        std::fs::create_dir_all(root.join(format!("sys/class/net/{dev}/queues/{q}"))).unwrap();
    }
    w(&format!("sys/class/net/{dev}/napi_defer_hard_irqs"), "0\n");
    w(&format!("sys/class/net/{dev}/gro_flush_timeout"), "0\n");
    w(
        "proc/interrupts",
        &format!(
            "            CPU0       CPU1\n\
             \x20 40:          1          0  IR-PCI-MSI 1048576-edge      {dev}-async\n\
             \x20 41:        100          0  IR-PCI-MSI 1048577-edge      {dev}-TxRx-0\n\
             \x20 43:          0        100  IR-PCI-MSI 1048579-edge      {dev}-TxRx-2\n\
             \x20 42:          0        100  IR-PCI-MSI 1048578-edge      {dev}-TxRx-1\n"
        ),
    );
    for irq in ["40", "41", "42", "43"] {
        w(&format!("proc/irq/{irq}/smp_affinity_list"), "0-1\n");
    }
    w("proc/sys/net/core/busy_poll", "0\n");
    w("proc/sys/net/core/busy_read", "0\n");
    w("proc/sys/vm/nr_hugepages", "0\n");
}

#[test]
fn irq_affinity_busy_poll_and_hugepages() {
    let ns = Netns::new('i');
    let dev = ns.dev.clone();
    let root = TempDir(std::env::temp_dir().join(format!("tu{}tree", std::process::id())));
    let _ = std::fs::remove_dir_all(&root.0);
    fake_tree(&root.0, &dev);
    let read = |p: &str| {
        std::fs::read_to_string(root.0.join(p))
            .unwrap()
            .trim()
            .to_string()
    };
    let irqbalance = run("pgrep", &["-x", "irqbalance"]).status.success();
    let args = ["--cores", "0,1", "--hugepages", "8"];

    let (code, out) = ns.tune_in(&[&["check", &dev][..], &args].concat(), None, Some(&root.0));
    assert_eq!(code, 1);
    // Queue interrupts in queue order (the file lists 43 before 42), cores round-robin;
    // the admin interrupt 40 is left alone.
    assert!(out.contains("FIX   IRQ 41 (queue 0)"), "{out}");
    assert!(irq_line(&out, 41).ends_with("cores 0-1 -> 0"));
    assert!(irq_line(&out, 42).ends_with("cores 0-1 -> 1"));
    assert!(irq_line(&out, 43).ends_with("cores 0-1 -> 0"));
    assert!(!out.contains("IRQ 40"));
    assert_eq!(status(&out, "net.core.busy_poll"), "FIX");
    assert_eq!(status(&out, "vm.nr_hugepages"), "FIX");

    let (_, out) = ns.tune_in(
        &[&["--dry-run", "apply", &dev][..], &args].concat(),
        None,
        Some(&root.0),
    );
    let irq42 = root.0.join("proc/irq/42/smp_affinity_list");
    assert!(
        irq_line(&out, 42).ends_with(&format!("echo 1 > {}", irq42.display())),
        "{out}"
    );
    assert_eq!(
        read("proc/irq/42/smp_affinity_list"),
        "0-1",
        "dry run wrote"
    );

    let (code, out) = ns.tune_in(&[&["apply", &dev][..], &args].concat(), None, Some(&root.0));
    assert_eq!(code, if irqbalance { 1 } else { 0 }, "{out}");
    assert_eq!(read("proc/irq/41/smp_affinity_list"), "0");
    assert_eq!(read("proc/irq/42/smp_affinity_list"), "1");
    assert_eq!(read("proc/irq/43/smp_affinity_list"), "0");
    assert_eq!(read("proc/irq/40/smp_affinity_list"), "0-1");
    assert_eq!(read("proc/sys/net/core/busy_poll"), "50");
    assert_eq!(read("proc/sys/net/core/busy_read"), "50");
    assert_eq!(read("proc/sys/vm/nr_hugepages"), "8");
    assert_eq!(
        read(&format!("sys/class/net/{dev}/napi_defer_hard_irqs")),
        "2"
    );

    let (code, out) = ns.tune_in(&[&["check", &dev][..], &args].concat(), None, Some(&root.0));
    if irqbalance {
        // It would move the interrupts back: that is reported, not hidden.
        assert_eq!((code, status(&out, "irqbalance")), (1, "FIX"));
    } else {
        assert_eq!(code, 0, "{out}");
    }
}
