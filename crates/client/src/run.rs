//! Carrying out slash commands, the same in every UI: [`Client::run`]
//! turns a parsed [`Command`] into actions, messages and changes to the
//! view. What only a UI can do (its help, a password prompt, the friends
//! box, quitting) comes back as [`Ran::Ui`].
//!
//! A new command: its parsing in [`crate::commands`], what it does here.

use confab_proto::{ConvId, ConvKind, Seq};

use crate::actions::Action;
use crate::cache::{Cache, Target};
use crate::commands::{Command, FriendOp};
use crate::core::{ActionError, Client, ConnState};
use crate::describe::list;
use crate::emoji;

/// What came of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// Done, or asked of the server (the answer comes as `Event::Done`).
    Done,
    /// Something to tell the user now.
    Info(String),
    /// For the UI to carry out: `Help`, `Exit`, `Passwd`, `Friends`.
    Ui(Command),
}

fn refused(e: ActionError) -> String {
    match e {
        ActionError::Offline => "not connected: try again once connected".into(),
        e => e.to_string(),
    }
}

impl<C: Cache> Client<C> {
    /// Carries out `cmd`; the error is one line for the user.
    pub fn run(&mut self, cmd: Command, now_ms: u64) -> Result<Ran, String> {
        let now = now_ms as i64;
        let ask = |c: &mut Self, action: Action| c.act(action).map(|()| Ran::Done).map_err(refused);
        match cmd {
            Command::Join(name) => match self.conv_named(ConvKind::Channel, &name) {
                Some(c) => {
                    let conv = c.conv;
                    self.open(Target::Conv(conv), now_ms);
                    Ok(Ran::Done)
                }
                None => ask(self, Action::Join(name)),
            },
            Command::Leave(name) => match name.or_else(|| self.open_channel()) {
                Some(name) => ask(self, Action::Leave(name)),
                None => match self.open_of(ConvKind::Group) {
                    Some(group) => ask(self, Action::GroupLeave(group)),
                    None => Err("/leave works in a channel, or name one: /leave #channel".into()),
                },
            },
            Command::Create {
                name,
                private,
                topic,
            } => ask(
                self,
                Action::CreateChannel {
                    name,
                    private,
                    topic,
                },
            ),
            Command::Invite { user, channel } => match channel.or_else(|| self.open_channel()) {
                Some(channel) => ask(self, Action::Invite { user, channel }),
                None => Err("/invite needs a channel here: /invite USER #channel".into()),
            },
            Command::List => ask(self, Action::ListChannels),
            Command::Users => ask(self, Action::Users),
            Command::Msg { user, text } => {
                if let Some(text) = text {
                    self.send(Target::User(user.clone()), &emoji::expand(&text), now)
                        .map_err(|e| format!("not sent: {e}"))?;
                }
                self.open_dm(&user, now_ms);
                Ok(Ran::Done)
            }
            Command::Invisible(on) => {
                let on = on.unwrap_or_else(|| !self.me().is_some_and(|u| u.invisible));
                ask(self, Action::SetInvisible(on))
            }
            Command::Whoami if *self.state() == ConnState::Online => ask(self, Action::Whoami),
            Command::Whoami => {
                let who = self
                    .me()
                    .map_or("nobody yet".to_owned(), |u| u.name.clone());
                Ok(Ran::Info(format!("you are {who} (offline)")))
            }
            Command::Clear => {
                self.clear_view();
                Ok(Ran::Info("cleared (only here: nothing was deleted)".into()))
            }
            Command::Logout => ask(self, Action::Logout),
            Command::Friend { op, user } => {
                let action = match op {
                    FriendOp::Add => Action::FriendRequest(user),
                    FriendOp::Accept => Action::FriendAccept(user),
                    FriendOp::Decline => Action::FriendDecline(user),
                    FriendOp::Cancel => Action::FriendCancel(user),
                    FriendOp::Remove => Action::FriendRemove(user),
                };
                ask(self, action)
            }
            Command::Block(user) => ask(self, Action::Block(user)),
            Command::Unblock(user) => ask(self, Action::Unblock(user)),
            Command::GroupNew { name, members } => ask(
                self,
                Action::CreateGroup {
                    name,
                    members,
                    owner_only_add: false,
                },
            ),
            Command::GroupAdd(users) => {
                let conv = self.open_group("/group add")?;
                ask(self, Action::GroupAdd { conv, users })
            }
            Command::GroupLeave => {
                let conv = self.open_group("/group leave")?;
                ask(self, Action::GroupLeave(conv))
            }
            Command::GroupRename(name) => {
                let conv = self.open_group("/group rename")?;
                ask(self, Action::GroupRename { conv, name })
            }
            Command::GroupOwnerAdds(owner_only) => {
                let conv = self.open_group("/group owner-adds")?;
                ask(self, Action::GroupAddPolicy { conv, owner_only })
            }
            Command::GroupInfo => {
                let conv = self.open_group("/group")?;
                Ok(Ran::Info(match self.group(conv) {
                    Some(g) => {
                        let who = if g.owner_only_add {
                            format!("only {} adds people", g.owner)
                        } else {
                            "every member adds people".into()
                        };
                        format!(
                            "“{}”: {} (owner {}; {who})",
                            g.name,
                            list(&g.members),
                            g.owner
                        )
                    }
                    None => "not known yet: try again once connected".into(),
                }))
            }
            Command::Me(action) => {
                let target = self.open_target()?;
                let text = format!("*{}*", emoji::expand(&action));
                self.send(target, &text, now)
                    .map_err(|e| format!("not sent: {e}"))?;
                Ok(Ran::Done)
            }
            Command::Topic(None) => {
                let conv = self
                    .open_of(ConvKind::Channel)
                    .ok_or("/topic works in a channel")?;
                let topic = self.conv(conv).map(|c| c.topic.clone()).unwrap_or_default();
                Ok(Ran::Info(if topic.is_empty() {
                    "no topic is set: /topic TEXT sets one".into()
                } else {
                    format!("topic: {topic}")
                }))
            }
            Command::Topic(Some(topic)) => {
                let conv = self
                    .open_of(ConvKind::Channel)
                    .ok_or("/topic works in a channel")?;
                ask(self, Action::SetTopic { conv, topic })
            }
            Command::React { seq, emoji: e } => {
                let conv = self.open_conv_or_err()?;
                let seq = match seq {
                    Some(s) => s,
                    None => self
                        .newest(conv, false)
                        .ok_or("there is no message to react to")?,
                };
                let expanded = emoji::expand(&e);
                if !emoji::is_one(&expanded) {
                    return Err(format!(
                        "/react: “{e}” is not an emoji (try 👍 or :thumbsup:)"
                    ));
                }
                self.react(conv, seq, &expanded, now)
                    .map(|_| Ran::Done)
                    .map_err(refused)
            }
            Command::Reply { seq, text } => {
                let conv = self.open_conv_or_err()?;
                self.reply(conv, seq, &emoji::expand(&text), now)
                    .map(|_| Ran::Done)
                    .map_err(|e| format!("not sent: {e}"))
            }
            Command::Edit { seq, text } => {
                let conv = self.open_conv_or_err()?;
                let seq = match seq {
                    Some(s) => s,
                    None => self
                        .newest(conv, true)
                        .ok_or("you have no message here to edit")?,
                };
                self.edit(conv, seq, &emoji::expand(&text), now)
                    .map(|_| Ran::Done)
                    .map_err(refused)
            }
            Command::Delete(seq) => {
                let conv = self.open_conv_or_err()?;
                let seq = match seq {
                    Some(s) => s,
                    None => self
                        .newest(conv, true)
                        .ok_or("you have no message here to delete")?,
                };
                self.delete(conv, seq, now)
                    .map(|_| Ran::Done)
                    .map_err(refused)
            }
            Command::Jump(seq) => {
                let conv = self.open_conv_or_err()?;
                self.jump_to(conv, seq, now_ms);
                Ok(Ran::Done)
            }
            Command::Search(query) => ask(self, Action::Search { query, conv: None }),
            Command::Mute(muted) => {
                let conv = self.open_conv_or_err()?;
                self.set_muted(conv, muted).map_err(|e| e.to_string())?;
                Ok(Ran::Info(if muted {
                    "muted: no notifications from here (/unmute to undo)".into()
                } else {
                    "unmuted".into()
                }))
            }
            Command::Save { seq, path } => {
                let conv = self.open_conv_or_err()?;
                let (file, offer) = self
                    .file_at(conv, seq)
                    .ok_or_else(|| format!("message {seq} here is not a file"))?;
                if let Some((_, accepted)) = offer
                    && accepted != Some(true)
                    && self
                        .me()
                        .is_some_and(|me| me.name != self.sender_of(conv, seq))
                {
                    return Err(format!("accept the offer first: /accept {seq}"));
                }
                self.download(&file, path.as_deref().unwrap_or(""))
                    .map(|_| Ran::Done)
                    .map_err(refused)
            }
            Command::Answer { seq, accept } => {
                let conv = self.open_conv_or_err()?;
                match self.file_at(conv, seq) {
                    Some((_, Some(_))) => {}
                    _ => return Err(format!("message {seq} here is not a file offer")),
                }
                self.answer(conv, seq, accept, now)
                    .map(|_| Ran::Done)
                    .map_err(refused)
            }
            cmd @ (Command::Help
            | Command::Exit
            | Command::Passwd
            | Command::Friends
            | Command::Live
            | Command::Upload { .. }
            | Command::Avatar(_)) => Ok(Ran::Ui(cmd)),
        }
    }

