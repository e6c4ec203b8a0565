//! [`Files`] on SQLite: `uploads` (tus uploads in progress), `files` (a
//! name and a place for a blob) and `blobs` (content-addressed bytes,
//! stored once however many files share them). A blob is collected when no
//! file points to it; [`Files::remove_blob`] checks that in the statement
//! that forgets it.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, backend};
use crate::{FileRecord, Files, Result, UploadRecord, UploadTarget, UserId};

const UPLOAD_COLS: &str =
    "id, owner, length, sha256, name, conv, offer_to, avatar, nonce, created_ms, expires_ms";

fn upload_row(r: &Row) -> rusqlite::Result<UploadRecord> {
    let conv: Option<i64> = r.get(5)?;
    let offer_to: Option<i64> = r.get(6)?;
    let target = match (conv, offer_to) {
        (Some(c), _) => UploadTarget::Conv(c as u64),
        (None, Some(u)) => UploadTarget::Offer(u),
        (None, None) => UploadTarget::Avatar,
    };
    Ok(UploadRecord {
        id: r.get(0)?,
        owner: r.get(1)?,
        length: r.get::<_, i64>(2)? as u64,
        sha256: r.get(3)?,
        name: r.get(4)?,
        target,
        nonce: r.get(8)?,
        created_ms: r.get(9)?,
        expires_ms: r.get(10)?,
    })
}

pub(super) const FILE_COLS: &str = "id, blob, owner, name, size, mime, width, height, thumb, \
     thumb_size, conv, seq, offer_to, expires_ms, accepted, created_ms";

pub(super) fn file_row(r: &Row) -> rusqlite::Result<FileRecord> {
    let width: Option<i64> = r.get(6)?;
    let height: Option<i64> = r.get(7)?;
    let thumb: Option<String> = r.get(8)?;
    let thumb_size: Option<i64> = r.get(9)?;
    Ok(FileRecord {
        id: r.get(0)?,
        blob: r.get(1)?,
        owner: r.get(2)?,
        name: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        mime: r.get(5)?,
        image: width.zip(height).map(|(w, h)| (w as u32, h as u32)),
        thumb: thumb.map(|t| (t, thumb_size.unwrap_or(0) as u64)),
        conv: r.get::<_, Option<i64>>(10)?.map(|c| c as u64),
        seq: r.get::<_, Option<i64>>(11)?.map(|s| s as u64),
        offer_to: r.get(12)?,
        expires_ms: r.get(13)?,
        accepted: r.get(14)?,
        created_ms: r.get(15)?,
    })
}

/// Is no file pointing at the blob? (SQL, for `?1` the blob's hash.)
const UNREFERENCED: &str = "NOT EXISTS (SELECT 1 FROM files WHERE blob = ?1)
     AND NOT EXISTS (SELECT 1 FROM files WHERE thumb = ?1)";

