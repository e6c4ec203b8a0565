//! Confab's client core, shared by the terminal client (`confab chat`) and
//! the browser client.
//!
//! - [`core`]: the [`Client`] state machine. It does no I/O and reads no
//!   clock, so it compiles for wasm32 and its tests need no network: a
//!   driver feeds it what the connection does and writes what it asks.
//! - [`cache`]: the [`Cache`] trait for what survives a restart (messages,
//!   the outbox, the session token) and an in-memory implementation.
//! - [`describe`]: how each kind of log entry reads.
//! - [`backoff`]: reconnect delays.
//! - [`timeline`]: the view model of a conversation (grouped by day and
//!   sender, events as rows of their own), for every UI.
//! - [`emoji`]: `:shortcode:` emoji, the same in every client.
//! - [`markdown`]: the Markdown subset messages may use, as styled spans
//!   (never HTML), for every UI.
//! - [`transfer`]: uploads and downloads: jobs for the driver, its
//!   reports, progress with speed and time left.
//! - [`commands`]: slash commands (`/join`, `/msg`, `/react`…), parsed
//!   once for the terminal and the browser.
//! - `native` (feature `native`): a tokio driver over TLS with trust on
//!   first use, and a SQLite cache.

pub mod actions;
pub mod backoff;
pub mod cache;
pub mod commands;
pub mod core;
pub mod describe;
pub mod emoji;
pub mod markdown;
#[cfg(feature = "native")]
pub mod native;
pub mod run;
pub mod social;
pub mod timeline;
pub mod transfer;
#[cfg(feature = "udp")]
mod udp;
pub mod view;

pub use actions::{Action, Outcome, Refusal};
pub use cache::{Cache, CacheError, CachedConv, MemoryCache, Pending, Target, What};
pub use core::{ActionError, Auth, Client, ConnState, Event, Input, Output};
pub use run::Ran;
pub use social::Friends;
pub use view::Timeline;
