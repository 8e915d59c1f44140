//! Which room channels this server subscribes to, and what waits for a subscription.
//!
//! A server subscribes to the channel of each room that exists on it (a room exists
//! while someone here is in it, listens to it, or is on the way to it), so Redis sends
//! a room's messages only to the servers that have its members. A room's first join
//! here must not reach Redis before the subscription does: the join would come back to
//! the other servers but not to this one, and its client would never start listening.
//! The subscription goes on the subscription connection and the join's `PUBLISH` on the
//! command connection, which Redis does not order between each other, so every
//! `PUBLISH` to a room whose subscription is not confirmed yet waits here, in order,
//! and goes out when Redis confirms it (one round trip, once per room).
//!
//! Pure bookkeeping: the caller sends the `SUBSCRIBE`/`UNSUBSCRIBE` commands and the
//! commands released here.

use std::collections::HashMap;

/// One room's subscription.
#[derive(Debug, Default)]
struct Channel {
    /// The room exists here (it should be subscribed).
    open: bool,
    /// `SUBSCRIBE`s sent on the current connection, and confirmations received.
    requested: u32,
    confirmed: u32,
    /// Encoded `PUBLISH` commands for this room, waiting for the confirmation, and how
    /// many.
    waiting: Vec<u8>,
    waiting_count: usize,
}

impl Channel {
    /// Subscribed, with every `SUBSCRIBE` sent confirmed.
    fn ready(&self) -> bool {
        self.open && self.requested > 0 && self.confirmed == self.requested
    }
}

/// What the caller must do after a change.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Send `SUBSCRIBE` for the room's channel.
    Subscribe,
    /// Send `UNSUBSCRIBE` for the room's channel.
    Unsubscribe,
}

/// The rooms (lower case) this server subscribes to, while its link is up or not.
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: HashMap<String, Channel>,
    /// The link is connected: subscriptions are sent now (else at the next connection).
    connected: bool,
}

impl Subscriptions {
    /// No rooms yet (the lobby is opened by the caller like any room).
    pub fn new() -> Self {
        Self::default()
    }

    /// The room `room` exists here now.
    pub fn open(&mut self, room: &str) -> Action {
        let channel = self.channels.entry(room.to_ascii_lowercase()).or_default();
        if channel.open {
            return Action::None;
        }
        channel.open = true;
        if !self.connected {
            return Action::None;
        }
        channel.requested += 1;
        Action::Subscribe
    }

    /// The room `room` no longer exists here.
    pub fn close(&mut self, room: &str) -> Action {
        let key = room.to_ascii_lowercase();
        let Some(channel) = self.channels.get_mut(&key) else {
            return Action::None;
        };
        if !channel.open {
            return Action::None;
        }
        channel.open = false;
        channel.waiting.clear(); // nothing can wait for a room that nobody is on the way to
        channel.waiting_count = 0;
        if channel.requested == channel.confirmed {
            self.channels.remove(&key);
        }
        if self.connected {
            Action::Unsubscribe
        } else {
            Action::None
        }
    }

    /// A `PUBLISH` for `room`: `true` if it may go now; `false` if it was kept (in
    /// `command`, which is taken) until the room's subscription is confirmed.
    pub fn may_publish(&mut self, room: &str, command: &mut Vec<u8>) -> bool {
        // On every room message: no allocation for a name already in lower case.
        let key = if room.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(room.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(room)
        };
        match self.channels.get_mut(key.as_ref()) {
            Some(channel) if channel.open && !channel.ready() => {
                channel.waiting.append(command);
                channel.waiting_count += 1;
                false
            }
            _ => true, // subscribed, or a room that does not exist here
        }
    }

    /// Redis confirmed a `SUBSCRIBE` to `room`'s channel: the commands that waited for
    /// it (appended to `out`) and how many, once every `SUBSCRIBE` sent is confirmed.
    pub fn confirmed(&mut self, room: &str, out: &mut Vec<u8>) -> usize {
        let key = room.to_ascii_lowercase();
        let Some(channel) = self.channels.get_mut(&key) else {
            return 0;
        };
        channel.confirmed += 1;
        if !channel.open {
            if channel.confirmed >= channel.requested {
                self.channels.remove(&key);
            }
            return 0;
        }
        if !channel.ready() {
            return 0;
        }
        out.append(&mut channel.waiting);
        std::mem::take(&mut channel.waiting_count)
    }

    /// A new connection: every open room is to be subscribed (their names are
    /// returned, lower case), and nothing sent on the old one counts.
    pub fn connected(&mut self) -> Vec<String> {
        self.connected = true;
        self.channels.retain(|_, c| c.open);
        self.channels
            .iter_mut()
            .map(|(room, channel)| {
                channel.requested = 1;
                channel.confirmed = 0;
                room.clone()
            })
            .collect()
    }

    /// The link is lost: what waited is lost with it (as unsent commands are), and
    /// nothing is subscribed until the next connection.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.channels.retain(|_, c| c.open);
        for channel in self.channels.values_mut() {
            channel.requested = 0;
            channel.confirmed = 0;
            channel.waiting.clear();
            channel.waiting_count = 0;
        }
    }
}

#[cfg(test)]
mod tests;
