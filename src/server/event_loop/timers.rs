//! Time-driven work: framing-detection deadlines, idle timeouts, accept retries after
//! running out of file descriptors, and the periodic stats line.

use super::{CloseReason, Server};
use crate::chat::Outbox;
use crate::framing::Framing;
use crate::server::connection::Connection;
use crate::server::memory;
use log::info;
use std::time::{Duration, Instant};

impl Server {
    /// How long `poll` may sleep: until the next timer, or not at all if some
    /// connection still has data we have not read.
    pub(super) fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.read_again.is_empty() {
            return Some(Duration::ZERO);
        }
        let deadlines = [
            self.detect_deadlines.front().map(|d| d.0),
            self.accept_retry.map(|r| r.0),
            self.next_stats_log,
            self.next_idle_sweep,
            self.memory_trim_at,
            self.shutdown_deadline,
        ];
        deadlines
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Timers: silent connections become lines, accept retries, the stats line.
    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some(&(at, key, serial)) = self.detect_deadlines.front() {
            if at > now {
                break;
            }
            self.detect_deadlines.pop_front();
            if self.conns.get(key).is_some_and(|c| c.serial == serial) {
                self.detect_timed_out(key);
            }
        }
        self.retry_accept(now);
        self.close_idle_clients(now);
        self.trim_memory_when_quiet(now);
        if let Some(at) = self.next_stats_log.filter(|&at| at <= now) {
            self.log_stats();
            self.next_stats_log = self.config.stats_interval.map(|every| at.max(now) + every);
        }
    }

    fn log_stats(&self) {
        info!(
            "stats: clients {}, rooms {}, messages in {}, relayed {}, bytes out {} ({} zero-copy), slow clients dropped {}",
            self.chat.client_count(),
            self.chat.room_count(),
            self.counters.messages_in,
            self.chat.messages_relayed(),
            self.counters.bytes_out,
            self.zero_copy.as_ref().map_or(0, |z| z.spliced_bytes),
            self.counters.slow_dropped
        );
    }

    /// A connection's detection time is up. Its first bytes may have arrived while a
    /// long turn kept us from polling, so the socket is read before deciding: only a
    /// connection that really sent nothing becomes lines. Bytes that do not decide yet
    /// are waited for, except from a rejected client, which becomes lines too.
    fn detect_timed_out(&mut self, key: usize) {
        let undecided = |c: &Connection| c.decoder.is_none() && !c.closing;
        if self.conns.get(key).is_some_and(undecided) {
            self.read_from_client(key);
        }
        let Some(conn) = self.conns.get(key).filter(|c| undecided(c)) else {
            return;
        };
        if conn.partial.is_empty() || conn.rejecting {
            self.start_chat(key, Framing::Lines);
            let partial = std::mem::take(&mut self.conns[key].partial);
            let used = self.process_input(key, &partial);
            if let Some(conn) = self.conns.get_mut(key) {
                conn.partial = partial[used..].to_vec();
            }
        }
    }

    /// `--idle-timeout`: closes connections that sent nothing for that long. A sweep
    /// over all connections every quarter timeout is cheaper than a timer per read.
    fn close_idle_clients(&mut self, now: Instant) {
        let (Some(timeout), Some(at)) = (self.config.idle_timeout, self.next_idle_sweep) else {
            return;
        };
        if now < at {
            return;
        }
        self.next_idle_sweep = Some(now + idle_sweep_period(timeout));
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closing && now.duration_since(c.last_input) >= timeout)
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            if self.conns[key].decoder.is_none() {
                self.start_chat(key, Framing::Lines); // an error needs a framing to be sent in
            }
            self.fanout.to_client(key, IDLE_TIMEOUT_NOTICE);
            self.close(key, CloseReason::IdleTimeout);
        }
    }

    /// Records I/O activity; once the loop has been quiet for a while after it, freed
    /// memory goes back to the OS.
    pub(super) fn note_busy(&mut self, now: Instant) {
        self.last_busy = now;
        if self.memory_trim_at.is_none() {
            self.memory_trim_at = Some(now + MEMORY_TRIM_QUIET);
        }
    }

    /// Trims the heap if nothing happened for [`MEMORY_TRIM_QUIET`]; under steady load
    /// it only looks again a little later.
    fn trim_memory_when_quiet(&mut self, now: Instant) {
        let Some(at) = self.memory_trim_at.filter(|&at| at <= now) else {
            return;
        };
        let quiet_since = self.last_busy + MEMORY_TRIM_QUIET;
        if quiet_since > now {
            self.memory_trim_at = Some(quiet_since.max(at));
            return;
        }
        self.memory_trim_at = None;
        memory::release_free_memory();
    }
}

/// How long the loop must be quiet before freed memory is returned to the OS.
const MEMORY_TRIM_QUIET: Duration = Duration::from_secs(1);

/// Sent to a connection closed by `--idle-timeout`.
const IDLE_TIMEOUT_NOTICE: &str = "! idle timeout";

/// How often idle connections are looked for: a quarter of the timeout, so one is closed
/// between 1 and 1.25 timeouts after its last input.
pub(super) fn idle_sweep_period(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(10))
}
