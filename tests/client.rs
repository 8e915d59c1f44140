//! `mio-chat connect` against the real server (and, where the server would hide what the
//! client does, against a fake one): what it sends, what it prints, how it ends.

mod common;

use common::connect::Connect;
use common::{bin, run_to_exit, Client, Server, PATIENCE};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Skips messages until one ends with `suffix`.
fn wait_for_suffix(client: &mut Client, suffix: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !client.next().ends_with(suffix) {
        assert!(Instant::now() < deadline, "nothing ending in {suffix:?}");
    }
}

/// A port nothing listens on (bound once, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn serve_on(port: u16) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("serve").arg(format!("127.0.0.1:{port}"));
    Server::start_command(cmd)
}

fn frame(text: &str) -> Vec<u8> {
    [&(text.len() as u32).to_le_bytes()[..], text.as_bytes()].concat()
}

/// A line piped into the client reaches a netcat user, and the client exits 0 at EOF.
#[test]
fn a_piped_line_reaches_a_netcat_client_and_the_client_exits_0() {
    let server = Server::start(&[]);
    let mut watcher = server.lines();
    let addr = server.addr.to_string();
    let mut client = Connect::piped(&[&addr, "--nick", "alice"]);
    client.type_line("hello from a pipe");
    client.close_stdin();
    watcher.wait_for("alice: hello from a pipe");
    assert!(client.wait().success(), "stderr:\n{}", client.stderr());
}

/// What a netcat user says is printed on the client's stdout exactly as sent: no
/// colours, no `you:` lines, nothing added when stdout is not a terminal.
#[test]
fn a_netcat_clients_line_is_printed_plainly_on_a_piped_stdout() {
    let server = Server::start(&[]);
    let mut bob = server.lines();
    bob.set_nick("bob");
    let mut client = Connect::piped(&[&server.addr.to_string(), "--nick", "alice"]);
    wait_for_suffix(&mut bob, " is now alice");
    bob.send("hi there");
    client.expect_line("bob: hi there");
    client.type_line("mine");
    bob.wait_for("alice: mine");
    client.close_stdin();
    assert!(client.wait().success());
    for line in client.all_lines() {
        assert!(
            !line.contains('\x1b') && !line.contains("you:"),
            "decorated: {line:?}"
        );
    }
}

/// `--nick` and `--room` are applied right after connecting, before the first line.
#[test]
fn nick_and_room_flags_take_effect() {
    let server = Server::start(&[]);
    let mut den = server.lines();
    den.send("/join den");
    den.wait_for_prefix("* guest");
    let addr = server.addr.to_string();
    let mut client = Connect::start(
        &[&addr, "--nick", "carol", "--room", "den", "--send", "hi den"],
        Stdio::null(),
    );
    den.wait_for("* carol joined");
    den.expect("carol: hi den");
    assert!(client.wait().success());
    client.expect_line("* carol joined");
}

/// stdin may be a regular file, which epoll cannot watch.
#[test]
fn lines_from_a_regular_file_are_sent_in_order() {
    let server = Server::start(&[]);
    let mut watcher = server.lines();
    let path = std::env::temp_dir().join(format!("mio-chat-client-{}.txt", std::process::id()));
    std::fs::write(
        &path,
        "/nick dave\nfirst line\n\nsecond line\r\nno newline at the end",
    )
    .unwrap();
    let file = std::fs::File::open(&path).expect("open the script");
    let mut client = Connect::start(&[&server.addr.to_string()], Stdio::from(file));
    watcher.wait_for_prefix("* guest");
    watcher.expect_prefix("* guest");
    watcher.expect("dave: first line");
    watcher.expect("dave: second line");
    watcher.expect("dave: no newline at the end");
    assert!(client.wait().success(), "stderr:\n{}", client.stderr());
    std::fs::remove_file(&path).ok();
}

/// Terminal escapes typed by another user never reach the client's stdout raw.
#[test]
fn escape_sequences_from_another_client_are_not_printed_raw() {
    let server = Server::start(&[]);
    let mut mallory = server.lines();
    mallory.set_nick("mallory");
    let mut client = Connect::piped(&[&server.addr.to_string(), "--nick", "victim"]);
    wait_for_suffix(&mut mallory, " is now victim");
    mallory.send_raw(b"\x1b[2J\x1b]0;owned\x07hi\x9b31m\r\n");
    client.expect_line("mallory:  [2J ]0;owned hi\u{fffd}31m");
    client.close_stdin();
    assert!(client.wait().success());
}

/// Even a server that relays escapes raw cannot make the client print them: the client
/// cleans every frame itself.
#[test]
fn escapes_and_bad_utf8_from_the_server_itself_are_cleaned() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut client = Connect::piped(&[&addr]);
    let (mut server, _) = listener.accept().unwrap();
    server
        .write_all(&frame("eve: \x1b[31mred\x1b[0m\u{9b}1m\u{7}"))
        .unwrap();
    server.write_all(&[4, 0, 0, 0, b'o', b'k', 0xff, b'\n']).unwrap();
    client.expect_line("eve:  [31mred [0m 1m ");
    client.expect_line("ok\u{fffd} ");
}

/// The exact bytes: an empty hello frame at once, then `/nick`, `/join` and the
/// `--send` messages as frames; the socket is closed after they are all written.
#[test]
fn the_client_says_hello_with_an_empty_frame_then_sends_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        &addr, "--nick", "al", "--room", "den", "--send", "one", "--send", "two", "--linger", "0",
    ];
    let mut client = Connect::start(&args, Stdio::null());
    let (mut server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    server
        .read_to_end(&mut got)
        .expect("read until the client closes");
    let want = [
        frame(""),
        frame("/nick al"),
        frame("/join den"),
        frame("one"),
        frame("two"),
    ]
    .concat();
    assert_eq!(got, want);
    assert!(client.wait().success());
}

