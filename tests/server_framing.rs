//! The wire: how a connection's framing is detected from its first bytes, both framings
//! (including a classic C# client's bytes), mixed framings in one room, the message
//! limits, and how relayed text is cleaned.

mod common;

use common::{encode, welcome, Client, Framing, Server, PATIENCE};
use std::io::{Read, Write};
use std::time::Duration;

/// Long enough that a detection that should wait would have given up by then.
const PAST_DETECT: Duration = Duration::from_millis(400);

/// Connects a raw client as the second one (guest2), sends `first_bytes`, and checks
/// its welcome and the lobby's join notice arrive at it and at `watcher`.
fn second_client(server: &Server, watcher: &mut Client, framing: Framing, first_bytes: &[u8]) -> Client {
    let mut c = Client::connect(server.addr, framing);
    c.send_raw(first_bytes);
    c.expect(&welcome(2, 2));
    watcher.expect("* guest2 joined");
    c
}

/// A classic C# client's write: `BitConverter.GetBytes(int)` (little-endian) + payload.
fn csharp_write(payload: &str) -> Vec<u8> {
    let len = payload.len() as i32;
    [&len.to_le_bytes()[..], payload.as_bytes()].concat()
}

/// A netcat user who types nothing is welcomed once `--detect-ms` passes, as lines.
#[test]
fn netcat_user_is_welcomed_without_typing() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr, Framing::Lines);
    c.expect(&welcome(1, 1));
}

/// Silence is only taken for lines after `--detect-ms`: before that nothing is sent.
#[test]
fn detection_waits_detect_ms_before_assuming_lines() {
    let server = Server::start(&["--detect-ms", "60000"]);
    let mut c = Client::connect(server.addr, Framing::Lines);
    c.expect_no_bytes(PAST_DETECT);
    c.send_raw(b"\n");
    c.expect(&welcome(1, 1));
}

/// `--detect-ms` shortens the wait for a silent client.
#[test]
fn short_detect_ms_welcomes_a_silent_client_as_lines() {
    let server = Server::start(&["--detect-ms", "20"]);
    let mut c = Client::connect(server.addr, Framing::Lines);
    c.expect(&welcome(1, 1));
}

/// `hi\n` (three bytes, newline and no NUL) is lines at once, without waiting.
#[test]
fn short_line_is_detected_as_lines_at_once() {
    let server = Server::start(&["--detect-ms", "60000"]);
    let mut w = server.lines();
    let _c = second_client(&server, &mut w, Framing::Lines, b"hi\n");
    w.expect("guest2: hi");
}

/// Four bytes of text decide lines before any newline arrives.
#[test]
fn four_bytes_of_text_decide_lines_before_the_newline() {
    let server = Server::start(&["--detect-ms", "60000"]);
    let mut w = server.lines();
    let mut c = second_client(&server, &mut w, Framing::Lines, b"hey ");
    c.send_raw(b"there\n");
    w.expect("guest2: hey there");
}

/// A NUL among the first three bytes does not make frames when the 4th byte is text.
#[test]
fn nul_in_the_first_three_bytes_with_text_fourth_is_lines() {
    let server = Server::start(&[]);
    let mut w = server.lines();
    let _c = second_client(&server, &mut w, Framing::Lines, b"a\0bc\n");
    w.expect("guest2: a bc");
}

/// A first frame is detected by its zero 4th byte; replies come back as frames.
#[test]
fn frame_is_detected_by_its_zero_fourth_byte_and_answered_in_frames() {
    let server = Server::start(&["--detect-ms", "60000"]);
    let mut w = server.lines();
    let mut f = second_client(
        &server,
        &mut w,
        Framing::Frames,
        &encode(Framing::Frames, b"hello"),
    );
    w.expect("guest2: hello");
    w.send("back");
    f.expect("guest1: back");
}

/// Half a frame header is waited for past `--detect-ms`, with nothing sent until byte 4.
#[test]
fn partial_frame_header_waits_past_the_detect_timeout() {
    let server = Server::start(&["--detect-ms", "50"]);
    let mut w = server.lines();
    let mut f = Client::connect(server.addr, Framing::Frames);
    f.send_raw(&[5, 0]);
    f.expect_no_bytes(PAST_DETECT);
    f.send_raw(b"\0\0hello");
    f.expect(&welcome(2, 2));
    w.expect("* guest2 joined");
    w.expect("guest2: hello");
}

