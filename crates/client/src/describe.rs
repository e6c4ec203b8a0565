//! How each kind of log entry reads, the same in every client: text as
//! written, system events as a sentence ("ann added carol and dan"), a
//! withheld entry not at all, and a kind this version does not know as a
//! placeholder that says so (the client keeps going).
//!
//! A new [`Body`] kind gets its wording here, and both UIs show it.

use confab_proto::file::human_size;
use confab_proto::{Body, ConvKind, FileInfo, Message, SystemEvent};

/// How one entry is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown<'a> {
    /// Something the sender wrote.
    Text(&'a str),
    /// Something that happened, as a sentence naming who did it.
    Event(String),
    /// Nothing: withheld from this reader.
    Hidden,
    /// A change to an earlier message (a reaction, an edit, a delete): a
    /// timeline folds it into that message; a plain listing prints it.
    Change(String),
    /// A message that was deleted.
    Deleted,
    /// A file posted to the conversation, or offered (`offer`: until when,
    /// and the answer once given).
    File {
        file: &'a FileInfo,
        offer: Option<(i64, Option<bool>)>,
    },
    /// A kind this version cannot show.
    Unknown(String),
}

impl Shown<'_> {
    /// The line a plain-text client prints (scripts, `confab history`).
    pub fn line(&self) -> Option<String> {
        match self {
            Shown::Text(t) => Some((*t).to_owned()),
            Shown::Event(e) | Shown::Unknown(e) | Shown::Change(e) => Some(format!("* {e}")),
            Shown::Deleted => Some(format!("({DELETED})")),
            Shown::File { file, offer } => Some(file_line(file, *offer)),
            Shown::Hidden => None,
        }
    }
}

