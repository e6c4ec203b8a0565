//! Who is connected, who is in which conversation, and fan-out.
//!
//! The hub mirrors the store's memberships in memory so that delivering a
//! message or checking membership never touches the disk. Everything sits
//! behind one std `Mutex`, held only for short, non-async work: pushing an
//! already-serialised frame into an [`Outbox`] is a pointer copy. The store
//! stays the truth; the hub is updated after each store change commits.
//!
//! Presence lives here too. A user is shown online when they have at least
//! one logged-in connection and are not invisible; `presence` events go to
//! every user sharing a conversation with them. When a user's last
//! connection drops (rather than logging out), they stay shown online for
//! `presence_grace`, so that a network blip or a server-wide reconnect does
//! not tell everyone they left and came back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use confab_proto::{ConvId, ServerBody, ServerFrame};
use confab_store::UserId;

use crate::outbox::Outbox;

pub(crate) type ConnId = u64;

/// Counters for the console and, later, `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub connections_total: AtomicU64,
    pub messages: AtomicU64,
    pub events_dropped: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

pub(crate) struct Hub {
    state: Mutex<State>,
    /// Set when shutdown begins: connections closing then are not news.
    quiet: AtomicBool,
    next_conn: AtomicU64,
    next_visitor: AtomicI64,
    /// How long a dropped user still shows online (see the module docs).
    grace: Duration,
    next_departure: AtomicU64,
    pub(crate) stats: Stats,
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnId, Arc<Outbox>>,
    online: HashMap<UserId, Online>,
    convs: HashMap<ConvId, Conv>,
    user_convs: HashMap<UserId, HashSet<ConvId>>,
    /// What every `dm_send` would otherwise read from the store: DM
    /// conversations by user pair (smaller id first) and user ids by name.
    /// Filled as they are looked up, so they grow only with the user table.
    /// (Deleting users, when it comes, must forget them here.)
    dm_pairs: HashMap<(UserId, UserId), ConvId>,
    user_ids: HashMap<String, UserId>,
}

struct Online {
    name: String,
    invisible: bool,
    conns: Vec<(ConnId, Arc<Outbox>)>,
    /// Set while the user has no connection left but is still shown online
    /// (within the grace period); the number tells this departure apart
    /// from a later one.
    departing: Option<u64>,
}

#[derive(Default)]
struct Conv {
    members: HashSet<UserId>,
    /// Visitors' connections watching a public channel.
    watchers: HashMap<ConnId, Arc<Outbox>>,
}

/// Serialises a frame once; the bytes are then shared by every recipient.
pub(crate) fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(serde_json::to_vec(frame).expect("server frames always serialize"))
}

pub(crate) fn event(body: ServerBody) -> Bytes {
    encode(&ServerFrame::event(body))
}

