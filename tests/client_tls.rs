//! `mio-chat connect --tls` and `mio-chat bench --tls`: against the real server started
//! with `--tls-cert/--tls-key` (plain clients on the same port), and, where the server
//! would hide what the client sends, against an in-process `rustls` server that shows the
//! plaintext the client put inside TLS.

mod common;

use common::connect::Connect;
use common::tls::TestPki;
use common::{bin, run_to_exit, run_to_exit_within, Server, PATIENCE};
use rustls::{ServerConnection, StreamOwned};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// The one line `--insecure` prints.
const INSECURE_WARNING: &str = "mio-chat: warning: --insecure: the server's certificate is not verified\n";

/// A server on 127.0.0.1 that speaks TLS (and plain) with the test PKI's certificate.
fn tls_server(pki: &TestPki) -> Server {
    let args = pki.server_args();
    Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `--ca FILE` for the test CA.
fn ca(pki: &TestPki) -> String {
    pki.ca.display().to_string()
}

/// Accepts one TLS connection with the test certificate and returns all the plaintext
/// the client sent, once it has said `close_notify` (an EOF without one is an error).
fn plaintext_of_one_tls_client(pki: &TestPki) -> (String, std::thread::JoinHandle<std::io::Result<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap().to_string();
    let config = mio_chat::tls::server_config(&pki.cert, &pki.key).expect("server config");
    let reader = std::thread::spawn(move || {
        let (tcp, _) = listener.accept()?;
        tcp.set_read_timeout(Some(PATIENCE))?;
        let session = ServerConnection::new(config).map_err(std::io::Error::other)?;
        let mut tls = StreamOwned::new(session, tcp);
        let mut got = Vec::new();
        tls.read_to_end(&mut got).map(|_| got)
    });
    (addr, reader)
}

fn frame(text: &str) -> Vec<u8> {
    [&(text.len() as u32).to_le_bytes()[..], text.as_bytes()].concat()
}

/// Inside TLS the client speaks exactly as it does in the clear: an empty hello frame,
/// then its messages as frames; and it ends the session with `close_notify`.
#[test]
fn inside_tls_the_client_sends_an_empty_hello_frame_then_frames_and_says_close_notify() {
    let pki = TestPki::new();
    let (addr, server) = plaintext_of_one_tls_client(&pki);
    let run = run_to_exit(&[
        "connect",
        "--tls",
        "--ca",
        &ca(&pki),
        &addr,
        "--send",
        "hello",
        "--linger",
        "0",
    ]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    assert_eq!(run.stderr, "");
    let got = server
        .join()
        .unwrap()
        .expect("the whole session, ended by close_notify");
    assert_eq!(got, [frame(""), frame("hello")].concat());
}

/// A TLS client's message reaches a plain (netcat-style) client on the same port.
#[test]
fn a_tls_clients_message_reaches_a_plain_client_in_the_same_room() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let mut plain = server.lines();
    let addr = server.addr.to_string();
    let run = run_to_exit(&[
        "connect",
        "--tls",
        "--ca",
        &ca(&pki),
        &addr,
        "--send",
        "hello",
        "--linger",
        "0.5",
    ]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    plain.expect("* guest2 joined");
    plain.expect("guest2: hello");
    assert!(
        run.stdout.starts_with("* welcome to mio-chat, you are guest2;"),
        "{}",
        run.stdout
    );
}

/// What a plain client says is printed by the TLS client, and the TLS client's typed
/// lines reach the plain one; stdin's end ends the TLS client with 0.
#[test]
fn a_plain_clients_line_is_printed_by_the_tls_client_and_the_other_way_round() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let mut bob = server.lines();
    bob.set_nick("bob");
    let addr = server.addr.to_string();
    let mut alice = Connect::piped(&["--tls", "--ca", &ca(&pki), &addr, "--nick", "alice"]);
    bob.wait_until_in_room("alice");
    bob.send("hi over tls");
    alice.type_line("hi in the clear");
    bob.wait_for("alice: hi in the clear");
    let (status, lines) = alice.finish();
    assert!(status.success(), "stderr:\n{}", alice.stderr());
    assert!(lines.contains(&"bob: hi over tls".to_string()), "{lines:?}");
}

/// `--insecure` connects to a server nothing vouches for, with exactly one warning line.
#[test]
fn insecure_connects_without_verifying_and_warns_once() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let mut plain = server.lines();
    let addr = server.addr.to_string();
    let run = run_to_exit(&[
        "connect",
        "--tls",
        "--insecure",
        &addr,
        "--send",
        "unverified",
        "--linger",
        "0.5",
    ]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    assert_eq!(run.stderr, INSECURE_WARNING);
    plain.wait_for("guest2: unverified");
}

/// Without `--ca` the test CA is unknown (it is not among Mozilla's roots): one line
/// with rustls' reason, exit 1 under `--no-reconnect`, and nothing reached the room.
#[test]
fn an_unverifiable_certificate_is_one_line_and_exit_1_without_reconnect() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let mut plain = server.lines();
    let addr = server.addr.to_string();
    let run = run_to_exit(&["connect", "--tls", &addr, "--send", "secret", "--no-reconnect"]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!("mio-chat: cannot connect to {addr}: TLS: invalid peer certificate: UnknownIssuer\n")
    );
    assert_eq!(run.stdout, "");
    plain.expect_silence(Duration::from_millis(300));
}

