//! `mio-chat bench --hgrm`, `--plot` and `--compare` against a real `mio-chat serve` on
//! port 0: the files are read back and checked against the run's own `--json` report.

mod common;

use common::{run_to_exit, run_to_exit_within, Finished, Server};
use std::path::PathBuf;
use std::time::Duration;

/// The longest a small bench run may take before it is killed.
const BENCH_PATIENCE: Duration = Duration::from_secs(60);
/// The load every run here asks for: small, so each takes about a second.
const SMALL_RUN: [&str; 6] = ["--clients", "20", "--senders", "2", "--messages", "200"];
/// Deliveries `SMALL_RUN` makes when nothing is lost.
const SMALL_RUN_DELIVERIES: u64 = 20 * 2 * 200;

/// A directory of its own for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("mio-chat-bench-plots-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the small load against `server` with `extra` flags and `--json`; asserts exit 0.
fn small_bench(server: &Server, extra: &[&str]) -> Finished {
    let addr = server.addr.to_string();
    let mut args = vec!["bench", &addr];
    args.extend(SMALL_RUN);
    args.extend(extra);
    args.push("--json");
    let run = run_to_exit_within(&args, BENCH_PATIENCE);
    assert_eq!(run.code(), 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    run
}

/// The whole-number `"key":value` of the run's JSON report.
fn json_number(run: &Finished, key: &str) -> u64 {
    let json = run.stdout.trim();
    let pattern = format!("\"{key}\":");
    let at = json
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + pattern.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a whole number in {json}"))
}

/// The number after `label =` in an `.hgrm` footer line.
fn footer_number(hgrm: &str, label: &str) -> f64 {
    let line = hgrm
        .lines()
        .find(|l| l.starts_with("#[") && l.contains(label))
        .unwrap_or_else(|| panic!("no {label} in the footer:\n{hgrm}"));
    let after = &line[line.find(label).unwrap() + label.len()..];
    let value = after.trim_start_matches([' ', '=']);
    let end = value.find([',', ']']).unwrap_or(value.len());
    value[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{label} is not a number: {line}"))
}

/// --hgrm writes HdrHistogram's percentile distribution: Java's header, rows that never
/// go down, and a footer whose count and max are the run's own.
#[test]
fn hgrm_file_is_the_percentile_distribution_of_every_delivery() {
    let (server, dir) = (Server::start(&[]), TempDir::new("hgrm"));
    let run = small_bench(&server, &["--hgrm", &dir.path("run.hgrm")]);
    let hgrm = std::fs::read_to_string(dir.path("run.hgrm")).expect("the .hgrm file");
    let mut lines = hgrm.lines();
    assert_eq!(
        lines.next(),
        Some("       Value     Percentile TotalCount 1/(1-Percentile)")
    );
    assert_eq!(lines.next(), Some(""));
    let rows: Vec<(f64, f64, u64)> = lines
        .take_while(|l| !l.starts_with('#'))
        .map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            assert!(cols.len() == 4 || cols.len() == 3, "row {row:?}");
            (
                cols[0].parse().unwrap(),
                cols[1].parse().unwrap(),
                cols[2].parse().unwrap(),
            )
        })
        .collect();
    assert!(rows.len() > 2, "{hgrm}");
    assert!(rows
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2));
    let last = rows[rows.len() - 1];
    assert_eq!((last.1, last.2), (1.0, SMALL_RUN_DELIVERIES), "{hgrm}");

    let total = footer_number(&hgrm, "Total count");
    assert_eq!(total as u64, json_number(&run, "deliveries"));
    let max_ms = footer_number(&hgrm, "Max");
    assert_eq!(max_ms, json_number(&run, "latency_max_us") as f64 / 1000.0);
    assert_eq!(last.0, max_ms, "the 100% row is the maximum");
    assert!(footer_number(&hgrm, "Mean") <= max_ms);
    assert_eq!(footer_number(&hgrm, "SubBuckets"), 2048.0);
}

/// --plot writes an SVG with the scenario's flags as its title and one line per panel.
#[test]
fn plot_file_is_an_svg_of_both_panels_titled_with_the_flags() {
    let (server, dir) = (Server::start(&[]), TempDir::new("plot"));
    small_bench(&server, &["--size", "100", "--plot", &dir.path("run.svg")]);
    let svg = std::fs::read_to_string(dir.path("run.svg")).expect("the SVG file");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(
        svg.contains("mio-chat bench --clients 20 --senders 2 --size 100 --messages 200"),
        "no title with the flags"
    );
    for label in ["99.99%", "99.9%", "90%", "latency (ms)", "deliveries/s"] {
        assert!(svg.contains(label), "no {label:?} in the SVG");
    }
    let lines = svg.matches("<polyline").count() + svg.matches("<path").count();
    assert!(lines >= 2, "{lines} lines drawn");
}

