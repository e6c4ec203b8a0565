//! What a node keeps on disk (SQLite, in its data dir): its users, their
//! friends and messages, the outbox of requests not yet acknowledged, and
//! the name records it has seen or stores for the DHT.

use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::wire::{ConfInfo, ConfMsg, Envelope};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    display TEXT NOT NULL,
    hash TEXT NOT NULL,
    created INTEGER NOT NULL
);
-- state: 'friends', 'outgoing' (user asked other), 'incoming' (other asked user)
CREATE TABLE IF NOT EXISTS relations (
    user TEXT NOT NULL REFERENCES users(name),
    other TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('friends', 'outgoing', 'incoming')),
    PRIMARY KEY (user, other)
);
-- Direct messages of this node's users, both ways. An incoming one is kept
-- once per (sending peer, id); `seen` once shown to its owner at the
-- console; `mirrored` once copied to the client listener (client.rs).
CREATE TABLE IF NOT EXISTS dms (
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users(name),
    other TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0,
    mirrored INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (peer, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    to_user TEXT NOT NULL,
    envelope TEXT NOT NULL,
    queued INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox (to_user);
-- Every request acted on, once per (sending peer, id): a retried one is
-- answered `Dup`, never acted on twice.
CREATE TABLE IF NOT EXISTS received (
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (peer, id)
);
-- Conferences this node's users are in, or that it hosts; `synced`: the
-- host's order up to which this node has the messages.
CREATE TABLE IF NOT EXISTS confs (
    id TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    synced INTEGER NOT NULL DEFAULT 0
);
-- On the host: from which message each member may read.
CREATE TABLE IF NOT EXISTS conf_joins (
    conf TEXT NOT NULL,
    user TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    PRIMARY KEY (conf, user)
);
CREATE TABLE IF NOT EXISTS conf_msgs (
    conf TEXT NOT NULL,
    id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0,
    mirrored INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conf, author, id)
);
-- How far each user of this node has been shown each conference (at the
-- console): the last conf_msgs rowid. Made at their join, so that a user
-- who joins later is not shown what others of this node read before.
CREATE TABLE IF NOT EXISTS conf_seen (
    conf TEXT NOT NULL,
    user TEXT NOT NULL,
    upto INTEGER NOT NULL,
    PRIMARY KEY (conf, user)
);
-- Where each user of this node joined each conference (the last conf_msgs
-- rowid then): the client listener's group shows nothing from before.
CREATE TABLE IF NOT EXISTS conf_joined (
    conf TEXT NOT NULL,
    user TEXT NOT NULL,
    from_rowid INTEGER NOT NULL,
    PRIMARY KEY (conf, user)
);
-- Each conference's group in the client listener (client.rs).
CREATE TABLE IF NOT EXISTS conf_groups (
    conf TEXT PRIMARY KEY,
    conv INTEGER NOT NULL UNIQUE
);
-- Name records this node stores for the DHT (reloaded at start). Not
-- trusted for anything: anyone can ask a node to store a record.
CREATE TABLE IF NOT EXISTS records (
    name TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL
);
-- Owners of names as this node's own users registered them or its lookups
-- found them (the majority of the DHT): once known, an owner never changes.
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    addrs TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL
);
";

pub struct State {
    db: Connection,
}

#[derive(Debug, Clone)]
pub struct User {
    pub display: String,
    pub hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Friends,
    Outgoing,
    Incoming,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Friends => "friends",
            Relation::Outgoing => "outgoing",
            Relation::Incoming => "incoming",
        }
    }

    fn parse(s: &str) -> Relation {
        match s {
            "friends" => Relation::Friends,
            "outgoing" => Relation::Outgoing,
            _ => Relation::Incoming,
        }
    }
}

/// A direct message as shown to its owner.
#[derive(Debug, Clone)]
pub struct Dm {
    pub other: String,
    pub outgoing: bool,
    pub text: String,
    pub at: i64,
}

