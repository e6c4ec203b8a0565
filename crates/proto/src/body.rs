//! What a message says: its typed [`Body`].
//!
//! Every conversation is one ordered log, and everything that happens in it
//! is a message there: text (perhaps a reply to an earlier message), system
//! events ("alice added carol", "renamed to …", a new topic), reactions,
//! edits and deletes. Later kinds (files, encrypted bytes, stream starts and
//! ends) are new [`Body`] variants; they ride the same sequence numbers,
//! history, sync and `lagged` recovery.
//!
//! Files are `file` messages (and, in a direct conversation, `offer`s that
//! the other person `answer`s); the bytes travel over HTTP (see
//! [`crate::file`]).
//!
//! Reactions, edits and deletes name their `target`: the seq of a text
//! message in the same conversation, always earlier in the log. A client
//! holding the log from some seq on therefore holds every change to the
//! messages it holds. The server writes edits and deletes into the target
//! itself (its text becomes the edited one with `edited` set; a deleted
//! message becomes [`Body::Deleted`] and its text is gone), so a page of
//! history read later shows each message as it is now; an edit entry only
//! says which message to read again.
//!
//! On the wire a body's fields sit beside the message's own, tagged by
//! `kind`: `{"id":9,"conv":1,"seq":4,"sender":"ann","ts":…,"kind":"text","text":"hi"}`.
//! Reading is forgiving in two ways, so that old data and newer servers
//! never stop a client:
//! - no `kind` at all is a text message (messages stored before kinds
//!   existed, e.g. in a browser's cache);
//! - a `kind` this version does not know becomes [`Body::Unknown`], which
//!   keeps its fields (so a cache can hold it for a later version) and which
//!   clients show as a placeholder.
//!
//! To add a kind: a variant here and in `Known`/`KnownRef` below, its
//! storage in the store's `messages` table (`kind` + `data` columns), how
//! clients describe it (`confab_client::describe`), and docs/PROTOCOL.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Seq;
use crate::file::FileInfo;

/// The content of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Text written by the sender.
    Text {
        text: String,
        /// The message this one answers (its seq in this conversation).
        reply_to: Option<Seq>,
        /// When it was last edited (ms since the Unix epoch), if ever.
        edited: Option<i64>,
    },
    /// Something that happened to the conversation, done by the sender.
    System(SystemEvent),
    /// The sender added (or, with `remove`, took back) a reaction to the
    /// text message `target`.
    Reaction {
        target: Seq,
        emoji: String,
        remove: bool,
    },
    /// The sender changed the text of their message `target`. The new
    /// text is in the target itself (read it again): an edit entry carries
    /// none, so that it tells nothing to someone who may not read the target
    /// (a member added to a group after it was written).
    Edit { target: Seq },
    /// The sender deleted the message `target` (their own, or as a
    /// channel's owner or an admin).
    Delete { target: Seq },
    /// A message that was deleted: shown as "message deleted".
    Deleted,
    /// A file posted to the conversation.
    File { file: FileInfo },
    /// A file offered to the other person of a direct conversation, who
    /// may download it once they accept. `expires`: when an unanswered
    /// offer lapses (ms since the Unix epoch) and its file is freed;
    /// `accepted`: the answer, once given (the server writes it in).
    Offer {
        file: FileInfo,
        expires: i64,
        accepted: Option<bool>,
    },
    /// The recipient's answer to the offer `target`.
    Answer { target: Seq, accept: bool },
    /// A message the reader does not get to see: its sender is someone the
    /// reader blocked. It keeps its place (its `seq`) so that logs stay
    /// gap-free; clients show nothing for it.
    Withheld,
    /// A kind this version does not know (from a newer server). `fields`
    /// are its other fields, kept as they came.
    Unknown {
        kind: String,
        fields: Map<String, Value>,
    },
}

