//! The chat sharing a cluster: what it publishes, asks and reports, and what it makes
//! of the answers, recorded without any Redis.

use super::*;
use crate::chat::recorder::Recorder;
use crate::chat::{ChatConfig, RoomId, RoomMembers, DEFAULT_ANNOUNCE_LIMIT};

/// A [`Recorder`] that also records what goes to the cluster.
#[derive(Default)]
struct ClusterRecorder {
    clients: Recorder,
    published: Vec<(String, Option<ClientId>, String)>,
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
    fn publish(&mut self, room: &str, sender: Option<ClientId>, text: &str) {
        self.published.push((room.to_string(), sender, text.to_string()));
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
    chat.set_cluster_up(true);
    let mut out = ClusterRecorder::default();
    for (id, nick) in nicks.iter().enumerate() {
        chat.connect(id, &mut out);
        let answer = Answer::Guest {
            nick: nick.to_string(),
            online: 10,
        };
        chat.answered(id, answer, &mut out);
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
    // The join notice goes through the bus, not straight to the lobby here.
    assert_eq!(
        out.published,
        [("lobby".into(), Some(5), "* guest41 joined".into())]
    );
    assert!(out.take(0).is_empty());
}

#[test]
fn chat_lines_are_published_and_delivered_when_they_come_back() {
    let (mut chat, mut out) = shared_chat(&["alice", "bob", "carol"]);
    chat.handle(0, "hello", &counters(), &mut out);
    assert_eq!(out.published, [("lobby".into(), Some(0), "alice: hello".into())]);
    assert!(
        out.clients.got.is_empty(),
        "nothing is delivered before the bus returns it"
    );
    chat.deliver_room("lobby", Some(0), "alice: hello", &mut out);
    assert!(out.take(0).is_empty());
    assert_eq!(out.take(1), ["alice: hello"]);
    assert_eq!(out.take(2), ["alice: hello"]);
    // From another server: every member here gets it; unknown rooms are ignored.
    chat.deliver_room("LOBBY", None, "dave: hi", &mut out);
    assert_eq!(out.take(0), ["dave: hi"]);
    chat.deliver_room("nowhere", None, "x", &mut out);
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
    assert_eq!(
        out.published,
        [("lobby".into(), None, "* alice is now Zed".into())]
    );

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
    let published: Vec<&str> = out.published.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(published, ["* alice left", "* alice joined", "* alice left"]);
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
        [("lobby".into(), Some(0), "* alice is now guest77".into())]
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
    chat.set_cluster_up(false);
    chat.handle(0, "hello", &counters(), &mut out);
    chat.handle(0, "/nick carol", &counters(), &mut out);
    chat.handle(0, "/who", &counters(), &mut out);
    assert!(out.published.is_empty() && out.asked.is_empty() && out.presence.is_empty());
    assert_eq!(out.take(1), ["alice: hello", "* alice is now carol"]);
    assert_eq!(out.take(0), ["* alice is now carol", "* online (2): bob, carol"]);
    let mut snapshot = chat.members_snapshot();
    snapshot.sort();
    assert_eq!(
        snapshot,
        [
            (0, "carol".into(), "lobby".into()),
            (1, "bob".into(), "lobby".into())
        ]
    );
}
