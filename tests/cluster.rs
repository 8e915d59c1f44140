//! `--cluster`: several `mio-chat serve` processes sharing one chat through one Redis,
//! tested end to end over loopback. Every test starts its own `redis-server` (see
//! `common::cluster::Redis`) and its own servers, so the tests run in parallel and a test
//! may kill a server or Redis without disturbing the others.

mod common;

use common::cluster::{
    admit, join, named, start_node, stderr_count, wait_for_stderr, Redis, LINK_LOST, LINK_RESTORED,
};
use common::connect::Connect;
use common::{stat, welcome, Client, Framing, Server};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a client may wait for a server's death to be noticed: the heartbeat key
/// lives 10 s and the survivors look every 2 s, so 12 s, with slack for a loaded machine.
const SERVER_LOST_PATIENCE: Duration = Duration::from_secs(20);
/// How long clients may wait for the link to come back once Redis is up again: the
/// reconnection backoff reaches 5 s between attempts.
const RESTORE_PATIENCE: Duration = Duration::from_secs(20);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// A client in a test that keeps everything it received, so that a test can count
/// notices over its whole run (e.g. "told exactly once") and print what a client saw
/// when an expectation fails.
struct Peer {
    client: Client,
    nick: String,
    log: Vec<String>,
}

impl Peer {
    fn new(client: Client, nick: &str) -> Peer {
        Peer {
            client,
            nick: nick.to_string(),
            log: Vec::new(),
        }
    }

    fn send(&mut self, text: &str) {
        self.client.send(text);
    }

    /// The next message within `wait`, logged; `None` if nothing came. Panics on EOF.
    fn recv_within(&mut self, wait: Duration) -> Option<String> {
        let m = self.client.recv_within(wait)?;
        let m = m.unwrap_or_else(|| panic!("{}: connection closed; saw {:?}", self.nick, self.log));
        self.log.push(m.clone());
        Some(m)
    }

    /// Skips messages until one satisfies `want` (at most `patience`); returns it.
    fn wait_until(&mut self, what: &str, patience: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left) {
                Some(m) if want(&m) => return m,
                Some(_) => {}
                None => panic!("{}: no {what} within {patience:?}; saw {:?}", self.nick, self.log),
            }
        }
    }

    /// Skips messages until one equals `want` (at most `patience`).
    fn wait_for_within(&mut self, want: &str, patience: Duration) {
        self.wait_until(&format!("{want:?}"), patience, |m| m == want);
    }

    /// Skips messages until one equals `want` (at most `PATIENCE`).
    fn wait_for(&mut self, want: &str) {
        self.wait_for_within(want, common::PATIENCE);
    }

    /// Returns at once if `want` was received already (while waiting for something
    /// else), or else waits for it like [`Peer::wait_for`].
    fn got_or_wait_for(&mut self, want: &str) {
        if !self.log.iter().any(|m| m == want) {
            self.wait_for(want);
        }
    }

    /// The next message, which must be `want`.
    fn expect(&mut self, want: &str) {
        let got = self.recv_within(common::PATIENCE);
        assert_eq!(got.as_deref(), Some(want), "{}: saw {:?}", self.nick, self.log);
    }

    /// Sends `command` and returns its one-line reply, which must start with `prefix`
    /// (messages before it are skipped, and logged).
    fn ask(&mut self, command: &str, prefix: &str) -> String {
        self.send(command);
        self.wait_until(&format!("reply to {command}"), common::PATIENCE, |m| {
            m.starts_with(prefix)
        })
    }

    /// Asserts nothing arrives for `QUIET`.
    fn expect_quiet(&mut self) {
        if let Some(m) = self.recv_within(QUIET) {
            panic!("{}: expected nothing, got {m:?}", self.nick);
        }
    }

    /// Reads whatever is still coming (gaps of at most `QUIET`).
    fn drain(&mut self) {
        self.drain_within(QUIET);
    }

    /// Reads whatever is still coming (gaps of at most `gap`).
    fn drain_within(&mut self, gap: Duration) {
        while self.recv_within(gap).is_some() {}
    }

    /// How many times `line` was received.
    fn count(&self, line: &str) -> usize {
        self.log.iter().filter(|m| *m == line).count()
    }
}

/// A client on `server` renamed to `nick`, as a [`Peer`].
fn peer(server: &Server, framing: Framing, nick: &str) -> Peer {
    Peer::new(named(server, framing, nick), nick)
}

/// A client on `server` renamed to `nick` and moved into `room`, as a [`Peer`].
fn peer_in(server: &Server, framing: Framing, nick: &str, room: &str) -> Peer {
    let mut peer = peer(server, framing, nick);
    join(&mut peer.client, nick, room);
    peer
}

/// One chat across three servers, each with a different kind of client: a netcat-style
/// lines client on A, the bundled client (a child process) on B and a frames client
/// on C. Each sees the others' joins and lines, and none gets its own lines back.
#[test]
fn three_servers_share_a_room_between_lines_bundled_and_frames_clients() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let c = start_node(&redis, "C", &[]);

    let mut alice = peer_in(&a, Framing::Lines, "alice", "dev");
    let mut bob = Connect::piped(&[&b.addr.to_string(), "--nick", "bob", "--room", "dev"]);
    alice.expect("* bob joined");
    bob.expect_line("* bob joined");
    let mut carol = peer_in(&c, Framing::Frames, "carol", "dev");
    alice.expect("* carol joined");
    bob.expect_line("* carol joined");

    alice.send("hello from A");
    bob.expect_line("alice: hello from A");
    carol.expect("alice: hello from A");

    bob.type_line("hello from B");
    alice.expect("bob: hello from B");
    carol.expect("bob: hello from B");

    carol.send("hello from C");
    alice.expect("carol: hello from C");
    bob.expect_line("carol: hello from C");

    // Nobody got a line of its own back (no --echo), here or later.
    alice.expect_quiet();
    carol.expect_quiet();
    assert_eq!(alice.ask("/who", "* online ("), "* online (3): alice, bob, carol");
    bob.type_line("/who");
    bob.expect_line("* online (3): alice, bob, carol");
    assert!(
        !bob.seen.iter().any(|l| l == "bob: hello from B"),
        "the bundled client got its own line back: {:?}",
        bob.seen
    );
}

