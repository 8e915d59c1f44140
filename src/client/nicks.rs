//! The nicks seen in the current room, learnt by the loop thread from what the server
//! says and read by the line editor's Tab completion on the input thread.
//!
//! The server sends no member list on its own, so the set is pieced together from the
//! lines that name room members: `/who` replies (`* online (N): a, b, c`), join, leave and
//! rename notices, and chat lines (`nick: text`). It is a hint for completion, not a
//! roster: someone who is silent and joined before us is only known after a `/who`. It
//! starts empty on every connection and when we join another room (our own `* NICK
//! joined`); our own nick is never in it.

use crate::command::is_valid_name;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Nicks kept at most; past it new ones are not learnt (a busy lobby can hold many more).
pub const MAX_NICKS: usize = 4096;

/// The set shared between the loop thread (writer) and the completer (reader).
pub type SharedNicks = Arc<Mutex<BTreeSet<String>>>;

/// What one line from the server says about the room's members.
#[derive(Debug, PartialEq, Eq)]
enum Learnt<'a> {
    /// These nicks are in the room.
    Present(Vec<&'a str>),
    /// This nick left the room.
    Gone(&'a str),
    /// This nick is now called that.
    Renamed(&'a str, &'a str),
    /// We are in a new room: forget everyone.
    NewRoom,
    Nothing,
}

/// The room's nicks as the loop thread learns them.
#[derive(Debug, Clone, Default)]
pub struct RoomNicks {
    shared: SharedNicks,
}

impl RoomNicks {
    /// An empty set.
    pub fn new() -> Self {
        RoomNicks::default()
    }

    /// The set, for the completer to read.
    pub fn shared(&self) -> SharedNicks {
        Arc::clone(&self.shared)
    }

    /// Forgets every nick (a new connection starts in the lobby).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Learns from one (cleaned) line from the server; `own` is our nick, if known.
    pub fn on_received(&self, text: &str, own: Option<&str>) {
        let is_own = |nick: &str| own.is_some_and(|o| o.eq_ignore_ascii_case(nick));
        let mut nicks = self.lock();
        match learn(text, is_own) {
            Learnt::Present(names) => names.into_iter().for_each(|n| insert(&mut nicks, n, is_own)),
            Learnt::Renamed(old, new) => {
                nicks.remove(old);
                insert(&mut nicks, new, is_own);
            }
            Learnt::Gone(nick) => {
                nicks.remove(nick);
            }
            Learnt::NewRoom => nicks.clear(),
            Learnt::Nothing => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // A panic elsewhere cannot leave a set of names half-updated in a harmful way.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds `nick` unless it is ours or the set is full.
fn insert(nicks: &mut BTreeSet<String>, nick: &str, is_own: impl Fn(&str) -> bool) {
    if !is_own(nick) && nicks.len() < MAX_NICKS {
        nicks.insert(nick.to_string());
    }
}

/// What `text` says about the room's members.
fn learn(text: &str, is_own: impl Fn(&str) -> bool) -> Learnt<'_> {
    let Some(notice) = text.strip_prefix("* ") else {
        return chat_nick(text).map_or(Learnt::Nothing, |nick| Learnt::Present(vec![nick]));
    };
    if let Some(list) = notice.strip_prefix("online (") {
        return Learnt::Present(who_list(list));
    }
    if let Some(nick) = notice.strip_suffix(" joined").filter(|n| is_valid_name(n)) {
        return if is_own(nick) {
            Learnt::NewRoom
        } else {
            Learnt::Present(vec![nick])
        };
    }
    if let Some((old, new)) = notice.split_once(" is now ") {
        if is_valid_name(old) && is_valid_name(new) {
            return Learnt::Renamed(old, new);
        }
    }
    let gone = notice
        .split_once(" left")
        .filter(|(nick, rest)| is_valid_name(nick) && (rest.is_empty() || rest.starts_with(" (")));
    gone.map_or(Learnt::Nothing, |(nick, _)| Learnt::Gone(nick))
}

/// The nicks of a `/who` reply after `* online (`: `3): a, b, c` or
/// `40 matching x): a, b and 20 more`.
fn who_list(list: &str) -> Vec<&str> {
    let Some((_, names)) = list.split_once("): ") else {
        return Vec::new();
    };
    let names = names.rsplit_once(" and ").map_or(names, |(head, _)| head);
    names.split(", ").filter(|n| is_valid_name(n)).collect()
}

/// The sender of a chat line `NICK: text`.
fn chat_nick(text: &str) -> Option<&str> {
    let (nick, _) = text.split_once(": ")?;
    is_valid_name(nick).then_some(nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(nicks: &RoomNicks) -> Vec<String> {
        nicks.shared().lock().unwrap().iter().cloned().collect()
    }

    fn fed(lines: &[&str], own: Option<&str>) -> Vec<String> {
        let nicks = RoomNicks::new();
        lines.iter().for_each(|l| nicks.on_received(l, own));
        names(&nicks)
    }

    #[test]
    fn who_replies_joins_and_chat_lines_name_members() {
        let got = fed(
            &[
                "* online (3): alice, bob, me",
                "* carol joined",
                "dave: hi all",
                "* online (40 matching e): erin, eve and 38 more",
            ],
            Some("me"),
        );
        assert_eq!(got, ["alice", "bob", "carol", "dave", "erin", "eve"]);
    }

    #[test]
    fn leaving_and_renames_update_the_set() {
        let lines = [
            "* online (3): alice, bob, carol",
            "* alice left",
            "* bob left (timed out)",
            "* carol is now caroline",
        ];
        assert_eq!(fed(&lines, None), ["caroline"]);
    }

    #[test]
    fn our_own_join_means_a_new_room_and_our_nick_is_never_kept() {
        let lines = ["alice: hi", "* ME joined", "bob: hello", "me: talking to myself"];
        assert_eq!(fed(&lines, Some("me")), ["bob"]);
        assert_eq!(fed(&["* guest1 is now me"], Some("me")), Vec::<String>::new());
    }

    #[test]
    fn other_lines_teach_nothing() {
        let lines = [
            "* welcome to mio-chat, you are guest1; 2 online; /help for commands",
            "* rooms (2): lobby (3), den (1)",
            "* alice waves",
            "[pm from bob] psst: secret",
            "! no such nick: x",
            "not a nick!: text",
            "* bye",
        ];
        assert_eq!(fed(&lines, None), Vec::<String>::new());
    }

    #[test]
    fn the_set_is_bounded() {
        let nicks = RoomNicks::new();
        for i in 0..MAX_NICKS + 10 {
            nicks.on_received(&format!("n{i}: hi"), None);
        }
        assert_eq!(names(&nicks).len(), MAX_NICKS);
        nicks.clear();
        assert!(names(&nicks).is_empty());
    }
}
