//! The line editor for a person at a terminal (stdin and stdout both terminals): the
//! input line stays at the bottom, and what arrives is printed above it.
//!
//! rustyline's `readline()` blocks, so it runs on the input thread, in place of the plain
//! stdin reader, and hands lines to the loop over the same channel and waker. The loop
//! prints through rustyline's `ExternalPrinter` ([`EditorOutput::print`]): the editor
//! clears the input line, prints, and redraws the half-typed text with the cursor where
//! it was. The pieces:
//! - [`helper`]: Tab completion, the prompt, the redraw of an accepted line as
//!   `you: TEXT`.
//! - [`redraw`]: what the prompt and a redrawn line look like.
//! - [`mode`]: the terminal mode to put back at exit.
//!
//! Ctrl-C, and Ctrl-D on an empty line, are handed over as `/quit`. After a `/quit` the
//! thread stops reading (as the loop stops taking lines), so the terminal is back in its
//! own mode by the time the server says goodbye.
//!
//! What rustyline's printer does not promise, and what it costs here:
//! - While Tab cycles through completions or Ctrl-R searches, rustyline draws no printed
//!   line; its printer holds one, and the loop blocks on the next until the user goes on
//!   (back-pressure, as with a terminal paused by Ctrl-S before).
//! - Between two `readline` calls the printer writes straight to the terminal; a line
//!   arriving in the instant Enter is handled can land just after the redrawn line.
//! - At exit the last lines are written directly ([`EditorOutput::finish`]); a line
//!   handed to the editor an instant before may not have been drawn yet.

pub mod helper;
pub mod mode;
pub mod redraw;

use super::input::{hand_over, Input, CHANNEL_LINES};
use super::nicks::SharedNicks;
use super::style::Style;
use crate::command::{self, Command};
use helper::ChatHelper;
use mio::Waker;
use mode::SavedMode;
use rustyline::config::{ColorMode, CompletionType, Config, EditMode};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

/// Lines Up and Down recall.
const HISTORY_LINES: usize = 1000;
/// Back to the start of the row and clear it: removes a prompt left at exit.
const CLEAR_ROW: &str = "\r\x1b[K";

/// rustyline with the chat's helper.
type ChatEditor = Editor<ChatHelper, DefaultHistory>;

/// Whether the line editor is for us: only when a person is at both ends of the terminal.
/// Pipes and files keep the plain reader, byte for byte.
pub fn is_wanted() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Where the loop's output goes while the editor owns the terminal.
pub struct EditorOutput {
    printer: Box<dyn ExternalPrinter + Send>,
    /// Set by the input thread while it is inside `readline` (a prompt may be drawn).
    reading: Arc<AtomicBool>,
    mode: SavedMode,
    /// stderr is a terminal too, so status lines go above the input line as well.
    status_here: bool,
}

impl EditorOutput {
    /// Prints `text` (whole lines) above the input line.
    ///
    /// # Errors
    /// The terminal could not be written.
    pub fn print(&mut self, text: String) -> io::Result<()> {
        self.printer.print(text).map_err(io::Error::other)
    }

    /// Whether status lines (normally on stderr) should be printed here instead.
    pub fn shows_status(&self) -> bool {
        self.status_here
    }

    /// The last output: written directly rather than handed to the editor, which might
    /// not draw it before the process ends, over the prompt if one is drawn; then the
    /// terminal's own mode is put back.
    ///
    /// # Errors
    /// stdout could not be written (the mode is put back all the same).
    pub fn finish(&mut self, text: &str) -> io::Result<()> {
        let clear = if self.reading.load(Ordering::SeqCst) {
            CLEAR_ROW
        } else {
            ""
        };
        let mut stdout = io::stdout().lock();
        let written = write!(stdout, "{clear}{text}").and_then(|()| stdout.flush());
        self.mode.restore();
        written
    }
}

