//! TLS on the same port as plain clients: detection from the first bytes, both framings
//! inside TLS, `openssl s_client` as a netcat over TLS, `--require-tls`, startup errors
//! naming the file, and hostile handshakes (garbage after `0x16`, a handshake split at
//! every byte, a reset mid-handshake, one that never finishes) that harm no one else.
//! Certificates are made at test time (`tests/common/tls.rs`).

mod common;

use common::tls::TestPki;
use common::watch::Watch;
use common::{run_to_exit, status_kib, Client, Framing, Server, PATIENCE};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A server with the test certificate, and `extra` flags.
fn tls_server(pki: &TestPki, extra: &[&str]) -> Server {
    let mut args: Vec<String> = pki.server_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args)
}

/// A TLS client in `framing` that has sent its hello and read its welcome.
fn tls_client(server: &Server, pki: &TestPki, framing: Framing) -> Client {
    let mut c = Client::connect_tls(server.addr, framing, &pki.ca);
    match framing {
        Framing::Lines => c.send_raw(b"\n"),
        Framing::Frames => c.send_raw(&[0, 0, 0, 0]),
    }
    c.expect_prefix("* welcome to mio-chat");
    c
}

/// TLS clients in both framings and a plain line client chat in one room: each gets
/// every other's lines, in its own framing.
#[test]
fn tls_and_plain_clients_chat_in_one_room() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &[]);
    let mut tls_lines = tls_client(&server, &pki, Framing::Lines);
    let mut tls_frames = tls_client(&server, &pki, Framing::Frames);
    tls_lines.expect("* guest2 joined");
    let mut plain = server.lines();
    tls_lines.expect("* guest3 joined");
    tls_frames.expect("* guest3 joined");
    plain.send("hello from plain");
    tls_lines.expect("guest3: hello from plain");
    tls_frames.expect("guest3: hello from plain");
    tls_frames.send("hello from tls frames");
    tls_lines.expect("guest2: hello from tls frames");
    plain.expect("guest2: hello from tls frames");
    tls_lines.send("/who");
    tls_lines.expect("* online (3): guest1, guest2, guest3");
}

/// `openssl s_client` is netcat over TLS: it is a line client inside TLS and chats with
/// a plain client.
#[test]
fn openssl_s_client_chats_with_a_plain_client() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &[]);
    let mut plain = server.lines();
    let mut openssl = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &server.addr.to_string()])
        .arg("-CAfile")
        .arg(&pki.ca)
        .args(["-verify_return_error", "-verify_hostname", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client (installed by .ci/run)");
    let mut stdin = openssl.stdin.take().unwrap();
    let stdout = openssl.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || lines.recv_timeout(PATIENCE).expect("a line from s_client");
    stdin.write_all(b"hi over tls\n").unwrap();
    assert!(next().starts_with("* welcome to mio-chat, you are guest2"));
    plain.expect("* guest2 joined");
    plain.expect("guest2: hi over tls");
    plain.send("hello back");
    assert_eq!(next(), "guest1: hello back");
    drop(stdin);
    let _ = openssl.kill();
    let _ = openssl.wait();
}

/// With `--require-tls`, a plain client is told `! this server requires TLS` in clear,
/// in its own framing, and closed; TLS clients are welcome.
#[test]
fn require_tls_refuses_plain_clients_in_their_framing() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &["--require-tls"]);
    let mut lines = Client::connect(server.addr, Framing::Lines);
    lines.send_raw(b"hello\n");
    assert_eq!(lines.expect_eof(), ["! this server requires TLS"]);
    let mut frames = Client::connect(server.addr, Framing::Frames);
    frames.send_raw(&[0, 0, 0, 0]);
    assert_eq!(frames.expect_eof(), ["! this server requires TLS"]);
    let mut silent = Client::connect(server.addr, Framing::Lines);
    assert_eq!(silent.expect_eof(), ["! this server requires TLS"]);
    let mut tls = tls_client(&server, &pki, Framing::Lines);
    tls.send("/who");
    tls.expect("* online (1): guest1");
}

