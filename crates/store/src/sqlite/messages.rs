//! [`Messages`] on SQLite: the conversation logs.
//!
//! A log entry is a row of `messages`: its `kind`, the text of a text
//! message in `text`, any other kind's fields as JSON in `data`, and
//! `hidden_for`, a member who reads it as withheld. An entry's [`Effect`]
//! and the conversation its [`Dest`] creates are written in the same
//! savepoint as the entry.

use async_trait::async_trait;
use confab_proto::{Body, ConvId, ConvKind, Message, Seq, SystemEvent};
use rusqlite::{OptionalExtension, Row, params};

use super::convs::{AFTER_CONV, CONV_COLS, conv_row_at, find_dm, insert_conv, insert_member};
use super::{SqliteStore, backend};
use crate::{
    Appended, Dest, Effect, Hit, Messages, NewMessage, Page, Reader, Result, Search, StoreError,
    UserId,
};

const MSG_COLS: &str =
    "m.id, m.conv, m.seq, u.name, m.text, m.ts_ms, m.nonce, m.kind, m.data, m.hidden_for";
/// Columns in [`MSG_COLS`].
const MSG_COL_COUNT: usize = 10;

/// A row as `reader` sees it.
fn message_row(r: &Row, reader: Option<UserId>) -> rusqlite::Result<Message> {
    let kind: String = r.get(7)?;
    let data: Option<String> = r.get(8)?;
    let hidden_for: Option<UserId> = r.get(9)?;
    let body = if hidden_for.is_some() && hidden_for == reader {
        Body::Withheld
    } else {
        Body::from_stored(&kind, r.get(4)?, data.as_deref())
    };
    Ok(Message {
        id: r.get::<_, i64>(0)? as u64,
        conv: r.get::<_, i64>(1)? as u64,
        seq: r.get::<_, i64>(2)? as u64,
        sender: r.get(3)?,
        ts: r.get(5)?,
        nonce: r.get(6)?,
        body,
    })
}

/// The conversation an entry goes to, created if its destination says so.
/// Returns its id and whether it was created.
fn resolve(tx: &rusqlite::Transaction, m: &NewMessage) -> Result<(ConvId, bool)> {
    match &m.dest {
        Dest::Conv(id) => Ok((*id, false)),
        Dest::Dm(a, b) => {
            if let Some(conv) = find_dm(tx, *a, *b)? {
                return Ok((conv.id, false));
            }
            let key = crate::dm_key(*a, *b);
            let conv = insert_conv(tx, ConvKind::Dm, Ok(&key), None, true, "", None)?;
            insert_member(tx, conv.id, *a, 0)?;
            insert_member(tx, conv.id, *b, 0)?;
            Ok((conv.id, true))
        }
        Dest::NewGroup {
            name,
            owner_only_add,
            members,
        } => {
            let conv = insert_conv(
                tx,
                ConvKind::Group,
                Err("group"),
                Some(name),
                true,
                "",
                Some(m.sender),
            )?;
            tx.execute(
                "UPDATE convs SET owner_only_add = ?2 WHERE id = ?1",
                params![conv.id as i64, owner_only_add],
            )
            .map_err(backend)?;
            insert_member(tx, conv.id, m.sender, 0)?;
            for user in members {
                insert_member(tx, conv.id, *user, 0)?;
            }
            Ok((conv.id, true))
        }
    }
}

