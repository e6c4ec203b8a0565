//! A bridge to users who live elsewhere.
//!
//! `confab node` serves the client protocol to its own users through an
//! embedded server. Their friends on other nodes appear in that server as
//! *remote* accounts, which cannot log in. The node drives them:
//!
//! - what remote users did comes in through [`Bridge`]'s methods, which act
//!   as those accounts (a friend request, a direct message, being online);
//! - what local users did toward remote ones comes out as [`Outgoing`], on
//!   the channel [`Handle::bridge`](crate::Handle::bridge) returns: the
//!   services report it ([`Hooks`]) after the store has it.
//!
//! The server knows nothing of the network on the other side. Without a
//! bridge every hook is a cheap no-op.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use confab_proto::{Body, ConvId, ErrorCode, FriendState, Message, Role, SystemEvent};
use confab_store::{UserId, UserRecord};
use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::access::Actor;
use crate::error::ApiError;
use crate::hub::members::Members;
use crate::services::poster::ReplyTo;

/// Nonces beginning with this are the bridge's own: a message it posts
/// with one was sent from the other side already, so it does not go out
/// again. (A client's nonce with this prefix is refused.)
pub const NONCE_PREFIX: &str = "bridge:";

/// A remote account's password hash: no password matches it.
const NO_LOGIN: &str = "!remote";

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
    remote: RwLock<HashMap<UserId, String>>,
    tx: OnceLock<mpsc::Sender<Outgoing>>,
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

/// The node's side: acts as remote users, and makes accounts for local ones.
#[derive(Clone)]
pub struct Bridge {
    shared: Arc<Shared>,
    /// Remote users shown online now.
    online: Arc<std::sync::Mutex<HashMap<UserId, bool>>>,
}

impl Bridge {
    /// The bridge of `shared`, and the channel of what local users do;
    /// `None` if it was taken already.
    pub(crate) async fn start(
        shared: Arc<Shared>,
        capacity: usize,
    ) -> Result<Option<(Bridge, mpsc::Receiver<Outgoing>)>, ApiError> {
        // The remote accounts of earlier runs are remote from the start.
        let store = &shared.store;
        for u in store.list_users("", u32::MAX).await? {
            if let Some(user) = store.user_by_id(u.id).await?
                && user.password_hash == NO_LOGIN
            {
                shared.hub.bridge.add_remote(user.id, &user.name);
            }
        }
        let (tx, rx) = mpsc::channel(capacity);
        if shared.hub.bridge.tx.set(tx).is_err() {
            return Ok(None);
        }
        Ok(Some((
            Bridge {
                shared,
                online: Arc::default(),
            },
            rx,
        )))
    }

