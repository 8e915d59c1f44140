//! The state servers share in Redis: which keys and channels, and the commands (mostly
//! small Lua scripts, so that each change is atomic and one round trip) that read and
//! change it, with parsers for their replies.
//!
//! Every key and channel starts with `mio-chat:<db>:` (channels are not per database
//! in Redis, so the database number keeps two clusters on one Redis apart):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `nicks` | hash | lower-case nick -> `node US Nick` (who holds it, how it is spelled) |
//! | `guest` | string | the last guest number given out |
//! | `rooms` | hash | lower-case room -> `members US Name` (how many are in it, on every server, and its name as first spelled) |
//! | `members:<room>` | set | nicks in the room, on every server |
//! | `node:<node>` | hash | nick -> room, for each client of that server |
//! | `nodes` | set | servers that joined the cluster |
//! | `alive:<node>` | string | exists while the server is alive (a TTL it renews) |
//! | `reaped:<node>` | string | a server taken for dead (for a day), so it can tell |
//!
//! Channels: `room:<room>` carries a room's messages (the servers with members in the
//! room subscribe to it), `node:<node>` the private messages for that server's clients.

use super::resp::{encode_command, Value};

/// Seconds a server's heartbeat key lives: a server silent this long is dead, and the
/// next heartbeat of any other frees its nicks and tells its rooms.
pub const HEARTBEAT_TTL_SECS: u64 = 10;
/// How often a server renews its heartbeat and looks for dead ones.
pub const HEARTBEAT_EVERY_SECS: u64 = 2;

/// A room's members change only through these two, which keep the count in `rooms` in
/// step with the `members:<room>` set, create the room (named `room`, as first
/// spelled) with its first member and delete it (but the lobby) with its last, so that
/// `/rooms` reads one hash. `remove_member` returns how many members are left.
macro_rules! members_fn {
    () => {
        r#"
local function room_entry(P, r)
  local v = redis.call('HGET', P..'rooms', r)
  local sep = v and string.find(v, '\31', 1, true)
  if not sep then return 0, v end
  return tonumber(string.sub(v, 1, sep - 1)) or 0, string.sub(v, sep + 1)
end
local function add_member(P, r, room, nick)
  if redis.call('SADD', P..'members:'..r, nick) == 0 then return end
  local n, name = room_entry(P, r)
  redis.call('HSET', P..'rooms', r, (n + 1) .. '\31' .. (name or room))
end
local function remove_member(P, r, nick)
  if redis.call('SREM', P..'members:'..r, nick) == 0 then return redis.call('SCARD', P..'members:'..r) end
  local n, name = room_entry(P, r)
  n = math.max(n - 1, 0)
  if n == 0 and r ~= 'lobby' then
    redis.call('HDEL', P..'rooms', r)
  else
    redis.call('HSET', P..'rooms', r, n .. '\31' .. (name or r))
  end
  return n
end
"#
    };
}

