//! Every capture of tcpdump's test corpus (real and deliberately malformed traffic) runs
//! through the whole offline pipeline without a panic, and every packet read ends in
//! exactly one exported record or one named drop counter.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

/// Counts what reaches the outputs, independently of the pipeline's own counters.
struct Counting(Arc<Mutex<Seen>>);

impl FlowOutput for Counting {
    fn write(&mut self, rec: &FlowRecord, _now: u32) {
        let mut s = self.0.lock().unwrap();
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

fn check(path: &Path, workers: usize, max_flows: usize) -> (u64, bool) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let cfg = PipelineConfig {
        workers,
        table: TableConfig {
            max_flows,
            ..TableConfig::default()
        },
        ..PipelineConfig::default()
    };
    let r = match run_file(path, &cfg, vec![Box::new(Counting(seen.clone()))]) {
        Ok(r) => r,
        // Files that are not captures at all (bad magic, empty) are refused up front.
        Err(_) => return (0, false),
    };
    let s = seen.lock().unwrap();
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
    (st.frames, r.source_error.is_some())
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
    for f in &files {
        let (n, _) = check(f, 1, 1 << 16);
        frames += n;
        metered_files += usize::from(n > 0);
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
