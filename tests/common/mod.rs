//! Shared helpers for integration tests: start the real `mio-chat serve` on
//! `127.0.0.1:0`, read its `listening on` line, and talk to it over real sockets the way
//! netcat (lines) or the bundled client (frames) would.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod cluster;
pub mod connect;
pub mod tls;
pub mod watch;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something that should arrive.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mio-chat")
}

/// A running `mio-chat serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// The address it is listening on.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `mio-chat serve 127.0.0.1:0 ARGS...` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("serve").arg("127.0.0.1:0").args(args);
        Server::start_command(cmd)
    }

    /// Starts a prepared `mio-chat serve` command and waits for its `listening on` line.
    pub fn start_command(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mio-chat");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("read the listening line");
        let addr = first
            .trim()
            .strip_prefix("mio-chat listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .parse()
            .expect("listening address");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server {
            child,
            addr,
            stderr: log,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr after its first line, so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A netcat-style client that has read its welcome.
    pub fn lines(&self) -> Client {
        let mut c = Client::connect(self.addr, Framing::Lines);
        c.send_raw(b"\n"); // an empty line decides the framing at once and is ignored
        c.expect_prefix("* welcome to mio-chat");
        c
    }

    /// A frames client (empty hello frame sent) that has read its welcome.
    pub fn frames(&self) -> Client {
        let mut c = Client::connect(self.addr, Framing::Frames);
        c.send_raw(&[0, 0, 0, 0]);
        c.expect_prefix("* welcome to mio-chat");
        c
    }

    /// The first two clients, guest1 and guest2, in these framings; guest1 has read
    /// `* guest2 joined`, so neither has anything pending.
    pub fn pair(&self, first: Framing, second: Framing) -> (Client, Client) {
        let connect = |framing| match framing {
            Framing::Lines => self.lines(),
            Framing::Frames => self.frames(),
        };
        let mut guest1 = connect(first);
        let guest2 = connect(second);
        guest1.expect("* guest2 joined");
        (guest1, guest2)
    }

    /// Sends a signal to the server (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let ok = unsafe { libc::kill(self.child.id() as i32, signal) } == 0;
        assert!(ok, "kill({signal}) failed");
    }

    /// Waits for the server to exit, at most `PATIENCE`.
    pub fn wait(&mut self) -> ExitStatus {
        let stderr = Arc::clone(&self.stderr);
        wait_for_exit(&mut self.child, "server", || stderr.lock().unwrap().clone())
    }
}

/// Waits for `child` to exit, at most `PATIENCE`; on timeout panics with its stderr.
pub fn wait_for_exit(child: &mut Child, what: &str, stderr: impl Fn() -> String) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit; stderr:\n{}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The framing a test client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `u32` little-endian length + payload.
    Frames,
    /// `\n`-terminated text.
    Lines,
}

/// A blocking test client with a read timeout, plain or TLS.
pub struct Client {
    /// The socket, for tests that need raw access.
    pub stream: TcpStream,
    framing: Framing,
    inbox: Vec<u8>,
    /// The TLS session, for a TLS client: everything goes through it.
    tls: Option<Box<rustls::ClientConnection>>,
}

