//! Group conversations.

use confab_proto::{ConvId, ServerBody};

use super::ok;
use crate::session::{Reply, Session};

pub(super) async fn create(
    s: &mut Session,
    name: String,
    members: Vec<String>,
    owner_only_add: bool,
) -> Reply {
    let services = s.services();
    let group = services
        .rooms
        .create_group(
            &s.actor(),
            &services.messages,
            &name,
            &members,
            owner_only_add,
        )
        .await?;
    Ok(Some(ServerBody::Group { group }))
}

pub(super) async fn add(s: &mut Session, conv: ConvId, users: Vec<String>) -> Reply {
    let services = s.services();
    services
        .rooms
        .group_add(&s.actor(), &services.messages, conv, &users)
        .await?;
    ok()
}

pub(super) async fn leave(s: &mut Session, conv: ConvId) -> Reply {
    let services = s.services();
    services
        .rooms
        .group_leave(&s.actor(), &services.messages, conv)
        .await?;
    ok()
}

pub(super) async fn update(
    s: &mut Session,
    conv: ConvId,
    name: Option<String>,
    owner_only_add: Option<bool>,
) -> Reply {
    let services = s.services();
    let group = services
        .rooms
        .group_update(&s.actor(), &services.messages, conv, name, owner_only_add)
        .await?;
    Ok(Some(ServerBody::Group { group }))
}

pub(super) async fn info(s: &mut Session, conv: ConvId) -> Reply {
    let group = s.services().rooms.group(&s.actor(), conv).await?;
    Ok(Some(ServerBody::Group { group }))
}
