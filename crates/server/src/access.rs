//! Who may do what, decided in one place.
//!
//! Every request has a [`Spec`] ([`spec`], an exhaustive match: a request
//! without one does not compile): who may call it at all, and its rate
//! class. [`check`] enforces the first before any handler runs. The
//! object-level rules (may this user read this conversation, post in it,
//! manage it, add people to it, write to that person?) are the functions
//! below; services ask them and never decide access themselves.
//!
//! To add a request: give it a `Spec`. To add a rule: a function here,
//! with a doc comment, called by the service that needs it.

use confab_proto::{ErrorCode, Request, Role, limits::shown};
use confab_store::{ConvRecord, UserId};

use crate::error::ApiError;
use crate::hub::relations::Relations;

/// Who may call a request at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// At any time (heartbeats).
    Always,
    /// Only as the first request.
    Handshake,
    /// After the handshake, before logging in.
    Guest,
    /// Any logged-in user, visitors included: reading.
    Reader,
    /// Logged-in users who are not visitors: writing.
    Writer,
    /// Admins.
    Admin,
}

/// How a request counts against rate limits (which come with the admin
/// work; the classes are decided here so that every request has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    /// Heartbeats and the handshake: not limited.
    Free,
    /// Password checks: slow on purpose, limited per address.
    Login,
    /// Reads of the store.
    Read,
    /// Writes to a conversation's log.
    Post,
    /// Typing notices: frequent, cheap, droppable.
    Typing,
    /// Everything else that changes state.
    Change,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    pub who: Who,
    pub rate: Rate,
}

const fn s(who: Who, rate: Rate) -> Spec {
    Spec { who, rate }
}

pub(crate) fn spec(req: &Request) -> Spec {
    use Request::*;
    use Who::*;
    match req {
        Ping {} | Pong {} => s(Always, Rate::Free),
        Hello { .. } => s(Handshake, Rate::Free),
        Register { .. } | Login { .. } => s(Guest, Rate::Login),
        Resume { .. } | Visitor {} => s(Guest, Rate::Read),
        Logout {} | Whoami {} => s(Reader, Rate::Free),
        ChannelList {}
        | ChannelMembers { .. }
        | Members { .. }
        | History { .. }
        | Sync { .. }
        | Users {} => s(Reader, Rate::Read),
        ChannelJoin { .. } | ChannelLeave { .. } => s(Reader, Rate::Change),
        ChangePassword { .. } => s(Writer, Rate::Login),
        SetStatus { .. }
        | ChannelCreate { .. }
        | ChannelInvite { .. }
        | ChannelDelete { .. }
        | FriendRequest { .. }
        | FriendAccept { .. }
        | FriendDecline { .. }
        | FriendCancel { .. }
        | FriendRemove { .. }
        | Block { .. }
        | Unblock { .. }
        | UdpOpen {} => s(Writer, Rate::Change),
        Friends {} | Group { .. } => s(Writer, Rate::Read),
        Search { .. } => s(Reader, Rate::Read),
        Read { .. } => s(Writer, Rate::Change),
        Send { .. }
        | DmSend { .. }
        | React { .. }
        | Answer { .. }
        | Edit { .. }
        | Delete { .. }
        | Topic { .. }
        | GroupCreate { .. }
        | GroupAdd { .. }
        | GroupLeave { .. }
        | GroupUpdate { .. } => s(Writer, Rate::Post),
        Typing { .. } => s(Writer, Rate::Typing),
        StreamStart { .. } | StreamStop { .. } => s(Writer, Rate::Post),
        // Watching and signalling: visitors watch public channels' streams.
        StreamWatch { .. } | StreamUnwatch { .. } | StreamIce { .. } | Signal { .. } => {
            s(Reader, Rate::Change)
        }
        Streams { .. } => s(Reader, Rate::Read),
        AdminUsers { .. }
        | AdminUserCreate { .. }
        | AdminUserUpdate { .. }
        | AdminUserDelete { .. }
        | AdminUserPassword { .. }
        | AdminUserRevoke { .. }
        | AdminChannels {}
        | AdminChannelDelete { .. }
        | AdminChannelOwner { .. }
        | AdminStats {}
        | AdminAudit { .. }
        | AdminBroadcast { .. }
        | AdminShutdown { .. }
        | AdminInvite { .. } => s(Admin, Rate::Change),
    }
}

/// The caller as [`check`] sees it.
pub(crate) struct Caller<'a> {
    pub handshaken: bool,
    pub user: Option<(&'a str, Role)>,
}

/// Whether the caller may make this request at all; its spec if so (the
/// rate limits want its class next).
pub(crate) fn check(req: &Request, caller: &Caller) -> Result<Spec, ApiError> {
    let spec = spec(req);
    allowed(req, spec.who, caller).map(|()| spec)
}

