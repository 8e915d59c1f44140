//! A connection before it is in the chat: deciding plain or TLS from its first bytes,
//! then its framing, then (with `--password-file`) the `/pass` gate; or telling it why
//! it is refused. Until it joins, it is `connecting`: counted in `/stats`, closed at
//! `--handshake-timeout`.

use super::{turn, CloseReason, Server};
use crate::chat::Outbox;
use crate::framing::{self, Framing};
use crate::http::{self, Answer};
use crate::password::{self, Attempt};
use crate::server::cluster::{self as link, ChatOut};
use crate::server::connection::Refusal;
use crate::server::transport::{self, Fed, Kind, Transport};
use log::debug;
use std::io;
use std::time::Instant;

impl Server {
    /// With TLS on, decides plain or TLS once the held first bytes tell. A TLS
    /// connection's held bytes become its session's first ciphertext.
    ///
    /// # Errors
    /// The bytes start a TLS record but are not a valid TLS start.
    pub(super) fn decide_transport(&mut self, key: usize) -> io::Result<()> {
        let conn = &mut self.conns[key];
        if !matches!(conn.transport, Transport::Undecided) {
            return Ok(());
        }
        match transport::classify(&conn.input) {
            Kind::Unknown => Ok(()),
            Kind::Plain => {
                self.become_plain(key);
                Ok(())
            }
            Kind::Tls => {
                let Some(config) = self.config.tls.clone() else {
                    return Ok(()); // Undecided only exists with TLS on
                };
                conn.detect_after = None; // silence means nothing during the handshake
                if conn.start_tls(config)? == Fed::Closed {
                    return Err(io::Error::other("closed during the TLS handshake"));
                }
                self.note_handshake_progress(key, true);
                if let Some(framing) = self.config.framing {
                    self.framing_known(key, framing);
                }
                Ok(())
            }
        }
    }

    /// The connection is plain: refused if TLS is required, and its framing is known
    /// now if it is forced.
    pub(super) fn become_plain(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.transport = Transport::Plain;
        if self.config.require_tls && conn.refusal.is_none() {
            conn.refusal = Some(Refusal::RequiresTls);
            self.rejecting += 1;
        }
        if let Some(framing) = self.config.framing {
            self.framing_known(key, framing);
        }
    }

    /// After TLS input was read: once the handshake is done, silence may decide the
    /// framing `--detect-ms` later (a deadline of its own, since the first was spent on
    /// the handshake).
    pub(super) fn note_handshake_progress(&mut self, key: usize, was_handshaking: bool) {
        let conn = &mut self.conns[key];
        if was_handshaking && !conn.tls_handshaking() && conn.detect_after.is_none() {
            debug!("connection {key}: TLS handshake done");
            let now = Instant::now();
            conn.detect_after = Some(now);
            if conn.decoder.is_none() {
                let deadline = (now + self.config.detect, key, conn.serial);
                self.detect_deadlines.push_back(deadline);
            }
        }
    }

    /// A connection's detection time is up. Its first bytes may have arrived while a
    /// long turn kept us from polling, so the socket is read before deciding: only a
    /// connection that really sent nothing becomes lines. Bytes that do not decide yet
    /// (1-3 bytes, no newline: a frame header may be dribbling in) are waited for until
    /// `--handshake-timeout`; a refused client becomes lines at once, to be told so. A TLS
    /// connection is judged `--detect-ms` after its handshake, not after its accept.
    pub(super) fn detect_timed_out(&mut self, key: usize, now: Instant) {
        let undecided = |key: usize, s: &Self| {
            s.conns
                .get(key)
                .is_some_and(|c| c.decoder.is_none() && !c.closing)
        };
        if undecided(key, self) {
            self.read_from_client(key);
        }
        if !undecided(key, self) {
            return;
        }
        let conn = &self.conns[key];
        if conn
            .detect_after
            .is_none_or(|since| since + self.config.detect > now)
        {
            return;
        }
        if conn.input.is_empty() || conn.refusal.is_some() {
            self.decide_lines_now(key);
        }
    }

