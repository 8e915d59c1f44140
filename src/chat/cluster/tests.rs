//! The chat sharing a cluster: what it publishes, asks and reports, and what it makes
//! of the answers, recorded without any Redis.

use super::*;
use crate::chat::recorder::Recorder;
use crate::chat::{ChatConfig, RoomId, RoomMembers, DEFAULT_ANNOUNCE_LIMIT};

/// A [`Recorder`] that also records what goes to the cluster.
#[derive(Default)]
struct ClusterRecorder {
    clients: Recorder,
    published: Vec<(String, RoomKind, Option<u64>, String)>,
    asked: Vec<(ClientId, Query)>,
    presence: Vec<String>,
}

impl Outbox for ClusterRecorder {
    fn to_client(&mut self, id: ClientId, text: &str) {
        self.clients.to_client(id, text);
    }
    fn to_room(&mut self, room: RoomMembers<'_>, except: Option<ClientId>, text: &str) {
        self.clients.to_room(room, except, text);
    }
    fn publish(&mut self, room: &str, kind: RoomKind, sender: Option<u64>, text: &str) {
        self.published
            .push((room.to_string(), kind, sender, text.to_string()));
    }
    fn ask(&mut self, id: ClientId, query: Query) {
        self.asked.push((id, query));
    }
    fn presence(&mut self, change: Presence<'_>) {
        self.presence.push(format!("{change:?}"));
    }
    fn entered(&mut self, id: ClientId, room: RoomId) {
        self.clients.entered(id, room);
    }
    fn left(&mut self, id: ClientId, room: RoomId) {
        self.clients.left(id, room);
    }
    fn close(&mut self, id: ClientId) {
        self.clients.close(id);
    }
}

impl ClusterRecorder {
    fn take(&mut self, id: ClientId) -> Vec<String> {
        self.clients.take(id)
    }
    fn clear(&mut self) {
        *self = ClusterRecorder::default();
    }

    /// The texts published, in order.
    fn texts(&self) -> Vec<&str> {
        self.published.iter().map(|p| p.3.as_str()).collect()
    }
}

/// Plays the bus: what was published comes back, in order, as from this server.
fn bounce(chat: &mut Chat, out: &mut ClusterRecorder) {
    for (room, kind, sender, text) in std::mem::take(&mut out.published) {
        chat.deliver_room(&room, kind, sender, &text, out);
    }
}

fn counters() -> ServerCounters {
    ServerCounters::default()
}

/// A clustered chat with the link up and clients `0..n` admitted as `nicks[i]`.
fn shared_chat(nicks: &[&str]) -> (Chat, ClusterRecorder) {
    let mut chat = Chat::new(ChatConfig {
        echo: false,
        max_message: 100,
        announce_limit: DEFAULT_ANNOUNCE_LIMIT,
        cluster: true,
    });
    let mut out = ClusterRecorder::default();
    chat.set_cluster_up(true, &mut out);
    for (id, nick) in nicks.iter().enumerate() {
        chat.connect(id, &mut out);
        let answer = Answer::Guest {
            nick: nick.to_string(),
            online: 10,
        };
        chat.answered(id, answer, &mut out);
        bounce(&mut chat, &mut out);
    }
    out.clear();
    (chat, out)
}

