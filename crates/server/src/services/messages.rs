//! Conversation logs: posting (every entry goes through the poster, so
//! that each conversation has one order), history, sync and typing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_proto::limits::{MAX_EMOJI_BYTES, MAX_QUERY_CHARS, shown};
use confab_proto::{
    Body, ConvId, ErrorCode, Message, SearchHit, Seq, ServerBody, SyncPos, SyncedConv,
};
use confab_store::{
    Appended, ConvRecord, Dest, Effect, MemberConv, NewMessage, Page, Reader, Search,
};
use tokio::sync::oneshot;

use super::poster::{Post, ReplyTo};
use super::{Actor, Ctx};
use crate::access::{self, Dm};
use crate::error::ApiError;
use crate::hub::{Except, event};

/// A log entry written by `actor` now.
fn authored(
    actor: &Actor,
    dest: Dest,
    body: Body,
    nonce: Option<String>,
    hidden_for: Option<confab_store::UserId>,
    effect: Option<Effect>,
) -> NewMessage {
    NewMessage {
        dest,
        sender: actor.id,
        sender_name: actor.name.clone(),
        body,
        nonce,
        ts: now_ms(),
        hidden_for,
        effect,
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn no_conv(conv: ConvId) -> ApiError {
    ApiError::not_found(format!("no conversation {conv} that you can see"))
}

fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorCode::ShuttingDown,
        "the server is shutting down; send again after reconnecting",
    )
}

/// A reaction is one emoji as the `emojis` crate knows it (with its skin
/// tone, if any).
fn check_emoji(emoji: &str) -> Result<(), ApiError> {
    if emoji.len() > MAX_EMOJI_BYTES || emojis::get(emoji).is_none() {
        return Err(ApiError::bad_request(format!(
            "`emoji` must be one emoji, such as \"👍\"; got \"{}\"",
            shown(emoji)
        )));
    }
    Ok(())
}

/// Typing times kept before old ones are swept out.
const TYPING_KEPT: usize = 10_000;

pub(crate) struct Messages {
    ctx: Arc<Ctx>,
    /// When each (user, conversation) last had a typing notice passed on
    /// (for [`Ctx::typing_every`]).
    last_typing: Mutex<TypingTimes>,
}