    /// Makes (or updates) the account of a local user, who logs in with
    /// the password `password_hash` (an argon2 PHC string) was made from.
    pub async fn local_user(&self, name: &str, password_hash: &str) -> Result<(), ApiError> {
        let store = &self.shared.store;
        let existing = store.user_by_name(name).await?;
        if let Some(u) = &existing
            && u.password_hash == NO_LOGIN
        {
            // Someone elsewhere was known by this name (a conference's
            // member list says what it likes). The name is a local user's
            // now: that account goes, with what it was given; its messages
            // stay, under a deleted user.
            let hub = &self.shared.hub;
            crate::services::admin::delete_user(
                store.as_ref(),
                Some(hub),
                &crate::services::admin::By::local(),
                name,
            )
            .await?;
            hub.bridge
                .remote
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&u.id);
            store.create_user(name, password_hash, Role::Member).await?;
            return Ok(());
        }
        match existing {
            Some(u) if u.password_hash == password_hash => Ok(()),
            Some(u) => Ok(store.set_password(u.id, password_hash).await?),
            None => {
                self.shared
                    .config
                    .limits
                    .check_username(name)
                    .map_err(ApiError::bad_request)?;
                store.create_user(name, password_hash, Role::Member).await?;
                Ok(())
            }
        }
    }

    /// The account of a remote user, made if it is new.
    pub async fn remote_user(&self, name: &str) -> Result<(), ApiError> {
        self.account(name).await.map(|_| ())
    }

    /// The account named `name`: a local one, or a remote one (made now if
    /// there is none).
    async fn account(&self, name: &str) -> Result<UserRecord, ApiError> {
        let store = &self.shared.store;
        let user = match store.user_by_name(name).await? {
            Some(u) => u,
            None => {
                self.shared
                    .config
                    .limits
                    .check_username(name)
                    .map_err(ApiError::bad_request)?;
                match store.create_user(name, NO_LOGIN, Role::Member).await {
                    Ok(u) => u,
                    // Made meanwhile, by a lookup.
                    Err(confab_store::StoreError::NameTaken(_)) => store
                        .user_by_name(name)
                        .await?
                        .ok_or_else(|| ApiError::not_found(format!("no user `{name}`")))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if user.password_hash == NO_LOGIN {
            self.shared.hub.bridge.add_remote(user.id, &user.name);
        }
        Ok(user)
    }

    fn actor(user: &UserRecord) -> Actor {
        Actor {
            id: user.id,
            name: user.name.clone(),
            role: user.role,
        }
    }

    /// Where `user` stands with `other`, as the other side keeps it; their
    /// connections are told of a change.
    pub async fn relation(
        &self,
        user: &str,
        other: &str,
        state: FriendState,
    ) -> Result<(), ApiError> {
        let (user, other) = (self.account(user).await?, self.account(other).await?);
        self.shared
            .services
            .social
            .mirror(&user, &other, state)
            .await
    }

    /// Tells local user `user`'s clients something (a notice line): what the
    /// other side could not carry out.
    pub async fn notice(&self, user: &str, text: &str) {
        if let Ok(Some(u)) = self.shared.store.user_by_name(user).await {
            let frame = crate::hub::event(confab_proto::ServerBody::Notice {
                text: text.to_owned(),
            });
            self.shared.hub.bus.publish(
                crate::hub::Audience::User(u.id),
                &frame,
                crate::hub::Except::NONE,
            );
        }
    }

    /// Shows a remote user online or offline.
    pub fn presence(&self, remote: &str, online: bool) {
        let hooks = &self.shared.hub.bridge;
        let id = {
            let map = hooks.remote.read().unwrap_or_else(|p| p.into_inner());
            map.iter().find(|(_, n)| *n == remote).map(|(id, _)| *id)
        };
        let Some(id) = id else { return };
        let mut shown = self.online.lock().unwrap_or_else(|p| p.into_inner());
        if shown.get(&id).copied().unwrap_or(false) == online {
            return;
        }
        shown.insert(id, online);
        let presence = &self.shared.hub.presence;
        if online {
            presence.attach(id, remote, false);
        } else {
            presence.detach(id, true);
        }
    }

    /// A direct message from `from` to `to` sent on the other side. `id`
    /// makes it idempotent: the same `id` from the same sender again stores
    /// nothing new.
    pub async fn dm(&self, from: &str, to: &str, text: String, id: &str) -> Result<(), ApiError> {
        let (sender, recipient) = (self.account(from).await?, self.account(to).await?);
        let (tx, rx) = oneshot::channel();
        self.shared
            .services
            .messages
            .dm_send(
                &Self::actor(&sender),
                ReplyTo::Wait(tx),
                recipient.id,
                &recipient.name,
                text,
                Some(format!("{NONCE_PREFIX}{id}")),
                None,
            )
            .await?;
        rx.await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is shutting down"))??;
        Ok(())
    }

    /// A group made on the other side: `host` and `members` (accounts made
    /// as needed), whatever their friendships here. Returns its id.
    pub async fn group_create(
        &self,
        host: &str,
        name: &str,
        members: &[String],
    ) -> Result<ConvId, ApiError> {
        let host = self.account(host).await?;
        let mut users = Vec::new();
        for m in members {
            if *m != host.name {
                let u = self.account(m).await?;
                users.push((u.id, u.name));
            }
        }
        let services = &self.shared.services;
        let info = services
            .rooms
            .make_group(
                &Self::actor(&host),
                &services.messages,
                name,
                users,
                false,
                Some(own_nonce()),
            )
            .await?;
        Ok(info.conv)
    }

    /// Makes group `conv`'s members `members`, as the other side says
    /// (`host` adds the new ones; those gone leave).
    pub async fn group_members(
        &self,
        conv: ConvId,
        host: &str,
        members: &[String],
    ) -> Result<(), ApiError> {
        let services = &self.shared.services;
        let hub = &self.shared.hub;
        let now = hub.members.group_members(conv).unwrap_or_default();
        let mut wanted = Vec::new();
        for m in members {
            wanted.push(self.account(m).await?);
        }
        let new: Vec<(UserId, String)> = wanted
            .iter()
            .filter(|u| !now.contains(&u.id))
            .map(|u| (u.id, u.name.clone()))
            .collect();
        if !new.is_empty() {
            let host = self.account(host).await?;
            // Whoever of the group is here adds them if the host is not in it.
            let by = if now.contains(&host.id) {
                host
            } else {
                match now.first() {
                    Some(id) => self
                        .shared
                        .store
                        .user_by_id(*id)
                        .await?
                        .ok_or_else(|| ApiError::not_found("no such member"))?,
                    None => return Ok(()),
                }
            };
            services
                .rooms
                .add_members(
                    &Self::actor(&by),
                    &services.messages,
                    conv,
                    new,
                    Some(own_nonce()),
                )
                .await?;
        }
        for id in now {
            if wanted.iter().any(|u| u.id == id) {
                continue;
            }
            if let Some(gone) = self.shared.store.user_by_id(id).await? {
                services
                    .rooms
                    .leave_group(
                        &Self::actor(&gone),
                        &services.messages,
                        conv,
                        Some(own_nonce()),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// A message to group `conv` from `from`, sent on the other side; `id`
    /// makes it idempotent, as for [`Bridge::dm`].
    pub async fn group_post(
        &self,
        conv: ConvId,
        from: &str,
        text: String,
        id: &str,
    ) -> Result<(), ApiError> {
        let sender = self.account(from).await?;
        let (tx, rx) = oneshot::channel();
        self.shared
            .services
            .messages
            .send(
                &Self::actor(&sender),
                ReplyTo::Wait(tx),
                conv,
                text,
                Some(format!("{NONCE_PREFIX}{id}")),
                None,
            )
            .await?;
        rx.await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the server is shutting down"))??;
        Ok(())
    }
}

/// A fresh nonce of the bridge's, for entries it makes once.
fn own_nonce() -> String {
    let n: u64 = rand::random();
    format!("{NONCE_PREFIX}{n:016x}")
}
