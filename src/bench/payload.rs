//! The bench payload: who sent a message, its sequence number and when it was sent.
//!
//! A payload is `#B|<sender>|<seq>|<send_ns>|` padded with `x` to the requested size.
//! The server prefixes chat lines with `nick: `, so receivers look for the marker
//! anywhere in a message; the `#B|` opening and three `|`-terminated decimal fields make
//! it unlikely that ordinary chat text (welcome, join notices) parses by accident.

/// Opens every marker.
pub const MARKER_START: &[u8] = b"#B|";
/// Pads a payload up to the requested size.
const PAD: u8 = b'x';
/// Ends each field of the marker.
const FIELD_END: u8 = b'|';
/// Digits in the largest `u64`; a longer field is garbage, not a number.
const MAX_DIGITS: usize = 20;

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Index of the sending connection, `0..senders`.
    pub sender: u32,
    /// Per-sender sequence number, from 0.
    pub seq: u64,
    /// Send time, nanoseconds since the run's shared clock started.
    pub send_ns: u64,
}

impl Marker {
    /// Appends this marker, padded with `x` to `size` bytes, to `out`.
    ///
    /// A `size` smaller than the marker gives the bare marker: the fields are never cut.
    pub fn encode_into(&self, size: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MARKER_START);
        push_decimal(self.sender as u64, out);
        out.push(FIELD_END);
        push_decimal(self.seq, out);
        out.push(FIELD_END);
        push_decimal(self.send_ns, out);
        out.push(FIELD_END);
        let written = out.len() - start;
        if written < size {
            out.resize(start + size, PAD);
        }
    }

    /// Finds and parses the first well-formed marker anywhere in `message`.
    ///
    /// Returns `None` for messages without one (server notices, chat from elsewhere)
    /// and for damaged markers; never panics on any input.
    pub fn find_in(message: &[u8]) -> Option<Marker> {
        let mut from = 0;
        while let Some(at) = find(&message[from..], MARKER_START) {
            let fields = &message[from + at + MARKER_START.len()..];
            if let Some(marker) = parse_fields(fields) {
                return Some(marker);
            }
            from += at + 1;
        }
        None
    }
}

/// The longest a marker can be, so callers can tell when `--size` pads nothing.
pub const MAX_MARKER_LEN: usize = MARKER_START.len() + 10 + 2 * MAX_DIGITS + 3;

fn parse_fields(input: &[u8]) -> Option<Marker> {
    let (sender, rest) = take_decimal(input)?;
    let (seq, rest) = take_decimal(rest)?;
    let (send_ns, _) = take_decimal(rest)?;
    Some(Marker {
        sender: u32::try_from(sender).ok()?,
        seq,
        send_ns,
    })
}

/// Reads `<digits>|` from the start of `input`; returns the number and what follows.
fn take_decimal(input: &[u8]) -> Option<(u64, &[u8])> {
    let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_DIGITS || input.get(digits) != Some(&FIELD_END) {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &input[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((value, &input[digits + 1..]))
}

fn push_decimal(mut value: u64, out: &mut Vec<u8>) {
    // Digits are produced backwards into a stack buffer: no allocation, no formatter.
    let mut buf = [0u8; MAX_DIGITS];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // The first byte is rare in chat text, so a byte scan then a compare is enough.
    let first = needle[0];
    let mut from = 0;
    while let Some(pos) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + pos;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(marker: Marker, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        marker.encode_into(size, &mut out);
        out
    }

    const M: Marker = Marker {
        sender: 3,
        seq: 41,
        send_ns: 123_456_789,
    };

    #[test]
    fn a_marker_is_padded_to_the_requested_size() {
        assert_eq!(encoded(M, 32), b"#B|3|41|123456789|xxxxxxxxxxxxxx");
    }

    #[test]
    fn a_size_below_the_marker_keeps_every_field() {
        assert_eq!(encoded(M, 4), b"#B|3|41|123456789|");
    }

    #[test]
    fn encode_then_find_round_trips_extreme_values() {
        let max = Marker {
            sender: u32::MAX,
            seq: u64::MAX,
            send_ns: u64::MAX,
        };
        for marker in [
            M,
            max,
            Marker {
                sender: 0,
                seq: 0,
                send_ns: 0,
            },
        ] {
            assert_eq!(Marker::find_in(&encoded(marker, 64)), Some(marker));
        }
        assert!(encoded(max, 0).len() <= MAX_MARKER_LEN);
    }

    #[test]
    fn the_marker_is_found_after_a_nick_prefix() {
        let mut line = b"guest5: ".to_vec();
        M.encode_into(64, &mut line);
        assert_eq!(Marker::find_in(&line), Some(M));
    }

    #[test]
    fn a_damaged_marker_before_a_good_one_is_skipped() {
        let mut line = b"#B|x|#B|1|".to_vec();
        M.encode_into(0, &mut line);
        assert_eq!(Marker::find_in(&line), Some(M));
    }

    #[test]
    fn garbage_is_not_a_marker() {
        let cases: &[&[u8]] = &[
            b"",
            b"* welcome to mio-chat, you are guest3; 2 online; /help for commands",
            b"#B|",
            b"#B|1|2|3",
            b"#B|1|2||",
            b"#B||2|3|",
            b"#B|1|-2|3|",
            b"#B|4294967296|2|3|",
            b"#B|1|99999999999999999999|3|",
            b"#B|1|2|000000000000000000001|",
            b"#b|1|2|3|",
        ];
        for case in cases {
            assert_eq!(Marker::find_in(case), None, "{:?}", String::from_utf8_lossy(case));
        }
    }
}
