//! The final report: the numbers a run produced, as text for people and as one JSON
//! object for scripts.

use super::json::JsonObject;
use super::timeline::RatePoint;
use super::tracker::Tally;
use hdrhistogram::Histogram;
use std::fmt::Write;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Deliveries measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest delivery.
    pub max: u64,
}

impl Latency {
    /// The percentiles of a histogram of microsecond latencies.
    pub fn from_histogram(hist: &Histogram<u64>) -> Self {
        Latency {
            count: hist.len(),
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
        }
    }
}

/// What `/proc` said about `--server-pid`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerUsage {
    /// Resident memory before connecting, KiB.
    pub rss_before_kib: u64,
    /// Resident memory at the end, KiB.
    pub rss_after_kib: u64,
    /// CPU seconds the server used while messages flowed (idle mode: the whole run).
    pub cpu_s: f64,
}

/// One server's share of a run, with several servers (or one: its address).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerReport {
    /// Its address.
    pub addr: String,
    /// Connections opened to it (senders and receivers, or idle ones).
    pub connections: u64,
    /// Of them, those whose handshake was done.
    pub ready: u64,
    /// Senders connected to it (every sender is on the first server).
    pub senders: u64,
    /// Receivers connected to it.
    pub receivers: u64,
    /// Payloads its receivers got.
    pub deliveries: u64,
    /// Expected deliveries its receivers never got.
    pub lost: u64,
    /// Latency of its receivers' deliveries.
    pub latency: Latency,
    /// `--server-pid` figures for it, if its process was given.
    pub usage: Option<ServerUsage>,
}

impl ServerReport {
    /// Server memory per ready connection, bytes, when the server was watched.
    pub fn bytes_per_connection(&self) -> Option<f64> {
        self.usage.as_ref().map(|u| per_connection(u, self.ready))
    }
}

/// The outcome of a load run.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// `frames` or `lines`.
    pub framing: String,
    /// Every connection was TLS (`--tls`).
    pub tls: bool,
    /// Receiving connections.
    pub receivers: u64,
    /// Sending connections.
    pub senders: u64,
    /// Payload bytes per message.
    pub size: u64,
    /// `--rate`, if paced.
    pub rate: Option<f64>,
    /// Messages fully written by the senders.
    pub messages_sent: u64,
    /// `messages_sent * receivers`.
    pub expected: u64,
    /// Receivers' counts, summed.
    pub tally: Tally,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Messages without a marker (welcome, notices).
    pub other: u64,
    /// Markers naming a sender that does not exist.
    pub malformed: u64,
    /// Receivers the server closed during the run.
    pub receivers_disconnected: u64,
    /// Why the first of them was closed.
    pub disconnect_reason: Option<String>,
    /// Seconds to open and ready every connection.
    pub connect_s: f64,
    /// Seconds waiting for connect-time notices to stop.
    pub settle_s: f64,
    /// Seconds the senders took.
    pub send_s: f64,
    /// Seconds from the first send to the last delivery.
    pub duration_s: f64,
    /// Latency over every delivery.
    pub latency: Latency,
    /// Every loop's latency histogram (µs) added up, for `--hgrm` and `--plot`; `None`
    /// only in reports not made by a run.
    pub histogram: Option<Histogram<u64>>,
    /// Deliveries per second while the run sent and drained.
    pub timeline: Vec<RatePoint>,
    /// The drain ended because deliveries stopped, not because all arrived.
    pub drain_timed_out: bool,
    /// This process's CPU seconds while messages flowed.
    pub bench_cpu_s: f64,
    /// `--server-pid` figures, summed over every server watched.
    pub server: Option<ServerUsage>,
    /// Per server, in the order given: its receivers and what they got.
    pub servers: Vec<ServerReport>,
}

impl LoadReport {
    /// Deliveries per second, start of sending to last delivery.
    pub fn deliveries_per_s(&self) -> f64 {
        rate(self.tally.deliveries, self.duration_s)
    }

