//! Every message on the wire.
//!
//! A client sends a [`ClientFrame`]: an `id` plus a [`Request`], flattened
//! into one JSON object, e.g. `{"id":7,"type":"send","conv":1,"text":"hi"}`.
//! The server answers with a [`ServerFrame`] carrying the same `id` and a
//! [`ServerBody`] (a result or an `error`). Events the server pushes on its
//! own are `ServerFrame`s without an `id`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Body, ErrorCode, Limits};

/// A conversation: a channel, a direct-message pair or a group. Messages,
/// history and sync address conversations by this id.
pub type ConvId = u64;
/// Position of a message in its conversation: 1, 2, 3, ... with no gaps.
pub type Seq = u64;

/// One frame from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFrame {
    /// Chosen by the client; echoed in the reply. Required on every request
    /// except `pong`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub req: Request,
}

/// What a client can ask. Each variant's fields are exactly the JSON fields
/// allowed beside `id` and `type`; anything else is refused with `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// First frame on every connection. Answered with [`ServerBody::Hello`].
    Hello { protocol: u32, client: String },
    /// Create an account and log in. Answered with `session`. `invite`: an
    /// invitation token, needed when registration is by invitation;
    /// `setup`: see below.
    Register {
        username: String,
        password: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite: Option<String>,
        /// The one-time setup code a fresh server prints: the account
        /// becomes the server's first admin (whatever the registration
        /// mode).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup: Option<String>,
    },
    /// Log in with a password. Answered with `session`, which holds a token.
    Login { username: String, password: String },
    /// Log in again with a token from an earlier `session`. Answered with `session`.
    Resume { token: String },
    /// Enter as a visitor under a temporary name: read-only, public channels only.
    Visitor {},
    /// Log out and revoke this session's token. Answered with `ok`.
    Logout {},
    /// Change the password; revokes every token. Answered with `token` (a new one).
    ChangePassword {
        old_password: String,
        new_password: String,
    },
    /// Who am I? Answered with `user`.
    Whoami {},
    /// Go invisible (online, but shown offline to others) or visible again.
    SetStatus { invisible: bool },
    /// Client heartbeat. Answered with `pong`.
    Ping {},
    /// Answer to the server's `ping` event. The only frame without an `id`.
    Pong {},
    /// Create a channel; the creator owns it and is its first member.
    ChannelCreate {
        name: String,
        #[serde(default)]
        private: bool,
        #[serde(default)]
        topic: Option<String>,
    },
    /// Join a public channel. Answered with `channel`.
    ChannelJoin { name: String },
    /// Leave a channel. Answered with `ok`.
    ChannelLeave { name: String },
    /// Public channels and the private ones you are in. Answered with `channels`.
    ChannelList {},
    /// Add a user to a private channel (owner or admin). Answered with `ok`.
    ChannelInvite { name: String, user: String },
    /// Delete a channel and its history (owner or admin). Answered with `ok`.
    ChannelDelete { name: String },
    /// Members of a channel with their presence. Answered with `members`.
    ChannelMembers { name: String },
    /// Post to a conversation you are in. Answered with `sent`.
    Send {
        conv: ConvId,
        text: String,
        /// Makes the send idempotent: resending the same nonce returns the
        /// original message instead of storing a second one.
        #[serde(default)]
        nonce: Option<String>,
        /// The seq of the message (in `conv`) this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
    },
    /// Send a direct message to a user. Answered with `sent`.
    DmSend {
        user: String,
        text: String,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
    },
    /// Add a reaction (an emoji, e.g. "👍") to the text message `target`
    /// of `conv`, or take yours back with `remove`. Answered with `sent`.
    React {
        conv: ConvId,
        target: Seq,
        emoji: String,
        #[serde(default)]
        remove: bool,
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Accept or decline the file offered to you in the `offer` message
    /// `target` of `conv` (a direct conversation). Accepting lets you
    /// download it; declining frees it. Answered with `sent`.
    Answer {
        conv: ConvId,
        target: Seq,
        accept: bool,
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Change the text of your message `target`. Answered with `sent`.
    Edit {
        conv: ConvId,
        target: Seq,
        text: String,
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Delete your message `target` (a channel's owner and admins: any
    /// message in the channel). Answered with `sent`.
    Delete {
        conv: ConvId,
        target: Seq,
        #[serde(default)]
        nonce: Option<String>,
    },
    /// You have read `conv` up to `seq`: kept by the server for all your
    /// devices (it never moves back). Answered with `ok`; your other
    /// connections get a `read` event.
    Read { conv: ConvId, seq: Seq },
    /// Full-text search of the messages you can read (every conversation
    /// you are in and the public channels; `conv`: only that one), newest
    /// first, below message id `before` when paging. Every word must
    /// occur; one of three characters or more matches as a word's start.
    /// Answered with `search_results`.
    Search {
        query: String,
        #[serde(default)]
        conv: Option<ConvId>,
        #[serde(default)]
        before: Option<u64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Set a channel's topic ("" clears it): its owner or an admin. It is
    /// recorded in the channel's log. Answered with `ok`.
    Topic { conv: ConvId, topic: String },
    /// A page of a conversation's history, newest last. Without `before` or
    /// `after`, the newest page. Answered with `messages`.
    History {
        conv: ConvId,
        #[serde(default)]
        before: Option<Seq>,
        #[serde(default)]
        after: Option<Seq>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Everything after the given positions, for every conversation you are
    /// in (a conversation not listed starts at 0). Answered with `synced`.
    Sync {
        #[serde(default)]
        since: Vec<SyncPos>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Tell the other members you are typing in a conversation. Answered with `ok`.
    Typing { conv: ConvId },
    /// Go live in a channel you are a member of (not as a visitor): the
    /// video goes from your browser to each viewer's, with this server as
    /// the signalling path. `max_viewers` (default and cap: the server's)
    /// bounds your upload. Answered with `stream`.
    StreamStart {
        conv: ConvId,
        title: String,
        #[serde(default)]
        max_viewers: Option<u32>,
    },
    /// End your live stream. Answered with `ok`.
    StreamStop { stream: StreamId },
    /// The live streams of a conversation you can read. Answered with `streams`.
    Streams { conv: ConvId },
    /// Watch a live stream. Answered with `watching`: your watch's id, to
    /// name in `signal`s.
    StreamWatch { stream: StreamId },
    /// Stop watching. Answered with `ok`.
    StreamUnwatch { stream: StreamId },
    /// Fresh relay credentials for a stream you host or watch (those given
    /// with `stream` or `watching` expire). Answered with `ice_servers`.
    StreamIce { stream: StreamId },
    /// A WebRTC signalling message (an SDP offer or answer, an ICE
    /// candidate) for the other end of watch `watch` of `stream`: the
    /// host's to that viewer, or the viewer's to the host. Delivered as a
    /// `signal` event, in the order sent. Answered with `ok`.
    Signal {
        stream: StreamId,
        watch: WatchId,
        data: serde_json::Value,
    },
    /// Users online now (invisible ones are not listed). Answered with `users`.
    Users {},
    /// Members of a conversation you are in (any kind), or of a public
    /// channel, with their presence. Answered with `members`.
    Members { conv: ConvId },
    /// Ask `user` to be your friend (or accept, if they asked you first).
    /// Answered with `friendship`.
    FriendRequest { user: String },
    /// Accept `user`'s friend request. Answered with `friendship`.
    FriendAccept { user: String },
    /// Decline `user`'s friend request. Answered with `friendship`.
    FriendDecline { user: String },
    /// Take back your request to `user`. Answered with `friendship`.
    FriendCancel { user: String },
    /// Stop being friends with `user`. Answered with `friendship`.
    FriendRemove { user: String },
    /// Block `user`: no direct messages or friend requests from them, and
    /// they are told nothing. Ends a friendship. Answered with `friendship`.
    Block { user: String },
    /// Unblock `user`. Answered with `friendship`.
    Unblock { user: String },
    /// Your friends (with presence), requests in and out, and blocks.
    /// Answered with `friends`.
    Friends {},
    /// Start a group conversation named `name` with some of your friends.
    /// Answered with `group`.
    GroupCreate {
        name: String,
        members: Vec<String>,
        /// Only the owner (the creator) may add people.
        #[serde(default)]
        owner_only_add: bool,
    },
    /// Add some of your friends to a group you are in. Answered with `ok`.
    GroupAdd { conv: ConvId, users: Vec<String> },
    /// Leave a group. Answered with `ok`.
    GroupLeave { conv: ConvId },
    /// A group you are in, as it is now. Answered with `group`.
    Group { conv: ConvId },
    /// Rename a group (any member) or change who may add people (the
    /// owner). Answered with `group`.
    GroupUpdate {
        conv: ConvId,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        owner_only_add: Option<bool>,
    },
    /// Open this connection's UDP path for typing notices (native clients,
    /// over TLS). Answered with `udp`.
    UdpOpen {},

    // ---- administration: admins only; each is recorded in the audit log ----
    /// Accounts whose name contains `query` (all for ""), at most `limit`
    /// (default 100). Answered with `admin_users`.
    AdminUsers {
        #[serde(default)]
        query: String,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Create an account (role `member` unless given). Answered with `ok`.
    AdminUserCreate {
        name: String,
        password: String,
        #[serde(default)]
        role: Option<Role>,
    },
    /// Change an account's role, or disable (ban) or enable it; disabling
    /// ends its sessions and connections. Answered with `ok`.
    AdminUserUpdate {
        name: String,
        #[serde(default)]
        role: Option<Role>,
        #[serde(default)]
        disabled: Option<bool>,
    },
    /// Delete an account: its messages stay, under `deleted-<id>`. Answered with `ok`.
    AdminUserDelete { name: String },
    /// Set a new password; ends the account's sessions. Answered with `ok`.
    AdminUserPassword { name: String, password: String },
    /// End every session of an account (tokens and connections). Answered with `ok`.
    AdminUserRevoke { name: String },
    /// Every channel, private ones included. Answered with `admin_channels`.
    AdminChannels {},
    /// Delete any channel. Answered with `ok`.
    AdminChannelDelete { conv: ConvId },
    /// Give a channel a new owner. Answered with `ok`.
    AdminChannelOwner { conv: ConvId, user: String },
    /// The server's counters now. Answered with `admin_stats`.
    AdminStats {},
    /// The newest audit entries below id `before`, newest first (default
    /// 100). Answered with `admin_audit`.
    AdminAudit {
        #[serde(default)]
        before: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A notice to everyone connected. Answered with `ok`.
    AdminBroadcast { text: String },
    /// Stop the server (everyone is told `reason`). Answered with `ok`.
    AdminShutdown { reason: String },
    /// An invitation for `uses` registrations (default 1) valid `hours`
    /// (default 168). Answered with `admin_invite`.
    AdminInvite {
        #[serde(default)]
        uses: Option<u32>,
        #[serde(default)]
        hours: Option<u32>,
    },
}

impl Request {
    /// Every request `type`, for precise "unknown type" errors.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "register",
        "login",
        "resume",
        "visitor",
        "logout",
        "change_password",
        "whoami",
        "set_status",
        "ping",
        "pong",
        "channel_create",
        "channel_join",
        "channel_leave",
        "channel_list",
        "channel_invite",
        "channel_delete",
        "channel_members",
        "send",
        "dm_send",
        "react",
        "edit",
        "delete",
        "answer",
        "read",
        "search",
        "topic",
        "history",
        "sync",
        "typing",
        "stream_start",
        "stream_stop",
        "streams",
        "stream_watch",
        "stream_unwatch",
        "stream_ice",
        "signal",
        "users",
        "members",
        "friend_request",
        "friend_accept",
        "friend_decline",
        "friend_cancel",
        "friend_remove",
        "block",
        "unblock",
        "friends",
        "group_create",
        "group_add",
        "group_leave",
        "group",
        "group_update",
        "udp_open",
        "admin_users",
        "admin_user_create",
        "admin_user_update",
        "admin_user_delete",
        "admin_user_password",
        "admin_user_revoke",
        "admin_channels",
        "admin_channel_delete",
        "admin_channel_owner",
        "admin_stats",
        "admin_audit",
        "admin_broadcast",
        "admin_shutdown",
        "admin_invite",
    ];

    /// This request's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Register { .. } => "register",
            Request::Login { .. } => "login",
            Request::Resume { .. } => "resume",
            Request::Visitor {} => "visitor",
            Request::Logout {} => "logout",
            Request::ChangePassword { .. } => "change_password",
            Request::Whoami {} => "whoami",
            Request::SetStatus { .. } => "set_status",
            Request::Ping {} => "ping",
            Request::Pong {} => "pong",
            Request::ChannelCreate { .. } => "channel_create",
            Request::ChannelJoin { .. } => "channel_join",
            Request::ChannelLeave { .. } => "channel_leave",
            Request::ChannelList {} => "channel_list",
            Request::ChannelInvite { .. } => "channel_invite",
            Request::ChannelDelete { .. } => "channel_delete",
            Request::ChannelMembers { .. } => "channel_members",
            Request::Send { .. } => "send",
            Request::DmSend { .. } => "dm_send",
            Request::React { .. } => "react",
            Request::Answer { .. } => "answer",
            Request::Edit { .. } => "edit",
            Request::Delete { .. } => "delete",
            Request::Read { .. } => "read",
            Request::Search { .. } => "search",
            Request::Topic { .. } => "topic",
            Request::History { .. } => "history",
            Request::Sync { .. } => "sync",
            Request::Typing { .. } => "typing",
            Request::StreamStart { .. } => "stream_start",
            Request::StreamStop { .. } => "stream_stop",
            Request::Streams { .. } => "streams",
            Request::StreamWatch { .. } => "stream_watch",
            Request::StreamUnwatch { .. } => "stream_unwatch",
            Request::StreamIce { .. } => "stream_ice",
            Request::Signal { .. } => "signal",
            Request::Users {} => "users",
            Request::Members { .. } => "members",
            Request::FriendRequest { .. } => "friend_request",
            Request::FriendAccept { .. } => "friend_accept",
            Request::FriendDecline { .. } => "friend_decline",
            Request::FriendCancel { .. } => "friend_cancel",
            Request::FriendRemove { .. } => "friend_remove",
            Request::Block { .. } => "block",
            Request::Unblock { .. } => "unblock",
            Request::Friends {} => "friends",
            Request::GroupCreate { .. } => "group_create",
            Request::GroupAdd { .. } => "group_add",
            Request::GroupLeave { .. } => "group_leave",
            Request::Group { .. } => "group",
            Request::GroupUpdate { .. } => "group_update",
            Request::UdpOpen {} => "udp_open",
            Request::AdminUsers { .. } => "admin_users",
            Request::AdminUserCreate { .. } => "admin_user_create",
            Request::AdminUserUpdate { .. } => "admin_user_update",
            Request::AdminUserDelete { .. } => "admin_user_delete",
            Request::AdminUserPassword { .. } => "admin_user_password",
            Request::AdminUserRevoke { .. } => "admin_user_revoke",
            Request::AdminChannels {} => "admin_channels",
            Request::AdminChannelDelete { .. } => "admin_channel_delete",
            Request::AdminChannelOwner { .. } => "admin_channel_owner",
            Request::AdminStats {} => "admin_stats",
            Request::AdminAudit { .. } => "admin_audit",
            Request::AdminBroadcast { .. } => "admin_broadcast",
            Request::AdminShutdown { .. } => "admin_shutdown",
            Request::AdminInvite { .. } => "admin_invite",
        }
    }
}

/// "I have everything in `conv` up to and including `seq`."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncPos {
    pub conv: ConvId,
    pub seq: Seq,
}

/// One frame from the server: a reply (with the request's `id`) or an event (without).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub body: ServerBody,
}

impl ServerFrame {
    pub fn reply(id: u64, body: ServerBody) -> Self {
        ServerFrame { id: Some(id), body }
    }

    pub fn event(body: ServerBody) -> Self {
        ServerFrame { id: None, body }
    }

    pub fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame {
            id,
            body: ServerBody::Error {
                code,
                message: message.into(),
                retry_after_ms: None,
            },
        }
    }

    /// A `rate_limited` error: try again after `wait`.
    pub fn rate_limited(id: Option<u64>, what: &str, wait: std::time::Duration) -> Self {
        let ms = wait.as_millis().max(1) as u64;
        ServerFrame {
            id,
            body: ServerBody::Error {
                code: ErrorCode::RateLimited,
                message: format!("too many {what}; try again in {:.1} s", ms as f64 / 1000.0),
                retry_after_ms: Some(ms),
            },
        }
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// Replies (sent with the request's `id`) and events (sent without one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerBody {
    // ---- replies ----
    /// Reply to `hello`.
    Hello {
        protocol: u32,
        server: String,
        limits: Limits,
        /// The server sends a `ping` event this often and drops a client it
        /// has heard nothing from for three times as long.
        heartbeat_ms: u64,
        /// The UDP port for typing datagrams (see `udp_open`), on the same
        /// host as the TLS port. Absent when the server has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        udp_port: Option<u16>,
        /// Where and how big files go (see `confab_proto::file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        files: Option<crate::FilesInfo>,
    },
    /// Reply to `register`, `login`, `resume` and `visitor`.
    Session {
        user: UserInfo,
        /// Present the token in `resume` to log in again without the
        /// password. Visitors get none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Conversations you are in, with their newest sequence number, so
        /// that a client knows what to `sync`.
        convs: Vec<ConvSummary>,
        /// Who is live now in your channels (`stream_started` and
        /// `stream_ended` keep it current).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        streams: Vec<StreamInfo>,
    },
    /// Success with nothing more to say.
    Ok {},
    /// Reply to `change_password`: the new session token.
    Token { token: String },
    /// Reply to `whoami`.
    User { user: UserInfo },
    /// Reply to `ping`.
    Pong {},
    /// Reply to `channel_create` and `channel_join`.
    Channel { channel: ChannelInfo },
    /// Reply to `channel_list`.
    Channels { channels: Vec<ChannelInfo> },
    /// Reply to `channel_members` and `members`.
    Members {
        conv: ConvId,
        members: Vec<MemberInfo>,
    },
    /// Reply to `send` and `dm_send`: the message as stored.
    Sent {
        message: Message,
        /// True when the nonce had been seen: this is the original message.
        duplicate: bool,
    },
    /// Reply to `history`, oldest first.
    Messages {
        conv: ConvId,
        messages: Vec<Message>,
        /// More messages lie beyond this page in the direction asked.
        more: bool,
    },
    /// Reply to `sync`.
    Synced { convs: Vec<SyncedConv> },
    /// Reply to `search`: the matches, newest first.
    SearchResults {
        hits: Vec<SearchHit>,
        /// More matches lie beyond: ask again with `before` the last id.
        more: bool,
    },
    /// Reply to `users`.
    Users { users: Vec<String> },
    /// Reply to `friends`.
    Friends {
        /// Your friends, by name, with whether they are online (an
        /// invisible friend is shown offline).
        friends: Vec<FriendInfo>,
        /// People asking to be your friend.
        incoming: Vec<String>,
        /// People you asked.
        outgoing: Vec<String>,
        /// People you blocked.
        blocked: Vec<String>,
    },
    /// Reply to the friend requests: where you stand with `user` now.
    Friendship { user: String, state: FriendState },
    /// Reply to `group_create`, `group_update` and `group`.
    Group { group: GroupInfo },
    /// Reply to `udp_open`: the session id that this connection's datagrams
    /// carry (16 hex digits). The key comes from the TLS session.
    Udp { session: String },
    /// Reply to `admin_users`.
    AdminUsers { users: Vec<AdminUser> },
    /// Reply to `admin_channels`.
    AdminChannels { channels: Vec<AdminChannel> },
    /// Reply to `admin_stats`.
    AdminStats { stats: ServerStats },
    /// Reply to `admin_audit`.
    AdminAudit { entries: Vec<AuditEntry> },
    /// Reply to `admin_invite`: the token to pass to `register` as `invite`.
    AdminInvite { token: String, expires_ms: i64 },
    /// A request failed. `message` says what was wrong, for people;
    /// `retry_after_ms` (with `rate_limited`) when to try again.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },

    // ---- events ----
    /// A new message in a conversation you are in (or watching).
    Message { message: Message },
    /// Someone joined a channel you are in (or was invited to it).
    MemberJoined {
        conv: ConvId,
        channel: String,
        user: String,
    },
    /// Someone left a channel you are in.
    MemberLeft {
        conv: ConvId,
        channel: String,
        user: String,
    },
    /// A user sharing a conversation with you came online or went offline.
    Presence { user: String, online: bool },
    /// A user sharing a conversation with you, or a friend (or you, on
    /// another device), changed their profile picture: fetch
    /// `/avatars/{user}` again.
    Avatar { user: String },
    /// Someone is typing.
    Typing { conv: ConvId, user: String },
    /// A live stream (the answer to `stream_start`), with the server's
    /// relay for it.
    Stream {
        stream: StreamInfo,
        #[serde(default)]
        ice_servers: Vec<IceServer>,
    },
    /// A conversation's live streams (the answer to `streams`).
    Streams { streams: Vec<StreamInfo> },
    /// You watch `stream` (the answer to `stream_watch`); `watch` names
    /// this watch in `signal`s.
    Watching {
        stream: StreamInfo,
        watch: WatchId,
        #[serde(default)]
        ice_servers: Vec<IceServer>,
    },
    /// Relay credentials (the answer to `stream_ice`).
    IceServers { ice_servers: Vec<IceServer> },
    /// Someone went live in a conversation you can read.
    StreamStarted { stream: StreamInfo },
    /// A live stream ended (its host stopped it, left, or went away).
    StreamEnded { conv: ConvId, stream: StreamId },
    /// To a stream's host: who watches it now.
    StreamViewers {
        stream: StreamId,
        viewers: Vec<Viewer>,
    },
    /// A signalling message from the other end of watch `watch`: `from`
    /// is its sender, as the server knows them.
    Signal {
        stream: StreamId,
        watch: WatchId,
        from: String,
        data: serde_json::Value,
    },
    /// You were added to a private channel.
    Invited { channel: ChannelInfo, by: String },
    /// A channel you were in was deleted.
    ChannelDeleted { conv: ConvId, channel: String },
    /// Where you stand with `user` changed (a request came or went, a
    /// friendship began or ended, or you blocked or unblocked them on
    /// another device). `online` is their presence once you are friends.
    FriendUpdate {
        user: String,
        state: FriendState,
        #[serde(default)]
        online: bool,
    },
    /// You were added to a group conversation.
    GroupAdded {
        group: GroupInfo,
        by: String,
        /// You see its log after this seq (the entry that added you is next).
        #[serde(default)]
        from_seq: Seq,
    },
    /// You read `conv` up to `seq` on another device.
    Read { conv: ConvId, seq: Seq },
    /// Server heartbeat: answer with `pong`.
    Ping {},
    /// Your connection fell behind and some events were dropped. Nothing is
    /// lost: `sync` from your last sequence numbers to catch up.
    Lagged {},
    /// A notice from the server's operators.
    Notice { text: String },
    /// The server is shutting down; reconnect later.
    Shutdown { reason: String },
}

/// An account as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdminUser {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub online: bool,
    pub created_ms: i64,
    /// Session tokens in force.
    pub sessions: u64,
}

/// A channel as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdminChannel {
    pub conv: ConvId,
    pub name: String,
    pub private: bool,
    pub owner: Option<String>,
    pub members: u64,
    pub last_seq: Seq,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
}

/// The server's counters at one moment (cumulative ones since the start):
/// what the admin panel charts by sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerStats {
    pub uptime_secs: u64,
    pub connections: u64,
    pub users_online: u64,
    pub messages: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rate_limited: u64,
    pub login_failures: u64,
    /// Delivery latency percentiles since the start, in milliseconds
    /// (from the histogram's buckets: an upper bound).
    pub delivery_p50_ms: f64,
    pub delivery_p99_ms: f64,
    pub memory_bytes: u64,
    /// Live streams now, their viewers now, and the bytes the TURN relay
    /// carried since the start.
    #[serde(default)]
    pub streams_live: u64,
    #[serde(default)]
    pub stream_viewers: u64,
    #[serde(default)]
    pub turn_relayed_bytes: u64,
}

