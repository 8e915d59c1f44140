//! How a client's bytes cross the socket: as they are, or inside TLS.
//!
//! [`Stream`] behaves like a non-blocking socket to the code above it, so the link and the
//! load tester never ask which transport they have: `read` and `write` move plaintext,
//! `WouldBlock` means "nothing more until the next readiness event", and `read` returning
//! 0 means the server closed (a TLS `close_notify`, or a plain EOF). With TLS the `rustls`
//! session sits beside the socket on the same thread, as in rustls' `tlsclient-mio`:
//! readable -> `read_tls` -> `process_new_packets` -> plaintext out; plaintext in ->
//! `writer()` -> `write_tls` until `WouldBlock`. The only thing the owner adds is to keep
//! `WRITABLE` registered while [`Stream::wants_write`] (records wait for the socket) or
//! its own queue is not empty.

use crate::tls;
use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::Path;
use std::sync::Arc;

/// The one line `--insecure` prints on stderr (after `mio-chat: `).
pub const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not verified";

/// What every TLS connection to one server needs: the configuration (how to verify the
/// certificate) and the name the certificate must be valid for.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    verified: bool,
}

impl TlsClient {
    /// Verifies against the CA certificates in `ca_file` if given, else against Mozilla's
    /// roots; with `insecure` nothing is verified. The name to verify is the host part of
    /// `addr` (`HOST:PORT` or `[IPV6]:PORT`) as the user typed it, before any resolving.
    ///
    /// # Errors
    /// [`TlsSetupError::Name`] when the host is no DNS name or IP address;
    /// [`TlsSetupError::CaFile`] when the CA file is missing, unreadable or holds no
    /// certificate. Both are one line naming the value or the file.
    pub fn new(ca_file: Option<&Path>, insecure: bool, addr: &str) -> Result<TlsClient, TlsSetupError> {
        let server_name = tls::server_name(host_of(addr)).map_err(TlsSetupError::Name)?;
        let config = tls::client_config(ca_file, insecure).map_err(TlsSetupError::CaFile)?;
        Ok(TlsClient {
            config,
            server_name,
            verified: !insecure,
        })
    }

    /// Whether the server's certificate is checked (false with `--insecure`).
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    fn session(&self) -> io::Result<ClientConnection> {
        ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|e| io::Error::other(format!("TLS: {e}")))
    }
}

/// Why the TLS settings could not be made; the front-ends give them different exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSetupError {
    /// The address's host cannot be a certificate's name (a usage error).
    Name(String),
    /// The `--ca` file cannot be used (a runtime error).
    CaFile(String),
}

/// The host part of `HOST:PORT`, without the brackets of `[IPV6]:PORT`.
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The layer between the socket and the plaintext.
#[derive(Debug)]
enum Layer {
    Plain,
    Tls(Box<ClientConnection>),
}

/// A connection's socket and its transport; registered with mio like the socket itself.
#[derive(Debug)]
pub struct Stream {
    tcp: TcpStream,
    layer: Layer,
}

impl Stream {
    /// Wraps a connecting or connected socket; with `tls`, a TLS session starts (its
    /// first message is sent by the first [`Stream::handshake`] or [`Stream::write`]).
    ///
    /// # Errors
    /// `rustls` refused to start a session.
    pub fn new(tcp: TcpStream, tls: Option<&TlsClient>) -> io::Result<Stream> {
        let layer = match tls {
            None => Layer::Plain,
            Some(settings) => Layer::Tls(Box::new(settings.session()?)),
        };
        Ok(Stream { tcp, layer })
    }

