//! The bench's WebSocket client against the server's own code: its upgrade request
//! answered by `http::answer`, its masked frames read by the server's decoder, the
//! server's frames read back at every split point, and every way a server frame or an
//! answer is refused.

use super::*;
use crate::framing::websocket::{close_frame, encode_frame};
use crate::framing::{Decoder, Framing};
use crate::http::{answer, Answer, Site};

const LIMIT: usize = 1 << 20;

/// The server's answer to the bench's upgrade request with `key`.
fn server_answer(key: &str) -> Vec<u8> {
    let mut request = Vec::new();
    upgrade_request("127.0.0.1:1234", key, &mut request);
    match answer(&request, &Site::default()) {
        Answer::Upgrade { response, used } => {
            assert_eq!(used, request.len());
            response
        }
        other => panic!("not upgraded: {other:?}"),
    }
}

#[test]
fn keys_are_sixteen_random_looking_bytes_and_differ_per_seed() {
    let (key, mask) = key_and_mask(7);
    let raw = base64::engine::general_purpose::STANDARD.decode(&key).unwrap();
    assert_eq!(raw.len(), KEY_BYTES);
    assert_eq!(key_and_mask(7), (key.clone(), mask));
    assert_ne!(key_and_mask(8).0, key);
    assert_ne!(key_and_mask(8).1, mask);
}

#[test]
fn the_servers_101_is_accepted_once_whole_and_not_before() {
    let (key, _) = key_and_mask(1);
    let mut bytes = server_answer(&key);
    let head = bytes.len();
    for cut in 0..head {
        assert_eq!(
            read_upgrade_response(&bytes[..cut], &key),
            Ok(None),
            "cut at {cut}"
        );
    }
    // The welcome may arrive in the same read: frames start where the head ends.
    encode_frame(TEXT, b"* welcome", &mut bytes);
    assert_eq!(read_upgrade_response(&bytes, &key), Ok(Some(head)));
}

#[test]
fn a_101_for_another_key_is_refused() {
    let (key, _) = key_and_mask(1);
    let (other, _) = key_and_mask(2);
    let err = read_upgrade_response(&server_answer(&other), &key).unwrap_err();
    assert!(err.contains("wrong Sec-WebSocket-Accept"), "{err}");
}

#[test]
fn another_status_or_no_http_at_all_is_refused_with_what_came() {
    let refused = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    let err = read_upgrade_response(refused, "k").unwrap_err();
    assert_eq!(err, "the server refused the WebSocket upgrade: 400 Bad Request");
    let frames_welcome = b"\x09\x00\x00\x00* welcome";
    let err = read_upgrade_response(frames_welcome, "k").unwrap_err();
    assert!(
        err.contains("did not answer the WebSocket upgrade with HTTP"),
        "{err}"
    );
    let no_upgrade = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
    let err = read_upgrade_response(no_upgrade, "k").unwrap_err();
    assert!(err.contains("Upgrade: websocket"), "{err}");
}

#[test]
fn an_endless_head_is_refused_past_the_limit() {
    let mut endless = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    endless.resize(MAX_HEAD + 1, b'a');
    assert!(read_upgrade_response(&endless, "k").is_err());
}

#[test]
fn masked_frames_are_read_back_by_the_servers_decoder_in_every_length_form() {
    let mask = [0x12, 0x34, 0x56, 0x78];
    for len in [1, 125, 126, 0xffff, 0x10000] {
        let text = "ab".repeat(len).into_bytes()[..len].to_vec();
        let mut frame = Vec::new();
        encode_masked_text(&text, mask, &mut frame);
        assert_ne!(&frame[frame.len() - len..], &text[..], "payload is masked");
        let mut decoder = Decoder::new(Framing::WebSocket, LIMIT);
        let (decoded, used) = decoder.decode(&frame).unwrap();
        assert_eq!((decoded, used), (Decoded::Assembled, frame.len()), "len {len}");
        assert_eq!(decoder.take_message(), text, "len {len}");
    }
}

#[test]
fn server_frames_decode_whole_at_every_split_point() {
    for len in [5, 126, 70_000] {
        let text = vec![b'x'; len];
        let mut bytes = Vec::new();
        encode_frame(TEXT, &text, &mut bytes);
        encode_frame(TEXT, b"next", &mut bytes);
        let first = bytes.len() - 6;
        for cut in 0..first {
            assert_eq!(
                decode_server_frame(&bytes[..cut], LIMIT),
                Ok((Decoded::Incomplete, 0))
            );
        }
        let (decoded, used) = decode_server_frame(&bytes, LIMIT).unwrap();
        assert_eq!((decoded, used), (Decoded::Message(&text[..]), first));
        assert_eq!(
            decode_server_frame(&bytes[used..], LIMIT),
            Ok((Decoded::Message(&b"next"[..]), 6))
        );
    }
}

#[test]
fn pings_pongs_and_empty_messages_carry_nothing() {
    for opcode in [TEXT, PING, PONG] {
        let mut bytes = Vec::new();
        encode_frame(opcode, b"", &mut bytes);
        assert_eq!(decode_server_frame(&bytes, LIMIT), Ok((Decoded::Nothing, 2)));
    }
}

#[test]
fn a_close_frame_ends_the_connection_with_its_code_and_reason() {
    let err = decode_server_frame(&close_frame(1008, "too slow"), LIMIT).unwrap_err();
    assert_eq!(err, "the server closed the WebSocket: 1008 too slow");
}

#[test]
fn what_mio_chat_never_sends_is_an_error() {
    let mut big = Vec::new();
    encode_frame(TEXT, &[b'x'; 200], &mut big);
    let masked = {
        let mut frame = Vec::new();
        encode_masked_text(b"hi", [1, 2, 3, 4], &mut frame);
        frame
    };
    for (bytes, needle) in [
        (&big[..], "200-byte frame"),
        (&masked[..], "masked"),
        (&[TEXT, 1, b'a'][..], "fragmented"),
        (&[FIN | 0x2, 1, b'a'][..], "opcode 0x2"),
        (&[FIN | 0x40 | TEXT, 1, b'a'][..], "reserved bits"),
    ] {
        let err = decode_server_frame(bytes, 100).unwrap_err();
        assert!(err.contains(needle), "{bytes:?}: {err}");
    }
}
