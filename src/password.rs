//! `--password-file`: the gate a client passes with `/pass SECRET` before it is welcomed.
//!
//! Pure: given the password and what a locked client sent, says what happens. The
//! comparison takes the same time wherever the first difference is, so response times
//! tell an attacker nothing about how much of a guess was right.

/// What a client that has not given the password yet is told, at first and after anything
/// but `/pass`.
pub const REQUIRED: &str = "! password required: /pass PASSWORD";
/// What a wrong `/pass` gets.
pub const WRONG: &str = "! wrong password";
/// Wrong tries after which the connection is closed.
pub const MAX_WRONG: u8 = 3;

/// What a locked client's message comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The right password: welcome it.
    Passed,
    /// A wrong one; `close` once it was the last try.
    Wrong {
        /// Close the connection (after telling it).
        close: bool,
    },
    /// Not `/pass`: tell it a password is required.
    NotAnAttempt,
}

/// Judges `text` (a cleaned message) from a client that has made `tries` wrong tries;
/// counts a wrong one.
pub fn attempt(password: &str, text: &str, tries: &mut u8) -> Attempt {
    let Some(rest) = text.strip_prefix('/') else {
        return Attempt::NotAnAttempt;
    };
    let (command, guess) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !command.eq_ignore_ascii_case("pass") {
        return Attempt::NotAnAttempt;
    }
    if same_secret(guess.trim().as_bytes(), password.as_bytes()) {
        return Attempt::Passed;
    }
    *tries = tries.saturating_add(1);
    Attempt::Wrong {
        close: *tries >= MAX_WRONG,
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..longest {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// The password in a `--password-file`: its first line, without the line ending or
/// spaces at either end (a client's `/pass` argument is trimmed the same way, so such
/// spaces could never be typed).
///
/// # Errors
/// The file is empty or its first line is.
pub fn from_file_contents(contents: &str) -> Result<String, &'static str> {
    let line = contents.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err("the password is empty (its first line is used)");
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_passes_and_three_wrong_ones_close() {
        let mut tries = 0;
        assert_eq!(
            attempt("s3cret", "/pass nope", &mut tries),
            Attempt::Wrong { close: false }
        );
        assert_eq!(
            attempt("s3cret", "/PASS  also-no ", &mut tries),
            Attempt::Wrong { close: false }
        );
        assert_eq!(attempt("s3cret", "/pass s3cret", &mut tries), Attempt::Passed);
        assert_eq!(
            attempt("s3cret", "/pass", &mut tries),
            Attempt::Wrong { close: true }
        );
        assert_eq!(tries, 3);
    }

    #[test]
    fn anything_else_is_not_an_attempt() {
        let mut tries = 0;
        for text in ["hello", "/who", "/passes s3cret", "pass s3cret", "//pass s3cret"] {
            assert_eq!(
                attempt("s3cret", text, &mut tries),
                Attempt::NotAnAttempt,
                "{text}"
            );
        }
        assert_eq!(tries, 0);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(same_secret(b"", b""));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abc\0", b"abc"));
    }

    #[test]
    fn the_file_gives_its_first_line() {
        assert_eq!(from_file_contents("pw\n"), Ok("pw".to_string()));
        assert_eq!(from_file_contents("pw\r\nignored"), Ok("pw".to_string()));
        assert_eq!(from_file_contents(" pw \n"), Ok("pw".to_string()));
        assert!(from_file_contents("   \n").is_err());
        assert!(from_file_contents("").is_err());
        assert!(from_file_contents("\nsecond").is_err());
    }
}
