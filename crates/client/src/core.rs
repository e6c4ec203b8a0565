//! The client state machine, with no I/O.
//!
//! **The driver interface.** A driver (tokio in [`crate::native`], the
//! browser's in `confab-web`) owns the socket and the clock. It gives the
//! client what happened with [`Client::handle`] ([`Input`]: connected, a
//! frame, a datagram, disconnected) and performs what
//! [`Client::poll_output`] asks ([`Output`]: connect, send a frame, send a
//! datagram, close), calling it again by [`Client::poll_timeout`] even when
//! nothing came in. That is all a driver does.
//!
//! **The UI interface.** UIs call typed actions ([`Client::act`],
//! [`Client::send`], [`Client::open`], [`Client::typed`]…, some in
//! `view.rs`) and read the state to draw it (conversations, the open
//! conversation's timeline, members, friends, typing, drafts). The client
//! reports changes as [`Event`]s.
//!
//! What it guarantees:
//! - Messages written offline go to the outbox (in the cache) and are sent,
//!   in order and with their nonce, every time a session starts until the
//!   server acknowledges them: never lost, never stored twice.
//! - After every (re)login it `sync`s from each conversation's last
//!   contiguous position, and on a gap, a `lagged` event or a message in an
//!   unknown conversation it syncs again, so the cache ends up with every
//!   message exactly once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use confab_proto::{
    Body, ClientFrame, ConvId, ConvKind, ErrorCode, FilesInfo, FriendState, GroupInfo, Limits,
    MemberInfo, Message, PROTOCOL_VERSION, Request, Role, Seq, ServerBody, ServerFrame, StreamId,
    StreamInfo, SyncPos, SystemEvent, UserInfo, Viewer, WatchId,
};

use crate::actions::{Action, Outcome, Refusal};
use crate::backoff::Backoff;
use crate::cache::{Cache, CacheError, CachedConv, Pending, Target, What};
use crate::describe::mentions_of;
use crate::social::Friends;
use crate::transfer::{DownloadJob, Transfer, TransferReport, UploadJob};

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
        /// An invitation token, where registration is by invitation.
        invite: Option<String>,
        /// A fresh server's setup code: this account becomes its admin.
        setup: Option<String>,
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

/// What a driver tells the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The connection is open. `udp_secret`: the TLS exporter's output
    /// (`confab_proto::datagram`), from a driver that can also send
    /// datagrams to the server; the typing path then uses UDP.
    Connected { udp_secret: Option<[u8; 64]> },
    /// A frame arrived.
    Frame(ServerFrame),
    /// A datagram arrived from the server's UDP port.
    Datagram(Vec<u8>),
    /// The connection failed or closed (why, for people; empty when the
    /// client asked for it with [`Output::Close`]).
    Disconnected(String),
    /// How an upload or download the client asked for is going.
    Transfer(TransferReport),
}

/// What the client asks a driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a connection (then report [`Input::Connected`] or
    /// [`Input::Disconnected`]).
    Connect,
    /// Write this frame.
    Send(ClientFrame),
    /// Send this datagram to the server's host, UDP port `port`. Losing it
    /// is harmless.
    Datagram { port: u16, bytes: Vec<u8> },
    /// Close the connection (then report [`Input::Disconnected`]).
    Close(String),
    /// Upload a file over HTTP (tus) and report with [`Input::Transfer`].
    Upload(UploadJob),
    /// Download a file over HTTP and report with [`Input::Transfer`].
    Download(DownloadJob),
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
    /// Older messages arrived for scrollback.
    Older(ConvId),
    /// A conversation's member list or a member's presence changed.
    Members(ConvId),
    /// Who is typing in a conversation changed.
    Typing(ConvId),
    /// A channel's live streams changed ([`Client::live_streams`]).
    Streams(ConvId),
    /// To a stream's host: who watches it now.
    StreamViewers {
        stream: StreamId,
        viewers: Vec<Viewer>,
    },
    /// A signalling message from the other end of a watch.
    Signal {
        stream: StreamId,
        watch: WatchId,
        from: String,
        data: serde_json::Value,
    },
    /// Friends, requests or blocks changed.
    Friends,
    /// The open conversation changed without the UI asking (the one open
    /// was left or deleted, or a new DM's conversation came into being).
    Opened,
    /// The message asked for with `jump_to` is in the timeline now (or as
    /// near as could be loaded): scroll to it.
    Jumped {
        conv: ConvId,
        seq: Seq,
    },
    /// An action finished.
    Done {
        action: Action,
        result: Result<Outcome, Refusal>,
    },
    /// A pending message was refused and removed from the outbox (its text
    /// is back in its conversation's draft when that was empty).
    SendFailed {
        pending: Pending,
        message: String,
    },
    /// The server or the local cache reported a problem; readable text.
    Error(String),
    /// Something to tell the user: an operators' notice, an invitation.
    Notice(String),
    /// A user's profile picture changed (fetch it again).
    Avatar(String),
    /// An upload or download moved on ([`Client::transfer`] has it by
    /// this key).
    Transfer(String),
    /// A message worth a notification arrived: a direct message, or one
    /// mentioning the user, in a conversation that is not muted.
    /// `in_view`: its conversation is open at its newest messages (a UI
    /// may still notify if its window is hidden).
    Notify {
        conv: ConvId,
        /// "ann in #general", "ann".
        title: String,
        /// The message without its Markdown, cut short.
        body: String,
        in_view: bool,
    },
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
    #[error("no conversation is open")]
    NothingOpen,
    #[error("the file is {0}; this server takes files of up to {1}")]
    FileTooLarge(String, String),
    /// Uploads and downloads need what `hello` says about files.
    #[error("this server takes no files")]
    NoFiles,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// A notification shows this much of a message.
const NOTIFY_CHARS: usize = 140;
/// Read positions go to the server at most this often.
const READ_EVERY_MS: u64 = 1_000;
/// Messages fetched for a conversation met for the first time.
pub(crate) const FIRST_PAGE: u64 = 50;
/// Events kept for a UI that has not collected them; older ones are dropped.
const MAX_EVENTS: usize = 4096;
/// Frames queued while connected; the outbox is never dropped (it lives in
/// the cache and is resent on the next session), so this bounds only
/// memory. Past it the client asks the driver to reconnect.
const MAX_FRAMES: usize = 4096;
/// Cache keys.
const KEY_TOKEN: &str = "token";
const KEY_USER: &str = "user";
const KEY_NONCE: &str = "nonce_counter";
const KEY_CLIENT_ID: &str = "client_id";
const KEY_FRIENDS: &str = "friends";

/// What a reply answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Waiting {
    Hello,
    Login,
    Sync,
    Newer(ConvId),
    Older(ConvId),
    Send(String),
    ChannelList,
    Members(ConvId),
    Streams(ConvId),
    Group(ConvId),
    Friends,
    UdpOpen,
    /// A typing notice over the stream: its answer needs nothing.
    Typing,
    /// A read position sent up: its answer needs nothing.
    Read,
    /// A message (conv, seq) read again after an edit.
    Refresh(ConvId, Seq),
    /// Asked by the UI: the answer becomes an [`Event::Done`].
    Action(Action),
}

