//! The server's live state, in memory, in four parts with a lock each
//! (never one mutex over everything):
//!
//! - [`conns`]: the connection registry (every connection's outbox, each
//!   user's connections);
//! - [`members`]: the membership mirror (who is in which conversation,
//!   visitors watching channels, DM pairs);
//! - [`relations`]: the friendships and blocks mirror;
//! - [`presence`]: who is online or invisible, and telling those who can
//!   see them;
//!
//! and [`bus`], through which every event is published, with [`udp`], the
//! typing datagrams' paths it sends on. Services change
//! these after the store commits; the store stays the truth.

pub(crate) mod bus;
pub(crate) mod conns;
pub(crate) mod members;
pub(crate) mod presence;
pub(crate) mod relations;
pub(crate) mod remote;
pub(crate) mod udp;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use confab_proto::{ServerBody, ServerFrame};
use confab_store::{AllRelations, Membership};

use crate::stats::Stats;

pub(crate) use bus::{Audience, Bus, Except};
pub(crate) use conns::ConnId;
use udp::Udp;

/// The parts, together.
pub(crate) struct Hub {
    pub conns: Arc<conns::Connections>,
    pub members: Arc<members::Members>,
    pub relations: Arc<relations::Relations>,
    pub presence: Arc<presence::Presence>,
    pub bus: Arc<dyn Bus>,
    pub stats: Arc<Stats>,
    /// Accounts of users elsewhere, and where what is done to them goes
    /// (see [`crate::bridge`]).
    pub bridge: Arc<remote::Hooks>,
}

impl Hub {
    /// The live state for a store's memberships and relations, publishing
    /// within this process.
    pub(crate) fn new(
        memberships: Vec<Membership>,
        relations: AllRelations,
        presence_grace: Duration,
        stats: Arc<Stats>,
        udp: Option<Arc<Udp>>,
    ) -> Hub {
        let conns = Arc::new(conns::Connections::new());
        let members = Arc::new(members::Members::new(memberships));
        let relations = Arc::new(relations::Relations::new(relations));
        let bus: Arc<dyn Bus> = Arc::new(bus::LocalBus {
            members: members.clone(),
            conns: conns.clone(),
            stats: stats.clone(),
            udp,
        });
        let bridge = Arc::new(remote::Hooks::new());
        let presence = Arc::new(presence::Presence::new(
            presence_grace,
            members.clone(),
            relations.clone(),
            bus.clone(),
            bridge.clone(),
        ));
        Hub {
            conns,
            members,
            relations,
            presence,
            bus,
            stats,
            bridge,
        }
    }
}

/// Serialises a frame once; the bytes are then shared by every recipient.
pub(crate) fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(serde_json::to_vec(frame).expect("server frames always serialize"))
}

/// An event's frame, serialised.
pub(crate) fn event(body: ServerBody) -> Bytes {
    encode(&ServerFrame::event(body))
}
