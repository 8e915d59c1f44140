//! `mio-chat serve` on an open port: `--max-per-address` and `--msg-rate` (which spare
//! loopback peers unless `--limit-loopback`), `--password-file` with `/pass`, a client
//! that half-closes before it sends anything, and telnet option negotiation on line
//! connections. Every test runs the real binary on 127.0.0.1 and checks exact bytes.

mod common;

use common::{encode, room_of, run_to_exit, stat, welcome, Client, Framing, Server, PATIENCE};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a connection over `--max-per-address 2` is told.
const TOO_MANY: &str = "! too many connections from your address (limit 2)";
/// What a client that has not given the password yet is told.
const REQUIRED: &str = "! password required: /pass PASSWORD";
/// What a wrong `/pass` gets.
const WRONG: &str = "! wrong password";
/// The password the tests' password files hold.
const SECRET: &str = "s3cret horse";

/// Connects and sends what decides the framing (an empty line, or an empty frame),
/// without reading anything.
fn declare(server: &Server, framing: Framing) -> Client {
    let mut c = Client::connect(server.addr, framing);
    c.send_raw(match framing {
        Framing::Lines => b"\n",
        Framing::Frames => &[0, 0, 0, 0],
    });
    c
}

/// `/stats` from `client`, as sent.
fn stats(client: &mut Client) -> String {
    client.send("/stats");
    client.expect_prefix("* stats: ")
}

/// A password file in a directory of its own, both removed when dropped.
struct PasswordFile {
    dir: PathBuf,
    path: PathBuf,
}

