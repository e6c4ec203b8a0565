//! One connection's conversation with the server, whatever the transport.
//!
//! The session holds only what belongs to the connection: whether the
//! handshake is done, who is logged in, which channels a visitor watches.
//! [`crate::api::handle`] runs each frame against it.

use std::collections::HashSet;
use std::sync::Arc;

use confab_proto::{ConvId, ErrorCode, Role, ServerBody, ServerFrame, UserInfo};
use confab_store::UserId;

use crate::Shared;
use crate::access::{Actor, Caller};
use crate::error::ApiError;
use crate::hub::encode;
use crate::services::{ConnRef, Services};

/// What a handler answers: a reply body, nothing (someone else replies,
/// as the poster does for sends), or an error.
pub(crate) type Reply = Result<Option<ServerBody>, ApiError>;

/// The logged-in user of a session.
pub(crate) struct Authed {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub invisible: bool,
    /// Hash of the token this session logged in with or was given.
    pub token_hash: Option<String>,
}

impl Authed {
    pub(crate) fn info(&self) -> UserInfo {
        UserInfo {
            name: self.name.clone(),
            role: self.role,
            invisible: self.invisible,
        }
    }
}

pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub conn: ConnRef,
    pub handshaken: bool,
    pub user: Option<Authed>,
    /// Public channels a visitor watches.
    pub watching: HashSet<ConvId>,
    /// The TLS session's exporter output, for `udp_open` (TLS only; boxed
    /// so that every connection does not carry 64 bytes in its task).
    pub udp_secret: Option<Box<[u8; 64]>>,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    pub peer: std::net::IpAddr,
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        conn: ConnRef,
        udp_secret: Option<Box<[u8; 64]>>,
        peer: std::net::IpAddr,
    ) -> Self {
        Session {
            shared,
            conn,
            handshaken: false,
            user: None,
            watching: HashSet::new(),
            udp_secret,
            peer,
        }
    }

    /// Who is asking, as [`crate::access::check`] needs it.
    pub(crate) fn caller(&self) -> Caller<'_> {
        Caller {
            handshaken: self.handshaken,
            user: self.user.as_ref().map(|u| (u.name.as_str(), u.role)),
        }
    }

    pub(crate) fn services(&self) -> &Services {
        &self.shared.services
    }

    /// The logged-in user, as services see them. Access checks guarantee
    /// one for every request whose handler calls this.
    pub(crate) fn actor(&self) -> Actor {
        let u = self.me();
        Actor {
            id: u.id,
            name: u.name.clone(),
            role: u.role,
        }
    }

    pub(crate) fn me(&self) -> &Authed {
        self.user.as_ref().expect("access checked the login")
    }

    /// Queues an error reply (or an error event when `id` is unknown).
    pub(crate) fn send_error(&self, id: Option<u64>, code: ErrorCode, message: impl Into<String>) {
        self.conn
            .outbox
            .push_reply(encode(&ServerFrame::error(id, code, message)));
    }

    /// The connection is going away: leave presence and watches.
    pub(crate) fn finish(&mut self) {
        self.log_out_locally(false);
    }

    /// Leaves presence and watches: `logout` when the user asked to, so
    /// that they go offline at once rather than after the grace period.
    pub(crate) fn log_out_locally(&mut self, logout: bool) {
        let hub = &self.shared.hub;
        for conv in self.watching.drain() {
            hub.members.unwatch(conv, self.conn.id);
        }
        if let Some(udp) = &self.shared.udp {
            udp.close(self.conn.id);
        }
        if let Some(u) = self.user.take()
            && u.role != Role::Visitor
        {
            self.shared
                .services
                .accounts
                .detach(u.id, &self.conn, logout);
        }
    }
}
