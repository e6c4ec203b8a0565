//! The services: what the server does, each one step of "store write, then
//! the in-memory state, then publish", so that the protocol's handlers, the
//! console and `confab admin` share one implementation and one set of
//! rules (asked of [`crate::access`]).
//!
//! - [`accounts`]: accounts, logins, tokens, status, who is online.
//! - [`rooms`]: channels and group conversations, and their members.
//! - [`messages`]: posting to conversation logs (through [`poster`], the
//!   single writer), history, sync, typing.
//! - [`social`]: friends, requests and blocks.
//! - [`files`]: uploads (tus), verification, content-addressed blobs,
//!   thumbnails, posting files, who may download what, collection.
//! - [`streams`]: live streams in channels: who streams, who watches, and
//!   their signalling messages.
//! - [`admin`]: accounts and channels as admins manage them, the audit
//!   log, invitations (also without a running server).
//!
//! A new capability is a new service (or a method on one) taking an
//! [`Actor`]; its handler in `api/` only parses and calls it.

pub mod accounts;
pub mod admin;
pub(crate) mod files;
pub(crate) mod messages;
pub(crate) mod poster;
pub(crate) mod rooms;
pub(crate) mod social;
pub(crate) mod streams;

use std::sync::Arc;

use confab_proto::{ConvId, Limits};
use confab_store::{ConvRecord, Store, UserId, UserRecord};
use tokio::sync::mpsc;

pub(crate) use crate::access::Actor;
use crate::error::ApiError;
use crate::hub::{ConnId, Hub};
use crate::outbox::Outbox;

/// What every service works with.
pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub limits: Limits,
    /// See [`crate::Config::typing_every`].
    pub typing_every: std::time::Duration,
    /// See [`crate::Config::registration`].
    pub registration: crate::Registration,
    /// See [`crate::Config::token_max_age`].
    pub token_max_age: Option<std::time::Duration>,
    pub poster: mpsc::Sender<poster::Post>,
    /// See [`crate::Config::first_channel`].
    pub first_channel: Option<String>,
    /// The setup code's hash, until it is used (see `Running::setup_code`).
    pub setup: std::sync::Mutex<Option<String>>,
}

impl Ctx {
    /// The user named `name` (`not_found`, naming them, if none).
    /// A name unknown here may be a user on the other side of a bridge.
    pub(crate) async fn user_named(&self, name: &str) -> Result<UserRecord, ApiError> {
        if let Some(user) = self.store.user_by_name(name).await? {
            return Ok(user);
        }
        self.hub
            .bridge
            .resolve(self.store.as_ref(), &self.limits, name)
            .await?
            .ok_or_else(|| accounts::no_user(name))
    }

    /// The conversation `conv` (`not_found`, the same for any the caller
    /// may not see, if none). Access is the caller's to check.
    pub(crate) async fn conv(&self, conv: ConvId) -> Result<ConvRecord, ApiError> {
        self.store
            .conv(conv)
            .await?
            .ok_or_else(|| messages::no_conv(conv))
    }

    /// A user's name; empty for an account deleted meanwhile.
    pub(crate) async fn name_of(&self, id: UserId) -> Result<String, ApiError> {
        Ok(self
            .store
            .user_by_id(id)
            .await?
            .map(|u| u.name)
            .unwrap_or_default())
    }
}

/// One connection, as services need it: to leave it out of an event it
/// caused, to let a visitor's connection watch a channel, to reply.
#[derive(Clone)]
pub(crate) struct ConnRef {
    pub id: ConnId,
    pub outbox: Arc<Outbox>,
}

pub(crate) struct Services {
    pub accounts: accounts::Accounts,
    pub rooms: rooms::Rooms,
    pub messages: messages::Messages,
    pub social: social::Social,
    pub files: files::Files,
    pub streams: streams::Streams,
}

impl Services {
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        files: files::Files,
        max_viewers: u32,
        relay: Option<Arc<crate::relay::Relay>>,
    ) -> Services {
        Services {
            accounts: accounts::Accounts::new(ctx.clone()),
            rooms: rooms::Rooms::new(ctx.clone()),
            messages: messages::Messages::new(ctx.clone()),
            social: social::Social::new(ctx.clone()),
            streams: streams::Streams::new(ctx, max_viewers, relay),
            files,
        }
    }
}
