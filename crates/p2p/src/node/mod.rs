//! The node: one libp2p swarm, the node's state, and the users whose home
//! it is. Everything runs in one task: swarm events, console commands,
//! what clients of the client listener did, and a one-second tick (outbox
//! retries, publishing names).
//!
//! Here: the `Node`, its start and event loop, the console's commands and
//! the swarm's events. Beside it, each a part of `impl Node`: `names`
//! (the DHT), `delivery` (the outbox), `incoming` (requests from other
//! nodes), `conf` (conferences), `client` (the client listener's users).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetRecordOk, QueryId, QueryResult, Quorum, Record, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, gossipsub, identify, mdns, noise, ping, tcp, yamux,
};
use tokio::sync::mpsc;

use confab_proto::FriendState;
use confab_server::bridge::Outgoing;

use crate::client::Link;
use crate::console::{self, Command, say};
use crate::state::{Dm, Known, Relation, State};
use crate::wire::{
    Body, ConfInfo, ConfMsg, Envelope, NameClaim, PROTOCOL, Reply, Sealed, conf_topic, name_key,
};
use crate::{Options, password};

mod client;
mod conf;
mod delivery;
mod incoming;
mod names;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    rr: request_response::cbor::Behaviour<Envelope, Reply>,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// What to do once a name is looked up.
enum After {
    Register {
        name: String,
        display: String,
        password: String,
    },
    FriendAdd {
        user: String,
        name: String,
    },
    /// Deliver the outbox's envelopes to this name.
    Deliver,
    /// Connect to this name's node (a fellow member of a conference).
    Dial,
    /// Say where this name's home is.
    Show,
    /// The client listener asks whether this name is a user somewhere.
    Resolve(tokio::sync::oneshot::Sender<bool>),
    /// An envelope came from `peer`: answer once its sender's home is known.
    Verify {
        peer: PeerId,
        envelope: Box<Envelope>,
        channel: ResponseChannel<Reply>,
    },
}

/// A running name lookup: the valid records found so far.
struct Lookup {
    name: String,
    found: Vec<(NameClaim, PeerId, Vec<u8>)>,
}

/// Lookups of unknown senders one peer may have running at once.
const MAX_VERIFYING: usize = 8;

/// How long to wait before trying an envelope again after each failure.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(failures.min(6)))
}

