//! Conferences: finding one of a user's, joining its topic, sharing its
//! state as host, syncing from the host, and messages arriving by gossip.

use super::*;

impl Node {
    /// The conferences `user` is in.
    pub(super) fn my_confs(&self, user: &str) -> Result<Vec<ConfInfo>> {
        Ok(self
            .state
            .confs()?
            .into_iter()
            .filter(|c| c.members.iter().any(|m| m == user))
            .collect())
    }

    /// One of `user`'s conferences, by name or by (the start of) its id.
    pub(super) fn find_conf(&self, user: &str, name: &str) -> Result<ConfInfo> {
        let mut found: Vec<ConfInfo> = self
            .my_confs(user)?
            .into_iter()
            .filter(|c| c.name == name || c.id.starts_with(name) && name.len() >= 4)
            .collect();
        match found.len() {
            0 => anyhow::bail!("you are in no conference {name} (conf-list)"),
            1 => Ok(found.remove(0)),
            _ => anyhow::bail!(
                "several conferences are called {name}: name it by its id (conf-list)"
            ),
        }
    }

    /// Listens on a conference's topic and connects to its members' nodes.
    pub(super) fn subscribe(&mut self, info: &ConfInfo) {
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&gossipsub::IdentTopic::new(conf_topic(&info.id)));
        for m in &info.members {
            if matches!(self.state.user(m), Ok(Some(_))) {
                continue;
            }
            match self.home_of(m) {
                Some(peer) => self.dial(m, peer),
                None => self.lookup(m, After::Dial),
            }
        }
    }

    pub(super) fn dial(&mut self, name: &str, peer: PeerId) {
        if peer != self.me
            && !self.swarm.is_connected(&peer)
            && let Err(e) = self.swarm.dial(peer)
        {
            tracing::debug!(%name, error = %e, "cannot dial a member's node");
        }
    }

    /// The host tells every member (and those who just left) how the
    /// conference is now.
    pub(super) fn share(&mut self, info: &ConfInfo) -> Result<()> {
        for m in info.members.clone() {
            if m != info.host {
                self.send(&info.host, &m, Body::ConfState(info.clone()))?;
            }
        }
        Ok(())
    }

    /// Asks a conference's host for what this node has not seen.
    pub(super) fn sync(&mut self, info: &ConfInfo) {
        if matches!(self.state.user(&info.host), Ok(Some(_))) {
            return; // hosted here
        }
        let Some(me) = info
            .members
            .iter()
            .find(|m| matches!(self.state.user(m), Ok(Some(_))))
            .cloned()
        else {
            return;
        };
        let after = self.state.synced(&info.id).unwrap_or(0);
        let envelope = Envelope {
            id: new_id(),
            from: me,
            to: info.host.clone(),
            at: now_ms(),
            body: Body::ConfSync {
                conf: info.id.clone(),
                after,
            },
        };
        if let Some(peer) = self.home_of(&info.host) {
            let req = self
                .swarm
                .behaviour_mut()
                .rr
                .send_request(&peer, envelope.clone());
            self.inflight.insert(req, envelope);
        }
    }

    /// A conference message this node did not have: shown to the user
    /// logged in here if they are a member.
    pub(super) fn conf_arrived(
        &mut self,
        info: &ConfInfo,
        m: &ConfMsg,
        host: bool,
    ) -> Result<bool> {
        let here = self.user.clone().filter(|u| info.members.contains(u));
        let new = self
            .state
            .add_conf_msg(&info.id, m, host, here.is_some(), false)?;
        if new && let Some(user) = here {
            show_conf(&info.name, m);
            self.state.saw_conf(&info.id, &user)?;
        }
        Ok(new)
    }

    /// A sealed message on a conference's topic, published by `source`:
    /// kept when its author is a member whose home is `source`.
    pub(super) fn on_gossip(&mut self, source: Option<PeerId>, data: &[u8]) {
        let Ok(sealed) = serde_json::from_slice::<Sealed>(data) else {
            return;
        };
        let Ok(Some(info)) = self.state.conf(&sealed.conf) else {
            return;
        };
        let Some(mut m) = sealed.open(&info) else {
            // Sealed with a newer key than ours: the conference changed and
            // its new state is on the way; ask the host again shortly.
            if sealed.epoch > info.epoch {
                self.resync
                    .insert(info.id.clone(), Instant::now() + Duration::from_secs(1));
            }
            return;
        };
        // Only the host numbers messages.
        m.seq = 0;
        if m.text.chars().count() > MAX_TEXT {
            return;
        }
        if !info.members.contains(&m.author) {
            return;
        }
        let home = self.state.known(&m.author).ok().flatten();
        if source.is_none() || home.is_none_or(|k| Some(k.peer) != source.map(|s| s.to_string())) {
            tracing::info!(author = %m.author, "a conference message not from its author's node");
            return;
        }
        let host = matches!(self.state.user(&info.host), Ok(Some(_)));
        let _ = self.conf_arrived(&info, &m, host);
    }
}
