//! The terminal's mode as it was before the line editor ran, put back at exit.
//!
//! rustyline puts the terminal in raw mode for each `readline` and back when it returns.
//! But the client may exit while the input thread is still inside `readline` (SIGTERM,
//! a lost connection with `--no-reconnect`), and nothing unwinds that thread: without
//! this, the shell would be left without echo or line editing.

use std::io;

/// The mode of stdin's terminal, saved before the editor started.
#[derive(Clone, Copy)]
pub struct SavedMode(libc::termios);

impl SavedMode {
    /// Saves the mode of the terminal on stdin.
    ///
    /// # Errors
    /// stdin is not a terminal, or its mode cannot be read.
    pub fn of_stdin() -> io::Result<SavedMode> {
        // SAFETY: tcgetattr only writes into `mode`, a termios on this stack; it is
        // returned only once tcgetattr has filled it.
        unsafe {
            let mut mode: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut mode) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SavedMode(mode))
        }
    }

    /// Puts the saved mode back, once what was written has reached the terminal.
    pub fn restore(&self) {
        // SAFETY: tcsetattr only reads the termios we pass. A failure (the terminal is
        // gone) leaves nothing to restore.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &self.0);
        }
    }
}

impl std::fmt::Debug for SavedMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedMode")
    }
}
