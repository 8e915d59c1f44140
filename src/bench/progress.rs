//! The once-a-second progress line on stderr while a run is on.

use super::report::format_micros;
use super::shared::Shared;
use std::sync::atomic::Ordering;

/// Nanoseconds between progress lines.
const EVERY_NS: u64 = 1_000_000_000;

/// Prints a progress line when a second has passed since the last one.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    connections: u64,
    last_ns: u64,
    last_deliveries: u64,
}

impl Progress {
    /// Progress for a run of `connections` connections; silent unless `enabled`.
    pub fn new(enabled: bool, connections: u64) -> Self {
        Progress {
            enabled,
            connections,
            last_ns: 0,
            last_deliveries: 0,
        }
    }

    /// Prints a line if one is due.
    pub fn tick(&mut self, shared: &Shared) {
        let now = shared.now_ns();
        if !self.enabled || now - self.last_ns < EVERY_NS {
            return;
        }
        let deliveries = shared.deliveries.load(Ordering::Relaxed);
        let per_s = (deliveries - self.last_deliveries) as f64 * 1e9 / (now - self.last_ns) as f64;
        let p99 = shared
            .p99_us
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let p99 = if deliveries == 0 {
            "-".to_string()
        } else {
            format_micros(p99)
        };
        eprintln!(
            "bench {:5.1} s: connected {}/{}, sent {}, delivered {}, {:.0} deliveries/s, p99 {}",
            now as f64 / 1e9,
            shared.ready.load(Ordering::Relaxed),
            self.connections,
            shared.sent_total(),
            deliveries,
            per_s,
            p99
        );
        self.last_ns = now;
        self.last_deliveries = deliveries;
    }
}
