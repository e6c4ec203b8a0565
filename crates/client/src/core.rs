//! The client state machine, with no I/O.
//!
//! A driver (the tokio one in [`crate::native`], or the browser's) owns the
//! socket and the clock and feeds [`Client`] what happens: `connected`,
//! each `frame` received, `disconnected`, and `tick` at
//! [`Client::next_deadline`]. The client answers with frames to write
//! ([`Client::poll_frame`]) and with [`Event`]s for the UI. UIs call the
//! user actions ([`Client::send`], [`Client::request`], ...) and read the
//! state (conversations, messages, the outbox) to draw it.
//!
//! What it guarantees:
//! - Messages written offline go to the outbox (in the cache) and are sent,
//!   in order and with their nonce, every time a session starts until the
//!   server acknowledges them: never lost, never stored twice.
//! - After every (re)login it `sync`s from each conversation's last
//!   contiguous position, and on a gap, a `lagged` event or a message in an
//!   unknown conversation it syncs again, so the cache ends up with every
//!   message exactly once.

use std::collections::{BTreeSet, HashMap, VecDeque};

use confab_proto::{
    ClientFrame, ConvId, ConvKind, ErrorCode, Limits, MemberInfo, Message, PROTOCOL_VERSION,
    Request, Role, Seq, ServerBody, ServerFrame, SyncPos, UserInfo,
};

use crate::backoff::Backoff;
use crate::cache::{Cache, CacheError, CachedConv, Pending, Target};

/// How a session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Login {
        username: String,
        password: String,
    },
    Register {
        username: String,
        password: String,
    },
    /// Resume with a token from an earlier session (the usual case).
    Token(String),
    Visitor,
}

/// Where the connection is. UIs show it in their status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Not connected. `retry_at_ms` is when the driver will try again
    /// (`None`: it will not, e.g. the login was refused).
    Offline { retry_at_ms: Option<u64> },
    /// The driver is opening the connection.
    Connecting,
    /// Connected; `hello` and the login are under way.
    LoggingIn,
    /// Logged in.
    Online,
}

/// Something the UI may want to show or act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    State(ConnState),
    /// Logged in (again) as this user.
    LoggedIn(UserInfo),
    /// The server refused the login; the UI should ask again.
    LoginFailed {
        code: ErrorCode,
        message: String,
    },
    /// Conversations were added, removed or renamed, or unread counts changed.
    Convs,
    /// New messages (or acknowledgements of pending ones) in a conversation.
    Messages(ConvId),
    /// Older messages arrived for scrollback; `more` says whether there are
    /// older still.
    Older {
        conv: ConvId,
        more: bool,
    },
    /// A conversation's member list or a member's presence changed.
    Members(ConvId),
    Typing {
        conv: ConvId,
        user: String,
    },
    /// A pending message was refused and removed from the outbox.
    SendFailed {
        pending: Pending,
        message: String,
    },
    /// The reply to a request made with [`Client::request`].
    Reply {
        id: u64,
        body: ServerBody,
    },
    /// The server or the local cache reported a problem; readable text.
    Error(String),
    /// A notice from the server's operators, or its shutdown message.
    Notice(String),
}

/// A user action that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("not connected")]
    Offline,
    #[error("visitors can only read")]
    Visitor,
    #[error("the message is empty")]
    Empty,
    #[error("the message is {0} characters long; the limit is {1}")]
    TooLong(usize, usize),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Messages fetched for a conversation met for the first time.
const FIRST_PAGE: u64 = 50;
/// Events kept for a UI that has not collected them; older ones are dropped.
const MAX_EVENTS: usize = 4096;
/// Frames queued while connected; the outbox is never dropped (it lives in
/// the cache and is resent on the next session), so this bounds only
/// memory. Past it the driver is asked to reconnect.
const MAX_FRAMES: usize = 4096;
/// Cache keys.
const KEY_TOKEN: &str = "token";
const KEY_USER: &str = "user";
const KEY_NONCE: &str = "nonce_counter";
const KEY_CLIENT_ID: &str = "client_id";

/// What a reply answers.
#[derive(Debug, Clone, PartialEq)]
enum Waiting {
    Hello,
    Login,
    Sync,
    Newer(ConvId),
    Older(ConvId),
    Send(String),
    ChannelList,
    Members(ConvId),
    /// Asked by the UI; the reply goes back as [`Event::Reply`].
    User(Request),
}