impl Messages {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Messages {
            ctx,
            last_typing: Mutex::new(TypingTimes::new()),
        }
    }

    fn check_text(&self, text: &str, nonce: &Option<String>) -> Result<(), ApiError> {
        let limits = &self.ctx.limits;
        if text.trim().is_empty() {
            return Err(ApiError::bad_request("`text` must not be empty"));
        }
        limits
            .check_text("text", text, limits.max_text_chars)
            .map_err(|m| ApiError::new(ErrorCode::TooLong, m))?;
        self.check_nonce(nonce)
    }

    fn check_nonce(&self, nonce: &Option<String>) -> Result<(), ApiError> {
        let limits = &self.ctx.limits;
        if let Some(n) = nonce
            && (n.is_empty() || n.len() > limits.max_nonce_bytes)
        {
            return Err(ApiError::new(
                ErrorCode::TooLong,
                format!(
                    "`nonce` must be 1 to {} bytes long, got {}",
                    limits.max_nonce_bytes,
                    n.len()
                ),
            ));
        }
        Ok(())
    }

    async fn post(&self, msg: NewMessage, reply: ReplyTo) -> Result<(), ApiError> {
        self.ctx
            .poster
            .send(Post {
                msg,
                reply,
                received: tokio::time::Instant::now(),
            })
            .await
            .map_err(|_| shutting_down())
    }

    /// Appends a system entry (or any entry a service makes) and waits
    /// until it is stored and delivered.
    pub(crate) async fn post_and_wait(&self, msg: NewMessage) -> Result<Appended, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.post(msg, ReplyTo::Wait(tx)).await?;
        rx.await.map_err(|_| shutting_down())?
    }

    /// A text message to a conversation the actor is in (by its id). The
    /// poster answers `reply` once it is stored. A DM conversation keeps
    /// the rules of a DM however it is addressed.
    pub(crate) async fn send(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        conv: ConvId,
        text: String,
        nonce: Option<String>,
        reply_to: Option<Seq>,
    ) -> Result<(), ApiError> {
        self.check_text(&text, &nonce)?;
        let hidden_for = self.may_post(actor, conv).await?;
        if let Some(target) = reply_to {
            self.target(actor, conv, target).await?;
        }
        self.post_body(
            actor,
            reply,
            Dest::Conv(conv),
            Body::reply(text, reply_to),
            nonce,
            hidden_for,
            None,
        )
        .await
    }

    /// Checks that `actor` may post in `conv`; returns who, if anyone,
    /// reads what they post there as withheld (a DM partner who blocked
    /// them). A DM conversation keeps the rules of a DM however it is
    /// addressed.
    pub(crate) async fn may_post(
        &self,
        actor: &Actor,
        conv: ConvId,
    ) -> Result<Option<confab_store::UserId>, ApiError> {
        let members = &self.ctx.hub.members;
        if !access::can_post(members.is_member(conv, actor.id)) {
            return Err(no_conv(conv));
        }
        match members.dm_partner(conv, actor.id) {
            Some(partner) => self.dm_rule(actor, partner, None).await,
            None => Ok(None),
        }
    }

    /// The text message `seq` of `conv` as `actor` sees it: what a reply,
    /// reaction, edit or delete may name.
    async fn target(&self, actor: &Actor, conv: ConvId, seq: Seq) -> Result<Message, ApiError> {
        let from_seq = self.ctx.hub.members.view_start(conv, actor.id).unwrap_or(0);
        let reader = Reader {
            user: actor.id,
            from_seq,
        };
        let missing = || ApiError::not_found(format!("no message {seq} in conversation {conv}"));
        let m = self
            .ctx
            .store
            .message(conv, seq, reader)
            .await?
            .ok_or_else(missing)?;
        match m.body {
            Body::Text { .. } | Body::File { .. } | Body::Offer { .. } => Ok(m),
            Body::Deleted => Err(ApiError::not_found(format!(
                "message {seq} in conversation {conv} was deleted"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "message {seq} in conversation {conv} is not a message people wrote"
            ))),
        }
    }

    /// A reaction to a message (or taking one's own back).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn react(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        conv: ConvId,
        target: Seq,
        emoji: String,
        remove: bool,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        self.check_nonce(&nonce)?;
        check_emoji(&emoji)?;
        let hidden_for = self.may_post(actor, conv).await?;
        self.target(actor, conv, target).await?;
        let body = Body::Reaction {
            target,
            emoji,
            remove,
        };
        self.post_body(
            actor,
            reply,
            Dest::Conv(conv),
            body,
            nonce,
            hidden_for,
            None,
        )
        .await
    }

    /// The recipient's answer to a file offered to them.
    pub(crate) async fn answer(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        conv: ConvId,
        target: Seq,
        accept: bool,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        self.check_nonce(&nonce)?;
        let hidden_for = self.may_post(actor, conv).await?;
        let m = self.target(actor, conv, target).await?;
        match m.body {
            Body::Offer { accepted: None, .. } if m.sender != actor.name => {}
            Body::Offer { accepted: None, .. } => {
                return Err(ApiError::bad_request(
                    "that is your own offer: the other person answers it",
                ));
            }
            Body::Offer { .. } => {
                return Err(ApiError::new(
                    ErrorCode::AlreadyDone,
                    format!("offer {target} was answered already"),
                ));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "message {target} in conversation {conv} is not a file offer"
                )));
            }
        }
        self.post_body(
            actor,
            reply,
            Dest::Conv(conv),
            Body::Answer { target, accept },
            nonce,
            hidden_for,
            Some(Effect::Answer { target, accept }),
        )
        .await
    }

    /// Posts (or offers) a stored file: the entry and the file's place are
    /// one transaction. Returns where it went.
    pub(crate) async fn post_file(
        &self,
        actor: &Actor,
        dest: Dest,
        body: Body,
        nonce: Option<String>,
        file: &str,
    ) -> Result<Option<(ConvId, Seq)>, ApiError> {
        let hidden_for = match &dest {
            Dest::Conv(conv) => self.may_post(actor, *conv).await?,
            Dest::Dm(_, other) => self.dm_rule(actor, *other, None).await?,
            Dest::NewGroup { .. } => None,
        };
        let appended = self
            .post_and_wait(authored(
                actor,
                dest,
                body,
                nonce,
                hidden_for,
                Some(Effect::File(file.to_owned())),
            ))
            .await?;
        Ok(Some((appended.message.conv, appended.message.seq)))
    }

    /// Where a direct entry from `actor` to `target` goes: their
    /// conversation, or a new one made with the entry.
    pub(crate) async fn dm_dest(
        &self,
        actor: &Actor,
        target: confab_store::UserId,
    ) -> Result<Dest, ApiError> {
        let hub = &self.ctx.hub;
        Ok(match hub.members.dm(actor.id, target) {
            Some(conv) => Dest::Conv(conv),
            None => match self.ctx.store.dm_conv(actor.id, target).await? {
                Some(conv) => {
                    hub.members.remember_dm(actor.id, target, conv.id);
                    Dest::Conv(conv.id)
                }
                None => Dest::Dm(actor.id, target),
            },
        })
    }

    /// Whether `actor` may read the entry `seq` of `conv` and, as they
    /// read it, it carries the file `id`.
    pub(crate) async fn carries(&self, actor: &Actor, conv: ConvId, seq: Seq, id: &str) -> bool {
        let Ok((_, from_seq)) = self.readable(actor, conv).await else {
            return false;
        };
        if seq < from_seq {
            return false;
        }
        let reader = Reader {
            user: actor.id,
            from_seq,
        };
        match self.ctx.store.message(conv, seq, reader).await {
            Ok(Some(m)) => matches!(
                &m.body,
                Body::File { file } | Body::Offer { file, .. } if file.id == id
            ),
            _ => false,
        }
    }

    /// A new text for one of the actor's own messages.
    pub(crate) async fn edit(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        conv: ConvId,
        target: Seq,
        text: String,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        self.check_text(&text, &nonce)?;
        // Never withheld (a DM partner who blocked the actor sees the
        // message change as they see it go): the entry says nothing new.
        self.may_post(actor, conv).await?;
        let m = self.target(actor, conv, target).await?;
        if !access::can_edit(actor, &m) {
            return Err(ApiError::forbidden(format!(
                "message {target} is `{}`'s: you can edit only your own messages",
                shown(&m.sender)
            )));
        }
        let effect = Effect::Edit {
            target,
            text: text.clone(),
        };
        let body = Body::Edit { target };
        self.post_body(
            actor,
            reply,
            Dest::Conv(conv),
            body,
            nonce,
            None,
            Some(effect),
        )
        .await
    }

    /// Deletes a message: the actor's own, or as the channel's manager.
    pub(crate) async fn delete(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        conv: ConvId,
        target: Seq,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        self.check_nonce(&nonce)?;
        // Never withheld (a DM partner who blocked the actor sees the
        // message change as they see it go): the entry says nothing new.
        self.may_post(actor, conv).await?;
        let m = self.target(actor, conv, target).await?;
        let record = self.ctx.conv(conv).await?;
        if !access::can_delete(actor, &record, &m) {
            return Err(ApiError::forbidden(format!(
                "message {target} is `{}`'s: only its sender, the channel's owner or an admin may delete it",
                shown(&m.sender)
            )));
        }
        self.post_body(
            actor,
            reply,
            Dest::Conv(conv),
            Body::Delete { target },
            nonce,
            None,
            Some(Effect::Delete { target }),
        )
        .await
    }

    /// Moves the actor's read position in `conv` (never back) and tells
    /// their other connections. Returns the position now.
    pub(crate) async fn read(
        &self,
        actor: &Actor,
        conn: crate::hub::ConnId,
        conv: ConvId,
        seq: Seq,
    ) -> Result<Seq, ApiError> {
        if !self.ctx.hub.members.is_member(conv, actor.id) {
            return Err(no_conv(conv));
        }
        let record = self.ctx.conv(conv).await?;
        if seq > record.last_seq {
            return Err(ApiError::bad_request(format!(
                "`seq` {seq} is past the end of conversation {conv} (its last is {})",
                record.last_seq
            )));
        }
        let now = self.ctx.store.set_read(conv, actor.id, seq).await?;
        let frame = event(ServerBody::Read { conv, seq: now });
        self.ctx.hub.bus.publish(
            crate::hub::Audience::User(actor.id),
            &frame,
            Except::conn(conn),
        );
        Ok(now)
    }

    /// Full-text search of what the actor may read.
    pub(crate) async fn search(
        &self,
        actor: &Actor,
        query: String,
        conv: Option<ConvId>,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<(Vec<SearchHit>, bool), ApiError> {
        let chars = query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(ApiError::new(
                ErrorCode::TooLong,
                format!("`query` is {chars} characters long; the limit is {MAX_QUERY_CHARS}"),
            ));
        }
        if confab_store::fts_query(&query).is_none() {
            return Err(ApiError::bad_request(
                "`query` has no words to search for (letters or digits)",
            ));
        }
        if let Some(conv) = conv {
            self.readable(actor, conv).await?;
        }
        let limit = self.page_limit(limit.or(Some(50)))?.min(100);
        let (hits, more) = self
            .ctx
            .store
            .search(Search {
                reader: actor.id,
                visitor: actor.role == confab_proto::Role::Visitor,
                query,
                conv,
                before,
                limit,
            })
            .await?;
        let hits = hits
            .into_iter()
            .map(|h| SearchHit {
                kind: h.kind,
                name: h.name,
                message: h.message,
            })
            .collect();
        Ok((hits, more))
    }

    /// A direct message to `user`, creating their conversation with the
    /// first one (inside the poster's batch, not a transaction of its own).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn dm_send(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        target: confab_store::UserId,
        target_name: &str,
        text: String,
        nonce: Option<String>,
        reply_to: Option<Seq>,
    ) -> Result<(), ApiError> {
        self.check_text(&text, &nonce)?;
        let hidden_for = self.dm_rule(actor, target, Some(target_name)).await?;
        let dest = self.dm_dest(actor, target).await?;
        if let Some(seq) = reply_to {
            match dest {
                Dest::Conv(conv) => {
                    self.target(actor, conv, seq).await?;
                }
                _ => {
                    return Err(ApiError::not_found(format!(
                        "no message {seq} between you and `{}`",
                        shown(target_name)
                    )));
                }
            }
        }
        self.post_body(
            actor,
            reply,
            dest,
            Body::reply(text, reply_to),
            nonce,
            hidden_for,
            None,
        )
        .await
    }

    /// The rule for a direct message from `actor` to `recipient`: who, if
    /// anyone, reads it as withheld, or why it is refused.
    pub(crate) async fn dm_rule(
        &self,
        actor: &Actor,
        recipient: confab_store::UserId,
        name: Option<&str>,
    ) -> Result<Option<confab_store::UserId>, ApiError> {
        match access::dm(&self.ctx.hub.relations, actor.id, recipient) {
            Dm::Deliver => Ok(None),
            Dm::Withhold => Ok(Some(recipient)),
            Dm::ToSelf => Err(ApiError::bad_request(
                "you cannot send a direct message to yourself",
            )),
            Dm::SenderBlocks => {
                let name = match name {
                    Some(n) => n.to_owned(),
                    None => self.ctx.name_of(recipient).await?,
                };
                Err(ApiError::forbidden(format!(
                    "you blocked `{}`: unblock them to write to them",
                    shown(&name)
                )))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn post_body(
        &self,
        actor: &Actor,
        reply: ReplyTo,
        dest: Dest,
        body: Body,
        nonce: Option<String>,
        hidden_for: Option<confab_store::UserId>,
        effect: Option<Effect>,
    ) -> Result<(), ApiError> {
        let msg = authored(actor, dest, body, nonce, hidden_for, effect);
        self.post(msg, reply).await
    }

    /// The conversation `conv` if `actor` may read it, and where their view
    /// of its log starts.
    pub(crate) async fn readable(
        &self,
        actor: &Actor,
        conv: ConvId,
    ) -> Result<(ConvRecord, Seq), ApiError> {
        let record = self.ctx.conv(conv).await?;
        let from = self.ctx.hub.members.view_start(conv, actor.id);
        if access::can_read(&record, from.is_some()) {
            Ok((record, from.unwrap_or(0)))
        } else {
            Err(no_conv(conv))
        }
    }

    fn page_limit(&self, limit: Option<u32>) -> Result<u32, ApiError> {
        let max = self.ctx.limits.max_page;
        match limit.unwrap_or(50) {
            0 => Err(ApiError::bad_request("`limit` must be at least 1")),
            n if n > max => Err(ApiError::bad_request(format!(
                "`limit` must be at most {max}, got {n}"
            ))),
            n => Ok(n),
        }
    }

    pub(crate) async fn history(
        &self,
        actor: &Actor,
        conv: ConvId,
        before: Option<Seq>,
        after: Option<Seq>,
        limit: Option<u32>,
    ) -> Result<(Vec<Message>, bool), ApiError> {
        let limit = self.page_limit(limit)?;
        let page = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("give `before` or `after`, not both"));
            }
            (Some(b), None) => Page::Before(b),
            (None, Some(a)) => Page::After(a),
            (None, None) => Page::Latest,
        };
        let (_, from_seq) = self.readable(actor, conv).await?;
        let reader = Reader {
            user: actor.id,
            from_seq,
        };
        Ok(self.ctx.store.history(conv, page, limit, reader).await?)
    }

    /// Everything after `since` in every conversation the actor is in (a
    /// visitor: the channels they watch).
    pub(crate) async fn sync(
        &self,
        actor: &Actor,
        watching: &HashSet<ConvId>,
        since: Vec<SyncPos>,
        limit: Option<u32>,
    ) -> Result<Vec<SyncedConv>, ApiError> {
        let limit = self.page_limit(limit.or(Some(self.ctx.limits.max_page)))?;
        let positions: HashMap<ConvId, u64> = since.iter().map(|p| (p.conv, p.seq)).collect();
        let store = &self.ctx.store;
        // Where each conversation's log starts for the actor comes from the
        // store, with the membership: the mirror may not have caught up
        // with a member added by a commit this moment.
        let mut convs: Vec<MemberConv> = if actor.role == confab_proto::Role::Visitor {
            let mut v = Vec::new();
            for conv in watching {
                if let Some(c) = store.conv(*conv).await? {
                    v.push(MemberConv {
                        conv: c,
                        from_seq: 0,
                        read: 0,
                    });
                }
            }
            v
        } else {
            store.convs_of(actor.id).await?
        };
        convs.sort_by_key(|c| c.conv.id);
        let mut out = Vec::new();
        for MemberConv {
            conv: c,
            from_seq,
            read,
        } in convs
        {
            let after = positions.get(&c.id).copied().unwrap_or(0);
            let (messages, more) = if c.last_seq > after.max(from_seq) {
                let reader = Reader {
                    user: actor.id,
                    from_seq,
                };
                store
                    .history(c.id, Page::After(after), limit, reader)
                    .await?
            } else {
                (Vec::new(), false)
            };
            out.push(SyncedConv {
                conv: c.id,
                kind: c.kind,
                name: c.name,
                messages,
                more,
                from_seq,
                read,
                topic: c.topic,
            });
        }
        Ok(out)
    }

    /// Tells the other members that the actor is typing (unless that would
    /// give an invisible user away). The presence tracker holds the user's
    /// current status, which another connection may have changed. At most
    /// one notice per second per user and conversation goes out, however
    /// many come in (by request or datagram).
    pub(crate) fn typing(&self, actor: &Actor, conv: ConvId) -> Result<(), ApiError> {
        let hub = &self.ctx.hub;
        if !hub.members.is_member(conv, actor.id) {
            return Err(no_conv(conv));
        }
        if !hub.presence.is_visible(actor.id) || !self.typing_due(actor.id, conv) {
            return Ok(());
        }
        let partner = hub.members.dm_partner(conv, actor.id);
        if !access::typing_shown(&hub.relations, actor.id, partner) {
            return Ok(());
        }
        let frame = event(ServerBody::Typing {
            conv,
            user: actor.name.clone(),
        });
        hub.bus
            .typing(conv, &actor.name, &frame, Except::user(actor.id));
        Ok(())
    }

    /// Whether a typing notice from `user` in `conv` may go out now.
    fn typing_due(&self, user: confab_store::UserId, conv: ConvId) -> bool {
        let mut times = self.last_typing.lock().unwrap_or_else(|p| p.into_inner());
        times.due((user, conv), Instant::now(), self.ctx.typing_every)
    }
}