    /// The socket, for what TCP alone answers: `take_error`, `peer_addr`, options.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Moves the TLS handshake on as far as the socket allows: `Ok(true)` once it is done
    /// (at once for plain TCP), `Ok(false)` when it waits for the server.
    ///
    /// # Errors
    /// The certificate was refused, the server sent an alert or closed, or I/O failed;
    /// the text says which in one line.
    pub fn handshake(&mut self) -> io::Result<bool> {
        let Layer::Tls(session) = &mut self.layer else {
            return Ok(true);
        };
        loop {
            write_records(session, &mut self.tcp)?;
            if !session.is_handshaking() {
                return Ok(true);
            }
            match read_records(session, &mut self.tcp)? {
                Records::Processed => {}
                Records::Drained => return Ok(false),
                Records::Closed => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    ))
                }
            }
        }
    }

    /// Reads plaintext into `buf`. A short read means the socket has nothing more for now,
    /// as with a plain socket, so edge-triggered readers may stop there.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is there yet; a TLS error or an I/O error otherwise.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Plain => self.tcp.read(buf),
            Layer::Tls(session) => read_plaintext(session, &mut self.tcp, buf),
        }
    }

    /// Writes plaintext from `buf`; returns how much was taken (with TLS: encrypted, and
    /// written to the socket as far as it would go).
    ///
    /// # Errors
    /// `WouldBlock` when the socket is full; an I/O error otherwise.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Plain => self.tcp.write(buf),
            Layer::Tls(session) => write_plaintext(session, &mut self.tcp, buf),
        }
    }

    /// Writes the records TLS has queued (handshake messages, alerts, encrypted data)
    /// until there are none or the socket is full; nothing to do for plain TCP.
    ///
    /// # Errors
    /// The socket failed.
    pub fn write_pending(&mut self) -> io::Result<()> {
        match &mut self.layer {
            Layer::Plain => Ok(()),
            Layer::Tls(session) => write_records(session, &mut self.tcp),
        }
    }

    /// True while TLS records wait for room in the socket: keep `WRITABLE` registered.
    pub fn wants_write(&self) -> bool {
        match &self.layer {
            Layer::Plain => false,
            Layer::Tls(session) => session.wants_write(),
        }
    }

    /// Says goodbye (TLS `close_notify`, as far as the socket takes it) and shuts the
    /// sending side, so the server reads everything written before it sees the end.
    pub fn close(&mut self) {
        if let Layer::Tls(session) = &mut self.layer {
            session.send_close_notify();
            let _ = write_records(session, &mut self.tcp);
        }
        let _ = self.tcp.shutdown(Shutdown::Write);
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp.register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp.deregister(registry)
    }
}

/// What one `read_tls` found.
enum Records {
    /// Records were read and processed; there may be plaintext, and more on the socket.
    Processed,
    /// The socket has nothing now.
    Drained,
    /// The server closed the TCP connection, or said `close_notify` earlier.
    Closed,
}

/// Fills `buf` with plaintext, reading records from the socket whenever the session has
/// none left: stops when `buf` is full, the socket is drained (what was read, or
/// `WouldBlock`) or the server closed (what was read, or 0).
fn read_plaintext(session: &mut ClientConnection, tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match session.reader().read(&mut buf[filled..]) {
            Ok(0) => break, // close_notify
            Ok(n) => {
                filled += n;
                continue;
            }
            // The TCP connection ended without close_notify: for a chat, closed all the same.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        match read_records(session, tcp)? {
            Records::Processed => {}
            Records::Closed => break,
            Records::Drained if filled > 0 => break,
            Records::Drained => return Err(ErrorKind::WouldBlock.into()),
        }
    }
    Ok(filled)
}

/// Reads from the socket once and processes what came; answers the server at once when
/// the records call for it (handshake, alerts), as far as the socket takes it.
fn read_records(session: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<Records> {
    loop {
        match session.read_tls(tcp) {
            Ok(0) => return Ok(Records::Closed),
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Records::Drained),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let handshaking = session.is_handshaking();
    if let Err(e) = session.process_new_packets() {
        // rustls has queued an alert that tells the server why; send it before giving up.
        let _ = write_records(session, tcp);
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            describe_tls_error(&e, handshaking),
        ));
    }
    write_records(session, tcp)?;
    Ok(Records::Processed)
}

/// A TLS failure in one line. Garbage in answer to our hello most likely means a server
/// without TLS (a plain mio-chat answers with its welcome), so that is said first.
fn describe_tls_error(err: &rustls::Error, handshaking: bool) -> String {
    match err {
        rustls::Error::InvalidMessage(_) if handshaking => {
            format!("TLS: the server does not speak TLS ({err})")
        }
        _ => format!("TLS: {err}"),
    }
}

/// Hands plaintext to the session, but only once earlier records have left: the socket
/// being full is the back-pressure, so the session never holds more than one write.
fn write_plaintext(session: &mut ClientConnection, tcp: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    write_records(session, tcp)?;
    if session.wants_write() {
        return Err(ErrorKind::WouldBlock.into());
    }
    let taken = session.writer().write(buf)?;
    if taken == 0 && !buf.is_empty() {
        // Only while handshaking: the session's buffer for early plaintext is full.
        return Err(ErrorKind::WouldBlock.into());
    }
    write_records(session, tcp)?;
    Ok(taken)
}

/// Writes queued records until there are none or the socket is full.
fn write_records(session: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(tcp) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
