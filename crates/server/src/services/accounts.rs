//! Accounts: creating them (the one way, for registration and for
//! `confab admin`), logging in and out, tokens, passwords, invisibility,
//! and which connections are logged in as whom.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confab_proto::{ConvSummary, ErrorCode, Limits, Role, limits::shown};
use confab_store::{Store, StoreError, UserId, UserRecord};

use super::{ConnRef, Ctx};
use crate::auth;
use crate::error::ApiError;

/// Validates and creates an account with a hashed password. Registration
/// and `confab admin create-user` (on a data dir, with no server running)
/// both come here, so that the rules are the same.
pub async fn create_user(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    password: String,
    role: Role,
) -> Result<UserRecord, ApiError> {
    limits
        .check_username(name)
        .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))?;
    limits
        .check_password(&password)
        .map_err(|m| ApiError::new(ErrorCode::InvalidPassword, m))?;
    let hash = auth::hash_password_async(password).await?;
    store
        .create_user(name, &hash, role)
        .await
        .map_err(|e| match e {
            StoreError::NameTaken(_) => ApiError::new(
                ErrorCode::NameTaken,
                format!("a user named `{name}` already exists"),
            ),
            e => e.into(),
        })
}

/// A login: the account, and the token the session holds (`token` is only
/// given out when it is new).
pub(crate) struct Login {
    pub user: UserRecord,
    pub token: Option<String>,
    pub token_hash: String,
}

pub(crate) struct Accounts {
    ctx: Arc<Ctx>,
    /// User ids by name, as looked up: a direct message by name then costs
    /// no store read. Grows only with the user table. (Deleting users, when
    /// it comes, must forget them here.)
    ids: Mutex<HashMap<String, UserId>>,
}

