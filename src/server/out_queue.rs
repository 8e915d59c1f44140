//! A connection's output that the socket could not take yet.
//!
//! Segments point into turn buffers shared by every recipient of that turn; nothing is
//! copied per recipient. The queue also knows where its messages begin, so a connection
//! dropped for being slow can be sent a last message that is not spliced into the middle
//! of a half-written one.

use crate::framing::{Framing, FRAME_HEADER_LEN};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// At most this many buffers per `writev` (well under any `IOV_MAX`).
pub const MAX_IOVECS: usize = 64;

/// Part of a shared buffer still to be written. `start` is a message boundary.
#[derive(Debug)]
struct Segment {
    buf: Rc<[u8]>,
    start: usize,
    /// Next byte to write.
    pos: usize,
    end: usize,
}

/// Bytes waiting for the socket to become writable.
#[derive(Debug, Default)]
pub struct OutQueue {
    segments: VecDeque<Segment>,
    queued: usize,
}

impl OutQueue {
    /// True if nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Queues `buf[start..end]`, which begins at a message boundary.
    pub fn push(&mut self, buf: Rc<[u8]>, start: usize, end: usize) {
        if start < end {
            self.queued += end - start;
            self.segments.push_back(Segment {
                buf,
                start,
                pos: start,
                end,
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
                *slot = IoSlice::new(&seg.buf[seg.pos..seg.end]);
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
            .map(|s| rest_of_message(s, framing))
            .unwrap_or_default();
        self.segments = VecDeque::new();
        self.queued = 0;
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
            self.segments.pop_front();
        }
    }
}

/// The bytes from `seg.pos` to the end of the message that `seg.pos` falls in.
fn rest_of_message(seg: &Segment, framing: Framing) -> Vec<u8> {
    let bytes = &seg.buf[..seg.end];
    let end = match framing {
        Framing::Lines => {
            if seg.pos == seg.start || bytes[seg.pos - 1] == b'\n' {
                return Vec::new();
            }
            bytes[seg.pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(seg.end, |i| seg.pos + i + 1)
        }
        Framing::Frames => {
            // Walk the frames from the boundary at `start` to the one containing `pos`.
            let mut at = seg.start;
            while at < seg.pos {
                let header: [u8; FRAME_HEADER_LEN] = bytes
                    .get(at..at + FRAME_HEADER_LEN)
                    .and_then(|h| h.try_into().ok())
                    .unwrap_or_default();
                at += FRAME_HEADER_LEN + u32::from_le_bytes(header) as usize;
            }
            at.min(seg.end)
        }
    };
    bytes[seg.pos..end].to_vec()
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
            q.push(Rc::from(*part), 0, part.len());
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
        q.push(Rc::from(&b"xxhi\nyy"[..]), 2, 5);
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
}
