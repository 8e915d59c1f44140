//! One event loop: its share of the connections, driven by edge-triggered mio until the
//! coordinator says the run is finished.
//!
//! Each turn: start connections up to the in-flight bound, let senders compose and
//! write, publish counters, then poll and read every ready socket until `WouldBlock`.
//! The loop owns the `Poll` and every registration; a connection that fails is closed
//! here and only here.

use super::config::{Config, Mode, SendLimit};
use super::conn::{Conn, Role, Slot, State};
use super::receive::Sink;
use super::sender::SendState;
use super::shared::{Phase, Shared};
use super::tracker::Tracker;
use super::wire::Wire;
use mio::{Events, Interest, Poll, Token};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Connects plus handshakes in flight at once, over all loops: enough to connect
/// thousands per second, few enough not to overrun the server's accept backlog.
pub const CONNECTS_IN_FLIGHT: usize = 100;
/// A connection that is not ready this long after connecting has failed.
const HANDSHAKE_TIMEOUT_NS: u64 = 10_000_000_000;
/// Bytes read per `read()`.
const CHUNK: usize = 64 * 1024;
/// Messages composed into one write.
const BATCH: usize = 64;
/// Messages one sender may compose per turn before readers get their turn.
const SENDER_BUDGET: usize = 1024;
/// How often deadlines, drain and p99 are looked at.
const TICK_NS: u64 = 100_000_000;
/// Longest sleep in `poll`, so phase changes are seen promptly.
const MAX_POLL: Duration = Duration::from_millis(10);

/// What one loop hands back when the run is finished.
#[derive(Debug)]
pub struct LoopResult {
    /// Every receiver's checker with its server, closed receivers included.
    pub trackers: Vec<(usize, Tracker)>,
    /// Per server, this loop's connections whose handshake was done.
    pub ready_by_server: Vec<u64>,
    /// Latency and counters of this loop's receivers.
    pub sink: Sink,
    /// Receivers closed after their handshake.
    pub disconnected: u64,
    /// Why the first of them was closed.
    pub disconnect_reason: Option<String>,
    /// `(sender id, messages fully written)` for this loop's senders.
    pub sent: Vec<(u32, u64)>,
    /// Latest a paced message was composed after its due time, ns.
    pub max_lag_ns: u64,
}

/// One event loop and its connections.
pub struct Driver {
    index: usize,
    config: Arc<Config>,
    shared: Arc<Shared>,
    poll: Poll,
    slots: Vec<Slot>,
    conns: Vec<Conn>,
    /// Indices of the senders in `conns`.
    senders: Vec<usize>,
    in_flight: usize,
    max_in_flight: usize,
    sink: Sink,
    chunk: Vec<u8>,
    disconnected: u64,
    disconnect_reason: Option<String>,
    /// Per server, connections whose handshake was done.
    ready_by_server: Vec<u64>,
    connected_reported: bool,
    drained_reported: bool,
    /// Deliveries were published since the end of the last turn, so the receivers may
    /// have just completed.
    published_this_turn: bool,
    /// Draws each connection's WebSocket key and mask; differs per loop and per run.
    seed: u64,
}

