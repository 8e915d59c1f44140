//! The listening socket and the process's file-descriptor limit.

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Pending connections the kernel may queue before we accept them. Connection storms
/// (a load test opening thousands at once) overrun the usual 128 and get SYN retries.
const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with `SO_REUSEADDR`, so a restarted server can bind
/// while old connections sit in TIME_WAIT.
///
/// # Errors
/// Creating, binding (address in use, not ours) or listening failed.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Socket options for an accepted connection: `TCP_NODELAY` (the loop batches writes per
/// turn; Nagle would only add latency) and, unless `keepalive` is `None`, TCP keepalive
/// probes after that much silence, so a peer that vanished without a FIN (cable pulled,
/// laptop closed) does not hold its slot forever: it is detected after about twice
/// `keepalive` (first probe, then 4 probes a quarter of it apart).
///
/// # Errors
/// Setting an option failed.
pub fn tune_accepted(stream: &TcpStream, keepalive: Option<Duration>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(idle) = keepalive {
        let interval = (idle / 4).max(Duration::from_secs(1));
        let probes = TcpKeepalive::new()
            .with_time(idle)
            .with_interval(interval)
            .with_retries(4);
        SockRef::from(stream).set_tcp_keepalive(&probes)?;
    }
    Ok(())
}

/// True for accept errors that mean "no file descriptor to spare right now".
pub fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
