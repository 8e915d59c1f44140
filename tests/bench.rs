//! `mio-chat bench` against a real `mio-chat serve` on port 0, and against a tiny lossy
//! relay written here, checking the report's counts and the exit status.

mod common;

use common::tls::TestPki;
use common::{run_to_exit_within, Finished, Server, PATIENCE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a bench run in these tests may take before it is killed.
const BENCH_PATIENCE: Duration = Duration::from_secs(60);

impl Finished {
    /// The raw text of `"key":value` in the JSON report.
    fn field(&self, key: &str) -> &str {
        let json = self.stdout.trim();
        let pattern = format!("\"{key}\":");
        let at = json
            .find(&pattern)
            .unwrap_or_else(|| panic!("no {key} in {json:?}; stderr:\n{}", self.stderr));
        let rest = &json[at + pattern.len()..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        &rest[..end]
    }

    fn number(&self, key: &str) -> u64 {
        self.field(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a whole number: {}", self.field(key)))
    }
}

/// Runs `mio-chat bench ARGS...`, killing it after `BENCH_PATIENCE`.
fn bench(args: &[&str]) -> Finished {
    let all: Vec<&str> = std::iter::once("bench").chain(args.iter().copied()).collect();
    run_to_exit_within(&all, BENCH_PATIENCE)
}

/// `mio-chat bench ADDR --clients C --senders S --messages M EXTRA... --json`.
fn fan_out(addr: &str, clients: u64, senders: u64, messages: u64, extra: &[&str]) -> Finished {
    let (clients, senders, messages) = (clients.to_string(), senders.to_string(), messages.to_string());
    let mut args = vec![
        addr,
        "--clients",
        &clients,
        "--senders",
        &senders,
        "--messages",
        &messages,
    ];
    args.extend_from_slice(extra);
    args.push("--json");
    bench(&args)
}

/// Asserts a clean run of `receivers` x `senders` x `messages`: exact counts, exit 0.
fn assert_exact(run: &Finished, receivers: u64, senders: u64, messages: u64) {
    assert_eq!(run.code(), 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.number("messages_sent"), senders * messages);
    assert_eq!(run.number("expected"), receivers * senders * messages);
    assert_eq!(run.number("deliveries"), receivers * senders * messages);
    for zero in [
        "lost",
        "duplicated",
        "reordered",
        "malformed",
        "receivers_disconnected",
    ] {
        assert_eq!(run.number(zero), 0, "{zero}; stderr:\n{}", run.stderr);
    }
    assert_eq!(run.field("ok"), "true");
}

/// Fan-out over frames: every receiver gets every message once, in order.
#[test]
fn frames_fan_out_delivers_every_message_exactly_once() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 50, 2, 200, &[]);
    assert_exact(&run, 50, 2, 200);
    assert_eq!(run.field("framing"), "\"frames\"");
    assert_eq!(run.number("latency_count"), 50 * 2 * 200);
}

/// The same over lines (netcat-style) connections.
#[test]
fn lines_fan_out_delivers_every_message_exactly_once() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 50, 2, 200, &["--framing", "lines"]);
    assert_exact(&run, 50, 2, 200);
    assert_eq!(run.field("framing"), "\"lines\"");
}

/// The same over WebSocket: every connection upgrades with `GET /ws`, checks the
/// server's `101`, sends masked frames and reads the server's unmasked ones.
#[test]
fn websocket_fan_out_delivers_every_message_exactly_once() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 20, 2, 200, &["--framing", "websocket"]);
    assert_exact(&run, 20, 2, 200);
    assert_eq!(run.field("framing"), "\"websocket\"");
    assert_eq!(run.number("latency_count"), 20 * 2 * 200);
}

/// WebSocket inside TLS (wss): the upgrade and the frames go through the TLS session.
#[test]
fn websocket_over_tls_delivers_every_message_exactly_once() {
    let pki = TestPki::new();
    let server_args = pki.server_args();
    let server = Server::start(&server_args.iter().map(String::as_str).collect::<Vec<_>>());
    let addr = server.addr.to_string();
    let run = fan_out(
        &addr,
        20,
        2,
        200,
        &["--framing", "websocket", "--tls", "--insecure"],
    );
    assert_exact(&run, 20, 2, 200);
    assert_eq!(run.field("framing"), "\"websocket\"");
    assert_eq!(run.field("tls"), "true");
}

/// A WebSocket recipient whose share of one server turn is spliced (16 KiB or more, the
/// server's default `--zero-copy-min`) gets it like a frames recipient. (The server's
/// turn pages once had a slot per framing for two framings only, and it panicked here.)
#[test]
fn websocket_recipients_of_big_turns_get_everything() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 2, 1, 3, &["--size", "20000", "--framing", "websocket"]);
    assert_exact(&run, 2, 1, 3);
}

