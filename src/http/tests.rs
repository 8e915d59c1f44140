//! Requests in, answers out: detection of a request line at every prefix, each status,
//! the upgrade and its accept key, origins.

use super::*;

fn respond_status(answer: &Answer) -> u16 {
    match answer {
        Answer::Respond(bytes) => std::str::from_utf8(&bytes[9..12]).unwrap().parse().unwrap(),
        Answer::Upgrade { .. } => 101,
        Answer::Incomplete => 0,
    }
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: chat.example:1234\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn a_request_line_is_recognised_only_whole_and_waited_for_while_it_could_be_one() {
    let line = b"GET /ws HTTP/1.1\r\n";
    for cut in 1..line.len() {
        assert_eq!(is_request_line(&line[..cut]), None, "prefix of {cut}");
    }
    assert_eq!(is_request_line(line), Some(true));
    assert_eq!(is_request_line(b"GET / HTTP/1.0\n"), Some(true));
    for not_http in [
        &b"GET x\n"[..],
        b"hello\n",
        b"HELLO world\n",
        b"\n",
        b"get / HTTP/1.1\r\n",
        b"GET / HTTP/2\r\n",
        b"\x05\x00\x00\x00",
    ] {
        assert_eq!(is_request_line(not_http), Some(false), "{not_http:?}");
    }
    assert_eq!(
        is_request_line(b"hi"),
        Some(false),
        "lower case cannot be a method"
    );
    assert_eq!(
        is_request_line(&[b'A'; MAX_HEAD]),
        Some(false),
        "too long to wait for"
    );
}

#[test]
fn the_page_its_files_and_the_errors() {
    let site = Site::default();
    let page = answer(b"GET / HTTP/1.1\r\nHost: chat.example:1234\r\n\r\n", &site);
    let Answer::Respond(bytes) = &page else {
        panic!("{page:?}")
    };
    let text = String::from_utf8_lossy(bytes);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Security-Policy: default-src 'self'; connect-src 'self' ws://chat.example:1234 wss://chat.example:1234\r\n"));
    assert!(text.contains("Cache-Control: no-cache\r\n"));
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with(PAGE));
    for (request, status) in [
        (&b"GET /app.js HTTP/1.1\r\n\r\n"[..], 200),
        (b"GET /style.css HTTP/1.1\r\n\r\n", 200),
        (b"GET /secret HTTP/1.1\r\n\r\n", 404),
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n", 0),
    ] {
        assert_eq!(
            respond_status(&answer(request, &site)),
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn a_request_head_over_8_kib_gets_431() {
    let mut request = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    request.extend(std::iter::repeat_n(b'f', MAX_HEAD));
    assert_eq!(
        respond_status(&answer(&request, &Site::default())),
        431,
        "incomplete but too long"
    );
    request.extend_from_slice(b"\r\n\r\n");
    assert_eq!(respond_status(&answer(&request, &Site::default())), 431);
}

#[test]
fn a_valid_upgrade_gets_101_with_the_rfc_accept_key() {
    // RFC 6455, 1.3: this key's accept value.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let request = upgrade_request("/ws", "");
    let Answer::Upgrade { response, used } = answer(request.as_bytes(), &Site::default()) else {
        panic!("no upgrade");
    };
    assert_eq!(used, request.len());
    let text = String::from_utf8(response).unwrap();
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
}

#[test]
fn an_upgrade_without_a_key_or_version_13_gets_400() {
    let site = Site::default();
    let no_key = upgrade_request("/ws", "").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let version_8 = upgrade_request("/ws", "").replace("Version: 13", "Version: 8");
    let not_upgrade = upgrade_request("/ws", "").replace("Upgrade: websocket\r\n", "");
    for request in [no_key, version_8, not_upgrade] {
        assert_eq!(
            respond_status(&answer(request.as_bytes(), &site)),
            400,
            "{request}"
        );
    }
}

#[test]
fn only_the_servers_own_host_and_listed_origins_may_open_a_chat_socket() {
    let listed = Site {
        allowed_origins: vec!["https://friend.example".to_string()],
    };
    for (origin, site, status) in [
        ("", &Site::default(), 101),
        ("Origin: http://chat.example:1234\r\n", &Site::default(), 101),
        ("Origin: https://chat.example:1234\r\n", &Site::default(), 101),
        ("Origin: https://evil.example\r\n", &Site::default(), 403),
        ("Origin: https://friend.example\r\n", &listed, 101),
        ("Origin: https://chat.example\r\n", &Site::default(), 403),
    ] {
        let request = upgrade_request("/ws", origin);
        assert_eq!(
            respond_status(&answer(request.as_bytes(), site)),
            status,
            "{origin}"
        );
    }
}
