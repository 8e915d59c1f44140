//! `mio-chat bench`: a load tester that measures throughput and latency and checks that
//! nothing was lost, duplicated or reordered.
//!
//! K senders and N receivers share one room. With several servers (a cluster sharing
//! rooms), the senders connect to the first and the receivers round-robin to all. Every payload carries its sender, sequence
//! number and send time ([`payload`]); every receiver checks each sender's sequence
//! ([`tracker`]) and records latency in an HDR histogram. One or more mio event loops
//! ([`driver`]) drive the sockets; one coordinating thread ([`run`]) moves the run
//! through its phases and builds the [`report`].
//!
//! - [`config`]: what a run is asked to do.
//! - [`conn`], [`sender`], [`receive`]: one connection's socket, sending and receiving.
//! - [`wire`]: a connection's framing, client side (hello, encoder, decoder);
//!   [`websocket`]: the client side of RFC 6455 (upgrade, masked frames out).
//! - [`shared`]: the clock, phase and counters the threads share.
//! - [`procfs`]: the server's memory and CPU (the descriptor limit is [`crate::fd_limit`]).
//! - [`progress`], [`json`]: the stderr progress line; the `--json` writer.
//! - [`timeline`]: deliveries per second while the run is on.
//! - [`hgrm`], [`plot`]: what a run measured as HdrHistogram's percentile text
//!   (`--hgrm`) and as an SVG of the latency curve and the throughput (`--plot`).
//! - [`json_read`], [`compare`]: two saved `--json` reports side by side (`--compare`).

pub mod compare;
pub mod config;
pub mod conn;
pub mod driver;
pub mod hgrm;
pub mod json;
pub mod json_read;
pub mod payload;
pub mod plot;
pub mod procfs;
pub mod progress;
pub mod receive;
pub mod report;
pub mod run;
pub mod sender;
pub mod shared;
pub mod timeline;
pub mod tracker;
pub mod websocket;
pub mod wire;

pub use config::{Config, Mode, SendLimit, Target};
pub use report::{IdleReport, LoadReport};
pub use run::{run, Outcome};
