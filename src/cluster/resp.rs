//! RESP2, the protocol Redis speaks: commands out as bytes, replies and pub/sub messages in
//! as [`Value`]s.
//!
//! The codec never touches a socket, so the Redis link can run on the chat server's own
//! mio loop (non-blocking, no client crate, no thread) and be tested byte by byte. As in
//! [`crate::framing`], "not all here yet" is a normal outcome (`Ok(None)`): the caller
//! keeps the bytes and calls again with more appended.
//!
//! Bytes from Redis are trusted no further than a client's: every length is bounded
//! before it is believed (Redis's own limits), nesting is bounded, and an incomplete
//! value allocates nothing, so a corrupt length cannot make us allocate gigabytes.
//!
//! Cost: [`decode`] looks at the first value twice (once to find where it ends, once
//! to build it), so a call is O(bytes of that value), or O(bytes present) while it is
//! incomplete. It keeps no state between calls, so a value arriving in k reads is
//! re-scanned from its start k times: O(k * len) in all, which is fine for replies and
//! messages (a few reads each) and bounded by the caller's read buffer.

use std::fmt;

/// The type byte of a simple string (`+OK\r\n`).
const SIMPLE: u8 = b'+';
/// The type byte of an error (`-ERR unknown command\r\n`).
const ERROR: u8 = b'-';
/// The type byte of an integer (`:42\r\n`).
const INTEGER: u8 = b':';
/// The type byte of a bulk string (`$3\r\nabc\r\n`).
const BULK: u8 = b'$';
/// The type byte of an array (`*2\r\n...`).
const ARRAY: u8 = b'*';
/// What ends every line, and every bulk string's bytes.
const CRLF: &[u8; 2] = b"\r\n";
/// The longest bulk string Redis itself accepts (`proto-max-bulk-len`, 512 MiB).
pub const MAX_BULK_LEN: usize = 512 << 20;
/// The most elements an array may announce (Redis's limit on a multibulk request).
pub const MAX_ARRAY_LEN: usize = 1 << 20;
/// The most arrays one value may have one inside another (a pub/sub message has 1).
pub const MAX_NESTING: usize = 16;
/// The longest integer or length line: `-9223372036854775808` has 20 characters.
const MAX_DECIMAL_LEN: usize = 20;
/// How much of a bad line an error message quotes.
const QUOTED_LEN: usize = 32;

/// A RESP2 value as Redis sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK\r\n`. Bytes that are not UTF-8 are replaced (Redis sends ASCII here).
    Simple(String),
    /// `-ERR unknown command\r\n`, without the `-`. Bytes that are not UTF-8 are replaced.
    Error(String),
    /// `:42\r\n`.
    Integer(i64),
    /// `$3\r\nabc\r\n`; `$-1\r\n` (a missing key) is `None`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n` then two values; `*-1\r\n` (a timed-out blocking pop) is `None`.
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The bytes of a bulk string or a simple string; `None` for anything else,
    /// including a null bulk.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(bytes)) => Some(bytes),
            Value::Simple(text) => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// The number in an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of a (non-null) array.
    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(Some(items)) => Some(items),
            _ => None,
        }
    }

    /// Appends this value to `out` as Redis would send it (for test doubles of Redis).
    ///
    /// The caller guarantees a `Simple` or `Error` holds no `\r` or `\n`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Simple(text) => push_line(out, SIMPLE, text.as_bytes()),
            Value::Error(text) => push_line(out, ERROR, text.as_bytes()),
            Value::Integer(n) => push_header(out, INTEGER, *n),
            Value::Bulk(None) => push_header(out, BULK, -1),
            Value::Bulk(Some(bytes)) => push_bulk(out, bytes),
            Value::Array(None) => push_header(out, ARRAY, -1),
            Value::Array(Some(items)) => {
                push_header(out, ARRAY, items.len() as i64);
                items.iter().for_each(|item| item.encode_into(out));
            }
        }
    }
}

/// Appends one command (an array of bulk strings, as Redis wants it) to `out`:
/// `encode_command(&[b"PUBLISH", b"room", b"hi"], &mut out)`.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    push_header(out, ARRAY, args.len() as i64);
    for arg in args {
        push_bulk(out, arg);
    }
}