impl Hub {
    pub(crate) fn new(memberships: Vec<(ConvId, UserId)>, grace: Duration) -> Self {
        let mut state = State::default();
        for (conv, user) in memberships {
            state.convs.entry(conv).or_default().members.insert(user);
            state.user_convs.entry(user).or_default().insert(conv);
        }
        Hub {
            state: Mutex::new(state),
            quiet: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            next_visitor: AtomicI64::new(-1),
            grace,
            next_departure: AtomicU64::new(1),
            stats: Stats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn register(&self, outbox: Arc<Outbox>) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.stats.connections_total.fetch_add(1, Ordering::Relaxed);
        self.lock().conns.insert(id, outbox);
        id
    }

    /// Forgets a closed connection. Its session has already unwatched what
    /// it watched and detached from presence (`Session::finish`).
    pub(crate) fn unregister(&self, conn: ConnId) {
        self.lock().conns.remove(&conn);
    }

    /// A fresh id for a visitor: negative, so it never meets a stored user.
    pub(crate) fn visitor_id(&self) -> UserId {
        self.next_visitor.fetch_sub(1, Ordering::Relaxed)
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// A logged-in connection of `user`. Tells their peers they came online
    /// if this makes them visibly online.
    pub(crate) fn attach(
        &self,
        user: UserId,
        name: &str,
        invisible: bool,
        conn: ConnId,
        outbox: Arc<Outbox>,
    ) {
        let mut s = self.lock();
        let entry = s.online.entry(user).or_insert_with(|| Online {
            name: name.to_owned(),
            invisible,
            conns: Vec::new(),
            departing: None,
        });
        // Back within the grace period: nobody was told they left.
        let was_visible =
            (!entry.conns.is_empty() || entry.departing.take().is_some()) && !entry.invisible;
        entry.invisible = invisible;
        entry.conns.push((conn, outbox));
        if !was_visible && !invisible {
            let name = name.to_owned();
            self.presence_locked(&s, user, name, true);
        }
    }

    /// The connection logged out (`logout`) or closed. A user whose last
    /// connection closed goes offline after the grace period unless they
    /// come back; one who logged out goes offline at once.
    pub(crate) fn detach(self: &Arc<Self>, user: UserId, conn: ConnId, logout: bool) {
        let mut s = self.lock();
        let Some(entry) = s.online.get_mut(&user) else {
            return;
        };
        entry.conns.retain(|(c, _)| *c != conn);
        if !entry.conns.is_empty() {
            return;
        }
        if logout || entry.invisible || self.grace.is_zero() || self.quiet.load(Ordering::Relaxed) {
            self.go_offline_locked(&mut s, user);
            return;
        }
        let departure = self.next_departure.fetch_add(1, Ordering::Relaxed);
        entry.departing = Some(departure);
        let (hub, grace) = (self.clone(), self.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut s = hub.lock();
            if s.online
                .get(&user)
                .is_some_and(|e| e.departing == Some(departure))
            {
                hub.go_offline_locked(&mut s, user);
            }
        });
    }

    fn go_offline_locked(&self, s: &mut State, user: UserId) {
        if let Some(gone) = s.online.remove(&user)
            && !gone.invisible
        {
            self.presence_locked(s, user, gone.name, false);
        }
    }

    /// Turns invisibility on or off for every connection of `user`.
    pub(crate) fn set_invisible(&self, user: UserId, invisible: bool) {
        let mut s = self.lock();
        let Some(entry) = s.online.get_mut(&user) else {
            return;
        };
        if entry.invisible == invisible {
            return;
        }
        entry.invisible = invisible;
        let name = entry.name.clone();
        self.presence_locked(&s, user, name, !invisible);
    }

    /// Stops presence events: the server is going down and every client
    /// has been told so.
    pub(crate) fn go_quiet(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }

    fn presence_locked(&self, s: &State, user: UserId, name: String, online: bool) {
        if self.quiet.load(Ordering::Relaxed) {
            return;
        }
        let frame = event(ServerBody::Presence { user: name, online });
        let mut peers = HashSet::new();
        for conv in s.user_convs.get(&user).into_iter().flatten() {
            if let Some(c) = s.convs.get(conv) {
                peers.extend(c.members.iter().copied().filter(|m| *m != user));
            }
        }
        for peer in peers {
            if let Some(o) = s.online.get(&peer) {
                for (_, out) in &o.conns {
                    out.push_event(frame.clone());
                }
            }
        }
    }

    /// Whether others see `user` online.
    pub(crate) fn is_visible(&self, user: UserId) -> bool {
        self.lock().online.get(&user).is_some_and(|o| !o.invisible)
    }

    /// Names of users others see online, sorted.
    pub(crate) fn visible_users(&self) -> Vec<String> {
        let s = self.lock();
        let mut names: Vec<String> = s
            .online
            .values()
            .filter(|o| !o.invisible)
            .map(|o| o.name.clone())
            .collect();
        names.sort();
        names
    }

    pub(crate) fn online_summary(&self) -> Vec<(String, usize, bool)> {
        let s = self.lock();
        let mut v: Vec<_> = s
            .online
            .values()
            .map(|o| (o.name.clone(), o.conns.len(), o.invisible))
            .collect();
        v.sort();
        v
    }

    /// The id of the user named `name`, if it was looked up before.
    pub(crate) fn user_id(&self, name: &str) -> Option<UserId> {
        self.lock().user_ids.get(name).copied()
    }

    pub(crate) fn remember_user(&self, name: &str, id: UserId) {
        self.lock().user_ids.insert(name.to_owned(), id);
    }

    /// The DM conversation of `a` and `b`, if it was looked up before.
    pub(crate) fn dm_conv(&self, a: UserId, b: UserId) -> Option<ConvId> {
        self.lock().dm_pairs.get(&(a.min(b), a.max(b))).copied()
    }

    pub(crate) fn remember_dm(&self, a: UserId, b: UserId, conv: ConvId) {
        self.lock().dm_pairs.insert((a.min(b), a.max(b)), conv);
    }

    /// Members of `conv` (the in-memory mirror of the store's).
    pub(crate) fn member_count(&self, conv: ConvId) -> usize {
        self.lock().convs.get(&conv).map_or(0, |c| c.members.len())
    }

    pub(crate) fn is_member(&self, conv: ConvId, user: UserId) -> bool {
        self.lock()
            .convs
            .get(&conv)
            .is_some_and(|c| c.members.contains(&user))
    }

    pub(crate) fn add_member(&self, conv: ConvId, user: UserId) {
        let mut s = self.lock();
        s.convs.entry(conv).or_default().members.insert(user);
        s.user_convs.entry(user).or_default().insert(conv);
    }

    pub(crate) fn remove_member(&self, conv: ConvId, user: UserId) {
        let mut s = self.lock();
        if let Some(c) = s.convs.get_mut(&conv) {
            c.members.remove(&user);
        }
        if let Some(set) = s.user_convs.get_mut(&user) {
            set.remove(&conv);
        }
    }

    /// Forgets a deleted conversation, after telling its members and watchers.
    pub(crate) fn remove_conv(&self, conv: ConvId, frame: Bytes) {
        let mut s = self.lock();
        Self::publish_locked(&self.stats, &s, conv, &frame, None, None);
        if let Some(c) = s.convs.remove(&conv) {
            for m in c.members {
                if let Some(set) = s.user_convs.get_mut(&m) {
                    set.remove(&conv);
                }
            }
        }
    }

    pub(crate) fn watch(&self, conv: ConvId, conn: ConnId, outbox: Arc<Outbox>) {
        self.lock()
            .convs
            .entry(conv)
            .or_default()
            .watchers
            .insert(conn, outbox);
    }

    pub(crate) fn unwatch(&self, conv: ConvId, conn: ConnId) -> bool {
        self.lock()
            .convs
            .get_mut(&conv)
            .is_some_and(|c| c.watchers.remove(&conn).is_some())
    }

    /// Delivers `frame` to every connection of every member and watcher of
    /// `conv`, except connection `skip_conn` and all of user `skip_user`'s.
    pub(crate) fn publish(
        &self,
        conv: ConvId,
        frame: &Bytes,
        skip_conn: Option<ConnId>,
        skip_user: Option<UserId>,
    ) {
        let s = self.lock();
        Self::publish_locked(&self.stats, &s, conv, frame, skip_conn, skip_user);
    }

    fn publish_locked(
        stats: &Stats,
        s: &State,
        conv: ConvId,
        frame: &Bytes,
        skip_conn: Option<ConnId>,
        skip_user: Option<UserId>,
    ) {
        let Some(c) = s.convs.get(&conv) else { return };
        let mut dropped = 0u64;
        let mut push = |id: ConnId, out: &Arc<Outbox>| {
            if Some(id) != skip_conn && !out.push_event(frame.clone()) {
                dropped += 1;
            }
        };
        for m in &c.members {
            if Some(*m) == skip_user {
                continue;
            }
            if let Some(o) = s.online.get(m) {
                for (id, out) in &o.conns {
                    push(*id, out);
                }
            }
        }
        for (id, out) in &c.watchers {
            push(*id, out);
        }
        stats.events_dropped.fetch_add(dropped, Ordering::Relaxed);
    }

    /// Delivers `frame` to every connection of `user`.
    pub(crate) fn send_to_user(&self, user: UserId, frame: &Bytes) {
        let s = self.lock();
        if let Some(o) = s.online.get(&user) {
            for (_, out) in &o.conns {
                out.push_event(frame.clone());
            }
        }
    }

    /// Delivers `frame` to every connection, logged in or not.
    pub(crate) fn broadcast(&self, frame: &Bytes) {
        for out in self.lock().conns.values() {
            out.push_reply(frame.clone());
        }
    }
}
