//! One loop turn's output: every message encoded once per framing, and for each
//! recipient only a list of spans into that shared encoding.
//!
//! This is where fan-out gets its speed. A room broadcast costs O(1) when it is made: it
//! is encoded into the turn's arena (once per framing) and noted on the room. Only when
//! the turn ends, or when the room's membership or a direct message would change the
//! order, is the room's batch resolved per member; a member that sent nothing this turn
//! gets the room's contiguous spans, usually one, so each recipient ends up with a few
//! spans and the event loop makes one `writev` per recipient per turn.
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

/// A room broadcast not yet resolved into per-member spans.
#[derive(Debug, Clone, Copy)]
struct Entry {
    except: Option<ClientId>,
    spans: [Span; 2],
}

/// A room's broadcasts this turn, with the membership they were made for.
#[derive(Debug, Default)]
struct RoomBatch {
    version: u64,
    members: Vec<ClientId>,
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Recipient {
    /// `None` until the client's framing is known; such clients get nothing.
    framing: Option<Framing>,
    pending: SpanList,
}

/// One recipient's spans this turn. Most recipients get exactly one span (their room's
/// run), so it lives inline; only a second, separate span allocates, and that storage is
/// freed with the turn, so 10,000 idle connections hold no span buffers.
#[derive(Debug, Default)]
enum SpanList {
    #[default]
    Empty,
    One([Span; 1]),
    Many(Vec<Span>),
}

impl SpanList {
    fn as_slice(&self) -> &[Span] {
        match self {
            SpanList::Empty => &[],
            SpanList::One(one) => one,
            SpanList::Many(many) => many,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, SpanList::Empty)
    }

    /// Appends `span`, extending the last one when they touch.
    fn push(&mut self, span: Span) {
        match self {
            SpanList::Empty => *self = SpanList::One([span]),
            SpanList::One([last]) if last.end == span.start => last.end = span.end,
            SpanList::One([last]) => *self = SpanList::Many(vec![*last, span]),
            SpanList::Many(many) => append_span(many, span),
        }
    }
}

/// The output of the current loop turn (see the module docs).
#[derive(Debug, Default)]
pub struct Fanout {
    arenas: [Vec<u8>; 2],
    /// The arenas frozen for recipients that could not take everything at once.
    shared: [OnceCell<Rc<[u8]>>; 2],
    recipients: Vec<Recipient>,
    /// Recipients with pending spans this turn, each once.
    dirty: Vec<ClientId>,
    rooms: Vec<RoomBatch>,
    /// Rooms with unresolved entries, each once, oldest batch first.
    dirty_rooms: Vec<RoomId>,
    /// Clients the chat asked to close, in order.
    closes: Vec<ClientId>,
    /// Reused by [`Fanout::resolve_room`]: a batch's senders and merged runs.
    scratch_senders: Vec<ClientId>,
    scratch_runs: [Vec<Span>; 2],
}

impl Fanout {
    /// An empty fan-out.
    pub fn new() -> Self {
        Fanout::default()
    }

    /// Makes `id` a recipient that speaks `framing`.
    pub fn add_recipient(&mut self, id: ClientId, framing: Framing) {
        if self.recipients.len() <= id {
            self.recipients.resize_with(id + 1, Recipient::default);
        }
        self.recipients[id] = Recipient {
            framing: Some(framing),
            pending: SpanList::Empty,
        };
    }

    /// Stops delivering to `id`: what is pending for it is dropped.
    pub fn remove_recipient(&mut self, id: ClientId) {
        self.resolve_rooms();
        if let Some(r) = self.recipients.get_mut(id) {
            *r = Recipient::default();
        }
    }

    /// Resolves every room batch, so [`Fanout::dirty`] and [`Fanout::pending`] are complete.
    pub fn finish_turn(&mut self) {
        self.resolve_rooms();
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
            }
        }
        for arena in &mut self.arenas {
            arena.clear();
        }
        for shared in &mut self.shared {
            shared.take();
        }
        self.closes.clear();
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

    fn push_span(&mut self, id: ClientId, span: Span) {
        let Some(r) = self.recipients.get_mut(id) else {
            return;
        };
        if r.pending.is_empty() {
            self.dirty.push(id);
        }
        r.pending.push(span);
    }

    /// Resolves every room batch, oldest first. A client that moved between rooms this
    /// turn is in the old room's batch and in a newer batch of the new room, so batch
    /// age is the order it must see them in; for the same reason no batch is ever
    /// resolved alone while an older one waits.
    fn resolve_rooms(&mut self) {
        for i in 0..self.dirty_rooms.len() {
            self.resolve_room(self.dirty_rooms[i]);
        }
        self.dirty_rooms.clear();
    }

    /// Turns a room's batch into spans for each member that was in it.
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
            let Some(framing) = r.framing else { continue };
            let f = framing.index();
            let was_idle = r.pending.is_empty();
            if senders.binary_search(&member).is_err() {
                for &span in &runs[f] {
                    r.pending.push(span);
                }
            } else {
                for entry in batch.entries.iter().filter(|e| e.except != Some(member)) {
                    r.pending.push(entry.spans[f]);
                }
            }
            if was_idle && !r.pending.is_empty() {
                self.dirty.push(member);
            }
        }
        batch.entries.clear();
    }
}

/// Appends `span` to `spans`, extending the last one when they touch.
fn append_span(spans: &mut Vec<Span>, span: Span) {
    match spans.last_mut() {
        Some(last) if last.end == span.start => last.end = span.end,
        _ => spans.push(span),
    }
}

impl Outbox for Fanout {
    fn to_client(&mut self, id: ClientId, text: &str) {
        // Room batches made earlier must reach this client before this message does.
        self.resolve_rooms();
        let Some(framing) = self.recipients.get(id).and_then(|r| r.framing) else {
            return;
        };
        let span = self.encode(framing, text);
        self.push_span(id, span);
    }

    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        if room.members.iter().all(|&m| Some(m) == except) {
            return;
        }
        if self.rooms.len() <= room.room {
            self.rooms.resize_with(room.room + 1, RoomBatch::default);
        }
        let batch = &self.rooms[room.room];
        if !batch.entries.is_empty() && batch.version != room.version {
            self.resolve_rooms();
        }
        let spans = [
            self.encode(Framing::Frames, text),
            self.encode(Framing::Lines, text),
        ];
        let batch = &mut self.rooms[room.room];
        if batch.entries.is_empty() {
            batch.version = room.version;
            batch.members.clear();
            batch.members.extend_from_slice(room.members);
            self.dirty_rooms.push(room.room);
        }
        batch.entries.push(Entry { except, spans });
    }

    fn close(&mut self, id: ClientId) {
        self.closes.push(id);
    }
}

#[cfg(test)]
mod tests;
