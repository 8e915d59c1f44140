//! [`Stream`] against an in-process `rustls` server on 127.0.0.1: the handshake, the
//! plaintext both ways, the ways a session ends, and every way verification fails.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::{ServerConnection, StreamOwned};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a step may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A CA and a certificate for `localhost`/`127.0.0.1` signed by it, as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("mio-chat-transport-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        tls::server_config(&self.dir.join("cert.pem"), &self.dir.join("key.pem")).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A one-connection TLS server running `script` on its blocking stream in a thread.
fn serve<T: Send + 'static>(
    pki: &Pki,
    script: impl FnOnce(&mut StreamOwned<ServerConnection, std::net::TcpStream>) -> T + Send + 'static,
) -> (std::net::SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = pki.server_config();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut stream = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
        script(&mut stream)
    });
    (addr, handle)
}

/// A client stream to `addr`, connected (TCP) but not yet handshaken.
fn connect(addr: std::net::SocketAddr, tls: &TlsClient) -> Stream {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_nonblocking(true).unwrap();
    Stream::new(TcpStream::from_std(tcp), Some(tls)).unwrap()
}

/// Retries `step` while it would block, for at most `PATIENCE`.
fn until_ready<T>(mut step: impl FnMut() -> io::Result<Option<T>>) -> io::Result<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match step() {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        assert!(Instant::now() < deadline, "nothing happened within {PATIENCE:?}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn handshake(stream: &mut Stream) -> io::Result<()> {
    until_ready(|| Ok(stream.handshake()?.then_some(())))
}

/// Reads until `want` bytes or the end; returns them and whether the end was seen.
fn read_exactly(stream: &mut Stream, want: usize) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 7]; // small, so one record takes several reads
    let ended = until_ready(|| match stream.read(&mut buf)? {
        0 => Ok(Some(true)),
        n => {
            got.extend_from_slice(&buf[..n]);
            Ok((got.len() >= want).then_some(false))
        }
    })
    .unwrap();
    (got, ended)
}

fn verified(pki: &Pki, host: &str) -> TlsClient {
    TlsClient::new(Some(&pki.ca()), false, &format!("{host}:1")).unwrap()
}

#[test]
fn the_host_is_the_address_without_its_port_or_brackets() {
    assert_eq!(host_of("localhost:1234"), "localhost");
    assert_eq!(host_of("127.0.0.1:9"), "127.0.0.1");
    assert_eq!(host_of("[::1]:9"), "::1");
    assert_eq!(host_of("example.org"), "example.org");
}

#[test]
fn a_verified_session_carries_plaintext_both_ways_and_ends_on_close_notify() {
    let pki = Pki::new("both-ways");
    let (addr, server) = serve(&pki, |s| {
        let mut got = [0u8; 9];
        s.read_exact(&mut got).unwrap();
        s.write_all(b"welcome, client").unwrap();
        s.conn.send_close_notify();
        s.flush().unwrap();
        got
    });
    let mut client = connect(addr, &verified(&pki, "localhost"));
    handshake(&mut client).unwrap();
    assert_eq!(
        until_ready(|| client.write(b"\x05\0\0\0hello").map(Some)).unwrap(),
        9
    );
    until_ready(|| {
        client
            .write_pending()
            .map(|()| (!client.wants_write()).then_some(()))
    })
    .unwrap();
    assert_eq!(&server.join().unwrap(), b"\x05\0\0\0hello");
    assert_eq!(
        read_exactly(&mut client, 15),
        (b"welcome, client".to_vec(), false)
    );
    assert_eq!(read_exactly(&mut client, 1), (Vec::new(), true));
}

#[test]
fn plaintext_written_during_the_handshake_is_sent_when_it_completes() {
    let pki = Pki::new("early");
    let (addr, server) = serve(&pki, |s| {
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        got
    });
    let mut client = connect(addr, &verified(&pki, "127.0.0.1"));
    assert_eq!(client.write(&[0, 0, 0, 0]).unwrap(), 4);
    let mut buf = [0u8; 16];
    let read = until_ready(|| match client.read(&mut buf) {
        Ok(0) => Ok(Some(())),
        Ok(n) => panic!("{n} bytes from a server that sends none"),
        Err(e) => Err(e),
    });
    assert_eq!(server.join().unwrap(), [0, 0, 0, 0]);
    read.unwrap(); // the server hung up without close_notify: an end all the same
}

#[test]
fn a_server_that_hangs_up_without_close_notify_is_an_end_not_an_error() {
    let pki = Pki::new("plain-eof");
    let (addr, server) = serve(&pki, |s| {
        s.write_all(b"bye").unwrap();
        s.flush().unwrap();
        s.sock.shutdown(Shutdown::Both).unwrap();
    });
    let mut client = connect(addr, &verified(&pki, "localhost"));
    handshake(&mut client).unwrap();
    server.join().unwrap();
    assert_eq!(read_exactly(&mut client, 3), (b"bye".to_vec(), false));
    assert_eq!(read_exactly(&mut client, 1), (Vec::new(), true));
}

#[test]
fn a_certificate_from_an_unknown_ca_fails_the_handshake_with_rustls_reason() {
    let pki = Pki::new("unknown-ca");
    let (addr, _server) = serve(&pki, |s| s.read(&mut [0u8; 1]).is_err());
    let webpki_roots_only = TlsClient::new(None, false, "localhost:1").unwrap();
    let err = handshake(&mut connect(addr, &webpki_roots_only)).unwrap_err();
    assert_eq!(err.to_string(), "TLS: invalid peer certificate: UnknownIssuer");
}