/// Applies what the entry at `seq` records. May return the body the entry
/// is stored with instead of the one given (a leaving owner's successor).
fn apply(
    tx: &rusqlite::Transaction,
    conv: ConvId,
    seq: u64,
    m: &NewMessage,
    effect: &Effect,
) -> Result<Option<Body>> {
    let conv_i = conv as i64;
    let sender = m.sender;
    match effect {
        Effect::AddMembers(users) => {
            for user in users {
                // They see this entry (the one that adds them) and what follows.
                insert_member(tx, conv, *user, seq - 1)?;
            }
        }
        Effect::Leave => {
            let left = tx
                .execute(
                    "DELETE FROM members WHERE conv = ?1 AND user_id = ?2",
                    params![conv_i, sender],
                )
                .map_err(backend)?;
            if left == 0 {
                // Already gone (two devices leaving at once).
                return Err(StoreError::NotFound("member"));
            }
            // The owner's role passes to whoever has been in it longest,
            // chosen here so that it is a member at this moment.
            let next: Option<(UserId, String)> = tx
                .query_row(
                    "SELECT m.user_id, u.name FROM members m JOIN users u ON u.id = m.user_id
                     WHERE m.conv = ?1 AND (SELECT owner FROM convs WHERE id = ?1) = ?2
                     ORDER BY m.from_seq, m.joined_ms, m.user_id LIMIT 1",
                    params![conv_i, sender],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            if let Some((owner, name)) = next {
                tx.execute(
                    "UPDATE convs SET owner = ?2 WHERE id = ?1",
                    params![conv_i, owner],
                )
                .map_err(backend)?;
                if let Body::System(SystemEvent::Left { .. }) = m.body {
                    return Ok(Some(Body::System(SystemEvent::Left { owner: Some(name) })));
                }
            }
        }
        Effect::Rename(name) => {
            tx.execute(
                "UPDATE convs SET title = ?2 WHERE id = ?1",
                params![conv_i, name],
            )
            .map_err(backend)?;
        }
        Effect::AddPolicy(owner_only) => {
            tx.execute(
                "UPDATE convs SET owner_only_add = ?2 WHERE id = ?1",
                params![conv_i, owner_only],
            )
            .map_err(backend)?;
        }
        Effect::Topic(topic) => {
            tx.execute(
                "UPDATE convs SET topic = ?2 WHERE id = ?1",
                params![conv_i, topic],
            )
            .map_err(backend)?;
        }
        Effect::Edit { target, text } => {
            let data: Option<Option<String>> = tx
                .query_row(
                    "SELECT data FROM messages
                     WHERE conv = ?1 AND seq = ?2 AND sender = ?3 AND kind = 'text'",
                    params![conv_i, *target as i64, sender],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(data) = data else {
                return Err(StoreError::NotFound("message"));
            };
            let reply_to = match Body::from_stored("text", String::new(), data.as_deref()) {
                Body::Text { reply_to, .. } => reply_to,
                _ => None,
            };
            let edited = Body::Text {
                text: text.clone(),
                reply_to,
                edited: Some(m.ts),
            };
            tx.execute(
                "UPDATE messages SET text = ?3, data = ?4 WHERE conv = ?1 AND seq = ?2",
                params![conv_i, *target as i64, text, edited.data()],
            )
            .map_err(backend)?;
        }
        Effect::Delete { target } => {
            let n = tx
                .execute(
                    "UPDATE messages SET kind = 'deleted', text = '', data = NULL
                     WHERE conv = ?1 AND seq = ?2 AND kind IN ('text', 'file', 'offer')",
                    params![conv_i, *target as i64],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound("message"));
            }
            tx.execute(
                "DELETE FROM files WHERE conv = ?1 AND seq = ?2",
                params![conv_i, *target as i64],
            )
            .map_err(backend)?;
        }
        Effect::File(id) => {
            let n = tx
                .execute(
                    "UPDATE files SET conv = ?1, seq = ?2 WHERE id = ?3 AND seq IS NULL",
                    params![conv_i, seq as i64, id],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound("file"));
            }
        }
        Effect::Answer { target, accept } => {
            let data: Option<Option<String>> = tx
                .query_row(
                    "SELECT m.data FROM messages m JOIN files f ON f.conv = m.conv AND f.seq = m.seq
                     WHERE m.conv = ?1 AND m.seq = ?2 AND m.kind = 'offer'
                       AND f.offer_to = ?3 AND f.accepted IS NULL",
                    params![conv_i, *target as i64, sender],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(Body::Offer { file, expires, .. }) =
                data.map(|d| Body::from_stored("offer", String::new(), d.as_deref()))
            else {
                return Err(StoreError::NotFound("offer"));
            };
            let answered = Body::Offer {
                file,
                expires,
                accepted: Some(*accept),
            };
            tx.execute(
                "UPDATE messages SET data = ?3 WHERE conv = ?1 AND seq = ?2",
                params![conv_i, *target as i64, answered.data()],
            )
            .map_err(backend)?;
            if *accept {
                tx.execute(
                    "UPDATE files SET accepted = 1 WHERE conv = ?1 AND seq = ?2",
                    params![conv_i, *target as i64],
                )
            } else {
                tx.execute(
                    "DELETE FROM files WHERE conv = ?1 AND seq = ?2",
                    params![conv_i, *target as i64],
                )
            }
            .map_err(backend)?;
        }
    }
    Ok(None)
}

fn append_one(tx: &rusqlite::Transaction, m: &NewMessage) -> Result<Appended> {
    let (conv, created) = resolve(tx, m)?;
    if let (Some(nonce), false) = (&m.nonce, created) {
        let existing = tx
            .prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM messages m JOIN users u ON u.id = m.sender
                 WHERE m.conv = ?1 AND m.sender = ?2 AND m.nonce = ?3"
            ))
            .and_then(|mut s| {
                s.query_row(params![conv as i64, m.sender, nonce], |r| {
                    message_row(r, Some(m.sender))
                })
                .optional()
            })
            .map_err(backend)?;
        if let Some(message) = existing {
            return Ok(Appended {
                message,
                duplicate: true,
                created: false,
            });
        }
    }
    let seq: Option<i64> = tx
        .prepare_cached("UPDATE convs SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq")
        .and_then(|mut s| s.query_row([conv as i64], |r| r.get(0)).optional())
        .map_err(backend)?;
    let Some(seq) = seq else {
        return Err(StoreError::NotFound("conversation"));
    };
    let replaced = match &m.effect {
        Some(effect) => apply(tx, conv, seq as u64, m, effect)?,
        None => None,
    };
    let body = replaced.as_ref().unwrap_or(&m.body);
    tx.prepare_cached(
        "INSERT INTO messages (conv, seq, sender, text, nonce, ts_ms, kind, data, hidden_for)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            conv as i64,
            seq,
            m.sender,
            body.as_text().unwrap_or_default(),
            m.nonce,
            m.ts,
            body.kind(),
            body.data(),
            m.hidden_for,
        ])
    })
    .map_err(backend)?;
    Ok(Appended {
        message: Message {
            id: tx.last_insert_rowid() as u64,
            conv,
            seq: seq as u64,
            sender: m.sender_name.clone(),
            ts: m.ts,
            nonce: m.nonce.clone(),
            body: replaced.unwrap_or_else(|| m.body.clone()),
        },
        duplicate: false,
        created,
    })
}

