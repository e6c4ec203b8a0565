//! What a client keeps between runs: conversations, the messages it has
//! seen, the outbox of messages not yet acknowledged, and a few settings.
//!
//! The core talks to a [`Cache`]; [`MemoryCache`] keeps everything in memory
//! (tests, and the browser's working copy), the `native` feature adds a
//! SQLite one. Every write that matters (the outbox above all) returns a
//! `Result`, so a full disk is reported rather than a message lost.

use std::collections::{BTreeMap, HashMap};

use confab_proto::{ConvId, ConvKind, Message, Seq};
use serde::{Deserialize, Serialize};

/// A cache operation failed (the text says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("local cache: {0}")]
pub struct CacheError(pub String);

/// A conversation as the client remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedConv {
    pub conv: ConvId,
    pub kind: ConvKind,
    /// Channel name, or the other user's name for a DM.
    pub name: String,
    /// Every message after the first one cached up to this one is cached:
    /// the position `sync` continues from.
    pub synced: Seq,
    /// The newest message the user has seen here.
    pub read: Seq,
    /// Messages from others after `read`.
    pub unread: u32,
    /// Of those, the ones that mention the user (`@name`).
    #[serde(default)]
    pub mentions: u32,
    /// A channel's topic.
    #[serde(default)]
    pub topic: String,
    /// No notifications from it (its unread count still shows).
    #[serde(default)]
    pub muted: bool,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A channel or an existing DM conversation.
    Conv(ConvId),
    /// A direct message to a user, by name.
    User(String),
}

/// A log entry written but not yet acknowledged by the server: a message,
/// or a reaction, edit or delete (which wait in the outbox the same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Sent with the message; the server stores it once however often it is sent.
    pub nonce: String,
    pub target: Target,
    /// A message's text, or an edit's new text; empty for the others.
    pub text: String,
    /// Local time it was written, milliseconds since the Unix epoch.
    pub written_ms: i64,
    #[serde(default)]
    pub what: What,
}

/// What a pending entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A message, perhaps answering the message `reply_to`.
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
    },
    /// A reaction to `target` added, or taken back.
    React {
        target: Seq,
        emoji: String,
        #[serde(default)]
        remove: bool,
    },
    /// `text` replaces the text of the user's message `target`.
    Edit { target: Seq },
    /// The message `target` is deleted.
    Delete { target: Seq },
    /// A file to upload and post to `target` (or, with `offer`, to offer
    /// to the user `target` names). What the driver learnt on an earlier
    /// attempt (the hash, the upload's URL) is kept beside it in the
    /// settings, so a restart resumes where it was.
    File {
        /// A path (native), or the browser driver's key for its `File`.
        source: String,
        name: String,
        size: u64,
        #[serde(default)]
        offer: bool,
        /// The user's profile picture instead (posted nowhere).
        #[serde(default)]
        avatar: bool,
    },
    /// Accept or decline the offer `target`.
    Answer { target: Seq, accept: bool },
}

impl Default for What {
    fn default() -> Self {
        What::Text { reply_to: None }
    }
}

impl Pending {
    /// A message to show as pending (not a change to another one).
    pub fn is_message(&self) -> bool {
        matches!(self.what, What::Text { .. })
    }
}

/// Storage for one profile. Methods take `&mut self` where they write.
pub trait Cache {
    fn convs(&self) -> Result<Vec<CachedConv>, CacheError>;
    fn put_conv(&mut self, conv: &CachedConv) -> Result<(), CacheError>;
    /// Forgets a conversation and its messages.
    fn remove_conv(&mut self, conv: ConvId) -> Result<(), CacheError>;
    /// Stores messages; one already stored (same conv and seq) is replaced.
    fn put_messages(&mut self, messages: &[Message]) -> Result<(), CacheError>;
    /// Up to `limit` messages of `conv` before `before` (or the newest),
    /// oldest first.
    fn messages(
        &self,
        conv: ConvId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, CacheError>;
    /// The seq of the oldest cached message of `conv` (where scrollback continues).
    fn oldest(&self, conv: ConvId) -> Result<Option<Seq>, CacheError>;
    /// The outbox in the order the messages were written.
    fn outbox(&self) -> Result<Vec<Pending>, CacheError>;
    fn push_outbox(&mut self, pending: &Pending) -> Result<(), CacheError>;
    fn remove_outbox(&mut self, nonce: &str) -> Result<(), CacheError>;
    fn get(&self, key: &str) -> Result<Option<String>, CacheError>;
    fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), CacheError>;
}

/// Everything in memory; lost when dropped.
#[derive(Debug, Default, Clone)]
pub struct MemoryCache {
    convs: BTreeMap<ConvId, CachedConv>,
    messages: HashMap<ConvId, BTreeMap<Seq, Message>>,
    outbox: Vec<Pending>,
    settings: HashMap<String, String>,
}

impl Cache for MemoryCache {
    fn convs(&self) -> Result<Vec<CachedConv>, CacheError> {
        Ok(self.convs.values().cloned().collect())
    }

    fn put_conv(&mut self, conv: &CachedConv) -> Result<(), CacheError> {
        self.convs.insert(conv.conv, conv.clone());
        Ok(())
    }

