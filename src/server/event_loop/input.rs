//! Reading what clients send and handling their messages, within each turn's budgets.
//!
//! A connection's input is handled only while it stays within its share of the turn
//! (`budget.rs`): whole messages left over wait in the connection's held input for the
//! next turn, and the socket is not read again until they are handled: what the client
//! sends meanwhile stays in the kernel, and TCP pushes back on it. Nothing is lost or
//! reordered. At most [`READ_BUDGET`] fresh bytes are read per connection and turn.

use super::budget::Allowance;
use super::{CloseReason, Server};
use crate::chat::{Outbox, ServerCounters};
use crate::framing::{self, websocket, Decoded, Framing};
use crate::http;
use crate::server::cluster::ChatOut;
use crate::server::transport::Transport;
use crate::text;
use log::debug;
use std::cmp::Reverse;
use std::io;
use std::time::{Duration, Instant};

/// Fresh bytes read from one connection per turn, so a flooder cannot starve the rest.
pub(super) const READ_BUDGET: usize = 256 * 1024;
/// What handling a connection's held input came to.
enum Progress {
    /// Every whole message was handled: read more.
    NeedMore,
    /// A budget ran out: what is held (and what waits in the socket) is for next turn.
    Paused,
    /// Over `--msg-rate`: what is held (and what waits in the socket) waits this long.
    Throttled(Duration),
    /// The client's last request waits for the cluster's answer, or Redis has too
    /// many of the cluster's commands still to do up to the client's last one: what is
    /// held (and what waits in the socket) is handled after that (see
    /// `event_loop/cluster.rs`).
    Parked,
    /// The connection is closing.
    Stopped,
}

impl Server {
    /// Reads what a client sent and handles its messages, within this turn's budgets.
    pub(super) fn read_from_client(&mut self, key: usize) {
        if self
            .conns
            .get(key)
            .is_none_or(|c| c.closing || c.throttled_until.is_some())
        {
            return; // a throttled connection is read again at its wake-up
        }
        if self.shutdown_deadline.is_some() {
            return self.discard_input(key);
        }
        self.read_and_handle(key);
        self.return_read_buffer();
    }