/// With reconnecting on, a refused certificate is retried like any failed connect, and
/// the backoff grows: the TCP connect alone does not count as connected.
#[test]
fn an_unverifiable_certificate_with_reconnect_is_retried_with_growing_backoff() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let client = Connect::piped(&["--tls", &server.addr.to_string()]);
    client.wait_for_stderr("retrying in");
    let deadline = Instant::now() + PATIENCE;
    while client.stderr().lines().count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no second attempt:\n{}",
            client.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = client.stderr();
    let why = format!(
        "mio-chat: cannot connect to {}: TLS: invalid peer certificate: UnknownIssuer; retrying in ",
        server.addr
    );
    let delays: Vec<&str> = stderr
        .lines()
        .take(2)
        .map(|line| line.strip_prefix(&why).unwrap_or(line))
        .collect();
    // The first delay is in (0.375, 0.5] s, the second in (0.75, 1.0] s.
    assert!(matches!(delays[0], "0.4s" | "0.5s"), "{stderr}");
    assert!(matches!(delays[1], "0.8s" | "0.9s" | "1.0s"), "{stderr}");
}

/// The client reconnects over TLS after a restart, and gets its nick and room back.
#[test]
fn after_a_restart_the_tls_client_reconnects_with_its_nick_and_room() {
    let pki = TestPki::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve = || {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg(format!("127.0.0.1:{port}"))
            .args(pki.server_args());
        Server::start_command(cmd)
    };
    let first = serve();
    let addr = format!("127.0.0.1:{port}");
    let mut erin = Connect::piped(&[
        "--tls",
        "--ca",
        &ca(&pki),
        &addr,
        "--nick",
        "erin",
        "--room",
        "den",
    ]);
    let mut watcher = first.lines();
    watcher.send("/join den");
    watcher.wait_until_in_room("erin");
    drop(watcher);
    drop(first);
    erin.wait_for_stderr("lost connection to 127.0.0.1:");
    let second = serve();
    let mut den = second.lines();
    den.send("/join den");
    den.wait_until_in_room("erin");
    erin.type_line("back again");
    den.wait_for("erin: back again");
    erin.wait_for_stderr(&format!("connected to {addr}"));
    let (status, _) = erin.finish();
    assert!(status.success(), "stderr:\n{}", erin.stderr());
}

