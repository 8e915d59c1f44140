//! What the input line looks like: the prompt while typing, and the typed line redrawn in
//! place as `you: TEXT` once Enter is pressed, so that it is shown once.
//!
//! The redraw happens in the editor's own last refresh of the line (see `helper`), so it
//! must fill exactly the columns rustyline laid out for prompt + line: rustyline then
//! moves the cursor to what it thinks is the end and writes a newline. Measuring the typed
//! text would need the terminal's idea of character widths, so it is not measured: it is
//! kept as typed, and only the ASCII before it changes. The prompt is as wide as the
//! widest head (`HH:MM:SS you: `), and a narrower head is made up with spaces after the
//! text, where they are invisible.

use crate::client::style::{sent_label, Style};

/// What the prompt says: the line will be sent as `you`.
const PROMPT_MARK: &str = "you> ";

/// The prompt, plain: `you> `, after a blank timestamp column when timestamps are on, so
/// that typing starts in the column where the text of `you: TEXT` will.
pub fn prompt(style: &Style) -> String {
    format!("{:width$}{PROMPT_MARK}", "", width = style.stamp_width())
}

/// The typed `line` as it is to be redrawn when accepted: `[HH:MM:SS ]you: TEXT` (or
/// `* you TEXT` for `/me`), as wide as the prompt and the line were.
///
/// `None` leaves the line as typed: commands (the server answers them), and lines with
/// control characters such as a tab, whose width depends on where they are drawn.
pub fn accepted(style: &Style, line: &str, stamp: &str) -> Option<String> {
    if line.chars().any(char::is_control) {
        return None;
    }
    let (label, text) = sent_label(line)?;
    // `text` is a part of `line`: everything from it to the end is kept (a trailing space
    // after `/me TEXT` included), what comes before (`/`, `/me `) is replaced.
    let kept_from = text.as_ptr() as usize - line.as_ptr() as usize;
    let (replaced, kept) = line.split_at(kept_from);
    // One column per replaced character: ASCII, or a space that is at least that wide.
    // Too few columns only leaves a blank row; too many would be overwritten.
    let columns = prompt(style).len() + replaced.chars().count();
    let padding = columns.checked_sub(style.sent_head_width(label))?;
    let mut shown = style.sent_head(label, stamp);
    shown.push_str(kept);
    shown.push_str(&" ".repeat(padding));
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style {
        terminal: true,
        colour: false,
        timestamps: false,
    };

    fn width(style: &Style, shown: &str) -> usize {
        // Only ASCII and escapes in these tests: drop `ESC [ ... m` and count the rest.
        let mut plain = String::new();
        let mut in_escape = false;
        for c in shown.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                (true, _) => {}
                (false, c) => plain.push(c),
            }
        }
        assert!(plain.is_ascii(), "{plain:?} ({style:?})");
        plain.len()
    }

    #[test]
    fn the_prompt_leaves_a_blank_timestamp_column() {
        assert_eq!(prompt(&PLAIN), "you> ");
        let stamped = Style {
            timestamps: true,
            ..PLAIN
        };
        assert_eq!(prompt(&stamped), "         you> ");
    }

    #[test]
    fn a_chat_line_is_redrawn_as_you_text() {
        assert_eq!(accepted(&PLAIN, "hello", "").as_deref(), Some("you: hello"));
        assert_eq!(accepted(&PLAIN, "//x", "").as_deref(), Some("you: /x "));
        assert_eq!(
            accepted(&PLAIN, "/me waves ", "").as_deref(),
            Some("* you waves    ")
        );
        let stamped = Style {
            timestamps: true,
            colour: true,
            ..PLAIN
        };
        assert_eq!(
            accepted(&stamped, "caf\u{e9}", "01:02:03").as_deref(),
            Some("01:02:03 \x1b[1myou:\x1b[0m caf\u{e9}")
        );
    }

    #[test]
    fn the_redrawn_line_is_exactly_as_wide_as_prompt_and_line() {
        for timestamps in [false, true] {
            for colour in [false, true] {
                let style = Style {
                    timestamps,
                    colour,
                    ..PLAIN
                };
                for line in ["hi", "//", "/me  x  ", "/ME x", "a long line of text"] {
                    let shown = accepted(&style, line, "12:34:56").expect(line);
                    assert_eq!(
                        width(&style, &shown),
                        prompt(&style).len() + line.len(),
                        "{line:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn commands_and_control_characters_are_left_as_typed() {
        for line in [
            "/who",
            "/msg bob hi",
            "/nick x",
            "/bogus",
            "a\tb",
            "a\nb",
            "/quit",
        ] {
            assert_eq!(accepted(&PLAIN, line, ""), None, "{line:?}");
        }
    }
}
