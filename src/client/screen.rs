//! Lines on their way to stdout: styled, collected during one loop turn, written at once.
//!
//! The collected text is bounded: past [`FLUSH_AT`] it is written at once, blocking if
//! stdout is slow. Meanwhile the socket is not read, so a flood from the server waits in
//! the kernel (and the server's slow-client limit) instead of in this process's memory.

use super::clock;
use super::style::Style;
use std::io::{self, Write};

/// Collected output written without waiting for the end of the loop turn.
pub const FLUSH_AT: usize = 64 * 1024;

/// The client's stdout.
#[derive(Debug)]
pub struct Screen {
    style: Style,
    /// Lines not yet written, each ending in `\n`.
    text: String,
    /// A failed early write, reported by the next [`Screen::flush`].
    failed: Option<io::Error>,
}

impl Screen {
    /// A screen that decorates lines as `style` says.
    pub fn new(style: Style) -> Self {
        Screen {
            style,
            text: String::new(),
            failed: None,
        }
    }

    /// Adds a (cleaned) message from the server.
    pub fn received(&mut self, text: &str) {
        if self.failed.is_some() {
            return; // stdout is broken; the error ends the client at the end of this turn
        }
        let stamp = self.stamp();
        self.style.received(text, &stamp, &mut self.text);
        self.text.push('\n');
        if self.text.len() >= FLUSH_AT && self.failed.is_none() {
            self.failed = self.flush().err();
        }
    }

    /// Adds what the user just sent, if the style shows it.
    pub fn sent(&mut self, line: &str) {
        if let Some(shown) = self.style.sent(line, &self.stamp()) {
            self.text.push_str(&shown);
            self.text.push('\n');
        }
    }

    /// Writes the collected lines to stdout.
    ///
    /// # Errors
    /// stdout failed; `BrokenPipe` means whoever read it has gone.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        if self.text.is_empty() {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        let written = stdout
            .write_all(self.text.as_bytes())
            .and_then(|()| stdout.flush());
        self.text.clear();
        written
    }

    fn stamp(&self) -> String {
        if self.style.timestamps {
            clock::local_hms()
        } else {
            String::new()
        }
    }
}
