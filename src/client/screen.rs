//! Lines on their way to the user: styled, collected during one loop turn, written at
//! once to stdout, or above the input line when the line editor owns the terminal.
//!
//! The collected text is bounded: past [`FLUSH_AT`] it is written at once, blocking if
//! stdout is slow. Meanwhile the socket is not read, so a flood from the server waits in
//! the kernel (and the server's slow-client limit) instead of in this process's memory.

use super::clock;
use super::editor::EditorOutput;
use super::style::Style;
use std::io::{self, Write};

/// Collected output written without waiting for the end of the loop turn.
pub const FLUSH_AT: usize = 64 * 1024;

/// Where the lines go.
#[derive(Debug)]
pub enum Output {
    /// Plain stdout: a pipe, a file, or a terminal without the line editor.
    Stdout,
    /// Above the line editor's input line.
    Editor(EditorOutput),
}

/// The client's output.
#[derive(Debug)]
pub struct Screen {
    style: Style,
    output: Output,
    /// Lines not yet written, each ending in `\n`.
    text: String,
    /// A failed early write, reported by the next [`Screen::flush`].
    failed: Option<io::Error>,
}

impl Screen {
    /// A screen that decorates lines as `style` says and writes them to `output`.
    pub fn new(style: Style, output: Output) -> Self {
        Screen {
            style,
            output,
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

    /// Adds what the user just sent, if the style shows it. The line editor has already
    /// redrawn the typed line as it, so then nothing is added.
    pub fn sent(&mut self, line: &str) {
        if matches!(self.output, Output::Editor(_)) {
            return;
        }
        if let Some(shown) = self.style.sent(line, &self.stamp()) {
            self.text.push_str(&shown);
            self.text.push('\n');
        }
    }

    /// Says `what` on one `mio-chat: ` line, after the lines collected so far: above the
    /// input line if stderr is the editor's terminal too, else on stderr.
    pub fn status(&mut self, what: &str) {
        let line = format!("mio-chat: {what}\n");
        if matches!(&self.output, Output::Editor(e) if e.shows_status()) {
            self.text.push_str(&line);
            self.failed = self.flush().err();
            return;
        }
        // A lost notice is no reason to stop, and stdout's failure is reported later.
        let _ = self.flush();
        // Not eprint!, which panics when stderr is closed.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// Writes the collected lines.
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
        let text = std::mem::take(&mut self.text);
        match &mut self.output {
            Output::Stdout => write_to_stdout(&text),
            Output::Editor(editor) => editor.print(text),
        }
    }

    /// Writes the last lines and hands the terminal back (see [`EditorOutput::finish`]).
    ///
    /// # Errors
    /// As [`Screen::flush`].
    pub fn finish(&mut self) -> io::Result<()> {
        let text = std::mem::take(&mut self.text);
        match &mut self.output {
            Output::Stdout => write_to_stdout(&text),
            Output::Editor(editor) => editor.finish(&text),
        }
    }

    fn stamp(&self) -> String {
        if self.style.timestamps {
            clock::local_hms()
        } else {
            String::new()
        }
    }
}

fn write_to_stdout(text: &str) -> io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
}