pub(crate) struct Node {
    swarm: Swarm<Behaviour>,
    state: State,
    key: Keypair,
    me: PeerId,
    listening: Vec<Multiaddr>,
    /// The user logged in at the console.
    user: Option<String>,
    /// Remote friends' presence, by name.
    online: HashMap<String, bool>,
    lookups: HashMap<QueryId, Lookup>,
    waiting: HashMap<String, Vec<After>>,
    /// Envelopes sent and not answered, by request.
    inflight: HashMap<OutboundRequestId, Envelope>,
    sending: HashSet<String>,
    /// Failed envelopes: how often, and not before when.
    failed: HashMap<String, (u32, Instant)>,
    /// Envelopes whose "offline" notice was given.
    told_offline: HashSet<String>,
    /// Names whose cached address failed: looked up again before the next try.
    stale: HashSet<String>,
    publish_due: Option<Instant>,
    /// When conferences hosted elsewhere were last synced on the tick.
    synced_at: Instant,
    /// Notices that came before the listening line, which must be first.
    early: Option<Vec<String>>,
    /// Lookups a console command waits for.
    asking: usize,
    /// Conferences to sync again soon (a message came sealed with a key
    /// this node did not have yet).
    resync: HashMap<String, Instant>,
    /// The client listener's mirror (see `client`).
    link: Link,
    /// Users logged in through the client listener.
    clients: HashSet<String>,
    /// Set while a command from the client listener runs: what it stores
    /// is there already.
    bridged: bool,
    /// The id the next conference made takes (one made from a client's
    /// group, mapped to it before it exists).
    conf_id: Option<String>,
    /// Lookups of unknown senders running, by the peer that named them.
    verifying: HashMap<PeerId, usize>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn clock(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Node {
    pub(crate) fn start(options: &Options, key: Keypair, state: State, link: Link) -> Result<Node> {
        let me = key.public().to_peer_id();
        let mdns_on = options.mdns;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|key| {
                let me = key.public().to_peer_id();
                let mut kad_config = kad::Config::new(StreamProtocol::new("/confab/kad/1"));
                // Storers check each name record themselves (first owner
                // keeps a name); provider records are not used.
                kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
                kad_config.set_query_timeout(Duration::from_secs(5));
                let mut kad =
                    kad::Behaviour::with_config(me, kad::store::MemoryStore::new(me), kad_config);
                kad.set_mode(Some(kad::Mode::Server));
                let mdns = if mdns_on {
                    Some(mdns::tokio::Behaviour::new(
                        mdns::Config {
                            // Nodes that start later are found at once (they
                            // ask); this is how soon the others ask again.
                            query_interval: Duration::from_secs(60),
                            ..Default::default()
                        },
                        me,
                    )?)
                } else {
                    None
                };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Behaviour {
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/confab/node/1".into(),
                        key.public(),
                    )),
                    kad,
                    rr: request_response::cbor::Behaviour::new(
                        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                        request_response::Config::default()
                            .with_request_timeout(Duration::from_secs(20)),
                    ),
                    ping: ping::Behaviour::new(ping::Config::new()),
                    gossipsub: gossipsub::Behaviour::new(
                        gossipsub::MessageAuthenticity::Signed(key.clone()),
                        gossipsub::ConfigBuilder::default()
                            .validation_mode(gossipsub::ValidationMode::Strict)
                            .heartbeat_interval(Duration::from_millis(500))
                            .build()?,
                    )?,
                    mdns: mdns.into(),
                })
            })
            .map_err(|e| anyhow::anyhow!("setting up the node: {e}"))?
            // Connections to friends' nodes stay open: presence follows them.
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();
        for addr in &options.listen {
            swarm
                .listen_on(addr.clone())
                .with_context(|| format!("listening on {addr}"))?;
        }
        // Records this node stored for the DHT before it stopped.
        for (name, record) in state.all_records()? {
            if NameClaim::open(&name_key(&name), &record).is_ok() {
                let _ = swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .put(Record::new(name_key(&name), record));
            }
        }
        for conf in state.confs()? {
            let _ = swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&gossipsub::IdentTopic::new(conf_topic(&conf.id)));
        }
        for addr in &options.bootstrap {
            if let Some(peer) = peer_of(addr) {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                say(&format!("error: cannot dial {addr}: {e}"));
            }
        }
        Ok(Node {
            swarm,
            state,
            key,
            me,
            listening: Vec::new(),
            user: None,
            online: HashMap::new(),
            lookups: HashMap::new(),
            waiting: HashMap::new(),
            inflight: HashMap::new(),
            sending: HashSet::new(),
            failed: HashMap::new(),
            told_offline: HashSet::new(),
            stale: HashSet::new(),
            publish_due: None,
            synced_at: Instant::now(),
            early: Some(Vec::new()),
            asking: 0,
            resync: HashMap::new(),
            link,
            clients: HashSet::new(),
            bridged: false,
            conf_id: None,
            verifying: HashMap::new(),
        })
    }

    /// Waits until the listeners are bound (all of them, for an address
    /// that stands for every interface), then prints the one line other
    /// nodes and tests read.
    pub(crate) async fn announce_listening(&mut self, client: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.listening.is_empty() {
            let ev = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .context("no listener was bound within 10 s")?;
            self.on_swarm(ev);
        }
        // Addresses of other interfaces arrive together with the first.
        let settle = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(ev) = tokio::time::timeout_at(settle, self.swarm.select_next_some()).await {
            self.on_swarm(ev);
        }
        let addrs: Vec<String> = self.listening.iter().map(|a| a.to_string()).collect();
        say(&format!(
            "confab node listening {} peer={} {client}",
            addrs.join(" "),
            self.me
        ));
        for line in self.early.take().unwrap_or_default() {
            say(&line);
        }
        Ok(())
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Result<()> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut console_open = true;
        self.publish_due = Some(Instant::now());
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                // One command at a time: the next waits for what this one
                // asked the network (a script's `login` after `register`).
                cmd = commands.recv(), if console_open && self.asking == 0 => match cmd {
                    Some(Command::Quit) => break,
                    Some(cmd) => self.on_command(cmd),
                    // The end of input: the node goes on serving its users.
                    None => console_open = false,
                },
                Some(name) = self.link.accounts.recv() => {
                    self.notice(format!("{name} can log in at the client listener"));
                }
                Some(out) = self.link.outgoing.recv() => {
                    self.client_did(out);
                    self.link.changed();
                }
                _ = tick.tick() => self.on_tick(),
                _ = &mut shutdown => break,
            }
        }
        if let Some(user) = self.user.take() {
            self.announce(&user, false);
            // Give the notices a moment to leave.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            while !self.inflight.is_empty() {
                match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                    Ok(ev) => self.on_swarm(ev),
                    Err(_) => break,
                }
            }
        }
        say("bye");
        Ok(())
    }

    // ---- commands -------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        if let Err(e) = self.command(cmd) {
            say(&format!("error: {e:#}"));
        }
        self.link.changed();
    }

    fn logged_in(&self) -> Result<String> {
        self.user
            .clone()
            .ok_or_else(|| anyhow::anyhow!("log in first (login USER)"))
    }

    fn command(&mut self, cmd: Command) -> Result<()> {
        match cmd {
            Command::Help => say(console::HELP),
            Command::Quit => {}
            Command::Register {
                name,
                display,
                password,
            } => {
                check_name(&name)?;
                if password.is_empty() {
                    anyhow::bail!("the password may not be empty");
                }
                if self.state.user(&name)?.is_some() {
                    anyhow::bail!("{name} is already registered on this node");
                }
                // The DHT says whether the name is someone else's.
                self.lookup(
                    &name.clone(),
                    After::Register {
                        name,
                        display,
                        password,
                    },
                );
            }
            Command::Login { name, password } => {
                let user = self.state.user(&name)?;
                match user {
                    Some(u) if password::verify(&password, &u.hash) => {
                        if let Some(old) = self.user.take() {
                            self.announce(&old, false);
                        }
                        self.user = Some(name.clone());
                        say(&format!("logged in as {name}"));
                        let waiting = self.state.take_unseen(&name)?;
                        let confs = self.my_confs(&name)?;
                        let ids: Vec<String> = confs.iter().map(|c| c.id.clone()).collect();
                        let conf_waiting = self.state.take_unseen_conf(&name, &ids)?;
                        if !waiting.is_empty() || !conf_waiting.is_empty() {
                            say(&format!(
                                "while you were away ({}):",
                                waiting.len() + conf_waiting.len()
                            ));
                            for dm in waiting {
                                show_dm(&dm);
                            }
                            for (conf, m) in conf_waiting {
                                if let Some(c) = confs.iter().find(|c| c.id == conf) {
                                    show_conf(&c.name, &m);
                                }
                            }
                        }
                        for c in confs {
                            self.sync(&c);
                        }
                        let asking: Vec<String> = self
                            .state
                            .relations(&name)?
                            .into_iter()
                            .filter(|(_, r)| *r == Relation::Incoming)
                            .map(|(n, _)| n)
                            .collect();
                        if !asking.is_empty() {
                            say(&format!("friend requests from: {}", asking.join(", ")));
                        }
                        self.announce(&name, true);
                    }
                    _ => anyhow::bail!("unknown user or wrong password"),
                }
            }
            Command::Logout => {
                let user = self.logged_in()?;
                self.user = None;
                if !self.is_here(&user) {
                    self.announce(&user, false);
                }
                say(&format!("logged out {user}"));
            }
            Command::Passwd { old, new, again } => {
                let user = self.logged_in()?;
                let u = self.state.user(&user)?.context("the user is gone")?;
                if !password::verify(&old, &u.hash) {
                    anyhow::bail!("the old password is wrong");
                }
                if new != again {
                    anyhow::bail!("the new passwords differ");
                }
                if new.is_empty() {
                    anyhow::bail!("the password may not be empty");
                }
                self.state.set_hash(&user, &password::hash(&new)?)?;
                say("password changed");
            }
            Command::Whoami => {
                let addrs: Vec<String> = self.listening.iter().map(|a| a.to_string()).collect();
                match &self.user {
                    Some(u) => {
                        let display = self.state.user(u)?.map(|u| u.display).unwrap_or_default();
                        let display = if display.is_empty() {
                            String::new()
                        } else {
                            format!(" ({display})")
                        };
                        say(&format!(
                            "{u}{display} peer={} addrs={}",
                            self.me,
                            addrs.join(",")
                        ));
                    }
                    None => say(&format!(
                        "not logged in; peer={} addrs={}",
                        self.me,
                        addrs.join(",")
                    )),
                }
            }
            Command::Lookup(name) => {
                check_name(&name)?;
                self.lookup(&name.clone(), After::Show);
            }
            Command::Friends => {
                let user = self.logged_in()?;
                let friends: Vec<String> = self
                    .state
                    .relations(&user)?
                    .into_iter()
                    .filter(|(_, r)| *r == Relation::Friends)
                    .map(|(n, _)| {
                        let state = if self.is_online(&n) {
                            "online"
                        } else {
                            "offline"
                        };
                        format!("{n} ({state})")
                    })
                    .collect();
                if friends.is_empty() {
                    say("no friends yet (friend-add USER)");
                } else {
                    say(&format!("friends: {}", friends.join(", ")));
                }
            }
            Command::OnlineFriends => {
                let user = self.logged_in()?;
                let online: Vec<String> = self
                    .state
                    .relations(&user)?
                    .into_iter()
                    .filter(|(n, r)| *r == Relation::Friends && self.is_online(n))
                    .map(|(n, _)| n)
                    .collect();
                if online.is_empty() {
                    say("no friends online");
                } else {
                    say(&format!("online: {}", online.join(", ")));
                }
            }
            Command::FriendRequests => {
                let user = self.logged_in()?;
                let rels = self.state.relations(&user)?;
                let of = |want: Relation| -> Vec<String> {
                    rels.iter()
                        .filter(|(_, r)| *r == want)
                        .map(|(n, _)| n.clone())
                        .collect()
                };
                let (incoming, outgoing) = (of(Relation::Incoming), of(Relation::Outgoing));
                if incoming.is_empty() && outgoing.is_empty() {
                    say("no friend requests");
                } else {
                    say(&format!(
                        "incoming: {}; outgoing: {}",
                        list_or_none(&incoming),
                        list_or_none(&outgoing)
                    ));
                }
            }
            Command::FriendAdd(name) => {
                let user = self.logged_in()?;
                check_name(&name)?;
                if name == user {
                    anyhow::bail!("you cannot befriend yourself");
                }
                match self.state.relation(&user, &name)? {
                    Some(Relation::Friends) => anyhow::bail!("{name} is already your friend"),
                    Some(Relation::Outgoing) => {
                        anyhow::bail!("you asked {name} already; waiting for an answer")
                    }
                    Some(Relation::Incoming) => {
                        return self.command(Command::FriendAccept(name));
                    }
                    None => {}
                }
                if self.state.user(&name)?.is_some() {
                    self.befriend(user, name);
                } else {
                    // Found by name alone: the DHT knows its home.
                    self.lookup(&name.clone(), After::FriendAdd { user, name });
                }
            }
            Command::FriendAccept(name) => {
                let user = self.logged_in()?;
                if self.state.relation(&user, &name)? != Some(Relation::Incoming) {
                    anyhow::bail!("{name} has not asked to be your friend");
                }
                self.state
                    .set_relation(&user, &name, Some(Relation::Friends))?;
                self.send(&user, &name, Body::FriendAnswer { accept: true })?;
                say(&format!("you and {name} are friends"));
                self.announce_to(&user, &name, true);
            }
            Command::FriendDecline(name) => {
                let user = self.logged_in()?;
                if self.state.relation(&user, &name)? != Some(Relation::Incoming) {
                    anyhow::bail!("{name} has not asked to be your friend");
                }
                self.state.set_relation(&user, &name, None)?;
                self.send(&user, &name, Body::FriendAnswer { accept: false })?;
                say(&format!("declined {name}'s friend request"));
            }
            Command::ConfCreate { name, members } => {
                let user = self.logged_in()?;
                if members.len() + 1 > MAX_MEMBERS {
                    anyhow::bail!("a conference has at most {MAX_MEMBERS} members");
                }
                if self.my_confs(&user)?.iter().any(|c| c.name == name) {
                    anyhow::bail!("you are in a conference called {name} already");
                }
                let mut all = vec![user.clone()];
                for m in members {
                    if self.state.relation(&user, &m)? != Some(Relation::Friends) {
                        anyhow::bail!("{m} is not your friend (friend-add {m})");
                    }
                    if !all.contains(&m) {
                        all.push(m);
                    }
                }
                let info = ConfInfo {
                    id: self.conf_id.take().unwrap_or_else(new_id),
                    name: name.clone(),
                    host: user.clone(),
                    members: all.clone(),
                    key: rand::random::<[u8; 32]>().to_vec(),
                    epoch: 1,
                };
                check_conf(&info, true).map_err(|e| anyhow::anyhow!(e))?;
                self.state.set_conf(&info)?;
                for m in &all {
                    self.state.set_join(&info.id, m, 1)?;
                }
                self.subscribe(&info);
                say(&format!("created conference {name}: {}", all.join(", ")));
                self.share(&info)?;
            }
            Command::ConfInvite { conf, user: who } => {
                let user = self.logged_in()?;
                let info = self.find_conf(&user, &conf)?;
                if info.members.contains(&who) {
                    anyhow::bail!("{who} is in {} already", info.name);
                }
                if self.state.relation(&user, &who)? != Some(Relation::Friends) {
                    anyhow::bail!("{who} is not your friend (friend-add {who})");
                }
                let host = info.host.clone();
                self.send(
                    &user,
                    &host,
                    Body::ConfInvite {
                        conf: info.id,
                        user: who.clone(),
                    },
                )?;
                say(&format!(
                    "asked {host}'s node to add {who} to {}",
                    info.name
                ));
            }
            Command::ConfList => {
                let user = self.logged_in()?;
                let confs = self.my_confs(&user)?;
                if confs.is_empty() {
                    say("no conferences (conf-create NAME FRIEND...)");
                }
                for c in confs {
                    say(&format!(
                        "{} (id {}, host {}): {}",
                        c.name,
                        c.id.get(..8).unwrap_or(&c.id),
                        c.host,
                        c.members.join(", ")
                    ));
                }
            }
            Command::ConfSend { conf, text } => {
                let user = self.logged_in()?;
                too_long(&text)?;
                let info = self.find_conf(&user, &conf)?;
                let msg = ConfMsg {
                    id: new_id(),
                    author: user.clone(),
                    text: text.clone(),
                    at: now_ms(),
                    seq: 0,
                };
                // Kept here, by gossip to the members now, and by the host
                // for those who are away (the outbox retries it).
                let hosted_here = self.state.user(&info.host)?.is_some();
                self.state
                    .add_conf_msg(&info.id, &msg, hosted_here, true, self.bridged)?;
                let sealed = Sealed::seal(&info, &msg);
                let _ = self.swarm.behaviour_mut().gossipsub.publish(
                    gossipsub::IdentTopic::new(conf_topic(&info.id)),
                    serde_json::to_vec(&sealed)?,
                );
                let envelope = Envelope {
                    id: msg.id.clone(),
                    from: user,
                    to: info.host.clone(),
                    at: msg.at,
                    body: Body::ConfPost {
                        conf: info.id,
                        text,
                    },
                };
                self.state.queue(&envelope, envelope.at)?;
                self.deliver(envelope);
            }
            Command::ConfLeave(conf) => {
                let user = self.logged_in()?;
                let info = self.find_conf(&user, &conf)?;
                let host = info.host.clone();
                self.send(
                    &user,
                    &host,
                    Body::ConfRemove {
                        conf: info.id,
                        user: user.clone(),
                    },
                )?;
                say(&format!("leaving {}", info.name));
            }
            Command::ConfRemove { conf, user: who } => {
                let user = self.logged_in()?;
                let info = self.find_conf(&user, &conf)?;
                if info.host != user {
                    anyhow::bail!(
                        "only {} (the host) removes members of {}",
                        info.host,
                        info.name
                    );
                }
                if !info.members.contains(&who) {
                    anyhow::bail!("{who} is not in {}", info.name);
                }
                self.send(
                    &user,
                    &user,
                    Body::ConfRemove {
                        conf: info.id,
                        user: who,
                    },
                )?;
            }
            Command::Msg { to, text } => {
                let user = self.logged_in()?;
                too_long(&text)?;
                if self.state.relation(&user, &to)? != Some(Relation::Friends) {
                    anyhow::bail!("{to} is not your friend (friend-add {to})");
                }
                let id = self.send(&user, &to, Body::Dm { text: text.clone() })?;
                let dm = Dm {
                    other: to,
                    outgoing: true,
                    text,
                    at: now_ms(),
                };
                self.state.add_dm(
                    &self.me.to_string(),
                    &format!("out-{id}"),
                    &user,
                    &dm,
                    true,
                    self.bridged,
                )?;
            }
        }
        Ok(())
    }

    /// A line for the user, held back until the listening line is out.
    fn notice(&mut self, line: String) {
        match &mut self.early {
            Some(early) => early.push(line),
            None => say(&line),
        }
    }

    fn is_online(&self, name: &str) -> bool {
        self.is_here(name) || self.online.get(name).copied().unwrap_or(false)
    }

    /// Queues an envelope from `from` to `to` and tries it at once.
    fn send(&mut self, from: &str, to: &str, body: Body) -> Result<String> {
        let envelope = Envelope {
            id: new_id(),
            from: from.into(),
            to: to.into(),
            at: now_ms(),
            body,
        };
        self.state.queue(&envelope, envelope.at)?;
        let id = envelope.id.clone();
        self.deliver(envelope);
        Ok(id)
    }

    fn befriend(&mut self, user: String, name: String) {
        let r = self
            .state
            .set_relation(&user, &name, Some(Relation::Outgoing))
            .and_then(|()| self.send(&user, &name, Body::FriendRequest));
        match r {
            Ok(_) => say(&format!("asked {name} to be your friend")),
            Err(e) => say(&format!("error: {e:#}")),
        }
    }

    /// Tells `user`'s friends whether `user` is online. Not queued: a
    /// friend whose node is away learns it when the nodes meet again.
    fn announce(&mut self, user: &str, online: bool) {
        let friends: Vec<String> = self
            .state
            .relations(user)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, r)| *r == Relation::Friends)
            .map(|(n, _)| n)
            .collect();
        for f in friends {
            self.announce_to(user, &f, online);
        }
    }

    fn announce_to(&mut self, user: &str, friend: &str, online: bool) {
        if matches!(self.state.user(friend), Ok(Some(_))) {
            return; // a user of this node sees it directly
        }
        let envelope = Envelope {
            id: new_id(),
            from: user.into(),
            to: friend.into(),
            at: now_ms(),
            body: Body::Presence { online },
        };
        if let Some(peer) = self.home_of(friend) {
            let req = self
                .swarm
                .behaviour_mut()
                .rr
                .send_request(&peer, envelope.clone());
            self.inflight.insert(req, envelope);
        }
    }

    // ---- swarm events ---------------------------------------------------

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                if !self.listening.contains(&address) {
                    self.listening.push(address);
                }
                self.publish_soon();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listening.retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, endpoint.get_remote_address().clone());
                }
                // Conferences hosted there: what was missed.
                for c in self.state.confs().unwrap_or_default() {
                    let hosted_there = self
                        .state
                        .known(&c.host)
                        .ok()
                        .flatten()
                        .is_some_and(|k| k.peer == peer_id.to_string());
                    if hosted_there {
                        self.sync(&c);
                    }
                }
                // Whatever waits for a user of that node goes now.
                for to in self.state.recipients().unwrap_or_default() {
                    let there = self
                        .state
                        .known(&to)
                        .ok()
                        .flatten()
                        .is_some_and(|k| k.peer == peer_id.to_string());
                    if there && let Ok(Some(e)) = self.state.first_for(&to) {
                        self.failed.remove(&e.id);
                        self.deliver(e);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.peer_gone(peer_id),
            SwarmEvent::Behaviour(ev) => self.on_behaviour(ev),
            _ => {}
        }
    }

    fn publish_soon(&mut self) {
        let at = Instant::now() + Duration::from_millis(300);
        if self.publish_due.is_none_or(|t| t > at) {
            self.publish_due = Some(at);
        }
    }

    /// Friends whose home was `peer` are offline while no connection is up.
    fn peer_gone(&mut self, peer: PeerId) {
        let gone: Vec<String> = self
            .online
            .iter()
            .filter(|(n, on)| {
                **on && self
                    .state
                    .known(n)
                    .ok()
                    .flatten()
                    .is_some_and(|k| k.peer == peer.to_string())
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in gone {
            self.online.insert(n.clone(), false);
            self.link.set_online(&n, false);
            if let Some(u) = &self.user
                && self.state.relation(u, &n).ok().flatten() == Some(Relation::Friends)
            {
                say(&format!("{n} is offline"));
            }
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut new = Vec::new();
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) && !new.contains(&peer) {
                        new.push(peer);
                        let _ = self.swarm.dial(addr);
                    }
                }
                for peer in new {
                    self.notice(format!("found a node on the local network: {peer}"));
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. }) => {
                self.on_gossip(message.source, &message.data)
            }
            BehaviourEvent::Kad(ev) => self.on_kad(ev),
            BehaviourEvent::Rr(ev) => self.on_rr(ev),
            BehaviourEvent::Ping(ping::Event {
                connection,
                result: Err(ping::Failure::Timeout),
                ..
            }) => {
                // A peer that stopped answering is gone (one that does not
                // speak ping is not).
                self.swarm.close_connection(connection);
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, ev: kad::Event) {
        match ev {
            kad::Event::RoutingUpdated {
                is_new_peer: true, ..
            } => self.publish_soon(),
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        record: Some(record),
                        ..
                    },
            } => self.store_record(record),
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetRecord(r),
                step,
                ..
            } => {
                if let Ok(GetRecordOk::FoundRecord(found)) = r
                    && let Some(l) = self.lookups.get_mut(&id)
                    && let Ok((claim, owner)) =
                        NameClaim::open(&found.record.key.to_vec(), &found.record.value)
                {
                    l.found.push((claim, owner, found.record.value));
                }
                if step.last
                    && let Some(l) = self.lookups.remove(&id)
                {
                    self.resolved(l);
                }
            }
            _ => {}
        }
    }

    fn on_rr(&mut self, ev: request_response::Event<Envelope, Reply>) {
        use request_response::{Event, Message};
        match ev {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.verify(peer, request, channel),
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(e) = self.inflight.remove(&request_id) {
                    self.answered(e, response);
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(e) = self.inflight.remove(&request_id) {
                    self.sending.remove(&e.id);
                    if matches!(e.body, Body::Presence { .. } | Body::ConfSync { .. }) {
                        return;
                    }
                    tracing::debug!(to = %e.to, error = %error, "delivery failed");
                    // Its node may have moved: look it up before the next try.
                    self.stale.insert(e.to.clone());
                    let id = e.id.clone();
                    self.failed(&id, &e, true);
                }
            }
            _ => {}
        }
    }
}

