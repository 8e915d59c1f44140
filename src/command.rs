//! Parsing one line of user input into a chat message or a `/command`.
//!
//! Pure and total: any text parses to a [`Command`] or a [`CommandError`] that says what
//! is wrong, never a panic. What a command *does* is the chat module's business.

/// The longest nick or room name.
pub const MAX_NAME_LEN: usize = 32;

/// One parsed line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Plain text for the room (`//text` arrives here as `/text`).
    Say(&'a str),
    /// `/nick NAME`
    Nick(&'a str),
    /// `/who [NICK-PREFIX]`
    Who(Option<&'a str>),
    /// `/msg NAME TEXT`
    Msg {
        /// The nick to send to.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `/me TEXT`
    Me(&'a str),
    /// `/join ROOM`
    Join(&'a str),
    /// `/rooms`
    Rooms,
    /// `/quit [TEXT]`
    Quit(Option<&'a str>),
    /// `/help`
    Help,
    /// `/stats`
    Stats,
}

/// Why a line is not a valid command; shown to the user after `! `.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError<'a> {
    /// A known command without its required argument; holds the usage text.
    Usage(&'static str),
    /// `/something` that is not a command; holds `something`.
    Unknown(&'a str),
}

impl std::fmt::Display for CommandError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
            CommandError::Unknown(name) => {
                write!(f, "unknown command /{name}; /help lists commands")
            }
        }
    }
}

/// Parses one line of (already cleaned) input.
///
/// # Errors
/// [`CommandError`] for an unknown command or a missing argument.
pub fn parse(line: &str) -> Result<Command<'_>, CommandError<'_>> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Say(line));
    };
    if rest.starts_with('/') {
        return Ok(Command::Say(rest));
    }
    let (name, args) = split_word(rest);
    let args = args.trim();
    let required = |usage| {
        if args.is_empty() {
            Err(CommandError::Usage(usage))
        } else {
            Ok(args)
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "nick" => required("/nick NAME").map(Command::Nick),
        "who" => Ok(Command::Who(Some(args).filter(|a| !a.is_empty()))),
        "msg" => {
            let (to, text) = split_word(args);
            let text = text.trim();
            if to.is_empty() || text.is_empty() {
                return Err(CommandError::Usage("/msg NAME TEXT"));
            }
            Ok(Command::Msg { to, text })
        }
        "me" => required("/me TEXT").map(Command::Me),
        "join" => required("/join ROOM").map(Command::Join),
        "rooms" => Ok(Command::Rooms),
        "quit" => Ok(Command::Quit(Some(args).filter(|a| !a.is_empty()))),
        "help" => Ok(Command::Help),
        "stats" => Ok(Command::Stats),
        _ => Err(CommandError::Unknown(name)),
    }
}

/// True if `name` is a valid nick or room name: 1-32 of `[A-Za-z0-9_-]`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits off the first whitespace-separated word; the rest keeps its inner spacing.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_said() {
        assert_eq!(parse("hello there"), Ok(Command::Say("hello there")));
        assert_eq!(parse(" /not a command"), Ok(Command::Say(" /not a command")));
    }

    #[test]
    fn double_slash_says_the_text_with_one_slash() {
        assert_eq!(parse("//shrug"), Ok(Command::Say("/shrug")));
        assert_eq!(parse("//"), Ok(Command::Say("/")));
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(parse("/nick  bob "), Ok(Command::Nick("bob")));
        assert_eq!(parse("/NICK bob"), Ok(Command::Nick("bob")));
        assert_eq!(parse("/join room2"), Ok(Command::Join("room2")));
        // The whole argument is the name, so "/nick bob smith" is refused as a nick.
        assert_eq!(parse("/nick bob smith"), Ok(Command::Nick("bob smith")));
        assert_eq!(parse("/me waves  twice"), Ok(Command::Me("waves  twice")));
        assert_eq!(
            parse("/msg bob hi  there "),
            Ok(Command::Msg {
                to: "bob",
                text: "hi  there"
            })
        );
        assert_eq!(
            parse("/msg\tbob\thi"),
            Ok(Command::Msg {
                to: "bob",
                text: "hi"
            })
        );
    }

    #[test]
    fn commands_without_arguments() {
        assert_eq!(parse("/who"), Ok(Command::Who(None)));
        assert_eq!(parse("/who  al "), Ok(Command::Who(Some("al"))));
        assert_eq!(parse("/rooms"), Ok(Command::Rooms));
        assert_eq!(parse("/help"), Ok(Command::Help));
        assert_eq!(parse("/stats"), Ok(Command::Stats));
        assert_eq!(parse("/quit"), Ok(Command::Quit(None)));
        assert_eq!(parse("/quit  see you "), Ok(Command::Quit(Some("see you"))));
    }

    #[test]
    fn missing_arguments_are_usage_errors() {
        for (line, usage) in [
            ("/nick", "/nick NAME"),
            ("/nick   ", "/nick NAME"),
            ("/join", "/join ROOM"),
            ("/me", "/me TEXT"),
            ("/msg", "/msg NAME TEXT"),
            ("/msg bob", "/msg NAME TEXT"),
            ("/msg bob   ", "/msg NAME TEXT"),
        ] {
            assert_eq!(parse(line), Err(CommandError::Usage(usage)), "{line}");
        }
        assert_eq!(CommandError::Usage("/me TEXT").to_string(), "usage: /me TEXT");
    }

    #[test]
    fn unknown_commands_name_themselves() {
        let err = parse("/dance now").unwrap_err();
        assert_eq!(err, CommandError::Unknown("dance"));
        assert_eq!(err.to_string(), "unknown command /dance; /help lists commands");
        assert_eq!(parse("/").unwrap_err(), CommandError::Unknown(""));
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("Bob_the-2nd"));
        assert!(is_valid_name(&"x".repeat(32)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"x".repeat(33)));
        assert!(!is_valid_name("bob!"));
        assert!(!is_valid_name("bøb"));
        assert!(!is_valid_name("a b"));
    }
}
