//! Micro-benchmarks of the server's hot pure parts: decoding a read buffer full of small
//! messages, cleaning their text, and composing one turn's fan-out (encoding each
//! broadcast once per framing and resolving it for every member).
//!
//! `cargo bench --bench hot_paths`; numbers are in docs/performance.md.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mio_chat::chat::{Outbox, RoomMembers};
use mio_chat::fanout::Fanout;
use mio_chat::framing::{Decoded, Decoder, Framing};
use mio_chat::text;

const MESSAGE: &[u8] = b"#64|3|12345|987654321|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const MESSAGES_PER_BUFFER: usize = 1000;

/// A 64 KiB-ish read buffer holding `MESSAGES_PER_BUFFER` messages in `framing`.
fn read_buffer(framing: Framing) -> Vec<u8> {
    let mut buf = Vec::new();
    for _ in 0..MESSAGES_PER_BUFFER {
        framing.encode_into(MESSAGE, &mut buf);
    }
    buf
}

/// Decodes every message of `buf`, as the event loop does after a read.
fn decode_all(framing: Framing, buf: &[u8]) -> usize {
    let mut decoder = Decoder::new(framing, 65536);
    let (mut at, mut count) = (0, 0);
    while let Ok((item, used)) = decoder.decode(&buf[at..]) {
        match item {
            Decoded::Incomplete => break,
            Decoded::Message(text) => count += black_box(text).len(),
            _ => {}
        }
        at += used;
    }
    count
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode 1000 messages of 64 bytes");
    group.throughput(Throughput::Elements(MESSAGES_PER_BUFFER as u64));
    for framing in Framing::ALL {
        let buf = read_buffer(framing);
        group.bench_function(framing.to_string(), |b| {
            b.iter(|| decode_all(framing, black_box(&buf)))
        });
    }
    group.finish();
}

fn cleaning(c: &mut Criterion) {
    let mut out = String::new();
    c.bench_function("clean a 64-byte ASCII message", |b| {
        b.iter(|| {
            out.clear();
            text::clean_into(black_box(MESSAGE), &mut out);
        })
    });
}

/// One turn: `messages` broadcasts from 4 senders into a room of `members` (half lines,
/// half frames), resolved into per-recipient spans.
fn fanout_turn(fanout: &mut Fanout, members: &[usize], messages: usize) {
    let line = std::str::from_utf8(MESSAGE).unwrap_or_default();
    for i in 0..messages {
        let room = RoomMembers { room: 0, members };
        fanout.to_room(room, Some(i % 4), line);
    }
    fanout.finish_turn();
    black_box(fanout.dirty().len());
    fanout.clear_turn();
}

fn fanning_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan-out turn: 100 broadcasts");
    for members in [100usize, 1000, 10_000] {
        let ids: Vec<usize> = (0..members).collect();
        let mut fanout = Fanout::new();
        for &id in &ids {
            fanout.add_recipient(
                id,
                if id % 2 == 0 {
                    Framing::Lines
                } else {
                    Framing::Frames
                },
            );
            fanout.entered(id, 0);
        }
        group.throughput(Throughput::Elements((100 * members) as u64));
        group.bench_function(format!("{members} members"), |b| {
            b.iter_batched(
                || (),
                |()| fanout_turn(&mut fanout, &ids, 100),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decoding, cleaning, fanning_out);
criterion_main!(benches);
