//! What Tab completes in the line editor: a `/command` at the start of the line, or a
//! nick seen in the current room anywhere else.
//!
//! Pure: the line, the cursor and the known nicks in, the replacements out. The editor
//! inserts the first one and cycles through the others on the next Tabs.

use std::collections::BTreeSet;

/// The commands the server knows, as typed; each is completed with a space after it.
pub const COMMANDS: [&str; 9] = [
    "/help", "/join", "/me", "/msg", "/nick", "/quit", "/rooms", "/stats", "/who",
];

/// Where the word before `pos` starts (a byte offset in `line`) and what may replace it.
///
/// A nick completed at the very start of the line is followed by `: `, the way a line is
/// addressed to someone; elsewhere by a space. Matching ignores ASCII case, as nicks do.
pub fn complete(line: &str, pos: usize, nicks: &BTreeSet<String>) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before
        .rfind(char::is_whitespace)
        .map_or(0, |at| at + before[at..].chars().next().map_or(1, char::len_utf8));
    let word = &before[start..];
    if word.is_empty() {
        return (start, Vec::new());
    }
    let matching = |candidate: &str| {
        candidate.len() >= word.len()
            && candidate.is_char_boundary(word.len())
            && candidate[..word.len()].eq_ignore_ascii_case(word)
    };
    let candidates = if start == 0 && word.starts_with('/') {
        COMMANDS
            .iter()
            .filter(|c| matching(c))
            .map(|c| format!("{c} "))
            .collect()
    } else {
        let after = if start == 0 { ": " } else { " " };
        nicks
            .iter()
            .filter(|n| matching(n))
            .map(|n| format!("{n}{after}"))
            .collect()
    };
    (start, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{parse, CommandError};

    fn nicks(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn at_end(line: &str, known: &[&str]) -> (usize, Vec<String>) {
        complete(line, line.len(), &nicks(known))
    }

    #[test]
    fn a_command_prefix_completes_to_the_command_and_a_space() {
        assert_eq!(at_end("/wh", &[]), (0, vec!["/who ".to_string()]));
        assert_eq!(
            at_end("/M", &[]),
            (0, vec!["/me ".to_string(), "/msg ".to_string()])
        );
        assert_eq!(at_end("/nope", &[]).1, Vec::<String>::new());
    }

    #[test]
    fn a_nick_at_the_start_is_addressed_and_elsewhere_followed_by_a_space() {
        let known = ["bob", "Bobby", "carol"];
        assert_eq!(at_end("bo", &known), (0, vec!["Bobby: ".into(), "bob: ".into()]));
        assert_eq!(at_end("hi CA", &known), (3, vec!["carol ".into()]));
        assert_eq!(at_end("/msg car", &known), (5, vec!["carol ".into()]));
    }

    #[test]
    fn only_the_word_before_the_cursor_counts() {
        let known = ["bob"];
        assert_eq!(
            complete("b rest", 1, &nicks(&known)),
            (0, vec!["bob: ".to_string()])
        );
        assert_eq!(at_end("bob ", &known).1, Vec::<String>::new());
        assert_eq!(at_end("", &known).1, Vec::<String>::new());
        assert_eq!(
            at_end("caf\u{e9}\u{3000}b", &known),
            (8, vec!["bob ".to_string()])
        );
        // A word ending inside a candidate's multi-byte character matches nothing.
        assert_eq!(at_end("ab", &["a\u{e9}"]).1, Vec::<String>::new());
    }

    #[test]
    fn every_completed_command_is_one_the_server_knows() {
        for command in COMMANDS {
            assert!(
                !matches!(parse(command), Err(CommandError::Unknown(_))),
                "{command}"
            );
        }
    }
}