/// Why bytes from Redis cannot be a RESP2 value (the connection is then reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESP protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Decodes the first value at the start of `input`.
///
/// Returns `Ok(None)` if it has not all arrived yet (keep the bytes, call again with
/// more appended), or `Ok(Some((value, used)))` where `used` is the value's length in
/// bytes (always at least 3). Never allocates for an incomplete value.
///
/// # Errors
/// [`ProtocolError`] for bytes that cannot be RESP2: an unknown type byte, a bad integer
/// or length, a line ending in a lone `\n` or a `\r` without `\n`, a bulk not followed by
/// `\r\n`, a length over [`MAX_BULK_LEN`] or [`MAX_ARRAY_LEN`], arrays nested deeper than
/// [`MAX_NESTING`]. An error is reported as soon as the bytes present prove it, without
/// waiting for the rest of the value.
pub fn decode(input: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some(used) = value_end(input, 0, 0)? else {
        return Ok(None);
    };
    // `value_end` has checked every header and length in `input[..used]`, so building
    // cannot fail; if it somehow did, the caller resets the connection rather than panic.
    match build_value(&input[..used], 0) {
        Some((value, end)) if end == used => Ok(Some((value, used))),
        _ => Err(ProtocolError(
            "value changed between checking and building".into(),
        )),
    }
}

/// What one header line announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    /// A bulk string's length; `None` for `$-1`.
    Bulk(Option<usize>),
    /// An array's length; `None` for `*-1`.
    Array(Option<usize>),
}

/// Where the value starting at `pos` ends, if all of it is in `input`; `depth` is how
/// many arrays enclose it. Allocates nothing (but an error's message).
fn value_end(input: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, ProtocolError> {
    let Some((header, mut at)) = read_header(input, pos)? else {
        return Ok(None);
    };
    match header {
        Header::Bulk(Some(len)) => bulk_end(input, at, len),
        // Null and empty arrays count too: the limit is simply "16 arrays deep".
        Header::Array(_) if depth == MAX_NESTING => {
            Err(ProtocolError(format!("arrays nested deeper than {MAX_NESTING}")))
        }
        Header::Array(Some(len)) => {
            // Each element uses at least 3 bytes: for a huge `len` the input runs out first.
            for _ in 0..len {
                let Some(end) = value_end(input, at, depth + 1)? else {
                    return Ok(None);
                };
                at = end;
            }
            Ok(Some(at))
        }
        _ => Ok(Some(at)),
    }
}

/// Where a bulk string of `len` bytes starting at `start` ends, past its `\r\n`.
fn bulk_end(input: &[u8], start: usize, len: usize) -> Result<Option<usize>, ProtocolError> {
    let end = start.saturating_add(len);
    let Some(after) = input.get(end..) else {
        return Ok(None);
    };
    let terminator = &after[..after.len().min(CRLF.len())];
    if !CRLF.starts_with(terminator) {
        return Err(ProtocolError(format!(
            "bulk string of {len} bytes not followed by \\r\\n"
        )));
    }
    Ok((terminator.len() == CRLF.len()).then_some(end + CRLF.len()))
}

/// Builds the value starting at `pos`, which [`value_end`] has checked is all there;
/// returns it with where it ends. `None` only if the bytes were not checked.
fn build_value(input: &[u8], pos: usize) -> Option<(Value, usize)> {
    let (header, at) = read_header(input, pos).ok()??;
    let built = match header {
        Header::Simple(line) => (Value::Simple(lossy(line)), at),
        Header::Error(line) => (Value::Error(lossy(line)), at),
        Header::Integer(n) => (Value::Integer(n), at),
        Header::Bulk(None) => (Value::Bulk(None), at),
        Header::Bulk(Some(len)) => {
            let bytes = input.get(at..at + len)?.to_vec();
            (Value::Bulk(Some(bytes)), at + len + CRLF.len())
        }
        Header::Array(None) => (Value::Array(None), at),
        Header::Array(Some(len)) => {
            // Never more slots than bytes present, even were the length unchecked.
            let mut items = Vec::with_capacity(len.min(input.len() - at));
            let mut at = at;
            for _ in 0..len {
                let (item, end) = build_value(input, at)?;
                items.push(item);
                at = end;
            }
            (Value::Array(Some(items)), at)
        }
    };
    Some(built)
}

/// Reads the header line starting at `pos`: its type byte and its line. Returns what it
/// announces and where the line ends, `None` if the line is not all there.
fn read_header(input: &[u8], pos: usize) -> Result<Option<(Header<'_>, usize)>, ProtocolError> {
    let Some(&kind) = input.get(pos) else {
        return Ok(None);
    };
    let limit = match kind {
        SIMPLE | ERROR => usize::MAX,
        INTEGER | BULK | ARRAY => MAX_DECIMAL_LEN,
        other => return Err(ProtocolError(format!("unknown type byte {:?}", other as char))),
    };
    let Some((line, end)) = read_line(input, pos + 1, limit)? else {
        return Ok(None);
    };
    let header = match kind {
        SIMPLE => Header::Simple(line),
        ERROR => Header::Error(line),
        INTEGER => Header::Integer(parse_decimal(line).ok_or_else(|| bad_number("integer", line))?),
        BULK => Header::Bulk(parse_length(line, MAX_BULK_LEN, "bulk length")?),
        _ => Header::Array(parse_length(line, MAX_ARRAY_LEN, "array length")?),
    };
    Ok(Some((header, end)))
}

/// The line starting at `start` (without its `\r\n`) and where the next one starts;
/// `None` if its end has not arrived. Looks at no more than `limit` + 2 bytes.
///
/// # Errors
/// A `\n` without `\r`, a `\r` without `\n`, or more than `limit` bytes before the end.
fn read_line(input: &[u8], start: usize, limit: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = input.get(start..).unwrap_or_default();
    let window = &rest[..rest.len().min(limit.saturating_add(1))];
    let Some(at) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        if rest.len() > limit {
            return Err(ProtocolError(format!(
                "line longer than {limit} bytes: {}",
                quoted(rest)
            )));
        }
        return Ok(None);
    };
    match (rest[at], rest.get(at + 1)) {
        (b'\n', _) => Err(ProtocolError(format!(
            "line ends in \\n without \\r: {}",
            quoted(&rest[..at])
        ))),
        (_, None) => Ok(None),
        (_, Some(b'\n')) => Ok(Some((&rest[..at], start + at + CRLF.len()))),
        (_, Some(_)) => Err(ProtocolError(format!(
            "\\r not followed by \\n: {}",
            quoted(&rest[..at])
        ))),
    }
}

