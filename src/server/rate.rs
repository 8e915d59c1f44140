//! `--msg-rate`: how many messages a client may send per second, as a token bucket.
//!
//! A client starts with a full bucket of `2 x rate` tokens (a burst), each message takes
//! one, and tokens come back at `rate` per second. A client with none left is not dropped:
//! the loop stops reading it until the next token is due, and TCP pushes back on the
//! sender. Time is passed in, so the bucket is tested without a clock.

use std::time::{Duration, Instant};

/// One client's allowance.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
    /// The client was told to slow down since the bucket was last full.
    warned: bool,
}

impl TokenBucket {
    /// A full bucket for `rate` messages per second.
    pub fn full(rate: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: capacity(rate),
            last: now,
            warned: false,
        }
    }

    /// Whether a token is there for one more message, or how long until one is due.
    pub fn ready(&mut self, rate: u32, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(capacity(rate));
        if self.tokens >= capacity(rate) {
            self.warned = false; // a new burst may be warned about again
        }
        if self.tokens >= 1.0 {
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / f64::from(rate)))
    }

    /// Spends a token: a message was handled.
    pub fn spend(&mut self) {
        self.tokens -= 1.0;
    }

    /// Takes a token for one message, or says how long until one is due.
    pub fn take(&mut self, rate: u32, now: Instant) -> Result<(), Duration> {
        self.ready(rate, now)?;
        self.spend();
        Ok(())
    }

    /// True the first time in a burst that the client ran out (it is told once).
    pub fn warn_once(&mut self) -> bool {
        !std::mem::replace(&mut self.warned, true)
    }
}

/// Tokens a full bucket holds: bursts of up to twice the rate.
fn capacity(rate: u32) -> f64 {
    2.0 * f64::from(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_then_one_per_period() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(20, t0);
        for _ in 0..40 {
            assert_eq!(bucket.take(20, t0), Ok(()));
        }
        assert_eq!(bucket.take(20, t0), Err(Duration::from_millis(50)));
        let later = t0 + Duration::from_millis(50);
        assert_eq!(bucket.take(20, later), Ok(()));
        let wait = bucket.take(20, later).unwrap_err();
        assert!(wait > Duration::from_millis(49) && wait <= Duration::from_millis(50));
        // A second of quiet refills 20 tokens, not more than the burst.
        let much_later = later + Duration::from_secs(10);
        for _ in 0..40 {
            assert_eq!(bucket.take(20, much_later), Ok(()));
        }
        assert!(bucket.take(20, much_later).is_err());
    }

    #[test]
    fn the_client_is_warned_once_per_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(1, t0);
        bucket.take(1, t0).unwrap();
        bucket.take(1, t0).unwrap();
        assert!(bucket.take(1, t0).is_err());
        assert!(bucket.warn_once());
        assert!(!bucket.warn_once());
        // Half refilled: still the same burst.
        let t1 = t0 + Duration::from_secs(1);
        bucket.take(1, t1).unwrap();
        assert!(bucket.take(1, t1).is_err());
        assert!(!bucket.warn_once());
        // Full again: a new burst is warned about again.
        let t2 = t1 + Duration::from_secs(5);
        bucket.take(1, t2).unwrap();
        assert!(bucket.warn_once());
    }
}
