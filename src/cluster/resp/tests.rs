//! Byte-by-byte tests of the RESP2 codec: every sample reply at every split point and one
//! byte at a time, every protocol error, every limit, and random bytes.

use super::*;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes this thread allocates, so a test can show that a call allocated
/// nothing (tests run on threads of their own, so they do not see each other's).
struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed straight to `System`; the count is a side note.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|n| n.set(n.get() + layout.size()));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|n| n.set(n.get() + new_size));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What `decode(input)` returns, with the bytes it allocated on the way.
fn decode_counting(input: &[u8]) -> (Result<Option<(Value, usize)>, ProtocolError>, usize) {
    let before = ALLOCATED.with(Cell::get);
    let result = decode(input);
    (result, ALLOCATED.with(Cell::get) - before)
}

/// Feeds `chunks` to the decoder the way the Redis link will (keeping the unconsumed
/// tail, calling again after each read) and returns every value that came out.
fn decode_chunks(chunks: &[&[u8]]) -> Result<Vec<Value>, ProtocolError> {
    let mut pending: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut at = 0;
        while let Some((value, used)) = decode(&pending[at..])? {
            assert!(used > 0 && used <= pending.len() - at, "used {used} bytes");
            out.push(value);
            at += used;
        }
        pending.drain(..at);
    }
    assert!(pending.is_empty(), "left over: {pending:?}");
    Ok(out)
}