/// Per-conversation state kept in memory beside the cached record.
#[derive(Debug, Default)]
struct Live {
    /// Seqs received above `synced` that are not yet contiguous with it.
    ahead: BTreeSet<Seq>,
    members: Option<Vec<MemberInfo>>,
}

/// The client. `C` is where it keeps what survives a restart.
pub struct Client<C: Cache> {
    cache: C,
    client_name: String,
    auth: Option<Auth>,
    state: ConnState,
    backoff: Backoff,
    me: Option<UserInfo>,
    limits: Limits,
    heartbeat_ms: u64,
    last_heard_ms: u64,
    last_ping_ms: u64,
    next_id: u64,
    waiting: HashMap<u64, Waiting>,
    convs: HashMap<ConvId, CachedConv>,
    live: HashMap<ConvId, Live>,
    /// The outbox, in order (a copy of the cache's).
    outbox: Vec<Pending>,
    /// Conversations to include in the next `sync` once the current one is answered.
    resync: bool,
    /// Set when the connection should be dropped and retried later.
    hangup: Option<String>,
    frames: VecDeque<ClientFrame>,
    events: VecDeque<Event>,
    /// Events dropped because the UI did not collect them.
    pub events_dropped: u64,
}

impl<C: Cache> Client<C> {
    /// A client over `cache`. If the cache holds a session token it resumes
    /// with it; otherwise [`Client::set_auth`] must be called before connecting.
    /// `seed` randomises the reconnect jitter and, on first use, the nonces.
    pub fn new(cache: C, client_name: &str, seed: u64) -> Result<Self, CacheError> {
        let convs = cache.convs()?.into_iter().map(|c| (c.conv, c)).collect();
        let outbox = cache.outbox()?;
        let auth = cache.get(KEY_TOKEN)?.map(Auth::Token);
        let me = cache
            .get(KEY_USER)?
            .and_then(|u| serde_json::from_str::<UserInfo>(&u).ok());
        let mut client = Client {
            cache,
            client_name: client_name.to_owned(),
            auth,
            state: ConnState::Offline {
                retry_at_ms: Some(0),
            },
            backoff: Backoff::new(seed),
            me,
            limits: Limits::default(),
            heartbeat_ms: 15_000,
            last_heard_ms: 0,
            last_ping_ms: 0,
            next_id: 1,
            waiting: HashMap::new(),
            convs,
            live: HashMap::new(),
            outbox,
            resync: false,
            hangup: None,
            frames: VecDeque::new(),
            events: VecDeque::new(),
            events_dropped: 0,
        };
        if client.cache.get(KEY_CLIENT_ID)?.is_none() {
            let id = format!("{seed:016x}");
            client.cache.set(KEY_CLIENT_ID, Some(&id))?;
        }
        Ok(client)
    }

    // ---- state for UIs ----

    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Who is logged in (or was, when offline).
    pub fn me(&self) -> Option<&UserInfo> {
        self.me.as_ref()
    }

