//! Results: the Markdown table (in the style of ntop's Cento table) and SVG plots.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}
fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

fn flows_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{} K", n / 1000),
        n => n.to_string(),
    }
}

fn measured(rows: &[Value], kind: &str) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["kind"] == kind && r["pps"].is_number())
        .cloned()
        .collect()
}

/// (best, min) of pps with the row of the best.
fn best_min(rows: &[&Value]) -> Option<(f64, f64, Value)> {
    let best = rows
        .iter()
        .max_by(|a, b| f(a, "pps").total_cmp(&f(b, "pps")))?;
    let min = rows
        .iter()
        .map(|r| f(r, "pps"))
        .fold(f64::INFINITY, f64::min);
    Some((f(best, "pps"), min, (*best).clone()))
}

/// The Markdown report.
pub fn markdown(doc: &Value) -> String {
    let rows: Vec<Value> = doc["runs"].as_array().cloned().unwrap_or_default();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# perf compare — {} ({} mode)\n\nMachine: {} cores, {}, Linux {}; transparent huge pages `{}`, GLIBC_TUNABLES `{}`. Rates are the best of the runs and (after the slash) the minimum; CPU is percent of one core over the measured part; memory is peak resident memory plus reserved huge pages held.\n",
        doc["date"].as_str().unwrap_or("?"),
        doc["mode"].as_str().unwrap_or("?"),
        doc["machine"]["cores"],
        doc["machine"]["cpu"].as_str().unwrap_or("?"),
        doc["machine"]["kernel"].as_str().unwrap_or("?"),
        doc["machine"]["thp"].as_str().unwrap_or("?"),
        doc["machine"]["glibc_tunables"].as_str().unwrap_or("")
    );
    let mem = &doc["machine"]["memory"];
    if mem.is_object() {
        let _ = writeln!(
            o,
            "One core's random memory access (`perf memory`, {} MiB): {:.0} ns per miss, {:.1} M lines/s with {} misses in flight; writing fresh memory {:.2} GB/s, the same memory again {:.2} GB/s. A flow update at millions of flows needs about three such lines.\n",
            mem["buffer_mib"],
            f(mem, "latency_ns"),
            f(mem, "random_lines_per_sec") / 1e6,
            mem["chains"],
            f(mem, "first_touch_bytes_per_sec") / 1e9,
            f(mem, "rewrite_bytes_per_sec") / 1e9,
        );
        let pat = &mem["table_pattern"];
        if pat.is_object() {
            let (u, z) = (&pat["uniform"], &pat["zipf"]);
            let _ = writeln!(
                o,
                "The table's access pattern without the table (`perf memory`, {} flows, {} MiB; three prefetched lines per packet beside {:.1} ns of stand-in work): memory adds {:.1} ns per packet to the work with the limit's Zipf-like popularity (alone {:.1} ns, overlap {:.0} %) and {:.1} ns with uniform popularity (alone {:.1} ns, overlap {:.0} %). A meter doing W ns of work per packet at that many flows cannot pass about 1000 / (W + {:.1}) Mpps per core here.\n",
                pat["flows"],
                pat["footprint_mib"],
                f(pat, "work_ns"),
                f(z, "added_ns"),
                f(z, "memory_ns"),
                100.0 * f(z, "overlap"),
                f(u, "added_ns"),
                f(u, "memory_ns"),
                100.0 * f(u, "overlap"),
                f(z, "added_ns"),
            );
        }
        let tr = &mem["translation"];
        if tr.is_object() {
            let _ = writeln!(
                o,
                "Address translation (`perf memory`, a chain through {} cached lines): {:.1} ns per access packed, {:.1} ns with one line per 4 KiB page, so a page walk adds {:.1} ns to an access that hits the cache. Near 0 means huge pages work from the program to the physical memory; several ns means each 4 KiB needs its own TLB entry (on a virtual machine: the host maps the guest's memory in 4 KiB pages), and every miss of a table beyond the TLB's reach pays a walk too.\n",
                tr["lines"],
                f(tr, "packed_ns"),
                f(tr, "one_line_per_4k_page_ns"),
                f(tr, "added_ns"),
            );
        }
    }

    let _ = writeln!(
        o,
        "## Metering limit (one core, packets from memory, no I/O)\n\n| active flows / new flows per s | rate, Mpps (best / min) | Gbit/s | loss | CPU | peak memory | flows created (timed) | evicted |\n|---|---|---|---|---|---|---|---|"
    );
    let lim = measured(&rows, "limit");
    let mut cells: BTreeMap<(u64, u64), Vec<&Value>> = BTreeMap::new();
    for r in &lim {
        cells
            .entry((u(r, "active_flows"), u(r, "new_flows_per_sec")))
            .or_default()
            .push(r);
    }
    for ((a, n), rs) in &cells {
        if let Some((best, min, b)) = best_min(rs) {
            let _ = writeln!(
                o,
                "| {} / {} | **{:.2}** / {:.2} | {:.1} | {:.1} % | {:.0} % | {:.0} MiB | {} | {} |",
                flows_label(*a),
                flows_label(*n),
                best / 1e6,
                min / 1e6,
                f(&b, "bits_per_sec") / 1e9,
                100.0 * f(&b, "loss"),
                f(&b, "cpu_percent"),
                u(&b, "peak_memory_kib") as f64 / 1024.0,
                u(&b, "flows_created_timed"),
                u(&b, "evicted"),
            );
        }
    }
    if let Some(l) = lim.first() {
        let _ = writeln!(
            o,
            "\nTimestamps advance at a nominal {:.0} Mpps, so “new flows per s” is per second of packet time at that rate ({} sizes, frames cut to 128 octets in memory). Loss here is packets the parser refused (none should be); the table is sized so nothing is evicted. Generator speed: {:.1} Mpps (outside the timed part).\n",
            f(l, "nominal_pps") / 1e6,
            l["size"].as_str().unwrap_or("?"),
            lim.iter()
                .map(|r| f(r, "generator_pps"))
                .fold(f64::INFINITY, f64::min)
                / 1e6
        );
    }

    let _ = writeln!(
        o,
        "## Offline (capture file through the whole program)\n\n| meter | workers | rate, Mpps (best / min) | loss (collector vs truth) | totals checked by | CPU | peak memory |\n|---|---|---|---|---|---|---|"
    );
    let off: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "offline").collect();
    let mut groups: BTreeMap<(String, u64), Vec<&Value>> = BTreeMap::new();
    for r in off
        .iter()
        .filter(|r| r["pps"].is_number() && r["run"] != "collector-check")
    {
        groups
            .entry((r["meter"].as_str().unwrap_or("?").into(), u(r, "workers")))
            .or_default()
            .push(r);
    }
    for ((m, w), rs) in &groups {
        if let Some((best, min, b)) = best_min(rs) {
            let worst_loss = rs.iter().map(|r| f(r, "loss")).fold(f64::MIN, f64::max);
            let _ = writeln!(
                o,
                "| {m} | {w} | **{:.3}** / {:.3} | {:.2} % | {} | {:.0} % | {:.0} MiB |",
                best / 1e6,
                min / 1e6,
                100.0 * worst_loss,
                b["check"].as_str().unwrap_or("?"),
                f(&b, "cpu_percent"),
                u(&b, "peak_memory_kib") as f64 / 1024.0
            );
        }
    }
    for r in off.iter().filter(|r| r["run"] == "collector-check") {
        let _ = writeln!(
            o,
            "| meter → nfcapd (check) | 1 | {:.3} | {:.2} % | {} | {:.0} % | {:.0} MiB |",
            f(r, "pps") / 1e6,
            100.0 * f(r, "loss"),
            r["check"].as_str().unwrap_or("?"),
            f(r, "cpu_percent"),
            u(r, "peak_memory_kib") as f64 / 1024.0
        );
    }
    for r in off.iter().filter(|r| r["status"].is_string()) {
        let _ = writeln!(
            o,
            "| {} | — | {} | | {} | | |",
            r["meter"].as_str().unwrap_or("?"),
            r["status"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("")
        );
    }

    let _ = writeln!(
        o,
        "\n## Live (sender in a namespace → veth → meter)\n\n| meter | sender | offered, kpps | offered Mbit/s | loss | CPU | peak memory |\n|---|---|---|---|---|---|---|"
    );
    for r in rows.iter().filter(|r| r["kind"] == "live") {
        if r["offered_pps"].is_number() {
            let _ = writeln!(
                o,
                "| {} | {}{} | {:.0} | {:.0} | {:.2} % | {:.0} % | {:.0} MiB |",
                r["meter"].as_str().unwrap_or("?"),
                r["sender"].as_str().unwrap_or("?"),
                if r["requested_pps"].is_null() {
                    ", top speed"
                } else {
                    ""
                },
                f(r, "offered_pps") / 1e3,
                f(r, "offered_bits_per_sec") / 1e6,
                100.0 * f(r, "loss"),
                f(r, "cpu_percent"),
                u(r, "peak_memory_kib") as f64 / 1024.0
            );
        } else {
            let _ = writeln!(
                o,
                "| {} | | {} | | {} | | |",
                r["meter"].as_str().unwrap_or("?"),
                r["status"].as_str().unwrap_or("?"),
                r["reason"].as_str().unwrap_or("")
            );
        }
    }
    o
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line plot: series of (x, y) points; `log_x` for flow counts.
pub fn svg_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_x: bool,
) -> String {
    let (w, h, l, r, t, b) = (720.0, 440.0, 80.0, 170.0, 40.0, 60.0);
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    let tx = |x: f64| if log_x { x.max(1.0).log10() } else { x };
    let (mut x0, mut x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(tx(p.0)), a.1.max(tx(p.0)))
    });
    let mut y1 = pts.iter().fold(0.0f64, |a, p| a.max(p.1));
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    y1 = nice_ceil(y1 * 1.05);
    let px = |x: f64| l + (tx(x) - x0) / (x1 - x0) * (w - l - r);
    let py = |y: f64| h - b - y / y1 * (h - t - b);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">{}</text>",
        (w - r + l) / 2.0,
        esc(title)
    );
    // Axes and ticks.
    let _ = writeln!(
        s,
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{}\" stroke=\"black\"/>",
        h - b,
        w - r,
        h - b,
        h - b
    );
    for i in 0..=5 {
        let y = y1 * i as f64 / 5.0;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            l,
            py(y),
            w - r,
            py(y),
            l - 6.0,
            py(y) + 4.0,
            fmt_num(y)
        );
    }
    let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(x),
            h - b + 18.0,
            fmt_num(x)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>",
        (w - r + l) / 2.0,
        h - 14.0,
        esc(x_label),
        (h - b + t) / 2.0,
        (h - b + t) / 2.0,
        esc(y_label)
    );
    for (i, (name, p)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut p = p.clone();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = p
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (x, y) in &p {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{c}\"/>",
                px(*x),
                py(*y)
            );
        }
        let ly = t + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w - r + 12.0,
            ly - 10.0,
            w - r + 30.0,
            ly,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `v` (> 0): a round axis end.
