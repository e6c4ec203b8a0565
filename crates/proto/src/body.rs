//! What a message says: its typed [`Body`].
//!
//! Every conversation is one ordered log, and everything that happens in it
//! is a message there: text, and system events ("alice added carol",
//! "renamed to …"). Later kinds (reactions, edits, deletes, files,
//! encrypted bytes, stream starts and ends) are new [`Body`] variants; they
//! ride the same sequence numbers, history, sync and `lagged` recovery.
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

/// The content of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Text written by the sender.
    Text { text: String },
    /// Something that happened to the conversation, done by the sender.
    System(SystemEvent),
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
}

impl Body {
    /// A text body.
    pub fn text(text: impl Into<String>) -> Body {
        Body::Text { text: text.into() }
    }

    /// The `kind` on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Body::Text { .. } => "text",
            Body::System(_) => "system",
            Body::Withheld => "withheld",
            Body::Unknown { kind, .. } => kind,
        }
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Body::Text { text } => Some(text),
            _ => None,
        }
    }

    /// The fields beside `kind`, as JSON (for storage: what is not the text
    /// column). `None` for text, whose one field is stored on its own.
    pub fn data(&self) -> Option<String> {
        match self {
            Body::Text { .. } => None,
            other => {
                let mut v = serde_json::to_value(other).expect("bodies serialize");
                if let Some(m) = v.as_object_mut() {
                    m.remove("kind");
                }
                Some(v.to_string())
            }
        }
    }

    /// The body stored as `kind`, text and `data` (see [`Body::data`]).
    pub fn from_stored(kind: &str, text: String, data: Option<&str>) -> Body {
        if kind == "text" {
            return Body::Text { text };
        }
        let mut fields = data
            .and_then(|d| serde_json::from_str::<Map<String, Value>>(d).ok())
            .unwrap_or_default();
        fields.insert("kind".into(), Value::String(kind.to_owned()));
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
            Ok(Known::Text { text }) => Body::Text { text },
            Ok(Known::System(e)) => Body::System(e),
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
    /// Text written by the sender.
    Text { text: String },
    /// A change to the conversation (see `event`).
    System(SystemEvent),
    /// Withheld from you: its sender is someone you blocked. Show nothing.
    Withheld {},
}

impl Known {
    const KINDS: &'static [&'static str] = &["text", "system", "withheld"];
}

/// The same, borrowed, for writing without copying.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KnownRef<'a> {
    Text { text: &'a str },
    System(&'a SystemEvent),
    Withheld {},
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Text { text } => KnownRef::Text { text }.serialize(s),
            Body::System(e) => KnownRef::System(e).serialize(s),
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

    #[test]
    fn stored_form_round_trips() {
        for body in [
            Body::text("hello"),
            Body::System(SystemEvent::Renamed {
                name: "Trip".into(),
            }),
            Body::System(SystemEvent::Left { owner: None }),
            Body::Withheld,
        ] {
            let text = body.as_text().unwrap_or_default().to_owned();
            let back = Body::from_stored(body.kind(), text, body.data().as_deref());
            assert_eq!(back, body);
        }
    }
}
