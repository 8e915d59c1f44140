//! Who the client is on the server (nick and room), remembered so that a reconnect can
//! restore it.
//!
//! Only what the server confirmed is restored: `/nick taken-name` that the server refused
//! is not retried on the next connection. The `--nick` and `--room` flags count as
//! confirmed from the start, since they are meant to apply to every connection.

use crate::chat::LOBBY;
use crate::command::{self, Command};

/// What the server says first: `* welcome to mio-chat, you are NICK; ...`.
const WELCOME_PREFIX: &str = "* welcome to mio-chat, you are ";
/// `* OLD is now NEW`, sent to the whole room, the renamed client included.
const RENAMED: &str = " is now ";
/// `* NICK joined`, sent to the new room, the joining client included.
const JOINED: &str = " joined";

/// The nick and room to restore, and the server's name for this client right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The nick to ask for on (re)connect.
    nick: Option<String>,
    /// The room to join on (re)connect; `None` means the lobby.
    room: Option<String>,
    /// The nick the server currently knows this client by (from the welcome and renames).
    current: Option<String>,
    /// A `/join ROOM` sent and not confirmed yet.
    asked_room: Option<String>,
}

impl Identity {
    /// An identity that will ask for `nick` and `room` on every connection.
    pub fn new(nick: Option<String>, room: Option<String>) -> Self {
        let room = room.filter(|r| !r.eq_ignore_ascii_case(LOBBY));
        Identity {
            nick,
            room: room.clone(),
            current: None,
            asked_room: room,
        }
    }

    /// The commands that restore the nick and room, to send right after connecting.
    /// Forgets the previous connection's nick, since the server will assign a new one.
    pub fn restore_commands(&mut self) -> Vec<String> {
        self.current = None;
        self.asked_room = self.room.clone();
        let nick = self.nick.iter().map(|n| format!("/nick {n}"));
        let room = self.room.iter().map(|r| format!("/join {r}"));
        nick.chain(room).collect()
    }

    /// Notes a line the user sent: a `/join` waits for the server's confirmation.
    pub fn on_sent(&mut self, line: &str) {
        if let Ok(Command::Join(room)) = command::parse(line) {
            self.asked_room = Some(room.to_string());
        }
    }

    /// Notes a (cleaned) message from the server: the welcome, and confirmations of this
    /// client's renames and joins.
    pub fn on_received(&mut self, text: &str) {
        if let Some(rest) = text.strip_prefix(WELCOME_PREFIX) {
            self.current = rest.split(';').next().map(str::to_string);
            return;
        }
        let (Some(current), Some(rest)) = (&self.current, text.strip_prefix("* ")) else {
            return;
        };
        let Some(after_nick) = rest.strip_prefix(current.as_str()) else {
            return;
        };
        if let Some(new) = after_nick.strip_prefix(RENAMED) {
            if command::is_valid_name(new) {
                self.current = Some(new.to_string());
                self.nick = Some(new.to_string());
            }
        } else if after_nick == JOINED {
            if let Some(room) = self.asked_room.take() {
                self.room = Some(room).filter(|r| !r.eq_ignore_ascii_case(LOBBY));
            }
        }
    }

    /// The nick the server knows this client by on this connection, once welcomed.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The nick to restore, if any.
    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }

    /// The room to restore, if any (never the lobby).
    pub fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcomed(identity: &mut Identity, guest: &str) {
        identity.on_received(&format!("{WELCOME_PREFIX}{guest}; 2 online; /help for commands"));
    }

    #[test]
    fn flags_are_restored_on_every_connection() {
        let mut id = Identity::new(Some("alice".into()), Some("den".into()));
        assert_eq!(id.restore_commands(), ["/nick alice", "/join den"]);
        assert_eq!(id.restore_commands(), ["/nick alice", "/join den"]);
    }

    #[test]
    fn nothing_to_restore_without_flags_or_changes() {
        let mut id = Identity::new(None, Some("Lobby".into()));
        assert!(id.restore_commands().is_empty());
    }

    #[test]
    fn a_confirmed_rename_is_restored() {
        let mut id = Identity::new(None, None);
        id.restore_commands();
        welcomed(&mut id, "guest3");
        id.on_received("* guest7 is now mallory"); // someone else
        assert_eq!(id.nick(), None);
        id.on_received("* guest3 is now bob");
        id.on_received("* bob is now bobby");
        assert_eq!(id.restore_commands(), ["/nick bobby"]);
    }

    #[test]
    fn a_refused_rename_is_not_restored() {
        let mut id = Identity::new(None, None);
        welcomed(&mut id, "guest1");
        id.on_sent("/nick taken");
        id.on_received("! nick taken is taken");
        assert!(id.restore_commands().is_empty());
    }

    #[test]
    fn a_confirmed_join_is_restored_and_the_lobby_is_not() {
        let mut id = Identity::new(Some("carol".into()), None);
        id.restore_commands();
        welcomed(&mut id, "guest2");
        id.on_received("* guest2 is now carol");
        id.on_sent("/join den");
        id.on_received("* dave joined"); // someone else arriving first
        assert_eq!(id.room(), None);
        id.on_received("* carol joined");
        assert_eq!(id.room(), Some("den"));
        id.on_sent("/join lobby");
        id.on_received("* carol joined");
        assert_eq!(id.room(), None);
    }

    #[test]
    fn a_refused_join_is_not_restored() {
        let mut id = Identity::new(None, None);
        welcomed(&mut id, "guest1");
        id.on_sent("/join bad room!");
        id.on_received("! invalid room name 'bad room!': use 1-32 letters, digits, _ or -");
        assert_eq!(id.room(), None);
    }
}