#[async_trait]
impl Messages for SqliteStore {
    async fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>> {
        let batch = std::sync::Arc::new(batch);
        // Nearly always every entry goes in: one pass with no savepoints.
        // (A savepoint per entry made SQLite copy each page an entry
        // touched into its sub-journal: 18% of the server's time under a
        // load of direct messages, measured with perf.)
        let all = batch.clone();
        let fast = self
            .write(move |tx| {
                all.iter()
                    .map(|m| append_one(tx, m).map(Ok))
                    .collect::<Result<Vec<_>>>()
            })
            .await;
        if let Ok(out) = fast {
            return Ok(out);
        }
        // One failed (a conversation deleted meanwhile): that transaction
        // was rolled back; again, each entry in a savepoint of its own, so
        // that one failing append does not undo the others.
        self.write(move |tx| {
            let mut out = Vec::with_capacity(batch.len());
            for m in batch.iter() {
                tx.execute_batch("SAVEPOINT one").map_err(backend)?;
                let r = append_one(tx, m);
                let end = if r.is_ok() {
                    "RELEASE one"
                } else {
                    "ROLLBACK TO one; RELEASE one"
                };
                tx.execute_batch(end).map_err(backend)?;
                out.push(r);
            }
            Ok(out)
        })
        .await
    }