/// A server that does not answer the upgrade with HTTP fails every connection, and the
/// run says why in one line.
#[test]
fn websocket_against_a_frames_only_server_names_the_failed_upgrade() {
    let addr = start_faulty_relay(10, Fault::Drop).to_string();
    let run = bench(&[
        &addr,
        "--clients",
        "3",
        "--senders",
        "1",
        "--messages",
        "1",
        "--framing",
        "websocket",
    ]);
    assert_eq!(run.code(), 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("did not answer the WebSocket upgrade with HTTP"),
        "{}",
        run.stderr
    );
}

/// With --room every connection joins that room first; lobby chatter does not count.
#[test]
fn a_room_run_joins_first_and_counts_exactly() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 30, 3, 100, &["--room", "bench"]);
    assert_exact(&run, 30, 3, 100);
}

/// Two event loops split the connections and still count exactly.
#[test]
fn two_threads_share_the_connections() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = fan_out(&addr, 40, 2, 150, &["--threads", "2"]);
    assert_exact(&run, 40, 2, 150);
}

/// A paced run for a duration: whatever was sent, every receiver got all of it.
#[test]
fn a_paced_run_for_a_duration_delivers_what_it_sent() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let args = [
        &addr,
        "--clients",
        "20",
        "--senders",
        "2",
        "--rate",
        "200",
        "--duration",
        "0.5",
        "--json",
    ];
    let run = bench(&args);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    let sent = run.number("messages_sent");
    assert!(sent > 0, "nothing sent");
    assert_eq!(run.number("deliveries"), sent * 20);
    assert_eq!(run.number("lost"), 0);
    assert_eq!(run.field("rate"), "200");
}

/// Without --json the report is text on stdout, with the verdict last.
#[test]
fn the_text_report_ends_with_the_verdict() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let run = bench(&[&addr, "--clients", "10", "--senders", "1", "--messages", "20"]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stdout
            .contains("deliveries  expected 200, received 200 (200 unique)"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .ends_with("result      OK: nothing lost, duplicated or reordered\n"));
}

/// --idle holds connections and reads the server's memory from /proc.
#[test]
fn idle_connections_report_server_memory() {
    let server = Server::start(&[]);
    let (addr, pid) = (server.addr.to_string(), server.pid().to_string());
    let run = bench(&[
        &addr,
        "--idle",
        "30",
        "--duration",
        "0.2",
        "--server-pid",
        &pid,
        "--json",
    ]);
    assert_eq!(run.code(), 0, "stderr:\n{}", run.stderr);
    assert_eq!(run.field("mode"), "\"idle\"");
    assert_eq!(run.number("ready"), 30);
    assert!(run.number("server_rss_after_kib") > 0);
}

