//! HTTP/1.1 on the chat port: the web page, and the upgrade that makes a browser a
//! WebSocket chat client. Pure: a request's bytes in, what to answer out.
//!
//! Only what the page needs is served: `GET /` (the page), `GET /app.js` and
//! `GET /style.css` (its script and style, separate files because the page's
//! Content-Security-Policy forbids inline ones), and `GET /ws` with a WebSocket upgrade.
//! Every other answer closes the connection. Requests are parsed by `httparse`.

use base64::Engine;

/// Longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest method token looked for at the start of a connection.
const MAX_METHOD: usize = 16;
/// RFC 6455's fixed key suffix for `Sec-WebSocket-Accept`.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/style.css");

/// Whether a connection's first bytes are an HTTP request line: `Some(true)` once a
/// whole line of the form `METHOD TARGET HTTP/1.x` has arrived, `Some(false)` as soon as
/// the bytes cannot begin one, `None` while they still could (wait for more).
pub fn is_request_line(first: &[u8]) -> Option<bool> {
    let line = match first.iter().position(|&b| b == b'\n') {
        Some(end) => &first[..end],
        None if first.len() >= MAX_HEAD => return Some(false),
        None => first,
    };
    let complete = line.len() < first.len();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let method_ok = |m: &[u8]| m.len() <= MAX_METHOD && m.iter().all(u8::is_ascii_uppercase);
    if !method_ok(method) || (method.is_empty() && !line.is_empty()) {
        return Some(false);
    }
    if !complete {
        return None; // a prefix of a method, or of the rest of the line: wait
    }
    let target = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    let whole = !method.is_empty()
        && !target.is_empty()
        && matches!(version, b"HTTP/1.1" | b"HTTP/1.0")
        && parts.next().is_none();
    Some(whole)
}

/// Who may open a chat socket from a page (besides the server's own host).
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// `--allowed-origin` values, as `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The request head has not all arrived: wait.
    Incomplete,
    /// Send this response, then close.
    Respond(Vec<u8>),
    /// Send this `101 Switching Protocols` response; the connection is a WebSocket chat
    /// client from the request's end (`used` bytes) on.
    Upgrade {
        /// The response.
        response: Vec<u8>,
        /// Bytes of the request head.
        used: usize,
    },
}

/// The answer to the request at the start of `bytes`.
pub fn answer(bytes: &[u8], site: &Site) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(bytes) {
        Ok(httparse::Status::Complete(used)) if used <= MAX_HEAD => used,
        Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => return Answer::Incomplete,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return error(431, "Request Header Fields Too Large"),
        Err(_) => return error(400, "Bad Request"),
    };
    if request.method != Some("GET") {
        return Answer::Respond(response(
            405,
            "Method Not Allowed",
            &[("Allow", "GET")],
            "text/plain",
            "405 method not allowed\n",
        ));
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let host = header("Host").filter(|h| is_plain_host(h));
    match request.path.unwrap_or_default() {
        "/" => page(PAGE, "text/html; charset=utf-8", host),
        "/app.js" => page(SCRIPT, "text/javascript; charset=utf-8", host),
        "/style.css" => page(STYLE, "text/css; charset=utf-8", host),
        "/ws" => upgrade(&header, host, site, used),
        _ => error(404, "Not Found"),
    }
}

/// `GET /ws`: a valid WebSocket upgrade from an allowed origin becomes a chat client.
fn upgrade<'h>(
    header: &impl Fn(&str) -> Option<&'h str>,
    host: Option<&str>,
    site: &Site,
    used: usize,
) -> Answer {
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let key = header("Sec-WebSocket-Key")
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let (Some(key), true, true, Some("13")) = (
        key,
        has_token("Upgrade", "websocket"),
        has_token("Connection", "upgrade"),
        header("Sec-WebSocket-Version").map(str::trim),
    ) else {
        return error(400, "Bad Request");
    };
    if let Some(origin) = header("Origin") {
        if !origin_allowed(origin, host, site) {
            return error(403, "Forbidden");
        }
    }
    let accept = accept_key(key);
    let mut response =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".to_vec();
    response.extend_from_slice(format!("Sec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes());
    Answer::Upgrade { response, used }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455, 4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

/// A page from a site of its own: the server's host (either scheme), or one listed
/// with `--allowed-origin`. A page elsewhere cannot open a chat socket in a visitor's
/// browser.
fn origin_allowed(origin: &str, host: Option<&str>, site: &Site) -> bool {
    let own = host.is_some_and(|host| {
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    });
    own || site
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
}

/// True for a `Host` header that is safe to repeat in a header: letters, digits, and
/// `.-:[]` (a name or an address, with a port).
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// A file of the page, with the security policy that keeps it to itself.
fn page(body: &str, content_type: &str, host: Option<&str>) -> Answer {
    let sockets = host.map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    let policy = format!("default-src 'self'; connect-src 'self'{sockets}");
    let headers = [
        ("Content-Security-Policy", policy.as_str()),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
    ];
    Answer::Respond(response(200, "OK", &headers, content_type, body))
}

/// What a connection whose request did not arrive in time is sent before its close.
pub fn timeout_response() -> Vec<u8> {
    match error(408, "Request Timeout") {
        Answer::Respond(bytes) => bytes,
        Answer::Incomplete | Answer::Upgrade { .. } => Vec::new(),
    }
}

fn error(status: u16, reason: &str) -> Answer {
    let body = format!("{status} {}\n", reason.to_ascii_lowercase());
    Answer::Respond(response(status, reason, &[], "text/plain; charset=utf-8", &body))
}

/// A whole response that closes the connection.
fn response(status: u16, reason: &str, headers: &[(&str, &str)], content_type: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

#[cfg(test)]
mod tests;
