//! The event loop's side of `--cluster`: the two Redis connections (one for commands,
//! one for subscriptions), which reply answers which request, heartbeats, and
//! reconnecting with backoff when the link is lost.
//!
//! Nothing here blocks: both connections are non-blocking sockets in the loop's `Poll`.
//! The chat's requests ([`ChatOut`]) are encoded into the command connection's queue
//! as they happen and written once at the end of the turn; each expects one reply, and
//! replies come back in order, so a queue of [`Pending`] entries says what each one
//! answers. What the loop must act on comes out as [`ClusterEvent`]s.

use super::redis_link::RedisLink;
use crate::chat::cluster::{Answer, Member, Presence, Query};
use crate::chat::{ClientId, Outbox, RoomId, RoomMembers};
use crate::cluster::address::{Credentials, RedisAddress};
use crate::cluster::bus::{self, BusMessage, RoomKind};
use crate::cluster::resp::{encode_command, Value};
use crate::cluster::store::{self, Store, HEARTBEAT_EVERY_SECS};
use crate::cluster::subscriptions::{Action, Subscriptions};
use crate::fanout::Fanout;
use log::{debug, info, warn};
use mio::{Registry, Token};
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// The command connection's token; the subscription connection's is [`BUS`]. Like the
/// listener's, they sit at the top of the token space, which slab keys never reach.
pub const COMMANDS: Token = Token(usize::MAX - 2);
/// The subscription connection's token.
pub const BUS: Token = Token(usize::MAX - 3);
/// The first wait before reconnecting; it doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// Bytes read from the subscription connection per turn: 16 times a client's, so the
/// bus keeps up with all our rooms at once and Redis never has to drop us as a slow
/// subscriber.
pub const BUS_READ_BUDGET: usize = 4 << 20;
/// A connection attempt that has not finished after this long failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Told to every client when the link to the other servers is lost.
pub const LINK_LOST: &str = "! cluster link lost: only people on this server get your messages";
/// Told to every client when it is back.
pub const LINK_RESTORED: &str = "* cluster link restored";

/// `--cluster` and `--node-name`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where Redis is.
    pub redis: RedisAddress,
    /// This server's name in the cluster, unique among its servers.
    pub node: String,
}

/// What a reply on the command connection answers.
#[derive(Debug)]
enum Pending {
    /// Nothing waits for it (a change to the shared state, a publish).
    Nothing,
    /// A join or leave: the reply is the room's size in the whole cluster.
    Counted(String),
    /// `AUTH`: refused, the link is lost (and tried again, in case the password changes
    /// back).
    Auth,
    /// This server's registration: its clients are claimed again when it is done.
    Registration,
    /// A heartbeat: 1 if this server had been taken for dead.
    Heartbeat,
    /// A client's question; `None` once the client has left.
    Question(Option<ClientId>, Query),
    /// A nick claimed again after the link came back.
    Reclaim(Option<ClientId>, String),
    /// A guest nick for a client whose nick was taken while the link was down.
    Replacement(Option<ClientId>, String),
}