    fn remove_conv(&mut self, conv: ConvId) -> Result<(), CacheError> {
        self.convs.remove(&conv);
        self.messages.remove(&conv);
        Ok(())
    }

    fn put_messages(&mut self, messages: &[Message]) -> Result<(), CacheError> {
        for m in messages {
            self.messages
                .entry(m.conv)
                .or_default()
                .insert(m.seq, m.clone());
        }
        Ok(())
    }

    fn messages(
        &self,
        conv: ConvId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, CacheError> {
        let Some(all) = self.messages.get(&conv) else {
            return Ok(Vec::new());
        };
        let mut page: Vec<Message> = all
            .range(..before.unwrap_or(Seq::MAX))
            .rev()
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect();
        page.reverse();
        Ok(page)
    }

    fn oldest(&self, conv: ConvId) -> Result<Option<Seq>, CacheError> {
        Ok(self
            .messages
            .get(&conv)
            .and_then(|all| all.keys().next().copied()))
    }

    fn outbox(&self) -> Result<Vec<Pending>, CacheError> {
        Ok(self.outbox.clone())
    }

    fn push_outbox(&mut self, pending: &Pending) -> Result<(), CacheError> {
        self.outbox.push(pending.clone());
        Ok(())
    }

    fn remove_outbox(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.outbox.retain(|p| p.nonce != nonce);
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.settings.get(key).cloned())
    }

    fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), CacheError> {
        match value {
            Some(v) => self.settings.insert(key.to_owned(), v.to_owned()),
            None => self.settings.remove(key),
        };
        Ok(())
    }
}

/// Runs the same checks against any [`Cache`]; each backend's tests call it.
pub fn conformance(cache: &mut dyn Cache) {
    use confab_proto::ConvKind;
    let conv = CachedConv {
        conv: 7,
        kind: ConvKind::Channel,
        name: "general".into(),
        synced: 3,
        read: 1,
        unread: 2,
        mentions: 1,
        topic: "Plans".into(),
        muted: true,
    };
    cache.put_conv(&conv).unwrap();
    assert_eq!(cache.convs().unwrap(), vec![conv.clone()]);
    let msg = |seq: Seq| Message {
        id: 100 + seq,
        conv: 7,
        seq,
        sender: "ann".into(),
        ts: 1_700_000_000_000 + seq as i64,
        nonce: None,
        body: confab_proto::Body::text(format!("m{seq}")),
    };
    cache.put_messages(&[msg(1), msg(2), msg(3)]).unwrap();
    cache.put_messages(&[msg(3), msg(4)]).unwrap();
    let seqs = |v: Vec<Message>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(cache.messages(7, None, 10).unwrap()), vec![1, 2, 3, 4]);
    assert_eq!(seqs(cache.messages(7, None, 2).unwrap()), vec![3, 4]);
    assert_eq!(seqs(cache.messages(7, Some(3), 10).unwrap()), vec![1, 2]);
    assert_eq!(cache.messages(7, None, 10).unwrap()[0], msg(1));
    assert!(cache.messages(8, None, 10).unwrap().is_empty());
    assert_eq!(cache.oldest(7).unwrap(), Some(1));
    assert_eq!(cache.oldest(8).unwrap(), None);

    let p = |n: &str, target: Target| Pending {
        nonce: n.into(),
        target,
        text: format!("text {n}"),
        written_ms: 5,
        what: What::Text { reply_to: Some(2) },
    };
    cache.push_outbox(&p("b", Target::Conv(7))).unwrap();
    let react = Pending {
        nonce: "r".into(),
        target: Target::Conv(7),
        text: String::new(),
        written_ms: 6,
        what: What::React {
            target: 1,
            emoji: "👍".into(),
            remove: true,
        },
    };
    cache.push_outbox(&react).unwrap();
    assert_eq!(cache.outbox().unwrap().last(), Some(&react));
    cache.remove_outbox("r").unwrap();
    cache
        .push_outbox(&p("a", Target::User("bob".into())))
        .unwrap();
    cache.push_outbox(&p("c", Target::Conv(7))).unwrap();
    cache.remove_outbox("a").unwrap();
    let nonces: Vec<String> = cache
        .outbox()
        .unwrap()
        .into_iter()
        .map(|p| p.nonce)
        .collect();
    assert_eq!(nonces, ["b", "c"], "outbox keeps the order of writing");
    assert_eq!(cache.outbox().unwrap()[0], p("b", Target::Conv(7)));

    assert_eq!(cache.get("token").unwrap(), None);
    cache.set("token", Some("t1")).unwrap();
    cache.set("token", Some("t2")).unwrap();
    assert_eq!(cache.get("token").unwrap().as_deref(), Some("t2"));
    cache.set("token", None).unwrap();
    assert_eq!(cache.get("token").unwrap(), None);

    cache.remove_conv(7).unwrap();
    assert!(cache.convs().unwrap().is_empty());
    assert!(cache.messages(7, None, 10).unwrap().is_empty());
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_cache_conforms() {
        super::conformance(&mut super::MemoryCache::default());
    }
}
