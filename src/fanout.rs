//! One loop turn's output: every message encoded once per framing, and for each
//! recipient only a list of spans into that shared encoding.
//!
//! This is where fan-out gets its speed. A room broadcast costs O(1) when it is made: it
//! is encoded into the turn's arena (once per framing) and noted on the room's batch. At
//! the end of the turn each batch is resolved once for its members; a member that sent
//! nothing this turn gets the room's contiguous spans, usually one, so each recipient
//! ends up with a few spans and the event loop makes one `writev` per recipient per turn.
//!
//! Order per recipient is kept without resolving a whole room early. Each recipient
//! remembers how many entries of its room's batch it already has (its cursor). Anything
//! that must come after those entries for one client (a direct message, leaving the
//! room) first catches *that client* up: O(entries it has not seen), never O(members).
//! A client is in one room at a time and is caught up when it leaves, so at the end of
//! the turn each member's missing entries are in one batch only. Joining a room costs
//! O(1) here; a room's member list is copied once per turn, when its batch begins.
//!
//! Nothing here touches a socket; the event loop reads [`Fanout::pending`] and writes.

use crate::chat::{ClientId, Outbox, RoomId, RoomMembers};
use crate::framing::Framing;
use std::cell::OnceCell;
use std::rc::Rc;

/// A byte range in one framing's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// Bytes in the span.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True if the span holds no byte.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A room broadcast not yet resolved into per-member spans.
#[derive(Debug, Clone, Copy)]
struct Entry {
    except: Option<ClientId>,
    spans: [Span; 3],
}

/// A room's broadcasts this turn.
#[derive(Debug, Default)]
struct RoomBatch {
    /// Tells this batch from the room's earlier ones (and from other rooms'), so a
    /// recipient's cursor is only trusted for the batch it was set in.
    serial: u64,
    /// Everyone in the room when the batch began, then everyone who entered while it
    /// was open; members who left since (or entered twice) are sorted out on resolving.
    members: Vec<ClientId>,
    entries: Vec<Entry>,
}

