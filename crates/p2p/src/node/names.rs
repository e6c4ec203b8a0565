//! Names: where a user's home is, looked up in the DHT (the majority owner,
//! which never changes once known), and this node's users' records
//! published and stored.

use super::*;

impl Node {
    // ---- names ----------------------------------------------------------

    /// The home of `name` as last known (addresses added to the swarm).
    pub(super) fn home_of(&mut self, name: &str) -> Option<PeerId> {
        let known = self.state.known(name).ok().flatten()?;
        let peer: PeerId = known.peer.parse().ok()?;
        for a in &known.addrs {
            if let Ok(addr) = a.parse::<Multiaddr>() {
                self.swarm.add_peer_address(peer, addr);
            }
        }
        Some(peer)
    }

    pub(super) fn lookup(&mut self, name: &str, after: After) {
        if matches!(
            after,
            After::Register { .. } | After::FriendAdd { .. } | After::Show
        ) {
            self.asking += 1;
        }
        let first = !self.waiting.contains_key(name);
        self.waiting
            .entry(name.to_string())
            .or_default()
            .push(after);
        if first {
            let q = self
                .swarm
                .behaviour_mut()
                .kad
                .get_record(RecordKey::new(&name_key(name)));
            self.lookups.insert(
                q,
                Lookup {
                    name: name.to_string(),
                    found: Vec::new(),
                },
            );
        }
    }

    /// A lookup ended: the majority owner among the records found, and its
    /// newest record.
    pub(super) fn resolved(&mut self, lookup: Lookup) {
        let Lookup { name, found } = lookup;
        let known = self.state.known(&name).ok().flatten();
        // The owner: the one already known (owners never change), or the
        // one most records agree on (ties to the lowest peer id, so every
        // node picks the same).
        let owner = match &known {
            Some(k) => k.peer.parse::<PeerId>().ok(),
            None => {
                let mut votes: HashMap<PeerId, usize> = HashMap::new();
                for (_, o, _) in &found {
                    *votes.entry(*o).or_default() += 1;
                }
                let mut votes: Vec<(PeerId, usize)> = votes.into_iter().collect();
                votes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.to_string().cmp(&b.0.to_string())));
                votes.first().map(|(p, _)| *p)
            }
        };
        // That owner's newest record gives its addresses.
        let best = owner.and_then(|w| {
            found
                .into_iter()
                .filter(|(_, o, _)| *o == w)
                .max_by_key(|(c, _, _)| c.seq)
        });
        if let Some((claim, owner, record)) = &best
            && known.as_ref().is_none_or(|k| k.seq < claim.seq)
        {
            let _ = self.state.set_known(
                &name,
                &Known {
                    peer: owner.to_string(),
                    addrs: claim.addrs.clone(),
                    seq: claim.seq,
                    record: record.clone(),
                },
            );
            self.stale.remove(&name);
        }
        for after in self.waiting.remove(&name).unwrap_or_default() {
            self.after_lookup(&name, owner, after);
        }
        self.link.changed();
    }

    pub(super) fn after_lookup(&mut self, name: &str, owner: Option<PeerId>, after: After) {
        if matches!(
            after,
            After::Register { .. } | After::FriendAdd { .. } | After::Show
        ) {
            self.asking -= 1;
        }
        match after {
            After::Register {
                name,
                display,
                password,
            } => {
                if owner.is_some_and(|o| o != self.me) {
                    return say(&format!("error: the name {name} is taken"));
                }
                let r = password::hash(&password)
                    .and_then(|hash| self.state.add_user(&name, &display, &hash, now_ms()));
                match r {
                    Ok(true) => {
                        self.publish(&name);
                        say(&format!("registered {name}; now: login {name}"));
                    }
                    Ok(false) => say(&format!("error: {name} is already registered on this node")),
                    Err(e) => say(&format!("error: {e:#}")),
                }
            }
            After::FriendAdd { user, name } => match owner {
                Some(_) => self.befriend(user, name),
                None => say(&format!("error: no user {name} was found")),
            },
            After::Show => match self.state.known(name).ok().flatten() {
                Some(k) if owner.is_some() => say(&format!(
                    "{name}: peer={} addrs={}",
                    k.peer,
                    k.addrs.join(",")
                )),
                _ => say(&format!("error: no user {name} was found")),
            },
            After::Dial => {
                if let Some(peer) = owner {
                    self.dial(name, peer);
                }
            }
            After::Deliver => {
                // The oldest waiting envelope goes; the rest follow it.
                if let Ok(Some(first)) = self.state.first_for(name) {
                    if owner.is_some() {
                        self.send_now(first);
                    } else {
                        let id = first.id.clone();
                        self.failed(&id, &first, true);
                    }
                }
            }
            After::Resolve(reply) => {
                let _ = reply.send(owner.is_some_and(|o| o != self.me));
            }
            After::Verify {
                peer,
                envelope,
                channel,
            } => {
                if let Some(n) = self.verifying.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.verifying.remove(&peer);
                    }
                }
                let reply = match owner {
                    Some(o) if o == peer => self.accept(peer, *envelope),
                    Some(_) => Reply::Rejected(format!(
                        "{} is not a user of the node that sent this",
                        envelope.from
                    )),
                    None => Reply::Retry(format!("{} cannot be found yet", envelope.from)),
                };
                let _ = self.swarm.behaviour_mut().rr.send_response(channel, reply);
            }
        }
    }

    /// Publishes (or refreshes) a name of this node in the DHT.
    pub(super) fn publish(&mut self, name: &str) {
        let claim = NameClaim {
            user: name.into(),
            peer: self.me.to_string(),
            addrs: self.listening.iter().map(|a| a.to_string()).collect(),
            seq: now_ms(),
        };
        let record = claim.sign(&self.key);
        let _ = self.state.set_record(name, &claim.peer, claim.seq, &record);
        let _ = self.state.set_known(
            name,
            &Known {
                peer: claim.peer.clone(),
                addrs: claim.addrs.clone(),
                seq: claim.seq,
                record: record.clone(),
            },
        );
        let _ = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(Record::new(name_key(name), record), Quorum::One);
    }

    /// A record another node asks this one to store: kept only if valid,
    /// and only from the name's first owner, with a newer sequence number.
    pub(super) fn store_record(&mut self, record: Record) {
        let Ok((claim, owner)) = NameClaim::open(&record.key.to_vec(), &record.value) else {
            return;
        };
        if check_name(&claim.user).is_err() {
            return;
        }
        if let Ok(Some((peer, seq))) = self.state.record(&claim.user) {
            if peer != owner.to_string() {
                tracing::info!(name = %claim.user, "refused a claim on a name another node owns");
                return;
            }
            if seq >= claim.seq {
                return;
            }
        }
        let _ = self
            .state
            .set_record(&claim.user, &claim.peer, claim.seq, &record.value);
        let _ = self.swarm.behaviour_mut().kad.store_mut().put(record);
    }
}