/// What the event loop must act on.
#[derive(Debug)]
pub enum ClusterEvent {
    /// The link is up: shared state is live from now (the loop claims its clients).
    Up,
    /// The link is lost (or the first attempt failed): the chat is local until it is
    /// back, and every client is told so.
    Down,
    /// This server is registered: its clients must be claimed again
    /// ([`Cluster::reclaim`]); `taken_for_dead`: the other servers had been told they
    /// left (this server stalled, or its link was down for longer than the heartbeat).
    Registered {
        /// The others took this server for dead meanwhile.
        taken_for_dead: bool,
    },
    /// A client's question is answered.
    Answer(ClientId, Answer),
    /// A client's nick was taken elsewhere while the link was down; `new` is claimed
    /// for it.
    Replaced {
        /// The client.
        id: ClientId,
        /// The nick it had.
        old: String,
        /// The guest nick it gets.
        new: String,
    },
    /// A room message from the bus, for this server's members of `room`.
    Room {
        /// The room (lower case).
        room: String,
        /// What it does.
        kind: RoomKind,
        /// The serial number of the client that sent it, if it is one of ours.
        sender: Option<u64>,
        /// The line.
        text: String,
    },
    /// Redis counted a room's members on every server (after a join or leave here).
    Counted {
        /// The room.
        room: String,
        /// Its members on every server.
        members: usize,
    },
    /// A private message from another server.
    Private {
        /// The sender's nick.
        from: String,
        /// The recipient's nick.
        to: String,
        /// The message.
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting to try again.
    Down {
        retry_at: Instant,
    },
    /// Connecting, selecting the database and subscribing, since then.
    Connecting {
        since: Instant,
    },
    Up,
}

/// The link to the other servers.
pub struct Cluster {
    config: ClusterConfig,
    store: Store,
    announce_limit: usize,
    state: State,
    backoff: Duration,
    commands: Option<RedisLink>,
    bus: Option<RedisLink>,
    /// Subscriptions Redis has confirmed on this connection, and how many the link waits
    /// for before it is up (this server's channel and its rooms' at the connection).
    subscribed: usize,
    subscribing: usize,
    /// The rooms whose channels this server subscribes to, and the publishes that wait
    /// for a subscription.
    rooms: Subscriptions,
    pending: VecDeque<Pending>,
    /// Commands sent so far (on any connection to Redis): with `pending`, how far
    /// Redis has got (see [`Cluster::queued_through`]).
    sent: u64,
    /// The link has been up once: a later registration is a reconnection, whose
    /// clients are still here (a first one announces the leftovers of a crash).
    was_up: bool,
    /// Clients were told the link is lost, and are not yet told it is back.
    told_lost: bool,
    /// The bus read budget ran out: read it again next turn.
    bus_read_again: bool,
    next_heartbeat: Option<Instant>,
    /// Bad bus messages so far (logged at powers of two).
    bad_messages: u64,
    /// Commands Redis refused so far (logged at powers of two: a Redis out of memory
    /// refuses every write, and the log must not grow with the traffic).
    refused: u64,
    /// Reused to encode one bus message, and the command that carries it.
    payload: Vec<u8>,
    command: Vec<u8>,
}

impl Cluster {
    /// A link not yet started.
    pub fn new(config: ClusterConfig, announce_limit: usize) -> Cluster {
        let store = Store::new(config.redis.db, &config.node);
        let mut rooms = Subscriptions::new();
        rooms.open(crate::chat::LOBBY);
        Cluster {
            config,
            store,
            announce_limit,
            state: State::Down {
                retry_at: Instant::now(),
            },
            backoff: RETRY_MIN,
            commands: None,
            bus: None,
            subscribed: 0,
            subscribing: 0,
            rooms,
            pending: VecDeque::new(),
            sent: 0,
            was_up: false,
            told_lost: false,
            bus_read_again: false,
            next_heartbeat: None,
            bad_messages: 0,
            refused: 0,
            payload: Vec::new(),
            command: Vec::new(),
        }
    }

    /// True while rooms and nicks are shared.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// True while clients stand told that the link is lost (a client arriving now is
    /// told too).
    pub fn told_lost(&self) -> bool {
        self.told_lost
    }

