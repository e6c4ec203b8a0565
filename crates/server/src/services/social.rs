//! Friends: requests (made while the other side is away, they wait in the
//! store), friendships, and blocks. Every change is told to both sides as
//! a `friend_update` event (to all their connections, the asker's other
//! devices included), except what would reveal a block: a blocked user's
//! requests are kept and answered as sent, but never shown to the one who
//! blocked them, and blocking looks to them like an ended friendship or a
//! withdrawn request.

use std::sync::Arc;

use confab_proto::{FriendInfo, FriendState, ServerBody, limits::shown};
use confab_store::UserRecord;

use super::{Actor, ConnRef, Ctx};
use crate::access;
use crate::error::ApiError;
use crate::hub::{Audience, Except, event};

pub(crate) struct Social {
    ctx: Arc<Ctx>,
}

impl Social {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Social { ctx }
    }

    async fn target(&self, actor: &Actor, name: &str) -> Result<UserRecord, ApiError> {
        let user = self
            .ctx
            .store
            .user_by_name(name)
            .await?
            .ok_or_else(|| super::accounts::no_user(name))?;
        if user.id == actor.id {
            return Err(ApiError::bad_request("that is you"));
        }
        Ok(user)
    }

    /// Tells `to` (every connection but `except`) where they stand with `about`.
    fn tell(&self, to: i64, about: &str, state: FriendState, online: bool, except: Except) {
        let frame = event(ServerBody::FriendUpdate {
            user: about.to_owned(),
            state,
            online: online && state == FriendState::Friends,
        });
        self.ctx.hub.bus.publish(Audience::User(to), &frame, except);
    }

    fn visible(&self, user: i64) -> bool {
        self.ctx.hub.presence.is_visible(user)
    }

    /// Asks `name` to be friends; if they had asked first, accepts.
    pub(crate) async fn request(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let relations = &self.ctx.hub.relations;
        if relations.are_friends(actor.id, target.id) {
            return Ok(FriendState::Friends);
        }
        let they_hear = access::befriend(relations, actor.id, target.id, name)?;
        let asked_us = self
            .ctx
            .store
            .relations_of(actor.id)
            .await?
            .incoming
            .iter()
            .any(|(id, _)| *id == target.id);
        // (A block made meanwhile stops the friendship: then this is a
        // request like any other.)
        if asked_us && let Some(state) = self.befriend(actor, conn, &target).await? {
            return Ok(state);
        }
        if self
            .ctx
            .store
            .add_friend_request(actor.id, target.id)
            .await?
            && they_hear
        {
            self.tell(
                target.id,
                &actor.name,
                FriendState::Incoming,
                false,
                Except::NONE,
            );
        }
        self.tell(
            actor.id,
            &target.name,
            FriendState::Outgoing,
            false,
            Except::conn(conn.id),
        );
        Ok(FriendState::Outgoing)
    }

    /// Makes them friends; `None` if a block between them stood in the way
    /// (the store checks, so a block made meanwhile wins).
    async fn befriend(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        target: &UserRecord,
    ) -> Result<Option<FriendState>, ApiError> {
        if !self.ctx.store.make_friends(actor.id, target.id).await? {
            return Ok(None);
        }
        self.ctx.hub.relations.befriend(actor.id, target.id);
        self.tell(
            target.id,
            &actor.name,
            FriendState::Friends,
            self.visible(actor.id),
            Except::NONE,
        );
        self.tell(
            actor.id,
            &target.name,
            FriendState::Friends,
            self.visible(target.id),
            Except::conn(conn.id),
        );
        Ok(Some(FriendState::Friends))
    }

    pub(crate) async fn accept(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        if self.ctx.hub.relations.are_friends(actor.id, target.id) {
            return Ok(FriendState::Friends);
        }
        // A blocked user's request is not shown, so it cannot be accepted;
        // one whose maker blocks us meanwhile looks withdrawn.
        let incoming = self.ctx.store.relations_of(actor.id).await?.incoming;
        if self.ctx.hub.relations.blocks(actor.id, target.id)
            || !incoming.iter().any(|(id, _)| *id == target.id)
        {
            return Err(no_request_from(name));
        }
        self.befriend(actor, conn, &target)
            .await?
            .ok_or_else(|| no_request_from(name))
    }

    pub(crate) async fn decline(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        // A blocked user's request is not shown, so it cannot be declined.
        if self.ctx.hub.relations.blocks(actor.id, target.id)
            || !self
                .ctx
                .store
                .remove_friend_request(target.id, actor.id)
                .await?
        {
            return Err(no_request_from(name));
        }
        self.tell(
            target.id,
            &actor.name,
            FriendState::None,
            false,
            Except::NONE,
        );
        self.tell(
            actor.id,
            &target.name,
            FriendState::None,
            false,
            Except::conn(conn.id),
        );
        Ok(FriendState::None)
    }

    pub(crate) async fn cancel(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        if !self
            .ctx
            .store
            .remove_friend_request(actor.id, target.id)
            .await?
        {
            return Err(ApiError::not_found(format!(
                "you have not asked `{}` to be your friend",
                shown(name)
            )));
        }
        // They never saw it if they block us.
        if !self.ctx.hub.relations.blocks(target.id, actor.id) {
            self.tell(
                target.id,
                &actor.name,
                FriendState::None,
                false,
                Except::NONE,
            );
        }
        self.tell(
            actor.id,
            &target.name,
            FriendState::None,
            false,
            Except::conn(conn.id),
        );
        Ok(FriendState::None)
    }

    pub(crate) async fn remove(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        if !self.ctx.store.remove_friends(actor.id, target.id).await? {
            return Err(ApiError::not_found(format!(
                "`{}` is not your friend",
                shown(name)
            )));
        }
        self.ctx.hub.relations.unfriend(actor.id, target.id);
        self.tell(
            target.id,
            &actor.name,
            FriendState::None,
            false,
            Except::NONE,
        );
        self.tell(
            actor.id,
            &target.name,
            FriendState::None,
            false,
            Except::conn(conn.id),
        );
        Ok(FriendState::None)
    }

    pub(crate) async fn block(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let relations = &self.ctx.hub.relations;
        if relations.blocks(actor.id, target.id) {
            return Ok(FriendState::Blocked);
        }
        let were_friends = relations.are_friends(actor.id, target.id);
        let had_asked = self
            .ctx
            .store
            .relations_of(actor.id)
            .await?
            .outgoing
            .iter()
            .any(|(id, _)| *id == target.id);
        self.ctx.store.block(actor.id, target.id).await?;
        relations.block(actor.id, target.id);
        if were_friends || had_asked {
            // To them this is an ended friendship or a withdrawn request,
            // as if removed or cancelled: nothing says "blocked".
            self.tell(
                target.id,
                &actor.name,
                FriendState::None,
                false,
                Except::NONE,
            );
        }
        self.tell(
            actor.id,
            &target.name,
            FriendState::Blocked,
            false,
            Except::conn(conn.id),
        );
        Ok(FriendState::Blocked)
    }

    pub(crate) async fn unblock(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        if !self.ctx.store.unblock(actor.id, target.id).await? {
            return Err(ApiError::not_found(format!(
                "you have not blocked `{}`",
                shown(name)
            )));
        }
        self.ctx.hub.relations.unblock(actor.id, target.id);
        // A request they made while blocked shows from now on.
        let asked = self
            .ctx
            .store
            .relations_of(actor.id)
            .await?
            .incoming
            .iter()
            .any(|(id, _)| *id == target.id);
        let state = if asked {
            FriendState::Incoming
        } else {
            FriendState::None
        };
        self.tell(actor.id, &target.name, state, false, Except::conn(conn.id));
        Ok(state)
    }

    /// The actor's friends (with presence), requests and blocks.
    pub(crate) async fn list(&self, actor: &Actor) -> Result<ServerBody, ApiError> {
        let r = self.ctx.store.relations_of(actor.id).await?;
        let names = |v: Vec<(i64, String)>| v.into_iter().map(|(_, n)| n).collect();
        Ok(ServerBody::Friends {
            friends: r
                .friends
                .into_iter()
                .map(|(id, name)| FriendInfo {
                    online: self.visible(id),
                    name,
                })
                .collect(),
            incoming: names(r.incoming),
            outgoing: names(r.outgoing),
            blocked: names(r.blocked),
        })
    }
}

fn no_request_from(name: &str) -> ApiError {
    ApiError::not_found(format!("no friend request from `{}`", shown(name)))
}
