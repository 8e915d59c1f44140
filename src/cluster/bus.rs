//! What servers publish to each other: version 1 of the bus format.
//!
//! A message is UTF-8 fields separated by the unit separator (0x1F), which cleaned
//! text never contains (`crate::text` turns every control character into a space):
//!
//! ```text
//! room message, on the room's channel:   1 US kind US origin US sender US text
//! private message, on a server's channel: 1 US P US origin US from US to US text
//! ```
//!
//! `origin` is the publishing server's `--node-name`; `sender` is the sending client's
//! serial number on that server, or `-`; `text` is the line exactly as recipients see it.
//! A room message's kind says who gets the text and, for the sender's own server, when
//! the sender starts or stops getting the room's messages: membership changes travel in
//! the room's one sequence like its lines, so a client that joins or leaves gets exactly
//! the messages that come after its join and before its leave in that sequence, on every
//! server (see [`RoomKind`]). Anyone who can reach Redis can publish, so a
//! message is checked as carefully as a client's input: a wrong version, kind, name,
//! field count, length or unclean text makes it [`BadMessage`], which the server counts,
//! logs and drops.

use super::is_valid_node_name;
use crate::command::is_valid_name;
use crate::framing::MAX_MESSAGE_LIMIT;
use crate::text;
use std::fmt;

/// The version this server writes and reads.
pub const VERSION: &str = "1";
/// The field separator.
pub const SEPARATOR: char = '\u{1f}';
/// The longest text a bus message may carry: the longest message a client may send,
/// with room for a nick and a notice around it.
pub const MAX_TEXT: usize = MAX_MESSAGE_LIMIT + 256;

/// What a room message does, by its kind letter. "Members" are the clients getting the
/// room's messages on the server that receives it; the sender is a client of the
/// origin server, so only that server acts on "the sender starts/stops listening".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// `R`: a line for every member but the sender (everyone, with sender `-`).
    Line,
    /// `J`, `j`, `q`, `n`: the sender starts listening to the room; then the text goes to
    /// every member (`J`, a join notice with its confirmation), every member but the
    /// sender (`j`, a newcomer's arrival: its welcome was its confirmation), only the
    /// sender (`q`, a join above `--announce-limit`), or nobody (`n`).
    Enter(Audience),
    /// `L`, `l`: the sender stops listening to the room; then the text goes to every
    /// member (`L`) or nobody (`l`, a leave above `--announce-limit`).
    Leave {
        /// The members left are told.
        told: bool,
    },
}

/// Who gets an [`RoomKind::Enter`] message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every member, the sender included.
    All,
    /// Every member but the sender.
    Others,
    /// The sender only.
    Sender,
    /// Nobody.
    Nobody,
}

impl RoomKind {
    /// Every kind version 1 knows, each with its own letter.
    pub const ALL: [RoomKind; 7] = [
        RoomKind::Line,
        RoomKind::Enter(Audience::All),
        RoomKind::Enter(Audience::Others),
        RoomKind::Enter(Audience::Sender),
        RoomKind::Enter(Audience::Nobody),
        RoomKind::Leave { told: true },
        RoomKind::Leave { told: false },
    ];

    /// The kind's letter.
    pub fn letter(self) -> &'static str {
        match self {
            RoomKind::Line => "R",
            RoomKind::Enter(Audience::All) => "J",
            RoomKind::Enter(Audience::Others) => "j",
            RoomKind::Enter(Audience::Sender) => "q",
            RoomKind::Enter(Audience::Nobody) => "n",
            RoomKind::Leave { told: true } => "L",
            RoomKind::Leave { told: false } => "l",
        }
    }

    fn from_letter(letter: &str) -> Option<RoomKind> {
        RoomKind::ALL.into_iter().find(|kind| kind.letter() == letter)
    }
}

/// A decoded bus message; its fields borrow from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMessage<'a> {
    /// For every member of the room whose channel it came on.
    Room {
        /// What it does.
        kind: RoomKind,
        /// The server that published it.
        origin: &'a str,
        /// The sending client's serial number on `origin`.
        sender: Option<u64>,
        /// The line as shown.
        text: &'a str,
    },
    /// For one nick on the server whose channel it came on.
    Private {
        /// The server that published it.
        origin: &'a str,
        /// The sender's nick.
        from: &'a str,
        /// The recipient's nick.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
}

/// Why a payload is not a bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage(pub &'static str);

impl fmt::Display for BadMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Appends a room message to `out`.
pub fn encode_room(kind: RoomKind, origin: &str, sender: Option<u64>, text: &str, out: &mut Vec<u8>) {
    let sender = sender.map_or_else(|| "-".to_string(), |serial| serial.to_string());
    join(out, &[VERSION, kind.letter(), origin, &sender, text]);
}

/// Appends a private message to `out`.
pub fn encode_private(origin: &str, from: &str, to: &str, text: &str, out: &mut Vec<u8>) {
    join(out, &[VERSION, "P", origin, from, to, text]);
}

/// Decodes and checks a payload.
///
/// # Errors
/// What is wrong with it.
pub fn decode(payload: &[u8]) -> Result<BusMessage<'_>, BadMessage> {
    if payload.len() > MAX_TEXT + 256 {
        return Err(BadMessage("too long"));
    }
    let payload = std::str::from_utf8(payload).map_err(|_| BadMessage("not UTF-8"))?;
    let mut fields = payload.splitn(3, SEPARATOR);
    let (version, kind, rest) = (fields.next(), fields.next(), fields.next());
    if version != Some(VERSION) {
        return Err(BadMessage("unknown version"));
    }
    let (kind, rest) = kind.zip(rest).ok_or(BadMessage("too few fields"))?;
    let message = match kind {
        "P" => {
            let mut fields = rest.splitn(4, SEPARATOR);
            let (Some(origin), Some(from), Some(to), Some(text)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(BadMessage("too few fields"));
            };
            if !is_valid_name(from) || !is_valid_name(to) {
                return Err(BadMessage("bad nick"));
            }
            BusMessage::Private {
                origin,
                from,
                to,
                text,
            }
        }
        letter => {
            let kind = RoomKind::from_letter(letter).ok_or(BadMessage("unknown kind"))?;
            let mut fields = rest.splitn(3, SEPARATOR);
            let (Some(origin), Some(sender), Some(text)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(BadMessage("too few fields"));
            };
            let sender = match sender {
                "-" if kind == RoomKind::Line => None,
                "-" => return Err(BadMessage("a join or leave without its client")),
                serial => Some(parse_serial(serial).ok_or(BadMessage("bad sender"))?),
            };
            BusMessage::Room {
                kind,
                origin,
                sender,
                text,
            }
        }
    };
    let (origin, text) = match message {
        BusMessage::Room { origin, text, .. } | BusMessage::Private { origin, text, .. } => (origin, text),
    };
    if !is_valid_node_name(origin) {
        return Err(BadMessage("bad origin"));
    }
    if text.is_empty() || text.len() > MAX_TEXT || !text::is_clean(text) {
        return Err(BadMessage("bad text"));
    }
    Ok(message)
}

/// A client's serial number: decimal digits only, no sign, no leading `+`.
fn parse_serial(field: &str) -> Option<u64> {
    if field.is_empty() || field.len() > 20 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

fn join(out: &mut Vec<u8>, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR as u8);
        }
        out.extend_from_slice(field.as_bytes());
    }
}

#[cfg(test)]
mod tests;
