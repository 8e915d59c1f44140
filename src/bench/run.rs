//! The coordinating thread: starts the event loops, moves the run through its phases
//! (connect, settle, send, drain), prints progress, and turns the loops' results into
//! the report.
//!
//! Every phase has a bound, so a run always ends: handshakes time out after 10 s,
//! settling after 30 s, and sending or draining ends when nothing was sent or delivered
//! for 5 s (longer at slow `--rate`s).

use super::config::{Config, Mode, SendLimit};
use super::conn::{Role, Slot};
use super::driver::{Driver, LoopResult};
use super::procfs;
use super::progress::Progress;
use super::receive::latency_histogram;
use super::report::{IdleReport, Latency, LoadReport, ServerReport, ServerUsage};
use super::shared::{Phase, Shared};
use super::timeline::{RatePoint, Timeline};
use super::tracker::Tally;
use crate::fd_limit;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What a finished run reports.
#[derive(Debug)]
pub enum Outcome {
    /// A load run.
    Load(Box<LoadReport>),
    /// An `--idle` run.
    Idle(IdleReport),
}

/// How often the coordinator looks at the shared counters.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// Settled once no byte has arrived for this long...
const QUIET_NS: u64 = 300_000_000;
/// ...or after this long whatever happens.
const MAX_SETTLE_NS: u64 = 30_000_000_000;
/// Sending or draining ends after this long without progress.
const STALL_NS: u64 = 5_000_000_000;
/// Descriptors kept for everything that is not a connection.
const SPARE_FDS: u64 = 64;

/// Runs the bench described by `config` to the end.
///
/// # Errors
/// A one-line reason when the run could not be done: too few file descriptors, an
/// unreadable `--server-pid`, connections that failed to open.
pub fn run(config: Config) -> Result<Outcome, String> {
    let slots = all_slots(&config);
    check_fd_limit(slots.len() as u64)?;
    let rss_before = config
        .servers
        .iter()
        .map(|s| s.pid.map(procfs::rss_kib).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let config = Arc::new(config);
    let shared = Arc::new(Shared::new(config.senders(), config.threads));
    let loops = start_loops(&config, &shared, &slots)?;
    let mut progress = Progress::new(config.progress, slots.len() as u64);
    let measured = measure(&config, &shared, &mut progress);
    shared.advance(Phase::Finished);
    let results: Vec<LoopResult> = loops.into_iter().filter_map(|h| h.join().ok()).collect();
    if results.len() < config.threads {
        return Err("an event loop crashed".to_string());
    }
    let measured = measured?;
    let usage: Vec<Option<ServerUsage>> = rss_before
        .iter()
        .zip(&measured.server_cpu_s)
        .zip(&measured.server_rss_after_kib)
        .map(|((before, &cpu_s), &after)| {
            before.map(|rss_before_kib| ServerUsage {
                rss_before_kib,
                rss_after_kib: after,
                cpu_s,
            })
        })
        .collect();
    let servers = server_reports(&config, &results, &usage);
    let server = sum_usage(&usage);
    Ok(match &config.mode {
        Mode::Idle { connections, .. } => Outcome::Idle(IdleReport {
            requested: *connections as u64,
            tls: config.tls(),
            ready: shared.ready.load(Ordering::Relaxed),
            connect_s: measured.connect_s,
            held_s: measured.send_s,
            server,
            servers,
        }),
        Mode::Load { .. } => Outcome::Load(Box::new(load_report(
            &config, &measured, results, server, servers,
        ))),
    })
}

/// Every server's share of the connections, what got ready, and its `/proc` figures;
/// the load report adds what its receivers got.
fn server_reports(
    config: &Config,
    results: &[LoopResult],
    usage: &[Option<ServerUsage>],
) -> Vec<ServerReport> {
    let (senders, receivers) = match &config.mode {
        Mode::Load {
            senders, receivers, ..
        } => (*senders, *receivers),
        Mode::Idle { connections, .. } => (0, *connections),
    };
    let mut servers: Vec<ServerReport> = config
        .servers
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let (senders, receivers) = (if i == 0 { senders } else { 0 }, config.share_of(i, receivers));
            let is_load = matches!(config.mode, Mode::Load { .. });
            ServerReport {
                addr: target.addr.to_string(),
                connections: (senders + receivers) as u64,
                senders: senders as u64,
                receivers: if is_load { receivers as u64 } else { 0 },
                usage: usage.get(i).copied().flatten(),
                ..ServerReport::default()
            }
        })
        .collect();
    for r in results {
        for (server, ready) in servers.iter_mut().zip(&r.ready_by_server) {
            server.ready += ready;
        }
    }
    servers
}

