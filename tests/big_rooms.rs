//! Big rooms: above `--announce-limit` members a room is no longer told of arrivals,
//! leaves and renames (the client concerned still gets its own confirmation), and `/who`
//! lists at most 100 names, or those starting with a prefix.

mod common;

use common::{Client, Server};
use std::io::Write;
use std::net::TcpStream;

/// Below and at the limit notices are as always; above it the room hears nothing of
/// arrivals, renames and leaves, while the client concerned is still welcomed and told
/// its own rename and join; crossing back below the limit brings the notices back.
#[test]
fn presence_notices_stop_above_the_announce_limit_and_come_back_below_it() {
    let server = Server::start(&["--announce-limit", "3"]);
    let mut a = server.lines();
    let mut b = server.lines();
    a.expect("* guest2 joined");
    let mut c = server.lines();
    a.expect("* guest3 joined"); // 3 members: at the limit, announced
    b.expect("* guest3 joined");
    let mut d = server.lines(); // 4 members: not announced
    d.send("/nick dora");
    d.expect("* guest4 is now dora"); // its own confirmation only
    d.send("/join side");
    d.expect("* dora joined"); // a room of 1: its confirmation as always
    c.send("/join side");
    c.expect("* guest3 joined"); // the joiner's confirmation
    d.expect("* guest3 joined");
    a.expect("* guest3 left"); // the lobby had 3: announced
    a.send("/who");
    a.expect("* online (2): guest1, guest2"); // nothing about dora came before this
    b.expect("* guest3 left");
    // Back over the limit and down again.
    let e = server.lines();
    let f = server.lines();
    a.expect("* guest5 joined"); // 3 members
    drop(f); // it left a room of 4: not announced
    drop(e); // it left a room of 3: announced
    a.expect("* guest5 left");
    a.expect_nothing_queued();
}

/// `/who` in a room of more than 100 lists the first 100 names, sorted, then how many
/// more; `/who PREFIX` lists those whose nick starts with it, ignoring case.
#[test]
fn who_is_capped_at_100_names_and_takes_a_prefix() {
    common::raise_fd_limit();
    let server = Server::start(&["--announce-limit", "0"]);
    let _others: Vec<TcpStream> = (0..120)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"\n").unwrap();
            s
        })
        .collect();
    let mut me: Client = server.lines();
    me.set_nick("Zoe");
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        assert!(std::time::Instant::now() < deadline, "the 120 never all arrived");
        me.send("/who");
        let reply = me.wait_for_prefix("* online (");
        if reply.starts_with("* online (121): ") {
            assert!(reply.ends_with(" and 21 more"), "{reply}");
            let names = reply["* online (121): ".len()..reply.len() - " and 21 more".len()].split(", ");
            let mut want: Vec<String> = (1..=120).map(|i| format!("guest{i}")).collect();
            want.sort();
            assert!(names.eq(want[..100].iter().map(String::as_str)), "{reply}");
            break;
        }
    }
    me.send("/who GUEST11");
    let want: Vec<String> = std::iter::once("guest11".to_string())
        .chain((110..=119).map(|i| format!("guest{i}")))
        .collect();
    me.expect(&format!("* online (11 matching GUEST11): {}", want.join(", ")));
    me.send("/who z");
    me.expect("* online (1 matching z): Zoe");
    me.send("/who nobody");
    me.expect("* online (0 matching nobody)");
}