impl Accounts {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Accounts {
            ctx,
            ids: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn register(
        &self,
        name: &str,
        password: String,
        invite: Option<&str>,
        setup: Option<&str>,
    ) -> Result<Login, ApiError> {
        if let Some(code) = setup {
            return self.set_up(name, password, code).await;
        }
        match (self.ctx.registration, invite) {
            (crate::Registration::Open, _) => {}
            (crate::Registration::Closed, _) if self.ctx.hub.bridge.is_active() => {
                return Err(ApiError::forbidden(
                    "accounts are made at the node's console (register NAME), not here",
                ));
            }
            (crate::Registration::Closed, _) => {
                return Err(ApiError::forbidden(
                    "registration is closed on this server: an admin makes accounts",
                ));
            }
            (crate::Registration::Invite, None) => {
                return Err(ApiError::forbidden(
                    "registration on this server needs an invitation: ask an admin for one",
                ));
            }
            (crate::Registration::Invite, Some(token)) => {
                // The name first, so that a registration refused for its
                // name does not use the invitation up.
                self.ctx
                    .limits
                    .check_username(name)
                    .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))?;
                if self.ctx.store.user_by_name(name).await?.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::NameTaken,
                        format!("a user named `{name}` already exists"),
                    ));
                }
                let now = super::messages::now_ms();
                if !self
                    .ctx
                    .store
                    .use_invite(&auth::token_hash(token), now)
                    .await?
                {
                    return Err(ApiError::forbidden(
                        "that invitation is unknown, used up or expired",
                    ));
                }
            }
        }
        let user = create_user(
            &*self.ctx.store,
            &self.ctx.limits,
            name,
            password,
            Role::Member,
        )
        .await?;
        self.welcome(&user).await;
        self.new_token(user).await
    }

    /// The first admin, by the setup code a fresh server printed. The code
    /// works once; refused for its name or password, it still works.
    async fn set_up(&self, name: &str, password: String, code: &str) -> Result<Login, ApiError> {
        let hash = auth::token_hash(code.trim());
        let taken = {
            let mut setup = self.ctx.setup.lock().unwrap_or_else(|p| p.into_inner());
            match setup.as_deref() {
                Some(h) if h == hash => setup.take(),
                _ => None,
            }
        };
        if taken.is_none() {
            return Err(ApiError::forbidden(
                "that setup code is wrong, or was already used (this server has its admin)",
            ));
        }
        let user = match create_user(
            &*self.ctx.store,
            &self.ctx.limits,
            name,
            password,
            Role::Admin,
        )
        .await
        {
            Ok(u) => u,
            Err(e) => {
                *self.ctx.setup.lock().unwrap_or_else(|p| p.into_inner()) = taken;
                return Err(e);
            }
        };
        tracing::info!(target: "confab::auth", user = %user.name, "the first admin was set up");
        self.welcome(&user).await;
        self.new_token(user).await
    }

    /// A new account joins the server's first channel, if it still exists
    /// and is public. The account exists either way: a failure here is
    /// logged, not the registration's.
    pub(crate) async fn welcome(&self, user: &UserRecord) {
        if let Err(e) = self.join_first_channel(user).await {
            tracing::warn!(user = %user.name, error = %e.message, "could not join the first channel");
        }
    }

    async fn join_first_channel(&self, user: &UserRecord) -> Result<(), ApiError> {
        let store = &self.ctx.store;
        let Some(name) = &self.ctx.first_channel else {
            return Ok(());
        };
        let Some(conv) = store.public_channel(name).await? else {
            return Ok(());
        };
        if store.add_member(conv.id, user.id).await? {
            let hub = &self.ctx.hub;
            hub.members.add(conv.id, user.id, 0);
            let frame = crate::hub::event(confab_proto::ServerBody::MemberJoined {
                conv: conv.id,
                channel: conv.name.clone(),
                user: user.name.clone(),
            });
            hub.bus.publish(
                crate::hub::Audience::Conv(conv.id),
                &frame,
                crate::hub::Except::user(user.id),
            );
        }
        Ok(())
    }

    pub(crate) async fn login(&self, name: &str, password: String) -> Result<Login, ApiError> {
        let user = self.ctx.store.user_by_name(name).await?;
        // An unknown name costs a hash check too, so timing does not tell
        // which names exist.
        let ok =
            auth::verify_password_async(password, user.as_ref().map(|u| u.password_hash.clone()))
                .await?;
        match user {
            Some(user) if ok && user.disabled => Err(ApiError::forbidden(
                "this account is disabled; ask an admin",
            )),
            Some(user) if ok => self.new_token(user).await,
            _ => Err(ApiError::new(
                ErrorCode::BadCredentials,
                "wrong user name or password",
            )),
        }
    }

    pub(crate) async fn resume(&self, token: &str) -> Result<Login, ApiError> {
        let token_hash = auth::token_hash(token);
        let not_before = self.ctx.token_max_age.map_or(0, |age| {
            super::messages::now_ms().saturating_sub(age.as_millis() as i64)
        });
        match self
            .ctx
            .store
            .user_by_token(&token_hash, not_before)
            .await?
        {
            Some(user) if !user.disabled => Ok(Login {
                user,
                token: None,
                token_hash,
            }),
            _ => Err(ApiError::new(
                ErrorCode::BadToken,
                "that session token is unknown, expired or revoked; log in with your password",
            )),
        }
    }

    async fn new_token(&self, user: UserRecord) -> Result<Login, ApiError> {
        let (token, token_hash) = auth::new_token();
        self.ctx.store.add_token(user.id, &token_hash).await?;
        Ok(Login {
            user,
            token: Some(token),
            token_hash,
        })
    }

    /// Forgets a deleted account's name.
    pub(crate) fn forget(&self, name: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Revokes the session's token.
    pub(crate) async fn logout(&self, token_hash: &str) -> Result<(), ApiError> {
        Ok(self.ctx.store.revoke_token(token_hash).await?)
    }

    /// Checks the old password, sets the new one and revokes every token;
    /// returns a fresh token (and its hash) for the asking session.
    pub(crate) async fn change_password(
        &self,
        user: UserId,
        old: String,
        new: String,
    ) -> Result<(String, String), ApiError> {
        let store = &self.ctx.store;
        let record = store
            .user_by_id(user)
            .await?
            .ok_or_else(|| ApiError::not_found("your account no longer exists"))?;
        if !auth::verify_password_async(old, Some(record.password_hash)).await? {
            return Err(ApiError::new(
                ErrorCode::BadCredentials,
                "the old password is wrong",
            ));
        }
        self.ctx
            .limits
            .check_password(&new)
            .map_err(|m| ApiError::new(ErrorCode::InvalidPassword, m))?;
        let hash = auth::hash_password_async(new).await?;
        store.set_password(record.id, &hash).await?;
        self.ctx.hub.bridge.password(record.id, &record.name, &hash);
        let (token, token_hash) = auth::new_token();
        store.add_token(record.id, &token_hash).await?;
        Ok((token, token_hash))
    }

    pub(crate) async fn set_invisible(
        &self,
        user: UserId,
        invisible: bool,
    ) -> Result<(), ApiError> {
        self.ctx.store.set_invisible(user, invisible).await?;
        self.ctx.hub.presence.set_invisible(user, invisible);
        Ok(())
    }

    /// The user named `name`.
    pub(crate) async fn user_named(&self, name: &str) -> Result<UserRecord, ApiError> {
        let user = self.ctx.user_named(name).await?;
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.name.clone(), user.id);
        Ok(user)
    }

    /// The id of the user named `name` (cached after the first lookup).
    pub(crate) async fn user_id(&self, name: &str) -> Result<UserId, ApiError> {
        let cached = self
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        match cached {
            Some(id) => Ok(id),
            None => Ok(self.user_named(name).await?.id),
        }
    }

    /// `conn` is now logged in as `user`: reachable, and shown online.
    pub(crate) fn attach(&self, user: &UserRecord, conn: &ConnRef) {
        let hub = &self.ctx.hub;
        hub.conns.attach(user.id, conn.id, conn.outbox.clone());
        hub.presence.attach(user.id, &user.name, user.invisible);
    }

    /// `conn` logged out (`logout`: offline at once) or closed.
    pub(crate) fn detach(&self, user: UserId, conn: &ConnRef, logout: bool) {
        let hub = &self.ctx.hub;
        hub.conns.detach(user, conn.id);
        hub.presence.detach(user, logout);
    }

    /// The conversations `user` is in, for `session`.
    pub(crate) async fn convs_of(&self, user: UserId) -> Result<Vec<ConvSummary>, ApiError> {
        Ok(self
            .ctx
            .store
            .convs_of(user)
            .await?
            .into_iter()
            .map(|m| ConvSummary {
                conv: m.conv.id,
                kind: m.conv.kind,
                name: m.conv.name,
                last_seq: m.conv.last_seq,
                from_seq: m.from_seq,
                read: m.read,
                topic: m.conv.topic,
            })
            .collect())
    }
}

pub(crate) fn no_user(name: &str) -> ApiError {
    ApiError::not_found(format!("no user named `{}`", shown(name)))
}
