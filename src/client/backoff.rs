//! How long to wait before the next reconnect attempt: 0.5 s doubling up to 30 s, with
//! jitter so that many clients dropped by one server restart do not return in lockstep.

use std::time::Duration;

/// The wait before the first retry.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between retries.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Jitter takes off up to this fraction of a delay, never adds: delays stay within bounds.
const JITTER: f64 = 0.25;

/// The retry schedule of one client; [`Backoff::reset`] once a connection succeeds.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The un-jittered delay the next call returns.
    base: Duration,
    rng: XorShift,
}

impl Backoff {
    /// A schedule whose jitter is seeded with `seed` (any value; 0 is fine).
    pub fn new(seed: u64) -> Self {
        Backoff {
            base: FIRST_DELAY,
            rng: XorShift::new(seed),
        }
    }

    /// A schedule seeded from the clock and the process id, so clients started together
    /// still spread out.
    pub fn seeded_from_environment() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Backoff::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// The delay before the next attempt: in `(0.75 * base, base]`, where `base` starts at
    /// [`FIRST_DELAY`] and doubles after each call up to [`MAX_DELAY`].
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base;
        self.base = (base * 2).min(MAX_DELAY);
        base.mul_f64(1.0 - JITTER * self.rng.next_fraction())
    }

    /// Starts again from [`FIRST_DELAY`].
    pub fn reset(&mut self) {
        self.base = FIRST_DELAY;
    }
}

/// Marsaglia's xorshift64: plenty for jitter, and no crate needed.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point; any other constant would do.
        XorShift(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// A number in `[0, 1)`.
    fn next_fraction(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // The top 53 bits fill an f64 mantissa exactly.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases() -> impl Iterator<Item = Duration> {
        let mut base = FIRST_DELAY;
        std::iter::from_fn(move || {
            let now = base;
            base = (base * 2).min(MAX_DELAY);
            Some(now)
        })
    }

    #[test]
    fn delays_double_from_half_a_second_up_to_thirty_within_the_jitter_bounds() {
        for seed in [0, 1, 42, u64::MAX, 0xdead_beef] {
            let mut backoff = Backoff::new(seed);
            for (attempt, base) in bases().take(20).enumerate() {
                let delay = backoff.next_delay();
                assert!(
                    delay <= base,
                    "seed {seed} attempt {attempt}: {delay:?} > {base:?}"
                );
                assert!(
                    delay > base.mul_f64(0.75),
                    "seed {seed} attempt {attempt}: {delay:?} too short"
                );
            }
        }
    }

    #[test]
    fn the_schedule_is_capped_at_thirty_seconds() {
        let expected: Vec<u64> = vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000];
        let got: Vec<u64> = bases().take(8).map(|d| d.as_millis() as u64).collect();
        assert_eq!(got, expected);
        let mut backoff = Backoff::new(7);
        let last = (0..50).map(|_| backoff.next_delay()).last().unwrap();
        assert!(last <= MAX_DELAY && last > MAX_DELAY.mul_f64(0.75));
    }

    #[test]
    fn reset_starts_again_from_the_first_delay() {
        let mut backoff = Backoff::new(3);
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_DELAY);
    }

    #[test]
    fn jitter_actually_varies() {
        let mut backoff = Backoff::new(99);
        let delays: Vec<Duration> = (0..10)
            .map(|_| {
                backoff.reset();
                backoff.next_delay()
            })
            .collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    }
}
