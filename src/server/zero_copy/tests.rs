use super::*;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;

/// A connected loopback pair: (server side, client side).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0; len];
    stream.read_exact(&mut got).unwrap();
    got
}

#[test]
fn pages_hold_a_copy_of_the_bytes() {
    let bytes = pattern(10_000);
    assert_eq!(TurnPages::copy_of(&bytes).unwrap().bytes(), &bytes[..]);
    assert_eq!(TurnPages::copy_of(&[]).unwrap().bytes(), b"");
}

#[test]
fn worth_it_needs_enough_bytes_in_few_spans() {
    let zc = ZeroCopy::new(100).unwrap();
    assert!(!zc.worth_it(&[Span { start: 0, end: 99 }]));
    assert!(zc.worth_it(&[Span { start: 0, end: 100 }]));
    assert!(zc.worth_it(&[Span { start: 0, end: 50 }, Span { start: 60, end: 110 }]));
    let many = vec![Span { start: 0, end: 100 }; MAX_SPANS + 1];
    assert!(!zc.worth_it(&many));
}

#[test]
fn sends_spans_from_an_offset() {
    let bytes = pattern(300_000);
    let pages = TurnPages::copy_of(&bytes).unwrap();
    let mut zc = ZeroCopy::new(1).unwrap();
    let (server, mut client) = pair();
    let spans = [
        Span {
            start: 10,
            end: 70_000,
        },
        Span {
            start: 100_000,
            end: 100_500,
        },
    ];
    let sent = zc.send(server.as_fd(), &pages, &spans, 5).unwrap();
    let expected: Vec<u8> = [&bytes[15..70_000], &bytes[100_000..100_500]].concat();
    assert_eq!(sent, Spliced::Bytes(expected.len()));
    assert_eq!(read_exactly(&mut client, expected.len()), expected);
    assert_eq!(zc.spliced_bytes, expected.len() as u64);
}

#[test]
fn a_full_socket_takes_a_prefix_and_nothing_leaks_to_the_next_one() {
    // More than any loopback socket buffers while nobody reads.
    let bytes = pattern(32 << 20);
    let pages = TurnPages::copy_of(&bytes).unwrap();
    let mut zc = ZeroCopy::new(1).unwrap();
    let (full, mut full_client) = pair();
    full.set_nonblocking(true).unwrap();
    let whole = [Span {
        start: 0,
        end: bytes.len(),
    }];
    let Spliced::Bytes(taken) = zc.send(full.as_fd(), &pages, &whole, 0).unwrap() else {
        panic!("loopback TCP supports splice");
    };
    assert!(taken > 0 && taken < bytes.len(), "took {taken}");

    // The next socket gets exactly its own bytes: nothing left over in the pipe.
    let (other, mut other_client) = pair();
    let small = [Span {
        start: 1000,
        end: 1100,
    }];
    assert_eq!(
        zc.send(other.as_fd(), &pages, &small, 0).unwrap(),
        Spliced::Bytes(100)
    );
    drop(other);
    let mut got = Vec::new();
    other_client.read_to_end(&mut got).unwrap();
    assert_eq!(got, &bytes[1000..1100]);

    // And the full socket's reader sees exactly the prefix that was reported sent.
    drop(full);
    let mut got = Vec::new();
    full_client.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), taken);
    assert!(got == bytes[..taken]);
}

#[test]
fn a_descriptor_that_cannot_splice_switches_zero_copy_off() {
    let pages = TurnPages::copy_of(&pattern(1000)).unwrap();
    let mut zc = ZeroCopy::new(1).unwrap();
    // An eventfd takes 8-byte writes only and has no splice support.
    // SAFETY: creates a new descriptor, owned below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: `fd` was just created and nothing else owns it.
    let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let spans = [Span { start: 0, end: 1000 }];
    assert_eq!(
        zc.send(eventfd.as_fd(), &pages, &spans, 0).unwrap(),
        Spliced::Unsupported
    );
    assert!(!zc.worth_it(&spans));
}

#[test]
fn once_switched_off_nothing_is_spliced_even_to_a_good_socket() {
    let pages = TurnPages::copy_of(&pattern(1000)).unwrap();
    let mut zc = ZeroCopy::new(1).unwrap();
    zc.switch_off("test");
    let (a, _b) = pair();
    let spans = [Span { start: 0, end: 1000 }];
    assert_eq!(
        zc.send(a.as_fd(), &pages, &spans, 0).unwrap(),
        Spliced::Unsupported
    );
    assert_eq!(zc.spliced_bytes, 0);
}

#[test]
fn a_transient_failure_falls_back_once_and_a_permanent_one_for_good() {
    let mut zc = ZeroCopy::new(1).unwrap();
    let spans = [Span { start: 0, end: 1000 }];
    let enomem = io::Error::from_raw_os_error(libc::ENOMEM);
    assert_eq!(zc.fall_back(0, &enomem, "splice"), Spliced::Unsupported);
    assert_eq!(zc.fall_back(10, &enomem, "splice"), Spliced::Bytes(10));
    assert!(zc.worth_it(&spans), "ENOMEM may pass: zero-copy stays on");
    let einval = io::Error::from_raw_os_error(libc::EINVAL);
    assert_eq!(zc.fall_back(0, &einval, "splice"), Spliced::Unsupported);
    assert!(!zc.worth_it(&spans), "EINVAL will not pass: zero-copy is off");
}

#[test]
fn a_closed_peer_is_an_error() {
    let pages = TurnPages::copy_of(&pattern(100_000)).unwrap();
    let mut zc = ZeroCopy::new(1).unwrap();
    let (server, client) = pair();
    drop(client);
    let spans = [Span {
        start: 0,
        end: 100_000,
    }];
    // The first send may still be taken; the reset then shows up.
    let mut failed = false;
    for _ in 0..50 {
        match zc.send(server.as_fd(), &pages, &spans, 0) {
            Ok(Spliced::Bytes(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Ok(Spliced::Unsupported) => panic!("a reset is not 'unsupported'"),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed);
    assert!(
        zc.worth_it(&spans),
        "a client's error must not switch zero-copy off"
    );
}

#[test]
fn advance_iovecs_walks_across_buffers() {
    let data = [0u8; 10];
    let mut iovecs = [
        libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: 4,
        },
        libc::iovec {
            iov_base: data[4..].as_ptr().cast_mut().cast(),
            iov_len: 6,
        },
    ];
    assert_eq!(advance_iovecs(&mut iovecs, 0, 0), 0);
    assert_eq!(advance_iovecs(&mut iovecs, 0, 3), 0);
    assert_eq!(iovecs[0].iov_len, 1);
    assert_eq!(advance_iovecs(&mut iovecs, 0, 3), 1);
    assert_eq!(iovecs[1].iov_len, 4);
    assert_eq!(advance_iovecs(&mut iovecs, 1, 4), 2);
}