/// The `--server-pid` figures of every server watched, added up; `None` when none was.
fn sum_usage(usage: &[Option<ServerUsage>]) -> Option<ServerUsage> {
    usage.iter().flatten().fold(None, |sum, u| {
        let s = sum.unwrap_or_default();
        Some(ServerUsage {
            rss_before_kib: s.rss_before_kib + u.rss_before_kib,
            rss_after_kib: s.rss_after_kib + u.rss_after_kib,
            cpu_s: s.cpu_s + u.cpu_s,
        })
    })
}

/// Timings and `/proc` readings taken while the run was on.
#[derive(Debug, Default)]
struct Measured {
    connect_s: f64,
    settle_s: f64,
    /// Load: seconds the senders took; idle: seconds held.
    send_s: f64,
    duration_s: f64,
    drain_timed_out: bool,
    /// Deliveries per second from the start of sending to the end of the drain.
    timeline: Vec<RatePoint>,
    bench_cpu_s: f64,
    /// Per server, CPU seconds while messages flowed (0 when not watched).
    server_cpu_s: Vec<f64>,
    /// Per server, resident memory at the end, KiB (0 when not watched).
    server_rss_after_kib: Vec<u64>,
}

/// Connect, settle, then hold (idle) or send and drain (load), watching the CPU.
fn measure(config: &Config, shared: &Shared, progress: &mut Progress) -> Result<Measured, String> {
    let mut m = Measured {
        connect_s: wait_for_connections(config, shared, progress)?,
        ..Measured::default()
    };
    m.settle_s = settle(shared, progress);
    let server_cpu = || -> Vec<Option<f64>> {
        config
            .servers
            .iter()
            .map(|s| s.pid.and_then(|pid| procfs::cpu_seconds(pid).ok()))
            .collect()
    };
    let (server_before, bench_before) = (server_cpu(), procfs::own_cpu_seconds());
    match &config.mode {
        Mode::Idle { hold, .. } => {
            let until = shared.now_ns() + hold.as_nanos() as u64;
            while shared.now_ns() < until {
                progress.tick(shared);
                thread::sleep(CHECK_EVERY);
            }
            m.send_s = hold.as_secs_f64();
        }
        Mode::Load { .. } => send_and_drain(config, shared, progress, &mut m),
    }
    m.bench_cpu_s = procfs::own_cpu_seconds() - bench_before;
    m.server_cpu_s = server_cpu()
        .into_iter()
        .zip(server_before)
        .map(|(after, before)| after.zip(before).map_or(0.0, |(a, b)| a - b))
        .collect();
    m.server_rss_after_kib = config
        .servers
        .iter()
        .map(|s| s.pid.map_or(0, |pid| procfs::rss_kib(pid).unwrap_or(0)))
        .collect();
    Ok(m)
}

/// Waits until every loop has opened its connections; returns the seconds it took.
fn wait_for_connections(config: &Config, shared: &Shared, progress: &mut Progress) -> Result<f64, String> {
    let start = shared.now_ns();
    while shared.loops_connected.load(Ordering::Acquire) < config.threads && shared.phase() != Phase::Finished
    {
        progress.tick(shared);
        thread::sleep(CHECK_EVERY);
    }
    let failed = shared.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = shared
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        let total = failed + shared.ready.load(Ordering::Relaxed);
        return Err(format!(
            "{failed} of {total} connections to {} failed; first: {first}",
            config.addresses()
        ));
    }
    Ok((shared.now_ns() - start) as f64 / 1e9)
}

