//! One client connection as the event loop sees it: its socket, where it is in its life,
//! its input not handled yet and its unwritten output.
//!
//! Life of a connection (see `docs/architecture.md`):
//! connecting (transport or framing unknown, TLS handshake, or waiting for `/pass`; not
//! in the chat) -> chatting -> closed. A connection that is `refused` (server full, too
//! many from its address, plain where TLS is required) is told why once its framing is
//! known, and closed. Connection code never removes itself: it reports what happened and
//! the loop decides.

use super::out_queue::OutQueue;
use super::rate::TokenBucket;
use super::transport::{self, Fed, Sink, Transport, TLS_BUFFER_LIMIT};
use crate::framing::{Decoder, Framing};
use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

/// Why a connection is turned away: it is told once its framing is known, then closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `--max-clients`.
    ServerFull,
    /// Over `--max-per-address` (the limit).
    TooManyFromAddress(usize),
    /// A plain connection to a server run with `--require-tls`.
    RequiresTls,
}

impl Refusal {
    /// What the client is told.
    pub fn notice(self) -> String {
        match self {
            Refusal::ServerFull => "! server full".to_string(),
            Refusal::TooManyFromAddress(limit) => {
                format!("! too many connections from your address (limit {limit})")
            }
            Refusal::RequiresTls => "! this server requires TLS".to_string(),
        }
    }
}

/// What one connection used of this loop turn's per-connection budgets.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurnUse {
    /// The loop turn these counts are for.
    turn: u64,
    /// Messages (and empty lines or frames) handled.
    pub messages: usize,
    /// Bytes read from the socket.
    pub bytes_read: usize,
    /// Work its messages caused beyond their own bytes: spans added to the turn's
    /// fan-out (see `Fanout::span_count`) and names looked at by `/who` and `/rooms`.
    pub work: usize,
    /// Bytes of replies to itself its messages caused (`/who`, errors, its copy of a
    /// private message); not what others sent it.
    pub replies: usize,
}

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: TcpStream,
    /// Distinguishes this connection from later ones that reuse its slab key.
    pub serial: u64,
    /// `Some` once the framing is known.
    pub decoder: Option<Decoder>,
    /// Plain, TLS, or not known yet.
    pub transport: Transport,
    /// Set if the connection is to be told why it is turned away, then closed.
    pub refusal: Option<Refusal>,
    /// In the chat (welcomed): no longer connecting.
    pub joined: bool,
    /// It began with an HTTP request line: its bytes are an HTTP request until it is
    /// answered (and closed) or upgraded to WebSocket.
    pub http: bool,
    /// Waiting for `/pass` (with `--password-file`): the wrong tries so far.
    pub locked: Option<u8>,
    /// Its address, when it counts against `--max-per-address`.
    pub counted_address: Option<IpAddr>,
    /// Its `--msg-rate` allowance, when the rate limit applies to it.
    pub bucket: Option<TokenBucket>,
    /// Over `--msg-rate`: not read again before its wake-up at this time.
    pub throttled_until: Option<Instant>,
    /// Silence decides "lines" only from this moment (`None`: not yet, a TLS handshake
    /// is under way); the detection deadline is `--detect-ms` after it.
    pub detect_after: Option<Instant>,
    /// Input read but not handled yet: an incomplete message, or whole messages left
    /// for the next turn when this one's budget ran out. Empty (and unallocated) most of
    /// the time, so idle connections hold no read buffer.
    pub input: Vec<u8>,
    /// What this connection used of the current turn's budgets.
    used: TurnUse,
    /// Output the socket has not taken yet.
    pub out: OutQueue,
    /// WRITABLE interest is registered (only while `out` is not empty).
    pub wants_writable: bool,
    /// Being closed at the end of this turn; ignore further input.
    pub closing: bool,
    /// On the loop's list of connections to read again next turn.
    pub read_again: bool,
    /// With `--cluster`: the number of the last command its messages sent to Redis.
    pub redis_mark: u64,
    /// On the loop's list of connections waiting for Redis to catch up.
    pub held_for_redis: bool,
    /// When input last arrived (kept only with `--idle-timeout`; else the accept time).
    pub last_input: Instant,
}

impl Connection {
    /// A freshly accepted connection whose framing is not known yet; `transport` is
    /// `Plain`, or `Undecided` when TLS is on.
    pub fn new(stream: TcpStream, serial: u64, transport: Transport, now: Instant) -> Self {
        Connection {
            stream,
            serial,
            decoder: None,
            transport,
            refusal: None,
            joined: false,
            http: false,
            locked: None,
            counted_address: None,
            bucket: None,
            throttled_until: None,
            detect_after: Some(now),
            input: Vec::new(),
            used: TurnUse::default(),
            out: OutQueue::default(),
            wants_writable: false,
            closing: false,
            read_again: false,
            redis_mark: 0,
            held_for_redis: false,
            last_input: now,
        }
    }

