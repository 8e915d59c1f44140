//! One receiver's view of every sender's sequence: what arrived in order, what skipped
//! ahead, what came late or twice.
//!
//! Per sender the tracker keeps the next expected sequence number and the holes that
//! gaps left behind. A number at or past the expected one is in order (a jump leaves a
//! hole); a number below it fills a hole (reordered) or was already seen (duplicated).
//! At the end, `lost = sent - unique` counts both holes never filled and messages that
//! never arrived at all.

use std::ops::Range;

/// Holes remembered per sender. Past this, the oldest is forgotten and its late
/// arrivals count as duplicates: a run this broken has failed either way.
const MAX_HOLES: usize = 1024;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The expected number, or one past it (the skipped ones become a hole).
    InOrder,
    /// Below the expected number, filling a hole a gap left.
    Reordered,
    /// Below the expected number and already seen.
    Duplicated,
}

/// Counts over deliveries; sums across receivers with [`Tally::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages with a valid marker (every arrival, duplicates included).
    pub deliveries: u64,
    /// Arrivals at or past the expected number.
    pub in_order: u64,
    /// Times a sequence jumped forward.
    pub gaps: u64,
    /// Late arrivals that filled a hole.
    pub reordered: u64,
    /// Arrivals already seen.
    pub duplicated: u64,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        self.deliveries += other.deliveries;
        self.in_order += other.in_order;
        self.gaps += other.gaps;
        self.reordered += other.reordered;
        self.duplicated += other.duplicated;
    }

    /// Distinct messages received: each counted once however often it came.
    pub fn unique(&self) -> u64 {
        self.in_order + self.reordered
    }
}

#[derive(Debug, Clone, Default)]
struct SenderTrack {
    next: u64,
    unique: u64,
    holes: Vec<Range<u64>>,
}

/// One receiver's sequence checker for `senders` senders.
#[derive(Debug, Clone)]
pub struct Tracker {
    senders: Vec<SenderTrack>,
    tally: Tally,
}

impl Tracker {
    /// A tracker expecting sequence 0 from each of `senders` senders.
    pub fn new(senders: usize) -> Self {
        Tracker {
            senders: vec![SenderTrack::default(); senders],
            tally: Tally::default(),
        }
    }

    /// Records that `seq` from `sender` arrived; `None` if there is no such sender.
    pub fn record(&mut self, sender: usize, seq: u64) -> Option<Arrival> {
        let track = self.senders.get_mut(sender)?;
        self.tally.deliveries += 1;
        let arrival = if seq >= track.next {
            if seq > track.next {
                self.tally.gaps += 1;
                if track.holes.len() == MAX_HOLES {
                    track.holes.remove(0);
                }
                track.holes.push(track.next..seq);
            }
            track.next = seq + 1;
            self.tally.in_order += 1;
            Arrival::InOrder
        } else if fill_hole(&mut track.holes, seq) {
            self.tally.reordered += 1;
            Arrival::Reordered
        } else {
            self.tally.duplicated += 1;
            Arrival::Duplicated
        };
        if arrival != Arrival::Duplicated {
            track.unique += 1;
        }
        Some(arrival)
    }

    /// True once every one of `sent[s]` messages from each sender `s` has arrived.
    pub fn has_all(&self, sent: &[u64]) -> bool {
        self.senders.iter().zip(sent).all(|(t, &n)| t.unique >= n)
    }

    /// Messages of `sent` (per sender) that never arrived here.
    pub fn lost(&self, sent: &[u64]) -> u64 {
        self.senders
            .iter()
            .zip(sent)
            .map(|(t, &n)| n.saturating_sub(t.unique))
            .sum()
    }

    /// The counts so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }
}

/// Removes `seq` from the hole holding it; false if no hole does.
fn fill_hole(holes: &mut Vec<Range<u64>>, seq: u64) -> bool {
    let Some(i) = holes.iter().rposition(|h| h.contains(&seq)) else {
        return false;
    };
    let hole = holes[i].clone();
    match (seq == hole.start, seq + 1 == hole.end) {
        (true, true) => {
            holes.remove(i);
        }
        (true, false) => holes[i].start = seq + 1,
        (false, true) => holes[i].end = seq,
        (false, false) => {
            holes[i].end = seq;
            holes.insert(i + 1, seq + 1..hole.end);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u64]) -> Tracker {
        let mut t = Tracker::new(1);
        for &s in seqs {
            t.record(0, s).unwrap();
        }
        t
    }

    #[test]
    fn an_ordered_stream_is_complete() {
        let t = feed(&[0, 1, 2, 3]);
        assert_eq!(t.tally().in_order, 4);
        assert_eq!((t.lost(&[4]), t.has_all(&[4])), (0, true));
    }

    #[test]
    fn a_gap_counts_the_skipped_messages_as_lost() {
        let t = feed(&[0, 3, 4]);
        assert_eq!(t.tally().gaps, 1);
        assert_eq!(t.lost(&[5]), 2);
        assert!(!t.has_all(&[5]));
    }

    #[test]
    fn messages_missing_at_the_end_are_lost() {
        assert_eq!(feed(&[0, 1]).lost(&[5]), 3);
        assert_eq!(feed(&[]).lost(&[2]), 2);
    }

    #[test]
    fn a_late_message_fills_its_hole_and_is_not_lost() {
        let t = feed(&[0, 2, 1, 3]);
        assert_eq!(t.tally().reordered, 1);
        assert_eq!(t.tally().duplicated, 0);
        assert_eq!(t.lost(&[4]), 0);
    }

    #[test]
    fn holes_split_when_filled_in_the_middle() {
        let t = feed(&[0, 10, 5, 1, 9, 7, 7]);
        assert_eq!(t.tally().reordered, 4);
        assert_eq!(t.tally().duplicated, 1);
        assert_eq!(t.lost(&[11]), 11 - 6);
    }

    #[test]
    fn a_repeat_is_a_duplicate() {
        let t = feed(&[0, 1, 1, 0, 2]);
        let tally = t.tally();
        assert_eq!((tally.deliveries, tally.in_order, tally.duplicated), (5, 3, 2));
        assert_eq!(t.lost(&[3]), 0);
    }

    #[test]
    fn an_unknown_sender_is_refused() {
        let mut t = Tracker::new(2);
        assert_eq!(t.record(2, 0), None);
        assert_eq!(t.tally().deliveries, 0);
    }

    #[test]
    fn senders_are_tracked_separately() {
        let mut t = Tracker::new(2);
        for (s, q) in [(0, 0), (1, 0), (1, 1), (0, 1)] {
            assert_eq!(t.record(s, q), Some(Arrival::InOrder));
        }
        assert_eq!(t.lost(&[2, 3]), 1);
    }

    #[test]
    fn tallies_add_up() {
        let mut sum = *feed(&[0, 2]).tally();
        sum.add(feed(&[1, 1]).tally());
        assert_eq!(
            (sum.deliveries, sum.gaps, sum.duplicated, sum.unique()),
            (4, 2, 1, 3)
        );
    }
}
