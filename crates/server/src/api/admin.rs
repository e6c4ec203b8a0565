//! The `admin_*` requests: glue to [`crate::services::admin`], with the
//! running server's state.

use confab_proto::{Role, ServerBody, ServerStats};

use super::ok;
use crate::error::ApiError;
use crate::services::admin::{self, By};
use crate::session::{Reply, Session};

fn by(s: &Session) -> By {
    By {
        name: s.me().name.clone(),
        client: Some(s.peer),
    }
}

pub(super) async fn users(s: &mut Session, query: String, limit: Option<u32>) -> Reply {
    let shared = &s.shared;
    let users = admin::users(
        &*shared.store,
        Some(&shared.hub),
        &query,
        limit.unwrap_or(100),
    )
    .await?;
    Ok(Some(ServerBody::AdminUsers { users }))
}

pub(super) async fn user_create(
    s: &mut Session,
    name: String,
    password: String,
    role: Option<Role>,
) -> Reply {
    let shared = &s.shared;
    admin::create_user(
        &*shared.store,
        &shared.config.limits,
        &by(s),
        &name,
        password,
        role.unwrap_or(Role::Member),
    )
    .await?;
    ok()
}

pub(super) async fn user_update(
    s: &mut Session,
    name: String,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Reply {
    let shared = &s.shared;
    admin::update_user(
        &*shared.store,
        Some(&shared.hub),
        &by(s),
        &name,
        role,
        disabled,
    )
    .await?;
    ok()
}

pub(super) async fn user_delete(s: &mut Session, name: String) -> Reply {
    let shared = &s.shared;
    admin::delete_user(&*shared.store, Some(&shared.hub), &by(s), &name).await?;
    shared.services.accounts.forget(&name);
    ok()
}

pub(super) async fn user_password(s: &mut Session, name: String, password: String) -> Reply {
    let shared = &s.shared;
    admin::set_password(
        &*shared.store,
        &shared.config.limits,
        Some(&shared.hub),
        &by(s),
        &name,
        password,
    )
    .await?;
    ok()
}

pub(super) async fn user_revoke(s: &mut Session, name: String) -> Reply {
    let shared = &s.shared;
    admin::revoke(&*shared.store, Some(&shared.hub), &by(s), &name).await?;
    ok()
}

pub(super) async fn channels(s: &mut Session) -> Reply {
    let channels = admin::channels(&*s.shared.store).await?;
    Ok(Some(ServerBody::AdminChannels { channels }))
}

pub(super) async fn channel_delete(s: &mut Session, conv: u64) -> Reply {
    let shared = s.shared.clone();
    let record = admin::channel(&*shared.store, conv).await?;
    let name = record.name.clone();
    shared.services.rooms.remove(record).await?;
    shared.services.streams.gone(conv);
    admin::record(
        &*shared.store,
        Some(&by(s)),
        "channel_delete",
        Some(&name),
        None,
        None,
    )
    .await;
    ok()
}

pub(super) async fn channel_owner(s: &mut Session, conv: u64, user: String) -> Reply {
    let shared = &s.shared;
    admin::channel_owner(&*shared.store, Some(&shared.hub), &by(s), conv, &user).await?;
    ok()
}

pub(super) fn stats(s: &mut Session) -> Reply {
    use std::sync::atomic::Ordering::Relaxed;
    let shared = &s.shared;
    let st = &shared.hub.stats;
    let (p50, p99) = crate::metrics::delivery_percentiles(st);
    let (live, viewers) = shared.services.streams.counts();
    Ok(Some(ServerBody::AdminStats {
        stats: ServerStats {
            uptime_secs: shared.started.elapsed().as_secs(),
            connections: shared.hub.conns.count() as u64,
            users_online: shared.hub.presence.online_summary().len() as u64,
            messages: st.messages.load(Relaxed),
            bytes_in: st.bytes_in.load(Relaxed),
            bytes_out: st.bytes_out.load(Relaxed),
            rate_limited: st.rate_limited.load(Relaxed),
            login_failures: st.login_failures.load(Relaxed),
            delivery_p50_ms: p50 * 1000.0,
            delivery_p99_ms: p99 * 1000.0,
            memory_bytes: crate::metrics::resident_bytes().unwrap_or(0),
            streams_live: live as u64,
            stream_viewers: viewers as u64,
            turn_relayed_bytes: shared.services.streams.relayed(),
        },
    }))
}

pub(super) async fn audit(s: &mut Session, before: Option<i64>, limit: Option<u32>) -> Reply {
    let entries = admin::audit(&*s.shared.store, before, limit.unwrap_or(100)).await?;
    Ok(Some(ServerBody::AdminAudit { entries }))
}

pub(super) async fn broadcast(s: &mut Session, text: String) -> Reply {
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > s.shared.config.limits.max_text_chars {
        return Err(ApiError::bad_request(format!(
            "a broadcast is 1 to {} characters",
            s.shared.config.limits.max_text_chars
        )));
    }
    crate::Handle {
        shared: s.shared.clone(),
    }
    .broadcast(&text);
    admin::record(
        &*s.shared.store,
        Some(&by(s)),
        "broadcast",
        None,
        None,
        Some(text),
    )
    .await;
    ok()
}

pub(super) async fn shutdown(s: &mut Session, reason: String) -> Reply {
    let reason: String = reason.trim().chars().take(200).collect();
    let reason = if reason.is_empty() {
        format!("{} stopped the server", s.me().name)
    } else {
        reason
    };
    admin::record(
        &*s.shared.store,
        Some(&by(s)),
        "shutdown",
        None,
        None,
        Some(reason.clone()),
    )
    .await;
    // Everyone (the admin too) is told; the reply follows it out before
    // the connection closes.
    crate::Handle {
        shared: s.shared.clone(),
    }
    .shutdown(&reason);
    ok()
}

pub(super) async fn invite(s: &mut Session, uses: Option<u32>, hours: Option<u32>) -> Reply {
    let me = s.me().id;
    let (token, expires_ms) = admin::invite(
        &*s.shared.store,
        &by(s),
        Some(me),
        uses.unwrap_or(1),
        hours.unwrap_or(168),
    )
    .await?;
    Ok(Some(ServerBody::AdminInvite { token, expires_ms }))
}