impl PasswordFile {
    /// A fresh directory for test `name`, with `password.txt` holding `contents` (or no
    /// file at all for `None`).
    fn new(name: &str, contents: Option<&str>) -> PasswordFile {
        let dir = std::env::temp_dir().join(format!("mio-chat-open-port-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join("password.txt");
        if let Some(contents) = contents {
            fs::write(&path, contents).expect("write password file");
        }
        PasswordFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A server with `--password-file` (holding `SECRET` and a second line that is not
/// part of it), plus `args`; the file is gone once the server has read it.
fn server_with_password(name: &str, args: &[&str]) -> Server {
    let file = PasswordFile::new(name, Some(&format!("{SECRET}\nnot the password\n")));
    let mut all = vec!["--password-file", file.path()];
    all.extend_from_slice(args);
    Server::start(&all)
}

/// A client that gives the password at once and is welcomed as `guest<guest>` with
/// `online` clients on the server.
fn admitted(server: &Server, framing: Framing, guest: u32, online: usize) -> Client {
    let mut c = declare(server, framing);
    c.expect(REQUIRED);
    c.send(&format!("/pass {SECRET}"));
    c.expect(&welcome(guest, online));
    c
}

// --- --max-per-address ---

/// With `--max-per-address 2 --limit-loopback`, a third connection from 127.0.0.1 is
/// told the limit in its own framing once that is known, and closed: those exact bytes,
/// then EOF; nobody sees it join.
fn third_connection_is_refused(framing: Framing) {
    let server = Server::start(&["--max-per-address", "2", "--limit-loopback"]);
    let (mut first, mut second) = server.pair(Framing::Lines, Framing::Frames);
    let mut third = declare(&server, framing);
    assert_eq!(third.read_raw_to_end(), encode(framing, TOO_MANY.as_bytes()));
    first.send("/who");
    first.expect("* online (2): guest1, guest2");
    second.expect_nothing_queued();
}

/// A third line connection from one address over `--max-per-address 2` gets the
/// limit as a line, then EOF.
#[test]
fn a_third_line_connection_from_one_address_is_told_the_limit_and_closed() {
    third_connection_is_refused(Framing::Lines);
}

/// A third frames connection (empty hello frame first) over `--max-per-address 2` gets
/// the limit as a frame, then EOF.
#[test]
fn a_third_frames_connection_from_one_address_is_told_the_limit_in_a_frame_and_closed() {
    third_connection_is_refused(Framing::Frames);
}

/// A connection that leaves frees its slot: after one of two leaves, the next one from
/// the same address is welcomed, and the one after that is refused again.
#[test]
fn a_connection_that_leaves_frees_its_slot_for_the_next() {
    let server = Server::start(&["--max-per-address", "2", "--limit-loopback"]);
    let (mut first, second) = server.pair(Framing::Lines, Framing::Lines);
    let mut refused = declare(&server, Framing::Lines);
    assert_eq!(refused.expect_eof(), [TOO_MANY]);
    drop(second);
    first.expect("* guest2 left");
    let mut next = declare(&server, Framing::Frames);
    next.expect(&welcome(3, 2));
    first.expect("* guest3 joined");
    let mut over = declare(&server, Framing::Frames);
    assert_eq!(over.expect_eof(), [TOO_MANY]);
    next.send("/who");
    next.expect("* online (2): guest1, guest3");
}

/// Without `--limit-loopback`, loopback peers are exempt: four connections from
/// 127.0.0.1 under `--max-per-address 2` are all welcomed.
#[test]
fn loopback_connections_are_not_limited_without_limit_loopback() {
    let (_server, mut clients) = room_of(&["--max-per-address", "2"], 4);
    clients[0].send("/who");
    clients[0].expect("* online (4): guest1, guest2, guest3, guest4");
}

// --- --msg-rate ---

/// 200 short lines as one write.
fn flood_of_200_lines() -> Vec<u8> {
    (0..200).flat_map(|i| format!("m{i:03}\n").into_bytes()).collect()
}

/// Two clients in another room exchange `rounds` messages each way, each getting the
/// other's at once, and are told nothing else (no slow-down line).
fn exchange_in_side_room(a: &mut Client, b: &mut Client, rounds: usize) {
    for i in 0..rounds {
        a.send(&format!("ping {i}"));
        b.expect(&format!("guest1: ping {i}"));
        b.send(&format!("pong {i}"));
        a.expect(&format!("guest2: pong {i}"));
    }
    a.expect_nothing_queued();
    b.expect_nothing_queued();
}

/// With `--msg-rate 50 --limit-loopback`, a client writing 200 lines at once is not
/// dropped and loses nothing: a member of its room gets all 200 in order, no sooner than
/// the rate allows (> 1 s for the 100 past the burst); the sender is told to slow down
/// exactly once; meanwhile two clients in another room chat unthrottled.
#[test]
fn a_client_over_its_message_rate_is_slowed_down_once_and_loses_nothing() {
    let server = Server::start(&["--msg-rate", "50", "--limit-loopback"]);
    let mut side1 = server.lines();
    side1.send("/join side");
    side1.expect("* guest1 joined");
    let mut side2 = server.frames();
    side2.send("/join side");
    side2.expect("* guest2 joined");
    side1.expect("* guest2 joined");
    let mut sender = server.lines();
    let mut member = server.frames();
    sender.expect("* guest4 joined");

    let started = Instant::now();
    sender.send_raw(&flood_of_200_lines());
    exchange_in_side_room(&mut side1, &mut side2, 5);
    for i in 0..200 {
        member.expect(&format!("guest3: m{i:03}"));
    }
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(1),
        "200 lines at 50/s took only {took:?}"
    );
    assert_eq!(
        sender.messages_before_who(),
        ["! slow down: at most 50 messages per second"]
    );
    member.expect_nothing_queued();
    sender.send("still here");
    member.expect("guest3: still here");
    exchange_in_side_room(&mut side1, &mut side2, 2);
}

/// With a fast rate too (`--msg-rate 500 --limit-loopback`: a burst of 1000, the next
/// token 2 ms later), a client writing 1500 lines at once loses nothing: a member of its
/// room gets all of them in order, the sender is told to slow down once, and another
/// room chats meanwhile.
/// (This once spun the loop for ever: a wake-up due within the turn that set it found
/// the bucket empty at the turn's start time and was set again for the same past
/// instant.)
#[test]
fn a_flood_past_a_fast_rates_burst_loses_nothing_and_the_server_serves_on() {
    const LINES: usize = 1500;
    let server = Server::start(&["--msg-rate", "500", "--limit-loopback"]);
    let mut side1 = server.lines();
    side1.send("/join side");
    side1.expect("* guest1 joined");
    let mut side2 = server.frames();
    side2.send("/join side");
    side2.expect("* guest2 joined");
    side1.expect("* guest2 joined");
    let mut sender = server.lines();
    let mut member = server.frames();
    sender.expect("* guest4 joined");

    let flood: Vec<u8> = (0..LINES)
        .flat_map(|i| format!("m{i:04}\n").into_bytes())
        .collect();
    sender.send_raw(&flood);
    for i in 0..LINES {
        let got = member.recv_within(PATIENCE);
        assert_eq!(
            got,
            Some(Some(format!("guest3: m{i:04}"))),
            "line {i} of {LINES} not delivered within {PATIENCE:?}"
        );
    }
    exchange_in_side_room(&mut side1, &mut side2, 2);
    assert_eq!(
        sender.messages_before_who(),
        ["! slow down: at most 500 messages per second"]
    );
    member.expect_nothing_queued();
}

/// Sends 200 lines at once in a server started with `args`: a member gets all of them
/// in order and the sender is told nothing (no slow-down line).
fn flood_is_not_throttled(args: &[&str]) {
    let server = Server::start(args);
    let (mut member, mut sender) = server.pair(Framing::Frames, Framing::Lines);
    sender.send_raw(&flood_of_200_lines());
    for i in 0..200 {
        member.expect(&format!("guest2: m{i:03}"));
    }
    sender.expect_nothing_queued();
    member.expect_nothing_queued();
}

/// Without `--limit-loopback`, a loopback client under `--msg-rate 50` writing 200
/// lines at once is not throttled: all arrive, and it is never told to slow down.
#[test]
fn loopback_clients_are_not_rate_limited_without_limit_loopback() {
    flood_is_not_throttled(&["--msg-rate", "50"]);
}

/// `--msg-rate 0` turns the limit off even with `--limit-loopback`.
#[test]
fn msg_rate_zero_turns_the_limit_off_even_with_limit_loopback() {
    flood_is_not_throttled(&["--msg-rate", "0", "--limit-loopback"]);
}

// --- --password-file ---

/// A client that has not given the password is asked for it and nothing else; whatever
/// it sends (chat, `/who`, `/nick`) gets the same line and reaches no one (no join
/// notice, no text, not in `/who`, counted as `connecting` in `/stats`); wrong tries
/// are refused; the right `/pass` welcomes it and the lobby sees it join and chat.
fn locked_client_reaches_no_one_until_it_passes(framing: Framing) {
    let server = server_with_password(&format!("locked-{framing:?}"), &[]);
    let mut member = admitted(&server, Framing::Lines, 1, 1);
    let mut locked = declare(&server, framing);
    locked.expect(REQUIRED);
    member.send("anyone there?"); // not for the locked client's eyes either
    for text in [
        "hello everyone",
        "/who",
        "/nick sneaky",
        "pass nope",
        "/passes nope",
    ] {
        locked.send(text);
        locked.expect(REQUIRED);
    }
    member.send("/who");
    member.expect("* online (1): guest1");
    let reply = stats(&mut member);
    assert_eq!(
        (
            stat(&reply, "clients"),
            stat(&reply, "connecting"),
            stat(&reply, "rooms")
        ),
        (1, 1, 1),
        "{reply}"
    );
    locked.send("/pass wrong");
    locked.expect(WRONG);
    locked.send(&format!("/pass {SECRET}x"));
    locked.expect(WRONG);
    locked.send(&format!("/pass {SECRET}"));
    locked.expect(&welcome(2, 2));
    member.expect("* guest2 joined");
    locked.send("hello everyone");
    member.expect("guest2: hello everyone");
    member.send("hi guest2");
    locked.expect("guest1: hi guest2");
    let reply = stats(&mut member);
    assert_eq!(
        (stat(&reply, "clients"), stat(&reply, "connecting")),
        (2, 0),
        "{reply}"
    );
    locked.expect_nothing_queued();
}

/// A line client is asked for the password, reaches no one while locked, and chats
/// once `/pass` is right.
#[test]
fn a_locked_line_client_reaches_no_one_until_it_gives_the_password() {
    locked_client_reaches_no_one_until_it_passes(Framing::Lines);
}

/// A frames client is asked for the password (as a frame), reaches no one while locked,
/// and chats once `/pass` is right.
#[test]
fn a_locked_frames_client_reaches_no_one_until_it_gives_the_password() {
    locked_client_reaches_no_one_until_it_passes(Framing::Frames);
}

/// Three wrong `/pass` tries close the connection (the third also gets
/// `! wrong password`), for a line client and a frames client; no one sees them.
#[test]
fn three_wrong_passwords_close_the_connection() {
    let server = server_with_password("three-wrong", &[]);
    let mut member = admitted(&server, Framing::Frames, 1, 1);
    for framing in [Framing::Lines, Framing::Frames] {
        let mut guesser = declare(&server, framing);
        guesser.expect(REQUIRED);
        guesser.send("/pass one");
        guesser.expect(WRONG);
        guesser.send("/pass two");
        guesser.expect(WRONG);
        guesser.send("/pass three");
        assert_eq!(guesser.expect_eof(), [WRONG], "{framing:?}");
    }
    member.send("/who");
    member.expect("* online (1): guest1");
    let reply = stats(&mut member);
    assert_eq!(stat(&reply, "connecting"), 0, "{reply}");
}

/// A client that never gives the password is closed at `--handshake-timeout` (not at
/// once: it was accepted a good while before), with nothing said after the request.
#[test]
fn a_client_that_gives_no_password_is_closed_at_the_handshake_timeout() {
    let server = server_with_password("timeout", &["--handshake-timeout", "1"]);
    let started = Instant::now();
    let mut lines = declare(&server, Framing::Lines);
    let mut frames = declare(&server, Framing::Frames);
    lines.expect(REQUIRED);
    frames.expect(REQUIRED);
    lines.send("/who");
    lines.expect(REQUIRED);
    assert_eq!(lines.expect_eof(), Vec::<String>::new());
    assert_eq!(frames.expect_eof(), Vec::<String>::new());
    let took = started.elapsed();
    assert!(took > Duration::from_millis(500), "closed after only {took:?}");
}

/// A missing `--password-file` makes `serve` exit 1 with one stderr line naming it.
#[test]
fn a_missing_password_file_is_a_runtime_error_naming_it() {
    let file = PasswordFile::new("missing", None);
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--password-file", file.path()]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    assert!(out.stderr.contains(file.path()), "{:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{:?}", out.stderr);
}

/// An empty `--password-file` makes `serve` exit 1 with one stderr line naming it.
#[test]
fn an_empty_password_file_is_a_runtime_error_naming_it() {
    let file = PasswordFile::new("empty", Some(""));
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--password-file", file.path()]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    assert!(out.stderr.contains(file.path()), "{:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{:?}", out.stderr);
}

// --- edges ---

/// A client that connects and half-closes without sending anything (`nc -N host port <
/// /dev/null`) is a line client: it gets the welcome line, then EOF; the lobby sees it
/// join, then leave.
#[test]
fn a_client_that_half_closes_without_sending_is_welcomed_as_lines_then_closed() {
    let server = Server::start(&[]);
    let mut member = server.frames();
    let mut silent = Client::connect(server.addr, Framing::Lines);
    silent.shutdown_write();
    assert_eq!(
        silent.read_raw_to_end(),
        format!("{}\n", welcome(2, 2)).into_bytes()
    );
    member.expect("* guest2 joined");
    member.expect("* guest2 left");
    member.expect_nothing_queued();
}

/// Telnet option negotiation (IAC WILL NAWS, IAC WILL TSPEED, IAC DO SGA) as a line
/// connection's first bytes is removed before the text is cleaned: others see exactly
/// `guest2: hello`.
#[test]
fn telnet_option_negotiation_is_removed_from_a_line() {
    let server = Server::start(&[]);
    let mut member = server.frames();
    let mut telnet = Client::connect(server.addr, Framing::Lines);
    telnet.send_raw(b"\xff\xfb\x1f\xff\xfb\x20\xff\xfd\x03hello\r\n");
    telnet.expect(&welcome(2, 2));
    member.expect("* guest2 joined");
    member.expect("guest2: hello");
    member.expect_nothing_queued();
}

/// A telnet subnegotiation (IAC SB TERMINAL-TYPE IS "xterm" IAC SE) before the text of a
/// line is removed too.
#[test]
fn telnet_subnegotiation_is_removed_from_a_line() {
    let server = Server::start(&[]);
    let (mut member, mut telnet) = server.pair(Framing::Lines, Framing::Lines);
    telnet.send_raw(b"\xff\xfa\x18\x00xterm\xff\xf0hello\r\n");
    member.expect("guest2: hello");
    member.expect_nothing_queued();
}

/// On a line, IAC IAC is a literal 0xFF byte, which is not UTF-8 and so reaches others
/// as one U+FFFD.
#[test]
fn telnet_iac_iac_is_a_literal_0xff_that_others_see_as_u_fffd() {
    let server = Server::start(&[]);
    let (mut member, mut telnet) = server.pair(Framing::Frames, Framing::Lines);
    telnet.send_raw(b"a\xff\xffb\n");
    member.expect("guest2: a\u{fffd}b");
    member.expect_nothing_queued();
}

/// A frames client's 0xFF bytes are never telnet: each one (and the invalid 0xFB after
/// one) becomes U+FFFD, and the control byte after them a space.
#[test]
fn a_frames_client_s_0xff_bytes_are_not_telnet() {
    let server = Server::start(&[]);
    let (mut member, mut frames) = server.pair(Framing::Lines, Framing::Frames);
    frames.send_raw(&encode(Framing::Frames, b"\xff\xfb\x1fhi \xff\xffb"));
    member.expect("guest2: \u{fffd}\u{fffd} hi \u{fffd}\u{fffd}b");
    member.expect_nothing_queued();
}