/// When each (user, conversation) last had a typing notice passed on, in
/// two generations of at most [`TYPING_KEPT`] each: every `every` the
/// current one becomes the previous and the previous is dropped, so what
/// is younger than `every` is always at hand, the memory is bounded, and
/// no call scans the lot.
struct TypingTimes {
    current: HashMap<(confab_store::UserId, ConvId), Instant>,
    previous: HashMap<(confab_store::UserId, ConvId), Instant>,
    since: Instant,
}

impl TypingTimes {
    fn new() -> Self {
        TypingTimes {
            current: HashMap::new(),
            previous: HashMap::new(),
            since: Instant::now(),
        }
    }

    fn due(&mut self, key: (confab_store::UserId, ConvId), now: Instant, every: Duration) -> bool {
        if now.duration_since(self.since) >= every {
            self.previous = std::mem::take(&mut self.current);
            self.since = now;
        }
        let last = self.current.get(&key).or_else(|| self.previous.get(&key));
        if last.is_some_and(|t| now.duration_since(*t) < every) {
            return false;
        }
        // Full (more typists at once than it keeps): let it through unrecorded.
        if self.current.len() < TYPING_KEPT {
            self.current.insert(key, now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_due_once_per_interval_and_the_record_stays_bounded() {
        let every = Duration::from_secs(1);
        let start = Instant::now();
        let mut t = TypingTimes::new();
        let at = |ms| start + Duration::from_millis(ms);
        assert!(t.due((1, 7), at(0), every));
        assert!(!t.due((1, 7), at(500), every));
        assert!(t.due((2, 7), at(500), every), "another user");
        assert!(t.due((1, 8), at(500), every), "another conversation");
        // Across a generation change the recent notice is still known.
        assert!(!t.due((2, 7), at(1_200), every));
        assert!(t.due((1, 7), at(1_200), every));
        // Two intervals on, everything is due again and old records are gone.
        assert!(t.due((2, 7), at(3_500), every));
        assert!(t.current.len() + t.previous.len() <= 3);
        for user in 0..(TYPING_KEPT as i64 + 10) {
            t.due((user, 9), at(3_600), every);
        }
        assert_eq!(t.current.len(), TYPING_KEPT);
    }
}
