//! Storage for Confab, behind one trait per concern so that backends can be
//! swapped without touching the server:
//!
//! - [`Users`] holds accounts, password hashes, roles, status and session
//!   tokens.
//! - [`Convs`] holds conversations (channels, direct-message pairs and
//!   groups) and their members.
//! - [`Messages`] holds the conversation logs, with per-conversation
//!   sequence numbers, idempotent appends, and the changes a log entry
//!   records ([`Effect`]), applied in the same transaction as the entry.
//! - [`Social`] holds friendships, friend requests and blocks.
//! - [`Files`] holds uploads in progress, files (where each was posted or
//!   offered) and the content-addressed blobs they point to. The bytes
//!   live on disk, named by their SHA-256; the store only knows of them.
//!
//! [`Store`] is all of them. [`sqlite::SqliteStore`] is the embedded default.
//! A new backend implements the traits and runs the shared suite in
//! [`conformance`] (see `tests/sqlite.rs` for how). Something new to store:
//! a method on the right trait, its SQLite implementation, a new entry in
//! `sqlite::MIGRATIONS` (never edit an old one) and a conformance case.

use async_trait::async_trait;
use confab_proto::{Body, ConvId, ConvKind, Message, Role, Seq};

pub mod conformance;
pub mod sqlite;

pub use sqlite::SqliteStore;

/// A user's stable id inside the store. Never shown on the wire.
pub type UserId = i64;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the name `{0}` is already taken")]
    NameTaken(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("storage backend failed: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub invisible: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled (or banned) by an admin: may not log in.
    pub disabled: bool,
}

/// A conversation: a channel, the direct-message pair of two users, or a
/// group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvRecord {
    pub id: ConvId,
    pub kind: ConvKind,
    /// What people call it: the channel's or group's name. For a DM pair
    /// the store's key (`dm:<low id>:<high id>`), except in
    /// [`Convs::convs_of`], which gives the other user's name.
    pub name: String,
    /// Readable by members only: private channels, DMs and groups.
    pub private: bool,
    pub topic: String,
    /// The creator of a channel or group (a group passes to another member
    /// when its owner leaves); `None` for DM pairs.
    pub owner: Option<UserId>,
    /// Groups: only the owner may add people.
    pub owner_only_add: bool,
    pub last_seq: Seq,
}

/// A conversation a user is in, and where their view of its log starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConv {
    pub conv: ConvRecord,
    /// See [`Membership::from_seq`].
    pub from_seq: Seq,
    /// The member has read it up to here (on any device).
    pub read: Seq,
}

/// A channel with what a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub conv: ConvRecord,
    pub owner_name: String,
    pub members: u32,
}

/// One member of one conversation, as the server mirrors it in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub conv: ConvId,
    /// The conversation's kind (a DM's rules differ).
    pub kind: ConvKind,
    pub user: UserId,
    /// The member sees the log after this seq: 0, or for someone added to
    /// a group later, the seq just before the entry that added them.
    pub from_seq: Seq,
}

/// Where a new log entry goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An existing conversation.
    Conv(ConvId),
    /// The DM pair of two users, created with both as members if it does
    /// not exist yet (in the same transaction as the message).
    Dm(UserId, UserId),
    /// A new group, owned by the sender, with the sender and `members`.
    NewGroup {
        name: String,
        owner_only_add: bool,
        members: Vec<UserId>,
    },
}