/// A small seeded random number generator (xorshift64*), so a failing order test
/// names a seed that replays the same moves.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a member of the order test does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Stays in the room and never speaks, so it gets every line sent: once it has
    /// them all, its server has delivered them all (the fence before a join there).
    Observer,
    /// Stays in the room and speaks.
    Talker,
    /// Speaks, and leaves the room and comes back.
    Mover,
}

/// One member of a room in the order test: where it is and what it received.
struct Member {
    peer: Peer,
    server: usize,
    role: Role,
    /// In the room now (its own join notice has come back, it has not asked to leave).
    inside: bool,
    /// Chat lines it got, as message ids, in order.
    ids: Vec<String>,
    /// Lines of `ids` parsed so far from the peer's log.
    parsed: usize,
    /// Chat lines it sent so far.
    sent: u32,
}

/// A sent chat message of the order test.
struct Sent {
    id: String,
    sender: usize,
    /// The members that must get it: those inside when it was sent, but its sender.
    must: HashSet<usize>,
}

impl Member {
    /// Parses newly logged lines: chat lines (`NICK: CASE.SENDER.SEQ`) are recorded
    /// as ids; everything else must be a join or leave notice.
    fn parse_new(&mut self, nicks: &[String]) {
        for line in &self.peer.log[self.parsed..] {
            if line.starts_with("* ") && (line.ends_with(" joined") || line.ends_with(" left")) {
                continue;
            }
            let (nick, id) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}: unexpected line {line:?}", self.peer.nick));
            let sender: usize = id
                .split('.')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{}: unexpected line {line:?}", self.peer.nick));
            assert_eq!(
                nick, nicks[sender],
                "{}: a line with the wrong nick: {line:?}",
                self.peer.nick
            );
            self.ids.push(id.to_string());
        }
        self.parsed = self.peer.log.len();
    }
}

/// Reads member `m`'s messages until it has every message it must have got so far:
/// once it has, its server has delivered all of them (so a move it makes next cannot
/// race them).
fn catch_up(members: &mut [Member], m: usize, sent: &[Sent], nicks: &[String]) {
    let need: HashSet<&str> = sent
        .iter()
        .filter(|s| s.must.contains(&m))
        .map(|s| s.id.as_str())
        .collect();
    let deadline = Instant::now() + common::PATIENCE;
    loop {
        let member = &mut members[m];
        member.parse_new(nicks);
        let have: HashSet<&str> = member.ids.iter().map(String::as_str).collect();
        let missing: Vec<&&str> = need.iter().filter(|id| !have.contains(**id)).collect();
        if missing.is_empty() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if member.peer.recv_within(left).is_none() {
            panic!(
                "{} never got {missing:?}; it got {:?}",
                member.peer.nick, member.ids
            );
        }
    }
}