impl Driver {
    /// Loop number `index` of `config.threads`, for these connections.
    ///
    /// # Errors
    /// When the OS refuses an epoll instance.
    pub fn new(
        index: usize,
        slots: Vec<Slot>,
        config: Arc<Config>,
        shared: Arc<Shared>,
    ) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create a poll instance: {e}"))?;
        let max_in_flight = (CONNECTS_IN_FLIGHT / config.threads).max(1);
        Ok(Driver {
            index,
            sink: Sink::new(config.senders(), config.servers.len()),
            ready_by_server: vec![0; config.servers.len()],
            config,
            shared,
            poll,
            conns: Vec::with_capacity(slots.len()),
            slots,
            senders: Vec::new(),
            in_flight: 0,
            max_in_flight,
            chunk: vec![0; CHUNK],
            disconnected: 0,
            disconnect_reason: None,
            connected_reported: false,
            drained_reported: false,
            published_this_turn: false,
            seed: random_seed(),
        })
    }

    /// Runs until the phase is `Finished`; returns what this loop measured.
    pub fn run(mut self) -> LoopResult {
        let mut events = Events::with_capacity(1024);
        let mut last_tick = 0;
        loop {
            let phase = self.shared.phase();
            if phase == Phase::Finished {
                break;
            }
            let now = self.shared.now_ns();
            self.start_connections(now);
            if now - last_tick >= TICK_NS {
                last_tick = now;
                self.on_tick(now);
            }
            let (busy, next_due) = match phase {
                Phase::Connecting => (false, None),
                _ => self.service_senders(phase),
            };
            self.publish_deliveries(now);
            let timeout = match (busy, next_due) {
                (true, _) => Duration::ZERO,
                (false, Some(due)) => Duration::from_nanos(due.saturating_sub(now)).min(MAX_POLL),
                (false, None) => MAX_POLL,
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("bench loop {}: poll: {e}", self.index);
                    self.shared.record_failure(&format!("poll: {e}"));
                    self.shared.advance(Phase::Finished);
                }
                continue;
            }
            let mut received = false;
            for event in events.iter() {
                received |= self.on_event(event);
                // After each connection, not once per turn: under load one turn can
                // read for hundreds of ms, and the per-second timeline would see it
                // as a stall followed by a burst.
                self.publish_count();
            }
            if received {
                let now = self.shared.now_ns();
                self.shared.last_rx_ns.fetch_max(now, Ordering::Relaxed);
            }
        }
        self.finish()
    }

    /// Opens connections until the in-flight bound or the end of the list.
    fn start_connections(&mut self, now: u64) {
        while self.in_flight < self.max_in_flight && self.conns.len() < self.slots.len() {
            let slot = self.slots[self.conns.len()];
            let token = Token(self.conns.len());
            let target = &self.config.servers[slot.server];
            let mut conn = match Conn::connect(target.addr, target.tls.as_ref(), slot, self.next_wire(), now)
            {
                Ok(conn) => conn,
                Err(e) => {
                    // Keep a closed placeholder so tokens stay equal to indices.
                    self.record_failure(slot.server, &format!("connect: {e}"));
                    self.push_closed(slot, now);
                    continue;
                }
            };
            let registered = match conn.stream.as_mut() {
                Some(s) => self
                    .poll
                    .registry()
                    .register(s, token, Interest::READABLE | Interest::WRITABLE),
                None => Ok(()),
            };
            if let Err(e) = registered {
                self.record_failure(slot.server, &format!("register: {e}"));
                self.push_closed(slot, now);
                continue;
            }
            self.attach_role_state(&mut conn);
            self.conns.push(conn);
            self.in_flight += 1;
        }
    }

    fn push_closed(&mut self, slot: Slot, now: u64) {
        let mut conn = Conn::closed(slot, self.next_wire(), now);
        self.attach_role_state(&mut conn);
        self.conns.push(conn);
    }

    /// Counts a connection to server `server` that failed before its handshake was
    /// done; with several servers the reason names the server.
    fn record_failure(&self, server: usize, reason: &str) {
        if self.config.servers.len() > 1 {
            let addr = self.config.servers[server].addr;
            self.shared.record_failure(&format!("{addr}: {reason}"));
        } else {
            self.shared.record_failure(reason);
        }
    }

    /// The framing of the next connection; its seed (for a WebSocket key and mask) is
    /// this loop's random seed plus the connection's index.
    fn next_wire(&self) -> Wire {
        let seed = self.seed.wrapping_add(self.conns.len() as u64);
        Wire::new(self.config.framing, seed)
    }

    /// Receivers get a checker and senders their counters from the start, so a
    /// connection that fails still counts what it should have received or sent.
    fn attach_role_state(&mut self, conn: &mut Conn) {
        match conn.role {
            Role::Receiver => conn.tracker = Some(Tracker::new(self.config.senders())),
            Role::Sender(id) => {
                conn.send = Some(self.new_send_state(id));
                self.senders.push(self.conns.len());
            }
            Role::Idle => {}
        }
    }

    fn new_send_state(&self, id: u32) -> SendState {
        let Mode::Load {
            limit, rate, senders, ..
        } = &self.config.mode
        else {
            return SendState::new(id, Some(0), None, 0);
        };
        let target = match limit {
            SendLimit::Messages(n) => Some(*n),
            SendLimit::Duration(_) => None,
        };
        // K senders share R messages/s: each sends every K/R s, staggered by 1/R.
        let interval = rate.map(|r| (*senders as f64 * 1e9 / r).max(1.0) as u64);
        let offset = rate.map_or(0, |r| (id as f64 * 1e9 / r) as u64);
        SendState::new(id, target, interval, offset)
    }

    /// Periodic work: handshake deadlines, "all connected" and "all drained" signals,
    /// and the p99 shown in progress lines.
    fn on_tick(&mut self, now: u64) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let waiting = matches!(c.state, State::Connecting | State::Greeting | State::Joining);
            if waiting && now.saturating_sub(c.started_ns) > HANDSHAKE_TIMEOUT_NS {
                let what = if c.state == State::Connecting {
                    "connect"
                } else {
                    "handshake"
                };
                self.close(i, &format!("{what} timed out after 10 s"));
            }
        }
        if !self.connected_reported && self.conns.len() == self.slots.len() && self.in_flight == 0 {
            self.connected_reported = true;
            self.shared.loops_connected.fetch_add(1, Ordering::Release);
        }
        self.check_drained();
        let p99 = self.sink.latency.value_at_quantile(0.99);
        self.shared.p99_us[self.index].store(p99, Ordering::Relaxed);
    }

    /// Once every sender's count is final, tells the coordinator whether this loop's
    /// receivers have all of it.
    fn check_drained(&mut self) {
        if self.drained_reported {
            return;
        }
        let Some(sent) = self.shared.final_sent() else {
            return;
        };
        let complete = self.conns.iter().all(|c| match (&c.tracker, c.state) {
            (_, State::Closed) | (None, _) => true,
            (Some(t), _) => t.has_all(&sent),
        });
        if complete {
            self.drained_reported = true;
            self.shared.loops_drained.fetch_add(1, Ordering::Release);
        }
    }

    /// Adds the payloads received since the last call to the shared count.
    fn publish_count(&mut self) {
        if self.sink.unpublished > 0 {
            self.shared
                .deliveries
                .fetch_add(self.sink.unpublished, Ordering::Relaxed);
            self.sink.unpublished = 0;
            self.published_this_turn = true;
        }
    }

    /// End of a turn: publishes the count, the time of the last delivery, and whether
    /// this loop's receivers have everything.
    fn publish_deliveries(&mut self, now: u64) {
        self.publish_count();
        if std::mem::take(&mut self.published_this_turn) {
            self.shared.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
            // A receiver may just have completed: look again soon rather than next tick.
            if self.shared.final_sent().is_some() {
                self.check_drained();
            }
        }
    }
}

/// A seed that differs per call: std's hasher keys come from the OS's randomness.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

mod events;
mod sending;
