//! The Confab client protocol for a node's users: `confab chat`, the
//! scripting commands and the browser client work against a node as
//! against a server.
//!
//! The node runs an embedded Confab server on localhost, with its own
//! database under the node's data dir. The node's state (`node.db`) stays
//! the truth; the server mirrors it:
//!
//! - the node's users are the server's accounts, with the same password
//!   hashes, and everyone else they know is a *remote* account
//!   (`confab_server::bridge`);
//! - the mirror task copies friendships, direct messages, conferences (as
//!   groups, table `conf_groups`) and their messages from `node.db` into
//!   the server (each message once: a `mirrored` flag, and the message id
//!   as the server's nonce), and remote friends' presence;
//! - what the server's users do toward remote users comes back as
//!   [`Outgoing`], which the node's event loop carries out as that user
//!   (see `Node::client_did`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use confab_proto::FriendState;
use confab_server::bridge::{Bridge, Outgoing};
use rusqlite::Connection;
use tokio::sync::{Notify, mpsc};

use crate::wire::ConfInfo;

/// How many client actions may wait for the node's event loop.
const QUEUE: usize = 1024;
/// Messages copied per database read.
const BATCH: i64 = 200;
/// The mirror looks again this often even when nobody woke it.
const EVERY: Duration = Duration::from_secs(2);

/// The embedded server, running.
pub(crate) struct Served {
    /// Where `confab chat` connects (TLS).
    pub addr: SocketAddr,
    /// The browser client (plain HTTP on loopback).
    pub web: SocketAddr,
    /// The certificate's SHA-256 fingerprint, for `--trust`.
    pub fingerprint: String,
    running: confab_server::Running,
    mirror: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stops the mirror (what it had not copied is copied next time), then
    /// the server, and waits until what the server acknowledged is on disk.
    pub(crate) async fn stop(self) {
        self.mirror.abort();
        let _ = self.mirror.await;
        self.running.handle().shutdown("the node is stopping");
        self.running.wait().await;
    }
}

/// What the node's event loop holds of the mirror.
pub(crate) struct Link {
    /// What the server's users did toward others.
    pub outgoing: mpsc::Receiver<Outgoing>,
    /// Wakes the mirror: `node.db` changed.
    pub poke: Arc<Notify>,
    /// Remote users' presence as the node knows it.
    pub online: Arc<Mutex<HashMap<String, bool>>>,
    /// Pairs (user, other) whose friendship the mirror must copy again,
    /// even if the node has nothing between them (a client's move the node
    /// refused).
    pub recheck: Arc<Mutex<HashSet<(String, String)>>>,
    /// Notices for a user's clients (bounded; a notice that does not fit is
    /// only printed at the console).
    notices: mpsc::Sender<(String, String)>,
    /// Users whose account the client listener has now (new ones).
    pub accounts: mpsc::Receiver<String>,
}

impl Link {
    pub(crate) fn changed(&self) {
        self.poke.notify_one();
    }

    pub(crate) fn set_online(&self, name: &str, online: bool) {
        self.online
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), online);
        self.changed();
    }

    pub(crate) fn tell(&self, user: &str, text: &str) {
        let _ = self.notices.try_send((user.to_owned(), text.to_owned()));
    }

    pub(crate) fn recheck(&self, user: &str, other: &str) {
        self.recheck
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((user.to_owned(), other.to_owned()));
        self.changed();
    }
}

/// Starts the embedded server on `addr` (its web client on the same IP,
/// any port), and the mirror.
pub(crate) async fn start(data_dir: &Path, addr: SocketAddr) -> Result<(Served, Link)> {
    let mut config = confab_server::Config::new(data_dir.join("client"));
    config.tcp = addr;
    config.http = SocketAddr::new(addr.ip(), 0);
    config.udp = confab_server::Udp::Off;
    // Accounts are the node's: `register` at its console.
    config.registration = confab_server::Registration::Closed;
    config.first_channel = None;
    config.visitors = false;
    let running = confab_server::start(config)
        .await
        .map_err(|e| anyhow::anyhow!("starting the client listener on {addr}: {e}"))?;
    let (bridge, outgoing) = running
        .handle()
        .bridge(QUEUE)
        .await
        .map_err(|e| anyhow::anyhow!("starting the bridge: {}", e.message))?
        .context("the server's bridge was taken")?;
    let (notices, notices_rx) = mpsc::channel(64);
    let (accounts_tx, accounts) = mpsc::channel(64);
    let link = Link {
        outgoing,
        poke: Arc::new(Notify::new()),
        online: Arc::default(),
        recheck: Arc::default(),
        notices,
        accounts,
    };
    let mirror = Mirror {
        db: {
            let db = Connection::open(data_dir.join("node.db")).context("opening node.db")?;
            db.busy_timeout(Duration::from_secs(5))?;
            db
        },
        bridge,
        poke: link.poke.clone(),
        online: link.online.clone(),
        recheck: link.recheck.clone(),
        notices: notices_rx,
        accounts: accounts_tx,
        hashes: HashMap::new(),
        relations: HashMap::new(),
        confs: HashMap::new(),
    };
    let mirror = tokio::spawn(mirror.run());
    let served = Served {
        addr: running.tcp_addr,
        web: running.http_addr,
        fingerprint: running.cert_fingerprint.clone(),
        running,
        mirror,
    };
    Ok((served, link))
}