#[test]
fn a_newcomer_waits_for_a_cluster_guest_number_then_is_welcomed_with_the_cluster_count() {
    let (mut chat, mut out) = shared_chat(&["alice"]);
    chat.connect(5, &mut out);
    assert_eq!(out.asked, [(5, Query::Guest)]);
    assert!(chat.is_waiting(5));
    assert!(out.take(5).is_empty(), "no welcome before the number");
    chat.answered(
        5,
        Answer::Guest {
            nick: "guest41".into(),
            online: 17,
        },
        &mut out,
    );
    assert!(!chat.is_waiting(5));
    assert_eq!(
        out.take(5),
        ["* welcome to mio-chat, you are guest41; 17 online; /help for commands"]
    );
    assert_eq!(out.presence, [r#"Joined { nick: "guest41", room: "lobby" }"#]);
    // Its arrival goes through the bus, not straight to the lobby here: it gets the
    // lobby's messages from that point in the lobby's sequence on.
    let others = RoomKind::Enter(Audience::Others);
    assert_eq!(
        out.published,
        [("lobby".into(), others, Some(2), "* guest41 joined".into())]
    );
    assert!(out.take(0).is_empty());
    chat.deliver_room("lobby", RoomKind::Line, None, "before", &mut out);
    bounce(&mut chat, &mut out);
    chat.deliver_room("lobby", RoomKind::Line, None, "after", &mut out);
    assert_eq!(out.take(0), ["before", "* guest41 joined", "after"]);
    assert_eq!(out.take(5), ["after"]);
}

#[test]
fn chat_lines_are_published_and_delivered_when_they_come_back() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob", "carol"]);
    chat.handle(0, "hello", &counters(), &mut out);
    assert_eq!(
        out.published,
        [("lobby".into(), RoomKind::Line, Some(1), "alice: hello".into())]
    );
    assert!(
        out.clients.got.is_empty(),
        "nothing is delivered before the bus returns it"
    );
    bounce(&mut chat, &mut out);
    assert!(out.take(0).is_empty());
    assert_eq!(out.take(1), ["alice: hello"]);
    assert_eq!(out.take(2), ["alice: hello"]);
    // From another server: every member here gets it; unknown rooms are ignored.
    chat.deliver_room("LOBBY", RoomKind::Line, None, "dave: hi", &mut out);
    assert_eq!(out.take(0), ["dave: hi"]);
    chat.deliver_room("nowhere", RoomKind::Line, None, "x", &mut out);
    assert!(out.clients.got.values().all(|v| v == &["dave: hi"]));
}

#[test]
fn a_new_nick_is_claimed_in_the_cluster_first() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/nick Zed", &counters(), &mut out);
    assert_eq!(out.asked, [(0, Query::Nick("Zed".into()))]);
    assert!(chat.is_waiting(0));
    chat.answered(
        0,
        Answer::Nick {
            name: "Zed".into(),
            claimed: true,
        },
        &mut out,
    );
    assert_eq!(chat.nick(0), Some("Zed"));
    assert_eq!(
        out.presence,
        [r#"Renamed { old: "alice", new: "Zed", room: "lobby" }"#]
    );
    assert_eq!(out.texts(), ["* alice is now Zed"]);
    bounce(&mut chat, &mut out);
    assert_eq!(out.take(0), ["* alice is now Zed"]);
    assert_eq!(out.take(1), ["* alice is now Zed"]);

    out.clear();
    chat.handle(1, "/nick carol", &counters(), &mut out);
    chat.answered(
        1,
        Answer::Nick {
            name: "carol".into(),
            claimed: false,
        },
        &mut out,
    );
    assert_eq!(out.take(1), ["! nick carol is taken"]);
    assert_eq!(chat.nick(1), Some("bob"));
    assert!(out.presence.is_empty());
}

#[test]
fn nick_checks_that_need_no_cluster_are_answered_at_once() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/nick ALICE", &counters(), &mut out); // case alone: still ours
    chat.handle(1, "/nick bob", &counters(), &mut out);
    chat.handle(1, "/nick no way", &counters(), &mut out);
    assert!(out.asked.is_empty());
    assert_eq!(chat.nick(0), Some("ALICE"));
    assert_eq!(
        out.take(1),
        [
            "! you are already bob",
            "! invalid nick 'no way': use 1-32 letters, digits, _ or -"
        ]
    );
}

#[test]
fn who_rooms_and_stats_answer_with_the_clusters_numbers() {
    let (mut chat, mut out) = shared_chat(&["alice"]);
    chat.handle(0, "/who", &counters(), &mut out);
    chat.answered(
        0,
        Answer::Names(vec!["zoe".into(), "alice".into(), "Bob".into()]),
        &mut out,
    );
    chat.handle(0, "/who b", &counters(), &mut out);
    chat.answered(
        0,
        Answer::Names(vec!["zoe".into(), "alice".into(), "Bob".into()]),
        &mut out,
    );
    chat.handle(0, "/rooms", &counters(), &mut out);
    chat.answered(
        0,
        Answer::Rooms(vec![("lobby".into(), 3), ("Dev".into(), 2)]),
        &mut out,
    );
    chat.handle(0, "/stats", &counters(), &mut out);
    chat.answered(
        0,
        Answer::Stats {
            clients: 12,
            rooms: 4,
        },
        &mut out,
    );
    let who = Query::Who {
        room: "lobby".into(),
        prefix: None,
    };
    let who_b = Query::Who {
        room: "lobby".into(),
        prefix: Some("b".into()),
    };
    assert_eq!(
        out.asked,
        [(0, who), (0, who_b), (0, Query::Rooms), (0, Query::Stats)]
    );
    let got = out.take(0);
    assert_eq!(
        got[..3],
        [
            "* online (3): alice, Bob, zoe",
            "* online (1 matching b): Bob",
            "* rooms (2): Dev (2), lobby (3)"
        ]
    );
    assert!(
        got[3].starts_with("* stats: uptime 0s, clients 12, connecting 0, rooms 4,"),
        "{}",
        got[3]
    );
}