/// A certificate or key that cannot be used stops `serve` with exit 1 and one line that
/// names the file and says why; one of the two flags alone is a usage error (exit 2).
#[test]
fn unusable_certificates_or_keys_are_named_at_startup() {
    let pki = TestPki::new();
    let missing = pki.dir.join("missing.pem");
    let not_pem = pki.dir.join("not-pem.txt");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let other = TestPki::new(); // a key that belongs to another certificate
    let show = |p: &std::path::Path| p.display().to_string();
    let cases = [
        (show(&missing), show(&pki.key), show(&missing)),
        (show(&pki.cert), show(&missing), show(&missing)),
        (show(&not_pem), show(&pki.key), show(&not_pem)),
        (show(&pki.cert), show(&not_pem), show(&not_pem)),
        (show(&pki.cert), show(&other.key), show(&other.key)),
    ];
    for (cert, key, named) in cases {
        let out = run_to_exit(&["serve", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key]);
        assert_eq!(out.code(), 1, "{cert} {key}: {out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(lines[0].contains(&named), "{} does not name {named}", lines[0]);
    }
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--tls-cert", &show(&pki.cert)]);
    assert_eq!(out.code(), 2, "{out:?}");
    let out = run_to_exit(&["serve", "127.0.0.1:0", "--require-tls"]);
    assert_eq!(out.code(), 2, "{out:?}");
}

/// Connects and sends `bytes` raw, then expects the server to close it (after at most a
/// TLS alert), without waiting for anything else.
fn expect_closed_after(server: &Server, bytes: &[u8]) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(bytes).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed within {PATIENCE:?}: {e}"),
    }
    assert!(got.len() < 64, "only an alert, if anything: {got:?}");
}

/// Garbage after a TLS record's first bytes, a handshake that never finishes and a reset
/// in the middle of a handshake each end only that connection: a watched room chats on
/// in order, and the server forgets them (fds back to their level).
#[test]
fn hostile_handshakes_end_only_their_own_connection() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &["--handshake-timeout", "1"]);
    let mut watch = Watch::start(&server);
    let fds = common::open_fds(server.pid());
    expect_closed_after(
        &server,
        &[0x16, 0x03, 0x01, 0xff, 0xff, b'x', b'y', b'z', 0, 0, 0, 0],
    );
    watch.post(5);
    expect_closed_after(&server, &[0x16, 0x03, 0x01]); // closed at the handshake timeout
    watch.post(5);
    // A reset after the first half of a real ClientHello.
    let mut session = rustls::ClientConnection::new(
        mio_chat::tls::client_config(Some(&pki.ca), false).unwrap(),
        mio_chat::tls::server_name("localhost").unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    session.write_tls(&mut hello).unwrap();
    let half = TcpStream::connect(server.addr).unwrap();
    (&half).write_all(&hello[..hello.len() / 2]).unwrap();
    socket2::SockRef::from(&half)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(half);
    watch.post(5);
    watch.check();
    watch.wait_until_only_watchers_remain(&server, fds);
}

/// A handshake whose every byte arrives in a separate segment still completes (the
/// first byte alone does not decide; three do), and the client chats normally.
#[test]
fn a_handshake_split_at_every_byte_completes() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &[]);
    let mut plain = server.lines();
    let mut client = Client::connect_tls(server.addr, Framing::Lines, &pki.ca);
    client.stream.set_nodelay(true).unwrap();
    let mut hello = Vec::new();
    client.tls_session().unwrap().write_tls(&mut hello).unwrap();
    for byte in hello {
        client.stream.write_all(&[byte]).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    client.send("split hello");
    client.expect_prefix("* welcome to mio-chat, you are guest2");
    plain.expect("* guest2 joined");
    plain.expect("guest2: split hello");
}

