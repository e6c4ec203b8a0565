//! The client core with no network: the test plays the server, frame by frame.

use confab_client::{Auth, Cache, Client, ConnState, Event, MemoryCache, Target};
use confab_proto::{
    ClientFrame, ConvKind, ConvSummary, ErrorCode, Limits, Message, Request, Role, ServerBody,
    ServerFrame, SyncPos, SyncedConv, UserInfo,
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

    fn frames(&mut self) -> Vec<ClientFrame> {
        std::iter::from_fn(|| self.client.poll_frame()).collect()
    }

    fn one(&mut self) -> ClientFrame {
        let f = self.frames();
        assert_eq!(f.len(), 1, "expected one frame, got {f:?}");
        f.into_iter().next().unwrap()
    }

    fn reply(&mut self, to: &ClientFrame, body: ServerBody) {
        self.client.frame(
            ServerFrame::reply(to.id.expect("request has an id"), body),
            self.now,
        );
    }

    fn event(&mut self, body: ServerBody) {
        self.client.frame(ServerFrame::event(body), self.now);
    }

    /// Connects and answers `hello`; returns the login request that follows.
    fn greet(&mut self) -> ClientFrame {
        self.client.connected(self.now);
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
            },
        );
        self.one()
    }

    /// Connects and answers hello and the login; returns the frames the
    /// client sends once logged in (the sync, then the outbox).
    fn log_in(&mut self, name: &str, convs: Vec<ConvSummary>) -> Vec<ClientFrame> {
        assert!(
            self.client.should_connect(self.now),
            "client wants to connect"
        );
        self.client.connecting();
        let login = self.greet();
        self.reply(
            &login,
            ServerBody::Session {
                user: user(name),
                token: Some(format!("token-of-{name}")),
                convs,
            },
        );
        assert_eq!(self.client.state(), &ConnState::Online);
        self.frames()
    }

    fn cached_seqs(&self, conv: u64) -> Vec<u64> {
        self.client
            .messages(conv, None, usize::MAX)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect()
    }
}

fn general(last_seq: u64) -> ConvSummary {
    ConvSummary {
        conv: GENERAL,
        kind: ConvKind::Channel,
        name: "general".into(),
        last_seq,
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
        }],
    }
}

#[test]
fn logs_in_keeps_the_token_and_syncs_the_newest_page_of_a_new_channel() {
    let mut h = Harness::new(MemoryCache::default());
    assert!(!h.client.should_connect(h.now), "no way to log in yet");
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
    h.client.disconnected(h.now, "server went away");
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
    h.client.disconnected(h.now, "drop");
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
    h.client.disconnected(h.now, "");
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
    h.client.frame(
        ServerFrame::error(f[0].id, ErrorCode::NotMember, "you are not in that channel"),
        h.now,
    );
    h.client.frame(
        ServerFrame::error(f[1].id, ErrorCode::ShuttingDown, "bye"),
        h.now,
    );
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
    h.client.frame(
        ServerFrame::error(resume.id, ErrorCode::BadToken, "token revoked"),
        h.now,
    );
    assert_eq!(h.client.state(), &ConnState::Offline { retry_at_ms: None });
    assert!(!h.client.should_connect(h.now + 3_600_000));
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
    h.client.frame(
        ServerFrame::error(
            resume.id,
            ErrorCode::ShuttingDown,
            "the server is shutting down",
        ),
        h.now,
    );
    let why = h
        .client
        .take_hangup()
        .expect("the driver is told to hang up");
    assert!(why.contains("shutting down"), "{why}");
    h.client.disconnected(h.now, &why);
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
    assert!(h.client.tick(h.now + 14_000));
    assert!(h.frames().is_empty());
    assert!(h.client.tick(h.now + 16_000));
    assert!(
        matches!(h.one().req, Request::Ping {}),
        "a quiet server is pinged"
    );
    assert!(
        !h.client.tick(h.now + 45_000),
        "three heartbeats of silence: give up"
    );

    let t = h.now + 45_000;
    h.client.disconnected(t, "server silent");
    let ConnState::Offline {
        retry_at_ms: Some(first),
    } = *h.client.state()
    else {
        panic!("offline with a retry time: {:?}", h.client.state());
    };
    assert!((t + 250..=t + 500).contains(&first), "{first}");
    assert!(!h.client.should_connect(first - 1));
    assert!(h.client.should_connect(first));
    h.client.connecting();
    h.client.disconnected(first, "refused");
    let ConnState::Offline {
        retry_at_ms: Some(second),
    } = *h.client.state()
    else {
        panic!()
    };
    assert!((first + 500..=first + 1000).contains(&second), "{second}");
}

#[test]
fn joining_and_leaving_update_the_conversation_list() {
    let mut h = Harness::new(MemoryCache::default());
    h.client.set_auth(Auth::Token("t".into()), h.now);
    let after = h.log_in("ann", vec![]);
    h.reply(&after[0], ServerBody::Synced { convs: vec![] });
    let id = h
        .client
        .request(Request::ChannelJoin {
            name: "rust".into(),
        })
        .unwrap();
    let join = h.one();
    assert_eq!(join.id, Some(id));
    h.reply(
        &join,
        ServerBody::Channel {
            channel: confab_proto::ChannelInfo {
                conv: 4,
                name: "rust".into(),
                private: false,
                topic: String::new(),
                owner: "bob".into(),
                members: 2,
                joined: true,
                last_seq: 10,
            },
        },
    );
    assert_eq!(
        h.client.conv_named(ConvKind::Channel, "rust").unwrap().conv,
        4
    );
    assert_eq!(sync_since(&h.one()), vec![SyncPos { conv: 4, seq: 0 }]);
    assert!(
        h.client
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::Reply { id: i, .. } if *i == id))
    );

    h.client
        .request(Request::ChannelLeave {
            name: "rust".into(),
        })
        .unwrap();
    let leave = h.one();
    h.reply(&leave, ServerBody::Ok {});
    assert!(h.client.convs().is_empty());

    // An error comes back as the reply to the request that caused it.
    let id = h
        .client
        .request(Request::ChannelJoin {
            name: "nope".into(),
        })
        .unwrap();
    let join = h.one();
    h.client.frame(
        ServerFrame::error(join.id, ErrorCode::NotFound, "no channel #nope"),
        h.now,
    );
    assert!(h.client.take_events().iter().any(|e| matches!(
        e,
        Event::Reply { id: i, body: ServerBody::Error { code: ErrorCode::NotFound, .. } } if *i == id
    )));
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
    assert!(h.client.take_events().contains(&Event::Older {
        conv: GENERAL,
        more: true
    }));
}