/// The server restarts on the same port: the client says so, reconnects and gets its
/// nick and room back, and its next line goes out under that nick.
#[test]
fn after_a_server_restart_the_client_reconnects_with_its_nick_and_room() {
    let port = free_port();
    let first = serve_on(port);
    let mut client = Connect::piped(&[&format!("127.0.0.1:{port}"), "--nick", "erin"]);
    let mut watcher = first.lines();
    watcher.wait_until_in_room("erin");
    client.type_line("/join den");
    client.expect_line("* erin joined");
    drop(watcher);
    drop(first);
    client.wait_for_stderr("lost connection to 127.0.0.1:");
    let second = serve_on(port);
    let mut den = second.lines();
    den.send("/join den");
    den.wait_until_in_room("erin");
    client.type_line("back again");
    den.wait_for("erin: back again");
    assert!(client.stderr().contains("reconnecting in"), "{}", client.stderr());
    client.close_stdin();
    assert!(client.wait().success());
}

/// With `--no-reconnect`, losing the server is a failure: exit 1 and one line why.
#[test]
fn without_reconnect_the_client_exits_1_when_the_server_goes_away() {
    let server = Server::start(&[]);
    let mut client = Connect::piped(&[&server.addr.to_string(), "--nick", "frank", "--no-reconnect"]);
    let mut watcher = server.lines();
    watcher.wait_until_in_room("frank");
    drop(watcher);
    drop(server);
    assert_eq!(client.wait().code(), Some(1));
    let stderr = client.stderr();
    assert!(stderr.starts_with("mio-chat: lost connection to "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Nothing listening and no reconnect: one clear line, exit 1.
#[test]
fn a_refused_connection_without_reconnect_is_one_line_and_exit_1() {
    let addr = format!("127.0.0.1:{}", free_port());
    let run = run_to_exit(&["connect", &addr, "--no-reconnect"]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!("mio-chat: cannot connect to {addr}: Connection refused\n")
    );
}

/// Nothing listening with reconnect on: it says it is retrying, and keeps at it.
#[test]
fn a_refused_connection_with_reconnect_says_it_is_retrying() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut client = Connect::piped(&[&addr]);
    client.wait_for_stderr("retrying in");
    assert!(client.stderr().starts_with(&format!(
        "mio-chat: cannot connect to {addr}: Connection refused; "
    )));
    assert!(client.child.try_wait().unwrap().is_none(), "it gave up");
}

/// A typed `/quit` ends the client as soon as the server closes, long before the linger.
#[test]
fn quit_exits_0_when_the_server_closes() {
    let server = Server::start(&[]);
    let mut client = Connect::piped(&[&server.addr.to_string(), "--linger", "600"]);
    client.type_line("/quit");
    client.expect_line("* bye");
    assert!(client.wait().success());
}

/// Ctrl-C (SIGINT) is a clean exit.
#[test]
fn sigint_exits_0() {
    let server = Server::start(&[]);
    let mut client = Connect::piped(&[&server.addr.to_string(), "--nick", "gina"]);
    let mut watcher = server.lines();
    watcher.wait_until_in_room("gina");
    let sent = unsafe { libc::kill(client.child.id() as i32, libc::SIGINT) };
    assert_eq!(sent, 0);
    assert!(client.wait().success(), "stderr:\n{}", client.stderr());
}

/// `--send` does not read stdin: the client ends even though stdin stays open.
#[test]
fn send_flags_do_not_wait_for_stdin() {
    let server = Server::start(&[]);
    let mut watcher = server.lines();
    let mut client = Connect::piped(&[
        &server.addr.to_string(),
        "--send",
        "a",
        "--send",
        "b",
        "--linger",
        "0",
    ]);
    watcher.wait_for_prefix("guest");
    watcher.wait_for_prefix("guest");
    assert!(client.wait().success());
}

/// `--timestamps` prefixes `HH:MM:SS ` even in a pipe, where it was asked for explicitly.
#[test]
fn timestamps_prefix_every_line() {
    let server = Server::start(&[]);
    let mut client = Connect::piped(&[&server.addr.to_string(), "--timestamps"]);
    client.close_stdin();
    assert!(client.wait().success());
    let lines = client.all_lines();
    let welcome = lines.first().expect("the welcome");
    let (stamp, text) = welcome.split_at(9);
    assert!(text.starts_with("* welcome to mio-chat"), "{welcome:?}");
    let digits: Vec<bool> = stamp.bytes().map(|b| b.is_ascii_digit()).collect();
    assert_eq!(
        digits,
        [true, true, false, true, true, false, true, true, false],
        "{stamp:?}"
    );
}

/// Bad flags are usage errors (exit 2) that name the flag.
#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, names) in [
        (&["connect", "--linger", "soon"][..], "--linger"),
        (&["connect", "--nick", "two words"][..], "--nick"),
        (&["connect", "no-port"][..], "no-port"),
    ] {
        let run = run_to_exit(args);
        assert_eq!(run.code(), 2, "{args:?}");
        assert!(
            run.stderr.contains(names) && run.stderr.contains("--help"),
            "{}",
            run.stderr
        );
    }
}

/// `--help` lists every flag and exits 0.
#[test]
fn help_lists_the_flags() {
    let run = run_to_exit(&["connect", "--help"]);
    assert_eq!(run.code(), 0);
    for flag in [
        "--nick",
        "--room",
        "--send",
        "--linger",
        "--no-reconnect",
        "--timestamps",
        "--no-color",
    ] {
        assert!(run.stdout.contains(flag), "{flag} missing from:\n{}", run.stdout);
    }
}