    /// Gives an undecided connection the plain transport and the lines framing now, so it
    /// can be told something (a welcome, a refusal, `! idle timeout`).
    pub(super) fn decide_lines_now(&mut self, key: usize) {
        if matches!(self.conns[key].transport, Transport::Undecided) {
            self.become_plain(key);
        }
        if self.conns[key].decoder.is_none() && !self.conns[key].closing {
            self.framing_known(key, Framing::Lines);
        }
    }

    /// The framing is known, so the client can be told things: it joins the chat, or is
    /// asked for the password, or is told why it is refused (and closed).
    pub(super) fn framing_known(&mut self, key: usize, framing: Framing) {
        let conn = &mut self.conns[key];
        conn.decoder = Some(framing::Decoder::new(framing, self.config.max_message));
        self.fanout.add_recipient(key, framing);
        if let Some(refusal) = conn.refusal {
            self.fanout.to_client(key, &refusal.notice());
            self.close(key, CloseReason::Requested);
        } else if self.config.password.is_some() {
            conn.locked = Some(0);
            self.fanout.to_client(key, password::REQUIRED);
        } else {
            self.join_chat(key);
        }
    }

    /// A connection that began with an HTTP request line, once its request head is all
    /// there: answered with a file of the web page or an error, then closed; or upgraded
    /// to a WebSocket chat client. `None` while the head is incomplete; else where the
    /// WebSocket data starts (after an upgrade) or the end of `input`.
    pub(super) fn answer_http(&mut self, key: usize, input: &[u8]) -> Option<usize> {
        match http::answer(input, &self.config.site) {
            Answer::Incomplete => None,
            Answer::Respond(response) => {
                self.send_raw(key, &response);
                self.close(key, CloseReason::Requested);
                Some(input.len())
            }
            Answer::Upgrade { response, used } => {
                self.send_raw(key, &response);
                self.conns[key].http = false;
                self.framing_known(key, Framing::WebSocket);
                Some(used)
            }
        }
    }

    /// Sends bytes outside any framing (an HTTP response) ahead of everything else,
    /// through the transport.
    pub(super) fn send_raw(&mut self, key: usize, bytes: &[u8]) {
        let conn = &mut self.conns[key];
        conn.out.push_owned(bytes.to_vec(), 0);
        match conn.write_queued() {
            Ok(n) => self.counters.bytes_out += n as u64,
            Err(e) => {
                debug!("write to connection {key}: {e}");
                return self.close(key, CloseReason::Error);
            }
        }
        turn::set_write_interest(self.poll.registry(), conn, key);
    }

    /// The client is in: welcomed into the lobby, no longer connecting.
    fn join_chat(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.joined = true;
        conn.locked = None;
        self.connecting -= 1;
        let mut out = ChatOut {
            fanout: &mut self.fanout,
            cluster: self.cluster.as_mut(),
        };
        self.chat.connect(key, &mut out);
        if self.cluster.as_ref().is_some_and(|c| c.told_lost()) {
            self.fanout.to_client(key, link::LINK_LOST);
        }
    }

    /// A message from a client that has not given the password yet: `/pass` lets it in
    /// (or counts a wrong try; the third closes it); anything else is answered with
    /// the reminder. Nothing it says reaches the chat.
    pub(super) fn pass_the_gate(&mut self, key: usize, text: &str) {
        let (Some(password), Some(tries)) = (&self.config.password, self.conns[key].locked.as_mut()) else {
            return;
        };
        match password::attempt(password, text, tries) {
            Attempt::Passed => self.join_chat(key),
            Attempt::Wrong { close } => {
                self.fanout.to_client(key, password::WRONG);
                if close {
                    self.close(key, CloseReason::Requested);
                }
            }
            Attempt::NotAnAttempt => self.fanout.to_client(key, password::REQUIRED),
        }
    }
}