/// Waits until the notices caused by connecting have stopped arriving; returns seconds.
fn settle(shared: &Shared, progress: &mut Progress) -> f64 {
    let start = shared.now_ns();
    loop {
        let now = shared.now_ns();
        let last_rx = shared.last_rx_ns.load(Ordering::Relaxed).max(start);
        if now - last_rx >= QUIET_NS {
            break;
        }
        if now - start >= MAX_SETTLE_NS {
            log::warn!("bench: the server was still sending after 30 s of settling; starting anyway");
            break;
        }
        progress.tick(shared);
        thread::sleep(CHECK_EVERY);
    }
    (shared.now_ns() - start) as f64 / 1e9
}

/// Starts sending, stops at `--duration`, and waits until every receiver has every
/// message or progress stalls.
fn send_and_drain(config: &Config, shared: &Shared, progress: &mut Progress, m: &mut Measured) {
    let Mode::Load {
        senders, limit, rate, ..
    } = &config.mode
    else {
        return;
    };
    let start = shared.now_ns();
    shared.send_start_ns.store(start, Ordering::Relaxed);
    shared.advance(Phase::Sending);
    let stop_at = match limit {
        SendLimit::Duration(d) => Some(start + d.as_nanos() as u64),
        SendLimit::Messages(_) => None,
    };
    // At a slow rate a message every few seconds is progress, not a stall.
    let stall_ns = rate.map_or(STALL_NS, |r| STALL_NS.max((3e9 * *senders as f64 / r) as u64));
    let (mut last_counts, mut last_change, mut senders_done_at) = ((0, 0), start, None);
    let mut timeline = Timeline::new(start);
    loop {
        thread::sleep(CHECK_EVERY);
        let now = shared.now_ns();
        if stop_at.is_some_and(|t| now >= t) {
            shared.advance(Phase::Draining);
        }
        if senders_done_at.is_none() && shared.final_sent().is_some() {
            senders_done_at = Some(now);
        }
        if shared.loops_drained.load(Ordering::Acquire) == config.threads || shared.phase() == Phase::Finished
        {
            break;
        }
        let counts = (shared.sent_total(), shared.deliveries.load(Ordering::Relaxed));
        timeline.observe(now, counts.1);
        if counts != last_counts {
            (last_counts, last_change) = (counts, now);
        } else if now - last_change > stall_ns {
            m.drain_timed_out = true;
            break;
        }
        progress.tick(shared);
    }
    let end = shared.now_ns();
    m.timeline = timeline.finish(end, shared.deliveries.load(Ordering::Relaxed));
    m.send_s = (senders_done_at.unwrap_or(end) - start) as f64 / 1e9;
    let last_delivery = shared.last_delivery_ns.load(Ordering::Relaxed).max(start);
    m.duration_s = (last_delivery - start) as f64 / 1e9;
}

/// Every connection's role and server: senders first, all to the first server, then
/// receivers (or idle connections) round-robin over the servers.
fn all_slots(config: &Config) -> Vec<Slot> {
    let spread = |count: usize, role: Role| {
        (0..count).map(move |n| Slot {
            role,
            server: config.server_of(n),
        })
    };
    match &config.mode {
        Mode::Load {
            receivers, senders, ..
        } => (0..*senders as u32)
            .map(|id| Slot {
                role: Role::Sender(id),
                server: 0,
            })
            .chain(spread(*receivers, Role::Receiver))
            .collect(),
        Mode::Idle { connections, .. } => spread(*connections, Role::Idle).collect(),
    }
}

