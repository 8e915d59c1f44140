//! `mio-chat connect [ADDR]`: parses the flags and runs the client. The TLS flags
//! (`--tls`, `--ca`, `--insecure`) are declared and read here for `bench` too.

use super::{address, flag, parse_flags, Failure, Outcome};
use mio_chat::client::transport::{TlsClient, TlsSetupError, INSECURE_WARNING};
use mio_chat::client::{self, style::Style, Config};
use mio_chat::command::{is_valid_name, MAX_NAME_LEN};
use std::path::Path;
use std::time::Duration;

const USAGE: &str = "\
usage: mio-chat connect [ADDR] [options]

Chats with the server at ADDR (default 127.0.0.1:1234). Every line on stdin is sent as
one message; every message received is printed as one line. stdin may be a terminal, a
pipe or a file; when it ends (or after the --send messages), the client waits until
everything is sent, keeps printing for --linger seconds, and exits 0. On a terminal your
own lines are shown as `you: TEXT` and nicks are coloured; in a pipe lines are printed as
received. When stdin is a terminal too, the line you type stays at the bottom, with
Emacs keys, Up/Down for earlier lines and Tab to complete /commands and nicks. Type
/help for the server's commands, /quit, Ctrl-C or Ctrl-D (on an empty line) to leave.
With --tls the connection is TLS; the server's certificate must be valid for the host
in ADDR, signed by a CA in Mozilla's list (built in) or, with --ca, in FILE.";

/// Runs `mio-chat connect` with its arguments (after the subcommand).
pub fn main(args: &[String]) -> Outcome {
    let Some(config) = parse(args)? else {
        return Ok(());
    };
    super::init_logging();
    warn_if_insecure(config.tls.as_ref());
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
    add_tls_options(&mut opts);
    opts.optflag("h", "help", "show this help");
    opts
}

/// `--tls`, `--ca FILE` and `--insecure`, as `connect` and `bench` both take them.
pub fn add_tls_options(opts: &mut getopts::Options) {
    opts.optflag("", "tls", "speak TLS, verifying the server (Mozilla's roots)");
    opts.optopt(
        "",
        "ca",
        "with --tls: verify against the CA(s) in FILE only",
        "FILE",
    );
    opts.optflag(
        "",
        "insecure",
        "with --tls: do not verify the server's certificate",
    );
}

/// The TLS settings the flags ask for, `None` without `--tls`. The server's name is the
/// host part of `addr`, as typed.
///
/// # Errors
/// A usage error for `--ca` or `--insecure` without `--tls`, both together, or a host
/// that cannot be a certificate's name; a runtime error (exit 1) for a `--ca` file that
/// is missing, unreadable or holds no certificate.
pub fn tls_flags(matches: &getopts::Matches, addr: &str) -> Result<Option<TlsClient>, Failure> {
    let (ca, insecure) = (matches.opt_str("ca"), matches.opt_present("insecure"));
    if !matches.opt_present("tls") {
        return match (ca.is_some(), insecure) {
            (true, _) => Err(Failure::Usage("--ca needs --tls".to_string())),
            (_, true) => Err(Failure::Usage("--insecure needs --tls".to_string())),
            _ => Ok(None),
        };
    }
    if ca.is_some() && insecure {
        return Err(Failure::Usage("use --ca or --insecure, not both".to_string()));
    }
    match TlsClient::new(ca.as_deref().map(Path::new), insecure, addr) {
        Ok(settings) => Ok(Some(settings)),
        Err(TlsSetupError::Name(why)) => Err(Failure::Usage(why)),
        Err(TlsSetupError::CaFile(why)) => Err(Failure::Runtime(why)),
    }
}

/// The one stderr line `--insecure` costs.
pub fn warn_if_insecure(tls: Option<&TlsClient>) {
    if tls.is_some_and(|t| !t.is_verified()) {
        eprintln!("mio-chat: {INSECURE_WARNING}");
    }
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
    let tls = tls_flags(&matches, &addr)?;
    Ok(Some(Config {
        addr,
        tls,
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

    #[test]
    fn tls_flags_need_tls_and_exclude_each_other() {
        assert_eq!(usage_error(&["--ca", "ca.pem"]), "--ca needs --tls");
        assert_eq!(usage_error(&["--insecure"]), "--insecure needs --tls");
        assert_eq!(
            usage_error(&["--tls", "--insecure", "--ca", "ca.pem"]),
            "use --ca or --insecure, not both"
        );
        assert!(usage_error(&["--tls", "bad name!:1"]).contains("'bad name!'"));
    }

    #[test]
    fn tls_verifies_the_host_as_typed_and_a_bad_ca_file_is_a_runtime_error() {
        let config = parse(&args(&["--tls", "localhost:1"])).unwrap().unwrap();
        assert!(config.tls.is_some_and(|t| t.is_verified()));
        let config = parse(&args(&["--tls", "--insecure", "[::1]:1"]))
            .unwrap()
            .unwrap();
        assert!(config.tls.is_some_and(|t| !t.is_verified()));
        assert!(parse(&[]).unwrap().unwrap().tls.is_none());
        match parse(&args(&["--tls", "--ca", "/nonexistent/ca.pem"])) {
            Err(Failure::Runtime(why)) => assert!(why.starts_with("/nonexistent/ca.pem: "), "{why}"),
            other => panic!("expected a runtime error, got {other:?}"),
        }
    }
}
