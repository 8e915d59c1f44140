//! `mio-chat bench`: flags in, a [`bench::Config`] run, the report out; exit 0 when
//! nothing was lost, 1 otherwise (duplicates and reorders are reported and warned about).
//! `--hgrm` and `--plot` also write what the run measured to files; `--compare` runs
//! nothing and prints two saved `--json` reports side by side.

use super::connect::{add_tls_options, tls_flags, warn_if_insecure};
use super::{flag, init_logging, options_with, parse_flags, Failure, FlagSpec, Outcome};
use mio_chat::bench::{self, compare, hgrm, plot, Config, LoadReport, Mode, SendLimit, Target};
use mio_chat::framing::{Framing, MAX_MESSAGE_LIMIT};
use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

const USAGE: &str = "usage: mio-chat bench [ADDR...] [options]\n       \
mio-chat bench --compare A.json B.json\n\n\
Load-tests a mio-chat server at ADDR (default 127.0.0.1:1234): K senders and N receivers\n\
in one room; reports throughput, latency, and every lost, duplicated or reordered\n\
delivery. With several ADDRs (servers sharing rooms with `serve --cluster`) the senders\n\
connect to the first and the receivers round-robin to all; the report has each server's\n\
share, and --server-pid is given once per server, in the same order.\n\
With --tls every connection is TLS (verified like `connect --tls`).\n\
--hgrm and --plot save the latency distribution and a picture of the run;\n\
--compare prints two saved --json reports side by side with ratios B/A.\n\
Exit status: 0 when nothing was lost, 1 otherwise, 2 for bad flags or --compare files.";

/// Messages per sender when neither --messages nor --duration is given.
const DEFAULT_MESSAGES: u64 = 5000;
/// How long --idle holds its connections without --duration.
const DEFAULT_IDLE_HOLD_S: f64 = 5.0;
/// More loops than this would only fight over the two cores.
const MAX_THREADS: usize = 64;
/// The server when no ADDR is given.
const DEFAULT_ADDR: &str = "127.0.0.1:1234";

/// The valued flags.
const FLAGS: &[FlagSpec] = &[
    ("clients", "N", "receiving connections (default 1000)"),
    ("senders", "K", "sending connections (default 4)"),
    ("size", "BYTES", "payload bytes per message (default 64)"),
    ("messages", "M", "messages per sender (default 5000)"),
    (
        "duration",
        "SECS",
        "send for SECS instead; with --idle, hold for SECS (default 5)",
    ),
    (
        "rate",
        "R",
        "total messages/s over all senders, paced (default: as fast as accepted)",
    ),
    (
        "framing",
        "MODE",
        "frames (default), lines, or websocket (an upgrade, then masked frames; wss with --tls)",
    ),
    ("room", "ROOM", "room everyone joins (default lobby)"),
    (
        "threads",
        "T",
        "event loops, each with its share of connections (default 1)",
    ),
    (
        "idle",
        "N",
        "open N connections and hold them (--duration), nothing sent",
    ),
    (
        "hgrm",
        "FILE",
        "write the latency distribution as HdrHistogram percentile text (.hgrm, ms)",
    ),
    (
        "plot",
        "FILE.svg",
        "draw the latency percentile curve and deliveries/s over time as SVG",
    ),
];

fn options() -> getopts::Options {
    let mut opts = options_with(FLAGS);
    opts.optmulti(
        "",
        "server-pid",
        "report this server's RSS and CPU from /proc; once per ADDR, in their order",
        "PID",
    );
    opts.optflag("", "json", "print the report as one JSON object on stdout");
    opts.optflag(
        "",
        "compare",
        "print two --json reports (A.json B.json) side by side with ratios B/A; runs nothing",
    );
    add_tls_options(&mut opts);
    opts
}

/// Runs `mio-chat bench` with its arguments (after the subcommand).
pub fn main(args: &[String]) -> Outcome {
    let Some(matches) = parse_flags(&options(), args, USAGE)? else {
        return Ok(());
    };
    if matches.opt_present("compare") {
        return compare_reports(&matches);
    }
    let config = config_from(&matches)?;
    let outputs = Outputs::create(&matches, &config)?;
    let title = config.command_line();
    let json = matches.opt_present("json");
    init_logging();
    warn_if_insecure(config.servers[0].tls.as_ref());
    let outcome = bench::run(config).map_err(|reason| {
        outputs.discard();
        Failure::Runtime(reason)
    })?;
    match outcome {
        bench::Outcome::Load(report) => {
            let status = print_load(&report, json);
            outputs.write(&report, &title)?;
            status
        }
        bench::Outcome::Idle(report) => {
            print_report(&report.to_text(), &report.to_json(), json);
            if report.ready < report.requested {
                eprintln!(
                    "mio-chat: only {} of {} connections became ready",
                    report.ready, report.requested
                );
                return Err(Failure::Status(1));
            }
            Ok(())
        }
    }
}

