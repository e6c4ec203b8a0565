//! The handshake, logging in and out, the account's settings.

use confab_proto::{ErrorCode, PROTOCOL_VERSION, Role, ServerBody, limits::VISITOR_PREFIX};

use std::sync::atomic::Ordering::Relaxed;

use super::ok;
use crate::error::ApiError;
use crate::services::accounts::Login;
use crate::session::{Authed, Reply, Session};

pub(super) fn hello(s: &mut Session, protocol: u32, client: String) -> Reply {
    if protocol != PROTOCOL_VERSION {
        return Err(ApiError::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "this server speaks protocol {PROTOCOL_VERSION}; the client asked for {protocol}"
            ),
        ));
    }
    if client.chars().count() > 64 {
        return Err(ApiError::new(
            ErrorCode::TooLong,
            "`client` is longer than 64 characters",
        ));
    }
    s.handshaken = true;
    let cfg = &s.shared.config;
    Ok(Some(ServerBody::Hello {
        protocol: PROTOCOL_VERSION,
        server: format!("confab/{}", env!("CARGO_PKG_VERSION")),
        limits: cfg.limits.clone(),
        heartbeat_ms: cfg.heartbeat.as_millis() as u64,
        udp_port: s
            .shared
            .udp
            .as_ref()
            .and_then(|u| u.local_addr().ok())
            .map(|a| a.port()),
        files: Some(confab_proto::FilesInfo {
            port: s.shared.web_port,
            https: s.shared.web_tls,
            max_bytes: cfg.files.max_bytes,
            quota_bytes: cfg.files.quota_bytes,
        }),
    }))
}

// Successes and failures are logged with the client's address, one line
// each in a fixed form (`login failed client=ADDR user=NAME`), so that
// fail2ban and the like can act on them.

pub(super) async fn register(
    s: &mut Session,
    username: String,
    password: String,
    invite: Option<String>,
    setup: Option<String>,
) -> Reply {
    let result = s
        .services()
        .accounts
        .register(&username, password, invite.as_deref(), setup.as_deref())
        .await;
    let login = match result {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(target: "confab::auth", client = %s.peer, user = %shown(&username), reason = %e.message, "registration refused");
            return Err(e);
        }
    };
    tracing::info!(target: "confab::auth", client = %s.peer, user = %login.user.name, "registered");
    let detail = match (&invite, &setup) {
        (_, Some(_)) => Some("as the first admin, with the setup code".to_owned()),
        (Some(_), _) => Some("with an invitation".to_owned()),
        _ => None,
    };
    audit(s, "register", &login.user.name, detail).await;
    s.shared.hub.stats.registrations.fetch_add(1, Relaxed);
    log_in(s, login).await
}

pub(super) async fn login(s: &mut Session, username: String, password: String) -> Reply {
    let login = match s.services().accounts.login(&username, password).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(target: "confab::auth", client = %s.peer, user = %shown(&username), reason = %e.message, "login failed");
            s.shared.hub.stats.login_failures.fetch_add(1, Relaxed);
            if e.code != confab_proto::ErrorCode::RateLimited {
                audit(
                    s,
                    "login_failed",
                    &shown(&username),
                    Some(e.message.clone()),
                )
                .await;
            }
            return Err(e);
        }
    };
    tracing::info!(target: "confab::auth", client = %s.peer, user = %login.user.name, "login");
    s.shared.hub.stats.logins.fetch_add(1, Relaxed);
    audit(s, "login", &login.user.name, None).await;
    log_in(s, login).await
}

pub(super) async fn resume(s: &mut Session, token: String) -> Reply {
    let login = match s.services().accounts.resume(&token).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(target: "confab::auth", client = %s.peer, reason = %e.message, "resume failed");
            s.shared.hub.stats.login_failures.fetch_add(1, Relaxed);
            return Err(e);
        }
    };
    tracing::info!(target: "confab::auth", client = %s.peer, user = %login.user.name, "resumed");
    s.shared.hub.stats.logins.fetch_add(1, Relaxed);
    log_in(s, login).await
}