/// How a conversation is named everywhere: `#channel`, `@user` (a direct
/// conversation) or `&group name`.
pub fn label(kind: ConvKind, name: &str) -> String {
    match kind {
        ConvKind::Channel => format!("#{name}"),
        ConvKind::Dm => format!("@{name}"),
        ConvKind::Group => format!("&{name}"),
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn list(names: &[String]) -> String {
    match names {
        [] => "nobody".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A file as one line: `📎 notes.pdf (1.2 MB, application/pdf)`, and for
/// an offer whether it was answered.
pub fn file_line(file: &FileInfo, offer: Option<(i64, Option<bool>)>) -> String {
    let mut s = format!(
        "📎 {} ({}, {})",
        file.name,
        human_size(file.size),
        file.mime
    );
    if let Some(img) = file.image {
        s.push_str(&format!(" {}×{}", img.width, img.height));
    }
    match offer {
        None => {}
        Some((_, None)) => s.push_str(" — offered, waiting for an answer"),
        Some((_, Some(true))) => s.push_str(" — offered, accepted"),
        Some((_, Some(false))) => s.push_str(" — offered, declined"),
    }
    s
}

/// What a deleted message reads as.
pub const DELETED: &str = "message deleted";

/// How `m` reads.
pub fn shown(m: &Message) -> Shown<'_> {
    let who = &m.sender;
    match &m.body {
        Body::Text { text, .. } => Shown::Text(text),
        Body::Withheld => Shown::Hidden,
        Body::Deleted => Shown::Deleted,
        Body::Reaction {
            target,
            emoji,
            remove: false,
        } => Shown::Change(format!("{who} reacted {emoji} to message {target}")),
        Body::Reaction {
            target,
            emoji,
            remove: true,
        } => Shown::Change(format!("{who} took back {emoji} from message {target}")),
        Body::Edit { target } => Shown::Change(format!("{who} edited message {target}")),
        Body::Delete { target } => Shown::Change(format!("{who} deleted message {target}")),
        Body::File { file } => Shown::File { file, offer: None },
        Body::Offer {
            file,
            expires,
            accepted,
        } => Shown::File {
            file,
            offer: Some((*expires, *accepted)),
        },
        Body::Answer {
            target,
            accept: true,
        } => Shown::Change(format!(
            "{who} accepted the file offered in message {target}"
        )),
        Body::Answer {
            target,
            accept: false,
        } => Shown::Change(format!(
            "{who} declined the file offered in message {target}"
        )),
        Body::System(e) => Shown::Event(match e {
            SystemEvent::Created { name, members } if members.is_empty() => {
                format!("{who} created “{name}”")
            }
            SystemEvent::Created { name, members } => {
                format!("{who} created “{name}” with {}", list(members))
            }
            SystemEvent::Added { users } => format!("{who} added {}", list(users)),
            SystemEvent::Left { owner: Some(owner) } => {
                format!("{who} left; {owner} owns the group now")
            }
            SystemEvent::Left { owner: None } => format!("{who} left"),
            SystemEvent::Renamed { name } => format!("{who} renamed the group to “{name}”"),
            SystemEvent::AddPolicy { owner_only: true } => {
                format!("{who} made adding people the owner's choice")
            }
            SystemEvent::AddPolicy { owner_only: false } => {
                format!("{who} let every member add people")
            }
            SystemEvent::Topic { topic } if topic.is_empty() => format!("{who} cleared the topic"),
            SystemEvent::Topic { topic } => format!("{who} set the topic to “{topic}”"),
            SystemEvent::StreamStarted { title, .. } => {
                format!("{who} went live: “{title}” (watch it in the browser)")
            }
            SystemEvent::StreamEnded { .. } => format!("{who}'s live stream ended"),
        }),
        Body::Unknown { kind, .. } => Shown::Unknown(format!(
            "{who} sent a “{kind}” message, which this version of Confab cannot show"
        )),
    }
}

/// Whether `m` mentions `me` (`@me` as a word of its text).
pub fn mentions_of(m: &Message, me: &str) -> bool {
    m.body.as_text().is_some_and(|t| mentions(t, me))
}

/// Whether `text` holds `@name`, not as part of a longer name.
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices('@').any(|(at, _)| {
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_name_char(c));
        let rest = &text[at + 1..];
        before_ok
            && rest.starts_with(name)
            && rest[name.len()..]
                .chars()
                .next()
                .is_none_or(|c| !is_name_char(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: Body) -> Message {
        Message {
            id: 1,
            conv: 1,
            seq: 1,
            sender: "ann".into(),
            ts: 0,
            nonce: None,
            body,
        }
    }

    #[test]
    fn every_kind_reads_as_a_sentence_or_not_at_all() {
        assert_eq!(shown(&msg(Body::text("hi"))), Shown::Text("hi"));
        assert_eq!(
            shown(&msg(Body::System(SystemEvent::Added {
                users: vec!["cat".into(), "dan".into(), "eve".into()]
            }))),
            Shown::Event("ann added cat, dan and eve".into())
        );
        assert_eq!(
            shown(&msg(Body::System(SystemEvent::Left {
                owner: Some("bob".into())
            })))
            .line()
            .unwrap(),
            "* ann left; bob owns the group now"
        );
        assert_eq!(shown(&msg(Body::Withheld)), Shown::Hidden);
        assert_eq!(shown(&msg(Body::Withheld)).line(), None);
        let unknown = msg(Body::Unknown {
            kind: "poll".into(),
            fields: Default::default(),
        });
        assert!(matches!(shown(&unknown), Shown::Unknown(t) if t.contains("“poll”")));
        assert_eq!(
            shown(&msg(Body::Reaction {
                target: 3,
                emoji: "🎉".into(),
                remove: false
            }))
            .line()
            .unwrap(),
            "* ann reacted 🎉 to message 3"
        );
        assert_eq!(
            shown(&msg(Body::Deleted)).line().unwrap(),
            "(message deleted)"
        );
        assert_eq!(
            shown(&msg(Body::System(SystemEvent::Topic {
                topic: "Plans".into()
            }))),
            Shown::Event("ann set the topic to “Plans”".into())
        );
    }
}
