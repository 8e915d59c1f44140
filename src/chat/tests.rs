//! The chat's behaviour, recorded through an outbox that resolves rooms at once.

use super::*;
use crate::chat::recorder::Recorder;

fn chat_with(n: usize, echo: bool) -> (Chat, Recorder) {
    chat_configured(n, echo, DEFAULT_ANNOUNCE_LIMIT)
}

/// A chat alone with clients `0..n` connected and their welcomes taken.
fn chat_configured(n: usize, echo: bool, announce_limit: usize) -> (Chat, Recorder) {
    let mut chat = Chat::new(ChatConfig {
        echo,
        max_message: 100,
        announce_limit,
        cluster: false,
    });
    let mut out = Recorder::default();
    for id in 0..n {
        chat.connect(id, &mut out);
    }
    out.got.clear();
    (chat, out)
}

fn send(chat: &mut Chat, out: &mut Recorder, id: ClientId, text: &str) {
    chat.handle(id, text, &ServerCounters::default(), out);
}

#[test]
fn newcomer_gets_welcome_and_lobby_gets_join_notice() {
    let (mut chat, mut out) = chat_with(1, false);
    chat.connect(7, &mut out);
    assert_eq!(
        out.take(7),
        ["* welcome to mio-chat, you are guest2; 2 online; /help for commands"]
    );
    assert_eq!(out.take(0), ["* guest2 joined"]);
}

#[test]
fn chat_line_goes_to_everyone_else_in_the_room() {
    let (mut chat, mut out) = chat_with(3, false);
    send(&mut chat, &mut out, 0, "hello");
    assert!(out.take(0).is_empty());
    assert_eq!(out.take(1), ["guest1: hello"]);
    assert_eq!(out.take(2), ["guest1: hello"]);
    assert_eq!(chat.messages_relayed(), 1);
}

#[test]
fn echo_sends_the_senders_line_back() {
    let (mut chat, mut out) = chat_with(2, true);
    send(&mut chat, &mut out, 0, "hello");
    assert_eq!(out.take(0), ["guest1: hello"]);
}

#[test]
fn blank_text_is_ignored() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "   ");
    assert!(out.got.is_empty());
}

#[test]
fn double_slash_sends_a_line_starting_with_slash() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "//shrug");
    assert_eq!(out.take(1), ["guest1: /shrug"]);
}

#[test]
fn nick_change_is_announced_to_the_room_including_the_client() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/nick alice");
    assert_eq!(out.take(0), ["* guest1 is now alice"]);
    assert_eq!(out.take(1), ["* guest1 is now alice"]);
    send(&mut chat, &mut out, 0, "hi");
    assert_eq!(out.take(1), ["alice: hi"]);
}

#[test]
fn nicks_are_unique_ignoring_case_but_own_case_may_change() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/nick alice");
    out.got.clear();
    send(&mut chat, &mut out, 1, "/nick ALICE");
    assert_eq!(out.take(1), ["! nick ALICE is taken"]);
    send(&mut chat, &mut out, 0, "/nick Alice");
    assert_eq!(out.take(0), ["* alice is now Alice"]);
    send(&mut chat, &mut out, 0, "/nick Alice");
    assert_eq!(out.take(0), ["! you are already Alice"]);
}

#[test]
fn invalid_nick_is_refused_with_the_rule() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 0, "/nick bad nick");
    assert_eq!(
        out.take(0),
        ["! invalid nick 'bad nick': use 1-32 letters, digits, _ or -"]
    );
    send(&mut chat, &mut out, 0, &format!("/nick {}", "x".repeat(33)));
    assert!(out.take(0)[0].starts_with("! invalid nick"));
}

#[test]
fn freed_nick_can_be_taken_and_guest_numbers_skip_taken_nicks() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 0, "/nick guest2");
    chat.connect(1, &mut out);
    assert_eq!(chat.nick(1), Some("guest3"));
    chat.disconnect(0, None, &mut out);
    send(&mut chat, &mut out, 1, "/nick GUEST2");
    assert_eq!(chat.nick(1), Some("GUEST2"));
}

#[test]
fn who_lists_the_current_room_sorted() {
    let (mut chat, mut out) = chat_with(3, false);
    send(&mut chat, &mut out, 2, "/nick Bob");
    send(&mut chat, &mut out, 0, "/nick carol");
    send(&mut chat, &mut out, 1, "/nick alice");
    out.got.clear();
    send(&mut chat, &mut out, 1, "/who");
    assert_eq!(out.take(1), ["* online (3): alice, Bob, carol"]);
    send(&mut chat, &mut out, 1, "/join elsewhere");
    out.got.clear();
    send(&mut chat, &mut out, 1, "/who");
    assert_eq!(out.take(1), ["* online (1): alice"]);
}

