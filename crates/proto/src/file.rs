//! Files: what a `file` or `offer` message carries, what `hello` says about
//! uploads, and the rules every client and the server share (ids, names,
//! hashes, tus metadata).
//!
//! Files travel over HTTP on the web listener, not over the chat
//! connection: uploads speak tus 1.0 at `/uploads` (creation, checksum with
//! sha256, termination, expiration), downloads are `GET /files/{id}` (and
//! `/files/{id}/thumb` for an image's thumbnail), both with
//! `Authorization: Bearer <session token>`. docs/PROTOCOL.md has the whole
//! exchange.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A file in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct FileInfo {
    /// Download it from `/files/{id}`.
    pub id: String,
    /// Its name as the uploader gave it (shown; never a path anywhere).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its type, detected by the server from its content (not its name).
    pub mime: String,
    /// SHA-256 of its bytes, lowercase hex: check a download against it.
    pub sha256: String,
    /// For an image the server could read: its size (after its EXIF
    /// orientation), and a thumbnail at `/files/{id}/thumb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
}

/// An image's dimensions in pixels, as it is shown (rotated by its EXIF
/// orientation), so clients can reserve its place before it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
}

/// What `hello` says about files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FilesInfo {
    /// The web listener's port, on the host the client connected to
    /// (uploads at `/uploads`, downloads at `/files/{id}`).
    pub port: u16,
    /// Whether it speaks HTTPS (with the same certificate as the TLS port).
    pub https: bool,
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// What one user may store in all, in bytes, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
}

/// The length of file and upload ids: 32 lowercase hex digits (128 random
/// bits).
pub const ID_LEN: usize = 32;

/// Whether `s` is a well-formed file or upload id. Checked before any
/// lookup, so that nothing else a client sends is ever looked up, let
/// alone used as a path.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` is a SHA-256 in lowercase hex.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Longest file name kept, in bytes (longer ones are cut at a character
/// boundary, keeping the extension).
pub const MAX_NAME_BYTES: usize = 200;

/// A file name fit to show: the last component of whatever path it came
/// with (either slash), without control characters, not empty, at most
/// [`MAX_NAME_BYTES`]. Shown to people and offered as the name to save
/// under; the server never uses it as a path.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    name = name.trim().trim_start_matches('.').to_owned();
    if name.is_empty() {
        return "file".to_owned();
    }
    if name.len() > MAX_NAME_BYTES {
        let ext = match name.rfind('.') {
            Some(i) if name.len() - i <= 16 => name[i..].to_owned(),
            _ => String::new(),
        };
        let mut cut = MAX_NAME_BYTES - ext.len();
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push_str(&ext);
    }
    name
}

/// The tus `Upload-Metadata` keys Confab reads. Each value is base64 in
/// the header, as tus says; others (`filetype`, ...) are ignored.
pub mod meta {
    /// The file's name (tus-js-client's convention; `name` is read too).
    pub const FILENAME: &str = "filename";
    /// The whole file's SHA-256, hex. Required.
    pub const SHA256: &str = "sha256";
    /// Post it to this conversation (its id).
    pub const CONV: &str = "conv";
    /// Offer it to this user (a direct file offer) instead.
    pub const OFFER_TO: &str = "offer_to";
    /// Make it the uploader's profile picture instead (any value).
    pub const AVATAR: &str = "avatar";
    /// The message's nonce, so that a retried upload posts once.
    pub const NONCE: &str = "nonce";
}

/// `size` in bytes as people read it: `0 B`, `980 B`, `1.5 KB`, `23 MB`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = size as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{size} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_paths_and_controls() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\x.png"), "x.png");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_name("..."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name("/"), "file");
        assert_eq!(clean_name(".bashrc"), "bashrc");
        assert_eq!(clean_name("evil\u{202e}gpj.exe"), "evilgpj.exe");
        let long = format!("{}.jpeg", "é".repeat(300));
        let c = clean_name(&long);
        assert!(c.len() <= MAX_NAME_BYTES && c.ends_with(".jpeg"), "{c}");
    }

    #[test]
    fn ids_and_hashes_are_strict() {
        assert!(is_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_id("../../../../../../../../etc/pass"));
        assert!(!is_id("0123456789abcdef"));
        assert!(is_sha256(&"a".repeat(64)));
        assert!(!is_sha256(&"g".repeat(64)));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500), "1.5 KB");
        assert_eq!(human_size(23_000_000), "23 MB");
        assert_eq!(human_size(1_000_000_000), "1.0 GB");
    }
}
