//! Nicks and rooms as users see them: `/nick`, `/join`, `/who`, `/rooms`, with their
//! notices and error texts, against the real `mio-chat serve`.

mod common;

use common::room_of;

/// A nick change is announced to the whole room, the changer included, and used after.
#[test]
fn nick_change_is_announced_to_the_whole_room_including_the_changer() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/nick alice");
    c[0].expect("* guest1 is now alice");
    c[1].expect("* guest1 is now alice");
    c[0].send("hi");
    c[1].expect("alice: hi");
}

/// A nick change is not announced in other rooms.
#[test]
fn nick_change_is_not_announced_in_other_rooms() {
    let (_server, mut c) = room_of(&[], 2);
    c[1].send("/join side");
    c[1].expect("* guest2 joined");
    c[0].expect("* guest2 left");
    c[1].send("/nick bob");
    c[1].expect("* guest2 is now bob");
    c[0].expect_nothing_queued();
}

/// Nicks are unique ignoring case; a taken one is refused, naming it as asked.
#[test]
fn nick_taken_in_another_case_is_refused() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].set_nick("alice");
    c[1].expect("* guest1 is now alice");
    c[1].send("/nick ALICE");
    c[1].expect("! nick ALICE is taken");
    c[1].send("/nick guest1x");
    c[1].expect("* guest2 is now guest1x");
    c[0].expect("* guest2 is now guest1x");
}

/// A nick someone left behind can be taken again.
#[test]
fn nick_of_a_departed_client_is_free_again() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].set_nick("alice");
    c[1].expect("* guest1 is now alice");
    let a = c.remove(0);
    drop(a);
    c[0].expect("* alice left");
    c[0].send("/nick Alice");
    c[0].expect("* guest2 is now Alice");
}

/// A nick outside 1-32 of `[A-Za-z0-9_-]` is refused, quoting it and stating the rule.
#[test]
fn invalid_nick_is_refused_with_the_rule() {
    let (_server, mut c) = room_of(&[], 2);
    let too_long = "x".repeat(33);
    for bad in ["bad!name", "bob smith", "bøb", too_long.as_str()] {
        c[0].send(&format!("/nick {bad}"));
        c[0].expect(&format!(
            "! invalid nick '{bad}': use 1-32 letters, digits, _ or -"
        ));
    }
    c[1].expect_nothing_queued();
}

/// A nick of exactly 32 allowed characters is accepted.
#[test]
fn nick_of_32_allowed_characters_is_accepted() {
    let (_server, mut c) = room_of(&[], 1);
    let nick = format!("A-z_{}", "9".repeat(28));
    c[0].send(&format!("/nick {nick}"));
    c[0].expect(&format!("* guest1 is now {nick}"));
}

/// Asking for the nick one already has is refused.
#[test]
fn nick_already_held_is_refused() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/nick guest1");
    c[0].expect("! you are already guest1");
    c[1].expect_nothing_queued();
}

/// Changing only the case of one's own nick is allowed.
#[test]
fn nick_case_change_of_ones_own_nick_is_allowed() {
    let (_server, mut c) = room_of(&[], 1);
    c[0].send("/nick Guest1");
    c[0].expect("* guest1 is now Guest1");
}

/// `/nick` without a name is a usage error.
#[test]
fn nick_without_name_is_a_usage_error() {
    let (_server, mut c) = room_of(&[], 1);
    c[0].send("/nick");
    c[0].expect("! usage: /nick NAME");
    c[0].send("/nick   ");
    c[0].expect("! usage: /nick NAME");
}

/// `/who` lists the current room, sorted ignoring case.
#[test]
fn who_lists_the_current_room_sorted_ignoring_case() {
    let (_server, mut c) = room_of(&[], 4);
    c[0].set_nick("bob");
    c[1].set_nick("Alice");
    c[2].set_nick("carol");
    c[3].send("/join side");
    c[3].wait_for("* guest4 joined");
    c[0].send("/who");
    c[0].wait_for("* online (3): Alice, bob, carol");
    c[3].send("/who");
    c[3].expect("* online (1): guest4");
}

