//! `mio-chat connect` at a real terminal: each test runs the client in a tmux pane of its
//! own (a pseudo-terminal, 100x30), types into it with `send-keys`, reads the screen with
//! `capture-pane`, and talks to it through the real server and a netcat-style client.
//!
//! Keys are typed one at a time, each after the previous one is on the screen, the way a
//! person types; every wait is bounded by `PATIENCE`.

mod common;

use common::{bin, Client, Server, PATIENCE};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The prompt the client draws, and its width.
const PROMPT: &str = "you> ";

/// A tmux server of its own with one pane running a shell command; killed when dropped,
/// even when the test panics.
struct Pane {
    socket: String,
    /// The socket's file, which `kill-server` leaves behind.
    socket_path: Option<String>,
}

impl Pane {
    /// Starts `command` under `sh -c` in a new 100x30 pane.
    fn start(command: &str) -> Pane {
        static PANES: AtomicUsize = AtomicUsize::new(0);
        let n = PANES.fetch_add(1, Ordering::SeqCst);
        let mut pane = Pane {
            socket: format!("mio-chat-test-{}-{n}", std::process::id()),
            socket_path: None,
        };
        let args = ["new-session", "-d", "-x", "100", "-y", "30", "sh", "-c", command];
        pane.tmux(&args);
        let path = pane.tmux(&["display-message", "-p", "#{socket_path}"]).stdout;
        pane.socket_path = Some(String::from_utf8_lossy(&path).trim().to_string());
        pane
    }

    /// Starts `mio-chat connect ARGS` in a pane; when it ends, the shell prints its exit
    /// status as `EXIT=N` and the terminal's settings (`stty -a`), then waits.
    fn client(args: &[&str]) -> Pane {
        let mut command = quote(bin());
        command.push_str(" connect");
        for arg in args {
            command.push(' ');
            command.push_str(&quote(arg));
        }
        Pane::start(&format!("{command}; echo EXIT=$?; stty -a; exec sleep 60"))
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux (is it installed?)");
        assert!(output.status.success(), "tmux {args:?}: {output:?}");
        output
    }

    /// Presses keys by their tmux names (`Enter`, `C-d`, `Up`, `Tab`...).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Presses keys that move the cursor, and waits until it is in `column`.
    fn press_to(&self, keys: &[&str], column: usize) {
        self.press(keys);
        self.wait_until(&format!("the cursor in column {column} after {keys:?}"), |_| {
            self.cursor().0 == column
        });
    }

    /// Presses Enter and waits for the next prompt, so that what is typed next goes to it.
    fn enter(&self) {
        self.press(&["Enter"]);
        self.wait_until("the next prompt", |rows| {
            rows.last()
                .is_some_and(|last| last.ends_with("you>") && self.cursor().0 == last.len() + 1)
        });
    }

    /// Types `text` (ASCII, on one row) a character at a time, each once the previous one
    /// has moved the cursor.
    fn type_text(&self, text: &str) {
        for c in text.chars() {
            let (x, _) = self.cursor();
            self.tmux(&["send-keys", "-t", "0", "-l", &c.to_string()]);
            self.wait_until(&format!("{c:?} typed"), |_| self.cursor().0 == x + 1);
        }
    }