fn allowed(req: &Request, need: Who, caller: &Caller) -> Result<(), ApiError> {
    match need {
        Who::Always => return Ok(()),
        Who::Handshake if caller.handshaken => {
            return Err(ApiError::new(
                ErrorCode::AlreadyDone,
                "the handshake is already done",
            ));
        }
        Who::Handshake => return Ok(()),
        _ if !caller.handshaken => {
            return Err(ApiError::new(
                ErrorCode::HandshakeRequired,
                format!("send `hello` before `{}`", req.type_name()),
            ));
        }
        _ => {}
    }
    match (need, caller.user) {
        (Who::Guest, Some((name, _))) => Err(ApiError::new(
            ErrorCode::AlreadyDone,
            format!("already logged in as `{name}`; send `logout` first"),
        )),
        (Who::Guest, None) => Ok(()),
        (_, None) => Err(ApiError::new(
            ErrorCode::AuthRequired,
            format!(
                "log in (or enter as a visitor) before `{}`",
                req.type_name()
            ),
        )),
        (Who::Writer, Some((_, Role::Visitor))) => Err(visitor_read_only(req.type_name())),
        (Who::Admin, Some((_, role))) if role != Role::Admin => Err(ApiError::forbidden(format!(
            "`{}` is for admins",
            req.type_name()
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn visitor_read_only(what: &str) -> ApiError {
    ApiError::forbidden(format!(
        "visitors are read-only: register or log in to use `{what}`"
    ))
}

/// Who is acting, as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

/// Anyone may read a public channel; private channels, DMs and groups only
/// their members.
pub(crate) fn can_read(conv: &ConvRecord, is_member: bool) -> bool {
    is_member || !conv.private
}

/// Live streams are in channels, hosted by their members (visitors are
/// refused before this, as for every writing request).
pub(crate) fn can_stream(conv: &ConvRecord, is_member: bool) -> Result<(), ApiError> {
    if conv.kind != confab_proto::ConvKind::Channel {
        return Err(ApiError::bad_request("live streams are in channels"));
    }
    if !is_member {
        return Err(ApiError::forbidden(format!(
            "join #{} to stream in it",
            shown(&conv.name)
        )));
    }
    Ok(())
}

/// A channel's live streams are for its members to see and watch, and for
/// visitors when it is public.
pub(crate) fn can_watch(conv: &ConvRecord, is_member: bool, actor: &Actor) -> bool {
    is_member || (actor.role == Role::Visitor && !conv.private)
}

/// Only members post, in every kind of conversation.
pub(crate) fn can_post(is_member: bool) -> bool {
    is_member
}

/// Owners manage their channels (invite, delete); admins manage every channel.
pub(crate) fn can_manage(actor: &Actor, conv: &ConvRecord) -> bool {
    actor.role == Role::Admin || conv.owner == Some(actor.id)
}

/// Only the sender edits a message.
pub(crate) fn can_edit(actor: &Actor, message: &confab_proto::Message) -> bool {
    message.sender == actor.name
}

/// The sender deletes their message; in a channel its owner and admins
/// delete any.
pub(crate) fn can_delete(
    actor: &Actor,
    conv: &ConvRecord,
    message: &confab_proto::Message,
) -> bool {
    message.sender == actor.name
        || (conv.kind == confab_proto::ConvKind::Channel && can_manage(actor, conv))
}

/// Who may add people to a group: any member, or only the owner when the
/// owner says so.
pub(crate) fn can_add_to_group(actor: &Actor, group: &ConvRecord) -> Result<(), ApiError> {
    if group.owner_only_add && group.owner != Some(actor.id) {
        return Err(ApiError::forbidden(format!(
            "only the owner of “{}” may add people to it",
            shown(&group.name)
        )));
    }
    Ok(())
}

/// Who may be added to a group: the adder's friends. (So a user who
/// blocked someone can never be pulled into a conversation by them: a
/// block ends the friendship.)
pub(crate) fn can_be_added(
    relations: &Relations,
    actor: &Actor,
    user: UserId,
    name: &str,
) -> Result<(), ApiError> {
    let blocked = relations.blocks(actor.id, user) || relations.blocks(user, actor.id);
    if user == actor.id || (relations.are_friends(actor.id, user) && !blocked) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "you can add only your friends to a group, and `{}` is not your friend",
            shown(name)
        )))
    }
}

/// What becomes of a direct message from `sender` to `recipient`, whether
/// sent by name (`dm_send`) or to their conversation (`send`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dm {
    Deliver,
    /// The recipient blocked the sender. The message is kept and the sender
    /// told it was sent, as always: nothing reveals the block. The
    /// recipient reads it as withheld.
    Withhold,
    /// Refused: to oneself.
    ToSelf,
    /// Refused: the sender blocks the recipient (their own block, so
    /// saying so reveals nothing).
    SenderBlocks,
}

/// Whether `sender` may write to `recipient`, and how it is delivered.
pub(crate) fn dm(relations: &Relations, sender: UserId, recipient: UserId) -> Dm {
    if sender == recipient {
        Dm::ToSelf
    } else if relations.blocks(sender, recipient) {
        Dm::SenderBlocks
    } else if relations.blocks(recipient, sender) {
        Dm::Withhold
    } else {
        Dm::Deliver
    }
}

/// Whether someone typing in a conversation is shown to `member`: not to
/// someone who blocked them in a DM (in channels and groups they are seen
/// anyway, as their messages are).
pub(crate) fn typing_shown(
    relations: &Relations,
    typist: UserId,
    dm_partner: Option<UserId>,
) -> bool {
    dm_partner.is_none_or(|p| !relations.blocks(p, typist))
}

/// Whether `from` may ask `to` to be friends, and whether `to` hears of it.
/// A request to someone who blocked you is kept and answered as sent, but
/// they never see it.
pub(crate) fn befriend(
    relations: &Relations,
    from: UserId,
    to: UserId,
    to_name: &str,
) -> Result<bool, ApiError> {
    if from == to {
        return Err(ApiError::bad_request("you cannot befriend yourself"));
    }
    if relations.blocks(from, to) {
        return Err(ApiError::forbidden(format!(
            "you blocked `{}`: unblock them first",
            shown(to_name)
        )));
    }
    Ok(!relations.blocks(to, from))
}
