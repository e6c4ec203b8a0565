//! The embedded SQLite backend, one file per trait (`users`, `convs`,
//! `messages`, `social`, `admin`, `files`); this one opens the database, migrates it and
//! runs reads and writes.
//!
//! One writer connection (SQLite allows one writer at a time anyway) behind a
//! mutex, and a small pool of reader connections; WAL mode lets readers run
//! while the writer commits. Every call runs on tokio's blocking pool so the
//! async runtime never waits on disk. `synchronous=FULL`: a commit that
//! returned is on disk, so the server may acknowledge it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::{Result, StoreError};

mod admin;
mod convs;
mod files;
mod messages;
mod social;
mod users;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those
/// done. Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    invisible     INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE convs (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    private    INTEGER NOT NULL DEFAULT 0,
    topic      TEXT NOT NULL DEFAULT '',
    owner      INTEGER REFERENCES users(id),
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE members (
    conv      INTEGER NOT NULL REFERENCES convs(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (conv, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id);
CREATE TABLE messages (
    id     INTEGER PRIMARY KEY,
    conv   INTEGER NOT NULL REFERENCES convs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    sender INTEGER NOT NULL REFERENCES users(id),
    text   TEXT NOT NULL,
    nonce  TEXT,
    ts_ms  INTEGER NOT NULL,
    UNIQUE (conv, seq)
);
CREATE UNIQUE INDEX messages_nonce ON messages(conv, sender, nonce) WHERE nonce IS NOT NULL;
"#,
    // 2: typed message bodies, groups, private channel names of their own,
    // friends and blocks.
    r#"
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE messages ADD COLUMN data TEXT;
ALTER TABLE messages ADD COLUMN hidden_for INTEGER;
ALTER TABLE convs ADD COLUMN title TEXT;
ALTER TABLE convs ADD COLUMN owner_only_add INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN from_seq INTEGER NOT NULL DEFAULT 0;
UPDATE convs SET title = name, name = 'private:' || id WHERE kind = 'channel' AND private = 1;
CREATE INDEX convs_title ON convs(title) WHERE title IS NOT NULL;
CREATE TABLE friend_requests (
    from_user  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (from_user, to_user)
) WITHOUT ROWID;
CREATE INDEX friend_requests_to ON friend_requests(to_user);
CREATE TABLE friends (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    friend_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    since_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) WITHOUT ROWID;
CREATE TABLE blocks (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;
"#,
    // 3: administration: disabled accounts, the audit log, invitations.
    r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    actor  TEXT,
    action TEXT NOT NULL,
    target TEXT,
    client TEXT,
    detail TEXT
);
CREATE TABLE invites (
    hash       TEXT PRIMARY KEY,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    uses_left  INTEGER NOT NULL
);
"#,
    // 4: read positions kept for every device, and full-text search of
    // text messages (an external-content FTS5 index kept by triggers, so
    // edits and deletes reach it in the same transaction).
    r#"
ALTER TABLE members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE kind = 'text';
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind = 'text' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, kind ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.kind = 'text';
    INSERT INTO messages_fts (rowid, text) SELECT new.id, new.text WHERE new.kind = 'text';
END;
"#,
    // 5: files: uploads in progress, files (where each was posted or
    // offered) and the content-addressed blobs they point to; avatars.
    r#"
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE files (
    id         TEXT PRIMARY KEY,
    blob       TEXT NOT NULL REFERENCES blobs(sha256),
    thumb      TEXT REFERENCES blobs(sha256),
    thumb_size INTEGER,
    owner      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    mime       TEXT NOT NULL,
    width      INTEGER,
    height     INTEGER,
    conv       INTEGER REFERENCES convs(id) ON DELETE CASCADE,
    seq        INTEGER,
    offer_to   INTEGER REFERENCES users(id) ON DELETE CASCADE,
    expires_ms INTEGER,
    accepted   INTEGER,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX files_blob ON files(blob);
CREATE INDEX files_thumb ON files(thumb) WHERE thumb IS NOT NULL;
CREATE INDEX files_owner ON files(owner);
CREATE INDEX files_message ON files(conv, seq);
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    owner      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    length     INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    name       TEXT NOT NULL,
    conv       INTEGER,
    offer_to   INTEGER,
    avatar     INTEGER NOT NULL DEFAULT 0,
    nonce      TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_owner ON uploads(owner);
ALTER TABLE users ADD COLUMN avatar TEXT;
"#,
];

/// Reader connections, and so concurrent reads.
const MAX_READERS: usize = 8;

/// SQLite-backed [`Store`](crate::Store).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// At most this many reads run at once, so the pool's connections are
    /// reused instead of a new one being opened for every read in a burst
    /// (a reconnect storm opened hundreds).
    read_slots: tokio::sync::Semaphore,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates the database file readable by its owner alone (it holds password
/// hashes and session tokens), and tightens an older one. SQLite gives its
/// `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        opts.open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    opts.open(path).map(drop)
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupInfo {
    pub users: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// Copies the database at `src` to `dest` (a new file, 0600) with SQLite's
/// online backup, in one step: one read transaction, so the copy is the
/// database as of one commit, while the server goes on writing (in WAL mode
/// readers never block the writer). The copy is checked with
/// `PRAGMA integrity_check` before this returns.
pub fn backup(src: &Path, dest: &Path) -> Result<BackupInfo> {
    if !src.exists() {
        return Err(StoreError::Backend(format!(
            "there is no database at {}",
            src.display()
        )));
    }
    let mut out = std::fs::OpenOptions::new();
    out.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut out, 0o600);
    out.open(dest)
        .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dest.display())))?;
    let run = || -> rusqlite::Result<BackupInfo> {
        let from = Connection::open_with_flags(
            src,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        from.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut to = Connection::open(dest)?;
        {
            let b = rusqlite::backup::Backup::new(&from, &mut to)?;
            // -1: every page in one step, under one read lock.
            b.step(-1)?;
        }
        // A single file: no WAL beside it.
        to.pragma_update(None, "journal_mode", "DELETE")?;
        let check: String = to.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("integrity check of the copy: {check}")),
            ));
        }
        let count = |sql: &str| to.query_row(sql, [], |r| r.get::<_, i64>(0));
        Ok(BackupInfo {
            users: count("SELECT COUNT(*) FROM users")? as u64,
            messages: count("SELECT COUNT(*) FROM messages")? as u64,
            bytes: 0,
        })
    };
    match run() {
        Ok(mut info) => {
            info.bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
            Ok(info)
        }
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            Err(backend(format!("backing up {}: {e}", src.display())))
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", path.display())))?;
        let mut conn = open_conn(&path).map_err(backend)?;
        let done = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map(|v| v as usize)
            .map_err(backend)?;
        if done > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "database schema version {done} is newer than this confab ({}): upgrade confab",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        // Checkpoints move the WAL into the database file and fsync it, which
        // stalls the committing writer for tens of ms (measured: p99 54 ms at
        // 200 DMs/s with the server 86% idle). A background thread does
        // them instead; the writer's own auto-checkpoint is only a backstop.
        conn.pragma_update(None, "wal_autocheckpoint", 20_000)
            .map_err(backend)?;
        let checkpointer = open_conn(&path).map_err(backend)?;
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(conn),
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(MAX_READERS),
            }),
        };
        let weak = Arc::downgrade(&store.inner);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, weak))
            .map_err(backend)?;
        Ok(store)
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _slot = self.inner.read_slots.acquire().await.map_err(backend)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_conn(&inner.path).map_err(backend)?,
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(backend)?
    }

    /// Runs `f` in one write transaction on the blocking pool; commits if it
    /// returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let out = f(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(out)
        })
        .await
        .map_err(backend)?
    }
}

/// Checkpoints the WAL in the background until the store is dropped.
/// PASSIVE never blocks the writer or readers; it copies what it can.
fn checkpoint_loop(conn: Connection, store: std::sync::Weak<Inner>) {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if store.strong_count() == 0 {
            return;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "background checkpoint failed");
        }
    }
}