/// Frees everything a server held: used for a dead server (announced) and for this
/// server's own leftovers when it (re)connects.
macro_rules! release_fn {
    () => {
        r#"
local function release(P, node, announce, limit, origin, reason)
  local entries = redis.call('HGETALL', P..'node:'..node)
  for i = 1, #entries, 2 do
    local nick, room = entries[i], entries[i+1]
    local r = string.lower(room)
    local left = remove_member(P, r, nick)
    if announce and left + 1 <= limit then
      redis.call('PUBLISH', P..'room:'..r, '1\31R\31'..origin..'\31-\31* '..nick..' left ('..reason..')')
    end
  end
  redis.call('DEL', P..'node:'..node)
  local nicks = redis.call('HGETALL', P..'nicks')
  local mine = node..'\31'
  for i = 1, #nicks, 2 do
    if string.sub(nicks[i+1], 1, #mine) == mine then redis.call('HDEL', P..'nicks', nicks[i]) end
  end
end
"#
    };
}

/// ARGV: prefix, node, ttl, announce (0/1), announce limit. Joins the cluster; frees
/// what this server held before (its clients are claimed again one by one). Returns 1
/// if another server had taken it for dead meanwhile (its clients' rooms were told
/// they left), else 0.
const REGISTER: &str = concat!(
    members_fn!(),
    release_fn!(),
    r#"
local P, node = ARGV[1], ARGV[2]
release(P, node, ARGV[4] == '1', tonumber(ARGV[5]), node, 'server lost')
redis.call('SADD', P..'nodes', node)
redis.call('SET', P..'alive:'..node, '1', 'EX', ARGV[3])
redis.call('HSETNX', P..'rooms', 'lobby', '0\31lobby')
return redis.call('DEL', P..'reaped:'..node)
"#
);

/// ARGV: prefix, node, ttl, announce limit. Renews this server's heartbeat; frees the
/// servers whose heartbeat expired, telling their rooms, and leaves a tombstone for
/// each (`reaped:<node>`, a day), so that one that was only stalled learns it when it
/// wakes up. Returns 1 if this server finds its own tombstone (it must claim its
/// clients again), else 0.
const HEARTBEAT: &str = concat!(
    members_fn!(),
    release_fn!(),
    r#"
local P, me = ARGV[1], ARGV[2]
local back = redis.call('DEL', P..'reaped:'..me)
redis.call('SET', P..'alive:'..me, '1', 'EX', ARGV[3])
redis.call('SADD', P..'nodes', me)
for _, node in ipairs(redis.call('SMEMBERS', P..'nodes')) do
  if node ~= me and redis.call('EXISTS', P..'alive:'..node) == 0 then
    release(P, node, true, tonumber(ARGV[4]), me, 'server lost')
    redis.call('SREM', P..'nodes', node)
    redis.call('SET', P..'reaped:'..node, '1', 'EX', 86400)
  end
end
return back
"#
);

/// ARGV: prefix, node, announce limit. Leaves the cluster (a server shutting down):
/// its clients' nicks are freed and their rooms told at once.
const LEAVE: &str = concat!(
    members_fn!(),
    release_fn!(),
    r#"
local P, node = ARGV[1], ARGV[2]
release(P, node, true, tonumber(ARGV[3]), node, 'server shutting down')
redis.call('SREM', P..'nodes', node)
redis.call('DEL', P..'alive:'..node)
return 1
"#
);

/// ARGV: prefix, node. A fresh guest nick, claimed: `{nick, clients online}`.
const GUEST: &str = r#"
local P, node = ARGV[1], ARGV[2]
for i = 1, 1000 do
  local nick = 'guest'..redis.call('INCR', P..'guest')
  if redis.call('HSETNX', P..'nicks', nick, node..'\31'..nick) == 1 then
    return {nick, redis.call('HLEN', P..'nicks')}
  end
end
return redis.error_reply('no free guest nick')
"#;

/// ARGV: prefix, node, nick. 1 if the nick was free and is now this server's.
const CLAIM: &str = r#"
local P, node, nick = ARGV[1], ARGV[2], ARGV[3]
return redis.call('HSETNX', P..'nicks', string.lower(nick), node..'\31'..nick)
"#;

/// ARGV: prefix, node, nick, room, serial, announce (0/1), announce limit. Claims the
/// nick again after a lost link (0 if it is someone else's now) and puts it back in its
/// room; with `announce` (the others had been told it left) its room is told it is back.
const RECLAIM: &str = concat!(
    members_fn!(),
    r#"
local P, node, nick, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local k, v = string.lower(nick), node..'\31'..nick
local holder = redis.call('HGET', P..'nicks', k)
if holder and holder ~= v then return 0 end
redis.call('HSET', P..'nicks', k, v)
local r = string.lower(room)
add_member(P, r, room, nick)
redis.call('HSET', P..'node:'..node, nick, room)
if ARGV[6] == '1' and redis.call('SCARD', P..'members:'..r) <= tonumber(ARGV[7]) then
  redis.call('PUBLISH', P..'room:'..r, '1\31R\31'..node..'\31'..ARGV[5]..'\31* '..nick..' joined (server back)')
end
return 1
"#
);

/// ARGV: prefix, node, nick, room. Returns the room's members now, on every server.
const JOINED: &str = concat!(
    members_fn!(),
    r#"
local P, node, nick, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local r = string.lower(room)
add_member(P, r, room, nick)
redis.call('HSET', P..'node:'..node, nick, room)
return redis.call('SCARD', P..'members:'..r)
"#
);

/// ARGV: prefix, node, nick, room. Returns the room's members left, on every server.
const LEFT: &str = concat!(
    members_fn!(),
    r#"
local P, node, nick, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local left = remove_member(P, string.lower(room), nick)
redis.call('HDEL', P..'node:'..node, nick)
return left
"#
);

/// ARGV: prefix, node, old, new, room. The new nick is claimed already (or differs
/// from the old only in case).
const RENAMED: &str = concat!(
    members_fn!(),
    r#"
local P, node, old, new, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local mine = node..'\31'
local ko, kn = string.lower(old), string.lower(new)
if redis.call('HGET', P..'nicks', ko) == mine..old then redis.call('HDEL', P..'nicks', ko) end
local holder = redis.call('HGET', P..'nicks', kn)
if not holder or string.sub(holder, 1, #mine) == mine then redis.call('HSET', P..'nicks', kn, mine..new) end
local r = string.lower(room)
remove_member(P, r, old)
add_member(P, r, room, new)
redis.call('HDEL', P..'node:'..node, old)
redis.call('HSET', P..'node:'..node, new, room)
return 1
"#
);

/// ARGV: prefix, node, nick. Frees the nick if this server holds it.
const GONE: &str = r#"
local P, node, nick = ARGV[1], ARGV[2], ARGV[3]
local k = string.lower(nick)
if redis.call('HGET', P..'nicks', k) == node..'\31'..nick then redis.call('HDEL', P..'nicks', k) end
redis.call('HDEL', P..'node:'..node, nick)
return 1
"#;

/// ARGV: prefix. `{clients, rooms}`.
const STATS: &str = r#"
local P = ARGV[1]
return {redis.call('HLEN', P..'nicks'), redis.call('HLEN', P..'rooms')}
"#;

/// The names of one cluster's keys and channels, and the commands on them, for one
/// server (`node`). Commands are appended to an output buffer, RESP-encoded.
#[derive(Debug, Clone)]
pub struct Store {
    prefix: String,
    node: String,
}

impl Store {
    /// The keys of the cluster in database `db`, as seen by server `node`.
    pub fn new(db: u32, node: &str) -> Self {
        Store {
            prefix: format!("mio-chat:{db}:"),
            node: node.to_string(),
        }
    }

    /// This server's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The channel a room's messages go on.
    pub fn room_channel(&self, room: &str) -> String {
        format!("{}room:{}", self.prefix, room.to_ascii_lowercase())
    }

    /// The channel private messages for `node`'s clients go on.
    pub fn node_channel(&self, node: &str) -> String {
        format!("{}node:{node}", self.prefix)
    }

    /// The room whose channel this is, if it is one.
    pub fn room_of_channel<'a>(&self, channel: &'a [u8]) -> Option<&'a str> {
        let rest = channel
            .strip_prefix(self.prefix.as_bytes())?
            .strip_prefix(b"room:")?;
        std::str::from_utf8(rest)
            .ok()
            .filter(|room| crate::command::is_valid_name(room))
    }

    /// True if `channel` is this server's own channel.
    pub fn is_own_channel(&self, channel: &[u8]) -> bool {
        channel == self.node_channel(&self.node).as_bytes()
    }

    fn eval(&self, script: &str, args: &[&str], out: &mut Vec<u8>) {
        let mut argv: Vec<&[u8]> = vec![
            b"EVAL",
            script.as_bytes(),
            b"0",
            self.prefix.as_bytes(),
            self.node.as_bytes(),
        ];
        argv.extend(args.iter().map(|a| a.as_bytes()));
        encode_command(&argv, out);
    }

    /// Joins the cluster, freeing what this server held before; `announce`: tell the
    /// rooms of the clients it had (a restart), or not (they are still here). Reply: 1
    /// if it had been taken for dead.
    pub fn register(&self, announce: bool, announce_limit: usize, out: &mut Vec<u8>) {
        let flag = if announce { "1" } else { "0" };
        let ttl = HEARTBEAT_TTL_SECS.to_string();
        self.eval(REGISTER, &[&ttl, flag, &announce_limit.to_string()], out);
    }

    /// Renews the heartbeat and frees dead servers. Reply: 1 if this server had been
    /// taken for dead.
    pub fn heartbeat(&self, announce_limit: usize, out: &mut Vec<u8>) {
        let ttl = HEARTBEAT_TTL_SECS.to_string();
        self.eval(HEARTBEAT, &[&ttl, &announce_limit.to_string()], out);
    }

    /// Leaves the cluster, telling this server's clients' rooms that they left.
    pub fn leave(&self, announce_limit: usize, out: &mut Vec<u8>) {
        self.eval(LEAVE, &[&announce_limit.to_string()], out);
    }

    /// A fresh guest nick. Reply: see [`parse_guest`].
    pub fn guest(&self, out: &mut Vec<u8>) {
        self.eval(GUEST, &[], out);
    }

    /// Claims `nick`. Reply: 1 if claimed.
    pub fn claim(&self, nick: &str, out: &mut Vec<u8>) {
        self.eval(CLAIM, &[nick], out);
    }

    /// Claims `nick` (client `serial`) again and puts it in `room`; `announce`: tell
    /// the room it is back. Reply: 1, or 0 if it is taken.
    pub fn reclaim(&self, nick: &str, room: &str, serial: u64, announce: Option<usize>, out: &mut Vec<u8>) {
        let (flag, limit) = match announce {
            Some(limit) => ("1", limit.to_string()),
            None => ("0", "0".to_string()),
        };
        self.eval(RECLAIM, &[nick, room, &serial.to_string(), flag, &limit], out);
    }

    /// `nick` is in `room` now.
    pub fn joined(&self, nick: &str, room: &str, out: &mut Vec<u8>) {
        self.eval(JOINED, &[nick, room], out);
    }

    /// `nick` left `room`.
    pub fn left(&self, nick: &str, room: &str, out: &mut Vec<u8>) {
        self.eval(LEFT, &[nick, room], out);
    }

    /// `old` is called `new` now, in `room`.
    pub fn renamed(&self, old: &str, new: &str, room: &str, out: &mut Vec<u8>) {
        self.eval(RENAMED, &[old, new, room], out);
    }

    /// `nick` is gone.
    pub fn gone(&self, nick: &str, out: &mut Vec<u8>) {
        self.eval(GONE, &[nick], out);
    }

    /// The nicks in `room`. Reply: see [`parse_names`].
    pub fn who(&self, room: &str, out: &mut Vec<u8>) {
        let key = format!("{}members:{}", self.prefix, room.to_ascii_lowercase());
        encode_command(&[b"SMEMBERS", key.as_bytes()], out);
    }

    /// Every room: one `HGETALL`, no script. Reply: see [`parse_rooms`].
    pub fn rooms(&self, out: &mut Vec<u8>) {
        let key = format!("{}rooms", self.prefix);
        encode_command(&[b"HGETALL", key.as_bytes()], out);
    }

    /// Clients and rooms. Reply: see [`parse_stats`].
    pub fn stats(&self, out: &mut Vec<u8>) {
        self.eval(STATS, &[], out);
    }

    /// Who holds `nick`. Reply: see [`parse_holder`].
    pub fn holder(&self, nick: &str, out: &mut Vec<u8>) {
        let key = format!("{}nicks", self.prefix);
        encode_command(
            &[b"HGET", key.as_bytes(), nick.to_ascii_lowercase().as_bytes()],
            out,
        );
    }

    /// Publishes a bus message on `channel`.
    pub fn publish(&self, channel: &str, payload: &[u8], out: &mut Vec<u8>) {
        encode_command(&[b"PUBLISH", channel.as_bytes(), payload], out);
    }

    /// Subscribes (on the subscription connection) to this server's own channel and
    /// to the channels of `rooms`: one confirmation each.
    pub fn subscribe(&self, rooms: &[String], out: &mut Vec<u8>) {
        let mut channels = vec![self.node_channel(&self.node)];
        channels.extend(rooms.iter().map(|room| self.room_channel(room)));
        let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        args.extend(channels.iter().map(|c| c.as_bytes()));
        encode_command(&args, out);
    }

    /// Subscribes to one room's channel (or unsubscribes, with `subscribe` false).
    pub fn subscribe_room(&self, room: &str, subscribe: bool, out: &mut Vec<u8>) {
        let verb: &[u8] = if subscribe { b"SUBSCRIBE" } else { b"UNSUBSCRIBE" };
        encode_command(&[verb, self.room_channel(room).as_bytes()], out);
    }
}

