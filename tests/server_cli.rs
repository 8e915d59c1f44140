//! Starting and stopping `mio-chat serve`: the listening line, the default address, the
//! fd limit at startup, SIGTERM/SIGINT, and failing cleanly (one line, the right exit
//! status) on bad flags or addresses.

mod common;

use common::{run_to_exit, welcome, Client, Finished, Framing, Server};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// SIGTERM flushes queued output, tells every client `* server shutting down`, exits 0.
#[test]
fn sigterm_flushes_output_tells_every_client_and_exits_zero() {
    const MESSAGES: usize = 160;
    let mut server = Server::start(&["--max-backlog", "16777216"]);
    // A small receive window keeps most of what is queued for `a` in the server, not in
    // kernel buffers, so only a real flush delivers it.
    let mut a = Client::connect_with_recv_buffer(server.addr, Framing::Lines, 4096);
    a.send_raw(b"\n");
    a.expect(&welcome(1, 1));
    let mut b = server.frames();
    a.expect("* guest2 joined");
    let mut c = server.lines();
    a.expect("* guest3 joined");
    b.expect("* guest3 joined");
    c.send("/join side");
    c.expect("* guest3 joined");
    a.expect("* guest3 left");
    b.expect("* guest3 left");
    let text = |i: usize| format!("{i} {}", "z".repeat(50_000));
    for i in 0..MESSAGES {
        b.send(&text(i));
    }
    b.expect_nothing_queued(); // all handled and queued for `a`, which has not read them

    server.signal(libc::SIGTERM);
    for i in 0..MESSAGES {
        a.expect(&format!("guest2: {}", text(i)));
    }
    assert_eq!(a.expect_eof(), ["* server shutting down"]);
    assert_eq!(b.expect_eof(), ["* server shutting down"]);
    assert_eq!(c.expect_eof(), ["* server shutting down"]);
    assert_eq!(server.wait().code(), Some(0));
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// SIGINT shuts down the same way, also with a connection whose framing is not known.
#[test]
fn sigint_tells_every_client_and_exits_zero() {
    let mut server = Server::start(&["--detect-ms", "60000"]);
    let mut a = server.lines();
    let mut undecided = Client::connect(server.addr, Framing::Lines);
    a.send("/who");
    a.expect("* online (1): guest1");
    server.signal(libc::SIGINT);
    assert_eq!(a.expect_eof(), ["* server shutting down"]);
    undecided.read_raw_to_end();
    assert_eq!(server.wait().code(), Some(0));
}

/// Asserts a failed run wrote one line to stderr, without a panic, containing `names`.
fn assert_one_clear_line(out: &Finished, names: &[&str]) {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line: {:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    for name in names {
        assert!(
            out.stderr.contains(name),
            "{:?} does not name {name:?}",
            out.stderr
        );
    }
}

/// A port already in use is a runtime error (exit 1) whose line names the address.
#[test]
fn port_in_use_is_a_runtime_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_to_exit(&["serve", &addr]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_one_clear_line(&out, &[&addr]);
}

/// An address that cannot be bound here is a runtime error naming it.
#[test]
fn unbindable_address_is_a_runtime_error_naming_it() {
    // 192.0.2.1 (TEST-NET-1) is never a local address.
    let out = run_to_exit(&["serve", "192.0.2.1:5000"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_one_clear_line(&out, &["192.0.2.1:5000"]);
}

/// An address that does not parse fails with one line naming it.
#[test]
fn malformed_address_fails_with_a_line_naming_it() {
    for bad in ["not-an-address", "127.0.0.1:99999"] {
        let out = run_to_exit(&["serve", bad]);
        assert!(matches!(out.code(), 1 | 2), "{bad}: {out:?}");
        assert_one_clear_line(&out, &[bad]);
    }
}

/// An unknown flag is a usage error (exit 2) naming the flag.
#[test]
fn unknown_flag_is_a_usage_error_naming_it() {
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--bogus"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["bogus"]);
}

/// A flag value that does not parse is a usage error naming the flag and the value.
#[test]
fn unparsable_flag_values_are_usage_errors_naming_flag_and_value() {
    for flag in [
        "--max-message",
        "--detect-ms",
        "--max-backlog",
        "--max-clients",
        "--stats-interval",
        "--zero-copy-min",
        "--handshake-timeout",
        "--announce-limit",
        "--max-per-address",
        "--msg-rate",
    ] {
        let out = run_to_exit(&["serve", "127.0.0.1:0", flag, "abc"]);
        assert_eq!(out.code(), 2, "{flag}: {out:?}");
        assert_one_clear_line(&out, &[flag, "abc"]);
    }
}

/// `--max-message` of 16 MiB or more is a usage error naming the flag and the value.
#[test]
fn max_message_over_16_mib_is_a_usage_error() {
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--max-message", "999999999"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["--max-message", "999999999"]);
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--max-message", "16777216"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["--max-message", "16777216"]);
}

/// `--framing` accepts only auto, frames or lines.
#[test]
fn unknown_framing_is_a_usage_error() {
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--framing", "xml"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["--framing", "xml"]);
}

/// A flag missing its value, or a second address, is a usage error.
#[test]
fn missing_flag_value_or_extra_argument_is_a_usage_error() {
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--max-message"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["max-message"]);
    let out = run_to_exit(&["serve", "127.0.0.1:0", "extra"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert_one_clear_line(&out, &["extra"]);
}

/// `serve --help` lists the flags and exits 0; `--version` prints the version.
#[test]
fn help_lists_the_flags_and_version_prints_the_version() {
    let out = run_to_exit(&["serve", "--help"]);
    assert_eq!(out.code(), 0, "{out:?}");
    for flag in [
        "--max-message",
        "--framing",
        "--detect-ms",
        "--echo",
        "--max-backlog",
        "--max-clients",
        "--stats-interval",
        "--keepalive",
        "--idle-timeout",
        "--zero-copy-min",
        "--handshake-timeout",
        "--announce-limit",
        "--tls-cert",
        "--tls-key",
        "--require-tls",
        "--max-per-address",
        "--msg-rate",
        "--limit-loopback",
        "--password-file",
    ] {
        assert!(out.stdout.contains(flag), "help lacks {flag}: {}", out.stdout);
    }
    let short = run_to_exit(&["serve", "-h"]);
    assert_eq!((short.code(), &short.stdout), (0, &out.stdout));
    let out = run_to_exit(&["--version"]);
    assert_eq!((out.code(), out.stdout.as_str()), (0, "mio-chat 0.1.0\n"));
}

/// The listening line is printed with logging off, and ordinary chat adds nothing to stderr.
#[test]
fn listening_line_is_the_only_stderr_output_even_with_logging_off() {
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0"]).env("RUST_LOG", "off");
    let server = Server::start_command(cmd);
    assert_ne!(server.addr.port(), 0);
    let _a = server.lines();

    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0"]).env_remove("RUST_LOG");
    let server = Server::start_command(cmd);
    let (mut a, mut b) = server.pair(Framing::Lines, Framing::Frames);
    b.send("hi");
    a.expect("guest2: hi");
    drop(b);
    a.expect("* guest2 left");
    assert_eq!(server.stderr(), "");
}

/// Without an address the server listens on 127.0.0.1:1234 (when that port is free).
#[test]
fn default_address_is_port_1234_on_loopback() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(common::bin())
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mio-chat");
    let mut first = String::new();
    let read = BufReader::new(child.stderr.take().unwrap()).read_line(&mut first);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("read stderr");
    if first.contains("127.0.0.1:1234") && !first.starts_with("mio-chat listening on") {
        return eprintln!("127.0.0.1:1234 is in use here; not checked: {first}");
    }
    assert_eq!(first, "mio-chat listening on 127.0.0.1:1234\n");
}

/// At startup the server raises its soft open-file limit to the hard limit (and logs it).
#[test]
fn startup_raises_the_soft_fd_limit_to_the_hard_limit() {
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0"]).env("RUST_LOG", "info");
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 100,
                rlim_max: 1000,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let server = Server::start_command(cmd);
    let mut client = server.lines(); // by now startup is over
    client.send("/who");
    client.expect_prefix("* online");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let fields: Vec<&str> = open_files.split_whitespace().collect();
    assert_eq!(&fields[3..5], ["1000", "1000"], "{open_files}");
    // The log line was written before the server answered, but our reader thread may
    // not have taken it from the pipe yet.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while !server.stderr().contains("file descriptor limit: 1000") {
        assert!(std::time::Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