/// One random run of the order test in room `ord<case>` against running servers.
///
/// Each server has three members of the room: an observer (stays, silent), a talker
/// (stays, speaks) and a mover (speaks while in the room, leaves for `away<case>` and
/// comes back now and then). Talkers and movers send numbered lines in a random
/// interleaving, so lines from different servers race each other into Redis. Moves are
/// fenced so that whether a member must get a line is known exactly: a mover leaves only
/// once it has every line it must have (its server has delivered them), and joins only
/// once its server's observer has every line sent so far (its server has delivered
/// them, so none of them can reach the mover after its join).
///
/// Without the fences a mover gets a line still in flight when it joins, though the
/// room's order puts that line before its join notice, and misses one in flight when it
/// leaves, though the order puts it before its leave notice: a move takes effect on the
/// mover's server at once, a line when it comes back from Redis. That gap is known and
/// is not what this test is about.
fn order_case(servers: &[Server], case: u64, steps: usize) {
    let mut rng = Rng::new(case);
    let room = format!("ord{case}");
    let away = format!("away{case}");
    let framings = [Framing::Lines, Framing::Frames];
    let mut members: Vec<Member> = Vec::new();
    for i in 0..3 * servers.len() {
        let server = i % servers.len();
        let (role, name) = match i / servers.len() {
            0 => (Role::Observer, "obs"),
            1 => (Role::Talker, "tlk"),
            _ => (Role::Mover, "mov"),
        };
        let nick = format!("{name}{case}{server}");
        let mut peer = peer(&servers[server], framings[i % 2], &nick);
        join(&mut peer.client, &nick, &room);
        members.push(Member {
            peer,
            server,
            role,
            inside: true,
            ids: Vec::new(),
            parsed: 0,
            sent: 0,
        });
    }
    // Settle: everyone has the last join notice, and nothing of the set-up is counted.
    let last = format!("* {} joined", members.last().unwrap().peer.nick);
    let count = members.len();
    for m in &mut members[..count - 1] {
        m.peer.wait_for(&last);
    }
    for m in &mut members {
        m.peer.log.clear();
    }
    let nicks: Vec<String> = members.iter().map(|m| m.peer.nick.clone()).collect();

    let mut sent: Vec<Sent> = Vec::new();
    let mut moves = 0;
    for _ in 0..steps {
        let m = rng.below(members.len() as u64) as usize;
        if members[m].role == Role::Observer {
            continue;
        }
        if members[m].role == Role::Mover && rng.below(5) == 0 {
            moves += 1;
            if members[m].inside {
                catch_up(&mut members, m, &sent, &nicks);
                let nick = nicks[m].clone();
                members[m].peer.send(&format!("/join {away}"));
                members[m].peer.wait_for(&format!("* {nick} joined"));
                members[m].inside = false;
            } else {
                let server = members[m].server;
                let observer = members
                    .iter()
                    .position(|o| o.role == Role::Observer && o.server == server)
                    .unwrap();
                catch_up(&mut members, observer, &sent, &nicks);
                let nick = nicks[m].clone();
                members[m].peer.send(&format!("/join {room}"));
                members[m].peer.wait_for(&format!("* {nick} joined"));
                members[m].inside = true;
            }
        } else if members[m].inside {
            let member = &mut members[m];
            member.sent += 1;
            let id = format!("{case}.{m}.{}", member.sent);
            member.peer.send(&id);
            let must = (0..members.len())
                .filter(|&o| o != m && members[o].inside)
                .collect();
            sent.push(Sent { id, sender: m, must });
        }
    }
    for m in 0..members.len() {
        catch_up(&mut members, m, &sent, &nicks);
    }
    std::thread::sleep(QUIET); // for anything extra (a duplicate, a line too many)
    for member in &mut members {
        member.peer.drain_within(Duration::from_millis(10));
        member.parse_new(&nicks);
    }

    // Each member got exactly the lines sent while it was in the room, each once, and
    // never its own.
    for (i, member) in members.iter().enumerate() {
        let mut seen = HashSet::new();
        for id in &member.ids {
            assert!(seen.insert(id), "case {case}: {} got {id} twice", nicks[i]);
        }
        let must: HashSet<&String> = sent
            .iter()
            .filter(|s| s.must.contains(&i))
            .map(|s| &s.id)
            .collect();
        let extra: Vec<_> = seen.difference(&must).collect();
        assert!(
            extra.is_empty(),
            "case {case}: {} got {extra:?}, sent while it was away (or its own)",
            nicks[i]
        );
        assert_eq!(seen.len(), must.len(), "case {case}: {} missed some", nicks[i]);
        // One sender's lines keep their order.
        let mut last_seq: HashMap<usize, u32> = HashMap::new();
        for id in &member.ids {
            let sender = sent.iter().find(|s| &s.id == id).unwrap().sender;
            let seq: u32 = id.rsplit('.').next().unwrap().parse().unwrap();
            let prev = last_seq.insert(sender, seq).unwrap_or(0);
            assert!(
                seq > prev,
                "case {case}: {} got {} line {seq} after {prev}",
                nicks[i],
                nicks[sender]
            );
        }
    }
    // Any two members got the lines they share in the same order: one order for all.
    for (i, x) in members.iter().enumerate() {
        for (j, y) in members.iter().enumerate().skip(i + 1) {
            let in_x: HashSet<&String> = x.ids.iter().collect();
            let in_y: HashSet<&String> = y.ids.iter().collect();
            let x_common: Vec<&String> = x.ids.iter().filter(|id| in_y.contains(id)).collect();
            let y_common: Vec<&String> = y.ids.iter().filter(|id| in_x.contains(id)).collect();
            assert_eq!(
                x_common, y_common,
                "case {case}: {} and {} got their common lines in different orders",
                nicks[i], nicks[j]
            );
        }
    }
    // The observers also agree on where the movers' join and leave notices fall among
    // the lines (the notices go through the same channel), and saw each move once.
    let tokens = |member: &Member| -> Vec<String> {
        let mut occurrences: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for line in &member.peer.log {
            if line.starts_with("* ") {
                let n = occurrences.entry(line).or_default();
                *n += 1;
                out.push(format!("{line} #{n}"));
            } else if let Some((_, id)) = line.split_once(": ") {
                out.push(id.to_string());
            }
        }
        out
    };
    let observers: Vec<&Member> = members.iter().filter(|m| m.role == Role::Observer).collect();
    let notices = |tokens: &[String]| tokens.iter().filter(|t| t.starts_with("* ")).count();
    let first = tokens(observers[0]);
    assert_eq!(notices(&first), moves, "case {case}: {:?}", first);
    for other in &observers[1..] {
        let theirs = tokens(other);
        let (a, b) = (&first, &theirs);
        let in_a: HashSet<&String> = a.iter().collect();
        let in_b: HashSet<&String> = b.iter().collect();
        let a_common: Vec<&String> = a.iter().filter(|t| in_b.contains(t)).collect();
        let b_common: Vec<&String> = b.iter().filter(|t| in_a.contains(t)).collect();
        assert_eq!(
            a_common, b_common,
            "case {case}: observers disagree on the order of lines and notices"
        );
        assert_eq!(notices(&theirs), moves, "case {case}: {theirs:?}");
    }
    let total: usize = sent.len();
    assert!(total > steps / 3, "case {case}: only {total} lines sent");
}

/// One order for everyone: every member of a room, on any of three servers, gets the lines sent while it was in the room exactly once, each sender's in
/// its order, and all members in the same order, while members move away and back.
/// Several seeded random cases run against the same three servers, each in its own room.
#[test]
fn every_member_gets_each_line_once_and_all_in_one_order() {
    let redis = Redis::start();
    let servers: Vec<Server> = ["A", "B", "C"]
        .iter()
        .map(|name| start_node(&redis, name, &[]))
        .collect();
    for case in 1..=6 {
        order_case(&servers, case, 150);
    }
    for server in &servers {
        assert!(
            !server.stderr().contains("WARN") && !server.stderr().contains("ERROR"),
            "a server warned:\n{}",
            server.stderr()
        );
    }
}

