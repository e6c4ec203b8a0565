//! [`Users`] on SQLite: accounts and session tokens.

use async_trait::async_trait;
use confab_proto::Role;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, backend, now_ms};
use crate::{Result, StoreError, UserId, UserRecord, Users};

pub(super) const USER_COLS: &str = "id, name, role, invisible, password_hash, disabled";

pub(super) fn user_row(r: &Row) -> rusqlite::Result<UserRecord> {
    let role: String = r.get(2)?;
    Ok(UserRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        invisible: r.get(3)?,
        password_hash: r.get(4)?,
        disabled: r.get(5)?,
    })
}

pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, name: &str, password_hash: &str, role: Role) -> Result<UserRecord> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            let res = tx.execute(
                "INSERT INTO users (name, password_hash, role, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, role.as_str(), now_ms()],
            );
            match res {
                Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken(name)),
                Err(e) => Err(backend(e)),
                Ok(_) => Ok(UserRecord {
                    id: tx.last_insert_rowid(),
                    name,
                    role,
                    invisible: false,
                    password_hash: hash,
                    disabled: false,
                }),
            }
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1"))
                .and_then(|mut s| s.query_row([name], user_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id], user_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<()> {
        let hash = password_hash.to_owned();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![id, hash],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound("user"));
            }
            tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_invisible(&self, id: UserId, invisible: bool) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE users SET invisible = ?2 WHERE id = ?1",
                params![id, invisible],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn add_token(&self, user: UserId, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO tokens (hash, user_id, created_ms) VALUES (?1, ?2, ?3)",
                params![hash, user, now_ms()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn user_by_token(
        &self,
        token_hash: &str,
        not_before_ms: i64,
    ) -> Result<Option<UserRecord>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE id = \
                 (SELECT user_id FROM tokens WHERE hash = ?1 AND created_ms >= ?2)"
            ))
            .and_then(|mut s| {
                s.query_row(params![hash, not_before_ms], user_row)
                    .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn has_admin(&self) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0)",
                [],
                |r| r.get::<_, bool>(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn count_users(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }
}
