//! How lines look on stdout: decorated for a person at a terminal, untouched for a pipe.
//!
//! Pure: text and an optional timestamp in, the line to print out. Received text has
//! already been cleaned, so the only escapes in the output are the ones added here.

use crate::command::{self, Command};

/// Resets all attributes.
const RESET: &str = "\x1b[0m";
/// Notices (`* ...`) are dimmed: they are about the chat, not in it.
const DIM: &str = "\x1b[2m";
/// Errors (`! ...`) stand out.
const RED: &str = "\x1b[1;31m";
/// The `you` of the user's own lines.
const BOLD: &str = "\x1b[1m";
/// `HH:MM:SS ` (see [`super::clock::local_hms`]).
const STAMP_WIDTH: usize = 9;
/// Foreground colours for nicks; red is left out, it means errors.
const NICK_COLOURS: [u8; 10] = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96];

/// How output is decorated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// stdout is a terminal: show the user's own lines back, and allow decorations.
    pub terminal: bool,
    /// Colour nicks and mark notices and errors (terminal only).
    pub colour: bool,
    /// Prefix every line with the local time.
    pub timestamps: bool,
}

impl Style {
    /// The style for this process: decorations only if stdout is a terminal, colour unless
    /// `no_colour` or a non-empty `NO_COLOR` says otherwise (<https://no-color.org>).
    pub fn detect(no_colour: bool, timestamps: bool) -> Self {
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        let no_colour_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            terminal,
            colour: terminal && !no_colour && !no_colour_env,
            timestamps,
        }
    }

    /// Appends the line (without `\n`) to print for a cleaned message from the server.
    /// `stamp` is the `HH:MM:SS` to show when timestamps are on.
    pub fn received(&self, text: &str, stamp: &str, out: &mut String) {
        self.push_stamp(stamp, out);
        if !self.colour {
            out.push_str(text);
            return;
        }
        if text.starts_with("! ") {
            push_painted(out, RED, text);
        } else if text.starts_with("* ") {
            push_painted(out, DIM, text);
        } else if let Some((head, nick, tail)) = split_private(text) {
            out.push_str(head);
            push_nick(out, nick);
            out.push_str(tail);
        } else if let Some((nick, tail)) = split_chat(text) {
            push_nick(out, nick);
            out.push_str(tail);
        } else {
            out.push_str(text);
        }
    }

    /// The line to print for something the user sent, if any: on a terminal the server
    /// does not echo our own chat lines, so they are shown as `you: TEXT` (and `/me TEXT`
    /// as `* you TEXT`). Other commands show nothing: the server answers them.
    ///
    /// When stdin is a terminal too, the line editor redraws the typed line as this in
    /// place instead (see `editor::redraw`), so it is shown once.
    pub fn sent(&self, line: &str, stamp: &str) -> Option<String> {
        if !self.terminal {
            return None;
        }
        let (label, text) = sent_label(line)?;
        let mut out = self.sent_head(label, stamp);
        out.push_str(text);
        Some(out)
    }

    /// The decorated start of a line the user sent, up to its text: the stamp when
    /// timestamps are on, the `label` (bold when colour is on) and a space. Its width on
    /// screen is [`Style::sent_head_width`].
    pub fn sent_head(&self, label: &str, stamp: &str) -> String {
        let mut out = String::new();
        self.push_stamp(stamp, &mut out);
        if self.colour {
            push_painted(&mut out, BOLD, label);
        } else {
            out.push_str(label);
        }
        out.push(' ');
        out
    }

    /// The columns [`Style::sent_head`] takes for an ASCII `label`: escapes take none.
    pub fn sent_head_width(&self, label: &str) -> usize {
        self.stamp_width() + label.len() + 1
    }

    /// The columns the timestamp and its space take: `HH:MM:SS `, or none.
    pub fn stamp_width(&self) -> usize {
        if self.timestamps {
            STAMP_WIDTH
        } else {
            0
        }
    }

    /// The line editor's prompt as shown: dimmed when colour is on, since it is not a
    /// line of the chat.
    pub fn prompt(&self, plain: &str) -> String {
        let mut out = String::new();
        if self.colour {
            push_painted(&mut out, DIM, plain);
        } else {
            out.push_str(plain);
        }
        out
    }

    fn push_stamp(&self, stamp: &str, out: &mut String) {
        if self.timestamps {
            out.push_str(stamp);
            out.push(' ');
        }
    }
}

/// The ANSI foreground colour for `nick`: the same for a nick every time, in any case
/// (nicks are unique ignoring case).
pub fn nick_colour(nick: &str) -> u8 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = nick.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    });
    NICK_COLOURS[(hash % NICK_COLOURS.len() as u64) as usize]
}

fn push_nick(out: &mut String, nick: &str) {
    out.push_str(&format!("\x1b[{}m", nick_colour(nick)));
    out.push_str(nick);
    out.push_str(RESET);
}

fn push_painted(out: &mut String, paint: &str, text: &str) {
    out.push_str(paint);
    out.push_str(text);
    out.push_str(RESET);
}

/// How a line the user sends is shown: `you:` or `* you` and the text after it, or `None`
/// for a command, which the server answers. The text is always a part of `line`.
pub fn sent_label(line: &str) -> Option<(&'static str, &str)> {
    match command::parse(line) {
        Ok(Command::Say(text)) => Some(("you:", text)),
        Ok(Command::Me(text)) => Some(("* you", text)),
        _ => None,
    }
}

/// `NICK: text` -> (`NICK`, `: text`), if NICK is a valid nick.
fn split_chat(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(": ")?;
    let nick = &text[..colon];
    command::is_valid_name(nick).then(|| (nick, &text[colon..]))
}

/// `[pm from NICK] text` -> (`[pm from `, `NICK`, `] text`), likewise `[pm to NICK]`.
fn split_private(text: &str) -> Option<(&str, &str, &str)> {
    let head_len = ["[pm from ", "[pm to "]
        .iter()
        .find(|head| text.starts_with(*head))?
        .len();
    let end = head_len + text[head_len..].find("] ")?;
    let nick = &text[head_len..end];
    command::is_valid_name(nick).then(|| (&text[..head_len], nick, &text[end..]))
}

#[cfg(test)]
mod tests;