/// Who a user is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub invisible: bool,
}

/// What a user may do: visitors read public channels; members chat; admins
/// also manage every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
    Visitor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Visitor => "visitor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "visitor" => Some(Role::Visitor),
            _ => None,
        }
    }
}

/// A stored message: one entry of a conversation's log. The server sets
/// `id`, `seq`, `sender` and `ts`. What it says is its [`Body`], whose
/// fields (`kind` and the kind's own) sit beside these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// Unique across the server.
    pub id: u64,
    pub conv: ConvId,
    /// Position in the conversation: 1, 2, 3, ... without gaps.
    pub seq: Seq,
    /// User name of the sender, as authenticated by the server.
    pub sender: String,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// The sender's nonce, if the send carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(flatten)]
    pub body: Body,
}

impl Message {
    /// The text of a text message.
    pub fn text(&self) -> Option<&str> {
        self.body.as_text()
    }
}

/// Channel, direct-message pair or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConvKind {
    Channel,
    Dm,
    /// A group conversation (a "conference"): a few people, by invitation.
    Group,
}

impl ConvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConvKind::Channel => "channel",
            ConvKind::Dm => "dm",
            ConvKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<ConvKind> {
        match s {
            "channel" => Some(ConvKind::Channel),
            "dm" => Some(ConvKind::Dm),
            "group" => Some(ConvKind::Group),
            _ => None,
        }
    }
}

