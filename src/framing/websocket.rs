//! WebSocket (RFC 6455) as a framing: one chat message per text message.
//!
//! Sans-I/O like the other two: the decoder is fed whatever bytes have arrived and says
//! what the first frame at their start is. Client frames are masked, so a message's
//! payload is unmasked into the decoder's own buffer (one pass, where a copy costs no
//! more than unmasking in place would), which also reassembles fragmented messages with
//! control frames between their fragments. Server frames are unmasked: every recipient
//! of a broadcast gets the same bytes, so the fan-out encodes each message once.

use super::Decoded;

/// Frame opcodes.
const CONTINUATION: u8 = 0x0;
/// A text frame.
pub const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
/// A close frame.
pub const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
/// A pong frame (the answer to a ping).
pub const PONG: u8 = 0xa;

/// Close codes (RFC 6455, 7.4.1).
pub const NORMAL: u16 = 1000;
/// The server is going away (shutting down).
pub const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
/// A client that did not keep up (too slow) is closed with this code.
pub const POLICY_VIOLATION: u16 = 1008;
const UNSUPPORTED_DATA: u16 = 1003;
const INVALID_PAYLOAD: u16 = 1007;
const MESSAGE_TOO_BIG: u16 = 1009;

/// Control frames carry at most this much payload.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Appends a server frame (FIN set, unmasked) with `payload` to `out`, with the shortest
/// length form: 7 bits up to 125, 16 bits up to 65535, else 64 bits.
pub fn encode_frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// A close frame with `code` and `reason` (cut to fit a control frame).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    let room = MAX_CONTROL_PAYLOAD - payload.len();
    payload.extend_from_slice(crate::text::cut_to(reason, room).as_bytes());
    let mut frame = Vec::with_capacity(payload.len() + 2);
    encode_frame(CLOSE, &payload, &mut frame);
    frame
}

/// The state of one client's incoming WebSocket stream.
#[derive(Debug, Clone, Default)]
pub struct WebSocketDecoder {
    /// The text message being assembled (unmasked), or the last one assembled.
    message: Vec<u8>,
    /// A fragmented message is under way: continuation frames are expected.
    in_message: bool,
}

/// A frame's header, once all of it has arrived.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header, extended length and mask.
    len: usize,
    payload: usize,
}