/// A TLS recipient that never reads is dropped at `--max-backlog` like a plain one
/// (what its session holds counts too), while plain recipients of the same flood keep
/// zero-copy sends and get everything.
#[test]
fn a_tls_never_reader_is_dropped_like_a_plain_one_and_plain_recipients_keep_zero_copy() {
    let pki = TestPki::new();
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "127.0.0.1:0", "--stats-interval", "0.2"])
        .args(pki.server_args())
        .env("RUST_LOG", "info");
    let server = Server::start_command(cmd);
    let mut flooder = server.frames();
    let mut reader = server.frames();
    flooder.expect("* guest2 joined");
    let mut never = tls_client(&server, &pki, Framing::Lines);
    reader.expect("* guest3 joined");
    flooder.expect("* guest3 joined");
    let payload = "t".repeat(60_000);
    let reading = thread::spawn(move || {
        for i in 0..200 {
            let mut m = reader.next();
            while m.starts_with("* ") {
                m = reader.next(); // the never-reader's `left`, when it is dropped
            }
            assert!(m.starts_with(&format!("guest1: {i} ")), "message {i} lost");
        }
    });
    for i in 0..200 {
        flooder.send(&format!("{i} {payload}"));
    }
    reading.join().unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = server.stderr();
        if log.contains("dropped: too slow") && log.contains("slow clients dropped 1") {
            let spliced = log
                .lines()
                .filter_map(|l| l.split_once(" (")?.1.split_once(" zero-copy)"))
                .filter_map(|(n, _)| n.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            assert!(spliced > 0, "no zero-copy sends to the plain reader:\n{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the TLS never-reader was not dropped:\n{log}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // It is closed. (Its last notice is best effort: its socket is full, and what its
    // session still holds at the close is lost, as a full socket's would be on a reset.)
    let rest = never.read_raw_to_end(); // panics unless it ends
    assert!(
        rest.starts_with(b"guest1: 0 "),
        "{:?}",
        &rest[..rest.len().min(40)]
    );
    let peak = status_kib(server.pid(), "VmHWM");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

/// A TLS reader is sent far more than the 64 KiB its session may hold at once, and gets
/// all of it: a session that fills up is flushed and filled again until the socket,
/// not the session, is full (then WRITABLE resumes it).
#[test]
fn a_tls_reader_gets_a_flood_far_larger_than_its_session_buffer() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &["--max-backlog", "16777216"]);
    let mut flooder = server.frames();
    let mut reader = tls_client(&server, &pki, Framing::Frames);
    flooder.expect("* guest2 joined");
    let payload = "r".repeat(60_000);
    let reading = thread::spawn(move || {
        for i in 0..300 {
            let m = reader.next();
            assert!(m.starts_with(&format!("guest1: {i} ")), "message {i} lost");
        }
    });
    for i in 0..300 {
        flooder.send(&format!("{i} {payload}"));
    }
    reading.join().unwrap();
}

/// A TLS client whose hello, first message and close_notify arrive in one segment is
/// still detected as a frames client and its message relayed: what arrives with the
/// end of a connection is handled before the end is.
#[test]
fn a_tls_client_closing_right_after_its_first_message_is_still_a_frames_client() {
    let pki = TestPki::new();
    let server = tls_server(&pki, &[]);
    let mut plain = server.lines();
    let mut client = Client::connect_tls(server.addr, Framing::Frames, &pki.ca);
    let mut stream = client.stream.try_clone().unwrap();
    let session = client.tls_session().unwrap();
    while session.is_handshaking() {
        session.complete_io(&mut stream).unwrap();
    }
    let mut plaintext = vec![0, 0, 0, 0];
    plaintext.extend_from_slice(&common::encode(Framing::Frames, b"hello"));
    session.writer().write_all(&plaintext).unwrap();
    session.send_close_notify();
    let mut records = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut records).unwrap();
    }
    stream.write_all(&records).unwrap();
    plain.expect("* guest2 joined");
    plain.expect("guest2: hello");
    plain.expect("* guest2 left");
}
