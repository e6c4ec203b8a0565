//! Publishing: every event a service sends goes through a [`Bus`], which
//! knows who is in the audience and where their connections are.
//! [`LocalBus`] delivers within this process from the membership mirror
//! and the connection registry; a bus for several servers (NATS) would
//! publish the same calls to its peers, each delivering to its own
//! connections.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use confab_proto::ConvId;
use confab_store::UserId;

use super::conns::{ConnId, Connections};
use super::members::Members;
use super::udp::Udp;
use crate::outbox::Outbox;
use crate::stats::Stats;

/// Who receives an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Every connection of every member of a conversation, and every
    /// visitor watching it.
    Conv(ConvId),
    /// Every connection of one user.
    User(UserId),
    /// Every connection, logged in or not.
    Everyone,
}

/// Who in the audience is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Except {
    /// One connection (the sender's, which gets a reply instead).
    pub conn: Option<ConnId>,
    /// Every connection of one user.
    pub user: Option<UserId>,
}

impl Except {
    pub(crate) const NONE: Except = Except {
        conn: None,
        user: None,
    };

    pub(crate) fn conn(conn: ConnId) -> Except {
        Except {
            conn: Some(conn),
            user: None,
        }
    }

    pub(crate) fn user(user: UserId) -> Except {
        Except {
            conn: None,
            user: Some(user),
        }
    }
}

pub(crate) trait Bus: Send + Sync {
    /// Queues `frame` (serialised once, shared) for the audience. Events
    /// are dropped for a connection whose outbox is full, which marks it
    /// lagged (it catches up with `sync`); `Everyone` is never dropped
    /// (operators' notices, shutdown).
    fn publish(&self, to: Audience, frame: &Bytes, except: Except);

    /// `user`'s typing notice to a conversation's audience: by datagram to
    /// each connection whose UDP path is live, else as `frame` on its
    /// stream (dropped for a connection that is behind, without marking it
    /// lagged: a stale typing notice is not worth catching up on).
    fn typing(&self, conv: ConvId, user: &str, frame: &Bytes, except: Except);
}

/// Delivers to the connections of this process.
pub(crate) struct LocalBus {
    pub(crate) members: Arc<Members>,
    pub(crate) conns: Arc<Connections>,
    pub(crate) stats: Arc<Stats>,
    /// The UDP path for typing notices, if the server has one.
    pub(crate) udp: Option<Arc<Udp>>,
}

impl LocalBus {
    /// Calls `f` under the locks (members, then connections) with each
    /// connection of each member of `conv` but `except_user`, then each
    /// visitor's connection watching it (`true` for those).
    fn each_conn(
        &self,
        conv: ConvId,
        except_user: Option<UserId>,
        mut f: impl FnMut(ConnId, &Arc<Outbox>, bool),
    ) {
        let members = self.members.lock();
        let Some(c) = members.conv(conv) else { return };
        let conns = self.conns.lock();
        for m in c.members.keys() {
            if Some(*m) != except_user {
                for (id, out) in conns.of(*m) {
                    f(*id, out, false);
                }
            }
        }
        for (id, out) in &c.watchers {
            f(*id, out, true);
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, to: Audience, frame: &Bytes, except: Except) {
        let (mut queued, mut dropped) = (0u64, 0u64);
        let mut push = |id: ConnId, out: &Arc<Outbox>| {
            if Some(id) != except.conn {
                if out.push_event(frame.clone()) {
                    queued += 1;
                } else {
                    dropped += 1;
                }
            }
        };
        match to {
            Audience::Conv(conv) => self.each_conn(conv, except.user, |id, out, _| push(id, out)),
            Audience::User(user) => {
                if Some(user) == except.user {
                    return;
                }
                let conns = self.conns.lock();
                for (id, out) in conns.of(user) {
                    push(*id, out);
                }
            }
            Audience::Everyone => {
                for out in self.conns.lock().all() {
                    out.push_reply(frame.clone());
                    queued += 1;
                }
            }
        }
        self.stats.events.fetch_add(queued, Ordering::Relaxed);
        self.stats
            .events_dropped
            .fetch_add(dropped, Ordering::Relaxed);
    }

    fn typing(&self, conv: ConvId, user: &str, frame: &Bytes, except: Except) {
        // Who hears it, gathered under the locks; the datagrams go out
        // after they are released.
        let mut members_conns: Vec<(ConnId, Arc<Outbox>)> = Vec::new();
        let mut watchers: Vec<Arc<Outbox>> = Vec::new();
        self.each_conn(conv, except.user, |id, out, watcher| {
            if Some(id) != except.conn {
                if watcher {
                    watchers.push(out.clone());
                } else {
                    members_conns.push((id, out.clone()));
                }
            }
        });
        for (id, out) in members_conns {
            let by_datagram = self
                .udp
                .as_ref()
                .is_some_and(|udp| udp.try_typing(id, conv, user));
            if !by_datagram {
                out.push_lossy(frame.clone());
            }
        }
        for out in watchers {
            out.push_lossy(frame.clone());
        }
    }
}
