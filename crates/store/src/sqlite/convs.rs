//! [`Convs`] on SQLite: channels, DM pairs, groups and their members.
//!
//! `convs.name` is unique: a public channel's name, a DM pair's key
//! (`dm:<low>:<high>`), or for private channels and groups a key of their
//! own (`private:<id>`, `group:<id>`) with what people call them in
//! `title`. So a private channel's name is never taken from anyone, and a
//! name that is taken never reveals a private channel.

use async_trait::async_trait;
use confab_proto::{ConvId, ConvKind};
use rusqlite::{OptionalExtension, Row, params};

use super::users::user_row;
use super::{SqliteStore, backend, now_ms};
use crate::{
    ChannelRow, ConvRecord, Convs, MemberConv, Membership, Result, StoreError, UserId, UserRecord,
    dm_key,
};

pub(super) const CONV_COLS: &str = "convs.id, convs.kind, coalesce(convs.title, convs.name), \
     convs.private, convs.topic, convs.owner, convs.last_seq, convs.owner_only_add";
/// Columns after [`CONV_COLS`] start here.
pub(super) const AFTER_CONV: usize = 8;

pub(super) fn conv_row(r: &Row) -> rusqlite::Result<ConvRecord> {
    conv_row_at(r, 0)
}

/// A conversation from [`CONV_COLS`] starting at column `at`.
pub(super) fn conv_row_at(r: &Row, at: usize) -> rusqlite::Result<ConvRecord> {
    let kind: String = r.get(at + 1)?;
    Ok(ConvRecord {
        id: r.get::<_, i64>(at)? as ConvId,
        kind: ConvKind::parse(&kind).unwrap_or(ConvKind::Channel),
        name: r.get(at + 2)?,
        private: r.get(at + 3)?,
        topic: r.get(at + 4)?,
        owner: r.get(at + 5)?,
        last_seq: r.get::<_, i64>(at + 6)? as u64,
        owner_only_add: r.get(at + 7)?,
    })
}

/// Inserts a conversation. `key` is its unique name; `None` for those
/// keyed by their id under `prefix` (private channels, groups), which then
/// keep `title` as what people call them.
pub(super) fn insert_conv(
    tx: &rusqlite::Transaction,
    kind: ConvKind,
    key: Result<&str, &str>,
    title: Option<&str>,
    private: bool,
    topic: &str,
    owner: Option<UserId>,
) -> Result<ConvRecord> {
    let name = match key {
        Ok(name) => name.to_owned(),
        // Unique within this transaction, renamed below once the id is known.
        Err(prefix) => format!("{prefix}:new"),
    };
    let res = tx.execute(
        "INSERT INTO convs (kind, name, title, private, topic, owner, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![kind.as_str(), name, title, private, topic, owner, now_ms()],
    );
    match res {
        Err(e) if super::users::is_unique_violation(&e) => {
            return Err(StoreError::NameTaken(name));
        }
        Err(e) => return Err(backend(e)),
        Ok(_) => {}
    }
    let id = tx.last_insert_rowid();
    if let Err(prefix) = key {
        tx.execute(
            "UPDATE convs SET name = ?2 WHERE id = ?1",
            params![id, format!("{prefix}:{id}")],
        )
        .map_err(backend)?;
    }
    Ok(ConvRecord {
        id: id as ConvId,
        kind,
        name: title.map_or(name, str::to_owned),
        private,
        topic: topic.to_owned(),
        owner,
        owner_only_add: false,
        last_seq: 0,
    })
}

/// Adds a member who sees the log after `from_seq`; false if already one.
pub(super) fn insert_member(
    tx: &rusqlite::Transaction,
    conv: ConvId,
    user: UserId,
    from_seq: u64,
) -> Result<bool> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO members (conv, user_id, joined_ms, from_seq) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![conv as i64, user, now_ms(), from_seq as i64]))
    .map(|n| n == 1)
    .map_err(|e| {
        if super::users::is_unique_violation(&e) {
            StoreError::NotFound("conversation or user")
        } else {
            backend(e)
        }
    })
}

/// The DM pair of `a` and `b`, read inside `c` (a transaction or a reader).
pub(super) fn find_dm(
    c: &rusqlite::Connection,
    a: UserId,
    b: UserId,
) -> Result<Option<ConvRecord>> {
    c.prepare_cached(&format!("SELECT {CONV_COLS} FROM convs WHERE name = ?1"))
        .and_then(|mut s| s.query_row([dm_key(a, b)], conv_row).optional())
        .map_err(backend)
}

#[async_trait]
impl Convs for SqliteStore {
    async fn create_channel(
        &self,
        name: &str,
        private: bool,
        topic: &str,
        owner: UserId,
    ) -> Result<ConvRecord> {
        let (name, topic) = (name.to_owned(), topic.to_owned());
        self.write(move |tx| {
            let conv = if private {
                insert_conv(
                    tx,
                    ConvKind::Channel,
                    Err("private"),
                    Some(&name),
                    true,
                    &topic,
                    Some(owner),
                )?
            } else {
                insert_conv(
                    tx,
                    ConvKind::Channel,
                    Ok(&name),
                    None,
                    false,
                    &topic,
                    Some(owner),
                )?
            };
            insert_member(tx, conv.id, owner, 0)?;
            Ok(conv)
        })
        .await
    }

