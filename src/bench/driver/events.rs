//! The driver's socket side: readiness events, reading and decoding, closing, and the
//! hand-back of results at the end.

use super::{Driver, LoopResult};
use crate::bench::conn::{Fill, Role, State};
use crate::bench::receive::{on_message, Step};
use crate::framing::Decoded;
use mio::event::Event;
use std::sync::atomic::Ordering;

impl Driver {
    /// Handles one readiness event; returns whether bytes arrived.
    pub(super) fn on_event(&mut self, event: &Event) -> bool {
        let i = event.token().0;
        let Some(conn) = self.conns.get_mut(i) else {
            return false;
        };
        if conn.state == State::Connecting {
            match conn.connect_finished() {
                Ok(true) => {
                    let host = self.config.servers[conn.server].addr.to_string();
                    conn.wire.hello_into(&host, &mut conn.outbox);
                    conn.state = State::Greeting;
                }
                Ok(false) => return false,
                Err(e) => {
                    self.close(i, &e);
                    return false;
                }
            }
        }
        if self.conns[i].state == State::Closed {
            return false;
        }
        if event.is_writable() {
            self.conns[i].writable = true;
        }
        if let Err(e) = self.flush(i) {
            self.close(i, &e);
            return false;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            return self.read_from(i);
        }
        false
    }

    /// Writes what waits in connection `i`'s outbox or TLS session, if anything.
    pub(super) fn flush(&mut self, i: usize) -> Result<(), String> {
        let conn = &mut self.conns[i];
        if !conn.has_output() || !conn.writable {
            return Ok(());
        }
        conn.flush()
    }

    /// Reads connection `i` until `WouldBlock` (or a short read, which with
    /// edge-triggered polling means the same), handling each whole message.
    ///
    /// Messages are stamped with the time of the read that brought them, not of the
    /// poll: one turn can read for hundreds of ms under load, and a stamp per turn
    /// would give all its messages the turn's start (a stepped, understated latency
    /// distribution). A clock read costs tens of ns (46 on the 2-CPU VM measured) and a
    /// read brings up to 64 KiB: S1 made ~26,000 reads in all.
    fn read_from(&mut self, i: usize) -> bool {
        let mut received = false;
        loop {
            let fill = self.conns[i].fill(&mut self.chunk);
            let n = match fill {
                Ok(Fill::Data(n)) => n,
                Ok(Fill::Drained) => return received,
                Ok(Fill::Eof) => {
                    self.close(i, "closed by the server");
                    return received;
                }
                Err(e) => {
                    self.close(i, &e);
                    return received;
                }
            };
            received = true;
            let now = self.shared.now_ns();
            if let Err(e) = self.consume(i, n, now) {
                self.close(i, &e);
                return received;
            }
            if n < self.chunk.len() {
                return received;
            }
        }
    }

    /// Decodes the `n` new bytes in the chunk (after any kept tail) into messages.
    fn consume(&mut self, i: usize, n: usize, now: u64) -> Result<(), String> {
        let Driver {
            conns,
            chunk,
            sink,
            config,
            ..
        } = self;
        let conn = &mut conns[i];
        if conn.state == State::Ready && conn.role != Role::Receiver {
            return Ok(()); // senders and idle connections only drain what they get
        }
        let mut inbox = std::mem::take(&mut conn.inbox);
        let from_inbox = !inbox.is_empty();
        if from_inbox {
            inbox.extend_from_slice(&chunk[..n]);
        }
        let data: &[u8] = if from_inbox { &inbox } else { &chunk[..n] };
        let room = config.room.as_deref();
        let mut used = 0;
        let mut ready = false;
        let outcome = loop {
            match conn.wire.decode(&data[used..]) {
                Err(e) => break Err(e),
                Ok((Decoded::Incomplete, _)) => break Ok(()),
                Ok((Decoded::Message(msg), k)) => {
                    used += k;
                    match on_message(sink, conn, room, msg, now) {
                        Ok(Step::Ready) => {
                            conn.state = State::Ready;
                            ready = true;
                        }
                        Ok(Step::Stay) => {}
                        Err(e) => break Err(e),
                    }
                }
                Ok((_, k)) => used += k,
            }
        };
        if from_inbox {
            inbox.drain(..used);
        } else {
            inbox.extend_from_slice(&chunk[used..n]);
        }
        conn.inbox = inbox;
        outcome?;
        if ready {
            self.in_flight -= 1;
            self.ready_by_server[self.conns[i].server] += 1;
            self.shared.ready.fetch_add(1, Ordering::Relaxed);
        }
        self.flush(i)
    }

    /// Closes connection `i` (once), counting it as failed, disconnected or done.
    pub(super) fn close(&mut self, i: usize, reason: &str) {
        let conn = &mut self.conns[i];
        let (was, server) = (conn.state, conn.server);
        if was == State::Closed {
            return;
        }
        conn.state = State::Closed;
        if let Some(mut stream) = conn.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        let detail = match &conn.last_error {
            Some(last) => format!("{reason} (after {last:?})"),
            None => reason.to_string(),
        };
        log::debug!("bench loop {}: connection {i} closed: {detail}", self.index);
        match (was, conn.role) {
            (State::Connecting | State::Greeting | State::Joining, _) => {
                self.in_flight -= 1;
                self.record_failure(server, &detail);
            }
            (_, Role::Receiver) => {
                self.disconnected += 1;
                self.disconnect_reason.get_or_insert(detail);
            }
            _ => {}
        }
    }

    /// The loop's results, once the run is finished.
    pub(super) fn finish(self) -> LoopResult {
        let mut trackers = Vec::new();
        let mut sent = Vec::new();
        let mut max_lag_ns = 0;
        for conn in self.conns {
            if let Some(tracker) = conn.tracker {
                trackers.push((conn.server, tracker));
            }
            if let Some(send) = conn.send {
                max_lag_ns = max_lag_ns.max(send.max_lag_ns);
                sent.push((send.id, send.sent));
            }
        }
        LoopResult {
            trackers,
            ready_by_server: self.ready_by_server,
            sink: self.sink,
            disconnected: self.disconnected,
            disconnect_reason: self.disconnect_reason,
            sent,
            max_lag_ns,
        }
    }
}