/// Nicks are unique across the cluster, ignoring case; a nick is free again once its
/// holder quits or disconnects, on whichever server.
#[test]
fn a_nick_held_on_one_server_is_taken_on_the_others_until_its_holder_leaves() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut alice = peer(&a, Framing::Lines, "alice");
    let (client, guest, _) = admit(&b, Framing::Frames);
    let mut other = Peer::new(client, &guest);
    alice.wait_for(&format!("* {guest} joined"));
    for name in ["alice", "ALICE", "Alice"] {
        other.send(&format!("/nick {name}"));
        other.expect(&format!("! nick {name} is taken"));
    }
    // On alice's own server too, another client is refused.
    let (client, guest_a, _) = admit(&a, Framing::Lines);
    let mut neighbour = Peer::new(client, &guest_a);
    neighbour.send("/nick aLiCe");
    neighbour.expect("! nick aLiCe is taken");
    alice.wait_for(&format!("* {guest_a} joined"));
    alice.expect_quiet(); // no rename was announced

    alice.send("/quit");
    alice.expect("* bye");
    // Its leave notice is published after its nick is released, so once it is here
    // the nick is free.
    other.wait_for("* alice left");
    other.send("/nick alice");
    other.expect(&format!("* {guest} is now alice"));
    neighbour.wait_for(&format!("* {guest} is now alice"));
    neighbour.send("/nick ALICE");
    neighbour.expect("! nick ALICE is taken");

    // A dropped connection frees it as well.
    drop(other);
    neighbour.wait_for("* alice left");
    neighbour.send("/nick ALICE");
    neighbour.expect(&format!("* {guest_a} is now ALICE"));
}

/// `/msg`, `/who`, `/rooms`, `/stats` and the welcome's online count cover the whole
/// cluster.
#[test]
fn msg_who_rooms_stats_and_the_welcome_count_cover_every_server() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    // A fresh Redis numbers guests from 1, and the count is the cluster's.
    let (c1, nick, online) = admit(&a, Framing::Lines);
    assert_eq!((nick.as_str(), online), ("guest1", 1));
    let mut alice = Peer::new(c1, "guest1");
    let mut bob = Peer::new(Client::connect(b.addr, Framing::Frames), "guest2");
    bob.client.send_raw(&[0, 0, 0, 0]);
    bob.expect(&welcome(2, 2));
    let mut carol = Peer::new(Client::connect(a.addr, Framing::Lines), "guest3");
    carol.client.send_raw(b"\n");
    carol.expect(&welcome(3, 3));
    for (p, old, new) in [
        (&mut alice, "guest1", "alice"),
        (&mut bob, "guest2", "bob"),
        (&mut carol, "guest3", "Carol"),
    ] {
        p.send(&format!("/nick {new}"));
        p.wait_for(&format!("* {old} is now {new}"));
        p.nick = new.to_string();
    }
    alice.wait_for("* guest3 is now Carol");
    bob.wait_for("* guest3 is now Carol");

    assert_eq!(alice.ask("/who", "* online"), "* online (3): alice, bob, Carol");
    assert_eq!(bob.ask("/who", "* online"), "* online (3): alice, bob, Carol");
    assert_eq!(bob.ask("/who c", "* online"), "* online (1 matching c): Carol");

    // Private messages, both ways across servers, in any case, and to nobody.
    alice.send("/msg bob psst");
    alice.expect("[pm to bob] psst");
    bob.expect("[pm from alice] psst");
    alice.send("/msg BOB again");
    alice.expect("[pm to bob] again");
    bob.expect("[pm from alice] again");
    bob.send("/msg carol hi Carol");
    bob.expect("[pm to Carol] hi Carol");
    carol.expect("[pm from bob] hi Carol");
    bob.send("/msg nobody hello?");
    bob.expect("! no such nick: nobody");
    alice.expect_quiet();

    // Rooms across servers.
    join(&mut bob.client, "bob", "dev");
    alice.wait_for("* bob left");
    join(&mut carol.client, "Carol", "dev");
    bob.wait_for("* Carol joined");
    assert_eq!(bob.ask("/who", "* online"), "* online (2): bob, Carol");
    assert_eq!(alice.ask("/who", "* online"), "* online (1): alice");
    assert_eq!(alice.ask("/rooms", "* rooms"), "* rooms (2): dev (2), lobby (1)");
    assert_eq!(carol.ask("/rooms", "* rooms"), "* rooms (2): dev (2), lobby (1)");

    // /stats: clients and rooms are the cluster's; each server counts its own rest.
    for p in [&mut alice, &mut bob] {
        let reply = p.ask("/stats", "* stats: uptime ");
        assert_eq!(stat(&reply, "clients"), 3, "{reply}");
        assert_eq!(stat(&reply, "connecting"), 0, "{reply}");
        assert_eq!(stat(&reply, "rooms"), 2, "{reply}");
    }

    // A fourth client's welcome counts everyone; leaving is counted everywhere.
    let mut dave = Client::connect(b.addr, Framing::Lines);
    dave.send_raw(b"\n");
    dave.expect(&welcome(4, 4));
    drop(dave);
    alice.wait_for("* guest4 left");
    drop(carol);
    bob.wait_for("* Carol left");
    let reply = alice.ask("/stats", "* stats: uptime ");
    assert_eq!(
        (stat(&reply, "clients"), stat(&reply, "rooms")),
        (2, 2),
        "{reply}"
    );
    assert_eq!(alice.ask("/rooms", "* rooms"), "* rooms (2): dev (1), lobby (1)");
}

