//! The connection registry: every open connection's outbox, and each
//! logged-in user's connections. Behind its own lock, taken only for short,
//! non-async work (pushing a shared frame into an outbox is a pointer copy).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use confab_store::UserId;

use crate::outbox::Outbox;

pub(crate) type ConnId = u64;

/// One connection as publishers see it.
pub(crate) type Conn = (ConnId, Arc<Outbox>);

pub(crate) struct Connections {
    state: Mutex<State>,
    next: AtomicU64,
}

#[derive(Default)]
pub(crate) struct State {
    all: HashMap<ConnId, Arc<Outbox>>,
    by_user: HashMap<UserId, Vec<Conn>>,
}

impl State {
    /// Every connection of `user`.
    pub(crate) fn of(&self, user: UserId) -> &[Conn] {
        self.by_user.get(&user).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Outbox>> {
        self.all.values()
    }
}

impl Connections {
    pub(crate) fn new() -> Self {
        Connections {
            state: Mutex::new(State::default()),
            next: AtomicU64::new(1),
        }
    }

    /// The registry, locked. Lock order: the membership mirror first, then
    /// this (a publisher reads a conversation's members, then their
    /// connections).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn register(&self, outbox: Arc<Outbox>) -> ConnId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().all.insert(id, outbox);
        id
    }

    /// Forgets a closed connection (already detached from its user).
    pub(crate) fn unregister(&self, conn: ConnId) {
        self.lock().all.remove(&conn);
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().all.len()
    }

    /// `conn` is logged in as `user`.
    pub(crate) fn attach(&self, user: UserId, conn: ConnId, outbox: Arc<Outbox>) {
        self.lock()
            .by_user
            .entry(user)
            .or_default()
            .push((conn, outbox));
    }

    /// `conn` logged out or closed. Returns how many connections `user` has left.
    pub(crate) fn detach(&self, user: UserId, conn: ConnId) -> usize {
        let mut s = self.lock();
        let Some(conns) = s.by_user.get_mut(&user) else {
            return 0;
        };
        conns.retain(|(c, _)| *c != conn);
        let left = conns.len();
        if left == 0 {
            s.by_user.remove(&user);
        }
        left
    }
}
