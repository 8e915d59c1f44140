//! One non-blocking connection to Redis, registered in the event loop's own `Poll`.
//!
//! Commands are appended to [`RedisLink::queue`] as RESP bytes and written together by
//! [`RedisLink::flush`] (the loop calls it once per turn, so a turn's commands go out
//! pipelined in one `write`); replies and pub/sub messages are read into a buffer and
//! decoded one [`Value`] at a time. The connection knows nothing of what the commands
//! mean: [`super::cluster`] does.

use crate::cluster::resp::{self, ProtocolError, Value};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// Output Redis has not taken yet past which it counts as gone: it has stopped reading,
/// and holding more would only grow memory.
pub const MAX_UNSENT: usize = 64 << 20;
/// Input held for one value that is not complete yet past which the link is broken
/// (no reply or message of ours comes near this).
pub const MAX_UNDECODED: usize = 64 << 20;
/// One `read` at most.
const READ_CHUNK: usize = 64 * 1024;

/// A connection to Redis.
pub struct RedisLink {
    stream: TcpStream,
    token: Token,
    connected: bool,
    /// Queued commands; `out[..sent]` is written already.
    out: Vec<u8>,
    sent: usize,
    /// Read and not decoded yet: `input[decoded..]`.
    input: Vec<u8>,
    decoded: usize,
    /// WRITABLE is registered (while connecting, and while output waits).
    writable: bool,
}

impl RedisLink {
    /// Starts connecting; [`RedisLink::finish_connect`] tells when it is done.
    ///
    /// # Errors
    /// The socket could not be made or registered.
    pub fn connect(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<RedisLink> {
        let mut stream = TcpStream::connect(addr)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(RedisLink {
            stream,
            token,
            connected: false,
            out: Vec::new(),
            sent: 0,
            input: Vec::new(),
            decoded: 0,
            writable: true,
        })
    }

    /// True once connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// On an event while connecting: `Ok(true)` once the connection is made.
    ///
    /// # Errors
    /// Connecting failed (refused, unreachable).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                self.stream.set_nodelay(true)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// True if queued commands are not all written.
    pub fn has_unsent(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Where commands are appended (see [`resp::encode_command`]).
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Writes queued commands until the socket takes no more; WRITABLE is registered
    /// while some wait.
    ///
    /// # Errors
    /// Writing failed, or Redis has left more than [`MAX_UNSENT`] unread.
    pub fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        } else if self.out.len() - self.sent > MAX_UNSENT {
            return Err(io::Error::other("Redis stopped reading our commands"));
        }
        let want = self.sent < self.out.len();
        if want != self.writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, self.token, interest)?;
            self.writable = want;
        }
        Ok(())
    }

    /// Reads what Redis sent, at most about `budget` bytes. `Ok(true)` if the budget ran
    /// out first (more may be waiting: read again next turn).
    ///
    /// # Errors
    /// Redis closed the connection, or reading failed.
    pub fn read(&mut self, budget: usize) -> io::Result<bool> {
        let mut read = 0;
        while read < budget {
            let start = self.input.len();
            self.input.resize(start + READ_CHUNK, 0);
            let result = self.stream.read(&mut self.input[start..]);
            self.input.truncate(start + *result.as_ref().unwrap_or(&0));
            match result {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "Redis closed the connection",
                    ))
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The next whole value read, if there is one.
    ///
    /// # Errors
    /// What Redis sent is not RESP, or one value is larger than [`MAX_UNDECODED`].
    pub fn next_value(&mut self) -> Result<Option<Value>, ProtocolError> {
        match resp::decode(&self.input[self.decoded..])? {
            Some((value, used)) => {
                self.decoded += used;
                Ok(Some(value))
            }
            None => {
                self.input.drain(..self.decoded);
                self.decoded = 0;
                if self.input.len() > MAX_UNDECODED {
                    return Err(ProtocolError(format!(
                        "a reply of more than {MAX_UNDECODED} bytes"
                    )));
                }
                if self.input.is_empty() {
                    self.input = Vec::new(); // an idle link keeps no buffer
                }
                Ok(None)
            }
        }
    }

    /// Takes the socket out of the `Poll`; dropping the link closes it.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}