/// A change to a conversation, recorded in its log. The message's `sender`
/// is who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum SystemEvent {
    /// The sender created this group conversation with these members
    /// (the sender not included).
    Created { name: String, members: Vec<String> },
    /// The sender added these people.
    Added { users: Vec<String> },
    /// The sender left. When they owned the group, `owner` is who owns it now.
    Left {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// The sender renamed the conversation.
    Renamed { name: String },
    /// The owner decided who may add people: only the owner, or every member.
    AddPolicy { owner_only: bool },
    /// The sender set the channel's topic ("" clears it).
    Topic { topic: String },
    /// The sender went live (`stream` is the live stream's id).
    StreamStarted { stream: u64, title: String },
    /// The sender's live stream ended.
    StreamEnded { stream: u64 },
}

impl Body {
    /// A text body.
    pub fn text(text: impl Into<String>) -> Body {
        Body::Text {
            text: text.into(),
            reply_to: None,
            edited: None,
        }
    }

    /// A text body answering the message `reply_to`.
    pub fn reply(text: impl Into<String>, reply_to: Option<Seq>) -> Body {
        Body::Text {
            text: text.into(),
            reply_to,
            edited: None,
        }
    }

    /// The message this entry changes (a reaction, edit or delete).
    pub fn target(&self) -> Option<Seq> {
        match self {
            Body::Reaction { target, .. }
            | Body::Edit { target, .. }
            | Body::Delete { target }
            | Body::Answer { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// Whether this entry is something people read (a message, or a kind
    /// this version does not know), as opposed to a change to one.
    pub fn is_readable(&self) -> bool {
        matches!(
            self,
            Body::Text { .. } | Body::File { .. } | Body::Offer { .. } | Body::Unknown { .. }
        )
    }

    /// The `kind` on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Body::Text { .. } => "text",
            Body::System(_) => "system",
            Body::Reaction { .. } => "reaction",
            Body::Edit { .. } => "edit",
            Body::Delete { .. } => "delete",
            Body::Deleted => "deleted",
            Body::File { .. } => "file",
            Body::Offer { .. } => "offer",
            Body::Answer { .. } => "answer",
            Body::Withheld => "withheld",
            Body::Unknown { kind, .. } => kind,
        }
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Body::Text { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The fields beside `kind` and a text message's `text`, as JSON (for
    /// storage: what is not the text column). `None` for plain text.
    pub fn data(&self) -> Option<String> {
        let mut v = serde_json::to_value(self).expect("bodies serialize");
        let m = v.as_object_mut()?;
        m.remove("kind");
        if let Body::Text { .. } = self {
            m.remove("text");
            if m.is_empty() {
                return None;
            }
        }
        Some(v.to_string())
    }

    /// The body stored as `kind`, text and `data` (see [`Body::data`]).
    pub fn from_stored(kind: &str, text: String, data: Option<&str>) -> Body {
        if kind == "text" && data.is_none() {
            return Body::text(text);
        }
        let mut fields = data
            .and_then(|d| serde_json::from_str::<Map<String, Value>>(d).ok())
            .unwrap_or_default();
        fields.insert("kind".into(), Value::String(kind.to_owned()));
        if kind == "text" {
            fields.insert("text".into(), Value::String(text));
        }
        Body::from_fields(fields)
    }

    /// Reads a body from a message's fields (without the message's own).
    fn from_fields(mut fields: Map<String, Value>) -> Body {
        let kind = match fields.get("kind") {
            None => "text".to_owned(),
            Some(Value::String(k)) => k.clone(),
            Some(other) => other.to_string(),
        };
        if !Known::KINDS.contains(&kind.as_str()) {
            fields.remove("kind");
            return Body::Unknown { kind, fields };
        }
        fields.insert("kind".into(), Value::String(kind.clone()));
        match serde_json::from_value::<Known>(Value::Object(fields.clone())) {
            Ok(Known::Text {
                text,
                reply_to,
                edited,
            }) => Body::Text {
                text,
                reply_to,
                edited,
            },
            Ok(Known::System(e)) => Body::System(e),
            Ok(Known::Reaction {
                target,
                emoji,
                remove,
            }) => Body::Reaction {
                target,
                emoji,
                remove,
            },
            Ok(Known::Edit { target }) => Body::Edit { target },
            Ok(Known::Delete { target }) => Body::Delete { target },
            Ok(Known::Deleted {}) => Body::Deleted,
            Ok(Known::File { file }) => Body::File { file },
            Ok(Known::Offer {
                file,
                expires,
                accepted,
            }) => Body::Offer {
                file,
                expires,
                accepted,
            },
            Ok(Known::Answer { target, accept }) => Body::Answer { target, accept },
            Ok(Known::Withheld {}) => Body::Withheld,
            // A known kind with fields this version cannot read (a newer
            // variant of a system event): shown as unknown, kept as is.
            Err(_) => {
                fields.remove("kind");
                Body::Unknown { kind, fields }
            }
        }
    }
}

/// The kinds this version reads, for serde.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Known {
    /// Text written by the sender; `reply_to`: the seq of the message it
    /// answers; `edited`: when it was last edited (ms).
    Text {
        text: String,
        #[serde(default)]
        reply_to: Option<Seq>,
        #[serde(default)]
        edited: Option<i64>,
    },
    /// A change to the conversation (see `event`).
    System(SystemEvent),
    /// A reaction to the message `target` added (or taken back: `remove`).
    Reaction {
        target: Seq,
        emoji: String,
        #[serde(default)]
        remove: bool,
    },
    /// The sender's message `target` was edited: read it again.
    Edit { target: Seq },
    /// The message `target` was deleted.
    Delete { target: Seq },
    /// This message was deleted. Show "message deleted".
    Deleted {},
    /// A file posted here: download it from `/files/{id}`.
    File { file: FileInfo },
    /// A file offered to the other person of a direct conversation; they
    /// answer with `answer`. `expires`: when an unanswered offer lapses
    /// (ms); `accepted`: the answer, once given.
    Offer {
        file: FileInfo,
        expires: i64,
        #[serde(default)]
        accepted: Option<bool>,
    },
    /// The answer to the offer `target`.
    Answer { target: Seq, accept: bool },
    /// Withheld from you: its sender is someone you blocked. Show nothing.
    Withheld {},
}

impl Known {
    const KINDS: &'static [&'static str] = &[
        "text", "system", "reaction", "edit", "delete", "deleted", "withheld", "file", "offer",
        "answer",
    ];
}

/// The same, borrowed, for writing without copying.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KnownRef<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
        #[serde(skip_serializing_if = "Option::is_none")]
        edited: Option<i64>,
    },
    System(&'a SystemEvent),
    Reaction {
        target: Seq,
        emoji: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        remove: bool,
    },
    Edit {
        target: Seq,
    },
    Delete {
        target: Seq,
    },
    Deleted {},
    File {
        file: &'a FileInfo,
    },
    Offer {
        file: &'a FileInfo,
        expires: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        accepted: Option<bool>,
    },
    Answer {
        target: Seq,
        accept: bool,
    },
    Withheld {},
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Text {
                text,
                reply_to,
                edited,
            } => KnownRef::Text {
                text,
                reply_to: *reply_to,
                edited: *edited,
            }
            .serialize(s),
            Body::System(e) => KnownRef::System(e).serialize(s),
            Body::Reaction {
                target,
                emoji,
                remove,
            } => KnownRef::Reaction {
                target: *target,
                emoji,
                remove: *remove,
            }
            .serialize(s),
            Body::Edit { target } => KnownRef::Edit { target: *target }.serialize(s),
            Body::Delete { target } => KnownRef::Delete { target: *target }.serialize(s),
            Body::Deleted => KnownRef::Deleted {}.serialize(s),
            Body::File { file } => KnownRef::File { file }.serialize(s),
            Body::Offer {
                file,
                expires,
                accepted,
            } => KnownRef::Offer {
                file,
                expires: *expires,
                accepted: *accepted,
            }
            .serialize(s),
            Body::Answer { target, accept } => KnownRef::Answer {
                target: *target,
                accept: *accept,
            }
            .serialize(s),
            Body::Withheld => KnownRef::Withheld {}.serialize(s),
            Body::Unknown { kind, fields } => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(fields.len() + 1))?;
                m.serialize_entry("kind", kind)?;
                for (k, v) in fields {
                    if k != "kind" {
                        m.serialize_entry(k, v)?;
                    }
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Body::from_fields(Map::deserialize(d)?))
    }
}