/// A change to a conversation that its log entry records. The store
/// applies it in the same transaction as the entry, so the two never part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// These users become members, seeing the log from this entry on.
    /// Those already members are left as they are.
    AddMembers(Vec<UserId>),
    /// The sender leaves. When they owned it, whoever has been in it
    /// longest owns it now, and a [`SystemEvent::Left`] body is given that
    /// owner's name. Fails (`NotFound`) if the sender is not a member.
    ///
    /// [`SystemEvent::Left`]: confab_proto::SystemEvent::Left
    Leave,
    Rename(String),
    /// Groups: whether only the owner may add people.
    AddPolicy(bool),
    /// Channels: the new topic.
    Topic(String),
    /// The sender's text message `target` now reads `text` (edited at the
    /// entry's time). Fails (`NotFound`) unless `target` is a text message
    /// of the sender's.
    Edit {
        target: Seq,
        text: String,
    },
    /// The message `target` becomes [`Body::Deleted`], its text gone,
    /// and a file it carried is let go (its blob collected unless another
    /// file has the same bytes). Fails (`NotFound`) unless it is a text,
    /// file or offer message.
    Delete {
        target: Seq,
    },
    /// This entry posts (or offers) the stored file `id`: the file now
    /// belongs to this conversation and entry.
    File(String),
    /// The sender answers the offer `target` made to them: the offer
    /// records the answer; a declined offer's file is let go. Fails
    /// (`NotFound`) unless `target` is an unanswered offer to the sender.
    Answer {
        target: Seq,
        accept: bool,
    },
}

/// A log entry to append. The store assigns `id` and `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub dest: Dest,
    pub sender: UserId,
    pub sender_name: String,
    pub body: Body,
    pub nonce: Option<String>,
    /// Server time, ms since the Unix epoch.
    pub ts: i64,
    /// A member who must not see this entry (a DM to someone who blocked
    /// the sender): they read it as [`Body::Withheld`].
    pub hidden_for: Option<UserId>,
    pub effect: Option<Effect>,
}

impl NewMessage {
    /// A text message to an existing conversation.
    pub fn text(conv: ConvId, sender: UserId, sender_name: &str, text: &str, ts: i64) -> Self {
        NewMessage {
            dest: Dest::Conv(conv),
            sender,
            sender_name: sender_name.to_owned(),
            body: Body::text(text),
            nonce: None,
            ts,
            hidden_for: None,
            effect: None,
        }
    }
}

/// The result of one append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The entry as stored (for a duplicate: the original).
    pub message: Message,
    /// The sender had already sent this nonce here; nothing was stored.
    pub duplicate: bool,
    /// The entry's conversation was created with it (a first DM, a new group).
    pub created: bool,
}

/// Which page of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages.
    Latest,
    /// The newest `limit` messages with `seq < before`.
    Before(Seq),
    /// The oldest `limit` messages with `seq > after`.
    After(Seq),
}

/// Who is reading history, for what they may see of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub user: UserId,
    /// Only entries after this seq (see [`Membership::from_seq`]).
    pub from_seq: Seq,
}

/// A user's friends, requests and blocks, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relations {
    pub friends: Vec<(UserId, String)>,
    /// Requests to this user, except from users they block.
    pub incoming: Vec<(UserId, String)>,
    pub outgoing: Vec<(UserId, String)>,
    pub blocked: Vec<(UserId, String)>,
}

/// Every friendship and block, for the server's mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllRelations {
    /// Each pair once.
    pub friendships: Vec<(UserId, UserId)>,
    /// (blocker, blocked).
    pub blocks: Vec<(UserId, UserId)>,
}

#[async_trait]
pub trait Users: Send + Sync {
    /// Creates an account; `NameTaken` if the name exists.
    async fn create_user(&self, name: &str, password_hash: &str, role: Role) -> Result<UserRecord>;
    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>>;
    /// Replaces the password hash and revokes every token of the user.
    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<()>;
    async fn set_invisible(&self, id: UserId, invisible: bool) -> Result<()>;
    /// Stores a session token (already hashed by the caller).
    async fn add_token(&self, user: UserId, token_hash: &str) -> Result<()>;
    /// The user of a token made at or after `not_before_ms` (tokens older
    /// than that have expired; 0 for no expiry).
    async fn user_by_token(
        &self,
        token_hash: &str,
        not_before_ms: i64,
    ) -> Result<Option<UserRecord>>;
    async fn revoke_token(&self, token_hash: &str) -> Result<()>;
    async fn count_users(&self) -> Result<u64>;
    /// Whether an admin account (not disabled) exists.
    async fn has_admin(&self) -> Result<bool>;
}

