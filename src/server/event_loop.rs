//! The event loop: one thread, one `Poll`, a listener and a slab of connections.
//!
//! One turn of the loop, and the path of one message:
//! 1. `poll` returns readiness events (edge-triggered).
//! 2. `Server::read_from_client` ([`input`]) reads until `WouldBlock` or the turn's
//!    budgets, decodes whole messages, cleans their text and hands each to the chat,
//!    whose output goes to the [`Fanout`]: encoded once per framing into this turn's arena.
//! 3. [`Server::end_turn`] resolves the fan-out into per-recipient spans and makes one
//!    `writev` per recipient (or, for big output, one splice of the same bytes: see
//!    [`super::zero_copy`]); what a socket cannot take is queued as references into the
//!    turn's shared buffer, and WRITABLE interest is registered until it drains.
//! 4. Connections that ended are removed, after their last output was tried.

use super::cluster::{self as link, ChatOut, Cluster, ClusterEvent};
use super::connection::Connection;
use super::listener;
use super::zero_copy::ZeroCopy;
use super::Config;
use crate::chat::{Chat, ChatConfig};
use crate::fanout::Fanout;
use crate::framing::{websocket, Framing};
use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

mod accept;
mod budget;
mod cluster;
mod handshake;
mod input;
mod timers;
mod turn;

/// Slab keys are connection tokens; these two sit at the top of the token space, where
/// a slab (bounded by the fd limit) never reaches.
const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
/// Connections over `--max-clients` kept at once only to be told `! server full`.
const MAX_REJECTING: usize = 64;
/// Accept retry delays after running out of file descriptors.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long an exiting server keeps reading input that is still arriving.
const EXIT_DRAIN: Duration = Duration::from_millis(200);
/// Readiness events taken per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// Why a connection is being closed, for the log and the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed its side.
    Eof,
    /// Reading or writing failed (reset, broken pipe).
    Error,
    /// It sent a frame over the limit.
    Oversized,
    /// Its output backlog passed `--max-backlog`.
    TooSlow,
    /// It asked to (`/quit`), or it was told `! server full`.
    Requested,
    /// It sent nothing for `--idle-timeout`.
    IdleTimeout,
    /// Its framing was still unknown `--handshake-timeout` after it connected.
    HandshakeTimeout,
    /// WebSocket: it sent a close frame with this code (answered with the same).
    Goodbye(u16),
    /// WebSocket: it broke the protocol (its close frame is already queued).
    Protocol,
}

impl CloseReason {
    /// The WebSocket close code a connection closed for this reason is sent last, if
    /// any (the other framings end with the stream itself).
    fn goodbye_code(self) -> Option<u16> {
        match self {
            CloseReason::Requested | CloseReason::IdleTimeout => Some(websocket::NORMAL),
            CloseReason::Goodbye(code) => Some(code),
            CloseReason::Eof
            | CloseReason::TooSlow // written with its last notice (`drop_slow_client`)
            | CloseReason::Error
            | CloseReason::Oversized
            | CloseReason::HandshakeTimeout
            | CloseReason::Protocol => None,
        }
    }
}

/// Counters the loop keeps for `/stats` and `--stats-interval`.
#[derive(Debug, Default)]
struct Counters {
    messages_in: u64,
    bytes_out: u64,
    slow_dropped: u64,
}

