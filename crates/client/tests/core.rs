//! The client core with no network: the test plays the server, frame by frame.

use confab_client::{
    Action, Auth, Cache, Client, ConnState, Event, Input, MemoryCache, Outcome, Output, Refusal,
    Target,
};
use confab_proto::{
    Body, ClientFrame, ConvKind, ConvSummary, ErrorCode, FriendState, Limits, Message, Request,
    Role, ServerBody, ServerFrame, SyncPos, SyncedConv, SystemEvent, UserInfo,
};

const GENERAL: u64 = 1;

struct Harness {
    client: Client<MemoryCache>,
    now: u64,
}

fn user(name: &str) -> UserInfo {
    UserInfo {
        name: name.into(),
        role: Role::Member,
        invisible: false,
    }
}

fn msg(conv: u64, seq: u64, sender: &str, text: &str) -> Message {
    Message {
        id: conv * 1000 + seq,
        conv,
        seq,
        sender: sender.into(),
        ts: 1_700_000_000_000 + seq as i64,
        nonce: None,
        body: confab_proto::Body::text(text),
    }
}

impl Harness {
    fn new(cache: MemoryCache) -> Harness {
        Harness {
            client: Client::new(cache, "test", 7).unwrap(),
            now: 1_000,
        }
    }

    /// Everything the client asks to send now (it must ask nothing else).
    fn frames(&mut self) -> Vec<ClientFrame> {
        std::iter::from_fn(|| match self.client.poll_output(self.now) {
            Some(Output::Send(f)) => Some(f),
            None => None,
            Some(other) => panic!("expected a frame, got {other:?}"),
        })
        .collect()
    }

    fn one(&mut self) -> ClientFrame {
        let f = self.frames();
        assert_eq!(f.len(), 1, "expected one frame, got {f:?}");
        f.into_iter().next().unwrap()
    }

    fn input(&mut self, frame: ServerFrame) {
        self.client.handle(Input::Frame(frame), self.now);
    }

    fn reply(&mut self, to: &ClientFrame, body: ServerBody) {
        self.input(ServerFrame::reply(to.id.expect("request has an id"), body));
    }

    fn error(&mut self, to: &ClientFrame, code: ErrorCode, message: &str) {
        self.input(ServerFrame::error(to.id, code, message));
    }

    fn event(&mut self, body: ServerBody) {
        self.input(ServerFrame::event(body));
    }

    fn disconnect(&mut self, why: &str) {
        self.client
            .handle(Input::Disconnected(why.into()), self.now);
    }

    /// Connects and answers `hello`; returns the login request that follows.
    fn greet(&mut self) -> ClientFrame {
        assert_eq!(self.client.poll_output(self.now), Some(Output::Connect));
        self.client
            .handle(Input::Connected { udp_secret: None }, self.now);
        let hello = self.one();
        assert!(
            matches!(hello.req, Request::Hello { protocol: 1, .. }),
            "{hello:?}"
        );
        self.reply(
            &hello,
            ServerBody::Hello {
                protocol: 1,
                server: "test".into(),
                limits: Limits::default(),
                heartbeat_ms: 15_000,
                udp_port: None,
                files: Some(confab_proto::FilesInfo {
                    port: 8443,
                    https: true,
                    max_bytes: 1_000_000,
                    quota_bytes: None,
                }),
            },
        );
        self.one()
    }

    /// Connects again with the token it has, and answers hello and the
    /// login (no new token).
    fn resume(&mut self, name: &str, convs: Vec<ConvSummary>) {
        let login = self.greet();
        self.reply(
            &login,
            ServerBody::Session {
                user: user(name),
                token: None,
                convs,
                streams: Vec::new(),
            },
        );
    }

    /// Connects and answers hello and the login; returns the frames the
    /// client sends once logged in (the sync, then the outbox), after
    /// answering what a login also asks (friends, the open conversation's
    /// members) with empty lists.
    fn log_in(&mut self, name: &str, convs: Vec<ConvSummary>) -> Vec<ClientFrame> {
        let login = self.greet();
        self.reply(
            &login,
            ServerBody::Session {
                user: user(name),
                token: Some(format!("token-of-{name}")),
                convs,
                streams: Vec::new(),
            },
        );
        assert_eq!(self.client.state(), &ConnState::Online);
        self.answer_side_requests()
    }

    /// Answers `friends`, `members` and `streams` with empty lists;
    /// returns the rest.
    fn answer_side_requests(&mut self) -> Vec<ClientFrame> {
        let mut rest = Vec::new();
        for f in self.frames() {
            match &f.req {
                Request::Friends {} => self.reply(
                    &f,
                    ServerBody::Friends {
                        friends: vec![],
                        incoming: vec![],
                        outgoing: vec![],
                        blocked: vec![],
                    },
                ),
                Request::Members { conv } => self.reply(
                    &f,
                    ServerBody::Members {
                        conv: *conv,
                        members: vec![],
                    },
                ),
                Request::Streams { .. } => self.reply(&f, ServerBody::Streams { streams: vec![] }),
                _ => rest.push(f),
            }
        }
        rest
    }

    fn cached_seqs(&self, conv: u64) -> Vec<u64> {
        self.client
            .messages(conv, None, usize::MAX)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect()
    }

    fn done(&mut self) -> Vec<(Action, Result<Outcome, Refusal>)> {
        self.client
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Done { action, result } => Some((action, result)),
                _ => None,
            })
            .collect()
    }
}

fn general(last_seq: u64) -> ConvSummary {
    ConvSummary {
        conv: GENERAL,
        kind: ConvKind::Channel,
        name: "general".into(),
        last_seq,
        from_seq: 0,
        read: 0,
        topic: String::new(),
    }
}

fn sync_since(f: &ClientFrame) -> Vec<SyncPos> {
    match &f.req {
        Request::Sync { since, .. } => since.clone(),
        other => panic!("expected sync, got {other:?}"),
    }
}

fn synced(conv: u64, messages: Vec<Message>) -> ServerBody {
    ServerBody::Synced {
        convs: vec![SyncedConv {
            conv,
            kind: ConvKind::Channel,
            name: "general".into(),
            messages,
            more: false,
            from_seq: 0,
            read: 0,
            topic: String::new(),
        }],
    }
}

#[test]
fn logs_in_keeps_the_token_and_syncs_the_newest_page_of_a_new_channel() {
    let mut h = Harness::new(MemoryCache::default());
    assert_eq!(h.client.poll_output(h.now), None, "no way to log in yet");
    h.client.set_auth(
        Auth::Login {
            username: "ann".into(),
            password: "secret-pass".into(),
        },
        h.now,
    );
    let after = h.log_in("ann", vec![general(120)]);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        sync_since(&after[0]),
        vec![SyncPos {
            conv: GENERAL,
            seq: 70
        }],
        "a channel met for the first time starts 50 messages back"
    );
    assert_eq!(
        h.client.cache().get("token").unwrap().as_deref(),
        Some("token-of-ann")
    );
    let events = h.client.take_events();
    assert!(events.contains(&Event::LoggedIn(user("ann"))), "{events:?}");

    // A restart resumes with the stored token.
    let mut again = Harness::new(h.client.cache().clone());
    assert_eq!(
        again.greet().req,
        Request::Resume {
            token: "token-of-ann".into()
        }
    );
}