#[test]
fn private_message_reaches_target_and_copy_goes_to_sender() {
    let (mut chat, mut out) = chat_with(3, false);
    send(&mut chat, &mut out, 1, "/nick bob");
    out.got.clear();
    send(&mut chat, &mut out, 0, "/msg BOB psst  there");
    assert_eq!(out.take(1), ["[pm from guest1] psst  there"]);
    assert_eq!(out.take(0), ["[pm to bob] psst  there"]);
    assert!(out.take(2).is_empty());
}

#[test]
fn private_message_to_nobody_is_an_error() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 0, "/msg ghost hi");
    assert_eq!(out.take(0), ["! no such nick: ghost"]);
    send(&mut chat, &mut out, 0, "/msg ghost");
    assert_eq!(out.take(0), ["! usage: /msg NAME TEXT"]);
}

#[test]
fn action_goes_to_the_room() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/me waves");
    assert_eq!(out.take(1), ["* guest1 waves"]);
    assert!(out.take(0).is_empty());
}

#[test]
fn join_moves_between_rooms_and_both_rooms_are_told() {
    let (mut chat, mut out) = chat_with(3, false);
    send(&mut chat, &mut out, 2, "/join side");
    out.got.clear();
    send(&mut chat, &mut out, 0, "/join Side");
    assert_eq!(out.take(1), ["* guest1 left"]);
    assert_eq!(out.take(2), ["* guest1 joined"]);
    assert_eq!(out.take(0), ["* guest1 joined"]);
    send(&mut chat, &mut out, 0, "in side");
    assert_eq!(out.take(2), ["guest1: in side"]);
    assert!(out.take(1).is_empty());
}

#[test]
fn join_errors() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 0, "/join LOBBY");
    assert_eq!(out.take(0), ["! you are already in lobby"]);
    send(&mut chat, &mut out, 0, "/join no way");
    assert_eq!(
        out.take(0),
        ["! invalid room name 'no way': use 1-32 letters, digits, _ or -"]
    );
    send(&mut chat, &mut out, 0, "/join");
    assert_eq!(out.take(0), ["! usage: /join ROOM"]);
}

#[test]
fn empty_rooms_disappear_but_the_lobby_stays() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/join a");
    send(&mut chat, &mut out, 1, "/join b");
    out.got.clear();
    send(&mut chat, &mut out, 0, "/rooms");
    assert_eq!(out.take(0), ["* rooms (3): a (1), b (1), lobby (0)"]);
    send(&mut chat, &mut out, 0, "/join b");
    send(&mut chat, &mut out, 0, "/rooms");
    assert_eq!(out.take(0).last().unwrap(), "* rooms (2): b (2), lobby (0)");
    assert_eq!(chat.room_count(), 2);
}

#[test]
fn quit_says_bye_tells_the_room_and_closes() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/quit gotta go");
    assert_eq!(out.take(0), ["* bye"]);
    assert_eq!(out.take(1), ["* guest1 left (gotta go)"]);
    assert_eq!(out.closes, [0]);
    assert_eq!(chat.client_count(), 1);
    // The loop reports the close afterwards; nothing is said twice.
    chat.disconnect(0, None, &mut out);
    assert!(out.take(1).is_empty());
}

#[test]
fn disconnect_tells_the_room() {
    let (mut chat, mut out) = chat_with(2, false);
    chat.disconnect(1, None, &mut out);
    assert_eq!(out.take(0), ["* guest2 left"]);
}

#[test]
fn unknown_command_and_usage_errors_go_to_the_sender_only() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "/dance");
    assert_eq!(out.take(0), ["! unknown command /dance; /help lists commands"]);
    send(&mut chat, &mut out, 0, "/me");
    assert_eq!(out.take(0), ["! usage: /me TEXT"]);
    assert!(out.take(1).is_empty());
}

#[test]
fn help_lists_commands_and_limits() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 0, "/help");
    let help = out.take(0);
    assert!(
        help[0].starts_with("* commands: /nick NAME, /who, /msg NAME TEXT"),
        "{help:?}"
    );
    assert!(help[1].contains("messages up to 100 bytes"), "{help:?}");
    assert!(help[1].contains("1-32 of A-Z a-z 0-9 _ -"), "{help:?}");
}

#[test]
fn stats_reports_counters() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 0, "hi");
    let counters = ServerCounters {
        uptime: Duration::from_secs(61),
        connecting: 3,
        bytes_out: 1234,
        slow_dropped: 2,
    };
    chat.handle(0, "/stats", &counters, &mut out);
    assert_eq!(
        out.take(0),
        ["* stats: uptime 61s, clients 2, connecting 3, rooms 1, messages relayed 1, bytes out 1234, slow clients dropped 2"]
    );
}

