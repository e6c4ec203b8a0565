//! The terminal client drawn on ratatui's `TestBackend`: the app and a
//! real client core, with the test playing a small server that answers
//! every frame the client writes.

use std::collections::BTreeMap;

use confab_client::{Cache, Client, ConnState, Input, MemoryCache, Output};
use confab_proto::{
    ChannelInfo, ConvKind, ConvSummary, Limits, MemberInfo, Message, Request, Role, ServerBody,
    ServerFrame, SyncedConv, UserInfo,
};
use confab_tui::app::{App, Screen};
use confab_tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

const GENERAL: u64 = 1;
const RANDOM: u64 = 2;
/// 2026-11-20 09:15 UTC.
const DAY1_0915: i64 = 1_795_166_100_000;
const HOUR: i64 = 3_600_000;

/// A server with channels, their messages and members, in memory.
struct FakeServer {
    me: String,
    /// conv → (name, messages oldest first).
    convs: BTreeMap<u64, (String, Vec<Message>)>,
    members: Vec<MemberInfo>,
    next_id: u64,
    /// Requests seen, by type, for assertions.
    seen: Vec<String>,
    visitor: bool,
}

impl FakeServer {
    fn new(me: &str) -> FakeServer {
        FakeServer {
            me: me.into(),
            convs: BTreeMap::new(),
            members: vec![
                member("alice", true),
                member("bob", false),
                member(me, true),
            ],
            next_id: 1,
            seen: Vec::new(),
            visitor: false,
        }
    }

    fn channel(&mut self, conv: u64, name: &str) {
        self.convs.insert(conv, (name.into(), Vec::new()));
    }

    /// Appends a message as the server would store it.
    fn post(&mut self, conv: u64, sender: &str, text: &str, ts: i64) -> Message {
        let (_, msgs) = self.convs.get_mut(&conv).expect("known conv");
        let m = Message {
            id: self.next_id,
            conv,
            seq: msgs.len() as u64 + 1,
            sender: sender.into(),
            ts,
            nonce: None,
            body: confab_proto::Body::text(text),
        };
        self.next_id += 1;
        msgs.push(m.clone());
        m
    }

    /// Answers everything the client has written, until it writes nothing more.
    fn serve(&mut self, client: &mut Client<MemoryCache>, now: u64) {
        while let Some(out) = client.poll_output(now) {
            let f = match out {
                Output::Send(f) => f,
                Output::Connect => {
                    client.handle(Input::Connected { udp_secret: None }, now);
                    continue;
                }
                Output::Close(_) => {
                    client.handle(Input::Disconnected(String::new()), now);
                    continue;
                }
                other => panic!("unexpected {other:?}"),
            };
            self.seen.push(f.req.type_name().to_owned());
            let Some(id) = f.id else { continue };
            let body = self.answer(f.req);
            client.handle(Input::Frame(ServerFrame::reply(id, body)), now);
        }
    }

