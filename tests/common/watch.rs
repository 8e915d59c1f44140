//! A watched room: while a test does something hostile elsewhere, a witness posts
//! numbered messages and receivers in both framings must get each one once, in order.

use super::{open_fds, Client, Framing, Server, PATIENCE};
use std::thread;
use std::time::{Duration, Instant};

/// The room the watchers chat in, away from the lobby where faulty clients land.
pub const WATCH_ROOM: &str = "watch";

/// A room under watch: `witness` posts numbered messages, and each receiver (lines and
/// frames) must get every one of them once, in order, whatever else the server is doing.
pub struct Watch {
    /// The witness.
    pub sender: Client,
    /// The receivers (lines, frames, lines).
    pub receivers: Vec<Client>,
    posted: usize,
    /// Per receiver: what else it got (notices, other speakers), in order.
    pub others: Vec<Vec<String>>,
}

impl Watch {
    /// The witness and three receivers (two lines, one frames), all in `WATCH_ROOM`.
    pub fn start(server: &Server) -> Watch {
        let mut sender = server.lines();
        join_watch_room(&mut sender, "witness");
        let mut receivers = Vec::new();
        for (i, framing) in [Framing::Lines, Framing::Frames, Framing::Lines]
            .into_iter()
            .enumerate()
        {
            let mut r = match framing {
                Framing::Lines => server.lines(),
                Framing::Frames => server.frames(),
            };
            join_watch_room(&mut r, &format!("r{i}"));
            sender.wait_for(&format!("* r{i} joined"));
            receivers.push(r);
        }
        for (i, r) in receivers.iter_mut().enumerate() {
            for later in i + 1..3 {
                r.wait_for(&format!("* r{later} joined"));
            }
        }
        let others = vec![Vec::new(); receivers.len()];
        Watch {
            sender,
            receivers,
            posted: 0,
            others,
        }
    }

    /// The witness posts `count` more numbered messages.
    pub fn post(&mut self, count: usize) {
        for _ in 0..count {
            self.sender.send(&format!("seq {}", self.posted));
            self.posted += 1;
        }
    }

    /// Every receiver gets every message posted so far, once and in order; anything else
    /// it gets is kept in `others`.
    pub fn check(&mut self) {
        for (r, others) in self.receivers.iter_mut().zip(&mut self.others) {
            let mut next = 0;
            while next < self.posted {
                let m = r.next();
                match m.strip_prefix("witness: seq ") {
                    Some(n) => {
                        assert_eq!(n, next.to_string(), "message lost or out of order");
                        next += 1;
                    }
                    None => others.push(m),
                }
            }
        }
        // A `/who` round trip flushes out whatever else was queued after the last one.
        for (r, others) in self.receivers.iter_mut().zip(&mut self.others) {
            others.extend(r.messages_before_who());
        }
    }

    /// Asks `/stats` and returns its `clients N` count.
    pub fn clients_on_server(&mut self) -> usize {
        let r = &mut self.receivers[0];
        r.send("/stats");
        let stats = r.wait_for_prefix("* stats: ");
        let count = stats.split(", clients ").nth(1).and_then(|s| s.split(',').next());
        count
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad stats {stats:?}"))
    }

    /// Waits (at most `PATIENCE`) until the server has only the watchers as clients and
    /// holds `fds` file descriptors again.
    pub fn wait_until_only_watchers_remain(&mut self, server: &Server, fds: usize) {
        let watchers = 1 + self.receivers.len();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (clients, now) = (self.clients_on_server(), open_fds(server.pid()));
            if clients == watchers && now == fds {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server still holds {clients} clients (want {watchers}) and {now} fds (want {fds})"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Takes `nick` and moves to the watched room.
pub fn join_watch_room(client: &mut Client, nick: &str) {
    client.set_nick(nick);
    client.send(&format!("/join {WATCH_ROOM}"));
    client.wait_for(&format!("* {nick} joined"));
}