    /// The time the loop must wake up for, at the latest.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Down { retry_at } => Some(retry_at),
            State::Connecting { since } => Some(since + CONNECT_TIMEOUT),
            State::Up => self.next_heartbeat,
        }
    }

    /// True if the bus has input left over from the last turn.
    pub fn has_more_input(&self) -> bool {
        self.bus_read_again
    }

    /// Timers: reconnecting, giving up on a connection attempt, the heartbeat.
    pub fn tick(&mut self, now: Instant, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        match self.state {
            State::Down { retry_at } if now >= retry_at => self.connect(now, registry, events),
            State::Connecting { since } if now >= since + CONNECT_TIMEOUT => {
                self.lose("connecting timed out", now, registry, events)
            }
            State::Up if self.next_heartbeat.is_some_and(|at| now >= at) => {
                self.next_heartbeat = Some(now + Duration::from_secs(HEARTBEAT_EVERY_SECS));
                let limit = self.announce_limit;
                self.send(Pending::Heartbeat, |store, out| store.heartbeat(limit, out));
            }
            _ => {}
        }
    }

    fn connect(&mut self, now: Instant, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        let addr = self.config.redis.addr;
        let links = RedisLink::connect(addr, registry, COMMANDS)
            .and_then(|commands| Ok((commands, RedisLink::connect(addr, registry, BUS)?)));
        match links {
            Ok((mut commands, mut bus)) => {
                if let Some(credentials) = &self.config.redis.auth {
                    for link in [&mut commands, &mut bus] {
                        encode_auth(credentials, link.queue());
                    }
                    self.expect(Pending::Auth);
                }
                if self.config.redis.db != 0 {
                    let db = self.config.redis.db.to_string();
                    encode_command(&[b"SELECT", db.as_bytes()], commands.queue());
                    self.expect(Pending::Nothing);
                }
                let rooms = self.rooms.connected();
                self.store.subscribe(&rooms, bus.queue());
                self.commands = Some(commands);
                self.bus = Some(bus);
                self.subscribed = 0;
                self.subscribing = 1 + rooms.len();
                self.state = State::Connecting { since: now };
            }
            Err(e) => self.lose(&format!("cannot connect: {e}"), now, registry, events),
        }
    }

    /// An event on one of the two connections.
    pub fn ready(&mut self, token: Token, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        let now = Instant::now();
        // The bus is read before replies: a client's own notices (published, back on
        // the bus) then come before the answers to what it asked after them.
        let result = if token == COMMANDS {
            self.serve_bus(events).and_then(|()| self.serve_commands(events))
        } else {
            self.serve_bus(events)
        };
        match result {
            Ok(()) => self.maybe_up(events),
            Err(e) => self.lose(&e.to_string(), now, registry, events),
        }
    }

    /// At the start of a turn: the bus input left over from the last one.
    pub fn read_again(&mut self, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        if std::mem::take(&mut self.bus_read_again) {
            self.ready(BUS, registry, events);
        }
    }

    /// At the end of a turn: this turn's commands go out, in one write.
    pub fn flush(&mut self, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        let result = [self.commands.as_mut(), self.bus.as_mut()]
            .into_iter()
            .flatten()
            .try_for_each(|link| link.flush(registry));
        if let Err(e) = result {
            self.lose(&e.to_string(), Instant::now(), registry, events);
        }
    }

    fn serve_commands(&mut self, events: &mut Vec<ClusterEvent>) -> io::Result<()> {
        let Some(link) = self.commands.as_mut() else {
            return Ok(());
        };
        if !link.finish_connect()? {
            return Ok(());
        }
        // Read to the end (the socket is edge-triggered): replies are no more than what
        // this server asked for.
        link.read(usize::MAX)?;
        while let Some(reply) = self
            .commands
            .as_mut()
            .map_or(Ok(None), |l| l.next_value())
            .map_err(io::Error::other)?
        {
            let pending = self
                .pending
                .pop_front()
                .ok_or_else(|| io::Error::other("a reply nobody asked for"))?;
            if let (Pending::Auth, Value::Error(e)) = (&pending, &reply) {
                return Err(io::Error::other(format!("Redis refused the password: {e}")));
            }
            self.answer(pending, reply, events);
        }
        Ok(())
    }

    fn serve_bus(&mut self, events: &mut Vec<ClusterEvent>) -> io::Result<()> {
        let Some(link) = self.bus.as_mut() else {
            return Ok(());
        };
        if !link.finish_connect()? {
            return Ok(());
        }
        self.bus_read_again = link.read(BUS_READ_BUDGET)?;
        while let Some(value) = self
            .bus
            .as_mut()
            .map_or(Ok(None), |l| l.next_value())
            .map_err(io::Error::other)?
        {
            self.on_bus(value, events)?;
        }
        Ok(())
    }

    /// Both connections are made and subscribed: the link is up.
    fn maybe_up(&mut self, events: &mut Vec<ClusterEvent>) {
        let connected = |link: &Option<RedisLink>| link.as_ref().is_some_and(RedisLink::is_connected);
        if matches!(self.state, State::Connecting { .. })
            && connected(&self.commands)
            && connected(&self.bus)
            && self.subscribed >= self.subscribing
        {
            info!(
                "cluster link up ({} as node {})",
                self.config.redis, self.config.node
            );
            self.state = State::Up;
            self.backoff = RETRY_MIN;
            let announce = !self.was_up;
            self.was_up = true;
            let limit = self.announce_limit;
            self.send(Pending::Registration, |store, out| {
                store.register(announce, limit, out)
            });
            self.next_heartbeat = Some(Instant::now() + Duration::from_secs(HEARTBEAT_EVERY_SECS));
            events.push(ClusterEvent::Up);
        }
    }

    /// The link is lost (or could not be made): both connections are closed, waiting
    /// questions are answered [`Answer::Unavailable`], and the next attempt is
    /// scheduled.
    fn lose(&mut self, why: &str, now: Instant, registry: &Registry, events: &mut Vec<ClusterEvent>) {
        let was = self.state;
        for link in [self.commands.as_mut(), self.bus.as_mut()].into_iter().flatten() {
            link.deregister(registry);
        }
        self.commands = None;
        self.bus = None;
        self.rooms.disconnected();
        self.bus_read_again = false;
        self.next_heartbeat = None;
        self.state = State::Down {
            retry_at: now + self.backoff,
        };
        if was == State::Up || !self.told_lost {
            warn!(
                "cluster link lost ({}): {why}; retrying in {} ms",
                self.config.redis,
                self.backoff.as_millis()
            );
        } else {
            debug!("cluster link still down: {why}");
        }
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
        if !self.told_lost {
            self.told_lost = true; // a link that was up is lost, or the first attempt failed
            events.push(ClusterEvent::Down);
        }
        // After `Down`: the chat answers them as a server alone.
        for pending in std::mem::take(&mut self.pending) {
            if let Pending::Question(Some(id), _) = pending {
                events.push(ClusterEvent::Answer(id, Answer::Unavailable));
            }
        }
    }

    /// The server is shutting down: its clients leave the cluster now (their rooms
    /// elsewhere are told), not when its heartbeat runs out. Sent with the turn's other
    /// commands; nothing more is asked after it.
    pub fn leave(&mut self) {
        if self.is_up() {
            let limit = self.announce_limit;
            self.send(Pending::Nothing, |store, out| store.leave(limit, out));
            self.next_heartbeat = None; // it would register this server again
        }
    }

    /// True if commands wait to be written.
    pub fn has_unsent(&self) -> bool {
        self.commands.as_ref().is_some_and(RedisLink::has_unsent)
    }

    /// The loop told the clients the link is back.
    pub fn told_restored(&mut self) {
        self.told_lost = false;
    }

    /// After [`ClusterEvent::Registered`]: claims this server's clients again, each
    /// with its nick and room; `announce`: their rooms are told they are back.
    pub fn reclaim(&mut self, members: Vec<Member>, announce: bool) {
        let announce = announce.then_some(self.announce_limit);
        for Member {
            id,
            serial,
            nick,
            room,
        } in members
        {
            let pending = Pending::Reclaim(Some(id), nick.clone());
            self.send(pending, |store, out| {
                store.reclaim(&nick, &room, serial, announce, out)
            });
        }
    }

    /// A client is gone: answers still coming for it are for nobody (its slab key may
    /// be someone else's by then).
    pub fn forget(&mut self, id: ClientId) {
        for pending in &mut self.pending {
            match pending {
                Pending::Question(who, _) | Pending::Reclaim(who, _) | Pending::Replacement(who, _)
                    if *who == Some(id) =>
                {
                    *who = None
                }
                _ => {}
            }
        }
    }

    /// One more command is on its way: its reply will answer `pending`.
    fn expect(&mut self, pending: Pending) {
        self.pending.push_back(pending);
        self.sent += 1;
    }

    /// Commands sent so far: a client's mark after its last message (see
    /// `event_loop/cluster.rs`).
    pub fn commands_sent(&self) -> u64 {
        self.sent
    }

    /// How many commands are still waiting for Redis up to and including the one
    /// numbered `mark` (0 once Redis has answered it, or the link was lost: a lost
    /// link's commands are never answered).
    pub fn queued_through(&self, mark: u64) -> u64 {
        let answered = self.sent - self.pending.len() as u64;
        mark.saturating_sub(answered)
    }

    /// Queues one command and what its reply answers (nothing while the link is down:
    /// the chat asks nothing then, and changes are claimed again when it is back).
    fn send(&mut self, pending: Pending, encode: impl FnOnce(&Store, &mut Vec<u8>)) {
        if let Some(link) = self.commands.as_mut() {
            encode(&self.store, link.queue());
            self.expect(pending);
        }
    }

    /// What a reply means, by what it answers.
    fn answer(&mut self, pending: Pending, reply: Value, events: &mut Vec<ClusterEvent>) {
        if let Value::Error(e) = &reply {
            self.refused += 1;
            if self.refused.is_power_of_two() {
                warn!("cluster: Redis refused a command: {e}; {} so far", self.refused);
            }
        }
        match pending {
            Pending::Nothing | Pending::Auth => {}
            Pending::Counted(room) => {
                if let Some(members) = reply.as_int() {
                    let members = usize::try_from(members).unwrap_or(0);
                    events.push(ClusterEvent::Counted { room, members });
                }
            }
            Pending::Registration | Pending::Heartbeat => {
                let taken_for_dead = reply.as_int() == Some(1);
                if taken_for_dead {
                    warn!(
                        "cluster: the other servers had taken this one for dead; claiming its clients again"
                    );
                }
                if taken_for_dead || matches!(pending, Pending::Registration) {
                    events.push(ClusterEvent::Registered { taken_for_dead });
                }
            }
            Pending::Question(who, query) => {
                let answer = self.answer_question(&query, reply);
                match who {
                    Some(id) => events.push(ClusterEvent::Answer(id, answer)),
                    None => self.release_orphan(&answer), // it left meanwhile
                }
            }
            Pending::Reclaim(who, nick) => {
                if reply.as_int() == Some(0) {
                    self.send(Pending::Replacement(who, nick), |store, out| store.guest(out));
                }
            }
            Pending::Replacement(who, old) => match (who, store::parse_guest(reply)) {
                (Some(id), Some((new, _))) => events.push(ClusterEvent::Replaced { id, old, new }),
                (None, Some((new, _))) => self.send(Pending::Nothing, |store, out| store.gone(&new, out)),
                _ => {}
            },
        }
    }

    fn answer_question(&mut self, query: &Query, reply: Value) -> Answer {
        let answer = match query {
            Query::Guest => store::parse_guest(reply).map(|(nick, online)| Answer::Guest { nick, online }),
            Query::Nick(name) => reply.as_int().map(|n| Answer::Nick {
                name: name.clone(),
                claimed: n == 1,
            }),
            Query::Who { .. } => store::parse_names(reply).map(Answer::Names),
            Query::Rooms => store::parse_rooms(reply).map(Answer::Rooms),
            Query::Stats => {
                store::parse_stats(reply).map(|(clients, rooms)| Answer::Stats { clients, rooms })
            }
            Query::Private { from, text, .. } => match store::parse_holder(reply) {
                Some(Some((node, nick))) => {
                    self.payload.clear();
                    bus::encode_private(self.store.node(), from, &nick, text, &mut self.payload);
                    let channel = self.store.node_channel(&node);
                    let payload = std::mem::take(&mut self.payload);
                    self.send(Pending::Nothing, |store, out| {
                        store.publish(&channel, &payload, out)
                    });
                    self.payload = payload;
                    Some(Answer::Private(Some(nick)))
                }
                Some(None) => Some(Answer::Private(None)),
                None => None,
            },
        };
        answer.unwrap_or(Answer::Unavailable)
    }

    /// A nick claimed for a client that has left is freed again.
    fn release_orphan(&mut self, answer: &Answer) {
        let nick = match answer {
            Answer::Guest { nick, .. }
            | Answer::Nick {
                name: nick,
                claimed: true,
            } => nick,
            _ => return,
        };
        self.send(Pending::Nothing, |store, out| store.gone(nick, out));
    }

    /// One value from the subscription connection.
    fn on_bus(&mut self, value: Value, events: &mut Vec<ClusterEvent>) -> io::Result<()> {
        match &value {
            // `AUTH`'s answer, before the subscriptions are confirmed.
            Value::Simple(ok) if ok == "OK" && self.subscribed == 0 => return Ok(()),
            Value::Error(e) if self.subscribed == 0 && self.config.redis.auth.is_some() => {
                return Err(io::Error::other(format!("Redis refused the password: {e}")));
            }
            Value::Error(e) => return Err(io::Error::other(format!("Redis said on the bus: {e}"))),
            _ => {}
        }
        let parts = value
            .into_array()
            .ok_or_else(|| io::Error::other("the bus sent something that is not a message"))?;
        let kind = parts.first().and_then(Value::as_bytes).unwrap_or_default();
        match (kind, parts.len()) {
            (b"subscribe", 3) => {
                self.subscribed += 1;
                let room = parts[1].as_bytes().and_then(|c| self.store.room_of_channel(c));
                if let Some(room) = room.map(str::to_string) {
                    self.release_waiting(&room);
                }
                Ok(())
            }
            (b"unsubscribe", 3) => Ok(()),
            (b"message", 3)
                if parts[1]
                    .as_bytes()
                    .is_some_and(|c| self.store.room_of_channel(c).is_some()) =>
            {
                let (channel, payload) = (parts[1].as_bytes(), parts[2].as_bytes());
                let room = channel.and_then(|c| self.store.room_of_channel(c));
                match (room, payload.map(bus::decode)) {
                    (
                        Some(room),
                        Some(Ok(BusMessage::Room {
                            kind,
                            origin,
                            sender,
                            text,
                        })),
                    ) => {
                        let ours = origin == self.store.node();
                        events.push(ClusterEvent::Room {
                            room: room.to_string(),
                            kind,
                            sender: sender.filter(|_| ours),
                            text: text.to_string(),
                        });
                    }
                    (_, Some(Err(e))) => self.bad_message(channel, &e.to_string()),
                    _ => self.bad_message(channel, "not a room message on a room channel"),
                }
                Ok(())
            }
            (b"message", 3) => {
                let (channel, payload) = (parts[1].as_bytes(), parts[2].as_bytes());
                let own = channel.is_some_and(|c| self.store.is_own_channel(c));
                match (own, payload.map(bus::decode)) {
                    (true, Some(Ok(BusMessage::Private { from, to, text, .. }))) => {
                        events.push(ClusterEvent::Private {
                            from: from.to_string(),
                            to: to.to_string(),
                            text: text.to_string(),
                        });
                    }
                    (_, Some(Err(e))) => self.bad_message(channel, &e.to_string()),
                    _ => self.bad_message(channel, "not a private message on this server's channel"),
                }
                Ok(())
            }
            _ => Err(io::Error::other("the bus sent something that is not a message")),
        }
    }

    /// Redis confirmed a subscription to `room`'s channel: the publishes that waited
    /// for it go out now, in order, with this turn's commands.
    fn release_waiting(&mut self, room: &str) {
        let Some(link) = self.commands.as_mut() else {
            return;
        };
        let released = self.rooms.confirmed(room, link.queue());
        for _ in 0..released {
            self.expect(Pending::Nothing);
        }
    }

    fn bad_message(&mut self, channel: Option<&[u8]>, why: &str) {
        self.bad_messages += 1;
        if self.bad_messages.is_power_of_two() {
            let channel = String::from_utf8_lossy(channel.unwrap_or_default());
            warn!(
                "cluster: dropped a bad bus message on {channel} ({why}); {} so far",
                self.bad_messages
            );
        }
    }

    /// Subscribes to one room's channel on the bus (or unsubscribes).
    fn subscribe_room(&mut self, room: &str, subscribe: bool) {
        if let Some(bus) = self.bus.as_mut() {
            self.store.subscribe_room(room, subscribe, bus.queue());
        }
    }

    /// Bad bus messages dropped so far.
    pub fn bad_messages(&self) -> u64 {
        self.bad_messages
    }
}

