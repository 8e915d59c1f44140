use super::*;

fn connected_with(rooms: &[&str]) -> Subscriptions {
    let mut subs = Subscriptions::new();
    for room in rooms {
        assert_eq!(subs.open(room), Action::None, "not connected yet");
    }
    let mut to_subscribe = subs.connected();
    to_subscribe.sort();
    let mut want: Vec<String> = rooms.iter().map(|r| r.to_ascii_lowercase()).collect();
    want.sort();
    assert_eq!(to_subscribe, want);
    subs
}

#[test]
fn a_publish_to_a_room_not_yet_confirmed_waits_for_the_confirmation_in_order() {
    let mut subs = connected_with(&["lobby"]);
    assert_eq!(subs.open("Dev"), Action::Subscribe);
    let mut first = b"join".to_vec();
    assert!(!subs.may_publish("dev", &mut first));
    assert!(first.is_empty(), "taken");
    let mut second = b"line".to_vec();
    assert!(!subs.may_publish("DEV", &mut second));
    // The lobby was subscribed at the connection; once confirmed, it does not wait.
    let mut out = Vec::new();
    assert_eq!(subs.confirmed("lobby", &mut out), 0);
    let mut hello = b"hello".to_vec();
    assert!(subs.may_publish("lobby", &mut hello));
    assert_eq!(hello, b"hello", "not taken");
    // dev's confirmation releases both, in order.
    assert_eq!(subs.confirmed("dev", &mut out), 2);
    assert_eq!(out, b"joinline");
    let mut third = b"after".to_vec();
    assert!(subs.may_publish("dev", &mut third));
}

#[test]
fn a_room_closed_and_opened_again_waits_for_its_new_subscription() {
    let mut subs = connected_with(&[]);
    assert_eq!(subs.open("dev"), Action::Subscribe);
    let mut out = Vec::new();
    subs.confirmed("dev", &mut out);
    assert_eq!(subs.close("dev"), Action::Unsubscribe);
    assert_eq!(subs.open("dev"), Action::Subscribe);
    let mut join = b"join".to_vec();
    assert!(
        !subs.may_publish("dev", &mut join),
        "the old subscription is gone"
    );
    assert_eq!(subs.confirmed("dev", &mut out), 1);
    assert_eq!(out, b"join");
}

#[test]
fn a_room_closed_before_its_confirmation_counts_it_and_opens_cleanly() {
    let mut subs = connected_with(&[]);
    assert_eq!(subs.open("dev"), Action::Subscribe);
    assert_eq!(subs.close("dev"), Action::Unsubscribe);
    assert_eq!(subs.open("dev"), Action::Subscribe);
    let mut join = b"join".to_vec();
    assert!(!subs.may_publish("dev", &mut join));
    let mut out = Vec::new();
    assert_eq!(subs.confirmed("dev", &mut out), 0, "the first SUBSCRIBE's");
    assert_eq!(subs.confirmed("dev", &mut out), 1, "the second's");
    assert_eq!(out, b"join");
}

#[test]
fn a_lost_link_drops_what_waited_and_a_new_one_subscribes_every_open_room() {
    let mut subs = connected_with(&["lobby"]);
    assert_eq!(subs.open("dev"), Action::Subscribe);
    let mut join = b"join".to_vec();
    assert!(!subs.may_publish("dev", &mut join));
    subs.disconnected();
    assert_eq!(subs.open("ops"), Action::None, "sent at the next connection");
    assert_eq!(subs.close("dev"), Action::None);
    let mut rooms = subs.connected();
    rooms.sort();
    assert_eq!(rooms, ["lobby", "ops"]);
    let mut out = Vec::new();
    assert_eq!(subs.confirmed("ops", &mut out), 0);
    assert!(out.is_empty(), "the join was lost with the link");
    subs.disconnected();
    let mut rooms = subs.connected();
    rooms.sort();
    assert_eq!(rooms, ["lobby", "ops"], "dev is gone for good");
}

#[test]
fn publishing_to_a_room_that_does_not_exist_here_goes_at_once() {
    let mut subs = connected_with(&["lobby"]);
    let mut line = b"x".to_vec();
    assert!(subs.may_publish("elsewhere", &mut line));
    let mut out = Vec::new();
    assert_eq!(
        subs.confirmed("elsewhere", &mut out),
        0,
        "a confirmation nobody asked for"
    );
}
