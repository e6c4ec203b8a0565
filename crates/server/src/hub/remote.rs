//! The hooks of the bridge to users who live elsewhere (see
//! [`crate::bridge`]): which accounts are remote, and what local users do
//! toward them, reported by the services after the store has it. Here in
//! the hub, below the services that call it; the bridge itself, which acts
//! through the services, is above them.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use confab_proto::{Body, ConvId, FriendState, Message, Role, SystemEvent};
use confab_store::{UserId, UserRecord};
use tokio::sync::{mpsc, oneshot};

use super::members::Members;
use crate::access::Actor;
use crate::error::ApiError;

/// Nonces beginning with this are the bridge's own: a message it posts
/// with one was sent from the other side already, so it does not go out
/// again. (A client's nonce with this prefix is refused.)
pub const NONCE_PREFIX: &str = "bridge:";

/// A remote account's password hash: no password matches it.
pub(crate) const NO_LOGIN: &str = "!remote";

/// How long a lookup of an unknown name on the other side may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Lookups of unknown names running at once; more are answered "no such
/// user" at once (each holds a slot of the bounded channel).
const MAX_LOOKUPS: usize = 16;

/// What a local user did that the other side must carry out.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outgoing {
    /// `from` now stands at `state` with remote `to`: `Outgoing` (asked),
    /// `Friends` (accepted their request), `None` (declined, withdrew).
    Friend {
        from: String,
        to: String,
        state: FriendState,
    },
    /// A direct message from `from` to remote `to`, stored as `message`.
    Dm {
        from: String,
        to: String,
        text: String,
    },
    /// Local `by` made group `conv` with these others, remote ones among them.
    GroupCreated {
        conv: ConvId,
        by: String,
        name: String,
        members: Vec<String>,
    },
    /// Local `by` added these to group `conv`, which has remote members.
    GroupAdded {
        conv: ConvId,
        by: String,
        users: Vec<String>,
    },
    /// Local `user` left group `conv`, which has remote members.
    GroupLeft { conv: ConvId, user: String },
    /// Local `from` wrote to group `conv`, which has remote members.
    GroupPost {
        conv: ConvId,
        from: String,
        text: String,
    },
    /// Local `user` came online or went offline.
    Online { user: String, online: bool },
    /// Local `user` changed their password; `hash` is the new one's argon2
    /// PHC string.
    Password { user: String, hash: String },
    /// Someone named a user this server does not know: does the other side
    /// know them? Answer `true` to have a remote account made for them.
    Lookup {
        name: String,
        reply: oneshot::Sender<bool>,
    },
}

/// The services' side: which accounts are remote, and where to report.
pub(crate) struct Hooks {
    pub(crate) remote: RwLock<HashMap<UserId, String>>,
    pub(crate) tx: OnceLock<mpsc::Sender<Outgoing>>,
    looking_up: std::sync::atomic::AtomicUsize,
}

