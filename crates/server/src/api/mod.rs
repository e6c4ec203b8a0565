//! The protocol's handlers: glue between a parsed request and a service.
//! Each parses what the request carries, calls one service method with the
//! session's [`Actor`](crate::access::Actor), and turns its result into a
//! reply. [`dispatch`] is the table (an exhaustive match: a request with no
//! handler does not compile).
//!
//! To add a request: a variant in `proto::Request`, a `Spec` in
//! [`crate::access::spec`], an arm here and a handler in the file for its
//! area, calling a service.

mod accounts;
mod admin;
mod channels;
mod groups;
mod messages;
mod social;
mod streams;

use confab_proto::{Request, ServerBody, ServerFrame};

use crate::access;
use crate::hub::encode;
use crate::session::{Reply, Session};

/// Handles one frame's payload: parses it strictly, asks
/// [`access::check`] whether the caller may make the request at all and
/// the rate limits whether now, hands it to its handler and queues the
/// reply.
pub(crate) async fn handle(s: &mut Session, payload: &[u8]) {
    let frame = match confab_proto::parse_client_frame(payload) {
        Ok(f) => f,
        Err(e) => return s.send_error(e.id, e.code, e.message),
    };
    let Some(id) = frame.id else {
        // Only `pong` may come without an id; the read itself was the point.
        return;
    };
    let rate = match access::check(&frame.req, &s.caller()) {
        Ok(spec) => spec.rate,
        Err(e) => return s.send_error(Some(id), e.code, e.message),
    };
    let register = matches!(frame.req, Request::Register { .. });
    let user = s.user.as_ref().map(|u| u.id);
    if let Err(wait) = s.shared.rates.check(rate, register, s.peer, user) {
        s.shared
            .hub
            .stats
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let what = match rate {
            access::Rate::Login if register => "new accounts from your address",
            access::Rate::Login => "password checks from your address",
            access::Rate::Post => "messages",
            _ => "requests",
        };
        let frame = ServerFrame::rate_limited(Some(id), what, wait);
        return s.conn.outbox.push_reply(encode(&frame));
    }
    let result = dispatch(s, id, frame.req).await;
    match result {
        Ok(Some(body)) => s
            .conn
            .outbox
            .push_reply(encode(&ServerFrame::reply(id, body))),
        Ok(None) => {}
        Err(e) => {
            if e.code == confab_proto::ErrorCode::RateLimited {
                s.shared
                    .hub
                    .stats
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            s.conn.outbox.push_reply(encode(&e.frame(Some(id))))
        }
    }
}

fn ok() -> Reply {
    Ok(Some(ServerBody::Ok {}))
}

async fn dispatch(s: &mut Session, id: u64, req: Request) -> Reply {
    use Request::*;
    match req {
        Hello { protocol, client } => accounts::hello(s, protocol, client),
        Register {
            username,
            password,
            invite,
            setup,
        } => accounts::register(s, username, password, invite, setup).await,
        Login { username, password } => accounts::login(s, username, password).await,
        Resume { token } => accounts::resume(s, token).await,
        Visitor {} => accounts::visitor(s),
        Logout {} => accounts::logout(s).await,
        ChangePassword {
            old_password,
            new_password,
        } => accounts::change_password(s, old_password, new_password).await,
        Whoami {} => Ok(Some(ServerBody::User {
            user: s.me().info(),
        })),
        SetStatus { invisible } => accounts::set_status(s, invisible).await,
        Ping {} => Ok(Some(ServerBody::Pong {})),
        Pong {} => Ok(None),
        Users {} => Ok(Some(ServerBody::Users {
            users: s.shared.hub.presence.visible_users(),
        })),
        ChannelCreate {
            name,
            private,
            topic,
        } => channels::create(s, name, private, topic).await,
        ChannelJoin { name } => channels::join(s, name).await,
        ChannelLeave { name } => channels::leave(s, name).await,
        ChannelList {} => channels::list(s).await,
        ChannelInvite { name, user } => channels::invite(s, name, user).await,
        ChannelDelete { name } => channels::delete(s, name).await,
        ChannelMembers { name } => channels::members(s, name).await,
        Members { conv } => channels::members_of(s, conv).await,
        Send {
            conv,
            text,
            nonce,
            reply_to,
        } => messages::send(s, id, conv, text, nonce, reply_to).await,
        DmSend {
            user,
            text,
            nonce,
            reply_to,
        } => messages::dm_send(s, id, user, text, nonce, reply_to).await,
        React {
            conv,
            target,
            emoji,
            remove,
            nonce,
        } => messages::react(s, id, conv, target, emoji, remove, nonce).await,
        Edit {
            conv,
            target,
            text,
            nonce,
        } => messages::edit(s, id, conv, target, text, nonce).await,
        Answer {
            conv,
            target,
            accept,
            nonce,
        } => messages::answer(s, id, conv, target, accept, nonce).await,
        Delete {
            conv,
            target,
            nonce,
        } => messages::delete(s, id, conv, target, nonce).await,
        Read { conv, seq } => messages::read(s, conv, seq).await,
        Search {
            query,
            conv,
            before,
            limit,
        } => messages::search(s, query, conv, before, limit).await,
        Topic { conv, topic } => messages::topic(s, conv, topic).await,
        History {
            conv,
            before,
            after,
            limit,
        } => messages::history(s, conv, before, after, limit).await,
        Sync { since, limit } => messages::sync(s, since, limit).await,
        Typing { conv } => messages::typing(s, conv),
        StreamStart {
            conv,
            title,
            max_viewers,
        } => streams::start(s, conv, title, max_viewers).await,
        StreamStop { stream } => streams::stop(s, stream).await,
        Streams { conv } => streams::list(s, conv).await,
        StreamWatch { stream } => streams::watch(s, stream).await,
        StreamUnwatch { stream } => streams::unwatch(s, stream),
        StreamIce { stream } => streams::ice(s, stream),
        Signal {
            stream,
            watch,
            data,
        } => streams::signal(s, stream, watch, data),
        FriendRequest { user } => social::request(s, user).await,
        FriendAccept { user } => social::accept(s, user).await,
        FriendDecline { user } => social::decline(s, user).await,
        FriendCancel { user } => social::cancel(s, user).await,
        FriendRemove { user } => social::remove(s, user).await,
        Block { user } => social::block(s, user).await,
        Unblock { user } => social::unblock(s, user).await,
        Friends {} => social::list(s).await,
        GroupCreate {
            name,
            members,
            owner_only_add,
        } => groups::create(s, name, members, owner_only_add).await,
        GroupAdd { conv, users } => groups::add(s, conv, users).await,
        GroupLeave { conv } => groups::leave(s, conv).await,
        Group { conv } => groups::info(s, conv).await,
        GroupUpdate {
            conv,
            name,
            owner_only_add,
        } => groups::update(s, conv, name, owner_only_add).await,
        UdpOpen {} => accounts::udp_open(s),
        AdminUsers { query, limit } => admin::users(s, query, limit).await,
        AdminUserCreate {
            name,
            password,
            role,
        } => admin::user_create(s, name, password, role).await,
        AdminUserUpdate {
            name,
            role,
            disabled,
        } => admin::user_update(s, name, role, disabled).await,
        AdminUserDelete { name } => admin::user_delete(s, name).await,
        AdminUserPassword { name, password } => admin::user_password(s, name, password).await,
        AdminUserRevoke { name } => admin::user_revoke(s, name).await,
        AdminChannels {} => admin::channels(s).await,
        AdminChannelDelete { conv } => admin::channel_delete(s, conv).await,
        AdminChannelOwner { conv, user } => admin::channel_owner(s, conv, user).await,
        AdminStats {} => admin::stats(s),
        AdminAudit { before, limit } => admin::audit(s, before, limit).await,
        AdminBroadcast { text } => admin::broadcast(s, text).await,
        AdminShutdown { reason } => admin::shutdown(s, reason).await,
        AdminInvite { uses, hours } => admin::invite(s, uses, hours).await,
    }
}
