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
use std::sync::Arc;

use confab_proto::{ConvId, ErrorCode, FriendState, Role};
use confab_store::{UserId, UserRecord};
use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::access::Actor;
use crate::error::ApiError;
use crate::hub::remote::NO_LOGIN;
pub use crate::hub::remote::{NONCE_PREFIX, Outgoing};
use crate::services::poster::ReplyTo;

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
    /// Returns whether the account is new.
    pub async fn local_user(&self, name: &str, password_hash: &str) -> Result<bool, ApiError> {
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
            return Ok(true);
        }
        match existing {
            Some(u) if u.password_hash == password_hash => Ok(false),
            Some(u) => {
                store.set_password(u.id, password_hash).await?;
                Ok(false)
            }
            None => {
                self.shared
                    .config
                    .limits
                    .check_username(name)
                    .map_err(ApiError::bad_request)?;
                store.create_user(name, password_hash, Role::Member).await?;
                Ok(true)
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
        stored(rx).await
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
        stored(rx).await
    }
}

/// Waits until the poster has stored what it was handed.
async fn stored(
    rx: oneshot::Receiver<Result<confab_store::Appended, ApiError>>,
) -> Result<(), ApiError> {
    rx.await
        .map_err(|_| ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down"))??;
    Ok(())
}

/// A fresh nonce of the bridge's, for entries it makes once.
fn own_nonce() -> String {
    let n: u64 = rand::random();
    format!("{NONCE_PREFIX}{n:016x}")
}
