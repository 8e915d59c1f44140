//! A bench connection's framing, client side: the hello that opens it, how its messages
//! are written, and how the server's bytes become messages.
//!
//! Frames and lines read the same in both directions, so they are the server's own
//! codec. WebSocket is not symmetric (clients mask, servers do not, and the server
//! speaks only after an HTTP upgrade), so it is [`super::websocket`]'s client side.
//! The driver never asks which framing it has.

use super::websocket;
use crate::framing::{Decoded, Decoder, Framing, MAX_MESSAGE_LIMIT};

/// How a connection writes one message. Cheap to copy, so a sender can hold it while
/// it writes into its connection's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// A little-endian length, then the text.
    Frames,
    /// The text and a `\n`.
    Lines,
    /// A text frame masked with this connection's mask.
    WebSocket {
        /// The mask of every frame this connection sends.
        mask: [u8; 4],
    },
}

impl Encoder {
    /// The encoder for `framing`; WebSocket frames are masked with `mask`.
    pub fn new(framing: Framing, mask: [u8; 4]) -> Encoder {
        match framing {
            Framing::Frames => Encoder::Frames,
            Framing::Lines => Encoder::Lines,
            Framing::WebSocket => Encoder::WebSocket { mask },
        }
    }

    /// Appends `text` (no `\n`, under 4 GiB) to `out` as one message.
    pub fn encode_into(self, text: &[u8], out: &mut Vec<u8>) {
        match self {
            Encoder::Frames => Framing::Frames.encode_into(text, out),
            Encoder::Lines => Framing::Lines.encode_into(text, out),
            Encoder::WebSocket { mask } => websocket::encode_masked_text(text, mask, out),
        }
    }
}

/// How the server's bytes are read, and how far a WebSocket connection has come.
#[derive(Debug, Clone)]
enum Inbound {
    /// Frames or lines: the server's decoder.
    Codec(Decoder),
    /// WebSocket, before the `101`: the key its answer must prove it saw.
    Upgrading {
        /// `Sec-WebSocket-Key` of the request.
        key: String,
    },
    /// WebSocket, after the `101`: server frames.
    WebSocket,
}

/// One connection's framing, both ways.
#[derive(Debug, Clone)]
pub struct Wire {
    framing: Framing,
    encoder: Encoder,
    inbound: Inbound,
}

impl Wire {
    /// A connection in `framing`; `seed` draws its WebSocket key and mask (any value
    /// will do, distinct per connection).
    pub fn new(framing: Framing, seed: u64) -> Wire {
        let (inbound, mask) = match framing {
            Framing::WebSocket => {
                let (key, mask) = websocket::key_and_mask(seed);
                (Inbound::Upgrading { key }, mask)
            }
            _ => (Inbound::Codec(Decoder::new(framing, MAX_MESSAGE_LIMIT)), [0; 4]),
        };
        Wire {
            framing,
            encoder: Encoder::new(framing, mask),
            inbound,
        }
    }

    /// The framing this connection speaks.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// How this connection writes a message.
    pub fn encoder(&self) -> Encoder {
        self.encoder
    }

    /// Appends what makes the server decide this connection's framing at once (an empty
    /// frame, an empty line, or the upgrade request to `host`) and answer with its welcome.
    pub fn hello_into(&self, host: &str, out: &mut Vec<u8>) {
        match (&self.inbound, self.framing) {
            (Inbound::Upgrading { key }, _) => websocket::upgrade_request(host, key, out),
            (_, Framing::Lines) => out.push(b'\n'),
            _ => out.extend_from_slice(&[0; 4]),
        }
    }

    /// Decodes the first item of `input`, as [`Decoder::decode`] does: `Incomplete` uses
    /// no bytes (call again with more appended), anything else at least one. A WebSocket
    /// connection's `101` head is read first and is `Nothing`.
    ///
    /// # Errors
    /// One line saying why the connection cannot go on: a frame over the limit, a
    /// refused upgrade, a close frame or a frame mio-chat never sends.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), String> {
        match &mut self.inbound {
            Inbound::Codec(decoder) => decoder
                .decode(input)
                .map_err(|e| format!("the server announced a {}-byte frame", e.len)),
            Inbound::WebSocket => websocket::decode_server_frame(input, MAX_MESSAGE_LIMIT),
            Inbound::Upgrading { key } => match websocket::read_upgrade_response(input, key)? {
                None => Ok((Decoded::Incomplete, 0)),
                Some(used) => {
                    self.inbound = Inbound::WebSocket;
                    Ok((Decoded::Nothing, used))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{answer, Answer, Site};

    /// Everything a stream of `bytes` decodes to, as text.
    fn messages(wire: &mut Wire, bytes: &[u8]) -> Vec<String> {
        let (mut at, mut out) = (0, Vec::new());
        loop {
            match wire.decode(&bytes[at..]).unwrap() {
                (Decoded::Incomplete, _) => return out,
                (Decoded::Message(m), used) => {
                    out.push(String::from_utf8_lossy(m).into_owned());
                    at += used;
                }
                (_, used) => at += used,
            }
        }
    }

    #[test]
    fn frames_and_lines_say_hello_and_read_like_the_server() {
        let mut hello = Vec::new();
        Wire::new(Framing::Frames, 0).hello_into("h", &mut hello);
        Wire::new(Framing::Lines, 0).hello_into("h", &mut hello);
        assert_eq!(hello, b"\0\0\0\0\n");
        let mut lines = Wire::new(Framing::Lines, 0);
        assert_eq!(messages(&mut lines, b"a\nb\n"), ["a", "b"]);
        let mut out = Vec::new();
        lines.encoder().encode_into(b"hi", &mut out);
        assert_eq!(out, b"hi\n");
    }

    #[test]
    fn a_websocket_hello_is_an_upgrade_and_its_101_comes_before_the_messages() {
        let mut wire = Wire::new(Framing::WebSocket, 42);
        let mut request = Vec::new();
        wire.hello_into("127.0.0.1:9", &mut request);
        assert!(request.starts_with(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
        let Answer::Upgrade { mut response, .. } = answer(&request, &Site::default()) else {
            panic!("the server does not upgrade {request:?}");
        };
        Framing::WebSocket.encode_into(b"* welcome", &mut response);
        assert_eq!(messages(&mut wire, &response), ["* welcome"]);
        let mut frame = Vec::new();
        wire.encoder().encode_into(b"hi", &mut frame);
        assert_eq!((frame[0], frame[1]), (0x81, 0x82), "FIN text, masked, 2 bytes");
    }
}