/// A running chat server.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    signals: Signals,
    config: Config,
    conns: Slab<Connection>,
    chat: Chat,
    fanout: Fanout,
    counters: Counters,
    started: Instant,
    /// Counts loop turns; per-turn budgets are kept per connection against it.
    turn: u64,
    /// When this loop turn's `poll` returned: the one clock read that per-message and
    /// per-read bookkeeping (uptime for `/stats`, last input for `--idle-timeout`) uses.
    turn_started: Instant,
    /// The longest turn since the last stats line.
    longest_turn: Duration,
    /// Connections whose framing is not known yet (not in the chat, but holding a slot).
    connecting: usize,
    /// Reused for reading connections that hold no input; lent to the one being read.
    read_buf: Vec<u8>,
    /// The connection `read_buf` is lent to, during a read.
    read_buf_lent_to: Option<usize>,
    /// Reused for cleaning one message's text.
    text_buf: String,
    /// Silent connections to switch to lines, in deadline order: (deadline, key, serial).
    detect_deadlines: VecDeque<(Instant, usize, u64)>,
    /// Connections to close if their framing is still unknown, in deadline order.
    handshake_deadlines: VecDeque<(Instant, usize, u64)>,
    /// Connections that hit the read budget and must be read again next turn.
    read_again: Vec<usize>,
    /// Connections not read until Redis has caught up with their last command, in the
    /// order they were held: (key, serial). See `event_loop/cluster.rs`.
    held_for_redis: VecDeque<(usize, u64)>,
    /// Connections to remove at the end of this turn.
    to_close: Vec<(usize, CloseReason)>,
    /// Connections to be refused (server full, too many from one address, not TLS),
    /// awaiting their notice.
    rejecting: usize,
    /// Connections counted per IP address, for `--max-per-address`.
    per_address: HashMap<IpAddr, usize>,
    /// Connections over `--msg-rate`, to be read again when their next token is due.
    rate_wakeups: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    next_serial: u64,
    /// While out of file descriptors: when to try accepting again, and the next delay.
    accept_retry: Option<(Instant, Duration)>,
    /// Running out of fds was logged; logged again only after a recovery.
    out_of_fds_logged: bool,
    next_stats_log: Option<Instant>,
    next_idle_sweep: Option<Instant>,
    /// When to shrink buffers and give freed memory back to the OS next.
    memory_trim_at: Option<Instant>,
    /// The last turn that did any I/O.
    last_busy: Instant,
    /// Set by SIGINT/SIGTERM: flush until then, then exit.
    shutdown_deadline: Option<Instant>,
    /// Splices big output instead of copying it; `None` with `--zero-copy-min 0`.
    zero_copy: Option<ZeroCopy>,
    /// With `--cluster`: the link to the other servers.
    cluster: Option<Cluster>,
    /// Reused for what the cluster link reports.
    cluster_events: Vec<ClusterEvent>,
}

impl Server {
    /// Binds the listener and prepares the loop; nothing is accepted until [`Server::run`].
    ///
    /// # Errors
    /// Binding the address or setting up `epoll`/signal handling failed.
    pub fn bind(config: Config) -> io::Result<Server> {
        let mut listener = listener::bind(config.addr)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let chat = Chat::new(ChatConfig {
            echo: config.echo,
            max_message: config.max_message,
            announce_limit: config.announce_limit,
            cluster: config.cluster.is_some(),
        });
        let cluster = config
            .cluster
            .clone()
            .map(|c| Cluster::new(c, config.announce_limit));
        let zero_copy = match config.zero_copy_min {
            0 => None,
            min => ZeroCopy::new(min)
                .inspect_err(|e| warn!("zero-copy sends unavailable ({e}); copying instead"))
                .ok(),
        };
        let now = Instant::now();
        Ok(Server {
            poll,
            listener,
            signals,
            next_stats_log: config.stats_interval.map(|every| now + every),
            next_idle_sweep: config.idle_timeout.map(|t| now + timers::idle_sweep_period(t)),
            memory_trim_at: None,
            last_busy: now,
            config,
            conns: Slab::new(),
            chat,
            fanout: Fanout::new(),
            counters: Counters::default(),
            started: now,
            turn: 0,
            turn_started: now,
            longest_turn: Duration::ZERO,
            connecting: 0,
            read_buf: Vec::new(),
            read_buf_lent_to: None,
            text_buf: String::new(),
            detect_deadlines: VecDeque::new(),
            handshake_deadlines: VecDeque::new(),
            read_again: Vec::new(),
            held_for_redis: VecDeque::new(),
            to_close: Vec::new(),
            rejecting: 0,
            per_address: HashMap::new(),
            rate_wakeups: BinaryHeap::new(),
            next_serial: 0,
            accept_retry: None,
            out_of_fds_logged: false,
            shutdown_deadline: None,
            zero_copy,
            cluster,
            cluster_events: Vec::new(),
        })
    }

