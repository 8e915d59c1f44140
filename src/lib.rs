//! mio-chat: a single-threaded mio event-loop chat server, its client and its load tester.
//!
//! The pure core knows nothing of sockets:
//! - [`framing`]: detecting a connection's framing; frame and line codecs.
//! - [`text`]: cleaning text so it is safe to relay and show.
//! - [`command`]: parsing a line into a chat message or a `/command`.
//! - [`chat`]: nicks, rooms and commands as "input from X -> messages to these targets".
//! - [`fanout`]: one loop turn's output, encoded once per framing and batched per recipient.
//! - [`password`]: the `/pass` gate of `--password-file`.
//! - [`http`]: HTTP on the chat port: the web page, and the WebSocket upgrade.
//! - [`fd_limit`]: raising the open-file limit (server and load tester).
//! - [`tls`]: loading certificates and keys, `rustls` configurations (server and client).
//! - [`cluster`]: several servers as one chat through Redis: the RESP codec, the bus
//!   format, the shared keys and scripts.
//!
//! The event loop owns the sockets:
//! - [`server`]: the `Poll`, the listener, the slab of connections; reads, fans out, writes.
//! - [`client`]: `mio-chat connect`: frames to and from a server, for a terminal or a script.
//! - [`bench`]: the load tester behind `mio-chat bench` (event loops, checks, report).
#![deny(missing_docs, rust_2018_idioms)]

pub mod bench;
pub mod chat;
pub mod client;
pub mod cluster;
pub mod command;
pub mod fanout;
pub mod fd_limit;
pub mod framing;
pub mod http;
pub mod password;
pub mod server;
pub mod text;
pub mod tls;