#[test]
fn without_an_answer_the_chat_answers_as_a_server_alone() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    for command in ["/who", "/rooms", "/stats", "/nick bob", "/msg zed hi"] {
        chat.handle(0, command, &counters(), &mut out);
        chat.answered(0, Answer::Unavailable, &mut out);
    }
    let got = out.take(0);
    assert_eq!(got[0], "* online (2): alice, bob");
    assert_eq!(got[1], "* rooms (1): lobby (2)");
    assert!(got[2].contains("clients 2, connecting 0, rooms 1"), "{}", got[2]);
    assert_eq!(got[3..], ["! nick bob is taken", "! no such nick: zed"]);
}

#[test]
fn private_messages_go_direct_here_and_through_the_cluster_elsewhere() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/msg BOB hi", &counters(), &mut out);
    assert!(out.asked.is_empty());
    assert_eq!(out.take(1), ["[pm from alice] hi"]);
    assert_eq!(out.take(0), ["[pm to bob] hi"]);

    chat.handle(0, "/msg carol psst", &counters(), &mut out);
    let query = Query::Private {
        to: "carol".into(),
        from: "alice".into(),
        text: "psst".into(),
    };
    assert_eq!(out.asked, [(0, query)]);
    chat.answered(0, Answer::Private(Some("Carol".into())), &mut out);
    assert_eq!(out.take(0), ["[pm to Carol] psst"]);
    chat.handle(0, "/msg nobody psst", &counters(), &mut out);
    chat.answered(0, Answer::Private(None), &mut out);
    assert_eq!(out.take(0), ["! no such nick: nobody"]);

    chat.deliver_private("dave", "BOB", "from afar", &mut out);
    chat.deliver_private("dave", "nobody", "lost", &mut out);
    assert_eq!(out.take(1), ["[pm from dave] from afar"]);
    assert!(out.clients.got.is_empty());
}

#[test]
fn moves_and_departures_are_reported_for_the_shared_state() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/join dev", &counters(), &mut out);
    chat.disconnect(0, None, &mut out);
    assert_eq!(
        out.presence,
        [
            r#"Left { nick: "alice", room: "lobby" }"#,
            r#"Joined { nick: "alice", room: "dev" }"#,
            r#"Left { nick: "alice", room: "dev" }"#,
            r#"Gone { nick: "alice" }"#,
        ]
    );
    assert_eq!(out.texts(), ["* alice left", "* alice joined", "* alice left"]);
    let kinds: Vec<RoomKind> = out.published.iter().map(|p| p.1).collect();
    let joined = RoomKind::Enter(Audience::All);
    assert_eq!(kinds, [RoomKind::Leave { told: true }, joined, RoomKind::Line]);
}

/// The sequences two members see of one room, with a move in the middle: each must be
/// a stretch of the room's one sequence, cut where the move comes back from the bus.
#[test]
fn a_move_takes_effect_where_it_comes_back_in_the_rooms_sequence() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob", "carol"]);
    chat.handle(2, "/join dev", &counters(), &mut out);
    bounce(&mut chat, &mut out);
    out.clear();
    // bob leaves the lobby for dev, and joins while lines from elsewhere are on the way:
    // the lobby line published before his leave reaches him, the dev line published
    // before his join does not.
    chat.handle(1, "/join dev", &counters(), &mut out);
    chat.deliver_room("lobby", RoomKind::Line, None, "dave: lobby, before", &mut out);
    chat.deliver_room("dev", RoomKind::Line, None, "erin: dev, before", &mut out);
    assert_eq!(out.take(1), ["dave: lobby, before"]);
    bounce(&mut chat, &mut out); // his leave of the lobby, then his join of dev
    chat.deliver_room("lobby", RoomKind::Line, None, "dave: lobby, after", &mut out);
    chat.deliver_room("dev", RoomKind::Line, None, "erin: dev, after", &mut out);
    assert_eq!(out.take(1), ["* bob joined", "erin: dev, after"]);
    assert_eq!(
        out.take(0),
        ["dave: lobby, before", "* bob left", "dave: lobby, after"]
    );
    assert_eq!(
        out.take(2),
        ["erin: dev, before", "* bob joined", "erin: dev, after"]
    );
    assert_eq!(chat.room_count(), 2);
}