    /// The newest text message of `conv` in the cache (`mine`: the user's
    /// own), not deleted.
    pub fn newest(&self, conv: ConvId, mine: bool) -> Option<Seq> {
        let me = self.me().map(|u| u.name.clone()).unwrap_or_default();
        self.messages(conv, None, 200)
            .ok()?
            .into_iter()
            .rev()
            .find(|m| {
                matches!(m.body, confab_proto::Body::Text { .. }) && (!mine || m.sender == me)
            })
            .map(|m| m.seq)
    }

    /// The file of message `seq` in `conv`, and for an offer its expiry
    /// and answer (folded in from the answer entries).
    pub fn file_at(
        &self,
        conv: ConvId,
        seq: Seq,
    ) -> Option<(confab_proto::FileInfo, Option<crate::timeline::OfferState>)> {
        let around = self.messages(conv, Some(seq + 1), 1).ok()?;
        let m = around.into_iter().find(|m| m.seq == seq)?;
        match m.body {
            confab_proto::Body::File { file } => Some((file, None)),
            confab_proto::Body::Offer {
                file,
                expires,
                accepted,
            } => {
                let answered =
                    self.messages(conv, None, 500)
                        .ok()?
                        .into_iter()
                        .find_map(|a| match a.body {
                            confab_proto::Body::Answer { target, accept } if target == seq => {
                                Some(accept)
                            }
                            _ => None,
                        });
                Some((file, Some((expires, answered.or(accepted)))))
            }
            _ => None,
        }
    }