    /// True when every expected delivery arrived exactly once and in order.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.tally.duplicated == 0 && self.tally.reordered == 0
    }

    /// The report for people, several lines ending in a newline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let pace = match self.rate {
            Some(r) => format!("{r} messages/s"),
            None => "as fast as the server accepts".to_string(),
        };
        let over_tls = if self.tls { " over TLS" } else { "" };
        let _ = writeln!(
            out,
            "mio-chat bench: {} receivers, {} senders, {}-byte payloads, {}{over_tls}, {pace}",
            self.receivers, self.senders, self.size, self.framing
        );
        let _ = writeln!(
            out,
            "connect     {:.2} s (then {:.2} s to settle)",
            self.connect_s, self.settle_s
        );
        let _ = writeln!(
            out,
            "sent        {} messages in {:.2} s",
            self.messages_sent, self.send_s
        );
        let t = &self.tally;
        let _ = writeln!(
            out,
            "deliveries  expected {}, received {} ({} unique), {:.0}/s over {:.2} s",
            self.expected,
            t.deliveries,
            t.unique(),
            self.deliveries_per_s(),
            self.duration_s
        );
        let _ = writeln!(out, "latency     {}", format_latency(&self.latency));
        let _ = writeln!(
            out,
            "checks      lost {}, duplicated {}, reordered {} (gaps {}, receivers disconnected {}, \
             other messages {}, malformed {})",
            self.lost,
            t.duplicated,
            t.reordered,
            t.gaps,
            self.receivers_disconnected,
            self.other,
            self.malformed
        );
        if let Some(reason) = &self.disconnect_reason {
            let _ = writeln!(out, "closed      first receiver closed: {reason}");
        }
        if self.servers.len() > 1 {
            for (i, s) in self.servers.iter().enumerate() {
                let _ = writeln!(out, "{}", format_server_load(i, s));
            }
        }
        let watched = watched(&self.servers);
        let _ = writeln!(
            out,
            "{}",
            format_cpu(self.bench_cpu_s, self.server.as_ref(), watched)
        );
        if let Some(server) = &self.server {
            let _ = writeln!(out, "{}", format_rss(server, watched));
        }
        let verdict = match (self.is_clean(), self.lost == 0, self.drain_timed_out) {
            (true, _, _) => "OK: nothing lost, duplicated or reordered",
            (false, true, _) => "NOTHING LOST, but some deliveries were duplicated or reordered",
            (false, false, true) => "FAILED (deliveries stopped before all arrived)",
            (false, false, false) => "FAILED",
        };
        let _ = writeln!(out, "result      {verdict}");
        out
    }

    /// The report as one flat JSON object (no newline).
    pub fn to_json(&self) -> String {
        let t = &self.tally;
        let mut json = JsonObject::new();
        json.string("mode", "load")
            .string("framing", &self.framing)
            .boolean("tls", self.tls)
            .uint("receivers", self.receivers)
            .uint("senders", self.senders)
            .uint("size", self.size)
            .opt_float("rate", self.rate)
            .uint("messages_sent", self.messages_sent)
            .uint("expected", self.expected)
            .uint("deliveries", t.deliveries)
            .uint("unique", t.unique())
            .uint("lost", self.lost)
            .uint("duplicated", t.duplicated)
            .uint("reordered", t.reordered)
            .uint("gaps", t.gaps)
            .uint("other", self.other)
            .uint("malformed", self.malformed)
            .uint("receivers_disconnected", self.receivers_disconnected)
            .boolean("drain_timed_out", self.drain_timed_out)
            .float("connect_s", self.connect_s)
            .float("settle_s", self.settle_s)
            .float("send_s", self.send_s)
            .float("duration_s", self.duration_s)
            .float("deliveries_per_s", self.deliveries_per_s());
        add_latency(&mut json, &self.latency);
        json.float("bench_cpu_s", self.bench_cpu_s);
        add_server(&mut json, self.server.as_ref());
        json.uint("servers", self.servers.len() as u64);
        for (i, s) in self.servers.iter().enumerate() {
            let key = |name: &str| format!("server{}_{name}", i + 1);
            json.string(&key("addr"), &s.addr)
                .uint(&key("senders"), s.senders)
                .uint(&key("receivers"), s.receivers)
                .uint(&key("deliveries"), s.deliveries)
                .uint(&key("lost"), s.lost)
                .uint(&key("latency_p50_us"), s.latency.p50)
                .uint(&key("latency_p99_us"), s.latency.p99);
            add_usage(&mut json, &key, s.usage.as_ref());
        }
        json.boolean("ok", self.is_clean()).finish()
    }
}