#[async_trait]
impl Files for SqliteStore {
    async fn add_upload(&self, u: UploadRecord) -> Result<()> {
        self.write(move |tx| {
            let (conv, offer_to, avatar) = match u.target {
                UploadTarget::Conv(c) => (Some(c as i64), None, false),
                UploadTarget::Offer(user) => (None, Some(user), false),
                UploadTarget::Avatar => (None, None, true),
            };
            tx.execute(
                &format!(
                    "INSERT INTO uploads ({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                params![
                    u.id,
                    u.owner,
                    u.length as i64,
                    u.sha256,
                    u.name,
                    conv,
                    offer_to,
                    avatar,
                    u.nonce,
                    u.created_ms,
                    u.expires_ms
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = ?1"),
                [id],
                upload_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn remove_upload(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM uploads WHERE id = ?1", [id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn expired_uploads(&self, now_ms: i64) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT id FROM uploads WHERE expires_ms <= ?1")
                .map_err(backend)?;
            let rows = s.query_map([now_ms], |r| r.get(0)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
                .map_err(backend)
        })
        .await
    }

    async fn bytes_held(&self, user: UserId) -> Result<u64> {
        self.read(move |c| {
            c.query_row(
                "SELECT (SELECT COALESCE(SUM(size), 0) FROM files WHERE owner = ?1)
                      + (SELECT COALESCE(SUM(length), 0) FROM uploads WHERE owner = ?1)",
                [user],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }

    async fn uploads_of(&self, user: UserId) -> Result<u32> {
        self.read(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM uploads WHERE owner = ?1",
                [user],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u32)
            .map_err(backend)
        })
        .await
    }

    async fn add_file(&self, f: FileRecord) -> Result<()> {
        self.write(move |tx| {
            let now = super::now_ms();
            let mut blobs = vec![(f.blob.clone(), f.size)];
            blobs.extend(f.thumb.clone());
            for (sha, size) in blobs {
                tx.execute(
                    "INSERT OR IGNORE INTO blobs (sha256, size, created_ms) VALUES (?1, ?2, ?3)",
                    params![sha, size as i64, now],
                )
                .map_err(backend)?;
            }
            tx.execute(
                &format!("INSERT INTO files ({FILE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
                params![
                    f.id,
                    f.blob,
                    f.owner,
                    f.name,
                    f.size as i64,
                    f.mime,
                    f.image.map(|i| i.0),
                    f.image.map(|i| i.1),
                    f.thumb.as_ref().map(|t| &t.0),
                    f.thumb.as_ref().map(|t| t.1 as i64),
                    f.conv.map(|c| c as i64),
                    f.seq.map(|s| s as i64),
                    f.offer_to,
                    f.expires_ms,
                    f.accepted,
                    f.created_ms
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn file(&self, id: &str) -> Result<Option<FileRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
                [id],
                file_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn remove_file(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute("UPDATE users SET avatar = NULL WHERE avatar = ?1", [&id])
                .map_err(backend)?;
            tx.execute("DELETE FROM files WHERE id = ?1", [&id])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn lapsed_files(&self, now_ms: i64, before_ms: i64) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT id FROM files
                     WHERE (seq IS NULL AND created_ms < ?2
                            AND NOT EXISTS (SELECT 1 FROM users WHERE avatar = files.id))
                        OR (offer_to IS NOT NULL AND accepted IS NULL AND expires_ms <= ?1)",
                )
                .map_err(backend)?;
            let rows = s
                .query_map([now_ms, before_ms], |r| r.get(0))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
                .map_err(backend)
        })
        .await
    }

    async fn unreferenced_blobs(&self) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut s = c
                .prepare(&format!(
                    "SELECT sha256 FROM blobs b WHERE {}",
                    UNREFERENCED.replace("?1", "b.sha256")
                ))
                .map_err(backend)?;
            let rows = s.query_map([], |r| r.get(0)).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
                .map_err(backend)
        })
        .await
    }

    async fn remove_blob(&self, sha256: &str) -> Result<bool> {
        let sha = sha256.to_owned();
        self.write(move |tx| {
            tx.execute(
                &format!("DELETE FROM blobs WHERE sha256 = ?1 AND {UNREFERENCED}"),
                [sha],
            )
            .map(|n| n > 0)
            .map_err(backend)
        })
        .await
    }

    async fn has_blob(&self, sha256: &str) -> Result<bool> {
        let sha = sha256.to_owned();
        self.read(move |c| {
            c.query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [sha], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
                .map_err(backend)
        })
        .await
    }

    async fn set_avatar(&self, user: UserId, file: Option<&str>) -> Result<Option<String>> {
        let file = file.map(str::to_owned);
        self.write(move |tx| {
            let old: Option<String> = tx
                .query_row("SELECT avatar FROM users WHERE id = ?1", [user], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?
                .flatten();
            tx.execute(
                "UPDATE users SET avatar = ?2 WHERE id = ?1",
                params![user, file],
            )
            .map_err(backend)?;
            Ok(old.filter(|o| Some(o) != file.as_ref()))
        })
        .await
    }

    async fn avatar(&self, user: UserId) -> Result<Option<FileRecord>> {
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM users u JOIN files f ON f.id = u.avatar WHERE u.id = ?1",
                    FILE_COLS
                        .split(", ")
                        .map(|col| format!("f.{}", col.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                [user],
                file_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }
}
