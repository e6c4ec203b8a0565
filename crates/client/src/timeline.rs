//! The timeline view model: what a conversation's view shows, worked out
//! once for every UI. Entries are grouped by day and by sender, with local
//! times; system events and placeholders for unknown kinds are rows of
//! their own; withheld entries are not shown. Reactions, edits and deletes
//! are folded into the messages they name (with the user's own pending
//! ones applied already), a reply carries a quote of what it answers, and
//! a "new messages" row marks where unread messages begin. The UI supplies
//! the time zone offset (the tests a fixed one) and only renders the rows.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use confab_proto::limits::clip;
use confab_proto::{Body, FileInfo, Message, Seq};

use crate::cache::What;
use crate::describe::{DELETED, Shown, mentions, shown};
use crate::markdown;

/// A quote of a replied-to message is cut to this many characters.
const QUOTE_CHARS: usize = 80;

/// A new group starts when the sender changes, the day changes, or the
/// sender paused this long.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;

/// One message in a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    /// Stable across redraws: the message id, or the nonce while pending.
    pub key: String,
    /// Its place in the conversation (`None` while pending).
    pub seq: Option<Seq>,
    /// As it reads now (edits applied); empty when deleted.
    pub text: String,
    /// `HH:MM`, shown on hover and to screen readers.
    pub time: String,
    /// Written here and not yet acknowledged by the server.
    pub pending: bool,
    /// Edited since it was sent (or an edit of it is pending).
    pub edited: bool,
    /// Deleted: shown as "message deleted".
    pub deleted: bool,
    /// What it answers.
    pub reply: Option<Quote>,
    /// Reactions, in the order first given.
    pub reactions: Vec<Reaction>,
    /// It mentions the user (`@name`): highlighted.
    pub mention: bool,
    /// A file (or an upload of one, while pending).
    pub file: Option<FileLine>,
}

/// An offer's expiry (ms since the epoch) and its answer, if given.
pub type OfferState = (i64, Option<bool>);

/// A file as a line shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileLine {
    /// What the message says (while uploading: only the name and size).
    pub info: FileInfo,
    /// For an offer: when it lapses, and the answer if there is one.
    pub offer: Option<OfferState>,
    /// The key of its upload while pending ([`crate::Client::transfer`]).
    pub upload: Option<String>,
}

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quote {
    pub seq: Seq,
    /// Who wrote it (empty when it is not loaded).
    pub sender: String,
    /// The start of its text, "message deleted", or empty when it is not
    /// loaded (the UI offers to jump to it, which loads it).
    pub text: String,
    pub loaded: bool,
}

/// One emoji on a message, with who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
    /// The user is among them.
    pub mine: bool,
}

/// A row of the message view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// "Saturday 21 November 2026".
    Day { key: String, label: String },
    /// Consecutive messages of one sender.
    Group {
        /// Changes whenever the group's content does, so that a keyed list
        /// redraws exactly the groups that changed.
        key: String,
        sender: String,
        time: String,
        lines: Vec<Line>,
    },
    /// Something that happened ("ann added cat"), or a placeholder for a
    /// kind this version cannot show (`unknown`).
    Event {
        key: String,
        text: String,
        time: String,
        unknown: bool,
    },
    /// "New messages": what follows arrived since the user last read here.
    Unread { key: String },
}

impl Item {
    pub fn key(&self) -> &str {
        match self {
            Item::Day { key, .. }
            | Item::Group { key, .. }
            | Item::Event { key, .. }
            | Item::Unread { key } => key,
        }
    }
}

/// An entry written here, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLine {
    pub nonce: String,
    pub text: String,
    pub written_ms: i64,
    pub what: What,
}

/// Reactions to each message of `messages`, from the reaction entries
/// among them (in log order) and then `me`'s pending ones.
pub fn reactions(
    messages: &[Message],
    pending: &[PendingLine],
    me: &str,
) -> HashMap<Seq, Vec<Reaction>> {
    let mut out: HashMap<Seq, Vec<Reaction>> = HashMap::new();
    let mut apply = |target: Seq, emoji: &str, user: &str, remove: bool| {
        let list = out.entry(target).or_default();
        let i = match list.iter().position(|r| r.emoji == emoji) {
            Some(i) => i,
            None if remove => return,
            None => {
                list.push(Reaction {
                    emoji: emoji.to_owned(),
                    users: Vec::new(),
                    mine: false,
                });
                list.len() - 1
            }
        };
        let r = &mut list[i];
        r.users.retain(|u| u != user);
        if !remove {
            r.users.push(user.to_owned());
        }
        r.mine = r.users.iter().any(|u| u == me);
        if r.users.is_empty() {
            list.remove(i);
        }
    };
    for m in messages {
        if let Body::Reaction {
            target,
            emoji,
            remove,
        } = &m.body
        {
            apply(*target, emoji, &m.sender, *remove);
        }
    }
    for p in pending {
        if let What::React {
            target,
            emoji,
            remove,
        } = &p.what
        {
            apply(*target, emoji, me, *remove);
        }
    }
    out
}

