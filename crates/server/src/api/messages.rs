//! Sending, history, sync and typing.

use confab_proto::{ConvId, Seq, ServerBody, SyncPos};

use super::ok;
use crate::services::poster::ReplyTo;
use crate::session::{Reply, Session};

fn reply_to(s: &Session, req_id: u64) -> ReplyTo {
    ReplyTo::Conn {
        outbox: s.conn.outbox.clone(),
        conn: s.conn.id,
        req_id,
    }
}

/// Answered by the poster once stored.
pub(super) async fn send(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    text: String,
    nonce: Option<String>,
) -> Reply {
    s.services()
        .messages
        .send(&s.actor(), reply_to(s, id), conv, text, nonce)
        .await?;
    Ok(None)
}

/// Answered by the poster once stored.
pub(super) async fn dm_send(
    s: &mut Session,
    id: u64,
    user: String,
    text: String,
    nonce: Option<String>,
) -> Reply {
    let services = s.services();
    let target = services.accounts.user_id(&user).await?;
    services
        .messages
        .dm_send(&s.actor(), reply_to(s, id), target, &user, text, nonce)
        .await?;
    Ok(None)
}

pub(super) async fn history(
    s: &mut Session,
    conv: ConvId,
    before: Option<Seq>,
    after: Option<Seq>,
    limit: Option<u32>,
) -> Reply {
    let (messages, more) = s
        .services()
        .messages
        .history(&s.actor(), conv, before, after, limit)
        .await?;
    Ok(Some(ServerBody::Messages {
        conv,
        messages,
        more,
    }))
}

pub(super) async fn sync(s: &mut Session, since: Vec<SyncPos>, limit: Option<u32>) -> Reply {
    let convs = s
        .services()
        .messages
        .sync(&s.actor(), &s.watching, since, limit)
        .await?;
    Ok(Some(ServerBody::Synced { convs }))
}

pub(super) fn typing(s: &mut Session, conv: ConvId) -> Reply {
    s.services().messages.typing(&s.actor(), conv)?;
    ok()
}
