//! Sending, history, sync and typing.

use confab_proto::{ConvId, Seq, ServerBody, SyncPos};

use super::ok;
use crate::error::ApiError;
use crate::services::poster::ReplyTo;
use crate::session::{Reply, Session};

fn reply_to(s: &Session, req_id: u64) -> ReplyTo {
    ReplyTo::Conn {
        outbox: s.conn.outbox.clone(),
        conn: s.conn.id,
        req_id,
    }
}

/// A client's nonce may not look like the bridge's (whose messages are not
/// carried to the other side again).
fn client_nonce(nonce: &Option<String>) -> Result<(), ApiError> {
    if nonce
        .as_deref()
        .is_some_and(|n| n.starts_with(crate::hub::remote::NONCE_PREFIX))
    {
        return Err(ApiError::bad_request(format!(
            "`nonce` may not begin with `{}`",
            crate::hub::remote::NONCE_PREFIX
        )));
    }
    Ok(())
}

/// Answered by the poster once stored.
pub(super) async fn send(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    text: String,
    nonce: Option<String>,
    reply_to_seq: Option<Seq>,
) -> Reply {
    client_nonce(&nonce)?;
    s.services()
        .messages
        .send(&s.actor(), reply_to(s, id), conv, text, nonce, reply_to_seq)
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
    reply_to_seq: Option<Seq>,
) -> Reply {
    client_nonce(&nonce)?;
    let services = s.services();
    let target = services.accounts.user_id(&user).await?;
    let reply = reply_to(s, id);
    services
        .messages
        .dm_send(&s.actor(), reply, target, &user, text, nonce, reply_to_seq)
        .await?;
    Ok(None)
}

/// Answered by the poster once stored.
#[allow(clippy::too_many_arguments)]
pub(super) async fn react(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    target: Seq,
    emoji: String,
    remove: bool,
    nonce: Option<String>,
) -> Reply {
    let reply = reply_to(s, id);
    s.services()
        .messages
        .react(&s.actor(), reply, conv, target, emoji, remove, nonce)
        .await?;
    Ok(None)
}

/// Answered by the poster once stored.
pub(super) async fn answer(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    target: Seq,
    accept: bool,
    nonce: Option<String>,
) -> Reply {
    let reply = reply_to(s, id);
    s.services()
        .messages
        .answer(&s.actor(), reply, conv, target, accept, nonce)
        .await?;
    Ok(None)
}

/// Answered by the poster once stored.
pub(super) async fn edit(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    target: Seq,
    text: String,
    nonce: Option<String>,
) -> Reply {
    let reply = reply_to(s, id);
    s.services()
        .messages
        .edit(&s.actor(), reply, conv, target, text, nonce)
        .await?;
    Ok(None)
}

/// Answered by the poster once stored.
pub(super) async fn delete(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    target: Seq,
    nonce: Option<String>,
) -> Reply {
    let reply = reply_to(s, id);
    s.services()
        .messages
        .delete(&s.actor(), reply, conv, target, nonce)
        .await?;
    Ok(None)
}

pub(super) async fn read(s: &mut Session, conv: ConvId, seq: Seq) -> Reply {
    s.services()
        .messages
        .read(&s.actor(), s.conn.id, conv, seq)
        .await?;
    ok()
}

pub(super) async fn search(
    s: &mut Session,
    query: String,
    conv: Option<ConvId>,
    before: Option<u64>,
    limit: Option<u32>,
) -> Reply {
    let (hits, more) = s
        .services()
        .messages
        .search(&s.actor(), query, conv, before, limit)
        .await?;
    Ok(Some(ServerBody::SearchResults { hits, more }))
}

pub(super) async fn topic(s: &mut Session, conv: ConvId, topic: String) -> Reply {
    let services = s.services();
    services
        .rooms
        .set_topic(&s.actor(), &services.messages, conv, topic)
        .await?;
    ok()
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
