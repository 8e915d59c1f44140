//! Fan-out composition: who gets which bytes, in which order, in how many spans.

use super::*;

/// The bytes `id` would be sent this turn.
fn bytes_for(fanout: &Fanout, id: ClientId) -> Vec<u8> {
    let Some((framing, spans)) = fanout.pending(id) else {
        return Vec::new();
    };
    let arena = fanout.arena(framing);
    spans
        .iter()
        .flat_map(|s| arena[s.start..s.end].iter().copied())
        .collect()
}

fn lines(fanout: &Fanout, id: ClientId) -> String {
    String::from_utf8(bytes_for(fanout, id)).unwrap()
}

fn room(members: &[ClientId]) -> RoomMembers<'_> {
    room_in(0, members)
}

fn room_in(room: RoomId, members: &[ClientId]) -> RoomMembers<'_> {
    RoomMembers { room, members }
}

/// `n` line recipients, all in room 0.
fn lines_fanout(n: usize) -> Fanout {
    let mut f = Fanout::new();
    for id in 0..n {
        f.add_recipient(id, Framing::Lines);
        f.entered(id, 0);
    }
    f
}

#[test]
fn broadcast_reaches_every_member_but_the_sender_in_one_span() {
    let mut f = lines_fanout(3);
    let members = [0, 1, 2];
    f.to_room(room(&members), Some(0), "a: 1");
    f.to_room(room(&members), Some(1), "b: 2");
    f.to_room(room(&members), Some(0), "a: 3");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "b: 2\n");
    assert_eq!(lines(&f, 1), "a: 1\na: 3\n");
    assert_eq!(lines(&f, 2), "a: 1\nb: 2\na: 3\n");
    assert_eq!(
        f.pending(2).unwrap().1.len(),
        1,
        "a quiet member gets one contiguous span"
    );
    let mut dirty = f.dirty().to_vec();
    dirty.sort();
    assert_eq!(dirty, [0, 1, 2]);
}

#[test]
fn each_framing_gets_its_own_encoding() {
    let mut f = Fanout::new();
    f.add_recipient(0, Framing::Frames);
    f.add_recipient(1, Framing::Lines);
    f.entered(0, 0);
    f.entered(1, 0);
    f.to_room(room(&[0, 1]), None, "hi");
    f.finish_turn();
    assert_eq!(bytes_for(&f, 0), [2, 0, 0, 0, b'h', b'i']);
    assert_eq!(bytes_for(&f, 1), b"hi\n");
}

#[test]
fn direct_message_keeps_its_place_after_earlier_broadcasts() {
    let mut f = lines_fanout(2);
    f.to_room(room(&[0, 1]), Some(0), "x: before");
    f.to_client(1, "[pm from x] secret");
    f.to_room(room(&[0, 1]), Some(0), "x: after");
    f.finish_turn();
    assert_eq!(lines(&f, 1), "x: before\n[pm from x] secret\nx: after\n");
}

#[test]
fn membership_changes_take_effect_where_they_happen() {
    let mut f = lines_fanout(2);
    f.add_recipient(2, Framing::Lines);
    f.to_room(room(&[0, 1]), None, "before join");
    f.entered(2, 0);
    f.to_room(room(&[0, 1, 2]), None, "after join");
    f.left(1, 0);
    f.to_room(room(&[0, 2]), None, "after leave");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "before join\nafter join\nafter leave\n");
    assert_eq!(lines(&f, 1), "before join\nafter join\n");
    assert_eq!(lines(&f, 2), "after join\nafter leave\n");
}

#[test]
fn rooms_do_not_see_each_other() {
    let mut f = lines_fanout(1);
    f.add_recipient(1, Framing::Lines);
    f.entered(1, 5);
    f.to_room(room_in(0, &[0]), None, "in zero");
    f.to_room(room_in(5, &[1]), None, "in five");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "in zero\n");
    assert_eq!(lines(&f, 1), "in five\n");
}

#[test]
fn clients_without_a_framing_get_nothing() {
    let mut f = lines_fanout(1);
    f.to_room(room(&[0, 7]), None, "hi");
    f.to_client(8, "lost");
    f.finish_turn();
    assert_eq!(f.pending(7), None);
    assert_eq!(f.dirty(), [0]);
}

#[test]
fn removed_recipient_keeps_the_order_for_others_and_gets_nothing() {
    let mut f = lines_fanout(2);
    f.to_room(room(&[0, 1]), None, "one");
    f.remove_recipient(1);
    f.to_room(room(&[0]), None, "two");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "one\ntwo\n");
    assert_eq!(f.pending(1), None);
}

#[test]
fn a_room_of_only_the_sender_encodes_nothing() {
    let mut f = lines_fanout(1);
    f.to_room(room(&[0]), Some(0), "alone");
    f.finish_turn();
    assert!(f.arena(Framing::Lines).is_empty());
    assert!(f.dirty().is_empty());
}

#[test]
fn clear_turn_starts_afresh_and_shared_buffers_outlive_it() {
    let mut f = lines_fanout(1);
    f.to_client(0, "first");
    f.close(0);
    f.finish_turn();
    let shared = f.shared(Framing::Lines);
    assert_eq!(&shared[..], b"first\n");
    assert_eq!(f.closes(), [0]);
    f.clear_turn();
    assert!(f.dirty().is_empty() && f.closes().is_empty());
    f.to_client(0, "second");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "second\n");
    assert_eq!(&shared[..], b"first\n");
    assert_eq!(&f.shared(Framing::Lines)[..], b"second\n");
}