    fn read_and_handle(&mut self, key: usize) {
        loop {
            match self.handle_held_input(key) {
                Progress::NeedMore if self.chat.is_waiting(key) => return,
                Progress::NeedMore => {}
                Progress::Paused => return self.read_next_turn(key),
                Progress::Throttled(wait) => return self.read_after(key, wait),
                Progress::Parked | Progress::Stopped => return,
            }
            let turn = self.turn;
            let left = READ_BUDGET.saturating_sub(self.conns[key].used_in(turn).bytes_read);
            if left == 0 {
                return self.read_next_turn(key);
            }
            let was_handshaking = self.conns[key].tls_handshaking();
            match self.read_chunk(key, left) {
                Ok(None) => return self.end_of_input(key),
                Ok(Some(n)) => {
                    let conn = &mut self.conns[key];
                    conn.used_in(turn).bytes_read += n;
                    if self.config.idle_timeout.is_some() {
                        conn.last_input = self.turn_started;
                    }
                    self.note_handshake_progress(key, was_handshaking);
                    if let Err(e) = self.decide_transport(key) {
                        debug!("connection {key}: {e}");
                        return self.close(key, CloseReason::Error);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("read from connection {key}: {e}");
                    return self.close(key, CloseReason::Error);
                }
            }
        }
    }

    /// One `recv` appended to the connection's held input (decrypted, for TLS); `None`
    /// at end of input. A plain connection holding nothing reads straight into the
    /// loop's shared buffer (lent to it until the end of this read); one holding an
    /// unfinished message gets only the new bytes copied in, so its buffer grows with
    /// what it holds, not by a read's worth each time.
    fn read_chunk(&mut self, key: usize, max: usize) -> io::Result<Option<usize>> {
        let conn = &mut self.conns[key];
        let plain = match conn.transport {
            Transport::Tls(_) => return conn.recv_tls(&mut self.read_buf, max),
            Transport::Plain => true,
            Transport::Undecided => false,
        };
        if plain && conn.input.is_empty() && self.read_buf_lent_to.is_none() {
            std::mem::swap(&mut conn.input, &mut self.read_buf);
            self.read_buf_lent_to = Some(key);
        }
        let read = if self.read_buf_lent_to == Some(key) {
            conn.recv_into_input(max)
        } else {
            let read = conn.recv_into(&mut self.read_buf, max);
            conn.input.extend_from_slice(&self.read_buf);
            self.read_buf.clear(); // it is lent out empty, or what it held would come first
            read
        };
        read.map(|n| Some(n).filter(|&n| n > 0))
    }

    /// Takes the shared read buffer back; what the connection still holds (usually an
    /// unfinished message, or nothing) moves to a buffer of its own, sized to fit.
    fn return_read_buffer(&mut self) {
        let Some(key) = self.read_buf_lent_to.take() else {
            return;
        };
        let conn = &mut self.conns[key];
        let own = if conn.input.is_empty() {
            Vec::new()
        } else {
            conn.input.clone()
        };
        self.read_buf = std::mem::replace(&mut conn.input, own);
        self.read_buf.clear();
    }

    /// Handles the whole messages in the connection's held input, as far as the
    /// turn's budgets allow.
    fn handle_held_input(&mut self, key: usize) -> Progress {
        let input = std::mem::take(&mut self.conns[key].input);
        let (used, progress) = self.process_input(key, &input, true);
        let conn = &mut self.conns[key];
        conn.input = input;
        conn.input.drain(..used);
        if conn.input.is_empty() && self.read_buf_lent_to != Some(key) {
            conn.input = Vec::new(); // an idle connection keeps no buffer
        }
        progress
    }

    pub(super) fn read_next_turn(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.read_again {
            conn.read_again = true;
            self.read_again.push(key);
        }
    }

    /// Over its message rate: the connection is left alone (its socket unread, TCP
    /// pushing back) until its next token is due.
    fn read_after(&mut self, key: usize, wait: Duration) {
        let conn = &mut self.conns[key];
        // From now, not from the turn's start: a wake-up must lie ahead of the timers
        // that run next, or it would fire again at once, empty-handed, for ever.
        let at = Instant::now() + wait;
        conn.throttled_until = Some(at);
        self.rate_wakeups.push(Reverse((at, key, conn.serial)));
    }

    /// The client closed its side. What arrived with the end is handled first (a TLS
    /// client's last record may bring whole messages and close_notify together); held
    /// bytes that end without a newline are then a last line (`printf hi | nc -N` sends
    /// just that), also from a connection whose framing was not known yet; one that sent
    /// nothing at all (`nc -N host port < /dev/null`) is a line client too, and gets its
    /// welcome before the close.
    fn end_of_input(&mut self, key: usize) {
        if !self.conns[key].closing && !self.conns[key].input.is_empty() {
            let input = std::mem::take(&mut self.conns[key].input);
            // Bounded: at most a read's worth and one message are held.
            let (used, _) = self.process_input(key, &input, false);
            self.conns[key].input = input[used..].to_vec();
        }
        if self.chat.is_waiting(key) {
            return; // the end is read again once the cluster answers
        }
        let conn = &self.conns[key];
        let tls_unfinished = matches!(conn.transport, Transport::Tls(_)) && conn.input.is_empty();
        if !conn.closing && conn.decoder.is_none() && !tls_unfinished {
            self.decide_lines_now(key);
            if self.chat.is_waiting(key) {
                return;
            }
        }
        let conn = &self.conns[key];
        if !conn.closing && !conn.input.is_empty() {
            let conn = &mut self.conns[key];
            if conn.framing() == Some(Framing::Lines) && !conn.closing {
                let mut last = std::mem::take(&mut conn.input);
                last.push(b'\n');
                // One message at most (reading stops while whole messages are held), so
                // it is handled whatever is left of the budget.
                self.process_input(key, &last, false);
            }
        }
        self.close(key, CloseReason::Eof);
    }

    /// While shutting down, input is read and thrown away (within the read budget), so
    /// that the close at exit is a FIN and not a reset that destroys the last notice.
    fn discard_input(&mut self, key: usize) {
        let turn = self.turn;
        loop {
            let left = READ_BUDGET.saturating_sub(self.conns[key].used_in(turn).bytes_read);
            if left == 0 {
                return self.read_next_turn(key);
            }
            self.read_buf.clear();
            match self.conns[key].recv_into(&mut self.read_buf, left) {
                Ok(0) => return self.close(key, CloseReason::Eof),
                Ok(n) => self.conns[key].used_in(turn).bytes_read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key, CloseReason::Error),
            }
        }
    }

