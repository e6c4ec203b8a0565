//! [`Social`] on SQLite. A friendship is two rows of `friends`, one each
//! way, so that "friends of X" is one index range.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, backend, now_ms};
use crate::{AllRelations, Relations, Result, Social, UserId};

fn unfriend(tx: &rusqlite::Transaction, a: UserId, b: UserId) -> Result<bool> {
    tx.execute(
        "DELETE FROM friends WHERE (user_id = ?1 AND friend_id = ?2) OR (user_id = ?2 AND friend_id = ?1)",
        params![a, b],
    )
    .map(|n| n > 0)
    .map_err(backend)
}

fn named(c: &rusqlite::Connection, sql: &str, user: UserId) -> Result<Vec<(UserId, String)>> {
    let mut s = c.prepare_cached(sql).map_err(backend)?;
    let rows = s
        .query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

#[async_trait]
impl Social for SqliteStore {
    async fn add_friend_request(&self, from: UserId, to: UserId) -> Result<bool> {
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO friend_requests (from_user, to_user, created_ms) VALUES (?1, ?2, ?3)",
                params![from, to, now_ms()],
            )
            .map(|n| n == 1)
            .map_err(backend)
        })
        .await
    }

    async fn remove_friend_request(&self, from: UserId, to: UserId) -> Result<bool> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM friend_requests WHERE from_user = ?1 AND to_user = ?2",
                params![from, to],
            )
            .map(|n| n == 1)
            .map_err(backend)
        })
        .await
    }

    async fn make_friends(&self, a: UserId, b: UserId) -> Result<bool> {
        self.write(move |tx| {
            let blocked: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM blocks WHERE (user_id = ?1 AND blocked_id = ?2)
                                                           OR (user_id = ?2 AND blocked_id = ?1))",
                    params![a, b],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if blocked {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM friend_requests WHERE (from_user = ?1 AND to_user = ?2) OR (from_user = ?2 AND to_user = ?1)",
                params![a, b],
            )
            .map_err(backend)?;
            let now = now_ms();
            for (x, y) in [(a, b), (b, a)] {
                tx.execute(
                    "INSERT OR IGNORE INTO friends (user_id, friend_id, since_ms) VALUES (?1, ?2, ?3)",
                    params![x, y, now],
                )
                .map_err(backend)?;
            }
            Ok(true)
        })
        .await
    }

    async fn remove_friends(&self, a: UserId, b: UserId) -> Result<bool> {
        self.write(move |tx| unfriend(tx, a, b)).await
    }

    async fn block(&self, user: UserId, other: UserId) -> Result<bool> {
        self.write(move |tx| {
            unfriend(tx, user, other)?;
            tx.execute(
                "DELETE FROM friend_requests WHERE from_user = ?1 AND to_user = ?2",
                params![user, other],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT OR IGNORE INTO blocks (user_id, blocked_id, created_ms) VALUES (?1, ?2, ?3)",
                params![user, other, now_ms()],
            )
            .map(|n| n == 1)
            .map_err(backend)
        })
        .await
    }

    async fn unblock(&self, user: UserId, other: UserId) -> Result<bool> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM blocks WHERE user_id = ?1 AND blocked_id = ?2",
                params![user, other],
            )
            .map(|n| n == 1)
            .map_err(backend)
        })
        .await
    }

    async fn relations_of(&self, user: UserId) -> Result<Relations> {
        self.read(move |c| {
            Ok(Relations {
                friends: named(
                    c,
                    "SELECT u.id, u.name FROM friends f JOIN users u ON u.id = f.friend_id
                     WHERE f.user_id = ?1 ORDER BY u.name",
                    user,
                )?,
                incoming: named(
                    c,
                    "SELECT u.id, u.name FROM friend_requests r JOIN users u ON u.id = r.from_user
                     WHERE r.to_user = ?1 AND NOT EXISTS
                        (SELECT 1 FROM blocks b WHERE b.user_id = ?1 AND b.blocked_id = r.from_user)
                     ORDER BY u.name",
                    user,
                )?,
                outgoing: named(
                    c,
                    "SELECT u.id, u.name FROM friend_requests r JOIN users u ON u.id = r.to_user
                     WHERE r.from_user = ?1 ORDER BY u.name",
                    user,
                )?,
                blocked: named(
                    c,
                    "SELECT u.id, u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
                     WHERE b.user_id = ?1 ORDER BY u.name",
                    user,
                )?,
            })
        })
        .await
    }

    async fn all_relations(&self) -> Result<AllRelations> {
        self.read(|c| {
            let pairs = |sql: &str| -> Result<Vec<(UserId, UserId)>> {
                let mut s = c.prepare(sql).map_err(backend)?;
                let rows = s
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            };
            Ok(AllRelations {
                friendships: pairs(
                    "SELECT user_id, friend_id FROM friends WHERE user_id < friend_id",
                )?,
                blocks: pairs("SELECT user_id, blocked_id FROM blocks")?,
            })
        })
        .await
    }
}
