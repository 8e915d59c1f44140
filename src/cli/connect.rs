//! `mio-chat connect [ADDR]`: parses the flags and runs the client.

use super::{address, flag, parse_flags, Failure, Outcome};
use mio_chat::client::{self, style::Style, Config};
use mio_chat::command::{is_valid_name, MAX_NAME_LEN};
use std::time::Duration;

const USAGE: &str = "\
usage: mio-chat connect [ADDR] [options]

Chats with the server at ADDR (default 127.0.0.1:1234). Every line on stdin is sent as
one message; every message received is printed as one line. stdin may be a terminal, a
pipe or a file; when it ends (or after the --send messages), the client waits until
everything is sent, keeps printing for --linger seconds, and exits 0. On a terminal your
own lines are shown as `you: TEXT` and nicks are coloured; in a pipe lines are printed as
received. Type /help for the server's commands, /quit or Ctrl-C to leave.";

/// Runs `mio-chat connect` with its arguments (after the subcommand).
pub fn main(args: &[String]) -> Outcome {
    let Some(config) = parse(args)? else {
        return Ok(());
    };
    super::init_logging();
    client::run(config).map_err(|e| Failure::Runtime(e.to_string()))
}

fn options() -> getopts::Options {
    let mut opts = getopts::Options::new();
    opts.optopt("n", "nick", "set this nick on every (re)connect", "NAME");
    opts.optopt("r", "room", "join this room on every (re)connect", "ROOM");
    opts.optmulti(
        "",
        "send",
        "send TEXT instead of reading stdin (repeatable)",
        "TEXT",
    );
    opts.optopt(
        "",
        "linger",
        "seconds to keep printing after the input is sent (0.5)",
        "SECS",
    );
    opts.optflag("", "no-reconnect", "exit 1 when the connection fails or is lost");
    opts.optflag(
        "",
        "timestamps",
        "prefix every line with the local time, HH:MM:SS",
    );
    opts.optflag("", "no-color", "no colours (also when NO_COLOR is set)");
    opts.optflag("h", "help", "show this help");
    opts
}

/// The client's configuration from the command line; `None` when help was printed.
fn parse(args: &[String]) -> Result<Option<Config>, Failure> {
    let Some(matches) = parse_flags(&options(), args, USAGE)? else {
        return Ok(None);
    };
    let addr = address(&matches, client::DEFAULT_ADDR)?;
    check_address(&addr)?;
    let linger: f64 = flag(&matches, "linger", client::DEFAULT_LINGER.as_secs_f64())?;
    let linger = Duration::try_from_secs_f64(linger)
        .map_err(|_| Failure::Usage(format!("invalid value '{linger}' for --linger: use seconds >= 0")))?;
    Ok(Some(Config {
        addr,
        nick: name_flag(&matches, "nick")?,
        room: name_flag(&matches, "room")?,
        send: matches.opt_strs("send"),
        linger,
        reconnect: !matches.opt_present("no-reconnect"),
        style: Style::detect(matches.opt_present("no-color"), matches.opt_present("timestamps")),
    }))
}

/// `--nick` or `--room`, which must be a name the server accepts.
fn name_flag(matches: &getopts::Matches, name: &str) -> Result<Option<String>, Failure> {
    match matches.opt_str(name) {
        Some(value) if !is_valid_name(&value) => Err(Failure::Usage(format!(
            "invalid value '{value}' for --{name}: use 1-{MAX_NAME_LEN} letters, digits, _ or -"
        ))),
        value => Ok(value),
    }
}

/// An address must be `HOST:PORT`; whether HOST resolves is found out (and retried) later.
fn check_address(addr: &str) -> Result<(), Failure> {
    let port = addr
        .rsplit_once(':')
        .map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
    match port {
        Some((false, Ok(_))) => Ok(()),
        _ => Err(Failure::Usage(format!("invalid address '{addr}': use HOST:PORT"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn usage_error(list: &[&str]) -> String {
        match parse(&args(list)) {
            Err(Failure::Usage(msg)) => msg,
            other => panic!("expected a usage error for {list:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_connect_to_the_default_address_with_reconnect_on() {
        let config = parse(&[]).unwrap().unwrap();
        assert_eq!(config.addr, "127.0.0.1:1234");
        assert_eq!(config.linger, Duration::from_millis(500));
        assert!(config.reconnect && config.send.is_empty());
        assert_eq!((config.nick, config.room), (None, None));
    }

    #[test]
    fn flags_are_read() {
        let list = [
            "[::1]:9",
            "--nick",
            "al",
            "--room",
            "den",
            "--send",
            "a",
            "--send",
            "b c",
            "--linger",
            "0",
            "--no-reconnect",
        ];
        let config = parse(&args(&list)).unwrap().unwrap();
        assert_eq!(config.addr, "[::1]:9");
        assert_eq!(config.nick.as_deref(), Some("al"));
        assert_eq!(config.room.as_deref(), Some("den"));
        assert_eq!(config.send, ["a", "b c"]);
        assert_eq!(config.linger, Duration::ZERO);
        assert!(!config.reconnect);
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        assert!(usage_error(&["--linger", "soon"]).contains("'soon' for --linger"));
        assert!(usage_error(&["--linger", "-1"]).contains("--linger"));
        assert!(usage_error(&["--nick", "two words"]).contains("'two words' for --nick"));
        assert!(usage_error(&["--room", ""]).contains("--room"));
        assert!(usage_error(&["localhost"]).contains("'localhost'"));
        assert!(usage_error(&["h:99999"]).contains("HOST:PORT"));
        assert!(usage_error(&["a:1", "b:2"]).contains("'b:2'"));
        assert!(usage_error(&["--bogus"]).contains("bogus"));
    }
}
