//! Channels, and the members of any conversation.

use confab_proto::{ConvId, Role, ServerBody};

use super::ok;
use crate::session::{Reply, Session};

pub(super) async fn create(
    s: &mut Session,
    name: String,
    private: bool,
    topic: Option<String>,
) -> Reply {
    let channel = s
        .services()
        .rooms
        .create_channel(&s.actor(), &name, private, topic)
        .await?;
    Ok(Some(ServerBody::Channel { channel }))
}

pub(super) async fn join(s: &mut Session, name: String) -> Reply {
    let channel = s.services().rooms.join(&s.actor(), &s.conn, &name).await?;
    if s.me().role == Role::Visitor {
        s.watching.insert(channel.conv);
    }
    Ok(Some(ServerBody::Channel { channel }))
}

pub(super) async fn leave(s: &mut Session, name: String) -> Reply {
    let services = s.services();
    let actor = s.actor();
    let conv = services
        .rooms
        .leave(&actor, &s.conn, &s.watching, &name)
        .await?;
    // Their streams there end.
    services
        .streams
        .left(&services.messages, actor.id, conv)
        .await;
    s.watching.remove(&conv);
    ok()
}

pub(super) async fn list(s: &mut Session) -> Reply {
    let channels = s.services().rooms.list(&s.actor(), &s.watching).await?;
    Ok(Some(ServerBody::Channels { channels }))
}

pub(super) async fn invite(s: &mut Session, name: String, user: String) -> Reply {
    s.services().rooms.invite(&s.actor(), &name, &user).await?;
    ok()
}

pub(super) async fn delete(s: &mut Session, name: String) -> Reply {
    let conv = s.services().rooms.delete(&s.actor(), &name).await?;
    s.services().streams.gone(conv);
    ok()
}

pub(super) async fn members(s: &mut Session, name: String) -> Reply {
    let (conv, members) = s
        .services()
        .rooms
        .channel_members(&s.actor(), &name)
        .await?;
    Ok(Some(ServerBody::Members { conv, members }))
}

pub(super) async fn members_of(s: &mut Session, conv: ConvId) -> Reply {
    let services = s.services();
    let members = services
        .rooms
        .members(&s.actor(), &services.messages, conv)
        .await?;
    Ok(Some(ServerBody::Members { conv, members }))
}