/// Copies `node.db` into the embedded server.
struct Mirror {
    db: Connection,
    bridge: Bridge,
    poke: Arc<Notify>,
    online: Arc<Mutex<HashMap<String, bool>>>,
    recheck: Arc<Mutex<HashSet<(String, String)>>>,
    notices: mpsc::Receiver<(String, String)>,
    accounts: mpsc::Sender<String>,
    /// Password hashes copied, by user.
    hashes: HashMap<String, String>,
    /// Friendships copied: (user, other) → state.
    relations: HashMap<(String, String), FriendState>,
    /// Conferences copied: id → (host, members).
    confs: HashMap<String, (String, Vec<String>)>,
}

impl Mirror {
    async fn run(mut self) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %format!("{e:#}"), "mirroring the node into its client listener");
            }
            tokio::select! {
                _ = self.poke.notified() => {}
                Some((user, text)) = self.notices.recv() => self.bridge.notice(&user, &text).await,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    }

    async fn pass(&mut self) -> Result<()> {
        self.users().await?;
        self.friendships().await?;
        self.messages().await?;
        self.conferences().await?;
        self.conference_messages().await?;
        let online: Vec<(String, bool)> = self
            .online
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, o)| (n.clone(), *o))
            .collect();
        for (name, online) in online {
            if self.bridge.remote_user(&name).await.is_ok() {
                self.bridge.presence(&name, online);
            }
        }
        Ok(())
    }

    async fn users(&mut self) -> Result<()> {
        let users: Vec<(String, String)> = {
            let mut q = self.db.prepare_cached("SELECT name, hash FROM users")?;
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (name, hash) in users {
            if self.hashes.get(&name) != Some(&hash) {
                // (One account refused does not hold up the others'.)
                match self.bridge.local_user(&name, &hash).await {
                    Ok(new) => {
                        if new {
                            let _ = self.accounts.try_send(name.clone());
                        }
                        self.hashes.insert(name, hash);
                    }
                    Err(e) => tracing::warn!(%name, error = %e.message, "making a client account"),
                }
            }
        }
        Ok(())
    }

    async fn friendships(&mut self) -> Result<()> {
        let rows: Vec<(String, String, String)> = {
            let mut q = self
                .db
                .prepare_cached("SELECT user, other, state FROM relations")?;
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut now: HashMap<(String, String), FriendState> = rows
            .into_iter()
            .map(|(u, o, s)| {
                let state = match s.as_str() {
                    "friends" => FriendState::Friends,
                    "outgoing" => FriendState::Outgoing,
                    _ => FriendState::Incoming,
                };
                ((u, o), state)
            })
            .collect();
        // Gone from the node (declined, withdrawn): nothing between them.
        let mut pairs: HashSet<(String, String)> = self.relations.keys().cloned().collect();
        pairs.extend(now.keys().cloned());
        pairs.extend(
            std::mem::take(&mut *self.recheck.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .inspect(|p| {
                    self.relations.remove(p);
                }),
        );
        for pair in pairs {
            let state = now.remove(&pair).unwrap_or(FriendState::None);
            if self.relations.get(&pair) == Some(&state) {
                continue;
            }
            let (user, other) = &pair;
            match self.bridge.relation(user, other, state).await {
                Ok(()) => {
                    self.relations.insert(pair, state);
                }
                Err(e) => tracing::warn!(%user, %other, error = %e.message, "copying a friendship"),
            }
        }
        Ok(())
    }

    async fn messages(&mut self) -> Result<()> {
        loop {
            let rows: Vec<(i64, String, String, String, bool, String)> = {
                let mut q = self.db.prepare_cached(
                    "SELECT rowid, id, owner, other, outgoing, text FROM dms
                     WHERE mirrored = 0 ORDER BY rowid LIMIT ?1",
                )?;
                q.query_map([BATCH], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<Result<_, _>>()?
            };
            if rows.is_empty() {
                return Ok(());
            }
            for (rowid, id, owner, other, outgoing, text) in rows {
                let (from, to) = if outgoing {
                    (&owner, &other)
                } else {
                    (&other, &owner)
                };
                // Both copies of a message between two users of this node
                // carry the same id, so the server keeps it once.
                let id = nonce_id(id.strip_prefix("out-").unwrap_or(&id));
                let copied = self.bridge.dm(from, to, text, &id).await;
                if !done(copied, "a direct message") {
                    return Ok(()); // tried again on the next pass
                }
                self.db
                    .execute("UPDATE dms SET mirrored = 1 WHERE rowid = ?1", [rowid])?;
            }
        }
    }

    async fn conferences(&mut self) -> Result<()> {
        let rows: Vec<(String, String, Option<i64>)> = {
            let mut q = self.db.prepare_cached(
                "SELECT c.id, c.info, g.conv FROM confs c
                 LEFT JOIN conf_groups g ON g.conf = c.id ORDER BY c.rowid",
            )?;
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut present = HashSet::new();
        for (id, info, conv) in rows {
            let info: ConfInfo = serde_json::from_str(&info).context("a conference in node.db")?;
            // Hosted here for users of other nodes only: nobody here reads it.
            if !info.members.iter().any(|m| self.hashes.contains_key(m)) {
                continue;
            }
            present.insert(id.clone());
            let known = (info.host.clone(), info.members.clone());
            if self.confs.get(&id) == Some(&known) {
                continue;
            }
            let copied = match conv {
                Some(conv) => {
                    let conv = conv as u64;
                    self.bridge
                        .group_members(conv, &info.host, &info.members)
                        .await
                }
                None => match self
                    .bridge
                    .group_create(&info.host, &info.name, &info.members)
                    .await
                {
                    Ok(conv) => {
                        self.db.execute(
                            "INSERT OR IGNORE INTO conf_groups (conf, conv) VALUES (?1, ?2)",
                            rusqlite::params![id, conv as i64],
                        )?;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            match copied {
                Ok(()) => {
                    self.confs.insert(id, known);
                }
                Err(e) => {
                    tracing::warn!(conf = %info.name, error = %e.message, "copying a conference")
                }
            }
        }
        // Gone from the node (this node's users left it): they leave its
        // group too.
        let gone: Vec<String> = self
            .confs
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            let Some((host, members)) = self.confs.remove(&id) else {
                continue;
            };
            let conv: Option<i64> = {
                let mut q = self
                    .db
                    .prepare_cached("SELECT conv FROM conf_groups WHERE conf = ?1")?;
                q.query_row([&id], |r| r.get(0)).ok()
            };
            let Some(conv) = conv else { continue };
            let conv = conv as u64;
            let others: Vec<String> = members
                .into_iter()
                .filter(|m| !self.hashes.contains_key(m))
                .collect();
            if let Err(e) = self.bridge.group_members(conv, &host, &others).await {
                tracing::warn!(error = %e.message, "leaving a conference's group");
            }
        }
        Ok(())
    }

    async fn conference_messages(&mut self) -> Result<()> {
        loop {
            let rows: Vec<(i64, String, String, String, i64)> = {
                let mut q = self.db.prepare_cached(
                    "SELECT m.rowid, m.id, m.author, m.text, g.conv FROM conf_msgs m
                     JOIN conf_groups g ON g.conf = m.conf
                     WHERE m.mirrored = 0 ORDER BY m.rowid LIMIT ?1",
                )?;
                q.query_map([BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?
            };
            if rows.is_empty() {
                return Ok(());
            }
            for (rowid, id, author, text, conv) in rows {
                let copied = self
                    .bridge
                    .group_post(conv as u64, &author, text, &nonce_id(&id))
                    .await;
                if !done(copied, "a conference message") {
                    return Ok(()); // tried again on the next pass
                }
                self.db.execute(
                    "UPDATE conf_msgs SET mirrored = 1 WHERE rowid = ?1",
                    [rowid],
                )?;
            }
        }
    }
}

/// The server's nonce for a message id from the network: fixed length
/// whatever another node chose (a nonce has at most 64 bytes).
fn nonce_id(id: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(id.as_bytes())[..16])
}

/// Whether a message's copy is settled: copied, or refused for good (which
/// is logged). A failure that may pass (the store busy, the server
/// stopping) is not settled.
fn done(copied: Result<(), confab_server::ApiError>, what: &str) -> bool {
    use confab_proto::ErrorCode;
    match copied {
        Ok(()) => true,
        Err(e) if matches!(e.code, ErrorCode::Internal | ErrorCode::ShuttingDown) => {
            tracing::warn!(error = %e.message, "copying {what}; trying again later");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "{what} could not be copied to the client listener");
            true
        }
    }
}
