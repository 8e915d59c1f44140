//! The client side of WebSocket (RFC 6455) for the bench: the upgrade request and the
//! check of the server's `101`, masked text frames out, the server's unmasked frames in.
//!
//! The server's codec ([`crate::framing::websocket`]) reads client frames; this is its
//! mirror image, pure like it: bytes in, what they hold out, "incomplete" as its own
//! outcome. The server never fragments a message and never pings, so a fragment is an
//! error here and a ping is ignored.
//!
//! Two shortcuts a load tester may take and a browser may not: the key and the mask come
//! from a cheap seeded generator, not a CSPRNG, and a connection masks every frame with
//! the same mask. Masking only stops a hostile page's script from making its bytes look
//! like requests to a proxy it shares with others; the bench runs no such script, and a
//! fresh mask per frame would add a generator step per message to the load it measures.
//! The server unmasks every byte all the same, as it does for a browser.

use crate::framing::{websocket::CLOSE, Decoded};
use crate::http::{accept_key, MAX_HEAD};
use base64::Engine;

/// Random bytes in a `Sec-WebSocket-Key` (RFC 6455, 4.1).
const KEY_BYTES: usize = 16;
/// The status that accepts an upgrade.
const SWITCHING_PROTOCOLS: u16 = 101;
/// First header byte: this frame ends its message.
const FIN: u8 = 0x80;
/// Second header byte: a mask follows the length.
const MASKED: u8 = 0x80;
/// Opcodes the bench tells apart.
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

/// A connection's `Sec-WebSocket-Key` and frame mask, drawn from `seed`.
pub fn key_and_mask(seed: u64) -> (String, [u8; 4]) {
    let mut state = seed;
    let mut raw = [0u8; KEY_BYTES + 4];
    for chunk in raw.chunks_mut(8) {
        let word = splitmix64(&mut state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let key = base64::engine::general_purpose::STANDARD.encode(&raw[..KEY_BYTES]);
    let mask = [raw[16], raw[17], raw[18], raw[19]];
    (key, mask)
}

/// One step of SplitMix64: well mixed, one multiply-xorshift chain per word.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Appends the request that upgrades a connection to `host` into a WebSocket chat client.
pub fn upgrade_request(host: &str, key: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// Reads the server's answer to the upgrade sent with `key` from the start of `input`:
/// `Ok(Some(used))` once its whole head has arrived and accepts the upgrade (frames
/// start at `used`), `Ok(None)` while the head is incomplete.
///
/// # Errors
/// One line saying why the upgrade failed: the answer is not HTTP, has another status
/// (named), lacks `Upgrade: websocket`, or proves the wrong key.
pub fn read_upgrade_response(input: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(input) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if input.len() <= MAX_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(format!(
                "the answer to the WebSocket upgrade is over {MAX_HEAD} bytes"
            ))
        }
        Err(e) => {
            return Err(format!(
                "the server did not answer the WebSocket upgrade with HTTP ({e}): does it speak WebSocket?"
            ))
        }
    };
    let status = response.code.unwrap_or_default();
    if status != SWITCHING_PROTOCOLS {
        let reason = response.reason.unwrap_or_default();
        return Err(format!(
            "the server refused the WebSocket upgrade: {status} {reason}"
        ));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("the server's 101 has no 'Upgrade: websocket'".to_string());
    }
    match header("Sec-WebSocket-Accept") {
        Some(accept) if accept == accept_key(key) => Ok(Some(used)),
        other => Err(format!(
            "the server's 101 has the wrong Sec-WebSocket-Accept: {other:?}"
        )),
    }
}

/// Appends `text` as one masked text frame, the whole message (FIN set), to `out`.
pub fn encode_masked_text(text: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(FIN | TEXT);
    match text.len() {
        len @ 0..=125 => out.push(MASKED | len as u8),
        len @ 126..=0xffff => {
            out.push(MASKED | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(MASKED | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(text);
    for (byte, m) in out[start..].iter_mut().zip(mask.iter().cycle()) {
        *byte ^= m;
    }
}

/// Decodes the server frame at the start of `input`: a text message's payload
/// ([`Decoded::Message`], borrowed from `input`), [`Decoded::Nothing`] for a frame that
/// carries nothing to the bench (ping, pong, empty text), or [`Decoded::Incomplete`]
/// (0 bytes used) until the whole frame has arrived.
///
/// # Errors
/// One line for what ends the connection: a close frame (with its code and reason), a
/// frame over `limit` bytes, and what mio-chat never sends (masked, fragmented or
/// binary frames, reserved bits or opcodes).
pub fn decode_server_frame(input: &[u8], limit: usize) -> Result<(Decoded<'_>, usize), String> {
    let Some((first, header_len, payload_len)) = parse_header(input)? else {
        return Ok((Decoded::Incomplete, 0));
    };
    if payload_len > limit as u64 {
        return Err(format!("the server announced a {payload_len}-byte frame"));
    }
    let end = header_len + payload_len as usize;
    let Some(payload) = input.get(header_len..end) else {
        return Ok((Decoded::Incomplete, 0));
    };
    let decoded = match (first & FIN != 0, first & 0x0f) {
        (true, TEXT) if payload.is_empty() => Decoded::Nothing,
        (true, TEXT) => Decoded::Message(payload),
        (true, PING | PONG) => Decoded::Nothing,
        (_, CLOSE) => return Err(close_reason(payload)),
        (_, TEXT | CONTINUATION) => return Err("the server fragmented a message".to_string()),
        (_, opcode) => return Err(format!("the server sent a frame with opcode {opcode:#x}")),
    };
    Ok((decoded, end))
}

/// A server frame's first byte, header length and payload length, once the header is
/// all there.
fn parse_header(input: &[u8]) -> Result<Option<(u8, usize, u64)>, String> {
    let [first, second, ..] = *input else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err("the server set reserved bits in a frame".to_string());
    }
    if second & MASKED != 0 {
        return Err("the server masked a frame (servers must not)".to_string());
    }
    let (header_len, payload_len) = match second & 0x7f {
        126 => match input.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match input.get(2..10).and_then(|b| b.try_into().ok()) {
            Some(b) => (10, u64::from_be_bytes(b)),
            None => return Ok(None),
        },
        short => (2, u64::from(short)),
    };
    Ok(Some((first, header_len, payload_len)))
}

/// What a close frame's payload says: `the server closed the WebSocket: 1008 too slow`.
fn close_reason(payload: &[u8]) -> String {
    match payload {
        [a, b, reason @ ..] => format!(
            "the server closed the WebSocket: {} {}",
            u16::from_be_bytes([*a, *b]),
            String::from_utf8_lossy(reason)
        ),
        _ => "the server closed the WebSocket".to_string(),
    }
}

#[cfg(test)]
mod tests;
