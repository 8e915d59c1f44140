//! The bundled client behind `mio-chat connect`: lines typed (or piped) go to the server
//! as frames, frames received are printed as lines. At a terminal the input line stays at
//! the bottom and what arrives is printed above it.
//!
//! Built on the same single-threaded mio model as the server. The parts, one job each:
//! - [`session`]: the event loop: connecting, reconnecting, lingering, exiting.
//! - [`link`]: one connection: non-blocking connect, out queue, frames in.
//! - [`transport`]: how bytes cross the socket, plain or TLS (also used by the bench).
//! - [`user`]: who is on stdin and stdout, and so which input and output to use.
//! - [`input`]: the user's lines, from a stdin thread or from `--send`.
//! - [`editor`]: the line editor at a terminal (rustyline on the input thread).
//! - [`completion`]: what Tab completes: `/commands` and nicks.
//! - [`nicks`]: the nicks seen in the current room, for completion.
//! - [`identity`]: the nick and room to restore after a reconnect.
//! - [`screen`]: styled lines collected per loop turn and written to stdout or above the
//!   input line.
//! - [`style`]: what a line looks like on a terminal or in a pipe.
//! - [`backoff`]: the reconnect schedule, with jitter.
//! - [`clock`]: local `HH:MM:SS` for `--timestamps`.

pub mod backoff;
pub mod clock;
pub mod completion;
pub mod editor;
pub mod identity;
pub mod input;
pub mod link;
pub mod nicks;
pub mod screen;
pub mod session;
pub mod style;
pub mod transport;
pub mod user;

use std::fmt;
use std::time::Duration;

/// The address `mio-chat connect` uses when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:1234";
/// The default `--linger`.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(500);

/// Everything `mio-chat connect` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT` of the server; resolved again on every attempt.
    pub addr: String,
    /// `--tls`: speak TLS, verifying the server as these settings say.
    pub tls: Option<transport::TlsClient>,
    /// `--nick`: asked for on every connection.
    pub nick: Option<String>,
    /// `--room`: joined on every connection.
    pub room: Option<String>,
    /// `--send` messages; when there are any, stdin is not read.
    pub send: Vec<String>,
    /// How long to keep printing after all input was sent.
    pub linger: Duration,
    /// Reconnect with backoff when the connection is lost or cannot be made.
    pub reconnect: bool,
    /// How output is decorated.
    pub style: style::Style,
}

/// Why the client stopped with a failure (exit status 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The connection could not be made or was lost, and reconnecting is off.
    Disconnected(String),
    /// Something on this side failed: polling, reading stdin, writing stdout.
    Local(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Disconnected(why) | Error::Local(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

/// Runs the client until the input is done and sent (then lingers), the user quits
/// (`/quit`, Ctrl-C, SIGTERM) or, with reconnecting off, the connection is lost.
///
/// # Errors
/// [`Error::Disconnected`] when the connection fails and `reconnect` is off;
/// [`Error::Local`] when stdin, stdout or the poller fail.
pub fn run(config: Config) -> Result<(), Error> {
    session::Session::new(config)?.run()
}