/// The outcome of an `--idle` run.
#[derive(Debug, Clone, Default)]
pub struct IdleReport {
    /// Connections asked for.
    pub requested: u64,
    /// Every connection was TLS (`--tls`).
    pub tls: bool,
    /// Connections that got their welcome.
    pub ready: u64,
    /// Seconds to open and ready them.
    pub connect_s: f64,
    /// Seconds they were held open after settling.
    pub held_s: f64,
    /// `--server-pid` figures, summed over every server watched.
    pub server: Option<ServerUsage>,
    /// Per server, in the order given: its connections.
    pub servers: Vec<ServerReport>,
}

impl IdleReport {
    /// Server memory per held connection, bytes, when the server was watched. With
    /// several servers watched: their growth together over the connections to them.
    pub fn bytes_per_connection(&self) -> Option<f64> {
        let server = self.server.as_ref()?;
        let ready = match watched(&self.servers) {
            0 => self.ready,
            _ => self
                .servers
                .iter()
                .filter(|s| s.usage.is_some())
                .map(|s| s.ready)
                .sum(),
        };
        Some(per_connection(server, ready))
    }

    /// The report for people, ending in a newline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let kind = if self.tls {
            "TLS connections"
        } else {
            "connections"
        };
        let _ = writeln!(
            out,
            "mio-chat bench --idle: {} of {} {kind} ready in {:.2} s, held {:.2} s",
            self.ready, self.requested, self.connect_s, self.held_s
        );
        if self.servers.len() > 1 {
            for (i, s) in self.servers.iter().enumerate() {
                let _ = writeln!(out, "{}", format_server_idle(i, s));
            }
        }
        if let Some(server) = &self.server {
            let watched = watched(&self.servers);
            let per = self.bytes_per_connection().unwrap_or(0.0);
            let _ = writeln!(
                out,
                "{}, {per:.0} bytes per connection",
                format_rss(server, watched)
            );
            let _ = writeln!(out, "server cpu  {:.2} s{}", server.cpu_s, together(watched));
        }
        out
    }

    /// The report as one flat JSON object (no newline).
    pub fn to_json(&self) -> String {
        let mut json = JsonObject::new();
        json.string("mode", "idle")
            .boolean("tls", self.tls)
            .uint("requested", self.requested)
            .uint("ready", self.ready)
            .float("connect_s", self.connect_s)
            .float("held_s", self.held_s);
        add_server(&mut json, self.server.as_ref());
        json.uint("servers", self.servers.len() as u64);
        for (i, s) in self.servers.iter().enumerate() {
            let key = |name: &str| format!("server{}_{name}", i + 1);
            json.string(&key("addr"), &s.addr)
                .uint(&key("connections"), s.connections)
                .uint(&key("ready"), s.ready);
            add_usage(&mut json, &key, s.usage.as_ref());
            json.opt_float(&key("bytes_per_connection"), s.bytes_per_connection());
        }
        json.opt_float("server_bytes_per_connection", self.bytes_per_connection())
            .boolean("ok", self.ready == self.requested)
            .finish()
    }
}

/// `count / seconds`, or 0 for an empty interval.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A microsecond latency in the unit that keeps it short: `812 µs`, `1.23 ms`, `2.50 s`.
pub fn format_micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn format_latency(l: &Latency) -> String {
    if l.count == 0 {
        return "no deliveries".to_string();
    }
    format!(
        "p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
        format_micros(l.p50),
        format_micros(l.p90),
        format_micros(l.p99),
        format_micros(l.p999),
        format_micros(l.max)
    )
}