/// A bulk or array length: `None` for `-1` (a null), else at most `max`.
fn parse_length(line: &[u8], max: usize, what: &str) -> Result<Option<usize>, ProtocolError> {
    match parse_decimal(line) {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 && n as u64 <= max as u64 => Ok(Some(n as usize)),
        Some(_) => Err(ProtocolError(format!(
            "{what} {} out of range (-1 to {max})",
            quoted(line)
        ))),
        None => Err(bad_number(what, line)),
    }
}

/// ASCII decimal with an optional `-`, as an `i64`; `None` if it is anything else or
/// does not fit.
fn parse_decimal(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &byte| {
        let digit = i64::from(byte.checked_sub(b'0').filter(|d| *d <= 9)?);
        // Negatives accumulate downwards so that i64::MIN, which has no positive twin, fits.
        if negative {
            n.checked_mul(10)?.checked_sub(digit)
        } else {
            n.checked_mul(10)?.checked_add(digit)
        }
    })
}

fn bad_number(what: &str, line: &[u8]) -> ProtocolError {
    ProtocolError(format!("bad {what} {}", quoted(line)))
}

/// The start of `bytes`, quoted for an error message.
fn quoted(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTED_LEN)];
    let more = if bytes.len() > QUOTED_LEN { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(shown))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Appends `kind`, `text` and `\r\n`.
fn push_line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(CRLF);
}

/// Appends `kind`, `n` in decimal and `\r\n`, without a temporary `String`.
fn push_header(out: &mut Vec<u8>, kind: u8, n: i64) {
    let mut digits = [0u8; MAX_DECIMAL_LEN];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.push(kind);
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(CRLF);
}

/// Appends `bytes` as one bulk string.
fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_header(out, BULK, bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(CRLF);
}

#[cfg(test)]
mod tests;