fn local(ts: i64, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    Some(DateTime::from_timestamp_millis(ts)?.with_timezone(&offset))
}

/// "Saturday 21 November 2026".
pub fn day_label(date: NaiveDate) -> String {
    format!(
        "{} {} {} {}",
        date.format("%A"),
        date.day(),
        date.format("%B"),
        date.year()
    )
}

/// `HH:MM` of a timestamp in the given zone.
pub fn clock(ts: i64, offset: FixedOffset) -> String {
    local(ts, offset).map_or_else(|| "--:--".into(), |t| t.format("%H:%M").to_string())
}

/// The view of `messages` (oldest first) followed by what `me` has
/// pending. `unread_after`: the read position when the conversation was
/// opened, to mark where new messages begin.
pub fn items(
    messages: &[Message],
    pending: &[PendingLine],
    me: &str,
    offset: FixedOffset,
    unread_after: Option<Seq>,
) -> Vec<Item> {
    let mut reactions = reactions(messages, pending, me);
    let mut edits: HashMap<Seq, &str> = HashMap::new();
    let mut deletes: HashSet<Seq> = HashSet::new();
    for p in pending {
        match &p.what {
            What::Edit { target } => {
                edits.insert(*target, &p.text);
            }
            What::Delete { target } => {
                deletes.insert(*target);
            }
            _ => {}
        }
    }
    // Answers to offers, folded into the offer (history already has them
    // written in; live events bring them as entries).
    let answers: HashMap<Seq, bool> = messages
        .iter()
        .filter_map(|m| match m.body {
            Body::Answer { target, accept } => Some((target, accept)),
            _ => None,
        })
        .collect();
    let by_seq: HashMap<Seq, &Message> = messages.iter().map(|m| (m.seq, m)).collect();
    let quote = |seq: Seq| match by_seq.get(&seq) {
        Some(m) => Quote {
            seq,
            sender: m.sender.clone(),
            text: match (&m.body, deletes.contains(&seq)) {
                (Body::Text { text, .. }, false) => clip(
                    &markdown::plain(edits.get(&seq).copied().unwrap_or(text)),
                    QUOTE_CHARS,
                ),
                _ => DELETED.to_owned(),
            },
            loaded: true,
        },
        None => Quote {
            seq,
            sender: String::new(),
            text: String::new(),
            loaded: false,
        },
    };
    struct Row<'a> {
        sender: &'a str,
        ts: i64,
        key: String,
        seq: Option<Seq>,
        shown: Shown<'a>,
        reply_to: Option<Seq>,
        edited: bool,
        /// A pending upload: its name and size.
        upload: Option<(&'a str, u64)>,
    }
    let rows = messages
        .iter()
        .map(|m| {
            let (reply_to, edited) = match &m.body {
                Body::Text {
                    reply_to, edited, ..
                } => (*reply_to, edited.is_some()),
                _ => (None, false),
            };
            Row {
                sender: m.sender.as_str(),
                ts: m.ts,
                key: m.id.to_string(),
                seq: Some(m.seq),
                shown: shown(m),
                reply_to,
                edited,
                upload: None,
            }
        })
        .chain(pending.iter().filter_map(|p| match p.what {
            What::Text { reply_to } => Some(Row {
                sender: me,
                ts: p.written_ms,
                key: format!("p-{}", p.nonce),
                seq: None,
                shown: Shown::Text(p.text.as_str()),
                reply_to,
                edited: false,
                upload: None,
            }),
            What::File { ref name, size, .. } => Some(Row {
                sender: me,
                ts: p.written_ms,
                key: format!("p-{}", p.nonce),
                seq: None,
                shown: Shown::Text(""),
                reply_to: None,
                edited: false,
                upload: Some((name.as_str(), size)),
            }),
            _ => None,
        }));
    let mut out: Vec<Item> = Vec::new();
    let mut day: Option<NaiveDate> = None;
    let mut last: Option<(&str, i64)> = None;
    let mut marked = unread_after.is_none();
    for row in rows {
        let Row {
            sender,
            ts,
            key,
            seq,
            shown,
            reply_to,
            edited,
            upload,
        } = row;
        let deleted = matches!(shown, Shown::Deleted) || seq.is_some_and(|s| deletes.contains(&s));
        let text = match shown {
            Shown::Hidden | Shown::Change(_) => continue,
            _ if deleted => "",
            Shown::Text(t) => seq.and_then(|s| edits.get(&s).copied()).unwrap_or(t),
            Shown::Event(_) | Shown::Unknown(_) | Shown::Deleted => "",
            Shown::File { .. } => "",
        };
        let file_text;
        let mut file_line = None;
        let text = match (&shown, upload) {
            (Shown::File { file, offer }, _) if !deleted => {
                let offer = offer.map(|(expires, accepted)| {
                    (
                        expires,
                        seq.and_then(|s| answers.get(&s).copied()).or(accepted),
                    )
                });
                file_text = crate::describe::file_line(file, offer);
                file_line = Some(FileLine {
                    info: (*file).clone(),
                    offer,
                    upload: None,
                });
                file_text.as_str()
            }
            (_, Some((name, size))) => {
                file_text = format!("📎 {name} ({})", confab_proto::file::human_size(size));
                file_line = Some(FileLine {
                    info: FileInfo {
                        id: String::new(),
                        name: name.to_owned(),
                        size,
                        mime: String::new(),
                        sha256: String::new(),
                        image: None,
                    },
                    offer: None,
                    upload: key.strip_prefix("p-").map(str::to_owned),
                });
                file_text.as_str()
            }
            _ => text,
        };
        if !marked
            && sender != me
            && let (Some(s), Some(after)) = (seq, unread_after)
            && s > after
        {
            marked = true;
            out.push(Item::Unread {
                key: format!("u-{s}"),
            });
            last = None;
        }
        let t = local(ts, offset);
        if let Some(date) = t.map(|t| t.date_naive())
            && day != Some(date)
        {
            day = Some(date);
            out.push(Item::Day {
                key: format!("d-{date}"),
                label: day_label(date),
            });
            last = None;
        }
        if let Shown::Event(e) | Shown::Unknown(e) = &shown {
            out.push(Item::Event {
                key: format!("e-{key}"),
                text: e.clone(),
                time: clock(ts, offset),
                unknown: matches!(shown, Shown::Unknown(_)),
            });
            last = None;
            continue;
        }
        let line = Line {
            key,
            seq,
            text: text.to_owned(),
            time: clock(ts, offset),
            pending: seq.is_none(),
            edited: edited || seq.is_some_and(|s| edits.contains_key(&s)),
            deleted,
            reply: reply_to.map(quote),
            reactions: seq.and_then(|s| reactions.remove(&s)).unwrap_or_default(),
            mention: sender != me && file_line.is_none() && mentions(text, me),
            file: file_line,
        };
        let joins = last.is_some_and(|(s, at)| s == sender && ts - at < GROUP_GAP_MS);
        match out.last_mut() {
            Some(Item::Group { lines, .. }) if joins => lines.push(line),
            _ => out.push(Item::Group {
                key: String::new(),
                sender: sender.to_owned(),
                time: line.time.clone(),
                lines: vec![line],
            }),
        }
        last = Some((sender, ts));
    }
    for item in &mut out {
        if let Item::Group { key, lines, .. } = item {
            // Changes with anything shown: a new line, an acknowledgement,
            // an edit, a reaction.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            lines.hash(&mut h);
            *key = format!("g-{}-{:x}", lines[0].key, h.finish());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20 23:50 UTC.
    const T0: i64 = 1_795_218_600_000;
    const MIN: i64 = 60_000;

    fn msg(id: u64, sender: &str, ts: i64) -> Message {
        Message {
            id,
            conv: 1,
            seq: id,
            sender: sender.into(),
            ts,
            nonce: None,
            body: confab_proto::Body::text(format!("text {id}")),
        }
    }

    fn shape(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Item::Day { label, .. } => format!("day {label}"),
                Item::Event { text, unknown, .. } => {
                    format!("{}{text}", if *unknown { "? " } else { "* " })
                }
                Item::Unread { .. } => "-- new messages --".into(),
                Item::Group { sender, lines, .. } => format!(
                    "{sender}: {}",
                    lines
                        .iter()
                        .map(|l| format!("{}{}", l.text, if l.pending { " (pending)" } else { "" }))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
            .collect()
    }

    #[test]
    fn groups_by_sender_pause_and_local_day() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let ms = [
            msg(1, "ann", T0),
            msg(2, "ann", T0 + MIN),
            msg(3, "bob", T0 + 2 * MIN),
            msg(4, "bob", T0 + 3 * MIN),  // 23:53
            msg(5, "bob", T0 + 11 * MIN), // 00:01 the next day
            msg(6, "bob", T0 + 30 * MIN), // after a pause
        ];
        let pending = [PendingLine {
            nonce: "n1".into(),
            text: "on its way".into(),
            written_ms: T0 + 31 * MIN,
            what: What::default(),
        }];
        assert_eq!(
            shape(&items(&ms, &pending, "ann", utc, None)),
            [
                "day Friday 20 November 2026",
                "ann: text 1, text 2",
                "bob: text 3, text 4",
                "day Saturday 21 November 2026",
                "bob: text 5",
                "bob: text 6",
                "ann: on its way (pending)",
            ]
        );

        // Two hours east, everything is on the Saturday.
        let east = FixedOffset::east_opt(2 * 3600).unwrap();
        let v = items(&ms, &[], "ann", east, None);
        assert_eq!(
            shape(&v)[..3],
            [
                "day Saturday 21 November 2026",
                "ann: text 1, text 2",
                "bob: text 3, text 4"
            ]
        );
        let Item::Group { time, .. } = &v[1] else {
            panic!()
        };
        assert_eq!(time, "01:50");
    }

    #[test]
    fn a_group_key_changes_when_its_content_does() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let one = items(&[msg(1, "ann", T0)], &[], "ann", utc, None);
        let two = items(
            &[msg(1, "ann", T0), msg(2, "ann", T0 + MIN)],
            &[],
            "ann",
            utc,
            None,
        );
        assert_eq!(one[0].key(), two[0].key(), "the day row stays");
        assert_ne!(one[1].key(), two[1].key(), "the grown group is redrawn");
        let pending = [PendingLine {
            nonce: "n".into(),
            text: "x".into(),
            written_ms: T0 + MIN,
            what: What::default(),
        }];
        let acked = items(
            &[msg(1, "ann", T0), msg(2, "ann", T0 + MIN)],
            &[],
            "ann",
            utc,
            None,
        );
        let waiting = items(&[msg(1, "ann", T0)], &pending, "ann", utc, None);
        assert_ne!(waiting[1].key(), acked[1].key());
    }
}

#[cfg(test)]
mod events {
    use super::*;
    use confab_proto::{Body, SystemEvent};

    #[test]
    fn events_are_rows_of_their_own_and_withheld_entries_are_not_shown() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let m = |id: u64, sender: &str, body: Body| Message {
            id,
            conv: 1,
            seq: id,
            sender: sender.into(),
            ts: 1_795_218_600_000 + id as i64 * 1000,
            nonce: None,
            body,
        };
        let v = items(
            &[
                m(1, "ann", Body::text("hi")),
                m(
                    2,
                    "ann",
                    Body::System(SystemEvent::Added {
                        users: vec!["cat".into()],
                    }),
                ),
                m(3, "ann", Body::text("welcome")),
                m(4, "bob", Body::Withheld),
                m(
                    5,
                    "bob",
                    Body::Unknown {
                        kind: "poll".into(),
                        fields: Default::default(),
                    },
                ),
            ],
            &[],
            "ann",
            utc,
            None,
        );
        let rows: Vec<String> = v
            .iter()
            .map(|i| match i {
                Item::Day { .. } => "day".into(),
                Item::Group { sender, lines, .. } => format!("{sender}: {}", lines.len()),
                Item::Event { text, unknown, .. } => format!("{unknown} {text}"),
                Item::Unread { .. } => "new".into(),
            })
            .collect();
        assert_eq!(
            rows,
            [
                "day",
                "ann: 1",
                "false ann added cat",
                "ann: 1",
                "true bob sent a “poll” message, which this version of Confab cannot show",
            ]
        );
    }
}