/// Every way of cutting `wire` in two decodes to `want`: the first part alone is not yet
/// a value, the whole is, using all of it. So does `wire` fed one byte at a time.
fn assert_every_split_decodes_to(wire: &[u8], want: &[Value]) {
    for cut in 0..=wire.len() {
        let (first, second) = wire.split_at(cut);
        assert_eq!(
            decode_chunks(&[first, second]).as_deref(),
            Ok(want),
            "split at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(decode_chunks(&bytes).as_deref(), Ok(want), "one byte at a time");
}

/// `wire` is exactly one `want`: every strict prefix gives `Ok(None)`, the whole gives
/// the value with `used` = its length, at every split and one byte at a time.
fn assert_decodes_to(wire: &[u8], want: Value) {
    for end in 0..wire.len() {
        assert_eq!(
            decode(&wire[..end]),
            Ok(None),
            "first {end} of {:?}",
            String::from_utf8_lossy(wire)
        );
    }
    assert_eq!(decode(wire), Ok(Some((want.clone(), wire.len()))));
    assert_every_split_decodes_to(wire, &[want]);
}

/// `wire` is refused, and so is every longer prefix once one is: no prefix is taken for
/// a value, and more bytes never undo a refusal.
fn assert_refused(wire: &[u8]) {
    let mut refused = false;
    for end in 0..=wire.len() {
        match decode(&wire[..end]) {
            Ok(None) => assert!(!refused, "refused at fewer bytes than {end} but not at {end}"),
            Ok(Some(got)) => panic!("first {end} bytes of {wire:?} decoded to {got:?}"),
            Err(_) => refused = true,
        }
    }
    assert!(refused, "{:?} was not refused", String::from_utf8_lossy(wire));
}

fn bulk(bytes: &[u8]) -> Value {
    Value::Bulk(Some(bytes.to_vec()))
}

fn array(items: Vec<Value>) -> Value {
    Value::Array(Some(items))
}

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode_into(&mut out);
    out
}

/// `depth` arrays of one element, one inside another, around `:1`.
fn nested(depth: usize) -> Vec<u8> {
    let mut wire = b"*1\r\n".repeat(depth);
    wire.extend_from_slice(b":1\r\n");
    wire
}

#[test]
fn a_command_is_an_array_of_bulk_strings_on_the_wire() {
    let mut out = b"before".to_vec();
    encode_command(&[b"PUBLISH", b"room", b"hi\r\n"], &mut out);
    assert_eq!(
        out,
        b"before*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$4\r\nhi\r\n\r\n"
    );
}

#[test]
fn an_encoded_command_decodes_as_an_array_of_bulk_strings() {
    let mut wire = Vec::new();
    encode_command(&[b"SUBSCRIBE", b"", b"a\r\nb", &[0, 255]], &mut wire);
    let want = array(vec![
        bulk(b"SUBSCRIBE"),
        bulk(b""),
        bulk(b"a\r\nb"),
        bulk(&[0, 255]),
    ]);
    assert_decodes_to(&wire, want);
}

#[test]
fn a_command_without_arguments_is_an_empty_array() {
    let mut wire = Vec::new();
    encode_command(&[], &mut wire);
    assert_eq!(wire, b"*0\r\n");
}

#[test]
fn every_value_kind_round_trips_through_encode_into() {
    let values = [
        Value::Simple("OK".into()),
        Value::Simple(String::new()),
        Value::Error("ERR unknown command".into()),
        Value::Integer(0),
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Bulk(None),
        bulk(b""),
        bulk(b"\r\n\r\n"),
        Value::Array(None),
        array(vec![]),
        array(vec![
            Value::Integer(-1),
            array(vec![Value::Bulk(None), Value::Array(None)]),
        ]),
    ];
    for value in values {
        assert_decodes_to(&encoded(&value), value);
    }
}

#[test]
fn each_sample_reply_decodes_at_every_split_point() {
    let samples: [(&[u8], Value); 12] = [
        (b"+OK\r\n", Value::Simple("OK".into())),
        (b"-ERR x\r\n", Value::Error("ERR x".into())),
        (b":-5\r\n", Value::Integer(-5)),
        (b":9223372036854775807\r\n", Value::Integer(i64::MAX)),
        (b":-9223372036854775808\r\n", Value::Integer(i64::MIN)),
        (b"$-1\r\n", Value::Bulk(None)),
        (b"$0\r\n\r\n", bulk(b"")),
        (b"$6\r\na\r\nb\r\n\r\n", bulk(b"a\r\nb\r\n")),
        (b"*-1\r\n", Value::Array(None)),
        (b"*0\r\n", array(vec![])),
        (
            b"*2\r\n*2\r\n:1\r\n+two\r\n*1\r\n$-1\r\n",
            array(vec![
                array(vec![Value::Integer(1), Value::Simple("two".into())]),
                array(vec![Value::Bulk(None)]),
            ]),
        ),
        (
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nchan\r\n:1\r\n",
            array(vec![bulk(b"subscribe"), bulk(b"chan"), Value::Integer(1)]),
        ),
    ];
    for (wire, want) in samples {
        assert_decodes_to(wire, want);
    }
}

#[test]
fn a_pubsub_message_decodes_at_every_split_point() {
    let wire = b"*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n";
    assert_decodes_to(wire, array(vec![bulk(b"message"), bulk(b"chan"), bulk(b"hello")]));
}

#[test]
fn a_pattern_message_decodes_at_every_split_point() {
    let wire = b"*4\r\n$8\r\npmessage\r\n$6\r\nroom.*\r\n$6\r\nroom.a\r\n$2\r\nhi\r\n";
    let want = array(vec![
        bulk(b"pmessage"),
        bulk(b"room.*"),
        bulk(b"room.a"),
        bulk(b"hi"),
    ]);
    assert_decodes_to(wire, want);
}

#[test]
fn values_back_to_back_decode_one_after_the_other() {
    let wire = b"+OK\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$0\r\n\r\n:7\r\n$-1\r\n";
    let want = [
        Value::Simple("OK".into()),
        array(vec![bulk(b"message"), bulk(b"c"), bulk(b"")]),
        Value::Integer(7),
        Value::Bulk(None),
    ];
    let mut at = 0;
    for value in &want {
        let (got, used) = decode(&wire[at..]).unwrap().expect("a whole value");
        assert_eq!(&got, value);
        assert_eq!(wire[at..at + used], encoded(value), "used exactly its bytes");
        at += used;
    }
    assert_eq!((at, decode(&wire[at..])), (wire.len(), Ok(None)));
    assert_every_split_decodes_to(wire, &want);
}

#[test]
fn simple_strings_that_are_not_utf8_are_kept_with_replacements() {
    assert_eq!(
        decode(b"-ERR \xff\r\n"),
        Ok(Some((Value::Error("ERR \u{fffd}".into()), 8)))
    );
}

#[test]
fn an_unknown_type_byte_is_refused_at_once() {
    assert!(decode(b"?").is_err());
    assert_refused(b"!3\r\nabc\r\n");
    assert_refused(b"OK\r\n");
    assert_refused(b"*2\r\n:1\r\n%0\r\n");
}

#[test]
fn a_bad_integer_is_refused() {
    for wire in [
        &b":\r\n"[..],
        b":-\r\n",
        b":+5\r\n",
        b":1 2\r\n",
        b":12a\r\n",
        b":--1\r\n",
        b":9223372036854775808\r\n",
        b":-9223372036854775809\r\n",
    ] {
        assert_refused(wire);
    }
}

#[test]
fn a_bad_length_is_refused() {
    for wire in [
        &b"$abc\r\n"[..],
        b"$\r\n",
        b"$-2\r\n",
        b"*-2\r\n",
        b"*x\r\n",
        b"$3 \r\nabc\r\n",
    ] {
        assert_refused(wire);
    }
}

#[test]
fn an_integer_line_that_cannot_end_in_time_is_refused_before_its_end() {
    // 20 characters (i64::MIN's length) may still end; 21 cannot.
    assert_eq!(decode(b":-922337203685477580"), Ok(None));
    assert_eq!(decode(b":-922337203685477580\r"), Ok(None));
    assert!(decode(b":-92233720368547758080").is_err());
    assert!(decode(b"$000000000000000000003").is_err());
}

#[test]
fn a_newline_without_carriage_return_is_refused() {
    for wire in [
        &b"+OK\n"[..],
        b"-ERR\n",
        b":5\n",
        b"$3\nabc\r\n",
        b"*1\n:1\r\n",
        b"*1\r\n+OK\n",
    ] {
        assert_refused(wire);
    }
}

#[test]
fn a_carriage_return_without_newline_is_refused() {
    assert_refused(b"+O\rK\r\n");
    assert_refused(b":1\r1\r\n");
    assert_refused(b"+OK\r\r\n");
}

#[test]
fn a_bulk_not_followed_by_crlf_is_refused_as_soon_as_it_shows() {
    assert_refused(b"$3\r\nabcd\r\n");
    assert_refused(b"$3\r\nabc\n\r");
    assert_refused(b"$3\r\nabc\rx");
    assert_refused(b"*2\r\n$1\r\na\r\n$1\r\nbc");
    assert!(
        decode(b"$3\r\nabcX").is_err(),
        "without waiting for a second byte"
    );
}

#[test]
fn a_length_over_the_limit_is_refused_from_its_header_alone() {
    assert_eq!(
        decode(b"$536870912\r\n"),
        Ok(None),
        "512 MiB is Redis's own maximum"
    );
    assert_refused(b"$536870913\r\n");
    assert_refused(b"$99999999999999999999\r\n");
    assert_eq!(decode(b"*1048576\r\n"), Ok(None));
    assert_refused(b"*1048577\r\n");
}

#[test]
fn nesting_up_to_the_limit_decodes_and_one_deeper_is_refused() {
    let deepest = nested(MAX_NESTING);
    let mut want = Value::Integer(1);
    for _ in 0..MAX_NESTING {
        want = array(vec![want]);
    }
    assert_decodes_to(&deepest, want);
    assert_refused(&nested(MAX_NESTING + 1));
}

#[test]
fn null_and_empty_arrays_count_toward_the_nesting_limit() {
    for innermost in [&b"*-1\r\n"[..], b"*0\r\n"] {
        let mut wire = b"*1\r\n".repeat(MAX_NESTING - 1);
        wire.extend_from_slice(innermost);
        assert!(matches!(decode(&wire), Ok(Some(_))), "{MAX_NESTING} arrays deep");
        assert_refused(&[b"*1\r\n", &wire[..]].concat());
    }
}

#[test]
fn a_huge_declared_bulk_with_few_bytes_present_allocates_nothing() {
    let (result, allocated) = decode_counting(b"$536870911\r\nabc");
    assert_eq!((result, allocated), (Ok(None), 0));
}

#[test]
fn a_huge_declared_array_with_few_elements_present_allocates_nothing() {
    let mut wire = b"*1048576\r\n".to_vec();
    wire.extend(b"$5\r\nhello\r\n".repeat(100));
    let (result, allocated) = decode_counting(&wire);
    assert_eq!((result, allocated), (Ok(None), 0));
}

#[test]
fn a_whole_value_allocates_only_what_it_holds() {
    let wire = b"*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n";
    let (result, allocated) = decode_counting(wire);
    assert!(result.unwrap().is_some());
    let slots = 3 * std::mem::size_of::<Value>();
    assert!(allocated <= slots + 7 + 4 + 5, "allocated {allocated} bytes");
}

/// Each call looks at each byte a bounded number of times, so a long array of small
/// values decodes in one quick call (a quadratic rescan would take minutes here).
#[test]
fn a_long_array_decodes_in_one_pass() {
    let mut wire = b"*1048576\r\n".to_vec();
    wire.extend(b":1\r\n".repeat(MAX_ARRAY_LEN));
    let (value, used) = decode(&wire).unwrap().unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(value.into_array().map(|items| items.len()), Some(MAX_ARRAY_LEN));
    assert_eq!(decode(&wire[..wire.len() - 1]), Ok(None));
}

#[test]
fn helpers_take_what_the_caller_wants_and_nothing_else() {
    assert_eq!(bulk(b"x").as_bytes(), Some(&b"x"[..]));
    assert_eq!(Value::Simple("OK".into()).as_bytes(), Some(&b"OK"[..]));
    assert_eq!(Value::Bulk(None).as_bytes(), None);
    assert_eq!(Value::Error("ERR".into()).as_bytes(), None);
    assert_eq!(Value::Integer(3).as_int(), Some(3));
    assert_eq!(bulk(b"3").as_int(), None);
    assert_eq!(
        array(vec![Value::Integer(1)]).into_array(),
        Some(vec![Value::Integer(1)])
    );
    assert_eq!(Value::Array(None).into_array(), None);
    assert_eq!(bulk(b"").into_array(), None);
}

#[test]
fn a_protocol_error_says_what_was_wrong() {
    let err = decode(b":12a\r\n").unwrap_err();
    assert_eq!(err.to_string(), "RESP protocol error: bad integer \"12a\"");
    let err = decode(b"$536870913\r\n").unwrap_err();
    assert!(err.0.contains("536870913"), "{err}");
}

/// Bytes drawn mostly from RESP's own alphabet, so they get past the first byte often.
fn resp_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"*$:+-\r\n0123456789".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..64)
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[ -~]{0,8}".prop_map(Value::Simple),
        "[ -~]{0,8}".prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..8)).prop_map(Value::Bulk),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop::option::of(prop::collection::vec(inner, 0..5)).prop_map(Value::Array)
    })
}

proptest! {
    /// Random bytes never panic; whatever decodes uses bytes that were there, decodes the
    /// same from exactly those bytes, and no shorter prefix of it is taken for a value.
    #[test]
    fn random_bytes_never_panic_and_decode_consistently(input in resp_ish_bytes()) {
        if let Ok(Some((value, used))) = decode(&input) {
            prop_assert!(used >= 3 && used <= input.len());
            prop_assert_eq!(decode(&input[..used]), Ok(Some((value, used))));
            for end in 0..used {
                prop_assert_eq!(decode(&input[..end]), Ok(None));
            }
        }
    }

    /// Any value, encoded, decodes back whole and cut in two anywhere.
    #[test]
    fn any_value_round_trips_at_any_split(value in any_value(), cut in any::<prop::sample::Index>()) {
        let wire = encoded(&value);
        let (first, second) = wire.split_at(cut.index(wire.len() + 1));
        prop_assert_eq!(decode_chunks(&[first, second]), Ok(vec![value]));
    }
}
