//! Requests from other nodes: the sender checked against its home, then
//! acted on once (`act`, a case per kind of request).

use super::*;

impl Node {
    /// An envelope from `peer` whose sender is checked: act on it.
    pub(super) fn accept(&mut self, peer: PeerId, e: Envelope) -> Reply {
        let reply = match self.act(peer, e) {
            Ok(r) => r,
            Err(err) => Reply::Retry(format!("{err:#}")),
        };
        self.link.changed();
        reply
    }

    /// A conference this node hosts for its user `host`.
    /// A conference this node hosts for its user `host`, which `member`
    /// (if named) is in; or the refusal to answer with.
    pub(super) fn hosted(
        &self,
        conf: &str,
        host: &str,
        member: Option<&str>,
    ) -> Result<std::result::Result<ConfInfo, Reply>> {
        let Some(info) = self.state.conf(conf)?.filter(|c| c.host == host) else {
            return Ok(Err(Reply::Rejected(format!(
                "{host} hosts no such conference"
            ))));
        };
        if let Some(m) = member
            && !info.members.iter().any(|x| x == m)
        {
            return Ok(Err(Reply::Rejected(format!("{m} is not in {}", info.name))));
        }
        Ok(Ok(info))
    }

    pub(super) fn act(&mut self, peer: PeerId, e: Envelope) -> Result<Reply> {
        if self.state.user(&e.to)?.is_none() {
            return Ok(Reply::Rejected(format!("no user {} on this node", e.to)));
        }
        let here = self.user.as_deref() == Some(e.to.as_str());
        let rel = self.state.relation(&e.to, &e.from)?;
        // Acted on once: a request retried after a lost answer, or sent
        // again by a node that restarted, changes nothing twice. (Messages
        // are kept once by their own tables.)
        let once = !matches!(
            e.body,
            Body::Dm { .. } | Body::ConfPost { .. } | Body::Presence { .. } | Body::ConfSync { .. }
        );
        if once && !self.state.first_time(&peer.to_string(), &e.id)? {
            return Ok(Reply::Dup);
        }
        if let Body::Dm { text } | Body::ConfPost { text, .. } = &e.body
            && text.chars().count() > MAX_TEXT
        {
            return Ok(Reply::Rejected(format!(
                "a message may have at most {MAX_TEXT} characters"
            )));
        }
        Ok(match e.body {
            Body::Dm { text } => {
                if rel != Some(Relation::Friends) {
                    return Ok(Reply::Rejected(format!(
                        "{} is not a friend of {}",
                        e.from, e.to
                    )));
                }
                let dm = Dm {
                    other: e.from.clone(),
                    outgoing: false,
                    text,
                    at: e.at,
                };
                if !self
                    .state
                    .add_dm(&peer.to_string(), &e.id, &e.to, &dm, here, false)?
                {
                    return Ok(Reply::Dup);
                }
                if here {
                    show_dm(&dm);
                }
                Reply::Ok
            }
            Body::FriendRequest => {
                match rel {
                    Some(Relation::Friends) => {}
                    Some(Relation::Outgoing) => {
                        // Both asked: friends.
                        self.state
                            .set_relation(&e.to, &e.from, Some(Relation::Friends))?;
                        self.send(&e.to, &e.from, Body::FriendAnswer { accept: true })?;
                        if here {
                            say(&format!("you and {} are friends", e.from));
                        }
                    }
                    _ => {
                        self.state
                            .set_relation(&e.to, &e.from, Some(Relation::Incoming))?;
                        if here && rel.is_none() {
                            say(&format!(
                                "friend request from {0} (friend-accept {0} or friend-decline {0})",
                                e.from
                            ));
                        }
                    }
                }
                Reply::Ok
            }
            Body::FriendAnswer { accept } => {
                if rel == Some(Relation::Outgoing) {
                    if accept {
                        self.state
                            .set_relation(&e.to, &e.from, Some(Relation::Friends))?;
                        if here {
                            say(&format!("{} accepted your friend request", e.from));
                        }
                        let to = e.to.clone();
                        if self.is_here(&to) {
                            self.announce_to(&to, &e.from, true);
                        }
                    } else {
                        self.state.set_relation(&e.to, &e.from, None)?;
                        if here {
                            say(&format!("{} declined your friend request", e.from));
                        }
                    }
                }
                Reply::Ok
            }
            Body::ConfInvite { conf, user } => {
                let mut info = match self.hosted(&conf, &e.to, Some(&e.from))? {
                    Ok(info) => info,
                    Err(refusal) => return Ok(refusal),
                };
                if info.members.len() >= MAX_MEMBERS {
                    return Ok(Reply::Rejected(format!(
                        "{} has {MAX_MEMBERS} members already",
                        info.name
                    )));
                }
                if check_name(&user).is_err() {
                    return Ok(Reply::Rejected(format!("`{user}` is not a user name")));
                }
                if !info.members.contains(&user) {
                    info.members.push(user.clone());
                    // A new key: the newcomer reads nothing said before.
                    info.key = rand::random::<[u8; 32]>().to_vec();
                    info.epoch += 1;
                    self.state
                        .set_join(&info.id, &user, self.state.last_seq(&info.id)? + 1)?;
                    self.state.set_conf(&info)?;
                    self.share(&info)?;
                    if self.user.as_ref().is_some_and(|u| info.members.contains(u)) {
                        say(&format!("{} added {user} to {}", e.from, info.name));
                    }
                }
                Reply::Ok
            }
            Body::ConfRemove { conf, user } => {
                let mut info = match self.hosted(&conf, &e.to, None)? {
                    Ok(info) => info,
                    Err(refusal) => return Ok(refusal),
                };
                if e.from != user && e.from != info.host {
                    return Ok(Reply::Rejected(format!(
                        "only {} (the host) removes members of {}",
                        info.host, info.name
                    )));
                }
                if user == info.host {
                    return Ok(Reply::Rejected(format!("the host stays in {}", info.name)));
                }
                if info.members.contains(&user) {
                    info.members.retain(|m| *m != user);
                    // A new key: what the one who left still has reads
                    // nothing from now on.
                    info.key = rand::random::<[u8; 32]>().to_vec();
                    info.epoch += 1;
                    self.state.set_conf(&info)?;
                    self.share(&info)?;
                    // The one who left learns it, without the new key.
                    let without = ConfInfo {
                        key: Vec::new(),
                        ..info.clone()
                    };
                    self.send(&info.host, &user, Body::ConfState(without))?;
                    if self.user.as_ref().is_some_and(|u| info.members.contains(u)) {
                        say(&format!("{user} left {}", info.name));
                    }
                }
                Reply::Ok
            }
            Body::ConfState(info) => {
                if e.from != info.host {
                    return Ok(Reply::Rejected(
                        "only a conference's host says who is in it".into(),
                    ));
                }
                let member = info.members.contains(&e.to);
                if let Err(why) = check_conf(&info, member) {
                    return Ok(Reply::Rejected(why));
                }
                let old = self.state.conf(&info.id)?;
                // Nobody is put in a conference by strangers: its host, or
                // someone in it, is a friend.
                if old.is_none() && member {
                    let mut friendly = false;
                    for m in &info.members {
                        friendly |= self.state.relation(&e.to, m)? == Some(Relation::Friends);
                    }
                    if !friendly {
                        return Ok(Reply::Rejected(format!(
                            "{} knows nobody in {}",
                            e.to, info.name
                        )));
                    }
                }
                if old.is_none()
                    && self
                        .state
                        .confs()?
                        .iter()
                        .filter(|c| c.host == info.host)
                        .count()
                        >= MAX_CONFS_PER_HOST
                {
                    return Ok(Reply::Rejected(format!(
                        "{} hosts {MAX_CONFS_PER_HOST} conferences with users here already",
                        info.host
                    )));
                }
                if old
                    .as_ref()
                    .is_some_and(|o| o.host != info.host || o.epoch > info.epoch)
                {
                    return Ok(Reply::Rejected("not the host of that conference".into()));
                }
                let local_members = info
                    .members
                    .iter()
                    .any(|m| matches!(self.state.user(m), Ok(Some(_))));
                if info.members.contains(&e.to) {
                    if old.as_ref().is_none_or(|o| !o.members.contains(&e.to)) {
                        // From now on: what others here read before is not theirs.
                        self.state.saw_conf(&info.id, &e.to)?;
                        self.state.joined_conf(&info.id, &e.to)?;
                    }
                    self.state.set_conf(&info)?;
                    self.subscribe(&info);
                    if here {
                        match &old {
                            None => say(&format!(
                                "you are in conference {} (host {}): {}",
                                info.name,
                                info.host,
                                info.members.join(", ")
                            )),
                            Some(o) if o.members != info.members => say(&format!(
                                "{} is now: {}",
                                info.name,
                                info.members.join(", ")
                            )),
                            _ => {}
                        }
                    }
                    self.sync(&info);
                } else if old.is_some() {
                    // Out of it (this copy has no key): forget it, unless
                    // another user of this node is still in (their own copy
                    // comes to them).
                    if !local_members {
                        self.state.drop_conf(&info.id)?;
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .gossipsub
                            .unsubscribe(&gossipsub::IdentTopic::new(conf_topic(&info.id)));
                    }
                    if here {
                        say(&format!("you are no longer in {}", info.name));
                    }
                }
                Reply::Ok
            }
            Body::ConfPost { conf, text } => {
                let info = match self.hosted(&conf, &e.to, Some(&e.from))? {
                    Ok(info) => info,
                    Err(refusal) => return Ok(refusal),
                };
                let m = ConfMsg {
                    id: e.id.clone(),
                    author: e.from.clone(),
                    text,
                    at: e.at,
                    seq: 0,
                };
                if self.conf_arrived(&info, &m, true)? {
                    Reply::Ok
                } else {
                    Reply::Dup
                }
            }
            Body::ConfSync { conf, after } => {
                let info = match self.hosted(&conf, &e.to, Some(&e.from))? {
                    Ok(info) => info,
                    Err(refusal) => return Ok(refusal),
                };
                let from = self.state.join_of(&info.id, &e.from)?;
                Reply::History(self.state.conf_history(&info.id, after, from)?)
            }
            Body::Presence { online } => {
                if rel == Some(Relation::Friends) {
                    let was = self.online.insert(e.from.clone(), online).unwrap_or(false);
                    self.link.set_online(&e.from, online);
                    if was != online {
                        if here {
                            let state = if online { "online" } else { "offline" };
                            say(&format!("{} is {state}", e.from));
                        }
                        // Tell a friend who just came back that we are here.
                        if online && self.is_here(&e.to) {
                            self.announce_to(&e.to, &e.from, true);
                        }
                    }
                }
                Reply::Ok
            }
        })
    }

