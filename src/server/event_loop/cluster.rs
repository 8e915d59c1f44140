//! What the cluster link reports, acted on: the chat becomes shared or local, waiting
//! clients get their answers (and their held input is handled again), and room and
//! private messages from the bus reach this server's clients through the fan-out, like
//! any other output of the turn.

use super::Server;
use crate::chat::Outbox;
use crate::server::cluster::{ChatOut, ClusterEvent, LINK_LOST, LINK_RESTORED};
use mio::Token;
use std::time::Instant;

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
                ClusterEvent::Private { from, to, text } => {
                    self.chat.deliver_private(&from, &to, &text, &mut out)
                }
            }
        }
    }
}
