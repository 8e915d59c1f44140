//! A connection's output that the socket could not take yet.
//!
//! What a recipient could not take of a turn is kept in one of two ways. When it is most
//! of the turn's encoded bytes (a flood that every member is behind on), it stays a
//! reference into the turn's buffer, shared with every other recipient behind in that
//! turn: nothing is copied per recipient. When it is a small part (a quiet room's line
//! in a turn where another room flooded), it is copied out, so one slow reader does not
//! keep a whole busy turn alive. Either way the queue is charged for the memory it keeps
//! alive ([`OutQueue::held_bytes`]), and that is what `--max-backlog` is checked against.
//!
//! The queue also knows where its messages begin, so a connection dropped for being slow
//! can be sent a last message that is not spliced into the middle of a half-written one.

use crate::framing::Framing;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::rc::Rc;

/// At most this many buffers per `writev` (well under any `IOV_MAX`).
pub const MAX_IOVECS: usize = 64;

/// Where a segment's bytes live.
#[derive(Debug)]
enum Bytes {
    /// A turn's encoded output, shared with the other recipients that were behind in it.
    Shared(Rc<[u8]>),
    /// A copy of this connection's own part.
    Owned(Box<[u8]>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Shared(buf) => buf,
            Bytes::Owned(buf) => buf,
        }
    }
}

/// Part of a buffer still to be written. `start` is a message boundary.
#[derive(Debug)]
struct Segment {
    bytes: Bytes,
    start: usize,
    /// Next byte to write.
    pos: usize,
    end: usize,
    /// Memory this segment keeps alive and is charged for: an owned copy's length, a
    /// shared buffer's whole length (on the first of consecutive segments of the same
    /// buffer; the others are charged 0).
    charge: usize,
}

