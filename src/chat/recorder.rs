//! The simplest possible [`Outbox`]: every message is resolved to its recipients at once
//! and recorded as text. It is the chat's test double and the reference that the
//! batching [`crate::fanout::Fanout`] is checked against (property tests, fuzzing).

use super::{ClientId, Outbox, RoomId, RoomMembers};
use std::collections::HashMap;

/// Records, per client, every text it would receive, in order, and who was closed.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Texts received, per client.
    pub got: HashMap<ClientId, Vec<String>>,
    /// Clients the chat asked to close, in order.
    pub closes: Vec<ClientId>,
    /// Membership changes, in order: `(client, room, true)` for entering, `false` for leaving.
    pub moves: Vec<(ClientId, RoomId, bool)>,
}

impl Recorder {
    /// Everything `id` received since the last call.
    pub fn take(&mut self, id: ClientId) -> Vec<String> {
        self.got.remove(&id).unwrap_or_default()
    }
}

impl Outbox for Recorder {
    fn to_client(&mut self, id: ClientId, text: &str) {
        self.got.entry(id).or_default().push(text.to_string());
    }
    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        for &m in room.members.iter().filter(|&&m| Some(m) != except) {
            self.to_client(m, text);
        }
    }
    fn entered(&mut self, id: ClientId, room: RoomId) {
        self.moves.push((id, room, true));
    }
    fn left(&mut self, id: ClientId, room: RoomId) {
        self.moves.push((id, room, false));
    }
    fn close(&mut self, id: ClientId) {
        self.closes.push(id);
    }
}
