use super::*;

fn room(origin: &str, sender: Option<u64>, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_room(RoomKind::Line, origin, sender, text, &mut out);
    out
}

#[test]
fn every_kind_round_trips_with_its_own_letter() {
    let mut letters = Vec::new();
    for kind in RoomKind::ALL {
        let mut out = Vec::new();
        encode_room(kind, "n", Some(9), "* a joined", &mut out);
        assert_eq!(
            decode(&out),
            Ok(BusMessage::Room {
                kind,
                origin: "n",
                sender: Some(9),
                text: "* a joined"
            })
        );
        letters.push(kind.letter());
    }
    assert_eq!(letters, ["R", "J", "j", "q", "n", "L", "l"]);
}

#[test]
fn room_messages_round_trip() {
    for sender in [None, Some(0), Some(7), Some(u64::MAX)] {
        let bytes = room("node-1", sender, "alice: hi there");
        assert_eq!(
            decode(&bytes),
            Ok(BusMessage::Room {
                kind: RoomKind::Line,
                origin: "node-1",
                sender,
                text: "alice: hi there"
            })
        );
    }
}

#[test]
fn the_format_is_what_the_docs_say() {
    assert_eq!(room("a", Some(12), "x: y"), b"1\x1fR\x1fa\x1f12\x1fx: y");
    assert_eq!(room("a", None, "* bob left"), b"1\x1fR\x1fa\x1f-\x1f* bob left");
    let mut out = Vec::new();
    encode_private("host:1", "alice", "Bob", "psst", &mut out);
    assert_eq!(out, b"1\x1fP\x1fhost:1\x1falice\x1fBob\x1fpsst");
}

#[test]
fn private_messages_round_trip() {
    let mut out = Vec::new();
    encode_private("n.2", "alice", "bob", "a | b", &mut out);
    assert_eq!(
        decode(&out),
        Ok(BusMessage::Private {
            origin: "n.2",
            from: "alice",
            to: "bob",
            text: "a | b"
        })
    );
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "unknown version"),
        (b"hello", "unknown version"),
        (b"2\x1fR\x1fa\x1f-\x1ftext", "unknown version"),
        (b"1", "too few fields"),
        (b"1\x1fR", "too few fields"),
        (b"1\x1fR\x1fa\x1f-", "too few fields"),
        (b"1\x1fX\x1fa\x1f-\x1ftext", "unknown kind"),
        (b"1\x1fr\x1fa\x1f-\x1ftext", "unknown kind"),
        (
            b"1\x1fJ\x1fa\x1f-\x1f* x joined",
            "a join or leave without its client",
        ),
        (
            b"1\x1fl\x1fa\x1f-\x1f* x left",
            "a join or leave without its client",
        ),
        (b"1\x1fR\x1fa\x1f+1\x1ftext", "bad sender"),
        (b"1\x1fR\x1fa\x1f-1\x1ftext", "bad sender"),
        (b"1\x1fR\x1fa\x1f99999999999999999999999\x1ftext", "bad sender"),
        (b"1\x1fR\x1f\x1f-\x1ftext", "bad origin"),
        (b"1\x1fR\x1fa b\x1f-\x1ftext", "bad origin"),
        (b"1\x1fR\x1fa\x1f-\x1f", "bad text"),
        (b"1\x1fR\x1fa\x1f-\x1fline\nforged", "bad text"),
        (b"1\x1fR\x1fa\x1f-\x1fesc\x1b[2J", "bad text"),
        (b"1\x1fR\x1fa\x1f-\x1fextra\x1ffield", "bad text"),
        (b"1\x1fR\x1fa\x1f-\x1f\xff\xfe", "not UTF-8"),
        (b"1\x1fP\x1fa\x1fal ice\x1fbob\x1ftext", "bad nick"),
        (b"1\x1fP\x1fa\x1falice\x1f\x1ftext", "bad nick"),
        (b"1\x1fP\x1fa\x1falice\x1fbob", "too few fields"),
    ];
    for (payload, why) in cases {
        assert_eq!(decode(payload), Err(BadMessage(why)), "{payload:?}");
    }
}

#[test]
fn oversized_payloads_are_refused_before_anything_else() {
    let mut big = b"1\x1fR\x1fa\x1f-\x1f".to_vec();
    big.resize(MAX_TEXT + 1024, b'x');
    assert_eq!(decode(&big), Err(BadMessage("too long")));
}

#[test]
fn every_cut_of_a_message_is_refused_or_is_a_shorter_message() {
    // A payload is one Redis bulk string, never split, but a truncated one (a buggy
    // publisher) must still be handled: refused, or a message with shorter text.
    let bytes = room("node", Some(3), "bob: hello");
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut]) {
            Err(_) => {}
            Ok(BusMessage::Room {
                origin: "node",
                sender: Some(3),
                text,
                ..
            }) => {
                assert!("bob: hello".starts_with(text) && !text.is_empty())
            }
            Ok(other) => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn tabs_and_unicode_are_text() {
    let bytes = room("n", None, "é\tü");
    assert!(decode(&bytes).is_ok());
}
