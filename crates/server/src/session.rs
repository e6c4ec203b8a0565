//! One connection's conversation with the server, whatever the transport.
//!
//! [`Session::handle`] takes one frame's bytes, parses it strictly, runs the
//! policy check, dispatches to a handler and queues the reply. Handlers
//! return `Ok(Some(body))` for a reply, `Ok(None)` when someone else replies
//! (the poster, for sends), or an [`ApiError`]. To add a request: a variant
//! in `proto`, an `Access` in `policy`, an arm in `dispatch` and a handler.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use confab_proto::{
    ChannelInfo, ConvId, ConvSummary, ErrorCode, MemberInfo, PROTOCOL_VERSION, Request, Role,
    ServerBody, ServerFrame, SyncPos, SyncedConv, UserInfo, limits::VISITOR_PREFIX,
};
use confab_store::{ConvRecord, NewMessage, Page, UserId, UserRecord};

use crate::error::ApiError;
use crate::hub::{ConnId, encode, event};
use crate::outbox::Outbox;
use crate::policy::{self, Caller};
use crate::poster::Post;
use crate::{Shared, auth};

type Reply = Result<Option<ServerBody>, ApiError>;

/// The logged-in user of a session.
struct Authed {
    id: UserId,
    name: String,
    role: Role,
    invisible: bool,
    /// Hash of the token this session logged in with or was given.
    token_hash: Option<String>,
}

impl Authed {
    fn info(&self) -> UserInfo {
        UserInfo {
            name: self.name.clone(),
            role: self.role,
            invisible: self.invisible,
        }
    }
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    conn: ConnId,
    outbox: Arc<Outbox>,
    handshaken: bool,
    user: Option<Authed>,
    /// Public channels a visitor watches.
    watching: HashSet<ConvId>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ok() -> Reply {
    Ok(Some(ServerBody::Ok {}))
}

fn no_channel(name: &str) -> ApiError {
    ApiError::not_found(format!("no channel named `{name}`"))
}

fn no_conv(conv: ConvId) -> ApiError {
    ApiError::not_found(format!("no conversation {conv} that you can see"))
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, conn: ConnId, outbox: Arc<Outbox>) -> Self {
        Session {
            shared,
            conn,
            outbox,
            handshaken: false,
            user: None,
            watching: HashSet::new(),
        }
    }

    /// Queues an error reply (or an error event when `id` is unknown).
    pub(crate) fn send_error(&self, id: Option<u64>, code: ErrorCode, message: impl Into<String>) {
        self.outbox
            .push_reply(encode(&ServerFrame::error(id, code, message)));
    }