/// A server killed with SIGKILL says nothing; the survivors notice its heartbeat is
/// gone, tell its rooms (once, though two survivors look), free its nicks and take its
/// clients out of `/who`.
#[test]
fn a_killed_servers_clients_are_announced_lost_and_their_nicks_freed() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let c = start_node(&redis, "C", &[]);
    let mut alice = peer_in(&a, Framing::Lines, "alice", "dev");
    let mut carol = peer(&a, Framing::Frames, "carol"); // stays in the lobby
    let mut bob = peer_in(&b, Framing::Lines, "bob", "dev");
    let mut dave = peer(&b, Framing::Frames, "dave"); // in the lobby
    let mut erin = peer_in(&c, Framing::Lines, "erin", "dev");
    bob.wait_for("* erin joined");
    alice.wait_for("* erin joined");
    carol.wait_for("* erin left");
    dave.wait_for("* erin left");
    assert_eq!(bob.ask("/who", "* online"), "* online (3): alice, bob, erin");

    a.signal(libc::SIGKILL);
    let killed = Instant::now();
    bob.wait_for_within("* alice left (server lost)", SERVER_LOST_PATIENCE);
    let noticed = killed.elapsed();
    erin.wait_for_within("* alice left (server lost)", SERVER_LOST_PATIENCE);
    dave.wait_for_within("* carol left (server lost)", SERVER_LOST_PATIENCE);
    assert!(noticed < SERVER_LOST_PATIENCE, "noticed after {noticed:?}");

    assert_eq!(bob.ask("/who", "* online"), "* online (2): bob, erin");
    assert_eq!(dave.ask("/who", "* online"), "* online (1): dave");
    assert_eq!(dave.ask("/rooms", "* rooms"), "* rooms (2): dev (2), lobby (1)");
    let reply = dave.ask("/stats", "* stats: uptime ");
    assert_eq!(stat(&reply, "clients"), 3, "{reply}");
    dave.send("/nick alice");
    dave.wait_for("* dave is now alice");
    erin.send("/nick Carol");
    erin.expect("* erin is now Carol");
    bob.wait_for("* erin is now Carol");
    assert_eq!(bob.ask("/rooms", "* rooms"), "* rooms (2): dev (2), lobby (1)");

    // Another heartbeat round: nobody is told twice.
    std::thread::sleep(Duration::from_millis(2500));
    for p in [&mut bob, &mut erin] {
        p.drain();
        assert_eq!(p.count("* alice left (server lost)"), 1, "{:?}", p.log);
    }
    dave.drain();
    assert_eq!(dave.count("* carol left (server lost)"), 1, "{:?}", dave.log);
    for server in [&b, &c] {
        assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    }
}

/// Redis stops for 5 s and comes back empty: every client is told once that the link is
/// lost, the chat goes on within each server, and when the link is back everyone is
/// told, nicks are claimed again, and of two clients that took the same nick meanwhile
/// on different servers the one claiming second is renamed (told why, its room told).
#[test]
fn a_lost_redis_leaves_servers_local_and_its_return_reunites_them() {
    let mut redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut ann = peer(&a, Framing::Lines, "ann");
    let mut amy = peer(&a, Framing::Frames, "amy");
    let mut ben = peer(&b, Framing::Lines, "ben");
    ann.wait_for("* guest3 is now ben");
    amy.wait_for("* guest3 is now ben");
    ann.send("before");
    ben.wait_for("ann: before");
    amy.wait_for("ann: before");

    redis.stop();
    let stopped = Instant::now();
    for p in [&mut ann, &mut amy, &mut ben] {
        p.wait_for(LINK_LOST);
    }
    // On one server the chat goes on; the other does not hear it.
    ann.send("just us");
    amy.expect("ann: just us");
    ben.send("/msg ann are you there?");
    ben.expect("! no such nick: ann");
    // The same nick is taken on both servers while they cannot check with each other.
    amy.send("/nick zed");
    amy.expect("* amy is now zed");
    ann.expect("* amy is now zed");
    ben.send("/nick zed");
    ben.expect("* ben is now zed");

    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    redis.restart();
    for p in [&mut ann, &mut amy, &mut ben] {
        p.wait_for_within(LINK_RESTORED, RESTORE_PATIENCE);
    }

    // One of the two zeds is renamed; which depends on which server claimed first.
    let deadline = Instant::now() + common::PATIENCE;
    let prefix = "! nick zed was taken on another server while the cluster link was down; you are now ";
    let (loser, guest) = loop {
        let hit = [&mut amy, &mut ben].into_iter().enumerate().find_map(|(i, p)| {
            let m = p.recv_within(Duration::from_millis(50))?;
            m.strip_prefix(prefix).map(|g| (i, g.to_string()))
        });
        if let Some(hit) = hit {
            break hit;
        }
        assert!(
            Instant::now() < deadline,
            "neither zed was renamed; amy saw {:?}, ben saw {:?}",
            amy.log,
            ben.log
        );
    };
    assert!(guest.starts_with("guest"), "renamed to {guest:?}");
    let (renamed, kept) = if loser == 0 {
        (&mut amy, &mut ben)
    } else {
        (&mut ben, &mut amy)
    };
    // Its room is told, through the bus: on both servers (all are in the lobby).
    let notice = format!("* zed is now {guest}");
    ann.wait_for(&notice);
    kept.got_or_wait_for(&notice); // it may have come while looking for the loser
    renamed.nick = guest.clone();
    renamed.send("/nick zed");
    renamed.expect("! nick zed is taken");
    assert_eq!(
        ann.ask("/who", "* online"),
        format!("* online (3): ann, {guest}, zed")
    );

    // Across servers again, both ways.
    ann.send("together again");
    ben.wait_for("ann: together again");
    let ben_nick = if loser == 1 { guest.clone() } else { "zed".into() };
    ben.send("hello A");
    ann.wait_for(&format!("{ben_nick}: hello A"));
    amy.wait_for(&format!("{ben_nick}: hello A"));

    for p in [&mut ann, &mut amy, &mut ben] {
        p.drain();
        assert_eq!(p.count(LINK_LOST), 1, "{}: {:?}", p.nick, p.log);
        assert_eq!(p.count(LINK_RESTORED), 1, "{}: {:?}", p.nick, p.log);
    }
    assert!(
        !ben.log.iter().any(|m| m == "ann: just us"),
        "a line said while the link was down crossed: {:?}",
        ben.log
    );
    assert_eq!(ann.count(&notice), 1, "{:?}", ann.log);
    // The server logs the loss and the return.
    for server in [&a, &b] {
        wait_for_stderr(server, "cluster link lost", common::PATIENCE);
        assert_eq!(stderr_count(server, "cluster link up"), 2, "{}", server.stderr());
    }
}

