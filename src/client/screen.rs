//! Lines on their way to stdout: styled, collected during one loop turn, written at once.

use super::clock;
use super::style::Style;
use std::io::{self, Write};

/// The client's stdout.
#[derive(Debug)]
pub struct Screen {
    style: Style,
    /// Lines not yet written, each ending in `\n`.
    text: String,
}

impl Screen {
    /// A screen that decorates lines as `style` says.
    pub fn new(style: Style) -> Self {
        Screen {
            style,
            text: String::new(),
        }
    }

    /// Adds a (cleaned) message from the server.
    pub fn received(&mut self, text: &str) {
        let stamp = self.stamp();
        self.style.received(text, &stamp, &mut self.text);
        self.text.push('\n');
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
