//! The chat itself: nicks, rooms and commands, as "input from client X -> messages to
//! these recipients".
//!
//! Knows nothing of sockets, framings or clocks. Every effect goes through an
//! [`Outbox`], which the event loop implements with its fan-out; tests implement it
//! with a recorder. Room broadcasts are handed over with the room's member list, and
//! every change of membership is reported as it happens ([`Outbox::entered`],
//! [`Outbox::left`]), so the outbox may defer and batch room messages without asking the
//! chat again.

use crate::cluster::bus::{Audience, RoomKind};
use crate::command::{self, Command};
use slab::Slab;
use std::collections::HashMap;
use std::time::Duration;

/// Identifies a client; the event loop uses its slab key.
pub type ClientId = usize;

/// Identifies a room while it exists (ids of deleted rooms are reused).
pub type RoomId = usize;

/// The room everyone starts in; it always exists.
pub const LOBBY: &str = "lobby";
/// Sent to every client when the server stops.
pub const SHUTDOWN_NOTICE: &str = "* server shutting down";

/// A room's members at one moment, as handed to [`Outbox::to_room`].
#[derive(Debug, Clone, Copy)]
pub struct RoomMembers<'a> {
    /// The room.
    pub room: RoomId,
    /// Everyone in the room, in no particular order.
    pub members: &'a [ClientId],
}

/// Where the chat's output goes. Calls arrive in the order recipients must see them.
pub trait Outbox {
    /// Sends `text` to one client.
    fn to_client(&mut self, id: ClientId, text: &str);
    /// Sends `text` to every member of a room except `except`.
    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str);
    /// Cluster mode: a message for the room called `room` on every server, through the
    /// bus: `text` for its members as `kind` says (all of them, or all but the client
    /// whose serial number is `sender`), or a client's join or leave. It comes back
    /// through [`Chat::deliver_room`].
    fn publish(&mut self, room: &str, kind: RoomKind, sender: Option<u64>, text: &str) {
        let _ = (room, kind, sender, text);
    }
    /// Cluster mode: the client's request needs the cluster's answer; the chat goes on
    /// with it in [`Chat::answered`].
    fn ask(&mut self, id: ClientId, query: cluster::Query) {
        let _ = (id, query);
    }
    /// Cluster mode: a change that the state shared between servers must follow.
    fn presence(&mut self, change: cluster::Presence<'_>) {
        let _ = change;
    }
    /// `id` is now a member of `room`: room messages from here on reach it.
    fn entered(&mut self, id: ClientId, room: RoomId);
    /// `id` is no longer a member of `room`: room messages from here on do not reach it.
    fn left(&mut self, id: ClientId, room: RoomId);
    /// Closes the client once what was sent to it so far is written.
    fn close(&mut self, id: ClientId);
    /// The room called `name` exists on this server from now on (sharing a cluster,
    /// this server must get its messages from the bus). The lobby always exists.
    fn room_opened(&mut self, name: &str) {
        let _ = name;
    }
    /// The room called `name` no longer exists on this server.
    fn room_closed(&mut self, name: &str) {
        let _ = name;
    }
}

/// Settings that change what the chat says.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Send a client its own chat lines and actions back.
    pub echo: bool,
    /// `--max-message`, shown by `/help`.
    pub max_message: usize,
    /// `--announce-limit`: a room with more members than this sends no join, leave or
    /// rename notices (the client concerned still gets its own confirmation).
    pub announce_limit: usize,
    /// `--cluster`: rooms, nicks and presence are shared with other servers (see
    /// [`cluster`]); while the link to them is down the chat is local, as without it.
    pub cluster: bool,
}

/// The default `--announce-limit`.
pub const DEFAULT_ANNOUNCE_LIMIT: usize = 200;

