//! WebSocket framing byte by byte: length forms at their boundaries, masking, every
//! split point, fragments with control frames between them, and each violation.

use super::*;
use crate::framing::{Decoded, Decoder, Framing};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame: FIN as given, masked with `MASK`, the shortest length form.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn text(payload: &str) -> Vec<u8> {
    client_frame(true, TEXT, payload.as_bytes())
}

/// What a stream decodes to, fed in `chunks` the way the event loop feeds it: keep the
/// unused tail, call again; assembled messages as text, violations as `!code`.
fn decode_chunks(limit: usize, chunks: &[&[u8]]) -> Vec<String> {
    let mut decoder = Decoder::new(Framing::WebSocket, limit);
    let mut pending = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            let (item, used) = decoder.decode(&pending[at..]).expect("websocket never errs");
            let item = match item {
                Decoded::Incomplete => break,
                Decoded::Assembled => {
                    let message = decoder.take_message();
                    let shown = String::from_utf8(message.clone()).unwrap();
                    decoder.give_back(message);
                    shown
                }
                Decoded::Reply(bytes) => format!("reply {bytes:?}"),
                Decoded::Closing(code) => format!("closing {code:?}"),
                Decoded::Violation(code, _) => format!("!{code}"),
                Decoded::Nothing => {
                    at += used;
                    continue;
                }
                other => panic!("unexpected {other:?}"),
            };
            out.push(item);
            assert!(used > 0);
            at += used;
        }
        pending.drain(..at);
    }
    out
}

/// Every way of cutting `stream` in two, and one byte at a time, decodes the same.
fn assert_every_split_decodes_to(limit: usize, stream: &[u8], want: &[&str]) {
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks(limit, &[a, b]), want, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_chunks(limit, &bytes), want, "one byte at a time");
}

#[test]
fn server_frames_use_the_shortest_length_form_at_each_boundary() {
    for (len, header) in [
        (0, vec![0x81, 0]),
        (125, vec![0x81, 125]),
        (126, vec![0x81, 126, 0, 126]),
        (65535, vec![0x81, 126, 0xff, 0xff]),
        (65536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let mut out = Vec::new();
        encode_frame(TEXT, &vec![b'x'; len], &mut out);
        assert_eq!(&out[..header.len()], &header[..], "{len}");
        assert_eq!(out.len(), header.len() + len);
        assert_eq!(server_frame_len(&out), Some(out.len()));
        assert_eq!(server_frame_len(&out[..header.len() - 1]), None);
    }
}

#[test]
fn client_messages_of_every_length_form_decode_at_every_split() {
    for len in [0, 1, 125, 126, 127, 65535, 65536] {
        let payload = "y".repeat(len);
        let frame = text(&payload);
        let want: Vec<&str> = if len == 0 { vec![] } else { vec![&payload] };
        if len <= 1000 {
            assert_every_split_decodes_to(1 << 20, &frame, &want);
        } else {
            assert_eq!(decode_chunks(1 << 20, &[&frame]), want, "{len}");
            let (a, b) = frame.split_at(3);
            assert_eq!(decode_chunks(1 << 20, &[a, b]), want, "{len} cut in its header");
        }
    }
}

#[test]
fn fragments_with_control_frames_between_them_are_reassembled_at_every_split() {
    let stream = [
        client_frame(false, TEXT, b"hel"),
        client_frame(true, PING, b"p!"),
        client_frame(false, CONTINUATION, b"lo "),
        client_frame(true, PONG, b""),
        client_frame(true, CONTINUATION, "wörld".as_bytes()),
        text("next"),
    ]
    .concat();
    let mut pong = Vec::new();
    encode_frame(PONG, b"p!", &mut pong);
    let pong = format!("reply {pong:?}");
    assert_every_split_decodes_to(100, &stream, &[&pong, "hello wörld", "next"]);
}

#[test]
fn a_close_frame_gives_its_code() {
    assert_eq!(
        decode_chunks(100, &[&client_frame(true, CLOSE, &[0x03, 0xe9])]),
        ["closing Some(1001)"]
    );
    assert_eq!(
        decode_chunks(100, &[&client_frame(true, CLOSE, b"")]),
        ["closing None"]
    );
}

#[test]
fn each_protocol_violation_has_its_close_code() {
    let unmasked = [0x81, 2, b'h', b'i'];
    let binary = client_frame(true, BINARY, b"\x00\x01");
    let bad_utf8 = client_frame(true, TEXT, b"\xff\xfe");
    let too_big = client_frame(true, TEXT, &[b'z'; 101]);
    let too_big_in_pieces = [
        client_frame(false, TEXT, &[b'z'; 60]),
        client_frame(true, CONTINUATION, &[b'z'; 41]),
    ]
    .concat();
    let rsv = {
        let mut f = text("x");
        f[0] |= 0x40;
        f
    };
    let stray_continuation = client_frame(true, CONTINUATION, b"x");
    let interleaved = [client_frame(false, TEXT, b"a"), text("b")].concat();
    let long_ping = client_frame(true, PING, &[0; 126]);
    let fragmented_ping = client_frame(false, PING, b"");
    let unknown = client_frame(true, 0x3, b"");
    for (stream, code) in [
        (&unmasked[..], "!1002"),
        (&binary, "!1003"),
        (&bad_utf8, "!1007"),
        (&too_big, "!1009"),
        (&too_big_in_pieces, "!1009"),
        (&rsv, "!1002"),
        (&stray_continuation, "!1002"),
        (&interleaved, "!1002"),
        (&long_ping, "!1002"),
        (&fragmented_ping, "!1002"),
        (&unknown, "!1002"),
    ] {
        assert_eq!(decode_chunks(100, &[stream]), [code], "{stream:?}");
    }
}

#[test]
fn an_oversized_frame_is_refused_from_its_header_alone() {
    let header = &client_frame(true, TEXT, &[b'z'; 200])[..8];
    assert_eq!(decode_chunks(100, &[header]), ["!1009"]);
}

#[test]
fn the_message_limit_is_in_the_close_reason() {
    let mut decoder = Decoder::new(Framing::WebSocket, 100);
    let frame = text(&"z".repeat(101));
    let (item, _) = decoder.decode(&frame).unwrap();
    assert_eq!(
        item,
        Decoded::Violation(1009, "message too big (limit 100 bytes)".to_string())
    );
}

#[test]
fn close_frames_carry_the_code_and_a_reason_cut_to_fit() {
    assert_eq!(close_frame(1000, ""), [0x88, 2, 0x03, 0xe8]);
    let long = close_frame(1009, &"r".repeat(200));
    assert_eq!(long.len(), 2 + 125);
    assert_eq!(&long[2..4], &1009u16.to_be_bytes());
}

#[test]
fn message_boundaries_are_found_in_server_frames() {
    let mut stream = Vec::new();
    encode_frame(TEXT, b"ab", &mut stream);
    encode_frame(TEXT, &[b'c'; 130], &mut stream);
    let second = 4;
    assert_eq!(Framing::WebSocket.message_around(&stream, 0, 1), (0, second));
    assert_eq!(
        Framing::WebSocket.message_around(&stream, 0, second),
        (second, second)
    );
    assert_eq!(
        Framing::WebSocket.message_around(&stream, 0, second + 5),
        (second, stream.len())
    );
}