    /// Detects the framing if needed, then decodes and handles whole messages while the
    /// budgets allow (`budgeted`) or all of them. Returns how many bytes were used.
    fn process_input(&mut self, key: usize, input: &[u8], budgeted: bool) -> (usize, Progress) {
        if matches!(self.conns[key].transport, Transport::Undecided) {
            return (0, Progress::NeedMore); // plain or TLS is decided first
        }
        let mut at = 0;
        if self.conns[key].decoder.is_none() {
            if !self.conns[key].http {
                match http::is_request_line(input) {
                    Some(true) => self.conns[key].http = true,
                    Some(false) => {}
                    None => return (0, Progress::NeedMore),
                }
            }
            if self.conns[key].http {
                match self.answer_http(key, input) {
                    Some(used) => at = used, // upgraded: the rest is WebSocket
                    None => return (0, Progress::NeedMore),
                }
            } else {
                match framing::detect(input) {
                    Some(framing) => self.framing_known(key, framing),
                    None => return (0, Progress::NeedMore),
                }
            }
        }
        loop {
            if self.conns[key].closing {
                return (input.len(), Progress::Stopped);
            }
            if self.chat.is_waiting(key) || (budgeted && self.behind_redis(key)) {
                return (at, Progress::Parked);
            }
            if budgeted {
                match self.input_allowance(key) {
                    Allowance::Go => {}
                    Allowance::Pause => return (at, Progress::Paused),
                    Allowance::Throttled(wait) => return (at, Progress::Throttled(wait)),
                    Allowance::TooSlow(held) => {
                        self.drop_too_slow(key, held);
                        return (input.len(), Progress::Stopped);
                    }
                }
            }
            let turn = self.turn;
            let conn = &mut self.conns[key];
            let Some(decoder) = conn.decoder.as_mut() else {
                return (at, Progress::NeedMore);
            };
            match decoder.decode(&input[at..]) {
                Ok((Decoded::Incomplete, _)) => return (at, Progress::NeedMore),
                Ok((item, used)) => {
                    at += used;
                    conn.used_in(turn).messages += 1;
                    if let Some(bucket) = conn.bucket.as_mut() {
                        bucket.spend();
                    }
                    let before = (self.work_so_far(), self.fanout.direct_bytes(key));
                    let sent = self.cluster.as_ref().map(|c| c.commands_sent());
                    self.handle_item(key, item);
                    self.mark_redis_commands(key, sent);
                    let work = self.work_so_far() - before.0;
                    let used = self.conns[key].used_in(turn);
                    used.work += work;
                    used.replies += self.fanout.direct_bytes(key).saturating_sub(before.1);
                }
                Err(too_large) => {
                    let text = format!(
                        "! message of {} bytes exceeds the limit of {} bytes",
                        too_large.len, too_large.limit
                    );
                    self.fanout.to_client(key, &text);
                    self.close(key, CloseReason::Oversized);
                    return (input.len(), Progress::Stopped);
                }
            }
        }
    }

    fn handle_item(&mut self, key: usize, item: Decoded<'_>) {
        match item {
            Decoded::Message(raw) => {
                self.counters.messages_in += 1;
                let raw = match self.conns[key].framing() {
                    Some(Framing::Lines) => text::strip_telnet_commands(raw),
                    _ => raw.into(),
                };
                self.text_buf.clear();
                text::clean_into(&raw, &mut self.text_buf);
                let text = text::cut_to(&self.text_buf, self.config.max_message);
                if self.conns[key].locked.is_some() {
                    let text = text.to_string();
                    return self.pass_the_gate(key, &text);
                }
                let counters = ServerCounters {
                    uptime: self.turn_started.duration_since(self.started),
                    connecting: self.connecting,
                    bytes_out: self.counters.bytes_out,
                    slow_dropped: self.counters.slow_dropped,
                };
                let mut out = ChatOut {
                    fanout: &mut self.fanout,
                    cluster: self.cluster.as_mut(),
                };
                self.chat.handle(key, text, &counters, &mut out);
                if self.fanout.closes().contains(&key) {
                    self.close(key, CloseReason::Requested);
                }
            }
            Decoded::LineTooLong => {
                let text = format!("! line too long (limit {} bytes)", self.config.max_message);
                self.fanout.to_client(key, &text);
            }
            Decoded::Assembled => {
                let Some(message) = self.conns[key].decoder.as_mut().map(|d| d.take_message()) else {
                    return;
                };
                self.handle_item(key, Decoded::Message(&message));
                if let Some(decoder) = self.conns[key].decoder.as_mut() {
                    decoder.give_back(message); // the next message reuses the buffer
                }
            }
            Decoded::Reply(bytes) => self.fanout.to_client_encoded(key, &bytes),
            Decoded::Closing(code) => {
                self.close(key, CloseReason::Goodbye(code.unwrap_or(websocket::NORMAL)))
            }
            Decoded::Violation(code, reason) => {
                if let Some(framing) = self.conns[key].framing() {
                    self.fanout
                        .to_client_encoded(key, &framing.goodbye(code, &reason));
                }
                debug!("connection {key}: protocol violation ({code}: {reason})");
                self.close(key, CloseReason::Protocol);
            }
            Decoded::Nothing | Decoded::Incomplete => {}
        }
    }
}