fn show_dm(dm: &Dm) {
    let text = clean(&dm.text);
    if dm.outgoing {
        say(&format!("[{}] you → {}: {text}", clock(dm.at), dm.other));
    } else {
        say(&format!("[{}] {}: {text}", clock(dm.at), dm.other));
    }
}

fn show_conf(conf: &str, m: &ConfMsg) {
    say(&format!(
        "[{}] #{conf} {}: {}",
        clock(m.at),
        m.author,
        clean(&m.text)
    ));
}

/// What another node wrote, fit for one line of a terminal: control
/// characters (a newline that would fake a line, escape sequences) become
/// spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// How often a member asks each conference's host for what gossip missed.
const CONF_SYNC_EVERY: Duration = Duration::from_secs(5);

/// How long an envelope waits for its recipient's node before it is given up.
const OUTBOX_DAYS: i64 = 30;

/// The longest message, in characters (as the server's limit).
const MAX_TEXT: usize = 4000;
/// The most members a conference has.
const MAX_MEMBERS: usize = 100;
/// Conferences one user elsewhere may have this node's users in.
const MAX_CONFS_PER_HOST: usize = 50;

/// A conference as a host describes it: well formed, or why not. `keyed`:
/// the copy for a member, which carries the key.
fn check_conf(info: &ConfInfo, keyed: bool) -> std::result::Result<(), String> {
    if info.id.len() != 32 || !info.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a conference id is 32 hex digits".into());
    }
    if keyed && info.key.len() != 32 {
        return Err("a conference key is 32 bytes".into());
    }
    let name_ok = !info.name.is_empty()
        && info.name.chars().count() <= 64
        && !info
            .name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace());
    if !name_ok {
        return Err("a conference name is 1 to 64 characters, no spaces".into());
    }
    if info.members.len() > MAX_MEMBERS || !info.members.contains(&info.host) {
        return Err(format!(
            "a conference has its host and at most {MAX_MEMBERS} members"
        ));
    }
    if info.members.iter().any(|m| check_name(m).is_err()) {
        return Err("a member is not a user name".into());
    }
    Ok(())
}

