//! What each message from the server means to a bench connection: the welcome, the
//! confirmation of `/join`, a payload to check, or something else to count.

use super::conn::{Conn, Role, State};
use super::payload::Marker;
use hdrhistogram::Histogram;

/// Opens the welcome's nick: `* welcome to mio-chat, you are guest3; ...`.
const NICK_INTRO: &[u8] = b"you are ";
/// Opens every server error line (`! no such nick`, `! disconnected: too slow`).
const ERROR_PREFIX: &[u8] = b"! ";
/// The longest latency the histogram holds, µs (one hour); longer ones saturate.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A message moved the connection's handshake forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed.
    Stay,
    /// The handshake is done.
    Ready,
}

/// One loop's receive-side counters and latency histogram.
#[derive(Debug)]
pub struct Sink {
    /// Latency of every payload received, µs.
    pub latency: Histogram<u64>,
    /// With several servers, the same per server (receivers' server); empty with one.
    pub by_server: Vec<Histogram<u64>>,
    /// Messages without a marker.
    pub other: u64,
    /// Markers naming a sender that does not exist.
    pub malformed: u64,
    /// Payloads received since the count was last published.
    pub unpublished: u64,
    /// Senders in this run.
    pub senders: usize,
}

impl Sink {
    /// Empty counters for a run with `senders` senders and receivers on `servers`
    /// servers.
    pub fn new(senders: usize, servers: usize) -> Self {
        let per_server = if servers > 1 { servers } else { 0 };
        Sink {
            latency: latency_histogram(),
            by_server: (0..per_server).map(|_| latency_histogram()).collect(),
            other: 0,
            malformed: 0,
            unpublished: 0,
            senders,
        }
    }

    /// A ready receiver got `msg` at `now_ns`: check its marker, record its latency.
    fn deliver(&mut self, conn: &mut Conn, msg: &[u8], now_ns: u64) {
        let Some(marker) = Marker::find_in(msg) else {
            if msg.starts_with(ERROR_PREFIX) {
                conn.last_error = Some(String::from_utf8_lossy(msg).into_owned());
            }
            self.other += 1;
            return;
        };
        let Some(tracker) = conn.tracker.as_mut() else {
            return;
        };
        if tracker.record(marker.sender as usize, marker.seq).is_none() {
            self.malformed += 1;
            return;
        }
        let micros = (now_ns.saturating_sub(marker.send_ns) / 1000).max(1);
        self.latency.saturating_record(micros);
        if let Some(hist) = self.by_server.get_mut(conn.server) {
            hist.saturating_record(micros);
        }
        self.unpublished += 1;
    }
}

/// An empty histogram of µs latencies.
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds and precision are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Handles one message for `conn`; `room` is the room to join after the welcome.
///
/// # Errors
/// Why the handshake cannot go on (the server refused the join, or named no nick).
pub fn on_message(
    sink: &mut Sink,
    conn: &mut Conn,
    room: Option<&str>,
    msg: &[u8],
    now_ns: u64,
) -> Result<Step, String> {
    match conn.state {
        State::Greeting => on_welcome(conn, room, msg),
        State::Joining => on_join_reply(conn, msg),
        State::Ready if conn.role == Role::Receiver => {
            sink.deliver(conn, msg, now_ns);
            Ok(Step::Stay)
        }
        _ => {
            if msg.starts_with(ERROR_PREFIX) {
                conn.last_error = Some(String::from_utf8_lossy(msg).into_owned());
            }
            Ok(Step::Stay)
        }
    }
}

/// The first message is the welcome: ready, or on to `/join` when a room was asked for.
fn on_welcome(conn: &mut Conn, room: Option<&str>, msg: &[u8]) -> Result<Step, String> {
    conn.nick = nick_in_welcome(msg);
    let Some(room) = room else {
        return Ok(Step::Ready);
    };
    if conn.nick.is_none() {
        return Err(format!(
            "the welcome names no nick, so --room cannot be used: {:?}",
            String::from_utf8_lossy(msg)
        ));
    }
    let encoder = conn.wire.encoder();
    encoder.encode_into(format!("/join {room}").as_bytes(), &mut conn.outbox);
    conn.state = State::Joining;
    Ok(Step::Stay)
}

/// After `/join`, wait for our own `* NICK joined`; an error line ends the handshake.
fn on_join_reply(conn: &mut Conn, msg: &[u8]) -> Result<Step, String> {
    if msg.starts_with(ERROR_PREFIX) {
        return Err(format!("/join refused: {}", String::from_utf8_lossy(msg)));
    }
    let nick = conn.nick.as_deref().unwrap_or_default().as_bytes();
    let joined = msg
        .strip_prefix(b"* ")
        .and_then(|rest| rest.strip_suffix(b" joined"))
        .is_some_and(|who| who == nick);
    Ok(if joined { Step::Ready } else { Step::Stay })
}

/// `guest3` from `* welcome to mio-chat, you are guest3; 2 online; ...`.
pub fn nick_in_welcome(msg: &[u8]) -> Option<String> {
    let at = msg.windows(NICK_INTRO.len()).position(|w| w == NICK_INTRO)?;
    let rest = &msg[at + NICK_INTRO.len()..];
    let end = rest.iter().position(|&b| b == b';')?;
    let nick = std::str::from_utf8(&rest[..end]).ok()?;
    (!nick.is_empty()).then(|| nick.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nick_comes_from_the_welcome() {
        let welcome = b"* welcome to mio-chat, you are guest3; 2 online; /help for commands";
        assert_eq!(nick_in_welcome(welcome).as_deref(), Some("guest3"));
        assert_eq!(nick_in_welcome(b"welcome"), None);
        assert_eq!(nick_in_welcome(b"you are ; x"), None);
    }
}
