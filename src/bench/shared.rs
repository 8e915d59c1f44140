//! What the event loops and the coordinating thread share: one clock, the phase of the
//! run, and counters for progress and for deciding when each phase is over.
//!
//! Every field is an atomic written with relaxed ordering except the hand-offs that
//! publish other data (`senders_done` after `sent`), which use release/acquire.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The phases of a run, in order; only the coordinator moves it forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Opening connections and waiting for their welcomes.
    Connecting = 0,
    /// Senders send.
    Sending = 1,
    /// Senders stop composing (`--duration` is over); receivers keep receiving.
    Draining = 2,
    /// Everything stops; loops hand back their results.
    Finished = 3,
}

/// State shared by every loop of one run.
#[derive(Debug)]
pub struct Shared {
    base: Instant,
    phase: AtomicU8,
    /// When sending started, ns on the clock.
    pub send_start_ns: AtomicU64,
    /// Connections whose handshake is done.
    pub ready: AtomicU64,
    /// Connections that failed before their handshake was done.
    pub failed: AtomicU64,
    /// Why the first failed connection failed.
    pub first_error: Mutex<Option<String>>,
    /// Loops that have started every connection and finished every handshake.
    pub loops_connected: AtomicUsize,
    /// Last time any byte arrived, ns.
    pub last_rx_ns: AtomicU64,
    /// Last time any payload arrived at a receiver, ns.
    pub last_delivery_ns: AtomicU64,
    /// Payloads received so far, every receiver together.
    pub deliveries: AtomicU64,
    /// Per sender, messages fully written; final once the sender is done.
    pub sent: Vec<AtomicU64>,
    /// Senders that are done; their `sent` is final.
    pub senders_done: AtomicUsize,
    /// Loops whose receivers have every message sent.
    pub loops_drained: AtomicUsize,
    /// Per loop, p99 latency so far in µs, for progress lines.
    pub p99_us: Vec<AtomicU64>,
}

impl Shared {
    /// Fresh state for `senders` senders over `loops` loops; the clock starts now.
    pub fn new(senders: usize, loops: usize) -> Self {
        Shared {
            base: Instant::now(),
            phase: AtomicU8::new(Phase::Connecting as u8),
            send_start_ns: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            loops_connected: AtomicUsize::new(0),
            last_rx_ns: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            sent: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            senders_done: AtomicUsize::new(0),
            loops_drained: AtomicUsize::new(0),
            p99_us: (0..loops).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Nanoseconds since the run started: one clock for every loop, so a send time
    /// stamped in one thread can be subtracted from a receive time in another.
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Connecting,
            1 => Phase::Sending,
            2 => Phase::Draining,
            _ => Phase::Finished,
        }
    }

    /// Moves to `phase` (never backwards).
    pub fn advance(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
    }

    /// Counts a connection that failed during its handshake, keeping the first reason.
    pub fn record_failure(&self, reason: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| reason.to_string());
        }
    }

    /// Publishes a finished sender's final count.
    pub fn sender_done(&self, id: u32, sent: u64) {
        self.sent[id as usize].store(sent, Ordering::Relaxed);
        self.senders_done.fetch_add(1, Ordering::Release);
    }

    /// Every sender's final count, once all are done; `None` before.
    pub fn final_sent(&self) -> Option<Vec<u64>> {
        if self.senders_done.load(Ordering::Acquire) < self.sent.len() {
            return None;
        }
        Some(self.sent.iter().map(|s| s.load(Ordering::Relaxed)).collect())
    }

    /// Messages written so far by every sender (exact only once they are done).
    pub fn sent_total(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}
