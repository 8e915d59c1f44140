//! The driver's sending side: senders compose payloads and write them, paced or as fast
//! as the server takes them, and say when they are done.

use super::{Driver, BATCH, SENDER_BUDGET};
use crate::bench::config::Mode;
use crate::bench::conn::State;
use crate::bench::shared::Phase;
use std::sync::atomic::Ordering;

impl Driver {
    /// Lets every sender compose and write. Returns whether a sender still has work
    /// it could do now (poll without sleeping), and the earliest paced due time.
    pub(super) fn service_senders(&mut self, phase: Phase) -> (bool, Option<u64>) {
        let Mode::Load { size, .. } = self.config.mode else {
            return (false, None);
        };
        let stopping = phase >= Phase::Draining;
        let mut busy = false;
        let mut next_due: Option<u64> = None;
        let start = self.shared.send_start_ns.load(Ordering::Relaxed);
        for k in 0..self.senders.len() {
            let i = self.senders[k];
            match self.conns[i].send.as_mut() {
                Some(send) if !send.done => send.start_at(start),
                _ => continue,
            }
            if !stopping && self.conns[i].state == State::Ready {
                busy |= self.send_some(i, size);
            }
            let conn = &mut self.conns[i];
            let Some(send) = conn.send.as_mut() else { continue };
            let finished = stopping || !send.has_more();
            if conn.state == State::Closed || (finished && conn.written == conn.outbox.len()) {
                send.done = true;
                self.shared.sender_done(send.id, send.sent);
                continue;
            }
            self.shared.sent[send.id as usize].store(send.sent, Ordering::Relaxed);
            if send.interval_ns.is_some() && conn.writable && send.has_more() {
                next_due = Some(next_due.map_or(send.next_due_ns, |d| d.min(send.next_due_ns)));
            }
        }
        (busy, next_due)
    }

    /// Composes and writes for sender `i` until its socket is full, nothing is due, or
    /// its budget for this turn is spent; returns true if the budget ran out.
    fn send_some(&mut self, i: usize, size: usize) -> bool {
        let mut budget = SENDER_BUDGET;
        while budget > 0 && self.conns[i].writable {
            let conn = &mut self.conns[i];
            if conn.outbox_is_empty() {
                let n = conn.compose(self.shared.now_ns(), size, BATCH.min(budget));
                if n == 0 {
                    return false;
                }
                budget -= n;
            }
            if let Err(e) = self.flush(i) {
                self.close(i, &e);
                return false;
            }
        }
        budget == 0
    }
}
