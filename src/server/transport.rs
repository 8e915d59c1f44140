//! How bytes cross one client's socket: as they are, or through a TLS session.
//!
//! The layer under the framing: the event loop reads plaintext into a connection's held
//! input and writes plaintext through a [`Sink`], and only asks which transport it has
//! where it must (zero-copy sends: the kernel cannot encrypt for us). A TLS session is
//! driven as rustls' `tlsserver-mio` example does: ciphertext from the socket goes in
//! with `read_tls` and `process_new_packets`, plaintext comes out of `reader()`; what we
//! send goes into `writer()` and out with `write_tls` until the socket would block.

use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;
/// The record's major version, and the minor versions from SSL 3.0/TLS 1.0 to TLS 1.3.
const TLS_MAJOR: u8 = 0x03;
const TLS_MINORS: std::ops::RangeInclusive<u8> = 0x01..=0x04;

/// Buffers taken per TLS write (what the out queue offers at most).
const MAX_SLICES: usize = super::out_queue::MAX_IOVECS;

/// Plaintext and ciphertext a session may hold for sending before it pushes back:
/// what it holds is counted against `--max-backlog` (the rest waits in the out queue).
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// A connection's transport.
#[derive(Debug)]
pub enum Transport {
    /// TLS is on, and the bytes so far could still begin a TLS record.
    Undecided,
    /// Bytes as they are.
    Plain,
    /// Through a TLS session.
    Tls(Box<ServerConnection>),
}

/// What a connection's first bytes say about its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not known yet: more bytes are needed.
    Unknown,
    /// Not a TLS record: a plain client.
    Plain,
    /// A TLS handshake record (`0x16 0x03 0x01..0x04`).
    Tls,
}

/// Classifies a connection from its first bytes. Three bytes decide; fewer decide only
/// when they already differ from a TLS record's start.
pub fn classify(first: &[u8]) -> Kind {
    let looks_tls = [
        first.first().map(|&b| b == TLS_HANDSHAKE),
        first.get(1).map(|&b| b == TLS_MAJOR),
        first.get(2).map(|b| TLS_MINORS.contains(b)),
    ];
    match looks_tls {
        [None, ..] => Kind::Unknown,
        [Some(true), Some(true), Some(true)] => Kind::Tls,
        [Some(false), ..] | [_, Some(false), _] | [_, _, Some(false)] => Kind::Plain,
        _ => Kind::Unknown,
    }
}

/// What feeding ciphertext to a session came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// Plaintext (possibly none yet: a handshake message) was appended.
    Open,
    /// The peer sent close_notify: no more plaintext will come.
    Closed,
}

/// Feeds `cipher` to the session and appends the plaintext it yields to `plain`.
///
/// # Errors
/// The peer broke the protocol (a failed handshake, garbage, a bad record): the session
/// has queued an alert, which the caller may flush before closing.
pub fn decrypt_into(
    session: &mut ServerConnection,
    mut cipher: &[u8],
    plain: &mut Vec<u8>,
) -> io::Result<Fed> {
    let mut fed = Fed::Open;
    while !cipher.is_empty() {
        session.read_tls(&mut cipher)?;
        let state = session.process_new_packets().map_err(io::Error::other)?;
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let at = plain.len();
            plain.resize(at + ready, 0);
            session.reader().read_exact(&mut plain[at..])?;
        }
        if state.peer_has_closed() {
            fed = Fed::Closed;
        }
    }
    Ok(fed)
}

/// Writes what the session holds for the socket until it would block; returns whether
/// anything is still held.
///
/// # Errors
/// The socket failed (reset, broken pipe).
pub fn flush(session: &mut ServerConnection, stream: &mut TcpStream) -> io::Result<bool> {
    while session.wants_write() {
        match session.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Where a connection's output is written: the socket, or the TLS session in front of it.
pub enum Sink<'a> {
    /// Straight to the socket.
    Plain(&'a mut TcpStream),
    /// Encrypted by the session, then to the socket.
    Tls(&'a mut ServerConnection, &'a mut TcpStream),
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(stream) => stream.write(buf), // `write`, not a one-buffer `writev`
            Sink::Tls(..) => self.write_vectored(&[IoSlice::new(buf)]),
        }
    }

    /// Plain: one `writev`. TLS: into the session (which holds at most
    /// [`TLS_BUFFER_LIMIT`]) and out to the socket, again and again until everything is
    /// taken or the socket is full, so that a short count means what it means for a
    /// socket: full, WRITABLE will follow. `WouldBlock` if nothing was taken.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sink::Plain(stream) => stream.write_vectored(bufs),
            Sink::Tls(session, stream) => {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = bufs.len().min(MAX_SLICES);
                slices[..count].copy_from_slice(&bufs[..count]);
                let mut rest = &mut slices[..count];
                let mut taken = 0;
                loop {
                    let n = session.writer().write_vectored(rest)?;
                    taken += n;
                    IoSlice::advance_slices(&mut rest, n);
                    let socket_full = flush(session, stream)?;
                    if rest.is_empty() || socket_full || n == 0 {
                        break;
                    }
                }
                if taken == 0 && !bufs.iter().all(|b| b.is_empty()) {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(taken)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(_) => Ok(()),
            Sink::Tls(session, stream) => flush(session, stream).map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_bytes_tell_a_tls_record_and_fewer_only_when_they_differ() {
        assert_eq!(classify(b""), Kind::Unknown);
        assert_eq!(classify(&[0x16]), Kind::Unknown);
        assert_eq!(classify(&[0x16, 0x03]), Kind::Unknown);
        for minor in 1..=4 {
            assert_eq!(classify(&[0x16, 0x03, minor]), Kind::Tls);
            assert_eq!(classify(&[0x16, 0x03, minor, 0x00, 0xff]), Kind::Tls);
        }
        assert_eq!(classify(&[0x16, 0x03, 0x00]), Kind::Plain);
        assert_eq!(classify(&[0x16, 0x03, 0x05]), Kind::Plain);
        assert_eq!(classify(&[0x16, 0x02]), Kind::Plain);
        assert_eq!(classify(b"h"), Kind::Plain);
        assert_eq!(classify(b"\n"), Kind::Plain);
        assert_eq!(classify(&[0, 0, 0, 0]), Kind::Plain, "the bundled client's hello");
    }
}
