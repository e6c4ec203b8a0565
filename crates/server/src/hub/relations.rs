//! The relations mirror: friendships and blocks in memory, for presence
//! (friends are told when a friend comes online) and for the checks a
//! direct message needs (has the recipient blocked the sender?). Loaded
//! from the store at start; the social service changes it after each store
//! write commits.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use confab_store::{AllRelations, UserId};

pub(crate) struct Relations {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    friends: HashMap<UserId, HashSet<UserId>>,
    /// Blocker to the users they block.
    blocks: HashMap<UserId, HashSet<UserId>>,
}

impl Relations {
    pub(crate) fn new(all: AllRelations) -> Self {
        let mut s = State::default();
        for (a, b) in all.friendships {
            s.friends.entry(a).or_default().insert(b);
            s.friends.entry(b).or_default().insert(a);
        }
        for (a, b) in all.blocks {
            s.blocks.entry(a).or_default().insert(b);
        }
        Relations {
            state: Mutex::new(s),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn are_friends(&self, a: UserId, b: UserId) -> bool {
        self.lock().friends.get(&a).is_some_and(|f| f.contains(&b))
    }

    pub(crate) fn friends_of(&self, user: UserId) -> Vec<UserId> {
        self.lock()
            .friends
            .get(&user)
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether `blocker` blocks `other`.
    pub(crate) fn blocks(&self, blocker: UserId, other: UserId) -> bool {
        self.lock()
            .blocks
            .get(&blocker)
            .is_some_and(|b| b.contains(&other))
    }

    pub(crate) fn befriend(&self, a: UserId, b: UserId) {
        let mut s = self.lock();
        s.friends.entry(a).or_default().insert(b);
        s.friends.entry(b).or_default().insert(a);
    }

    pub(crate) fn unfriend(&self, a: UserId, b: UserId) {
        let mut s = self.lock();
        for (x, y) in [(a, b), (b, a)] {
            if let Some(f) = s.friends.get_mut(&x) {
                f.remove(&y);
            }
        }
    }

    pub(crate) fn block(&self, blocker: UserId, other: UserId) {
        self.unfriend(blocker, other);
        self.lock().blocks.entry(blocker).or_default().insert(other);
    }

    pub(crate) fn unblock(&self, blocker: UserId, other: UserId) {
        if let Some(b) = self.lock().blocks.get_mut(&blocker) {
            b.remove(&other);
        }
    }
}
