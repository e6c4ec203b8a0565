//! Stable error codes. Clients match on the code; the message is for people.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every error the server can answer with. The serialized (snake_case) names
/// are part of the protocol and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame's bytes are not a frame: not UTF-8, or a binary WebSocket frame.
    BadFrame,
    /// The frame is larger than `limits.max_frame_bytes`.
    FrameTooLarge,
    /// The frame is not valid JSON.
    BadJson,
    /// The frame is JSON but not an object.
    NotObject,
    /// The `type` names no known request.
    UnknownType,
    /// A field is missing, unknown, or of the wrong type.
    BadRequest,
    /// The request came before `hello`.
    HandshakeRequired,
    /// The request needs a logged-in user.
    AuthRequired,
    /// `hello` or a login came twice.
    AlreadyDone,
    /// The client's protocol version is not supported.
    UnsupportedVersion,
    /// A user or channel name breaks a naming rule (the message says which).
    InvalidName,
    /// A password breaks a password rule.
    InvalidPassword,
    /// A text field is longer than its limit.
    TooLong,
    /// The name is already taken.
    NameTaken,
    /// Wrong user name or password.
    BadCredentials,
    /// The session token is unknown, expired or revoked.
    BadToken,
    /// The user may not do this (the message says why).
    Forbidden,
    /// No such user, channel or conversation (or it is private and you are not a member).
    NotFound,
    /// Already a member of that channel.
    AlreadyMember,
    /// Not a member of that channel.
    NotMember,
    /// Too many requests of this kind: `retry_after_ms` says when to try
    /// again (a send refused so is kept and sent again then).
    RateLimited,
    /// The server is shutting down.
    ShuttingDown,
    /// Something broke on the server; the request may be retried.
    Internal,
}
