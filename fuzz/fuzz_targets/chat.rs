//! Fuzzes the chat core fed from several connections at once, the way the event loop
//! feeds it: raw bytes per connection -> detection -> decoder -> cleaning -> `Chat`,
//! whose output goes to the batching `Fanout` and to a naive recorder at the same time.
//!
//! Nothing may panic, and every connection's bytes from the fan-out, decoded, must equal
//! what the recorder got for it, in the same order.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mio_chat::chat::recorder::Recorder;
use mio_chat::chat::{Chat, ChatConfig, ClientId, Outbox, RoomId, RoomMembers, ServerCounters};
use mio_chat::fanout::Fanout;
use mio_chat::framing::{detect, Decoded, Decoder};
use mio_chat::text::clean;

/// Commands that reach deep states quicker than random bytes do.
const TYPED: &[&str] = &[
    "hello",
    "/nick a",
    "/nick B",
    "/nick guest1",
    "/join r",
    "/join R2",
    "/join lobby",
    "/msg a hi",
    "/msg guest2 x",
    "/me waves",
    "/who",
    "/rooms",
    "/quit",
    "/quit bye",
    "/stats",
    "/help",
];

#[derive(Debug, Arbitrary)]
enum Op {
    /// A new connection, framing not yet known.
    Connect,
    /// Raw bytes arrive on a connection.
    Bytes(u8, Vec<u8>),
    /// A connected client types one of `TYPED`.
    Type(u8, u8),
    /// A connection ends (EOF, reset).
    Close(u8),
    /// The loop turn ends.
    EndTurn,
}

#[derive(Debug, Arbitrary)]
struct Input {
    echo: bool,
    limit: u8,
    ops: Vec<Op>,
}

/// Every call to the fan-out under test and to the recorder.
struct Tee<'a>(&'a mut Fanout, &'a mut Recorder);

impl Outbox for Tee<'_> {
    fn to_client(&mut self, id: ClientId, text: &str) {
        self.0.to_client(id, text);
        self.1.to_client(id, text);
    }
    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        self.0.to_room(room, except, text);
        self.1.to_room(room, except, text);
    }
    fn entered(&mut self, id: ClientId, room: RoomId) {
        self.0.entered(id, room);
        self.1.entered(id, room);
    }
    fn left(&mut self, id: ClientId, room: RoomId) {
        self.0.left(id, room);
        self.1.left(id, room);
    }
    fn close(&mut self, id: ClientId) {
        self.0.close(id);
        self.1.close(id);
    }
}

/// One connection: its id, unconsumed input, decoder once detected, bytes sent to it.
struct Conn {
    id: ClientId,
    input: Vec<u8>,
    decoder: Option<Decoder>,
    wire: Vec<u8>,
}

struct Loop {
    chat: Chat,
    fanout: Fanout,
    recorder: Recorder,
    limit: usize,
    conns: Vec<Conn>,
    closing: Vec<Conn>,
}

impl Loop {
    fn conn(&self, pick: u8) -> Option<usize> {
        (!self.conns.is_empty()).then(|| pick as usize % self.conns.len())
    }

    fn connect(&mut self) {
        let in_use = |id: &ClientId| self.conns.iter().chain(&self.closing).any(|c| c.id == *id);
        let id = (0..).find(|id| !in_use(id)).unwrap();
        let conn = Conn {
            id,
            input: Vec::new(),
            decoder: None,
            wire: Vec::new(),
        };
        self.conns.push(conn);
    }

    /// Bytes arrive on connection `at`: detect, decode, clean and handle every message.
    fn receive(&mut self, at: usize, bytes: &[u8]) {
        let conn = &mut self.conns[at];
        let id = conn.id;
        conn.input.extend_from_slice(bytes);
        if conn.decoder.is_none() {
            let Some(framing) = detect(&conn.input) else {
                return;
            };
            conn.decoder = Some(Decoder::new(framing, self.limit));
            self.fanout.add_recipient(id, framing);
            self.chat
                .connect(id, &mut Tee(&mut self.fanout, &mut self.recorder));
        }
        let mut input = std::mem::take(&mut self.conns[at].input);
        let mut used_total = 0;
        while let Some(conn) = self.conns.iter_mut().find(|c| c.id == id) {
            let decoder = conn.decoder.as_mut().unwrap();
            let (item, used) = match decoder.decode(&input[used_total..]) {
                Ok(ok) => ok,
                Err(_) => {
                    let out = &mut Tee(&mut self.fanout, &mut self.recorder);
                    out.to_client(id, "! message too large");
                    self.close(id);
                    return;
                }
            };
            used_total += used;
            match item {
                Decoded::Incomplete => break,
                Decoded::Nothing => {}
                Decoded::Assembled | Decoded::Reply(_) | Decoded::Closing(_) | Decoded::Violation(..) => {
                    unreachable!("websocket items from frames or lines")
                }
                Decoded::LineTooLong => {
                    Tee(&mut self.fanout, &mut self.recorder).to_client(id, "! line too long");
                }
                Decoded::Message(raw) => {
                    let text = clean(raw);
                    if self.handle(id, &text) {
                        return;
                    }
                }
            }
        }
        input.drain(..used_total);
        if let Some(conn) = self.conns.iter_mut().find(|c| c.id == id) {
            conn.input = input;
        }
    }

