//! Chat from a browser: HTTP and WebSocket on the chat port, against the real binary.
//! Real clients nobody here wrote do the talking: headless Chromium through WebDriver
//! (`tests/web/browser.py`: two pages and a netcat-style client in one room, a page that
//! survives a server restart, markup shown as text) and the Python `websockets` client
//! (`tests/web/websocket.py`: the protocol cases, also over TLS). Raw sockets cover what
//! no polite client sends: unmasked frames, invalid UTF-8, oversized heads, slow requests.
//! The Debian packages these need are installed by `.ci/run`.

mod common;

use common::tls::TestPki;
use common::{Client, Framing, Server, PATIENCE};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;

/// Runs a test script with Debian's Python (where python3-selenium and
/// python3-websockets live) and asserts it passed.
fn run_script(script: &str, args: &[&str]) {
    let out = Command::new("/usr/bin/python3")
        .arg(format!("{}/tests/web/{script}", env!("CARGO_MANIFEST_DIR")))
        .arg(common::bin())
        .args(args)
        .output()
        .expect("/usr/bin/python3 (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two Chromium pages and a netcat-style client chat in one room; a page survives a
/// server restart and comes back with its nick and room; `<script>` is shown as text.
#[test]
fn browsers_chat_with_a_line_client_and_survive_a_restart() {
    run_script("browser.py", &[]);
}

/// The `websockets` client: chat with a line client, fragments, ping, `/quit` (close
/// 1000), binary (1003), oversized (1009 with the limit), a client's close code answered,
/// shutdown (1001), origins, and `wss://` on the same port.
#[test]
fn the_python_websockets_client_speaks_to_the_server() {
    let pki = TestPki::new();
    let show = |p: &std::path::Path| p.display().to_string();
    run_script(
        "websocket.py",
        &[&show(&pki.ca), &show(&pki.cert), &show(&pki.key)],
    );
}

/// Sends `request` and returns everything the server answers before it closes.
fn http(server: &Server, request: &[u8]) -> String {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no close within {PATIENCE:?}: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET /` is the page with its security policy; its script and style are served;
/// anything else is 404, other methods 405, an upgrade without a key 400, an oversized
/// head 431; every answer closes the connection.
#[test]
fn the_page_and_every_http_error_answer() {
    let server = Server::start(&[]);
    let page = http(&server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Security-Policy: default-src 'self'"));
    assert!(page.contains("<script src=\"/app.js\""));
    assert!(http(&server, b"GET /app.js HTTP/1.1\r\n\r\n").contains("new WebSocket("));
    assert!(http(&server, b"GET /style.css HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    assert!(http(&server, b"GET /etc/passwd HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(&server, b"DELETE / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    let no_key =
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert!(http(&server, no_key).starts_with("HTTP/1.1 400 "));
    let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(9000, b'f');
    assert!(http(&server, &big).starts_with("HTTP/1.1 431 "));
    // The chat goes on.
    let mut c = server.lines();
    c.send("/who");
    c.expect("* online (1): guest1");
}

/// A request that does not finish in time gets 408 and a close.
#[test]
fn a_request_that_does_not_finish_gets_408() {
    let server = Server::start(&["--handshake-timeout", "1"]);
    assert!(http(&server, b"GET / HTTP/1.1\r\nHost: x\r\n").starts_with("HTTP/1.1 408 "));
}

/// A netcat user whose first line merely starts like a request is chatting.
#[test]
fn a_first_line_that_is_not_a_whole_request_line_is_chat() {
    let server = Server::start(&[]);
    let mut other = server.lines();
    let mut typist = Client::connect(server.addr, Framing::Lines);
    typist.send_raw(b"GET x\n");
    typist.expect_prefix("* welcome to mio-chat, you are guest2");
    other.expect("* guest2 joined");
    other.expect("guest2: GET x");
}

/// A WebSocket client after its upgrade, with its welcome read (raw frames).
fn upgraded(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let welcome = read_frame(&mut s);
    assert!(welcome.1.starts_with(b"* welcome"));
    s
}

/// One server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    let len = match head[1] {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        short => short as usize,
    };
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// What browsers never send: an unmasked frame is closed with 1002, invalid UTF-8 in a
/// text message with 1007.
#[test]
fn unmasked_frames_and_invalid_utf8_are_closed_with_their_codes() {
    let server = Server::start(&[]);
    let mut s = upgraded(&server);
    s.write_all(&[0x81, 2, b'h', b'i']).unwrap();
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!((opcode, &payload[..2]), (0x8, &1002u16.to_be_bytes()[..]));
    let mut s = upgraded(&server);
    let mask = [1u8, 2, 3, 4];
    let masked: Vec<u8> = [0xffu8, 0xfe]
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    s.write_all(&[0x81, 0x82]).unwrap();
    s.write_all(&mask).unwrap();
    s.write_all(&masked).unwrap();
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!((opcode, &payload[..2]), (0x8, &1007u16.to_be_bytes()[..]));
}