/// A newline after a NUL in the first three bytes is a frame header: byte 4 is awaited.
#[test]
fn newline_after_a_nul_in_the_first_bytes_waits_for_the_fourth() {
    let server = Server::start(&["--detect-ms", "50"]);
    let mut w = server.lines();
    let mut f = Client::connect(server.addr, Framing::Frames);
    f.send_raw(&[0x00, b'\n', 0x00]); // a header announcing 0x0a00 = 2560 bytes
    f.expect_no_bytes(PAST_DETECT);
    let payload = "a".repeat(2560);
    f.send_raw(&[&[0x00][..], payload.as_bytes()].concat());
    f.expect(&welcome(2, 2));
    w.expect("* guest2 joined");
    w.expect(&format!("guest2: {payload}"));
}

/// `--framing frames` serves a C# client's one-write frames, even a length of 0x0a.
#[test]
fn forced_frames_framing_serves_a_classic_csharp_client() {
    let server = Server::start(&["--framing", "frames"]);
    let mut w = server.frames();
    let mut cs = Client::connect(server.addr, Framing::Frames);
    cs.send_raw(&csharp_write("hi from C#")); // 10 bytes: the header starts with 0x0a
    cs.expect(&welcome(2, 2));
    w.expect("* guest2 joined");
    w.expect("guest2: hi from C#");
    w.send("hello, C#");
    cs.expect("guest1: hello, C#");
}

/// Auto-detection serves a classic C# client too.
#[test]
fn classic_csharp_client_works_with_auto_detection() {
    let server = Server::start(&[]);
    let mut w = server.lines();
    let mut cs = second_client(&server, &mut w, Framing::Frames, &csharp_write("hello from C#"));
    w.expect("guest2: hello from C#");
    cs.send_raw(&csharp_write("second"));
    w.expect("guest2: second");
    w.send("hello, C#");
    cs.expect("guest1: hello, C#");
}

/// A forced framing is known at once, so a client is welcomed without sending anything.
#[test]
fn forced_framing_welcomes_at_once_in_that_framing() {
    let server = Server::start(&["--framing", "frames", "--detect-ms", "60000"]);
    let mut f = Client::connect(server.addr, Framing::Frames);
    f.expect(&welcome(1, 1));
    let server = Server::start(&["--framing", "lines", "--detect-ms", "60000"]);
    let mut l = Client::connect(server.addr, Framing::Lines);
    l.expect(&welcome(1, 1));
}

/// `--framing lines` reads a NUL in 4th place as text (it would mean frames in auto).
#[test]
fn forced_lines_framing_reads_a_zero_fourth_byte_as_text() {
    let server = Server::start(&["--framing", "lines"]);
    let mut w = server.lines();
    let mut c = Client::connect(server.addr, Framing::Lines);
    c.send_raw(b"abc\0d\n");
    c.expect(&welcome(2, 2));
    w.expect("* guest2 joined");
    w.expect("guest2: abc d");
}

