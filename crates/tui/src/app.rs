//! The terminal client's state and what keys, the mouse, paste and client
//! events do to it. No terminal here: [`crate::term`] feeds it input and
//! draws it with [`crate::ui`], and the tests drive it with a `MemoryCache`
//! client and ratatui's `TestBackend`.
//!
//! The behaviour lives in the client core (the open conversation, drafts,
//! typing, scrollback, what an action's outcome says); this file turns keys
//! into the core's actions and keeps what only a terminal has: the screen,
//! the boxes over it, the line editor and how far the view is scrolled.

use std::collections::BTreeSet;

use confab_client::native::TrustError;
use confab_client::transfer::Phase;
use confab_client::{Action, Auth, Cache, Client, Event, Outcome, Ran, Target, emoji};
use confab_proto::{ConvId, ConvKind, Role};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::commands::{self, Command};
use crate::input::Input;

/// Lines per mouse-wheel step.
const WHEEL_LINES: usize = 3;

/// What the runner must do after the app handled something.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Frames were queued or the login changed: wake the driver.
    pub wake: bool,
    /// The user trusted this certificate fingerprint: pin it and reconnect.
    pub pin: Option<String>,
    pub quit: bool,
    /// Notifications to give (title, text): a DM or a mention elsewhere.
    pub notify: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum Screen {
    Login(LoginForm),
    Chat,
}

/// The login screen: user name, password and three ways in.
#[derive(Debug, Default)]
pub struct LoginForm {
    pub focus: LoginFocus,
    pub user: Input,
    pub password: Input,
    pub error: Option<String>,
    /// A login was submitted and is not answered yet.
    pub busy: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum LoginFocus {
    #[default]
    User,
    Password,
    LogIn,
    Register,
    Visitor,
}

impl LoginFocus {
    const ORDER: [LoginFocus; 5] = [
        LoginFocus::User,
        LoginFocus::Password,
        LoginFocus::LogIn,
        LoginFocus::Register,
        LoginFocus::Visitor,
    ];

    fn step(self, by: isize) -> LoginFocus {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0) as isize;
        Self::ORDER[(i + by).rem_euclid(Self::ORDER.len() as isize) as usize]
    }
}

/// A box drawn over the chat.
#[derive(Debug)]
pub enum Overlay {
    Help,
    Trust(TrustError),
    Passwd(PasswdForm),
    /// Friends, requests and blocks, live.
    Friends,
    /// Search results: Up/Down choose, Enter shows the message in its
    /// conversation.
    Search {
        query: String,
        hits: Vec<confab_proto::SearchHit>,
        chosen: usize,
    },
}

