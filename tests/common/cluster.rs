//! Helpers for `--cluster` tests: a private `redis-server` per test (so tests running in
//! parallel share nothing and a test may stop and restart its Redis), servers started
//! against it that are known to be linked before clients arrive, and clients whose
//! guest nicks are parsed from the welcome (in a cluster they come from Redis).

use super::{bin, Client, Framing, Server, PATIENCE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where CI installs Redis; `redis-server` on `PATH` is tried first.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// The text a server logs (at info level) once both of its Redis connections are made
/// and subscribed: before it, a client would be admitted with a local guest nick.
pub const LINK_UP: &str = "cluster link up";
/// Told to every client when the link to Redis is lost.
pub const LINK_LOST: &str = "! cluster link lost: only people on this server get your messages";
/// Told to every client when the link is back.
pub const LINK_RESTORED: &str = "* cluster link restored";

/// A port for a Redis that nothing listens on right now (bound once, then released).
///
/// It is picked at random below the kernel's ephemeral range, not with `bind(:0)`:
/// while a test's Redis is stopped, the servers and clients of the tests running
/// alongside make connections whose local ports come from the ephemeral range, and one
/// of them holding the port would keep Redis from coming back on it. Another test may
/// still pick the same port first, which [`Redis::start`] detects and retries.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (first, span) = if low > 12_000 {
        (low - 10_000, 10_000)
    } else {
        (1024, 1000) // an unusual range: anything not privileged
    };
    let mut seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
        | 1;
    loop {
        // xorshift: spread picks made by parallel tests of one process
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = first + (seed % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn redis_server_path() -> String {
    let on_path = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        return "redis-server".to_string();
    }
    assert!(
        std::path::Path::new(REDIS_SERVER).exists(),
        "the cluster tests need redis-server (not on PATH, not at {REDIS_SERVER}): \
         install it (e.g. `apt-get install redis-server`)"
    );
    REDIS_SERVER.to_string()
}

/// A private `redis-server` on a loopback port, without persistence, killed when
/// dropped. Each test has its own, so tests are independent and may stop and restart
/// it (a restarted Redis is empty, as after a crash without persistence).
pub struct Redis {
    child: Option<Child>,
    /// The port it listens on (kept across restarts: servers reconnect to it).
    pub port: u16,
    /// `--requirepass`, if it asks for a password.
    password: Option<String>,
    log: Arc<Mutex<String>>,
}

impl Redis {
    /// Starts a Redis on a free port and waits until it answers.
    pub fn start() -> Redis {
        Redis::start_with(None)
    }

    /// Starts a Redis that asks for `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Redis {
        Redis::start_with(Some(password.to_string()))
    }

    fn start_with(password: Option<String>) -> Redis {
        for _ in 0..20 {
            let port = free_port();
            let mut redis = Redis {
                child: None,
                port,
                password: password.clone(),
                log: Arc::new(Mutex::new(String::new())),
            };
            if redis.try_spawn() {
                return redis;
            }
        }
        panic!("could not start redis-server on a free port after 20 tries");
    }

    /// `redis://127.0.0.1:PORT`, for `--cluster` (with `:PASSWORD@`, percent-encoded,
    /// if it asks for one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => {
                let encoded: String = password
                    .bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                format!("redis://:{encoded}@127.0.0.1:{}", self.port)
            }
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Spawns redis-server on `self.port`; true once it answers as that process (and
    /// not some other Redis that got the port first); false if it could not listen.
    fn try_spawn(&mut self) -> bool {
        let mut child = Command::new(redis_server_path())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(self.password.iter().flat_map(|p| ["--requirepass", p.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start redis-server");
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let sink = Arc::clone(&self.log);
            std::thread::spawn(move || {
                let mut lines = BufReader::new(pipe);
                let mut line = String::new();
                while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    sink.lock().unwrap().push_str(&line);
                    line.clear();
                }
            });
        }
        let pid = child.id();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                return false; // the port was taken: the caller tries another
            }
            if let Ok(info) = self.try_command(&[b"INFO", b"server"]) {
                if info.contains(&format!("process_id:{pid}\r\n")) {
                    self.child = Some(child);
                    return true;
                }
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server did not answer on port {} within {PATIENCE:?}; its output:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What redis-server printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills Redis with SIGKILL (no goodbye to its clients beyond the closed sockets,
    /// nothing saved): the servers see their link drop at once.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Redis again, empty, on the same port (the servers' reconnection target).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + PATIENCE;
        while !self.try_spawn() {
            assert!(
                Instant::now() < deadline,
                "could not restart redis-server on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one command over a fresh connection, in raw RESP; the reply's raw bytes
    /// as text (lossy). Panics if Redis does not answer.
    pub fn command(&self, args: &[&[u8]]) -> String {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("Redis command {:?}: {e}", String::from_utf8_lossy(args[0])))
    }

    fn try_command(&self, args: &[&[u8]]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(PATIENCE))?;
        if let Some(password) = &self.password {
            stream.write_all(&resp_command(&[b"AUTH", password.as_bytes()]))?;
        }
        stream.write_all(&resp_command(args))?;
        let mut replies = BufReader::new(stream);
        if self.password.is_some() {
            read_reply(&mut replies)?; // +OK
        }
        let reply = read_reply(&mut replies)?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }

    /// `PUBLISH channel payload` (payload as raw bytes, so anything can be forged);
    /// returns how many subscribers got it, i.e. how many servers saw it.
    pub fn publish(&self, channel: &str, payload: &[u8]) -> i64 {
        let reply = self.command(&[b"PUBLISH", channel.as_bytes(), payload]);
        reply
            .strip_prefix(':')
            .and_then(|n| n.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected PUBLISH reply {reply:?}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command as a RESP array of bulk strings.
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One RESP reply, raw (enough for the simple replies the tests read: `+`, `-`, `:`,
/// `$` bulk strings, and `*` arrays of those).
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    match line[0] {
        b'$' => {
            let len: i64 = std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(-1);
            if len < 0 {
                return Ok(line);
            }
            let mut body = vec![0; len as usize + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len as usize);
            Ok(body)
        }
        b'*' => {
            let n: i64 = std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(-1);
            for _ in 0..n.max(0) {
                let item = read_reply(reader)?;
                line.extend_from_slice(&item);
                line.push(b'\n');
            }
            Ok(line)
        }
        _ => Ok(line),
    }
}

/// Starts `mio-chat serve 127.0.0.1:0 --cluster URL --node-name NODE ARGS...` with
/// `RUST_LOG=info` and waits for its `cluster link up` line, so that clients connecting
/// next are admitted by the cluster (guest numbers from Redis), not locally.
pub fn start_node(redis: &Redis, node: &str, args: &[&str]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("127.0.0.1:0")
        .args(["--cluster", &redis.url(), "--node-name", node])
        .args(args)
        .env("RUST_LOG", "info");
    let server = Server::start_command(cmd);
    wait_for_stderr(&server, LINK_UP, PATIENCE);
    server
}

/// Waits until the server's stderr contains `text` (at most `patience`); panics with
/// the stderr if it never does.
pub fn wait_for_stderr(server: &Server, text: &str, patience: Duration) {
    let deadline = Instant::now() + patience;
    while !server.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the server's stderr within {patience:?}:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many times `text` occurs in the server's stderr.
pub fn stderr_count(server: &Server, text: &str) -> usize {
    server.stderr().matches(text).count()
}

/// A client admitted by a clustered server: the client, its guest nick and the number
/// online the welcome named. In a cluster guest numbers come from Redis, so the nick
/// is read from the welcome rather than assumed.
pub fn admit(server: &Server, framing: Framing) -> (Client, String, u64) {
    let mut c = Client::connect(server.addr, framing);
    match framing {
        Framing::Lines => c.send_raw(b"\n"),
        Framing::Frames => c.send_raw(&[0, 0, 0, 0]),
    }
    let welcome = c.expect_prefix("* welcome to mio-chat, you are ");
    let (nick, online) = parse_welcome(&welcome);
    (c, nick, online)
}

/// The nick and online count of `* welcome to mio-chat, you are NICK; N online; ...`.
pub fn parse_welcome(welcome: &str) -> (String, u64) {
    let rest = welcome
        .strip_prefix("* welcome to mio-chat, you are ")
        .unwrap_or_else(|| panic!("not a welcome: {welcome:?}"));
    let (nick, rest) = rest.split_once("; ").expect("welcome: nick");
    let (online, rest) = rest.split_once(" online; ").expect("welcome: online");
    assert_eq!(rest, "/help for commands", "welcome: {welcome:?}");
    (nick.to_string(), online.parse().expect("welcome: number online"))
}

/// An admitted client that has renamed itself to `nick` (and read its own rename
/// notice, which in a cluster comes back through Redis).
pub fn named(server: &Server, framing: Framing, nick: &str) -> Client {
    let (mut c, guest, _) = admit(server, framing);
    c.send(&format!("/nick {nick}"));
    c.wait_for(&format!("* {guest} is now {nick}"));
    c
}

/// Sends `/join ROOM` and waits for the client's own join notice (which in a cluster
/// comes back through Redis, so once it is read the client is a member everywhere).
pub fn join(client: &mut Client, nick: &str, room: &str) {
    client.send(&format!("/join {room}"));
    client.wait_for(&format!("* {nick} joined"));
}

/// Reads messages for `wait` (each gap at most `wait`) and returns them all.
pub fn drain(client: &mut Client, wait: Duration) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(m) = client.recv_within(wait) {
        match m {
            Some(m) => got.push(m),
            None => break,
        }
    }
    got
}
