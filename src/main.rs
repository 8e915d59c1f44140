//! `mio-chat`: the thin front-end. Parses the subcommand and its flags, sets up logging,
//! calls into the library, and maps the outcome to one stderr line and an exit code:
//! 0 ok, 1 runtime error, 2 usage error.

mod cli;

use std::process::ExitCode;

const USAGE: &str = "\
usage: mio-chat <command> [options]

commands:
  serve [ADDR]     run the chat server (default 127.0.0.1:1234)
  connect [ADDR]   chat from a terminal or a script (default 127.0.0.1:1234)
  bench [ADDR]     load-test a server (default 127.0.0.1:1234)

Run `mio-chat <command> --help` for the options of each command.
  -h, --help       show this help
  -V, --version    show the version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => cli::serve::main(&args[1..]),
        Some("connect") => cli::connect::main(&args[1..]),
        Some("bench") => cli::bench::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("-V" | "--version") => {
            println!("mio-chat {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(other) => Err(cli::Failure::Usage(format!("unknown command '{other}'"))),
        None => Err(cli::Failure::Usage("missing command".to_string())),
    };
    cli::exit_code(outcome)
}