#[derive(Debug, Default)]
pub struct PasswdForm {
    /// 0: old password, 1: new, 2: new again.
    pub field: usize,
    pub fields: [Input; 3],
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The line above the input: the answer to the last command, or a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

/// Tab completion in progress: repeated Tabs cycle through `candidates`.
#[derive(Debug)]
struct Completion {
    start: usize,
    candidates: Vec<String>,
    index: usize,
}

/// Where things were drawn, for the mouse.
#[derive(Debug, Default, Clone)]
pub struct Layout {
    pub convs: Rect,
    /// The conversation on each row of the list, from its first row.
    pub conv_rows: Vec<ConvId>,
    pub messages: Rect,
    /// Lines of the open conversation at the last draw, and how many fit.
    pub total_lines: usize,
    pub height: usize,
}

pub struct App {
    /// `host:port`, for the screens.
    pub server: String,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
    /// A message to scroll to once it is drawn (`/jump`).
    pub jump: Option<u64>,
    /// A fresh server's setup code (`confab chat --setup`), sent when registering.
    pub setup: Option<String>,
    /// The open conversation just changed: scroll to its "new messages"
    /// line, if it has one, once drawn.
    pub to_unread: bool,
    /// The line editor: the open conversation's draft, with a cursor.
    pub input: Input,
    pub notice: Option<Notice>,
    /// The clock, as of the last input or event (for the status bar).
    pub now_ms: u64,
    /// Fixed UTC offset for timestamps (tests); `None`: the local time zone.
    pub utc_offset: Option<chrono::FixedOffset>,
    pub layout: Layout,
    sent_lines: Vec<String>,
    recall: Option<usize>,
    completion: Option<Completion>,
    /// User and channel names seen, for Tab completion.
    users: BTreeSet<String>,
    channels: BTreeSet<String>,
    /// The conversation whose draft `input` holds.
    input_for: Option<Target>,
    /// A certificate the user refused: not asked about again.
    pub distrusted: Option<TrustError>,
    /// Live streams already told of (each is said once, with its link).
    told_live: BTreeSet<confab_proto::StreamId>,
    effects: Effects,
}

impl App {
    /// The app for `client`: the chat if it can log in by itself (a saved
    /// session), else the login screen.
    pub fn new<C: Cache>(server: &str, client: &mut Client<C>) -> App {
        let screen = if client.has_auth() {
            Screen::Chat
        } else {
            Screen::Login(LoginForm::default())
        };
        let mut app = App {
            server: server.to_owned(),
            screen,
            overlay: None,
            scroll: 0,
            jump: None,
            setup: None,
            to_unread: false,
            input: Input::default(),
            notice: None,
            now_ms: 0,
            utc_offset: None,
            layout: Layout::default(),
            sent_lines: Vec::new(),
            recall: None,
            completion: None,
            users: BTreeSet::new(),
            channels: BTreeSet::new(),
            input_for: None,
            distrusted: None,
            told_live: BTreeSet::new(),
            effects: Effects::default(),
        };
        // The chat opens at the newest messages.
        client.set_reading(true);
        app.follow_open(client);
        app
    }

    /// What the runner must do now.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// "ann is live in #general: “title”, watch at https://…/#watch=3".
    fn live_line<C: Cache>(&self, client: &Client<C>, s: &confab_proto::StreamInfo) -> String {
        let place = client
            .conv(s.conv)
            .map(|c| format!(" in {}", confab_client::describe::label(c.kind, &c.name)))
            .unwrap_or_default();
        match client.watch_link(&self.server, s.id) {
            Some(link) => format!("{} is live{place}: “{}”, watch at {link}", s.host, s.title),
            None => format!(
                "{} is live{place}: “{}” (watch in the browser client)",
                s.host, s.title
            ),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            level: Level::Info,
            text: text.into(),
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            level: Level::Error,
            text: text.into(),
        });
    }

    /// The driver could not trust the server's certificate. Asks, unless
    /// the user already said no to this one.
    pub fn trust(&mut self, t: TrustError) {
        if self.distrusted.as_ref() != Some(&t) {
            self.overlay = Some(Overlay::Trust(t));
        }
    }

    /// When the core opened another conversation, the input shows its draft.
    fn follow_open<C: Cache>(&mut self, client: &Client<C>) {
        if client.opened() != self.input_for.as_ref() {
            self.input_for = client.opened().cloned();
            self.input.set(client.open_draft());
            self.scroll = 0;
            // Opened with unread messages: start at their line.
            self.to_unread = true;
            self.completion = None;
            self.recall = None;
        }
    }

    // ---- client events ----

    pub fn events<C: Cache>(&mut self, events: Vec<Event>, client: &mut Client<C>, now_ms: u64) {
        self.now_ms = now_ms;
        for e in events {
            self.event(e, client);
        }
        self.follow_open(client);
    }

