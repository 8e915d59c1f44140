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

/// One server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `--tls`: every connection to it is TLS, verified for the host typed for it.
    pub tls: Option<TlsClient>,
    /// Its process, to read its memory and CPU from `/proc` (`--server-pid`).
    pub pid: Option<u32>,
}

impl Target {
    /// A plain server at `addr`, not watched.
    pub fn plain(addr: SocketAddr) -> Self {
        Target {
            addr,
            tls: None,
            pid: None,
        }
    }
}

/// A whole bench run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers, at least one. Every sender connects to the first; receivers (and
    /// `--idle` connections) are dealt round-robin over all of them, so with servers
    /// sharing rooms (`serve --cluster`) each receiver checks what crossed servers.
    pub servers: Vec<Target>,
    /// The framing every connection speaks.
    pub framing: Framing,
    /// The room everyone joins; `None` stays in the lobby.
    pub room: Option<String>,
    /// Event loops (threads), each with its share of the connections.
    pub threads: usize,
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

    /// True when the connections are TLS (`--tls`).
    pub fn tls(&self) -> bool {
        self.servers.iter().any(|s| s.tls.is_some())
    }

    /// The server receiver (or idle connection) number `n` connects to: round-robin.
    pub fn server_of(&self, n: usize) -> usize {
        n % self.servers.len().max(1)
    }

    /// How many of `count` round-robin connections go to server `server`.
    pub fn share_of(&self, server: usize, count: usize) -> usize {
        let servers = self.servers.len().max(1);
        count / servers + usize::from(server < count % servers)
    }

    /// The servers' addresses, `A, B`.
    pub fn addresses(&self) -> String {
        let addrs: Vec<String> = self.servers.iter().map(|s| s.addr.to_string()).collect();
        addrs.join(", ")
    }

    /// The command that asks for this run's load, defaults spelled out and the server's
    /// addresses and output files left off, so a plot's title says what was measured:
    /// `mio-chat bench --clients 1000 --senders 4 --size 64 --messages 5000`; with
    /// several servers, ` (2 servers)` follows.
    pub fn command_line(&self) -> String {
        let mut line = String::from("mio-chat bench");
        match &self.mode {
            Mode::Load {
                receivers,
                senders,
                size,
                limit,
                rate,
            } => {
                line += &format!(" --clients {receivers} --senders {senders} --size {size}");
                if let Some(rate) = rate {
                    line += &format!(" --rate {rate}");
                }
                line += &match limit {
                    SendLimit::Messages(m) => format!(" --messages {m}"),
                    SendLimit::Duration(d) => format!(" --duration {}", d.as_secs_f64()),
                };
            }
            Mode::Idle { connections, hold } => {
                line += &format!(" --idle {connections} --duration {}", hold.as_secs_f64());
            }
        }
        self.append_transport_flags(&mut line);
        line
    }

    /// The flags that are not the defaults: framing, room, threads, TLS.
    fn append_transport_flags(&self, line: &mut String) {
        if self.framing != Framing::Frames {
            *line += &format!(" --framing {}", self.framing);
        }
        if let Some(room) = &self.room {
            *line += &format!(" --room {room}");
        }
        if self.threads != 1 {
            *line += &format!(" --threads {}", self.threads);
        }
        if self.tls() {
            line.push_str(" --tls");
        }
        if self.servers.len() > 1 {
            *line += &format!(" ({} servers)", self.servers.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode) -> Config {
        let mut server = Target::plain("127.0.0.1:1234".parse().unwrap());
        server.pid = Some(42);
        Config {
            servers: vec![server],
            framing: Framing::Frames,
            room: None,
            threads: 1,
            progress: true,
            mode,
        }
    }

    #[test]
    fn the_command_line_names_the_load_with_its_defaults() {
        let load = config(Mode::Load {
            receivers: 1000,
            senders: 4,
            size: 64,
            limit: SendLimit::Messages(5000),
            rate: None,
        });
        assert_eq!(
            load.command_line(),
            "mio-chat bench --clients 1000 --senders 4 --size 64 --messages 5000"
        );
    }

    #[test]
    fn the_command_line_adds_rate_duration_and_transport_flags() {
        let mut paced = config(Mode::Load {
            receivers: 20,
            senders: 2,
            size: 100,
            limit: SendLimit::Duration(Duration::from_secs(10)),
            rate: Some(200.0),
        });
        (paced.framing, paced.room, paced.threads) = (Framing::Lines, Some("r".to_string()), 2);
        assert_eq!(
            paced.command_line(),
            "mio-chat bench --clients 20 --senders 2 --size 100 --rate 200 --duration 10 \
             --framing lines --room r --threads 2"
        );
        let idle = config(Mode::Idle {
            connections: 500,
            hold: Duration::from_millis(2500),
        });
        assert_eq!(idle.command_line(), "mio-chat bench --idle 500 --duration 2.5");
    }

    #[test]
    fn receivers_are_dealt_round_robin_and_the_title_counts_the_servers() {
        let mut load = config(Mode::Load {
            receivers: 5,
            senders: 1,
            size: 64,
            limit: SendLimit::Messages(10),
            rate: None,
        });
        load.servers
            .push(Target::plain("127.0.0.1:1235".parse().unwrap()));
        assert_eq!(
            (0..5).map(|n| load.server_of(n)).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0]
        );
        assert_eq!((load.share_of(0, 5), load.share_of(1, 5)), (3, 2));
        assert_eq!(load.addresses(), "127.0.0.1:1234, 127.0.0.1:1235");
        assert_eq!(
            load.command_line(),
            "mio-chat bench --clients 5 --senders 1 --size 64 --messages 10 (2 servers)"
        );
    }
}