impl RoomBatch {
    fn is_open(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// The output of the current loop turn (see the module docs).
#[derive(Debug, Default)]
pub struct Fanout {
    arenas: [Vec<u8>; 3],
    /// The arenas frozen for recipients that could not take everything at once.
    shared: [OnceCell<Rc<[u8]>>; 3],
    recipients: Vec<Recipient>,
    /// Recipients with pending spans this turn, each once.
    dirty: Vec<ClientId>,
    rooms: Vec<RoomBatch>,
    /// Rooms with an open batch, each once.
    dirty_rooms: Vec<RoomId>,
    /// Serial of the most recently opened batch.
    last_serial: u64,
    /// Clients the chat asked to close, in order.
    closes: Vec<ClientId>,
    /// Reused by [`Fanout::resolve_room`]: a batch's senders and merged runs.
    scratch_senders: Vec<ClientId>,
    scratch_runs: [Vec<Span>; 3],
    /// Recipients per framing: a room broadcast is encoded only for framings someone
    /// speaks.
    speakers: [usize; 3],
    /// The biggest arena of the turns since the last [`Fanout::shrink`].
    arena_peak: usize,
    /// About how many spans this turn's output will be, over all recipients.
    spans: usize,
}

impl Fanout {
    /// An empty fan-out.
    pub fn new() -> Self {
        Fanout::default()
    }

    /// Makes `id` a recipient that speaks `framing`.
    pub fn add_recipient(&mut self, id: ClientId, framing: Framing) {
        self.remove_recipient(id);
        if self.recipients.len() <= id {
            self.recipients.resize_with(id + 1, Recipient::default);
        }
        self.recipients[id] = Recipient {
            framing: Some(framing),
            ..Recipient::default()
        };
        self.speakers[framing.index()] += 1;
    }

    /// Stops delivering to `id`: what is pending for it this turn is dropped.
    pub fn remove_recipient(&mut self, id: ClientId) {
        if let Some(r) = self.recipients.get_mut(id) {
            if let Some(framing) = r.framing {
                self.speakers[framing.index()] -= 1;
            }
            *r = Recipient::default();
        }
    }

    /// Sends `bytes`, already in `id`'s framing (a WebSocket pong or close frame), to it
    /// after what it was sent so far.
    pub fn to_client_encoded(&mut self, id: ClientId, bytes: &[u8]) {
        self.catch_up(id);
        let Some(framing) = self.recipients.get(id).and_then(|r| r.framing) else {
            return;
        };
        let arena = &mut self.arenas[framing.index()];
        let span = Span {
            start: arena.len(),
            end: arena.len() + bytes.len(),
        };
        arena.extend_from_slice(bytes);
        self.spans += 1;
        let r = &mut self.recipients[id];
        r.direct_bytes += span.len();
        if r.push(span) {
            self.dirty.push(id);
        }
    }

    /// Resolves every room batch, so [`Fanout::dirty`] and [`Fanout::pending`] are complete.
    /// Smaller rooms are resolved first, so their members are written first: a small
    /// conversation does not wait behind a big room's fan-out in the same turn.
    pub fn finish_turn(&mut self) {
        let rooms = &self.rooms;
        self.dirty_rooms
            .sort_unstable_by_key(|&room| rooms[room].members.len());
        for i in 0..self.dirty_rooms.len() {
            self.resolve_room(self.dirty_rooms[i]);
        }
        self.dirty_rooms.clear();
    }

    /// Recipients with output this turn (call [`Fanout::finish_turn`] first).
    pub fn dirty(&self) -> &[ClientId] {
        &self.dirty
    }

    /// Clients the chat asked to close since the last [`Fanout::clear_turn`].
    pub fn closes(&self) -> &[ClientId] {
        &self.closes
    }

    /// The recipient's framing and its spans in that framing's arena.
    pub fn pending(&self, id: ClientId) -> Option<(Framing, &[Span])> {
        let r = self.recipients.get(id)?;
        Some((r.framing?, r.pending.as_slice()))
    }

    /// Bytes owed to `id` so far this turn, room messages included.
    pub fn pending_bytes(&mut self, id: ClientId) -> usize {
        self.catch_up(id);
        self.recipients.get(id).map_or(0, |r| r.pending_bytes)
    }

    /// Bytes addressed to `id` alone so far this turn: its replies and private messages.
    pub fn direct_bytes(&self, id: ClientId) -> usize {
        self.recipients.get(id).map_or(0, |r| r.direct_bytes)
    }

    /// About how many spans (separate pieces, one `iovec` each) this turn's output will
    /// be over all its recipients, so far. A room's broadcasts that lie back to back in
    /// the arena count once per member; each broadcast that cannot join the one before
    /// it (other output was encoded between them) counts once per member again. This is
    /// the fan-out work a turn costs beyond its bytes.
    pub fn span_count(&self) -> usize {
        self.spans
    }

    /// Bytes encoded so far this turn, in both framings.
    pub fn encoded_bytes(&self) -> usize {
        self.arenas.iter().map(Vec::len).sum()
    }

    /// This turn's encoded bytes for `framing`.
    pub fn arena(&self, framing: Framing) -> &[u8] {
        &self.arenas[framing.index()]
    }

    /// The arena for `framing` as a shared buffer that outlives the turn; made (copied)
    /// at most once per turn, and only if some recipient is behind.
    pub fn shared(&self, framing: Framing) -> Rc<[u8]> {
        let i = framing.index();
        Rc::clone(self.shared[i].get_or_init(|| Rc::from(&self.arenas[i][..])))
    }

    /// Forgets this turn's output; buffers keep their capacity for the next turn.
    pub fn clear_turn(&mut self) {
        for id in self.dirty.drain(..) {
            if let Some(r) = self.recipients.get_mut(id) {
                r.pending = SpanList::Empty;
                r.pending_bytes = 0;
                r.direct_bytes = 0;
            }
        }
        let used = self.encoded_bytes();
        self.arena_peak = self.arena_peak.max(used);
        for arena in &mut self.arenas {
            arena.clear();
        }
        for shared in &mut self.shared {
            shared.take();
        }
        self.closes.clear();
        self.spans = 0;
    }

    /// Gives back buffer capacity far above what the turns since the last call used (a
    /// burst grew it); returns the bytes given back. Call between turns, now and then.
    pub fn shrink(&mut self) -> usize {
        let keep = self.arena_peak.max(SHRINK_FLOOR);
        self.arena_peak = 0;
        let mut freed = 0;
        for arena in &mut self.arenas {
            freed += shrink_vec(arena, keep);
        }
        for batch in &mut self.rooms {
            let keep = SHRINK_FLOOR / std::mem::size_of::<ClientId>();
            freed += shrink_vec(&mut batch.members, keep) * std::mem::size_of::<ClientId>();
            freed += shrink_vec(&mut batch.entries, 0) * std::mem::size_of::<Entry>();
        }
        freed
    }

    fn encode(&mut self, framing: Framing, text: &str) -> Span {
        let arena = &mut self.arenas[framing.index()];
        let start = arena.len();
        framing.encode_into(text.as_bytes(), arena);
        Span {
            start,
            end: arena.len(),
        }
    }

    /// Delivers to `id` the entries of its room's open batch that it does not have yet,
    /// so that what is sent to it next comes after them.
    fn catch_up(&mut self, id: ClientId) {
        let Some(r) = self.recipients.get_mut(id) else {
            return;
        };
        let Some(batch) = r.room.and_then(|room| self.rooms.get(room)) else {
            return;
        };
        if !batch.is_open() || r.framing.is_none() {
            return;
        }
        let from = r.position_in(batch);
        if from == batch.entries.len() {
            return;
        }
        if deliver_entries(r, id, &batch.entries[from..]) {
            self.dirty.push(id);
        }
        r.cursor = (batch.serial, batch.entries.len());
    }

    /// Turns a room's batch into spans for each of its members.
    fn resolve_room(&mut self, room: RoomId) {
        let batch = &mut self.rooms[room];
        let senders = &mut self.scratch_senders;
        senders.clear();
        senders.extend(batch.entries.iter().filter_map(|e| e.except));
        senders.sort_unstable();
        senders.dedup();
        // Entries of one room are usually back to back in the arena: merge them into runs.
        let runs = &mut self.scratch_runs;
        for run in runs.iter_mut() {
            run.clear();
        }
        for entry in &batch.entries {
            for (run, &span) in runs.iter_mut().zip(&entry.spans) {
                append_span(run, span);
            }
        }
        for &member in &batch.members {
            let Some(r) = self.recipients.get_mut(member) else {
                continue;
            };
            let Some(framing) = r.framing.filter(|_| r.room == Some(room)) else {
                continue; // gone, or left (and was caught up then)
            };
            let from = r.position_in(batch);
            let mut woke = false;
            if from == 0 && senders.binary_search(&member).is_err() {
                for &span in &runs[framing.index()] {
                    woke |= r.push(span);
                }
            } else {
                woke = deliver_entries(r, member, &batch.entries[from..]);
            }
            r.cursor = (batch.serial, batch.entries.len());
            if woke {
                self.dirty.push(member);
            }
        }
        batch.entries.clear();
    }
}

/// Below this, buffers are never shrunk: the common turn fits without reallocating.
const SHRINK_FLOOR: usize = 64 * 1024;

/// Shrinks `v`'s capacity to `keep` (or its length) if it holds more than twice that;
/// returns the elements' worth of capacity given back.
fn shrink_vec<T>(v: &mut Vec<T>, keep: usize) -> usize {
    let keep = keep.max(v.len());
    let before = v.capacity();
    if before > 2 * keep {
        v.shrink_to(keep);
    }
    before - v.capacity()
}

/// Appends to `r` the spans of `entries` that are meant for `id`; true if `r` became dirty.
fn deliver_entries(r: &mut Recipient, id: ClientId, entries: &[Entry]) -> bool {
    let Some(framing) = r.framing else {
        return false;
    };
    let mut woke = false;
    for entry in entries.iter().filter(|e| e.except != Some(id)) {
        woke |= r.push(entry.spans[framing.index()]);
    }
    woke
}

impl Outbox for Fanout {
    fn to_client(&mut self, id: ClientId, text: &str) {
        // Room messages made earlier must reach this client before this one does.
        self.catch_up(id);
        let Some(framing) = self.recipients.get(id).and_then(|r| r.framing) else {
            return;
        };
        let span = self.encode(framing, text);
        self.spans += 1;
        let r = &mut self.recipients[id];
        r.direct_bytes += span.len();
        if r.push(span) {
            self.dirty.push(id);
        }
    }

    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        if room.members.iter().all(|&m| Some(m) == except) {
            return;
        }
        if self.rooms.len() <= room.room {
            self.rooms.resize_with(room.room + 1, RoomBatch::default);
        }
        let spans = Framing::ALL.map(|framing| match self.speakers[framing.index()] {
            0 => Span { start: 0, end: 0 }, // nobody to read it: not encoded
            _ => self.encode(framing, text),
        });
        let batch = &mut self.rooms[room.room];
        if !batch.is_open() {
            self.last_serial += 1;
            batch.serial = self.last_serial;
            batch.members.clear();
            batch.members.extend_from_slice(room.members);
            self.dirty_rooms.push(room.room);
        }
        let continues_run = batch
            .entries
            .last()
            .is_some_and(|last| last.spans.iter().zip(&spans).all(|(a, b)| a.end == b.start));
        if !continues_run {
            self.spans += batch.members.len();
        }
        batch.entries.push(Entry { except, spans });
    }

    fn entered(&mut self, id: ClientId, room: RoomId) {
        let Some(r) = self.recipients.get_mut(id) else {
            return;
        };
        r.room = Some(room);
        // Only an open batch needs telling: one that opens later copies the members.
        if let Some(batch) = self.rooms.get_mut(room).filter(|b| b.is_open()) {
            r.cursor = (batch.serial, batch.entries.len());
            batch.members.push(id);
        }
    }

    fn left(&mut self, id: ClientId, _room: RoomId) {
        self.catch_up(id);
        if let Some(r) = self.recipients.get_mut(id) {
            r.room = None;
        }
    }

    fn close(&mut self, id: ClientId) {
        self.closes.push(id);
    }
}

mod recipient;

use recipient::{append_span, Recipient, SpanList};

#[cfg(test)]
mod tests;