#[test]
fn messages_written_offline_survive_a_restart_and_are_sent_in_order_once_acknowledged() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    h.log_in("ann", vec![general(0)]);
    h.disconnect("server went away");
    h.frames();

    let nonces: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|t| h.client.send(Target::Conv(GENERAL), t, 5).unwrap())
        .collect();
    assert!(h.frames().is_empty(), "nothing is written while offline");
    assert_eq!(h.client.pending_in(GENERAL).len(), 3);
    let distinct: std::collections::HashSet<_> = nonces.iter().collect();
    assert_eq!(distinct.len(), 3, "every message has its own nonce");

    // Quit and start again: the outbox is in the cache.
    let mut h = Harness::new(h.client.cache().clone());
    let texts: Vec<&str> = h.client.outbox().iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let after = h.log_in("ann", vec![general(0)]);
    assert_eq!(after.len(), 4, "sync then the three sends: {after:?}");
    let sends: Vec<(String, Option<String>)> = after[1..]
        .iter()
        .map(|f| match &f.req {
            Request::Send {
                conv: GENERAL,
                text,
                nonce,
                ..
            } => (text.clone(), nonce.clone()),
            other => panic!("expected send, got {other:?}"),
        })
        .collect();
    assert_eq!(
        sends,
        vec![
            ("one".to_string(), Some(nonces[0].clone())),
            ("two".to_string(), Some(nonces[1].clone())),
            ("three".to_string(), Some(nonces[2].clone())),
        ]
    );

    // The first is acknowledged, then the connection drops: the other two
    // are sent again, with the same nonces.
    let mut m1 = msg(GENERAL, 1, "ann", "one");
    m1.nonce = Some(nonces[0].clone());
    h.reply(
        &after[1],
        ServerBody::Sent {
            message: m1,
            duplicate: false,
        },
    );
    assert_eq!(h.client.pending_in(GENERAL).len(), 2);
    h.disconnect("drop");
    h.now += 60_000;
    let after = h.log_in("ann", vec![general(2)]);
    let resent: Vec<Option<String>> = after[1..]
        .iter()
        .map(|f| match &f.req {
            Request::Send { nonce, .. } => nonce.clone(),
            other => panic!("expected send, got {other:?}"),
        })
        .collect();
    assert_eq!(
        resent,
        vec![Some(nonces[1].clone()), Some(nonces[2].clone())]
    );
    // The server had stored "two" before the drop: it says so, and the
    // sync returns it too. The cache holds it once.
    h.reply(
        &after[0],
        synced(GENERAL, vec![msg(GENERAL, 2, "ann", "two")]),
    );
    h.reply(
        &after[1],
        ServerBody::Sent {
            message: msg(GENERAL, 2, "ann", "two"),
            duplicate: true,
        },
    );
    h.reply(
        &after[2],
        ServerBody::Sent {
            message: msg(GENERAL, 3, "ann", "three"),
            duplicate: false,
        },
    );
    assert!(h.client.outbox().is_empty());
    assert!(h.client.cache().outbox().unwrap().is_empty());
    assert_eq!(h.cached_seqs(GENERAL), vec![1, 2, 3]);
    assert_eq!(h.client.conv(GENERAL).unwrap().synced, 3);
}

#[test]
fn a_gap_or_a_lagged_event_syncs_from_the_last_contiguous_message() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![general(2)]);
    h.reply(
        &after[0],
        synced(
            GENERAL,
            vec![msg(GENERAL, 1, "bob", "a"), msg(GENERAL, 2, "bob", "b")],
        ),
    );
    h.event(ServerBody::Message {
        message: msg(GENERAL, 3, "bob", "c"),
    });
    assert!(h.frames().is_empty(), "in order: nothing to ask");
    assert_eq!(h.client.conv(GENERAL).unwrap().synced, 3);

    // 4 and 5 were dropped somewhere; 6 arrives.
    h.event(ServerBody::Message {
        message: msg(GENERAL, 6, "bob", "f"),
    });
    let sync = h.one();
    assert_eq!(
        sync_since(&sync),
        vec![SyncPos {
            conv: GENERAL,
            seq: 3
        }]
    );
    assert_eq!(
        h.client.conv(GENERAL).unwrap().synced,
        3,
        "not past the gap"
    );
    // 7 arrives while the sync is out: no second sync yet, one is queued.
    h.event(ServerBody::Message {
        message: msg(GENERAL, 7, "bob", "g"),
    });
    assert!(h.frames().is_empty());
    h.reply(
        &sync,
        synced(
            GENERAL,
            vec![
                msg(GENERAL, 4, "bob", "d"),
                msg(GENERAL, 5, "bob", "e"),
                msg(GENERAL, 6, "bob", "f"),
                msg(GENERAL, 7, "bob", "g"),
            ],
        ),
    );
    assert_eq!(h.cached_seqs(GENERAL), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(h.client.conv(GENERAL).unwrap().synced, 7);
    let again = h.one();
    assert_eq!(
        sync_since(&again),
        vec![SyncPos {
            conv: GENERAL,
            seq: 7
        }]
    );
    h.reply(&again, synced(GENERAL, vec![]));
    assert_eq!(h.client.conv(GENERAL).unwrap().unread, 7);

    h.event(ServerBody::Lagged {});
    assert_eq!(
        sync_since(&h.one()),
        vec![SyncPos {
            conv: GENERAL,
            seq: 7
        }]
    );
}

#[test]
fn a_dm_from_someone_new_is_learned_by_sync() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![]);
    h.reply(&after[0], ServerBody::Synced { convs: vec![] });
    h.event(ServerBody::Message {
        message: msg(9, 1, "bob", "hi ann"),
    });
    let sync = h.one();
    assert_eq!(
        sync_since(&sync),
        vec![],
        "an unknown conversation syncs from 0"
    );
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 9,
                kind: ConvKind::Dm,
                name: "bob".into(),
                messages: vec![msg(9, 1, "bob", "hi ann")],
                more: false,
                from_seq: 0,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    let dm = h
        .client
        .conv_named(ConvKind::Dm, "bob")
        .expect("the DM is listed");
    assert_eq!((dm.conv, dm.synced, dm.unread), (9, 1, 1));
    assert_eq!(h.cached_seqs(9), vec![1]);

    // A reply to bob written offline shows as pending in that DM.
    h.disconnect("");
    h.client
        .send(Target::User("bob".into()), "hello bob", 6)
        .unwrap();
    assert_eq!(h.client.pending_in(9).len(), 1);
}

