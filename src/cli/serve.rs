//! `mio-chat serve`: flags in, a configured [`Server`] running, errors out as one line.

use super::{address, flag, init_logging, options_with, parse_flags, Failure, FlagSpec, Outcome};
use log::info;
use mio_chat::cluster;
use mio_chat::framing::{Framing, DEFAULT_MAX_MESSAGE, MAX_MESSAGE_LIMIT};
use mio_chat::server::cluster::ClusterConfig;
use mio_chat::server::{self, Config, Server};
use mio_chat::{fd_limit, password, tls};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: mio-chat serve [ADDR] [options]\n\n\
Runs the chat server on ADDR (default 127.0.0.1:1234; port 0 picks a free port).\n\
Clients connect with netcat/telnet (lines) or `mio-chat connect` (frames).";

/// The valued flags.
const FLAGS: &[FlagSpec] = &[
    (
        "max-message",
        "BYTES",
        "longest message in bytes (default 65536, at most 16777215)",
    ),
    (
        "framing",
        "MODE",
        "auto (detect per connection, default), frames or lines",
    ),
    (
        "detect-ms",
        "MS",
        "wait this long for a silent client before using lines (default 250)",
    ),
    (
        "handshake-timeout",
        "SECS",
        "close a connection whose framing is still unknown after SECS; 0: never (default 10)",
    ),
    (
        "max-backlog",
        "BYTES",
        "queued output that gets a client dropped as too slow (default 1048576)",
    ),
    ("max-clients", "N", "clients served at once (default 10000)"),
    (
        "stats-interval",
        "SECS",
        "log a line of counters (info level) every SECS",
    ),
    (
        "keepalive",
        "SECS",
        "TCP keepalive after SECS of silence; 0 turns it off (default 60)",
    ),
    (
        "idle-timeout",
        "SECS",
        "close connections that send nothing for SECS (default 0: never)",
    ),
    (
        "zero-copy-min",
        "BYTES",
        "splice a client's output for one loop turn instead of copying it from BYTES on; 0 turns it off (default 16384)",
    ),
    (
        "tls-cert",
        "FILE",
        "PEM certificate chain: connections that start with a TLS record are TLS (with --tls-key)",
    ),
    ("tls-key", "FILE", "PEM private key (PKCS#8, RSA or EC) for --tls-cert"),
    (
        "max-per-address",
        "N",
        "connections from one IP address; 0: no limit (default 32; loopback exempt)",
    ),
    (
        "msg-rate",
        "N",
        "messages per second per client, bursts of 2N; 0: no limit (default 20; loopback exempt)",
    ),
    (
        "announce-limit",
        "N",
        "rooms with more than N members send no join, leave or rename notices (default 200)",
    ),
    (
        "cluster",
        "URL",
        "share rooms, nicks and presence with the other servers on this Redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
    ),
    (
        "node-name",
        "NAME",
        "this server's name in the cluster, unique in it: 1-64 of A-Z a-z 0-9 _ - . : (default HOSTNAME-PID)",
    ),
    (
        "password-file",
        "FILE",
        "clients must send /pass PASSWORD (the file's first line) before they are welcomed",
    ),
];

fn options() -> getopts::Options {
    let mut opts = options_with(FLAGS);
    opts.optflag("", "echo", "send clients their own chat lines back");
    opts.optflag("", "require-tls", "refuse plain connections (needs --tls-cert)");
    opts.optmulti(
        "",
        "allowed-origin",
        "also let pages from ORIGIN (scheme://host[:port]) open a chat socket (repeatable)",
        "ORIGIN",
    );
    opts.optflag(
        "",
        "limit-loopback",
        "apply --max-per-address and --msg-rate to loopback peers too",
    );
    opts
}

/// Runs `mio-chat serve` with its arguments (after the subcommand).
pub fn main(args: &[String]) -> Outcome {
    let Some(matches) = parse_flags(&options(), args, USAGE)? else {
        return Ok(());
    };
    let config = config_from(&matches)?;
    init_logging();
    let server = Server::bind(config.clone())
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", config.addr)))?;
    let bound = server
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("listening address: {e}")))?;
    eprintln!("mio-chat listening on {bound}");
    match fd_limit::raise_to_hard_limit() {
        Ok(limit) => info!("file descriptor limit: {limit}"),
        Err(e) => log::warn!("cannot raise the file descriptor limit: {e}"),
    }
    server
        .run()
        .map_err(|e| Failure::Runtime(format!("event loop failed: {e}")))
}