#[test]
fn a_room_passed_through_is_kept_until_the_join_comes_back() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    // alice is in dev and b for a moment each (a quick /join dev, /join b, /join lobby):
    // the rooms are nobody's here by the time her joins come back, but in the rooms'
    // sequences she is in each from her join to her leave, and gets what was said there
    // in between, as she would alone (and the confirmation of each join).
    chat.handle(0, "/join dev", &counters(), &mut out);
    chat.handle(0, "/join b", &counters(), &mut out);
    chat.handle(0, "/join lobby", &counters(), &mut out);
    let moves = std::mem::take(&mut out.published);
    let (dev_join, rest) = moves.split_at(2); // leave lobby, join dev
    for (room, kind, sender, text) in dev_join {
        chat.deliver_room(room, *kind, *sender, text, &mut out);
    }
    chat.deliver_room(
        "dev",
        RoomKind::Line,
        None,
        "erin: dev, while she was in",
        &mut out,
    );
    for (room, kind, sender, text) in rest {
        chat.deliver_room(room, *kind, *sender, text, &mut out);
    }
    chat.deliver_room("dev", RoomKind::Line, None, "erin: dev, after she left", &mut out);
    assert_eq!(
        out.take(0),
        [
            "* alice joined",
            "erin: dev, while she was in",
            "* alice joined",
            "* alice joined"
        ]
    );
    assert_eq!(out.take(1), ["* alice left", "* alice joined"]);
    assert_eq!(
        chat.room_count(),
        1,
        "dev and b are dropped once she has left them"
    );
}

#[test]
fn a_room_whose_joiner_left_before_the_join_came_back_is_dropped() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/join dev", &counters(), &mut out);
    chat.disconnect(0, None, &mut out);
    bounce(&mut chat, &mut out);
    assert_eq!(chat.room_count(), 1);
    // Or the link was lost, and the join never comes back.
    chat.handle(1, "/join dev", &counters(), &mut out);
    chat.handle(1, "/join lobby", &counters(), &mut out);
    out.published.clear();
    chat.set_cluster_up(false, &mut out);
    assert_eq!(chat.room_count(), 1);
}

#[test]
fn a_published_join_or_leave_costs_the_members_here_it_will_reach() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob", "carol"]);
    chat.handle(2, "/join dev", &counters(), &mut out);
    bounce(&mut chat, &mut out);
    let before = chat.work();
    // bob's leave is told to the lobby (alice and bob listen there), his join to dev
    // (carol listens there): the fan-out of both happens when they come back from the
    // bus, in a later turn, so they are counted now, against bob's share of this one.
    chat.handle(1, "/join dev", &counters(), &mut out);
    assert_eq!(chat.work() - before, 2 + 1);
    bounce(&mut chat, &mut out);
    // A line is batched with the room's others: no such cost.
    let before = chat.work();
    chat.handle(1, "hello", &counters(), &mut out);
    assert_eq!(chat.work(), before);
}

#[test]
fn the_announce_limit_is_judged_by_the_rooms_size_in_the_whole_cluster() {
    let mut chat = Chat::new(ChatConfig {
        echo: false,
        max_message: 100,
        announce_limit: 3,
        cluster: true,
    });
    let mut out = ClusterRecorder::default();
    chat.set_cluster_up(true, &mut out);
    for (id, nick) in ["alice", "bob"].iter().enumerate() {
        chat.connect(id, &mut out);
        let answer = Answer::Guest {
            nick: nick.to_string(),
            online: 2,
        };
        chat.answered(id, answer, &mut out);
    }
    chat.handle(0, "/join dev", &counters(), &mut out);
    bounce(&mut chat, &mut out);
    out.clear();
    // dev has one member here, and Redis counted 40 on every server.
    chat.room_counted("DEV", 40);
    chat.handle(1, "/join dev", &counters(), &mut out);
    let kinds: Vec<(&str, RoomKind)> = out.published.iter().map(|p| (p.0.as_str(), p.1)).collect();
    assert_eq!(
        kinds,
        [
            ("lobby", RoomKind::Leave { told: true }),  // the lobby is small
            ("dev", RoomKind::Enter(Audience::Sender)), // dev is not
        ]
    );
    out.clear();
    chat.handle(0, "/join lobby", &counters(), &mut out);
    assert_eq!(out.published[0].1, RoomKind::Leave { told: false });
    // A room this server does not have is not counted.
    chat.room_counted("elsewhere", 5);
}