    /// Whether requests are in flight (after a login: the sync and its pages).
    pub fn busy(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Whether the client has a way to log in without asking the user.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// Conversations, channels first, then DMs, each by name.
    pub fn convs(&self) -> Vec<&CachedConv> {
        let mut v: Vec<&CachedConv> = self.convs.values().collect();
        v.sort_by(|a, b| (a.kind == ConvKind::Dm, &a.name).cmp(&(b.kind == ConvKind::Dm, &b.name)));
        v
    }

    pub fn conv(&self, conv: ConvId) -> Option<&CachedConv> {
        self.convs.get(&conv)
    }

    /// The conversation with this channel name, or DM partner name.
    pub fn conv_named(&self, kind: ConvKind, name: &str) -> Option<&CachedConv> {
        self.convs
            .values()
            .find(|c| c.kind == kind && c.name == name)
    }

    /// Up to `limit` cached messages before `before` (or the newest), oldest first.
    pub fn messages(
        &self,
        conv: ConvId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, CacheError> {
        self.cache.messages(conv, before, limit)
    }

    /// Messages written to `conv` (or to its DM partner) and not yet acknowledged.
    pub fn pending_in(&self, conv: ConvId) -> Vec<&Pending> {
        let dm_name = self
            .convs
            .get(&conv)
            .filter(|c| c.kind == ConvKind::Dm)
            .map(|c| c.name.as_str());
        self.outbox
            .iter()
            .filter(|p| match &p.target {
                Target::Conv(c) => *c == conv,
                Target::User(u) => Some(u.as_str()) == dm_name,
            })
            .collect()
    }

    /// The whole outbox, in order.
    pub fn outbox(&self) -> &[Pending] {
        &self.outbox
    }

    /// Members of a channel, if fetched (see [`Client::fetch_members`]).
    pub fn members(&self, conv: ConvId) -> Option<&[MemberInfo]> {
        self.live.get(&conv)?.members.as_deref()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Adds an event for the UI (a driver reporting trouble of its own).
    pub fn report(&mut self, e: Event) {
        self.event(e);
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    pub fn cache_mut(&mut self) -> &mut C {
        &mut self.cache
    }

    // ---- driver inputs ----

    /// How the next session logs in (a login screen's answer).
    pub fn set_auth(&mut self, auth: Auth, now_ms: u64) {
        self.auth = Some(auth);
        if let ConnState::Offline { retry_at_ms: None } = self.state {
            self.set_state(ConnState::Offline {
                retry_at_ms: Some(now_ms),
            });
        }
    }

    /// Skips the rest of the backoff wait (the user asked to reconnect, or
    /// accepted a certificate).
    pub fn retry_now(&mut self, now_ms: u64) {
        if let ConnState::Offline {
            retry_at_ms: Some(_),
        } = self.state
        {
            self.set_state(ConnState::Offline {
                retry_at_ms: Some(now_ms),
            });
        }
    }

    /// Whether the driver should open a connection now.
    pub fn should_connect(&self, now_ms: u64) -> bool {
        self.auth.is_some()
            && matches!(self.state, ConnState::Offline { retry_at_ms: Some(t) } if t <= now_ms)
    }

    /// The driver is opening a connection.
    pub fn connecting(&mut self) {
        self.set_state(ConnState::Connecting);
    }

    /// The connection is open (TLS done): the client says `hello`.
    pub fn connected(&mut self, now_ms: u64) {
        self.frames.clear();
        self.waiting.clear();
        self.last_heard_ms = now_ms;
        self.set_state(ConnState::LoggingIn);
        let client = self.client_name.clone();
        self.push(
            Waiting::Hello,
            Request::Hello {
                protocol: PROTOCOL_VERSION,
                client,
            },
        );
    }

    /// The connection failed or closed. Unacknowledged sends stay in the
    /// outbox; the next session sends them again.
    pub fn disconnected(&mut self, now_ms: u64, why: &str) {
        self.hangup = None;
        self.frames.clear();
        self.waiting.clear();
        for live in self.live.values_mut() {
            live.ahead.clear();
        }
        let retry_at_ms = self
            .auth
            .as_ref()
            .map(|_| now_ms + self.backoff.next_delay_ms());
        if !why.is_empty() && self.backoff.attempts() <= 1 {
            self.event(Event::Error(format!("disconnected: {why}")));
        }
        self.set_state(ConnState::Offline { retry_at_ms });
    }

    /// When the driver should call [`Client::tick`] next (milliseconds).
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            ConnState::Offline { retry_at_ms } => retry_at_ms,
            ConnState::Connecting => None,
            _ => Some(
                (self.last_heard_ms.max(self.last_ping_ms) + self.heartbeat_ms)
                    .min(self.last_heard_ms + 3 * self.heartbeat_ms),
            ),
        }
    }

    /// Time passes. Returns false when the server has been silent for
    /// three heartbeats: the driver should drop the connection.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        if matches!(self.state, ConnState::LoggingIn | ConnState::Online) {
            let silent = now_ms.saturating_sub(self.last_heard_ms);
            if silent >= 3 * self.heartbeat_ms {
                return false;
            }
            if now_ms.saturating_sub(self.last_heard_ms.max(self.last_ping_ms)) >= self.heartbeat_ms
            {
                self.last_ping_ms = now_ms;
                let id = self.take_id();
                self.frames.push_back(ClientFrame {
                    id: Some(id),
                    req: Request::Ping {},
                });
            }
        }
        true
    }

