//! [`Cache`] in a SQLite file: the profile's conversations, messages,
//! outbox and settings. Every write is its own transaction, so a message
//! put in the outbox is on disk before the UI shows it as pending.

use std::path::Path;

use confab_proto::{Body, ConvId, ConvKind, Message, Seq};
use rusqlite::{Connection, OptionalExtension, params};

use crate::cache::{Cache, CacheError, CachedConv, Pending, Target, What};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS convs (
    conv   INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL,
    name   TEXT NOT NULL,
    synced INTEGER NOT NULL,
    read   INTEGER NOT NULL,
    unread INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conv   INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    id     INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text   TEXT NOT NULL,
    ts     INTEGER NOT NULL,
    nonce  TEXT,
    PRIMARY KEY (conv, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    pos     INTEGER PRIMARY KEY AUTOINCREMENT,
    nonce   TEXT NOT NULL UNIQUE,
    target  TEXT NOT NULL,
    text    TEXT NOT NULL,
    written INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Changes since the first schema, applied in order; `PRAGMA user_version`
/// counts those done. Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: typed message bodies (see `confab_proto::Body`): the kind, and any
    // kind but text's fields as JSON. Older rows are text.
    "ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
     ALTER TABLE messages ADD COLUMN data TEXT;",
    // 2: reactions, edits and deletes in the outbox (`what`, as JSON; none
    // is a message), mentions, topics and muted conversations.
    "ALTER TABLE outbox ADD COLUMN what TEXT;
     ALTER TABLE convs ADD COLUMN mentions INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE convs ADD COLUMN topic TEXT NOT NULL DEFAULT '';
     ALTER TABLE convs ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;",
];

/// Creates or upgrades the schema in one IMMEDIATE transaction: a second
/// process opening the same fresh profile waits for it (busy timeout) and
/// then finds the work done, instead of failing half-way.
fn migrate(db: &mut Connection) -> Result<(), CacheError> {
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(SCHEMA).map_err(err)?;
    let done = tx
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map(|v| v as usize)
        .map_err(err)?;
    if done > MIGRATIONS.len() {
        return Err(CacheError(format!(
            "this cache was written by a newer confab (schema {done}); upgrade confab or use another profile"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// Switches to WAL. Changing the journal mode needs the file to itself and
/// does not wait on the busy timeout, so a process that meets another one
/// opening the same fresh file tries again for a while.
fn use_wal(db: &Connection) -> Result<(), CacheError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match db.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(err(e)),
        }
    }
}

/// Creates the file readable by its owner alone (it holds a session token),
/// and tightens an older one.
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

/// A cache in one SQLite file.
pub struct SqliteCache {
    db: Connection,
}

fn err(e: impl std::fmt::Display) -> CacheError {
    CacheError(e.to_string())
}

impl SqliteCache {
    /// Opens (or creates) the cache at `path`.
    pub fn open(path: &Path) -> Result<SqliteCache, CacheError> {
        create_private(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let mut db = Connection::open(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        use_wal(&db)?;
        db.execute_batch("PRAGMA synchronous=FULL;").map_err(err)?;
        migrate(&mut db)?;
        Ok(SqliteCache { db })
    }

    /// A cache that lives only in memory (tests).
    pub fn in_memory() -> Result<SqliteCache, CacheError> {
        let mut db = Connection::open_in_memory().map_err(err)?;
        migrate(&mut db)?;
        Ok(SqliteCache { db })
    }
}

impl Cache for SqliteCache {
    fn convs(&self) -> Result<Vec<CachedConv>, CacheError> {
        let mut st = self
            .db
            .prepare_cached(
                "SELECT conv, kind, name, synced, read, unread, mentions, topic, muted FROM convs ORDER BY conv",
            )
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok(CachedConv {
                    conv: r.get::<_, i64>(0)? as ConvId,
                    kind: ConvKind::parse(&r.get::<_, String>(1)?).unwrap_or(ConvKind::Channel),
                    name: r.get(2)?,
                    synced: r.get::<_, i64>(3)? as Seq,
                    read: r.get::<_, i64>(4)? as Seq,
                    unread: r.get(5)?,
                    mentions: r.get(6)?,
                    topic: r.get(7)?,
                    muted: r.get(8)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn put_conv(&mut self, c: &CachedConv) -> Result<(), CacheError> {
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO convs
                    (conv, kind, name, synced, read, unread, mentions, topic, muted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    c.conv as i64,
                    c.kind.as_str(),
                    c.name,
                    c.synced as i64,
                    c.read as i64,
                    c.unread,
                    c.mentions,
                    c.topic,
                    c.muted
                ])
            })
            .map(drop)
            .map_err(err)
    }

    fn remove_conv(&mut self, conv: ConvId) -> Result<(), CacheError> {
        let tx = self.db.transaction().map_err(err)?;
        tx.execute("DELETE FROM messages WHERE conv = ?1", [conv as i64])
            .map_err(err)?;
        tx.execute("DELETE FROM convs WHERE conv = ?1", [conv as i64])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn put_messages(&mut self, messages: &[Message]) -> Result<(), CacheError> {
        let tx = self.db.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO messages (conv, seq, id, sender, text, ts, nonce, kind, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err)?;
            for m in messages {
                st.execute(params![
                    m.conv as i64,
                    m.seq as i64,
                    m.id as i64,
                    m.sender,
                    m.body.as_text().unwrap_or_default(),
                    m.ts,
                    m.nonce,
                    m.body.kind(),
                    m.body.data(),
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn messages(
        &self,
        conv: ConvId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, CacheError> {
        let before = before.map_or(i64::MAX, |b| b as i64);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self
            .db
            .prepare_cached(
                "SELECT id, conv, seq, sender, text, ts, nonce, kind, data FROM messages
                 WHERE conv = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(err)?;
        let mut page: Vec<Message> = st
            .query_map(params![conv as i64, before, limit], |r| {
                Ok(Message {
                    id: r.get::<_, i64>(0)? as u64,
                    conv: r.get::<_, i64>(1)? as ConvId,
                    seq: r.get::<_, i64>(2)? as Seq,
                    sender: r.get(3)?,
                    ts: r.get(5)?,
                    nonce: r.get(6)?,
                    body: Body::from_stored(
                        &r.get::<_, String>(7)?,
                        r.get(4)?,
                        r.get::<_, Option<String>>(8)?.as_deref(),
                    ),
                })
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        page.reverse();
        Ok(page)
    }

    fn oldest(&self, conv: ConvId) -> Result<Option<Seq>, CacheError> {
        self.db
            .query_row(
                "SELECT MIN(seq) FROM messages WHERE conv = ?1",
                [conv as i64],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|s| s.map(|s| s as Seq))
            .map_err(err)
    }

    fn outbox(&self) -> Result<Vec<Pending>, CacheError> {
        let mut st = self
            .db
            .prepare_cached("SELECT nonce, target, text, written, what FROM outbox ORDER BY pos")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (nonce, target, text, written_ms, what) = row.map_err(err)?;
            let target: Target = serde_json::from_str(&target).map_err(err)?;
            let what = match what {
                Some(w) => serde_json::from_str(&w).map_err(err)?,
                None => What::default(),
            };
            out.push(Pending {
                nonce,
                target,
                text,
                written_ms,
                what,
            });
        }
        Ok(out)
    }

    fn push_outbox(&mut self, p: &Pending) -> Result<(), CacheError> {
        let target = serde_json::to_string(&p.target).map_err(err)?;
        let what = match &p.what {
            What::Text { reply_to: None } => None,
            other => Some(serde_json::to_string(other).map_err(err)?),
        };
        self.db
            .execute(
                "INSERT INTO outbox (nonce, target, text, written, what) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.nonce, target, p.text, p.written_ms, what],
            )
            .map(drop)
            .map_err(err)
    }

    fn remove_outbox(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.db
            .execute("DELETE FROM outbox WHERE nonce = ?1", [nonce])
            .map(drop)
            .map_err(err)
    }

    fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)
    }

    fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), CacheError> {
        match value {
            Some(v) => self.db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, v],
            ),
            None => self
                .db
                .execute("DELETE FROM settings WHERE key = ?1", [key]),
        }
        .map(drop)
        .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_cache_conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite3");
        crate::cache::conformance(&mut SqliteCache::open(&path).unwrap());
        let mut c = SqliteCache::open(&path).unwrap();
        c.push_outbox(&Pending {
            nonce: "n1".into(),
            target: Target::User("bob".into()),
            text: "kept".into(),
            written_ms: 1,
            what: What::default(),
        })
        .unwrap();
        drop(c);
        let c = SqliteCache::open(&path).unwrap();
        assert_eq!(
            c.outbox().unwrap().last().unwrap().text,
            "kept",
            "the outbox survives reopening"
        );
    }
}