fn print_load(report: &LoadReport, json: bool) -> Outcome {
    print_report(&report.to_text(), &report.to_json(), json);
    if report.is_clean() {
        return Ok(());
    }
    if report.lost == 0 {
        // The exit status is the contract: it counts lost deliveries only.
        eprintln!(
            "mio-chat: warning: nothing lost, but {} duplicated and {} reordered",
            report.tally.duplicated, report.tally.reordered
        );
        return Ok(());
    }
    eprintln!(
        "mio-chat: {} of {} deliveries lost, {} duplicated, {} reordered",
        report.lost, report.expected, report.tally.duplicated, report.tally.reordered
    );
    Err(Failure::Status(1))
}

/// `--compare A.json B.json`: the table on stdout, or one line and exit 2 when a file
/// is missing or not a report.
fn compare_reports(matches: &getopts::Matches) -> Outcome {
    for name in ["hgrm", "plot"] {
        if matches.opt_present(name) {
            return Err(Failure::Usage(format!(
                "--compare runs nothing, so --{name} has nothing to write"
            )));
        }
    }
    let [a, b] = matches.free.as_slice() else {
        return Err(Failure::Usage(
            "--compare needs two files: --compare A.json B.json".to_string(),
        ));
    };
    match compare::compare_files(a, b) {
        Ok(table) => {
            print!("{table}");
            Ok(())
        }
        Err(reason) => {
            eprintln!("mio-chat: {reason}");
            Err(Failure::Status(2))
        }
    }
}

/// The `--hgrm` and `--plot` files, created before the run so a path that cannot be
/// written fails at once rather than after minutes of load.
struct Outputs {
    hgrm: Option<(String, File)>,
    plot: Option<(String, File)>,
}

impl Outputs {
    fn create(matches: &getopts::Matches, config: &Config) -> Result<Self, Failure> {
        let open = |name: &str| -> Result<Option<(String, File)>, Failure> {
            let Some(path) = matches.opt_str(name) else {
                return Ok(None);
            };
            if matches!(config.mode, Mode::Idle { .. }) {
                return Err(Failure::Usage(format!(
                    "--{name} needs a load run; --idle measures no latency"
                )));
            }
            let file = File::create(&path)
                .map_err(|e| Failure::Runtime(format!("cannot create --{name} file '{path}': {e}")))?;
            Ok(Some((path, file)))
        };
        Ok(Outputs {
            hgrm: open("hgrm")?,
            plot: open("plot")?,
        })
    }

    /// Removes the files again when the run failed, so no empty file is mistaken for
    /// a measurement.
    fn discard(&self) {
        for (path, _) in self.hgrm.iter().chain(&self.plot) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Writes what `report` measured into each file asked for.
    fn write(self, report: &LoadReport, title: &str) -> Outcome {
        if let Some((path, file)) = self.hgrm {
            let hist = report
                .histogram
                .as_ref()
                .ok_or_else(|| Failure::Runtime("the run recorded no latency histogram".to_string()))?;
            write_file(&path, file, &hgrm::percentile_distribution(hist))?;
        }
        if let Some((path, file)) = self.plot {
            let svg = plot::render_svg(report, title)
                .map_err(|e| Failure::Runtime(format!("cannot draw --plot '{path}': {e}")))?;
            write_file(&path, file, &svg)?;
        }
        Ok(())
    }
}

fn write_file(path: &str, mut file: File, text: &str) -> Outcome {
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| Failure::Runtime(format!("cannot write '{path}': {e}")))
}

/// With `--json`, stdout holds only the JSON object and the text goes to stderr.
fn print_report(text: &str, json_text: &str, json: bool) {
    if json {
        eprint!("{text}");
        println!("{json_text}");
    } else {
        print!("{text}");
    }
}

fn config_from(matches: &getopts::Matches) -> Result<Config, Failure> {
    let servers = targets(matches)?;
    let framing = match matches.opt_str("framing").as_deref() {
        None | Some("frames") => Framing::Frames,
        Some("lines") => Framing::Lines,
        Some("websocket") => Framing::WebSocket,
        Some(other) => {
            return Err(Failure::Usage(format!(
                "invalid value '{other}' for --framing: use frames, lines or websocket"
            )))
        }
    };
    let threads = flag(matches, "threads", 1usize)?;
    check_range("threads", threads, 1, MAX_THREADS)?;
    let room = matches
        .opt_str("room")
        .filter(|r| !r.eq_ignore_ascii_case("lobby"));
    if room
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.contains(char::is_whitespace))
    {
        return Err(Failure::Usage(
            "invalid value for --room: one word, no spaces".to_string(),
        ));
    }
    Ok(Config {
        servers,
        framing,
        room,
        threads,
        progress: true,
        mode: mode_from(matches)?,
    })
}