#[test]
fn refused_sends_are_reported_and_dropped_but_server_trouble_keeps_them() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    h.log_in("ann", vec![general(0)]);
    h.client
        .send(Target::Conv(GENERAL), "to a channel I was removed from", 5)
        .unwrap();
    h.client
        .send(Target::Conv(GENERAL), "while the server stops", 5)
        .unwrap();
    let f = h.frames();
    h.error(&f[0], ErrorCode::NotMember, "you are not in that channel");
    h.error(&f[1], ErrorCode::ShuttingDown, "bye");
    let left: Vec<&str> = h.client.outbox().iter().map(|p| p.text.as_str()).collect();
    assert_eq!(left, ["while the server stops"]);
    let failed: Vec<String> = h
        .client
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SendFailed { pending, message } => Some(format!("{}: {message}", pending.text)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        ["to a channel I was removed from: you are not in that channel"]
    );

    assert_eq!(
        h.client.send(Target::Conv(GENERAL), "   ", 5),
        Err(confab_client::ActionError::Empty)
    );
    let long = "x".repeat(4001);
    assert!(matches!(
        h.client.send(Target::Conv(GENERAL), &long, 5),
        Err(confab_client::ActionError::TooLong(4001, 4000))
    ));
}

#[test]
fn a_revoked_token_asks_for_a_login_instead_of_retrying() {
    let mut cache = MemoryCache::default();
    cache.set("token", Some("old")).unwrap();
    let mut h = Harness::new(cache);
    assert!(h.client.has_auth());
    let resume = h.greet();
    h.error(&resume, ErrorCode::BadToken, "token revoked");
    assert_eq!(h.client.state(), &ConnState::Offline { retry_at_ms: None });
    assert_eq!(
        h.client.poll_output(h.now),
        Some(Output::Close(String::new())),
        "the driver is told to close"
    );
    h.disconnect("");
    assert_eq!(
        h.client.poll_output(h.now + 3_600_000),
        None,
        "and not to retry"
    );
    assert_eq!(h.client.cache().get("token").unwrap(), None);
    assert!(h.client.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            code: ErrorCode::BadToken,
            ..
        }
    )));
}

#[test]
fn a_server_shutting_down_during_login_keeps_the_token_and_retries() {
    let mut cache = MemoryCache::default();
    cache.set("token", Some("good")).unwrap();
    let mut h = Harness::new(cache);
    let resume = h.greet();
    h.error(
        &resume,
        ErrorCode::ShuttingDown,
        "the server is shutting down",
    );
    let Some(Output::Close(why)) = h.client.poll_output(h.now) else {
        panic!("the driver is told to close")
    };
    assert!(why.contains("shutting down"), "{why}");
    h.disconnect(&why);
    assert!(matches!(
        h.client.state(),
        ConnState::Offline {
            retry_at_ms: Some(_)
        }
    ));
    assert_eq!(
        h.client.cache().get("token").unwrap().as_deref(),
        Some("good")
    );
    assert!(h.client.has_auth());
}

#[test]
fn reconnects_with_backoff_and_drops_a_silent_server() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    h.log_in("ann", vec![]);
    h.frames();

    h.event(ServerBody::Ping {});
    assert_eq!(h.one().req, Request::Pong {});
    let start = h.now;
    h.now = start + 14_000;
    assert!(h.frames().is_empty());
    assert_eq!(h.client.poll_timeout(), Some(start + 15_000));
    h.now = start + 16_000;
    assert!(
        matches!(h.one().req, Request::Ping {}),
        "a quiet server is pinged"
    );
    h.now = start + 45_000;
    assert_eq!(
        h.client.poll_output(h.now),
        Some(Output::Close("the server stopped answering".into())),
        "three heartbeats of silence: give up"
    );

    let t = h.now;
    h.disconnect("");
    let ConnState::Offline {
        retry_at_ms: Some(first),
    } = *h.client.state()
    else {
        panic!("offline with a retry time: {:?}", h.client.state());
    };
    assert!((t + 250..=t + 500).contains(&first), "{first}");
    assert_eq!(h.client.poll_output(first - 1), None);
    assert_eq!(h.client.poll_output(first), Some(Output::Connect));
    h.now = first;
    h.disconnect("refused");
    let ConnState::Offline {
        retry_at_ms: Some(second),
    } = *h.client.state()
    else {
        panic!()
    };
    assert!((first + 500..=first + 1000).contains(&second), "{second}");
}

#[test]
fn actions_update_the_conversation_list_and_come_back_as_outcomes() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![]);
    h.reply(&after[0], ServerBody::Synced { convs: vec![] });
    h.client.act(Action::Join("rust".into())).unwrap();
    let join = h.one();
    assert_eq!(
        join.req,
        Request::ChannelJoin {
            name: "rust".into()
        }
    );
    let channel = confab_proto::ChannelInfo {
        conv: 4,
        name: "rust".into(),
        private: false,
        topic: String::new(),
        owner: "bob".into(),
        members: 2,
        joined: true,
        last_seq: 10,
    };
    h.reply(
        &join,
        ServerBody::Channel {
            channel: channel.clone(),
        },
    );
    assert_eq!(
        h.client.conv_named(ConvKind::Channel, "rust").unwrap().conv,
        4
    );
    assert_eq!(
        h.client.opened(),
        Some(&Target::Conv(4)),
        "the joined channel opens"
    );
    let asked = h.answer_side_requests();
    assert_eq!(sync_since(&asked[0]), vec![SyncPos { conv: 4, seq: 0 }]);
    let done = h.done();
    assert_eq!(
        done,
        [(Action::Join("rust".into()), Ok(Outcome::Joined(channel)))]
    );
    assert_eq!(
        done[0].1.as_ref().unwrap().sentence(),
        "You are in #rust (public, 2 members)"
    );

    h.client.act(Action::Leave("rust".into())).unwrap();
    let leave = h.one();
    h.reply(&leave, ServerBody::Ok {});
    assert!(h.client.convs().is_empty());
    assert_eq!(h.client.opened(), None);
    assert_eq!(
        h.done(),
        [(
            Action::Leave("rust".into()),
            Ok(Outcome::Left("rust".into()))
        )]
    );

    // A refusal comes back as the outcome of the action that caused it.
    h.client.act(Action::Join("nope".into())).unwrap();
    let join = h.one();
    h.error(&join, ErrorCode::NotFound, "no channel named `nope`");
    assert_eq!(
        h.done(),
        [(
            Action::Join("nope".into()),
            Err(Refusal {
                code: Some(ErrorCode::NotFound),
                message: "no channel named `nope`".into()
            })
        )]
    );

    // Offline, actions are refused at once, except logging out, which
    // forgets the session there and then.
    h.disconnect("gone");
    assert_eq!(
        h.client.act(Action::Users),
        Err(confab_client::ActionError::Offline)
    );
    h.client.act(Action::Logout).unwrap();
    assert_eq!(h.done(), [(Action::Logout, Ok(Outcome::LoggedOut))]);
    assert!(!h.client.has_auth());
    assert_eq!(h.client.cache().get("token").unwrap(), None);
}

