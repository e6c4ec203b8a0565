//! Who may do what, decided in one place.
//!
//! [`check`] runs before every request: it knows which requests need the
//! handshake, a login, or a non-visitor account. Checks that depend on the
//! object (is this your channel?) are the small functions below, called by
//! the handlers. To add a request, give it an [`Access`] in [`access`].

use confab_proto::{ErrorCode, Request, Role};
use confab_store::{ConvRecord, UserId};

use crate::error::ApiError;

/// What a request needs before it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Allowed at any time (heartbeats).
    Always,
    /// Only as the first request.
    Handshake,
    /// After the handshake, before logging in.
    Guest,
    /// Any logged-in user, visitors included: reading.
    Reader,
    /// Logged-in users who are not visitors: writing.
    Writer,
}

pub(crate) fn access(req: &Request) -> Access {
    use Request::*;
    match req {
        Ping {} | Pong {} => Access::Always,
        Hello { .. } => Access::Handshake,
        Register { .. } | Login { .. } | Resume { .. } | Visitor {} => Access::Guest,
        Logout {}
        | Whoami {}
        | ChannelList {}
        | ChannelMembers { .. }
        | ChannelJoin { .. }
        | ChannelLeave { .. }
        | History { .. }
        | Sync { .. }
        | Users {} => Access::Reader,
        ChangePassword { .. }
        | SetStatus { .. }
        | ChannelCreate { .. }
        | ChannelInvite { .. }
        | ChannelDelete { .. }
        | Send { .. }
        | DmSend { .. }
        | Typing { .. } => Access::Writer,
    }
}

/// The caller as the policy sees it.
pub(crate) struct Caller<'a> {
    pub handshaken: bool,
    pub user: Option<(&'a str, Role)>,
}

pub(crate) fn check(req: &Request, caller: &Caller) -> Result<(), ApiError> {
    let need = access(req);
    match need {
        Access::Always => return Ok(()),
        Access::Handshake if caller.handshaken => {
            return Err(ApiError::new(
                ErrorCode::AlreadyDone,
                "the handshake is already done",
            ));
        }
        Access::Handshake => return Ok(()),
        _ if !caller.handshaken => {
            return Err(ApiError::new(
                ErrorCode::HandshakeRequired,
                format!("send `hello` before `{}`", req.type_name()),
            ));
        }
        _ => {}
    }
    match (need, caller.user) {
        (Access::Guest, Some((name, _))) => Err(ApiError::new(
            ErrorCode::AlreadyDone,
            format!("already logged in as `{name}`; send `logout` first"),
        )),
        (Access::Guest, None) => Ok(()),
        (_, None) => Err(ApiError::new(
            ErrorCode::AuthRequired,
            format!(
                "log in (or enter as a visitor) before `{}`",
                req.type_name()
            ),
        )),
        (Access::Writer, Some((_, Role::Visitor))) => Err(visitor_read_only(req.type_name())),
        _ => Ok(()),
    }
}

pub(crate) fn visitor_read_only(what: &str) -> ApiError {
    ApiError::forbidden(format!(
        "visitors are read-only: register or log in to use `{what}`"
    ))
}

/// Owners manage their channels; admins manage every channel.
pub(crate) fn can_manage(user: UserId, role: Role, conv: &ConvRecord) -> bool {
    role == Role::Admin || conv.owner == Some(user)
}

/// Anyone may read a public channel; private channels and DMs only their members.
pub(crate) fn can_read(conv: &ConvRecord, is_member: bool) -> bool {
    is_member || !conv.private
}
