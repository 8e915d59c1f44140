//! Text cleaning: what a client sends becomes text that is safe to show on anyone's screen.
//!
//! Relayed text must never forge extra lines on a netcat screen nor carry terminal
//! escapes, so every control character (C0, DEL and C1) except tab becomes a space, and
//! bytes that are not UTF-8 become U+FFFD instead of being dropped. The same goes for the
//! characters that let one user reorder or split what others see: the bidirectional
//! formatting controls and the Unicode line and paragraph separators.

use std::borrow::Cow;

/// Appends the cleaned form of `raw` to `out`.
///
/// The output is valid UTF-8 with no control character except `\t`; cleaning is
/// idempotent. Plain printable ASCII, the common case, is copied without a second pass.
pub fn clean_into(raw: &[u8], out: &mut String) {
    if raw.iter().all(|&b| is_plain_ascii(b)) {
        // Every byte is printable ASCII or tab, so the bytes are valid UTF-8 as they are.
        out.push_str(std::str::from_utf8(raw).unwrap_or_default());
        return;
    }
    let decoded = String::from_utf8_lossy(raw);
    out.extend(decoded.chars().map(clean_char));
}

/// Returns the cleaned form of `raw` as a new string (see [`clean_into`]).
pub fn clean(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    clean_into(raw, &mut out);
    out
}

/// True if `text` contains nothing that cleaning would change.
pub fn is_clean(text: &str) -> bool {
    text.chars().all(|c| clean_char(c) == c)
}

/// Telnet's "interpret as command" byte, which starts an in-band command (RFC 854).
const IAC: u8 = 0xff;
/// Subnegotiation begin and end: `IAC SB ... IAC SE`.
const SB: u8 = 0xfa;
const SE: u8 = 0xf0;
/// Option negotiation: `IAC WILL|WONT|DO|DONT option`.
const WILL: u8 = 0xfb;
const DONT: u8 = 0xfe;

/// Removes telnet's in-band commands from a line: a `telnet` client negotiates options
/// (`IAC WILL/WONT/DO/DONT option`, `IAC SB ... IAC SE`, two-byte commands) inside the
/// same byte stream as the text, and none of it is text. `IAC IAC` is a literal 0xFF.
/// Borrowed unchanged when there is no 0xFF (the common case).
pub fn strip_telnet_commands(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&IAC) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        if raw[at] != IAC {
            out.push(raw[at]);
            at += 1;
            continue;
        }
        at += match raw.get(at + 1) {
            Some(&IAC) => {
                out.push(IAC);
                2
            }
            Some(&(WILL..=DONT)) => 3,
            Some(&SB) => subnegotiation_len(&raw[at..]),
            Some(_) => 2,
            None => 1,
        };
    }
    Cow::Owned(out)
}

/// The length of the `IAC SB ... IAC SE` at the start of `bytes` (all of it if unended);
/// `IAC IAC` inside is an escaped 0xFF, not an end.
fn subnegotiation_len(bytes: &[u8]) -> usize {
    let mut at = 2;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (IAC, SE) => return at + 2,
            (IAC, IAC) => at += 2,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Returns the longest prefix of `text` of at most `max` bytes that ends on a character
/// boundary: a cleaned message is cut to `--max-message` (cleaning can make text up to
/// three times longer, one U+FFFD per invalid byte).
pub fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1; // at most 3 steps: a UTF-8 character is at most 4 bytes
    }
    &text[..end]
}

fn clean_char(c: char) -> char {
    if (c.is_control() && c != '\t') || is_layout_control(c) {
        ' '
    } else {
        c
    }
}

/// Characters that change how the text around them is laid out rather than showing
/// anything: bidirectional embeddings, overrides, isolates and marks (which can make one
/// user's text appear to run backwards into the next), and the line and paragraph
/// separators (which some terminals and pages break lines at).
fn is_layout_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