/// Per-conversation state kept in memory beside the cached record.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Seqs received above `synced` that are not yet contiguous with it.
    pub ahead: BTreeSet<Seq>,
    pub members: Option<Vec<MemberInfo>>,
    pub group: Option<GroupInfo>,
    /// Who is typing, until when.
    pub typing: Vec<(String, u64)>,
    /// Messages of this conversation the view wants from the cache.
    pub want: usize,
    /// The cache holds its first message: scrollback is done.
    pub complete: bool,
    /// `/clear`: entries up to this seq are not shown (here only).
    pub cleared: Seq,
    /// The read position when the view opened with unread messages: the
    /// timeline marks where they begin.
    pub unread_after: Option<Seq>,
    /// A message to show once history is loaded back to it.
    pub jump: Option<Seq>,
    /// A channel's live streams (asked with its members, kept current by
    /// events).
    pub streams: Vec<StreamInfo>,
}

/// The client. `C` is where it keeps what survives a restart.
pub struct Client<C: Cache> {
    pub(crate) cache: C,
    client_name: String,
    pub(crate) auth: Option<Auth>,
    pub(crate) state: ConnState,
    backoff: Backoff,
    pub(crate) me: Option<UserInfo>,
    pub(crate) limits: Limits,
    heartbeat_ms: u64,
    last_heard_ms: u64,
    last_ping_ms: u64,
    next_id: u64,
    pub(crate) waiting: HashMap<u64, Waiting>,
    pub(crate) convs: HashMap<ConvId, CachedConv>,
    pub(crate) live: HashMap<ConvId, Live>,
    /// The outbox, in order (a copy of the cache's).
    outbox: Vec<Pending>,
    /// Sync again once the current one is answered.
    resync: bool,
    /// The driver's connection is open (from `Connected` to `Disconnected`).
    conn_open: bool,
    /// Set when the connection should be closed; the reason.
    closing: Option<String>,
    /// Why the client asked for the close it is waiting for.
    closed_because: Option<String>,
    pub(crate) frames: VecDeque<ClientFrame>,
    events: VecDeque<Event>,
    /// Events dropped because the UI did not collect them.
    pub events_dropped: u64,
    pub(crate) friends: Friends,
    pub(crate) view: crate::view::View,
    udp_secret: Option<[u8; 64]>,
    udp_port: Option<u16>,
    #[cfg(feature = "udp")]
    pub(crate) udp: Option<crate::udp::Path>,
    /// Datagrams for the driver (UDP path).
    pub(crate) datagrams: VecDeque<(u16, Vec<u8>)>,
    /// Sends the server refused as too many (`rate_limited`): kept in the
    /// outbox and sent again at the time given (ms, the driver's clock).
    pub(crate) resend: Vec<(u64, String)>,
    /// Read positions for the server, sent together a moment after the
    /// first (reading a busy channel does not send one per message).
    read_up: BTreeMap<ConvId, Seq>,
    /// When they go.
    read_flush_ms: Option<u64>,
    /// Live messages of conversations not known yet (a first DM), to
    /// notify once the sync has brought their conversation.
    unknown_live: Vec<Message>,
    /// Conversations the user read here (since this client started): their
    /// read position is ours to tell the server, not the server's to set.
    read_here: BTreeSet<ConvId>,
    /// Where files go, from `hello` (none: this server takes no files).
    pub(crate) files: Option<FilesInfo>,
    /// Uploads and downloads, newest last (finished ones are dropped
    /// beyond a few).
    pub(crate) transfers: Vec<Transfer>,
    /// Uploads and downloads for the driver, handed over while online.
    pub(crate) jobs: VecDeque<Output>,
    /// Keys of the transfers queued or with the driver (an upload is not
    /// started twice when the outbox is sent again).
    pub(crate) running: HashSet<String>,
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
        let friends = cache
            .get(KEY_FRIENDS)?
            .and_then(|f| serde_json::from_str(&f).ok())
            .unwrap_or_default();
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
            conn_open: false,
            closing: None,
            closed_because: None,
            frames: VecDeque::new(),
            events: VecDeque::new(),
            events_dropped: 0,
            friends,
            view: crate::view::View::default(),
            udp_secret: None,
            udp_port: None,
            #[cfg(feature = "udp")]
            udp: None,
            datagrams: VecDeque::new(),
            resend: Vec::new(),
            read_up: BTreeMap::new(),
            read_flush_ms: None,
            unknown_live: Vec::new(),
            read_here: BTreeSet::new(),
            files: None,
            transfers: Vec::new(),
            jobs: VecDeque::new(),
            running: HashSet::new(),
        };
        if client.cache.get(KEY_CLIENT_ID)?.is_none() {
            let id = format!("{seed:016x}");
            client.cache.set(KEY_CLIENT_ID, Some(&id))?;
        }
        client.view.open = client.convs().first().map(|c| Target::Conv(c.conv));
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

    pub(crate) fn is_visitor(&self) -> bool {
        self.me.as_ref().is_some_and(|u| u.role == Role::Visitor)
    }

    /// Whether requests are in flight (after a login: the sync and its pages).
    pub fn busy(&self) -> bool {
        self.waiting.values().any(|w| !matches!(w, Waiting::Typing))
    }

    /// Whether the client has a way to log in without asking the user.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// Conversations: channels, then groups, then DMs, each by name.
    pub fn convs(&self) -> Vec<&CachedConv> {
        let rank = |k: ConvKind| match k {
            ConvKind::Channel => 0,
            ConvKind::Group => 1,
            ConvKind::Dm => 2,
        };
        let mut v: Vec<&CachedConv> = self.convs.values().collect();
        v.sort_by(|a, b| (rank(a.kind), &a.name, a.conv).cmp(&(rank(b.kind), &b.name, b.conv)));
        v
    }

    pub fn conv(&self, conv: ConvId) -> Option<&CachedConv> {
        self.convs.get(&conv)
    }

    /// The conversation with this channel name, group name, or DM partner name.
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

    /// Members of a conversation, if fetched (kept current by presence and
    /// membership events).
    pub fn members(&self, conv: ConvId) -> Option<&[MemberInfo]> {
        self.live.get(&conv)?.members.as_deref()
    }

    /// A group's owner, members and settings, if known.
    pub fn group(&self, conv: ConvId) -> Option<&GroupInfo> {
        self.live.get(&conv)?.group.as_ref()
    }

    /// Friends, requests and blocks.
    pub fn friends(&self) -> &Friends {
        &self.friends
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether typing notices go over UDP now.
    pub fn udp_up(&self, now_ms: u64) -> bool {
        #[cfg(feature = "udp")]
        {
            self.udp.as_ref().is_some_and(|p| p.up(now_ms))
        }
        #[cfg(not(feature = "udp"))]
        {
            let _ = now_ms;
            false
        }
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

    // ---- the driver interface ----

    /// How the next session logs in (a login screen's answer). Connects
    /// now if offline.
    pub fn set_auth(&mut self, auth: Auth, now_ms: u64) {
        self.auth = Some(auth);
        if let ConnState::Offline { .. } = self.state {
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

    /// What happened on the connection.
    pub fn handle(&mut self, input: Input, now_ms: u64) {
        match input {
            Input::Connected { udp_secret } => self.connected(udp_secret, now_ms),
            Input::Frame(frame) => self.frame(frame, now_ms),
            Input::Datagram(bytes) => self.datagram(&bytes, now_ms),
            Input::Disconnected(why) => self.disconnected(&why, now_ms),
            Input::Transfer(report) => {
                if let Err(e) = self.on_transfer(report, now_ms) {
                    self.event(Event::Error(e.to_string()));
                }
            }
        }
    }

    /// The next thing for the driver to do, if any. Also runs the timers
    /// (heartbeat, UDP keepalive, typing expiry), so the driver calls it
    /// at [`Client::poll_timeout`] even when nothing came in.
    pub fn poll_output(&mut self, now_ms: u64) -> Option<Output> {
        self.expire_typing(now_ms);
        if !self.conn_open {
            return match self.state {
                ConnState::Offline {
                    retry_at_ms: Some(t),
                } if self.auth.is_some() && t <= now_ms => {
                    self.set_state(ConnState::Connecting);
                    Some(Output::Connect)
                }
                _ => None,
            };
        }
        if self.frames.len() > MAX_FRAMES {
            self.closing = Some("the server is not reading".into());
        }
        if now_ms.saturating_sub(self.last_heard_ms) >= 3 * self.heartbeat_ms {
            self.closing = Some("the server stopped answering".into());
        }
        if let Some(why) = self.closing.take() {
            self.closed_because = Some(why.clone());
            return Some(Output::Close(why));
        }
        if self.closed_because.is_some() {
            // Waiting for the driver to report the close.
            return None;
        }
        if now_ms.saturating_sub(self.last_heard_ms.max(self.last_ping_ms)) >= self.heartbeat_ms {
            self.last_ping_ms = now_ms;
            let id = self.take_id();
            self.frames.push_back(ClientFrame {
                id: Some(id),
                req: Request::Ping {},
            });
        }
        if self.state == ConnState::Online && self.resend.iter().any(|(at, _)| *at <= now_ms) {
            let (due, later): (Vec<_>, Vec<_>) =
                self.resend.drain(..).partition(|(at, _)| *at <= now_ms);
            self.resend = later;
            for (_, nonce) in due {
                if let Some(p) = self.outbox.iter().find(|p| p.nonce == nonce).cloned() {
                    self.push_send(&p);
                }
            }
        }
        if self.state == ConnState::Online && !self.read_up.is_empty() {
            match self.read_flush_ms {
                None => self.read_flush_ms = Some(now_ms + READ_EVERY_MS),
                Some(at) if at <= now_ms => {
                    self.read_flush_ms = None;
                    for (conv, seq) in std::mem::take(&mut self.read_up) {
                        self.push(Waiting::Read, Request::Read { conv, seq });
                    }
                }
                Some(_) => {}
            }
        }
        if let Some(f) = self.frames.pop_front() {
            return Some(Output::Send(f));
        }
        if self.state == ConnState::Online
            && let Some(job) = self.jobs.pop_front()
        {
            return Some(job);
        }
        #[cfg(feature = "udp")]
        if let Some(path) = self.udp.as_mut()
            && let Some(bytes) = path.ping(now_ms)
        {
            self.datagrams.push_back((path.port, bytes));
        }
        self.datagrams
            .pop_front()
            .map(|(port, bytes)| Output::Datagram { port, bytes })
    }

    /// When [`Client::poll_output`] should be called again if nothing
    /// happens before (milliseconds, the driver's clock).
    pub fn poll_timeout(&self) -> Option<u64> {
        let typing = self
            .live
            .values()
            .flat_map(|l| l.typing.iter().map(|(_, until)| *until))
            .min();
        let conn = match self.state {
            _ if self.conn_open => {
                let heartbeat = (self.last_heard_ms.max(self.last_ping_ms) + self.heartbeat_ms)
                    .min(self.last_heard_ms + 3 * self.heartbeat_ms);
                #[cfg(feature = "udp")]
                let heartbeat = match &self.udp {
                    Some(p) => heartbeat.min(p.deadline()),
                    None => heartbeat,
                };
                Some(heartbeat)
            }
            ConnState::Offline { retry_at_ms } => retry_at_ms.filter(|_| self.auth.is_some()),
            _ => None,
        };
        let resend = self
            .resend
            .iter()
            .map(|(at, _)| *at)
            .chain(self.read_flush_ms.filter(|_| self.conn_open))
            .min()
            .filter(|_| self.conn_open);
        [typing, conn, resend].into_iter().flatten().min()
    }

    fn connected(&mut self, udp_secret: Option<[u8; 64]>, now_ms: u64) {
        self.frames.clear();
        self.waiting.clear();
        // The whole outbox is sent again after logging in.
        self.resend.clear();
        self.conn_open = true;
        self.closing = None;
        self.closed_because = None;
        self.udp_secret = udp_secret;
        self.last_heard_ms = now_ms;
        self.last_ping_ms = now_ms;
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
    fn disconnected(&mut self, why: &str, now_ms: u64) {
        self.conn_open = false;
        self.closing = None;
        let asked = self.closed_because.take();
        self.frames.clear();
        self.waiting.clear();
        self.datagrams.clear();
        self.udp_secret = None;
        #[cfg(feature = "udp")]
        {
            self.udp = None;
        }
        for live in self.live.values_mut() {
            live.ahead.clear();
            live.typing.clear();
        }
        if let ConnState::Offline { retry_at_ms: None } = self.state {
            // A refused login, or a logout: wait for the user.
            return;
        }
        let retry_at_ms = self
            .auth
            .as_ref()
            .map(|_| now_ms + self.backoff.next_delay_ms());
        let why = asked.unwrap_or_else(|| why.to_owned());
        if !why.is_empty() && self.backoff.attempts() <= 1 {
            self.event(Event::Error(format!("disconnected: {why}")));
        }
        self.set_state(ConnState::Offline { retry_at_ms });
    }

    /// Closes the connection from this side: after `logout`, or to switch
    /// user. With no login left the driver does not reconnect until
    /// [`Client::set_auth`].
    pub fn hang_up(&mut self) {
        if self.conn_open {
            self.closing = Some(String::new());
        }
    }

    /// Forgets the session token (after `logout`, or to switch user).
    pub fn forget_login(&mut self) -> Result<(), CacheError> {
        self.auth = None;
        self.cache.set(KEY_TOKEN, None)
    }

    /// A frame from the server.
    fn frame(&mut self, frame: ServerFrame, now_ms: u64) {
        self.last_heard_ms = now_ms;
        let waiting = frame.id.and_then(|id| self.waiting.remove(&id));
        let result = match (waiting, frame.body) {
            (None, body) => self.on_event(body, now_ms),
            (Some(Waiting::Action(action)), body) => {
                self.on_done(action, body, now_ms);
                Ok(())
            }
            (
                Some(w),
                ServerBody::Error {
                    code,
                    message,
                    retry_after_ms,
                },
            ) => match (w, code) {
                (Waiting::Send(nonce), ErrorCode::RateLimited) => {
                    // Kept, and sent again when the server says.
                    let at = now_ms + retry_after_ms.unwrap_or(1000);
                    self.resend.push((at, nonce));
                    Ok(())
                }
                (w, _) => self.on_error(w, code, message),
            },
            (Some(w), body) => self.on_reply(w, body, now_ms),
        };
        if let Err(e) = result {
            self.event(Event::Error(e.to_string()));
        }
    }

    fn datagram(&mut self, bytes: &[u8], now_ms: u64) {
        #[cfg(feature = "udp")]
        if let Some(path) = self.udp.as_mut() {
            match path.receive(bytes, now_ms) {
                Ok(crate::udp::Received::Pong) => {}
                Ok(crate::udp::Received::Typing { conv, user }) => {
                    self.someone_typing(conv, user, now_ms)
                }
                // Not from our server, or garbled: ignored, as UDP allows.
                Err(_) => {}
            }
        }
        #[cfg(not(feature = "udp"))]
        let _ = (bytes, now_ms);
    }

    // ---- user actions ----

    /// Does something for the user; the answer comes as [`Event::Done`].
    /// Logging out while offline is done at once.
    pub fn act(&mut self, action: Action) -> Result<(), ActionError> {
        if self.is_visitor() && !action.for_visitors() {
            return Err(ActionError::Visitor);
        }
        if action == Action::Logout && self.state != ConnState::Online {
            self.logged_out()?;
            self.event(Event::Done {
                action,
                result: Ok(Outcome::LoggedOut),
            });
            return Ok(());
        }
        if self.state != ConnState::Online {
            return Err(ActionError::Offline);
        }
        let req = action.request();
        self.push(Waiting::Action(action), req);
        Ok(())
    }

    /// Writes a message. It goes to the outbox first (so it survives a
    /// crash or a restart) and is sent now if connected, else on the next
    /// session. Returns its nonce.
    pub fn send(&mut self, target: Target, text: &str, now_ms: i64) -> Result<String, ActionError> {
        self.post(target, text, What::Text { reply_to: None }, now_ms)
    }

    /// Writes a message answering the message `seq` of `conv`.
    pub fn reply(
        &mut self,
        conv: ConvId,
        seq: Seq,
        text: &str,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        self.post(
            Target::Conv(conv),
            text,
            What::Text {
                reply_to: Some(seq),
            },
            now_ms,
        )
    }

    /// Adds `emoji` to the message `seq` of `conv`, or takes it back if
    /// the user has already reacted with it. Waits in the outbox like a
    /// message.
    pub fn react(
        &mut self,
        conv: ConvId,
        seq: Seq,
        emoji: &str,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        let me = self.me().map(|u| u.name.clone()).unwrap_or_default();
        let remove = self
            .reactions_to(conv, seq)
            .iter()
            .any(|r| r.emoji == emoji && r.users.contains(&me));
        let what = What::React {
            target: seq,
            emoji: emoji.to_owned(),
            remove,
        };
        self.post(Target::Conv(conv), "", what, now_ms)
    }

    /// Replaces the text of the user's own message `seq` of `conv`.
    pub fn edit(
        &mut self,
        conv: ConvId,
        seq: Seq,
        text: &str,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        self.post(Target::Conv(conv), text, What::Edit { target: seq }, now_ms)
    }

    /// Deletes the message `seq` of `conv` (the user's own; as a channel's
    /// owner or an admin, any there).
    pub fn delete(&mut self, conv: ConvId, seq: Seq, now_ms: i64) -> Result<String, ActionError> {
        self.post(Target::Conv(conv), "", What::Delete { target: seq }, now_ms)
    }

    /// Puts an entry in the outbox (it survives a crash or a restart) and
    /// sends it now if connected, else on the next session. Returns its
    /// nonce.
    pub(crate) fn post(
        &mut self,
        target: Target,
        text: &str,
        what: What,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        if self.is_visitor() {
            return Err(ActionError::Visitor);
        }
        if matches!(what, What::Text { .. } | What::Edit { .. }) {
            if text.trim().is_empty() {
                return Err(ActionError::Empty);
            }
            let chars = text.chars().count();
            if chars > self.limits.max_text_chars {
                return Err(ActionError::TooLong(chars, self.limits.max_text_chars));
            }
        }
        let nonce = self.next_nonce()?;
        let pending = Pending {
            nonce: nonce.clone(),
            target,
            text: text.to_owned(),
            written_ms: now_ms,
            what,
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
            self.older_done(conv, false);
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

    /// Fetches a conversation's member list (kept current by events).
    pub fn fetch_members(&mut self, conv: ConvId) -> Result<(), ActionError> {
        if self.state != ConnState::Online {
            return Err(ActionError::Offline);
        }
        if !self.convs.contains_key(&conv)
            || self.waiting.values().any(|w| *w == Waiting::Members(conv))
        {
            return Ok(());
        }
        self.push(Waiting::Members(conv), Request::Members { conv });
        if self
            .convs
            .get(&conv)
            .is_some_and(|c| c.kind == ConvKind::Channel)
        {
            self.push(Waiting::Streams(conv), Request::Streams { conv });
        }
        Ok(())
    }

    /// The browser link to watch `stream` (`#watch=ID` on the server's web
    /// listener), for a client connected to `server` (`host:port`). `None`
    /// when the server said nothing of its web listener.
    pub fn watch_link(&self, server: &str, stream: StreamId) -> Option<String> {
        let files = self.files.as_ref()?;
        // "host:port", "[v6]:port": the host is what comes before the last colon.
        let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
        let scheme = if files.https { "https" } else { "http" };
        Some(format!("{scheme}://{host}:{}/#watch={stream}", files.port))
    }

    /// The live streams of a channel, as last known.
    pub fn live_streams(&self, conv: ConvId) -> &[StreamInfo] {
        self.live.get(&conv).map_or(&[], |l| &l.streams)
    }

    /// The user has seen everything in `conv`. The server keeps the
    /// position for the user's other devices (sent a moment later, with
    /// any others, or when the next session starts).
    pub fn mark_read(&mut self, conv: ConvId) -> Result<(), CacheError> {
        if let Some(c) = self.convs.get_mut(&conv)
            && (c.unread != 0 || c.mentions != 0 || c.read != c.synced)
        {
            c.unread = 0;
            c.mentions = 0;
            let moved = c.read < c.synced;
            c.read = c.read.max(c.synced);
            let c = c.clone();
            self.cache.put_conv(&c)?;
            self.event(Event::Convs);
            if moved && !self.is_visitor() {
                self.read_up.insert(conv, c.read);
                self.read_here.insert(conv);
            }
        }
        Ok(())
    }

    /// The server says the user read `conv` up to `seq` (on another device,
    /// or before this session; `synced`: in a sync's answer): counts what
    /// is still unread from the cache. A position behind ours is ours to
    /// send only if the user read it here; otherwise ours was a guess (a
    /// conversation met for the first time starts at its newest page) and
    /// the server's stands.
    fn server_read(&mut self, conv: ConvId, seq: Seq, synced: bool) -> Result<(), CacheError> {
        let me = self.me.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        let Some(c) = self.convs.get(&conv) else {
            return Ok(());
        };
        if seq == c.read {
            return Ok(());
        }
        if seq < c.read {
            if self.read_here.contains(&conv) {
                let read = c.read;
                self.read_up.insert(conv, read);
                return Ok(());
            }
            if !synced {
                // An older answer than what we know: ignore.
                return Ok(());
            }
        }
        let unseen = c.synced.saturating_sub(seq) as usize;
        let (mut unread, mut mentions) = (0, 0);
        if unseen > 0 {
            for m in self.cache.messages(conv, None, unseen)? {
                if m.seq > seq && m.sender != me && m.body.is_readable() {
                    unread += 1;
                    if mentions_of(&m, &me) {
                        mentions += 1;
                    }
                }
            }
        }
        if let Some(c) = self.convs.get_mut(&conv) {
            c.read = seq;
            c.unread = unread;
            c.mentions = mentions;
            let c = c.clone();
            self.cache.put_conv(&c)?;
            self.event(Event::Convs);
        }
        Ok(())
    }

    /// Keeps a channel's topic as the server says it is.
    fn set_topic(&mut self, conv: ConvId, topic: &str) -> Result<(), CacheError> {
        if let Some(c) = self.convs.get_mut(&conv)
            && c.topic != topic
        {
            c.topic = topic.to_owned();
            let c = c.clone();
            self.cache.put_conv(&c)?;
            self.event(Event::Convs);
        }
        Ok(())
    }

    /// Mutes or unmutes notifications from `conv` (here only).
    pub fn set_muted(&mut self, conv: ConvId, muted: bool) -> Result<(), CacheError> {
        if let Some(c) = self.convs.get_mut(&conv)
            && c.muted != muted
        {
            c.muted = muted;
            let c = c.clone();
            self.cache.put_conv(&c)?;
            self.event(Event::Convs);
        }
        Ok(())
    }

    // ---- internals ----

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn push(&mut self, waiting: Waiting, req: Request) -> u64 {
        let id = self.take_id();
        self.waiting.insert(id, waiting);
        self.frames.push_back(ClientFrame { id: Some(id), req });
        id
    }

    pub(crate) fn push_send(&mut self, p: &Pending) {
        let nonce = Some(p.nonce.clone());
        let text = p.text.clone();
        let req = match (&p.target, p.what.clone()) {
            (Target::Conv(conv), What::Text { reply_to }) => Request::Send {
                conv: *conv,
                text,
                nonce,
                reply_to,
            },
            (Target::User(user), What::Text { reply_to }) => Request::DmSend {
                user: user.clone(),
                text,
                nonce,
                reply_to,
            },
            (
                Target::Conv(conv),
                What::React {
                    target,
                    emoji,
                    remove,
                },
            ) => Request::React {
                conv: *conv,
                target,
                emoji,
                remove,
                nonce,
            },
            (Target::Conv(conv), What::Edit { target }) => Request::Edit {
                conv: *conv,
                target,
                text,
                nonce,
            },
            (Target::Conv(conv), What::Delete { target }) => Request::Delete {
                conv: *conv,
                target,
                nonce,
            },
            (Target::Conv(conv), What::Answer { target, accept }) => Request::Answer {
                conv: *conv,
                target,
                accept,
                nonce,
            },
            // Files go over HTTP: the driver is asked to upload.
            (_, What::File { .. }) => {
                self.start_upload(p);
                return;
            }
            // Changes name a message, so a conversation: never made so.
            (Target::User(_), _) => return,
        };
        self.push(Waiting::Send(p.nonce.clone()), req);
    }

    pub(crate) fn next_nonce(&mut self) -> Result<String, CacheError> {
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

    pub(crate) fn event(&mut self, e: Event) {
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
            Auth::Register {
                username,
                password,
                invite,
                setup,
            } => Request::Register {
                username: username.clone(),
                password: password.clone(),
                invite: invite.clone(),
                setup: setup.clone(),
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
        if self.is_visitor() {
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
    /// `from_seq` is where the user's view of its log starts (someone
    /// added to a group later sees nothing before it): nothing at or
    /// before it is waited for. Returns whether it was new.
    fn learn_conv(
        &mut self,
        conv: ConvId,
        kind: ConvKind,
        name: &str,
        last_seq: Seq,
        from_seq: Seq,
    ) -> Result<bool, CacheError> {
        if let Some(c) = self.convs.get_mut(&conv) {
            let mut changed = false;
            if c.name != name {
                c.name = name.to_owned();
                changed = true;
            }
            if c.synced < from_seq {
                c.synced = from_seq;
                c.read = c.read.max(from_seq);
                // What arrived ahead of the old position and is now at or
                // before the new one is behind us; what follows it is next.
                if let Some(live) = self.live.get_mut(&conv) {
                    live.ahead.retain(|&s| s > from_seq);
                    while live.ahead.remove(&(c.synced + 1)) {
                        c.synced += 1;
                    }
                }
                changed = true;
            }
            if changed {
                let c = c.clone();
                self.cache.put_conv(&c)?;
                self.event(Event::Convs);
            }
            return Ok(false);
        }
        let start = last_seq.saturating_sub(FIRST_PAGE).max(from_seq);
        let c = CachedConv {
            conv,
            kind,
            name: name.to_owned(),
            synced: start,
            read: start,
            unread: 0,
            mentions: 0,
            topic: String::new(),
            muted: false,
        };
        self.cache.put_conv(&c)?;
        self.convs.insert(conv, c);
        self.event(Event::Convs);
        self.fix_open();
        Ok(true)
    }

    pub(crate) fn forget_conv(&mut self, conv: ConvId) -> Result<(), CacheError> {
        if self.convs.remove(&conv).is_some() {
            self.live.remove(&conv);
            self.cache.remove_conv(conv)?;
            self.event(Event::Convs);
            self.fix_open();
        }
        Ok(())
    }

    /// Stores messages and advances each conversation's contiguous position.
    /// Returns whether a gap was seen (some message is missing before one received).
    fn take_messages(
        &mut self,
        messages: &[Message],
        live_event: bool,
        now_ms: u64,
    ) -> Result<bool, CacheError> {
        if messages.is_empty() {
            return Ok(false);
        }
        self.cache.put_messages(messages)?;
        let me = self.me.as_ref().map(|u| u.name.clone());
        let mut gap = false;
        let mut touched = BTreeSet::new();
        let mut applied = Vec::new();
        let mut changes = Vec::new();
        let mut notify = Vec::new();
        let mut files_posted = Vec::new();
        for m in messages {
            let Some(c) = self.convs.get_mut(&m.conv) else {
                gap = true;
                continue;
            };
            touched.insert(m.conv);
            if Some(&m.sender) == me.as_ref()
                && let Some(nonce) = &m.nonce
                && self
                    .outbox
                    .iter()
                    .any(|p| &p.nonce == nonce && matches!(p.what, What::File { .. }))
            {
                // The server posted our upload: it leaves the outbox.
                files_posted.push(nonce.clone());
            }
            let live = self.live.entry(m.conv).or_default();
            // Whoever wrote has stopped typing.
            live.typing.retain(|(u, _)| *u != m.sender);
            if m.seq <= c.synced {
                continue;
            }
            if live.ahead.contains(&m.seq) {
                // Had already; if it is next in line, move on through it.
                while live.ahead.remove(&(c.synced + 1)) {
                    c.synced += 1;
                }
                continue;
            }
            if Some(&m.sender) != me.as_ref() {
                if m.body.is_readable() && m.seq > c.read {
                    c.unread += 1;
                    let mentioned = me.as_ref().is_some_and(|me| mentions_of(m, me));
                    if mentioned {
                        c.mentions += 1;
                    }
                    if live_event && !c.muted && (mentioned || c.kind == ConvKind::Dm) {
                        notify.push((m.clone(), c.kind, c.name.clone()));
                    }
                    // Arrived live before its (new) conversation was known.
                    if let Some(i) = self
                        .unknown_live
                        .iter()
                        .position(|u| u.conv == m.conv && u.seq == m.seq)
                    {
                        self.unknown_live.swap_remove(i);
                        if !c.muted && (mentioned || c.kind == ConvKind::Dm) {
                            notify.push((m.clone(), c.kind, c.name.clone()));
                        }
                    }
                }
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
            if let Body::System(e) = &m.body {
                applied.push((m.conv, m.sender.clone(), e.clone()));
            }
            if matches!(m.body, Body::Edit { .. } | Body::Delete { .. }) {
                changes.push(m.clone());
            }
        }
        for nonce in files_posted {
            self.file_posted(&nonce)?;
        }
        // What an edit or delete changes, the cache changes too (as the
        // server did), so a deleted text is not kept here.
        for m in changes {
            self.apply_change(&m)?;
        }
        for conv in &touched {
            if let Some(c) = self.convs.get(conv) {
                let c = c.clone();
                self.cache.put_conv(&c)?;
            }
            self.event(Event::Messages(*conv));
        }
        for (conv, sender, e) in applied {
            self.apply_system(conv, &sender, &e)?;
        }
        self.view_saw_messages(&touched, now_ms)?;
        let in_view = self.view.reading.then(|| self.opened_conv()).flatten();
        for (m, kind, name) in notify {
            let title = match kind {
                ConvKind::Dm => m.sender.clone(),
                _ => format!("{} in {}", m.sender, crate::describe::label(kind, &name)),
            };
            let body = confab_proto::limits::clip(
                &crate::markdown::plain(m.body.as_text().unwrap_or_default()),
                NOTIFY_CHARS,
            );
            self.event(Event::Notify {
                conv: m.conv,
                title,
                body,
                in_view: in_view == Some(m.conv),
            });
        }
        if live_event {
            self.event(Event::Convs);
        }
        Ok(gap)
    }

    /// An edit or delete, applied to its target if cached.
    fn apply_change(&mut self, m: &Message) -> Result<(), CacheError> {
        let Some(target) = m.body.target() else {
            return Ok(());
        };
        let Some(mut old) = self
            .cache
            .messages(m.conv, Some(target + 1), 1)?
            .into_iter()
            .find(|o| o.seq == target)
        else {
            return Ok(());
        };
        match m.body {
            Body::Delete { .. } => {
                old.body = Body::Deleted;
                self.cache.put_messages(std::slice::from_ref(&old))
            }
            // The new text is read from the server, which gives it only to
            // those who may read the message.
            Body::Edit { .. } if matches!(old.body, Body::Text { .. }) => {
                if self.state == ConnState::Online {
                    self.push(
                        Waiting::Refresh(m.conv, target),
                        Request::History {
                            conv: m.conv,
                            before: Some(target + 1),
                            after: None,
                            limit: Some(1),
                        },
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// What a group's log entry changes here: its name, members, owner.
    fn apply_system(
        &mut self,
        conv: ConvId,
        sender: &str,
        e: &SystemEvent,
    ) -> Result<(), CacheError> {
        let mine = self.me.as_ref().is_some_and(|m| m.name == sender);
        if let SystemEvent::Left { .. } = e
            && mine
        {
            // Left from another device.
            return self.forget_conv(conv);
        }
        if let SystemEvent::Topic { topic } = e {
            self.set_topic(conv, topic)?;
        }
        if let SystemEvent::Renamed { name } = e
            && let Some(c) = self.convs.get(&conv)
        {
            let (kind, last) = (c.kind, c.synced);
            self.learn_conv(conv, kind, name, last, 0)?;
        }
        let live = self.live.entry(conv).or_default();
        if let Some(g) = live.group.as_mut() {
            match e {
                SystemEvent::Added { users } => {
                    g.members.extend(users.iter().cloned());
                    g.members.sort();
                    g.members.dedup();
                }
                SystemEvent::Left { owner } => {
                    g.members.retain(|m| m != sender);
                    if let Some(o) = owner {
                        g.owner = o.clone();
                    }
                }
                SystemEvent::Renamed { name } => g.name = name.clone(),
                SystemEvent::AddPolicy { owner_only } => g.owner_only_add = *owner_only,
                SystemEvent::Created { .. }
                | SystemEvent::Topic { .. }
                | SystemEvent::StreamStarted { .. }
                | SystemEvent::StreamEnded { .. } => {}
            }
        }
        if matches!(e, SystemEvent::Added { .. } | SystemEvent::Left { .. }) {
            // Presence of the newcomers is not known here: ask again.
            if self.state == ConnState::Online
                && self.live.get(&conv).is_some_and(|l| l.members.is_some())
            {
                self.push(Waiting::Members(conv), Request::Members { conv });
            }
            self.event(Event::Members(conv));
        }
        Ok(())
    }

    pub(crate) fn acknowledge(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.cache.remove_outbox(nonce)?;
        self.outbox.retain(|p| p.nonce != nonce);
        Ok(())
    }

    fn on_reply(
        &mut self,
        waiting: Waiting,
        body: ServerBody,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        match (waiting, body) {
            (
                Waiting::Hello,
                ServerBody::Hello {
                    limits,
                    heartbeat_ms,
                    udp_port,
                    files,
                    ..
                },
            ) => {
                self.limits = limits;
                self.files = files;
                self.heartbeat_ms = heartbeat_ms.max(1000);
                self.udp_port = udp_port;
                if let Some(req) = self.login_request() {
                    self.push(Waiting::Login, req);
                }
            }
            (
                Waiting::Login,
                ServerBody::Session {
                    user,
                    token,
                    convs,
                    streams,
                },
            ) => {
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
                    self.friends = Friends::default();
                    self.cache.set(KEY_FRIENDS, None)?;
                }
                let json = serde_json::to_string(&user).expect("user info serializes");
                self.cache.set(KEY_USER, Some(&json))?;
                self.me = Some(user.clone());
                let known: BTreeSet<ConvId> = convs.iter().map(|c| c.conv).collect();
                for c in &convs {
                    self.learn_conv(c.conv, c.kind, &c.name, c.last_seq, c.from_seq)?;
                    self.set_topic(c.conv, &c.topic)?;
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
                // Who is live in the channels now.
                for c in convs.iter().filter(|c| c.kind == ConvKind::Channel) {
                    let now: Vec<StreamInfo> = streams
                        .iter()
                        .filter(|s| s.conv == c.conv)
                        .cloned()
                        .collect();
                    if now.is_empty() && !self.live.contains_key(&c.conv) {
                        continue;
                    }
                    let live = &mut self.live.entry(c.conv).or_default().streams;
                    if *live != now {
                        *live = now;
                        self.event(Event::Streams(c.conv));
                    }
                }
                self.set_state(ConnState::Online);
                self.event(Event::LoggedIn(user.clone()));
                // The sync's answer brings the read positions too (after
                // the messages they cover).
                self.sync();
                for p in self.outbox.clone() {
                    self.push_send(&p);
                }
                if user.role != Role::Visitor {
                    self.push(Waiting::Friends, Request::Friends {});
                    if self.udp_secret.is_some() && self.udp_port.is_some() {
                        self.push(Waiting::UdpOpen, Request::UdpOpen {});
                    }
                }
                // What is on screen needs its members again (presence
                // changed unseen), and a group its settings.
                self.view_logged_in(now_ms);
            }
            (Waiting::Sync, ServerBody::Synced { convs }) => {
                for sc in &convs {
                    self.learn_conv(sc.conv, sc.kind, &sc.name, 0, sc.from_seq)?;
                    self.set_topic(sc.conv, &sc.topic)?;
                }
                for sc in convs {
                    self.take_messages(&sc.messages, false, now_ms)?;
                    self.server_read(sc.conv, sc.read, true)?;
                    if sc.more {
                        self.fetch_newer(sc.conv);
                    }
                }
                // What waited for its conversation has met it, or never will.
                self.unknown_live.clear();
                self.event(Event::Convs);
                if std::mem::take(&mut self.resync) {
                    self.sync();
                }
            }
            (Waiting::Newer(conv), ServerBody::Messages { messages, more, .. }) => {
                let before = self.convs.get(&conv).map(|c| c.synced);
                self.take_messages(&messages, false, now_ms)?;
                let after = self.convs.get(&conv).map(|c| c.synced);
                // Only while it moves us on: a page that does not is not
                // asked for again.
                if more && after > before {
                    self.fetch_newer(conv);
                }
            }
            (Waiting::Older(conv), ServerBody::Messages { messages, more, .. }) => {
                self.cache.put_messages(&messages)?;
                self.older_done(conv, more);
            }
            (Waiting::Send(nonce), ServerBody::Sent { message, .. }) => {
                self.acknowledge(&nonce)?;
                if !self.convs.contains_key(&message.conv) {
                    // The first DM to someone: its conversation is new.
                    self.sync();
                }
                self.take_messages(std::slice::from_ref(&message), false, now_ms)?;
            }
            (Waiting::ChannelList, ServerBody::Channels { channels }) => {
                for ch in channels.iter().filter(|c| c.joined) {
                    if self.learn_conv(ch.conv, ConvKind::Channel, &ch.name, ch.last_seq, 0)? {
                        self.sync();
                    }
                }
            }
            (Waiting::Members(conv), ServerBody::Members { members, .. }) => {
                self.live.entry(conv).or_default().members = Some(members);
                self.event(Event::Members(conv));
            }
            (Waiting::Streams(conv), ServerBody::Streams { streams }) => {
                self.live.entry(conv).or_default().streams = streams;
                self.event(Event::Streams(conv));
            }
            (Waiting::Group(conv), ServerBody::Group { group }) => {
                self.live.entry(conv).or_default().group = Some(group);
                self.event(Event::Members(conv));
            }
            (
                Waiting::Friends,
                ServerBody::Friends {
                    friends,
                    incoming,
                    outgoing,
                    blocked,
                },
            ) => {
                self.friends = Friends {
                    friends,
                    incoming,
                    outgoing,
                    blocked,
                };
                self.save_friends()?;
            }
            (Waiting::UdpOpen, ServerBody::Udp { session }) => {
                #[cfg(feature = "udp")]
                if let (Some(secret), Some(port), Ok(session)) = (
                    self.udp_secret,
                    self.udp_port,
                    u64::from_str_radix(&session, 16),
                ) {
                    self.udp = Some(crate::udp::Path::new(&secret, session, port, now_ms));
                }
                #[cfg(not(feature = "udp"))]
                let _ = session;
            }
            (Waiting::Refresh(conv, seq), ServerBody::Messages { messages, .. }) => {
                let again: Vec<Message> = messages.into_iter().filter(|m| m.seq == seq).collect();
                if !again.is_empty() {
                    self.cache.put_messages(&again)?;
                    self.event(Event::Messages(conv));
                }
            }
            (Waiting::Typing | Waiting::Read | Waiting::Refresh(..), _) => {}
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

    pub(crate) fn save_friends(&mut self) -> Result<(), CacheError> {
        let json = serde_json::to_string(&self.friends).expect("friends serialize");
        self.cache.set(KEY_FRIENDS, Some(&json))?;
        self.event(Event::Friends);
        Ok(())
    }

    /// An action was answered: apply it here, then tell the UI.
    fn on_done(&mut self, action: Action, body: ServerBody, now_ms: u64) {
        if let ServerBody::Token { token } = &body {
            // A changed password revoked every token; this is the new one.
            if let Err(e) = self.cache.set(KEY_TOKEN, Some(token)) {
                self.event(Event::Error(e.to_string()));
            }
            self.auth = Some(Auth::Token(token.clone()));
        }
        let result = match body {
            ServerBody::Error { code, message, .. } => Err(Refusal {
                code: Some(code),
                message,
            }),
            body => action.outcome(body).ok_or_else(|| Refusal {
                code: None,
                message: format!("the server answered {:?} unexpectedly", action),
            }),
        };
        if let Ok(outcome) = &result
            && let Err(e) = self.apply_done(&action, outcome, now_ms)
        {
            self.event(Event::Error(e.to_string()));
        }
        self.event(Event::Done { action, result });
    }

    /// What a successful action changes in the client's own state.
    fn apply_done(
        &mut self,
        action: &Action,
        outcome: &Outcome,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        match outcome {
            Outcome::Joined(channel) => {
                if self.learn_conv(
                    channel.conv,
                    ConvKind::Channel,
                    &channel.name,
                    channel.last_seq,
                    0,
                )? {
                    self.sync();
                }
                self.open(Target::Conv(channel.conv), now_ms);
            }
            Outcome::Left(name) => {
                if let Some(c) = self.conv_named(ConvKind::Channel, name) {
                    let conv = c.conv;
                    self.forget_conv(conv)?;
                }
            }
            Outcome::Invisible(invisible) => {
                if let Some(me) = &mut self.me {
                    me.invisible = *invisible;
                    let json = serde_json::to_string(me).expect("user info serializes");
                    self.cache.set(KEY_USER, Some(&json))?;
                }
            }
            Outcome::LoggedOut => self.logged_out()?,
            Outcome::Friendship { user, state } => {
                let online = self
                    .friends
                    .friends
                    .iter()
                    .any(|f| &f.name == user && f.online);
                self.friends.set(user, *state, online);
                self.save_friends()?;
                if *state == FriendState::Friends && !online {
                    // Their presence comes with the list.
                    self.push(Waiting::Friends, Request::Friends {});
                }
            }
            Outcome::Group(group) => {
                // Someone who makes a group sees all of it; the one who
                // adds or renames is in it already.
                let new =
                    self.learn_conv(group.conv, ConvKind::Group, &group.name, group.last_seq, 0)?;
                self.live.entry(group.conv).or_default().group = Some(group.clone());
                if new {
                    self.sync();
                }
                if let Action::CreateGroup { .. } = action {
                    self.open(Target::Conv(group.conv), now_ms);
                }
            }
            Outcome::GroupLeft(conv) => self.forget_conv(*conv)?,
            Outcome::Admin(_) => {}
            Outcome::Streams { conv, streams } => {
                self.live.entry(*conv).or_default().streams = streams.clone();
                self.event(Event::Streams(*conv));
            }
            // (The `stream_started` and `stream_ended` events say it to all.)
            Outcome::Live { .. }
            | Outcome::Watching { .. }
            | Outcome::StreamStopped(_)
            | Outcome::Unwatched(_)
            | Outcome::IceServers { .. }
            | Outcome::Signalled => {}
            Outcome::TopicSet { conv, topic } => self.set_topic(*conv, topic)?,
            Outcome::Found { .. }
            | Outcome::PasswordChanged
            | Outcome::Invited { .. }
            | Outcome::Channels(_)
            | Outcome::Users(_)
            | Outcome::Whoami(_)
            | Outcome::GroupAdded { .. } => {}
        }
        Ok(())
    }

    /// After `logout`: no session, no connection.
    /// After a logout nothing of the account stays here: its
    /// conversations and messages, what it had not sent yet, its drafts and
    /// friends (a shared computer keeps no one's chat).
    fn logged_out(&mut self) -> Result<(), CacheError> {
        self.forget_login()?;
        self.hang_up();
        let convs: Vec<ConvId> = self.convs.keys().copied().collect();
        for conv in &convs {
            self.forget_conv(*conv)?;
        }
        for p in std::mem::take(&mut self.outbox) {
            self.cache.remove_outbox(&p.nonce)?;
        }
        self.resend.clear();
        self.read_up.clear();
        self.read_here.clear();
        self.friends = Friends::default();
        self.cache.set(KEY_FRIENDS, None)?;
        self.cache.set(KEY_USER, None)?;
        self.me = None;
        self.view_logged_out(&convs)?;
        if let ConnState::Offline { .. } = self.state {
            self.set_state(ConnState::Offline { retry_at_ms: None });
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
                if matches!(
                    code,
                    ErrorCode::Internal | ErrorCode::ShuttingDown | ErrorCode::RateLimited
                ) =>
            {
                // The server's trouble, not the login's: try again later.
                self.closing = Some(message);
            }
            Waiting::Hello | Waiting::Login => {
                if matches!(self.auth, Some(Auth::Token(_))) {
                    self.cache.set(KEY_TOKEN, None)?;
                }
                self.auth = None;
                self.event(Event::LoginFailed { code, message });
                // Closed, and not retried until the user logs in again.
                self.closing = Some(String::new());
                self.set_state(ConnState::Offline { retry_at_ms: None });
            }
            Waiting::Send(nonce) => {
                if matches!(code, ErrorCode::Internal | ErrorCode::ShuttingDown) {
                    // Kept: the next session sends it again.
                    return Ok(());
                }
                if let Some(p) = self.outbox.iter().find(|p| p.nonce == nonce).cloned() {
                    self.acknowledge(&nonce)?;
                    // A refused message comes back to be fixed; a refused
                    // edit, reaction or delete is only reported (its text
                    // in the draft would go out as a new message).
                    if p.is_message() {
                        self.restore_draft(&p);
                    }
                    self.event(Event::SendFailed {
                        pending: p,
                        message,
                    });
                }
            }
            Waiting::Older(conv)
            | Waiting::Newer(conv)
            | Waiting::Members(conv)
            | Waiting::Group(conv)
                if code == ErrorCode::NotFound =>
            {
                self.forget_conv(conv)?;
            }
            // No UDP here: typing stays on the stream. Typing refused: nothing to tell.
            Waiting::UdpOpen | Waiting::Typing | Waiting::Read | Waiting::Refresh(..) => {}
            other => {
                self.event(Event::Error(format!("{message} (while {other:?})")));
            }
        }
        Ok(())
    }

    fn on_event(&mut self, body: ServerBody, now_ms: u64) -> Result<(), CacheError> {
        match body {
            ServerBody::Message { message } => {
                let known = self.convs.contains_key(&message.conv);
                if !known && self.unknown_live.len() < MAX_EVENTS / 128 {
                    // A first DM: the sync that learns its conversation
                    // brings it again, and it is notified then.
                    self.unknown_live.push(message.clone());
                }
                let gap = self.take_messages(std::slice::from_ref(&message), true, now_ms)?;
                if gap || !known {
                    self.sync();
                }
            }
            ServerBody::Ping {} => self.frames.push_back(ClientFrame {
                id: None,
                req: Request::Pong {},
            }),
            ServerBody::Lagged {} => self.sync(),
            ServerBody::Read { conv, seq } => self.server_read(conv, seq, false)?,
            // The answer to our own heartbeat `ping`; hearing it was the point.
            ServerBody::Pong {} => {}
            ServerBody::Avatar { user } => self.event(Event::Avatar(user)),
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
                if self.friends.presence(&user, online) {
                    self.save_friends()?;
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
                    0,
                )? {
                    self.sync();
                }
                self.event(Event::Notice(format!(
                    "{by} invited you to #{}",
                    channel.name
                )));
            }
            ServerBody::GroupAdded {
                group,
                by,
                from_seq,
            } => {
                let conv = group.conv;
                let name = group.name.clone();
                if self.learn_conv(conv, ConvKind::Group, &name, group.last_seq, from_seq)? {
                    self.sync();
                }
                self.live.entry(conv).or_default().group = Some(group);
                if self.me.as_ref().is_none_or(|m| m.name != by) {
                    self.event(Event::Notice(format!("{by} added you to “{name}”")));
                }
            }
            ServerBody::ChannelDeleted { conv, channel } => {
                self.forget_conv(conv)?;
                self.event(Event::Notice(format!("#{channel} was deleted")));
            }
            ServerBody::FriendUpdate {
                user,
                state,
                online,
            } => {
                let before = self.friends.state(&user);
                self.friends.set(&user, state, online);
                self.save_friends()?;
                match (before, state) {
                    (_, FriendState::Incoming) => {
                        self.event(Event::Notice(format!("{user} asks to be your friend")))
                    }
                    (FriendState::Outgoing, FriendState::Friends) => {
                        self.event(Event::Notice(format!("{user} accepted: you are friends")))
                    }
                    _ => {}
                }
            }
            ServerBody::Typing { conv, user } => self.someone_typing(conv, user, now_ms),
            ServerBody::StreamStarted { stream } => {
                let conv = stream.conv;
                let streams = &mut self.live.entry(conv).or_default().streams;
                streams.retain(|s| s.id != stream.id);
                streams.push(stream);
                self.event(Event::Streams(conv));
            }
            ServerBody::StreamEnded { conv, stream } => {
                if let Some(l) = self.live.get_mut(&conv) {
                    l.streams.retain(|s| s.id != stream);
                }
                self.event(Event::Streams(conv));
            }
            // For the browser client's WebRTC, which it alone speaks.
            ServerBody::StreamViewers { stream, viewers } => {
                self.event(Event::StreamViewers { stream, viewers })
            }
            ServerBody::Signal {
                stream,
                watch,
                from,
                data,
            } => self.event(Event::Signal {
                stream,
                watch,
                from,
                data,
            }),
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