#[test]
fn shutdown_tells_everyone_in_every_room() {
    let (mut chat, mut out) = chat_with(2, false);
    send(&mut chat, &mut out, 1, "/join x");
    out.got.clear();
    chat.shutdown(&mut out);
    assert_eq!(out.take(0), [SHUTDOWN_NOTICE]);
    assert_eq!(out.take(1), [SHUTDOWN_NOTICE]);
}

/// The outbox hears of every membership change before the room messages that follow
/// it, so it can batch room messages without asking the chat who was in the room when.
#[test]
fn membership_changes_are_reported_in_order() {
    let (mut chat, mut out) = chat_with(1, false);
    out.moves.clear();
    chat.connect(5, &mut out);
    send(&mut chat, &mut out, 0, "no change");
    send(&mut chat, &mut out, 5, "/join x");
    let x = chat.clients[&5].room;
    chat.disconnect(5, None, &mut out);
    let lobby = chat.lobby;
    assert_eq!(
        out.moves,
        [(5, lobby, true), (5, lobby, false), (5, x, true), (5, x, false)]
    );
}

#[test]
fn unknown_clients_are_ignored() {
    let (mut chat, mut out) = chat_with(1, false);
    send(&mut chat, &mut out, 42, "hi");
    chat.disconnect(42, None, &mut out);
    assert!(out.got.is_empty());
}

/// A chat whose rooms stop announcing presence above `limit` members.
fn chat_with_announce_limit(n: usize, limit: usize) -> (Chat, Recorder) {
    chat_configured(n, false, limit)
}

#[test]
fn rooms_above_the_announce_limit_are_not_told_of_arrivals_leaves_and_renames() {
    let (mut chat, mut out) = chat_with_announce_limit(3, 3);
    chat.connect(3, &mut out); // the lobby now has 4 > 3
    assert_eq!(out.take(3).len(), 1, "the welcome only");
    assert!(out.take(0).is_empty());
    send(&mut chat, &mut out, 3, "/nick dora");
    assert_eq!(out.take(3), ["* guest4 is now dora"], "its own confirmation");
    assert!(out.take(0).is_empty());
    send(&mut chat, &mut out, 3, "/join side");
    assert_eq!(
        out.take(3),
        ["* dora joined"],
        "the new room is small: told as before"
    );
    assert!(out.take(0).is_empty(), "the lobby had 4: no `left`");
    send(&mut chat, &mut out, 1, "/join side");
    assert_eq!(out.take(0), ["* guest2 left"], "the lobby had 3");
    assert_eq!(out.take(3), ["* guest2 joined"]);
    assert_eq!(out.take(1), ["* guest2 joined"]);
    chat.disconnect(3, None, &mut out);
    assert_eq!(out.take(1), ["* dora left"]);
}

#[test]
fn a_room_crossing_the_announce_limit_stops_and_resumes_notices() {
    let (mut chat, mut out) = chat_with_announce_limit(2, 2);
    chat.connect(2, &mut out); // 3 > 2: not announced
    assert!(out.take(0).is_empty());
    out.got.clear();
    chat.disconnect(2, None, &mut out); // it left a room of 3: not announced
    assert!(out.take(0).is_empty());
    chat.connect(5, &mut out); // 3 again
    chat.disconnect(1, None, &mut out); // from 3: not announced
    assert!(out.take(0).is_empty());
    chat.disconnect(5, None, &mut out); // from 2: announced again
    assert_eq!(out.take(0), ["* guest4 left"]);
}

#[test]
fn who_lists_at_most_100_and_says_how_many_more() {
    let (mut chat, mut out) = chat_with(150, false);
    send(&mut chat, &mut out, 0, "/who");
    let reply = out.take(0).pop().unwrap();
    let (head, names) = reply.split_once("): ").unwrap();
    assert_eq!(head, "* online (150");
    let (names, more) = names.rsplit_once(" and ").unwrap();
    assert_eq!(more, "50 more");
    let names: Vec<&str> = names.split(", ").collect();
    assert_eq!(names.len(), 100);
    let mut all: Vec<String> = (1..=150).map(|i| format!("guest{i}")).collect();
    all.sort();
    assert_eq!(names, all[..100].iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn who_with_a_prefix_lists_the_matching_nicks_ignoring_case() {
    let (mut chat, mut out) = chat_with(3, false);
    send(&mut chat, &mut out, 0, "/nick Alice");
    send(&mut chat, &mut out, 1, "/nick alan");
    out.got.clear();
    send(&mut chat, &mut out, 2, "/who AL");
    assert_eq!(out.take(2), ["* online (2 matching AL): alan, Alice"]);
    send(&mut chat, &mut out, 2, "/who zed");
    assert_eq!(out.take(2), ["* online (0 matching zed)"]);
}
