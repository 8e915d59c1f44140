//! The listening socket and the process's file-descriptor limit.

use mio::net::TcpListener;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;

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

/// True for accept errors that mean "no file descriptor to spare right now".
pub fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit now in force.
///
/// # Errors
/// The limit could not be read or set.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}