impl Segment {
    fn shares_buffer_with(&self, other: &Segment) -> bool {
        match (&self.bytes, &other.bytes) {
            (Bytes::Shared(a), Bytes::Shared(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Bytes waiting for the socket to become writable.
#[derive(Debug, Default)]
pub struct OutQueue {
    segments: VecDeque<Segment>,
    queued: usize,
    held: usize,
}

impl OutQueue {
    /// True if nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Memory the queue keeps alive: what `--max-backlog` is checked against. At least
    /// [`OutQueue::queued_bytes`]; more when a shared turn buffer is kept for a part of it.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Queues `buf[start..end]`, which begins at a message boundary, sharing `buf`.
    pub fn push_shared(&mut self, buf: Rc<[u8]>, start: usize, end: usize) {
        let charge = match self.segments.back() {
            Some(Segment {
                bytes: Bytes::Shared(last),
                ..
            }) if Rc::ptr_eq(last, &buf) => 0,
            _ => buf.len(),
        };
        self.push(Bytes::Shared(buf), start, end, charge);
    }

    /// Queues a copy of this connection's own bytes; `bytes` begins at a message
    /// boundary and its first `written` bytes were already sent.
    pub fn push_owned(&mut self, bytes: Vec<u8>, written: usize) {
        let len = bytes.len();
        self.push(Bytes::Owned(bytes.into_boxed_slice()), 0, len, len);
        self.skip(written);
    }

    fn push(&mut self, bytes: Bytes, start: usize, end: usize, charge: usize) {
        if start < end {
            self.queued += end - start;
            self.held += charge;
            self.segments.push_back(Segment {
                bytes,
                start,
                pos: start,
                end,
                charge,
            });
        }
    }

    /// Marks the first `n` bytes of the front segment as already written (by a direct
    /// write that came before queueing).
    pub fn skip(&mut self, n: usize) {
        if let Some(front) = self.segments.front_mut() {
            let n = n.min(front.end - front.pos);
            front.pos += n;
            self.queued -= n;
        }
    }

    /// Writes until the queue is empty or the socket would block; returns bytes written.
    ///
    /// # Errors
    /// Any write error but `WouldBlock` (which ends the call) and `Interrupted` (retried).
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<usize> {
        let mut written = 0;
        while !self.segments.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            let mut total = 0;
            for (slot, seg) in slices.iter_mut().zip(&self.segments) {
                *slot = IoSlice::new(&seg.bytes[seg.pos..seg.end]);
                count += 1;
                total += seg.end - seg.pos;
            }
            match sink.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume(n);
                    written += n;
                    if n < total {
                        break; // the socket buffer is full; WRITABLE will follow
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.segments.is_empty() {
            self.segments = VecDeque::new(); // an idle connection keeps no buffer
        }
        Ok(written)
    }

    /// Drops everything; returns the unwritten rest of the message being written (empty
    /// if the queue stood at a message boundary), so it can be completed before a last word.
    pub fn drop_all(&mut self, framing: Framing) -> Vec<u8> {
        let rest = self
            .segments
            .front()
            .map(|s| {
                let (_, end) = framing.message_around(&s.bytes[..s.end], s.start, s.pos);
                s.bytes[s.pos..end.max(s.pos)].to_vec()
            })
            .unwrap_or_default();
        self.segments = VecDeque::new();
        self.queued = 0;
        self.held = 0;
        rest
    }

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                return;
            };
            let left = front.end - front.pos;
            if n < left {
                front.pos += n;
                return;
            }
            n -= left;
            self.pop_front();
        }
    }

    /// Removes the front segment; its charge passes to the next one if that keeps the
    /// same shared buffer alive.
    fn pop_front(&mut self) {
        let Some(done) = self.segments.pop_front() else {
            return;
        };
        match self.segments.front_mut() {
            Some(next) if next.shares_buffer_with(&done) => next.charge += done.charge,
            _ => self.held -= done.charge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `room` bytes, then would block.
    struct Sink {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        /// Like a socket: takes as much of all the buffers as there is room for.
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut total = 0;
            for buf in bufs {
                match self.write(buf) {
                    Ok(n) => total += n,
                    Err(e) if total == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(total)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn queue_of(parts: &[&[u8]]) -> OutQueue {
        let mut q = OutQueue::default();
        for part in parts {
            q.push_shared(Rc::from(*part), 0, part.len());
        }
        q
    }

    #[test]
    fn writes_everything_when_the_socket_takes_it() {
        let mut q = queue_of(&[b"ab\n", b"cd\n"]);
        let mut sink = Sink {
            got: Vec::new(),
            room: 100,
        };
        assert_eq!(q.write_to(&mut sink).unwrap(), 6);
        assert_eq!(sink.got, b"ab\ncd\n");
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn partial_write_resumes_where_it_stopped() {
        let mut q = queue_of(&[b"abc\n", b"def\n"]);
        let mut sink = Sink {
            got: Vec::new(),
            room: 5,
        };
        assert_eq!(q.write_to(&mut sink).unwrap(), 5);
        assert_eq!(q.queued_bytes(), 3);
        sink.room = 100;
        q.write_to(&mut sink).unwrap();
        assert_eq!(sink.got, b"abc\ndef\n");
    }

    #[test]
    fn only_part_of_a_shared_buffer_is_queued() {
        let mut q = OutQueue::default();
        q.push_shared(Rc::from(&b"xxhi\nyy"[..]), 2, 5);
        let mut sink = Sink {
            got: Vec::new(),
            room: 100,
        };
        q.write_to(&mut sink).unwrap();
        assert_eq!(sink.got, b"hi\n");
    }

    #[test]
    fn drop_all_returns_the_rest_of_a_half_written_line() {
        let mut q = queue_of(&[b"one\ntwo\n"]);
        q.write_to(&mut Sink {
            got: Vec::new(),
            room: 6,
        })
        .unwrap();
        assert_eq!(q.drop_all(Framing::Lines), b"o\n");
        assert!(q.is_empty());
        let mut q = queue_of(&[b"one\ntwo\n"]);
        q.write_to(&mut Sink {
            got: Vec::new(),
            room: 4,
        })
        .unwrap();
        assert_eq!(q.drop_all(Framing::Lines), b"", "at a boundary nothing is owed");
    }

    #[test]
    fn drop_all_returns_the_rest_of_a_half_written_frame_at_every_cut() {
        let stream = [Framing::Frames.encode(b"abc"), Framing::Frames.encode(b"de")].concat();
        let boundaries = [0, 7, stream.len()];
        for cut in 0..stream.len() {
            let mut q = queue_of(&[&stream]);
            q.write_to(&mut Sink {
                got: Vec::new(),
                room: cut,
            })
            .unwrap();
            let rest = q.drop_all(Framing::Frames);
            let next_boundary = *boundaries.iter().find(|&&b| b >= cut).unwrap();
            assert_eq!(rest, &stream[cut..next_boundary], "cut at {cut}");
        }
    }

    #[test]
    fn a_shared_buffer_is_charged_whole_once_until_its_last_part_is_written() {
        let buf: Rc<[u8]> = Rc::from(&b"aaaa\nbb\ncccccccccc\n"[..]); // 19 bytes
        let mut q = OutQueue::default();
        q.push_shared(Rc::clone(&buf), 0, 5);
        q.push_shared(Rc::clone(&buf), 8, 19);
        assert_eq!((q.queued_bytes(), q.held_bytes()), (16, 19));
        q.push_owned(b"dd\n".to_vec(), 0);
        assert_eq!((q.queued_bytes(), q.held_bytes()), (19, 22));
        let mut sink = Sink {
            got: Vec::new(),
            room: 6,
        };
        q.write_to(&mut sink).unwrap();
        assert_eq!(q.held_bytes(), 22, "the buffer is alive while a part of it waits");
        sink.room = 10;
        q.write_to(&mut sink).unwrap();
        assert_eq!((q.queued_bytes(), q.held_bytes()), (3, 3));
        sink.room = 100;
        q.write_to(&mut sink).unwrap();
        assert_eq!((q.queued_bytes(), q.held_bytes()), (0, 0));
        assert_eq!(sink.got, b"aaaa\ncccccccccc\ndd\n");
    }

    #[test]
    fn an_owned_copy_starts_at_a_boundary_and_skips_what_was_written() {
        let mut q = OutQueue::default();
        q.push_owned(b"one\ntwo\n".to_vec(), 5);
        assert_eq!((q.queued_bytes(), q.held_bytes()), (3, 8));
        assert_eq!(q.drop_all(Framing::Lines), b"wo\n");
        assert_eq!((q.queued_bytes(), q.held_bytes()), (0, 0));
    }
}