/// `/join` tells the old room the client left and the new room, joiner included, it joined.
#[test]
fn join_tells_the_old_room_left_and_the_new_room_joined() {
    let (_server, mut c) = room_of(&[], 3);
    c[0].send("/join side");
    c[0].expect("* guest1 joined");
    c[1].expect("* guest1 left");
    c[2].expect("* guest1 left");
    c[2].send("/join side");
    c[2].expect("* guest3 joined");
    c[0].expect("* guest3 joined");
    c[1].expect("* guest3 left");
    c[0].send("/who");
    c[0].expect("* online (2): guest1, guest3");
}

/// Chat in one room is not seen in another.
#[test]
fn chat_in_one_room_is_not_seen_in_another() {
    let (_server, mut c) = room_of(&[], 3);
    c[0].send("/join side");
    c[0].expect("* guest1 joined");
    c[1].expect("* guest1 left");
    c[2].expect("* guest1 left");
    c[1].send("/join side");
    c[1].expect("* guest2 joined");
    c[0].expect("* guest2 joined");
    c[2].expect("* guest2 left");
    c[0].send("in side");
    c[1].expect("guest1: in side");
    c[2].send("in lobby");
    c[2].expect_nothing_queued();
    c[0].expect_nothing_queued();
    c[1].expect_nothing_queued();
}

/// Joining the room one is in is refused, naming the room.
#[test]
fn join_of_the_current_room_is_refused() {
    let (_server, mut c) = room_of(&[], 2);
    c[0].send("/join lobby");
    c[0].expect("! you are already in lobby");
    c[0].send("/join LOBBY");
    c[0].expect("! you are already in lobby");
    c[1].expect_nothing_queued();
}

/// A room name outside 1-32 of `[A-Za-z0-9_-]` is refused, quoting it and stating the rule.
#[test]
fn join_with_an_invalid_room_name_is_refused() {
    let (_server, mut c) = room_of(&[], 2);
    let too_long = "r".repeat(33);
    for bad in ["x y", "#chat", too_long.as_str()] {
        c[0].send(&format!("/join {bad}"));
        c[0].expect(&format!(
            "! invalid room name '{bad}': use 1-32 letters, digits, _ or -"
        ));
    }
    c[1].expect_nothing_queued();
}

/// `/join` without a room is a usage error.
#[test]
fn join_without_room_is_a_usage_error() {
    let (_server, mut c) = room_of(&[], 1);
    c[0].send("/join");
    c[0].expect("! usage: /join ROOM");
}

/// Room names ignore case: `/join Side` enters the existing `side`.
#[test]
fn room_names_ignore_case() {
    let (_server, mut c) = room_of(&[], 3);
    c[0].send("/join side");
    c[0].expect("* guest1 joined");
    c[1].expect("* guest1 left");
    c[2].expect("* guest1 left");
    c[1].send("/join Side");
    c[1].expect("* guest2 joined");
    c[0].expect("* guest2 joined");
    c[2].expect("* guest2 left");
    c[2].send("/rooms");
    c[2].expect("* rooms (2): lobby (1), side (2)");
}

/// `/rooms` lists every room with its member count, sorted by name.
#[test]
fn rooms_lists_every_room_sorted_with_member_counts() {
    let (_server, mut c) = room_of(&[], 4);
    c[0].send("/join zed");
    c[0].expect("* guest1 joined");
    c[1].send("/join a");
    c[1].wait_for("* guest2 joined");
    c[2].send("/rooms");
    c[2].wait_for("* rooms (3): a (1), lobby (2), zed (1)");
}

/// A room vanishes when its last member leaves; the lobby stays even when empty.
#[test]
fn empty_rooms_vanish_but_the_lobby_stays() {
    let (_server, mut c) = room_of(&[], 1);
    c[0].send("/join side");
    c[0].expect("* guest1 joined");
    c[0].send("/rooms");
    c[0].expect("* rooms (2): lobby (0), side (1)");
    c[0].send("/join other");
    c[0].expect("* guest1 joined");
    c[0].send("/rooms");
    c[0].expect("* rooms (2): lobby (0), other (1)");
    c[0].send("/join lobby");
    c[0].expect("* guest1 joined");
    c[0].send("/rooms");
    c[0].expect("* rooms (1): lobby (1)");
}