    /// The screen's rows, wrapped rows joined, without the blank rows at the bottom.
    fn rows(&self) -> Vec<String> {
        let output = self.tmux(&["capture-pane", "-p", "-J", "-t", "0"]);
        let mut rows: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|row| row.trim_end().to_string())
            .collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows
    }

    /// The cursor's column and row.
    fn cursor(&self) -> (usize, usize) {
        let output = self.tmux(&["display-message", "-p", "-t", "0", "#{cursor_x} #{cursor_y}"]);
        let text = String::from_utf8_lossy(&output.stdout);
        let (x, y) = text.trim().split_once(' ').expect("x y");
        (x.parse().expect("x"), y.parse().expect("y"))
    }

    /// Polls the screen until `ready` says yes (at most `PATIENCE`); returns its rows.
    fn wait_until(&self, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows = self.rows();
            if ready(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "never {what}; screen:\n{}",
                rows.join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a row reads `row` exactly.
    fn wait_for_row(&self, row: &str) -> Vec<String> {
        self.wait_until(&format!("a row {row:?}"), |rows| rows.iter().any(|r| r == row))
    }

    /// Waits until the bottom row reads `row` (trailing spaces aside).
    fn wait_for_bottom(&self, row: &str) -> Vec<String> {
        let row = row.trim_end();
        self.wait_until(&format!("{row:?} at the bottom"), |rows| {
            rows.last().is_some_and(|last| last == row)
        })
    }

    /// Waits for the client to exit; returns its status and whether the terminal was
    /// back in its own mode (canonical input and echo) after it.
    fn wait_for_exit(&self) -> (String, bool) {
        let rows = self.wait_until("the client exited and stty ran", |rows| {
            rows.iter().any(|r| r.starts_with("EXIT=")) && rows.iter().any(|r| r.contains("icanon"))
        });
        let status = rows.iter().find(|r| r.starts_with("EXIT=")).unwrap().clone();
        let words: Vec<&str> = rows.iter().flat_map(|r| r.split_whitespace()).collect();
        (status, words.contains(&"icanon") && words.contains(&"echo"))
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `text` single-quoted for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// How many rows contain `text`.
fn count_rows(rows: &[String], text: &str) -> usize {
    rows.iter().filter(|r| r.contains(text)).count()
}

/// A server, a netcat client `bob` in it, and the terminal client as `alice`, ready (its
/// prompt drawn and bob told it is alice).
fn alice_and_bob(extra: &[&str]) -> (Server, Client, Pane) {
    let server = Server::start(&[]);
    let mut bob = server.lines();
    bob.set_nick("bob");
    let addr = server.addr.to_string();
    let mut args = vec![addr.as_str(), "--nick", "alice"];
    args.extend_from_slice(extra);
    let pane = Pane::client(&args);
    bob.wait_for_prefix("* guest2 is now alice");
    pane.wait_until("alice's prompt", |rows| {
        rows.iter().any(|r| r.ends_with("* guest2 is now alice"))
            && rows.last().is_some_and(|r| r.ends_with("you>"))
    });
    (server, bob, pane)
}

/// A half-typed line survives a message arriving: the message is printed above it, and
/// the line and the cursor are where they were; the line is then sent whole.
#[test]
fn a_half_typed_line_survives_an_incoming_message() {
    let (_server, mut bob, pane) = alice_and_bob(&["--no-color"]);
    pane.type_text("I am typing");
    bob.send("interrupting message");
    let rows = pane.wait_until("the message above the line", |rows| {
        rows.ends_with(&["bob: interrupting message".into(), "you> I am typing".into()])
    });
    assert_eq!(pane.cursor(), ("you> I am typing".len(), rows.len() - 1));
    pane.type_text(" more");
    pane.enter();
    bob.wait_for("alice: I am typing more");
}

/// A sent line is shown once, as `HH:MM:SS you: TEXT` in place of what was typed (and
/// `/me` as `* you`); the prompt lines up with the text after the time.
#[test]
fn a_sent_line_is_shown_once_as_you_text() {
    let (_server, mut bob, pane) = alice_and_bob(&["--timestamps"]);
    pane.wait_for_bottom("         you>");
    pane.type_text("hello there");
    pane.enter();
    bob.wait_for("alice: hello there");
    pane.type_text("/me waves");
    pane.enter();
    bob.wait_for("* alice waves");
    let rows = pane.wait_for_bottom("         you>");
    assert_eq!(count_rows(&rows, "hello there"), 1, "{rows:#?}");
    assert_eq!(count_rows(&rows, "waves"), 1, "{rows:#?}");
    let said = rows.iter().find(|r| r.contains("hello there")).unwrap();
    let acted = rows.iter().find(|r| r.contains("waves")).unwrap();
    assert!(is_stamped(said, "you: hello there"), "{said:?}");
    assert!(is_stamped(acted, "* you waves"), "{acted:?}");
}

/// `HH:MM:SS TEXT`.
fn is_stamped(row: &str, text: &str) -> bool {
    let (stamp, rest) = row.split_at(row.len().min(9));
    let shape: Vec<bool> = stamp.bytes().map(|b| b.is_ascii_digit()).collect();
    shape == [true, true, false, true, true, false, true, true, false] && rest == text
}

/// Up recalls the lines sent before, most recent first; Enter sends the recalled line.
#[test]
fn up_recalls_earlier_lines() {
    let (_server, mut bob, pane) = alice_and_bob(&[]);
    for line in ["first line", "second line"] {
        pane.type_text(line);
        pane.enter();
        bob.wait_for(&format!("alice: {line}"));
    }
    pane.press(&["Up"]);
    pane.wait_for_bottom("you> second line");
    pane.press(&["Up"]);
    pane.wait_for_bottom("you> first line");
    pane.enter();
    bob.wait_for("alice: first line");
}

/// The usual Emacs keys edit the line: Alt-B back a word, Ctrl-F forward a character,
/// Ctrl-E to the end, Ctrl-A to the start, Ctrl-K kill to the end, Ctrl-U the whole line.
#[test]
fn emacs_keys_edit_the_line() {
    let (_server, mut bob, pane) = alice_and_bob(&["--no-color"]);
    let at = |column: &str| PROMPT.len() + column.len();
    pane.type_text("scratch this");
    pane.press_to(&["C-a"], at(""));
    pane.press(&["C-k"]);
    pane.wait_for_bottom("you>");
    pane.type_text("hello wrld");
    pane.press_to(&["M-b"], at("hello "));
    pane.press_to(&["C-f"], at("hello w"));
    pane.type_text("o");
    pane.press_to(&["C-e"], at("hello world"));
    pane.type_text("!");
    pane.enter();
    bob.wait_for("alice: hello world!");
    pane.type_text("never sent");
    pane.press(&["C-u"]);
    pane.wait_for_bottom("you>");
    pane.type_text("sent");
    pane.enter();
    bob.wait_for("alice: sent");
}

/// Tab completes a `/command` at the start of the line, and a nick seen in the room
/// (addressed with `: ` at the start of the line).
#[test]
fn tab_completes_commands_and_nicks_seen_in_the_room() {
    let (_server, mut bob, pane) = alice_and_bob(&["--no-color"]);
    bob.set_nick("bobby");
    bob.send("hi");
    pane.wait_for_row("bobby: hi");
    pane.type_text("bo");
    pane.press(&["Tab"]);
    pane.wait_for_bottom("you> bobby:");
    assert_eq!(pane.cursor().0, "you> bobby: ".len());
    pane.type_text("hello");
    pane.enter();
    bob.wait_for("alice: bobby: hello");
    pane.type_text("/wh");
    pane.press(&["Tab"]);
    pane.wait_for_bottom("you> /who");
    assert_eq!(pane.cursor().0, "you> /who ".len());
    pane.enter();
    pane.wait_for_row("* online (2): alice, bobby");
}

/// Ctrl-D on an empty line leaves like `/quit`: exit 0, the terminal back in its mode.
#[test]
fn ctrl_d_on_an_empty_line_exits_0_and_restores_the_terminal() {
    let (_server, mut bob, pane) = alice_and_bob(&[]);
    pane.press(&["C-d"]);
    assert_eq!(pane.wait_for_exit(), ("EXIT=0".to_string(), true));
    bob.wait_for("* alice left");
}

/// Ctrl-C leaves too, even with text typed, which is not sent.
#[test]
fn ctrl_c_exits_0_and_restores_the_terminal() {
    let (_server, mut bob, pane) = alice_and_bob(&[]);
    pane.type_text("not sent");
    pane.press(&["C-c"]);
    assert_eq!(pane.wait_for_exit(), ("EXIT=0".to_string(), true));
    assert_eq!(bob.next(), "* alice left");
}

/// A typed `/quit` gets the server's goodbye, and the terminal is handed back.
#[test]
fn quit_exits_0_and_restores_the_terminal() {
    let (_server, _bob, pane) = alice_and_bob(&[]);
    pane.type_text("/quit");
    pane.press(&["Enter"]);
    pane.wait_for_row("* bye");
    assert_eq!(pane.wait_for_exit(), ("EXIT=0".to_string(), true));
}

/// SIGTERM while a line is being edited (the editor holds the terminal in raw mode):
/// the client exits 0 and the terminal is back in its own mode all the same.
#[test]
fn sigterm_while_editing_restores_the_terminal() {
    let (_server, _bob, pane) = alice_and_bob(&[]);
    pane.type_text("half");
    let pid = pane_client_pid(&pane);
    // SAFETY: kill only sends a signal to the client started in this pane.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    assert_eq!(pane.wait_for_exit(), ("EXIT=0".to_string(), true));
}

/// The pid of the `mio-chat connect` the pane's shell is running: the process whose
/// parent is the shell, found in `/proc`.
fn pane_client_pid(pane: &Pane) -> i32 {
    let output = pane.tmux(&["display-message", "-p", "-t", "0", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let parent_of = |stat: &str| {
        // Field 4 is the parent; the command name in field 2 may hold spaces.
        let after_name = &stat[stat.rfind(')')? + 2..];
        after_name.split_whitespace().nth(1).map(str::to_string)
    };
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            parent_of(&stat).as_deref() == Some(shell.as_str())
        })
        .unwrap_or_else(|| panic!("no child of the pane's shell {shell}"))
}

/// The connection is lost while a line is half typed: a status line says so above it, the
/// text stays, and it is sent after the reconnect only once Enter is pressed.
#[test]
fn a_lost_connection_keeps_the_typed_text_until_enter() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let first = serve_on(port);
    let addr = format!("127.0.0.1:{port}");
    let pane = Pane::client(&[&addr, "--nick", "erin", "--no-color"]);
    pane.wait_until("the prompt", |rows| {
        rows.iter().any(|r| r == "* guest1 is now erin") && rows.last().is_some_and(|r| r == "you>")
    });
    pane.type_text("half");
    drop(first);
    let rows = pane.wait_until("a status line", |rows| {
        rows.iter()
            .any(|r| r.starts_with("mio-chat: lost connection to "))
    });
    assert_eq!(rows.last().map(String::as_str), Some("you> half"), "{rows:#?}");
    let second = serve_on(port);
    let mut watcher = second.lines();
    watcher.wait_until_in_room("erin");
    watcher.expect_silence(Duration::from_millis(300));
    pane.wait_for_bottom("you> half");
    pane.type_text(" typed");
    pane.enter();
    watcher.wait_for("erin: half typed");
}

/// The window is made narrower while a long line is typed: when a message arrives, the
/// line is redrawn whole below it, with nothing of the old prompt left over.
#[test]
fn a_resized_window_redraws_the_input_line() {
    let (_server, mut bob, pane) = alice_and_bob(&["--no-color"]);
    let long = "a line long enough to wrap once the window is narrow";
    pane.type_text(long);
    pane.tmux(&["resize-window", "-t", "0", "-x", "30"]);
    bob.send("narrow now");
    let typed = format!("{PROMPT}{long}");
    let rows = pane.wait_until("the line redrawn", |rows| {
        rows.last() == Some(&typed) && rows.iter().any(|r| r == "bob: narrow now")
    });
    assert_eq!(count_rows(&rows, "window is narrow"), 1, "{rows:#?}");
    pane.enter();
    bob.wait_for(&format!("alice: {long}"));
}

/// Standard input piped at a terminal: no line editor, no prompt; the line sent is
/// shown once as `you: TEXT` (nothing echoed it).
#[test]
fn with_stdin_piped_there_is_no_prompt() {
    let server = Server::start(&[]);
    let mut bob = server.lines();
    let client = format!(
        "echo 'from a pipe' | {} connect {} --nick carol --no-color --linger 1",
        quote(bin()),
        server.addr
    );
    let pane = Pane::start(&format!("{client}; echo EXIT=$?; exec sleep 60"));
    bob.wait_for("carol: from a pipe");
    let rows = pane.wait_for_row("EXIT=0");
    assert_eq!(count_rows(&rows, "from a pipe"), 1, "{rows:#?}");
    assert!(rows.iter().any(|r| r == "you: from a pipe"), "{rows:#?}");
    assert_eq!(count_rows(&rows, PROMPT.trim_end()), 0, "{rows:#?}");
}

fn serve_on(port: u16) -> Server {
    let mut cmd = Command::new(bin());
    cmd.arg("serve").arg(format!("127.0.0.1:{port}"));
    Server::start_command(cmd)
}

/// Lines pasted in one burst (all the keys arrive in one read) are each shown and sent
/// whole, like typed ones.
///
/// rustyline 15 waits for the terminal to become readable again before it takes the next
/// key already read into its buffer (when an `ExternalPrinter` exists), and drops keys
/// read ahead when `readline` returns; rustyline 19 takes buffered keys first, and its
/// `buffer-redux` feature keeps keys read ahead for the next `readline`.
#[test]
fn pasted_lines_are_sent_whole() {
    let (_server, mut bob, pane) = alice_and_bob(&["--no-color"]);
    pane.tmux(&["send-keys", "-t", "0", "-l", "first pasted\rsecond pasted\rthird"]);
    bob.wait_for("alice: first pasted");
    bob.wait_for("alice: second pasted");
    let rows = pane.wait_for_bottom("you> third");
    assert_eq!(
        rows[rows.len() - 3..],
        ["you: first pasted", "you: second pasted", "you> third"]
    );
}