    /// Where output to this connection is written (through its TLS session, if any).
    pub fn sink(&mut self) -> Sink<'_> {
        sink_of(&mut self.transport, &mut self.stream)
    }

    /// Writes what is queued, through the transport; returns bytes taken.
    ///
    /// # Errors
    /// The socket failed.
    pub fn write_queued(&mut self) -> io::Result<usize> {
        let mut sink = sink_of(&mut self.transport, &mut self.stream);
        self.out.write_to(&mut sink)
    }

    /// Writes what the TLS session holds (a handshake message, records it could not send
    /// earlier); nothing to do for a plain connection.
    ///
    /// # Errors
    /// The socket failed.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        if let Transport::Tls(session) = &mut self.transport {
            transport::flush(session, &mut self.stream)?;
        }
        Ok(())
    }

    /// True if output is waiting: in the queue, or in the TLS session.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || matches!(&self.transport, Transport::Tls(s) if s.wants_write())
    }

    /// Memory its unsent output keeps alive, what `--max-backlog` is checked against:
    /// the queue's charge, plus the TLS session's buffer while it holds anything.
    pub fn held_output(&self) -> usize {
        let in_session = match &self.transport {
            Transport::Tls(session) if session.wants_write() => TLS_BUFFER_LIMIT,
            _ => 0,
        };
        self.out.held_bytes() + in_session
    }

    /// True for a plain connection (what zero-copy sends need).
    pub fn is_plain(&self) -> bool {
        matches!(self.transport, Transport::Plain)
    }

    /// True for a TLS connection whose handshake is not finished.
    pub fn tls_handshaking(&self) -> bool {
        matches!(&self.transport, Transport::Tls(s) if s.is_handshaking())
    }

    /// The framing, once known.
    pub fn framing(&self) -> Option<Framing> {
        self.decoder.as_ref().map(Decoder::framing)
    }

    /// This connection's use of the budgets of loop turn `turn`.
    pub fn used_in(&mut self, turn: u64) -> &mut TurnUse {
        if self.used.turn != turn {
            self.used = TurnUse {
                turn,
                ..TurnUse::default()
            };
        }
        &mut self.used
    }

    /// One `recv` of at most `max` bytes (and at most [`READ_CHUNK`]), appended to the
    /// held input. `Ok(0)` is EOF.
    ///
    /// # Errors
    /// Whatever `recv` reports, `WouldBlock` and `Interrupted` included.
    pub fn recv_into_input(&mut self, max: usize) -> io::Result<usize> {
        recv_appending(&self.stream, &mut self.input, max.min(READ_CHUNK))
    }

    /// One `recv` of at most `max` bytes (and at most [`READ_CHUNK`]), appended to `buf`.
    /// `Ok(0)` is EOF.
    ///
    /// # Errors
    /// Whatever `recv` reports, `WouldBlock` and `Interrupted` included.
    pub fn recv_into(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        recv_appending(&self.stream, buf, max.min(READ_CHUNK))
    }

    /// Makes this a TLS connection: what it sent so far (held as input) is the start of
    /// the session's ciphertext, and the plaintext it yields becomes the held input.
    ///
    /// # Errors
    /// What it sent is not a valid TLS start, or the socket failed sending the reply.
    pub fn start_tls(&mut self, config: Arc<ServerConfig>) -> io::Result<Fed> {
        let mut session = ServerConnection::new(config).map_err(io::Error::other)?;
        session.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        let cipher = std::mem::take(&mut self.input);
        let fed = transport::decrypt_into(&mut session, &cipher, &mut self.input);
        let flushed = transport::flush(&mut session, &mut self.stream);
        self.transport = Transport::Tls(Box::new(session));
        let fed = fed?;
        flushed?;
        Ok(fed)
    }

    /// One `recv` of at most `max` bytes of ciphertext into `scratch`, decrypted into the
    /// held input; the session's replies (handshake, alerts) are sent at once.
    /// `Ok(None)` is EOF (or the peer's close_notify); else the bytes read.
    ///
    /// # Errors
    /// Whatever `recv` reports (`WouldBlock` included), or a TLS error.
    pub fn recv_tls(&mut self, scratch: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
        let Transport::Tls(session) = &mut self.transport else {
            return Err(io::Error::other("not a TLS connection"));
        };
        scratch.clear();
        let n = recv_appending(&self.stream, scratch, max.min(READ_CHUNK))?;
        if n == 0 {
            return Ok(None);
        }
        let fed = transport::decrypt_into(session, scratch, &mut self.input);
        scratch.clear();
        let flushed = transport::flush(session, &mut self.stream);
        match fed? {
            Fed::Closed => Ok(None),
            Fed::Open => flushed.map(|_| Some(n)),
        }
    }
}

/// Bytes asked of the kernel per `recv` call.
pub const READ_CHUNK: usize = 64 * 1024;

/// The sink for a connection's transport and socket (borrowed apart from its queue).
fn sink_of<'a>(transport: &'a mut Transport, stream: &'a mut TcpStream) -> Sink<'a> {
    match transport {
        Transport::Tls(session) => Sink::Tls(session, stream),
        Transport::Plain | Transport::Undecided => Sink::Plain(stream),
    }
}

/// One `recv` of at most `max` bytes straight into `buf`'s spare capacity, appended.
/// Unlike `Read::read` into a resized `Vec`, nothing is zero-filled first: a 100-byte
/// chat line costs a 100-byte copy, not a 64 KiB memset.
fn recv_appending(stream: &TcpStream, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    buf.reserve(max);
    let spare = &mut buf.spare_capacity_mut()[..max];
    // SAFETY: the kernel writes at most `max` bytes into `spare`, memory that is
    // allocated and exclusively borrowed here; it need not be initialised beforehand.
    let n = unsafe { libc::recv(stream.as_raw_fd(), spare.as_mut_ptr().cast(), max, 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: `recv` reported that it initialised exactly the first `n <= max` bytes.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

mod turn_output;

pub use turn_output::TurnSource;
