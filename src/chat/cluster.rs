//! The chat's side of a cluster (`--cluster`): what it asks the other servers, what they
//! answer, and what they send it.
//!
//! Still pure: the chat never sees Redis. Sharing a cluster, a room broadcast goes to
//! [`Outbox::publish`] and comes back (from this server or any other, in the one order
//! the bus gives) through [`Chat::deliver_room`]; a request that needs the cluster's
//! state (a guest number, a nick claim, `/who`, `/rooms`, `/stats`, a private message to
//! someone elsewhere) goes to [`Outbox::ask`], and the client waits (the event loop
//! handles nothing else from it) until [`Chat::answered`]. Membership changes are told
//! to [`Outbox::presence`] so the shared state follows. While the link is down
//! ([`Chat::set_cluster_up`]) everything is local, exactly as without a cluster.

use super::{compose, Chat, ClientId, Outbox, RoomId, ServerCounters};
use crate::cluster::bus::{Audience, RoomKind};

/// A question for the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A fresh guest nick (a cluster-wide number), claimed, and how many are online.
    Guest,
    /// Claim this nick for the client.
    Nick(String),
    /// The nicks in this room, on every server (those starting with the prefix).
    Who {
        /// The room's name.
        room: String,
        /// Only nicks starting with this, ignoring case.
        prefix: Option<String>,
    },
    /// Every room with its member count.
    Rooms,
    /// Clients and rooms in the whole cluster.
    Stats,
    /// A private message for a nick that is not on this server.
    Private {
        /// The nick as typed.
        to: String,
        /// The sender's nick.
        from: String,
        /// The message.
        text: String,
    },
}

/// The cluster's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// For [`Query::Guest`]: the claimed nick, and the clients online with it.
    Guest {
        /// The nick.
        nick: String,
        /// Clients online in the whole cluster.
        online: u64,
    },
    /// For [`Query::Nick`]: whether the nick was free (and is now the client's).
    Nick {
        /// The nick asked for.
        name: String,
        /// True if it is the client's now.
        claimed: bool,
    },
    /// For [`Query::Who`]: the nicks.
    Names(Vec<String>),
    /// For [`Query::Rooms`]: room names with member counts.
    Rooms(Vec<(String, u64)>),
    /// For [`Query::Stats`].
    Stats {
        /// Clients online.
        clients: u64,
        /// Rooms with members.
        rooms: u64,
    },
    /// For [`Query::Private`]: the nick as its owner spells it, if someone has it.
    Private(Option<String>),
    /// The link went down before the answer came: the chat answers from what this
    /// server knows, as it would alone.
    Unavailable,
}

/// A change in membership the shared state must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence<'a> {
    /// `nick` is in `room` now.
    Joined {
        /// The client's nick.
        nick: &'a str,
        /// The room's name.
        room: &'a str,
    },
    /// `nick` is no longer in `room`.
    Left {
        /// The client's nick.
        nick: &'a str,
        /// The room's name.
        room: &'a str,
    },
    /// The client called `old` is called `new` now (its claim on `new` is done).
    Renamed {
        /// The nick given up.
        old: &'a str,
        /// The nick taken.
        new: &'a str,
        /// Its room.
        room: &'a str,
    },
    /// The client called `nick` is gone: its nick is free.
    Gone {
        /// The nick.
        nick: &'a str,
    },
}

/// A client as the cluster knows it (see [`Chat::members_snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// The client.
    pub id: ClientId,
    /// Its serial number (its name on the bus).
    pub serial: u64,
    /// Its nick.
    pub nick: String,
    /// Its room's name.
    pub room: String,
}

/// What a client waits for.
#[derive(Debug, Clone)]
pub(super) enum Waiting {
    Guest,
    Nick(String),
    Who(Option<String>),
    Rooms,
    Stats(ServerCounters),
    Private { to: String, text: String },
}

impl Chat {
    /// True when rooms and nicks are shared with other servers right now.
    pub(super) fn shared(&self) -> bool {
        self.config.cluster && self.cluster_up
    }