    fn answer(&mut self, req: Request) -> ServerBody {
        match req {
            Request::Hello { .. } => ServerBody::Hello {
                protocol: 1,
                server: "fake".into(),
                limits: Limits::default(),
                heartbeat_ms: 15_000,
                udp_port: None,
                files: None,
            },
            Request::Login { username, .. } | Request::Register { username, .. } => {
                self.me = username;
                self.session()
            }
            Request::Resume { .. } => self.session(),
            Request::Visitor {} => {
                self.me = "visitor-1".into();
                self.visitor = true;
                self.session()
            }
            Request::Sync { since, .. } => ServerBody::Synced {
                convs: self
                    .convs
                    .iter()
                    .map(|(conv, (name, msgs))| {
                        let from = since.iter().find(|p| p.conv == *conv).map_or(0, |p| p.seq);
                        SyncedConv {
                            conv: *conv,
                            kind: ConvKind::Channel,
                            name: name.clone(),
                            messages: msgs.iter().filter(|m| m.seq > from).cloned().collect(),
                            more: false,
                            from_seq: 0,
                            read: 0,
                            topic: String::new(),
                        }
                    })
                    .collect(),
            },
            Request::History {
                conv,
                before,
                limit,
                ..
            } => {
                let msgs = &self.convs[&conv].1;
                let before = before.unwrap_or(u64::MAX);
                let older: Vec<&Message> = msgs.iter().filter(|m| m.seq < before).collect();
                let take = limit.unwrap_or(50) as usize;
                let page: Vec<Message> = older
                    .iter()
                    .rev()
                    .take(take)
                    .rev()
                    .map(|m| (*m).clone())
                    .collect();
                ServerBody::Messages {
                    conv,
                    more: older.len() > take,
                    messages: page,
                }
            }
            Request::ChannelMembers { .. } => ServerBody::Members {
                conv: GENERAL,
                members: self.members.clone(),
            },
            Request::Members { conv } => ServerBody::Members {
                conv,
                members: self.members.clone(),
            },
            Request::Friends {} => ServerBody::Friends {
                friends: vec![],
                incoming: vec![],
                outgoing: vec![],
                blocked: vec![],
            },
            Request::Send {
                conv, text, nonce, ..
            } => {
                let me = self.me.clone();
                let mut m = self.post(conv, &me, &text, DAY1_0915 + 30 * HOUR);
                m.nonce = nonce;
                ServerBody::Sent {
                    message: m,
                    duplicate: false,
                }
            }
            Request::ChannelJoin { name } => {
                let conv = self
                    .convs
                    .iter()
                    .find(|(_, (n, _))| *n == name)
                    .map(|(c, _)| *c);
                match conv {
                    Some(conv) => ServerBody::Channel {
                        channel: ChannelInfo {
                            conv,
                            name,
                            private: false,
                            topic: String::new(),
                            owner: "alice".into(),
                            members: 3,
                            joined: true,
                            last_seq: self.convs[&conv].1.len() as u64,
                        },
                    },
                    None => ServerBody::Error {
                        code: confab_proto::ErrorCode::NotFound,
                        message: format!("no channel #{name}"),
                        retry_after_ms: None,
                    },
                }
            }
            Request::ChangePassword { .. } => ServerBody::Token {
                token: "tok-2".into(),
            },
            // Newest first, as the server answers.
            Request::Search { query, .. } => ServerBody::SearchResults {
                hits: self
                    .convs
                    .values()
                    .flat_map(|(name, msgs)| {
                        msgs.iter()
                            .filter(|m| m.body.as_text().is_some_and(|t| t.contains(&query)))
                            .map(|m| confab_proto::SearchHit {
                                kind: ConvKind::Channel,
                                name: name.clone(),
                                message: m.clone(),
                            })
                    })
                    .rev()
                    .collect(),
                more: false,
            },
            _ => ServerBody::Ok {},
        }
    }

    fn session(&self) -> ServerBody {
        ServerBody::Session {
            user: UserInfo {
                name: self.me.clone(),
                role: if self.visitor {
                    Role::Visitor
                } else {
                    Role::Member
                },
                invisible: false,
            },
            token: (!self.visitor).then(|| "tok".into()),
            convs: self
                .convs
                .iter()
                .filter(|_| !self.visitor)
                .map(|(conv, (name, msgs))| ConvSummary {
                    conv: *conv,
                    kind: ConvKind::Channel,
                    name: name.clone(),
                    last_seq: msgs.len() as u64,
                    from_seq: 0,
                    read: 0,
                    topic: String::new(),
                })
                .collect(),
            streams: Vec::new(),
        }
    }
}

fn member(name: &str, online: bool) -> MemberInfo {
    MemberInfo {
        name: name.into(),
        role: Role::Member,
        online,
    }
}

/// The client, the app, a server and a terminal of a fixed size.
struct Rig {
    client: Client<MemoryCache>,
    app: App,
    server: FakeServer,
    term: Terminal<TestBackend>,
    now: u64,
}

impl Rig {
    fn new(width: u16, height: u16) -> Rig {
        let mut client = Client::new(MemoryCache::default(), "test", 1).unwrap();
        let mut app = App::new("chat.example:7070", &mut client);
        app.utc_offset = Some(chrono::FixedOffset::east_opt(0).unwrap());
        Rig {
            client,
            app,
            server: FakeServer::new("ann"),
            term: Terminal::new(TestBackend::new(width, height)).unwrap(),
            now: 1_000,
        }
    }