fn is_plain_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || b == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(clean(b"hello, world\twith tab"), "hello, world\twith tab");
    }

    #[test]
    fn line_breaks_and_escapes_become_spaces() {
        assert_eq!(clean(b"a\r\nb"), "a  b");
        assert_eq!(clean(b"\x1b[31mred\x1b[0m"), " [31mred [0m");
        assert_eq!(clean(b"nul\0del\x7f"), "nul del ");
    }

    #[test]
    fn c1_controls_become_spaces() {
        // U+009B is the one-character CSI that some terminals honour.
        assert_eq!(clean("x\u{9b}31m".as_bytes()), "x 31m");
        assert_eq!(clean("\u{85}next".as_bytes()), " next");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(clean(b"ok\xff\xfeok"), "ok\u{fffd}\u{fffd}ok");
        // A multi-byte sequence cut short is replaced, never dropped.
        assert_eq!(clean(b"caf\xc3"), "caf\u{fffd}");
    }

    #[test]
    fn bidi_controls_and_separators_become_spaces() {
        for c in ['\u{061C}', '\u{200E}', '\u{200F}', '\u{2028}', '\u{2029}']
            .into_iter()
            .chain('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}')
        {
            let raw = format!("a{c}b");
            assert_eq!(clean(raw.as_bytes()), "a b", "U+{:04X}", c as u32);
        }
        // Their neighbours are ordinary text and stay.
        for c in [
            '\u{200D}', '\u{2027}', '\u{202F}', '\u{2065}', '\u{206A}', '\u{061B}',
        ] {
            let raw = format!("a{c}b");
            assert_eq!(clean(raw.as_bytes()), raw, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn cut_ends_on_a_character_boundary_at_every_limit() {
        let text = "aé日🙂"; // 1 + 2 + 3 + 4 bytes
        let expected = [
            "",
            "a",
            "a",
            "aé",
            "aé",
            "aé",
            "aé日",
            "aé日",
            "aé日",
            "aé日",
            "aé日🙂",
        ];
        for (max, want) in expected.iter().enumerate() {
            assert_eq!(cut_to(text, max), *want, "max {max}");
        }
        assert_eq!(cut_to(text, 100), text);
    }

    #[test]
    fn invalid_bytes_cleaned_then_cut_fit_the_limit() {
        let cleaned = clean(&[0xff; 10]);
        assert_eq!(cleaned.len(), 30);
        assert_eq!(cut_to(&cleaned, 10), "\u{fffd}".repeat(3));
    }

    #[test]
    fn telnet_commands_are_removed_and_text_kept() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"plain", b"plain"),
            (b"\xff\xfb\x1f\xff\xfd\x03hello", b"hello"), // WILL NAWS, DO SGA
            (b"a\xff\xf1b", b"ab"),                       // NOP
            (b"a\xff\xffb", b"a\xffb"),                   // an escaped 0xFF
            (b"\xff\xfa\x18\x00xterm\xff\xf0hi", b"hi"),  // SB TTYPE IS xterm SE
            (b"\xff\xfa\x18\xff\xff\xff\xf0hi", b"hi"),   // IAC IAC inside SB
            (b"\xff\xfa\x18 unended", b""),
            (b"tail\xff", b"tail"),
            (b"tail\xff\xfb", b"tail"), // a cut option negotiation
        ];
        for (raw, want) in cases {
            assert_eq!(&*strip_telnet_commands(raw), want, "{raw:?}");
        }
        assert!(matches!(strip_telnet_commands(b"no iac"), Cow::Borrowed(_)));
    }

    #[test]
    fn valid_non_ascii_text_is_kept() {
        assert_eq!(clean("grüße, 日本, 🙂".as_bytes()), "grüße, 日本, 🙂");
    }

    #[test]
    fn cleaning_is_idempotent_and_output_is_clean() {
        for raw in [&b"\x00\x01\x1f\x7f"[..], b"\xc2\x9b", b"\xe2\x80", b"tab\there"] {
            let once = clean(raw);
            assert!(is_clean(&once), "{once:?}");
            assert_eq!(clean(once.as_bytes()), once);
        }
    }

    #[test]
    fn clean_into_appends() {
        let mut s = String::from("x: ");
        clean_into(b"y\n", &mut s);
        assert_eq!(s, "x: y ");
    }
}
