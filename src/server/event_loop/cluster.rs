//! What the cluster link reports, acted on: the chat becomes shared or local, waiting
//! clients get their answers (and their held input is handled again), and room and
//! private messages from the bus reach this server's clients through the fan-out, like
//! any other output of the turn.
//!
//! Redis works through the cluster's commands in order, so one client's flood of
//! commands (a storm of `/join`s is four each) would delay everyone's room messages
//! behind it. A client's next message therefore waits (unread, like a parked one) while
//! Redis still has more than [`REDIS_SHARE`] commands to do up to the client's last
//! one: whatever anyone sends finds at most that many, plus a message's worth from each
//! other client, ahead of it.

use super::Server;
use crate::chat::Outbox;
use crate::server::cluster::{ChatOut, ClusterEvent, LINK_LOST, LINK_RESTORED};
use mio::Token;
use std::time::Instant;

/// Commands Redis may still have to do up to a client's last one before the client's
/// next message waits: enough for a turn's room messages to be pipelined, few enough
/// that a flood of commands delays others by a millisecond or two, not by the flood.
pub(super) const REDIS_SHARE: u64 = 256;

impl Server {
    /// An event on one of the Redis connections.
    pub(super) fn cluster_ready(&mut self, token: Token) {
        let mut events = std::mem::take(&mut self.cluster_events);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.ready(token, self.poll.registry(), &mut events);
        }
        self.on_cluster_events(&mut events);
        self.cluster_events = events;
    }

    /// At the start of a turn: bus input the last turn's budget left unread.
    pub(super) fn cluster_read_again(&mut self) {
        let mut events = std::mem::take(&mut self.cluster_events);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.read_again(self.poll.registry(), &mut events);
        }
        self.on_cluster_events(&mut events);
        self.cluster_events = events;
    }

    /// Timers: reconnecting and the heartbeat.
    pub(super) fn cluster_tick(&mut self, now: Instant) {
        let mut events = std::mem::take(&mut self.cluster_events);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.tick(now, self.poll.registry(), &mut events);
        }
        self.on_cluster_events(&mut events);
        self.cluster_events = events;
    }

    /// At the end of a turn, before its output is delivered: the turn's commands go to
    /// Redis in one write.
    pub(super) fn flush_cluster(&mut self) {
        let mut events = std::mem::take(&mut self.cluster_events);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.flush(self.poll.registry(), &mut events);
        }
        self.on_cluster_events(&mut events);
        self.cluster_events = events;
    }

    /// Whether the client's next message must wait for Redis to catch up (it is put on
    /// the list of those waiting, once).
    pub(super) fn behind_redis(&mut self, key: usize) -> bool {
        let Some(cluster) = self.cluster.as_ref() else {
            return false;
        };
        let conn = &mut self.conns[key];
        if cluster.queued_through(conn.redis_mark) <= REDIS_SHARE {
            return false;
        }
        if !conn.held_for_redis {
            conn.held_for_redis = true;
            self.held_for_redis.push_back((key, conn.serial));
        }
        true
    }

    /// After a message: if it sent commands to Redis (`sent_before` is the count before
    /// it), the client's mark is the last of them.
    pub(super) fn mark_redis_commands(&mut self, key: usize, sent_before: Option<u64>) {
        let Some(sent) = self.cluster.as_ref().map(|c| c.commands_sent()) else {
            return;
        };
        if sent_before != Some(sent) {
            self.conns[key].redis_mark = sent;
        }
    }

    /// Clients held for Redis whose last command is now within [`REDIS_SHARE`] of done
    /// (or whose link was lost) are read again next turn, first held first out. The
    /// first one still behind ends the search: one held later with an earlier mark
    /// waits at most for the commands between the two marks.
    fn release_behind_redis(&mut self) {
        while let Some(&(key, serial)) = self.held_for_redis.front() {
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.serial == serial) else {
                self.held_for_redis.pop_front(); // gone; its key may be someone else's
                continue;
            };
            let mark = conn.redis_mark;
            if self
                .cluster
                .as_ref()
                .is_some_and(|c| c.queued_through(mark) > REDIS_SHARE)
            {
                break;
            }
            conn.held_for_redis = false;
            let closing = conn.closing;
            self.held_for_redis.pop_front();
            if !closing {
                self.read_next_turn(key);
            }
        }
    }

    fn on_cluster_events(&mut self, events: &mut Vec<ClusterEvent>) {
        for event in events.drain(..) {
            let mut out = ChatOut {
                fanout: &mut self.fanout,
                cluster: self.cluster.as_mut(),
            };
            match event {
                ClusterEvent::Up => {
                    self.chat.set_cluster_up(true, &mut out);
                    let Some(cluster) = self.cluster.as_mut() else {
                        continue;
                    };
                    if cluster.told_lost() {
                        cluster.told_restored();
                        for id in self.chat.client_ids() {
                            self.fanout.to_client(id, LINK_RESTORED);
                        }
                    }
                }
                ClusterEvent::Down => {
                    self.chat.set_cluster_up(false, &mut out);
                    for id in self.chat.client_ids() {
                        self.fanout.to_client(id, LINK_LOST);
                    }
                }
                ClusterEvent::Registered { taken_for_dead } => {
                    if let Some(cluster) = self.cluster.as_mut() {
                        cluster.reclaim(self.chat.members_snapshot(), taken_for_dead);
                    }
                }
                ClusterEvent::Answer(id, answer) => {
                    self.chat.answered(id, answer, &mut out);
                    if self.fanout.closes().contains(&id) {
                        self.close(id, super::CloseReason::Requested);
                    } else if self.conns.get(id).is_some_and(|c| !c.closing) && !self.chat.is_waiting(id) {
                        self.read_next_turn(id); // what it sent meanwhile
                    }
                }
                ClusterEvent::Replaced { id, old, new } => self.chat.replace_nick(id, &old, &new, &mut out),
                ClusterEvent::Room {
                    room,
                    kind,
                    sender,
                    text,
                } => self.chat.deliver_room(&room, kind, sender, &text, &mut out),
                ClusterEvent::Counted { room, members } => self.chat.room_counted(&room, members),
                ClusterEvent::Private { from, to, text } => {
                    self.chat.deliver_private(&from, &to, &text, &mut out)
                }
            }
        }
        self.release_behind_redis();
    }
}