    fn event<C: Cache>(&mut self, e: Event, client: &mut Client<C>) {
        match e {
            Event::LoggedIn(user) => {
                if let Screen::Login(_) = self.screen {
                    self.screen = Screen::Chat;
                    self.notice = None;
                }
                if user.role == Role::Visitor {
                    self.info(format!(
                        "you are {}, a visitor: you can read public channels (/list, /join) but not write",
                        user.name
                    ));
                }
                if self
                    .notice
                    .as_ref()
                    .is_some_and(|n| n.text.starts_with("disconnected"))
                {
                    self.notice = None;
                }
                self.effects.wake = true;
            }
            Event::LoginFailed { message, .. } => {
                let error = match self.screen {
                    Screen::Chat => format!("your session has ended: {message}"),
                    Screen::Login(_) => message,
                };
                let mut form = match std::mem::replace(&mut self.screen, Screen::Chat) {
                    Screen::Login(form) => form,
                    Screen::Chat => {
                        let mut form = LoginForm::default();
                        if let Some(me) = client.me() {
                            form.user.set(&me.name);
                        }
                        form
                    }
                };
                form.password.take();
                form.busy = false;
                form.focus = if form.user.is_empty() {
                    LoginFocus::User
                } else {
                    LoginFocus::Password
                };
                form.error = Some(error);
                self.screen = Screen::Login(form);
            }
            Event::Convs => {
                for c in client.convs() {
                    match c.kind {
                        ConvKind::Channel => self.channels.insert(c.name.clone()),
                        ConvKind::Dm => self.users.insert(c.name.clone()),
                        ConvKind::Group => false,
                    };
                }
            }
            Event::Members(conv) => {
                if let Some(ms) = client.members(conv) {
                    self.users.extend(ms.iter().map(|m| m.name.clone()));
                }
            }
            Event::Friends => {
                let f = client.friends();
                let names: Vec<String> = f
                    .friends
                    .iter()
                    .map(|f| f.name.clone())
                    .chain(f.incoming.iter().cloned())
                    .collect();
                self.users.extend(names);
            }
            Event::Done { action, result } => self.done(action, result, client),
            Event::SendFailed { pending, message } => {
                let what = match &pending.what {
                    confab_client::What::File { name, .. } => name.clone(),
                    _ => pending.text.clone(),
                };
                self.error(format!("not sent: {message} (“{what}”)"));
                // The core put the text back into its draft.
                if self.input.is_empty() {
                    self.input.set(client.open_draft());
                }
            }
            Event::Error(text) => self.error(text),
            Event::Notice(text) => self.info(text),
            Event::Transfer(key) => {
                // Progress is in the status bar; the end is worth a notice.
                if let Some(t) = client.transfer(&key) {
                    match &t.phase {
                        Phase::Finished { to: Some(_) } => self.info(t.status()),
                        Phase::Failed(_) => self.error(t.status()),
                        _ => {}
                    }
                }
            }
            Event::Notify {
                title,
                body,
                in_view,
                ..
            } => {
                if !in_view && self.effects.notify.len() < 8 {
                    self.effects.notify.push((title, body));
                }
            }
            Event::Jumped { conv, seq } => {
                // Scroll so that the message is in view: count the lines
                // drawn after it.
                if client.opened_conv() == Some(conv) {
                    self.jump = Some(seq);
                }
            }
            // Who is live shows in the conversation's title; a new stream
            // is told once, with the browser link to watch it.
            Event::Streams(conv) => {
                let me = client.me().map(|u| u.name.clone());
                let new: Vec<_> = client
                    .live_streams(conv)
                    .iter()
                    .filter(|s| Some(&s.host) != me.as_ref() && !self.told_live.contains(&s.id))
                    .cloned()
                    .collect();
                for s in new {
                    self.told_live.insert(s.id);
                    // Ids grow: the oldest are long over.
                    while self.told_live.len() > 256 {
                        self.told_live.pop_first();
                    }
                    let text = self.live_line(client, &s);
                    self.info(text);
                }
            }
            Event::State(_)
            | Event::Avatar(_)
            | Event::Messages(_)
            | Event::Older(_)
            | Event::Typing(_)
            | Event::Opened
            | Event::StreamViewers { .. }
            | Event::Signal { .. } => {}
        }
    }