/// A stored name record.
#[derive(Debug, Clone)]
pub struct Known {
    pub peer: String,
    pub addrs: Vec<String>,
    pub seq: i64,
    pub record: Vec<u8>,
}

impl State {
    pub fn open(dir: &Path) -> Result<State> {
        let path = dir.join("node.db");
        let db = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        db.execute_batch(SCHEMA)?;
        // Data dirs from before the client listener: their messages are
        // copied to it once.
        for table in ["dms", "conf_msgs"] {
            let has_mirrored: bool = db.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'mirrored')",
                [table],
                |r| r.get(0),
            )?;
            if !has_mirrored {
                db.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN mirrored INTEGER NOT NULL DEFAULT 0"
                ))?;
            }
            // What the mirror looks for on every pass.
            db.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_unmirrored ON {table} (mirrored) WHERE mirrored = 0"
            ))?;
        }
        Ok(State { db })
    }

    pub fn add_user(&self, name: &str, display: &str, hash: &str, now: i64) -> Result<bool> {
        let n = self.db.execute(
            "INSERT OR IGNORE INTO users (name, display, hash, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, display, hash, now],
        )?;
        Ok(n == 1)
    }

    pub fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self
            .db
            .query_row(
                "SELECT display, hash FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(User {
                        display: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn users(&self) -> Result<Vec<String>> {
        let mut q = self.db.prepare("SELECT name FROM users ORDER BY name")?;
        let rows = q.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_hash(&self, name: &str, hash: &str) -> Result<()> {
        self.db.execute(
            "UPDATE users SET hash = ?2 WHERE name = ?1",
            params![name, hash],
        )?;
        Ok(())
    }

    pub fn relation(&self, user: &str, other: &str) -> Result<Option<Relation>> {
        Ok(self
            .db
            .query_row(
                "SELECT state FROM relations WHERE user = ?1 AND other = ?2",
                params![user, other],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|s| Relation::parse(&s)))
    }

    pub fn set_relation(&self, user: &str, other: &str, rel: Option<Relation>) -> Result<()> {
        match rel {
            Some(r) => self.db.execute(
                "INSERT INTO relations (user, other, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user, other) DO UPDATE SET state = excluded.state",
                params![user, other, r.as_str()],
            )?,
            None => self.db.execute(
                "DELETE FROM relations WHERE user = ?1 AND other = ?2",
                params![user, other],
            )?,
        };
        Ok(())
    }

    /// `user`'s relations, by name.
    pub fn relations(&self, user: &str) -> Result<Vec<(String, Relation)>> {
        let mut q = self
            .db
            .prepare("SELECT other, state FROM relations WHERE user = ?1 ORDER BY other")?;
        let rows = q.query_map([user], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Relation::parse(&r.get::<_, String>(1)?),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps a direct message once per (peer, id): false if it was kept
    /// before.
    /// Keeps a message once; `mirrored` if the client listener has it
    /// already (it was sent from there).
    pub fn add_dm(
        &self,
        peer: &str,
        id: &str,
        owner: &str,
        dm: &Dm,
        seen: bool,
        mirrored: bool,
    ) -> Result<bool> {
        let n = self.db.execute(
            "INSERT OR IGNORE INTO dms (peer, id, owner, other, outgoing, text, at, seen, mirrored)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                peer,
                id,
                owner,
                dm.other,
                dm.outgoing,
                dm.text,
                dm.at,
                seen,
                mirrored
            ],
        )?;
        Ok(n == 1)
    }

    /// `owner`'s messages not shown yet, oldest first; they count as shown.
    pub fn take_unseen(&mut self, owner: &str) -> Result<Vec<Dm>> {
        let tx = self.db.transaction()?;
        let dms = {
            let mut q = tx.prepare(
                "SELECT other, outgoing, text, at FROM dms WHERE owner = ?1 AND seen = 0
                 ORDER BY at, rowid",
            )?;
            let rows = q.query_map([owner], |r| {
                Ok(Dm {
                    other: r.get(0)?,
                    outgoing: r.get(1)?,
                    text: r.get(2)?,
                    at: r.get(3)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.execute(
            "UPDATE dms SET seen = 1 WHERE owner = ?1 AND seen = 0",
            [owner],
        )?;
        tx.commit()?;
        Ok(dms)
    }

    pub fn queue(&self, envelope: &Envelope, now: i64) -> Result<()> {
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (id, to_user, envelope, queued) VALUES (?1, ?2, ?3, ?4)",
            params![
                envelope.id,
                envelope.to,
                serde_json::to_string(envelope)?,
                now
            ],
        )?;
        Ok(())
    }

    /// The oldest queued envelope to `to`: envelopes to one user go one at
    /// a time, in the order they were queued.
    pub fn first_for(&self, to: &str) -> Result<Option<Envelope>> {
        Ok(self
            .json_rows(
                "SELECT envelope FROM outbox WHERE to_user = ?1 ORDER BY rowid LIMIT 1",
                [to],
            )?
            .pop())
    }

    /// Users with envelopes waiting for them.
    pub fn recipients(&self) -> Result<Vec<String>> {
        let mut q = self.db.prepare("SELECT DISTINCT to_user FROM outbox")?;
        let rows = q.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn unqueue(&self, id: &str) -> Result<()> {
        self.db.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn known(&self, name: &str) -> Result<Option<Known>> {
        Ok(self
            .db
            .query_row(
                "SELECT peer, addrs, seq, record FROM names WHERE name = ?1",
                [name],
                |r| {
                    Ok(Known {
                        peer: r.get(0)?,
                        addrs: serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or_default(),
                        seq: r.get(2)?,
                        record: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn set_known(&self, name: &str, k: &Known) -> Result<()> {
        self.db.execute(
            "INSERT INTO names (name, peer, addrs, seq, record) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET peer = excluded.peer, addrs = excluded.addrs,
                 seq = excluded.seq, record = excluded.record",
            params![
                name,
                k.peer,
                serde_json::to_string(&k.addrs)?,
                k.seq,
                k.record
            ],
        )?;
        Ok(())
    }

    pub fn conf(&self, id: &str) -> Result<Option<ConfInfo>> {
        Ok(self
            .json_rows("SELECT info FROM confs WHERE id = ?1", [id])?
            .pop())
    }

    /// Conference `conf` is group `conv` in the client listener.
    pub fn map_group(&self, conf: &str, conv: u64) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO conf_groups (conf, conv) VALUES (?1, ?2)",
            params![conf, conv as i64],
        )?;
        Ok(())
    }

    pub fn unmap_group(&self, conf: &str) -> Result<()> {
        self.db
            .execute("DELETE FROM conf_groups WHERE conf = ?1", [conf])?;
        Ok(())
    }

    /// The conference whose group in the client listener is `conv`.
    pub fn group_conf(&self, conv: u64) -> Result<Option<String>> {
        // (SQLite integers are i64; group ids stay far below i64::MAX.)
        Ok(self
            .db
            .query_row(
                "SELECT conf FROM conf_groups WHERE conv = ?1",
                [conv as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn confs(&self) -> Result<Vec<ConfInfo>> {
        self.json_rows("SELECT info FROM confs ORDER BY id", [])
    }

    /// The rows of a query of one JSON column, read back.
    fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        let mut q = self.db.prepare_cached(sql)?;
        let rows = q.query_map(params, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }

    pub fn set_conf(&self, info: &ConfInfo) -> Result<()> {
        self.db.execute(
            "INSERT INTO confs (id, info) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET info = excluded.info",
            params![info.id, serde_json::to_string(info)?],
        )?;
        Ok(())
    }

    pub fn drop_conf(&self, id: &str) -> Result<()> {
        self.db.execute("DELETE FROM confs WHERE id = ?1", [id])?;
        self.db
            .execute("DELETE FROM conf_msgs WHERE conf = ?1", [id])?;
        Ok(())
    }

    pub fn synced(&self, id: &str) -> Result<i64> {
        Ok(self
            .db
            .query_row("SELECT synced FROM confs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    pub fn set_synced(&self, id: &str, seq: i64) -> Result<()> {
        self.db.execute(
            "UPDATE confs SET synced = MAX(synced, ?2) WHERE id = ?1",
            params![id, seq],
        )?;
        Ok(())
    }

    /// Keeps a conference message once per (conference, id); on the host,
    /// `host` gives it the next number. False if it was kept before.
    /// Keeps a conference message once; `mirrored` if the client listener
    /// has it already (it was sent from there).
    pub fn add_conf_msg(
        &self,
        conf: &str,
        m: &ConfMsg,
        host: bool,
        seen: bool,
        mirrored: bool,
    ) -> Result<bool> {
        let seq = if host {
            self.db.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM conf_msgs WHERE conf = ?1",
                [conf],
                |r| r.get(0),
            )?
        } else {
            m.seq
        };
        let n = self.db.execute(
            "INSERT OR IGNORE INTO conf_msgs (conf, id, author, text, at, seq, seen, mirrored)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![conf, m.id, m.author, m.text, m.at, seq, seen, mirrored],
        )?;
        if n == 0 && !host && m.seq > 0 {
            // Had it by gossip: now it has the host's number too.
            self.db.execute(
                "UPDATE conf_msgs SET seq = ?4 WHERE conf = ?1 AND author = ?2 AND id = ?3
                 AND seq = 0",
                params![conf, m.author, m.id, m.seq],
            )?;
        }
        Ok(n == 1)
    }

    /// The host's messages of a conference after `after`, from `from_seq` on.
    pub fn conf_history(&self, conf: &str, after: i64, from_seq: i64) -> Result<Vec<ConfMsg>> {
        let mut q = self.db.prepare(
            "SELECT id, author, text, at, seq FROM conf_msgs
             WHERE conf = ?1 AND seq > ?2 AND seq >= ?3 ORDER BY seq LIMIT 100",
        )?;
        let rows = q.query_map(params![conf, after, from_seq], |r| {
            Ok(ConfMsg {
                id: r.get(0)?,
                author: r.get(1)?,
                text: r.get(2)?,
                at: r.get(3)?,
                seq: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `user` (of this node) joined conference `conf` now.
    pub fn joined_conf(&self, conf: &str, user: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO conf_joined (conf, user, from_rowid)
             SELECT ?1, ?2, COALESCE(MAX(rowid), 0) FROM conf_msgs WHERE conf = ?1
             ON CONFLICT (conf, user) DO UPDATE SET from_rowid = excluded.from_rowid",
            params![conf, user],
        )?;
        Ok(())
    }

    /// `user` has been shown everything of conference `conf` so far.
    pub fn saw_conf(&self, conf: &str, user: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO conf_seen (conf, user, upto)
             SELECT ?1, ?2, COALESCE(MAX(rowid), 0) FROM conf_msgs WHERE conf = ?1
             ON CONFLICT (conf, user) DO UPDATE SET upto = excluded.upto",
            params![conf, user],
        )?;
        Ok(())
    }

    /// Messages of the conferences in `confs` not shown to `user` yet; they
    /// count as shown.
    pub fn take_unseen_conf(
        &mut self,
        user: &str,
        confs: &[String],
    ) -> Result<Vec<(String, ConfMsg)>> {
        let mut out = Vec::new();
        for c in confs {
            let mut q = self.db.prepare_cached(
                "SELECT id, author, text, at, seq FROM conf_msgs
                 WHERE conf = ?1 AND rowid > COALESCE(
                     (SELECT upto FROM conf_seen WHERE conf = ?1 AND user = ?2), 0)
                 ORDER BY at, rowid",
            )?;
            let rows = q.query_map(params![c, user], |r| {
                Ok(ConfMsg {
                    id: r.get(0)?,
                    author: r.get(1)?,
                    text: r.get(2)?,
                    at: r.get(3)?,
                    seq: r.get(4)?,
                })
            })?;
            for m in rows {
                out.push((c.clone(), m?));
            }
            drop(q);
            self.saw_conf(c, user)?;
        }
        Ok(out)
    }

    pub fn set_join(&self, conf: &str, user: &str, from_seq: i64) -> Result<()> {
        self.db.execute(
            "INSERT INTO conf_joins (conf, user, from_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (conf, user) DO UPDATE SET from_seq = excluded.from_seq",
            params![conf, user, from_seq],
        )?;
        Ok(())
    }

    pub fn join_of(&self, conf: &str, user: &str) -> Result<i64> {
        Ok(self
            .db
            .query_row(
                "SELECT from_seq FROM conf_joins WHERE conf = ?1 AND user = ?2",
                params![conf, user],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    pub fn last_seq(&self, conf: &str) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM conf_msgs WHERE conf = ?1",
            [conf],
            |r| r.get(0),
        )?)
    }

    /// A request from `peer` is acted on once: false if it was before.
    pub fn first_time(&self, peer: &str, id: &str) -> Result<bool> {
        let n = self.db.execute(
            "INSERT OR IGNORE INTO received (peer, id) VALUES (?1, ?2)",
            params![peer, id],
        )?;
        Ok(n == 1)
    }

    /// A record stored for the DHT, if any.
    pub fn record(&self, name: &str) -> Result<Option<(String, i64)>> {
        Ok(self
            .db
            .query_row(
                "SELECT peer, seq FROM records WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_record(&self, name: &str, peer: &str, seq: i64, record: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT INTO records (name, peer, seq, record) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET peer = excluded.peer, seq = excluded.seq,
                 record = excluded.record",
            params![name, peer, seq, record],
        )?;
        Ok(())
    }

    pub fn all_records(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut q = self.db.prepare("SELECT name, record FROM records")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::State;
    use crate::wire::ConfMsg;

    fn msg(id: &str, text: &str) -> ConfMsg {
        ConfMsg {
            id: id.into(),
            author: "carol".into(),
            text: text.into(),
            at: 1,
            seq: 0,
        }
    }

    fn texts(v: Vec<(String, ConfMsg)>) -> Vec<String> {
        v.into_iter().map(|(_, m)| m.text).collect()
    }

    #[test]
    fn each_user_of_a_node_is_shown_a_conference_from_their_own_point() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path()).unwrap();
        let confs = ["c1".to_string()];
        state
            .add_conf_msg("c1", &msg("1", "one"), false, false, false)
            .unwrap();
        // Alice reads; bob, in it from the start too, still has it waiting.
        assert_eq!(
            texts(state.take_unseen_conf("alice", &confs).unwrap()),
            ["one"]
        );
        assert!(state.take_unseen_conf("alice", &confs).unwrap().is_empty());
        state
            .add_conf_msg("c1", &msg("2", "two"), false, false, false)
            .unwrap();
        // Dave joins now: what came before is not his.
        state.saw_conf("c1", "dave").unwrap();
        state
            .add_conf_msg("c1", &msg("3", "three"), false, false, false)
            .unwrap();
        assert_eq!(
            texts(state.take_unseen_conf("bob", &confs).unwrap()),
            ["one", "two", "three"]
        );
        assert_eq!(
            texts(state.take_unseen_conf("alice", &confs).unwrap()),
            ["two", "three"]
        );
        assert_eq!(
            texts(state.take_unseen_conf("dave", &confs).unwrap()),
            ["three"]
        );
    }
}
