//! Administration: accounts and channels as an admin sees them, the audit
//! log and invitations. The protocol's `admin_*` requests (through the
//! panel and `confab admin --server`) and `confab admin` on a stopped
//! server's data directory call these same functions: with a [`Live`]
//! server they also end the sessions and fix the in-memory state; without
//! one, only the store changes. Every change is recorded in the audit log
//! with who made it and from where.

use std::net::IpAddr;

use confab_proto::{
    AdminChannel, AdminUser, AuditEntry, ConvId, ErrorCode, Limits, Role, ServerBody,
};
use confab_store::{NewAudit, Store, UserRecord};

use crate::auth;
use crate::error::ApiError;
use crate::hub::{Hub, event};

/// Who does it, for the audit log.
#[derive(Debug, Clone)]
pub struct By {
    pub name: String,
    pub client: Option<IpAddr>,
}

impl By {
    /// The operator at the server's own machine (`confab admin` on a data
    /// directory, the console).
    pub fn local() -> By {
        By {
            name: "(local admin)".into(),
            client: None,
        }
    }
}

/// The running server, when there is one.
pub(crate) type Live<'a> = Option<&'a Hub>;

/// Records one line of the audit log. A failure to record is logged, not
/// returned: the action itself is done.
pub async fn record(
    store: &dyn Store,
    by: Option<&By>,
    action: &str,
    target: Option<&str>,
    client: Option<IpAddr>,
    detail: Option<String>,
) {
    let entry = NewAudit {
        actor: by.map(|b| b.name.clone()),
        action: action.into(),
        target: target.map(str::to_owned),
        client: client.or(by.and_then(|b| b.client)).map(|c| c.to_string()),
        detail,
    };
    if let Err(e) = store.add_audit(entry).await {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}

async fn user_named(store: &dyn Store, name: &str) -> Result<UserRecord, ApiError> {
    store
        .user_by_name(name)
        .await?
        .ok_or_else(|| super::accounts::no_user(name))
}

/// An admin may not lock themselves out.
fn not_yourself(by: &By, user: &UserRecord, what: &str) -> Result<(), ApiError> {
    if by.name == user.name {
        return Err(ApiError::forbidden(format!(
            "you cannot {what} your own account; ask another admin"
        )));
    }
    Ok(())
}

/// Ends a user's connections, telling them why first.
fn end_sessions(live: Live, user: &UserRecord, why: &str) {
    let Some(hub) = live else { return };
    let notice = event(ServerBody::Notice {
        text: why.to_owned(),
    });
    let conns = hub.conns.lock();
    for (_, out) in conns.of(user.id) {
        out.push_reply(notice.clone());
        out.close();
    }
}

pub(crate) async fn users(
    store: &dyn Store,
    live: Live<'_>,
    query: &str,
    limit: u32,
) -> Result<Vec<AdminUser>, ApiError> {
    let rows = store.list_users(query, limit.clamp(1, 1000)).await?;
    Ok(rows
        .into_iter()
        .map(|u| AdminUser {
            online: live.is_some_and(|h| !h.conns.lock().of(u.id).is_empty()),
            name: u.name,
            role: u.role,
            disabled: u.disabled,
            created_ms: u.created_ms,
            sessions: u.sessions,
        })
        .collect())
}

pub async fn create_user(
    store: &dyn Store,
    limits: &Limits,
    by: &By,
    name: &str,
    password: String,
    role: Role,
) -> Result<(), ApiError> {
    if role == Role::Visitor {
        return Err(ApiError::bad_request("accounts are members or admins"));
    }
    super::accounts::create_user(store, limits, name, password, role).await?;
    record(
        store,
        Some(by),
        "user_create",
        Some(name),
        None,
        Some(format!("role {}", role.as_str())),
    )
    .await;
    Ok(())
}

pub(crate) async fn update_user(
    store: &dyn Store,
    live: Live<'_>,
    by: &By,
    name: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<(), ApiError> {
    let user = user_named(store, name).await?;
    if role.is_none() && disabled.is_none() {
        return Err(ApiError::bad_request("give `role`, `disabled` or both"));
    }
    if let Some(role) = role {
        if role == Role::Visitor {
            return Err(ApiError::bad_request("accounts are members or admins"));
        }
        if role != Role::Admin {
            not_yourself(by, &user, "demote")?;
        }
        store.set_role(user.id, role).await?;
        record(
            store,
            Some(by),
            "user_role",
            Some(name),
            None,
            Some(role.as_str().into()),
        )
        .await;
        end_sessions(live, &user, "an admin changed your role; log in again");
    }
    if let Some(disabled) = disabled {
        if disabled {
            not_yourself(by, &user, "disable")?;
        }
        store.set_disabled(user.id, disabled).await?;
        let action = if disabled {
            "user_disable"
        } else {
            "user_enable"
        };
        record(store, Some(by), action, Some(name), None, None).await;
        if disabled {
            end_sessions(live, &user, "an admin disabled your account");
        }
    }
    Ok(())
}

pub(crate) async fn delete_user(
    store: &dyn Store,
    live: Live<'_>,
    by: &By,
    name: &str,
) -> Result<(), ApiError> {
    let user = user_named(store, name).await?;
    not_yourself(by, &user, "delete")?;
    let convs = store.convs_of(user.id).await?;
    store.delete_user(user.id).await?;
    if let Some(hub) = live {
        for c in convs {
            hub.members.remove(c.conv.id, user.id);
        }
    }
    end_sessions(live, &user, "an admin deleted your account");
    record(store, Some(by), "user_delete", Some(name), None, None).await;
    Ok(())
}

pub(crate) async fn set_password(
    store: &dyn Store,
    limits: &Limits,
    live: Live<'_>,
    by: &By,
    name: &str,
    password: String,
) -> Result<(), ApiError> {
    let user = user_named(store, name).await?;
    limits
        .check_password(&password)
        .map_err(|m| ApiError::new(ErrorCode::InvalidPassword, m))?;
    let hash = auth::hash_password_async(password).await?;
    store.set_password(user.id, &hash).await?;
    end_sessions(live, &user, "an admin set a new password; log in with it");
    record(store, Some(by), "user_password", Some(name), None, None).await;
    Ok(())
}

pub(crate) async fn revoke(
    store: &dyn Store,
    live: Live<'_>,
    by: &By,
    name: &str,
) -> Result<u64, ApiError> {
    let user = user_named(store, name).await?;
    let n = store.revoke_tokens(user.id).await?;
    end_sessions(live, &user, "an admin ended your sessions; log in again");
    record(
        store,
        Some(by),
        "user_revoke",
        Some(name),
        None,
        Some(format!("{n} sessions")),
    )
    .await;
    Ok(n)
}

/// The channel with this id (`not_found` for none, or another kind).
pub(crate) async fn channel(
    store: &dyn Store,
    conv: ConvId,
) -> Result<confab_store::ConvRecord, ApiError> {
    store
        .conv(conv)
        .await?
        .filter(|c| c.kind == confab_proto::ConvKind::Channel)
        .ok_or_else(|| ApiError::not_found(format!("no channel {conv}")))
}

pub(crate) async fn channels(store: &dyn Store) -> Result<Vec<AdminChannel>, ApiError> {
    Ok(store
        .all_channels()
        .await?
        .into_iter()
        .map(|c| AdminChannel {
            conv: c.id,
            name: c.name,
            private: c.private,
            owner: c.owner,
            members: c.members,
            last_seq: c.last_seq,
        })
        .collect())
}

pub(crate) async fn channel_owner(
    store: &dyn Store,
    live: Live<'_>,
    by: &By,
    conv: ConvId,
    user: &str,
) -> Result<(), ApiError> {
    let u = user_named(store, user).await?;
    store.set_owner(conv, u.id).await?;
    if let Some(hub) = live {
        hub.members.add(conv, u.id, 0);
    }
    record(
        store,
        Some(by),
        "channel_owner",
        Some(&format!("conv {conv}")),
        None,
        Some(format!("owner {user}")),
    )
    .await;
    Ok(())
}

pub(crate) async fn audit(
    store: &dyn Store,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, ApiError> {
    Ok(store
        .audit(before, limit.clamp(1, 1000))
        .await?
        .into_iter()
        .map(|e| AuditEntry {
            id: e.id,
            ts_ms: e.ts_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            client: e.client,
            detail: e.detail,
        })
        .collect())
}

/// A new invitation: the token to hand out, and when it expires.
pub(crate) async fn invite(
    store: &dyn Store,
    by: &By,
    by_id: Option<confab_store::UserId>,
    uses: u32,
    hours: u32,
) -> Result<(String, i64), ApiError> {
    if uses == 0 || uses > 10_000 || hours == 0 || hours > 24 * 365 {
        return Err(ApiError::bad_request(
            "an invitation is for 1 to 10000 uses and 1 to 8760 hours",
        ));
    }
    let (token, hash) = auth::new_token();
    let expires = super::messages::now_ms() + i64::from(hours) * 3_600_000;
    store.create_invite(&hash, by_id, expires, uses).await?;
    record(
        store,
        Some(by),
        "invite_create",
        None,
        None,
        Some(format!("{uses} uses, {hours} h")),
    )
    .await;
    Ok((token, expires))
}

/// The same operations on a store with no server running (`confab admin`
/// on a data directory): only the store changes; the audit log says who.
pub struct Offline<'a> {
    pub store: &'a dyn Store,
    pub limits: &'a Limits,
    pub by: By,
}

impl Offline<'_> {
    pub async fn users(&self, query: &str, limit: u32) -> Result<Vec<AdminUser>, ApiError> {
        users(self.store, None, query, limit).await
    }

    pub async fn create_user(
        &self,
        name: &str,
        password: String,
        role: Role,
    ) -> Result<(), ApiError> {
        create_user(self.store, self.limits, &self.by, name, password, role).await
    }

    pub async fn update_user(
        &self,
        name: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<(), ApiError> {
        update_user(self.store, None, &self.by, name, role, disabled).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), ApiError> {
        delete_user(self.store, None, &self.by, name).await
    }

    pub async fn set_password(&self, name: &str, password: String) -> Result<(), ApiError> {
        set_password(self.store, self.limits, None, &self.by, name, password).await
    }

    pub async fn revoke(&self, name: &str) -> Result<u64, ApiError> {
        revoke(self.store, None, &self.by, name).await
    }

    pub async fn channels(&self) -> Result<Vec<AdminChannel>, ApiError> {
        channels(self.store).await
    }

    /// Deletes a channel (nobody is connected to be told).
    pub async fn channel_delete(&self, conv: ConvId) -> Result<(), ApiError> {
        let c = channel(self.store, conv).await?;
        self.store.delete_conv(conv).await?;
        record(
            self.store,
            Some(&self.by),
            "channel_delete",
            Some(&c.name),
            None,
            None,
        )
        .await;
        Ok(())
    }

    pub async fn channel_owner(&self, conv: ConvId, user: &str) -> Result<(), ApiError> {
        channel_owner(self.store, None, &self.by, conv, user).await
    }

    pub async fn audit(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ApiError> {
        audit(self.store, before, limit).await
    }

    pub async fn invite(&self, uses: u32, hours: u32) -> Result<(String, i64), ApiError> {
        invite(self.store, &self.by, None, uses, hours).await
    }
}