#[test]
fn scrollback_asks_for_the_page_before_the_oldest_cached_message() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![general(120)]);
    let page: Vec<Message> = (71..=120).map(|s| msg(GENERAL, s, "bob", "x")).collect();
    h.reply(&after[0], synced(GENERAL, page));
    h.client.fetch_older(GENERAL).unwrap();
    let older = h.one();
    assert!(
        matches!(
            older.req,
            Request::History {
                conv: GENERAL,
                before: Some(71),
                after: None,
                ..
            }
        ),
        "{older:?}"
    );
    h.client.fetch_older(GENERAL).unwrap();
    assert!(h.frames().is_empty(), "one scrollback request at a time");
    let earlier: Vec<Message> = (21..=70).map(|s| msg(GENERAL, s, "bob", "x")).collect();
    h.reply(
        &older,
        ServerBody::Messages {
            conv: GENERAL,
            messages: earlier,
            more: true,
        },
    );
    assert_eq!(h.cached_seqs(GENERAL).first(), Some(&21));
    assert!(h.client.take_events().contains(&Event::Older(GENERAL)));
}

/// A harness logged in as ann with #general (conv 1) synced up to `n`.
fn online_in_general(n: u64) -> Harness {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![general(n)]);
    let msgs: Vec<Message> = (1..=n).map(|s| msg(GENERAL, s, "bob", "x")).collect();
    h.reply(&after[0], synced(GENERAL, msgs));
    h.client.take_events();
    h
}

#[test]
fn typing_shows_until_it_expires_or_the_typist_writes() {
    let mut h = online_in_general(1);
    h.event(ServerBody::Typing {
        conv: GENERAL,
        user: "bob".into(),
    });
    assert_eq!(h.client.typing_in(GENERAL, h.now), ["bob"]);
    assert!(h.client.take_events().contains(&Event::Typing(GENERAL)));
    // The core wakes the driver when it runs out, so that the UI redraws.
    assert_eq!(h.client.poll_timeout(), Some(h.now + 6_000));
    h.now += 6_001;
    assert!(h.frames().is_empty());
    assert!(h.client.typing_in(GENERAL, h.now).is_empty());
    assert!(h.client.take_events().contains(&Event::Typing(GENERAL)));

    // Bob types, then his message arrives: he is no longer typing.
    h.event(ServerBody::Typing {
        conv: GENERAL,
        user: "bob".into(),
    });
    h.event(ServerBody::Message {
        message: msg(GENERAL, 2, "bob", "done"),
    });
    assert!(h.client.typing_in(GENERAL, h.now).is_empty());

    // Ann types: the others are told, at most every 3 seconds.
    h.client.open(Target::Conv(GENERAL), h.now);
    h.client.typed(h.now);
    let sent: Vec<Request> = h.frames().into_iter().map(|f| f.req).collect();
    assert!(
        sent.contains(&Request::Typing { conv: GENERAL }),
        "{sent:?}"
    );
    h.client.typed(h.now + 1_000);
    assert!(h.frames().is_empty());
    h.client.typed(h.now + 3_000);
    assert_eq!(h.one().req, Request::Typing { conv: GENERAL });
}

#[test]
fn drafts_stay_with_their_conversation_and_come_back_when_refused() {
    let mut h = online_in_general(0);
    h.event(ServerBody::GroupAdded {
        group: confab_proto::GroupInfo {
            conv: 7,
            name: "Trip".into(),
            owner: "bob".into(),
            owner_only_add: false,
            members: vec!["ann".into(), "bob".into()],
            last_seq: 0,
        },
        by: "bob".into(),
        from_seq: 0,
    });
    h.answer_side_requests();
    h.client.open(Target::Conv(GENERAL), h.now);
    h.client.set_draft("half a thought");
    h.client.open(Target::Conv(7), h.now);
    h.answer_side_requests();
    assert_eq!(h.client.open_draft(), "", "the draft stays in #general");
    h.client.set_draft("for the trip");
    h.client.open(Target::Conv(GENERAL), h.now);
    assert_eq!(h.client.open_draft(), "half a thought");

    // Too long: not sent, and the draft is kept.
    let long = "é".repeat(4001);
    h.client.set_draft(&long);
    assert!(matches!(
        h.client.send_draft(h.now),
        Err(confab_client::ActionError::TooLong(4001, 4000))
    ));
    assert_eq!(h.client.open_draft(), long);

    // Sent: cleared, with its shortcodes made emoji.
    h.client.set_draft("ship it :tada:");
    h.client.send_draft(h.now).unwrap();
    assert_eq!(h.client.open_draft(), "");
    let send = h.one();
    assert!(
        matches!(&send.req, Request::Send { text, .. } if text == "ship it 🎉"),
        "{send:?}"
    );
    // Refused by the server: back in the (empty) draft, and reported.
    h.error(&send, ErrorCode::TooLong, "`text` is too long");
    assert_eq!(h.client.open_draft(), "ship it 🎉");
    assert!(h.client.take_events().iter().any(
        |e| matches!(e, Event::SendFailed { message, .. } if message == "`text` is too long")
    ));

    // Drafts survive a restart of the client.
    h.client.save_drafts();
    let mut again = Harness::new(h.client.cache().clone());
    again.client.open(Target::Conv(7), again.now);
    assert_eq!(again.client.open_draft(), "for the trip");
}

#[test]
fn a_new_direct_conversation_becomes_real_with_its_draft() {
    let mut h = online_in_general(0);
    h.client.open_dm("bob", h.now);
    assert_eq!(h.client.opened(), Some(&Target::User("bob".into())));
    h.client.set_draft("hello bob");
    h.client.send_draft(h.now).unwrap();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    let shown = h.client.timeline(offset);
    assert!(
        matches!(&shown.items[..], [_, confab_client::timeline::Item::Group { lines, .. }] if lines[0].pending),
        "{shown:?}"
    );
    let send = h.one();
    let mut m = msg(9, 1, "ann", "hello bob");
    if let Request::DmSend { nonce, .. } = &send.req {
        m.nonce = nonce.clone();
    }
    h.reply(
        &send,
        ServerBody::Sent {
            message: m.clone(),
            duplicate: false,
        },
    );
    // The unknown conversation is learned by a sync; the view moves to it.
    let sync = h.one();
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 9,
                kind: ConvKind::Dm,
                name: "bob".into(),
                messages: vec![m],
                more: false,
                from_seq: 0,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    assert_eq!(h.client.opened(), Some(&Target::Conv(9)));
    assert!(h.client.take_events().contains(&Event::Opened));
    // Its members are asked for: the DM partner's presence shows.
    let members = h.one();
    assert_eq!(members.req, Request::Members { conv: 9 });
    let both = |online| {
        vec![
            confab_proto::MemberInfo {
                name: "ann".into(),
                role: Role::Member,
                online: true,
            },
            confab_proto::MemberInfo {
                name: "bob".into(),
                role: Role::Member,
                online,
            },
        ]
    };
    h.reply(
        &members,
        ServerBody::Members {
            conv: 9,
            members: both(true),
        },
    );
    assert_eq!(h.client.members(9).unwrap(), both(true));
    h.event(ServerBody::Presence {
        user: "bob".into(),
        online: false,
    });
    assert_eq!(h.client.members(9).unwrap(), both(false));
}

