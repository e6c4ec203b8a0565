//! Confab's wire protocol, shared by the server and every client.
//!
//! Nothing here does I/O, so the crate also compiles for `wasm32`.
//!
//! - [`msg`]: every message type. A client sends [`ClientFrame`]s, the server
//!   answers with [`ServerFrame`]s. To add a request, add a variant to
//!   [`Request`] (and its name to [`Request::TYPES`]), its reply to
//!   [`ServerBody`], then handle it in the server's `session` module and
//!   document it in `docs/PROTOCOL.md`; the schema test tells you to
//!   regenerate `docs/protocol.schema.json`.
//! - [`parse`]: strict parsing of a client frame, with errors that name what
//!   was wrong.
//! - [`frame`]: the 4-byte big-endian length prefix used on TCP.
//! - [`file`]: what file messages carry, and the rules for names, ids
//!   and hashes that the server and clients share.
//! - [`limits`]: sizes and name rules, announced in the handshake.
//! - `datagram` (feature `datagram`): the sealed UDP datagrams that carry
//!   typing notices for native clients.

pub mod body;
#[cfg(feature = "datagram")]
pub mod datagram;
pub mod error;
pub mod file;
pub mod frame;
pub mod limits;
pub mod msg;
pub mod parse;
pub mod schema;

pub use body::{Body, SystemEvent};
pub use error::ErrorCode;
pub use file::{FileInfo, FilesInfo, ImageInfo};
pub use limits::Limits;
pub use msg::*;
pub use parse::{ParseError, parse_client_frame};

/// The protocol version this crate speaks. A client sends it in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// SHA-256 fingerprint of a DER certificate as `AB:CD:...`, the form
/// browsers show. `confab serve` prints its certificate's, and clients show
/// it when asking whether to trust a self-signed server, so the two can be
/// compared by eye.
pub fn cert_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
