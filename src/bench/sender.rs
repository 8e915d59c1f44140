//! A sender's bookkeeping: which sequence number comes next, when it is due, and how
//! many messages have fully left the socket (only those count as sent).

use super::payload::Marker;
use super::wire::Encoder;

/// One sender's progress.
#[derive(Debug, Clone)]
pub struct SendState {
    /// This sender's index, written into every marker.
    pub id: u32,
    /// Messages to send; `None` sends until told to stop.
    pub target: Option<u64>,
    /// Messages composed so far; the next sequence number.
    pub composed: u64,
    /// Messages completely written to the socket.
    pub sent: u64,
    /// `--rate`: nanoseconds between this sender's messages.
    pub interval_ns: Option<u64>,
    /// `--rate`: when the next message is due, ns on the run's clock.
    pub next_due_ns: u64,
    /// Latest a paced message was composed after its due time, ns.
    pub max_lag_ns: u64,
    /// Paced due times have been moved onto the run's clock.
    started: bool,
    /// Stopped composing and everything composed is written (or the socket died).
    pub done: bool,
    /// End offset in the outbox of each message composed since it was last emptied.
    ends: Vec<usize>,
    /// How many of `ends` are written.
    counted: usize,
    payload: Vec<u8>,
}

impl SendState {
    /// A sender that sends `target` messages (or until stopped), paced at one message
    /// every `interval_ns` from `first_due_ns` if given.
    pub fn new(id: u32, target: Option<u64>, interval_ns: Option<u64>, first_due_ns: u64) -> Self {
        SendState {
            id,
            target,
            composed: 0,
            sent: 0,
            interval_ns,
            next_due_ns: first_due_ns,
            max_lag_ns: 0,
            started: false,
            done: false,
            ends: Vec::new(),
            counted: 0,
            payload: Vec::new(),
        }
    }

    /// Sending starts at `start_ns`: paced due times, given relative to the start,
    /// become times on the run's clock. Only the first call counts.
    pub fn start_at(&mut self, start_ns: u64) {
        if !std::mem::replace(&mut self.started, true) {
            self.next_due_ns += start_ns;
        }
    }

    /// True while there are messages left to compose.
    pub fn has_more(&self) -> bool {
        self.target.is_none_or(|t| self.composed < t)
    }

    /// Composes up to `max` messages due at `now_ns` (all of them, unpaced) onto `out`,
    /// each stamped with `now_ns`; returns how many.
    pub fn compose(
        &mut self,
        now_ns: u64,
        size: usize,
        encoder: Encoder,
        max: usize,
        out: &mut Vec<u8>,
    ) -> usize {
        let mut n = 0;
        while n < max && self.has_more() {
            if let Some(interval) = self.interval_ns {
                if self.next_due_ns > now_ns {
                    break;
                }
                self.max_lag_ns = self.max_lag_ns.max(now_ns - self.next_due_ns);
                self.next_due_ns += interval;
            }
            let marker = Marker {
                sender: self.id,
                seq: self.composed,
                send_ns: now_ns,
            };
            self.payload.clear();
            marker.encode_into(size, &mut self.payload);
            encoder.encode_into(&self.payload, out);
            self.ends.push(out.len());
            self.composed += 1;
            n += 1;
        }
        n
    }

    /// The outbox has been written up to `written` bytes: count the whole messages.
    pub fn count_written(&mut self, written: usize) {
        while self.counted < self.ends.len() && self.ends[self.counted] <= written {
            self.counted += 1;
            self.sent += 1;
        }
    }

    /// The outbox was emptied and will be refilled from offset 0.
    pub fn outbox_emptied(&mut self) {
        self.ends.clear();
        self.counted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{Decoded, Decoder, Framing};

    #[test]
    fn only_fully_written_messages_count_as_sent() {
        let mut s = SendState::new(1, Some(3), None, 0);
        let mut out = Vec::new();
        assert_eq!(s.compose(7, 32, Encoder::Frames, 10, &mut out), 3);
        assert_eq!(out.len(), 3 * 36);
        s.count_written(36 + 35);
        assert_eq!(s.sent, 1);
        s.count_written(out.len());
        assert_eq!((s.sent, s.has_more()), (3, false));
    }

    #[test]
    fn composed_messages_decode_to_markers_in_sequence() {
        let mut s = SendState::new(2, None, None, 0);
        let mut out = Vec::new();
        s.compose(99, 64, Encoder::Lines, 2, &mut out);
        let mut decoder = Decoder::new(Framing::Lines, 1000);
        let (Decoded::Message(first), used) = decoder.decode(&out).unwrap() else {
            panic!()
        };
        assert_eq!(first.len(), 64);
        assert_eq!(
            Marker::find_in(first).map(|m| (m.sender, m.seq, m.send_ns)),
            Some((2, 0, 99))
        );
        let (Decoded::Message(second), _) = decoder.decode(&out[used..]).unwrap() else {
            panic!()
        };
        assert_eq!(Marker::find_in(second).map(|m| m.seq), Some(1));
    }

    #[test]
    fn a_paced_sender_composes_only_what_is_due() {
        let mut s = SendState::new(0, Some(100), Some(10), 5);
        let mut out = Vec::new();
        assert_eq!(s.compose(4, 16, Encoder::Frames, 100, &mut out), 0);
        assert_eq!(s.compose(26, 16, Encoder::Frames, 100, &mut out), 3);
        assert_eq!((s.next_due_ns, s.max_lag_ns), (35, 21));
    }
}