    /// The next frame to write, if any.
    pub fn poll_frame(&mut self) -> Option<ClientFrame> {
        self.frames.pop_front()
    }

    /// Why the driver should drop the connection and retry later (the
    /// server refused a login for a passing reason, e.g. it is shutting down).
    pub fn take_hangup(&mut self) -> Option<String> {
        self.hangup.take()
    }

    /// Whether so many frames are queued that the driver should reconnect
    /// rather than buffer more (the server is not reading).
    pub fn overloaded(&self) -> bool {
        self.frames.len() > MAX_FRAMES
    }

    /// A frame from the server.
    pub fn frame(&mut self, frame: ServerFrame, now_ms: u64) {
        self.last_heard_ms = now_ms;
        let waiting = frame.id.and_then(|id| self.waiting.remove(&id));
        let result = match (waiting, frame.body) {
            (None, body) => self.on_event(body),
            // The UI gets its errors as replies too, to show beside the command.
            (Some(w @ Waiting::User(_)), body) => self.on_reply(frame.id.unwrap_or(0), w, body),
            (Some(w), ServerBody::Error { code, message }) => self.on_error(w, code, message),
            (Some(w), body) => self.on_reply(frame.id.unwrap_or(0), w, body),
        };
        if let Err(e) = result {
            self.event(Event::Error(e.to_string()));
        }
    }

    // ---- user actions ----

    /// Writes a message. It goes to the outbox first (so it survives a
    /// crash or a restart) and is sent now if connected, else on the next
    /// session. Returns its nonce.
    pub fn send(&mut self, target: Target, text: &str, now_ms: i64) -> Result<String, ActionError> {
        if self.me.as_ref().is_some_and(|u| u.role == Role::Visitor) {
            return Err(ActionError::Visitor);
        }
        if text.trim().is_empty() {
            return Err(ActionError::Empty);
        }
        let chars = text.chars().count();
        if chars > self.limits.max_text_chars {
            return Err(ActionError::TooLong(chars, self.limits.max_text_chars));
        }
        let nonce = self.next_nonce()?;
        let pending = Pending {
            nonce: nonce.clone(),
            target,
            text: text.to_owned(),
            written_ms: now_ms,
        };
        self.cache.push_outbox(&pending)?;
        self.outbox.push(pending.clone());
        if self.state == ConnState::Online {
            self.push_send(&pending);
        }
        if let Target::Conv(conv) = pending.target {
            self.event(Event::Messages(conv));
        } else {
            self.event(Event::Convs);
        }
        Ok(nonce)
    }

    /// Sends any other request; its reply comes back as [`Event::Reply`]
    /// (with the returned id), after the client has applied it to its own
    /// state (a joined channel is added, a left one removed, and so on).
    pub fn request(&mut self, req: Request) -> Result<u64, ActionError> {
        if self.state != ConnState::Online {
            return Err(ActionError::Offline);
        }
        Ok(self.push(Waiting::User(req.clone()), req))
    }

    /// Fetches older messages of `conv` than the oldest cached, for
    /// scrollback; with none cached, the newest page.
    pub fn fetch_older(&mut self, conv: ConvId) -> Result<(), ActionError> {
        if self.state != ConnState::Online {
            return Err(ActionError::Offline);
        }
        if self.waiting.values().any(|w| *w == Waiting::Older(conv)) {
            return Ok(());
        }
        // With nothing cached (a visitor's channel, which is not synced)
        // this is the newest page.
        let oldest = self.cache.oldest(conv)?;
        if oldest == Some(1) {
            self.event(Event::Older { conv, more: false });
            return Ok(());
        }
        self.push(
            Waiting::Older(conv),
            Request::History {
                conv,
                before: oldest,
                after: None,
                limit: Some(FIRST_PAGE as u32),
            },
        );
        Ok(())
    }