/// Records an account event in the audit log (the user is the actor).
async fn audit(s: &Session, action: &str, user: &str, detail: Option<String>) {
    let by = crate::services::admin::By {
        name: user.to_owned(),
        client: Some(s.peer),
    };
    crate::services::admin::record(
        &*s.shared.store,
        Some(&by),
        action,
        Some(user),
        None,
        detail,
    )
    .await;
}

/// A user name as logged: clipped, and with no way to forge a log line.
fn shown(name: &str) -> String {
    name.chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

async fn log_in(s: &mut Session, login: Login) -> Reply {
    let accounts = &s.shared.services.accounts;
    let convs = accounts.convs_of(login.user.id).await?;
    accounts.attach(&login.user, &s.conn);
    let authed = Authed {
        id: login.user.id,
        name: login.user.name,
        role: login.user.role,
        invisible: login.user.invisible,
        token_hash: Some(login.token_hash),
    };
    let user = authed.info();
    s.user = Some(authed);
    let channels: std::collections::HashSet<_> = convs
        .iter()
        .filter(|c| c.kind == confab_proto::ConvKind::Channel)
        .map(|c| c.conv)
        .collect();
    let streams = s.services().streams.in_convs(&channels);
    Ok(Some(ServerBody::Session {
        user,
        token: login.token,
        convs,
        streams,
    }))
}

pub(super) fn visitor(s: &mut Session) -> Reply {
    if !s.shared.config.visitors {
        return Err(ApiError::forbidden(
            "this server does not let visitors in: register or log in",
        ));
    }
    let id = s.shared.next_visitor();
    // Unique while this server runs, which is as long as a visitor lives.
    let authed = Authed {
        id,
        name: format!("{VISITOR_PREFIX}{}", -id),
        role: Role::Visitor,
        invisible: false,
        token_hash: None,
    };
    let user = authed.info();
    s.user = Some(authed);
    Ok(Some(ServerBody::Session {
        user,
        token: None,
        convs: Vec::new(),
        streams: Vec::new(),
    }))
}

pub(super) async fn logout(s: &mut Session) -> Reply {
    if let Some(hash) = s.me().token_hash.clone() {
        s.services().accounts.logout(&hash).await?;
    }
    s.log_out_locally(true);
    // What this connection streamed or watched was its user's.
    let services = s.services();
    services.streams.closed(&services.messages, s.conn.id).await;
    ok()
}

pub(super) async fn change_password(s: &mut Session, old: String, new: String) -> Reply {
    let id = s.me().id;
    let (token, token_hash) = s.services().accounts.change_password(id, old, new).await?;
    if let Some(u) = s.user.as_mut() {
        u.token_hash = Some(token_hash);
    }
    Ok(Some(ServerBody::Token { token }))
}

pub(super) async fn set_status(s: &mut Session, invisible: bool) -> Reply {
    let id = s.me().id;
    s.services().accounts.set_invisible(id, invisible).await?;
    if let Some(u) = s.user.as_mut() {
        u.invisible = invisible;
    }
    ok()
}

/// Opens this connection's UDP path; its keys come from the TLS session.
pub(super) fn udp_open(s: &mut Session) -> Reply {
    let Some(udp) = s.shared.udp.clone() else {
        return Err(ApiError::forbidden(
            "this server has no UDP path: typing notices go over the connection",
        ));
    };
    let Some(secret) = s.udp_secret.as_deref().copied() else {
        return Err(ApiError::forbidden(
            "the UDP path is for native clients over TLS; a WebSocket keeps typing notices on itself",
        ));
    };
    let me = s.me();
    let session = udp.open(s.conn.id, me.id, &me.name, &secret);
    Ok(Some(ServerBody::Udp {
        session: format!("{session:016x}"),
    }))
}
