//! Several servers as one chat (`--cluster`): the pure parts of sharing rooms, nicks and
//! presence through Redis. See `docs/cluster.md`.
//!
//! Nothing here touches a socket: [`resp`] is the codec for the Redis protocol,
//! [`bus`] the versioned format of the messages servers publish to each other,
//! [`address`] the `redis://` address, and [`store`] the keys, channels and Lua scripts
//! that keep the shared state. The Redis connections themselves belong to the event
//! loop (`server::cluster`), like every other socket.

pub mod address;
pub mod bus;
pub mod resp;
pub mod store;
pub mod subscriptions;

/// True if `name` can name a server in the cluster (`--node-name`): 1-64 of
/// `[A-Za-z0-9_.:-]`, so it is safe inside keys, channels and bus messages.
pub fn is_valid_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}
