//! Friends: requests (made while the other side is away, they wait in the
//! store), friendships, and blocks. Every change is told to both sides as
//! a `friend_update` event (to all their connections, the asker's other
//! devices included), except what would reveal a block: a blocked user's
//! requests are kept and answered as sent, but never shown to the one who
//! blocked them, and blocking looks to them like an ended friendship or a
//! withdrawn request.

use std::sync::Arc;

use confab_proto::{FriendInfo, FriendState, ServerBody, limits::shown};
use confab_store::{UserId, UserRecord};

use super::{Actor, ConnRef, Ctx};
use crate::access;
use crate::error::ApiError;
use crate::hub::{Audience, Except, event};

pub(crate) struct Social {
    ctx: Arc<Ctx>,
    /// Held by every change, from its reads through the store write and
    /// the mirror update, so that changes never interleave: the store and
    /// the relations mirror agree, and what a change decided (is there a
    /// block? a request?) still holds when it writes.
    changing: tokio::sync::Mutex<()>,
}

impl Social {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Social {
            ctx,
            changing: tokio::sync::Mutex::new(()),
        }
    }

    async fn target(&self, actor: &Actor, name: &str) -> Result<UserRecord, ApiError> {
        let user = self.ctx.user_named(name).await?;
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

    /// Whether `from` has a request to `to` waiting (shown or not).
    async fn has_asked(&self, from: UserId, to: UserId) -> Result<bool, ApiError> {
        let outgoing = self.ctx.store.relations_of(from).await?.outgoing;
        Ok(outgoing.iter().any(|(id, _)| *id == to))
    }

    /// Tells both sides where they now stand: the target `theirs` (if they
    /// are to hear of it), the actor's other connections `mine` (the one
    /// that asked gets the reply). Returns `mine`.
    fn settle(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        target: &UserRecord,
        theirs: Option<FriendState>,
        mine: FriendState,
    ) -> FriendState {
        if let Some(state) = theirs {
            let online = self.visible(actor.id);
            self.tell(target.id, &actor.name, state, online, Except::NONE);
        }
        self.ctx.hub.bridge.friend(actor, target, mine);
        let online = self.visible(target.id);
        self.tell(actor.id, &target.name, mine, online, Except::conn(conn.id));
        mine
    }

    /// Sets where `local` stands with `remote`, a user across a bridge whose
    /// side keeps their friendships (see [`crate::bridge`]); `local`'s
    /// connections are told if it changed.
    pub(crate) async fn mirror(
        &self,
        local: &UserRecord,
        remote: &UserRecord,
        state: FriendState,
    ) -> Result<(), ApiError> {
        let _changing = self.changing.lock().await;
        let store = &self.ctx.store;
        let relations = &self.ctx.hub.relations;
        let now = if relations.are_friends(local.id, remote.id) {
            FriendState::Friends
        } else if self.has_asked(local.id, remote.id).await? {
            FriendState::Outgoing
        } else if self.has_asked(remote.id, local.id).await? {
            FriendState::Incoming
        } else {
            FriendState::None
        };
        if now == state {
            return Ok(());
        }
        if now == FriendState::Friends {
            store.remove_friends(local.id, remote.id).await?;
            relations.unfriend(local.id, remote.id);
        }
        store.remove_friend_request(local.id, remote.id).await?;
        store.remove_friend_request(remote.id, local.id).await?;
        match state {
            FriendState::Friends => {
                if store.make_friends(local.id, remote.id).await? {
                    relations.befriend(local.id, remote.id);
                }
            }
            FriendState::Outgoing => {
                store.add_friend_request(local.id, remote.id).await?;
            }
            FriendState::Incoming => {
                store.add_friend_request(remote.id, local.id).await?;
            }
            FriendState::None | FriendState::Blocked => {}
        }
        let online = self.visible(remote.id);
        self.tell(local.id, &remote.name, state, online, Except::NONE);
        Ok(())
    }

    /// Asks `name` to be friends; if they had asked first, accepts.
    pub(crate) async fn request(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
        let relations = &self.ctx.hub.relations;
        if relations.are_friends(actor.id, target.id) {
            return Ok(FriendState::Friends);
        }
        let they_hear = access::befriend(relations, actor.id, target.id, name)?;
        let asked_us = self.has_asked(target.id, actor.id).await?;
        // (The store refuses a friendship across a block; then this stays
        // a request.)
        if asked_us && let Some(state) = self.befriend(actor, conn, &target).await? {
            return Ok(state);
        }
        let new = self
            .ctx
            .store
            .add_friend_request(actor.id, target.id)
            .await?;
        let theirs = (new && they_hear).then_some(FriendState::Incoming);
        Ok(self.settle(actor, conn, &target, theirs, FriendState::Outgoing))
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
        let friends = Some(FriendState::Friends);
        Ok(Some(self.settle(
            actor,
            conn,
            target,
            friends,
            FriendState::Friends,
        )))
    }

    pub(crate) async fn accept(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
        if self.ctx.hub.relations.are_friends(actor.id, target.id) {
            return Ok(FriendState::Friends);
        }
        // A blocked user's request is not shown, so it cannot be accepted;
        // one whose maker blocks us meanwhile looks withdrawn.
        if self.ctx.hub.relations.blocks(actor.id, target.id)
            || !self.has_asked(target.id, actor.id).await?
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
        let _changing = self.changing.lock().await;
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
        let none = Some(FriendState::None);
        Ok(self.settle(actor, conn, &target, none, FriendState::None))
    }

    pub(crate) async fn cancel(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
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
        let theirs =
            (!self.ctx.hub.relations.blocks(target.id, actor.id)).then_some(FriendState::None);
        Ok(self.settle(actor, conn, &target, theirs, FriendState::None))
    }

    pub(crate) async fn remove(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
        if !self.ctx.store.remove_friends(actor.id, target.id).await? {
            return Err(ApiError::not_found(format!(
                "`{}` is not your friend",
                shown(name)
            )));
        }
        self.ctx.hub.relations.unfriend(actor.id, target.id);
        let none = Some(FriendState::None);
        Ok(self.settle(actor, conn, &target, none, FriendState::None))
    }

    pub(crate) async fn block(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
        let relations = &self.ctx.hub.relations;
        if relations.blocks(actor.id, target.id) {
            return Ok(FriendState::Blocked);
        }
        let were_friends = relations.are_friends(actor.id, target.id);
        let had_asked = self.has_asked(actor.id, target.id).await?;
        self.ctx.store.block(actor.id, target.id).await?;
        relations.block(actor.id, target.id);
        // To them this is an ended friendship or a withdrawn request, as
        // if removed or cancelled: nothing says "blocked".
        let theirs = (were_friends || had_asked).then_some(FriendState::None);
        Ok(self.settle(actor, conn, &target, theirs, FriendState::Blocked))
    }

    pub(crate) async fn unblock(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<FriendState, ApiError> {
        let target = self.target(actor, name).await?;
        let _changing = self.changing.lock().await;
        if !self.ctx.store.unblock(actor.id, target.id).await? {
            return Err(ApiError::not_found(format!(
                "you have not blocked `{}`",
                shown(name)
            )));
        }
        self.ctx.hub.relations.unblock(actor.id, target.id);
        // A request they made while blocked shows from now on.
        let asked = self.has_asked(target.id, actor.id).await?;
        let state = if asked {
            FriendState::Incoming
        } else {
            FriendState::None
        };
        Ok(self.settle(actor, conn, &target, None, state))
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