/// A conversation you are in, as listed in `session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConvSummary {
    pub conv: ConvId,
    pub kind: ConvKind,
    /// The channel name, the group's name, or for a direct-message pair the
    /// other user's name.
    pub name: String,
    /// Newest sequence number in the conversation (0 when empty).
    pub last_seq: Seq,
    /// You see the log after this seq: 0, or for someone added to a group
    /// later, the entry before the one that added them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub from_seq: Seq,
    /// You have read it up to here (on any device).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read: Seq,
    /// A channel's topic.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
}

/// One message found by `search`, with the conversation it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    pub kind: ConvKind,
    /// The conversation's name as in [`ConvSummary`].
    pub name: String,
    pub message: Message,
}

fn is_zero(n: &Seq) -> bool {
    *n == 0
}

/// A channel as a user may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelInfo {
    pub conv: ConvId,
    pub name: String,
    pub private: bool,
    pub topic: String,
    pub owner: String,
    pub members: u32,
    /// Whether you are a member.
    pub joined: bool,
    pub last_seq: Seq,
}

/// A channel member and whether others see them online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MemberInfo {
    pub name: String,
    pub role: Role,
    pub online: bool,
}

/// One conversation's part of a `synced` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncedConv {
    pub conv: ConvId,
    pub kind: ConvKind,
    pub name: String,
    /// Messages after your position, oldest first.
    pub messages: Vec<Message>,
    /// More remain: fetch them with `history` `after` the last one here.
    pub more: bool,
    /// As in [`ConvSummary`]: nothing at or before this seq is yours to see.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub from_seq: Seq,
    /// As in [`ConvSummary`]: read up to here.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read: Seq,
    /// A channel's topic.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
}

