//! The three wire framings, how a connection's framing is detected, and their codecs.
//!
//! Nothing here touches a socket: the decoder is fed whatever bytes have arrived and says
//! whether a whole message is there. "Incomplete" is a normal outcome, not an error, so a
//! message split at any byte is reassembled by the caller keeping the unconsumed tail.
//! See `docs/protocol.md` for the wire format.

use std::fmt;

pub mod websocket;

use websocket::WebSocketDecoder;

/// Bytes in a frame header: a little-endian `u32` payload length.
pub const FRAME_HEADER_LEN: usize = 4;
/// The largest `--max-message` the server accepts: 16 MiB - 1, the longest frame whose
/// header still has a 0x00 as its 4th byte, which is how detection tells frames from lines.
pub const MAX_MESSAGE_LIMIT: usize = (16 << 20) - 1;
/// The default `--max-message`.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 10;

/// How messages are delimited on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// 4-byte little-endian length, then that many bytes of text.
    Frames,
    /// Text ending in `\n`; one trailing `\r` is dropped.
    Lines,
    /// WebSocket text messages (RFC 6455), after an HTTP upgrade; never detected from
    /// bytes alone.
    WebSocket,
}

impl Framing {
    /// Every framing, in a fixed order (the order of [`Framing::index`]).
    pub const ALL: [Framing; 3] = [Framing::Frames, Framing::Lines, Framing::WebSocket];

    /// A dense index (0, 1 or 2), for per-framing arrays.
    pub fn index(self) -> usize {
        match self {
            Framing::Frames => 0,
            Framing::Lines => 1,
            Framing::WebSocket => 2,
        }
    }

    /// What a connection in this framing is sent last, when the server closes it
    /// (`code` says why, in WebSocket's terms): a close frame for WebSocket, nothing for
    /// the others, whose close is the end of the stream.
    pub fn goodbye(self, code: u16, reason: &str) -> Vec<u8> {
        match self {
            Framing::WebSocket => websocket::close_frame(code, reason),
            Framing::Frames | Framing::Lines => Vec::new(),
        }
    }

    /// Appends `text` to `out` as one message in this framing.
    ///
    /// The caller guarantees `text` holds no `\n` (cleaned text never does) and is
    /// shorter than 4 GiB.
    pub fn encode_into(self, text: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::Frames => {
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text);
            }
            Framing::Lines => {
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            Framing::WebSocket => websocket::encode_frame(websocket::TEXT, text, out),
        }
    }

    /// In `bytes`, whole messages of this framing from `boundary` on, the message that
    /// byte `pos` falls in: `(start, end)` with `start < pos < end`, or `(pos, pos)` when
    /// `pos` is itself a message boundary. `end` is cut at `bytes.len()`.
    pub fn message_around(self, bytes: &[u8], boundary: usize, pos: usize) -> (usize, usize) {
        match self {
            Framing::Lines => {
                if pos == boundary || bytes[pos - 1] == b'\n' {
                    return (pos, pos);
                }
                let start = bytes[boundary..pos]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(boundary, |at| boundary + at + 1);
                let end = bytes[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |at| pos + at + 1);
                (start, end)
            }
            Framing::Frames | Framing::WebSocket => {
                let mut at = boundary;
                while at < pos {
                    let next = at + self.encoded_len(&bytes[at..]).unwrap_or(bytes.len());
                    if next > pos {
                        return (at, next.min(bytes.len()));
                    }
                    at = next;
                }
                (pos, pos)
            }
        }
    }

    /// The length of the message this framing encoded at the start of `bytes` (header
    /// included), if its header is all there. Not for lines (they have no header).
    fn encoded_len(self, bytes: &[u8]) -> Option<usize> {
        match self {
            Framing::Frames => {
                let header = bytes.first_chunk::<FRAME_HEADER_LEN>()?;
                Some(FRAME_HEADER_LEN + u32::from_le_bytes(*header) as usize)
            }
            Framing::WebSocket => websocket::server_frame_len(bytes),
            Framing::Lines => None,
        }
    }

    /// Returns `text` encoded as one message in this framing.
    pub fn encode(self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + FRAME_HEADER_LEN);
        self.encode_into(text, &mut out);
        out
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::Frames => "frames",
            Framing::Lines => "lines",
            Framing::WebSocket => "websocket",
        })
    }
}

/// Decides a connection's framing from the first bytes it sent, or `None` if more are needed.
///
/// With 4 or more bytes the 4th decides: a frame header's high byte is 0x00 for any
/// length under 16 MiB, and no text line starts with a NUL in 4th place. With fewer, a
/// `\n` before any 0x00 can only be a short line (`hi\n`).
pub fn detect(first_bytes: &[u8]) -> Option<Framing> {
    if first_bytes.len() >= FRAME_HEADER_LEN {
        return Some(if first_bytes[3] == 0 {
            Framing::Frames
        } else {
            Framing::Lines
        });
    }
    match first_bytes.iter().find(|&&b| b == b'\n' || b == 0) {
        Some(b'\n') => Some(Framing::Lines),
        _ => None,
    }
}