    /// Handles one frame's payload.
    pub(crate) async fn handle(&mut self, payload: &[u8]) {
        let frame = match confab_proto::parse_client_frame(payload) {
            Ok(f) => f,
            Err(e) => return self.send_error(e.id, e.code, e.message),
        };
        let Some(id) = frame.id else {
            // Only `pong` may come without an id; the read itself was the point.
            return;
        };
        let caller = Caller {
            handshaken: self.handshaken,
            user: self.user.as_ref().map(|u| (u.name.as_str(), u.role)),
        };
        let result = match policy::check(&frame.req, &caller) {
            Ok(()) => self.dispatch(id, frame.req).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(body)) => self
                .outbox
                .push_reply(encode(&ServerFrame::reply(id, body))),
            Ok(None) => {}
            Err(e) => self.send_error(Some(id), e.code, e.message),
        }
    }

    /// The connection is going away: leave presence and watches.
    pub(crate) fn finish(&mut self) {
        self.log_out_locally(false);
    }

    async fn dispatch(&mut self, id: u64, req: Request) -> Reply {
        use Request::*;
        match req {
            Hello { protocol, client } => self.hello(protocol, client),
            Register { username, password } => self.register(username, password).await,
            Login { username, password } => self.login(username, password).await,
            Resume { token } => self.resume(token).await,
            Visitor {} => self.visitor(),
            Logout {} => self.logout().await,
            ChangePassword {
                old_password,
                new_password,
            } => self.change_password(old_password, new_password).await,
            Whoami {} => Ok(Some(ServerBody::User {
                user: self.me().info(),
            })),
            SetStatus { invisible } => self.set_status(invisible).await,
            Ping {} => Ok(Some(ServerBody::Pong {})),
            Pong {} => Ok(None),
            ChannelCreate {
                name,
                private,
                topic,
            } => self.channel_create(name, private, topic).await,
            ChannelJoin { name } => self.channel_join(name).await,
            ChannelLeave { name } => self.channel_leave(name).await,
            ChannelList {} => self.channel_list().await,
            ChannelInvite { name, user } => self.channel_invite(name, user).await,
            ChannelDelete { name } => self.channel_delete(name).await,
            ChannelMembers { name } => self.channel_members(name).await,
            Send { conv, text, nonce } => self.send(id, conv, text, nonce).await,
            DmSend { user, text, nonce } => self.dm_send(id, user, text, nonce).await,
            History {
                conv,
                before,
                after,
                limit,
            } => self.history(conv, before, after, limit).await,
            Sync { since, limit } => self.sync(since, limit).await,
            Typing { conv } => self.typing(conv),
            Users {} => Ok(Some(ServerBody::Users {
                users: self.shared.hub.visible_users(),
            })),
        }
    }

    /// The logged-in user. Policy guarantees one for every request that calls this.
    fn me(&self) -> &Authed {
        self.user.as_ref().expect("policy checked the login")
    }

    // ---- handshake and accounts ----

    fn hello(&mut self, protocol: u32, client: String) -> Reply {
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
        self.handshaken = true;
        let cfg = &self.shared.config;
        Ok(Some(ServerBody::Hello {
            protocol: PROTOCOL_VERSION,
            server: format!("confab/{}", env!("CARGO_PKG_VERSION")),
            limits: cfg.limits.clone(),
            heartbeat_ms: cfg.heartbeat.as_millis() as u64,
        }))
    }

    async fn register(&mut self, username: String, password: String) -> Reply {
        let limits = &self.shared.config.limits;
        limits
            .check_username(&username)
            .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))?;
        limits
            .check_password(&password)
            .map_err(|m| ApiError::new(ErrorCode::InvalidPassword, m))?;
        let hash = auth::hash_password_async(password).await;
        let user = self
            .shared
            .store
            .create_user(&username, &hash, Role::Member)
            .await?;
        self.start_session(user).await
    }

    async fn login(&mut self, username: String, password: String) -> Reply {
        let user = self.shared.store.user_by_name(&username).await?;
        // An unknown name costs a hash check too, so timing does not tell
        // which names exist.
        let ok =
            auth::verify_password_async(password, user.as_ref().map(|u| u.password_hash.clone()))
                .await;
        match user {
            Some(user) if ok => self.start_session(user).await,
            _ => Err(ApiError::new(
                ErrorCode::BadCredentials,
                "wrong user name or password",
            )),
        }
    }

    async fn resume(&mut self, token: String) -> Reply {
        let hash = auth::token_hash(&token);
        let Some(user) = self.shared.store.user_by_token(&hash).await? else {
            return Err(ApiError::new(
                ErrorCode::BadToken,
                "that session token is unknown or revoked; log in with your password",
            ));
        };
        self.log_in(user, Some(hash), None).await
    }

    /// Logs in with a new token.
    async fn start_session(&mut self, user: UserRecord) -> Reply {
        let (token, hash) = auth::new_token();
        self.shared.store.add_token(user.id, &hash).await?;
        self.log_in(user, Some(hash), Some(token)).await
    }

    async fn log_in(
        &mut self,
        user: UserRecord,
        token_hash: Option<String>,
        token: Option<String>,
    ) -> Reply {
        let convs = self.shared.store.convs_of(user.id).await?;
        let authed = Authed {
            id: user.id,
            name: user.name,
            role: user.role,
            invisible: user.invisible,
            token_hash,
        };
        self.shared.hub.attach(
            authed.id,
            &authed.name,
            authed.invisible,
            self.conn,
            self.outbox.clone(),
        );
        let info = authed.info();
        self.user = Some(authed);
        let convs = convs
            .into_iter()
            .map(|c| ConvSummary {
                conv: c.id,
                kind: c.kind,
                name: c.name,
                last_seq: c.last_seq,
            })
            .collect();
        Ok(Some(ServerBody::Session {
            user: info,
            token,
            convs,
        }))
    }

    fn visitor(&mut self) -> Reply {
        let id = self.shared.hub.visitor_id();
        // Unique while this server runs, which is as long as a visitor lives.
        let name = format!("{VISITOR_PREFIX}{}", -id);
        let authed = Authed {
            id,
            name,
            role: Role::Visitor,
            invisible: false,
            token_hash: None,
        };
        let info = authed.info();
        self.user = Some(authed);
        Ok(Some(ServerBody::Session {
            user: info,
            token: None,
            convs: Vec::new(),
        }))
    }

    /// Leaves presence and watches: `logout` when the user asked to, so
    /// that they go offline at once rather than after the grace period.
    fn log_out_locally(&mut self, logout: bool) {
        for conv in self.watching.drain() {
            self.shared.hub.unwatch(conv, self.conn);
        }
        if let Some(u) = self.user.take()
            && u.role != Role::Visitor
        {
            self.shared.hub.detach(u.id, self.conn, logout);
        }
    }

    async fn logout(&mut self) -> Reply {
        if let Some(hash) = self.me().token_hash.clone() {
            self.shared.store.revoke_token(&hash).await?;
        }
        self.log_out_locally(true);
        ok()
    }

    async fn change_password(&mut self, old: String, new: String) -> Reply {
        let me = self.me();
        let record = self
            .shared
            .store
            .user_by_id(me.id)
            .await?
            .ok_or_else(|| ApiError::not_found("your account no longer exists"))?;
        if !auth::verify_password_async(old, Some(record.password_hash)).await {
            return Err(ApiError::new(
                ErrorCode::BadCredentials,
                "the old password is wrong",
            ));
        }
        self.shared
            .config
            .limits
            .check_password(&new)
            .map_err(|m| ApiError::new(ErrorCode::InvalidPassword, m))?;
        let hash = auth::hash_password_async(new).await;
        self.shared.store.set_password(record.id, &hash).await?;
        // Every token is revoked; this session gets a fresh one.
        let (token, token_hash) = auth::new_token();
        self.shared.store.add_token(record.id, &token_hash).await?;
        if let Some(u) = self.user.as_mut() {
            u.token_hash = Some(token_hash);
        }
        Ok(Some(ServerBody::Token { token }))
    }

    async fn set_status(&mut self, invisible: bool) -> Reply {
        let id = self.me().id;
        self.shared.store.set_invisible(id, invisible).await?;
        self.shared.hub.set_invisible(id, invisible);
        if let Some(u) = self.user.as_mut() {
            u.invisible = invisible;
        }
        ok()
    }

    async fn user_named(&self, name: &str) -> Result<UserRecord, ApiError> {
        self.shared
            .store
            .user_by_name(name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no user named `{name}`")))
    }

    // ---- channels ----

    /// The channel named `name` if the caller may know it exists.
    async fn visible_channel(&self, name: &str) -> Result<ConvRecord, ApiError> {
        let conv = self
            .shared
            .store
            .channel_by_name(name)
            .await?
            .ok_or_else(|| no_channel(name))?;
        if policy::can_read(&conv, self.shared.hub.is_member(conv.id, self.me().id)) {
            Ok(conv)
        } else {
            Err(no_channel(name))
        }
    }

    async fn channel_info(&self, conv: &ConvRecord) -> Result<ChannelInfo, ApiError> {
        let me = self.me();
        let owner = match conv.owner {
            Some(id) => self
                .shared
                .store
                .user_by_id(id)
                .await?
                .map(|u| u.name)
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(ChannelInfo {
            conv: conv.id,
            name: conv.name.clone(),
            private: conv.private,
            topic: conv.topic.clone(),
            owner,
            members: self.shared.hub.member_count(conv.id) as u32,
            joined: self.shared.hub.is_member(conv.id, me.id) || self.watching.contains(&conv.id),
            last_seq: conv.last_seq,
        })
    }

    async fn channel_create(
        &mut self,
        name: String,
        private: bool,
        topic: Option<String>,
    ) -> Reply {
        let limits = &self.shared.config.limits;
        limits
            .check_channel(&name)
            .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))?;
        let topic = topic.unwrap_or_default();
        limits
            .check_text("topic", &topic, limits.max_topic_chars)
            .map_err(|m| ApiError::new(ErrorCode::TooLong, m))?;
        let me = self.me().id;
        let conv = self
            .shared
            .store
            .create_channel(&name, private, &topic, me)
            .await
            .map_err(|e| match e {
                confab_store::StoreError::NameTaken(_) => ApiError::new(
                    ErrorCode::NameTaken,
                    format!("a channel named `{name}` already exists"),
                ),
                e => e.into(),
            })?;
        self.shared.hub.add_member(conv.id, me);
        Ok(Some(ServerBody::Channel {
            channel: self.channel_info(&conv).await?,
        }))
    }

    async fn channel_join(&mut self, name: String) -> Reply {
        if self.me().role == Role::Visitor {
            // Same answer for private and missing channels, so a visitor
            // learns nothing about private ones.
            let conv = self.shared.store.channel_by_name(&name).await?;
            let Some(conv) = conv.filter(|c| !c.private) else {
                return Err(ApiError::forbidden(format!(
                    "visitors are read-only and may only watch public channels; there is no public channel `{name}`"
                )));
            };
            self.shared
                .hub
                .watch(conv.id, self.conn, self.outbox.clone());
            self.watching.insert(conv.id);
            return Ok(Some(ServerBody::Channel {
                channel: self.channel_info(&conv).await?,
            }));
        }
        let conv = self.visible_channel(&name).await?;
        let me = self.me();
        if conv.private {
            // A non-member cannot see it at all (visible_channel said so);
            // a member is already in.
            return Err(ApiError::new(
                ErrorCode::AlreadyMember,
                format!("you are already in `{name}`"),
            ));
        }
        if !self.shared.store.add_member(conv.id, me.id).await? {
            return Err(ApiError::new(
                ErrorCode::AlreadyMember,
                format!("you are already in `{name}`"),
            ));
        }
        self.shared.hub.add_member(conv.id, me.id);
        let frame = event(ServerBody::MemberJoined {
            conv: conv.id,
            channel: conv.name.clone(),
            user: me.name.clone(),
        });
        self.shared
            .hub
            .publish(conv.id, &frame, Some(self.conn), None);
        Ok(Some(ServerBody::Channel {
            channel: self.channel_info(&conv).await?,
        }))
    }

    async fn channel_leave(&mut self, name: String) -> Reply {
        if self.me().role == Role::Visitor {
            let conv = self.shared.store.channel_by_name(&name).await?;
            return match conv.filter(|c| self.watching.remove(&c.id)) {
                Some(c) => {
                    self.shared.hub.unwatch(c.id, self.conn);
                    ok()
                }
                None => Err(ApiError::new(
                    ErrorCode::NotMember,
                    format!("you are not watching `{name}`"),
                )),
            };
        }
        let conv = self.visible_channel(&name).await?;
        let me = self.me();
        if !self.shared.store.remove_member(conv.id, me.id).await? {
            return Err(ApiError::new(
                ErrorCode::NotMember,
                format!("you are not in `{name}`"),
            ));
        }
        let frame = event(ServerBody::MemberLeft {
            conv: conv.id,
            channel: conv.name.clone(),
            user: me.name.clone(),
        });
        self.shared
            .hub
            .publish(conv.id, &frame, Some(self.conn), None);
        self.shared.hub.remove_member(conv.id, me.id);
        ok()
    }

    async fn channel_list(&self) -> Reply {
        let me = self.me();
        let rows = self.shared.store.list_channels(me.id).await?;
        let channels = rows
            .into_iter()
            .map(|r| ChannelInfo {
                joined: self.shared.hub.is_member(r.conv.id, me.id)
                    || self.watching.contains(&r.conv.id),
                conv: r.conv.id,
                name: r.conv.name,
                private: r.conv.private,
                topic: r.conv.topic,
                owner: r.owner_name,
                members: r.members,
                last_seq: r.conv.last_seq,
            })
            .collect();
        Ok(Some(ServerBody::Channels { channels }))
    }

    async fn channel_invite(&self, name: String, user: String) -> Reply {
        let conv = self.visible_channel(&name).await?;
        let me = self.me();
        if !policy::can_manage(me.id, me.role, &conv) {
            return Err(ApiError::forbidden(format!(
                "only the owner of `{name}` or an admin can invite to it"
            )));
        }
        let target = self.user_named(&user).await?;
        if !self.shared.store.add_member(conv.id, target.id).await? {
            return Err(ApiError::new(
                ErrorCode::AlreadyMember,
                format!("`{user}` is already in `{name}`"),
            ));
        }
        let joined = event(ServerBody::MemberJoined {
            conv: conv.id,
            channel: conv.name.clone(),
            user: target.name.clone(),
        });
        self.shared.hub.publish(conv.id, &joined, None, None);
        self.shared.hub.add_member(conv.id, target.id);
        let mut info = self.channel_info(&conv).await?;
        info.joined = true;
        self.shared.hub.send_to_user(
            target.id,
            &event(ServerBody::Invited {
                channel: info,
                by: me.name.clone(),
            }),
        );
        ok()
    }

    async fn channel_delete(&self, name: String) -> Reply {
        let conv = self.visible_channel(&name).await?;
        let me = self.me();
        if !policy::can_manage(me.id, me.role, &conv) {
            return Err(ApiError::forbidden(format!(
                "only the owner of `{name}` or an admin can delete it"
            )));
        }
        self.shared.store.delete_conv(conv.id).await?;
        self.shared.hub.remove_conv(
            conv.id,
            event(ServerBody::ChannelDeleted {
                conv: conv.id,
                channel: conv.name,
            }),
        );
        ok()
    }

    async fn channel_members(&self, name: String) -> Reply {
        let conv = self.visible_channel(&name).await?;
        let hub = &self.shared.hub;
        let members = self
            .shared
            .store
            .members(conv.id)
            .await?
            .into_iter()
            .map(|u| MemberInfo {
                online: hub.is_visible(u.id),
                name: u.name,
                role: u.role,
            })
            .collect();
        Ok(Some(ServerBody::Members {
            conv: conv.id,
            members,
        }))
    }

    // ---- messages ----

    fn check_text(&self, text: &str, nonce: &Option<String>) -> Result<(), ApiError> {
        let limits = &self.shared.config.limits;
        if text.trim().is_empty() {
            return Err(ApiError::bad_request("`text` must not be empty"));
        }
        limits
            .check_text("text", text, limits.max_text_chars)
            .map_err(|m| ApiError::new(ErrorCode::TooLong, m))?;
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

    async fn post(&self, req_id: u64, conv: ConvId, text: String, nonce: Option<String>) -> Reply {
        let me = self.me();
        let post = Post {
            msg: NewMessage {
                conv,
                sender: me.id,
                sender_name: me.name.clone(),
                text,
                nonce,
                ts: now_ms(),
            },
            outbox: self.outbox.clone(),
            conn: self.conn,
            req_id,
        };
        self.shared.poster.send(post).await.map_err(|_| {
            ApiError::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down; send again after reconnecting",
            )
        })?;
        Ok(None)
    }

    async fn send(&self, req_id: u64, conv: ConvId, text: String, nonce: Option<String>) -> Reply {
        self.check_text(&text, &nonce)?;
        if !self.shared.hub.is_member(conv, self.me().id) {
            return Err(no_conv(conv));
        }
        self.post(req_id, conv, text, nonce).await
    }

    async fn dm_send(
        &self,
        req_id: u64,
        user: String,
        text: String,
        nonce: Option<String>,
    ) -> Reply {
        self.check_text(&text, &nonce)?;
        let me = self.me().id;
        let hub = &self.shared.hub;
        // Both lookups are cached in the hub: without them every direct
        // message cost two store reads before it was even queued.
        let target = match hub.user_id(&user) {
            Some(id) => id,
            None => {
                let target = self.user_named(&user).await?;
                hub.remember_user(&user, target.id);
                target.id
            }
        };
        if target == me {
            return Err(ApiError::bad_request(
                "you cannot send a direct message to yourself",
            ));
        }
        let conv = match hub.dm_conv(me, target) {
            Some(conv) => conv,
            None => {
                let (conv, created) = self.shared.store.dm_conv(me, target).await?;
                if created {
                    hub.add_member(conv.id, me);
                    hub.add_member(conv.id, target);
                }
                hub.remember_dm(me, target, conv.id);
                conv.id
            }
        };
        self.post(req_id, conv, text, nonce).await
    }

    /// The conversation `conv` if the caller may read it.
    async fn readable(&self, conv: ConvId) -> Result<ConvRecord, ApiError> {
        let record = self
            .shared
            .store
            .conv(conv)
            .await?
            .ok_or_else(|| no_conv(conv))?;
        let member = self.shared.hub.is_member(conv, self.me().id);
        if policy::can_read(&record, member) {
            Ok(record)
        } else {
            Err(no_conv(conv))
        }
    }

    fn page_limit(&self, limit: Option<u32>) -> Result<u32, ApiError> {
        let max = self.shared.config.limits.max_page;
        match limit.unwrap_or(50) {
            0 => Err(ApiError::bad_request("`limit` must be at least 1")),
            n if n > max => Err(ApiError::bad_request(format!(
                "`limit` must be at most {max}, got {n}"
            ))),
            n => Ok(n),
        }
    }

    async fn history(
        &self,
        conv: ConvId,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Reply {
        let limit = self.page_limit(limit)?;
        let page = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("give `before` or `after`, not both"));
            }
            (Some(b), None) => Page::Before(b),
            (None, Some(a)) => Page::After(a),
            (None, None) => Page::Latest,
        };
        self.readable(conv).await?;
        let (messages, more) = self.shared.store.history(conv, page, limit).await?;
        Ok(Some(ServerBody::Messages {
            conv,
            messages,
            more,
        }))
    }

    async fn sync(&self, since: Vec<SyncPos>, limit: Option<u32>) -> Reply {
        let limit = self.page_limit(limit.or(Some(self.shared.config.limits.max_page)))?;
        let positions: HashMap<ConvId, u64> = since.iter().map(|p| (p.conv, p.seq)).collect();
        let me = self.me();
        let mut convs = if me.role == Role::Visitor {
            let mut v = Vec::new();
            for conv in &self.watching {
                if let Some(c) = self.shared.store.conv(*conv).await? {
                    v.push(c);
                }
            }
            v
        } else {
            self.shared.store.convs_of(me.id).await?
        };
        convs.sort_by_key(|c| c.id);
        let mut out = Vec::new();
        for c in convs {
            let after = positions.get(&c.id).copied().unwrap_or(0);
            let (messages, more) = if c.last_seq > after {
                self.shared
                    .store
                    .history(c.id, Page::After(after), limit)
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
            });
        }
        Ok(Some(ServerBody::Synced { convs: out }))
    }

    fn typing(&self, conv: ConvId) -> Reply {
        let me = self.me();
        if !self.shared.hub.is_member(conv, me.id) {
            return Err(no_conv(conv));
        }
        // Typing would give an invisible user away. The hub holds the
        // user's current status, which another connection may have changed.
        if self.shared.hub.is_visible(me.id) {
            let frame = event(ServerBody::Typing {
                conv,
                user: me.name.clone(),
            });
            self.shared.hub.publish(conv, &frame, None, Some(me.id));
        }
        ok()
    }
}