impl Client {
    /// Connects without sending anything.
    pub fn connect(addr: SocketAddr, framing: Framing) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client {
            stream,
            framing,
            inbox: Vec::new(),
            tls: None,
        }
    }

    /// Connects over TLS, trusting the CA certificate in `ca` and verifying the name
    /// `localhost`, without sending anything yet (the handshake runs with the first
    /// write or read).
    pub fn connect_tls(addr: SocketAddr, framing: Framing, ca: &std::path::Path) -> Client {
        let config = mio_chat::tls::client_config(Some(ca), false).expect("client config");
        let name = mio_chat::tls::server_name("localhost").unwrap();
        let session = rustls::ClientConnection::new(config, name).expect("TLS session");
        let mut client = Client::connect(addr, framing);
        client.tls = Some(Box::new(session));
        client
    }

    /// The TLS session, for a TLS client.
    pub fn tls_session(&mut self) -> Option<&mut rustls::ClientConnection> {
        self.tls.as_deref_mut()
    }

    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            Some(tls) => rustls::Stream::new(tls.as_mut(), &mut self.stream).read(buf),
            None => self.stream.read(buf),
        }
    }

    /// Sends one message in this client's framing.
    pub fn send(&mut self, text: &str) {
        let bytes = encode(self.framing, text.as_bytes());
        self.send_raw(&bytes);
    }

    /// Writes raw bytes (through the TLS session, for a TLS client).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            Some(tls) => rustls::Stream::new(tls.as_mut(), &mut self.stream).write_all(bytes),
            None => self.stream.write_all(bytes),
        }
        .expect("write");
    }

    /// The next message, or `None` on EOF. Panics after `PATIENCE` with nothing.
    pub fn recv(&mut self) -> Option<String> {
        self.recv_within(PATIENCE)
            .unwrap_or_else(|| panic!("no message within {PATIENCE:?}"))
    }

    /// The next message: `Some(None)` on EOF, `None` if nothing came within `wait`.
    pub fn recv_within(&mut self, wait: Duration) -> Option<Option<String>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(msg) = self.take_message() {
                return Some(Some(msg));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut buf = [0u8; 64 * 1024];
            match self.read_some(&mut buf) {
                Ok(0) => return Some(None),
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof) => {
                    return Some(None)
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next message, which must exist (not EOF).
    pub fn next(&mut self) -> String {
        self.recv()
            .expect("connection closed while a message was expected")
    }

    /// Asserts the next message equals `want`.
    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.next(), want);
    }

    /// Asserts the next message starts with `prefix`; returns it.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let got = self.next();
        assert!(got.starts_with(prefix), "expected {prefix:?}..., got {got:?}");
        got
    }

    /// Skips messages until one equals `want` (at most `PATIENCE`).
    pub fn wait_for(&mut self, want: &str) {
        loop {
            match self.recv() {
                Some(m) if m == want => return,
                Some(_) => continue,
                None => panic!("EOF while waiting for {want:?}"),
            }
        }
    }

    /// Skips messages until one starts with `prefix` (at most `PATIENCE`); returns it.
    pub fn wait_for_prefix(&mut self, prefix: &str) -> String {
        loop {
            match self.recv() {
                Some(m) if m.starts_with(prefix) => return m,
                Some(_) => continue,
                None => panic!("EOF while waiting for {prefix:?}..."),
            }
        }
    }

    /// Asks `/who` until `nick` is in this client's room (the client it waits for may
    /// still be connecting or reconnecting), at most `PATIENCE`.
    pub fn wait_until_in_room(&mut self, nick: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.send("/who");
            let who = self.wait_for_prefix("* online (");
            if who.split([' ', ',']).any(|word| word == nick) {
                return;
            }
            assert!(Instant::now() < deadline, "{nick} never appeared: {who}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts nothing arrives within `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        if let Some(got) = self.recv_within(wait) {
            panic!("expected silence, got {got:?}");
        }
    }

    /// Asserts the server closes the connection (after any messages, which are returned).
    pub fn expect_eof(&mut self) -> Vec<String> {
        let mut before = Vec::new();
        while let Some(m) = self.recv() {
            before.push(m);
        }
        before
    }

    /// Asks `/who`-style round trip: sends `/nick NAME` and waits for the confirmation.
    pub fn set_nick(&mut self, nick: &str) {
        self.send(&format!("/nick {nick}"));
        loop {
            let m = self.next();
            if m.ends_with(&format!(" is now {nick}")) {
                return;
            }
        }
    }

    /// Half-closes the sending side.
    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }

    fn take_message(&mut self) -> Option<String> {
        let (text, used) = match self.framing {
            Framing::Lines => {
                let nl = self.inbox.iter().position(|&b| b == b'\n')?;
                let line = &self.inbox[..nl];
                (line.strip_suffix(b"\r").unwrap_or(line).to_vec(), nl + 1)
            }
            Framing::Frames => {
                let header: [u8; 4] = self.inbox.get(..4)?.try_into().unwrap();
                let len = u32::from_le_bytes(header) as usize;
                let text = self.inbox.get(4..4 + len)?.to_vec();
                (text, 4 + len)
            }
        };
        self.inbox.drain(..used);
        Some(String::from_utf8(text).expect("server sent invalid UTF-8"))
    }
}

/// `text` as one message in `framing`.
pub fn encode(framing: Framing, text: &[u8]) -> Vec<u8> {
    match framing {
        Framing::Lines => [text, b"\n"].concat(),
        Framing::Frames => [&(text.len() as u32).to_le_bytes()[..], text].concat(),
    }
}

/// The welcome a client gets as `guest<guest>` with `online` clients on the server.
pub fn welcome(guest: u32, online: usize) -> String {
    format!("* welcome to mio-chat, you are guest{guest}; {online} online; /help for commands")
}