    /// Lets the client and the app catch up: connect if it wants to,
    /// answer its frames, hand its events to the app, draw.
    fn settle(&mut self) -> String {
        for _ in 0..10 {
            self.server.serve(&mut self.client, self.now);
            let events = self.client.take_events();
            if events.is_empty() {
                break;
            }
            self.app.events(events, &mut self.client, self.now);
        }
        self.app.take_effects();
        self.draw()
    }

    fn draw(&mut self) -> String {
        let (app, client) = (&mut self.app, &self.client);
        self.term.draw(|f| ui::draw(f, app, client)).unwrap();
        screen(self.term.backend())
    }

    fn key(&mut self, code: KeyCode) {
        self.key_with(code, KeyModifiers::NONE);
    }

    fn key_with(&mut self, code: KeyCode, mods: KeyModifiers) {
        self.app
            .key(KeyEvent::new(code, mods), &mut self.client, self.now);
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// Types a line and presses Enter, then lets everything settle.
    fn enter(&mut self, line: &str) -> String {
        self.type_text(line);
        self.key(KeyCode::Enter);
        self.settle()
    }

    /// Logs in through the login screen.
    fn log_in(&mut self) -> String {
        self.type_text("ann");
        self.key(KeyCode::Tab);
        self.type_text("secret-pass");
        self.key(KeyCode::Enter);
        self.settle()
    }
}

/// The screen as text, one line per row, wide characters once.
fn screen(backend: &TestBackend) -> String {
    let buf = backend.buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            out.push_str(sym);
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
        }
        out.push('\n');
    }
    out
}

fn row_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} on\n{screen}"))
}

#[test]
fn the_login_screen_offers_log_in_register_and_visitor() {
    let mut rig = Rig::new(80, 24);
    let s = rig.draw();
    for want in [
        "Confab · chat.example:7070",
        "Username:",
        "Password:",
        "[ Log in ]",
        "[ Register ]",
        "[ Visitor ]",
        "not logged in to chat.example:7070",
    ] {
        assert!(s.contains(want), "{want:?} missing from\n{s}");
    }

    // Logging in without a name says what is missing, and does not connect.
    rig.key(KeyCode::Tab);
    rig.key(KeyCode::Enter);
    let s = rig.draw();
    assert!(s.contains("enter a user name"), "{s}");
    assert!(!rig.client.has_auth());

    // The password is never shown.
    let s = rig.log_in();
    assert!(!s.contains("secret-pass"));
    assert!(matches!(rig.app.screen, Screen::Chat));
    assert!(s.contains("● connected as ann"), "{s}");
}

#[test]
fn a_wrong_password_is_shown_on_the_login_screen() {
    let mut rig = Rig::new(80, 24);
    rig.type_text("ann");
    rig.key(KeyCode::Tab);
    rig.type_text("wrong");
    rig.key(KeyCode::Enter);
    assert_eq!(rig.client.poll_output(rig.now), Some(Output::Connect));
    rig.client
        .handle(Input::Connected { udp_secret: None }, rig.now);
    let Some(Output::Send(hello)) = rig.client.poll_output(rig.now) else {
        panic!("hello")
    };
    let body = rig.server.answer(hello.req);
    rig.client.handle(
        Input::Frame(ServerFrame::reply(hello.id.unwrap(), body)),
        rig.now,
    );
    let Some(Output::Send(login)) = rig.client.poll_output(rig.now) else {
        panic!("login")
    };
    rig.client.handle(
        Input::Frame(ServerFrame::error(
            login.id,
            confab_proto::ErrorCode::BadCredentials,
            "wrong user name or password",
        )),
        rig.now,
    );
    let s = rig.settle();
    assert!(matches!(rig.app.screen, Screen::Login(_)));
    assert!(s.contains("wrong user name or password"), "{s}");
    assert!(s.contains("Username: ann"), "the name is kept:\n{s}");
}

