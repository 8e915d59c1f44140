//! What each `/command` does to the chat and who is told.

use super::{cluster, compose, Chat, ClientId, Outbox, ServerCounters};
use crate::cluster::bus::{Audience, RoomKind};
use crate::command::{is_valid_name, Command, MAX_NAME_LEN};
use std::cmp::Ordering;
use std::fmt::Write;

impl Chat {
    pub(super) fn run_command(
        &mut self,
        id: ClientId,
        cmd: Command<'_>,
        counters: &ServerCounters,
        out: &mut impl Outbox,
    ) {
        match cmd {
            Command::Say(text) => self.say(id, text, out),
            Command::Nick(name) => self.change_nick(id, name, out),
            Command::Who(prefix) => self.list_room(id, prefix, out),
            Command::Msg { to, text } => self.private_message(id, to, text, out),
            Command::Me(text) => {
                compose(&mut self.line, &["* ", &self.clients[&id].nick, " ", text]);
                self.relay_to_room(id, out);
            }
            Command::Join(name) => self.join(id, name, out),
            Command::Rooms => self.list_rooms(id, out),
            Command::Quit(reason) => {
                out.to_client(id, "* bye");
                self.disconnect(id, reason, out);
                out.close(id);
            }
            Command::Help => self.help(id, out),
            Command::Stats => self.stats(id, counters, out),
        }
    }

    /// `/nick NAME`: unique case-insensitively; a change of case alone is allowed.
    /// Sharing a cluster, a new nick is claimed there first: the client waits.
    fn change_nick(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if !is_valid_name(name) {
            let msg = format!("invalid nick '{name}': use 1-{MAX_NAME_LEN} letters, digits, _ or -");
            return self.error_to(id, &msg, out);
        }
        let current = &self.clients[&id].nick;
        if current == name {
            return self.error_to(id, &format!("you are already {name}"), out);
        }
        if self.shared() && !current.eq_ignore_ascii_case(name) {
            let waiting = cluster::Waiting::Nick(name.to_string());
            return self.wait_for_cluster(id, waiting, cluster::Query::Nick(name.to_string()), out);
        }
        self.change_nick_here(id, name, out);
    }

    /// `/nick NAME` as this server alone decides it.
    pub(super) fn change_nick_here(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if self
            .nicks
            .get(&name.to_ascii_lowercase())
            .is_some_and(|&owner| owner != id)
        {
            return self.error_to(id, &format!("nick {name} is taken"), out);
        }
        self.rename(id, name, out);
    }

