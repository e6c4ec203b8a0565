//! Friends and blocks.

use confab_proto::{FriendState, ServerBody};

use crate::error::ApiError;
use crate::session::{Reply, Session};

fn friendship(user: String, state: Result<FriendState, ApiError>) -> Reply {
    Ok(Some(ServerBody::Friendship {
        user,
        state: state?,
    }))
}

pub(super) async fn request(s: &mut Session, user: String) -> Reply {
    let state = s
        .services()
        .social
        .request(&s.actor(), &s.conn, &user)
        .await;
    friendship(user, state)
}

pub(super) async fn accept(s: &mut Session, user: String) -> Reply {
    let state = s.services().social.accept(&s.actor(), &s.conn, &user).await;
    friendship(user, state)
}

pub(super) async fn decline(s: &mut Session, user: String) -> Reply {
    let state = s
        .services()
        .social
        .decline(&s.actor(), &s.conn, &user)
        .await;
    friendship(user, state)
}

pub(super) async fn cancel(s: &mut Session, user: String) -> Reply {
    let state = s.services().social.cancel(&s.actor(), &s.conn, &user).await;
    friendship(user, state)
}

pub(super) async fn remove(s: &mut Session, user: String) -> Reply {
    let state = s.services().social.remove(&s.actor(), &s.conn, &user).await;
    friendship(user, state)
}

pub(super) async fn block(s: &mut Session, user: String) -> Reply {
    let state = s.services().social.block(&s.actor(), &s.conn, &user).await;
    friendship(user, state)
}

pub(super) async fn unblock(s: &mut Session, user: String) -> Reply {
    let state = s
        .services()
        .social
        .unblock(&s.actor(), &s.conn, &user)
        .await;
    friendship(user, state)
}

pub(super) async fn list(s: &mut Session) -> Reply {
    Ok(Some(s.services().social.list(&s.actor()).await?))
}