#[test]
fn friends_are_fetched_after_login_and_kept_current() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    h.resume("ann", vec![]);
    let frames = h.frames();
    let friends = frames
        .iter()
        .find(|f| f.req == Request::Friends {})
        .expect("friends are asked for");
    h.reply(
        friends,
        ServerBody::Friends {
            friends: vec![confab_proto::FriendInfo {
                name: "bob".into(),
                online: true,
            }],
            incoming: vec!["cat".into()],
            outgoing: vec![],
            blocked: vec![],
        },
    );
    assert_eq!(h.client.friends().incoming, ["cat"]);
    h.event(ServerBody::FriendUpdate {
        user: "dan".into(),
        state: FriendState::Incoming,
        online: false,
    });
    assert_eq!(h.client.friends().incoming, ["cat", "dan"]);
    assert!(
        h.client
            .take_events()
            .contains(&Event::Notice("dan asks to be your friend".into()))
    );
    h.event(ServerBody::Presence {
        user: "bob".into(),
        online: false,
    });
    assert!(!h.client.friends().friends[0].online);

    h.client.act(Action::FriendAccept("cat".into())).unwrap();
    let accept = h.one();
    h.reply(
        &accept,
        ServerBody::Friendship {
            user: "cat".into(),
            state: FriendState::Friends,
        },
    );
    assert_eq!(h.client.friends().state("cat"), FriendState::Friends);
    assert_eq!(h.client.friends().incoming, ["dan"]);
    // Kept for offline use.
    let again = Harness::new(h.client.cache().clone());
    assert_eq!(again.client.friends().state("cat"), FriendState::Friends);
}

#[test]
fn a_groups_log_entries_change_the_group_here() {
    let mut h = online_in_general(0);
    let info = confab_proto::GroupInfo {
        conv: 7,
        name: "Trip".into(),
        owner: "bob".into(),
        owner_only_add: false,
        members: vec!["ann".into(), "bob".into()],
        last_seq: 1,
    };
    h.event(ServerBody::GroupAdded {
        group: info.clone(),
        by: "bob".into(),
        from_seq: 0,
    });
    assert_eq!(h.client.conv(7).unwrap().kind, ConvKind::Group);
    assert_eq!(h.client.group(7), Some(&info));
    assert!(
        h.client
            .take_events()
            .contains(&Event::Notice("bob added you to “Trip”".into()))
    );
    let sync = h.one();
    let system = |seq, sender: &str, e| Message {
        body: Body::System(e),
        ..msg(7, seq, sender, "")
    };
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 7,
                kind: ConvKind::Group,
                name: "Trip".into(),
                messages: vec![
                    system(
                        1,
                        "bob",
                        SystemEvent::Created {
                            name: "Trip".into(),
                            members: vec!["ann".into()],
                        },
                    ),
                    msg(7, 2, "bob", "hi"),
                    Message {
                        body: Body::Withheld,
                        ..msg(7, 3, "eve", "")
                    },
                    Message {
                        body: Body::Unknown {
                            kind: "poll".into(),
                            fields: Default::default(),
                        },
                        ..msg(7, 4, "bob", "")
                    },
                    system(
                        5,
                        "bob",
                        SystemEvent::Renamed {
                            name: "Lyon".into(),
                        },
                    ),
                    system(
                        6,
                        "bob",
                        SystemEvent::Added {
                            users: vec!["cat".into()],
                        },
                    ),
                ],
                more: false,
                from_seq: 0,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    let c = h.client.conv(7).unwrap();
    assert_eq!((c.name.as_str(), c.synced), ("Lyon", 6));
    assert_eq!(
        c.unread, 2,
        "the text and the unknown kind; not events, not withheld"
    );
    let g = h.client.group(7).unwrap();
    assert_eq!((g.name.as_str(), g.members.len()), ("Lyon", 3));

    // The timeline shows the events as rows and the unknown kind as a
    // placeholder, and nothing of the withheld entry.
    h.client.open(Target::Conv(7), h.now);
    h.answer_side_requests();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    let rows: Vec<String> = h
        .client
        .timeline(offset)
        .items
        .iter()
        .filter_map(|i| match i {
            confab_client::timeline::Item::Event { text, .. } => Some(text.clone()),
            confab_client::timeline::Item::Group { sender, lines, .. } => {
                Some(format!("{sender}: {}", lines[0].text))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        [
            "bob created “Trip” with ann",
            "bob: hi",
            "bob sent a “poll” message, which this version of Confab cannot show",
            "bob renamed the group to “Lyon”",
            "bob added cat",
        ]
    );

    // Leaving from another device: the group goes from this one too.
    h.event(ServerBody::Message {
        message: system(7, "ann", SystemEvent::Left { owner: None }),
    });
    assert!(h.client.conv(7).is_none());
    assert_eq!(h.client.opened(), Some(&Target::Conv(GENERAL)));
}

#[test]
fn scrolling_back_reads_the_cache_then_the_server_then_stops_at_the_beginning() {
    let mut h = online_in_general(150);
    h.client.open(Target::Conv(GENERAL), h.now);
    h.answer_side_requests();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    // The sync fetched 101..=150 (a channel met for the first time).
    assert_eq!(h.cached_seqs(GENERAL).first(), Some(&1));
    assert_eq!(h.client.timeline(offset).loaded, 100);
    assert!(!h.client.timeline(offset).at_beginning);
    h.client.scroll_back();
    assert!(h.frames().is_empty(), "the cache has more");
    assert_eq!(h.client.timeline(offset).loaded, 150);
    assert!(h.client.timeline(offset).at_beginning);
}

#[test]
fn someone_added_to_a_group_late_syncs_from_where_their_view_starts_and_no_earlier() {
    let mut h = online_in_general(0);
    // Bob's group has 119 entries; the 120th adds ann.
    h.event(ServerBody::GroupAdded {
        group: confab_proto::GroupInfo {
            conv: 7,
            name: "Trip".into(),
            owner: "bob".into(),
            owner_only_add: false,
            members: vec!["ann".into(), "bob".into()],
            last_seq: 120,
        },
        by: "bob".into(),
        from_seq: 119,
    });
    let sync = h.one();
    let pos = sync_since(&sync).into_iter().find(|p| p.conv == 7);
    assert_eq!(pos.map(|p| p.seq), Some(119), "nothing before 120 is hers");
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 7,
                kind: ConvKind::Group,
                name: "Trip".into(),
                messages: vec![Message {
                    body: Body::System(SystemEvent::Added {
                        users: vec!["ann".into()],
                    }),
                    ..msg(7, 120, "bob", "")
                }],
                more: false,
                from_seq: 119,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    assert_eq!(h.client.conv(7).unwrap().synced, 120);
    assert!(h.frames().is_empty(), "no gap to fill: no second sync");

    // Scrolling back finds nothing older, and the timeline says so.
    h.client.open(Target::Conv(7), h.now);
    h.answer_side_requests();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    assert!(!h.client.timeline(offset).at_beginning);
    h.client.scroll_back();
    let older = h.one();
    assert!(
        matches!(
            older.req,
            Request::History {
                conv: 7,
                before: Some(120),
                ..
            }
        ),
        "{older:?}"
    );
    h.reply(
        &older,
        ServerBody::Messages {
            conv: 7,
            messages: vec![],
            more: false,
        },
    );
    let timeline = h.client.timeline(offset);
    assert!(timeline.at_beginning);
    assert_eq!(timeline.loaded, 1);
    h.client.scroll_back();
    assert!(h.frames().is_empty(), "the beginning is known");

    // A login that reports a group with a view start syncs from there.
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in(
        "ann",
        vec![
            general(0),
            ConvSummary {
                conv: 7,
                kind: ConvKind::Group,
                name: "Trip".into(),
                last_seq: 300,
                from_seq: 280,
                read: 0,
                topic: String::new(),
            },
        ],
    );
    let pos = sync_since(&after[0]).into_iter().find(|p| p.conv == 7);
    assert_eq!(pos.map(|p| p.seq), Some(280));
}

#[test]
fn a_view_start_that_moves_past_a_message_already_held_ahead_does_not_stall_sync() {
    // Ann was in the group, left from another device unheard (she was
    // behind), and was added again: her position is old, one live entry
    // came ahead of it, and the sync says her view now starts at 119.
    let mut h = online_in_general(0);
    h.event(ServerBody::GroupAdded {
        group: confab_proto::GroupInfo {
            conv: 7,
            name: "Trip".into(),
            owner: "bob".into(),
            owner_only_add: false,
            members: vec!["ann".into(), "bob".into()],
            last_seq: 5,
        },
        by: "bob".into(),
        from_seq: 0,
    });
    let sync = h.one();
    let first: Vec<Message> = (1..=5).map(|s| msg(7, s, "bob", "x")).collect();
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 7,
                kind: ConvKind::Group,
                name: "Trip".into(),
                messages: first,
                more: false,
                from_seq: 0,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    h.answer_side_requests();
    h.event(ServerBody::Message {
        message: msg(7, 120, "bob", "welcome back"),
    });
    let sync = h.one();
    assert!(matches!(sync.req, Request::Sync { .. }), "a gap: {sync:?}");
    h.reply(
        &sync,
        ServerBody::Synced {
            convs: vec![SyncedConv {
                conv: 7,
                kind: ConvKind::Group,
                name: "Trip".into(),
                messages: vec![msg(7, 120, "bob", "welcome back")],
                more: false,
                from_seq: 119,
                read: 0,
                topic: String::new(),
            }],
        },
    );
    assert_eq!(h.client.conv(7).unwrap().synced, 120);
    assert!(h.frames().is_empty(), "nothing left to wait for");
    h.event(ServerBody::Message {
        message: msg(7, 121, "bob", "and again"),
    });
    assert!(
        h.frames().is_empty(),
        "the next entry is in line, not a gap"
    );
    assert_eq!(h.client.conv(7).unwrap().synced, 121);
}

#[test]
fn a_reopened_conversation_scrolls_back_through_the_cache_after_reaching_the_beginning() {
    let mut h = online_in_general(150);
    h.client.open(Target::Conv(GENERAL), h.now);
    h.answer_side_requests();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    h.client.scroll_back();
    h.client.scroll_back();
    assert!(h.client.timeline(offset).at_beginning);
    h.client.open(Target::User("bob".into()), h.now);
    h.answer_side_requests();
    h.client.open(Target::Conv(GENERAL), h.now);
    h.answer_side_requests();
    assert_eq!(h.client.timeline(offset).loaded, 100);
    h.client.scroll_back();
    assert!(h.frames().is_empty(), "all of it is cached");
    let timeline = h.client.timeline(offset);
    assert_eq!(timeline.loaded, 150);
    assert!(timeline.at_beginning);
}

/// A send the server refuses as too many (`rate_limited`) is not lost: it
/// stays pending, and is sent again, with its nonce, when the server said.
#[test]
fn a_rate_limited_send_stays_pending_and_is_sent_again_when_the_server_says() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![general(0)]);
    h.reply(&after[0], synced(GENERAL, vec![]));
    let nonce = h.client.send(Target::Conv(GENERAL), "hello", 5).unwrap();
    let send = h.one();
    h.input(ServerFrame {
        id: send.id,
        body: ServerBody::Error {
            code: ErrorCode::RateLimited,
            message: "too many messages; try again in 1.5 s".into(),
            retry_after_ms: Some(1500),
        },
    });
    assert_eq!(h.client.pending_in(GENERAL).len(), 1, "still pending");
    assert!(h.frames().is_empty(), "not before the time");
    assert_eq!(h.client.poll_timeout(), Some(h.now + 1500));
    h.now += 1500;
    let again = h.one();
    match &again.req {
        Request::Send { text, nonce: n, .. } => {
            assert_eq!(
                (text.as_str(), n.as_deref()),
                ("hello", Some(nonce.as_str()))
            )
        }
        other => panic!("expected the send again, got {other:?}"),
    }
    let mut m = msg(GENERAL, 1, "ann", "hello");
    m.nonce = Some(nonce);
    h.reply(
        &again,
        ServerBody::Sent {
            message: m,
            duplicate: false,
        },
    );
    assert!(h.client.outbox().is_empty());
}