#[test]
fn a_client_moving_rooms_gets_the_old_rooms_batch_before_the_new_ones() {
    let mut f = Fanout::new();
    f.add_recipient(0, Framing::Lines);
    f.add_recipient(1, Framing::Lines);
    f.entered(1, 2);
    // Client 0 is alone in room 1, says something there (to itself, echo), then moves to
    // room 2 (room 1 vanishes without a further broadcast) and is greeted there.
    f.entered(0, 1);
    f.to_room(room_in(1, &[0]), None, "old room");
    f.left(0, 1);
    f.entered(0, 2);
    f.to_room(room_in(2, &[0, 1]), None, "new room");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "old room\nnew room\n");
    assert_eq!(lines(&f, 1), "new room\n");
}

#[test]
fn moving_back_and_forth_in_one_turn_delivers_each_message_once_in_order() {
    let mut f = lines_fanout(2);
    f.to_room(room_in(0, &[0, 1]), None, "a1");
    f.left(0, 0);
    f.entered(0, 1);
    f.to_room(room_in(1, &[0]), None, "b1");
    f.to_room(room_in(0, &[1]), None, "a2");
    f.left(0, 1);
    f.entered(0, 0);
    f.to_room(room_in(0, &[1, 0]), None, "a3");
    f.left(0, 0);
    f.entered(0, 1);
    f.to_room(room_in(1, &[0]), None, "b2");
    f.finish_turn();
    assert_eq!(lines(&f, 0), "a1\nb1\na3\nb2\n");
    assert_eq!(lines(&f, 1), "a1\na2\na3\n");
}

#[test]
fn a_direct_message_catches_up_only_its_recipient() {
    let mut f = lines_fanout(3);
    f.to_room(room(&[0, 1, 2]), Some(0), "a: 1");
    f.to_client(1, "[pm from a] psst");
    f.to_room(room(&[0, 1, 2]), Some(0), "a: 2");
    f.finish_turn();
    assert_eq!(lines(&f, 1), "a: 1\n[pm from a] psst\na: 2\n");
    assert_eq!(lines(&f, 2), "a: 1\na: 2\n");
    assert_eq!(lines(&f, 0), "");
}

#[test]
fn pending_and_direct_bytes_count_what_a_client_is_owed() {
    let mut f = lines_fanout(2);
    f.to_room(room(&[0, 1]), Some(0), "a: 1"); // 5 bytes with its newline
    assert_eq!(f.pending_bytes(1), 5);
    assert_eq!(f.direct_bytes(1), 0);
    f.to_client(1, "* online (2): a, b"); // 19
    assert_eq!(f.pending_bytes(1), 24);
    assert_eq!(f.direct_bytes(1), 19);
    assert_eq!(f.pending_bytes(0), 0);
    f.finish_turn();
    assert_eq!(f.pending_bytes(1), 24, "resolving adds nothing twice");
    f.clear_turn();
    assert_eq!((f.pending_bytes(1), f.direct_bytes(1)), (0, 0));
}

#[test]
fn shrink_gives_back_what_a_burst_grew() {
    let mut f = lines_fanout(1);
    let big = "x".repeat(1 << 20);
    f.to_client(0, &big);
    f.finish_turn();
    f.clear_turn();
    assert!(f.shrink() == 0, "the burst is recent use: kept");
    f.to_client(0, "small");
    f.finish_turn();
    f.clear_turn();
    assert!(f.shrink() >= 1 << 20);
    assert!(f.arenas[Framing::Lines.index()].capacity() <= 2 * SHRINK_FLOOR);
}

#[test]
fn span_count_grows_per_member_only_when_a_broadcast_cannot_join_the_one_before() {
    let mut f = lines_fanout(3);
    f.to_room(room(&[0, 1, 2]), Some(0), "a");
    assert_eq!(f.span_count(), 3);
    f.to_room(room(&[0, 1, 2]), Some(1), "b");
    assert_eq!(f.span_count(), 3, "back to back: the same run");
    f.to_client(2, "direct");
    assert_eq!(f.span_count(), 4);
    f.to_room(room(&[0, 1, 2]), None, "c");
    assert_eq!(
        f.span_count(),
        7,
        "after other output: a new run for every member"
    );
    f.finish_turn();
    f.clear_turn();
    assert_eq!(f.span_count(), 0);
}

/// Joining and leaving a room whose batch is open costs O(1): the member list is copied
/// once, when the batch opens, and each entry adds one name, not the room again.
#[test]
fn a_join_storm_copies_the_rooms_member_list_once_per_turn() {
    let members: Vec<ClientId> = (0..1000).collect();
    let mut f = lines_fanout(1000);
    f.add_recipient(1000, Framing::Lines);
    f.to_room(room(&members), None, "open");
    for _ in 0..100 {
        f.entered(1000, 0);
        f.to_room(room(&members), None, "* x joined");
        f.left(1000, 0);
        f.to_room(room(&members), None, "* x left");
    }
    assert_eq!(f.rooms[0].members.len(), 1000 + 100);
    f.finish_turn();
    assert_eq!(lines(&f, 1000), "* x joined\n".repeat(100));
    assert_eq!(
        lines(&f, 0),
        format!("open\n{}", "* x joined\n* x left\n".repeat(100))
    );
}