    async fn history(
        &self,
        conv: ConvId,
        page: Page,
        limit: u32,
        reader: Reader,
    ) -> Result<(Vec<Message>, bool)> {
        self.read(move |c| {
            let conv = conv as i64;
            // Fetch one extra row to learn whether more lie beyond the page.
            let n = limit as i64 + 1;
            let (sql, bound) = match page {
                Page::Latest => ("m.seq < ?2 ORDER BY m.seq DESC", i64::MAX),
                Page::Before(s) => ("m.seq < ?2 ORDER BY m.seq DESC", s as i64),
                Page::After(s) => ("m.seq > ?2 ORDER BY m.seq ASC", s as i64),
            };
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {MSG_COLS} FROM messages m JOIN users u ON u.id = m.sender
                     WHERE m.conv = ?1 AND m.seq > ?4 AND {sql} LIMIT ?3"
                ))
                .map_err(backend)?;
            let mut rows = s
                .query_map(params![conv, bound, n, reader.from_seq as i64], |r| {
                    message_row(r, Some(reader.user))
                })
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            if !matches!(page, Page::After(_)) {
                rows.reverse();
            }
            Ok((rows, more))
        })
        .await
    }

    async fn message(&self, conv: ConvId, seq: Seq, reader: Reader) -> Result<Option<Message>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM messages m JOIN users u ON u.id = m.sender
                 WHERE m.conv = ?1 AND m.seq = ?2 AND m.seq > ?3"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![conv as i64, seq as i64, reader.from_seq as i64],
                    |r| message_row(r, Some(reader.user)),
                )
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn set_read(&self, conv: ConvId, user: UserId, seq: Seq) -> Result<Seq> {
        self.write(move |tx| {
            tx.query_row(
                "UPDATE members SET read_seq = max(read_seq, ?3)
                 WHERE conv = ?1 AND user_id = ?2 RETURNING read_seq",
                params![conv as i64, user, seq as i64],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(backend)?
            .map(|s| s as u64)
            .ok_or(StoreError::NotFound("member"))
        })
        .await
    }

    async fn search(&self, q: Search) -> Result<(Vec<Hit>, bool)> {
        let Some(expr) = crate::fts_query(&q.query) else {
            return Ok((Vec::new(), false));
        };
        self.read(move |c| {
            // Readable: a conversation the reader is in (after where their
            // view starts), or a public channel. One extra row tells
            // whether more remain.
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {MSG_COLS}, {CONV_COLS},
                        (SELECT ou.name FROM members o JOIN users ou ON ou.id = o.user_id
                         WHERE o.conv = m.conv AND o.user_id != ?2)
                     FROM messages_fts f
                     JOIN messages m ON m.id = f.rowid
                     JOIN users u ON u.id = m.sender
                     JOIN convs ON convs.id = m.conv
                     LEFT JOIN members me ON me.conv = m.conv AND me.user_id = ?2 AND NOT ?3
                     WHERE messages_fts MATCH ?1
                       AND m.kind = 'text'
                       AND (m.hidden_for IS NULL OR m.hidden_for != ?2)
                       AND ((me.user_id IS NOT NULL AND m.seq > me.from_seq)
                            OR (convs.kind = 'channel' AND convs.private = 0))
                       AND (?4 IS NULL OR m.conv = ?4)
                       AND m.id < ?5
                     ORDER BY m.id DESC LIMIT ?6"
                ))
                .map_err(backend)?;
            let before = q.before.map(|b| b as i64).unwrap_or(i64::MAX);
            let mut hits = s
                .query_map(
                    params![
                        expr,
                        q.reader,
                        q.visitor,
                        q.conv.map(|c| c as i64),
                        before,
                        q.limit as i64 + 1
                    ],
                    |r| {
                        let message = message_row(r, Some(q.reader))?;
                        let conv = conv_row_at(r, MSG_COL_COUNT)?;
                        let name = if conv.kind == ConvKind::Dm {
                            r.get::<_, Option<String>>(MSG_COL_COUNT + AFTER_CONV)?
                                .unwrap_or_default()
                        } else {
                            conv.name
                        };
                        Ok(Hit {
                            kind: conv.kind,
                            name,
                            message,
                        })
                    },
                )
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?;
            let more = hits.len() > q.limit as usize;
            hits.truncate(q.limit as usize);
            Ok((hits, more))
        })
        .await
    }

    async fn count_messages(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }
}