impl WebSocketDecoder {
    /// Decodes the first frame of `input` (see [`super::Decoder::decode`]). Protocol
    /// errors are [`Decoded::Violation`]: the connection is to be closed with that code.
    pub fn decode<'a>(&mut self, input: &'a [u8], limit: usize) -> (Decoded<'a>, usize) {
        let header = match parse_header(input) {
            Ok(Some(header)) => header,
            Ok(None) => return (Decoded::Incomplete, 0),
            Err(reason) => return violation(PROTOCOL_ERROR, reason, input),
        };
        if let Some(error) = self.check(&header, limit) {
            return (error, input.len());
        }
        let end = header.len + header.payload;
        let Some(payload) = input.get(header.len..end) else {
            return (Decoded::Incomplete, 0);
        };
        match self.take_frame(&header, payload) {
            violation @ Decoded::Violation(..) => (violation, input.len()), // the stream ends here
            item => (item, end),
        }
    }

    /// The message that [`Decoded::Assembled`] announced; give the buffer back with
    /// [`WebSocketDecoder::give_back`] so the next message reuses it.
    pub fn take_message(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    /// Returns a buffer taken with [`WebSocketDecoder::take_message`].
    pub fn give_back(&mut self, mut buffer: Vec<u8>) {
        if !self.in_message {
            buffer.clear();
            self.message = buffer;
        }
    }

    /// What makes a frame unacceptable before its payload is even read.
    fn check(&self, header: &Header, limit: usize) -> Option<Decoded<'static>> {
        let control = header.opcode & 0x8 != 0;
        if control && (!header.fin || header.payload > MAX_CONTROL_PAYLOAD) {
            return Some(Decoded::Violation(
                PROTOCOL_ERROR,
                "bad control frame".to_string(),
            ));
        }
        let so_far = if header.opcode == CONTINUATION {
            self.message.len()
        } else {
            0
        };
        if !control && so_far.saturating_add(header.payload) > limit {
            let reason = format!("message too big (limit {limit} bytes)");
            return Some(Decoded::Violation(MESSAGE_TOO_BIG, reason));
        }
        None
    }

    /// What one whole frame means.
    fn take_frame(&mut self, header: &Header, payload: &[u8]) -> Decoded<'static> {
        match header.opcode {
            TEXT | CONTINUATION => self.take_text(header, payload),
            BINARY => Decoded::Violation(UNSUPPORTED_DATA, "binary messages are not supported".to_string()),
            CLOSE => {
                let mut code = [0u8; 2];
                unmask_into(payload.get(..2).unwrap_or_default(), header.mask, &mut code[..]);
                Decoded::Closing((payload.len() >= 2).then(|| u16::from_be_bytes(code)))
            }
            PING => {
                let mut data = vec![0; payload.len()];
                unmask_into(payload, header.mask, &mut data);
                let mut pong = Vec::with_capacity(data.len() + 2);
                encode_frame(PONG, &data, &mut pong);
                Decoded::Reply(pong)
            }
            PONG => Decoded::Nothing,
            _ => Decoded::Violation(PROTOCOL_ERROR, "unknown opcode".to_string()),
        }
    }

    /// A text frame or a continuation: appended to the message; a whole one is checked
    /// for UTF-8 and announced.
    fn take_text(&mut self, header: &Header, payload: &[u8]) -> Decoded<'static> {
        let continuation = header.opcode == CONTINUATION;
        if continuation != self.in_message {
            let reason = if continuation {
                "a continuation without a message"
            } else {
                "a new message before the last one ended"
            };
            return Decoded::Violation(PROTOCOL_ERROR, reason.to_string());
        }
        if !continuation {
            self.message.clear();
        }
        let at = self.message.len();
        self.message.resize(at + payload.len(), 0);
        unmask_into(payload, header.mask, &mut self.message[at..]);
        self.in_message = !header.fin;
        match () {
            () if self.in_message => Decoded::Nothing,
            () if std::str::from_utf8(&self.message).is_err() => {
                Decoded::Violation(INVALID_PAYLOAD, "invalid UTF-8".to_string())
            }
            () if self.message.is_empty() => Decoded::Nothing,
            () => Decoded::Assembled,
        }
    }
}

/// A frame's header if all of it is there (`None`: wait), or why it is unacceptable.
fn parse_header(input: &[u8]) -> Result<Option<Header>, &'static str> {
    let [first, second, ..] = *input else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err("reserved bits set");
    }
    if second & 0x80 == 0 {
        return Err("client frames must be masked");
    }
    let (payload, extended) = match second & 0x7f {
        126 => (
            input.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]) as u64),
            2,
        ),
        127 => (
            input
                .get(2..10)
                .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default())),
            8,
        ),
        short => (Some(u64::from(short)), 0),
    };
    let Some(payload) = payload else {
        return Ok(None);
    };
    if payload >> 63 != 0 {
        return Err("length with its top bit set");
    }
    let len = 2 + extended + 4;
    let Some(mask) = input.get(len - 4..len) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        len,
        payload: usize::try_from(payload).unwrap_or(usize::MAX),
    }))
}

/// The length of the server frame at the start of `bytes` (header included), if its
/// header is all there.
pub fn server_frame_len(bytes: &[u8]) -> Option<usize> {
    let (payload, header) = match bytes.get(1)? & 0x7f {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        short => (usize::from(short), 2),
    };
    Some(header + payload)
}

fn violation(code: u16, reason: &str, input: &[u8]) -> (Decoded<'static>, usize) {
    (Decoded::Violation(code, reason.to_string()), input.len())
}

/// Writes `masked` XOR the repeating `mask` into `out` (as long as `masked`).
fn unmask_into(masked: &[u8], mask: [u8; 4], out: &mut [u8]) {
    for (i, (out, byte)) in out.iter_mut().zip(masked).enumerate() {
        *out = byte ^ mask[i % 4];
    }
}

#[cfg(test)]
mod tests;