/// Counters only the event loop knows, passed in for `/stats`.
#[derive(Debug, Clone, Default)]
pub struct ServerCounters {
    /// Time since the server started.
    pub uptime: Duration,
    /// Connections whose framing is not known yet: holding a slot, not in the chat.
    pub connecting: usize,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Clients disconnected for not reading.
    pub slow_dropped: u64,
}

struct Client {
    nick: String,
    /// The room it is in: where its lines go, what `/who` lists.
    room: RoomId,
    /// The room whose messages it gets, and its position in that room's member list
    /// (for O(1) removal). Alone, that is `room` from the moment it moves; sharing a
    /// cluster, it changes when the move comes back in the room's sequence from the bus
    /// (see `cluster.rs`), so that it gets exactly the messages after its join and before
    /// its leave in the order everyone else sees.
    listening: Option<(RoomId, usize)>,
    /// Its number on this server, never reused (slab keys are): names it on the bus.
    serial: u64,
}

struct Room {
    name: String,
    /// The clients getting its messages.
    members: Vec<ClientId>,
    /// The clients in it (see `Client::room`).
    residents: usize,
    /// Sharing a cluster: its members on every server, as Redis last counted them
    /// (after a join or leave of one of ours). The announce limit is judged by the
    /// larger of this and `residents`.
    cluster_size: usize,
    /// Sharing a cluster: joins of this server's clients on their way through the bus.
    /// Until a join comes back the room is kept, even if its client has moved on, so
    /// that the client gets what was said there between its join and its leave.
    /// A room exists while it has members, residents or arrivals.
    arriving: usize,
}

/// The state of the whole chat: who is connected, under which nick, in which room.
pub struct Chat {
    config: ChatConfig,
    clients: HashMap<ClientId, Client>,
    /// Lower-cased nick -> client, for case-insensitive uniqueness.
    nicks: HashMap<String, ClientId>,
    rooms: Slab<Room>,
    /// Lower-cased room name -> room.
    room_ids: HashMap<String, RoomId>,
    lobby: RoomId,
    next_guest: u64,
    messages_relayed: u64,
    /// Work so far whose cost grows with a room or the server, not with the message,
    /// which the event loop counts against a client's share of a turn: names looked at
    /// by listing commands (`/who`, `/rooms`), and, sharing a cluster, the members here
    /// that a published join or leave notice will reach (the fan-out happens when the
    /// notice comes back from the bus, in a later turn and out of the client's share,
    /// so it is counted when published).
    work: u64,
    /// Reused to compose outgoing text without an allocation per message.
    line: String,
    /// Cluster mode: the link to the other servers is up (rooms and nicks are shared).
    cluster_up: bool,
    /// Cluster mode: clients whose request waits for the cluster's answer.
    waiting: HashMap<ClientId, cluster::Waiting>,
    /// Client serial numbers -> clients.
    serials: HashMap<u64, ClientId>,
    next_serial: u64,
}

pub mod cluster;
mod commands;
pub mod recorder;

impl Chat {
    /// An empty chat with only the lobby.
    pub fn new(config: ChatConfig) -> Self {
        let mut chat = Chat {
            config,
            clients: HashMap::new(),
            nicks: HashMap::new(),
            rooms: Slab::new(),
            room_ids: HashMap::new(),
            lobby: 0,
            next_guest: 1,
            messages_relayed: 0,
            work: 0,
            line: String::new(),
            cluster_up: false,
            waiting: HashMap::new(),
            serials: HashMap::new(),
            next_serial: 0,
        };
        chat.lobby = chat.rooms.insert(Room {
            name: LOBBY.to_string(),
            members: Vec::new(),
            residents: 0,
            cluster_size: 0,
            arriving: 0,
        });
        chat.room_ids.insert(LOBBY.to_string(), chat.lobby);
        chat
    }

    /// Clients in the chat.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Rooms that exist (the lobby always does).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Chat lines, actions and private messages relayed so far.
    pub fn messages_relayed(&self) -> u64 {
        self.messages_relayed
    }