/// What the decoder found at the start of its input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One whole message's text (without header, `\r` or `\n`).
    Message(&'a [u8]),
    /// Bytes that carry nothing: an empty frame (keep-alive), an empty line, or the
    /// discarded rest of an over-long line.
    Nothing,
    /// A line passed the limit; the rest of it up to its `\n` will be discarded.
    /// The connection stays usable.
    LineTooLong,
    /// No whole message yet: keep the input and call again when more has arrived.
    Incomplete,
    /// WebSocket: a whole text message was assembled in the decoder's own buffer (its
    /// frames were masked, perhaps fragmented): take it with [`Decoder::take_message`].
    Assembled,
    /// WebSocket: these bytes (a pong) are to be sent back to this client.
    Reply(Vec<u8>),
    /// WebSocket: the client sent a close frame, with this code if it gave one; the
    /// server answers with a close frame and closes.
    Closing(Option<u16>),
    /// WebSocket: the client broke the protocol; the connection is closed with this
    /// close code and reason. Uses all the input.
    Violation(u16, String),
}

/// A frame announced a length over the limit. The connection cannot resynchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    /// The announced payload length.
    pub len: u64,
    /// The `--max-message` in force.
    pub limit: usize,
}

/// Splits one connection's byte stream into messages.
#[derive(Debug, Clone)]
pub struct Decoder {
    framing: Framing,
    limit: usize,
    /// Lines only: inside an over-long line, dropping bytes up to its `\n`.
    discarding: bool,
    /// Lines only: how many bytes at the start of the input were already searched for a
    /// `\n` in vain, so an unfinished line costs O(new bytes) per call, not O(held).
    scanned: usize,
    /// WebSocket only: the message being assembled.
    websocket: WebSocketDecoder,
}

impl Decoder {
    /// A decoder for `framing` that refuses messages longer than `limit` bytes.
    pub fn new(framing: Framing, limit: usize) -> Self {
        Decoder {
            framing,
            limit,
            discarding: false,
            scanned: 0,
            websocket: WebSocketDecoder::default(),
        }
    }

    /// The framing this decoder reads.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Decodes the first item of `input`; returns it with the number of bytes it used.
    ///
    /// `Incomplete` always uses 0 bytes. Anything else uses at least one byte, so a
    /// caller looping until `Incomplete` always terminates. After `Incomplete` the next
    /// call must be given the same bytes again with more appended (keep the tail, call
    /// again): the decoder remembers how far it has already looked.
    ///
    /// # Errors
    /// [`FrameTooLarge`] when a frame header announces more than the limit.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), FrameTooLarge> {
        match self.framing {
            Framing::Frames => self.decode_frame(input),
            Framing::Lines => Ok(self.decode_line(input)),
            Framing::WebSocket => Ok(self.websocket.decode(input, self.limit)),
        }
    }

    /// The message a [`Decoded::Assembled`] announced. Hand the buffer back with
    /// [`Decoder::give_back`] once it is handled, so the next message reuses it.
    pub fn take_message(&mut self) -> Vec<u8> {
        self.websocket.take_message()
    }

    /// Returns a buffer taken with [`Decoder::take_message`].
    pub fn give_back(&mut self, buffer: Vec<u8>) {
        self.websocket.give_back(buffer);
    }

    fn decode_frame<'a>(&self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), FrameTooLarge> {
        let Some(header) = input.first_chunk::<FRAME_HEADER_LEN>() else {
            return Ok((Decoded::Incomplete, 0));
        };
        let len = u32::from_le_bytes(*header) as usize;
        if len > self.limit {
            return Err(FrameTooLarge {
                len: len as u64,
                limit: self.limit,
            });
        }
        let end = FRAME_HEADER_LEN + len;
        match input.get(FRAME_HEADER_LEN..end) {
            None => Ok((Decoded::Incomplete, 0)),
            Some([]) => Ok((Decoded::Nothing, end)),
            Some(text) => Ok((Decoded::Message(text), end)),
        }
    }

    fn decode_line<'a>(&mut self, input: &'a [u8]) -> (Decoded<'a>, usize) {
        let from = std::mem::take(&mut self.scanned).min(input.len());
        let found = input[from..].iter().position(|&b| b == b'\n');
        let Some(newline) = found.map(|at| from + at) else {
            if self.discarding && !input.is_empty() {
                return (Decoded::Nothing, input.len());
            }
            if !self.discarding && self.is_over_limit_unterminated(input) {
                self.discarding = true;
                return (Decoded::LineTooLong, input.len());
            }
            self.scanned = input.len();
            return (Decoded::Incomplete, 0);
        };
        let used = newline + 1;
        if std::mem::take(&mut self.discarding) {
            return (Decoded::Nothing, used);
        }
        let line = &input[..newline];
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.len() > self.limit {
            (Decoded::LineTooLong, used)
        } else if text.is_empty() {
            (Decoded::Nothing, used)
        } else {
            (Decoded::Message(text), used)
        }
    }

    /// An unterminated line is known to be too long once it cannot end within the limit:
    /// more than `limit` bytes of text plus a possible `\r` waiting for its `\n`.
    fn is_over_limit_unterminated(&self, partial: &[u8]) -> bool {
        partial.len() > self.limit + 1 || (partial.len() == self.limit + 1 && partial.last() != Some(&b'\r'))
    }
}

#[cfg(test)]
mod tests;