/// A lines client and a frames client chat, each receiving in its own framing.
#[test]
fn lines_and_frames_clients_chat_with_each_other() {
    let server = Server::start(&[]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    f.send("from frames");
    l.expect("guest2: from frames");
    l.send("from lines");
    f.expect("guest1: from lines");
    f.send("/bogus");
    f.expect("! unknown command /bogus; /help lists commands");
}

/// Line breaks inside a frame become spaces, so a lines client sees one line.
#[test]
fn frame_with_line_breaks_arrives_at_a_lines_client_on_one_line() {
    let server = Server::start(&[]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    f.send("a\nb");
    l.expect("guest2: a b");
    f.send("x\r\ny\rz");
    l.expect("guest2: x  y z");
}

/// Empty frames are keep-alives: nothing is relayed and nothing is answered.
#[test]
fn empty_frames_are_keepalives_and_ignored() {
    let server = Server::start(&[]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    f.send_raw(&[0; 12]);
    f.send("after");
    l.expect("guest2: after");
    f.expect_nothing_queued();
}

/// A frame over `--max-message` gets a frame naming both sizes, then the close.
#[test]
fn frame_over_the_limit_is_refused_and_the_connection_closed() {
    let server = Server::start(&["--max-message", "100"]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    f.send_raw(&101u32.to_le_bytes());
    assert_eq!(
        f.expect_eof(),
        ["! message of 101 bytes exceeds the limit of 100 bytes"]
    );
    l.expect("* guest2 left");
}

/// A frame of exactly `--max-message` bytes is relayed.
#[test]
fn frame_of_exactly_the_limit_is_relayed() {
    let server = Server::start(&["--max-message", "100"]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    let text = "z".repeat(100);
    f.send(&text);
    l.expect(&format!("guest2: {text}"));
}

/// The default limit is 65536 bytes: a frame of that size passes, one byte more does not.
#[test]
fn default_frame_limit_is_65536_bytes() {
    let server = Server::start(&[]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    let text = "q".repeat(65536);
    f.send(&text);
    l.expect(&format!("guest2: {text}"));
    let mut g = server.frames();
    l.expect("* guest3 joined");
    g.send_raw(&65537u32.to_le_bytes());
    assert_eq!(
        g.expect_eof(),
        ["! message of 65537 bytes exceeds the limit of 65536 bytes"]
    );
}

/// A length that a C# `int` of -1 would give is refused, not allocated.
#[test]
fn frame_length_of_u32_max_is_refused() {
    let server = Server::start(&[]);
    let mut f = server.frames();
    f.send_raw(&u32::MAX.to_le_bytes());
    assert_eq!(
        f.expect_eof(),
        ["! message of 4294967295 bytes exceeds the limit of 65536 bytes"]
    );
}

/// `--max-message` accepts up to 16 MiB - 1, and that is the limit then enforced.
#[test]
fn max_message_of_16_mib_minus_1_is_the_limit_enforced() {
    let server = Server::start(&["--max-message", "16777215"]);
    let mut f = server.frames();
    f.send_raw(&16_777_216u32.to_le_bytes());
    assert_eq!(
        f.expect_eof(),
        ["! message of 16777216 bytes exceeds the limit of 16777215 bytes"]
    );
}

/// The largest frame allowed still has 0x00 as its header's 4th byte, so a client whose
/// first frame is that big is detected as a frames client (and welcomed in frames).
#[test]
fn a_first_frame_of_the_largest_size_is_detected_as_frames() {
    let server = Server::start(&["--max-message", "16777215"]);
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.write_all(&16_777_215u32.to_le_bytes()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let mut welcome = vec![0u8; u32::from_le_bytes(header) as usize];
    stream.read_exact(&mut welcome).unwrap();
    assert!(welcome.starts_with(b"* welcome to mio-chat"), "{welcome:?}");
}

/// Messages split at every byte are reassembled, in both framings.
#[test]
fn messages_split_into_single_bytes_are_reassembled() {
    let server = Server::start(&[]);
    let (mut l, mut f) = server.pair(Framing::Lines, Framing::Frames);
    let mut c = server.lines();
    l.expect("* guest3 joined");
    f.stream.set_nodelay(true).unwrap();
    c.stream.set_nodelay(true).unwrap();
    for byte in encode(Framing::Frames, b"split frame") {
        f.send_raw(&[byte]);
        std::thread::sleep(Duration::from_millis(2));
    }
    l.expect("guest2: split frame");
    for byte in b"split line\r\n" {
        c.send_raw(&[*byte]);
        std::thread::sleep(Duration::from_millis(2));
    }
    l.expect("guest3: split line");
}

/// A line ending `\r\n` loses exactly one `\r`; any other `\r` becomes a space.
#[test]
fn crlf_line_ending_drops_one_carriage_return() {
    let server = Server::start(&[]);
    let mut w = server.lines();
    let mut c = second_client(&server, &mut w, Framing::Lines, b"hi\r\n");
    w.expect("guest2: hi");
    c.send_raw(b"two\r\r\n");
    w.expect("guest2: two ");
}

/// Empty lines, with or without `\r`, are ignored.
#[test]
fn empty_lines_are_ignored() {
    let server = Server::start(&[]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    c.send_raw(b"\n\r\n\n");
    c.send("x");
    w.expect("guest2: x");
    c.expect_nothing_queued();
}

/// An over-long line is refused; one of exactly the limit plus `\r\n` passes.
#[test]
fn over_long_line_is_refused_and_connection_stays_usable() {
    let server = Server::start(&["--max-message", "10"]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    c.send_raw(b"12345678901\n");
    c.expect("! line too long (limit 10 bytes)");
    c.send_raw(b"1234567890\r\n");
    w.expect("guest2: 1234567890");
    c.expect_nothing_queued();
}

/// An over-long line in pieces is refused once and discarded up to its newline.
#[test]
fn over_long_line_in_pieces_is_discarded_up_to_its_newline() {
    let server = Server::start(&["--max-message", "10"]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    c.send_raw(&[b'x'; 30]);
    c.expect("! line too long (limit 10 bytes)");
    c.send_raw(&[b'y'; 30]);
    c.send_raw(b"tail\nok\n");
    w.expect("guest2: ok");
    c.expect_nothing_queued();
    w.expect_nothing_queued();
}

/// Bytes that are not UTF-8 become U+FFFD, in both framings.
#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let server = Server::start(&[]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    let mut f = server.frames();
    w.expect("* guest3 joined");
    // (0xFF on a line connection starts a telnet command; see the telnet tests.)
    c.send_raw(b"ok\xfe\xfdok\n");
    w.expect("guest2: ok\u{fffd}\u{fffd}ok");
    f.send_raw(&encode(Framing::Frames, b"caf\xc3"));
    w.expect("guest3: caf\u{fffd}");
    f.send_raw(&encode(Framing::Frames, b"ok\xff\xfeok"));
    w.expect("guest3: ok\u{fffd}\u{fffd}ok");
}

/// Valid non-ASCII text is relayed unchanged.
#[test]
fn valid_non_ascii_text_is_relayed_unchanged() {
    let server = Server::start(&[]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    c.send("grüße, 日本, 🙂");
    w.expect("guest2: grüße, 日本, 🙂");
}

/// Control characters (C0, DEL, C1) become spaces; tab is kept.
#[test]
fn control_characters_become_spaces_except_tab() {
    let server = Server::start(&[]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    let mut f = server.frames();
    w.expect("* guest3 joined");
    c.send_raw(b"\x1b[31mred\x07\ttab\x7f!\n");
    w.expect("guest2:  [31mred \ttab !");
    c.send("x\u{9b}31m\u{85}y");
    w.expect("guest2: x 31m y");
    f.send("nul\0here");
    w.expect("guest3: nul here");
}

/// A message that is blank once cleaned is ignored like an empty one.
#[test]
fn message_blank_after_cleaning_is_ignored() {
    let server = Server::start(&[]);
    let (mut w, mut c) = server.pair(Framing::Lines, Framing::Lines);
    let mut f = server.frames();
    w.expect("* guest3 joined");
    f.send("\r\n\x1b ");
    f.expect_nothing_queued();
    c.send_raw(b" \x1b\t\x07\n");
    c.send("visible");
    w.expect("guest2: visible");
    w.expect_nothing_queued();
}

/// A hello that arrived before the detection time ran out counts even if the server was
/// too busy to read it in time: the deadline reads the socket before choosing lines.
/// (The server is stopped while the client connects and sends, then resumed with the
/// deadline already past.)
#[test]
fn hello_sent_in_time_counts_even_when_the_server_reads_it_late() {
    let server = Server::start(&["--detect-ms", "0"]);
    server.signal(libc::SIGSTOP);
    let mut client = Client::connect(server.addr, Framing::Frames);
    client.send_raw(&[0, 0, 0, 0]);
    std::thread::sleep(Duration::from_millis(50));
    server.signal(libc::SIGCONT);
    client.expect(&welcome(1, 1));
}
