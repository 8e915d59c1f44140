//! Accepting connections, and pausing when file descriptors run out.

use super::{Server, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, MAX_REJECTING};
use crate::server::connection::{Connection, Refusal};
use crate::server::listener;
use crate::server::rate::TokenBucket;
use crate::server::transport::Transport;
use log::{debug, info, warn};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

impl Server {
    /// Accepts every waiting connection, unless paused after running out of fds.
    pub(super) fn accept_clients(&mut self) {
        if self.accept_retry.is_some() || self.shutdown_deadline.is_some() {
            return; // the retry timer (or nothing, when stopping) takes it from here
        }
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if listener::is_fd_exhaustion(&e) => {
                    // Queued connections raise no new edge, so retry from a timer.
                    if !std::mem::replace(&mut self.out_of_fds_logged, true) {
                        warn!("accept: {e}; pausing accepts until file descriptors free up");
                    }
                    self.accept_retry = Some((Instant::now() + ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MIN));
                    return;
                }
                Err(e) => debug!("accept: {e}"), // e.g. ECONNABORTED: that one is gone
            }
        }
    }

    /// Registers a new connection; over `--max-clients` or `--max-per-address` it is only
    /// kept to be refused.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let address = peer.ip().to_canonical();
        let limited = self.config.limit_loopback || !address.is_loopback();
        let refusal = self.refusal_for(address, limited);
        if refusal.is_some() && self.rejecting >= MAX_REJECTING {
            return; // dropping the stream closes it: no room even to say why
        }
        if let Err(e) = listener::tune_accepted(&stream, self.config.keepalive) {
            debug!("socket options for {peer}: {e}");
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE)
        {
            warn!("register connection from {peer}: {e}");
            return;
        }
        self.next_serial += 1;
        let now = Instant::now();
        let transport = match self.config.tls {
            Some(_) => Transport::Undecided,
            None => Transport::Plain,
        };
        let conn = entry.insert(Connection::new(stream, self.next_serial, transport, now));
        conn.refusal = refusal;
        self.rejecting += usize::from(refusal.is_some());
        self.connecting += 1;
        if refusal.is_none() && limited {
            if self.config.max_per_address > 0 {
                conn.counted_address = Some(address);
                *self.per_address.entry(address).or_default() += 1;
            }
            if self.config.msg_rate > 0 {
                conn.bucket = Some(TokenBucket::full(self.config.msg_rate, now));
            }
        }
        debug!(
            "connection {key} from {peer} opened{}",
            match refusal {
                Some(refusal) => format!(" (refused: {})", refusal.notice()),
                None => String::new(),
            }
        );
        match self.config.framing {
            Some(framing) => self.framing_known(key, framing),
            None => {
                let now = Instant::now();
                self.detect_deadlines
                    .push_back((now + self.config.detect, key, self.next_serial));
                if let Some(timeout) = self.config.handshake_timeout {
                    self.handshake_deadlines
                        .push_back((now + timeout, key, self.next_serial));
                }
            }
        }
    }

    /// Why a new connection from `address` must be refused, if it must.
    fn refusal_for(&self, address: IpAddr, limited: bool) -> Option<Refusal> {
        let active = self.conns.len() - self.rejecting;
        let per_address = self.per_address.get(&address).copied().unwrap_or(0);
        let limit = self.config.max_per_address;
        if active >= self.config.max_clients {
            Some(Refusal::ServerFull)
        } else if limited && limit > 0 && per_address >= limit {
            Some(Refusal::TooManyFromAddress(limit))
        } else {
            None
        }
    }

    /// Retries accepting after fd exhaustion; backs off while it keeps failing.
    pub(super) fn retry_accept(&mut self, now: Instant) {
        let Some((at, delay)) = self.accept_retry else {
            return;
        };
        if now < at {
            return;
        }
        self.accept_retry = None;
        self.accept_clients();
        if let Some((_, ref mut next_delay)) = self.accept_retry {
            // Still out of fds: the warning was logged once; wait longer next time.
            let delay = (delay * 2).min(ACCEPT_BACKOFF_MAX);
            *next_delay = delay;
            self.accept_retry = Some((now + delay, delay));
        } else if std::mem::take(&mut self.out_of_fds_logged) {
            info!("accepting connections again");
        }
    }
}