/// [`Store::guest`]'s reply: the nick and the clients online.
pub fn parse_guest(reply: Value) -> Option<(String, u64)> {
    let mut items = reply.into_array()?.into_iter();
    let nick = text(&items.next()?)?;
    let online = items.next()?.as_int()?;
    crate::command::is_valid_name(&nick).then_some((nick, online.max(1) as u64))
}

/// [`Store::who`]'s reply: the nicks.
pub fn parse_names(reply: Value) -> Option<Vec<String>> {
    reply.into_array()?.iter().map(text).collect()
}

/// [`Store::rooms`]'s reply (the `rooms` hash): names and member counts of the rooms
/// with members, and the lobby.
pub fn parse_rooms(reply: Value) -> Option<Vec<(String, u64)>> {
    let items = reply.into_array()?;
    if items.len() % 2 != 0 {
        return None;
    }
    let mut rooms = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        let key = text(&pair[0])?;
        let entry = text(&pair[1])?;
        let (count, name) = entry.split_once('\u{1f}')?;
        let count: u64 = count.parse().ok()?;
        if count > 0 || key == "lobby" {
            rooms.push((name.to_string(), count));
        }
    }
    Some(rooms)
}

/// [`Store::stats`]'s reply: clients and rooms.
pub fn parse_stats(reply: Value) -> Option<(u64, u64)> {
    let items = reply.into_array()?;
    let n = |i: usize| items.get(i).and_then(Value::as_int).map(|n| n.max(0) as u64);
    Some((n(0)?, n(1)?))
}