fn entry(seq: u64, sender: &str, body: Body) -> Message {
    Message {
        body,
        ..msg(GENERAL, seq, sender, "")
    }
}

/// The open conversation's lines, each with its reactions, marks and quote.
fn lines(h: &Harness) -> Vec<String> {
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    h.client
        .timeline(utc)
        .items
        .iter()
        .flat_map(|i| match i {
            confab_client::timeline::Item::Group { sender, lines, .. } => lines
                .iter()
                .map(|l| {
                    let mut s = format!(
                        "{sender}: {}",
                        if l.deleted { "(deleted)" } else { &l.text }
                    );
                    if let Some(q) = &l.reply {
                        s = format!("[{} {}] {s}", q.sender, q.text);
                    }
                    if l.edited {
                        s.push_str(" (edited)");
                    }
                    if l.pending {
                        s.push_str(" (pending)");
                    }
                    if l.mention {
                        s.push_str(" (mentions me)");
                    }
                    for r in &l.reactions {
                        s.push_str(&format!(
                            " {}{}{}",
                            r.emoji,
                            r.users.len(),
                            if r.mine { "*" } else { "" }
                        ));
                    }
                    s
                })
                .collect::<Vec<_>>(),
            confab_client::timeline::Item::Unread { .. } => vec!["-- new --".into()],
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn reactions_edits_deletes_and_replies_fold_into_the_messages_they_name() {
    let mut h = online_in_general(0);
    h.client.open(Target::Conv(GENERAL), h.now);
    h.event(ServerBody::Message {
        message: msg(GENERAL, 1, "bob", "lunch at noon?"),
    });
    h.event(ServerBody::Message {
        message: entry(2, "cat", Body::reply("yes @ann", Some(1))),
    });
    for (seq, who, emoji, remove) in [
        (3, "cat", "👍", false),
        (4, "dan", "👍", false),
        (5, "dan", "🎉", false),
        (6, "dan", "🎉", true),
    ] {
        h.event(ServerBody::Message {
            message: entry(
                seq,
                who,
                Body::Reaction {
                    target: 1,
                    emoji: emoji.into(),
                    remove,
                },
            ),
        });
    }
    h.frames();
    // An edit says which message changed; its new text is read again from
    // the server (which gives it only to those who may read it).
    h.event(ServerBody::Message {
        message: entry(7, "bob", Body::Edit { target: 1 }),
    });
    let f = h.one();
    assert_eq!(
        f.req,
        Request::History {
            conv: GENERAL,
            before: Some(2),
            after: None,
            limit: Some(1)
        }
    );
    h.reply(
        &f,
        ServerBody::Messages {
            conv: GENERAL,
            messages: vec![Message {
                body: Body::Text {
                    text: "lunch at one?".into(),
                    reply_to: None,
                    edited: Some(1_700_000_000_007),
                },
                ..msg(GENERAL, 1, "bob", "")
            }],
            more: true,
        },
    );
    assert_eq!(
        lines(&h),
        [
            "bob: lunch at one? (edited) 👍2",
            "[bob lunch at one?] cat: yes @ann (mentions me)"
        ]
    );
    // The cache holds the edited text, as the server does.
    let cached = h.client.messages(GENERAL, Some(2), 1).unwrap();
    assert_eq!(cached[0].body.as_text(), Some("lunch at one?"));

    // Ann's reaction shows at once (pending), goes out with a nonce, and
    // reacting again with the same emoji takes it back.
    h.client.react(GENERAL, 1, "👍", 5).unwrap();
    assert_eq!(lines(&h)[0], "bob: lunch at one? (edited) 👍3*");
    let f = h.one();
    let Request::React {
        conv: GENERAL,
        target: 1,
        ref emoji,
        remove: false,
        nonce: Some(ref nonce),
    } = f.req
    else {
        panic!("{f:?}")
    };
    assert_eq!(emoji, "👍");
    h.reply(
        &f,
        ServerBody::Sent {
            message: Message {
                nonce: Some(nonce.clone()),
                ..entry(
                    8,
                    "ann",
                    Body::Reaction {
                        target: 1,
                        emoji: "👍".into(),
                        remove: false,
                    },
                )
            },
            duplicate: false,
        },
    );
    assert!(h.client.outbox().is_empty());
    assert_eq!(lines(&h)[0], "bob: lunch at one? (edited) 👍3*");
    h.client.react(GENERAL, 1, "👍", 6).unwrap();
    assert!(matches!(h.one().req, Request::React { remove: true, .. }));
    assert_eq!(lines(&h)[0], "bob: lunch at one? (edited) 👍2");

    // A delete hides the text here too, and the reply's quote says so.
    h.event(ServerBody::Message {
        message: entry(9, "bob", Body::Delete { target: 1 }),
    });
    assert_eq!(lines(&h)[0], "bob: (deleted) 👍2");
    assert_eq!(
        lines(&h)[1],
        "[bob message deleted] cat: yes @ann (mentions me)"
    );
    let cached = h.client.messages(GENERAL, Some(2), 1).unwrap();
    assert_eq!(cached[0].body, Body::Deleted, "the text is not kept");
}

#[test]
fn reactions_and_edits_made_offline_wait_in_the_outbox_and_go_in_order() {
    let mut h = online_in_general(2);
    h.client.open(Target::Conv(GENERAL), h.now);
    h.disconnect("network down");
    h.client.react(GENERAL, 1, "🎉", 10).unwrap();
    h.client.reply(GENERAL, 2, "agreed", 11).unwrap();
    assert_eq!(
        lines(&h),
        [
            "-- new --",
            "bob: x 🎉1*",
            "bob: x",
            "[bob x] ann: agreed (pending)"
        ]
    );
    // Back online: both go, in the order written.
    h.now += 60_000;
    h.resume("ann", vec![general(2)]);
    let sent: Vec<Request> = h.frames().into_iter().map(|f| f.req).collect();
    let kinds: Vec<&str> = sent.iter().map(Request::type_name).collect();
    let (react, send) = (
        kinds
            .iter()
            .position(|k| *k == "react")
            .expect("react sent"),
        kinds.iter().position(|k| *k == "send").expect("reply sent"),
    );
    assert!(react < send, "{kinds:?}");
    assert!(sent.iter().any(|r| matches!(
        r,
        Request::Send {
            reply_to: Some(2),
            ..
        }
    )));
}

#[test]
fn the_read_position_follows_the_other_device_and_mentions_count_apart() {
    let mut h = online_in_general(0);
    for (seq, text) in [
        (1, "hi all"),
        (2, "@ann look"),
        (3, "@annie is not you"),
        (4, "bye"),
    ] {
        h.event(ServerBody::Message {
            message: msg(GENERAL, seq, "bob", text),
        });
    }
    let c = h.client.conv(GENERAL).unwrap();
    assert_eq!((c.unread, c.mentions), (4, 1));
    // Read up to 2 on the phone: 2 unread left, no mention.
    h.event(ServerBody::Read {
        conv: GENERAL,
        seq: 2,
    });
    let c = h.client.conv(GENERAL).unwrap();
    assert_eq!((c.read, c.unread, c.mentions), (2, 2, 0));
    // Opening it here shows where new messages begin, and marks it read;
    // the server hears of it a moment later (once, not per message).
    h.client.open(Target::Conv(GENERAL), h.now);
    assert_eq!(
        lines(&h),
        [
            "bob: hi all",
            "bob: @ann look (mentions me)",
            "-- new --",
            "bob: @annie is not you",
            "bob: bye"
        ]
    );
    assert_eq!(h.client.conv(GENERAL).unwrap().unread, 0);
    assert!(h.frames().is_empty());
    h.now += 1_000;
    assert_eq!(
        h.one().req,
        Request::Read {
            conv: GENERAL,
            seq: 4
        }
    );
    // An older position from the server does not move it back.
    h.event(ServerBody::Read {
        conv: GENERAL,
        seq: 3,
    });
    assert_eq!(h.client.conv(GENERAL).unwrap().read, 4);
}

#[test]
fn slash_commands_run_in_the_core() {
    use confab_client::Ran;
    use confab_client::commands::{Command, parse};
    let mut h = online_in_general(2);
    h.client.open(Target::Conv(GENERAL), h.now);
    h.frames();
    let run = |h: &mut Harness, line: &str| h.client.run(parse(line).unwrap(), h.now);
    assert_eq!(run(&mut h, "/react :tada:"), Ok(Ran::Done));
    assert!(matches!(h.one().req, Request::React { target: 2, ref emoji, .. } if emoji == "🎉"));
    assert_eq!(
        run(&mut h, "/react 1 nope"),
        Err("/react: “nope” is not an emoji (try 👍 or :thumbsup:)".into())
    );
    assert_eq!(
        run(&mut h, "/edit oops"),
        Err("you have no message here to edit".into())
    );
    assert_eq!(run(&mut h, "/me waves"), Ok(Ran::Done));
    assert!(matches!(h.one().req, Request::Send { ref text, .. } if text == "*waves*"));
    assert_eq!(run(&mut h, "/topic Plans"), Ok(Ran::Done));
    assert_eq!(
        h.one().req,
        Request::Topic {
            conv: GENERAL,
            topic: "Plans".into()
        }
    );
    assert_eq!(run(&mut h, "/search lunch"), Ok(Ran::Done));
    assert!(matches!(h.one().req, Request::Search { ref query, .. } if query == "lunch"));
    assert_eq!(run(&mut h, "/help"), Ok(Ran::Ui(Command::Help)));
    assert!(matches!(run(&mut h, "/mute"), Ok(Ran::Info(_))));
    assert!(h.client.conv(GENERAL).unwrap().muted);
}

/// Everything the client asks now, frames apart from the rest.
fn outputs(h: &mut Harness) -> (Vec<ClientFrame>, Vec<Output>) {
    let mut frames = Vec::new();
    let mut other = Vec::new();
    while let Some(o) = h.client.poll_output(h.now) {
        match o {
            Output::Send(f) => frames.push(f),
            o => other.push(o),
        }
    }
    (frames, other)
}

#[test]
fn an_upload_chosen_offline_waits_then_resumes_after_a_cut_and_leaves_the_outbox_when_posted() {
    use confab_client::transfer::{Phase, TransferReport};
    let mut h = online_in_general(1);
    h.client.open(Target::Conv(GENERAL), h.now);
    assert!(
        matches!(
            h.client.upload(
                Target::Conv(GENERAL),
                "/tmp/big.iso",
                "big.iso",
                2_000_000,
                false,
                5
            ),
            Err(confab_client::ActionError::FileTooLarge(..))
        ),
        "over the size `hello` announced: refused at once"
    );
    h.disconnect("network down");
    let nonce = h
        .client
        .upload(
            Target::Conv(GENERAL),
            "/home/ann/cat.png",
            "../cat.png",
            500,
            false,
            10,
        )
        .unwrap();
    assert_eq!(outputs(&mut h).1, vec![], "nothing moves while offline");
    assert_eq!(h.client.transfer(&nonce).unwrap().phase, Phase::Queued);
    let line = h.client.timeline(chrono::FixedOffset::east_opt(0).unwrap());
    let pending = format!("{line:?}");
    assert!(pending.contains("📎 cat.png (500 B)"), "{pending}");

    // Back online: the driver is asked to upload it, with its target.
    h.now += 60_000;
    h.resume("ann", vec![general(1)]);
    let (_, asked) = outputs(&mut h);
    let [Output::Upload(job)] = asked.as_slice() else {
        panic!("{asked:?}")
    };
    assert_eq!(
        (
            job.source.as_str(),
            job.name.as_str(),
            job.size,
            job.sha256.as_deref(),
            job.url.as_deref()
        ),
        ("/home/ann/cat.png", "cat.png", 500, None, None)
    );
    assert!(job.metadata.contains(&("conv".into(), GENERAL.to_string())));
    assert!(job.metadata.contains(&("nonce".into(), nonce.clone())));
    assert_eq!(job.endpoint.token, "token-of-ann");
    assert_eq!(job.endpoint.files.port, 8443);

    // Hashed, created, part sent, then cut: tried again a moment later,
    // with what was learnt (so the driver resumes rather than restarts).
    for r in [
        TransferReport::Hashed {
            nonce: nonce.clone(),
            sha256: "ab".repeat(32),
        },
        TransferReport::Created {
            nonce: nonce.clone(),
            url: "/uploads/u1".into(),
        },
        TransferReport::Progress {
            key: nonce.clone(),
            hashing: false,
            done: 200,
            total: 500,
        },
    ] {
        h.client.handle(Input::Transfer(r), h.now);
    }
    assert_eq!(h.client.transfer(&nonce).unwrap().percent(), 40);
    h.client.handle(
        Input::Transfer(TransferReport::Failed {
            key: nonce.clone(),
            message: "connection reset".into(),
            retry: true,
        }),
        h.now,
    );
    assert_eq!(outputs(&mut h).1, vec![], "not at once");
    assert_eq!(h.client.outbox().len(), 1, "still in the outbox");
    h.now += 5_000;
    let (_, asked) = outputs(&mut h);
    let [Output::Upload(again)] = asked.as_slice() else {
        panic!("{asked:?}")
    };
    assert_eq!(again.sha256, Some("ab".repeat(32)));
    assert_eq!(again.url.as_deref(), Some("/uploads/u1"));

    // The server posts it with the nonce: out of the outbox, finished.
    h.client.handle(
        Input::Transfer(TransferReport::Finished {
            key: nonce.clone(),
            to: None,
        }),
        h.now,
    );
    let mut posted = entry(
        2,
        "ann",
        Body::File {
            file: confab_proto::FileInfo {
                id: "0".repeat(32),
                name: "cat.png".into(),
                size: 500,
                mime: "image/png".into(),
                sha256: "ab".repeat(32),
                image: None,
            },
        },
    );
    posted.nonce = Some(nonce.clone());
    h.event(ServerBody::Message { message: posted });
    assert!(h.client.outbox().is_empty());
    assert_eq!(
        h.client.transfer(&nonce).unwrap().phase,
        Phase::Finished { to: None }
    );

    // One the server refuses (a wrong hash): out of the outbox, reported.
    let bad = h
        .client
        .upload(
            Target::Conv(GENERAL),
            "/home/ann/x.bin",
            "x.bin",
            10,
            false,
            20,
        )
        .unwrap();
    h.client.take_events();
    let (_, asked) = outputs(&mut h);
    assert!(matches!(asked.as_slice(), [Output::Upload(_)]), "{asked:?}");
    h.client.handle(
        Input::Transfer(TransferReport::Failed {
            key: bad.clone(),
            message: "upload refused: the SHA-256 does not match".into(),
            retry: false,
        }),
        h.now,
    );
    assert!(h.client.outbox().is_empty());
    let failed = h.client.take_events().into_iter().any(|e| {
        matches!(e, Event::SendFailed { ref pending, ref message }
            if pending.nonce == bad && message.contains("SHA-256"))
    });
    assert!(failed);
}

#[test]
fn live_streams_are_known_as_they_start_and_end_and_signals_reach_the_ui() {
    let mut h = online_in_general(1);
    let stream = confab_proto::StreamInfo {
        id: 3,
        conv: GENERAL,
        host: "bob".into(),
        title: "Soundcheck".into(),
        started_ms: 1,
        viewers: 0,
        max_viewers: 8,
    };
    h.event(ServerBody::StreamStarted {
        stream: stream.clone(),
    });
    assert_eq!(
        h.client.live_streams(GENERAL),
        std::slice::from_ref(&stream)
    );
    assert!(h.client.take_events().contains(&Event::Streams(GENERAL)));
    // Told twice (a reconnect), still one.
    h.event(ServerBody::StreamStarted {
        stream: stream.clone(),
    });
    assert_eq!(h.client.live_streams(GENERAL).len(), 1);
    h.event(ServerBody::Signal {
        stream: 3,
        watch: 4,
        from: "bob".into(),
        data: serde_json::json!({"sdp": "offer"}),
    });
    assert!(h.client.take_events().contains(&Event::Signal {
        stream: 3,
        watch: 4,
        from: "bob".into(),
        data: serde_json::json!({"sdp": "offer"}),
    }));
    h.event(ServerBody::StreamEnded {
        conv: GENERAL,
        stream: 3,
    });
    assert!(h.client.live_streams(GENERAL).is_empty());
}
