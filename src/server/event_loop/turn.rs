//! The end of a loop turn: this turn's output goes out, one `writev` per recipient, and
//! connections that ended are removed.

use super::{CloseReason, Server, ACCEPT_BACKOFF_MIN};
use crate::framing::Framing;
use crate::server::connection::{Connection, TurnSource};
use crate::server::zero_copy::TurnPages;
use log::{debug, info, warn};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

/// Input read and thrown away from a closing connection, so that closing it does not
/// turn into a reset that could destroy the last message we sent it.
const CLOSE_DRAIN_LIMIT: usize = 256 * 1024;

impl Server {
    /// Sends the turn's output, closes what failed (whose rooms are told in a further
    /// round), then removes every connection that ended this turn.
    pub(super) fn end_turn(&mut self) {
        loop {
            self.fanout.finish_turn();
            let failed = self.deliver_turn();
            self.fanout.clear_turn();
            if failed.is_empty() {
                break;
            }
            for (key, reason) in failed {
                self.close(key, reason);
            }
        }
        self.remove_closed();
    }

    /// Writes each recipient's share of the turn; returns the connections that failed.
    fn deliver_turn(&mut self) -> Vec<(usize, CloseReason)> {
        let mut failed = Vec::new();
        let registry = self.poll.registry();
        // Per framing, the turn's bytes in pages of their own, made on first need.
        let mut pages: [Option<io::Result<TurnPages>>; 2] = [None, None];
        for &key in self.fanout.dirty() {
            let (Some(conn), Some((framing, spans))) = (self.conns.get_mut(key), self.fanout.pending(key))
            else {
                continue;
            };
            let fanout = &self.fanout;
            let arena = fanout.arena(framing);
            let mut source = match self.zero_copy.as_mut().filter(|z| z.worth_it(spans)) {
                Some(zero_copy) => {
                    match pages[framing.index()].get_or_insert_with(|| TurnPages::copy_of(arena)) {
                        Ok(pages) => TurnSource::Splice {
                            arena,
                            pages,
                            zero_copy,
                        },
                        Err(_) => TurnSource::Copy(arena),
                    }
                }
                None => TurnSource::Copy(arena),
            };
            match conn.send_turn(&mut source, framing, spans, || fanout.shared(framing)) {
                Ok(n) => self.counters.bytes_out += n as u64,
                Err(e) => {
                    debug!("write to connection {key}: {e}");
                    failed.push((key, CloseReason::Error));
                    continue;
                }
            }
            let queued = conn.out.held_bytes();
            if queued > self.config.max_backlog && !conn.closing {
                drop_slow_client(conn, framing, queued);
                self.counters.slow_dropped += 1;
                info!("connection {key} dropped: too slow ({queued} bytes queued)");
                failed.push((key, CloseReason::TooSlow));
                continue;
            }
            set_write_interest(registry, conn, key);
        }
        failed
    }

    /// Removes the connections closed this turn, after one last try at their output.
    fn remove_closed(&mut self) {
        for (key, reason) in std::mem::take(&mut self.to_close) {
            let Some(mut conn) = self.conns.try_remove(key) else {
                continue;
            };
            self.rejecting -= usize::from(conn.rejecting);
            self.connecting -= usize::from(conn.decoder.is_none());
            self.fanout.remove_recipient(key);
            if let Ok(n) = conn.out.write_to(&mut conn.stream) {
                self.counters.bytes_out += n as u64;
            }
            let _ = conn.stream.shutdown(Shutdown::Write);
            drain_input(&mut conn, &mut self.read_buf);
            if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
                debug!("deregister connection {key}: {e}");
            }
            debug!("connection {key} closed ({reason:?})"); // its "opened" line names the peer
            if self.accept_retry.is_some() {
                // A file descriptor was just freed: try accepting at once.
                self.accept_retry = Some((Instant::now(), ACCEPT_BACKOFF_MIN));
            }
        }
    }
}

/// Registers WRITABLE interest exactly while the connection has output queued.
pub(super) fn set_write_interest(registry: &Registry, conn: &mut Connection, key: usize) {
    let wants = !conn.out.is_empty();
    if wants == conn.wants_writable {
        return;
    }
    let interest = if wants {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    match registry.reregister(&mut conn.stream, Token(key), interest) {
        Ok(()) => conn.wants_writable = wants,
        Err(e) => warn!("reregister connection {key}: {e}"),
    }
}

/// A client that does not read: its queue is dropped and it gets a last best-effort
/// line (after the rest of any half-written message, so the line stands on its own).
pub(super) fn drop_slow_client(conn: &mut Connection, framing: Framing, queued: usize) {
    let mut last = conn.out.drop_all(framing);
    let notice = format!("! disconnected: too slow ({queued} bytes queued)");
    framing.encode_into(notice.as_bytes(), &mut last);
    let _ = conn.stream.write(&last);
}

/// Reads and discards what the peer already sent, up to a bound; returns the bytes read.
pub(super) fn drain_input(conn: &mut Connection, scratch: &mut Vec<u8>) -> usize {
    scratch.resize(64 * 1024, 0);
    let mut total = 0;
    while total < CLOSE_DRAIN_LIMIT {
        match conn.stream.read(scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    scratch.clear();
    total
}