/// Growth of resident memory per connection, bytes.
fn per_connection(s: &ServerUsage, connections: u64) -> f64 {
    let grown = s.rss_after_kib as f64 - s.rss_before_kib as f64;
    grown * 1024.0 / connections.max(1) as f64
}

/// Servers whose process was given (`--server-pid`).
fn watched(servers: &[ServerReport]) -> usize {
    servers.iter().filter(|s| s.usage.is_some()).count()
}

/// ` (2 servers together)` after a sum over several servers; nothing for one.
fn together(watched: usize) -> String {
    if watched > 1 {
        format!(" ({watched} servers together)")
    } else {
        String::new()
    }
}

fn format_cpu(bench_cpu_s: f64, server: Option<&ServerUsage>, watched: usize) -> String {
    match server {
        Some(s) => format!(
            "cpu         bench {bench_cpu_s:.2} s, server {:.2} s{}",
            s.cpu_s,
            together(watched)
        ),
        None => format!("cpu         bench {bench_cpu_s:.2} s (server: use --server-pid)"),
    }
}

fn format_rss(s: &ServerUsage, watched: usize) -> String {
    format!(
        "server rss  {} KiB before, {} KiB after{}",
        s.rss_before_kib,
        s.rss_after_kib,
        together(watched)
    )
}

/// `server 2    127.0.0.1:7413: 500 receivers; 1000000 deliveries, lost 0; p50 ...`.
fn format_server_load(index: usize, s: &ServerReport) -> String {
    let mut line = format!("{:<12}{}: ", format!("server {}", index + 1), s.addr);
    if s.senders > 0 {
        let _ = write!(line, "{} senders, ", s.senders);
    }
    let _ = write!(
        line,
        "{} receivers; {} deliveries, lost {}",
        s.receivers, s.deliveries, s.lost
    );
    if s.latency.count > 0 {
        let _ = write!(
            line,
            "; p50 {}, p99 {}",
            format_micros(s.latency.p50),
            format_micros(s.latency.p99)
        );
    }
    if let Some(u) = &s.usage {
        let _ = write!(
            line,
            "; cpu {:.2} s, rss {} -> {} KiB",
            u.cpu_s, u.rss_before_kib, u.rss_after_kib
        );
    }
    line
}

/// `server 2    127.0.0.1:7413: 500 of 500 connections ready; rss ...`.
fn format_server_idle(index: usize, s: &ServerReport) -> String {
    let mut line = format!(
        "{:<12}{}: {} of {} connections ready",
        format!("server {}", index + 1),
        s.addr,
        s.ready,
        s.connections
    );
    if let Some(u) = &s.usage {
        let _ = write!(
            line,
            "; rss {} -> {} KiB, {:.0} bytes per connection; cpu {:.2} s",
            u.rss_before_kib,
            u.rss_after_kib,
            per_connection(u, s.ready),
            u.cpu_s
        );
    }
    line
}

fn add_latency(json: &mut JsonObject, l: &Latency) {
    json.uint("latency_count", l.count)
        .uint("latency_p50_us", l.p50)
        .uint("latency_p90_us", l.p90)
        .uint("latency_p99_us", l.p99)
        .uint("latency_p999_us", l.p999)
        .uint("latency_max_us", l.max);
}

/// One server's `--server-pid` figures under its own keys (`null` when not watched).
fn add_usage(json: &mut JsonObject, key: &impl Fn(&str) -> String, usage: Option<&ServerUsage>) {
    json.opt_float(&key("cpu_s"), usage.map(|u| u.cpu_s))
        .opt_uint(&key("rss_before_kib"), usage.map(|u| u.rss_before_kib))
        .opt_uint(&key("rss_after_kib"), usage.map(|u| u.rss_after_kib));
}

fn add_server(json: &mut JsonObject, server: Option<&ServerUsage>) {
    json.opt_uint("server_rss_before_kib", server.map(|s| s.rss_before_kib))
        .opt_uint("server_rss_after_kib", server.map(|s| s.rss_after_kib))
        .opt_float("server_cpu_s", server.map(|s| s.cpu_s));
}

#[cfg(test)]
mod tests;