    /// An envelope from `peer`: its sender must be a user whose home is
    /// `peer` (looked up when not known yet), or it is refused.
    pub(super) fn verify(
        &mut self,
        peer: PeerId,
        envelope: Envelope,
        channel: ResponseChannel<Reply>,
    ) {
        let known = self.state.known(&envelope.from).ok().flatten();
        match known {
            Some(k) if k.peer == peer.to_string() => {
                let reply = self.accept(peer, envelope);
                let _ = self.swarm.behaviour_mut().rr.send_response(channel, reply);
            }
            Some(_) => {
                let reply = Reply::Rejected(format!(
                    "{} is not a user of the node that sent this",
                    envelope.from
                ));
                let _ = self.swarm.behaviour_mut().rr.send_response(channel, reply);
            }
            None => {
                // Each costs a DHT lookup: a peer naming many strangers at
                // once is asked to come back later.
                let asking = self.verifying.entry(peer).or_default();
                if *asking >= MAX_VERIFYING {
                    let reply = Reply::Retry("too many unknown senders at once".into());
                    let _ = self.swarm.behaviour_mut().rr.send_response(channel, reply);
                    return;
                }
                *asking += 1;
                let from = envelope.from.clone();
                self.lookup(
                    &from,
                    After::Verify {
                        peer,
                        envelope: Box::new(envelope),
                        channel,
                    },
                );
            }
        }
    }
}
