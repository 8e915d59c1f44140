//! The chat as users see it: welcome, chat lines, actions, private messages, leaving,
//! help, stats and command parsing, with their error texts, against the real
//! `mio-chat serve`. Nicks and rooms are in `server_nicks_rooms.rs`.

mod common;

use common::{room_of, welcome, Client, Framing, Server};

/// The first client is guest1, counts itself online and is told how to get help.
#[test]
fn first_client_is_welcomed_as_guest1_with_one_online() {
    let server = Server::start(&[]);
    let mut a = Client::connect(server.addr, Framing::Lines);
    a.send_raw(b"\n");
    a.expect("* welcome to mio-chat, you are guest1; 1 online; /help for commands");
}

/// A newcomer counts everyone online and the lobby is told it joined.
#[test]
fn newcomer_is_announced_to_the_lobby_and_counts_everyone_online() {
    let server = Server::start(&[]);
    let mut a = server.lines();
    let mut b = Client::connect(server.addr, Framing::Lines);
    b.send_raw(b"\n");
    b.expect("* welcome to mio-chat, you are guest2; 2 online; /help for commands");
    a.expect("* guest2 joined");
    b.expect_nothing_queued(); // the newcomer is not told of its own arrival
    a.expect_nothing_queued();
}

/// Only the lobby hears of a newcomer: members of other rooms are not told.
#[test]
fn newcomer_is_announced_only_in_the_lobby() {
    let (server, mut c) = room_of(&[], 1);
    c[0].send("/join side");
    c[0].expect("* guest1 joined");
    let mut b = Client::connect(server.addr, Framing::Lines);
    b.send_raw(b"\n");
    b.expect(&welcome(2, 2));
    c[0].expect_nothing_queued();
}

/// A guest nick a user has taken is skipped, so guest nicks stay unique.
#[test]
fn guest_nick_taken_by_a_user_is_skipped() {
    let (server, mut c) = room_of(&[], 2);
    c[0].send("/nick guest3");
    c[0].expect("* guest1 is now guest3");
    c[1].expect("* guest1 is now guest3");
    let mut d = Client::connect(server.addr, Framing::Lines);
    d.send_raw(b"\n");
    d.expect(&welcome(4, 3));
}

/// Guest numbers keep increasing: a number is never handed out twice.
#[test]
fn guest_numbers_increase_and_are_not_reused_after_a_disconnect() {
    let (server, mut c) = room_of(&[], 2);
    let b = c.pop().unwrap();
    drop(b);
    c[0].expect("* guest2 left");
    let mut d = Client::connect(server.addr, Framing::Lines);
    d.send_raw(b"\n");
    d.expect(&welcome(3, 2));
    c[0].expect("* guest3 joined");
}

/// A chat line goes to the rest of the room as `nick: text`, not back to the sender.
#[test]
fn chat_line_reaches_the_rest_of_the_room_but_not_the_sender() {
    let (_server, mut c) = room_of(&[], 3);
    c[0].send("hello, world");
    c[1].expect("guest1: hello, world");
    c[2].expect("guest1: hello, world");
    c[0].expect_nothing_queued();
}

/// With `--echo` the sender gets its own chat lines and actions back too.
#[test]
fn echo_flag_sends_the_sender_its_own_lines_and_actions() {
    let (_server, mut c) = room_of(&["--echo"], 2);
    c[0].send("hello");
    c[0].expect("guest1: hello");
    c[1].expect("guest1: hello");
    c[0].send("/me waves");
    c[0].expect("* guest1 waves");
    c[1].expect("* guest1 waves");
}

/// `/me` sends an action in the third person to the rest of the room.
#[test]
fn me_action_is_shown_to_the_rest_of_the_room_in_third_person() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/me waves  twice");
    c[1].expect("* guest1 waves  twice");
    c[0].expect_nothing_queued();
}

/// `/me` with nothing to do is a usage error for the sender alone.
#[test]
fn me_without_text_is_a_usage_error() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/me");
    c[0].expect("! usage: /me TEXT");
    c[1].expect_nothing_queued();
}

/// A private message reaches only its target, and the sender gets a copy.
#[test]
fn private_message_reaches_only_its_target_with_a_copy_to_the_sender() {
    let (_server, mut c) = room_of(&[], 3);
    c[1].set_nick("bob");
    c[0].expect("* guest2 is now bob");
    c[2].expect("* guest2 is now bob");
    c[0].send("/msg bob psst, over here");
    c[1].expect("[pm from guest1] psst, over here");
    c[0].expect("[pm to bob] psst, over here");
    c[2].expect_nothing_queued();
}

/// A private message reaches its target even in another room.
#[test]
fn private_message_crosses_rooms() {
    let (_server, mut c) = room_of(&[], 2);
    c[1].send("/join side");
    c[1].expect("* guest2 joined");
    c[0].expect("* guest2 left");
    c[0].send("/msg guest2 hi");
    c[1].expect("[pm from guest1] hi");
    c[0].expect("[pm to guest2] hi");
}

/// `/msg` to a nick nobody has is refused, naming the nick.
#[test]
fn private_message_to_an_unknown_nick_is_refused() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/msg nobody hello?");
    c[0].expect("! no such nick: nobody");
    c[1].expect_nothing_queued();
}

/// `/msg` without a target or without text is a usage error.
#[test]
fn private_message_without_name_or_text_is_a_usage_error() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/msg");
    c[0].expect("! usage: /msg NAME TEXT");
    c[0].send("/msg guest2");
    c[0].expect("! usage: /msg NAME TEXT");
    c[0].send("/msg guest2   ");
    c[0].expect("! usage: /msg NAME TEXT");
    c[1].expect_nothing_queued();
}

