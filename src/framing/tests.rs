//! Byte-by-byte tests of detection and both decoders, including every split point.

use super::*;

/// Feeds `chunks` to a decoder the way the event loop does (keeping the unconsumed tail)
/// and returns what came out, with `LineTooLong` as `"!too long"`.
fn decode_chunks(framing: Framing, limit: usize, chunks: &[&[u8]]) -> Result<Vec<String>, FrameTooLarge> {
    let mut decoder = Decoder::new(framing, limit);
    let mut pending: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            let (item, used) = decoder.decode(&pending[at..])?;
            match item {
                Decoded::Message(text) => out.push(String::from_utf8_lossy(text).into_owned()),
                Decoded::LineTooLong => out.push("!too long".to_string()),
                Decoded::Nothing => {}
                Decoded::Incomplete => break,
                other => panic!("not from frames or lines: {other:?}"),
            }
            assert!(used > 0, "a non-incomplete item must use bytes");
            at += used;
        }
        pending.drain(..at);
    }
    Ok(out)
}

/// Every way of cutting `stream` in two decodes to the same messages as the whole.
fn assert_every_split_decodes_to(framing: Framing, limit: usize, stream: &[u8], want: &[&str]) {
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        let got = decode_chunks(framing, limit, &[a, b]).expect("no fatal error");
        assert_eq!(got, want, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(
        decode_chunks(framing, limit, &bytes).unwrap(),
        want,
        "one byte at a time"
    );
}

fn frame(text: &str) -> Vec<u8> {
    Framing::Frames.encode(text.as_bytes())
}

#[test]
fn detect_decides_on_the_fourth_byte() {
    assert_eq!(detect(&[5, 0, 0, 0]), Some(Framing::Frames));
    assert_eq!(detect(&[0, 0, 0, 0, 9]), Some(Framing::Frames));
    assert_eq!(detect(b"hell"), Some(Framing::Lines));
    assert_eq!(detect(b"\0\0\0x"), Some(Framing::Lines));
}

#[test]
fn detect_takes_a_short_line_at_once() {
    assert_eq!(detect(b"hi\n"), Some(Framing::Lines));
    assert_eq!(detect(b"\n"), Some(Framing::Lines));
    assert_eq!(detect(b"\r\n"), Some(Framing::Lines));
}

#[test]
fn detect_waits_with_fewer_than_four_bytes_and_no_newline() {
    assert_eq!(detect(b""), None);
    assert_eq!(detect(b"hi"), None);
    assert_eq!(detect(&[3, 0, 0]), None);
    // A NUL before the newline could be a frame header whose payload starts with '\n'.
    assert_eq!(detect(&[1, 0, b'\n']), None);
}

#[test]
fn detect_on_every_prefix_of_a_frame_is_frames_or_undecided() {
    let stream = frame("hello");
    for end in 0..=stream.len() {
        let got = detect(&stream[..end]);
        assert!(
            got.is_none() || got == Some(Framing::Frames),
            "prefix {end}: {got:?}"
        );
    }
}

#[test]
fn frames_decode_at_every_split_point() {
    let mut stream = frame("hello");
    stream.extend(frame(""));
    stream.extend(frame("wörld"));
    stream.extend(frame("x"));
    assert_every_split_decodes_to(Framing::Frames, 100, &stream, &["hello", "wörld", "x"]);
}

#[test]
fn classic_csharp_bytes_decode_as_one_frame() {
    // BitConverter.GetBytes(5) followed by the payload, in one write.
    let bytes = [5u8, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'];
    assert_eq!(detect(&bytes), Some(Framing::Frames));
    assert_eq!(decode_chunks(Framing::Frames, 10, &[&bytes]).unwrap(), ["hello"]);
}

#[test]
fn frame_at_the_limit_passes_and_one_over_is_fatal() {
    let at_limit = frame("abcd");
    assert_eq!(decode_chunks(Framing::Frames, 4, &[&at_limit]).unwrap(), ["abcd"]);
    let over = frame("abcde");
    // The header alone is enough to refuse: the payload is never waited for.
    let err = decode_chunks(Framing::Frames, 4, &[&over[..4]]).unwrap_err();
    assert_eq!(err, FrameTooLarge { len: 5, limit: 4 });
}

#[test]
fn huge_frame_header_is_refused_without_reading_the_payload() {
    let err = decode_chunks(Framing::Frames, 65536, &[&[0xff, 0xff, 0xff, 0xff]]).unwrap_err();
    assert_eq!(err.len, u32::MAX as u64);
}

#[test]
fn lines_decode_at_every_split_point() {
    let stream = b"hello\r\n\nworld\n\r\nlast\n";
    assert_every_split_decodes_to(Framing::Lines, 100, stream, &["hello", "world", "last"]);
}

#[test]
fn only_one_trailing_carriage_return_is_dropped() {
    assert_eq!(
        decode_chunks(Framing::Lines, 100, &[b"a\r\r\n"]).unwrap(),
        ["a\r"]
    );
    assert_eq!(
        decode_chunks(Framing::Lines, 100, &[b"a\rb\n"]).unwrap(),
        ["a\rb"]
    );
}

#[test]
fn line_limit_counts_text_without_crlf() {
    assert_eq!(decode_chunks(Framing::Lines, 3, &[b"abc\r\n"]).unwrap(), ["abc"]);
    assert_eq!(decode_chunks(Framing::Lines, 3, &[b"abc\n"]).unwrap(), ["abc"]);
    assert_eq!(
        decode_chunks(Framing::Lines, 3, &[b"abcd\n"]).unwrap(),
        ["!too long"]
    );
}

#[test]
fn over_long_line_is_reported_once_then_discarded_up_to_its_newline() {
    let stream = b"ok\nthis line is far too long\nfine\n";
    assert_every_split_decodes_to(Framing::Lines, 5, stream, &["ok", "!too long", "fine"]);
}

#[test]
fn over_long_line_is_reported_before_its_newline_arrives() {
    let got = decode_chunks(Framing::Lines, 4, &[b"abcdefgh"]).unwrap();
    assert_eq!(got, ["!too long"]);
    // Text that may still end within the limit (4 bytes + '\r') is waited for.
    assert!(decode_chunks(Framing::Lines, 4, &[b"abcd\r"]).unwrap().is_empty());
}

#[test]
fn discarding_keeps_going_across_many_reads() {
    let chunks: [&[u8]; 4] = [b"0123456789", b"0123456789", b"tail\nnext", b"\n"];
    assert_eq!(
        decode_chunks(Framing::Lines, 4, &chunks).unwrap(),
        ["!too long", "next"]
    );
}

#[test]
fn encode_produces_the_wire_bytes() {
    assert_eq!(Framing::Frames.encode(b"hi"), [2, 0, 0, 0, b'h', b'i']);
    assert_eq!(Framing::Lines.encode(b"hi"), b"hi\n");
    assert_eq!(Framing::Frames.encode(b""), [0, 0, 0, 0]);
}

#[test]
fn incomplete_uses_no_bytes() {
    let mut d = Decoder::new(Framing::Frames, 10);
    assert_eq!(d.decode(&[3, 0, 0, 0, b'a']).unwrap(), (Decoded::Incomplete, 0));
    let mut d = Decoder::new(Framing::Lines, 10);
    assert_eq!(d.decode(b"abc").unwrap(), (Decoded::Incomplete, 0));
    assert_eq!(d.decode(b"").unwrap(), (Decoded::Incomplete, 0));
}

/// An unfinished line is searched for its `\n` only in the bytes that are new since the
/// last call, so a connection dripping one byte at a time onto a long partial line
/// costs O(1) per byte, not O(what is held).
#[test]
fn an_unfinished_line_is_searched_only_in_new_bytes() {
    let mut decoder = Decoder::new(Framing::Lines, 100_000);
    let mut held = vec![b'x'; 65_000];
    assert_eq!(decoder.decode(&held), Ok((Decoded::Incomplete, 0)));
    assert_eq!(decoder.scanned, 65_000);
    held.push(b'y');
    assert_eq!(decoder.decode(&held), Ok((Decoded::Incomplete, 0)));
    assert_eq!(decoder.scanned, 65_001);
    held.extend_from_slice(b"z\nnext");
    let (item, used) = decoder.decode(&held).unwrap();
    assert_eq!((item, used), (Decoded::Message(&held[..65_002]), 65_003));
    assert_eq!(decoder.scanned, 0, "a new line is searched from its start");
    assert_eq!(decoder.decode(&held[used..]), Ok((Decoded::Incomplete, 0)));
    assert_eq!(decoder.scanned, 4);
}

/// `message_around` finds, at every position of a stream in either framing, the whole
/// message the position falls in (or the position itself at a boundary).
#[test]
fn message_around_finds_the_message_at_every_position() {
    let texts = ["ab", "", "cde", "f"];
    for framing in Framing::ALL {
        let mut stream = b"zz".to_vec(); // bytes before the boundary are never looked at
        let mut bounds = vec![2];
        for text in texts
            .iter()
            .filter(|t| framing == Framing::Frames || !t.is_empty())
        {
            framing.encode_into(text.as_bytes(), &mut stream);
            bounds.push(stream.len());
        }
        for pos in 2..=stream.len() {
            let got = framing.message_around(&stream, 2, pos);
            let want = match bounds.iter().position(|&b| b == pos) {
                Some(_) => (pos, pos),
                None => {
                    let end = *bounds.iter().find(|&&b| b > pos).unwrap();
                    let start = *bounds.iter().rev().find(|&&b| b < pos).unwrap();
                    (start, end)
                }
            };
            assert_eq!(got, want, "{framing} at {pos}");
        }
    }
}