/// What a finished `mio-chat` run left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code (panics if killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

/// Runs `mio-chat ARGS...` to completion (killed and failed after `PATIENCE`).
pub fn run_to_exit(args: &[&str]) -> Finished {
    run_to_exit_within(args, PATIENCE)
}

/// Runs `mio-chat ARGS...` to completion (killed and failed after `patience`).
pub fn run_to_exit_within(args: &[&str], patience: Duration) -> Finished {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mio-chat");
    let stdout = read_in_background(child.stdout.take().expect("piped stdout"));
    let stderr = read_in_background(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + patience;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mio-chat {args:?} did not exit within {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// CPU time (user + system) a process has used, in clock ticks, from `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name in field 2 may hold spaces; count fields after its closing ')'.
    let after_name = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line are 11 and 12 after the name.
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

/// Raises this process's soft open-files limit to its hard limit (for many clients).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// What a client's socket holds right now, without consuming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Some bytes are waiting to be read.
    Data,
    /// The server closed or reset the connection.
    Closed,
    /// Nothing yet.
    Nothing,
}

impl Client {
    /// Connects with a small receive buffer (`SO_RCVBUF` set before connecting, so the
    /// advertised window stays small), without sending anything.
    pub fn connect_with_recv_buffer(addr: SocketAddr, framing: Framing, bytes: usize) -> Client {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connect");
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client {
            stream,
            framing,
            inbox: Vec::new(),
            tls: None,
        }
    }

    /// What is waiting on the socket now (messages already read are not counted).
    pub fn arrival(&self) -> Arrival {
        self.stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let state = match self.stream.peek(&mut byte) {
            Ok(0) => Arrival::Closed,
            Ok(_) => Arrival::Data,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Arrival::Nothing,
            Err(_) => Arrival::Closed,
        };
        self.stream.set_nonblocking(false).unwrap();
        state
    }

    /// Asserts not a single byte arrives within `wait` (not even part of a message).
    pub fn expect_no_bytes(&mut self, wait: Duration) {
        assert!(self.inbox.is_empty(), "bytes already received: {:?}", self.inbox);
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        match self.stream.peek(&mut byte) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("expected no bytes, got EOF"),
            Ok(_) => panic!("expected no bytes, got some"),
            Err(e) => panic!("expected no bytes, got {e}"),
        }
        self.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    }

    /// Reads everything until EOF or reset (at most `PATIENCE`); returns the raw bytes,
    /// including any not yet taken as messages.
    pub fn read_raw_to_end(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let mut bytes = std::mem::take(&mut self.inbox);
        let mut buf = [0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no EOF within {PATIENCE:?}");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.read_some(&mut buf) {
                Ok(0) => return bytes,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("no EOF within {PATIENCE:?}")
                }
                Err(_) => return bytes, // reset: what arrived before it is all there is
            }
        }
    }

    /// Sends `/who` and returns every message that arrived before its reply, which proves
    /// nothing else was queued for this client before the command was handled.
    pub fn messages_before_who(&mut self) -> Vec<String> {
        self.send("/who");
        let mut before = Vec::new();
        loop {
            let m = self.next();
            if m.starts_with("* online (") {
                return before;
            }
            before.push(m);
        }
    }

    /// Asserts nothing was queued for this client before a `/who` round trip.
    pub fn expect_nothing_queued(&mut self) {
        assert_eq!(self.messages_before_who(), Vec::<String>::new());
    }
}

/// How many file descriptors a process has open, from `/proc/PID/fd`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// A `kB` field of `/proc/PID/status`, such as `VmRSS` (resident now) or `VmHWM` (peak).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix(" kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Starts a server with `args` and connects `n` lines clients, guest1..guestN, each of
/// which has read its welcome and every join notice up to the last client's.
pub fn room_of(args: &[&str], n: usize) -> (Server, Vec<Client>) {
    let server = Server::start(args);
    let mut clients: Vec<Client> = Vec::new();
    for i in 1..=n {
        let mut c = Client::connect(server.addr, Framing::Lines);
        c.send_raw(b"\n");
        c.expect(&welcome(i as u32, i));
        for earlier in &mut clients {
            earlier.expect(&format!("* guest{i} joined"));
        }
        clients.push(c);
    }
    (server, clients)
}

/// The number after `label` in a `/stats` reply (`"clients"`, `"connecting"`, ...).
pub fn stat(reply: &str, label: &str) -> u64 {
    let after = reply
        .split(&format!(" {label} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in {reply:?}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label} in {reply:?}"))
}
