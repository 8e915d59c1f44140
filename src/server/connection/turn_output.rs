//! A connection's share of a loop turn's output: written at once where the socket takes
//! it (copied, spliced, or encrypted through its TLS session), the rest queued.

use super::{sink_of, Connection};
use crate::fanout::Span;
use crate::framing::Framing;
use crate::server::out_queue::MAX_IOVECS;
use crate::server::transport::Sink;
use crate::server::zero_copy::{self, Spliced, TurnPages, ZeroCopy};
use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;
use std::rc::Rc;

impl Connection {
    /// Sends this turn's output: `spans` of `source`. Written at once if nothing is
    /// queued before it. What the socket does not take is queued: as references into
    /// the turn's shared buffer (made by `shared` only if needed) when it is most of the
    /// turn, else as a copy of its own (see [`OutQueue`]). Returns bytes written.
    ///
    /// # Errors
    /// A write error other than `WouldBlock`/`Interrupted`.
    pub fn send_turn(
        &mut self,
        source: &mut TurnSource<'_>,
        framing: Framing,
        spans: &[Span],
        shared: impl FnOnce() -> Rc<[u8]>,
    ) -> io::Result<usize> {
        let mut written = 0;
        let mut next = 0; // first span not fully written
        let mut offset = 0; // bytes of spans[next] already written
        if self.out.is_empty() {
            let mut sink = sink_of(&mut self.transport, &mut self.stream);
            while next < spans.len() {
                let (n, took_all) = match source.write(&mut sink, &spans[next..], offset) {
                    Ok(result) => result,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                written += n;
                (next, offset) = advance(spans, next, offset, n);
                if !took_all {
                    break; // a short write: the socket is full until WRITABLE says otherwise
                }
            }
        }
        if next < spans.len() {
            self.queue_rest(source.arena(), framing, &spans[next..], offset, shared);
        }
        Ok(written)
    }

    /// Queues `spans` of `arena`, the first from `offset` on.
    fn queue_rest(
        &mut self,
        arena: &[u8],
        framing: Framing,
        spans: &[Span],
        offset: usize,
        shared: impl FnOnce() -> Rc<[u8]>,
    ) {
        let first = spans[0];
        let rest = spans.iter().map(Span::len).sum::<usize>() - offset;
        if rest * 2 < arena.len() {
            // The copy starts where the message being written starts, so the queue
            // still knows its message boundaries.
            let pos = first.start + offset;
            let (message_start, _) = framing.message_around(arena, first.start, pos);
            let mut own = Vec::with_capacity(rest + pos - message_start);
            own.extend_from_slice(&arena[message_start..first.end]);
            for span in &spans[1..] {
                own.extend_from_slice(&arena[span.start..span.end]);
            }
            self.out.push_owned(own, pos - message_start);
            return;
        }
        let buf = shared();
        // The first span's written part was whole messages or a prefix of one; the
        // queue only needs to know that the span itself began at a boundary.
        self.out.push_shared(Rc::clone(&buf), first.start, first.end);
        self.out.skip(offset);
        for span in &spans[1..] {
            self.out.push_shared(Rc::clone(&buf), span.start, span.end);
        }
    }
}

/// Where one framing's output for this turn is written from.
pub enum TurnSource<'a> {
    /// Copied out of the turn's arena by `write`/`writev`.
    Copy(&'a [u8]),
    /// Spliced from a copy of the arena in pages of its own (see [`super::zero_copy`]).
    Splice {
        /// The turn's arena, for a fallback to copying.
        arena: &'a [u8],
        /// The same bytes, at the same offsets, in pages the kernel can take.
        pages: &'a TurnPages,
        /// The pipe to splice through.
        zero_copy: &'a mut ZeroCopy,
    },
}

impl TurnSource<'_> {
    /// The turn's encoded bytes.
    fn arena(&self) -> &[u8] {
        let (TurnSource::Copy(arena) | TurnSource::Splice { arena, .. }) = self;
        arena
    }

    /// One `write`/`writev` (or one splice) of `spans`, the first from `offset` on.
    /// Returns the bytes written and whether that was all that was offered.
    fn write(&mut self, sink: &mut Sink<'_>, spans: &[Span], offset: usize) -> io::Result<(usize, bool)> {
        let offered = |count: usize| -> usize {
            spans.iter().take(count).map(|s| s.end - s.start).sum::<usize>() - offset
        };
        // Only a plain socket can be spliced to: TLS output is encrypted per recipient.
        if let (TurnSource::Splice { pages, zero_copy, .. }, Sink::Plain(stream)) = (&mut *self, &mut *sink) {
            if let Spliced::Bytes(n) = zero_copy.send(stream.as_fd(), pages, spans, offset)? {
                return Ok((n, n == offered(zero_copy::MAX_SPANS)));
            }
        }
        let n = write_spans(sink, self.arena(), spans, offset)?;
        Ok((n, n == offered(MAX_IOVECS)))
    }
}

/// One `writev` of `spans` (the first starting `offset` bytes in); a plain `write` for
/// the usual single span.
fn write_spans(sink: &mut impl Write, arena: &[u8], spans: &[Span], offset: usize) -> io::Result<usize> {
    if let [only] = spans {
        return sink.write(&arena[only.start + offset..only.end]);
    }
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let mut count = 0;
    for (slot, span) in slices.iter_mut().zip(spans) {
        let start = if count == 0 {
            span.start + offset
        } else {
            span.start
        };
        *slot = IoSlice::new(&arena[start..span.end]);
        count += 1;
    }
    sink.write_vectored(&slices[..count])
}

/// Moves the position `(span index, offset in it)` forward by `n` written bytes.
fn advance(spans: &[Span], mut next: usize, mut offset: usize, mut n: usize) -> (usize, usize) {
    while n > 0 && next < spans.len() {
        let left = spans[next].end - spans[next].start - offset;
        if n < left {
            return (next, offset + n);
        }
        n -= left;
        next += 1;
        offset = 0;
    }
    (next, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_walks_across_spans() {
        let spans = [Span { start: 0, end: 3 }, Span { start: 10, end: 12 }];
        assert_eq!(advance(&spans, 0, 0, 0), (0, 0));
        assert_eq!(advance(&spans, 0, 0, 2), (0, 2));
        assert_eq!(advance(&spans, 0, 2, 1), (1, 0));
        assert_eq!(advance(&spans, 0, 1, 3), (1, 1));
        assert_eq!(advance(&spans, 0, 0, 5), (2, 0));
    }

    #[test]
    fn write_spans_starts_at_the_offset() {
        let arena = b"abcdefghijkl";
        let spans = [Span { start: 0, end: 3 }, Span { start: 10, end: 12 }];
        let mut out = Vec::new();
        let n = write_spans(&mut out, arena, &spans, 1).unwrap();
        // Vec's write_vectored takes every slice.
        assert_eq!(n, 4);
        assert_eq!(out, b"bckl");
        out.clear();
        assert_eq!(write_spans(&mut out, arena, &spans[1..], 1).unwrap(), 1);
        assert_eq!(out, b"l");
    }
}
