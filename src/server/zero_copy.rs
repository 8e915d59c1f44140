//! Zero-copy sends for big per-recipient output: the turn's bytes are copied once into
//! pages of their own ([`TurnPages`]), and each recipient's socket is handed references
//! to those pages (`vmsplice` into a pipe, then `splice` from the pipe to the socket)
//! instead of a copy of the bytes.
//!
//! Why: with thousands of recipients, `write` copies every byte once per recipient into
//! fresh kernel memory, and that copy is most of the server's CPU time
//! (`docs/performance.md`). Spliced, all recipients' sockets point at the same pages,
//! which the kernel frees when the last of them has been read.
//!
//! Two rules keep this safe:
//! - Pages handed to the kernel are never written again. Each turn gets a fresh
//!   anonymous mapping, filled and made read-only before the first splice, and unmapped
//!   (never reused) after the turn; the kernel holds its own references to the pages.
//! - The pipe is only a conveyor: empty before and after every send. What a socket
//!   refuses is spliced on to `/dev/null`, so no byte meant for one client can reach
//!   another. If the pipe cannot be shown to be empty, zero-copy is switched off for good.
//!
//! Anything the kernel refuses to splice (an old kernel, an odd socket) switches
//! zero-copy off and the caller falls back to `write`; clients never notice. A refusal
//! that may pass (`ENOMEM`, a full pipe) only makes that one send fall back.

use crate::fanout::Span;
use log::warn;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// The default `--zero-copy-min`: a recipient's output for one turn is spliced when it
/// is at least this big (smaller output is cheaper to copy than to splice).
pub const DEFAULT_ZERO_COPY_MIN: usize = 16 * 1024;
/// Output in more spans than this is copied (one `writev`); a typical recipient has one
/// span per turn, and each span is a separate `vmsplice` segment.
pub const MAX_SPANS: usize = 8;
/// Asked-for pipe capacity; the kernel may grant less, which only means more rounds.
const PIPE_CAPACITY: libc::c_int = 1 << 20;

/// One turn's output bytes in pages of their own, which the kernel may keep referencing
/// after they are unmapped here.
#[derive(Debug)]
pub struct TurnPages {
    base: NonNull<u8>,
    len: usize,
    mapped: usize,
}

impl TurnPages {
    /// A read-only copy of `bytes` in a fresh anonymous mapping.
    ///
    /// # Errors
    /// `mmap` or `mprotect` failed (out of memory or address space).
    pub fn copy_of(bytes: &[u8]) -> io::Result<TurnPages> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let mapped = bytes.len().max(1).div_ceil(page) * page;
        // SAFETY: a new private anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let Some(base) = NonNull::new(ptr.cast::<u8>()) else {
            return Err(io::Error::other("mmap returned a null mapping"));
        };
        let pages = TurnPages {
            base,
            len: bytes.len(),
            mapped,
        };
        // SAFETY: the mapping is `mapped >= bytes.len()` bytes, writable, and ours alone.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.as_ptr(), bytes.len()) };
        // SAFETY: protects exactly the mapping made above. Read-only from here on, so a
        // stray write faults instead of changing bytes a socket is still sending.
        if unsafe { libc::mprotect(ptr, mapped, libc::PROT_READ) } != 0 {
            return Err(io::Error::last_os_error()); // dropping `pages` unmaps it
        }
        Ok(pages)
    }

    /// The bytes (the same as the arena they were copied from).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes at `base` are mapped and readable until `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl Drop for TurnPages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly our own mapping; pages the kernel still references live
        // on until it lets go of them.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.mapped) };
    }
}

/// What [`ZeroCopy::send`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Spliced {
    /// This many bytes went to the socket (fewer than offered: the socket is full).
    Bytes(usize),
    /// Nothing was sent (zero-copy is off, or could not be used this time): send these
    /// bytes with `write`.
    Unsupported,
}

/// The pipe and the `/dev/null` that splicing goes through, and when to use them.
#[derive(Debug)]
pub struct ZeroCopy {
    pipe_read: OwnedFd,
    pipe_write: OwnedFd,
    discard: OwnedFd,
    min_bytes: usize,
    /// Set once splicing failed in a way that is not the socket's fault.
    off: bool,
    /// Bytes sent by splicing, for the stats line.
    pub spliced_bytes: u64,
}

impl ZeroCopy {
    /// Ready to splice output of at least `min_bytes` per recipient and turn.
    ///
    /// # Errors
    /// The pipe or `/dev/null` could not be opened.
    pub fn new(min_bytes: usize) -> io::Result<ZeroCopy> {
        // `splice` has no MSG_NOSIGNAL: writing to a reset client raises SIGPIPE, which
        // must not kill the server. Rust programs ignore it already; this makes sure.
        // SAFETY: SIG_IGN is a valid disposition, and ignoring SIGPIPE only turns the
        // signal into the EPIPE every write path here already handles.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two new descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (pipe_read, pipe_write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on our own pipe; failing only leaves the default capacity.
        unsafe { libc::fcntl(pipe_write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_CAPACITY) };
        let discard = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        Ok(ZeroCopy {
            pipe_read,
            pipe_write,
            discard: discard.into(),
            min_bytes,
            off: false,
            spliced_bytes: 0,
        })
    }

