//! `--cluster redis://HOST:PORT[/DB]`.

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
    /// The address as given, for messages.
    pub shown: String,
}

impl fmt::Display for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Parses `redis://HOST[:PORT][/DB]` and resolves HOST.
///
/// # Errors
/// A message saying what is wrong with the address, for the command line.
pub fn parse(url: &str) -> Result<RedisAddress, String> {
    let (host_port, db) = split(url)?;
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| format!("--cluster {url}: cannot resolve {host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("--cluster {url}: {host_port} has no address"))?;
    Ok(RedisAddress {
        addr,
        db,
        shown: url.to_string(),
    })
}

/// `redis://HOST[:PORT][/DB]` as `("HOST:PORT", DB)`, without resolving.
fn split(url: &str) -> Result<(String, u32), String> {
    let bad = |why: &str| format!("--cluster {url}: {why} (expected redis://HOST:PORT[/DB])");
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("not a redis:// address"))?;
    let (authority, db) = match rest.split_once('/') {
        Some((authority, "")) => (authority, 0),
        Some((authority, db)) => (
            authority,
            db.parse().map_err(|_| bad("the database is not a number"))?,
        ),
        None => (rest, 0),
    };
    if authority.contains('@') {
        return Err(bad("passwords in the address are not supported"));
    }
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    // An IPv6 host is bracketed: [::1]:6379.
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        let (_, port) = authority.rsplit_once(':').unwrap_or_default();
        port.parse::<u16>().map_err(|_| bad("the port is not a number"))?;
        Ok((authority.to_string(), db))
    } else {
        Ok((format!("{authority}:{DEFAULT_PORT}"), db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_port_and_database() {
        assert_eq!(split("redis://127.0.0.1:7000"), Ok(("127.0.0.1:7000".into(), 0)));
        assert_eq!(
            split("redis://127.0.0.1:7000/3"),
            Ok(("127.0.0.1:7000".into(), 3))
        );
        assert_eq!(split("redis://localhost/"), Ok(("localhost:6379".into(), 0)));
        assert_eq!(split("redis://[::1]:7000/1"), Ok(("[::1]:7000".into(), 1)));
        assert_eq!(split("redis://[::1]"), Ok(("[::1]:6379".into(), 0)));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (url, why) in [
            ("127.0.0.1:6379", "not a redis:// address"),
            ("redis://", "no host"),
            ("redis://h:port", "the port is not a number"),
            ("redis://h:1/x", "the database is not a number"),
            ("redis://user:pw@h:1", "passwords"),
        ] {
            let err = split(url).unwrap_err();
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
