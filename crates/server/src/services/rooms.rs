//! Rooms: channels (public and private) and group conversations, and who
//! is in them.
//!
//! Channel membership changes are announced with `member_joined` and
//! `member_left` events. A group's changes (created, added, left, renamed,
//! who may add) are entries of its log, posted through the messages
//! service, so that they keep their order with its messages and reach
//! members who were away by `sync` like everything else.

use std::collections::HashSet;
use std::sync::Arc;

use confab_proto::{
    Body, ChannelInfo, ConvId, ConvKind, ErrorCode, GroupInfo, MemberInfo, Role, Seq, ServerBody,
    SystemEvent, limits::shown,
};
use confab_store::{ConvRecord, Dest, Effect, NewMessage, StoreError, UserId};

use super::messages::{Messages, no_conv, now_ms};
use super::{Actor, ConnRef, Ctx};
use crate::access;
use crate::error::ApiError;
use crate::hub::{Audience, Except, event};

fn no_channel(name: &str) -> ApiError {
    ApiError::not_found(format!("no channel named `{}`", shown(name)))
}

pub(crate) struct Rooms {
    ctx: Arc<Ctx>,
}

impl Rooms {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Rooms { ctx }
    }

    fn check_channel_name(&self, name: &str) -> Result<(), ApiError> {
        self.ctx
            .limits
            .check_channel(name)
            .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))
    }

    /// The channel `actor` means by `name`, if they may know it exists.
    async fn visible_channel(&self, actor: &Actor, name: &str) -> Result<ConvRecord, ApiError> {
        self.check_channel_name(name)?;
        let conv = self
            .ctx
            .store
            .channel_for(name, actor.id)
            .await?
            .ok_or_else(|| no_channel(name))?;
        let member = self.ctx.hub.members.is_member(conv.id, actor.id);
        if access::can_read(&conv, member) {
            Ok(conv)
        } else {
            Err(no_channel(name))
        }
    }

    pub(crate) async fn channel_info(
        &self,
        conv: &ConvRecord,
        joined: bool,
    ) -> Result<ChannelInfo, ApiError> {
        Ok(ChannelInfo {
            conv: conv.id,
            name: conv.name.clone(),
            private: conv.private,
            topic: conv.topic.clone(),
            owner: self.owner_name(conv).await?,
            members: self.ctx.hub.members.count(conv.id) as u32,
            joined,
            last_seq: conv.last_seq,
        })
    }

    async fn owner_name(&self, conv: &ConvRecord) -> Result<String, ApiError> {
        Ok(match conv.owner {
            Some(id) => self.ctx.name_of(id).await?,
            None => String::new(),
        })
    }

    pub(crate) async fn create_channel(
        &self,
        actor: &Actor,
        name: &str,
        private: bool,
        topic: Option<String>,
    ) -> Result<ChannelInfo, ApiError> {
        let limits = &self.ctx.limits;
        self.check_channel_name(name)?;
        let topic = topic.unwrap_or_default();
        limits
            .check_text("topic", &topic, limits.max_topic_chars)
            .map_err(|m| ApiError::new(ErrorCode::TooLong, m))?;
        let taken = || {
            ApiError::new(
                ErrorCode::NameTaken,
                format!("a channel named `{name}` already exists"),
            )
        };
        // Only channels the creator can see count, so that a private
        // channel is never revealed by its name.
        if self.ctx.store.channel_for(name, actor.id).await?.is_some() {
            return Err(taken());
        }
        let conv = self
            .ctx
            .store
            .create_channel(name, private, &topic, actor.id)
            .await
            .map_err(|e| match e {
                StoreError::NameTaken(_) => taken(),
                e => e.into(),
            })?;
        self.ctx.hub.members.add(conv.id, actor.id, 0);
        self.channel_info(&conv, true).await
    }

    /// Joins a public channel, or (a visitor) starts watching it.
    pub(crate) async fn join(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        name: &str,
    ) -> Result<ChannelInfo, ApiError> {
        let hub = &self.ctx.hub;
        if actor.role == Role::Visitor {
            // The same answer for private and missing channels, so that a
            // visitor learns nothing about private ones.
            let conv = match self.check_channel_name(name) {
                Ok(()) => self.ctx.store.public_channel(name).await?,
                Err(_) => None,
            };
            let Some(conv) = conv else {
                return Err(ApiError::forbidden(format!(
                    "visitors are read-only and may only watch public channels; there is no public channel `{}`",
                    shown(name)
                )));
            };
            hub.members.watch(conv.id, conn.id, conn.outbox.clone());
            return self.channel_info(&conv, true).await;
        }
        let conv = self.visible_channel(actor, name).await?;
        let already = || {
            ApiError::new(
                ErrorCode::AlreadyMember,
                format!("you are already in `{name}`"),
            )
        };
        // A private channel here is one the actor is in (or they could not
        // see it).
        if conv.private || !self.ctx.store.add_member(conv.id, actor.id).await? {
            return Err(already());
        }
        hub.members.add(conv.id, actor.id, 0);
        let frame = event(ServerBody::MemberJoined {
            conv: conv.id,
            channel: conv.name.clone(),
            user: actor.name.clone(),
        });
        hub.bus
            .publish(Audience::Conv(conv.id), &frame, Except::conn(conn.id));
        self.channel_info(&conv, true).await
    }

    /// Leaves a channel (a visitor: stops watching it). Returns the
    /// conversation left.
    pub(crate) async fn leave(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        watching: &HashSet<ConvId>,
        name: &str,
    ) -> Result<ConvId, ApiError> {
        let hub = &self.ctx.hub;
        if actor.role == Role::Visitor {
            let conv = match self.check_channel_name(name) {
                Ok(()) => self.ctx.store.public_channel(name).await?,
                Err(_) => None,
            };
            return match conv.filter(|c| watching.contains(&c.id)) {
                Some(c) => {
                    hub.members.unwatch(c.id, conn.id);
                    Ok(c.id)
                }
                None => Err(ApiError::new(
                    ErrorCode::NotMember,
                    format!("you are not watching `{}`", shown(name)),
                )),
            };
        }
        let conv = self.visible_channel(actor, name).await?;
        if !self.ctx.store.remove_member(conv.id, actor.id).await? {
            return Err(ApiError::new(
                ErrorCode::NotMember,
                format!("you are not in `{name}`"),
            ));
        }
        let frame = event(ServerBody::MemberLeft {
            conv: conv.id,
            channel: conv.name.clone(),
            user: actor.name.clone(),
        });
        hub.bus
            .publish(Audience::Conv(conv.id), &frame, Except::conn(conn.id));
        hub.members.remove(conv.id, actor.id);
        Ok(conv.id)
    }

    /// Public channels and the private ones the actor is in.
    pub(crate) async fn list(
        &self,
        actor: &Actor,
        watching: &HashSet<ConvId>,
    ) -> Result<Vec<ChannelInfo>, ApiError> {
        let members = &self.ctx.hub.members;
        let rows = self.ctx.store.list_channels(actor.id).await?;
        Ok(rows
            .into_iter()
            .map(|r| ChannelInfo {
                joined: members.is_member(r.conv.id, actor.id) || watching.contains(&r.conv.id),
                conv: r.conv.id,
                name: r.conv.name,
                private: r.conv.private,
                topic: r.conv.topic,
                owner: r.owner_name,
                members: r.members,
                last_seq: r.conv.last_seq,
            })
            .collect())
    }

    /// Adds `user` to a channel (its owner or an admin).
    pub(crate) async fn invite(
        &self,
        actor: &Actor,
        name: &str,
        user: &str,
    ) -> Result<(), ApiError> {
        let conv = self.visible_channel(actor, name).await?;
        if !access::can_manage(actor, &conv) {
            return Err(ApiError::forbidden(format!(
                "only the owner of `{name}` or an admin can invite to it"
            )));
        }
        let target = self.ctx.user_named(user).await?;
        if !self.ctx.store.add_member(conv.id, target.id).await? {
            return Err(ApiError::new(
                ErrorCode::AlreadyMember,
                format!("`{user}` is already in `{name}`"),
            ));
        }
        let hub = &self.ctx.hub;
        let joined = event(ServerBody::MemberJoined {
            conv: conv.id,
            channel: conv.name.clone(),
            user: target.name.clone(),
        });
        // Before they are a member: they hear of it as an invitation.
        hub.bus
            .publish(Audience::Conv(conv.id), &joined, Except::NONE);
        hub.members.add(conv.id, target.id, 0);
        let info = self.channel_info(&conv, true).await?;
        hub.bus.publish(
            Audience::User(target.id),
            &event(ServerBody::Invited {
                channel: info,
                by: actor.name.clone(),
            }),
            Except::NONE,
        );
        Ok(())
    }

    /// Deletes a channel and its history (its owner or an admin).
    /// Deletes channel `name` (its owner or an admin); returns its id.
    pub(crate) async fn delete(&self, actor: &Actor, name: &str) -> Result<ConvId, ApiError> {
        let conv = self.visible_channel(actor, name).await?;
        if !access::can_manage(actor, &conv) {
            return Err(ApiError::forbidden(format!(
                "only the owner of `{name}` or an admin can delete it"
            )));
        }
        let id = conv.id;
        self.remove(conv).await?;
        Ok(id)
    }

    /// Deletes a channel and tells its members (the access check is the
    /// caller's: the owner, or an admin through `admin`).
    pub(crate) async fn remove(&self, conv: ConvRecord) -> Result<(), ApiError> {
        self.ctx.store.delete_conv(conv.id).await?;
        let hub = &self.ctx.hub;
        let frame = event(ServerBody::ChannelDeleted {
            conv: conv.id,
            channel: conv.name,
        });
        hub.bus
            .publish(Audience::Conv(conv.id), &frame, Except::NONE);
        hub.members.remove_conv(conv.id);
        Ok(())
    }

    /// Members of a conversation the actor may read, with their presence.
    pub(crate) async fn members(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
    ) -> Result<Vec<MemberInfo>, ApiError> {
        messages.readable(actor, conv).await?;
        self.member_infos(conv).await
    }

    pub(crate) async fn channel_members(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(ConvId, Vec<MemberInfo>), ApiError> {
        let conv = self.visible_channel(actor, name).await?;
        Ok((conv.id, self.member_infos(conv.id).await?))
    }

    async fn member_infos(&self, conv: ConvId) -> Result<Vec<MemberInfo>, ApiError> {
        let presence = &self.ctx.hub.presence;
        Ok(self
            .ctx
            .store
            .members(conv)
            .await?
            .into_iter()
            .map(|u| MemberInfo {
                online: presence.is_visible(u.id),
                name: u.name,
                role: u.role,
            })
            .collect())
    }

    // ---- groups ----

    fn check_group_name(&self, name: &str) -> Result<(), ApiError> {
        let limits = &self.ctx.limits;
        let len = name.chars().count();
        if len > limits.max_group_name_chars {
            return Err(ApiError::new(
                ErrorCode::TooLong,
                format!(
                    "a group name is at most {} characters long, got {len}",
                    limits.max_group_name_chars
                ),
            ));
        }
        limits
            .check_group_name(name)
            .map_err(|m| ApiError::new(ErrorCode::InvalidName, m))
    }

    /// The group `conv` if the actor is in it.
    async fn group_of(&self, actor: &Actor, conv: ConvId) -> Result<ConvRecord, ApiError> {
        let record = self
            .ctx
            .store
            .conv(conv)
            .await?
            .filter(|c| c.kind == ConvKind::Group)
            .ok_or_else(|| no_conv(conv))?;
        if self.ctx.hub.members.is_member(conv, actor.id) {
            Ok(record)
        } else {
            Err(no_conv(conv))
        }
    }

    /// Resolves names to users the actor may add: existing, their friends,
    /// each once, not the actor.
    async fn addable(
        &self,
        actor: &Actor,
        names: &[String],
    ) -> Result<Vec<(UserId, String)>, ApiError> {
        let mut out: Vec<(UserId, String)> = Vec::new();
        for name in names {
            if name == &actor.name || out.iter().any(|(_, n)| n == name) {
                continue;
            }
            let user = self.ctx.user_named(name).await?;
            access::can_be_added(&self.ctx.hub.relations, actor, user.id, name)?;
            out.push((user.id, user.name));
        }
        Ok(out)
    }

    fn check_size(&self, members: usize) -> Result<(), ApiError> {
        let max = self.ctx.limits.max_group_members;
        if members > max {
            return Err(ApiError::new(
                ErrorCode::TooLong,
                format!("a group has at most {max} members; this would make {members}"),
            ));
        }
        Ok(())
    }

    fn system(actor: &Actor, conv: Dest, event: SystemEvent, effect: Option<Effect>) -> NewMessage {
        NewMessage {
            dest: conv,
            sender: actor.id,
            sender_name: actor.name.clone(),
            body: Body::System(event),
            nonce: None,
            ts: now_ms(),
            hidden_for: None,
            effect,
        }
    }

    /// Tells each newly added user about the group; they see its log
    /// after `from_seq`.
    async fn announce_added(
        &self,
        actor: &Actor,
        conv: ConvId,
        from_seq: Seq,
        users: &[(UserId, String)],
    ) -> Result<GroupInfo, ApiError> {
        let info = self.group_info(conv).await?;
        let frame = event(ServerBody::GroupAdded {
            group: info.clone(),
            by: actor.name.clone(),
            from_seq,
        });
        for (id, _) in users {
            self.ctx
                .hub
                .bus
                .publish(Audience::User(*id), &frame, Except::NONE);
        }
        Ok(info)
    }

    pub(crate) async fn create_group(
        &self,
        actor: &Actor,
        messages: &Messages,
        name: &str,
        members: &[String],
        owner_only_add: bool,
    ) -> Result<GroupInfo, ApiError> {
        self.check_group_name(name)?;
        let name = name.trim();
        // Before looking anyone up: a list far too long is refused at once.
        self.check_size(distinct_others(actor, members) + 1)?;
        let users = self.addable(actor, members).await?;
        self.make_group(actor, messages, name, users, owner_only_add, None)
            .await
    }

    /// Makes a group of `actor` and `users` (checked already); `nonce`
    /// marks its first entry (the bridge's own, see [`crate::bridge`]).
    pub(crate) async fn make_group(
        &self,
        actor: &Actor,
        messages: &Messages,
        name: &str,
        users: Vec<(UserId, String)>,
        owner_only_add: bool,
        nonce: Option<String>,
    ) -> Result<GroupInfo, ApiError> {
        let mut entry = Self::system(
            actor,
            Dest::NewGroup {
                name: name.to_owned(),
                owner_only_add,
                members: users.iter().map(|(id, _)| *id).collect(),
            },
            SystemEvent::Created {
                name: name.to_owned(),
                members: users.iter().map(|(_, n)| n.clone()).collect(),
            },
            None,
        );
        entry.nonce = nonce;
        let created = messages.post_and_wait(entry).await?;
        self.announce_added(actor, created.message.conv, 0, &users)
            .await
    }

    pub(crate) async fn group_add(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
        names: &[String],
    ) -> Result<(), ApiError> {
        let group = self.group_of(actor, conv).await?;
        access::can_add_to_group(actor, &group)?;
        if names.is_empty() {
            return Err(ApiError::bad_request("name at least one user to add"));
        }
        // Some named may be members already; this only refuses at once a
        // list that could never fit.
        self.check_size(distinct_others(actor, names))?;
        let users = self.addable(actor, names).await?;
        self.add_members(actor, messages, conv, users, None).await
    }

    /// Adds `users` (checked already) to group `conv` as `actor`; `nonce`
    /// marks the entry (the bridge's own, see [`crate::bridge`]).
    pub(crate) async fn add_members(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
        mut users: Vec<(UserId, String)>,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        let members = &self.ctx.hub.members;
        users.retain(|(id, _)| !members.is_member(conv, *id));
        if users.is_empty() {
            return Err(ApiError::new(
                ErrorCode::AlreadyMember,
                "everyone named is already in this group",
            ));
        }
        self.check_size(members.count(conv) + users.len())?;
        let mut entry = Self::system(
            actor,
            Dest::Conv(conv),
            SystemEvent::Added {
                users: users.iter().map(|(_, n)| n.clone()).collect(),
            },
            Some(Effect::AddMembers(
                users.iter().map(|(id, _)| *id).collect(),
            )),
        );
        entry.nonce = nonce;
        let added = messages.post_and_wait(entry).await?;
        // Someone added at the same moment by another member's entry keeps
        // the view that entry gave them, and has heard of it already.
        let from_seq = added.message.seq - 1;
        users.retain(|(id, _)| members.view_start(conv, *id) == Some(from_seq));
        self.announce_added(actor, conv, from_seq, &users).await?;
        Ok(())
    }

    pub(crate) async fn group_leave(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
    ) -> Result<(), ApiError> {
        self.leave_group(actor, messages, conv, None).await
    }

    /// `actor` leaves group `conv`; `nonce` marks the entry (the bridge's
    /// own, see [`crate::bridge`]).
    pub(crate) async fn leave_group(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
        nonce: Option<String>,
    ) -> Result<(), ApiError> {
        self.group_of(actor, conv).await?;
        let hub = &self.ctx.hub;
        // The store passes the owner's role on (to whoever has been in the
        // group longest) and names them in the entry.
        let mut entry = Self::system(
            actor,
            Dest::Conv(conv),
            SystemEvent::Left { owner: None },
            Some(Effect::Leave),
        );
        entry.nonce = nonce;
        messages.post_and_wait(entry).await.map_err(|e| {
            if e.code == ErrorCode::NotFound {
                no_conv(conv)
            } else {
                e
            }
        })?;
        if hub.members.count(conv) == 0 {
            // The last one out: nobody can read it any more. (The last two
            // leaving at once may both get here; gone is gone.)
            match self.ctx.store.delete_conv(conv).await {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            hub.members.remove_conv(conv);
        }
        Ok(())
    }

    /// Sets a channel's topic: its owner or an admin. Recorded in its log.
    pub(crate) async fn set_topic(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
        topic: String,
    ) -> Result<(), ApiError> {
        let topic = topic.trim().to_owned();
        let limits = &self.ctx.limits;
        limits
            .check_text("topic", &topic, limits.max_topic_chars)
            .map_err(|m| ApiError::new(ErrorCode::TooLong, m))?;
        let (record, _) = messages.readable(actor, conv).await?;
        if record.kind != ConvKind::Channel {
            return Err(ApiError::bad_request(format!(
                "conversation {conv} is not a channel: only channels have topics"
            )));
        }
        if !access::can_manage(actor, &record) {
            return Err(ApiError::forbidden(format!(
                "only the owner of #{} or an admin may change its topic",
                shown(&record.name)
            )));
        }
        if record.topic == topic {
            return Ok(());
        }
        messages
            .post_and_wait(Self::system(
                actor,
                Dest::Conv(conv),
                SystemEvent::Topic {
                    topic: topic.clone(),
                },
                Some(Effect::Topic(topic)),
            ))
            .await?;
        Ok(())
    }

    pub(crate) async fn group_update(
        &self,
        actor: &Actor,
        messages: &Messages,
        conv: ConvId,
        name: Option<String>,
        owner_only_add: Option<bool>,
    ) -> Result<GroupInfo, ApiError> {
        let group = self.group_of(actor, conv).await?;
        if name.is_none() && owner_only_add.is_none() {
            return Err(ApiError::bad_request(
                "give a new `name`, or `owner_only_add`, or both",
            ));
        }
        if let Some(name) = &name {
            self.check_group_name(name)?;
        }
        if owner_only_add.is_some() && group.owner != Some(actor.id) {
            return Err(ApiError::forbidden(format!(
                "only the owner of “{}” decides who may add people",
                shown(&group.name)
            )));
        }
        if let Some(name) = name.map(|n| n.trim().to_owned())
            && name != group.name
        {
            messages
                .post_and_wait(Self::system(
                    actor,
                    Dest::Conv(conv),
                    SystemEvent::Renamed { name: name.clone() },
                    Some(Effect::Rename(name)),
                ))
                .await?;
        }
        if let Some(only) = owner_only_add
            && only != group.owner_only_add
        {
            messages
                .post_and_wait(Self::system(
                    actor,
                    Dest::Conv(conv),
                    SystemEvent::AddPolicy { owner_only: only },
                    Some(Effect::AddPolicy(only)),
                ))
                .await?;
        }
        self.group_info(conv).await
    }

    /// A group the actor is in, as it is now.
    pub(crate) async fn group(&self, actor: &Actor, conv: ConvId) -> Result<GroupInfo, ApiError> {
        self.group_of(actor, conv).await?;
        self.group_info(conv).await
    }

    pub(crate) async fn group_info(&self, conv: ConvId) -> Result<GroupInfo, ApiError> {
        let record = self.ctx.conv(conv).await?;
        let members = self
            .ctx
            .store
            .members(conv)
            .await?
            .into_iter()
            .map(|u| u.name)
            .collect();
        Ok(GroupInfo {
            conv,
            owner: self.owner_name(&record).await?,
            name: record.name,
            owner_only_add: record.owner_only_add,
            members,
            last_seq: record.last_seq,
        })
    }
}

/// How many different users `names` names, the actor aside.
fn distinct_others(actor: &Actor, names: &[String]) -> usize {
    names
        .iter()
        .filter(|n| **n != actor.name)
        .collect::<HashSet<_>>()
        .len()
}