    /// Work so far that grows with a room or the server (see the field `work`).
    pub fn work(&self) -> u64 {
        self.work
    }

    /// The nick of a client, if it is in the chat.
    pub fn nick(&self, id: ClientId) -> Option<&str> {
        self.clients.get(&id).map(|c| c.nick.as_str())
    }

    /// A new client arrives: it gets a guest nick, the lobby, a welcome, and the lobby a
    /// join notice. Ignored if `id` is already in the chat. Sharing a cluster, the guest
    /// number is the cluster's: the client waits for it (see [`Chat::answered`]).
    pub fn connect(&mut self, id: ClientId, out: &mut impl Outbox) {
        if self.clients.contains_key(&id) || self.waiting.contains_key(&id) {
            return;
        }
        if self.shared() {
            self.waiting.insert(id, cluster::Waiting::Guest);
            return out.ask(id, cluster::Query::Guest);
        }
        let nick = self.unused_guest_nick();
        let online = self.clients.len() as u64 + 1;
        self.admit(id, nick, online, out);
    }

    /// Puts a client with its nick in the lobby: welcome, join notice.
    fn admit(&mut self, id: ClientId, mut nick: String, online: u64, out: &mut impl Outbox) {
        if self.nicks.contains_key(&nick.to_ascii_lowercase()) {
            nick = self.unused_guest_nick(); // taken here while the link was down
        }
        self.nicks.insert(nick.to_ascii_lowercase(), id);
        self.next_serial += 1;
        self.serials.insert(self.next_serial, id);
        self.clients.insert(
            id,
            Client {
                nick,
                room: self.lobby,
                listening: None,
                serial: self.next_serial,
            },
        );
        self.enter_room(id, self.lobby, out);
        let nick = &self.clients[&id].nick;
        compose(
            &mut self.line,
            &[
                "* welcome to mio-chat, you are ",
                nick,
                "; ",
                &online.to_string(),
                " online; /help for commands",
            ],
        );
        out.to_client(id, &self.line);
        compose(&mut self.line, &["* ", nick, " joined"]);
        let size = self.room_size(self.lobby);
        if self.shared() {
            let audience = if size <= self.config.announce_limit {
                Audience::Others
            } else {
                Audience::Nobody
            };
            return self.publish_move(id, self.lobby, RoomKind::Enter(audience), out);
        }
        self.announce(self.lobby, size, None, Some(id), out);
    }

    /// A client is gone (closed, reset, dropped): its room is told. `reason` is appended
    /// to the notice in parentheses. Ignored if `id` is not in the chat.
    pub fn disconnect(&mut self, id: ClientId, reason: Option<&str>, out: &mut impl Outbox) {
        self.waiting.remove(&id);
        let Some(room) = self.clients.get(&id).map(|c| c.room) else {
            return;
        };
        let room_name = self.rooms[room].name.clone();
        self.unlisten(id, out); // gone: it gets nothing more, whatever the bus says
        self.leave_room(id, out);
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        self.serials.remove(&client.serial);
        self.nicks.remove(&client.nick.to_ascii_lowercase());
        if self.shared() {
            out.presence(cluster::Presence::Gone { nick: &client.nick });
        }
        match reason {
            Some(reason) => compose(&mut self.line, &["* ", &client.nick, " left (", reason, ")"]),
            None => compose(&mut self.line, &["* ", &client.nick, " left"]),
        }
        self.announce_departure(room, &room_name, out);
    }

    /// One message (cleaned text) from a client: a chat line or a command.
    pub fn handle(&mut self, id: ClientId, text: &str, counters: &ServerCounters, out: &mut impl Outbox) {
        if !self.clients.contains_key(&id) {
            return;
        }
        match command::parse(text) {
            Ok(Command::Say(text)) => self.say(id, text, out),
            Ok(cmd) => self.run_command(id, cmd, counters, out),
            Err(err) => self.error_to(id, &err.to_string(), out),
        }
    }