#[test]
fn a_channel_shows_its_messages_by_day_with_members_and_unread_counts() {
    let mut rig = Rig::new(100, 24);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    rig.server.post(GENERAL, "alice", "good morning", DAY1_0915);
    rig.server.post(
        GENERAL,
        "bob",
        "a long message that has to wrap onto a second line because the pane is only so wide, you see",
        DAY1_0915 + HOUR,
    );
    rig.server
        .post(GENERAL, "alice", "next day :tada:", DAY1_0915 + 24 * HOUR);
    rig.server.post(RANDOM, "bob", "one", DAY1_0915);
    rig.server.post(RANDOM, "bob", "two", DAY1_0915);
    let s = rig.log_in();

    assert!(s.contains("#general"), "{s}");
    assert!(
        row_with(&s, "#random").contains(" 2"),
        "two unread in #random:\n{s}"
    );
    assert!(s.contains("── Friday 20 November 2026 ──"), "{s}");
    assert!(s.contains("── Saturday 21 November 2026 ──"), "{s}");
    assert!(s.contains("09:15 alice good morning"), "{s}");
    let first = row_with(&s, "10:15 bob a long message");
    let lines: Vec<&str> = s.lines().collect();
    let at = lines.iter().position(|l| *l == first).unwrap();
    assert!(
        lines[at + 1].contains("          ") && lines[at + 1].contains("you see"),
        "the wrapped part is indented under the text:\n{s}"
    );
    // Text from the server is shown as sent: shortcodes become emoji only
    // in what this client writes.
    assert!(s.contains("09:15 alice next day :tada:"), "{s}");
    assert!(row_with(&s, "Members").contains("Members"));
    assert!(s.contains("● alice"), "{s}");
    assert!(s.contains("○ bob"), "{s}");
    assert!(s.contains("● ann (you)"), "{s}");

    // Switching to #random reads it.
    rig.key_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    let s = rig.settle();
    assert!(s.contains("bob one"), "{s}");
    assert!(!row_with(&s, "#random").contains(" 2"), "{s}");
}

#[test]
fn a_message_written_offline_is_marked_pending_until_the_server_has_it() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.log_in();
    rig.client.handle(
        Input::Disconnected("the server closed the connection".into()),
        rig.now,
    );
    rig.type_text("see you :wave:");
    rig.key(KeyCode::Enter);
    let s = rig.draw();
    let row = row_with(&s, "see you 👋");
    assert!(row.contains("… pending"), "{s}");
    let status = s.lines().last().unwrap();
    assert!(status.contains("1 queued message"), "{status}");
    assert!(status.contains("offline"), "{status}");

    // Back online: the outbox is sent and acknowledged.
    rig.now += 60_000;
    let s = rig.settle();
    let row = row_with(&s, "see you 👋");
    assert!(!row.contains("pending"), "{s}");
    assert!(!s.contains("queued"), "{s}");
    assert_eq!(
        rig.server.convs[&GENERAL].1.last().unwrap().text().unwrap(),
        "see you 👋",
        "the server stored the message with the emoji"
    );
}

