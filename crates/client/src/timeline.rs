//! The timeline view model: what a conversation's view shows, worked out
//! once for every UI. Entries are grouped by day and by sender, with local
//! times; system events and placeholders for unknown kinds are rows of
//! their own; withheld entries are not shown. The UI supplies the time
//! zone offset (the tests a fixed one) and only renders the rows.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use confab_proto::Message;

use crate::describe::{Shown, shown};

/// A new group starts when the sender changes, the day changes, or the
/// sender paused this long.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;

/// One message in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Stable across redraws: the message id, or the nonce while pending.
    pub key: String,
    pub text: String,
    /// `HH:MM`, shown on hover and to screen readers.
    pub time: String,
    /// Written here and not yet acknowledged by the server.
    pub pending: bool,
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
}

impl Item {
    pub fn key(&self) -> &str {
        match self {
            Item::Day { key, .. } | Item::Group { key, .. } | Item::Event { key, .. } => key,
        }
    }
}

/// A message written here, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLine {
    pub nonce: String,
    pub text: String,
    pub written_ms: i64,
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

/// The view of `messages` (oldest first) followed by what `me` has pending.
pub fn items(
    messages: &[Message],
    pending: &[PendingLine],
    me: &str,
    offset: FixedOffset,
) -> Vec<Item> {
    let rows = messages
        .iter()
        .map(|m| (m.sender.as_str(), m.ts, m.id.to_string(), shown(m), false))
        .chain(pending.iter().map(|p| {
            (
                me,
                p.written_ms,
                format!("p-{}", p.nonce),
                Shown::Text(p.text.as_str()),
                true,
            )
        }));
    let mut out: Vec<Item> = Vec::new();
    let mut day: Option<NaiveDate> = None;
    let mut last: Option<(&str, i64)> = None;
    for (sender, ts, key, shown, pending) in rows {
        let text = match shown {
            Shown::Hidden => continue,
            Shown::Text(t) => t,
            Shown::Event(_) | Shown::Unknown(_) => "",
        };
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
            text: text.to_owned(),
            time: clock(ts, offset),
            pending,
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
            let pending = lines.iter().filter(|l| l.pending).count();
            *key = format!("g-{}-{}-{pending}", lines[0].key, lines.len());
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
        }];
        assert_eq!(
            shape(&items(&ms, &pending, "ann", utc)),
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
        let v = items(&ms, &[], "ann", east);
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
        let one = items(&[msg(1, "ann", T0)], &[], "ann", utc);
        let two = items(
            &[msg(1, "ann", T0), msg(2, "ann", T0 + MIN)],
            &[],
            "ann",
            utc,
        );
        assert_eq!(one[0].key(), two[0].key(), "the day row stays");
        assert_ne!(one[1].key(), two[1].key(), "the grown group is redrawn");
        let pending = [PendingLine {
            nonce: "n".into(),
            text: "x".into(),
            written_ms: T0 + MIN,
        }];
        let acked = items(
            &[msg(1, "ann", T0), msg(2, "ann", T0 + MIN)],
            &[],
            "ann",
            utc,
        );
        let waiting = items(&[msg(1, "ann", T0)], &pending, "ann", utc);
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
        );
        let rows: Vec<String> = v
            .iter()
            .map(|i| match i {
                Item::Day { .. } => "day".into(),
                Item::Group { sender, lines, .. } => format!("{sender}: {}", lines.len()),
                Item::Event { text, unknown, .. } => format!("{unknown} {text}"),
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
