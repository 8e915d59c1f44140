use super::*;

const PIPE: Style = Style {
    terminal: false,
    colour: false,
    timestamps: false,
};
const TTY: Style = Style {
    terminal: true,
    colour: true,
    timestamps: false,
};

fn received(style: Style, text: &str) -> String {
    let mut out = String::new();
    style.received(text, "12:34:56", &mut out);
    out
}

#[test]
fn a_pipe_gets_every_line_exactly_as_received() {
    for text in [
        "alice: hi",
        "* bob joined",
        "! no such nick: x",
        "[pm from c] psst",
        "odd",
    ] {
        assert_eq!(received(PIPE, text), text);
    }
}

#[test]
fn a_pipe_gets_no_echo_of_the_users_own_lines() {
    assert_eq!(PIPE.sent("hello", "12:34:56"), None);
    assert_eq!(PIPE.sent("/me waves", "12:34:56"), None);
}

#[test]
fn timestamps_prefix_the_local_time_when_asked() {
    let stamped = Style {
        timestamps: true,
        ..PIPE
    };
    assert_eq!(received(stamped, "alice: hi"), "12:34:56 alice: hi");
    let tty = Style {
        timestamps: true,
        colour: false,
        ..TTY
    };
    assert_eq!(tty.sent("hi", "01:02:03").as_deref(), Some("01:02:03 you: hi"));
}

#[test]
fn on_a_terminal_nicks_are_coloured() {
    let c = nick_colour("alice");
    assert_eq!(
        received(TTY, "alice: hi: there"),
        format!("\x1b[{c}malice\x1b[0m: hi: there")
    );
    assert_eq!(
        received(TTY, "[pm from alice] psst"),
        format!("[pm from \x1b[{c}malice\x1b[0m] psst")
    );
    assert_eq!(
        received(TTY, "[pm to alice] ok"),
        format!("[pm to \x1b[{c}malice\x1b[0m] ok")
    );
}

#[test]
fn on_a_terminal_notices_are_dimmed_and_errors_marked() {
    assert_eq!(received(TTY, "* bob joined"), "\x1b[2m* bob joined\x1b[0m");
    assert_eq!(
        received(TTY, "! nick x is taken"),
        "\x1b[1;31m! nick x is taken\x1b[0m"
    );
}

#[test]
fn text_that_is_not_a_chat_line_is_left_alone() {
    assert_eq!(received(TTY, "not a nick: hi"), "not a nick: hi");
    assert_eq!(received(TTY, "[pm from] x"), "[pm from] x");
    assert_eq!(received(TTY, "plain"), "plain");
}

#[test]
fn without_colour_a_terminal_gets_plain_text_and_the_own_line() {
    let plain = Style { colour: false, ..TTY };
    assert_eq!(received(plain, "alice: hi"), "alice: hi");
    assert_eq!(plain.sent("hello", "").as_deref(), Some("you: hello"));
    assert_eq!(plain.sent("/me waves", "").as_deref(), Some("* you waves"));
    assert_eq!(plain.sent("//slash", "").as_deref(), Some("you: /slash"));
}

#[test]
fn commands_are_not_shown_back() {
    for line in ["/nick bob", "/join den", "/who", "/quit", "/bogus"] {
        assert_eq!(TTY.sent(line, ""), None, "{line}");
    }
}

#[test]
fn the_own_line_is_bold_with_colour() {
    assert_eq!(TTY.sent("hi", "").as_deref(), Some("\x1b[1myou:\x1b[0m hi"));
}

#[test]
fn a_nick_keeps_its_colour_in_any_case_and_nicks_spread_over_the_palette() {
    assert_eq!(nick_colour("Alice"), nick_colour("alice"));
    assert_eq!(nick_colour("alice"), nick_colour("alice"));
    let colours: std::collections::HashSet<u8> = (0..50).map(|i| nick_colour(&format!("guest{i}"))).collect();
    assert!(colours.len() >= 5, "{colours:?}");
    assert!(!colours.contains(&31), "red is for errors");
}
