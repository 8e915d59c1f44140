//! The bundled client (`mio-chat connect ARGS...`) as a child process: lines typed on
//! its stdin are sent, lines it prints on stdout are read by a thread, stderr is kept.

use super::{bin, wait_for_exit, PATIENCE};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `mio-chat connect`, its stdout read line by line; killed when dropped.
pub struct Connect {
    /// The process (for signals and exit checks).
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    /// Every stdout line taken so far.
    pub seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Connect {
    /// Starts `mio-chat connect ARGS...` with stdin from `stdin`.
    pub fn start(args: &[&str], stdin: Stdio) -> Connect {
        let mut child = Command::new(bin())
            .arg("connect")
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mio-chat connect");
        let (tx, stdout) = mpsc::channel();
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout"));
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while lines.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                let text = String::from_utf8_lossy(&line).trim_end_matches('\n').to_string();
                if tx.send(text).is_err() {
                    return;
                }
                line.clear();
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut pipe = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Connect {
            stdin: child.stdin.take(),
            child,
            stdout,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Starts it with a stdin pipe that stays open until [`Connect::close_stdin`].
    pub fn piped(args: &[&str]) -> Connect {
        Connect::start(args, Stdio::piped())
    }

    /// Types one line on its stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("write to the client's stdin");
        stdin.flush().expect("flush the client's stdin");
    }

    /// Closes its stdin (as Ctrl-D at a terminal or the end of a pipe would).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Skips stdout lines until one equals `want` (at most `PATIENCE`); returns the
    /// lines skipped.
    pub fn expect_line(&mut self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line == want => {
                    self.seen.push(line);
                    return skipped;
                }
                Ok(line) => {
                    self.seen.push(line.clone());
                    skipped.push(line);
                }
                Err(_) => panic!(
                    "no line {want:?} on stdout; saw {:?}; stderr:\n{}",
                    self.seen,
                    self.stderr()
                ),
            }
        }
    }

    /// Every stdout line, once stdout has closed (call after the client exited).
    pub fn all_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `text` (at most `PATIENCE`).
    pub fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} on stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for it to exit (at most `PATIENCE`).
    pub fn wait(&mut self) -> ExitStatus {
        let stderr = Arc::clone(&self.stderr);
        wait_for_exit(&mut self.child, "client", || stderr.lock().unwrap().clone())
    }

    /// Closes stdin, waits for the exit (at most `PATIENCE`) and returns every stdout line.
    pub fn finish(&mut self) -> (ExitStatus, Vec<String>) {
        self.close_stdin();
        let status = self.wait();
        (status, self.all_lines())
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
