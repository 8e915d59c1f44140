//! Who is at the other end of stdin and stdout, and so where lines come from and go: the
//! `--send` messages, a pipe or a file read line by line, or a person at a terminal with
//! the line editor.

use super::editor;
use super::input::UserInput;
use super::nicks::RoomNicks;
use super::screen::Output;
use super::style::Style;
use mio::Waker;
use std::io;
use std::sync::Arc;

/// The input and output for this run. With `send` messages stdin is not read; the line
/// editor is used only when stdin and stdout are both terminals (and can be edited on:
/// with `TERM=dumb` the plain reader is used).
///
/// # Errors
/// The reader thread could not be started.
pub fn open(
    send: Vec<String>,
    style: Style,
    nicks: &RoomNicks,
    waker: &Arc<Waker>,
) -> io::Result<(UserInput, Output)> {
    if !send.is_empty() {
        return Ok((UserInput::scripted(send), Output::Stdout));
    }
    if editor::is_wanted() {
        match editor::start(style, nicks.shared(), Arc::clone(waker)) {
            Ok((lines, output)) => return Ok((UserInput::from_thread(lines), Output::Editor(output))),
            Err(e) => log::debug!("no line editor ({e}); reading stdin line by line"),
        }
    }
    Ok((UserInput::stdin(Arc::clone(waker))?, Output::Stdout))
}