/// Where you stand with another user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FriendState {
    /// Nothing between you.
    None,
    /// They asked to be your friend.
    Incoming,
    /// You asked them.
    Outgoing,
    Friends,
    /// You blocked them.
    Blocked,
}

/// A friend and whether you see them online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FriendInfo {
    pub name: String,
    pub online: bool,
}

/// A live stream's id, unique while the server runs.
pub type StreamId = u64;
/// One viewer's watch of a stream, unique while the server runs.
pub type WatchId = u64;

/// A live stream in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamInfo {
    pub id: StreamId,
    pub conv: ConvId,
    /// Who streams, by name.
    pub host: String,
    pub title: String,
    /// Server time it started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// How many watch now, and how many may.
    pub viewers: u32,
    pub max_viewers: u32,
}

/// A TURN relay for WebRTC, as `RTCPeerConnection`'s `iceServers` takes
/// it: time-limited credentials for the parties of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// One who watches a stream, with the watch's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Viewer {
    pub user: String,
    pub watch: WatchId,
}

/// A group conversation as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GroupInfo {
    pub conv: ConvId,
    pub name: String,
    /// Who made it (or owns it since the maker left).
    pub owner: String,
    /// Only the owner may add people.
    pub owner_only_add: bool,
    /// Every member, by name.
    pub members: Vec<String>,
    pub last_seq: Seq,
}
