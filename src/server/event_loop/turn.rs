//! The end of a loop turn: this turn's output goes out, one `writev` per recipient, and
//! connections that ended are removed.

use super::{CloseReason, Server, ACCEPT_BACKOFF_MIN};
use crate::framing::{websocket, Framing};
use crate::server::connection::{Connection, TurnSource};
use crate::server::transport::Transport;
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
        self.flush_cluster();
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
        let mut pages: [Option<io::Result<TurnPages>>; Framing::ALL.len()] = Default::default();
        for &key in self.fanout.dirty() {
            let (Some(conn), Some((framing, spans))) = (self.conns.get_mut(key), self.fanout.pending(key))
            else {
                continue;
            };
            let fanout = &self.fanout;
            let arena = fanout.arena(framing);
            // A TLS recipient's output is encrypted for it alone: copied, never spliced.
            let zero_copy = if conn.is_plain() {
                self.zero_copy.as_mut()
            } else {
                None
            };
            let mut source = match zero_copy.filter(|z| z.worth_it(spans)) {
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
            let queued = conn.held_output();
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

    /// One connection from `address` fewer, for `--max-per-address`.
    fn forget_address(&mut self, address: std::net::IpAddr) {
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }

    /// Removes the connections closed this turn, after one last try at their output.
    fn remove_closed(&mut self) {
        for (key, reason) in std::mem::take(&mut self.to_close) {
            let Some(mut conn) = self.conns.try_remove(key) else {
                continue;
            };
            self.rejecting -= usize::from(conn.refusal.is_some());
            self.connecting -= usize::from(!conn.joined);
            if let Some(address) = conn.counted_address {
                self.forget_address(address);
            }
            self.fanout.remove_recipient(key);
            self.counters.bytes_out += write_last_and_shut(&mut conn) as u64;
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

/// A closing connection's last try at its output (best effort), its TLS close_notify,
/// then FIN; returns the bytes written.
pub(super) fn write_last_and_shut(conn: &mut Connection) -> usize {
    let written = conn.write_queued().unwrap_or(0);
    if let Transport::Tls(session) = &mut conn.transport {
        session.send_close_notify();
    }
    let _ = conn.flush_tls();
    let _ = conn.stream.shutdown(Shutdown::Write);
    written
}

/// Registers WRITABLE interest exactly while the connection has output waiting.
pub(super) fn set_write_interest(registry: &Registry, conn: &mut Connection, key: usize) {
    let wants = conn.has_output();
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
    last.extend_from_slice(&framing.goodbye(websocket::POLICY_VIOLATION, "too slow"));
    let _ = conn.sink().write(&last);
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
