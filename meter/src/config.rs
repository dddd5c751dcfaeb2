//! The configuration file: TOML whose keys are the command-line options' long names
//! (`idle-timeout = 300`, `ipfix = ["udp://192.0.2.9:4739"]`; `idle_timeout` works too).
//!
//! A file is turned into command-line arguments that go before the real ones, and only for
//! options the command line does not set itself, so every flag overrides the file and
//! both are validated by the very same parser. Mistakes name the file, the line and the key.

use std::ffi::OsString;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// An option of the command, as the file may set it.
struct OptionSpec {
    long: String,
    /// Takes no value (`json = true`).
    flag: bool,
}

fn options() -> Vec<OptionSpec> {
    Cli::command()
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?.to_string();
            let flag = matches!(
                a.get_action(),
                clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
            );
            Some(OptionSpec { long, flag })
        })
        .filter(|o| !matches!(o.long.as_str(), "config" | "help" | "version"))
        .collect()
}

/// Options whose values are number lists: a TOML array becomes "0,1,2".
const LIST_OPTIONS: [&str; 2] = ["queues", "cores"];
/// Either of these on the command line replaces both in the file.
const SOURCE_OPTIONS: [&str; 2] = ["pcap", "interface"];

/// Arguments from a config file, and where each option came from (for error messages).
#[derive(Debug, Default)]
pub struct FileArgs {
    pub args: Vec<OsString>,
    /// (long option, line in the file).
    pub origin: Vec<(String, usize)>,
    pub path: String,
}

impl FileArgs {
    /// "config FILE line N, key K" for an option that came from the file.
    pub fn locate(&self, long: &str) -> Option<String> {
        self.origin
            .iter()
            .find(|(l, _)| l == long)
            .map(|(l, line)| format!("{} line {line}, key {l}", self.path))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where top-level `key` is set.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(key)
                .or_else(|| {
                    t.strip_prefix('"')
                        .and_then(|r| r.strip_prefix(key))
                        .and_then(|r| r.strip_prefix('"'))
                })
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Does the command line set `--long` itself?
fn on_command_line(argv: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let with_value = format!("--{long}=");
    argv.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&with_value))
    })
}

/// Read `path` and turn it into arguments for the options `argv` does not set.
pub fn file_args(path: &Path, argv: &[OsString]) -> Result<FileArgs, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config {shown}: cannot read it: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| line_of(&text, s.start));
        format!(
            "config {shown} line {line}: {}",
            e.message().lines().next().unwrap_or("invalid TOML")
        )
    })?;
    let known = options();
    let mut out = FileArgs {
        path: shown.clone(),
        ..Default::default()
    };
    let cli_sets_source = SOURCE_OPTIONS.iter().any(|o| on_command_line(argv, o));
    for (key, value) in &table {
        if value.is_table() {
            let header = format!("[{key}]");
            let line = text
                .lines()
                .position(|l| l.trim().starts_with(&header))
                .map_or(0, |i| i + 1);
            return Err(format!(
                "config {shown} line {line}, key {key}: sections are not used; set keys at the top level"
            ));
        }
        let line = key_line(&text, key);
        let at = format!("config {shown} line {line}, key {key}");
        let long = key.replace('_', "-");
        let Some(spec) = known.iter().find(|o| o.long == long) else {
            return Err(format!(
                "{at}: unknown key (keys are the long options of meter --help, e.g. idle-timeout, ipfix, interface)"
            ));
        };
        if on_command_line(argv, &long)
            || (cli_sets_source && SOURCE_OPTIONS.contains(&long.as_str()))
        {
            continue;
        }
        let values: Vec<String> = match value {
            toml::Value::Array(items) => {
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                let items =
                    items.ok_or_else(|| format!("{at}: list items must be plain values"))?;
                if LIST_OPTIONS.contains(&long.as_str()) {
                    vec![items.join(",")]
                } else {
                    items
                }
            }
            v if spec.flag => match v {
                toml::Value::Boolean(true) => vec![String::new()],
                toml::Value::Boolean(false) => Vec::new(),
                _ => return Err(format!("{at}: expected true or false")),
            },
            v => vec![scalar(v).unwrap_or_default()],
        };
        // "all" queues is the default: nothing to pass.
        if long == "queues" && values.iter().all(|v| v == "all") {
            continue;
        }
        for v in values {
            out.args.push(format!("--{long}").into());
            if !spec.flag {
                out.args.push(v.into());
            }
        }
        out.origin.push((long, line));
    }
    Ok(out)
}

/// The value of `--config FILE` / `--config=FILE` in `argv`, if any.
pub fn config_path(argv: &[OsString]) -> Option<std::path::PathBuf> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(Into::into);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_args;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::write(text)
    }

    /// A tiny temp-file helper (no extra dependency).
    mod tempfile_path {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct TempPath(pub PathBuf);
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        pub fn write(text: &str) -> TempPath {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "meter-config-{}-{}.toml",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&p, text).unwrap();
            TempPath(p)
        }
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_values_apply_and_flags_override_them() {
        let f = write(
            "interface = \"eth2\"\nidle-timeout = 60\nactive_timeout = 600\nipfix = [\"udp://192.0.2.1:4739\", \"tcp://192.0.2.2:4739\"]\nqueues = [0, 1]\njson = true\nfilter = [\"exclude - - - 22 tcp\"]\n",
        );
        let cmd = argv(&["meter", "--idle-timeout", "30"]);
        let fa = file_args(&f.0, &cmd).unwrap();
        let mut all = vec![cmd[0].clone()];
        all.extend(fa.args.clone());
        all.extend(cmd[1..].iter().cloned());
        let cli = parse_args(all).unwrap();
        assert_eq!(cli.interface.as_deref(), Some("eth2"));
        assert_eq!(cli.idle_timeout, 30, "the command line wins");
        assert_eq!(cli.active_timeout, 600);
        assert_eq!(cli.ipfix.len(), 2);
        assert_eq!(cli.queues.unwrap().0, vec![0, 1]);
        assert!(cli.json);
        assert_eq!(cli.filter.len(), 1);
        assert_eq!(
            fa.locate("active-timeout").unwrap(),
            format!("{} line 3, key active-timeout", f.0.display())
        );
    }

    #[test]
    fn a_source_on_the_command_line_replaces_the_files() {
        let f = write("interface = \"eth2\"\n");
        let fa = file_args(&f.0, &argv(&["meter", "--pcap", "x.pcap"])).unwrap();
        assert!(fa.args.is_empty());
    }

    #[test]
    fn mistakes_name_the_line_and_the_key() {
        for (text, needle) in [
            (
                "idle-timeout = 60\nidle-timeot = 5\n",
                "line 2, key idle-timeot: unknown key",
            ),
            (
                "json = \"yes\"\n",
                "line 1, key json: expected true or false",
            ),
            (
                "[export]\nipfix = []\n",
                "line 1, key export: sections are not used",
            ),
            ("idle-timeout = \n", "line 1:"),
        ] {
            let f = write(text);
            let e = file_args(&f.0, &argv(&["meter"])).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let e = file_args(Path::new("/nonexistent/meter.toml"), &argv(&["meter"])).unwrap_err();
        assert!(e.contains("cannot read it"), "{e}");
    }

    #[test]
    fn the_config_path_is_found_in_both_spellings() {
        assert_eq!(
            config_path(&argv(&["meter", "--config", "a.toml"])),
            Some("a.toml".into())
        );
        assert_eq!(
            config_path(&argv(&["meter", "--config=b.toml"])),
            Some("b.toml".into())
        );
        assert_eq!(config_path(&argv(&["meter", "--pcap", "x"])), None);
    }
}