fn config_from(matches: &getopts::Matches) -> Result<Config, Failure> {
    let mut config = Config::new(resolve(&address(matches, "127.0.0.1:1234")?)?);
    config.max_message = flag(matches, "max-message", DEFAULT_MAX_MESSAGE)?;
    if config.max_message == 0 || config.max_message > MAX_MESSAGE_LIMIT {
        return Err(Failure::Usage(format!(
            "invalid value '{}' for --max-message: must be 1 to {MAX_MESSAGE_LIMIT}",
            config.max_message
        )));
    }
    config.framing = match matches.opt_str("framing").as_deref() {
        None | Some("auto") => None,
        Some("frames") => Some(Framing::Frames),
        Some("lines") => Some(Framing::Lines),
        Some(other) => {
            return Err(Failure::Usage(format!(
                "invalid value '{other}' for --framing: use auto, frames or lines"
            )))
        }
    };
    config.detect = Duration::from_millis(flag(
        matches,
        "detect-ms",
        server::DEFAULT_DETECT.as_millis() as u64,
    )?);
    config.handshake_timeout = seconds(
        matches,
        "handshake-timeout",
        server::DEFAULT_HANDSHAKE_TIMEOUT.as_secs_f64(),
    )?;
    config.echo = matches.opt_present("echo");
    config.max_backlog = flag(matches, "max-backlog", server::DEFAULT_MAX_BACKLOG)?;
    config.max_clients = flag(matches, "max-clients", server::DEFAULT_MAX_CLIENTS)?;
    config.stats_interval = seconds(matches, "stats-interval", 0.0)?;
    config.keepalive = seconds(matches, "keepalive", server::DEFAULT_KEEPALIVE.as_secs_f64())?;
    config.idle_timeout = seconds(matches, "idle-timeout", 0.0)?;
    config.zero_copy_min = flag(matches, "zero-copy-min", server::zero_copy::DEFAULT_ZERO_COPY_MIN)?;
    config.max_per_address = flag(matches, "max-per-address", server::DEFAULT_MAX_PER_ADDRESS)?;
    config.msg_rate = flag(matches, "msg-rate", server::DEFAULT_MSG_RATE)?;
    config.limit_loopback = matches.opt_present("limit-loopback");
    config.site.allowed_origins = matches.opt_strs("allowed-origin");
    config.announce_limit = flag(matches, "announce-limit", mio_chat::chat::DEFAULT_ANNOUNCE_LIMIT)?;
    config.tls = tls_from(matches)?;
    config.require_tls = matches.opt_present("require-tls");
    if config.require_tls && config.tls.is_none() {
        return Err(Failure::Usage(
            "--require-tls needs --tls-cert and --tls-key".to_string(),
        ));
    }
    config.password = match matches.opt_str("password-file") {
        Some(file) => Some(read_password(Path::new(&file))?),
        None => None,
    };
    config.cluster = cluster_from(matches)?;
    Ok(config)
}

/// `--cluster` and `--node-name`. Redis's host name is resolved here, once.
fn cluster_from(matches: &getopts::Matches) -> Result<Option<ClusterConfig>, Failure> {
    let node = matches.opt_str("node-name");
    let Some(url) = matches.opt_str("cluster") else {
        return match node {
            Some(_) => Err(Failure::Usage("--node-name needs --cluster".to_string())),
            None => Ok(None),
        };
    };
    let redis = cluster::address::parse(&url).map_err(Failure::Usage)?;
    let node = node.unwrap_or_else(default_node_name);
    if !cluster::is_valid_node_name(&node) {
        return Err(Failure::Usage(format!(
            "invalid value '{node}' for --node-name: use 1-64 of A-Z a-z 0-9 _ - . :"
        )));
    }
    Ok(Some(ClusterConfig { redis, node }))
}

/// `HOSTNAME-PID`: unique among servers on one machine and, with distinct host names,
/// across machines; a restarted server is a new node (the old one's clients are gone).
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(40)
        .collect();
    let host = if host.is_empty() { "mio-chat" } else { &host };
    format!("{host}-{}", std::process::id())
}

/// `--tls-cert` and `--tls-key`, both or neither; a file that cannot be used is a
/// runtime error (exit 1) naming it.
fn tls_from(matches: &getopts::Matches) -> Result<Option<Arc<rustls::ServerConfig>>, Failure> {
    match (matches.opt_str("tls-cert"), matches.opt_str("tls-key")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => tls::server_config(Path::new(&cert), Path::new(&key))
            .map(Some)
            .map_err(Failure::Runtime),
        (Some(_), None) => Err(Failure::Usage("--tls-cert needs --tls-key".to_string())),
        (None, Some(_)) => Err(Failure::Usage("--tls-key needs --tls-cert".to_string())),
    }
}

/// The password in `--password-file` (its first line).
fn read_password(file: &Path) -> Result<String, Failure> {
    let contents =
        std::fs::read_to_string(file).map_err(|e| Failure::Runtime(format!("{}: {e}", file.display())))?;
    password::from_file_contents(&contents)
        .map_err(|why| Failure::Runtime(format!("{}: {why}", file.display())))
}

/// A duration flag in (fractional) seconds; 0 means "off" (`None`).
fn seconds(matches: &getopts::Matches, name: &str, default: f64) -> Result<Option<Duration>, Failure> {
    let secs: f64 = flag(matches, name, default)?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d.is_zero() => Ok(None),
        Ok(d) => Ok(Some(d)),
        Err(_) => Err(Failure::Usage(format!(
            "invalid value '{secs}' for --{name}: use seconds >= 0"
        ))),
    }
}

/// `ADDR` as a socket address; host names are resolved (first address wins).
fn resolve(addr: &str) -> Result<SocketAddr, Failure> {
    let bad = |why: String| Failure::Usage(format!("invalid address '{addr}': {why}"));
    let mut found = addr.to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    found
        .next()
        .ok_or_else(|| bad("it resolves to no address".to_string()))
}