#[test]
fn joins_above_the_announce_limit_travel_quietly() {
    let mut chat = Chat::new(ChatConfig {
        echo: false,
        max_message: 100,
        announce_limit: 1,
        cluster: true,
    });
    let mut out = ClusterRecorder::default();
    chat.set_cluster_up(true, &mut out);
    for (id, nick) in ["alice", "bob"].iter().enumerate() {
        chat.connect(id, &mut out);
        chat.answered(
            id,
            Answer::Guest {
                nick: nick.to_string(),
                online: 2,
            },
            &mut out,
        );
    }
    chat.handle(1, "/join dev", &counters(), &mut out);
    chat.handle(0, "/join dev", &counters(), &mut out);
    let kinds: Vec<(&str, RoomKind)> = out.published.iter().map(|p| (p.0.as_str(), p.1)).collect();
    assert_eq!(
        kinds,
        [
            ("lobby", RoomKind::Enter(Audience::Others)),
            ("lobby", RoomKind::Enter(Audience::Nobody)), // bob: the lobby has 2 > 1
            ("lobby", RoomKind::Leave { told: false }),
            ("dev", RoomKind::Enter(Audience::All)),
            ("lobby", RoomKind::Leave { told: true }),
            ("dev", RoomKind::Enter(Audience::Sender)), // alice: dev has 2 > 1
        ]
    );
    bounce(&mut chat, &mut out);
    assert_eq!(out.take(0)[1..], ["* alice joined"]);
    assert_eq!(out.take(1)[1..], ["* bob joined"]);
}

#[test]
fn a_lost_link_settles_every_move_still_on_its_way() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.handle(0, "/join dev", &counters(), &mut out);
    out.published.clear(); // lost with the link
    chat.set_cluster_up(false, &mut out);
    chat.handle(1, "/join dev", &counters(), &mut out);
    chat.handle(1, "hi", &counters(), &mut out);
    assert_eq!(out.take(0), ["* bob joined", "bob: hi"]);
}

#[test]
fn a_client_that_waits_handles_nothing_else_and_a_late_answer_frees_its_claim() {
    let (mut chat, mut out) = shared_chat(&["alice"]);
    chat.connect(3, &mut out);
    chat.handle(3, "hello", &counters(), &mut out); // not in the chat yet: ignored
    assert!(out.published.is_empty());
    chat.disconnect(3, None, &mut out);
    assert!(!chat.is_waiting(3));
    chat.answered(
        3,
        Answer::Guest {
            nick: "guest9".into(),
            online: 2,
        },
        &mut out,
    );
    assert_eq!(out.presence, [r#"Gone { nick: "guest9" }"#]);
    assert!(out.take(3).is_empty());
    assert_eq!(chat.client_count(), 1);
}

#[test]
fn a_nick_taken_elsewhere_while_the_link_was_down_is_replaced() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.replace_nick(0, "alice", "guest77", &mut out);
    assert_eq!(chat.nick(0), Some("guest77"));
    assert_eq!(
        out.take(0),
        ["! nick alice was taken on another server while the cluster link was down; you are now guest77"]
    );
    assert_eq!(out.presence, [r#"Joined { nick: "guest77", room: "lobby" }"#]);
    assert_eq!(
        out.published,
        [(
            "lobby".into(),
            RoomKind::Line,
            Some(1),
            "* alice is now guest77".into()
        )]
    );
    // Renamed meanwhile: the guest nick claimed for it is given back.
    out.clear();
    chat.replace_nick(1, "bobby", "guest78", &mut out);
    assert_eq!(chat.nick(1), Some("bob"));
    assert_eq!(out.presence, [r#"Gone { nick: "guest78" }"#]);
}

#[test]
fn with_the_link_down_the_chat_is_local_again() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob"]);
    chat.set_cluster_up(false, &mut out);
    chat.handle(0, "hello", &counters(), &mut out);
    chat.handle(0, "/nick carol", &counters(), &mut out);
    chat.handle(0, "/who", &counters(), &mut out);
    assert!(out.published.is_empty() && out.asked.is_empty() && out.presence.is_empty());
    assert_eq!(out.take(1), ["alice: hello", "* alice is now carol"]);
    assert_eq!(out.take(0), ["* alice is now carol", "* online (2): bob, carol"]);
    let mut snapshot = chat.members_snapshot();
    snapshot.sort();
    let member = |id, serial, nick: &str| Member {
        id,
        serial,
        nick: nick.into(),
        room: "lobby".into(),
    };
    assert_eq!(snapshot, [member(0, 1, "carol"), member(1, 2, "bob")]);
}