fn too_long(text: &str) -> Result<()> {
    if text.chars().count() > MAX_TEXT {
        anyhow::bail!("a message may have at most {MAX_TEXT} characters");
    }
    Ok(())
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// User names as the server takes them: 3 to 32 of a-z, 0-9, `_`, `-`,
/// starting with a letter.
fn check_name(name: &str) -> Result<()> {
    let ok = (3..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        anyhow::bail!(
            "`{name}` is not a user name: 3 to 32 of a-z, 0-9, _ and -, starting with a letter"
        );
    }
    // And what the client listener allows (no `visitor-…`, `deleted-…`).
    confab_proto::Limits::default()
        .check_username(name)
        .map_err(|e| anyhow::anyhow!("`{name}` is not a user name: {e}"))
}

/// The peer id at the end of an address (`.../p2p/PEER`), if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> ConfInfo {
        ConfInfo {
            id: "0123456789abcdef0123456789abcdef".into(),
            name: "team".into(),
            host: "alice".into(),
            members: vec!["alice".into(), "bob".into()],
            key: vec![1; 32],
            epoch: 1,
        }
    }

    #[test]
    fn what_other_nodes_write_prints_on_one_line() {
        assert_eq!(clean("hi\nbob: fake\x1b[2J"), "hi bob: fake [2J");
    }

    #[test]
    fn a_conference_from_another_node_is_checked_before_it_is_kept() {
        assert_eq!(check_conf(&conf(), true), Ok(()));
        let bad = [
            ConfInfo {
                id: "short".into(),
                ..conf()
            },
            ConfInfo {
                id: "é".repeat(16),
                ..conf()
            },
            ConfInfo {
                key: vec![1; 5],
                ..conf()
            },
            ConfInfo {
                name: "two words".into(),
                ..conf()
            },
            ConfInfo {
                members: vec!["bob".into()],
                ..conf()
            },
            ConfInfo {
                members: vec!["alice".into(), "Bad Name".into()],
                ..conf()
            },
            ConfInfo {
                members: (0..=MAX_MEMBERS)
                    .map(|i| format!("user{i}"))
                    .chain(["alice".into()])
                    .collect(),
                ..conf()
            },
        ];
        for b in bad {
            assert!(check_conf(&b, true).is_err(), "{b:?}");
        }
        // The copy for someone who left has no key.
        assert_eq!(
            check_conf(
                &ConfInfo {
                    key: vec![],
                    ..conf()
                },
                false
            ),
            Ok(())
        );
    }
}
