//! Limits and naming rules. The server announces [`Limits`] in its `hello`
//! reply; clients may check input against the same rules before sending.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Sizes the server enforces. Every field is announced in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    /// Largest frame payload, in bytes (TCP: after the length prefix).
    pub max_frame_bytes: usize,
    /// Longest message text, in characters (Unicode scalar values).
    pub max_text_chars: usize,
    /// User names: this many characters at least...
    pub min_username_chars: usize,
    /// ...and at most.
    pub max_username_chars: usize,
    /// Longest channel name, in characters.
    pub max_channel_chars: usize,
    /// Longest channel topic, in characters.
    pub max_topic_chars: usize,
    /// Shortest password, in characters.
    pub min_password_chars: usize,
    /// Longest password, in bytes.
    pub max_password_bytes: usize,
    /// Longest client nonce, in bytes.
    pub max_nonce_bytes: usize,
    /// Most messages one `history` or `sync` page returns per conversation.
    pub max_page: u32,
    /// Longest group name, in characters.
    #[serde(default = "defaults::max_group_name_chars")]
    pub max_group_name_chars: usize,
    /// Most members of a group conversation.
    #[serde(default = "defaults::max_group_members")]
    pub max_group_members: usize,
}

/// Defaults for fields added after version 1 was first released, so that a
/// client reading an older server's `hello` still gets sensible values.
mod defaults {
    pub fn max_group_name_chars() -> usize {
        64
    }
    pub fn max_group_members() -> usize {
        100
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_text_chars: 4000,
            min_username_chars: 3,
            max_username_chars: 32,
            max_channel_chars: 32,
            max_topic_chars: 256,
            min_password_chars: 8,
            max_password_bytes: 1024,
            max_nonce_bytes: 64,
            max_page: 500,
            max_group_name_chars: defaults::max_group_name_chars(),
            max_group_members: defaults::max_group_members(),
        }
    }
}

/// Input echoed in an error message is cut to this many characters, so a
/// 1,000-character name is not sent back whole.
pub const SHOWN_CHARS: usize = 40;

/// `s` as an error message may quote it: at most [`SHOWN_CHARS`]
/// characters, with `…` when cut.
pub fn shown(s: &str) -> String {
    clip(s, SHOWN_CHARS)
}

/// `s` cut to `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// Longest `search` query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Longest live stream title, in characters.
pub const MAX_STREAM_TITLE_CHARS: usize = 100;

/// Largest `signal` payload (an SDP offer with many codecs is a few KiB),
/// in bytes of its JSON.
pub const MAX_SIGNAL_BYTES: usize = 16 * 1024;

/// Longest reaction, in bytes (an emoji with its modifiers and joiners).
pub const MAX_EMOJI_BYTES: usize = 64;

/// Prefix of the temporary names given to visitors; registered names may not use it.
pub const VISITOR_PREFIX: &str = "visitor-";

/// Prefix of the names deleted accounts keep (`deleted-<id>`), under which
/// their messages stay; registered names may not use it.
pub const DELETED_PREFIX: &str = "deleted-";

impl Limits {
    /// Checks a user name: lowercase ASCII letters, digits, `_` and `-`,
    /// starting with a letter, within the length limits. The error says which
    /// rule failed.
    pub fn check_username(&self, name: &str) -> Result<(), String> {
        self.check_name(
            "user name",
            name,
            self.min_username_chars,
            self.max_username_chars,
        )?;
        if name.starts_with(VISITOR_PREFIX) {
            return Err(format!(
                "user name must not start with `{VISITOR_PREFIX}` (reserved for visitors)"
            ));
        }
        if name.starts_with(DELETED_PREFIX) {
            return Err(format!(
                "user name must not start with `{DELETED_PREFIX}` (reserved for deleted accounts)"
            ));
        }
        Ok(())
    }

    /// Checks a channel name: the same characters as user names, 1 to
    /// `max_channel_chars` long.
    pub fn check_channel(&self, name: &str) -> Result<(), String> {
        self.check_name("channel name", name, 1, self.max_channel_chars)
    }

    fn check_name(&self, what: &str, name: &str, min: usize, max: usize) -> Result<(), String> {
        let len = name.chars().count();
        if len < min || len > max {
            return Err(format!(
                "{what} must be {min} to {max} characters long, got {len}"
            ));
        }
        let first = name.chars().next().unwrap_or('_');
        if !first.is_ascii_lowercase() {
            return Err(format!(
                "{what} must start with a lowercase letter a-z, not `{first}`"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
        {
            return Err(format!(
                "{what} may contain only lowercase letters a-z, digits, `_` and `-`; `{bad}` is not allowed"
            ));
        }
        Ok(())
    }

    /// Checks a group name: free text (not a channel name), not blank, at
    /// most `max_group_name_chars` characters.
    pub fn check_group_name(&self, name: &str) -> Result<(), String> {
        if name.trim().is_empty() {
            return Err("a group name must not be empty".into());
        }
        if name.chars().any(char::is_control) {
            return Err("a group name must be one line without control characters".into());
        }
        self.check_text("name", name, self.max_group_name_chars)
    }

    /// Checks a new password's length.
    pub fn check_password(&self, password: &str) -> Result<(), String> {
        let chars = password.chars().count();
        if chars < self.min_password_chars {
            return Err(format!(
                "password must be at least {} characters long, got {chars}",
                self.min_password_chars
            ));
        }
        if password.len() > self.max_password_bytes {
            return Err(format!(
                "password must be at most {} bytes long",
                self.max_password_bytes
            ));
        }
        Ok(())
    }

    /// Checks a text field against a character limit; `field` names it in the error.
    pub fn check_text(&self, field: &str, text: &str, max_chars: usize) -> Result<(), String> {
        let len = text.chars().count();
        if len > max_chars {
            return Err(format!(
                "`{field}` is {len} characters long; the limit is {max_chars}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules_say_which_rule_failed() {
        let l = Limits::default();
        assert!(l.check_username("alice_2-b").is_ok());
        assert!(
            l.check_username("al")
                .unwrap_err()
                .contains("3 to 32 characters")
        );
        assert!(
            l.check_username("Alice")
                .unwrap_err()
                .contains("start with a lowercase letter")
        );
        assert!(
            l.check_username("al ice")
                .unwrap_err()
                .contains("` ` is not allowed")
        );
        assert!(
            l.check_username("visitor-1")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            l.check_username(&"a".repeat(33))
                .unwrap_err()
                .contains("got 33")
        );
    }

    #[test]
    fn text_limit_counts_characters_not_bytes() {
        let l = Limits::default();
        assert!(l.check_text("text", &"é".repeat(4000), 4000).is_ok());
        assert!(
            l.check_text("text", &"é".repeat(4001), 4000)
                .unwrap_err()
                .contains("`text`")
        );
    }
}
