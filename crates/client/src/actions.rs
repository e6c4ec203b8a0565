//! Typed user actions and their outcomes.
//!
//! A UI calls [`Client::act`](crate::Client::act) with an [`Action`]; the
//! core sends the request, applies the answer to its own state (a joined
//! channel is added, a left group removed, a friend listed…) and reports
//! an [`Event::Done`](crate::Event::Done) with the action and its
//! [`Outcome`] (or the server's refusal). [`Outcome::sentence`] words the
//! result once for every UI; a UI only decides what to do next (open the
//! joined channel, close a dialog).
//!
//! A new action: a variant here, its request in [`Action::request`], its
//! outcome in [`Action::outcome`] (and what it changes in the core's state
//! in `core::apply_done`), its sentence.

use confab_proto::{
    ChannelInfo, ConvId, ErrorCode, FriendState, GroupInfo, IceServer, Request, SearchHit,
    ServerBody, StreamId, StreamInfo, UserInfo, WatchId,
};

use crate::describe::list;

/// Something a user asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Join a public channel (a visitor: watch it).
    Join(String),
    Leave(String),
    CreateChannel {
        name: String,
        private: bool,
        topic: Option<String>,
    },
    Invite {
        user: String,
        channel: String,
    },
    ListChannels,
    /// Who is online.
    Users,
    SetInvisible(bool),
    ChangePassword {
        old: String,
        new: String,
    },
    Whoami,
    /// Log out (offline: forget the session at once).
    Logout,
    FriendRequest(String),
    FriendAccept(String),
    FriendDecline(String),
    FriendCancel(String),
    FriendRemove(String),
    Block(String),
    Unblock(String),
    CreateGroup {
        name: String,
        members: Vec<String>,
        owner_only_add: bool,
    },
    GroupAdd {
        conv: ConvId,
        users: Vec<String>,
    },
    GroupLeave(ConvId),
    GroupRename {
        conv: ConvId,
        name: String,
    },
    /// Whether only the owner may add people.
    GroupAddPolicy {
        conv: ConvId,
        owner_only: bool,
    },
    /// Set a channel's topic ("" clears it).
    SetTopic {
        conv: ConvId,
        topic: String,
    },
    /// Search what the user may read (in one conversation, or all).
    Search {
        query: String,
        conv: Option<ConvId>,
    },
    /// Go live in a channel (the browser sends the video).
    StreamStart {
        conv: ConvId,
        title: String,
        /// At most this many viewers (`None`: the server's limit).
        max_viewers: Option<u32>,
    },
    StreamStop(StreamId),
    /// The live streams of a channel.
    Streams(ConvId),
    StreamWatch(StreamId),
    StreamUnwatch(StreamId),
    /// Fresh relay credentials for a stream you host or watch.
    StreamIce(StreamId),
    /// A WebRTC signalling message for the other end of a watch.
    Signal {
        stream: StreamId,
        watch: WatchId,
        data: serde_json::Value,
    },
    /// An `admin_*` request (admins only), as is.
    Admin(Box<Request>),
}

/// What came of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// In the channel now (joined or created).
    Joined(ChannelInfo),
    Left(String),
    Invited {
        user: String,
        channel: String,
    },
    Channels(Vec<ChannelInfo>),
    Users(Vec<String>),
    Invisible(bool),
    PasswordChanged,
    Whoami(UserInfo),
    LoggedOut,
    /// Where the user stands with `user` now.
    Friendship {
        user: String,
        state: FriendState,
    },
    /// A group was created or changed: as it is now.
    Group(GroupInfo),
    GroupAdded {
        conv: ConvId,
        users: Vec<String>,
    },
    GroupLeft(ConvId),
    TopicSet {
        conv: ConvId,
        topic: String,
    },
    /// Search results, newest first; `more`: there are older ones.
    Found {
        query: String,
        hits: Vec<SearchHit>,
        more: bool,
    },
    /// Live now, with the relay for it.
    Live {
        stream: StreamInfo,
        ice_servers: Vec<IceServer>,
    },
    /// Watching: `watch` names this watch in signals.
    Watching {
        stream: StreamInfo,
        watch: WatchId,
        ice_servers: Vec<IceServer>,
    },
    StreamStopped(StreamId),
    Unwatched(StreamId),
    /// A channel's live streams.
    Streams {
        conv: ConvId,
        streams: Vec<StreamInfo>,
    },
    Signalled,
    /// Fresh relay credentials for a stream.
    IceServers {
        stream: StreamId,
        ice_servers: Vec<IceServer>,
    },
    /// The answer to an [`Action::Admin`]: the reply's JSON (a
    /// `ServerBody`), for the admin tools to show.
    Admin(serde_json::Value),
}

