//! Deliveries per second while a run sends and drains, one point per second, for the
//! throughput panel of `--plot`: an average over the whole run hides a server that
//! stalls for a second and then catches up.
//!
//! The coordinator feeds it the shared delivery counter as often as it looks at it; the
//! timeline cuts whole seconds from the start of sending, and the last, shorter interval
//! when the run ends.

/// Nanoseconds in one interval.
const INTERVAL_NS: u64 = 1_000_000_000;
/// A last interval shorter than this is dropped: a rate over a few milliseconds says
/// more about when the run happened to end than about the server.
const MIN_LAST_NS: u64 = 100_000_000;

/// Deliveries per second over one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    /// Seconds from the start of sending to the interval's start.
    pub from_s: f64,
    /// Seconds from the start of sending to the interval's end.
    pub to_s: f64,
    /// Deliveries in the interval divided by its length.
    pub per_s: f64,
}

/// Cuts a growing delivery count into per-second rates.
#[derive(Debug, Clone)]
pub struct Timeline {
    start_ns: u64,
    last_ns: u64,
    last_count: u64,
    points: Vec<RatePoint>,
}

impl Timeline {
    /// A timeline whose time 0 is `start_ns`, when the count was 0.
    pub fn new(start_ns: u64) -> Self {
        Timeline {
            start_ns,
            last_ns: start_ns,
            last_count: 0,
            points: Vec::new(),
        }
    }

    /// The count was `count` at `now_ns`: closes an interval if a second has passed.
    pub fn observe(&mut self, now_ns: u64, count: u64) {
        if now_ns.saturating_sub(self.last_ns) >= INTERVAL_NS {
            self.close_interval(now_ns, count);
        }
    }

    /// Closes the last interval at `now_ns` (if it is long enough to mean something, or
    /// the only one) and returns every point.
    pub fn finish(mut self, now_ns: u64, count: u64) -> Vec<RatePoint> {
        let left_ns = now_ns.saturating_sub(self.last_ns);
        if left_ns >= MIN_LAST_NS || (self.points.is_empty() && left_ns > 0) {
            self.close_interval(now_ns, count);
        }
        self.points
    }

    fn close_interval(&mut self, now_ns: u64, count: u64) {
        let seconds = |ns: u64| (ns - self.start_ns) as f64 / 1e9;
        let length_s = (now_ns - self.last_ns) as f64 / 1e9;
        self.points.push(RatePoint {
            from_s: seconds(self.last_ns),
            to_s: seconds(now_ns),
            per_s: count.saturating_sub(self.last_count) as f64 / length_s,
        });
        (self.last_ns, self.last_count) = (now_ns, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_point_is_cut_once_a_second_has_passed() {
        let mut t = Timeline::new(5_000 * MS);
        t.observe(5_500 * MS, 100);
        t.observe(6_000 * MS, 400);
        t.observe(6_990 * MS, 900);
        let points = t.finish(6_050 * MS, 420);
        assert_eq!(
            points,
            [RatePoint {
                from_s: 0.0,
                to_s: 1.0,
                per_s: 400.0
            }]
        );
    }

    #[test]
    fn the_rate_is_over_the_real_interval_length() {
        let mut t = Timeline::new(0);
        t.observe(1_250 * MS, 500);
        assert_eq!(t.finish(1_250 * MS, 500)[0].per_s, 400.0);
    }

    #[test]
    fn the_last_partial_second_counts_when_long_enough() {
        let mut t = Timeline::new(0);
        t.observe(1_000 * MS, 1000);
        let points = t.finish(1_500 * MS, 1600);
        assert_eq!(points.len(), 2);
        assert_eq!(
            (points[1].from_s, points[1].to_s, points[1].per_s),
            (1.0, 1.5, 1200.0)
        );
    }

    #[test]
    fn a_short_tail_after_whole_seconds_is_dropped() {
        let mut t = Timeline::new(0);
        t.observe(1_000 * MS, 1000);
        assert_eq!(t.finish(1_050 * MS, 1010).len(), 1);
    }

    #[test]
    fn a_run_shorter_than_a_second_still_has_its_one_point() {
        let points = Timeline::new(0).finish(50 * MS, 10);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].per_s, 200.0);
        assert!(Timeline::new(0).finish(0, 0).is_empty());
    }
}