#[async_trait]
pub trait Convs: Send + Sync {
    /// Creates a channel with `owner` as its first member. A public
    /// channel's name is unique among public channels (`NameTaken`); a
    /// private channel's name is its own, so that it never blocks anyone
    /// else's choice of name and is never revealed by one.
    async fn create_channel(
        &self,
        name: &str,
        private: bool,
        topic: &str,
        owner: UserId,
    ) -> Result<ConvRecord>;
    /// On a store with no conversation at all (a fresh server): creates the
    /// public channel `name`, with no owner (admins manage it), and returns
    /// it. Otherwise does nothing.
    async fn first_channel(&self, name: &str, topic: &str) -> Result<Option<ConvRecord>>;
    /// The public channel named `name`.
    async fn public_channel(&self, name: &str) -> Result<Option<ConvRecord>>;
    /// The channel `viewer` means by `name`: a private channel of that name
    /// they are in, else the public one.
    async fn channel_for(&self, name: &str, viewer: UserId) -> Result<Option<ConvRecord>>;
    async fn conv(&self, id: ConvId) -> Result<Option<ConvRecord>>;
    /// All public channels and the private ones `viewer` is in, by name.
    async fn list_channels(&self, viewer: UserId) -> Result<Vec<ChannelRow>>;
    /// Deletes a conversation with its members and messages.
    async fn delete_conv(&self, id: ConvId) -> Result<()>;
    /// Adds a member who sees the whole log; false if already one.
    async fn add_member(&self, conv: ConvId, user: UserId) -> Result<bool>;
    /// Removes a member; false if not one.
    async fn remove_member(&self, conv: ConvId, user: UserId) -> Result<bool>;
    /// Members of a conversation with their records, by name.
    async fn members(&self, conv: ConvId) -> Result<Vec<UserRecord>>;
    /// Every membership: the server mirrors them in memory.
    async fn all_memberships(&self) -> Result<Vec<Membership>>;
    /// The DM conversation of two users, if they have one. (The first
    /// message between them creates it: [`Dest::Dm`].)
    async fn dm_conv(&self, a: UserId, b: UserId) -> Result<Option<ConvRecord>>;
    /// Conversations `user` is in, with where their view of each starts;
    /// for DMs `name` is the other user's name.
    async fn convs_of(&self, user: UserId) -> Result<Vec<MemberConv>>;
}

#[async_trait]
pub trait Messages: Send + Sync {
    /// Appends entries in order, durably, in one transaction where the
    /// backend allows, each with its [`Effect`] and any conversation its
    /// [`Dest`] creates. One result per entry, in the same order; one
    /// failing entry does not undo the others.
    async fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>>;
    /// A page of history as `reader` may see it, oldest first, plus whether
    /// more lie beyond it in the direction asked.
    async fn history(
        &self,
        conv: ConvId,
        page: Page,
        limit: u32,
        reader: Reader,
    ) -> Result<(Vec<Message>, bool)>;
    async fn count_messages(&self) -> Result<u64>;
    /// One entry as `reader` sees it.
    async fn message(&self, conv: ConvId, seq: Seq, reader: Reader) -> Result<Option<Message>>;
    /// Moves `user`'s read position in `conv` to `seq` unless it is already
    /// further; returns the position now (`NotFound` if not a member).
    async fn set_read(&self, conv: ConvId, user: UserId, seq: Seq) -> Result<Seq>;
    /// Text messages matching every word of `query` (as prefixes) that
    /// `reader` may read: in conversations they are in (from where their
    /// view starts, never withheld from them) and in public channels.
    /// Newest first, ids below `before`.
    async fn search(&self, q: Search) -> Result<(Vec<Hit>, bool)>;
}

/// A search of messages (see [`Messages::search`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub reader: UserId,
    /// Visitors read public channels only.
    pub visitor: bool,
    pub query: String,
    pub conv: Option<ConvId>,
    pub before: Option<u64>,
    pub limit: u32,
}

/// A message found, with its conversation's kind and name (a DM's: the
/// other member's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub kind: ConvKind,
    pub name: String,
    pub message: Message,
}

