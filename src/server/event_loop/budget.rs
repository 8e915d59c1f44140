//! Each connection's share of a loop turn: how many messages it may have handled, how
//! much fan-out and output it may cause, and what happens to one that asks for more
//! output than it reads (it is dropped before the replies are built). See
//! `docs/reliability.md`, "Bounds".

use super::turn::drop_slow_client;
use super::{CloseReason, Server};
use crate::chat::Outbox;
use log::info;
use std::time::{Duration, Instant};

/// Messages handled from one connection per turn: a flood of tiny lines costs the
/// others at most this many messages' work per turn.
pub(super) const MESSAGE_BUDGET: usize = 1024;
/// Work beyond their bytes that one connection's messages may cause in a turn: spans
/// (pieces of output, one `iovec` each) added to the fan-out, and names looked at by
/// `/who` and `/rooms`. A flood into one room adds a span per member per turn, whatever
/// its length; messages that cannot be batched (a storm of `/join`, each notice cut off
/// from the last by another room's) add one per member each, and a `/who` in a room of
/// N costs N: this is what bounds them. Sharing a cluster, a join or leave notice costs
/// the members here it will reach when it comes back from the bus.
pub(super) const WORK_BUDGET: usize = 32 * 1024;
/// Bytes encoded for all recipients in one turn past which input waits for the next
/// turn (each connection still gets one message a turn), so one turn's buffers and the
/// time it takes stay bounded however many clients are busy.
pub(super) const TURN_OUTPUT_LIMIT: usize = 16 << 20;

/// Whether a connection's next message may be handled now.
pub(super) enum Allowance {
    Go,
    Pause,
    /// Over its message rate: no message until the next token, this long from now.
    Throttled(Duration),
    /// Its queued output plus its replies this turn, which pass `--max-backlog`.
    TooSlow(usize),
}

impl Server {
    /// The work counted against budgets so far (see [`WORK_BUDGET`]): a difference
    /// before and after one message is what that message cost.
    pub(super) fn work_so_far(&self) -> usize {
        self.fanout.span_count() + self.chat.work() as usize
    }

    /// Whether the connection's next message may be handled in this turn.
    pub(super) fn input_allowance(&mut self, key: usize) -> Allowance {
        let conn = &mut self.conns[key];
        let used = *conn.used_in(self.turn);
        let held = conn.held_output() + used.replies;
        if held > self.config.max_backlog {
            return Allowance::TooSlow(held);
        }
        let rate = self.config.msg_rate;
        if let Some(bucket) = conn.bucket.as_mut() {
            // The clock itself, not the turn's start: a long turn must not look shorter
            // to the bucket than to the wake-up timer.
            if let Err(wait) = bucket.ready(rate, Instant::now()) {
                if bucket.warn_once() {
                    let text = format!("! slow down: at most {rate} messages per second");
                    self.fanout.to_client(key, &text);
                }
                return Allowance::Throttled(wait);
            }
        }
        if used.messages == 0 {
            return Allowance::Go; // every connection gets one message a turn
        }
        if used.messages >= MESSAGE_BUDGET
            || used.work >= WORK_BUDGET
            || self.fanout.encoded_bytes() >= TURN_OUTPUT_LIMIT
            || self.fanout.pending_bytes(key) >= self.config.max_backlog / 4
        {
            return Allowance::Pause;
        }
        Allowance::Go
    }

    /// A client whose replies would pass `--max-backlog`: dropped before they are made.
    pub(super) fn drop_too_slow(&mut self, key: usize, held: usize) {
        let conn = &mut self.conns[key];
        if let Some(framing) = conn.framing() {
            drop_slow_client(conn, framing, held);
        }
        self.counters.slow_dropped += 1;
        info!("connection {key} dropped: too slow ({held} bytes queued and asked for)");
        self.close(key, CloseReason::TooSlow);
        self.fanout.remove_recipient(key); // what this turn owed it is not sent
    }
}