impl Hooks {
    pub(crate) fn new() -> Hooks {
        Hooks {
            remote: RwLock::new(HashMap::new()),
            tx: OnceLock::new(),
            looking_up: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn active(&self) -> Option<&mpsc::Sender<Outgoing>> {
        self.tx.get()
    }

    /// Whether a program bridges this server to users elsewhere.
    pub(crate) fn is_active(&self) -> bool {
        self.active().is_some()
    }

    /// A local user's new password goes out, to be the same on both sides.
    pub(crate) fn password(&self, user: UserId, name: &str, hash: &str) {
        if self.is_active() && !self.is_remote(user) {
            self.emit(Outgoing::Password {
                user: name.to_owned(),
                hash: hash.to_owned(),
            });
        }
    }

    pub(crate) fn is_remote(&self, user: UserId) -> bool {
        self.active().is_some() && self.remote_name(user).is_some()
    }

    fn remote_name(&self, user: UserId) -> Option<String> {
        self.remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .cloned()
    }

    fn emit(&self, out: Outgoing) {
        if let Some(tx) = self.active()
            && let Err(e) = tx.try_send(out)
        {
            // Bounded: a stalled node must not grow the server. What was
            // stored stays stored; the other side misses this one.
            tracing::warn!(error = %e, "the bridge's queue is full; an action was not carried over");
        }
    }

    /// Presence changed: a local user's goes out.
    pub(crate) fn online(&self, user: UserId, name: &str, online: bool) {
        if self.active().is_some() && !self.is_remote(user) {
            self.emit(Outgoing::Online {
                user: name.to_owned(),
                online,
            });
        }
    }

    /// A friendship changed: a local actor's move toward a remote user goes
    /// out (the bridge's own moves are made as the remote user).
    pub(crate) fn friend(&self, actor: &Actor, target: &UserRecord, state: FriendState) {
        if self.is_remote(target.id) && !self.is_remote(actor.id) {
            self.emit(Outgoing::Friend {
                from: actor.name.clone(),
                to: target.name.clone(),
                state,
            });
        }
    }

    /// A message was stored: what a local user said or did in a
    /// conversation with remote members goes out (not what the bridge
    /// posted itself).
    pub(crate) fn posted(
        &self,
        members: &Members,
        sender: UserId,
        message: &Message,
        withheld: bool,
    ) {
        if self.active().is_none() || withheld || self.is_remote(sender) {
            return;
        }
        if message
            .nonce
            .as_deref()
            .is_some_and(|n| n.starts_with(NONCE_PREFIX))
        {
            return;
        }
        let (conv, from) = (message.conv, message.sender.clone());
        if let Some(partner) = members.dm_partner(conv, sender) {
            if let (Some(to), Some(text)) = (self.remote_name(partner), message.text()) {
                let text = text.to_owned();
                self.emit(Outgoing::Dm { from, to, text });
            }
            return;
        }
        let Some(ids) = members.group_members(conv) else {
            return;
        };
        if !ids.iter().any(|id| self.is_remote(*id)) {
            return;
        }
        let out = match &message.body {
            Body::Text { text, .. } => Outgoing::GroupPost {
                conv,
                from,
                text: text.clone(),
            },
            Body::System(SystemEvent::Created { name, members }) => Outgoing::GroupCreated {
                conv,
                by: from,
                name: name.clone(),
                members: members.clone(),
            },
            Body::System(SystemEvent::Added { users }) => Outgoing::GroupAdded {
                conv,
                by: from,
                users: users.clone(),
            },
            Body::System(SystemEvent::Left { .. }) => Outgoing::GroupLeft { conv, user: from },
            _ => return,
        };
        self.emit(out);
    }

    /// Asks the other side about a name this server does not know.
    pub(crate) async fn look_up(&self, name: &str) -> bool {
        use std::sync::atomic::Ordering;
        let Some(tx) = self.active() else {
            return false;
        };
        if self.looking_up.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
            self.looking_up.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let (reply, answer) = oneshot::channel();
        let asked = Outgoing::Lookup {
            name: name.to_owned(),
            reply,
        };
        let found = tx.try_send(asked).is_ok()
            && matches!(
                tokio::time::timeout(LOOKUP_TIMEOUT, answer).await,
                Ok(Ok(true))
            );
        self.looking_up.fetch_sub(1, Ordering::AcqRel);
        found
    }

    /// The account of `name` if the other side knows them: made now as a
    /// remote one. `None` without a bridge.
    pub(crate) async fn resolve(
        &self,
        store: &dyn confab_store::Store,
        limits: &confab_proto::Limits,
        name: &str,
    ) -> Result<Option<UserRecord>, ApiError> {
        if limits.check_username(name).is_err() || !self.look_up(name).await {
            return Ok(None);
        }
        let user = match store.user_by_name(name).await? {
            Some(u) => u,
            None => match store.create_user(name, NO_LOGIN, Role::Member).await {
                Ok(u) => u,
                // Made meanwhile (by the bridge itself).
                Err(confab_store::StoreError::NameTaken(_)) => {
                    match store.user_by_name(name).await? {
                        Some(u) => u,
                        None => return Ok(None),
                    }
                }
                Err(e) => return Err(e.into()),
            },
        };
        if user.password_hash == NO_LOGIN {
            self.add_remote(user.id, &user.name);
        }
        Ok(Some(user))
    }

    pub(crate) fn add_remote(&self, user: UserId, name: &str) {
        self.remote
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user, name.to_owned());
    }
}