/// `AUTH [USER] PASSWORD`, the first command on each connection to a Redis that asks
/// for a password.
fn encode_auth(credentials: &Credentials, out: &mut Vec<u8>) {
    let password = credentials.password.as_bytes();
    match &credentials.user {
        Some(user) => encode_command(&[b"AUTH", user.as_bytes(), password], out),
        None => encode_command(&[b"AUTH", password], out),
    }
}

/// The chat's outbox in a clustered server: output to clients goes to the fan-out,
/// and what is for the other servers to the cluster's command queue.
pub struct ChatOut<'a> {
    /// This turn's output to clients.
    pub fanout: &'a mut Fanout,
    /// The link, with `--cluster`.
    pub cluster: Option<&'a mut Cluster>,
}

impl Outbox for ChatOut<'_> {
    fn to_client(&mut self, id: ClientId, text: &str) {
        self.fanout.to_client(id, text);
    }

    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        self.fanout.to_room(room, except, text);
    }

    fn publish(&mut self, room: &str, kind: RoomKind, sender: Option<u64>, text: &str) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        if cluster.commands.is_none() {
            return; // the link is down
        }
        cluster.payload.clear();
        bus::encode_room(kind, cluster.store.node(), sender, text, &mut cluster.payload);
        let channel = cluster.store.room_channel(room);
        let mut command = std::mem::take(&mut cluster.command);
        cluster.store.publish(&channel, &cluster.payload, &mut command);
        // A room whose subscription is not confirmed yet keeps it (see
        // `cluster/subscriptions.rs`).
        if cluster.rooms.may_publish(room, &mut command) {
            cluster.send(Pending::Nothing, |_, out| out.append(&mut command));
        }
        command.clear();
        cluster.command = command;
    }

    fn ask(&mut self, id: ClientId, query: Query) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        let encode = |store: &Store, out: &mut Vec<u8>| match &query {
            Query::Guest => store.guest(out),
            Query::Nick(name) => store.claim(name, out),
            Query::Who { room, .. } => store.who(room, out),
            Query::Rooms => store.rooms(out),
            Query::Stats => store.stats(out),
            Query::Private { to, .. } => store.holder(to, out),
        };
        if let Some(link) = cluster.commands.as_mut() {
            encode(&cluster.store, link.queue());
            cluster.expect(Pending::Question(Some(id), query));
        }
    }

    fn presence(&mut self, change: Presence<'_>) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        let pending = match change {
            Presence::Joined { room, .. } | Presence::Left { room, .. } => Pending::Counted(room.to_string()),
            Presence::Renamed { .. } | Presence::Gone { .. } => Pending::Nothing,
        };
        cluster.send(pending, |store, out| match change {
            Presence::Joined { nick, room } => store.joined(nick, room, out),
            Presence::Left { nick, room } => store.left(nick, room, out),
            Presence::Renamed { old, new, room } => store.renamed(old, new, room, out),
            Presence::Gone { nick } => store.gone(nick, out),
        });
    }

    fn entered(&mut self, id: ClientId, room: RoomId) {
        self.fanout.entered(id, room);
    }

    fn left(&mut self, id: ClientId, room: RoomId) {
        self.fanout.left(id, room);
    }

    fn close(&mut self, id: ClientId) {
        self.fanout.close(id);
    }

    fn room_opened(&mut self, name: &str) {
        if let Some(cluster) = self.cluster.as_deref_mut() {
            if cluster.rooms.open(name) == Action::Subscribe {
                cluster.subscribe_room(name, true);
            }
        }
    }

    fn room_closed(&mut self, name: &str) {
        if let Some(cluster) = self.cluster.as_deref_mut() {
            if cluster.rooms.close(name) == Action::Unsubscribe {
                cluster.subscribe_room(name, false);
            }
        }
    }
}
