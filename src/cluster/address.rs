//! `--cluster redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// The default Redis port, when the address names none.
pub const DEFAULT_PORT: u16 = 6379;

/// Where the cluster's Redis is, resolved once at start (the loop never waits for DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddress {
    /// The socket address connected to (and reconnected to).
    pub addr: SocketAddr,
    /// The database the keys live in (`SELECT`).
    pub db: u32,
    /// What `AUTH` sends on each connection, if the address has a password.
    pub auth: Option<Credentials>,
    /// The address as given, its password replaced by `***`, for messages.
    pub shown: String,
}

/// A Redis user (ACL, Redis 6+; `None` is the default user) and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user, or `None` for Redis's default user (`requirepass`).
    pub user: Option<String>,
    /// The password.
    pub password: String,
}

/// Never prints the password: addresses end up in logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

impl fmt::Display for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Parses `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` and resolves HOST. The user and
/// password are percent-decoded (`%40` for `@`, and so on).
///
/// # Errors
/// A message saying what is wrong with the address, for the command line (the
/// password never appears in it).
pub fn parse(url: &str) -> Result<RedisAddress, String> {
    let shown = hide_password(url);
    let Parts { host_port, db, auth } = split(url).map_err(|why| {
        format!("--cluster {shown}: {why} (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])")
    })?;
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| format!("--cluster {shown}: cannot resolve {host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("--cluster {shown}: {host_port} has no address"))?;
    Ok(RedisAddress {
        addr,
        db,
        auth,
        shown,
    })
}

/// An address's parts, not resolved yet.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    host_port: String,
    db: u32,
    auth: Option<Credentials>,
}

/// The address with the password, if any, replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some(rest) = url.strip_prefix("redis://") else {
        return url.to_string();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("redis://{user}:***@{}", &rest[userinfo.len() + 1..])
        }
        None => url.to_string(),
    }
}

/// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` split, without resolving; the error
/// says what is wrong.
fn split(url: &str) -> Result<Parts, &'static str> {
    let rest = url.strip_prefix("redis://").ok_or("not a redis:// address")?;
    let (authority, db) = match rest.split_once('/') {
        Some((authority, "")) => (authority, 0),
        Some((authority, db)) => (authority, db.parse().map_err(|_| "the database is not a number")?),
        None => (rest, 0),
    };
    let (auth, authority) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(credentials(userinfo)?), host),
        None => (None, authority),
    };
    if authority.is_empty() {
        return Err("no host");
    }
    // An IPv6 host is bracketed: [::1]:6379.
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let host_port = if has_port {
        let (_, port) = authority.rsplit_once(':').unwrap_or_default();
        port.parse::<u16>().map_err(|_| "the port is not a number")?;
        authority.to_string()
    } else {
        format!("{authority}:{DEFAULT_PORT}")
    };
    Ok(Parts { host_port, db, auth })
}

/// `[USER]:PASSWORD`, percent-decoded.
fn credentials(userinfo: &str) -> Result<Credentials, &'static str> {
    let (user, password) = userinfo
        .split_once(':')
        .ok_or("a password is written :PASSWORD@ or USER:PASSWORD@")?;
    let password = percent_decode(password).ok_or("the password is not valid percent-encoded UTF-8")?;
    if password.is_empty() {
        return Err("the password is empty");
    }
    let user = percent_decode(user).ok_or("the user is not valid percent-encoded UTF-8")?;
    Ok(Credentials {
        user: Some(user).filter(|u| !u.is_empty()),
        password,
    })
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_port_and_database() {
        let plain = |host_port: &str, db| {
            Ok(Parts {
                host_port: host_port.into(),
                db,
                auth: None,
            })
        };
        assert_eq!(split("redis://127.0.0.1:7000"), plain("127.0.0.1:7000", 0));
        assert_eq!(split("redis://127.0.0.1:7000/3"), plain("127.0.0.1:7000", 3));
        assert_eq!(split("redis://localhost/"), plain("localhost:6379", 0));
        assert_eq!(split("redis://[::1]:7000/1"), plain("[::1]:7000", 1));
        assert_eq!(split("redis://[::1]"), plain("[::1]:6379", 0));
    }

    #[test]
    fn a_password_and_a_user_are_taken_from_the_address_and_hidden_when_shown() {
        let parts = split("redis://:s3cret@h:7000/2").unwrap();
        assert_eq!((parts.host_port.as_str(), parts.db), ("h:7000", 2));
        let auth = parts.auth.unwrap();
        assert_eq!((auth.user, auth.password.as_str()), (None, "s3cret"));
        let auth = split("redis://chat:p%40ss%3Aw%2Fd@h").unwrap().auth.unwrap();
        assert_eq!(auth.user.as_deref(), Some("chat"));
        assert_eq!(auth.password, "p@ss:w/d");
        assert!(!format!("{auth:?}").contains("p@ss"));
        assert_eq!(
            hide_password("redis://chat:p%40ss@h:1/2"),
            "redis://chat:***@h:1/2"
        );
        assert_eq!(hide_password("redis://:pw@h"), "redis://:***@h");
        assert_eq!(hide_password("redis://h:1"), "redis://h:1");
        let shown = parse("redis://:hunter2@127.0.0.1:7001").unwrap().shown;
        assert_eq!(shown, "redis://:***@127.0.0.1:7001");
        let err = parse("redis://:hunter2@127.0.0.1:port").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (url, why) in [
            ("127.0.0.1:6379", "not a redis:// address"),
            ("redis://", "no host"),
            ("redis://h:port", "the port is not a number"),
            ("redis://h:1/x", "the database is not a number"),
            ("redis://pw@h:1", "USER:PASSWORD@"),
            ("redis://user:@h:1", "the password is empty"),
            ("redis://:p%4@h:1", "percent-encoded"),
            ("redis://:pw@", "no host"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn a_literal_address_resolves_to_itself() {
        let a = parse("redis://127.0.0.1:7001/2").unwrap();
        assert_eq!(a.addr, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(a.db, 2);
    }
}