/// Whatever anyone publishes on the servers' channels that is not a well-formed bus
/// message is dropped and logged, reaches no client, and breaks nothing; a well-formed
/// one published from outside is delivered (so the servers do read the channel).
#[test]
fn garbage_on_the_bus_is_dropped_and_logged_and_reaches_nobody() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut alice = peer(&a, Framing::Lines, "alice");
    let mut bob = peer(&b, Framing::Frames, "bob");
    alice.wait_for("* guest2 is now bob");

    // First on A's own channel, so that A's first bad message (always logged; later
    // ones at powers of two) names it.
    let node = "mio-chat:0:node:A";
    let node_garbage: [&[u8]; 6] = [
        b"hello",
        b"1\x1fR\x1fX\x1f-\x1fa room message on a server's channel",
        b"1\x1fP\x1fX\x1fmal lory\x1falice\x1fbad sender nick",
        b"1\x1fP\x1fX\x1fmallory\x1falice\x1fforged\nnewline",
        b"2\x1fP\x1fX\x1fmallory\x1falice\x1fwrong version",
        b"1\x1fP\x1fX\x1fmallory\x1falice",
    ];
    for payload in node_garbage {
        assert_eq!(redis.publish(node, payload), 1, "{payload:?}: A subscribes");
    }
    wait_for_stderr(
        &a,
        "cluster: dropped a bad bus message on mio-chat:0:node:A",
        common::PATIENCE,
    );

    let lobby = "mio-chat:0:room:lobby";
    let huge = [b"1\x1fR\x1fX\x1f-\x1f".as_slice(), &vec![b'x'; (16 << 20) + 1024]].concat();
    let room_garbage: Vec<&[u8]> = vec![
        b"hello",
        b"",
        b"2\x1fR\x1fX\x1f-\x1fwrong version",
        b"1\x1fQ\x1fX\x1f-\x1funknown kind",
        b"1\x1fR\x1fX\x1f-",
        b"1\x1fR\x1fX\x1f-\x1fforged\nalice: newline",
        b"1\x1fR\x1fX\x1f-\x1fforged\r\nalice: carriage return",
        b"1\x1fR\x1fX\x1f-\x1f\x1b[2Jescape",
        "1\x1fR\x1fX\x1f-\x1f\u{202e}bidi override".as_bytes(),
        b"1\x1fR\x1fX\x1f+5\x1fsigned sender",
        b"1\x1fR\x1fX\x1fabc\x1fletters for a sender",
        b"1\x1fR\x1fX\x1f\x1fempty sender",
        b"1\x1fR\x1fX\x1f99999999999999999999999\x1fhuge sender",
        b"1\x1fR\x1fbad origin\x1f-\x1fbad origin",
        b"1\x1fR\x1f\x1f-\x1fempty origin",
        b"1\x1fR\x1fX\x1f-\x1f",
        b"1\x1fR\x1fX\x1f-\x1f\xff\xfe not UTF-8",
        b"1\x1fP\x1fX\x1fmallory\x1falice\x1fa private message on a room channel",
        &huge,
    ];
    for payload in &room_garbage {
        assert_eq!(
            redis.publish(lobby, payload),
            2,
            "{:?}: both servers subscribe",
            String::from_utf8_lossy(&payload[..payload.len().min(40)])
        );
    }
    // A room channel that no room can have: no server subscribes to it.
    assert_eq!(
        redis.publish("mio-chat:0:room:no room", b"1\x1fR\x1fX\x1f-\x1fbad channel"),
        0
    );

    // The positive controls: well-formed messages from outside are delivered.
    assert_eq!(redis.publish(lobby, b"1\x1fR\x1fX\x1f-\x1fhello from outside"), 2);
    assert_eq!(redis.publish(node, b"1\x1fP\x1fX\x1fmallory\x1falice\x1fpsst"), 1);
    alice.expect("hello from outside");
    alice.expect("[pm from mallory] psst");
    bob.expect("hello from outside");
    alice.expect_quiet();
    bob.expect_quiet();

    // Nothing is broken.
    alice.send("still here");
    bob.expect("alice: still here");
    bob.send("me too");
    alice.expect("bob: me too");
    assert_eq!(alice.ask("/who", "* online"), "* online (2): alice, bob");

    for server in [&a, &b] {
        wait_for_stderr(
            server,
            "cluster: dropped a bad bus message on mio-chat:0:room:lobby",
            common::PATIENCE,
        );
        assert!(
            !server.stderr().contains("cluster link lost"),
            "garbage cost the link:\n{}",
            server.stderr()
        );
    }
}

/// Holds Redis busy for `millis` (a Lua loop: a slow Redis, as under load), without
/// waiting for it: commands and publishes sent meanwhile queue up in order behind it.
/// Returns the connection, to be read (the script's reply) once Redis is free again.
fn hold_redis(redis: &Redis, millis: u64) -> std::net::TcpStream {
    use std::io::Write;
    let script = format!(
        "local s = redis.call('TIME') repeat local n = redis.call('TIME') \
         until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > {} return 1",
        millis * 1000
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port)).expect("connect to Redis");
    stream
        .write_all(&common::cluster::resp_command(&[
            b"EVAL",
            script.as_bytes(),
            b"0",
        ]))
        .expect("send the script");
    std::thread::sleep(Duration::from_millis(50)); // Redis is in it now
    stream
}