    /// Fetches a channel's member list (kept current by presence events).
    pub fn fetch_members(&mut self, conv: ConvId) -> Result<(), ActionError> {
        if self.state != ConnState::Online {
            return Err(ActionError::Offline);
        }
        let Some(c) = self
            .convs
            .get(&conv)
            .filter(|c| c.kind == ConvKind::Channel)
        else {
            return Ok(());
        };
        let name = c.name.clone();
        self.push(Waiting::Members(conv), Request::ChannelMembers { name });
        Ok(())
    }

    /// The user has seen everything in `conv`.
    pub fn mark_read(&mut self, conv: ConvId) -> Result<(), CacheError> {
        if let Some(c) = self.convs.get_mut(&conv)
            && (c.unread != 0 || c.read != c.synced)
        {
            c.unread = 0;
            c.read = c.synced;
            let c = c.clone();
            self.cache.put_conv(&c)?;
            self.event(Event::Convs);
        }
        Ok(())
    }

    /// Ends the connection from this side (after `logout`). With no login
    /// left the driver does not reconnect until [`Client::set_auth`].
    pub fn hang_up(&mut self) {
        if matches!(self.state, ConnState::LoggingIn | ConnState::Online) {
            self.hangup = Some(String::new());
        }
    }

    /// Forgets the session token (after `logout`, or to switch user).
    pub fn forget_login(&mut self) -> Result<(), CacheError> {
        self.auth = None;
        self.cache.set(KEY_TOKEN, None)
    }

    // ---- internals ----

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn push(&mut self, waiting: Waiting, req: Request) -> u64 {
        let id = self.take_id();
        self.waiting.insert(id, waiting);
        self.frames.push_back(ClientFrame { id: Some(id), req });
        id
    }

    fn push_send(&mut self, p: &Pending) {
        let nonce = Some(p.nonce.clone());
        let req = match &p.target {
            Target::Conv(conv) => Request::Send {
                conv: *conv,
                text: p.text.clone(),
                nonce,
            },
            Target::User(user) => Request::DmSend {
                user: user.clone(),
                text: p.text.clone(),
                nonce,
            },
        };
        self.push(Waiting::Send(p.nonce.clone()), req);
    }

    fn next_nonce(&mut self) -> Result<String, CacheError> {
        let n: u64 = self
            .cache
            .get(KEY_NONCE)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        self.cache.set(KEY_NONCE, Some(&n.to_string()))?;
        let id = self.cache.get(KEY_CLIENT_ID)?.unwrap_or_default();
        Ok(format!("{id}-{n}"))
    }

