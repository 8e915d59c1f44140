//! What the user sends: lines read from stdin by a helper thread (the plain reader here,
//! or the line editor at a terminal), or the `--send` list.
//!
//! stdin is read by a blocking thread rather than registered with the `Poll` because
//! epoll refuses regular files (`< script.txt`), and a thread treats a terminal, a pipe
//! and a file alike. The thread hands lines over a bounded channel and wakes the loop;
//! when the loop stops taking lines the channel fills, the thread blocks, and stdin is
//! no longer read: back-pressure all the way to the writer of stdin.

use mio::Waker;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

/// Lines the reader thread may be ahead of the event loop.
pub const CHANNEL_LINES: usize = 256;

/// One thing from the user's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line to send (without its line ending; never empty).
    Line(String),
    /// There will be nothing more.
    End,
    /// stdin could not be read; nothing more will come.
    Failed(String),
}

/// The source of the user's lines.
#[derive(Debug)]
pub enum UserInput {
    /// `--send` messages, then the end.
    Scripted(VecDeque<String>),
    /// Lines from a reader thread: the plain one or the line editor.
    Thread(Receiver<Input>),
    /// The end was already handed out.
    Finished,
}

impl UserInput {
    /// The given messages and then the end; stdin is not read.
    pub fn scripted(lines: Vec<String>) -> Self {
        UserInput::Scripted(lines.into())
    }

    /// Starts the thread that reads stdin line by line and wakes `waker` after each one.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn stdin(waker: Arc<Waker>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_LINES);
        std::thread::Builder::new()
            .name("stdin".to_string())
            .spawn(move || read_stdin_lines(&tx, &waker))?;
        Ok(UserInput::Thread(rx))
    }

    /// Lines from a reader thread that hands them over with [`hand_over`].
    pub fn from_thread(rx: Receiver<Input>) -> Self {
        UserInput::Thread(rx)
    }

    /// The next input if one is ready now; `None` if the loop must wait for more.
    pub fn try_next(&mut self) -> Option<Input> {
        let next = match self {
            UserInput::Scripted(lines) => Some(lines.pop_front().map_or(Input::End, Input::Line)),
            UserInput::Thread(rx) => match rx.try_recv() {
                Ok(input) => Some(input),
                Err(TryRecvError::Empty) => None,
                // The thread always says End or Failed before it stops; this is a backstop.
                Err(TryRecvError::Disconnected) => Some(Input::End),
            },
            UserInput::Finished => None,
        };
        if matches!(next, Some(Input::End | Input::Failed(_))) {
            *self = UserInput::Finished;
        }
        next
    }
}

/// The reader thread: every non-empty line of stdin, then `End` (or `Failed`).
fn read_stdin_lines(tx: &SyncSender<Input>, waker: &Waker) {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let input = match stdin.read_until(b'\n', &mut raw) {
            Ok(0) => Input::End,
            Ok(_) => match line_text(&raw) {
                Some(text) => Input::Line(text),
                None => continue,
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Input::Failed(e.to_string()),
        };
        let last = !matches!(input, Input::Line(_));
        if !hand_over(tx, waker, input) || last {
            return;
        }
    }
}

/// Gives `input` to the loop and wakes it; blocks while the channel is full. False when
/// the loop is gone, so there is no one left to tell.
pub fn hand_over(tx: &SyncSender<Input>, waker: &Waker, input: Input) -> bool {
    tx.send(input).is_ok() && waker.wake().is_ok()
}

/// The text of one raw line without its `\n` or `\r\n`; `None` for an empty line, which
/// would carry nothing.
fn line_text(raw: &[u8]) -> Option<String> {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.is_empty()).then(|| String::from_utf8_lossy(line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_removed_and_empty_lines_skipped() {
        assert_eq!(line_text(b"hello\n").as_deref(), Some("hello"));
        assert_eq!(line_text(b"hello\r\n").as_deref(), Some("hello"));
        assert_eq!(
            line_text(b"last line without newline").as_deref(),
            Some("last line without newline")
        );
        assert_eq!(line_text(b"\n"), None);
        assert_eq!(line_text(b"\r\n"), None);
        assert_eq!(line_text(b"caf\xc3\n").as_deref(), Some("caf\u{fffd}"));
    }

    #[test]
    fn scripted_input_gives_its_lines_then_the_end_once() {
        let mut input = UserInput::scripted(vec!["a".into(), "b".into()]);
        assert_eq!(input.try_next(), Some(Input::Line("a".into())));
        assert_eq!(input.try_next(), Some(Input::Line("b".into())));
        assert_eq!(input.try_next(), Some(Input::End));
        assert_eq!(input.try_next(), None);
    }
}