/// The server's "no", or why the action could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `None` when the client did not send it (offline).
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl Action {
    /// The request that carries it.
    pub(crate) fn request(&self) -> Request {
        use Action::*;
        match self.clone() {
            Join(name) => Request::ChannelJoin { name },
            Leave(name) => Request::ChannelLeave { name },
            CreateChannel {
                name,
                private,
                topic,
            } => Request::ChannelCreate {
                name,
                private,
                topic,
            },
            Invite { user, channel } => Request::ChannelInvite {
                name: channel,
                user,
            },
            ListChannels => Request::ChannelList {},
            Users => Request::Users {},
            SetInvisible(invisible) => Request::SetStatus { invisible },
            ChangePassword { old, new } => Request::ChangePassword {
                old_password: old,
                new_password: new,
            },
            Whoami => Request::Whoami {},
            Logout => Request::Logout {},
            FriendRequest(user) => Request::FriendRequest { user },
            FriendAccept(user) => Request::FriendAccept { user },
            FriendDecline(user) => Request::FriendDecline { user },
            FriendCancel(user) => Request::FriendCancel { user },
            FriendRemove(user) => Request::FriendRemove { user },
            Block(user) => Request::Block { user },
            Unblock(user) => Request::Unblock { user },
            CreateGroup {
                name,
                members,
                owner_only_add,
            } => Request::GroupCreate {
                name,
                members,
                owner_only_add,
            },
            GroupAdd { conv, users } => Request::GroupAdd { conv, users },
            GroupLeave(conv) => Request::GroupLeave { conv },
            GroupRename { conv, name } => Request::GroupUpdate {
                conv,
                name: Some(name),
                owner_only_add: None,
            },
            GroupAddPolicy { conv, owner_only } => Request::GroupUpdate {
                conv,
                name: None,
                owner_only_add: Some(owner_only),
            },
            SetTopic { conv, topic } => Request::Topic { conv, topic },
            Search { query, conv } => Request::Search {
                query,
                conv,
                before: None,
                limit: None,
            },
            StreamStart {
                conv,
                title,
                max_viewers,
            } => Request::StreamStart {
                conv,
                title,
                max_viewers,
            },
            StreamStop(stream) => Request::StreamStop { stream },
            Streams(conv) => Request::Streams { conv },
            StreamWatch(stream) => Request::StreamWatch { stream },
            StreamUnwatch(stream) => Request::StreamUnwatch { stream },
            StreamIce(stream) => Request::StreamIce { stream },
            Signal {
                stream,
                watch,
                data,
            } => Request::Signal {
                stream,
                watch,
                data,
            },
            Admin(req) => *req,
        }
    }

    /// The outcome a successful reply means, or `None` if the reply does
    /// not fit the action.
    pub(crate) fn outcome(&self, body: ServerBody) -> Option<Outcome> {
        use Action::*;
        Some(match (self, body) {
            (Join(_) | CreateChannel { .. }, ServerBody::Channel { channel }) => {
                Outcome::Joined(channel)
            }
            (Leave(name), ServerBody::Ok {}) => Outcome::Left(name.clone()),
            (Invite { user, channel }, ServerBody::Ok {}) => Outcome::Invited {
                user: user.clone(),
                channel: channel.clone(),
            },
            (ListChannels, ServerBody::Channels { channels }) => Outcome::Channels(channels),
            (Users, ServerBody::Users { users }) => Outcome::Users(users),
            (SetInvisible(on), ServerBody::Ok {}) => Outcome::Invisible(*on),
            (ChangePassword { .. }, ServerBody::Token { .. }) => Outcome::PasswordChanged,
            (Whoami, ServerBody::User { user }) => Outcome::Whoami(user),
            (Logout, ServerBody::Ok {}) => Outcome::LoggedOut,
            (
                FriendRequest(_) | FriendAccept(_) | FriendDecline(_) | FriendCancel(_)
                | FriendRemove(_) | Block(_) | Unblock(_),
                ServerBody::Friendship { user, state },
            ) => Outcome::Friendship { user, state },
            (
                CreateGroup { .. } | GroupRename { .. } | GroupAddPolicy { .. },
                ServerBody::Group { group },
            ) => Outcome::Group(group),
            (GroupAdd { conv, users }, ServerBody::Ok {}) => Outcome::GroupAdded {
                conv: *conv,
                users: users.clone(),
            },
            (GroupLeave(conv), ServerBody::Ok {}) => Outcome::GroupLeft(*conv),
            (SetTopic { conv, topic }, ServerBody::Ok {}) => Outcome::TopicSet {
                conv: *conv,
                topic: topic.clone(),
            },
            (Search { query, .. }, ServerBody::SearchResults { hits, more }) => Outcome::Found {
                query: query.clone(),
                hits,
                more,
            },
            (
                StreamStart { .. },
                ServerBody::Stream {
                    stream,
                    ice_servers,
                },
            ) => Outcome::Live {
                stream,
                ice_servers,
            },
            (
                StreamWatch(_),
                ServerBody::Watching {
                    stream,
                    watch,
                    ice_servers,
                },
            ) => Outcome::Watching {
                stream,
                watch,
                ice_servers,
            },
            (StreamStop(id), ServerBody::Ok {}) => Outcome::StreamStopped(*id),
            (StreamUnwatch(id), ServerBody::Ok {}) => Outcome::Unwatched(*id),
            (Streams(conv), ServerBody::Streams { streams }) => Outcome::Streams {
                conv: *conv,
                streams,
            },
            (Signal { .. }, ServerBody::Ok {}) => Outcome::Signalled,
            (StreamIce(stream), ServerBody::IceServers { ice_servers }) => Outcome::IceServers {
                stream: *stream,
                ice_servers,
            },
            (Admin(_), body) => Outcome::Admin(serde_json::to_value(&body).ok()?),
            _ => return None,
        })
    }

    /// Whether a visitor may do this.
    pub(crate) fn for_visitors(&self) -> bool {
        matches!(
            self,
            Action::Join(_)
                | Action::Leave(_)
                | Action::ListChannels
                | Action::Users
                | Action::Whoami
                | Action::Streams(_)
                | Action::StreamWatch(_)
                | Action::StreamUnwatch(_)
                | Action::StreamIce(_)
                | Action::Signal { .. }
                | Action::Logout
                | Action::Search { .. }
        )
    }
}