    /// Gives client `id` the nick `name` (free, or claimed for it) and tells its room.
    pub(super) fn rename(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut client.nick, name.to_string());
        let room = client.room;
        self.nicks.remove(&old.to_ascii_lowercase());
        self.nicks.insert(name.to_ascii_lowercase(), id);
        if self.shared() {
            out.presence(cluster::Presence::Renamed {
                old: &old,
                new: name,
                room: &self.rooms[room].name,
            });
        }
        compose(&mut self.line, &["* ", &old, " is now ", name]);
        let size = self.room_size(room);
        self.announce(room, size, Some(id), None, out);
    }

    /// `/who [PREFIX]`: the current room's nicks (those starting with PREFIX, ignoring
    /// case), sorted; at most [`WHO_LIMIT`] of them, then how many more there are.
    /// Sharing a cluster, the room's members on every server: the client waits.
    fn list_room(&mut self, id: ClientId, prefix: Option<&str>, out: &mut impl Outbox) {
        if self.shared() {
            let room = self.rooms[self.clients[&id].room].name.clone();
            let prefix = prefix.map(str::to_string);
            let query = cluster::Query::Who {
                room,
                prefix: prefix.clone(),
            };
            return self.wait_for_cluster(id, cluster::Waiting::Who(prefix), query, out);
        }
        self.list_room_here(id, prefix, out);
    }

    /// `/who` among this server's members of the room.
    pub(super) fn list_room_here(&mut self, id: ClientId, prefix: Option<&str>, out: &mut impl Outbox) {
        let room = &self.rooms[self.clients[&id].room];
        self.work += room.members.len() as u64;
        let nicks = room
            .members
            .iter()
            .filter_map(|m| self.clients.get(m))
            .map(|c| c.nick.as_str());
        who_line(&mut self.line, nicks, prefix);
        out.to_client(id, &self.line);
    }

    /// The `/who` reply from the cluster's list of the room's nicks.
    pub(super) fn who_reply(
        &mut self,
        id: ClientId,
        nicks: &[String],
        prefix: Option<&str>,
        out: &mut impl Outbox,
    ) {
        self.work += nicks.len() as u64;
        who_line(&mut self.line, nicks.iter().map(String::as_str), prefix);
        out.to_client(id, &self.line);
    }

    /// `/msg NAME TEXT`: to the target, with a copy to the sender. Sharing a cluster, a
    /// nick not on this server is looked up there: the sender waits for its copy.
    fn private_message(&mut self, id: ClientId, to: &str, text: &str, out: &mut impl Outbox) {
        let Some(&target) = self.nicks.get(&to.to_ascii_lowercase()) else {
            if self.shared() {
                let waiting = cluster::Waiting::Private {
                    to: to.to_string(),
                    text: text.to_string(),
                };
                let query = cluster::Query::Private {
                    to: to.to_string(),
                    from: self.clients[&id].nick.clone(),
                    text: text.to_string(),
                };
                return self.wait_for_cluster(id, waiting, query, out);
            }
            return self.error_to(id, &format!("no such nick: {to}"), out);
        };
        self.messages_relayed += 1;
        let target_nick = &self.clients[&target].nick;
        compose(
            &mut self.line,
            &["[pm from ", &self.clients[&id].nick, "] ", text],
        );
        out.to_client(target, &self.line);
        compose(&mut self.line, &["[pm to ", target_nick, "] ", text]);
        out.to_client(id, &self.line);
    }

    /// `/join ROOM`: the old room is told the client left, the new one (the client
    /// included, as confirmation) that it joined.
    fn join(&mut self, id: ClientId, name: &str, out: &mut impl Outbox) {
        if !is_valid_name(name) {
            let msg = format!("invalid room name '{name}': use 1-{MAX_NAME_LEN} letters, digits, _ or -");
            return self.error_to(id, &msg, out);
        }
        let old = self.clients[&id].room;
        if self.rooms[old].name.eq_ignore_ascii_case(name) {
            return self.error_to(id, &format!("you are already in {}", self.rooms[old].name), out);
        }
        let old_name = self.rooms[old].name.clone();
        let nick = self.clients[&id].nick.clone();
        let shared = self.shared();
        if shared {
            // Its leave of the old room and its join of the new one go through the bus,
            // in this order: it keeps getting the old room's messages until its leave
            // comes back, and gets the new room's from its join on.
            let told = self.room_size(old) <= self.config.announce_limit;
            compose(&mut self.line, &["* ", &nick, " left"]);
            self.publish_move(id, old, RoomKind::Leave { told }, out);
        }
        self.leave_room(id, out);
        if !shared {
            compose(&mut self.line, &["* ", &nick, " left"]);
            self.announce_departure(old, &old_name, out);
        }
        let new = self.room_named(name, out);
        self.enter_room(id, new, out);
        compose(&mut self.line, &["* ", &nick, " joined"]);
        let size = self.room_size(new);
        if shared {
            let audience = if size <= self.config.announce_limit {
                Audience::All
            } else {
                Audience::Sender
            };
            return self.publish_move(id, new, RoomKind::Enter(audience), out);
        }
        self.announce(new, size, Some(id), None, out);
    }

    /// `/rooms`: every room with its member count, sorted by name. Sharing a cluster,
    /// the rooms of every server: the client waits.
    fn list_rooms(&mut self, id: ClientId, out: &mut impl Outbox) {
        if self.shared() {
            return self.wait_for_cluster(id, cluster::Waiting::Rooms, cluster::Query::Rooms, out);
        }
        self.list_rooms_here(id, out);
    }

    /// `/rooms` on this server.
    pub(super) fn list_rooms_here(&mut self, id: ClientId, out: &mut impl Outbox) {
        self.work += self.rooms.len() as u64;
        let rooms = self
            .rooms
            .iter()
            .map(|(_, r)| (r.name.as_str(), r.members.len() as u64));
        rooms_line(&mut self.line, rooms.collect());
        out.to_client(id, &self.line);
    }

    /// The `/rooms` reply from the cluster's rooms and counts.
    pub(super) fn rooms_reply(&mut self, id: ClientId, rooms: &[(String, u64)], out: &mut impl Outbox) {
        self.work += rooms.len() as u64;
        rooms_line(
            &mut self.line,
            rooms.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
        );
        out.to_client(id, &self.line);
    }

    fn help(&mut self, id: ClientId, out: &mut impl Outbox) {
        out.to_client(
            id,
            "* commands: /nick NAME, /who, /msg NAME TEXT, /me TEXT, /join ROOM, /rooms, \
             /quit [TEXT], /help, /stats; //text sends /text",
        );
        let limits = format!(
            "* limits: messages up to {} bytes; nicks and rooms are 1-{MAX_NAME_LEN} of A-Z a-z 0-9 _ -, \
             unique ignoring case",
            self.config.max_message
        );
        out.to_client(id, &limits);
    }

    /// `/stats`. Sharing a cluster, clients and rooms are the cluster's: the client waits.
    fn stats(&mut self, id: ClientId, counters: &ServerCounters, out: &mut impl Outbox) {
        if self.shared() {
            let waiting = cluster::Waiting::Stats(counters.clone());
            return self.wait_for_cluster(id, waiting, cluster::Query::Stats, out);
        }
        let (clients, rooms) = (self.clients.len() as u64, self.rooms.len() as u64);
        self.stats_reply(id, clients, rooms, counters, out);
    }

    /// The `/stats` line with these counts of clients and rooms.
    pub(super) fn stats_reply(
        &mut self,
        id: ClientId,
        clients: u64,
        rooms: u64,
        counters: &ServerCounters,
        out: &mut impl Outbox,
    ) {
        let text = format!(
            "* stats: uptime {}s, clients {}, connecting {}, rooms {}, messages relayed {}, bytes out {}, slow clients dropped {}",
            counters.uptime.as_secs(),
            clients,
            counters.connecting,
            rooms,
            self.messages_relayed,
            counters.bytes_out,
            counters.slow_dropped
        );
        out.to_client(id, &text);
    }
}