/// `/quit` says bye to the quitter, closes it, and tells its room it left.
#[test]
fn quit_says_bye_closes_and_tells_the_room() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/quit");
    assert_eq!(c[0].expect_eof(), ["* bye"]);
    c[1].expect("* guest1 left");
    c[1].send("/who");
    c[1].expect("* online (1): guest2");
}

/// `/quit TEXT` gives the room the reason in parentheses.
#[test]
fn quit_with_text_gives_the_room_the_reason() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/quit see you  later");
    assert_eq!(c[0].expect_eof(), ["* bye"]);
    c[1].expect("* guest1 left (see you  later)");
}

/// A client that just disconnects is reported as having left.
#[test]
fn disconnect_tells_the_room_it_left() {
    let (_server, mut c) = room_of(&[], 3);
    let a = c.remove(0);
    drop(a);
    c[0].expect("* guest1 left");
    c[1].expect("* guest1 left");
    c[0].send("/who");
    c[0].expect("* online (2): guest2, guest3");
}

/// `/help` gives the two lines: commands, then limits with `--max-message`.
#[test]
fn help_lists_commands_and_limits() {
    let (_server, mut c) = room_of(&["--max-message", "1000"], 1);
    c[0].send("/help");
    c[0].expect(
        "* commands: /nick NAME, /who, /msg NAME TEXT, /me TEXT, /join ROOM, /rooms, \
         /quit [TEXT], /help, /stats; //text sends /text",
    );
    c[0].expect(
        "* limits: messages up to 1000 bytes; nicks and rooms are 1-32 of A-Z a-z 0-9 _ -, \
         unique ignoring case",
    );
}

/// `/help` states the default message limit of 65536 bytes.
#[test]
fn help_states_the_default_message_limit() {
    let (_server, mut c) = room_of(&[], 1);
    c[0].send("/help");
    c[0].expect_prefix("* commands: ");
    c[0].expect_prefix("* limits: messages up to 65536 bytes; ");
}

/// The numbers in a `/stats` reply, in order; panics unless it has the exact shape.
fn parse_stats(reply: &str) -> [u64; 7] {
    let labels = [
        "* stats: uptime ",
        "s, clients ",
        ", connecting ",
        ", rooms ",
        ", messages relayed ",
        ", bytes out ",
        ", slow clients dropped ",
    ];
    let mut rest = reply;
    let mut numbers = [0u64; 7];
    for (i, label) in labels.iter().enumerate() {
        rest = rest
            .strip_prefix(label)
            .unwrap_or_else(|| panic!("{reply:?}: expected {label:?} at {rest:?}"));
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        numbers[i] = rest[..digits]
            .parse()
            .unwrap_or_else(|_| panic!("{reply:?}: no number after {label:?}"));
        rest = &rest[digits..];
    }
    assert_eq!(rest, "", "{reply:?}: trailing text");
    numbers
}

/// `/stats` counts clients, rooms, relayed chat lines, actions and private messages, and
/// bytes written, which only grow.
#[test]
fn stats_count_clients_rooms_relayed_messages_and_bytes_out() {
    let (_server, mut c) = room_of(&[], 3);
    c[0].send("/stats");
    let [_, clients, connecting, rooms, relayed, bytes_before, slow] = parse_stats(&c[0].next());
    assert_eq!((clients, connecting, rooms, relayed, slow), (3, 0, 1, 0, 0));
    assert!(bytes_before > 0, "welcomes were written");

    c[2].send("/join side");
    c[2].expect("* guest3 joined");
    c[0].send("one");
    c[0].send("/me two");
    c[0].send("/msg guest2 three");
    c[0].send("/who"); // commands and errors are not relayed messages
    c[0].send("/bogus");
    c[1].expect("* guest3 left");
    c[1].expect("guest1: one");
    c[1].expect("* guest1 two");
    c[1].expect("[pm from guest1] three");
    c[0].wait_for("! unknown command /bogus; /help lists commands");
    c[0].send("/stats");
    let [uptime, clients, _, rooms, relayed, bytes_after, slow] = parse_stats(&c[0].next());
    assert_eq!((clients, rooms, relayed, slow), (3, 2, 3, 0));
    assert!(bytes_after > bytes_before, "{bytes_after} > {bytes_before}");
    assert!(uptime < 3600);
}

/// An unknown command is refused, naming it and pointing at `/help`.
#[test]
fn unknown_command_is_named_with_a_hint() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/dance now");
    c[0].expect("! unknown command /dance; /help lists commands");
    c[1].expect_nothing_queued();
}

/// `//text` sends `/text` as an ordinary chat line.
#[test]
fn double_slash_sends_the_text_with_one_slash() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("//shrug");
    c[1].expect("guest1: /shrug");
    c[0].expect_nothing_queued();
}

/// Command names ignore case.
#[test]
fn commands_ignore_case() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/WHO");
    c[0].expect("* online (2): guest1, guest2");
    c[0].send("/Nick alice");
    c[0].expect("* guest1 is now alice");
    c[1].expect("* guest1 is now alice");
    c[0].send("/ME waves");
    c[1].expect("* alice waves");
}

/// Whitespace-only chat lines are ignored.
#[test]
fn blank_chat_lines_are_ignored() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("   ");
    c[0].send("\t");
    c[0].send("then text");
    c[1].expect("guest1: then text");
    c[0].expect_nothing_queued();
}