    /// An action finished: say how, and do what follows from it here.
    fn done<C: Cache>(
        &mut self,
        action: Action,
        result: Result<Outcome, confab_client::Refusal>,
        client: &mut Client<C>,
    ) {
        let outcome = match result {
            Ok(o) => o,
            Err(r) => {
                match (&action, &mut self.overlay) {
                    (Action::ChangePassword { .. }, Some(Overlay::Passwd(form))) => {
                        form.error = Some(r.message)
                    }
                    _ => self.error(r.message),
                }
                return;
            }
        };
        let sentence = outcome.sentence();
        match &outcome {
            Outcome::Channels(cs) => self.channels.extend(cs.iter().map(|c| c.name.clone())),
            Outcome::Users(us) => self.users.extend(us.iter().cloned()),
            Outcome::Joined(c) => {
                self.channels.insert(c.name.clone());
            }
            Outcome::PasswordChanged => self.overlay = None,
            Outcome::LoggedOut => {
                self.effects.wake = true;
                self.screen = Screen::Login(LoginForm {
                    error: Some("logged out".into()),
                    ..LoginForm::default()
                });
                return;
            }
            Outcome::Whoami(_) => {
                self.info(format!("{sentence} on {}", self.server));
                return;
            }
            Outcome::Found { query, hits, .. } if !hits.is_empty() => {
                self.overlay = Some(Overlay::Search {
                    query: query.clone(),
                    hits: hits.clone(),
                    chosen: 0,
                });
            }
            _ => {}
        }
        self.info(sentence);
        self.follow_open(client);
    }

    // ---- terminal input ----

    pub fn key<C: Cache>(&mut self, key: KeyEvent, client: &mut Client<C>, now_ms: u64) {
        self.now_ms = now_ms;
        if key.kind == KeyEventKind::Release {
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            self.effects.quit = true;
            return;
        }
        if self.overlay.is_some() {
            self.overlay_key(key, client);
            return;
        }
        match self.screen {
            Screen::Login(_) => self.login_key(key, client),
            Screen::Chat => {
                self.chat_key(key, client);
                self.follow_open(client);
            }
        }
    }

    pub fn paste<C: Cache>(&mut self, text: &str, client: &mut Client<C>) {
        let flat = text.replace(['\r', '\n'], " ");
        match (&mut self.overlay, &mut self.screen) {
            (Some(Overlay::Passwd(f)), _) => f.fields[f.field].insert_str(&flat),
            (Some(_), _) => {}
            (None, Screen::Login(form)) => match form.focus {
                LoginFocus::Password => form.password.insert_str(&flat),
                _ => form.user.insert_str(flat.trim()),
            },
            (None, Screen::Chat) => {
                self.input.insert_str(&flat);
                client.set_draft(self.input.text());
            }
        }
    }

    pub fn mouse<C: Cache>(&mut self, m: MouseEvent, client: &mut Client<C>) {
        if self.overlay.is_some() || !matches!(self.screen, Screen::Chat) {
            return;
        }
        let at = Position::new(m.column, m.row);
        match m.kind {
            MouseEventKind::ScrollUp if self.layout.messages.contains(at) => {
                self.scroll_up(WHEEL_LINES, client)
            }
            MouseEventKind::ScrollDown if self.layout.messages.contains(at) => {
                self.scroll_down(WHEEL_LINES, client)
            }
            MouseEventKind::Down(MouseButton::Left) if self.layout.convs.contains(at) => {
                let row = (m.row - self.layout.convs.y) as usize;
                if let Some(conv) = row
                    .checked_sub(1)
                    .and_then(|r| self.layout.conv_rows.get(r))
                {
                    client.open(Target::Conv(*conv), self.now_ms);
                    self.effects.wake = true;
                }
            }
            _ => {}
        }
        self.follow_open(client);
    }

