//! One recipient's part of a turn's output: its spans, kept inline while there is one,
//! and where it stands in its room's batch.

use super::{RoomBatch, Span};
use crate::chat::RoomId;
use crate::framing::Framing;

#[derive(Debug, Default)]
pub(super) struct Recipient {
    /// `None` until the client's framing is known; such clients get nothing.
    pub(super) framing: Option<Framing>,
    pub(super) pending: SpanList,
    /// Bytes in `pending`.
    pub(super) pending_bytes: usize,
    /// Of those, bytes addressed to this client alone (replies, private messages).
    pub(super) direct_bytes: usize,
    /// The room the chat last put the client in.
    pub(super) room: Option<RoomId>,
    /// `(batch serial, n)`: the first `n` entries of that batch are delivered (or came
    /// before the client entered); a cursor for any other batch means none are.
    pub(super) cursor: (u64, usize),
}

impl Recipient {
    /// Appends `span`; returns true if this made the recipient dirty.
    pub(super) fn push(&mut self, span: Span) -> bool {
        let was_idle = self.pending.is_empty();
        self.pending.push(span);
        self.pending_bytes += span.len();
        was_idle && !self.pending.is_empty()
    }

    /// Where this recipient stands in `batch`: the first entry it does not have yet.
    pub(super) fn position_in(&self, batch: &RoomBatch) -> usize {
        match self.cursor {
            (serial, seen) if serial == batch.serial => seen,
            _ => 0,
        }
    }
}

/// One recipient's spans this turn. Most recipients get exactly one span (their room's
/// run), so it lives inline; only a second, separate span allocates, and that storage is
/// freed with the turn, so 10,000 idle connections hold no span buffers.
#[derive(Debug, Default)]
pub(super) enum SpanList {
    #[default]
    Empty,
    One([Span; 1]),
    Many(Vec<Span>),
}

impl SpanList {
    pub(super) fn as_slice(&self) -> &[Span] {
        match self {
            SpanList::Empty => &[],
            SpanList::One(one) => one,
            SpanList::Many(many) => many,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, SpanList::Empty)
    }

    /// Appends `span`, extending the last one when they touch.
    fn push(&mut self, span: Span) {
        if span.is_empty() {
            return;
        }
        match self {
            SpanList::Empty => *self = SpanList::One([span]),
            SpanList::One([last]) if last.end == span.start => last.end = span.end,
            SpanList::One([last]) => *self = SpanList::Many(vec![*last, span]),
            SpanList::Many(many) => append_span(many, span),
        }
    }
}

/// Appends `span` to `spans`, extending the last one when they touch.
pub(super) fn append_span(spans: &mut Vec<Span>, span: Span) {
    match spans.last_mut() {
        Some(last) if last.end == span.start => last.end = span.end,
        _ => spans.push(span),
    }
}