#[test]
fn commands_answer_in_one_line_and_help_lists_them() {
    let mut rig = Rig::new(100, 30);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    rig.log_in();

    let s = rig.enter("/frobnicate now");
    assert!(s.contains("unknown command /frobnicate"), "{s}");
    assert!(
        s.contains("> /frobnicate now"),
        "the line is kept to fix:\n{s}"
    );
    rig.key_with(KeyCode::Char('u'), KeyModifiers::CONTROL);

    let s = rig.enter("/join");
    assert!(s.contains("/join needs a channel"), "{s}");
    rig.key_with(KeyCode::Char('u'), KeyModifiers::CONTROL);

    let s = rig.enter("/join #nowhere");
    assert!(
        s.contains("no channel #nowhere"),
        "the server's answer:\n{s}"
    );

    let s = rig.enter("/help");
    for usage in [
        "/join #channel",
        "/create [--private]",
        "/msg USER",
        "/exit",
    ] {
        assert!(s.contains(usage), "{usage} missing from\n{s}");
    }
    rig.key(KeyCode::Esc);
    let s = rig.draw();
    assert!(!s.contains("/create [--private]"), "help closed:\n{s}");

    // /passwd asks in a box, with the passwords hidden.
    rig.enter("/passwd");
    rig.type_text("old-secret");
    rig.key(KeyCode::Enter);
    rig.type_text("new-secret");
    rig.key(KeyCode::Enter);
    rig.type_text("new-secreT");
    rig.key(KeyCode::Enter);
    let s = rig.settle();
    assert!(s.contains("Change password"), "{s}");
    assert!(s.contains("the new passwords differ"), "{s}");
    assert!(!s.contains("new-secret"), "{s}");
    rig.key(KeyCode::Backspace);
    rig.type_text("t");
    rig.key(KeyCode::Enter);
    let s = rig.settle();
    assert!(s.contains("Password changed"), "{s}");
    assert!(rig.server.seen.contains(&"change_password".to_owned()));
    assert_eq!(
        rig.client.cache().get("token").unwrap().as_deref(),
        Some("tok-2"),
        "the new session token is kept"
    );

    rig.enter("/exit");
    // `enter` settled, which took the effects; ask again.
    rig.type_text("/quit");
    rig.key(KeyCode::Enter);
    assert!(rig.app.take_effects().quit);
}

#[test]
fn tab_completes_shortcodes_channels_names_and_commands() {
    let mut rig = Rig::new(100, 30);
    rig.server.channel(GENERAL, "general");
    rig.log_in();

    rig.type_text("ship it :tad");
    rig.key(KeyCode::Tab);
    assert_eq!(rig.app.input.text(), "ship it :tada: ");
    rig.type_text("see #gen");
    rig.key(KeyCode::Tab);
    assert_eq!(rig.app.input.text(), "ship it :tada: see #general ");
    rig.type_text("al");
    rig.key(KeyCode::Tab);
    assert_eq!(rig.app.input.text(), "ship it :tada: see #general alice ");
    rig.key_with(KeyCode::Char('u'), KeyModifiers::CONTROL);
    rig.type_text("/inv");
    rig.key(KeyCode::Tab);
    assert_eq!(rig.app.input.text(), "/invite ");

    // Several candidates: Tab cycles through them.
    rig.key_with(KeyCode::Char('u'), KeyModifiers::CONTROL);
    rig.type_text(":smil");
    rig.key(KeyCode::Tab);
    let first = rig.app.input.text().to_owned();
    rig.key(KeyCode::Tab);
    assert_ne!(rig.app.input.text(), first);
    assert!(rig.app.input.text().starts_with(":smil"));
}

#[test]
fn page_up_and_the_wheel_scroll_back_through_history_from_the_server() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    for i in 1..=300 {
        rig.server
            .post(GENERAL, "alice", &format!("message {i}"), DAY1_0915 + i);
    }
    let s = rig.log_in();
    assert!(s.contains("alice message 300"), "{s}");
    assert!(!s.contains("message 250 "), "{s}");

    // The client synced the newest 50; going further back asks the server.
    let mut s = String::new();
    for _ in 0..40 {
        rig.key(KeyCode::PageUp);
        s = rig.settle();
        if s.contains("alice message 1\n") || s.contains("alice message 1 ") {
            break;
        }
    }
    assert!(
        s.contains("the beginning of #general"),
        "scrolled to the first message:\n{s}"
    );
    assert!(s.contains("scrolled back"), "{s}");
    assert!(rig.server.seen.iter().filter(|t| *t == "history").count() >= 5);

    // The wheel scrolls back down; Esc jumps to the newest.
    let area = rig.app.layout.messages;
    rig.app.mouse(
        MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: area.x + 2,
            row: area.y + 2,
            modifiers: KeyModifiers::NONE,
        },
        &mut rig.client,
    );
    assert!(rig.app.scroll > 0);
    rig.key(KeyCode::Esc);
    let s = rig.settle();
    assert!(s.contains("alice message 300"), "{s}");
    assert!(!s.contains("scrolled back"), "{s}");
}