impl Outcome {
    /// The result in one sentence, as every UI shows it.
    pub fn sentence(&self) -> String {
        match self {
            Outcome::Joined(c) => {
                let kind = if c.private { "private" } else { "public" };
                let topic = if c.topic.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.topic)
                };
                format!(
                    "You are in #{} ({kind}, {} member{}){topic}",
                    c.name,
                    c.members,
                    plural(c.members as usize)
                )
            }
            Outcome::Left(name) => format!("You left #{name}"),
            Outcome::Invited { user, channel } => {
                format!("{user} can now read and write in #{channel}")
            }
            Outcome::Channels(cs) if cs.is_empty() => {
                "No channels yet: create one with /create #name".into()
            }
            Outcome::Channels(cs) => {
                let names: Vec<String> = cs
                    .iter()
                    .map(|c| {
                        format!(
                            "#{}{} ({})",
                            c.name,
                            if c.joined { "*" } else { "" },
                            c.members
                        )
                    })
                    .collect();
                format!("Channels (* joined): {}", names.join("  "))
            }
            Outcome::Users(us) => format!("Online ({}): {}", us.len(), us.join(", ")),
            Outcome::Invisible(true) => "You are invisible: others see you offline".into(),
            Outcome::Invisible(false) => "You are visible again".into(),
            Outcome::PasswordChanged => {
                "Password changed; your other sessions were logged out".into()
            }
            Outcome::Whoami(u) => format!(
                "You are {} ({}{})",
                u.name,
                u.role.as_str(),
                if u.invisible { ", invisible" } else { "" }
            ),
            Outcome::LoggedOut => "You are logged out".into(),
            Outcome::Friendship { user, state } => match state {
                FriendState::Outgoing => format!("Asked {user} to be your friend"),
                FriendState::Friends => format!("You and {user} are friends"),
                FriendState::None => format!("You and {user} are not friends"),
                FriendState::Blocked => format!(
                    "You blocked {user}: they cannot write to you or ask you to be friends, and are not told"
                ),
                FriendState::Incoming => format!("{user} asked to be your friend"),
            },
            Outcome::Group(g) => format!(
                "“{}”: {}{}",
                g.name,
                list(&g.members),
                if g.owner_only_add {
                    format!(" (only {} adds people)", g.owner)
                } else {
                    String::new()
                }
            ),
            Outcome::GroupAdded { users, .. } => format!("Added {}", list(users)),
            Outcome::GroupLeft(_) => "You left the group".into(),
            Outcome::TopicSet { topic, .. } if topic.is_empty() => "Topic cleared".into(),
            Outcome::TopicSet { topic, .. } => format!("Topic set to “{topic}”"),
            Outcome::Found { query, hits, more } => format!(
                "{}{} for “{query}”",
                hits.len(),
                if *more {
                    "+ results"
                } else if hits.len() == 1 {
                    " result"
                } else {
                    " results"
                }
            ),
            Outcome::Live { stream, .. } => format!(
                "You are live: “{}” (up to {} viewers)",
                stream.title, stream.max_viewers
            ),
            Outcome::Watching { stream, .. } => {
                format!("Watching {}'s “{}”", stream.host, stream.title)
            }
            Outcome::StreamStopped(_) => "Your live stream ended".into(),
            Outcome::Unwatched(_) => "You stopped watching".into(),
            Outcome::Streams { streams, .. } if streams.is_empty() => "Nobody is live here".into(),
            Outcome::Streams { streams, .. } => streams
                .iter()
                .map(|s| format!("{} is live: “{}”", s.host, s.title))
                .collect::<Vec<_>>()
                .join("; "),
            Outcome::Signalled => "Sent".into(),
            Outcome::IceServers { .. } => "Relay credentials renewed".into(),
            Outcome::Admin(_) => "Done".into(),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_outcomes_and_outcomes_read_as_sentences() {
        let channel = ChannelInfo {
            conv: 1,
            name: "general".into(),
            private: false,
            topic: "all things".into(),
            owner: "ann".into(),
            members: 1,
            joined: true,
            last_seq: 0,
        };
        let done = Action::Join("general".into())
            .outcome(ServerBody::Channel {
                channel: channel.clone(),
            })
            .unwrap();
        assert_eq!(
            done.sentence(),
            "You are in #general (public, 1 member): all things"
        );
        assert_eq!(
            Action::Leave("x".into()).outcome(ServerBody::Users { users: vec![] }),
            None,
            "a reply that does not fit"
        );
        let f = Action::Block("eve".into())
            .outcome(ServerBody::Friendship {
                user: "eve".into(),
                state: FriendState::Blocked,
            })
            .unwrap();
        assert!(f.sentence().starts_with("You blocked eve"));
        assert_eq!(
            Action::GroupRename {
                conv: 4,
                name: "x".into()
            }
            .request(),
            Request::GroupUpdate {
                conv: 4,
                name: Some("x".into()),
                owner_only_add: None
            }
        );
    }
}
