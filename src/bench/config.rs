//! What a bench run is asked to do, already parsed and checked by the front-end.

use crate::client::transport::TlsClient;
use crate::framing::Framing;
use std::net::SocketAddr;
use std::time::Duration;

/// When the senders stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SendLimit {
    /// Each sender sends this many messages.
    Messages(u64),
    /// Senders send for this long.
    Duration(Duration),
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Senders and receivers in one room: throughput, latency and delivery checks.
    Load {
        /// Receiving connections.
        receivers: usize,
        /// Sending connections (they receive nothing they check).
        senders: usize,
        /// Payload bytes per message (the marker is never cut).
        size: usize,
        /// When the senders stop.
        limit: SendLimit,
        /// Total messages per second over all senders; `None` sends as fast as the
        /// server accepts.
        rate: Option<f64>,
    },
    /// Open this many connections and hold them.
    Idle {
        /// Connections to open.
        connections: usize,
        /// How long to hold them once connecting is over and the server is quiet.
        hold: Duration,
    },
}

/// A whole bench run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server.
    pub addr: SocketAddr,
    /// `--tls`: every connection, sender or receiver, is TLS.
    pub tls: Option<TlsClient>,
    /// The framing every connection speaks.
    pub framing: Framing,
    /// The room everyone joins; `None` stays in the lobby.
    pub room: Option<String>,
    /// Event loops (threads), each with its share of the connections.
    pub threads: usize,
    /// The server's process, to read its memory and CPU from `/proc`.
    pub server_pid: Option<u32>,
    /// Print a progress line on stderr once a second.
    pub progress: bool,
    /// What to run.
    pub mode: Mode,
}

impl Config {
    /// Senders in this run (0 when idle).
    pub fn senders(&self) -> usize {
        match self.mode {
            Mode::Load { senders, .. } => senders,
            Mode::Idle { .. } => 0,
        }
    }
}