/// `query` as an FTS5 expression: every word (letters and digits, as the
/// index's tokenizer splits them) quoted, so that none is read as an
/// operator, and matched as a prefix from three characters on (a shorter
/// prefix would expand over much of the index). `None` when it has no word.
pub fn fts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| {
            if w.chars().count() >= 3 {
                format!("\"{w}\"*")
            } else {
                format!("\"{w}\"")
            }
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[async_trait]
pub trait Social: Send + Sync {
    /// Records `from`'s request to `to`; false if it was there.
    async fn add_friend_request(&self, from: UserId, to: UserId) -> Result<bool>;
    /// Removes `from`'s request to `to`; false if there was none.
    async fn remove_friend_request(&self, from: UserId, to: UserId) -> Result<bool>;
    /// Makes `a` and `b` friends and removes the requests between them;
    /// false (and nothing changes) if either blocks the other.
    async fn make_friends(&self, a: UserId, b: UserId) -> Result<bool>;
    /// Ends a friendship; false if there was none.
    async fn remove_friends(&self, a: UserId, b: UserId) -> Result<bool>;
    /// `user` blocks `other`: their friendship and `user`'s request to
    /// `other` end. (`other`'s request to `user`, if any, stays: `other`
    /// must not learn of the block, and `user` never sees it.) False if
    /// already blocked.
    async fn block(&self, user: UserId, other: UserId) -> Result<bool>;
    /// Ends a block. A request `other` made meanwhile shows from now on.
    async fn unblock(&self, user: UserId, other: UserId) -> Result<bool>;
    async fn relations_of(&self, user: UserId) -> Result<Relations>;
    /// Every friendship and block: the server mirrors them in memory.
    async fn all_relations(&self) -> Result<AllRelations>;
}

/// Everything the server needs from storage.
/// An account as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_ms: i64,
    /// Session tokens in force.
    pub sessions: u64,
}

/// A channel as an admin sees it (private ones included, by their title).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub id: ConvId,
    pub name: String,
    pub private: bool,
    pub owner: Option<String>,
    pub members: u64,
    pub last_seq: Seq,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub ts_ms: i64,
    /// Who did it (a user name), if anyone was logged in.
    pub actor: Option<String>,
    /// What: `login`, `login_failed`, `register`, `user_disable`, ...
    pub action: String,
    /// Whom or what it was done to.
    pub target: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    pub detail: Option<String>,
}

/// What an admin or the server records; the store adds the id and time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAudit {
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
}

#[async_trait]
pub trait Admin: Send + Sync {
    /// Accounts whose name contains `query` (all for ""), by name.
    async fn list_users(&self, query: &str, limit: u32) -> Result<Vec<UserSummary>>;
    async fn set_role(&self, id: UserId, role: Role) -> Result<()>;
    /// Disabling also revokes every session token of the user.
    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<()>;
    /// Revokes every session token of the user; how many there were.
    async fn revoke_tokens(&self, id: UserId) -> Result<u64>;
    /// Deletes an account. Its messages stay in their logs (a log has no
    /// holes), under a name no one can log in with or take:
    /// `deleted-<id>`. Memberships, friendships, requests, blocks and
    /// tokens go.
    async fn delete_user(&self, id: UserId) -> Result<()>;
    /// Every channel, private ones included.
    async fn all_channels(&self) -> Result<Vec<ChannelSummary>>;
    /// Makes `user` the owner of a channel (and a member).
    async fn set_owner(&self, conv: ConvId, user: UserId) -> Result<()>;
    async fn add_audit(&self, entry: NewAudit) -> Result<()>;
    /// The newest `limit` entries below id `before` (all if None), newest first.
    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Stores an invitation (its hash) good for `uses` registrations until `expires_ms`.
    async fn create_invite(
        &self,
        hash: &str,
        by: Option<UserId>,
        expires_ms: i64,
        uses: u32,
    ) -> Result<()>;
    /// Uses an invitation once; false if unknown, used up or expired.
    async fn use_invite(&self, hash: &str, now_ms: i64) -> Result<bool>;
}

