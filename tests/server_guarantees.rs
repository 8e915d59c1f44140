//! What the server promises under load and failure: one order for everyone, slow readers
//! dropped without loss to others, no starvation by a flooder, resets and half-closes,
//! `--max-clients`, thousands of connections and running out of fds. Starting and
//! stopping (flags, addresses, signals) are in `server_cli.rs`.

mod common;

use common::{cpu_ticks, raise_fd_limit, welcome, Arrival, Client, Framing, Server};
use socket2::SockRef;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A chat line's text with its sender, as `(nick, text)`.
fn split_chat(message: &str) -> (&str, &str) {
    message
        .split_once(": ")
        .unwrap_or_else(|| panic!("not a chat line: {message:?}"))
}

/// The chat lines a client receives until it has `count`, skipping `* ` notices.
fn chat_lines(client: &mut Client, count: usize) -> Vec<String> {
    let mut lines = Vec::with_capacity(count);
    while lines.len() < count {
        let m = client.next();
        if !m.starts_with("* ") {
            lines.push(m);
        }
    }
    lines
}

/// Polls until the server has answered `client`'s first bytes (at most `PATIENCE`).
fn wait_until_answered(client: &mut Client) {
    let deadline = Instant::now() + common::PATIENCE;
    while client.arrival() == Arrival::Nothing {
        assert!(
            Instant::now() < deadline,
            "no answer within {:?}",
            common::PATIENCE
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Five senders, fifty receivers, both framings: everyone sees each message once, one order.
#[test]
fn every_member_sees_every_message_once_in_the_same_order() {
    const SENDERS: usize = 5;
    const RECEIVERS: usize = 50;
    const PER_SENDER: usize = 50;
    let server = Server::start(&[]);
    let client_in = |i: usize| {
        if i.is_multiple_of(2) {
            server.lines()
        } else {
            server.frames()
        }
    };
    let mut receivers: Vec<Client> = (0..RECEIVERS).map(client_in).collect();
    let senders: Vec<Client> = (0..SENDERS).map(client_in).collect();

    let threads: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            thread::spawn(move || {
                for j in 0..PER_SENDER {
                    sender.send(&format!("message {j}"));
                }
                sender
            })
        })
        .collect();
    let mut senders: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let order = chat_lines(&mut receivers[0], SENDERS * PER_SENDER);
    for sender in 0..SENDERS {
        let nick = format!("guest{}", RECEIVERS + sender + 1);
        let from_sender: Vec<&str> = order
            .iter()
            .map(|m| split_chat(m))
            .filter(|(from, _)| *from == nick)
            .map(|(_, text)| text)
            .collect();
        let sent: Vec<String> = (0..PER_SENDER).map(|j| format!("message {j}")).collect();
        assert_eq!(from_sender, sent, "{nick}'s messages, once each and in order");
    }
    for (i, receiver) in receivers.iter_mut().enumerate().skip(1) {
        let got = chat_lines(receiver, SENDERS * PER_SENDER);
        assert!(got == order, "receiver guest{} saw another order", i + 1);
    }
    for (i, sender) in senders.iter_mut().enumerate() {
        let nick = format!("guest{}: ", RECEIVERS + i + 1);
        let others: Vec<&String> = order.iter().filter(|m| !m.starts_with(&nick)).collect();
        let got = chat_lines(sender, (SENDERS - 1) * PER_SENDER);
        assert!(got.iter().eq(others), "sender {nick} saw another order");
    }
    for client in receivers.iter_mut().chain(senders.iter_mut()) {
        client.expect_nothing_queued(); // nothing twice
    }
}

/// A non-reader past `--max-backlog` is dropped; the rest get everything; `/stats` counts it.
#[test]
fn slow_reader_is_disconnected_and_others_lose_nothing() {
    const TEXT_LEN: usize = 4000;
    const MAX_MESSAGES: usize = 4000; // 16 MB: far more than any socket buffer holds
    let server = Server::start(&["--max-backlog", "65536"]);
    let mut slow = Client::connect_with_recv_buffer(server.addr, Framing::Lines, 4096);
    slow.send_raw(b"\n");
    wait_until_answered(&mut slow); // it is guest1; it never reads
    let mut sender = Client::connect(server.addr, Framing::Lines);
    sender.send_raw(b"\n");
    sender.expect(&welcome(2, 2));
    let mut receiver = server.lines();
    sender.expect("* guest3 joined");

    let message = |i: usize| format!("{i:06} {}", "x".repeat(TEXT_LEN));
    let mut sent = 0;
    let mut left_notice = None;
    while left_notice.is_none() {
        assert!(
            sent < MAX_MESSAGES,
            "slow reader not dropped after {sent} messages"
        );
        for i in sent..sent + 16 {
            sender.send(&message(i));
        }
        for i in sent..sent + 16 {
            let mut got = receiver.next();
            if got.starts_with("* guest1 left") {
                left_notice = Some(got);
                got = receiver.next();
            }
            assert!(
                got == format!("guest2: {}", message(i)),
                "message {i} lost or out of order"
            );
        }
        sent += 16;
    }
    sender.wait_for(left_notice.as_deref().unwrap());
    sender.send("after the drop");
    receiver.expect("guest2: after the drop");
    receiver.send("/stats");
    let stats = receiver.next();
    assert!(stats.ends_with(", slow clients dropped 1"), "{stats}");

    let stream = slow.read_raw_to_end();
    let stream = String::from_utf8(stream).expect("UTF-8");
    let mut lines: Vec<&str> = stream.split('\n').collect();
    let fragment = lines.pop().unwrap(); // after the last newline: a cut message, or ""
    let mut expected = vec![welcome(1, 1), "* guest2 joined".into(), "* guest3 joined".into()];
    if let Some(last) = lines.last().filter(|l| l.starts_with("! disconnected")) {
        let queued = last
            .strip_prefix("! disconnected: too slow (")
            .and_then(|rest| rest.strip_suffix(" bytes queued)"))
            .unwrap_or_else(|| panic!("bad notice {last:?}"));
        let queued: usize = queued.parse().unwrap_or_else(|_| panic!("bad notice {last:?}"));
        assert!(queued > 65536, "{last}");
        assert_eq!(fragment, "", "the notice is the last thing sent");
        lines.pop();
    }
    expected.extend((0..lines.len().saturating_sub(3)).map(|i| format!("guest2: {}", message(i))));
    assert!(
        lines == expected,
        "the slow reader got a gap or disorder before being dropped"
    );
    // Best effort: the stream may end inside the next message or inside the notice.
    let next = format!("guest2: {}", message(lines.len().saturating_sub(3)));
    let notice = "! disconnected: too slow (";
    assert!(
        next.starts_with(fragment) || notice.starts_with(fragment) || fragment.starts_with(notice),
        "the stream ends in neither the next message nor the notice: {fragment:?}"
    );
}

/// While a client blasts large frames, another client's messages are still delivered.
#[test]
fn flooder_cannot_starve_another_clients_message() {
    let server = Server::start(&[]);
    let mut flooder = server.frames();
    flooder.send("/join flood"); // alone there, so its messages cost only reading
    flooder.expect("* guest1 joined");
    let mut sender = server.lines();
    let mut receiver = server.lines();
    sender.expect("* guest3 joined");

    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, flooded) = (Arc::clone(&stop), Arc::clone(&flooded));
        let mut stream = flooder.stream.try_clone().unwrap();
        thread::spawn(move || {
            use std::io::Write;
            stream.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
            let frame = common::encode(Framing::Frames, &[b'f'; 65536]);
            let give_up = Instant::now() + 3 * common::PATIENCE;
            while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
                if stream.write_all(&frame).is_err() {
                    return false;
                }
                flooded.fetch_add(frame.len() as u64, Ordering::Relaxed);
            }
            stop.load(Ordering::Relaxed)
        })
    };
    let deadline = Instant::now() + common::PATIENCE;
    while flooded.load(Ordering::Relaxed) < 16 << 20 {
        assert!(Instant::now() < deadline, "the flood did not get going");
        thread::sleep(Duration::from_millis(5));
    }
    for i in 0..3 {
        sender.send(&format!("ping {i}"));
        receiver.expect(&format!("guest2: ping {i}"));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        flood.join().unwrap(),
        "the flood was still going when the pings arrived"
    );
}

