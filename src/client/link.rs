//! One connection to the server: a non-blocking connect (and TLS handshake), an outgoing
//! queue written until `WouldBlock`, and incoming bytes cut into frames by the project's
//! [`Decoder`].
//!
//! Whether the bytes travel plain or inside TLS is the [`Stream`]'s business; the link
//! only counts the connection as made once the handshake is done, so a certificate the
//! client refuses is a failed connect, not a lost connection.
//!
//! The link never decides what happens next: reads and writes report
//! [`Lost`] and the session chooses between reconnecting and exiting.

use super::transport::{Stream, TlsClient};
use crate::framing::{Decoded, Decoder, Framing, MAX_MESSAGE_LIMIT};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Why a connection ended, for the one stderr line that reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost(pub String);

impl From<io::Error> for Lost {
    fn from(err: io::Error) -> Self {
        Lost(describe(&err))
    }
}

/// How far the connection has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// The TCP connect is under way.
    Connecting,
    /// TCP is up; the TLS handshake is under way (plain TCP passes through at once).
    Handshaking,
    /// Ready for frames.
    Connected,
}

/// A connection to the server, connecting or connected.
#[derive(Debug)]
pub struct Link {
    stream: Stream,
    token: Token,
    progress: Progress,
    /// Received bytes not yet cut into whole frames.
    inbox: Vec<u8>,
    /// Encoded frames not yet accepted by the stream.
    out_queue: Vec<u8>,
    decoder: Decoder,
    /// Whether `WRITABLE` is registered: while connecting, or while bytes (or TLS
    /// records) are left over.
    writable_registered: bool,
}

impl Link {
    /// Starts a non-blocking connect to `addr`, registered under `token`; with `tls`, the
    /// connection is TLS.
    ///
    /// # Errors
    /// The connect failed at once (e.g. no route) or could not be registered.
    pub fn start(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Link> {
        let mut stream = Stream::new(TcpStream::connect(addr)?, tls)?;
        // Writable means "connect finished, one way or the other".
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Link {
            stream,
            token,
            progress: Progress::Connecting,
            inbox: Vec::new(),
            out_queue: Vec::new(),
            decoder: Decoder::new(Framing::Frames, MAX_MESSAGE_LIMIT),
            writable_registered: true,
        })
    }

    /// Whether the connect (and the TLS handshake) has completed.
    pub fn is_connected(&self) -> bool {
        self.progress == Progress::Connected
    }

    /// After an event while connecting: `Ok(true)` once connected (with TLS: once the
    /// server's certificate is accepted and the handshake is done), `Ok(false)` while the
    /// connect or the handshake is still under way.
    ///
    /// # Errors
    /// The connect failed (refused, unreachable...) or the TLS handshake did (the
    /// certificate was refused, the server sent an alert or closed).
    pub fn finish_connect(&mut self, registry: &Registry) -> io::Result<bool> {
        if self.progress == Progress::Connecting {
            if !self.tcp_connected()? {
                return Ok(false);
            }
            self.progress = Progress::Handshaking;
            // Chat lines are small and interactive; don't let Nagle hold them back.
            let _ = self.stream.tcp().set_nodelay(true);
        }
        let done = self.stream.handshake()?;
        if done {
            self.progress = Progress::Connected;
        }
        self.update_interest(registry)?;
        Ok(done)
    }

    /// Whether the TCP connect has completed.
    fn tcp_connected(&self) -> io::Result<bool> {
        let tcp = self.stream.tcp();
        if let Some(err) = tcp.take_error()? {
            return Err(err);
        }
        match tcp.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends `text` to the outgoing queue as one frame (an empty text is the hello /
    /// keep-alive frame).
    pub fn queue(&mut self, text: &str) {
        Framing::Frames.encode_into(text.as_bytes(), &mut self.out_queue);
    }

    /// Bytes queued and not yet taken by the stream.
    pub fn queued_bytes(&self) -> usize {
        self.out_queue.len()
    }

    /// True when everything queued has gone into the socket (TLS records included).
    pub fn is_flushed(&self) -> bool {
        self.out_queue.is_empty() && !self.stream.wants_write()
    }

    /// Reads until `WouldBlock`, handing each whole message's raw bytes to `deliver`.
    ///
    /// # Errors
    /// The server closed the connection, it failed, or a frame was over the limit. Every
    /// message that arrived before is delivered first.
    pub fn read_messages(&mut self, mut deliver: impl FnMut(&[u8])) -> Result<(), Lost> {
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Lost("the server closed the connection".to_string())),
                Ok(n) => {
                    self.inbox.extend_from_slice(&chunk[..n]);
                    self.cut_messages(&mut deliver)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes the outgoing queue until it is empty or the socket is full, and keeps
    /// `WRITABLE` registered exactly while bytes (or TLS records) are left over.
    ///
    /// # Errors
    /// The connection failed.
    pub fn flush(&mut self, registry: &Registry) -> Result<(), Lost> {
        self.stream.write_pending()?;
        let mut written = 0;
        while written < self.out_queue.len() {
            match self.stream.write(&self.out_queue[written..]) {
                Ok(0) => return Err(Lost("the connection refused more bytes".to_string())),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.out_queue.drain(..written);
        self.update_interest(registry)?;
        Ok(())
    }

    /// Keeps `WRITABLE` registered exactly while frames or TLS records wait for the socket.
    fn update_interest(&mut self, registry: &Registry) -> io::Result<()> {
        let want_writable = !self.out_queue.is_empty() || self.stream.wants_write();
        if want_writable != self.writable_registered {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, self.token, interest)?;
            self.writable_registered = want_writable;
        }
        Ok(())
    }

    /// Deregisters and closes, telling the server we are done sending first (with TLS:
    /// `close_notify`) so that what was written is read before the close.
    pub fn close(mut self, registry: &Registry) {
        self.stream.close();
        let _ = registry.deregister(&mut self.stream);
    }

    /// Hands every whole message in the inbox to `deliver` and keeps the incomplete tail.
    fn cut_messages(&mut self, deliver: &mut impl FnMut(&[u8])) -> Result<(), Lost> {
        let mut used = 0;
        let outcome = loop {
            match self.decoder.decode(&self.inbox[used..]) {
                Ok((Decoded::Incomplete, _)) => break Ok(()),
                Ok((Decoded::Message(text), n)) => {
                    deliver(text);
                    used += n;
                }
                Ok((_, n)) => used += n, // nothing to show (a frames server sends only messages)
                Err(too_large) => {
                    break Err(Lost(format!(
                        "the server sent a frame of {} bytes, over the {} byte limit",
                        too_large.len, too_large.limit
                    )))
                }
            }
        };
        self.inbox.drain(..used);
        outcome
    }
}

/// An I/O error as a short phrase: "Connection refused", without "(os error 111)".
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_described_without_the_os_error_number() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(describe(&refused), "Connection refused");
        let custom = io::Error::other("no address");
        assert_eq!(describe(&custom), "no address");
    }
}