impl std::fmt::Debug for EditorOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditorOutput")
            .field("status_here", &self.status_here)
            .finish_non_exhaustive()
    }
}

/// Starts the editor on its own thread; it completes from `nicks` and wakes `waker`
/// after each line it hands over.
///
/// # Errors
/// The terminal cannot be set up for editing, or the thread cannot be started.
pub fn start(
    style: Style,
    nicks: SharedNicks,
    waker: Arc<Waker>,
) -> io::Result<(Receiver<Input>, EditorOutput)> {
    let mode = SavedMode::of_stdin()?;
    let mut editor = new_editor(style, nicks).map_err(io::Error::other)?;
    let printer = editor.create_external_printer().map_err(io::Error::other)?;
    let reading = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(CHANNEL_LINES);
    let prompt = redraw::prompt(&style);
    let flag = Arc::clone(&reading);
    std::thread::Builder::new()
        .name("line editor".to_string())
        .spawn(move || read_typed_lines(&mut editor, &prompt, &flag, &tx, &waker))?;
    let output = EditorOutput {
        printer: Box::new(printer),
        reading,
        mode,
        status_here: io::stderr().is_terminal(),
    };
    Ok((rx, output))
}

fn new_editor(style: Style, nicks: SharedNicks) -> rustyline::Result<ChatEditor> {
    let config = Config::builder()
        .edit_mode(EditMode::Emacs)
        .auto_add_history(true)
        .max_history_size(HISTORY_LINES)?
        .completion_type(CompletionType::Circular)
        // The helper draws the prompt and the accepted line, with or without colour.
        .color_mode(ColorMode::Forced)
        // A pasted line is sent like a typed one; the editor never holds several lines.
        .bracketed_paste(false)
        .build();
    let mut editor = ChatEditor::with_config(config)?;
    editor.set_helper(Some(ChatHelper::new(style, nicks)));
    Ok(editor)
}

/// The input thread: each line typed, until `/quit`, Ctrl-C, Ctrl-D on an empty line, or
/// a failure.
fn read_typed_lines(
    editor: &mut ChatEditor,
    prompt: &str,
    reading: &AtomicBool,
    tx: &SyncSender<Input>,
    waker: &Waker,
) {
    loop {
        reading.store(true, Ordering::SeqCst);
        let typed = editor.readline(prompt);
        reading.store(false, Ordering::SeqCst);
        if let Some(helper) = editor.helper_mut() {
            helper.end_accept();
        }
        let (inputs, last) = match typed {
            Ok(text) => lines_until_quit(&text),
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => (vec![quit()], true),
            Err(e) => (vec![Input::Failed(e.to_string())], true),
        };
        for input in inputs {
            if !hand_over(tx, waker, input) {
                return;
            }
        }
        if last {
            return;
        }
    }
}

/// The lines to send from what the editor returned (one line, unless a newline was typed
/// with Ctrl-V Ctrl-J), up to a `/quit`; and whether a `/quit` ends them.
fn lines_until_quit(text: &str) -> (Vec<Input>, bool) {
    let mut lines = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        lines.push(Input::Line(line.to_string()));
        if matches!(command::parse(line), Ok(Command::Quit(_))) {
            return (lines, true);
        }
    }
    (lines, false)
}

fn quit() -> Input {
    Input::Line("/quit".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Input {
        Input::Line(text.to_string())
    }

    #[test]
    fn a_typed_line_is_sent_and_reading_goes_on() {
        assert_eq!(lines_until_quit("hello"), (vec![line("hello")], false));
        assert_eq!(lines_until_quit(""), (vec![], false));
    }

    #[test]
    fn reading_stops_after_a_quit() {
        assert_eq!(lines_until_quit("/QUIT bye"), (vec![line("/QUIT bye")], true));
        assert_eq!(
            lines_until_quit("a\n\n/quit\nb"),
            (vec![line("a"), line("/quit")], true)
        );
    }
}