/// [`Store::holder`]'s reply: `Some(None)` if nobody holds the nick, else the server
/// holding it and its spelling; `None` if the reply is not one.
pub fn parse_holder(reply: Value) -> Option<Option<(String, String)>> {
    match reply {
        Value::Bulk(None) => Some(None),
        Value::Bulk(Some(bytes)) => {
            let value = String::from_utf8(bytes).ok()?;
            let (node, nick) = value.split_once('\u{1f}')?;
            Some(Some((node.to_string(), nick.to_string())))
        }
        _ => None,
    }
}

/// A bulk or simple string as UTF-8 text.
fn text(value: &Value) -> Option<String> {
    String::from_utf8(value.as_bytes()?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_channels_are_per_database() {
        let store = Store::new(3, "n1");
        assert_eq!(store.room_channel("Lobby"), "mio-chat:3:room:lobby");
        assert_eq!(store.node_channel("n2"), "mio-chat:3:node:n2");
        assert_eq!(store.room_of_channel(b"mio-chat:3:room:dev"), Some("dev"));
        assert_eq!(store.room_of_channel(b"mio-chat:4:room:dev"), None);
        assert_eq!(store.room_of_channel(b"mio-chat:3:room:a b"), None);
        assert_eq!(store.room_of_channel(b"mio-chat:3:node:n1"), None);
        assert!(store.is_own_channel(b"mio-chat:3:node:n1"));
        assert!(!store.is_own_channel(b"mio-chat:3:node:n2"));
    }

    #[test]
    fn commands_are_resp_arrays_with_prefix_and_node_first() {
        let store = Store::new(0, "n1");
        let mut out = Vec::new();
        store.claim("Alice", &mut out);
        let (value, used) = crate::cluster::resp::decode(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        let args: Vec<Vec<u8>> = value
            .into_array()
            .unwrap()
            .into_iter()
            .map(|v| v.as_bytes().unwrap().to_vec())
            .collect();
        assert_eq!(args[0], b"EVAL");
        assert_eq!(
            args[2..],
            [
                b"0".to_vec(),
                b"mio-chat:0:".to_vec(),
                b"n1".to_vec(),
                b"Alice".to_vec()
            ]
        );
    }

    #[test]
    fn replies_parse_or_are_refused() {
        let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        let guest = Value::Array(Some(vec![bulk("guest7"), Value::Integer(3)]));
        assert_eq!(parse_guest(guest), Some(("guest7".into(), 3)));
        assert_eq!(
            parse_guest(Value::Array(Some(vec![bulk("no good"), Value::Integer(3)]))),
            None
        );
        assert_eq!(parse_guest(Value::Integer(1)), None);
        assert_eq!(
            parse_rooms(Value::Array(Some(vec![
                bulk("lobby"),
                bulk("0\u{1f}lobby"),
                bulk("dev"),
                bulk("1\u{1f}Dev"),
                bulk("gone"),
                bulk("0\u{1f}Gone"),
            ]))),
            Some(vec![("lobby".into(), 0), ("Dev".into(), 1)])
        );
        assert_eq!(parse_rooms(Value::Array(Some(vec![bulk("lobby")]))), None);
        assert_eq!(
            parse_rooms(Value::Array(Some(vec![bulk("dev"), bulk("x\u{1f}Dev")]))),
            None
        );
        assert_eq!(
            parse_rooms(Value::Array(Some(vec![bulk("dev"), bulk("Dev")]))),
            None
        );
        assert_eq!(
            parse_stats(Value::Array(Some(vec![Value::Integer(5), Value::Integer(2)]))),
            Some((5, 2))
        );
        assert_eq!(
            parse_names(Value::Array(Some(vec![bulk("a"), bulk("b")]))),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_holder(Value::Bulk(None)), Some(None));
        assert_eq!(
            parse_holder(bulk("n2\u{1f}Bob")),
            Some(Some(("n2".into(), "Bob".into())))
        );
        assert_eq!(parse_holder(bulk("junk")), None);
        assert_eq!(parse_holder(Value::Error("ERR".into())), None);
    }
}