fn nice_ceil(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * e)
        .find(|x| *x >= v)
        .unwrap_or(10.0 * e)
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.3}K", v / 1e3)
    } else {
        format!("{v:.3}")
    }
    .replace(".000", "")
}

/// Throughput against active flows: for our meter's limit (one series per new-flow rate,
/// best of runs) and every meter's offline rate at the capture's flow count.
pub fn throughput_plot(doc: &Value) -> String {
    let rows: Vec<Value> = doc["runs"].as_array().cloned().unwrap_or_default();
    let mut series: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["pps"].is_number()) {
        let (name, flows) = match r["kind"].as_str() {
            Some("limit") => (
                format!(
                    "meter limit, {} new/s",
                    flows_label(u(r, "new_flows_per_sec"))
                ),
                u(r, "active_flows"),
            ),
            Some("offline") if r["run"] != "collector-check" => (
                format!(
                    "{} offline, {} w",
                    r["meter"].as_str().unwrap_or("?"),
                    u(r, "workers")
                ),
                u(r, "active_flows"),
            ),
            _ => continue,
        };
        let e = series.entry(name).or_default().entry(flows).or_insert(0.0);
        *e = e.max(f(r, "pps") / 1e6);
    }
    let s: Vec<(String, Vec<(f64, f64)>)> = series
        .into_iter()
        .map(|(k, m)| (k, m.into_iter().map(|(x, y)| (x as f64, y)).collect()))
        .collect();
    svg_plot(
        "Throughput against active flows (best run)",
        "active flows (log scale)",
        "Mpps",
        &s,
        true,
    )
}