/// --compare prints two saved --json runs side by side, each number with its ratio B/A.
#[test]
fn compare_shows_two_saved_runs_with_their_ratios() {
    let (server, dir) = (Server::start(&[]), TempDir::new("compare"));
    let (a, b) = (dir.path("a.json"), dir.path("b.json"));
    for path in [&a, &b] {
        let run = small_bench(&server, &[]);
        let last = run.stdout.lines().last().expect("a JSON line");
        std::fs::write(path, format!("{last}\n")).unwrap();
    }
    let compared = run_to_exit(&["bench", "--compare", &a, &b]);
    assert_eq!(compared.code(), 0, "stderr:\n{}", compared.stderr);
    let out = &compared.stdout;
    assert!(out.contains(&a) && out.contains(&b), "{out}");
    for field in [
        "deliveries_per_s",
        "latency_p50_us",
        "latency_p99_us",
        "latency_max_us",
        "bench_cpu_s",
        "lost",
    ] {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(field))
            .unwrap_or_else(|| panic!("no {field} row in:\n{out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 4, "{row}");
        if field == "lost" {
            assert_eq!(cols[1..], ["0", "0", "-"], "{row}");
        } else {
            let (x, y): (f64, f64) = (cols[1].parse().unwrap(), cols[2].parse().unwrap());
            let ratio: f64 = cols[3].parse().unwrap();
            assert!(x == 0.0 || (ratio - y / x).abs() < 0.001, "{row}");
        }
    }
    let deliveries = out.lines().find(|l| l.starts_with("deliveries ")).unwrap();
    let want = format!("{SMALL_RUN_DELIVERIES}");
    assert_eq!(
        deliveries.split_whitespace().collect::<Vec<_>>(),
        ["deliveries", &want, &want, "1.000"]
    );
}

/// A --compare file that is missing or is not a report exits 2 with one line naming it.
#[test]
fn compare_with_a_missing_or_foreign_file_exits_2_naming_it() {
    let dir = TempDir::new("compare-bad");
    let (report, text, missing) = (dir.path("a.json"), dir.path("text.txt"), dir.path("gone.json"));
    std::fs::write(&report, "{\"mode\":\"load\",\"deliveries\":1}\n").unwrap();
    std::fs::write(&text, "mio-chat bench: 20 receivers\n").unwrap();
    for (a, b, bad) in [(&report, &missing, &missing), (&text, &report, &text)] {
        let run = run_to_exit(&["bench", "--compare", a, b]);
        assert_eq!(run.code(), 2, "stderr:\n{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(bad.as_str()), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let one_file = run_to_exit(&["bench", "--compare", &report]);
    assert_eq!(one_file.code(), 2);
    assert!(one_file.stderr.contains("two files"), "{}", one_file.stderr);
}

/// --hgrm and --plot need latencies, so --idle refuses them; an unwritable path fails
/// before any connection is made; a run that fails leaves no empty file behind.
#[test]
fn output_flags_are_refused_when_there_is_nothing_to_write_or_nowhere_to_write() {
    let idle = run_to_exit(&["bench", "127.0.0.1:9", "--idle", "1", "--plot", "x.svg"]);
    assert_eq!(idle.code(), 2);
    assert!(idle.stderr.contains("--plot"), "{}", idle.stderr);
    let nowhere = run_to_exit(&["bench", "127.0.0.1:9", "--hgrm", "/nonexistent-dir/run.hgrm"]);
    assert_eq!(nowhere.code(), 1);
    assert!(
        nowhere.stderr.contains("/nonexistent-dir/run.hgrm"),
        "{}",
        nowhere.stderr
    );
    assert_eq!(nowhere.stderr.lines().count(), 1, "{}", nowhere.stderr);

    let dir = TempDir::new("failed-run");
    let (hgrm, svg) = (dir.path("run.hgrm"), dir.path("run.svg"));
    let addr = closed_port();
    let args = [
        "bench",
        &addr,
        "--clients",
        "2",
        "--senders",
        "1",
        "--hgrm",
        &hgrm,
        "--plot",
        &svg,
    ];
    let refused = run_to_exit(&args);
    assert_eq!(refused.code(), 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("refused"), "{}", refused.stderr);
    for path in [&hgrm, &svg] {
        assert!(!std::path::Path::new(path).exists(), "{path} was left behind");
    }
}

/// A loopback address where nothing listens: a port that was just bound and released.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").to_string()
}

/// --help lists the new flags.
#[test]
fn help_lists_hgrm_plot_and_compare() {
    let help = run_to_exit(&["bench", "--help"]);
    assert_eq!(help.code(), 0);
    for flag in ["--hgrm FILE", "--plot FILE.svg", "--compare"] {
        assert!(help.stdout.contains(flag), "no {flag} in:\n{}", help.stdout);
    }
}