/// The servers: every ADDR (or the default) with its TLS settings, verified for the
/// host typed for it, and its `--server-pid`, matched by position.
fn targets(matches: &getopts::Matches) -> Result<Vec<Target>, Failure> {
    let typed: Vec<&str> = match matches.free.as_slice() {
        [] => vec![DEFAULT_ADDR],
        addrs => addrs.iter().map(String::as_str).collect(),
    };
    let pids = matches.opt_strs("server-pid");
    if pids.len() > typed.len() {
        return Err(Failure::Usage(format!(
            "--server-pid given {} times for {} server address(es): give it once per ADDR, in their order",
            pids.len(),
            typed.len()
        )));
    }
    let mut servers: Vec<Target> = Vec::with_capacity(typed.len());
    for (i, addr) in typed.iter().enumerate() {
        let resolved = resolve(addr)?;
        if servers.iter().any(|s| s.addr == resolved) {
            return Err(Failure::Usage(format!(
                "address '{addr}' given twice: give each server once"
            )));
        }
        let pid = match pids.get(i) {
            None => None,
            Some(raw) => Some(
                raw.parse::<u32>()
                    .map_err(|e| Failure::Usage(format!("invalid value '{raw}' for --server-pid: {e}")))?,
            ),
        };
        servers.push(Target {
            addr: resolved,
            tls: tls_flags(matches, addr)?,
            pid,
        });
    }
    Ok(servers)
}

fn mode_from(matches: &getopts::Matches) -> Result<Mode, Failure> {
    let duration = seconds(matches, "duration")?;
    if matches.opt_present("idle") {
        let connections = flag(matches, "idle", 0usize)?;
        check_range("idle", connections, 1, usize::MAX)?;
        let hold = duration.unwrap_or(Duration::from_secs_f64(DEFAULT_IDLE_HOLD_S));
        return Ok(Mode::Idle { connections, hold });
    }
    let limit = match (matches.opt_present("messages"), duration) {
        (true, Some(_)) => {
            return Err(Failure::Usage(
                "use --messages or --duration, not both".to_string(),
            ))
        }
        (_, Some(d)) => SendLimit::Duration(d),
        (_, None) => SendLimit::Messages(flag(matches, "messages", DEFAULT_MESSAGES)?),
    };
    let rate = match matches.opt_str("rate") {
        None => None,
        Some(_) => Some(positive(matches, "rate")?),
    };
    let (receivers, senders) = (
        flag(matches, "clients", 1000usize)?,
        flag(matches, "senders", 4usize)?,
    );
    check_range("clients", receivers, 1, usize::MAX)?;
    check_range("senders", senders, 1, u32::MAX as usize)?;
    let size = flag(matches, "size", 64usize)?;
    // Room for the `nick: ` prefix the server adds, within the largest message.
    check_range("size", size, 1, MAX_MESSAGE_LIMIT - 64)?;
    Ok(Mode::Load {
        receivers,
        senders,
        size,
        limit,
        rate,
    })
}

/// A `--name SECS` value as a duration, if given.
fn seconds(matches: &getopts::Matches, name: &str) -> Result<Option<Duration>, Failure> {
    match matches.opt_str(name) {
        None => Ok(None),
        Some(_) => Ok(Some(Duration::from_secs_f64(positive(matches, name)?))),
    }
}

/// A `--name` value that must be a finite number above zero.
fn positive(matches: &getopts::Matches, name: &str) -> Result<f64, Failure> {
    let value: f64 = flag(matches, name, 0.0)?;
    if !(value.is_finite() && value > 0.0 && value < 1e9) {
        return Err(Failure::Usage(format!(
            "invalid value '{value}' for --{name}: must be a number above 0"
        )));
    }
    Ok(value)
}

fn check_range(name: &str, value: usize, min: usize, max: usize) -> Result<(), Failure> {
    if value < min || value > max {
        return Err(Failure::Usage(format!(
            "invalid value '{value}' for --{name}: must be {min} to {max}"
        )));
    }
    Ok(())
}

fn resolve(addr: &str) -> Result<SocketAddr, Failure> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Failure::Usage(format!("invalid address '{addr}': use HOST:PORT")))
}
