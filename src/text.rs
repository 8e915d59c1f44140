//! Text cleaning: what a client sends becomes text that is safe to show on anyone's screen.
//!
//! Relayed text must never forge extra lines on a netcat screen nor carry terminal
//! escapes, so every control character (C0, DEL and C1) except tab becomes a space, and
//! bytes that are not UTF-8 become U+FFFD instead of being dropped.

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

fn clean_char(c: char) -> char {
    if c.is_control() && c != '\t' {
        ' '
    } else {
        c
    }
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