/// A reset mid-frame ends only that connection; the room is told and chat goes on.
#[test]
fn reset_mid_frame_affects_only_that_connection() {
    let server = Server::start(&[]);
    let (mut a, mut b) = server.pair(Framing::Lines, Framing::Frames);
    let mut c = server.lines();
    a.expect("* guest3 joined");
    b.expect("* guest3 joined");
    b.send_raw(&[100, 0, 0, 0]);
    b.send_raw(b"only part of it");
    SockRef::from(&b.stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(b);
    a.expect("* guest2 left");
    c.expect("* guest2 left");
    c.send("still here");
    a.expect("guest3: still here");
    let mut d = server.lines();
    d.send("/who");
    d.expect("* online (3): guest1, guest3, guest4");
}

/// A reset while output is queued for the client ends only that connection.
#[test]
fn reset_with_unread_output_affects_only_that_connection() {
    let server = Server::start(&[]);
    let (mut a, b) = server.pair(Framing::Lines, Framing::Lines);
    let mut c = server.lines();
    a.expect("* guest3 joined");
    for i in 0..200 {
        a.send(&format!("{i} {}", "y".repeat(2000)));
    }
    c.wait_for(&format!("guest1: 199 {}", "y".repeat(2000)));
    SockRef::from(&b.stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(b);
    a.wait_for("* guest2 left");
    c.expect("* guest2 left");
    a.send("after");
    c.expect("guest1: after");
}

/// Messages sent just before a half-close are delivered, then the sender has left.
#[test]
fn half_closed_clients_last_messages_are_still_delivered() {
    let server = Server::start(&[]);
    let (mut a, mut b) = server.pair(Framing::Lines, Framing::Lines);
    b.send_raw(b"one\ntwo\n");
    b.shutdown_write();
    a.expect("guest2: one");
    a.expect("guest2: two");
    a.expect("* guest2 left");
    let mut f = server.frames();
    a.expect("* guest3 joined");
    f.send("last frame");
    f.shutdown_write();
    a.expect("guest3: last frame");
    a.expect("* guest3 left");
}

/// Over `--max-clients` a newcomer gets `! server full` in its framing and is closed.
#[test]
fn newcomer_over_max_clients_is_told_server_full_and_closed() {
    let server = Server::start(&["--max-clients", "2"]);
    let (mut a, b) = server.pair(Framing::Lines, Framing::Lines);
    let mut c = Client::connect(server.addr, Framing::Lines);
    c.send_raw(b"\n");
    assert_eq!(c.expect_eof(), ["! server full"]);
    let mut d = Client::connect(server.addr, Framing::Frames);
    d.send_raw(&[0; 4]);
    assert_eq!(d.expect_eof(), ["! server full"]);
    a.send("/who");
    a.expect("* online (2): guest1, guest2");
    drop(b);
    a.expect("* guest2 left");
    let _e = server.lines();
    a.expect_prefix("* guest");
}

/// Two thousand clients at once: all are served and one broadcast reaches every one.
#[test]
fn two_thousand_concurrent_clients_all_receive_a_broadcast() {
    const CLIENTS: usize = 2000;
    const BATCH: usize = 100;
    raise_fd_limit();
    let server = Server::start(&[]);
    let mut clients: Vec<Client> = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / BATCH {
        let start = clients.len();
        for _ in 0..BATCH {
            let mut c = Client::connect(server.addr, Framing::Lines);
            c.send_raw(b"\n");
            clients.push(c);
        }
        for c in &mut clients[start..] {
            c.expect_prefix("* welcome to mio-chat, you are guest");
        }
    }
    let (announcer, others) = clients.split_last_mut().unwrap();
    announcer.send("/stats");
    let stats = announcer.wait_for_prefix("* stats: ");
    assert!(stats.contains(", clients 2000, "), "{stats}");
    announcer.set_nick("announcer");
    announcer.send("hello, all 2000");
    for c in others.iter_mut() {
        c.wait_for("announcer: hello, all 2000");
    }
}

/// Out of fds the server idles, then serves the waiting clients and a newcomer once freed.
#[test]
fn running_out_of_fds_neither_spins_nor_stops_the_server() {
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0"]);
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    // Lowering the hard limit too keeps the server from raising it back.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let server = Server::start_command(cmd);
    let clients: Vec<Client> = (0..100)
        .map(|_| {
            let mut c = Client::connect(server.addr, Framing::Lines);
            c.send_raw(b"\n");
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(500)); // let it serve all it can

    let before = cpu_ticks(server.pid());
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(server.pid()) - before;
    assert!(
        used < 50,
        "server used {used} ticks of CPU in 1 s while idle: it spins"
    );

    let (served, mut waiting): (Vec<Client>, Vec<Client>) =
        clients.into_iter().partition(|c| c.arrival() == Arrival::Data);
    assert!(!served.is_empty(), "nobody was served");
    assert!(
        !waiting.is_empty(),
        "all {} served under a limit of 64 fds",
        served.len()
    );
    drop(served);
    for c in &mut waiting {
        c.expect_prefix("* welcome to mio-chat, you are guest");
    }
    let mut newcomer = Client::connect(server.addr, Framing::Lines);
    newcomer.send_raw(b"\n");
    newcomer.expect_prefix("* welcome to mio-chat, you are guest");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}