    /// Hands one cleaned message to the chat; true if the client asked to leave.
    fn handle(&mut self, id: ClientId, text: &str) -> bool {
        let counters = ServerCounters::default();
        let out = &mut Tee(&mut self.fanout, &mut self.recorder);
        self.chat.handle(id, text, &counters, out);
        if std::mem::take(&mut self.recorder.closes).contains(&id) {
            self.close(id);
            return true;
        }
        false
    }

    fn close(&mut self, id: ClientId) {
        let Some(at) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let conn = self.conns.remove(at);
        self.chat
            .disconnect(id, None, &mut Tee(&mut self.fanout, &mut self.recorder));
        self.closing.push(conn);
    }

    /// Collects each dirty recipient's bytes, then removes and checks closed connections.
    fn end_turn(&mut self) {
        self.fanout.finish_turn();
        for &id in self.fanout.dirty() {
            let (framing, spans) = self.fanout.pending(id).expect("dirty recipient");
            let arena = self.fanout.arena(framing);
            let conn = self
                .conns
                .iter_mut()
                .chain(&mut self.closing)
                .find(|c| c.id == id);
            let conn = conn.expect("dirty recipient has a connection");
            for span in spans {
                conn.wire.extend_from_slice(&arena[span.start..span.end]);
            }
        }
        self.fanout.clear_turn();
        for conn in std::mem::take(&mut self.closing) {
            self.fanout.remove_recipient(conn.id);
            check(&conn, self.recorder.got.remove(&conn.id).unwrap_or_default());
        }
    }
}

/// The connection's bytes, decoded, must be the recorder's texts for it.
fn check(conn: &Conn, texts: Vec<String>) {
    let Some(decoder) = &conn.decoder else {
        assert!(
            conn.wire.is_empty() && texts.is_empty(),
            "output before detection"
        );
        return;
    };
    let mut decoder = Decoder::new(decoder.framing(), usize::MAX >> 1);
    let mut got = Vec::new();
    let mut at = 0;
    while let (Decoded::Message(text), used) = decoder.decode(&conn.wire[at..]).unwrap() {
        got.push(String::from_utf8(text.to_vec()).unwrap());
        at += used;
    }
    assert_eq!(at, conn.wire.len(), "undecodable output");
    assert_eq!(
        got, texts,
        "client {} got other messages than sent to it",
        conn.id
    );
}

fuzz_target!(|input: Input| {
    let mut l = Loop {
        chat: Chat::new(ChatConfig {
            echo: input.echo,
            max_message: 65536,
            announce_limit: 4,
        }),
        fanout: Fanout::new(),
        recorder: Recorder::default(),
        limit: input.limit as usize + 1,
        conns: Vec::new(),
        closing: Vec::new(),
    };
    for op in input.ops {
        match op {
            Op::Connect if l.conns.len() < 16 => l.connect(),
            Op::Bytes(pick, bytes) => {
                if let Some(at) = l.conn(pick) {
                    l.receive(at, &bytes);
                }
            }
            Op::Type(pick, what) => {
                let Some(at) = l.conn(pick) else { continue };
                if l.conns[at].decoder.is_some() {
                    l.handle(l.conns[at].id, TYPED[what as usize % TYPED.len()]);
                }
            }
            Op::Close(pick) => {
                if let Some(at) = l.conn(pick) {
                    l.close(l.conns[at].id);
                }
            }
            Op::EndTurn => l.end_turn(),
            Op::Connect => {}
        }
    }
    let ids: Vec<ClientId> = l.conns.iter().map(|c| c.id).collect();
    for id in ids {
        l.close(id);
    }
    l.end_turn();
});