/// A join or leave takes effect at its place in the room's one order, not when it is
/// typed: with lines still on their way through a slow Redis, a member that joins does
/// not get the lines said before its join, and one that leaves still gets the lines
/// said before its leave, exactly as everyone else sees the join and the leave.
#[test]
fn a_join_or_leave_takes_effect_at_its_place_in_the_rooms_order() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut talker = peer_in(&a, Framing::Lines, "talker", "dev");
    let mut mover = peer(&a, Framing::Lines, "mover");
    let mut watcher = peer_in(&b, Framing::Frames, "watcher", "dev");
    talker.wait_for("* watcher joined");
    mover.drain();

    let held = hold_redis(&redis, 500);
    talker.send("said before the join");
    std::thread::sleep(Duration::from_millis(50));
    mover.send("/join dev");
    watcher.wait_for("talker: said before the join");
    watcher.expect("* mover joined");
    talker.expect("* mover joined");
    mover.expect("* mover joined");
    drop(held);

    let held = hold_redis(&redis, 500);
    talker.send("said before the leave");
    std::thread::sleep(Duration::from_millis(50));
    mover.send("/join away");
    mover.expect("talker: said before the leave");
    mover.expect("* mover joined");
    watcher.expect("talker: said before the leave");
    watcher.expect("* mover left");
    talker.expect("* mover left");
    drop(held);
    for p in [&mut talker, &mut mover, &mut watcher] {
        p.drain();
    }
    assert_eq!(mover.count("talker: said before the join"), 0, "{:?}", mover.log);
    assert_eq!(mover.count("talker: said before the leave"), 1, "{:?}", mover.log);
    assert_eq!(
        watcher.count("talker: said before the join"),
        1,
        "{:?}",
        watcher.log
    );
}

/// A server that stalls (SIGSTOP) past the heartbeat is taken for dead: its clients'
/// rooms are told they left and their nicks are freed. When it wakes up it finds that
/// out, claims its clients again (their rooms are told they are back), and a nick
/// someone else took meanwhile is replaced, its owner told: nicks stay unique.
#[test]
fn a_stalled_server_taken_for_dead_claims_its_clients_again_when_it_wakes() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut alice = peer_in(&a, Framing::Lines, "alice", "dev");
    let mut carol = peer(&a, Framing::Lines, "carol");
    let mut bob = peer_in(&b, Framing::Lines, "bob", "dev");
    let mut dave = peer(&b, Framing::Frames, "dave");
    alice.wait_for("* bob joined");

    b.signal(libc::SIGSTOP);
    alice.wait_for_within("* bob left (server lost)", SERVER_LOST_PATIENCE);
    carol.wait_for_within("* dave left (server lost)", SERVER_LOST_PATIENCE);
    carol.send("/nick dave");
    carol.wait_for("* carol is now dave");
    b.signal(libc::SIGCONT);

    alice.wait_for_within("* bob joined (server back)", RESTORE_PATIENCE);
    let taken = "! nick dave was taken on another server while the cluster link was down; you are now guest";
    let notice = dave.wait_until("the notice that dave was taken", RESTORE_PATIENCE, |m| {
        m.starts_with(taken)
    });
    let guest = notice.rsplit(' ').next().unwrap().to_string();
    carol.wait_for(&format!("* dave is now {guest}"));
    assert_eq!(alice.ask("/who", "* online"), "* online (2): alice, bob");
    bob.send("still here");
    alice.wait_for("bob: still here");
    carol.send("/nick bob");
    carol.wait_for("! nick bob is taken");
    assert_eq!(
        carol.ask("/who", "* online"),
        format!("* online (2): dave, {guest}")
    );
    assert!(b.stderr().contains("taken this one for dead"), "{}", b.stderr());
}

/// One client's flood of commands does not put everyone else's messages behind it in
/// Redis: while Redis is slow, a client that storms `/join`s (four commands each) is
/// held after a few of them, so a line said meanwhile by someone else goes through
/// Redis before the rest of the storm. Nothing of the storm is lost: every join is
/// confirmed, the last one to the room it names.
#[test]
fn a_storm_of_commands_does_not_queue_others_behind_it_in_redis() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let mut talker = peer_in(&a, Framing::Lines, "talker", "dev");
    let mut watcher = peer_in(&a, Framing::Frames, "watcher", "dev");
    talker.wait_for("* watcher joined");
    let mut stormer = peer(&a, Framing::Lines, "stormer");
    stormer.drain();
    const PAIRS: usize = 1000;
    let mut storm = "/join a\n/join b\n".repeat(PAIRS);
    storm.push_str("/join dev\n");

    let held = hold_redis(&redis, 2000);
    stormer.client.send_raw(storm.as_bytes());
    // Time for the server to handle all of the storm it would (without the bound, all
    // of it: joins wait for nobody), while Redis is still busy.
    std::thread::sleep(Duration::from_millis(300));
    talker.send("said during the storm");
    watcher.wait_for("* stormer joined");
    drop(held);

    let said = watcher
        .log
        .iter()
        .position(|m| m == "talker: said during the storm");
    assert!(
        said.is_some(),
        "the storm's last join came before the line said during it: {:?}",
        watcher.log
    );
    let joins = 2 * PAIRS + 1;
    let deadline = Instant::now() + common::PATIENCE;
    while stormer.count("* stormer joined") < joins && Instant::now() < deadline {
        stormer.recv_within(Duration::from_millis(100));
    }
    assert_eq!(
        stormer.count("* stormer joined"),
        joins,
        "{:?}",
        stormer.log.last()
    );
    assert_eq!(
        stormer.ask("/who", "* online"),
        "* online (3): stormer, talker, watcher"
    );
}

/// A Redis that asks for a password: servers given it in the address (percent-encoded,
/// here with an `@` in it) link up and chat through it, and never print it; a server
/// given a wrong one serves its own clients alone, tells them the link is lost, and
/// says why in its log.
#[test]
fn a_password_in_the_address_is_sent_to_redis_and_never_shown() {
    let redis = Redis::start_with_password("pa@ss w0rd");
    assert!(redis.url().contains(":pa%40ss%20w0rd@"), "{}", redis.url());
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    let mut alice = peer(&a, Framing::Lines, "alice");
    let mut bob = peer(&b, Framing::Frames, "bob");
    alice.wait_for("* guest2 is now bob");
    alice.send("through a locked Redis");
    bob.wait_for("alice: through a locked Redis");

    let wrong = format!("redis://:not-it@127.0.0.1:{}", redis.port);
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0", "--cluster", &wrong, "--node-name", "C"])
        .env("RUST_LOG", "info");
    let c = Server::start_command(cmd);
    wait_for_stderr(&c, "Redis refused the password", common::PATIENCE);
    let (mut carol, _, _) = admit(&c, Framing::Lines);
    carol.wait_for(LINK_LOST);
    for server in [&a, &b, &c] {
        let log = server.stderr();
        for secret in ["pa@ss", "pa%40ss", "not-it"] {
            assert!(!log.contains(secret), "the password is in the log:\n{log}");
        }
    }
    assert!(c.stderr().contains(":***@127.0.0.1"), "{}", c.stderr());
}

