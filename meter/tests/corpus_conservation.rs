//! Every capture of tcpdump's test corpus (real and deliberately malformed traffic) runs
//! through the whole offline pipeline without a panic, and every packet read ends in
//! exactly one exported record or one named drop counter. Every uniflow of those records
//! also encodes to the same IPFIX bytes through the profile's section encoders into the
//! exporter's fixed record buffer as through its generic getters into a vector.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipfix_export::value::{RecordBuf, RecordEncoder};
use meter::export::profile::{Profile, Uniflow};
use meter::export::{FlowOutput, OutputReport};
use meter::flow::{FlowRecord, TableConfig};
use meter::pipeline::{MeterStats, PipelineConfig, run_file};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/tcpdump")
}

#[derive(Default)]
struct Seen {
    packets: u64,
    records: u64,
    uniflows: u64,
    /// Records that carried no packet (must never happen), with a description.
    empty: Vec<String>,
    /// Uniflows whose two encodings differ, with both.
    encodings_differ: Vec<String>,
    /// Template IDs the uniflows were encoded with.
    templates: std::collections::BTreeSet<u16>,
}

/// Counts what reaches the outputs, independently of the pipeline's own counters.
struct Counting(Arc<Mutex<Seen>>, Profile, Box<RecordBuf>);

impl FlowOutput for Counting {
    fn write(&mut self, rec: &FlowRecord, _now: u32) {
        let mut s = self.0.lock().unwrap();
        for uf in Uniflow::of(rec, self.1.pen) {
            let spec = self.1.spec(&uf);
            let mut generic = Vec::new();
            self.2.clear();
            self.1
                .encode(spec, &uf, &mut RecordEncoder::new(&mut *self.2));
            self.1
                .write(spec, &uf, &mut RecordEncoder::new(&mut generic));
            let fast = self.2.record().unwrap_or_default();
            if fast != generic {
                s.encodings_differ
                    .push(format!("{fast:02x?} / {generic:02x?}"));
            }
            s.templates.insert(spec.template.id);
        }
        s.packets += rec.packets();
        s.records += 1;
        s.uniflows += rec.uniflows() as u64;
        if rec.packets() == 0 {
            s.empty.push(format!("{:?} {:?}", rec.end_reason, rec.dir));
        }
    }
    fn tick(&mut self, _now: u32) {}
    fn finish(self: Box<Self>, _: &MeterStats, _: u32) -> Result<OutputReport, String> {
        Ok(OutputReport::default())
    }
}

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("../shared/corpus/tcpdump must exist beside the repository")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap") | Some("pcapng")
            )
        })
        .collect();
    v.sort();
    v
}

/// Frames read, whether reading stopped on an error, and the templates used.
fn check(
    path: &Path,
    workers: usize,
    max_flows: usize,
) -> (u64, bool, std::collections::BTreeSet<u16>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let cfg = PipelineConfig {
        workers,
        table: TableConfig {
            max_flows,
            ..TableConfig::default()
        },
        ..PipelineConfig::default()
    };
    let out = Counting(seen.clone(), Profile::new(32473), RecordBuf::new());
    let r = match run_file(path, &cfg, vec![Box::new(out)]) {
        Ok(r) => r,
        // Files that are not captures at all (bad magic, empty) are refused up front.
        Err(_) => return (0, false, Default::default()),
    };
    let s = seen.lock().unwrap();
    assert!(
        s.encodings_differ.is_empty(),
        "{}: fast and generic encodings differ: {:?}",
        path.display(),
        s.encodings_differ
    );
    let st = &r.stats;
    assert!(
        s.empty.is_empty(),
        "{}: records without packets: {:?}",
        path.display(),
        s.empty
    );
    assert_eq!(
        s.packets + st.dropped_frames(),
        st.frames,
        "{}: {} read, {} in records, {} dropped",
        path.display(),
        st.frames,
        s.packets,
        st.dropped_frames()
    );
    assert_eq!(s.packets, st.exported_packets, "{}", path.display());
    assert_eq!(s.records, st.exported_flow_records, "{}", path.display());
    assert_eq!(st.export_dropped_packets, 0, "offline export must not drop");
    assert!(st.check_conservation().is_ok(), "{}", path.display());
    let by_reason: u64 = st.table.records_by_reason.iter().sum();
    assert_eq!(by_reason, s.records, "{}", path.display());
    (st.frames, r.source_error.is_some(), s.templates.clone())
}

#[test]
fn every_corpus_capture_conserves_packets_one_worker() {
    let files = captures();
    assert!(
        files.len() > 800,
        "corpus incomplete: {} files",
        files.len()
    );
    let mut frames = 0;
    let mut metered_files = 0;
    let mut templates = std::collections::BTreeSet::new();
    for f in &files {
        let (n, _, t) = check(f, 1, 1 << 16);
        frames += n;
        metered_files += usize::from(n > 0);
        templates.extend(t);
    }
    // The encodings were compared on the kinds of record the corpus holds: IPv4 other,
    // ICMP, TCP with narrow and wide options and MPTCP (256-260), IPv6 other, ICMPv6 and
    // TCP (262-264).
    for t in [256, 257, 258, 259, 260, 262, 263, 264] {
        assert!(templates.contains(&t), "template {t} unused: {templates:?}");
    }
    // Nearly every file is a real capture; the total is what the corpus holds.
    assert!(metered_files > 780, "only {metered_files} captures read");
    assert!(frames > 10_000, "only {frames} frames read");
}

#[test]
fn every_corpus_capture_conserves_packets_two_workers_tiny_table() {
    // Two workers and a table of 4 flows: evictions everywhere, still nothing lost.
    for f in &captures() {
        check(f, 2, 4);
    }
}
