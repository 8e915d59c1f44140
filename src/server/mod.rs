//! The server: everything that touches sockets.
//!
//! [`event_loop`] owns the `Poll`, the listener and the slab of connections; the other
//! modules are its parts: [`connection`] (one client's socket and buffers),
//! [`out_queue`] (output the socket could not take yet), [`zero_copy`] (splicing big
//! output instead of copying it), [`listener`] (binding, accepting, socket options) and,
//! with `--cluster`, [`cluster`] and [`redis_link`] (the connections to Redis).

pub mod cluster;
pub mod connection;
pub mod event_loop;
pub mod listener;
pub mod memory;
pub mod out_queue;
pub mod rate;
pub mod redis_link;
pub mod transport;
pub mod zero_copy;

use crate::framing::{Framing, DEFAULT_MAX_MESSAGE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use event_loop::Server;

/// The default `--max-backlog`: queued output past which a client is dropped as slow.
pub const DEFAULT_MAX_BACKLOG: usize = 1 << 20;
/// The default `--max-clients`.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// The default `--detect-ms`.
pub const DEFAULT_DETECT: Duration = Duration::from_millis(250);
/// The default `--keepalive`.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);
/// How long a stopping server keeps flushing queued output.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The default `--handshake-timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default `--max-per-address`.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 32;
/// The default `--msg-rate`.
pub const DEFAULT_MSG_RATE: u32 = 20;

/// Everything `mio-chat serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Longest message accepted from a client, in bytes.
    pub max_message: usize,
    /// `None`: detect per connection; `Some`: force one framing for all.
    pub framing: Option<Framing>,
    /// How long to wait for a silent connection's first byte before choosing lines.
    pub detect: Duration,
    /// A connection whose framing is still unknown this long after it connected is
    /// closed (it sent 1-3 bytes and no newline, and nothing more); `None`: never.
    pub handshake_timeout: Option<Duration>,
    /// Send clients their own chat lines back.
    pub echo: bool,
    /// Queued output past which a client is disconnected as too slow.
    pub max_backlog: usize,
    /// Clients served at once; more are told `! server full`.
    pub max_clients: usize,
    /// Log a line of counters this often.
    pub stats_interval: Option<Duration>,
    /// TCP keepalive idle time for accepted sockets; `None` turns keepalive off.
    pub keepalive: Option<Duration>,
    /// Close connections that sent nothing for this long; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A recipient's output for one turn is spliced, not copied, from this many bytes
    /// on; 0 turns zero-copy sends off.
    pub zero_copy_min: usize,
    /// With a certificate and key: connections that start with a TLS record are TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse plain connections (`! this server requires TLS`).
    pub require_tls: bool,
    /// Connections from one IP address; 0: no limit.
    pub max_per_address: usize,
    /// Messages per second per client (bursts of twice as many); 0: no limit.
    pub msg_rate: u32,
    /// Apply the per-address and rate limits to loopback peers too.
    pub limit_loopback: bool,
    /// Clients must send `/pass PASSWORD` before they are welcomed.
    pub password: Option<String>,
    /// Rooms bigger than this send no join, leave or rename notices.
    pub announce_limit: usize,
    /// The web page's settings: which other sites' pages may open a chat socket.
    pub site: crate::http::Site,
    /// `--cluster`: share rooms, nicks and presence with other servers through Redis.
    pub cluster: Option<cluster::ClusterConfig>,
}

impl Config {
    /// The defaults, listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Config {
            addr,
            max_message: DEFAULT_MAX_MESSAGE,
            framing: None,
            detect: DEFAULT_DETECT,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            echo: false,
            max_backlog: DEFAULT_MAX_BACKLOG,
            max_clients: DEFAULT_MAX_CLIENTS,
            stats_interval: None,
            keepalive: Some(DEFAULT_KEEPALIVE),
            idle_timeout: None,
            zero_copy_min: zero_copy::DEFAULT_ZERO_COPY_MIN,
            tls: None,
            require_tls: false,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            msg_rate: DEFAULT_MSG_RATE,
            limit_loopback: false,
            password: None,
            announce_limit: crate::chat::DEFAULT_ANNOUNCE_LIMIT,
            site: crate::http::Site::default(),
            cluster: None,
        }
    }
}