/// A relay that drops every 10th message makes bench report the loss and exit 1.
#[test]
fn a_lossy_relay_is_reported_and_fails_the_run() {
    let run = bench_through_relay(Fault::Drop);
    assert_eq!(run.code(), 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    // 100 messages relayed, 10 dropped, each of which 10 receivers should have had.
    assert_eq!(run.number("messages_sent"), 100);
    assert_eq!(run.number("lost"), 100);
    assert_eq!(run.number("deliveries"), 900);
    assert_eq!(run.field("ok"), "false");
    assert!(
        run.stderr.contains("100 of 1000 deliveries lost"),
        "{}",
        run.stderr
    );
}

/// A relay that duplicates every 10th message loses nothing: bench reports the
/// duplicates and warns, but exits 0 (the exit status counts losses only).
#[test]
fn duplicates_are_reported_but_only_losses_fail_the_run() {
    let run = bench_through_relay(Fault::Duplicate);
    assert_eq!(run.code(), 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.number("lost"), 0);
    assert_eq!(run.number("duplicated"), 100);
    assert_eq!(run.field("ok"), "false");
    assert!(
        run.stderr.contains("nothing lost, but 100 duplicated"),
        "{}",
        run.stderr
    );
}

/// No server listening: the run fails with one line naming the connect error.
#[test]
fn an_unreachable_server_is_a_runtime_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let run = bench(&[
        &port.to_string(),
        "--clients",
        "3",
        "--senders",
        "1",
        "--messages",
        "1",
    ]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr.contains("connections to"), "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
}

/// Bad flags exit 2 and name the flag.
#[test]
fn bad_flags_are_usage_errors() {
    for (args, needle) in [
        (&["--framing", "pigeon"][..], "use frames, lines or websocket"),
        (&["--messages", "5", "--duration", "1"][..], "not both"),
        (&["--clients", "0"][..], "--clients"),
        (&["--rate", "-1"][..], "--rate"),
        (&["--threads", "zero"][..], "--threads"),
        (
            &["--server-pid", "1", "--server-pid", "2"][..],
            "--server-pid given 2 times for 1 server address(es)",
        ),
        (
            &["127.0.0.1:9", "127.0.0.1:9"][..],
            "address '127.0.0.1:9' given twice",
        ),
    ] {
        let run = bench(args);
        assert_eq!(run.code(), 2, "{args:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

/// Two servers that share nothing: the senders are on the first, so the receivers the
/// bench put on the second never get a message. The loss is found, blamed on the second
/// server, and fails the run, which proves the receivers really are spread.
#[test]
fn receivers_are_spread_round_robin_over_the_addresses() {
    let (first, second) = (Server::start(&[]), Server::start(&[]));
    let (a, b) = (first.addr.to_string(), second.addr.to_string());
    let run = bench(&[
        &a,
        &b,
        "--clients",
        "10",
        "--senders",
        "2",
        "--messages",
        "50",
        "--json",
    ]);
    assert_eq!(run.code(), 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.number("messages_sent"), 100);
    assert_eq!(run.number("expected"), 1000);
    assert_eq!(run.number("deliveries"), 500);
    assert_eq!(run.number("lost"), 500);
    assert_eq!(run.number("servers"), 2);
    assert_eq!(run.field("server1_addr"), format!("\"{a}\""));
    assert_eq!(run.field("server2_addr"), format!("\"{b}\""));
    for (key, want) in [
        ("server1_senders", 2),
        ("server1_receivers", 5),
        ("server1_deliveries", 500),
        ("server1_lost", 0),
        ("server2_senders", 0),
        ("server2_receivers", 5),
        ("server2_deliveries", 0),
        ("server2_lost", 500),
    ] {
        assert_eq!(run.number(key), want, "{key}");
    }
    assert_eq!(run.field("ok"), "false");
    assert!(
        run.stderr.contains("500 of 1000 deliveries lost"),
        "{}",
        run.stderr
    );
}

/// Two servers sharing rooms through a real Redis: receivers on both get every message
/// of the senders on the first, once and in order; the report names both servers with
/// their receivers, and each server's CPU and memory.
#[test]
fn two_clustered_servers_deliver_everything_to_receivers_on_both() {
    let redis = Redis::start();
    let (first, second) = (redis.server("A", &[]), redis.server("B", &[]));
    let (a, b) = (first.addr.to_string(), second.addr.to_string());
    let (pid_a, pid_b) = (first.pid().to_string(), second.pid().to_string());
    let run = bench(&[
        &a,
        &b,
        "--clients",
        "20",
        "--senders",
        "2",
        "--messages",
        "200",
        "--server-pid",
        &pid_a,
        "--server-pid",
        &pid_b,
        "--json",
    ]);
    assert_exact(&run, 20, 2, 200);
    assert_eq!(run.number("servers"), 2);
    assert_eq!(run.field("server1_addr"), format!("\"{a}\""));
    assert_eq!(run.field("server2_addr"), format!("\"{b}\""));
    for (key, want) in [
        ("server1_senders", 2),
        ("server1_receivers", 10),
        ("server1_deliveries", 4000),
        ("server1_lost", 0),
        ("server2_senders", 0),
        ("server2_receivers", 10),
        ("server2_deliveries", 4000),
        ("server2_lost", 0),
    ] {
        assert_eq!(run.number(key), want, "{key}");
    }
    for key in [
        "server1_rss_after_kib",
        "server2_rss_after_kib",
        "server_rss_after_kib",
    ] {
        assert!(run.number(key) > 0, "{key}");
    }
    let (rss_a, rss_b) = (
        run.number("server1_rss_after_kib"),
        run.number("server2_rss_after_kib"),
    );
    assert_eq!(run.number("server_rss_after_kib"), rss_a + rss_b);
    // With --json the text report goes to stderr.
    for line in [
        format!("server 1    {a}: 2 senders, 10 receivers; 4000 deliveries, lost 0; p50 "),
        format!("server 2    {b}: 10 receivers; 4000 deliveries, lost 0; p50 "),
        "(2 servers together)".to_string(),
        "result      OK: nothing lost, duplicated or reordered".to_string(),
    ] {
        assert!(run.stderr.contains(&line), "no {line:?} in\n{}", run.stderr);
    }
}

/// The same across clustered servers over TLS and WebSocket, in a room, with two event
/// loops: each receiver waits for its own join notice, which comes back through Redis,
/// and every TLS connection is verified (the test CA signs both servers' certificate).
#[test]
fn clustered_servers_over_tls_websocket_in_a_room_lose_nothing() {
    let pki = TestPki::new();
    let tls = pki.server_args();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let redis = Redis::start();
    let (first, second) = (redis.server("A", &tls), redis.server("B", &tls));
    let (a, b) = (first.addr.to_string(), second.addr.to_string());
    let ca = pki.ca.display().to_string();
    let run = bench(&[
        &a,
        &b,
        "--clients",
        "12",
        "--senders",
        "2",
        "--messages",
        "100",
        "--framing",
        "websocket",
        "--room",
        "bench",
        "--threads",
        "2",
        "--tls",
        "--ca",
        &ca,
        "--json",
    ]);
    assert_exact(&run, 12, 2, 100);
    assert_eq!(run.field("tls"), "true");
    assert_eq!(run.number("server1_receivers"), 6);
    assert_eq!(run.number("server2_receivers"), 6);
    assert_eq!(run.number("server2_deliveries"), 6 * 200);
}

/// A `redis-server` of its own on a free loopback port, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts `redis-server` without persistence and waits until it accepts.
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("/usr/bin/redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/redis-server");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("redis-server on port {port} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not start"
            );
            thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    /// Starts `mio-chat serve 127.0.0.1:0 --cluster redis://... --node-name NODE ARGS...`
    /// and waits until its link to the cluster is up.
    fn server(&self, node: &str, args: &[&str]) -> Server {
        let mut cmd = Command::new(common::bin());
        cmd.arg("serve")
            .arg("127.0.0.1:0")
            .args(["--cluster", &format!("redis://127.0.0.1:{}", self.port)])
            .args(["--node-name", node])
            .args(args)
            .env("RUST_LOG", "info");
        let server = Server::start_command(cmd);
        let deadline = Instant::now() + PATIENCE;
        while !server.stderr().contains("cluster link up") {
            assert!(
                Instant::now() < deadline,
                "server {node}: no cluster link; stderr:\n{}",
                server.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The relay's shared state: messages relayed so far, and every peer's writer.
type Peers = Mutex<(u64, Vec<(usize, TcpStream)>)>;

/// Starts a frames relay on 127.0.0.1:0: it greets each connection with a welcome frame
/// and relays every non-empty frame to every other connection, except that it drops
/// every `drop_every`-th one.
/// 10 receivers and 2 senders of 50 messages each (100 messages, 1000 deliveries)
/// through a relay that applies `fault` to every 10th message.
fn bench_through_relay(fault: Fault) -> Finished {
    let addr = start_faulty_relay(10, fault).to_string();
    bench(&[
        &addr,
        "--clients",
        "10",
        "--senders",
        "2",
        "--messages",
        "50",
        "--json",
    ])
}

/// What a faulty relay does to every n-th message.
#[derive(Clone, Copy)]
enum Fault {
    Drop,
    Duplicate,
}

fn start_faulty_relay(every: u64, fault: Fault) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: Arc<Peers> = Arc::default();
    thread::spawn(move || {
        for (id, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let _ = stream.write_all(&frame(b"* welcome to the lossy relay"));
            let writer = stream.try_clone().unwrap();
            peers.lock().unwrap().1.push((id, writer));
            let peers = Arc::clone(&peers);
            thread::spawn(move || relay_from(id, stream, &peers, every, fault));
        }
    });
    addr
}

/// Reads frames from one connection and relays them (lossily) to the others.
fn relay_from(id: usize, mut stream: TcpStream, peers: &Peers, every: u64, fault: Fault) {
    let mut header = [0u8; 4];
    while stream.read_exact(&mut header).is_ok() {
        let mut payload = vec![0u8; u32::from_le_bytes(header) as usize];
        if stream.read_exact(&mut payload).is_err() {
            return;
        }
        if payload.is_empty() {
            continue;
        }
        // One lock around count-and-write keeps each sender's order on every peer.
        let mut guard = peers.lock().unwrap();
        guard.0 += 1;
        let mut bytes = frame(&payload);
        match fault {
            Fault::Drop if guard.0.is_multiple_of(every) => continue,
            Fault::Duplicate if guard.0.is_multiple_of(every) => bytes.extend(frame(&payload)),
            _ => {}
        }
        for (peer, out) in guard.1.iter_mut() {
            if *peer != id {
                let _ = out.write_all(&bytes);
            }
        }
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_le_bytes()[..], payload].concat()
}