    /// The link to the other servers came up or went down. Requests still waiting are
    /// answered by the event loop ([`Answer::Unavailable`] when it went down). Down,
    /// joins and leaves still on their way through the bus never come back: every client
    /// listens to its own room from now on, as it would alone, and rooms kept for joins on
    /// their way are dropped if nobody else needs them.
    pub fn set_cluster_up(&mut self, up: bool, out: &mut impl Outbox) {
        self.cluster_up = up;
        if up {
            return;
        }
        let moved: Vec<(ClientId, RoomId)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.listening.map(|(r, _)| r) != Some(c.room))
            .map(|(&id, c)| (id, c.room))
            .collect();
        for (id, room) in moved {
            self.listen(id, room, out);
        }
        let arrived: Vec<RoomId> = self
            .rooms
            .iter_mut()
            .filter(|(_, r)| r.arriving > 0)
            .map(|(id, r)| {
                r.arriving = 0;
                id
            })
            .collect();
        for room in arrived {
            self.drop_if_unused(room, out);
        }
    }

    /// Clients whose request waits for the cluster.
    pub fn waiting_clients(&self) -> Vec<ClientId> {
        self.waiting.keys().copied().collect()
    }

    /// Every client in the chat with its serial number, nick and room's name: what this
    /// server has to claim again when the cluster comes back.
    pub fn members_snapshot(&self) -> Vec<Member> {
        self.clients
            .iter()
            .map(|(&id, c)| Member {
                id,
                serial: c.serial,
                nick: c.nick.clone(),
                room: self.rooms[c.room].name.clone(),
            })
            .collect()
    }

    /// Every client in the chat (to tell them all that the link is lost or back).
    pub fn client_ids(&self) -> Vec<ClientId> {
        self.clients.keys().copied().collect()
    }

    /// While the link was down another server gave `old` to someone else: client `id`
    /// is now `new` (claimed for it), is told why, and its room sees the rename.
    pub fn replace_nick(&mut self, id: ClientId, old: &str, new: &str, out: &mut impl Outbox) {
        let Some(client) = self.clients.get_mut(&id).filter(|c| c.nick == old) else {
            return out.presence(Presence::Gone { nick: new }); // renamed or gone meanwhile
        };
        client.nick = new.to_string();
        let room = client.room;
        self.nicks.remove(&old.to_ascii_lowercase());
        self.nicks.insert(new.to_ascii_lowercase(), id);
        let room_name = &self.rooms[room].name;
        out.presence(Presence::Joined {
            nick: new,
            room: room_name,
        });
        compose(
            &mut self.line,
            &[
                "! nick ",
                old,
                " was taken on another server while the cluster link was down; you are now ",
                new,
            ],
        );
        out.to_client(id, &self.line);
        compose(&mut self.line, &["* ", old, " is now ", new]);
        let size = self.room_size(room);
        self.announce(room, size, None, Some(id), out);
    }

    /// A room message from the bus, in the room's one order. `sender` is the serial
    /// number of the client that sent it if that client is (or was) on this server, and
    /// `None` for another server's message. A join or leave of one of ours takes effect
    /// here, at its place in the sequence.
    pub fn deliver_room(
        &mut self,
        room: &str,
        kind: RoomKind,
        sender: Option<u64>,
        text: &str,
        out: &mut impl Outbox,
    ) {
        let ours = sender.is_some();
        let sender = sender.and_then(|serial| self.serials.get(&serial).copied());
        let Some(&room) = self.room_ids.get(&room.to_ascii_lowercase()) else {
            return; // nobody here is in it, listens to it or is on the way to it
        };
        match kind {
            RoomKind::Line => out.to_room(self.members(room), sender, text),
            RoomKind::Enter(audience) => {
                if ours {
                    let arrival = &mut self.rooms[room].arriving;
                    *arrival = arrival.saturating_sub(1);
                }
                if let Some(id) = sender {
                    self.listen(id, room, out);
                }
                match audience {
                    Audience::All => out.to_room(self.members(room), None, text),
                    Audience::Others => out.to_room(self.members(room), sender, text),
                    Audience::Sender => sender.into_iter().for_each(|id| out.to_client(id, text)),
                    Audience::Nobody => {}
                }
                self.drop_if_unused(room, out); // its client is gone
            }
            RoomKind::Leave { told } => {
                let listens_here = |c: &super::Client| c.listening.is_some_and(|(r, _)| r == room);
                if let Some(id) = sender.filter(|id| self.clients.get(id).is_some_and(listens_here)) {
                    self.unlisten(id, out);
                }
                if told && self.rooms.contains(room) {
                    out.to_room(self.members(room), None, text);
                }
            }
        }
    }

    /// Redis counted `members` in the room called `room` on every server (after a join
    /// or leave of one of ours): the announce limit is judged by it from now on.
    pub fn room_counted(&mut self, room: &str, members: usize) {
        if let Some(&id) = self.room_ids.get(&room.to_ascii_lowercase()) {
            self.rooms[id].cluster_size = members;
        }
    }

    /// A private message from another server, for `to` if that nick is here.
    pub fn deliver_private(&mut self, from: &str, to: &str, text: &str, out: &mut impl Outbox) {
        if let Some(&target) = self.nicks.get(&to.to_ascii_lowercase()) {
            compose(&mut self.line, &["[pm from ", from, "] ", text]);
            out.to_client(target, &self.line);
        }
    }

    /// The cluster answered client `id` (or could not): its request is completed.
    pub fn answered(&mut self, id: ClientId, answer: Answer, out: &mut impl Outbox) {
        let Some(waiting) = self.waiting.remove(&id) else {
            // It left meanwhile: a nick claimed for it is nobody's.
            match &answer {
                Answer::Guest { nick, .. }
                | Answer::Nick {
                    name: nick,
                    claimed: true,
                } => out.presence(Presence::Gone { nick }),
                _ => {}
            }
            return;
        };
        match (waiting, answer) {
            (Waiting::Guest, Answer::Guest { nick, online }) => self.admit(id, nick, online, out),
            (Waiting::Guest, _) => {
                let nick = self.unused_guest_nick();
                let online = self.clients.len() as u64 + 1;
                self.admit(id, nick, online, out);
            }
            (Waiting::Nick(_), Answer::Nick { name, claimed: true }) => self.rename(id, &name, out),
            (Waiting::Nick(name), Answer::Nick { claimed: false, .. }) => {
                self.error_to(id, &format!("nick {name} is taken"), out)
            }
            (Waiting::Nick(name), _) => self.change_nick_here(id, &name, out),
            (Waiting::Who(prefix), Answer::Names(names)) => {
                self.who_reply(id, &names, prefix.as_deref(), out)
            }
            (Waiting::Who(prefix), _) => self.list_room_here(id, prefix.as_deref(), out),
            (Waiting::Rooms, Answer::Rooms(rooms)) => self.rooms_reply(id, &rooms, out),
            (Waiting::Rooms, _) => self.list_rooms_here(id, out),
            (Waiting::Stats(counters), Answer::Stats { clients, rooms }) => {
                self.stats_reply(id, clients, rooms, &counters, out);
            }
            (Waiting::Stats(counters), _) => {
                let (clients, rooms) = (self.clients.len() as u64, self.rooms.len() as u64);
                self.stats_reply(id, clients, rooms, &counters, out);
            }
            (Waiting::Private { text, .. }, Answer::Private(Some(nick))) => {
                self.messages_relayed += 1;
                compose(&mut self.line, &["[pm to ", &nick, "] ", &text]);
                out.to_client(id, &self.line);
            }
            (Waiting::Private { to, .. }, _) => self.error_to(id, &format!("no such nick: {to}"), out),
        }
    }

    /// Sharing a cluster, a request that needs its answer: the client waits.
    pub(super) fn wait_for_cluster(
        &mut self,
        id: ClientId,
        waiting: Waiting,
        query: Query,
        out: &mut impl Outbox,
    ) {
        self.waiting.insert(id, waiting);
        out.ask(id, query);
    }

    /// True if client `id` waits for the cluster (the event loop handles nothing more
    /// from it until the answer).
    pub fn is_waiting(&self, id: ClientId) -> bool {
        self.waiting.contains_key(&id)
    }
}

#[cfg(test)]
mod tests;