impl JsonSchema for Body {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Body".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // The kinds this version knows; a reader must also accept others
        // (see the module docs).
        Known::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn message(json: &str) -> Message {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_text_message_is_flat_on_the_wire_and_reads_back() {
        let m = Message {
            id: 9,
            conv: 1,
            seq: 4,
            sender: "ann".into(),
            ts: 5,
            nonce: None,
            body: Body::text("hi"),
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"id":9,"conv":1,"seq":4,"sender":"ann","ts":5,"kind":"text","text":"hi"}"#
        );
        assert_eq!(message(&json), m);
    }

    #[test]
    fn a_message_without_kind_is_text() {
        // What clients cached before message kinds existed.
        let m = message(r#"{"id":1,"conv":2,"seq":3,"sender":"bob","text":"old","ts":7}"#);
        assert_eq!(m.body, Body::text("old"));
    }

    #[test]
    fn system_events_round_trip() {
        let m = message(
            r#"{"id":1,"conv":2,"seq":3,"sender":"ann","ts":7,"kind":"system","event":"added","users":["carol"]}"#,
        );
        assert_eq!(
            m.body,
            Body::System(SystemEvent::Added {
                users: vec!["carol".into()]
            })
        );
        let back: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(back["event"], "added");
        assert_eq!(back["kind"], "system");
    }

    #[test]
    fn an_unknown_kind_is_kept_whole() {
        let json = r#"{"id":1,"conv":2,"seq":3,"sender":"ann","ts":7,"kind":"poll","question":"lunch?","options":["a","b"]}"#;
        let m = message(json);
        let Body::Unknown { kind, fields } = &m.body else {
            panic!("{:?}", m.body)
        };
        assert_eq!(kind, "poll");
        assert_eq!(fields["question"], "lunch?");
        let back: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        // A newer system event is unknown too, not an error.
        let m = message(
            r#"{"id":1,"conv":2,"seq":3,"sender":"ann","ts":7,"kind":"system","event":"pinned","seq_pinned":2}"#,
        );
        assert_eq!(m.body.kind(), "system");
        assert!(matches!(m.body, Body::Unknown { .. }));
    }

    fn file() -> FileInfo {
        FileInfo {
            id: "0123456789abcdef0123456789abcdef".into(),
            name: "cat.png".into(),
            size: 1234,
            mime: "image/png".into(),
            sha256: "ab".repeat(32),
            image: Some(crate::file::ImageInfo {
                width: 640,
                height: 480,
            }),
        }
    }

    #[test]
    fn stored_form_round_trips() {
        for body in [
            Body::text("hello"),
            Body::System(SystemEvent::Renamed {
                name: "Trip".into(),
            }),
            Body::System(SystemEvent::Left { owner: None }),
            Body::System(SystemEvent::Topic {
                topic: "Plans".into(),
            }),
            Body::reply("yes", Some(3)),
            Body::Text {
                text: "fixed".into(),
                reply_to: None,
                edited: Some(99),
            },
            Body::Reaction {
                target: 2,
                emoji: "👍".into(),
                remove: false,
            },
            Body::Reaction {
                target: 2,
                emoji: "👍".into(),
                remove: true,
            },
            Body::Edit { target: 2 },
            Body::Delete { target: 2 },
            Body::Deleted,
            Body::Withheld,
            Body::File { file: file() },
            Body::Offer {
                file: file(),
                expires: 5,
                accepted: None,
            },
            Body::Offer {
                file: file(),
                expires: 5,
                accepted: Some(false),
            },
            Body::Answer {
                target: 3,
                accept: true,
            },
        ] {
            let text = body.as_text().unwrap_or_default().to_owned();
            let back = Body::from_stored(body.kind(), text, body.data().as_deref());
            assert_eq!(back, body);
            let wire = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<Body>(&wire).unwrap(), body, "{wire}");
        }
    }
}