#[test]
fn a_new_client_without_a_session_is_offline_and_shows_its_cache() {
    // A client that was logged in before: its cache has the session.
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.server
        .post(GENERAL, "alice", "kept in the cache", DAY1_0915);
    rig.log_in();
    let cache = rig.client.cache().clone();

    // Started again with the server down: straight to the chat, from the cache.
    let mut client = Client::new(cache, "test", 2).unwrap();
    assert_eq!(client.poll_output(rig.now), Some(Output::Connect));
    client.handle(Input::Disconnected("connection refused".into()), rig.now);
    let mut app = App::new("chat.example:7070", &mut client);
    app.utc_offset = rig.app.utc_offset;
    app.now_ms = rig.now;
    assert!(matches!(app.screen, Screen::Chat));
    let mut term = Terminal::new(TestBackend::new(100, 20)).unwrap();
    term.draw(|f| ui::draw(f, &mut app, &client)).unwrap();
    let s = screen(term.backend());
    assert!(s.contains("alice kept in the cache"), "{s}");
    assert!(s.contains("reconnecting in"), "{s}");
    assert!(matches!(client.state(), ConnState::Offline { .. }));
}

#[test]
fn a_visitor_reads_a_public_channel_but_cannot_write() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.server
        .post(GENERAL, "alice", "welcome, visitors", DAY1_0915);
    // Shift+Tab from the name field reaches [ Visitor ].
    rig.key(KeyCode::BackTab);
    rig.key(KeyCode::Enter);
    let s = rig.settle();
    assert!(s.contains("● connected as visitor-1"), "{s}");
    assert!(s.contains("a visitor: you can read public channels"), "{s}");

    let s = rig.enter("/join #general");
    assert!(
        s.contains("alice welcome, visitors"),
        "the newest page is fetched, as a visitor's channels are not synced:\n{s}"
    );
    assert!(s.contains("the beginning of #general"), "{s}");
    assert!(s.contains("(visitor) >"), "{s}");

    let s = rig.enter("may I?");
    assert!(s.contains("not sent: visitors can only read"), "{s}");
    assert!(rig.client.outbox().is_empty());
    assert_eq!(rig.server.convs[&GENERAL].1.len(), 1);
}

#[test]
fn a_new_certificate_is_asked_about_and_a_changed_one_is_refused_with_a_warning() {
    use confab_client::native::TrustError;
    let mut rig = Rig::new(110, 24);
    let fp = "AB:".repeat(31) + "CD";
    rig.app.trust(TrustError::Unknown {
        fingerprint: fp.clone(),
    });
    let s = rig.draw();
    assert!(s.contains(&fp), "{s}");
    assert!(s.contains("Trust it and remember it"), "{s}");
    rig.key(KeyCode::Char('y'));
    assert_eq!(rig.app.take_effects().pin, Some(fp.clone()));

    // Refused: not asked again about the same certificate.
    rig.app.trust(TrustError::Unknown {
        fingerprint: fp.clone(),
    });
    rig.key(KeyCode::Char('n'));
    assert_eq!(rig.app.take_effects().pin, None);
    let s = rig.draw();
    assert!(s.contains("certificate not trusted"), "{s}");
    rig.app.trust(TrustError::Unknown {
        fingerprint: fp.clone(),
    });
    assert!(rig.app.overlay.is_none());

    let now = "EF:".repeat(31) + "01";
    rig.app.trust(TrustError::Changed {
        pinned: fp.clone(),
        fingerprint: now.clone(),
    });
    let s = rig.draw();
    assert!(s.contains("WARNING: SERVER CERTIFICATE CHANGED"), "{s}");
    assert!(
        s.contains(&fp) && s.contains(&now),
        "both fingerprints:\n{s}"
    );
    assert!(
        s.contains("chat.example:7070 --trust"),
        "how to accept the change:\n{s}"
    );
    // Nothing but Esc or Enter dismisses it, and nothing is pinned.
    rig.key(KeyCode::Char('y'));
    assert!(rig.app.overlay.is_some());
    rig.key(KeyCode::Esc);
    assert_eq!(rig.app.take_effects().pin, None);
    assert!(rig.app.overlay.is_none());
}

