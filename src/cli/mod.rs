//! Pieces shared by the subcommands' front-ends: failures, exit codes, flag helpers.

pub mod bench;
pub mod connect;
pub mod serve;

use std::process::ExitCode;
use std::str::FromStr;

/// How a subcommand failed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags or arguments: exit 2, with a hint to use `--help`.
    Usage(String),
    /// Something went wrong while running: exit 1.
    Runtime(String),
    /// Already reported; exit with this status.
    #[allow(dead_code)] // until a subcommand reports its own outcome
    Status(u8),
}

/// What a subcommand's `main` returns.
pub type Outcome = Result<(), Failure>;

/// Prints the one stderr line for a failure and turns it into the process exit code.
pub fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("mio-chat: {msg} (try --help)");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("mio-chat: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Status(code)) => ExitCode::from(code),
    }
}

/// A valued flag: name, value hint, help text.
pub type FlagSpec = (&'static str, &'static str, &'static str);

/// Options with `-h/--help` and the valued `flags`; a subcommand adds its switches.
pub fn options_with(flags: &[FlagSpec]) -> getopts::Options {
    let mut opts = getopts::Options::new();
    opts.optflag("h", "help", "show this help");
    for (name, hint, help) in flags {
        opts.optopt("", name, help, hint);
    }
    opts
}

/// Parses the flags in `args` with `opts`; `--help` prints `usage` and the options.
/// Returns `None` when help was printed.
pub fn parse_flags(
    opts: &getopts::Options,
    args: &[String],
    usage: &str,
) -> Result<Option<getopts::Matches>, Failure> {
    let matches = opts.parse(args).map_err(|e| Failure::Usage(e.to_string()))?;
    if matches.opt_present("h") {
        println!("{}", opts.usage(usage));
        return Ok(None);
    }
    Ok(Some(matches))
}

/// The value of `--name`, parsed, or `default` when absent. The error names the flag
/// and the bad value.
pub fn flag<T: FromStr>(matches: &getopts::Matches, name: &str, default: T) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    match matches.opt_str(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|e| Failure::Usage(format!("invalid value '{raw}' for --{name}: {e}"))),
    }
}

/// The optional positional address, or `default`; at most one positional is allowed.
pub fn address(matches: &getopts::Matches, default: &str) -> Result<String, Failure> {
    match matches.free.as_slice() {
        [] => Ok(default.to_string()),
        [addr] => Ok(addr.clone()),
        [_, extra, ..] => Err(Failure::Usage(format!("unexpected argument '{extra}'"))),
    }
}

/// Sets up `env_logger`: `RUST_LOG` decides, warnings and errors by default.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .init();
}
