//! The user's friends, requests and blocks as the client knows them:
//! fetched after every login, kept current by `friend_update` and
//! `presence` events and by the answers to the user's own actions, and
//! kept in the cache so that they show offline too.

use confab_proto::{FriendInfo, FriendState};
use serde::{Deserialize, Serialize};

/// Friends (with presence), requests in and out, blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friends {
    pub friends: Vec<FriendInfo>,
    /// People asking to be the user's friend.
    pub incoming: Vec<String>,
    /// People the user asked.
    pub outgoing: Vec<String>,
    pub blocked: Vec<String>,
}

impl Friends {
    /// Where the user stands with `name`.
    pub fn state(&self, name: &str) -> FriendState {
        if self.friends.iter().any(|f| f.name == name) {
            FriendState::Friends
        } else if self.blocked.iter().any(|n| n == name) {
            FriendState::Blocked
        } else if self.incoming.iter().any(|n| n == name) {
            FriendState::Incoming
        } else if self.outgoing.iter().any(|n| n == name) {
            FriendState::Outgoing
        } else {
            FriendState::None
        }
    }

    /// Puts `name` where `state` says (and nowhere else).
    pub(crate) fn set(&mut self, name: &str, state: FriendState, online: bool) {
        self.friends.retain(|f| f.name != name);
        for list in [&mut self.incoming, &mut self.outgoing, &mut self.blocked] {
            list.retain(|n| n != name);
        }
        let insert = |list: &mut Vec<String>| {
            list.push(name.to_owned());
            list.sort();
        };
        match state {
            FriendState::None => {}
            FriendState::Friends => {
                self.friends.push(FriendInfo {
                    name: name.to_owned(),
                    online,
                });
                self.friends.sort_by(|a, b| a.name.cmp(&b.name));
            }
            FriendState::Incoming => insert(&mut self.incoming),
            FriendState::Outgoing => insert(&mut self.outgoing),
            FriendState::Blocked => insert(&mut self.blocked),
        }
    }

    /// A friend came or went; false if `name` is not a friend.
    pub(crate) fn presence(&mut self, name: &str, online: bool) -> bool {
        match self.friends.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                f.online = online;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_in_one_list_at_a_time() {
        let mut f = Friends::default();
        f.set("bob", FriendState::Incoming, false);
        assert_eq!(f.state("bob"), FriendState::Incoming);
        f.set("bob", FriendState::Friends, true);
        assert!(f.incoming.is_empty());
        assert_eq!(f.friends[0].name, "bob");
        assert!(f.presence("bob", false) && !f.friends[0].online);
        assert!(!f.presence("eve", true));
        f.set("bob", FriendState::Blocked, false);
        assert_eq!((f.friends.len(), f.blocked.len()), (0, 1));
        f.set("bob", FriendState::None, false);
        assert_eq!(f, Friends::default());
    }
}
