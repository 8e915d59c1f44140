//! Fuzzes framing detection and both decoders, the way the event loop drives them.
//!
//! - Arbitrary bytes, whole or cut into arbitrary reads, never panic a decoder nor loop
//!   it, and decode to the same messages however they are cut.
//! - Messages encoded in either framing, cut anywhere, are detected as that framing and
//!   decode back to themselves (or to the defined answer past the limit).
//! - Every decoded message cleans to safe text that parses to a command or an error.
//!
//! With `MIO_CHAT_FUZZ_STRICT=1` it also checks frame headers whose first bytes look like
//! a short line (a known bug, see docs/reliability.md); without it they are skipped so
//! that the fuzzer looks beyond that bug.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mio_chat::command;
use mio_chat::framing::{detect, Decoded, Decoder, FrameTooLarge, Framing};
use mio_chat::text::{clean, is_clean};
use std::sync::OnceLock;

#[derive(Debug, Arbitrary)]
struct Input {
    /// `--max-message`; small, so the limit paths are reached.
    limit: u8,
    /// Read sizes the stream is cut into (cycled).
    reads: Vec<u8>,
    /// Bytes from a client that may follow no protocol at all.
    raw: Vec<u8>,
    /// Messages a well-behaved client sends.
    messages: Vec<Vec<u8>>,
}

/// What the decoder yielded, owned; `Nothing` is left out as it carries nothing.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Message(Vec<u8>),
    LineTooLong,
    TooLarge(FrameTooLarge),
}

fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("MIO_CHAT_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// The stream as reads of the given sizes (cycled; 0 means "the rest").
fn reads<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().cycle();
    while at < stream.len() {
        let size = match sizes.next() {
            Some(&0) | None => stream.len() - at,
            Some(&n) => (n as usize).min(stream.len() - at),
        };
        out.push(&stream[at..at + size]);
        at += size;
    }
    out
}

/// Feeds the reads to a decoder, keeping the incomplete tail as the server does; stops
/// at an oversized frame, as the server closes the connection there. When `detecting`,
/// the framing is detected from the first bytes instead and must equal `framing`.
fn decode(framing: Framing, limit: usize, stream: &[u8], sizes: &[u8], detecting: bool) -> Vec<Item> {
    let mut decoder = (!detecting).then(|| Decoder::new(framing, limit));
    let mut pending = Vec::new();
    let mut items = Vec::new();
    for read in reads(stream, sizes) {
        pending.extend_from_slice(read);
        if decoder.is_none() {
            let Some(found) = detect(&pending) else { continue };
            assert_eq!(found, framing, "detected from {pending:?}");
            decoder = Some(Decoder::new(found, limit));
        }
        let decoder = decoder.as_mut().unwrap();
        let mut at = 0;
        loop {
            let (decoded, used) = match decoder.decode(&pending[at..]) {
                Ok(ok) => ok,
                Err(too_large) => {
                    assert!(too_large.len > limit as u64 && too_large.limit == limit);
                    items.push(Item::TooLarge(too_large));
                    return items;
                }
            };
            assert!(used <= pending.len() - at);
            match decoded {
                Decoded::Incomplete => {
                    assert_eq!(used, 0);
                    break;
                }
                Decoded::Message(text) => items.push(Item::Message(text.to_vec())),
                Decoded::LineTooLong => items.push(Item::LineTooLong),
                Decoded::Nothing => {}
                other => panic!("not from frames or lines: {other:?}"),
            }
            assert!(used >= 1, "a decoder used no bytes");
            at += used;
        }
        pending.drain(..at);
    }
    if detecting && !stream.is_empty() {
        assert!(decoder.is_some(), "{stream:?} left detection undecided");
    }
    items
}

/// What decoding `messages` encoded in `framing` must give.
fn expected(framing: Framing, limit: usize, messages: &[Vec<u8>]) -> Vec<Item> {
    let mut items = Vec::new();
    for m in messages {
        match framing {
            Framing::Frames if m.len() > limit => {
                items.push(Item::TooLarge(FrameTooLarge {
                    len: m.len() as u64,
                    limit,
                }));
                break;
            }
            Framing::Frames if m.is_empty() => {}
            Framing::Frames => items.push(Item::Message(m.clone())),
            Framing::Lines => {
                let text = m.strip_suffix(b"\r").unwrap_or(m);
                if text.len() > limit {
                    items.push(Item::LineTooLong);
                } else if !text.is_empty() {
                    items.push(Item::Message(text.to_vec()));
                }
            }
        }
    }
    items
}

/// True if a frame stream's first three bytes hold a `\n` before any NUL.
fn header_looks_like_a_short_line(stream: &[u8]) -> bool {
    stream.iter().take(3).find(|&&b| b == b'\n' || b == 0) == Some(&b'\n')
}

/// The server's next steps for a decoded message: clean it, then parse it.
fn clean_and_parse(items: &[Item]) {
    for item in items {
        if let Item::Message(raw) = item {
            let text = clean(raw);
            assert!(is_clean(&text) && !text.contains(['\n', '\r']));
            assert_eq!(clean(text.as_bytes()), text);
            let _ = command::parse(&text);
        }
    }
}

fuzz_target!(|input: Input| {
    let limit = input.limit as usize;
    let _ = detect(&input.raw);
    for framing in Framing::ALL {
        let whole = decode(framing, limit, &input.raw, &[], false);
        let cut = decode(framing, limit, &input.raw, &input.reads, false);
        assert_eq!(whole, cut, "{framing} decoding depends on how the bytes are cut");
        clean_and_parse(&whole);
    }
    for framing in Framing::ALL {
        // A line cannot hold `\n`, and a NUL as 4th byte would make it a frame header.
        let messages: Vec<Vec<u8>> = match framing {
            Framing::Frames => input.messages.clone(),
            Framing::Lines => input
                .messages
                .iter()
                .map(|m| m.iter().copied().filter(|&b| b != b'\n' && b != 0).collect())
                .collect(),
        };
        let mut stream = Vec::new();
        for m in &messages {
            framing.encode_into(m, &mut stream);
        }
        let detecting = strict() || framing == Framing::Lines || !header_looks_like_a_short_line(&stream);
        let got = decode(framing, limit, &stream, &input.reads, detecting);
        assert_eq!(got, expected(framing, limit, &messages), "{framing} round trip");
    }
});