    /// The server is stopping: everyone is told.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        for room in self.rooms.iter().map(|(id, _)| id).collect::<Vec<_>>() {
            out.to_room(self.members(room), None, SHUTDOWN_NOTICE);
        }
    }

    /// `<nick>: <text>` to the rest of the room. Blank text is ignored.
    fn say(&mut self, id: ClientId, text: &str, out: &mut impl Outbox) {
        if text.trim().is_empty() {
            return;
        }
        let client = &self.clients[&id];
        compose(&mut self.line, &[&client.nick, ": ", text]);
        self.relay_to_room(id, out);
    }

    /// Sends `self.line` to the sender's room, to the sender too only with `--echo`.
    fn relay_to_room(&mut self, id: ClientId, out: &mut impl Outbox) {
        self.messages_relayed += 1;
        let except = if self.config.echo { None } else { Some(id) };
        self.broadcast(self.clients[&id].room, except, out);
    }

    /// Sends `self.line` to a room: straight to its members, or, sharing a cluster, to
    /// the bus, which sequences it with every other server's and brings it back.
    fn broadcast(&mut self, room: RoomId, except: Option<ClientId>, out: &mut impl Outbox) {
        if self.shared() {
            let sender = except.and_then(|id| self.clients.get(&id)).map(|c| c.serial);
            out.publish(&self.rooms[room].name, RoomKind::Line, sender, &self.line);
        } else {
            out.to_room(self.members(room), except, &self.line);
        }
    }

    /// Sharing a cluster: publishes client `id`'s join or leave of `room` (with the
    /// notice in `self.line`); its own server acts on it when it comes back.
    fn publish_move(&mut self, id: ClientId, room: RoomId, kind: RoomKind, out: &mut impl Outbox) {
        let serial = self.clients.get(&id).map(|c| c.serial);
        if matches!(kind, RoomKind::Enter(_)) && serial.is_some() {
            self.rooms[room].arriving += 1;
        }
        let told_here = match kind {
            RoomKind::Enter(Audience::All | Audience::Others) | RoomKind::Leave { told: true } => {
                self.rooms[room].members.len()
            }
            _ => 0,
        };
        self.work += told_here as u64;
        out.publish(&self.rooms[room].name, kind, serial, &self.line);
    }

    /// Sends the presence notice in `self.line` (a join, a leave, a rename) to `room`,
    /// which has `size` members counting the client concerned. Above `--announce-limit`
    /// the room is not told, and only `confirm` (the client itself, where it would have
    /// been told) gets the notice, as its own confirmation.
    fn announce(
        &mut self,
        room: RoomId,
        size: usize,
        confirm: Option<ClientId>,
        except: Option<ClientId>,
        out: &mut impl Outbox,
    ) {
        if size <= self.config.announce_limit {
            self.broadcast(room, except, out);
        } else if let Some(id) = confirm {
            out.to_client(id, &self.line);
        }
    }

    /// Sends the leave notice in `self.line` to the room a client just left (`room`,
    /// called `name`). A room emptied here is gone, but sharing a cluster it may have
    /// members on other servers: they are told through the bus.
    fn announce_departure(&mut self, room: RoomId, name: &str, out: &mut impl Outbox) {
        if self.shared() {
            let size = self
                .rooms
                .get(room)
                .map_or(0, |r| r.residents.max(r.cluster_size))
                + 1; // it was one
            if size <= self.config.announce_limit {
                out.publish(name, RoomKind::Line, None, &self.line);
            }
        } else if self.rooms.contains(room) {
            let size = self.rooms[room].residents + 1; // it was a member
            self.announce(room, size, None, None, out);
        }
    }

    fn error_to(&mut self, id: ClientId, what: &str, out: &mut impl Outbox) {
        compose(&mut self.line, &["! ", what]);
        out.to_client(id, &self.line);
    }

    fn members(&self, room: RoomId) -> RoomMembers<'_> {
        let r = &self.rooms[room];
        RoomMembers {
            room,
            members: &r.members,
        }
    }

    fn unused_guest_nick(&mut self) -> String {
        loop {
            let nick = format!("guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.nicks.contains_key(&nick) {
                return nick;
            }
        }
    }

    /// The room called `name` (case-insensitively), created if it does not exist.
    fn room_named(&mut self, name: &str, out: &mut impl Outbox) -> RoomId {
        let key = name.to_ascii_lowercase();
        if let Some(&id) = self.room_ids.get(&key) {
            return id;
        }
        let id = self.rooms.insert(Room {
            name: name.to_string(),
            members: Vec::new(),
            residents: 0,
            cluster_size: 0,
            arriving: 0,
        });
        self.room_ids.insert(key, id);
        out.room_opened(name);
        id
    }

    /// Puts a client in a room (the lobby, or one it joins). Alone, it gets the room's
    /// messages from now on; sharing a cluster, once its join comes back from the bus.
    fn enter_room(&mut self, id: ClientId, room: RoomId, out: &mut impl Outbox) {
        self.rooms[room].residents += 1;
        let shared = self.shared();
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.room = room;
        if shared {
            out.presence(cluster::Presence::Joined {
                nick: &client.nick,
                room: &self.rooms[room].name,
            });
        } else {
            self.listen(id, room, out);
        }
    }

    /// Takes a client out of its room. Alone, it gets none of the room's messages from
    /// now on; sharing a cluster, once its leave comes back from the bus.
    fn leave_room(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some(room) = self.clients.get(&id).map(|c| c.room) else {
            return;
        };
        self.rooms[room].residents -= 1;
        if self.shared() {
            out.presence(cluster::Presence::Left {
                nick: &self.clients[&id].nick,
                room: &self.rooms[room].name,
            });
        } else {
            self.unlisten(id, out);
        }
        self.drop_if_unused(room, out);
    }

    /// Client `id` gets `room`'s messages from now on (and no other room's).
    fn listen(&mut self, id: ClientId, room: RoomId, out: &mut impl Outbox) {
        self.unlisten(id, out);
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let members = &mut self.rooms[room].members;
        members.push(id);
        client.listening = Some((room, members.len() - 1));
        out.entered(id, room);
    }

    /// Client `id` gets no room's messages from now on.
    fn unlisten(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some((room, slot)) = self.clients.get_mut(&id).and_then(|c| c.listening.take()) else {
            return;
        };
        out.left(id, room);
        let members = &mut self.rooms[room].members;
        members.swap_remove(slot);
        if let Some(&moved) = members.get(slot) {
            if let Some(c) = self.clients.get_mut(&moved) {
                c.listening = Some((room, slot));
            }
        }
        self.drop_if_unused(room, out);
    }

    /// The room's size for `--announce-limit`: its members here, or in the whole cluster
    /// as last counted, whichever is larger.
    fn room_size(&self, room: RoomId) -> usize {
        let r = &self.rooms[room];
        r.residents.max(r.cluster_size)
    }

    /// Deletes a room other than the lobby that nobody is in, listens to or is on the
    /// way to.
    fn drop_if_unused(&mut self, room: RoomId, out: &mut impl Outbox) {
        let Some(r) = self.rooms.get(room) else {
            return; // dropped already
        };
        if room != self.lobby && r.residents == 0 && r.members.is_empty() && r.arriving == 0 {
            let removed = self.rooms.remove(room);
            self.room_ids.remove(&removed.name.to_ascii_lowercase());
            out.room_closed(&removed.name);
        }
    }
}

/// Replaces the contents of `buf` with the concatenation of `parts`.
fn compose(buf: &mut String, parts: &[&str]) {
    buf.clear();
    for part in parts {
        buf.push_str(part);
    }
}

#[cfg(test)]
mod tests;