#[test]
fn a_certificate_for_another_name_fails_the_handshake() {
    let pki = Pki::new("wrong-name");
    let (addr, _server) = serve(&pki, |s| s.read(&mut [0u8; 1]).is_err());
    let err = handshake(&mut connect(addr, &verified(&pki, "example.org"))).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("TLS: invalid peer certificate: certificate not valid for name \"example.org\""),
        "{text}"
    );
}

#[test]
fn insecure_accepts_a_certificate_nothing_vouches_for() {
    let pki = Pki::new("insecure");
    let (addr, server) = serve(&pki, |s| {
        let mut got = [0u8; 2];
        s.read_exact(&mut got).unwrap();
        got
    });
    let insecure = TlsClient::new(None, true, "example.org:1").unwrap();
    assert!(!insecure.is_verified());
    let mut client = connect(addr, &insecure);
    handshake(&mut client).unwrap();
    until_ready(|| client.write(b"ok").map(Some)).unwrap();
    assert_eq!(&server.join().unwrap(), b"ok");
}

#[test]
fn a_server_that_closes_during_the_handshake_is_named_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Reads the ClientHello, then sends its FIN and waits for the client to go.
    let server = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut hello = [0u8; 5];
        tcp.read_exact(&mut hello).unwrap();
        tcp.shutdown(Shutdown::Write).unwrap();
        let _ = tcp.read_to_end(&mut Vec::new());
        hello[0]
    });
    let pki = Pki::new("no-tls");
    let mut client = connect(addr, &verified(&pki, "localhost"));
    let err = handshake(&mut client).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server closed the connection during the TLS handshake"
    );
    drop(client);
    assert_eq!(
        server.join().unwrap(),
        0x16,
        "a TLS handshake record was sent first"
    );
}

#[test]
fn a_server_that_answers_in_plaintext_does_not_speak_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        tcp.read_exact(&mut [0u8; 5]).unwrap();
        tcp.write_all(b"* welcome to mio-chat, you are guest1\n").unwrap();
        let _ = tcp.read_to_end(&mut Vec::new());
    });
    let pki = Pki::new("plaintext");
    let mut client = connect(addr, &verified(&pki, "localhost"));
    let err = handshake(&mut client).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TLS: the server does not speak TLS (received corrupt message of type InvalidContentType)"
    );
    drop(client);
    server.join().unwrap();
}

#[test]
fn bad_settings_say_which_kind_they_are() {
    let missing = Path::new("/nonexistent/ca.pem");
    match TlsClient::new(Some(missing), false, "localhost:1") {
        Err(TlsSetupError::CaFile(why)) => assert!(why.starts_with("/nonexistent/ca.pem: "), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        TlsClient::new(None, false, "bad name!:1"),
        Err(TlsSetupError::Name(_))
    ));
}

/// Reads `stream` under edge-triggered polling, stopping at each short read as the bench
/// does, until `want` bytes came or the server closed; returns the bytes.
fn read_edge_triggered(stream: &mut Stream, want: usize) -> Vec<u8> {
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    poll.registry()
        .register(stream, Token(0), Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    let (mut got, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let deadline = Instant::now() + PATIENCE;
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "stalled after {} of {want} bytes",
            got.len()
        );
        poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
        if events.is_empty() {
            continue;
        }
        stream.write_pending().unwrap();
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            };
            got.extend_from_slice(&buf[..n]);
            if n < buf.len() {
                break; // a short read: the socket is drained
            }
        }
    }
    got
}

#[test]
fn megabytes_arrive_whole_under_edge_triggered_polling_with_short_reads_as_drained() {
    let pki = Pki::new("bulk");
    const TOTAL: usize = 8_000_000;
    let (addr, server) = serve(&pki, |s| {
        let block: Vec<u8> = (0..=250u8).cycle().take(1000).collect();
        for _ in 0..TOTAL / block.len() {
            s.write_all(&block).unwrap();
        }
        s.conn.send_close_notify();
        s.flush().unwrap();
    });
    let mut client = connect(addr, &verified(&pki, "localhost"));
    handshake(&mut client).unwrap();
    let got = read_edge_triggered(&mut client, TOTAL);
    server.join().unwrap();
    assert_eq!(got.len(), TOTAL);
    assert!(got
        .chunks(1000)
        .all(|c| c.iter().copied().eq((0..=250u8).cycle().take(1000))));
}

#[test]
fn megabytes_written_until_would_block_arrive_whole() {
    let pki = Pki::new("bulk-write");
    const TOTAL: usize = 8_000_000;
    let (addr, server) = serve(&pki, |s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).map(|_| got)
    });
    let mut client = connect(addr, &verified(&pki, "localhost"));
    handshake(&mut client).unwrap();
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    poll.registry()
        .register(&mut client, Token(0), Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    let (mut written, deadline) = (0, Instant::now() + PATIENCE);
    while written < TOTAL || client.wants_write() {
        assert!(
            Instant::now() < deadline,
            "stalled after {written} of {TOTAL} bytes"
        );
        client.write_pending().unwrap();
        while written < TOTAL {
            match client.write(&data[written..(written + 100_000).min(TOTAL)]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        if written < TOTAL || client.wants_write() {
            // Only a socket that would not take more may wait for WRITABLE.
            poll.poll(&mut events, Some(PATIENCE)).unwrap();
        }
    }
    client.close();
    let got = server.join().unwrap().expect("the server reads to the end");
    assert!(got == data, "{} bytes arrived, {TOTAL} sent", got.len());
}
