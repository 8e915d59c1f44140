//! Dead peers do not hold a slot forever: TCP keepalive on every accepted socket
//! (`--keepalive`), and `--idle-timeout` for connections that send nothing.

mod common;

use common::{Client, Framing, Server};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The server process's own fd for the server side of `client`'s connection, duplicated
/// into this process with `pidfd_getfd`, so its socket options can be read back.
fn server_side_socket(server_pid: u32, client: &TcpStream) -> OwnedFd {
    let inode = server_side_inode(server_pid, client);
    let fd = find_fd_for_inode(server_pid, inode);
    // SAFETY: plain syscalls on integers; the returned fds are checked and then owned.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, server_pid as libc::c_int, 0) as RawFd;
        assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) as RawFd;
        assert!(dup >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(dup)
    }
}

/// The socket inode of the server's end of `client`'s connection, from `/proc/PID/net/tcp`.
fn server_side_inode(server_pid: u32, client: &TcpStream) -> u64 {
    let (ours, theirs) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
    let table = std::fs::read_to_string(format!("/proc/{server_pid}/net/tcp")).unwrap();
    let port_of = |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|f| port_of(f[1]) == theirs.port() && port_of(f[2]) == ours.port())
        .map(|f| f[9].parse().unwrap())
        .expect("the server side of the connection in /proc/PID/net/tcp")
}

fn find_fd_for_inode(pid: u32, inode: u64) -> RawFd {
    let want = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == want))
        .and_then(|e| e.file_name().to_str()?.parse().ok())
        .expect("the server's fd for that socket")
}

fn getsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid for getsockopt to write an int into.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    value
}

/// An accepted socket has keepalive on, with the idle time from `--keepalive`, and
/// TCP_NODELAY (the loop batches; Nagle must not).
#[test]
fn accepted_sockets_have_keepalive_and_nodelay() {
    let server = Server::start(&["--keepalive", "42"]);
    let client = server.lines();
    let fd = server_side_socket(server.pid(), &client.stream);
    assert_eq!(getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
    assert_eq!(getsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 42);
    assert_eq!(getsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 10);
    assert_eq!(getsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
}

/// The default keepalive is 60 s.
#[test]
fn keepalive_defaults_to_sixty_seconds() {
    let server = Server::start(&[]);
    let client = server.frames();
    let fd = server_side_socket(server.pid(), &client.stream);
    assert_eq!(getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
    assert_eq!(getsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 60);
}

/// `--keepalive 0` turns keepalive off.
#[test]
fn keepalive_zero_turns_it_off() {
    let server = Server::start(&["--keepalive", "0"]);
    let client = server.lines();
    let fd = server_side_socket(server.pid(), &client.stream);
    assert_eq!(getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
}

/// A connection that sends nothing for `--idle-timeout` gets `! idle timeout` and is
/// closed; one that keeps talking stays, and the room is told who left.
#[test]
fn silent_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "0.6"]);
    let (mut silent, mut talker) = server.pair(Framing::Lines, Framing::Frames);
    let started = Instant::now();
    let mut left = false;
    while started.elapsed() < Duration::from_millis(1500) {
        talker.send("/who"); // input keeps the talker alive
        loop {
            let m = talker.next();
            left |= m == "* guest1 left";
            if m.starts_with("* online") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(silent.expect_eof(), ["! idle timeout"]);
    assert!(left, "the room is told the idle client left");
    talker.send("/who");
    talker.expect("* online (1): guest2");
}

/// Without `--idle-timeout`, a silent connection stays.
#[test]
fn silent_connection_stays_without_an_idle_timeout() {
    let server = Server::start(&[]);
    let mut silent = Client::connect(server.addr, Framing::Lines);
    silent.expect_prefix("* welcome"); // detected as lines after --detect-ms of silence
    silent.expect_silence(Duration::from_millis(800));
}
