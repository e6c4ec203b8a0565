//! Storage for Confab, behind one trait per concern so that backends can be
//! swapped without touching the server:
//!
//! - [`Users`]: accounts, password hashes, roles, status and session tokens.
//! - [`Channels`]: conversations (channels and direct-message pairs) and
//!   their members.
//! - [`Messages`]: the message log, with per-conversation sequence numbers
//!   and idempotent appends.
//!
//! [`Store`] is all three. [`sqlite::SqliteStore`] is the embedded default.
//! A new backend implements the three traits and runs the shared suite in
//! [`conformance`] (see `tests/sqlite.rs` for how).

use async_trait::async_trait;
use confab_proto::{ConvId, ConvKind, Message, Role, Seq};

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
}

/// A conversation: a channel, or the direct-message pair of two users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvRecord {
    pub id: ConvId,
    pub kind: ConvKind,
    /// Channel name; for a DM pair, `dm:<low user id>:<high user id>`.
    pub name: String,
    pub private: bool,
    pub topic: String,
    /// The creator of a channel; `None` for DM pairs.
    pub owner: Option<UserId>,
    pub last_seq: Seq,
}

/// A channel with what a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub conv: ConvRecord,
    pub owner_name: String,
    pub members: u32,
}

/// A message to append. The store assigns `id` and `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub conv: ConvId,
    pub sender: UserId,
    pub sender_name: String,
    pub text: String,
    pub nonce: Option<String>,
    /// Server time, ms since the Unix epoch.
    pub ts: i64,
}

/// The result of one append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now.
    New(Message),
    /// The sender had already sent this nonce here: the original message.
    Duplicate(Message),
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
    async fn user_by_token(&self, token_hash: &str) -> Result<Option<UserRecord>>;
    async fn revoke_token(&self, token_hash: &str) -> Result<()>;
    /// Every user, by name; for the admin console.
    async fn count_users(&self) -> Result<u64>;
}

#[async_trait]
pub trait Channels: Send + Sync {
    /// Creates a channel with `owner` as its first member.
    async fn create_channel(
        &self,
        name: &str,
        private: bool,
        topic: &str,
        owner: UserId,
    ) -> Result<ConvRecord>;
    async fn channel_by_name(&self, name: &str) -> Result<Option<ConvRecord>>;
    async fn conv(&self, id: ConvId) -> Result<Option<ConvRecord>>;
    /// All public channels and the private ones `viewer` is in, by name.
    async fn list_channels(&self, viewer: UserId) -> Result<Vec<ChannelRow>>;
    /// Deletes a conversation with its members and messages.
    async fn delete_conv(&self, id: ConvId) -> Result<()>;
    /// Adds a member; false if already one.
    async fn add_member(&self, conv: ConvId, user: UserId) -> Result<bool>;
    /// Removes a member; false if not one.
    async fn remove_member(&self, conv: ConvId, user: UserId) -> Result<bool>;
    /// Members of a conversation with their records, by name.
    async fn members(&self, conv: ConvId) -> Result<Vec<UserRecord>>;
    /// Every (conversation, member) pair: the server mirrors this in memory.
    async fn all_memberships(&self) -> Result<Vec<(ConvId, UserId)>>;
    /// The DM conversation of two users, created (with both as members) on first use.
    async fn dm_conv(&self, a: UserId, b: UserId) -> Result<(ConvRecord, bool)>;
    /// Conversations `user` is in; for DMs `name` is the other user's name.
    async fn convs_of(&self, user: UserId) -> Result<Vec<ConvRecord>>;
}

#[async_trait]
pub trait Messages: Send + Sync {
    /// Appends messages in order, durably, in one transaction where the
    /// backend allows. One result per message, in the same order.
    async fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>>;
    /// A page of history, oldest first, plus whether more lie beyond it in
    /// the direction asked.
    async fn history(&self, conv: ConvId, page: Page, limit: u32) -> Result<(Vec<Message>, bool)>;
    async fn count_messages(&self) -> Result<u64>;
}

/// Everything the server needs from storage.
pub trait Store: Users + Channels + Messages {}
impl<T: Users + Channels + Messages> Store for T {}

/// The key that names the DM pair of two users, whatever their order.
pub fn dm_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{lo}:{hi}")
}
