//! One bench connection's socket and buffers: non-blocking connect, edge-triggered reads
//! and writes until `WouldBlock`, and the state of its handshake with the server.
//!
//! The socket is a [`Stream`], plain or TLS: with `--tls` the TLS handshake runs under
//! the chat handshake (the hello frame waits in the TLS session until it is done), and
//! every read and write goes through the session.

use super::sender::SendState;
use super::tracker::Tracker;
use super::wire::Wire;
use crate::client::transport::{Stream, TlsClient};
use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends payloads; numbered `0..senders`.
    Sender(u32),
    /// Checks every payload it receives.
    Receiver,
    /// Only holds a connection open (`--idle`); reads and ignores.
    Idle,
}

/// A connection to open: what it is for, and to which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// What it is for.
    pub role: Role,
    /// The server, an index into `Config::servers`.
    pub server: usize,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// TCP connect in progress.
    Connecting,
    /// Hello sent, waiting for the server's first message (the welcome). A WebSocket
    /// connection's hello is its upgrade request, and the `101` comes before the welcome.
    Greeting,
    /// `/join ROOM` sent, waiting for our own join notice.
    Joining,
    /// Handshake done: sends or receives payloads.
    Ready,
    /// Closed by either side; nothing more happens on it.
    Closed,
}

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This many new bytes are at the start of the chunk.
    Data(usize),
    /// Nothing more to read until the next readiness event.
    Drained,
    /// The server closed the connection.
    Eof,
}

/// A connection and everything the driver keeps for it.
#[derive(Debug)]
pub struct Conn {
    /// The socket and its transport; `None` once closed.
    pub stream: Option<Stream>,
    /// What it is for.
    pub role: Role,
    /// Its server, an index into `Config::servers`.
    pub server: usize,
    /// Where it is in its life.
    pub state: State,
    /// When connecting started, ns on the run's clock (for the handshake deadline).
    pub started_ns: u64,
    /// Its framing: the hello, how messages are written and read.
    pub wire: Wire,
    /// Received bytes not yet a whole message.
    pub inbox: Vec<u8>,
    /// Bytes to send; `written` of them are sent.
    pub outbox: Vec<u8>,
    /// Bytes of `outbox` already written.
    pub written: usize,
    /// False after a write hit `WouldBlock`, until the next writable event.
    pub writable: bool,
    /// The nick from the welcome, needed to recognise our own join notice.
    pub nick: Option<String>,
    /// The last `! ...` message or error, kept to explain a close.
    pub last_error: Option<String>,
    /// Receivers: the sequence checker.
    pub tracker: Option<Tracker>,
    /// Senders: what has been composed and written.
    pub send: Option<SendState>,
}

impl Conn {
    /// Starts a non-blocking connect to `addr` (the server of `slot`) for a connection
    /// that will speak `wire`; with `tls`, a TLS one.
    ///
    /// # Errors
    /// The OS error when the socket cannot be created or the connect fails at once.
    pub fn connect(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        slot: Slot,
        wire: Wire,
        now_ns: u64,
    ) -> io::Result<Conn> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        // Senders write small messages that must leave at once for honest latencies.
        socket.set_nodelay(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut conn = Conn::closed(slot, wire, now_ns);
        conn.stream = Some(Stream::new(TcpStream::from_std(socket.into()), tls)?);
        conn.state = State::Connecting;
        Ok(conn)
    }

    /// A connection that never opened: it keeps its place (and its counters) in the
    /// loop's list.
    pub fn closed(slot: Slot, wire: Wire, now_ns: u64) -> Conn {
        Conn {
            stream: None,
            role: slot.role,
            server: slot.server,
            state: State::Closed,
            started_ns: now_ns,
            wire,
            inbox: Vec::new(),
            outbox: Vec::new(),
            written: 0,
            writable: true,
            nick: None,
            last_error: None,
            tracker: None,
            send: None,
        }
    }

    /// Checks whether a pending connect finished: `Ok(true)` connected, `Ok(false)`
    /// still in progress.
    ///
    /// # Errors
    /// Why the connect failed.
    pub fn connect_finished(&mut self) -> Result<bool, String> {
        let Some(tcp) = self.stream.as_ref().map(Stream::tcp) else {
            return Err("closed".to_string());
        };
        if let Ok(Some(e)) | Err(e) = tcp.take_error() {
            return Err(format!("connect: {e}"));
        }
        match tcp.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(format!("connect: {e}")),
        }
    }

    /// Reads once into `chunk`.
    ///
    /// # Errors
    /// The read error, as text.
    pub fn fill(&mut self, chunk: &mut [u8]) -> Result<Fill, String> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(Fill::Eof);
        };
        loop {
            return match stream.read(chunk) {
                Ok(0) => Ok(Fill::Eof),
                Ok(n) => Ok(Fill::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Fill::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(format!("read: {e}")),
            };
        }
    }

    /// Writes the outbox (after any TLS records still waiting) until it is empty or the
    /// socket is full. Senders learn how many whole messages went out (with TLS: were
    /// encrypted; the session holds at most one write's worth until the socket takes it).
    ///
    /// # Errors
    /// The write error, as text.
    pub fn flush(&mut self) -> Result<(), String> {
        let Some(stream) = self.stream.as_mut() else {
            return Err("closed".to_string());
        };
        stream.write_pending().map_err(|e| format!("write: {e}"))?;
        while self.written < self.outbox.len() {
            match stream.write(&self.outbox[self.written..]) {
                Ok(0) => return Err("write: connection closed".to_string()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        if let Some(send) = self.send.as_mut() {
            send.count_written(self.written);
        }
        if self.written == self.outbox.len() {
            self.outbox.clear();
            self.written = 0;
            if let Some(send) = self.send.as_mut() {
                send.outbox_emptied();
            }
        }
        Ok(())
    }

    /// Senders: composes up to `max` due messages of `size` bytes into the outbox.
    pub fn compose(&mut self, now_ns: u64, size: usize, max: usize) -> usize {
        let encoder = self.wire.encoder();
        match self.send.as_mut() {
            Some(send) => send.compose(now_ns, size, encoder, max, &mut self.outbox),
            None => 0,
        }
    }

    /// True when nothing waits in the outbox.
    pub fn outbox_is_empty(&self) -> bool {
        self.written == self.outbox.len()
    }

    /// True when bytes wait to be written: in the outbox, or as TLS records.
    pub fn has_output(&self) -> bool {
        !self.outbox_is_empty() || self.stream.as_ref().is_some_and(Stream::wants_write)
    }
}
