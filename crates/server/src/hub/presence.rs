//! The presence tracker: who is online, who is invisible, and telling the
//! people who can see a user (everyone sharing a conversation with them,
//! and their friends) when they come and go.
//!
//! A user is shown online while they have a logged-in connection and are
//! not invisible. When their last connection drops (rather than logging
//! out), they stay shown online for `grace`, so that a network blip or a
//! server-wide reconnect does not tell everyone they left and came back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use confab_proto::ServerBody;
use confab_store::UserId;

use super::bus::{Audience, Bus, Except};
use super::event;
use super::members::Members;
use super::relations::Relations;

pub(crate) struct Presence {
    state: Mutex<HashMap<UserId, Online>>,
    grace: Duration,
    /// Set when shutdown begins: connections closing then are not news.
    quiet: AtomicBool,
    next_departure: AtomicU64,
    members: Arc<Members>,
    relations: Arc<Relations>,
    bus: Arc<dyn Bus>,
    bridge: Arc<super::remote::Hooks>,
}

struct Online {
    name: String,
    invisible: bool,
    conns: usize,
    /// Set while the user has no connection left but is still shown online
    /// (within the grace period); the number tells this departure apart
    /// from a later one.
    departing: Option<u64>,
}

impl Presence {
    pub(crate) fn new(
        grace: Duration,
        members: Arc<Members>,
        relations: Arc<Relations>,
        bus: Arc<dyn Bus>,
        bridge: Arc<super::remote::Hooks>,
    ) -> Self {
        Presence {
            state: Mutex::new(HashMap::new()),
            grace,
            quiet: AtomicBool::new(false),
            next_departure: AtomicU64::new(1),
            members,
            relations,
            bus,
            bridge,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, Online>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection of `user` logged in. Announces them if this makes them
    /// visibly online.
    pub(crate) fn attach(&self, user: UserId, name: &str, invisible: bool) {
        let announce = {
            let mut s = self.lock();
            let entry = s.entry(user).or_insert_with(|| Online {
                name: name.to_owned(),
                invisible,
                conns: 0,
                departing: None,
            });
            // Back within the grace period: nobody was told they left.
            let was_visible =
                (entry.conns > 0 || entry.departing.take().is_some()) && !entry.invisible;
            entry.invisible = invisible;
            entry.conns += 1;
            !was_visible && !invisible
        };
        if announce {
            self.announce(user, name, true);
        }
    }

    /// A connection of `user` logged out (`logout`) or closed. A user whose
    /// last connection closed goes offline after the grace period unless
    /// they come back; one who logged out goes offline at once.
    pub(crate) fn detach(self: &Arc<Self>, user: UserId, logout: bool) {
        let mut s = self.lock();
        let Some(entry) = s.get_mut(&user) else {
            return;
        };
        entry.conns = entry.conns.saturating_sub(1);
        if entry.conns > 0 {
            return;
        }
        if logout || entry.invisible || self.grace.is_zero() || self.quiet.load(Ordering::Relaxed) {
            let gone = s.remove(&user);
            drop(s);
            self.gone(user, gone);
            return;
        }
        let departure = self.next_departure.fetch_add(1, Ordering::Relaxed);
        entry.departing = Some(departure);
        drop(s);
        let (me, grace) = (self.clone(), self.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let gone = {
                let mut s = me.lock();
                if s.get(&user).is_some_and(|e| e.departing == Some(departure)) {
                    s.remove(&user)
                } else {
                    None
                }
            };
            me.gone(user, gone);
        });
    }

    fn gone(&self, user: UserId, gone: Option<Online>) {
        if let Some(gone) = gone
            && !gone.invisible
        {
            self.announce(user, &gone.name, false);
        }
    }

    /// Turns invisibility on or off for every connection of `user`.
    pub(crate) fn set_invisible(&self, user: UserId, invisible: bool) {
        let name = {
            let mut s = self.lock();
            let Some(entry) = s.get_mut(&user) else {
                return;
            };
            if entry.invisible == invisible {
                return;
            }
            entry.invisible = invisible;
            entry.name.clone()
        };
        self.announce(user, &name, !invisible);
    }

    /// Stops presence events: the server is going down and every client
    /// has been told so.
    pub(crate) fn go_quiet(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }

    /// Tells everyone who can see `user` that they came or went.
    fn announce(&self, user: UserId, name: &str, online: bool) {
        if self.quiet.load(Ordering::Relaxed) {
            return;
        }
        self.bridge.online(user, name, online);
        let frame = event(ServerBody::Presence {
            user: name.to_owned(),
            online,
        });
        let mut peers = self.members.peers_of(user);
        peers.extend(self.relations.friends_of(user));
        // Only those with a connection have anywhere to be told. (The lock
        // is not held while publishing: nothing else takes this one first.)
        let online_now = self.lock();
        peers.retain(|p| online_now.contains_key(p));
        drop(online_now);
        for peer in peers {
            self.bus.publish(Audience::User(peer), &frame, Except::NONE);
        }
    }

    /// Tells `user`'s other devices, and everyone who shares a
    /// conversation with them or is their friend and is online, that
    /// their profile picture changed.
    pub(crate) fn avatar_changed(&self, user: UserId, name: &str) {
        let frame = event(ServerBody::Avatar {
            user: name.to_owned(),
        });
        let mut peers = self.members.peers_of(user);
        peers.extend(self.relations.friends_of(user));
        peers.insert(user);
        let online_now = self.lock();
        peers.retain(|p| online_now.contains_key(p));
        drop(online_now);
        for peer in peers {
            self.bus.publish(Audience::User(peer), &frame, Except::NONE);
        }
    }

    /// Whether others see `user` online.
    pub(crate) fn is_visible(&self, user: UserId) -> bool {
        self.lock().get(&user).is_some_and(|o| !o.invisible)
    }

    /// Names of users others see online, sorted.
    pub(crate) fn visible_users(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .lock()
            .values()
            .filter(|o| !o.invisible)
            .map(|o| o.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Users shown online or within their grace period: (name,
    /// connections, invisible).
    pub(crate) fn online_summary(&self) -> Vec<(String, usize, bool)> {
        let mut v: Vec<_> = self
            .lock()
            .values()
            .map(|o| (o.name.clone(), o.conns, o.invisible))
            .collect();
        v.sort();
        v
    }
}