/// Loss against offered rate, one series per meter (live).
pub fn loss_plot(doc: &Value) -> String {
    let rows: Vec<Value> = doc["runs"].as_array().cloned().unwrap_or_default();
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r["kind"] == "live" && r["offered_pps"].is_number())
    {
        series
            .entry(r["meter"].as_str().unwrap_or("?").into())
            .or_default()
            .push((f(r, "offered_pps") / 1e3, 100.0 * f(r, "loss").max(0.0)));
    }
    let s: Vec<(String, Vec<(f64, f64)>)> = series.into_iter().collect();
    svg_plot(
        "Live: loss against offered rate",
        "offered rate, kpps",
        "loss, %",
        &s,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_and_plots_from_rows() {
        let doc = json!({"date": "d", "mode": "quick", "machine": {"cores": 2, "cpu": "x", "kernel": "k",
            "memory": {"buffer_mib": 256, "latency_ns": 187.4, "random_lines_per_sec": 7.5e7, "chains": 32,
                "first_touch_bytes_per_sec": 3.8e8, "rewrite_bytes_per_sec": 8.1e9,
                "table_pattern": {"flows": 1000000, "footprint_mib": 288, "work_ns": 29.84,
                    "uniform": {"memory_ns": 27.1, "both_ns": 53.8, "added_ns": 23.96, "overlap": 0.116},
                    "zipf": {"memory_ns": 17.9, "both_ns": 39.6, "added_ns": 9.76, "overlap": 0.45}},
                "translation": {"lines": 4096, "packed_ns": 4.84, "one_line_per_4k_page_ns": 13.62, "added_ns": 8.78}}},
        "runs": [
            {"kind": "limit", "active_flows": 1000, "new_flows_per_sec": 0, "pps": 5e6, "loss": 0.0, "cpu_percent": 99.0, "peak_memory_kib": 2048, "bits_per_sec": 1e9, "nominal_pps": 2e7, "size": "imix", "generator_pps": 3e7},
            {"kind": "limit", "active_flows": 1000, "new_flows_per_sec": 0, "pps": 4e6, "loss": 0.0},
            {"kind": "offline", "meter": "softflowd", "workers": 1, "pps": 1e6, "loss": 0.1, "check": "nfdump", "active_flows": 1000},
            {"kind": "offline", "meter": "fprobe", "status": "not run", "reason": "live only"},
            {"kind": "live", "meter": "meter", "status": "not run", "reason": "no --interface"},
            {"kind": "live", "meter": "softflowd", "offered_pps": 1e5, "offered_bits_per_sec": 1e8, "loss": 0.02}
        ]});
        let md = markdown(&doc);
        assert!(md.contains("(`perf memory`, 256 MiB): 187 ns per miss, 75.0 M lines/s with 32 misses in flight; writing fresh memory 0.38 GB/s, the same memory again 8.10 GB/s"), "{md}");
        assert!(md.contains("(`perf memory`, 1000000 flows, 288 MiB; three prefetched lines per packet beside 29.8 ns of stand-in work): memory adds 9.8 ns per packet to the work with the limit's Zipf-like popularity (alone 17.9 ns, overlap 45 %) and 24.0 ns with uniform popularity (alone 27.1 ns, overlap 12 %). A meter doing W ns of work per packet at that many flows cannot pass about 1000 / (W + 9.8) Mpps"), "{md}");
        assert!(md.contains("(`perf memory`, a chain through 4096 cached lines): 4.8 ns per access packed, 13.6 ns with one line per 4 KiB page, so a page walk adds 8.8 ns"), "{md}");
        assert!(md.contains("| 1 K / 0 | **5.00** / 4.00 |"), "{md}");
        assert!(
            md.contains("| softflowd | 1 | **1.000** / 1.000 | 10.00 % |"),
            "{md}"
        );
        assert!(md.contains("| fprobe | — | not run |"));
        assert!(md.contains("| meter | | not run |"));
        let svg = throughput_plot(&doc);
        assert!(svg.starts_with("<svg") && svg.contains("polyline"));
        assert!(loss_plot(&doc).contains("softflowd"));
        assert_eq!(nice_ceil(6.9), 10.0);
        assert_eq!(nice_ceil(0.42), 0.5);
        assert_eq!(nice_ceil(120.0), 200.0);
    }
}
