//! Time-driven work: framing-detection deadlines, idle timeouts, accept retries after
//! running out of file descriptors, the periodic stats line, and giving memory back.

use super::{CloseReason, Server};
use crate::chat::Outbox;
use crate::server::connection::{Connection, READ_CHUNK};
use crate::server::memory;
use log::{debug, info};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

impl Server {
    /// How long `poll` may sleep: until the next timer, or not at all if some
    /// connection still has data we have not read.
    pub(super) fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.read_again.is_empty() || self.cluster.as_ref().is_some_and(|c| c.has_more_input()) {
            return Some(Duration::ZERO);
        }
        let deadlines = [
            self.detect_deadlines.front().map(|d| d.0),
            self.handshake_deadlines.front().map(|d| d.0),
            self.rate_wakeups.peek().map(|r| r.0 .0),
            self.accept_retry.map(|r| r.0),
            self.next_stats_log,
            self.next_idle_sweep,
            self.memory_trim_at,
            self.shutdown_deadline,
            self.cluster.as_ref().and_then(|c| c.next_deadline()),
        ];
        deadlines
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Timers: silent connections become lines, accept retries, the stats line.
    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some(key) = due(&mut self.detect_deadlines, now, &self.conns) {
            self.detect_timed_out(key, now);
        }
        while let Some(key) = due(&mut self.handshake_deadlines, now, &self.conns) {
            if !self.conns[key].joined && !self.conns[key].closing {
                debug!("connection {key}: not in the chat after the handshake timeout, closing it");
                if self.conns[key].http {
                    self.send_raw(key, &crate::http::timeout_response());
                }
                self.close(key, CloseReason::HandshakeTimeout);
            }
        }
        // Due wake-ups are taken first, then served: one that is set again while being
        // served waits for a later pass, never this one.
        let mut due_now = Vec::new();
        while let Some(&Reverse((at, key, serial))) = self.rate_wakeups.peek() {
            if at > now {
                break;
            }
            self.rate_wakeups.pop();
            due_now.push((key, serial));
        }
        for (key, serial) in due_now {
            if let Some(conn) = self.conns.get_mut(key).filter(|c| c.serial == serial) {
                conn.throttled_until = None;
                self.read_from_client(key);
            }
        }
        self.retry_accept(now);
        self.cluster_tick(now);
        self.close_idle_clients(now);
        self.release_memory(now);
        if let Some(at) = self.next_stats_log.filter(|&at| at <= now) {
            self.log_stats();
            self.next_stats_log = self.config.stats_interval.map(|every| at.max(now) + every);
        }
    }

    fn log_stats(&mut self) {
        info!(
            "stats: clients {}, connecting {}, rooms {}, messages in {}, relayed {}, bytes out {} ({} zero-copy), slow clients dropped {}, longest turn {:.1} ms",
            self.chat.client_count(),
            self.connecting,
            self.chat.room_count(),
            self.counters.messages_in,
            self.chat.messages_relayed(),
            self.counters.bytes_out,
            self.zero_copy.as_ref().map_or(0, |z| z.spliced_bytes),
            self.counters.slow_dropped,
            self.longest_turn.as_secs_f64() * 1000.0
        );
        self.longest_turn = Duration::ZERO;
        if let Some(cluster) = &self.cluster {
            info!(
                "stats: cluster link {}, bad bus messages dropped {}",
                if cluster.is_up() { "up" } else { "down" },
                cluster.bad_messages()
            );
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
            self.decide_lines_now(key); // an error needs a framing to be sent in
            self.fanout.to_client(key, IDLE_TIMEOUT_NOTICE);
            self.close(key, CloseReason::IdleTimeout);
        }
    }

    /// Records I/O activity: memory is looked at again [`MEMORY_PERIOD`] from now.
    pub(super) fn note_busy(&mut self, now: Instant) {
        self.last_busy = now;
        if self.memory_trim_at.is_none() {
            self.memory_trim_at = Some(now + MEMORY_PERIOD);
        }
    }

    /// Gives memory back while the server runs: buffers grown far above what recent turns
    /// used (a burst) shrink, and free heap pages go back to the OS. Every
    /// [`MEMORY_PERIOD`] while the loop is busy, and once more after it goes quiet (when
    /// the burst is no longer recent use).
    fn release_memory(&mut self, now: Instant) {
        let Some(at) = self.memory_trim_at.filter(|&at| at <= now) else {
            return;
        };
        let busy = self.last_busy + MEMORY_PERIOD > at;
        self.fanout.shrink();
        if self.read_buf.capacity() > 2 * READ_CHUNK {
            self.read_buf = Vec::new();
        }
        if self.text_buf.capacity() > READ_CHUNK {
            self.text_buf = String::new();
        }
        memory::release_free_memory();
        self.memory_trim_at = busy.then_some(now + MEMORY_PERIOD);
    }
}

/// How often memory is looked at while the loop is busy.
const MEMORY_PERIOD: Duration = Duration::from_secs(1);

/// Pops the front of a deadline queue if it is due and still names the same connection
/// (a closed connection's slab key may have been reused: the serial tells them apart).
fn due(
    deadlines: &mut VecDeque<(Instant, usize, u64)>,
    now: Instant,
    conns: &Slab<Connection>,
) -> Option<usize> {
    while let Some(&(at, key, serial)) = deadlines.front() {
        if at > now {
            return None;
        }
        deadlines.pop_front();
        if conns.get(key).is_some_and(|c| c.serial == serial) {
            return Some(key);
        }
    }
    None
}

/// Sent to a connection closed by `--idle-timeout`.
const IDLE_TIMEOUT_NOTICE: &str = "! idle timeout";

/// How often idle connections are looked for: a quarter of the timeout, so one is closed
/// between 1 and 1.25 timeouts after its last input.
pub(super) fn idle_sweep_period(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(10))
}