    /// True if output made of `spans` should be spliced rather than copied.
    pub fn worth_it(&self, spans: &[Span]) -> bool {
        !self.off
            && spans.len() <= MAX_SPANS
            && spans.iter().map(|s| s.end - s.start).sum::<usize>() >= self.min_bytes
    }

    /// Splices `spans` of `pages` (the first span from `offset` on) into `socket`.
    ///
    /// # Errors
    /// The socket failed (reset, broken pipe: SIGPIPE is ignored, so it is `EPIPE`).
    pub fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        pages: &TurnPages,
        spans: &[Span],
        offset: usize,
    ) -> io::Result<Spliced> {
        if self.off {
            return Ok(Spliced::Unsupported);
        }
        let bytes = pages.bytes();
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_SPANS];
        let mut count = 0;
        for (i, span) in spans.iter().take(MAX_SPANS).enumerate() {
            let start = if i == 0 { span.start + offset } else { span.start };
            let part = &bytes[start..span.end];
            iovecs[count] = libc::iovec {
                iov_base: part.as_ptr().cast_mut().cast(),
                iov_len: part.len(),
            };
            count += 1;
        }
        let mut next = 0; // first iovec not yet in the pipe
        let mut sent = 0;
        while next < count {
            // SAFETY: the iovecs point into `pages`, which stay mapped for this call and
            // are never written again (see the module comment). NONBLOCK: the pipe is
            // empty here, but if it ever were not, waiting on it would stop the loop.
            let filled = unsafe {
                libc::vmsplice(
                    self.pipe_write.as_raw_fd(),
                    iovecs[next..count].as_ptr(),
                    count - next,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            let Ok(filled) = usize::try_from(filled) else {
                let e = io::Error::last_os_error();
                return Ok(self.fall_back(sent, &e, "vmsplice"));
            };
            if filled == 0 {
                break;
            }
            next = advance_iovecs(&mut iovecs[..count], next, filled);
            let moved = match splice_all(self.pipe_read.as_raw_fd(), socket.as_raw_fd(), filled) {
                Ok(moved) => moved,
                Err((moved, e)) => {
                    sent += moved;
                    self.spliced_bytes += moved as u64;
                    self.discard(filled - moved);
                    if is_transient(&e) || is_unsupported(&e) {
                        return Ok(self.fall_back(sent, &e, "splice"));
                    }
                    return Err(e);
                }
            };
            sent += moved;
            self.spliced_bytes += moved as u64;
            if moved < filled {
                self.discard(filled - moved);
                break; // the socket is full; WRITABLE tells us when it has room
            }
        }
        Ok(Spliced::Bytes(sent))
    }

    /// Throws away the `len` bytes left in the pipe. If that fails, the pipe might carry
    /// them to the next client, so it is never used again.
    fn discard(&mut self, len: usize) {
        if len == 0 {
            return;
        }
        match splice_all(self.pipe_read.as_raw_fd(), self.discard.as_raw_fd(), len) {
            Ok(n) if n == len => {}
            Ok(_) => self.switch_off("the pipe could not be emptied"),
            Err((_, e)) => self.switch_off(&format!("the pipe could not be emptied: {e}")),
        }
    }

    /// Splicing failed with `e` in `call`: the rest of this send is copied, and unless
    /// the failure may pass, every later one too.
    fn fall_back(&mut self, sent: usize, e: &io::Error, call: &str) -> Spliced {
        if !is_transient(e) {
            self.switch_off(&format!("{call}: {e}"));
        }
        if sent == 0 {
            Spliced::Unsupported
        } else {
            Spliced::Bytes(sent)
        }
    }

    fn switch_off(&mut self, why: &str) {
        if !self.off {
            warn!("zero-copy sends switched off ({why}); copying instead");
            self.off = true;
        }
    }
}

/// Moves up to `len` bytes from the pipe to `to`; stops early when `to` is full. On an
/// error, also says how much had moved before it.
fn splice_all(pipe: RawFd, to: RawFd, len: usize) -> Result<usize, (usize, io::Error)> {
    let mut moved = 0;
    while moved < len {
        // SAFETY: plain descriptors, no offsets (both ends are streams).
        let n = unsafe {
            libc::splice(
                pipe,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len - moved,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        match usize::try_from(n) {
            Ok(0) => break,
            Ok(n) => moved += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => break,
                    _ => return Err((moved, e)),
                }
            }
        }
    }
    Ok(moved)
}

/// Skips `n` bytes of iovecs starting at `next`; returns the first one not fully used.
fn advance_iovecs(iovecs: &mut [libc::iovec], mut next: usize, mut n: usize) -> usize {
    while n > 0 && next < iovecs.len() {
        let len = iovecs[next].iov_len;
        if n < len {
            // SAFETY: stays inside the same iovec's buffer (n < len).
            iovecs[next].iov_base = unsafe { iovecs[next].iov_base.cast::<u8>().add(n) }.cast();
            iovecs[next].iov_len = len - n;
            return next;
        }
        n -= len;
        next += 1;
    }
    next
}

/// Errors that mean "this kernel or descriptor cannot splice", not "the client is gone".
fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EBADF | libc::EFAULT)
    )
}

/// Errors that say "not now" (memory is short, the pipe is full): copy this time only.
fn is_transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOMEM | libc::EAGAIN))
}

#[cfg(test)]
mod tests;