/// Names listed by one `/who` at most.
pub const WHO_LIMIT: usize = 100;

/// Composes a `/who` reply into `line` from the room's nicks: those matching `prefix`,
/// sorted, at most [`WHO_LIMIT`]. The first ones are picked in O(members), so a big room
/// costs no full sort.
fn who_line<'a>(line: &mut String, nicks: impl Iterator<Item = &'a str>, prefix: Option<&str>) {
    let matches = |nick: &str| prefix.is_none_or(|p| starts_with_ignoring_ascii_case(nick, p));
    let mut nicks: Vec<&str> = nicks.filter(|nick| matches(nick)).collect();
    let total = nicks.len();
    if total > WHO_LIMIT {
        nicks.select_nth_unstable_by(WHO_LIMIT, |a, b| cmp_ignoring_ascii_case(a, b));
        nicks.truncate(WHO_LIMIT);
    }
    nicks.sort_unstable_by(|a, b| cmp_ignoring_ascii_case(a, b));
    let count = total.to_string();
    match prefix {
        Some(prefix) => compose(line, &["* online (", &count, " matching ", prefix, ")"]),
        None => compose(line, &["* online (", &count, ")"]),
    }
    if !nicks.is_empty() {
        line.push_str(": ");
        join_into(line, nicks.into_iter());
    }
    if total > WHO_LIMIT {
        let _ = write!(line, " and {} more", total - WHO_LIMIT);
    }
}

/// Composes a `/rooms` reply into `line`: the rooms sorted by name, with member counts.
fn rooms_line(line: &mut String, mut rooms: Vec<(&str, u64)>) {
    rooms.sort_unstable_by(|a, b| cmp_ignoring_ascii_case(a.0, b.0));
    let count = rooms.len().to_string();
    compose(line, &["* rooms (", &count, "): "]);
    for (i, (name, members)) in rooms.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(line, "{sep}{name} ({members})");
    }
}

/// True if `name` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignoring_ascii_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len() && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Orders names as their lower-case forms would, without making them (a `/who` in a big
/// room sorts thousands of nicks).
fn cmp_ignoring_ascii_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|b| b.to_ascii_lowercase())
        .cmp(b.bytes().map(|b| b.to_ascii_lowercase()))
}

/// Appends `items` to `buf`, separated by `, `.
fn join_into<'a>(buf: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            buf.push_str(", ");
        }
        buf.push_str(item);
    }
}