    fn sender_of(&self, conv: ConvId, seq: Seq) -> String {
        self.messages(conv, Some(seq + 1), 1)
            .ok()
            .and_then(|ms| ms.into_iter().find(|m| m.seq == seq))
            .map(|m| m.sender)
            .unwrap_or_default()
    }

    fn open_target(&self) -> Result<Target, String> {
        self.opened()
            .cloned()
            .ok_or_else(|| "you are in no conversation yet: /join #channel".into())
    }

    fn open_conv_or_err(&self) -> Result<ConvId, String> {
        self.opened_conv()
            .ok_or_else(|| "open a conversation with messages first".into())
    }

    /// The open conversation if it is of `kind`.
    fn open_of(&self, kind: ConvKind) -> Option<ConvId> {
        self.opened_conv()
            .filter(|c| self.conv(*c).is_some_and(|c| c.kind == kind))
    }

    /// The open channel's name, for commands that default to it.
    fn open_channel(&self) -> Option<String> {
        self.open_of(ConvKind::Channel)
            .and_then(|c| self.conv(c))
            .map(|c| c.name.clone())
    }

    fn open_group(&self, what: &str) -> Result<ConvId, String> {
        self.open_of(ConvKind::Group)
            .ok_or_else(|| format!("{what} works in a group: open one first"))
    }
}