    fn overlay_key<C: Cache>(&mut self, key: KeyEvent, client: &mut Client<C>) {
        match self.overlay.take() {
            Some(Overlay::Help) | Some(Overlay::Friends) | None => {}
            Some(Overlay::Search {
                query,
                hits,
                mut chosen,
            }) => match key.code {
                KeyCode::Up => {
                    chosen = chosen.saturating_sub(1);
                    self.overlay = Some(Overlay::Search {
                        query,
                        hits,
                        chosen,
                    });
                }
                KeyCode::Down => {
                    chosen = (chosen + 1).min(hits.len().saturating_sub(1));
                    self.overlay = Some(Overlay::Search {
                        query,
                        hits,
                        chosen,
                    });
                }
                KeyCode::Enter => {
                    if let Some(hit) = hits.get(chosen) {
                        let conv = hit.message.conv;
                        if client.conv(conv).is_some() {
                            client.jump_to(conv, hit.message.seq, self.now_ms);
                            self.effects.wake = true;
                        } else {
                            self.error(format!(
                                "join {} to read it in its place",
                                confab_client::describe::label(hit.kind, &hit.name)
                            ));
                        }
                    }
                }
                KeyCode::Esc => {}
                _ => {
                    self.overlay = Some(Overlay::Search {
                        query,
                        hits,
                        chosen,
                    })
                }
            },
            Some(Overlay::Trust(TrustError::Unknown { fingerprint })) => match key.code {
                KeyCode::Char('y' | 'Y') => {
                    self.info(format!(
                        "trusted {fingerprint}; it is pinned in this profile"
                    ));
                    self.effects.pin = Some(fingerprint);
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    self.error(format!(
                        "certificate not trusted: not connecting to {} (restart to be asked again)",
                        self.server
                    ));
                    self.distrusted = Some(TrustError::Unknown { fingerprint });
                }
                _ => self.overlay = Some(Overlay::Trust(TrustError::Unknown { fingerprint })),
            },
            Some(Overlay::Trust(changed)) => match key.code {
                KeyCode::Esc | KeyCode::Enter => {
                    self.error("the server's certificate changed: not connecting (see --trust)");
                    self.distrusted = Some(changed);
                }
                _ => self.overlay = Some(Overlay::Trust(changed)),
            },
            Some(Overlay::Passwd(mut form)) => {
                if self.passwd_key(&mut form, key, client) {
                    self.overlay = Some(Overlay::Passwd(form));
                }
            }
        }
    }

    /// Returns whether the form stays open.
    fn passwd_key<C: Cache>(
        &mut self,
        form: &mut PasswdForm,
        key: KeyEvent,
        client: &mut Client<C>,
    ) -> bool {
        match key.code {
            KeyCode::Esc => {
                self.info("password not changed");
                return false;
            }
            KeyCode::Tab | KeyCode::Down => form.field = (form.field + 1) % 3,
            KeyCode::BackTab | KeyCode::Up => form.field = (form.field + 2) % 3,
            KeyCode::Enter if form.field < 2 => form.field += 1,
            KeyCode::Enter => {
                let [old, new, again] = &form.fields;
                form.error = if new.text() != again.text() {
                    Some("the new passwords differ".into())
                } else if old.is_empty() || new.is_empty() {
                    Some("fill in all three fields".into())
                } else {
                    match client.act(Action::ChangePassword {
                        old: old.text().to_owned(),
                        new: new.text().to_owned(),
                    }) {
                        Ok(()) => {
                            self.effects.wake = true;
                            Some("changing…".into())
                        }
                        Err(e) => Some(format!("cannot change it now: {e}")),
                    }
                };
            }
            _ => edit(&mut form.fields[form.field], key),
        }
        true
    }