#[test]
fn tiny_terminals_draw_without_panicking() {
    for (w, h) in [(1, 1), (10, 4), (30, 6), (45, 10), (79, 12)] {
        let mut rig = Rig::new(w, h);
        rig.server.channel(GENERAL, "general");
        rig.server.post(
            GENERAL,
            "alice",
            "a message long enough to wrap a few times 🎉🎉🎉",
            DAY1_0915,
        );
        rig.draw();
        let s = rig.log_in();
        if w >= 30 {
            assert!(s.contains("● connected as ann"), "{w}×{h}:\n{s}");
        }
        rig.enter("/help");
        rig.key(KeyCode::Esc);
        rig.app.trust(confab_client::native::TrustError::Unknown {
            fingerprint: "AB:CD".into(),
        });
        rig.draw();
    }
}

/// Regression: a half-written message followed you to the next conversation.
#[test]
fn each_conversation_keeps_its_own_draft() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    rig.log_in();
    rig.type_text("half a thought");
    rig.key_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    let s = rig.settle();
    assert!(row_with(&s, "#random").contains("#random"));
    assert_eq!(rig.app.input.text(), "", "the draft stayed in #general");
    rig.type_text("for random");
    rig.key_with(KeyCode::Char('p'), KeyModifiers::CONTROL);
    rig.settle();
    assert_eq!(rig.app.input.text(), "half a thought");
    rig.key_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    rig.settle();
    assert_eq!(rig.app.input.text(), "for random");
}

/// Markdown is styled, never shown as markup; HTML stays text.
#[test]
fn markdown_is_styled_and_html_stays_text() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.server
        .post(GENERAL, "alice", "a **bold** move", DAY1_0915);
    rig.server
        .post(GENERAL, "alice", "<script>alert(1)</script>", DAY1_0915 + 1);
    rig.server.post(
        GENERAL,
        "alice",
        "see [docs](https://example.org)",
        DAY1_0915 + 1,
    );
    rig.server.post(
        GENERAL,
        "alice",
        "> quoted\n\n```\nlet x = 1;\n```",
        DAY1_0915 + 2,
    );
    let s = rig.log_in();
    let row = row_with(&s, "a bold move");
    let y = s.lines().position(|l| l == row).unwrap() as u16;
    let x = row.find("bold").unwrap();
    let x = row[..x].chars().count() as u16;
    let cell = &rig.term.backend().buffer()[(x, y)];
    assert!(
        cell.modifier.contains(ratatui::style::Modifier::BOLD),
        "{s}"
    );
    assert!(!s.contains("**"), "{s}");
    assert!(s.contains("alice <script>alert(1)</script>"), "{s}");
    assert!(s.contains("see docs <https://example.org>"), "{s}");
    assert!(s.contains("▎ quoted"), "{s}");
    assert!(s.contains("│ let x = 1;"), "{s}");
}

/// At 40 columns: long answers wrap in the notice area, a 4,000-character
/// paste keeps its end beside the cursor, and growing the terminal again
/// redraws everything.
#[test]
fn forty_columns_a_long_answer_and_a_big_paste_redraw() {
    let mut rig = Rig::new(40, 16);
    rig.server.channel(GENERAL, "general");
    for c in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        rig.server.channel(
            GENERAL + 100 + c.len() as u64 * 7 + c.as_bytes()[0] as u64,
            c,
        );
    }
    rig.server.post(GENERAL, "alice", "hello there", DAY1_0915);
    rig.log_in();
    let s = rig.enter("/list");
    let notice: Vec<&str> = s.lines().filter(|l| l.contains('#')).collect();
    assert!(
        notice
            .iter()
            .any(|l| l.contains("#foxtrot") || l.contains("foxtrot")),
        "the whole list, wrapped:\n{s}"
    );
    let paste: String = (0..4000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    rig.app.paste(&paste, &mut rig.client);
    let s = rig.draw();
    let input = row_with(&s, "> ");
    assert!(
        input.trim_end().ends_with(&paste[paste.len() - 20..]),
        "the end of the paste is in view:\n{s}"
    );
    assert_eq!(rig.client.open_draft().chars().count(), 4000);
    rig.term.backend_mut().resize(100, 20);
    rig.term.autoresize().unwrap();
    let s = rig.draw();
    assert!(s.contains("Members"), "{s}");
    assert!(s.contains("alice hello there"), "{s}");
}