/// What a finished upload becomes (see [`UploadRecord::target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadTarget {
    /// A `file` message in this conversation.
    Conv(ConvId),
    /// An offer to this user.
    Offer(UserId),
    /// The uploader's profile picture.
    Avatar,
}

/// An upload in progress (tus). Its bytes so far are a file on disk named
/// by `id`; how many there are is that file's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// 32 hex digits, made by the server.
    pub id: String,
    pub owner: UserId,
    /// The whole file's length in bytes.
    pub length: u64,
    /// The whole file's SHA-256 as the uploader declared it (hex).
    pub sha256: String,
    /// The file's name as shown (cleaned).
    pub name: String,
    pub target: UploadTarget,
    /// The message's nonce, for an idempotent post.
    pub nonce: Option<String>,
    pub created_ms: i64,
    /// Unfinished by then, it is collected.
    pub expires_ms: i64,
}

/// A stored file: a name and a place for a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// 32 hex digits, made by the server.
    pub id: String,
    /// Its bytes: the blob with this SHA-256 (hex).
    pub blob: String,
    pub owner: UserId,
    pub name: String,
    pub size: u64,
    pub mime: String,
    /// An image's (width, height), and its thumbnail's blob and type.
    pub image: Option<(u32, u32)>,
    pub thumb: Option<(String, u64)>,
    /// Where it was posted or offered, once it was ([`Effect::File`]).
    pub conv: Option<ConvId>,
    pub seq: Option<Seq>,
    /// An offer: to whom, until when, and the answer once given.
    pub offer_to: Option<UserId>,
    pub expires_ms: Option<i64>,
    pub accepted: Option<bool>,
    pub created_ms: i64,
}

#[async_trait]
pub trait Files: Send + Sync {
    async fn add_upload(&self, upload: UploadRecord) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>>;
    /// Forgets an upload (finished, terminated or collected).
    async fn remove_upload(&self, id: &str) -> Result<()>;
    /// Uploads unfinished at `now_ms` past their expiry.
    async fn expired_uploads(&self, now_ms: i64) -> Result<Vec<String>>;
    /// Bytes `user` holds: their files, plus the full length of their
    /// uploads in progress.
    async fn bytes_held(&self, user: UserId) -> Result<u64>;
    /// Uploads `user` has in progress.
    async fn uploads_of(&self, user: UserId) -> Result<u32>;
    /// Stores a file, and its blobs (`size` bytes of `blob`, and the
    /// thumbnail's) unless they are there already.
    async fn add_file(&self, file: FileRecord) -> Result<()>;
    async fn file(&self, id: &str) -> Result<Option<FileRecord>>;
    /// Lets a file go: one never posted, an avatar replaced, an expired
    /// offer.
    async fn remove_file(&self, id: &str) -> Result<()>;
    /// Files made before `before_ms` and never posted, and offers
    /// unanswered at `now_ms` past their expiry.
    async fn lapsed_files(&self, now_ms: i64, before_ms: i64) -> Result<Vec<String>>;
    /// Blobs no file points to.
    async fn unreferenced_blobs(&self) -> Result<Vec<String>>;
    /// Forgets the blob `sha256` if still no file points to it; true if it
    /// did (then its bytes may go).
    async fn remove_blob(&self, sha256: &str) -> Result<bool>;
    /// Whether the blob is known.
    async fn has_blob(&self, sha256: &str) -> Result<bool>;
    /// Sets (or clears) a user's profile picture; returns the file it
    /// replaces, for the caller to let go.
    async fn set_avatar(&self, user: UserId, file: Option<&str>) -> Result<Option<String>>;
    /// A user's profile picture, if any.
    async fn avatar(&self, user: UserId) -> Result<Option<FileRecord>>;
}

pub trait Store: Users + Convs + Messages + Social + Admin + Files {}
impl<T: Users + Convs + Messages + Social + Admin + Files> Store for T {}

/// The key that names the DM pair of two users, whatever their order.
pub fn dm_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{lo}:{hi}")
}