    fn login_key<C: Cache>(&mut self, key: KeyEvent, client: &mut Client<C>) {
        let Screen::Login(form) = &mut self.screen else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.effects.quit = true,
            KeyCode::Tab | KeyCode::Down => form.focus = form.focus.step(1),
            KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.step(-1),
            KeyCode::Left if form.focus as usize >= LoginFocus::LogIn as usize => {
                form.focus = form.focus.step(-1)
            }
            KeyCode::Right if form.focus as usize >= LoginFocus::LogIn as usize => {
                form.focus = form.focus.step(1)
            }
            KeyCode::Enter => {
                let how = match form.focus {
                    LoginFocus::User if form.password.is_empty() => {
                        form.focus = LoginFocus::Password;
                        return;
                    }
                    LoginFocus::User | LoginFocus::Password | LoginFocus::LogIn => {
                        LoginFocus::LogIn
                    }
                    other => other,
                };
                let user = form.user.text().trim().to_owned();
                let password = form.password.text().to_owned();
                let auth = match how {
                    LoginFocus::Visitor => Auth::Visitor,
                    _ if user.is_empty() => {
                        form.error = Some("enter a user name (or choose Visitor)".into());
                        form.focus = LoginFocus::User;
                        return;
                    }
                    _ if password.is_empty() => {
                        form.error = Some("enter a password".into());
                        form.focus = LoginFocus::Password;
                        return;
                    }
                    LoginFocus::Register => Auth::Register {
                        username: user,
                        password,
                        invite: None,
                        setup: self.setup.clone(),
                    },
                    _ => Auth::Login {
                        username: user,
                        password,
                    },
                };
                form.error = None;
                form.busy = true;
                client.set_auth(auth, self.now_ms);
                client.retry_now(self.now_ms);
                self.effects.wake = true;
            }
            _ => match form.focus {
                LoginFocus::User => edit(&mut form.user, key),
                LoginFocus::Password => edit(&mut form.password, key),
                _ => {}
            },
        }
    }

    fn chat_key<C: Cache>(&mut self, key: KeyEvent, client: &mut Client<C>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if !matches!(key.code, KeyCode::Tab | KeyCode::BackTab) {
            self.completion = None;
        }
        let now = self.now_ms;
        match key.code {
            KeyCode::Tab => self.complete(client, 1),
            KeyCode::BackTab => self.complete(client, -1),
            KeyCode::Enter => self.submit(client),
            KeyCode::PageUp => self.scroll_up(self.layout.height.saturating_sub(2).max(1), client),
            KeyCode::PageDown => {
                self.scroll_down(self.layout.height.saturating_sub(2).max(1), client)
            }
            KeyCode::Char('n') if ctrl => self.switch(1, client),
            KeyCode::Char('p') if ctrl => self.switch(-1, client),
            KeyCode::Down if ctrl || alt => self.switch(1, client),
            KeyCode::Up if ctrl || alt => self.switch(-1, client),
            KeyCode::End if ctrl => self.scroll_down(usize::MAX, client),
            KeyCode::Char('d') if ctrl && self.input.is_empty() => self.effects.quit = true,
            KeyCode::Up => self.recall(-1, client),
            KeyCode::Down => self.recall(1, client),
            KeyCode::Esc => {
                self.notice = None;
                self.scroll_down(usize::MAX, client);
            }
            _ => {
                let before = self.input.text().len();
                edit(&mut self.input, key);
                client.set_draft(self.input.text());
                if self.input.text().len() > before && !commands::is_command(self.input.text()) {
                    client.typed(now);
                    self.effects.wake = true;
                }
            }
        }
    }

    fn switch<C: Cache>(&mut self, by: isize, client: &mut Client<C>) {
        client.open_next(by, self.now_ms);
        self.effects.wake = true;
    }

    fn recall<C: Cache>(&mut self, by: isize, client: &mut Client<C>) {
        if self.sent_lines.is_empty() {
            return;
        }
        let n = self.sent_lines.len() as isize;
        let at = self.recall.map_or(n, |i| i as isize) + by;
        if at >= n {
            self.recall = None;
            self.input.set("");
        } else {
            let at = at.clamp(0, n - 1) as usize;
            self.recall = Some(at);
            let line = self.sent_lines[at].clone();
            self.input.set(&line);
        }
        client.set_draft(self.input.text());
    }

    pub fn scroll_up<C: Cache>(&mut self, lines: usize, client: &mut Client<C>) {
        let top = self.layout.total_lines.saturating_sub(self.layout.height);
        self.scroll = (self.scroll + lines).min(top);
        if self.scroll > 0 {
            client.set_reading(false);
        }
        if self.scroll >= top {
            // At the top of what is loaded: the core reads further back.
            client.scroll_back();
            self.effects.wake = true;
        }
    }

    pub fn scroll_down<C: Cache>(&mut self, lines: usize, client: &mut Client<C>) {
        self.scroll = self.scroll.saturating_sub(lines);
        if self.scroll == 0 {
            client.set_reading(true);
        }
    }

    fn complete<C: Cache>(&mut self, client: &mut Client<C>, by: isize) {
        if let Some(c) = &mut self.completion {
            let n = c.candidates.len() as isize;
            c.index = ((c.index as isize + by).rem_euclid(n)) as usize;
            let with = c.candidates[c.index].clone();
            self.input.replace_before_cursor(c.start, &with);
            client.set_draft(self.input.text());
            return;
        }
        let (start, word) = self.input.word_before_cursor();
        let candidates = self.candidates(start, word, client);
        if candidates.is_empty() {
            return;
        }
        self.input.replace_before_cursor(start, &candidates[0]);
        client.set_draft(self.input.text());
        if candidates.len() > 1 {
            self.info(format!(
                "Tab: {}",
                candidates
                    .iter()
                    .take(12)
                    .map(|c| c.trim_end())
                    .collect::<Vec<_>>()
                    .join("  ")
            ));
        }
        self.completion = Some(Completion {
            start,
            candidates,
            index: 0,
        });
    }

    /// Completions of `word` (which starts at byte `start`), each with the
    /// space that follows it.
    fn candidates<C: Cache>(&self, start: usize, word: &str, client: &Client<C>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if start == 0 && word.starts_with('/') {
            out = commands::NAMES
                .iter()
                .filter(|n| n.starts_with(word))
                .map(|n| format!("{n} "))
                .collect();
        } else if let Some(code) = word.strip_prefix(':') {
            if emoji::is_shortcode_prefix(code) {
                out = emoji::complete(code, 50)
                    .into_iter()
                    .map(|c| format!(":{c}: "))
                    .collect();
            }
        } else if let Some(ch) = word.strip_prefix('#') {
            let mut names: BTreeSet<&str> = self.channels.iter().map(String::as_str).collect();
            for c in client.convs() {
                if c.kind == ConvKind::Channel {
                    names.insert(&c.name);
                }
            }
            out = names
                .into_iter()
                .filter(|n| n.starts_with(ch))
                .map(|n| format!("#{n} "))
                .collect();
        } else if !word.is_empty() {
            let (at, name) = match word.strip_prefix('@') {
                Some(n) => ("@", n),
                None => ("", word),
            };
            let mut names: BTreeSet<&str> = self.users.iter().map(String::as_str).collect();
            if let Some(ms) = client.opened_conv().and_then(|c| client.members(c)) {
                names.extend(ms.iter().map(|m| m.name.as_str()));
            }
            for c in client.convs() {
                if c.kind == ConvKind::Dm {
                    names.insert(&c.name);
                }
            }
            out = names
                .into_iter()
                .filter(|n| n.starts_with(name) && *n != name)
                .map(|n| format!("{at}{n} "))
                .collect();
        }
        out
    }

    fn submit<C: Cache>(&mut self, client: &mut Client<C>) {
        let line = self.input.text().to_owned();
        if line.trim().is_empty() {
            return;
        }
        self.recall = None;
        if self.sent_lines.last() != Some(&line) {
            self.sent_lines.push(line.clone());
            if self.sent_lines.len() > 500 {
                self.sent_lines.remove(0);
            }
        }
        if commands::is_command(&line) {
            match commands::parse(&line) {
                Ok(cmd) => {
                    self.input.take();
                    client.set_draft("");
                    self.run(cmd, client);
                }
                Err(e) => self.error(e),
            }
            return;
        }
        if client.opened().is_none() {
            self.error("you are in no conversation yet: /join #channel (/list shows them)");
            return;
        }
        // `//text` sends `/text`.
        if let Some(text) = line.strip_prefix('/') {
            client.set_draft(text);
        }
        match client.send_draft(self.now_ms) {
            Ok(_) => {
                self.input.take();
                self.scroll = 0;
                self.effects.wake = true;
            }
            Err(e) => {
                client.set_draft(&line);
                self.error(format!("not sent: {e}"));
            }
        }
    }

    /// Carries out a command: the core does what it can; what is left is
    /// this UI's (its help, the password form, the friends box, quitting).
    fn run<C: Cache>(&mut self, cmd: Command, client: &mut Client<C>) {
        if let Command::Msg { user, .. } = &cmd {
            self.users.insert(user.clone());
        }
        let jump = matches!(cmd, Command::Msg { .. } | Command::Join(_));
        match client.run(cmd, self.now_ms) {
            Ok(Ran::Done) => {
                if jump {
                    self.scroll = 0;
                }
                self.effects.wake = true;
            }
            Ok(Ran::Info(text)) => {
                self.effects.wake = true;
                self.info(text);
            }
            Ok(Ran::Ui(Command::Passwd)) => {
                if client.me().is_some_and(|u| u.role == Role::Visitor) {
                    self.error("visitors have no password");
                } else {
                    self.overlay = Some(Overlay::Passwd(PasswdForm::default()));
                }
            }
            Ok(Ran::Ui(Command::Help)) => self.overlay = Some(Overlay::Help),
            Ok(Ran::Ui(Command::Exit)) => self.effects.quit = true,
            Ok(Ran::Ui(Command::Friends)) => self.overlay = Some(Overlay::Friends),
            Ok(Ran::Ui(Command::Live)) => {
                let streams = client
                    .opened_conv()
                    .map(|c| client.live_streams(c).to_vec())
                    .unwrap_or_default();
                if streams.is_empty() {
                    self.info("Nobody is live here.");
                } else {
                    let lines: Vec<String> =
                        streams.iter().map(|s| self.live_line(client, s)).collect();
                    self.info(lines.join(" · "));
                }
            }
            Ok(Ran::Ui(Command::Avatar(path))) => {
                match chosen_file(&path, "/avatar").and_then(|(full, name, size)| {
                    client
                        .set_avatar(&full, &name, size, self.now_ms as i64)
                        .map_err(|e| format!("not changed: {e}"))
                }) {
                    Ok(_) => self.effects.wake = true,
                    Err(e) => self.error(e),
                }
            }
            Ok(Ran::Ui(Command::Upload { path, offer })) => {
                match upload(client, &path, offer, self.now_ms) {
                    Ok(()) => self.effects.wake = true,
                    Err(e) => self.error(e),
                }
            }
            Ok(Ran::Ui(_)) => {}
            Err(e) => self.error(e),
        }
    }
}