    /// The address actually bound (with the real port when 0 was asked for).
    ///
    /// # Errors
    /// The socket's address could not be read.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs until SIGINT or SIGTERM, then tells every client, flushes (at most
    /// [`super::SHUTDOWN_GRACE`]) and returns.
    ///
    /// # Errors
    /// `poll` itself failed, which leaves nothing to serve.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.turn += 1;
            self.turn_started = Instant::now();
            for key in std::mem::take(&mut self.read_again) {
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.read_again = false;
                    self.read_from_client(key);
                }
            }
            self.cluster_read_again();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_clients(),
                    SIGNALS => self.begin_shutdown(),
                    token @ (link::COMMANDS | link::BUS) => self.cluster_ready(token),
                    Token(key) => {
                        if event.is_writable() {
                            self.write_to_client(key);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_from_client(key);
                        }
                    }
                }
            }
            if !events.is_empty() {
                self.note_busy(self.turn_started);
            }
            self.fire_timers(Instant::now());
            self.end_turn();
            let now = Instant::now();
            self.longest_turn = self.longest_turn.max(now - self.turn_started);
            if self.shutdown_finished(now) {
                self.close_all_for_exit();
                return Ok(());
            }
        }
    }

    /// WRITABLE: writes queued output; drops WRITABLE interest once it is all out.
    fn write_to_client(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.flush_tls().and_then(|()| conn.write_queued()) {
            Ok(n) => self.counters.bytes_out += n as u64,
            Err(e) => {
                debug!("write to connection {key}: {e}");
                return self.close(key, CloseReason::Error);
            }
        }
        turn::set_write_interest(self.poll.registry(), conn, key);
    }

    /// Marks a connection to be removed at the end of the turn; its room is told now.
    fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closing) else {
            return;
        };
        conn.closing = true;
        if let (Some(framing), Some(code)) = (conn.framing(), reason.goodbye_code()) {
            let goodbye = framing.goodbye(code, "");
            if !goodbye.is_empty() {
                self.fanout.to_client_encoded(key, &goodbye);
            }
        }
        self.to_close.push((key, reason));
        let mut out = ChatOut {
            fanout: &mut self.fanout,
            cluster: self.cluster.as_mut(),
        };
        self.chat.disconnect(key, None, &mut out);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.forget(key);
        }
    }

    /// SIGINT/SIGTERM: stop accepting, tell everyone, and flush for a while.
    fn begin_shutdown(&mut self) {
        for _ in self.signals.pending() {}
        if self.shutdown_deadline.is_some() {
            return;
        }
        info!("shutting down");
        self.shutdown_deadline = Some(Instant::now() + super::SHUTDOWN_GRACE);
        if let Err(e) = self.poll.registry().deregister(&mut self.listener) {
            debug!("deregister listener: {e}");
        }
        self.chat.shutdown(&mut self.fanout);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.leave();
        }
        let going = websocket::close_frame(websocket::GOING_AWAY, "server shutting down");
        for (key, conn) in &self.conns {
            if conn.framing() == Some(Framing::WebSocket) {
                self.fanout.to_client_encoded(key, &going);
            }
        }
    }

    /// True once a stopping server has flushed everything or run out of time.
    fn shutdown_finished(&mut self, now: Instant) -> bool {
        let Some(deadline) = self.shutdown_deadline else {
            return false;
        };
        if now >= deadline {
            return true;
        }
        // Exiting closes every socket, so each client sees its last notice, then EOF.
        self.conns.iter().all(|(_, conn)| conn.out.is_empty())
            && !self.cluster.as_ref().is_some_and(Cluster::has_unsent)
    }

    /// Before exiting: every socket gets a last try at its output, a FIN, and its unread
    /// input drained (again while more keeps arriving, for at most [`EXIT_DRAIN`]), so
    /// that closing it is not a reset that destroys the last notice.
    fn close_all_for_exit(&mut self) {
        for (_, conn) in &mut self.conns {
            turn::write_last_and_shut(conn);
        }
        let deadline = Instant::now() + EXIT_DRAIN;
        loop {
            let mut drained = 0;
            for (_, conn) in &mut self.conns {
                drained += turn::drain_input(conn, &mut self.read_buf);
            }
            if drained == 0 || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