/// A message cannot drive the terminal: control characters (escape
/// sequences, bells) never reach the screen.
#[test]
fn control_characters_in_messages_never_reach_the_terminal() {
    let mut rig = Rig::new(100, 16);
    rig.server.channel(GENERAL, "general");
    rig.server.post(
        GENERAL,
        "eve",
        "before\x1b]0;owned\x07\x1b[2Jafter\x08\x08",
        DAY1_0915,
    );
    let s = rig.log_in();
    assert!(s.contains("before"), "{s}");
    assert!(!s.contains(['\x1b', '\x07', '\x08']), "{s:?}");
}

/// A mention in a conversation not on screen rings; one in view does not,
/// nor one in a muted conversation.
#[test]
fn mentions_elsewhere_notify_unless_muted() {
    let mut rig = Rig::new(100, 16);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    rig.log_in();
    let arrive = |rig: &mut Rig, conv: u64, text: &str| {
        let m = rig.server.post(conv, "bob", text, DAY1_0915);
        rig.client.handle(
            Input::Frame(ServerFrame::event(ServerBody::Message { message: m })),
            rig.now,
        );
        let events = rig.client.take_events();
        rig.app.events(events, &mut rig.client, rig.now);
        rig.app.take_effects().notify
    };
    assert_eq!(
        arrive(&mut rig, RANDOM, "@ann **lunch**?"),
        [("bob in #random".to_owned(), "@ann lunch?".to_owned())]
    );
    assert!(arrive(&mut rig, RANDOM, "no mention").is_empty());
    assert!(arrive(&mut rig, GENERAL, "@ann here").is_empty(), "in view");
    rig.key_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    rig.settle();
    rig.enter("/mute");
    rig.key_with(KeyCode::Char('p'), KeyModifiers::CONTROL);
    rig.settle();
    assert!(arrive(&mut rig, RANDOM, "@ann muted").is_empty());
}

/// `/search` lists what it found; Enter shows the message in its place,
/// loading older history from the server.
#[test]
fn search_results_open_the_message_in_its_conversation() {
    let mut rig = Rig::new(100, 20);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    rig.server
        .post(GENERAL, "alice", "the lunch plan is set", DAY1_0915);
    for i in 0..120 {
        rig.server
            .post(GENERAL, "bob", &format!("chatter {i}"), DAY1_0915 + 1);
    }
    rig.server.post(RANDOM, "bob", "lunch?", DAY1_0915 + 2);
    rig.log_in();
    let s = rig.enter("/search lunch");
    assert!(s.contains("“lunch”"), "{s}");
    assert!(row_with(&s, "#random · bob").contains("lunch?"), "{s}");
    assert!(
        row_with(&s, "#general · alice").contains("the lunch plan is set"),
        "{s}"
    );
    rig.key(KeyCode::Down);
    rig.key(KeyCode::Enter);
    let s = rig.settle();
    assert!(!s.contains("Enter shows it"), "the results closed:\n{s}");
    assert!(
        s.contains("alice the lunch plan is set #1"),
        "scrolled to it:\n{s}"
    );
    assert!(s.contains("scrolled back"), "{s}");
}

/// A conversation opened with unread messages starts at their line.
#[test]
fn a_conversation_opens_at_its_new_messages() {
    let mut rig = Rig::new(100, 16);
    rig.server.channel(GENERAL, "general");
    rig.server.channel(RANDOM, "random");
    for i in 0..40 {
        rig.server
            .post(RANDOM, "bob", &format!("unread {i}"), DAY1_0915 + i);
    }
    rig.log_in();
    rig.key_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    let s = rig.settle();
    assert!(s.contains("── new messages ──"), "{s}");
    assert!(s.contains("unread 0"), "starts at the first unread:\n{s}");
    assert!(!s.contains("unread 39"), "{s}");
    rig.key(KeyCode::Esc);
    let s = rig.draw();
    assert!(s.contains("unread 39"), "Esc goes to the newest:\n{s}");
}