/// Deals the connections round-robin over the loops and starts one thread per loop.
fn start_loops(
    config: &Arc<Config>,
    shared: &Arc<Shared>,
    slots: &[Slot],
) -> Result<Vec<JoinHandle<LoopResult>>, String> {
    let mut handles = Vec::with_capacity(config.threads);
    for index in 0..config.threads {
        let mine = slots
            .iter()
            .skip(index)
            .step_by(config.threads)
            .copied()
            .collect();
        let driver = Driver::new(index, mine, Arc::clone(config), Arc::clone(shared))?;
        let handle = thread::Builder::new()
            .name(format!("bench-loop-{index}"))
            .spawn(move || driver.run())
            .map_err(|e| format!("cannot start an event loop thread: {e}"))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Raises the descriptor limit and checks that the connections fit under it.
fn check_fd_limit(connections: u64) -> Result<(), String> {
    let limit = fd_limit::raise_to_hard_limit().map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
    if connections + SPARE_FDS > limit {
        return Err(format!(
            "{connections} connections need about {} file descriptors, but the limit is {limit} \
             (raise it with ulimit -n)",
            connections + SPARE_FDS
        ));
    }
    Ok(())
}

/// Merges the loops' results into the load report.
fn load_report(
    config: &Config,
    m: &Measured,
    results: Vec<LoopResult>,
    server: Option<ServerUsage>,
    servers: Vec<ServerReport>,
) -> LoadReport {
    let Mode::Load {
        receivers,
        senders,
        size,
        rate,
        ..
    } = &config.mode
    else {
        return LoadReport::default();
    };
    let mut sent = vec![0u64; *senders];
    for &(id, n) in results.iter().flat_map(|r| &r.sent) {
        sent[id as usize] = n;
    }
    let messages_sent: u64 = sent.iter().sum();
    let mut report = LoadReport {
        framing: config.framing.to_string(),
        tls: config.tls(),
        receivers: *receivers as u64,
        senders: *senders as u64,
        size: *size as u64,
        rate: *rate,
        messages_sent,
        expected: messages_sent * *receivers as u64,
        connect_s: m.connect_s,
        settle_s: m.settle_s,
        send_s: m.send_s,
        duration_s: m.duration_s,
        drain_timed_out: m.drain_timed_out,
        bench_cpu_s: m.bench_cpu_s,
        server,
        servers,
        timeline: m.timeline.clone(),
        ..LoadReport::default()
    };
    let mut latency = results.first().map(|r| r.sink.latency.clone());
    let mut tally = Tally::default();
    for (i, r) in results.iter().enumerate() {
        if let Some(hist) = latency.as_mut().filter(|_| i > 0) {
            // Same bounds in every loop, so adding cannot fail.
            let _ = hist.add(&r.sink.latency);
        }
        if report.disconnect_reason.is_none() {
            report.disconnect_reason.clone_from(&r.disconnect_reason);
        }
        for (server, tracker) in &r.trackers {
            let lost = tracker.lost(&sent);
            tally.add(tracker.tally());
            report.lost += lost;
            if let Some(s) = report.servers.get_mut(*server) {
                s.deliveries += tracker.tally().deliveries;
                s.lost += lost;
            }
        }
        report.other += r.sink.other;
        report.malformed += r.sink.malformed;
        report.receivers_disconnected += r.disconnected;
    }
    report.tally = tally;
    report.latency = latency.as_ref().map(Latency::from_histogram).unwrap_or_default();
    report.histogram = latency;
    add_server_latency(&mut report, &results);
    report
}

/// Each server's receivers' latency: with one server, everyone's.
fn add_server_latency(report: &mut LoadReport, results: &[LoopResult]) {
    if report.servers.len() == 1 {
        report.servers[0].latency = report.latency;
        return;
    }
    for (i, server) in report.servers.iter_mut().enumerate() {
        let mut hist = latency_histogram();
        for r in results {
            if let Some(h) = r.sink.by_server.get(i) {
                // Same bounds in every histogram, so adding cannot fail.
                let _ = hist.add(h);
            }
        }
        server.latency = Latency::from_histogram(&hist);
    }
}