/// A Redis that refuses commands (here: out of memory, so every script that writes is
/// refused) is logged at powers of two, not once per command: the log does not grow
/// with the traffic. Room messages (`PUBLISH` is not refused) still go through.
#[test]
fn commands_redis_refuses_are_logged_at_powers_of_two() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let mut mover = peer(&a, Framing::Lines, "mover");
    let mut watcher = peer(&a, Framing::Frames, "watcher");
    mover.wait_for("* guest2 is now watcher");
    assert!(redis
        .command(&[b"CONFIG", b"SET", b"maxmemory", b"1"])
        .starts_with("+OK"));

    const PAIRS: usize = 100; // each join is scripts Redis refuses
    mover
        .client
        .send_raw("/join a\n/join lobby\n".repeat(PAIRS).as_bytes());
    let deadline = Instant::now() + common::PATIENCE;
    while mover.count("* mover joined") < 2 * PAIRS && Instant::now() < deadline {
        mover.recv_within(Duration::from_millis(100));
    }
    assert_eq!(
        mover.count("* mover joined"),
        2 * PAIRS,
        "the joins still go through the bus"
    );
    wait_for_stderr(&a, "; 128 so far", common::PATIENCE); // at least 128 refused
    let logged = stderr_count(&a, "Redis refused a command");
    assert!(
        logged <= 9,
        "{logged} lines for fewer than 512 refusals:\n{}",
        a.stderr()
    );
    assert!(a.stderr().contains("OOM command not allowed"), "{}", a.stderr());

    assert!(redis
        .command(&[b"CONFIG", b"SET", b"maxmemory", b"0"])
        .starts_with("+OK"));
    mover.send("still here");
    watcher.wait_for("mover: still here");
}

/// How many servers subscribe to `room`'s channel, by Redis's count.
fn subscribers(redis: &Redis, room: &str) -> u64 {
    let channel = format!("mio-chat:0:room:{room}");
    let reply = redis.command(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()]);
    let count = reply.rsplit(':').next().unwrap_or_default().trim();
    count
        .parse()
        .unwrap_or_else(|_| panic!("PUBSUB NUMSUB: {reply:?}"))
}

/// Waits until `room`'s channel has `want` subscribers.
fn wait_for_subscribers(redis: &Redis, room: &str, want: u64) {
    let deadline = Instant::now() + common::PATIENCE;
    while subscribers(redis, room) != want {
        assert!(
            Instant::now() < deadline,
            "{room}: {} subscribers, not {want}",
            subscribers(redis, room)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Redis sends a room's messages only to the servers that have its members: a server
/// subscribes to a room's channel when the room appears on it and unsubscribes when it
/// goes. A first join waits for the subscription, so it is never lost: the joiner gets
/// its confirmation and what is said after it.
#[test]
fn only_servers_with_members_of_a_room_get_its_messages() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &[]);
    let b = start_node(&redis, "B", &[]);
    assert_eq!(subscribers(&redis, "lobby"), 2);
    assert_eq!(subscribers(&redis, "dev"), 0);
    let mut alice = peer(&a, Framing::Lines, "alice");
    let mut bob = peer(&b, Framing::Frames, "bob");
    alice.wait_for("* guest2 is now bob");

    alice.send("/join dev");
    alice.expect("* alice joined");
    assert_eq!(subscribers(&redis, "dev"), 1);
    bob.send("/join dev");
    bob.wait_for("* bob joined"); // after "* alice left" in the lobby
    alice.expect("* bob joined");
    assert_eq!(subscribers(&redis, "dev"), 2);
    bob.send("first line on B");
    alice.expect("bob: first line on B");

    bob.send("/join lobby");
    bob.expect("* bob joined");
    alice.expect("* bob left");
    wait_for_subscribers(&redis, "dev", 1);
    alice.send("only A hears this");
    alice.expect_quiet();
    bob.expect_quiet();
    alice.send("/join lobby");
    alice.expect("* alice joined");
    wait_for_subscribers(&redis, "dev", 0);
    assert_eq!(subscribers(&redis, "lobby"), 2);
}

/// `--announce-limit` is judged by the room's size in the whole cluster as Redis last
/// counted it (its answer to a join or leave here), not by its members on this server:
/// a room of three with two of them elsewhere is above a limit of two.
#[test]
fn the_announce_limit_counts_the_rooms_members_on_every_server() {
    let redis = Redis::start();
    let a = start_node(&redis, "A", &["--announce-limit", "2"]);
    let b = start_node(&redis, "B", &["--announce-limit", "2"]);
    let mut bob = peer_in(&b, Framing::Lines, "bob", "dev");
    let mut carol = peer_in(&b, Framing::Frames, "carol", "dev");
    bob.wait_for("* carol joined");
    // alice's join is judged by A's one member (A knew no count for dev yet): announced.
    let mut alice = peer_in(&a, Framing::Lines, "alice", "dev");
    bob.wait_for("* alice joined");
    carol.wait_for("* alice joined");
    // Redis answered alice's join with 3: dave's is quiet, though A has only two.
    let mut dave = peer(&a, Framing::Frames, "dave");
    dave.send("/join dev");
    dave.wait_for("* dave joined");
    bob.send("after dave");
    for p in [&mut alice, &mut carol, &mut dave] {
        p.wait_for("bob: after dave");
    }
    for p in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(p.count("* dave joined"), 0, "{}: {:?}", p.nick, p.log);
    }
}