/// `/upload PATH` (or `/offer PATH`): the file to the open conversation.
fn upload<C: Cache>(
    client: &mut Client<C>,
    path: &str,
    offer: bool,
    now_ms: u64,
) -> Result<(), String> {
    let cmd = if offer { "/offer" } else { "/upload" };
    let (full, name, size) = chosen_file(path, cmd)?;
    let target = client
        .opened()
        .cloned()
        .ok_or("open the conversation to post it in first")?;
    client
        .upload(target, &full, &name, size, offer, now_ms as i64)
        .map(|_| ())
        .map_err(|e| format!("not uploaded: {e}"))
}

/// A file named on the command line: its absolute path, name and size.
fn chosen_file(path: &str, cmd: &str) -> Result<(String, String, u64), String> {
    if path.is_empty() {
        return Err(format!("{cmd} needs a file: {cmd} PATH"));
    }
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => dirs_home().join(rest),
        None => std::path::PathBuf::from(path),
    };
    let full = std::path::absolute(&expanded).map_err(|e| format!("{path}: {e}"))?;
    let meta = std::fs::metadata(&full).map_err(|e| format!("{path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a file"));
    }
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((full.display().to_string(), name, meta.len()))
}

fn dirs_home() -> std::path::PathBuf {
    std::env::var_os("HOME").map_or_else(|| ".".into(), std::path::PathBuf::from)
}

/// The editing keys shared by every text field.
fn edit(input: &mut Input, key: KeyEvent) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('a') if ctrl => input.home(),
        KeyCode::Char('e') if ctrl => input.end(),
        KeyCode::Char('u') if ctrl => input.kill_to_start(),
        KeyCode::Char('w') if ctrl => input.kill_word(),
        KeyCode::Char(c) if !ctrl => input.insert(c),
        KeyCode::Backspace => input.backspace(),
        KeyCode::Delete => input.delete(),
        KeyCode::Left => input.left(),
        KeyCode::Right => input.right(),
        KeyCode::Home => input.home(),
        KeyCode::End => input.end(),
        _ => {}
    }
}
