//! Delivery: the outbox on each tick, one envelope at a time per
//! recipient, retries with backoff, and what the answers mean.

use super::*;

impl Node {
    // ---- delivery -------------------------------------------------------

    pub(super) fn on_tick(&mut self) {
        if self.publish_due.is_some_and(|t| t <= Instant::now()) {
            self.publish_due = None;
            for name in self.state.users().unwrap_or_default() {
                self.publish(&name);
            }
        }
        // The oldest waiting envelope of each recipient; one that has
        // waited too long is given up, and the sender told.
        for to in self.state.recipients().unwrap_or_default() {
            let Ok(Some(e)) = self.state.first_for(&to) else {
                continue;
            };
            // (Given up while its sender is logged in here, who is told.)
            if now_ms() - e.at > OUTBOX_DAYS * 24 * 3600 * 1000
                && self.user.as_deref() == Some(e.from.as_str())
            {
                self.done(&e.id, &e.to);
                say(&format!(
                    "error: gave up on a message to {} after {OUTBOX_DAYS} days",
                    e.to
                ));
                continue;
            }
            self.deliver(e);
        }
        let due: Vec<String> = self
            .resync
            .iter()
            .filter(|(_, at)| **at <= Instant::now())
            .map(|(c, _)| c.clone())
            .collect();
        for c in due {
            self.resync.remove(&c);
            if let Ok(Some(info)) = self.state.conf(&c) {
                self.sync(&info);
            }
        }
        // Gossip reaches only members connected (and subscribed) at the
        // time, which a member that just joined may not be yet: the hosts
        // fill the gaps.
        if self.synced_at.elapsed() >= CONF_SYNC_EVERY {
            self.synced_at = Instant::now();
            for c in self.state.confs().unwrap_or_default() {
                self.sync(&c);
            }
        }
    }

    pub(super) fn deliver(&mut self, envelope: Envelope) {
        if self.sending.contains(&envelope.id) {
            return;
        }
        // In order: only the oldest envelope to a user is on its way.
        match self.state.first_for(&envelope.to) {
            Ok(Some(first)) if first.id == envelope.id => {}
            _ => return,
        }
        if let Some((_, not_before)) = self.failed.get(&envelope.id)
            && *not_before > Instant::now()
        {
            return;
        }
        // Between two users of this node.
        if matches!(self.state.user(&envelope.to), Ok(Some(_))) {
            let me = self.me;
            let (id, to) = (envelope.id.clone(), envelope.to.clone());
            match self.accept(me, envelope) {
                Reply::Rejected(why) => say(&format!("error: {why}")),
                Reply::Retry(_) => return,
                _ => {}
            }
            self.done(&id, &to);
            return;
        }
        if self.stale.contains(&envelope.to)
            || self.state.known(&envelope.to).ok().flatten().is_none()
        {
            if !self.waiting.contains_key(&envelope.to) {
                let to = envelope.to.clone();
                self.lookup(&to, After::Deliver);
            }
            return;
        }
        self.send_now(envelope);
    }

    pub(super) fn send_now(&mut self, envelope: Envelope) {
        if self.sending.contains(&envelope.id) {
            return;
        }
        let Some(peer) = self.home_of(&envelope.to) else {
            return;
        };
        self.sending.insert(envelope.id.clone());
        let req = self
            .swarm
            .behaviour_mut()
            .rr
            .send_request(&peer, envelope.clone());
        self.inflight.insert(req, envelope);
    }

    /// An envelope has its answer: out of the outbox, and the next one to
    /// the same user goes.
    pub(super) fn done(&mut self, id: &str, to: &str) {
        let _ = self.state.unqueue(id);
        self.failed.remove(id);
        if let Ok(Some(next)) = self.state.first_for(to) {
            self.deliver(next);
        }
    }

    /// An envelope could not be delivered now: later, with a growing pause.
    pub(super) fn failed(&mut self, id: &str, envelope: &Envelope, offline: bool) {
        let n = self.failed.get(id).map(|(n, _)| n + 1).unwrap_or(0);
        self.failed
            .insert(id.to_string(), (n, Instant::now() + backoff(n)));
        if offline
            && matches!(envelope.body, Body::Dm { .. })
            && self.user.as_deref() == Some(envelope.from.as_str())
            && self.told_offline.insert(id.to_string())
        {
            say(&format!(
                "{} is offline: the message will be delivered when they are back",
                envelope.to
            ));
        }
    }

    pub(super) fn answered(&mut self, envelope: Envelope, reply: Reply) {
        self.sending.remove(&envelope.id);
        if let (Body::ConfSync { conf, .. }, Reply::History(msgs)) = (&envelope.body, &reply) {
            if let Ok(Some(info)) = self.state.conf(conf) {
                let mut last = 0;
                for m in msgs {
                    last = last.max(m.seq);
                    // The host's word, but checked as any message is.
                    if check_name(&m.author).is_err() || m.text.chars().count() > MAX_TEXT {
                        continue;
                    }
                    let _ = self.conf_arrived(&info, m, false);
                }
                let _ = self.state.set_synced(conf, last);
                if msgs.len() >= 100 {
                    self.sync(&info);
                }
            }
            return;
        }
        if matches!(envelope.body, Body::Presence { .. } | Body::ConfSync { .. }) {
            return;
        }
        match reply {
            Reply::Ok | Reply::Dup => {
                self.done(&envelope.id, &envelope.to);
                self.failed.remove(&envelope.id);
                self.told_offline.remove(&envelope.id);
                if self.user.as_deref() == Some(envelope.from.as_str()) {
                    match envelope.body {
                        Body::Dm { .. } => say(&format!("delivered to {}", envelope.to)),
                        Body::FriendRequest => {
                            say(&format!("friend request delivered to {}", envelope.to))
                        }
                        _ => {}
                    }
                }
            }
            Reply::Retry(_) | Reply::History(_) => {
                self.failed(&envelope.id.clone(), &envelope, false)
            }
            Reply::Rejected(why) => {
                self.done(&envelope.id, &envelope.to);
                if matches!(envelope.body, Body::FriendRequest) {
                    let _ = self.state.set_relation(&envelope.from, &envelope.to, None);
                }
                if self.user.as_deref() == Some(envelope.from.as_str()) {
                    say(&format!(
                        "error: {}'s node refused: {}",
                        envelope.to,
                        clean(&why)
                    ));
                }
            }
        }
    }
}
