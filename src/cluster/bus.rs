//! What servers publish to each other: version 1 of the bus format.
//!
//! A message is UTF-8 fields separated by the unit separator (0x1F), which cleaned
//! text never contains (`crate::text` turns every control character into a space):
//!
//! ```text
//! room message, on the room's channel:   1 US R US origin US sender US text
//! private message, on a server's channel: 1 US P US origin US from US to US text
//! ```
//!
//! `origin` is the publishing server's `--node-name`; `sender` is the sending client's
//! id on that server (so that it is not sent its own message back), or `-`; `text` is
//! the line exactly as recipients see it. Anyone who can reach Redis can publish, so a
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

/// A decoded bus message; its fields borrow from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMessage<'a> {
    /// For every member of the room whose channel it came on.
    Room {
        /// The server that published it.
        origin: &'a str,
        /// The sending client on `origin`, which does not get it back.
        sender: Option<usize>,
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
pub fn encode_room(origin: &str, sender: Option<usize>, text: &str, out: &mut Vec<u8>) {
    let sender = sender.map_or_else(|| "-".to_string(), |id| id.to_string());
    join(out, &[VERSION, "R", origin, &sender, text]);
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
        "R" => {
            let mut fields = rest.splitn(3, SEPARATOR);
            let (Some(origin), Some(sender), Some(text)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(BadMessage("too few fields"));
            };
            let sender = match sender {
                "-" => None,
                id => Some(parse_id(id).ok_or(BadMessage("bad sender"))?),
            };
            BusMessage::Room { origin, sender, text }
        }
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
        _ => return Err(BadMessage("unknown kind")),
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

/// A client id: decimal digits only, no sign, no leading `+`.
fn parse_id(field: &str) -> Option<usize> {
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
