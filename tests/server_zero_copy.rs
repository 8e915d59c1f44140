//! Zero-copy sends: a client's output of `--zero-copy-min` bytes or more in one loop turn
//! is spliced from shared pages instead of copied. Clients must see exactly what `write`
//! would have given them: every byte, in order, in their own framing, and nothing meant
//! for anyone else, including when a socket takes only part of it.

mod common;

use common::{Client, Framing, Server};
use std::process::Command;
use std::time::{Duration, Instant};

/// A message whose text says who sent it and its number, padded to `len` bytes.
fn message(sender: usize, i: usize, len: usize) -> String {
    let head = format!("s{sender} #{i:04} ");
    let pad: String = (0..len - head.len())
        .map(|k| char::from(b'a' + ((k + i) % 26) as u8))
        .collect();
    head + &pad
}

/// A server logging its stats line every 100 ms, with extra flags.
fn server_with_stats(extra: &[&str]) -> Server {
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0", "--stats-interval", "0.1"])
        .args(extra)
        .env("RUST_LOG", "info");
    Server::start_command(cmd)
}

/// Waits for a stats line logged after `relayed` messages were relayed, and returns its
/// zero-copy byte count.
fn zero_copy_bytes_after(server: &Server, relayed: usize) -> u64 {
    let deadline = Instant::now() + common::PATIENCE;
    let want = format!("relayed {relayed}, ");
    loop {
        let log = server.stderr();
        if let Some(line) = log
            .lines()
            .rev()
            .find(|l| l.contains("stats: ") && l.contains(&want))
        {
            let count = line
                .split_once(" (")
                .and_then(|(_, rest)| rest.split_once(" zero-copy)"))
                .and_then(|(n, _)| n.parse().ok());
            return count.unwrap_or_else(|| panic!("no zero-copy count in {line:?}"));
        }
        assert!(
            Instant::now() < deadline,
            "no stats line with {want:?} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two senders, receivers in both framings; everyone gets `count` messages of `len` bytes
/// from each sender, intact and in order. Returns the server's zero-copy byte count.
fn exchange(server: &Server, count: usize, len: usize) -> u64 {
    let mut receivers: Vec<Client> = (0..4)
        .map(|i| {
            if i % 2 == 0 {
                server.frames()
            } else {
                server.lines()
            }
        })
        .collect();
    let mut senders = [server.frames(), server.lines()];
    for r in &mut receivers {
        r.wait_for("* guest6 joined");
    }
    senders[0].wait_for("* guest6 joined");
    for i in 0..count {
        for (s, sender) in senders.iter_mut().enumerate() {
            sender.send(&message(s, i, len));
        }
    }
    for r in &mut receivers {
        let mut next = [0, 0];
        while next != [count, count] {
            let got = r.next();
            let (nick, text) = got
                .split_once(": ")
                .unwrap_or_else(|| panic!("not a chat line: {got:.80}"));
            let s = usize::from(nick == "guest6");
            assert!(
                text == message(s, next[s], len),
                "{nick} message {} garbled: {got:.80}",
                next[s]
            );
            next[s] += 1;
        }
        r.expect_nothing_queued();
    }
    // Each sender gets the other's messages: its output for a turn is several spans
    // around its own messages, spliced as several segments.
    for (s, sender) in senders.iter_mut().enumerate() {
        let other = 1 - s;
        for i in 0..count {
            let got = sender.next();
            assert!(
                got == format!("guest{}: {}", 5 + other, message(other, i, len)),
                "sender {s}: message {i} of the other garbled: {got:.80}"
            );
        }
        sender.expect_nothing_queued();
    }
    zero_copy_bytes_after(server, 2 * count)
}

/// Big output is spliced, and every client still gets exactly its own copy.
#[test]
fn big_output_is_spliced_and_arrives_intact_in_order() {
    let server = server_with_stats(&[]);
    let spliced = exchange(&server, 40, 30_000);
    // Each receiver's output per turn is at least one 30 kB message: all of it is spliced.
    assert!(spliced >= 4 * 2 * 40 * 30_000, "only {spliced} bytes spliced");
}

/// Output under `--zero-copy-min` is copied; 0 turns splicing off entirely.
#[test]
fn small_output_or_zero_copy_off_is_copied() {
    let server = server_with_stats(&[]);
    // 40 x 2 messages of 100 bytes: under 16 KiB even if they all land in one turn.
    assert_eq!(exchange(&server, 40, 100), 0);
    let server = server_with_stats(&["--zero-copy-min", "0"]);
    assert_eq!(exchange(&server, 10, 30_000), 0);
}

/// A reader whose socket takes only part of a spliced turn gets the rest from the queue,
/// seamlessly; splicing for the others goes on.
#[test]
fn a_full_socket_gets_the_rest_queued_without_a_gap() {
    const COUNT: usize = 300;
    const LEN: usize = 2000; // 600 kB in all: more than the socket holds, under --max-backlog
    let server = server_with_stats(&["--zero-copy-min", "1"]);
    let mut lagging = Client::connect_with_recv_buffer(server.addr, Framing::Frames, 4096);
    lagging.send_raw(&[0, 0, 0, 0]);
    lagging.expect_prefix("* welcome to mio-chat");
    let mut keeping_up = server.lines();
    let mut sender = server.frames();
    lagging.wait_for("* guest3 joined");
    keeping_up.wait_for("* guest3 joined");
    for i in 0..COUNT {
        sender.send(&message(0, i, LEN));
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20)); // several turns, not one
        }
    }
    for i in 0..COUNT {
        keeping_up.expect(&format!("guest3: {}", message(0, i, LEN)));
    }
    for i in 0..COUNT {
        lagging.expect(&format!("guest3: {}", message(0, i, LEN)));
    }
    lagging.expect_nothing_queued();
    assert!(zero_copy_bytes_after(&server, COUNT) > 0);
}

/// Splicing to a client that reset is an error for that client only: the server is not
/// killed by SIGPIPE (splice cannot ask for MSG_NOSIGNAL) and the room goes on. The
/// server is stopped while the messages and then the reset arrive, so its next turn
/// reads the messages first and splices them to the reset socket.
#[test]
fn splicing_to_a_reset_client_ends_only_that_client() {
    const LEN: usize = 20_000;
    let server = Server::start(&["--zero-copy-min", "1"]);
    let (mut stays, gone) = server.pair(Framing::Frames, Framing::Lines);
    let mut sender = server.lines();
    stays.expect("* guest3 joined");
    server.signal(libc::SIGSTOP);
    for i in 0..20 {
        sender.send(&message(0, i, LEN));
    }
    std::thread::sleep(Duration::from_millis(100));
    socket2::SockRef::from(&gone.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(gone); // a reset, after the messages
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGCONT);
    // The reset may be read before the last of the messages: its notice can come
    // between them, once; the messages still come whole and in order.
    let mut next = 0;
    let mut left = 0;
    while next < 20 || left == 0 {
        let got = stays.next();
        if got == "* guest2 left" {
            left += 1;
            continue;
        }
        assert!(
            got == format!("guest3: {}", message(0, next, LEN)),
            "message {next} garbled: {got:.60}"
        );
        next += 1;
    }
    assert_eq!(left, 1);
    sender.send("still here");
    stays.expect("guest3: still here");
}
