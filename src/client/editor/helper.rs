//! The hooks rustyline calls on the input thread while a line is edited: Tab completion,
//! the prompt's colour, and the in-place redraw of an accepted line.
//!
//! How a line accepted with Enter ends up shown once, as `you: TEXT`: rustyline calls
//! [`Validator::validate`] first; it works out the redrawn line, keeps it, and answers
//! "valid, with a message" (an empty one), which makes rustyline refresh the line one
//! last time. In that refresh the [`Highlighter`] draws the kept line in place of prompt +
//! line. rustyline then writes its newline and `readline` returns; the input thread calls
//! [`ChatHelper::end_accept`] before the next prompt. All of it runs on the input thread,
//! and while rustyline draws, lines printed by the loop wait in its printer's pipe, so
//! nothing can be printed between the typed line and its redraw.

use super::redraw;
use crate::client::clock;
use crate::client::completion;
use crate::client::nicks::SharedNicks;
use crate::client::style::Style;
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::PoisonError;

/// The line editor's helper: completion from the room's nicks, styled prompt, redraw on
/// Enter.
pub struct ChatHelper {
    style: Style,
    nicks: SharedNicks,
    /// The accepted line as it is to be redrawn, from `validate` until `end_accept`.
    accepted: RefCell<Option<String>>,
}

impl ChatHelper {
    /// A helper that decorates as `style` says and completes from `nicks`.
    pub fn new(style: Style, nicks: SharedNicks) -> Self {
        ChatHelper {
            style,
            nicks,
            accepted: RefCell::new(None),
        }
    }

    /// Forgets the accepted line: the next prompt is drawn as usual.
    pub fn end_accept(&mut self) {
        self.accepted.get_mut().take();
    }
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let nicks = self.nicks.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(completion::complete(line, pos, &nicks))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        match self.accepted.borrow().as_ref() {
            Some(shown) => Cow::Owned(shown.clone()),
            None => Cow::Borrowed(line),
        }
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _default: bool) -> Cow<'b, str> {
        if self.accepted.borrow().is_some() {
            // The redrawn line replaces the prompt too.
            return Cow::Borrowed("");
        }
        Cow::Owned(self.style.prompt(prompt))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // Nothing depends on the cursor: typing at the end stays a one-character write.
        false
    }
}

impl Validator for ChatHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let stamp = if self.style.timestamps {
            clock::local_hms()
        } else {
            String::new()
        };
        let shown = redraw::accepted(&self.style, ctx.input(), &stamp);
        // The (empty) message is what makes rustyline refresh the line once more.
        let refresh = shown.is_some().then(String::new);
        *self.accepted.borrow_mut() = shown;
        Ok(ValidationResult::Valid(refresh))
    }
}

impl Helper for ChatHelper {}
