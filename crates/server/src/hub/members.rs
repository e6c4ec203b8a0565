//! The membership mirror: who is in which conversation (and from which seq
//! they see its log), which visitors' connections watch which public
//! channel, and the DM conversation of each user pair looked up so far.
//!
//! Loaded from the store at start and changed only by services, after the
//! store write commits, so that delivering a message or checking membership
//! never touches the disk. The store stays the truth.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use confab_proto::{ConvId, ConvKind, Seq};
use confab_store::{Membership, UserId};

use super::conns::ConnId;
use crate::outbox::Outbox;

pub(crate) struct Members {
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    convs: HashMap<ConvId, Conv>,
    user_convs: HashMap<UserId, HashSet<ConvId>>,
    /// DM conversations by user pair (smaller id first), filled as they are
    /// looked up or created, so that a direct message costs no store read.
    dm_pairs: HashMap<(UserId, UserId), ConvId>,
}

#[derive(Default)]
pub(crate) struct Conv {
    /// Channel unless told otherwise (a DM's and a group's kinds are set
    /// when the store says so or when they are created).
    pub(crate) kind: Option<ConvKind>,
    /// Each member and the seq after which they see the log.
    pub(crate) members: HashMap<UserId, Seq>,
    /// Visitors' connections watching a public channel.
    pub(crate) watchers: HashMap<ConnId, Arc<Outbox>>,
}

impl State {
    pub(crate) fn conv(&self, conv: ConvId) -> Option<&Conv> {
        self.convs.get(&conv)
    }
}

fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
    (a.min(b), a.max(b))
}

impl Members {
    pub(crate) fn new(memberships: Vec<Membership>) -> Self {
        let mut state = State::default();
        for m in memberships {
            let c = state.convs.entry(m.conv).or_default();
            c.kind = Some(m.kind);
            c.members.insert(m.user, m.from_seq);
            state.user_convs.entry(m.user).or_default().insert(m.conv);
        }
        Members {
            state: Mutex::new(state),
        }
    }

    /// The mirror, locked (before the connection registry, if both).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_member(&self, conv: ConvId, user: UserId) -> bool {
        self.view_start(conv, user).is_some()
    }

    /// Where `user`'s view of `conv`'s log starts, if they are a member.
    pub(crate) fn view_start(&self, conv: ConvId, user: UserId) -> Option<Seq> {
        self.lock()
            .convs
            .get(&conv)
            .and_then(|c| c.members.get(&user).copied())
    }

    /// Records a conversation's kind (a DM or a group, created just now).
    pub(crate) fn set_kind(&self, conv: ConvId, kind: ConvKind) {
        self.lock().convs.entry(conv).or_default().kind = Some(kind);
    }

    /// The members of group `conv` (`None` for any other conversation).
    pub(crate) fn group_members(&self, conv: ConvId) -> Option<Vec<UserId>> {
        let s = self.lock();
        let c = s.convs.get(&conv)?;
        (c.kind == Some(ConvKind::Group)).then(|| c.members.keys().copied().collect())
    }

    /// The other member of a DM conversation `user` is in; `None` for any
    /// other kind of conversation (or a DM they are not in).
    pub(crate) fn dm_partner(&self, conv: ConvId, user: UserId) -> Option<UserId> {
        let s = self.lock();
        let c = s.convs.get(&conv)?;
        if c.kind != Some(ConvKind::Dm) || !c.members.contains_key(&user) {
            return None;
        }
        c.members.keys().copied().find(|m| *m != user)
    }

    pub(crate) fn count(&self, conv: ConvId) -> usize {
        self.lock().convs.get(&conv).map_or(0, |c| c.members.len())
    }

    pub(crate) fn add(&self, conv: ConvId, user: UserId, from_seq: Seq) {
        let mut s = self.lock();
        s.convs
            .entry(conv)
            .or_default()
            .members
            .entry(user)
            .or_insert(from_seq);
        s.user_convs.entry(user).or_default().insert(conv);
    }

    pub(crate) fn remove(&self, conv: ConvId, user: UserId) {
        let mut s = self.lock();
        if let Some(c) = s.convs.get_mut(&conv) {
            c.members.remove(&user);
        }
        if let Some(set) = s.user_convs.get_mut(&user) {
            set.remove(&conv);
        }
    }

    /// Forgets a deleted conversation. Returns its watchers' outboxes, for
    /// a last word.
    pub(crate) fn remove_conv(&self, conv: ConvId) {
        let mut s = self.lock();
        if let Some(c) = s.convs.remove(&conv) {
            for m in c.members.keys() {
                if let Some(set) = s.user_convs.get_mut(m) {
                    set.remove(&conv);
                }
            }
        }
        s.dm_pairs.retain(|_, c| *c != conv);
    }

    /// Everyone sharing a conversation with `user`.
    pub(crate) fn peers_of(&self, user: UserId) -> HashSet<UserId> {
        let s = self.lock();
        let mut peers = HashSet::new();
        for conv in s.user_convs.get(&user).into_iter().flatten() {
            if let Some(c) = s.convs.get(conv) {
                peers.extend(c.members.keys().copied().filter(|m| *m != user));
            }
        }
        peers
    }

    pub(crate) fn watch(&self, conv: ConvId, conn: ConnId, outbox: Arc<Outbox>) {
        self.lock()
            .convs
            .entry(conv)
            .or_default()
            .watchers
            .insert(conn, outbox);
    }

    /// Whether connection `conn` (a visitor's) watches `conv`.
    pub(crate) fn is_watching(&self, conv: ConvId, conn: ConnId) -> bool {
        self.lock()
            .convs
            .get(&conv)
            .is_some_and(|c| c.watchers.contains_key(&conn))
    }

    pub(crate) fn unwatch(&self, conv: ConvId, conn: ConnId) -> bool {
        self.lock()
            .convs
            .get_mut(&conv)
            .is_some_and(|c| c.watchers.remove(&conn).is_some())
    }

    /// The DM conversation of `a` and `b`, if known here.
    pub(crate) fn dm(&self, a: UserId, b: UserId) -> Option<ConvId> {
        self.lock().dm_pairs.get(&pair(a, b)).copied()
    }

    pub(crate) fn remember_dm(&self, a: UserId, b: UserId, conv: ConvId) {
        self.lock().dm_pairs.insert(pair(a, b), conv);
    }
}