    async fn first_channel(&self, name: &str, topic: &str) -> Result<Option<ConvRecord>> {
        let (name, topic) = (name.to_owned(), topic.to_owned());
        self.write(move |tx| {
            let any: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM convs)", [], |r| r.get(0))
                .map_err(backend)?;
            if any {
                return Ok(None);
            }
            insert_conv(tx, ConvKind::Channel, Ok(&name), None, false, &topic, None).map(Some)
        })
        .await
    }

    async fn public_channel(&self, name: &str) -> Result<Option<ConvRecord>> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CONV_COLS} FROM convs WHERE name = ?1 AND kind = 'channel' AND private = 0"
            ))
            .and_then(|mut s| s.query_row([name], conv_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn channel_for(&self, name: &str, viewer: UserId) -> Result<Option<ConvRecord>> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CONV_COLS} FROM convs WHERE kind = 'channel' AND (
                    (private = 0 AND name = ?1)
                    OR (private = 1 AND title = ?1 AND EXISTS
                        (SELECT 1 FROM members m WHERE m.conv = convs.id AND m.user_id = ?2)))
                 ORDER BY private DESC LIMIT 1"
            ))
            .and_then(|mut s| s.query_row(params![name, viewer], conv_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn conv(&self, id: ConvId) -> Result<Option<ConvRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {CONV_COLS} FROM convs WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id as i64], conv_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn list_channels(&self, viewer: UserId) -> Result<Vec<ChannelRow>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {CONV_COLS}, coalesce(u.name, ''),
                            (SELECT count(*) FROM members m WHERE m.conv = convs.id)
                     FROM convs LEFT JOIN users u ON u.id = convs.owner
                     WHERE convs.kind = 'channel'
                       AND (convs.private = 0
                            OR EXISTS (SELECT 1 FROM members m WHERE m.conv = convs.id AND m.user_id = ?1))
                     ORDER BY coalesce(convs.title, convs.name), convs.private"
                ))
                .map_err(backend)?;
            let rows = s
                .query_map([viewer], |r| {
                    Ok(ChannelRow {
                        conv: conv_row(r)?,
                        owner_name: r.get(AFTER_CONV)?,
                        members: r.get(AFTER_CONV + 1)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_conv(&self, id: ConvId) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute("DELETE FROM convs WHERE id = ?1", [id as i64])
                .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound("conversation"))
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn add_member(&self, conv: ConvId, user: UserId) -> Result<bool> {
        self.write(move |tx| insert_member(tx, conv, user, 0)).await
    }

    async fn remove_member(&self, conv: ConvId, user: UserId) -> Result<bool> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM members WHERE conv = ?1 AND user_id = ?2",
                params![conv as i64, user],
            )
            .map(|n| n == 1)
            .map_err(backend)
        })
        .await
    }

    async fn members(&self, conv: ConvId) -> Result<Vec<UserRecord>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT u.id, u.name, u.role, u.invisible, u.password_hash, u.disabled
                     FROM members m JOIN users u ON u.id = m.user_id WHERE m.conv = ?1 ORDER BY u.name",
                )
                .map_err(backend)?;
            let rows = s.query_map([conv as i64], user_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn all_memberships(&self) -> Result<Vec<Membership>> {
        self.read(|c| {
            let mut s = c
                .prepare(
                    "SELECT m.conv, m.user_id, m.from_seq, c.kind
                     FROM members m JOIN convs c ON c.id = m.conv",
                )
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(Membership {
                        conv: r.get::<_, i64>(0)? as ConvId,
                        user: r.get(1)?,
                        from_seq: r.get::<_, i64>(2)? as u64,
                        kind: ConvKind::parse(&r.get::<_, String>(3)?).unwrap_or(ConvKind::Channel),
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn dm_conv(&self, a: UserId, b: UserId) -> Result<Option<ConvRecord>> {
        self.read(move |c| find_dm(c, a, b)).await
    }

    async fn convs_of(&self, user: UserId) -> Result<Vec<MemberConv>> {
        self.read(move |c| {
            // For a DM pair, show the other member's name instead of the key.
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {CONV_COLS},
                        (SELECT u.name FROM members o JOIN users u ON u.id = o.user_id
                         WHERE o.conv = convs.id AND o.user_id != ?1),
                        m.from_seq, m.read_seq
                     FROM members m JOIN convs ON convs.id = m.conv
                     WHERE m.user_id = ?1 ORDER BY convs.id"
                ))
                .map_err(backend)?;
            let rows = s
                .query_map([user], |r| {
                    let mut conv = conv_row(r)?;
                    if conv.kind == ConvKind::Dm {
                        conv.name = r.get::<_, Option<String>>(AFTER_CONV)?.unwrap_or_default();
                    }
                    Ok(MemberConv {
                        conv,
                        from_seq: r.get::<_, i64>(AFTER_CONV + 1)? as u64,
                        read: r.get::<_, i64>(AFTER_CONV + 2)? as u64,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }
}