/// A `--ca` file that is missing, or holds no certificate, is exit 1 naming the file.
#[test]
fn a_bad_ca_file_exits_1_naming_it() {
    let pki = TestPki::new();
    let missing = pki.dir.join("missing.pem").display().to_string();
    let run = run_to_exit(&["connect", "--tls", "--ca", &missing, "--no-reconnect"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr.starts_with(&format!("mio-chat: {missing}: ")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let key_only = pki.key.display().to_string();
    let run = run_to_exit(&["bench", "--tls", "--ca", &key_only]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!("mio-chat: {key_only}: no certificate in it (PEM expected)\n")
    );
}

/// `--ca` and `--insecure` only mean something with `--tls`: exit 2, one line naming it.
#[test]
fn ca_or_insecure_without_tls_exits_2_naming_the_flag() {
    for command in ["connect", "bench"] {
        for (flags, named) in [
            (&["--ca", "ca.pem"][..], "--ca"),
            (&["--insecure"][..], "--insecure"),
        ] {
            let args = [&[command][..], flags].concat();
            let run = run_to_exit(&args);
            assert_eq!(run.code(), 2, "{args:?}");
            assert_eq!(
                run.stderr,
                format!("mio-chat: {named} needs --tls (try --help)\n")
            );
        }
        let run = run_to_exit(&[command, "--tls", "--ca", "ca.pem", "--insecure"]);
        assert_eq!(run.code(), 2);
        assert!(run.stderr.contains("--ca or --insecure"), "{}", run.stderr);
    }
}

/// `--help` lists the TLS flags for both commands.
#[test]
fn help_lists_the_tls_flags() {
    for command in ["connect", "bench"] {
        let run = run_to_exit(&[command, "--help"]);
        assert_eq!(run.code(), 0);
        for flag in ["--tls", "--ca FILE", "--insecure"] {
            assert!(
                run.stdout.contains(flag),
                "{flag} missing from {command} --help:\n{}",
                run.stdout
            );
        }
    }
}

/// Every bench connection over TLS: nothing lost, and the report says TLS was used.
#[test]
fn bench_over_tls_loses_nothing_and_says_so() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let addr = server.addr.to_string();
    let args = [
        "bench",
        &addr,
        "--tls",
        "--insecure",
        "--clients",
        "20",
        "--senders",
        "2",
        "--messages",
        "200",
        "--json",
    ];
    let run = run_to_exit_within(&args, Duration::from_secs(60));
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    let json = run.stdout.trim();
    for field in [
        r#""tls":true"#,
        r#""expected":8000"#,
        r#""lost":0"#,
        r#""ok":true"#,
    ] {
        assert!(json.contains(field), "{field} missing from {json}");
    }
    assert!(run.stderr.starts_with(INSECURE_WARNING), "{}", run.stderr);
    assert!(run.stderr.contains("frames over TLS"), "{}", run.stderr);
}

/// The bench verifies like the client: with `--ca` it connects, without it every
/// connection fails and the run says why.
#[test]
fn bench_over_tls_verifies_the_server() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let addr = server.addr.to_string();
    let common = [
        "bench",
        &addr,
        "--tls",
        "--clients",
        "3",
        "--senders",
        "1",
        "--messages",
        "10",
    ];
    let run = run_to_exit_within(
        &[&common[..], &["--ca", &ca(&pki)]].concat(),
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    assert!(run.stdout.contains("frames over TLS"), "{}", run.stdout);
    let run = run_to_exit_within(&common, Duration::from_secs(60));
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr.contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        run.stderr
    );
}

/// A plain client on the TLS server's port still works as before (the client's `--tls`
/// is a choice, not a requirement of the server).
#[test]
fn a_plain_client_still_works_on_the_tls_servers_port() {
    let pki = TestPki::new();
    let server = tls_server(&pki);
    let mut plain = server.lines();
    let run = run_to_exit(&[
        "connect",
        &server.addr.to_string(),
        "--send",
        "clear",
        "--linger",
        "0",
    ]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    plain.wait_for("guest2: clear");
    let _ = TcpStream::connect(server.addr).expect("still listening");
}

/// `--tls` against a server without TLS: the server's plain answer is named for what it
/// is, in one line, exit 1 under `--no-reconnect`.
#[test]
fn tls_to_a_plain_server_says_the_server_does_not_speak_tls() {
    let pki = TestPki::new();
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = run_to_exit(&["connect", "--tls", "--ca", &ca(&pki), &addr, "--no-reconnect"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr.starts_with(&format!(
            "mio-chat: cannot connect to {addr}: TLS: the server does not speak TLS ("
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}
