//! [`Admin`] on SQLite: accounts and channels as an admin sees them, the
//! audit log, invitations.

use async_trait::async_trait;
use confab_proto::{ConvId, Role};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, backend, now_ms};
use crate::{Admin, AuditEntry, ChannelSummary, NewAudit, Result, StoreError, UserId, UserSummary};

fn one_changed(n: usize, what: &'static str) -> Result<()> {
    if n == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Admin for SqliteStore {
    async fn list_users(&self, query: &str, limit: u32) -> Result<Vec<UserSummary>> {
        // LIKE's wildcards in the query are literal.
        let pattern = format!(
            "%{}%",
            query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT u.id, u.name, u.role, u.disabled, u.created_ms,
                            (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id)
                     FROM users u WHERE u.name LIKE ?1 ESCAPE '\\' AND u.name NOT LIKE 'deleted-%'
                     ORDER BY u.name LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![pattern, limit], |r| {
                    Ok(UserSummary {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Member),
                        disabled: r.get(3)?,
                        created_ms: r.get(4)?,
                        sessions: r.get::<_, i64>(5)? as u64,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET role = ?2 WHERE id = ?1",
                    params![id, role.as_str()],
                )
                .map_err(backend)?;
            one_changed(n, "user")
        })
        .await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET disabled = ?2 WHERE id = ?1",
                    params![id, disabled],
                )
                .map_err(backend)?;
            one_changed(n, "user")?;
            if disabled {
                tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn revoke_tokens(&self, id: UserId) -> Result<u64> {
        self.write(move |tx| {
            tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET name = 'deleted-' || id, password_hash = '!',
                            disabled = 1, invisible = 0, role = 'member'
                     WHERE id = ?1",
                    [id],
                )
                .map_err(backend)?;
            one_changed(n, "user")?;
            for sql in [
                "DELETE FROM tokens WHERE user_id = ?1",
                "DELETE FROM members WHERE user_id = ?1",
                "DELETE FROM friends WHERE user_id = ?1 OR friend_id = ?1",
                "DELETE FROM friend_requests WHERE from_user = ?1 OR to_user = ?1",
                "DELETE FROM blocks WHERE user_id = ?1 OR blocked_id = ?1",
                "UPDATE convs SET owner = NULL WHERE owner = ?1",
            ] {
                tx.execute(sql, [id]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn all_channels(&self) -> Result<Vec<ChannelSummary>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT c.id, COALESCE(c.title, c.name), c.private, u.name, c.last_seq,
                            (SELECT COUNT(*) FROM members m WHERE m.conv = c.id)
                     FROM convs c LEFT JOIN users u ON u.id = c.owner
                     WHERE c.kind = 'channel' ORDER BY COALESCE(c.title, c.name), c.id",
                )
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(ChannelSummary {
                        id: r.get::<_, i64>(0)? as ConvId,
                        name: r.get(1)?,
                        private: r.get(2)?,
                        owner: r.get(3)?,
                        last_seq: r.get::<_, i64>(4)? as u64,
                        members: r.get::<_, i64>(5)? as u64,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn set_owner(&self, conv: ConvId, user: UserId) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE convs SET owner = ?2 WHERE id = ?1 AND kind = 'channel'",
                    params![conv as i64, user],
                )
                .map_err(backend)?;
            one_changed(n, "channel")?;
            tx.execute(
                "INSERT OR IGNORE INTO members (conv, user_id, joined_ms) VALUES (?1, ?2, ?3)",
                params![conv as i64, user, now_ms()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn add_audit(&self, e: NewAudit) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO audit (ts_ms, actor, action, target, client, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now_ms(), e.actor, e.action, e.target, e.client, e.detail],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT id, ts_ms, actor, action, target, client, detail FROM audit
                     WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        ts_ms: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        client: r.get(5)?,
                        detail: r.get(6)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn create_invite(
        &self,
        hash: &str,
        by: Option<UserId>,
        expires_ms: i64,
        uses: u32,
    ) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO invites (hash, created_by, created_ms, expires_ms, uses_left)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, by, now_ms(), expires_ms, uses],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn use_invite(&self, hash: &str, now_ms: i64) -> Result<bool> {
        let hash = hash.to_owned();
        self.write(move |tx| {
            let left: Option<i64> = tx
                .query_row(
                    "SELECT uses_left FROM invites WHERE hash = ?1 AND expires_ms > ?2",
                    params![hash, now_ms],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            match left {
                Some(n) if n > 0 => {
                    tx.execute(
                        "UPDATE invites SET uses_left = uses_left - 1 WHERE hash = ?1",
                        [&hash],
                    )
                    .map_err(backend)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }
}