    fn event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(e);
    }

    fn set_state(&mut self, s: ConnState) {
        if self.state != s {
            self.state = s.clone();
            self.event(Event::State(s));
        }
    }

    fn login_request(&self) -> Option<Request> {
        Some(match self.auth.as_ref()? {
            Auth::Login { username, password } => Request::Login {
                username: username.clone(),
                password: password.clone(),
            },
            Auth::Register { username, password } => Request::Register {
                username: username.clone(),
                password: password.clone(),
            },
            Auth::Token(token) => Request::Resume {
                token: token.clone(),
            },
            Auth::Visitor => Request::Visitor {},
        })
    }

    /// Asks for everything after each known conversation's position;
    /// conversations the server knows and the client does not come from 0.
    fn sync(&mut self) {
        if self.waiting.values().any(|w| *w == Waiting::Sync) {
            self.resync = true;
            return;
        }
        if self.me.as_ref().is_some_and(|u| u.role == Role::Visitor) {
            return;
        }
        let mut since: Vec<SyncPos> = self
            .convs
            .values()
            .map(|c| SyncPos {
                conv: c.conv,
                seq: c.synced,
            })
            .collect();
        since.sort_by_key(|p| p.conv);
        self.push(Waiting::Sync, Request::Sync { since, limit: None });
    }

    /// Adds a conversation met for the first time, positioned so that the
    /// next sync fetches its newest page rather than its whole history.
    fn learn_conv(
        &mut self,
        conv: ConvId,
        kind: ConvKind,
        name: &str,
        last_seq: Seq,
    ) -> Result<bool, CacheError> {
        if let Some(c) = self.convs.get_mut(&conv) {
            if c.name != name {
                c.name = name.to_owned();
                let c = c.clone();
                self.cache.put_conv(&c)?;
            }
            return Ok(false);
        }
        let start = last_seq.saturating_sub(FIRST_PAGE);
        let c = CachedConv {
            conv,
            kind,
            name: name.to_owned(),
            synced: start,
            read: start,
            unread: 0,
        };
        self.cache.put_conv(&c)?;
        self.convs.insert(conv, c);
        self.event(Event::Convs);
        Ok(true)
    }

    fn forget_conv(&mut self, conv: ConvId) -> Result<(), CacheError> {
        if self.convs.remove(&conv).is_some() {
            self.live.remove(&conv);
            self.cache.remove_conv(conv)?;
            self.event(Event::Convs);
        }
        Ok(())
    }

    /// Stores messages and advances each conversation's contiguous position.
    /// Returns whether a gap was seen (some message is missing before one received).
    fn take_messages(
        &mut self,
        messages: &[Message],
        live_event: bool,
    ) -> Result<bool, CacheError> {
        if messages.is_empty() {
            return Ok(false);
        }
        self.cache.put_messages(messages)?;
        let me = self.me.as_ref().map(|u| u.name.clone());
        let mut gap = false;
        let mut touched = BTreeSet::new();
        for m in messages {
            let Some(c) = self.convs.get_mut(&m.conv) else {
                gap = true;
                continue;
            };
            touched.insert(m.conv);
            let live = self.live.entry(m.conv).or_default();
            if m.seq <= c.synced || live.ahead.contains(&m.seq) {
                continue;
            }
            if Some(&m.sender) != me.as_ref() {
                c.unread += 1;
            } else if c.read + 1 >= m.seq {
                c.read = m.seq;
            }
            if m.seq == c.synced + 1 {
                c.synced = m.seq;
                while live.ahead.remove(&(c.synced + 1)) {
                    c.synced += 1;
                }
            } else {
                live.ahead.insert(m.seq);
                gap = true;
            }
        }
        for conv in touched {
            if let Some(c) = self.convs.get(&conv) {
                let c = c.clone();
                self.cache.put_conv(&c)?;
            }
            self.event(Event::Messages(conv));
        }
        if live_event {
            self.event(Event::Convs);
        }
        Ok(gap)
    }

    fn acknowledge(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.cache.remove_outbox(nonce)?;
        self.outbox.retain(|p| p.nonce != nonce);
        Ok(())
    }

    fn on_reply(&mut self, id: u64, waiting: Waiting, body: ServerBody) -> Result<(), CacheError> {
        match (waiting, body) {
            (
                Waiting::Hello,
                ServerBody::Hello {
                    limits,
                    heartbeat_ms,
                    ..
                },
            ) => {
                self.limits = limits;
                self.heartbeat_ms = heartbeat_ms.max(1000);
                if let Some(req) = self.login_request() {
                    self.push(Waiting::Login, req);
                }
            }
            (Waiting::Login, ServerBody::Session { user, token, convs }) => {
                self.backoff.reset();
                if let Some(token) = &token {
                    self.cache.set(KEY_TOKEN, Some(token))?;
                    self.auth = Some(Auth::Token(token.clone()));
                }
                if self.me.as_ref().is_some_and(|old| old.name != user.name) {
                    // Another account on this profile: its cache is not ours.
                    for conv in self.convs.keys().copied().collect::<Vec<_>>() {
                        self.forget_conv(conv)?;
                    }
                }
                let json = serde_json::to_string(&user).expect("user info serializes");
                self.cache.set(KEY_USER, Some(&json))?;
                self.me = Some(user.clone());
                let known: BTreeSet<ConvId> = convs.iter().map(|c| c.conv).collect();
                for c in &convs {
                    self.learn_conv(c.conv, c.kind, &c.name, c.last_seq)?;
                }
                if user.role != Role::Visitor {
                    // Left or deleted while we were away.
                    let gone: Vec<ConvId> = self
                        .convs
                        .keys()
                        .filter(|c| !known.contains(c))
                        .copied()
                        .collect();
                    for conv in gone {
                        self.forget_conv(conv)?;
                    }
                }
                self.set_state(ConnState::Online);
                self.event(Event::LoggedIn(user));
                self.sync();
                for p in self.outbox.clone() {
                    self.push_send(&p);
                }
            }
            (Waiting::Sync, ServerBody::Synced { convs }) => {
                for sc in &convs {
                    self.learn_conv(sc.conv, sc.kind, &sc.name, 0)?;
                }
                for sc in convs {
                    self.take_messages(&sc.messages, false)?;
                    if sc.more {
                        self.fetch_newer(sc.conv);
                    }
                }
                self.event(Event::Convs);
                if std::mem::take(&mut self.resync) {
                    self.sync();
                }
            }
            (Waiting::Newer(conv), ServerBody::Messages { messages, more, .. }) => {
                self.take_messages(&messages, false)?;
                if more && !messages.is_empty() {
                    self.fetch_newer(conv);
                }
            }
            (Waiting::Older(conv), ServerBody::Messages { messages, more, .. }) => {
                self.cache.put_messages(&messages)?;
                self.event(Event::Older { conv, more });
            }
            (Waiting::Send(nonce), ServerBody::Sent { message, .. }) => {
                self.acknowledge(&nonce)?;
                if !self.convs.contains_key(&message.conv) {
                    // The first DM to someone: its conversation is new.
                    self.sync();
                }
                self.take_messages(std::slice::from_ref(&message), false)?;
            }
            (Waiting::ChannelList, ServerBody::Channels { channels }) => {
                for ch in channels.iter().filter(|c| c.joined) {
                    if self.learn_conv(ch.conv, ConvKind::Channel, &ch.name, ch.last_seq)? {
                        self.sync();
                    }
                }
            }
            (Waiting::Members(conv), ServerBody::Members { members, .. }) => {
                self.live.entry(conv).or_default().members = Some(members);
                self.event(Event::Members(conv));
            }
            (Waiting::User(req), body) => {
                self.apply_user_reply(&req, &body)?;
                self.event(Event::Reply { id, body });
            }
            (waiting, body) => {
                self.event(Event::Error(format!(
                    "unexpected reply {:?} to {waiting:?}",
                    body_type(&body)
                )));
            }
        }
        Ok(())
    }

    fn fetch_newer(&mut self, conv: ConvId) {
        let after = self.convs.get(&conv).map_or(0, |c| c.synced);
        self.push(
            Waiting::Newer(conv),
            Request::History {
                conv,
                before: None,
                after: Some(after),
                limit: None,
            },
        );
    }

    /// What a reply to a UI request changes in the client's own state.
    fn apply_user_reply(&mut self, req: &Request, body: &ServerBody) -> Result<(), CacheError> {
        match (req, body) {
            (
                Request::ChannelCreate { .. } | Request::ChannelJoin { .. },
                ServerBody::Channel { channel },
            ) => {
                let new = self.learn_conv(
                    channel.conv,
                    ConvKind::Channel,
                    &channel.name,
                    channel.last_seq,
                )?;
                if new {
                    self.sync();
                }
            }
            (
                Request::ChannelLeave { name } | Request::ChannelDelete { name },
                ServerBody::Ok {},
            ) => {
                if let Some(c) = self.conv_named(ConvKind::Channel, name) {
                    let conv = c.conv;
                    self.forget_conv(conv)?;
                }
            }
            (Request::ChangePassword { .. }, ServerBody::Token { token }) => {
                self.cache.set(KEY_TOKEN, Some(token))?;
                self.auth = Some(Auth::Token(token.clone()));
            }
            (Request::SetStatus { invisible }, ServerBody::Ok {}) => {
                if let Some(me) = &mut self.me {
                    me.invisible = *invisible;
                    let json = serde_json::to_string(me).expect("user info serializes");
                    self.cache.set(KEY_USER, Some(&json))?;
                }
            }
            (Request::Logout {}, ServerBody::Ok {}) => {
                self.forget_login()?;
            }
            _ => {}
        }
        Ok(())
    }

    fn on_error(
        &mut self,
        waiting: Waiting,
        code: ErrorCode,
        message: String,
    ) -> Result<(), CacheError> {
        match waiting {
            Waiting::Hello | Waiting::Login
                if matches!(code, ErrorCode::Internal | ErrorCode::ShuttingDown) =>
            {
                // The server's trouble, not the login's: try again later.
                self.hangup = Some(message);
            }
            Waiting::Hello | Waiting::Login => {
                if matches!(self.auth, Some(Auth::Token(_))) {
                    self.cache.set(KEY_TOKEN, None)?;
                }
                self.auth = None;
                self.event(Event::LoginFailed { code, message });
                // The driver closes the connection when it sees this state.
                self.set_state(ConnState::Offline { retry_at_ms: None });
            }
            Waiting::Send(nonce) => {
                if matches!(code, ErrorCode::Internal | ErrorCode::ShuttingDown) {
                    // Kept: the next session sends it again.
                    return Ok(());
                }
                if let Some(p) = self.outbox.iter().find(|p| p.nonce == nonce).cloned() {
                    self.acknowledge(&nonce)?;
                    self.event(Event::SendFailed {
                        pending: p,
                        message,
                    });
                }
            }
            Waiting::Older(conv) | Waiting::Newer(conv) | Waiting::Members(conv)
                if code == ErrorCode::NotFound =>
            {
                self.forget_conv(conv)?;
            }
            other => {
                self.event(Event::Error(format!("{message} (while {other:?})")));
            }
        }
        Ok(())
    }

    fn on_event(&mut self, body: ServerBody) -> Result<(), CacheError> {
        match body {
            ServerBody::Message { message } => {
                let known = self.convs.contains_key(&message.conv);
                let gap = self.take_messages(std::slice::from_ref(&message), true)?;
                if gap || !known {
                    self.sync();
                }
            }
            ServerBody::Ping {} => self.frames.push_back(ClientFrame {
                id: None,
                req: Request::Pong {},
            }),
            ServerBody::Lagged {} => self.sync(),
            // The answer to our own heartbeat `ping`; hearing it was the point.
            ServerBody::Pong {} => {}
            ServerBody::Presence { user, online } => {
                let mut changed = Vec::new();
                for (conv, live) in &mut self.live {
                    if let Some(m) = live
                        .members
                        .as_mut()
                        .and_then(|ms| ms.iter_mut().find(|m| m.name == user))
                    {
                        m.online = online;
                        changed.push(*conv);
                    }
                }
                for conv in changed {
                    self.event(Event::Members(conv));
                }
            }
            ServerBody::MemberJoined { conv, user, .. } => {
                let mine = self.me.as_ref().is_some_and(|m| m.name == user);
                if mine && !self.convs.contains_key(&conv) {
                    // Joined from another device: learn the channel.
                    self.push(Waiting::ChannelList, Request::ChannelList {});
                } else if let Some(ms) = self.live.get_mut(&conv).and_then(|l| l.members.as_mut()) {
                    if !ms.iter().any(|m| m.name == user) {
                        ms.push(MemberInfo {
                            name: user,
                            role: Role::Member,
                            online: true,
                        });
                        ms.sort_by(|a, b| a.name.cmp(&b.name));
                    }
                    self.event(Event::Members(conv));
                }
            }
            ServerBody::MemberLeft { conv, user, .. } => {
                if self.me.as_ref().is_some_and(|m| m.name == user) {
                    self.forget_conv(conv)?;
                } else if let Some(ms) = self.live.get_mut(&conv).and_then(|l| l.members.as_mut()) {
                    ms.retain(|m| m.name != user);
                    self.event(Event::Members(conv));
                }
            }
            ServerBody::Invited { channel, by } => {
                if self.learn_conv(
                    channel.conv,
                    ConvKind::Channel,
                    &channel.name,
                    channel.last_seq,
                )? {
                    self.sync();
                }
                self.event(Event::Notice(format!(
                    "{by} invited you to #{}",
                    channel.name
                )));
            }
            ServerBody::ChannelDeleted { conv, channel } => {
                self.forget_conv(conv)?;
                self.event(Event::Notice(format!("#{channel} was deleted")));
            }
            ServerBody::Typing { conv, user } => self.event(Event::Typing { conv, user }),
            ServerBody::Notice { text } => self.event(Event::Notice(text)),
            ServerBody::Shutdown { reason } => {
                self.event(Event::Notice(format!("server shutting down: {reason}")))
            }
            other => {
                self.event(Event::Error(format!(
                    "unexpected event {:?}",
                    body_type(&other)
                )));
            }
        }
        Ok(())
    }
}

/// The `type` of a server body, for messages.
fn body_type(body: &ServerBody) -> String {
    serde_json::to_value(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
