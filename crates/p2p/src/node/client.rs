//! What the node's client listener brings to the event loop: what a user
//! logged in there did toward others, carried out as that user.

use super::*;

impl Node {
    /// The conference of the client listener's group `conv`.
    pub(super) fn group_conf(&self, conv: u64) -> Result<String> {
        self.state.group_conf(conv)?.with_context(
            || "this group was made with no one from another node in it, so it stays on this node",
        )
    }

    /// What `user` did at a client could not be carried out: said at the
    /// console and to their clients.
    pub(super) fn refused(&self, user: &str, e: &anyhow::Error) {
        say(&format!("error: {user} (client): {e:#}"));
        self.link
            .tell(user, &format!("not carried to the other nodes: {e:#}"));
    }

    /// Whether `name` is logged in here, at the console or a client.
    pub(super) fn is_here(&self, name: &str) -> bool {
        self.user.as_deref() == Some(name) || self.clients.contains(name)
    }

    /// Runs `cmd` as `user`, for the client listener.
    pub(super) fn as_user(&mut self, user: &str, cmd: Command) -> Result<()> {
        let console = self.user.replace(user.to_owned());
        self.bridged = true;
        let result = self.command(cmd);
        self.bridged = false;
        self.user = console;
        result
    }

    /// What a user of the client listener did toward others.
    pub(super) fn client_did(&mut self, out: Outgoing) {
        match out {
            Outgoing::Friend { from, to, state } => {
                let cmd = match (state, self.state.relation(&from, &to)) {
                    (FriendState::Outgoing | FriendState::Friends, _) => {
                        Some(Command::FriendAdd(to.clone()))
                    }
                    (FriendState::None, Ok(Some(Relation::Incoming))) => {
                        Some(Command::FriendDecline(to.clone()))
                    }
                    _ => None,
                };
                let result = match cmd {
                    Some(cmd) => self.as_user(&from, cmd),
                    // The node has no way to say it yet (ending a
                    // friendship): the client's view goes back.
                    None => Err(anyhow::anyhow!("not carried to {to}'s node")),
                };
                if let Err(e) = result {
                    self.refused(&from, &e);
                    self.link.recheck(&from, &to);
                }
            }
            Outgoing::Dm { from, to, text } => {
                if let Err(e) = self.as_user(
                    &from,
                    Command::Msg {
                        to: to.clone(),
                        text,
                    },
                ) {
                    self.refused(&from, &e.context(format!("to {to}")));
                }
            }
            Outgoing::Online { user, online } => {
                if matches!(self.state.user(&user), Ok(Some(_))) {
                    let was = self.is_here(&user);
                    if online {
                        self.clients.insert(user.clone());
                    } else {
                        self.clients.remove(&user);
                    }
                    if was != self.is_here(&user) {
                        self.announce(&user, online);
                    }
                }
            }
            Outgoing::GroupCreated {
                conv,
                by,
                name,
                members,
            } => {
                // Mapped before it exists, so that the mirror never makes a
                // second group of it.
                let id = new_id();
                // A conference's name is one word.
                let name = name.split_whitespace().collect::<Vec<_>>().join("-");
                let made = self.state.map_group(&id, conv).and_then(|()| {
                    self.conf_id = Some(id.clone());
                    self.as_user(&by, Command::ConfCreate { name, members })
                });
                self.conf_id = None;
                if let Err(e) = made {
                    // (Kept mapped if the conference exists after all.)
                    if !matches!(self.state.conf(&id), Ok(Some(_))) {
                        let _ = self.state.unmap_group(&id);
                    }
                    self.refused(&by, &e);
                }
            }
            Outgoing::GroupAdded { conv, by, users } => {
                for user in users {
                    let r = self
                        .group_conf(conv)
                        .and_then(|conf| self.as_user(&by, Command::ConfInvite { conf, user }));
                    if let Err(e) = r {
                        self.refused(&by, &e);
                    }
                }
            }
            Outgoing::GroupLeft { conv, user } => {
                let r = self
                    .group_conf(conv)
                    .and_then(|conf| self.as_user(&user, Command::ConfLeave(conf)));
                if let Err(e) = r {
                    self.refused(&user, &e);
                }
            }
            Outgoing::GroupPost { conv, from, text } => {
                let r = self
                    .group_conf(conv)
                    .and_then(|conf| self.as_user(&from, Command::ConfSend { conf, text }));
                if let Err(e) = r {
                    self.refused(&from, &e);
                }
            }
            Outgoing::Password { user, hash } => {
                if let Err(e) = self.state.set_hash(&user, &hash) {
                    self.refused(&user, &e);
                }
            }
            Outgoing::Lookup { name, reply } => {
                if check_name(&name).is_err() || matches!(self.state.user(&name), Ok(Some(_))) {
                    let _ = reply.send(false);
                } else {
                    self.lookup(&name, After::Resolve(reply));
                }
            }
            _ => {}
        }
    }
}
