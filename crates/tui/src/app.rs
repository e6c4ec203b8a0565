//! The terminal client's state and what keys, mouse and client events do
//! to it. No terminal here: [`crate::term`] feeds it input and draws it
//! with [`crate::ui`], and the tests drive it with a `MemoryCache` client
//! and ratatui's `TestBackend`.

use std::collections::{BTreeSet, HashMap};

use confab_client::emoji;
use confab_client::native::TrustError;
use confab_client::{Auth, Cache, Client, ConnState, Event, Target};
use confab_proto::{ConvId, ConvKind, Request, Role, Seq, ServerBody};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::commands::{self, Command};
use crate::input::Input;

/// Messages read from the cache per step of scrollback.
pub const PAGE: usize = 100;
/// How long "bob is typing" stays up without another typing event.
const TYPING_SHOWN_MS: u64 = 6_000;
/// How often this client tells others it is typing.
const TYPING_EVERY_MS: u64 = 3_000;
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

/// What a request made for the user was, to word its answer.
#[derive(Debug, Clone)]
enum Asked {
    Join,
    Create,
    Leave(String),
    Invite { user: String, channel: String },
    List,
    Users,
    Invisible(bool),
    Passwd,
    Whoami,
    Logout,
    Typing,
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
    /// Lines of the selected conversation at the last draw, and how many fit.
    pub total_lines: usize,
    pub height: usize,
    /// Messages read from the cache at the last draw, and the oldest seq among them.
    pub loaded: usize,
    pub oldest: Option<Seq>,
}

pub struct App {
    /// `host:port`, for the screens.
    pub server: String,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub selected: Option<ConvId>,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
    /// Messages of the selected conversation to read from the cache.
    pub want: usize,
    /// Conversations whose oldest message is in the cache.
    pub complete: BTreeSet<ConvId>,
    pub input: Input,
    pub notice: Option<Notice>,
    /// Who is typing where, until when.
    pub typing: Vec<(ConvId, String, u64)>,
    /// `/clear`: messages up to this seq are not shown.
    pub cleared: HashMap<ConvId, Seq>,
    /// The clock, as of the last input or event (for the status bar).
    pub now_ms: u64,
    /// Fixed UTC offset for timestamps (tests); `None`: the local time zone.
    pub utc_offset: Option<chrono::FixedOffset>,
    pub layout: Layout,
    sent_lines: Vec<String>,
    recall: Option<usize>,
    completion: Option<Completion>,
    asked: HashMap<u64, Asked>,
    /// User and channel names seen, for Tab completion.
    users: BTreeSet<String>,
    channels: BTreeSet<String>,
    /// Select this DM partner's conversation once it exists.
    open_dm: Option<String>,
    last_typing: (ConvId, u64),
    /// A certificate the user refused: not asked about again.
    pub distrusted: Option<TrustError>,
    effects: Effects,
}

impl App {
    /// The app for `client`: the chat if it can log in by itself (a saved
    /// session), else the login screen.
    pub fn new<C: Cache>(server: &str, client: &Client<C>) -> App {
        let screen = if client.has_auth() {
            Screen::Chat
        } else {
            Screen::Login(LoginForm::default())
        };
        let mut app = App {
            server: server.to_owned(),
            screen,
            overlay: None,
            selected: None,
            scroll: 0,
            want: PAGE,
            complete: BTreeSet::new(),
            input: Input::default(),
            notice: None,
            typing: Vec::new(),
            cleared: HashMap::new(),
            now_ms: 0,
            utc_offset: None,
            layout: Layout::default(),
            sent_lines: Vec::new(),
            recall: None,
            completion: None,
            asked: HashMap::new(),
            users: BTreeSet::new(),
            channels: BTreeSet::new(),
            open_dm: None,
            last_typing: (0, 0),
            distrusted: None,
            effects: Effects::default(),
        };
        if let Some(first) = client.convs().first() {
            app.selected = Some(first.conv);
        }
        app
    }

    /// What the runner must do now.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
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

    // ---- client events ----

    pub fn events<C: Cache>(&mut self, events: Vec<Event>, client: &mut Client<C>, now_ms: u64) {
        self.now_ms = now_ms;
        self.typing.retain(|(_, _, until)| *until > now_ms);
        for e in events {
            self.event(e, client);
        }
    }

    fn event<C: Cache>(&mut self, e: Event, client: &mut Client<C>) {
        match e {
            Event::State(_) => {}
            Event::LoggedIn(user) => {
                // Requests of an earlier connection are never answered.
                self.asked.clear();
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
                self.fix_selection(client);
                if let Some(conv) = self.selected {
                    // Presence changed unseen while we were away.
                    let _ = client.fetch_members(conv);
                    self.opened(conv, client);
                }
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
                if let Some(user) = self.open_dm.clone()
                    && let Some(c) = client.conv_named(ConvKind::Dm, &user)
                {
                    self.open_dm = None;
                    let conv = c.conv;
                    self.select(conv, client);
                }
                self.fix_selection(client);
                for c in client.convs() {
                    match c.kind {
                        ConvKind::Channel => self.channels.insert(c.name.clone()),
                        ConvKind::Dm => self.users.insert(c.name.clone()),
                        ConvKind::Group => false,
                    };
                }
            }
            Event::Messages(conv) => {
                // Whoever just wrote has stopped typing.
                if let Some(m) = client
                    .messages(conv, None, 1)
                    .ok()
                    .and_then(|m| m.last().cloned())
                {
                    self.typing
                        .retain(|(c, u, _)| !(*c == conv && *u == m.sender));
                }
                if Some(conv) == self.selected && self.scroll == 0 {
                    let _ = client.mark_read(conv);
                }
            }
            Event::Older { conv, more } => {
                if !more {
                    self.complete.insert(conv);
                }
                if Some(conv) == self.selected {
                    self.want += PAGE;
                }
            }
            Event::Members(conv) => {
                if let Some(ms) = client.members(conv) {
                    self.users.extend(ms.iter().map(|m| m.name.clone()));
                }
            }
            Event::Typing { conv, user } => {
                self.typing.retain(|(c, u, _)| !(*c == conv && *u == user));
                self.typing
                    .push((conv, user, self.now_ms + TYPING_SHOWN_MS));
            }
            Event::SendFailed { pending, message } => {
                self.error(format!("not sent: {message} (“{}”)", pending.text));
            }
            Event::Reply { id, body } => {
                if let Some(asked) = self.asked.remove(&id) {
                    self.reply(asked, body, client);
                }
            }
            Event::Error(text) => self.error(text),
            Event::Notice(text) => self.info(format!("notice: {text}")),
        }
    }

    fn reply<C: Cache>(&mut self, asked: Asked, body: ServerBody, client: &mut Client<C>) {
        if let ServerBody::Error { message, .. } = body {
            match (asked, &mut self.overlay) {
                (Asked::Typing, _) => {}
                (Asked::Passwd, Some(Overlay::Passwd(form))) => form.error = Some(message),
                _ => self.error(message),
            }
            return;
        }
        match (asked, body) {
            (Asked::Join | Asked::Create, ServerBody::Channel { channel }) => {
                self.channels.insert(channel.name.clone());
                let kind = if channel.private { "private" } else { "public" };
                self.info(format!(
                    "you are in #{} ({kind}, {} members){}",
                    channel.name,
                    channel.members,
                    if channel.topic.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", channel.topic)
                    }
                ));
                self.select(channel.conv, client);
            }
            (Asked::Leave(name), _) => {
                self.info(format!("you left #{name}"));
                self.fix_selection(client);
            }
            (Asked::Invite { user, channel }, _) => {
                self.info(format!("{user} can now read and write in #{channel}"));
            }
            (Asked::List, ServerBody::Channels { channels }) => {
                self.channels
                    .extend(channels.iter().map(|c| c.name.clone()));
                if channels.is_empty() {
                    self.info("no channels yet: /create #name makes one");
                } else {
                    let list: Vec<String> = channels
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
                    self.info(format!("channels (* joined): {}", list.join("  ")));
                }
            }
            (Asked::Users, ServerBody::Users { users }) => {
                self.users.extend(users.iter().cloned());
                self.info(format!("online ({}): {}", users.len(), users.join(", ")));
            }
            (Asked::Invisible(on), _) => self.info(if on {
                "you are invisible: others see you offline"
            } else {
                "you are visible again"
            }),
            (Asked::Passwd, _) => {
                self.overlay = None;
                self.info("password changed; your other sessions were logged out");
            }
            (Asked::Whoami, ServerBody::User { user }) => {
                self.info(format!(
                    "you are {} ({}{}) on {}",
                    user.name,
                    user.role.as_str(),
                    if user.invisible { ", invisible" } else { "" },
                    self.server
                ));
            }
            (Asked::Logout, _) => self.logged_out(client),
            _ => {}
        }
    }

    fn logged_out<C: Cache>(&mut self, client: &mut Client<C>) {
        let _ = client.forget_login();
        client.hang_up();
        self.effects.wake = true;
        self.screen = Screen::Login(LoginForm {
            error: Some("logged out".into()),
            ..LoginForm::default()
        });
    }

    /// Selects a conversation if none (or a vanished one) is selected.
    fn fix_selection<C: Cache>(&mut self, client: &mut Client<C>) {
        let gone = self.selected.is_none_or(|c| client.conv(c).is_none());
        if gone {
            self.selected = None;
            if let Some(first) = client.convs().first().map(|c| c.conv) {
                self.select(first, client);
            }
        }
    }

    fn select<C: Cache>(&mut self, conv: ConvId, client: &mut Client<C>) {
        if self.selected != Some(conv) {
            self.selected = Some(conv);
            self.scroll = 0;
            self.want = PAGE;
        }
        self.opened(conv, client);
    }

    /// The conversation is on screen: read, with members and some history.
    fn opened<C: Cache>(&mut self, conv: ConvId, client: &mut Client<C>) {
        let _ = client.mark_read(conv);
        if *client.state() != ConnState::Online {
            return;
        }
        if client.members(conv).is_none() {
            let _ = client.fetch_members(conv);
        }
        // A visitor's channels are not synced: fetch the newest page.
        if client.cache().oldest(conv).ok().flatten().is_none() {
            let _ = client.fetch_older(conv);
        }
        self.effects.wake = true;
    }

    fn move_selection<C: Cache>(&mut self, by: isize, client: &mut Client<C>) {
        let convs: Vec<ConvId> = client.convs().iter().map(|c| c.conv).collect();
        if convs.is_empty() {
            return;
        }
        let i = self
            .selected
            .and_then(|s| convs.iter().position(|c| *c == s))
            .unwrap_or(0) as isize;
        let next = convs[(i + by).rem_euclid(convs.len() as isize) as usize];
        self.select(next, client);
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
            Screen::Chat => self.chat_key(key, client),
        }
    }

    pub fn paste(&mut self, text: &str) {
        let flat = text.replace(['\r', '\n'], " ");
        match (&mut self.overlay, &mut self.screen) {
            (Some(Overlay::Passwd(f)), _) => f.fields[f.field].insert_str(&flat),
            (Some(_), _) => {}
            (None, Screen::Login(form)) => match form.focus {
                LoginFocus::Password => form.password.insert_str(&flat),
                _ => form.user.insert_str(flat.trim()),
            },
            (None, Screen::Chat) => self.input.insert_str(&flat),
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
                    self.select(*conv, client);
                }
            }
            _ => {}
        }
    }

    fn overlay_key<C: Cache>(&mut self, key: KeyEvent, client: &mut Client<C>) {
        match self.overlay.take() {
            Some(Overlay::Help) | None => {}
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
                    match client.request(Request::ChangePassword {
                        old_password: old.text().to_owned(),
                        new_password: new.text().to_owned(),
                    }) {
                        Ok(id) => {
                            self.asked.insert(id, Asked::Passwd);
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
        match key.code {
            KeyCode::Tab => self.complete(client, 1),
            KeyCode::BackTab => self.complete(client, -1),
            KeyCode::Enter => self.submit(client),
            KeyCode::PageUp => self.scroll_up(self.layout.height.saturating_sub(2).max(1), client),
            KeyCode::PageDown => {
                self.scroll_down(self.layout.height.saturating_sub(2).max(1), client)
            }
            KeyCode::Char('n') if ctrl => self.move_selection(1, client),
            KeyCode::Char('p') if ctrl => self.move_selection(-1, client),
            KeyCode::Down if ctrl || alt => self.move_selection(1, client),
            KeyCode::Up if ctrl || alt => self.move_selection(-1, client),
            KeyCode::End if ctrl => self.scroll_down(usize::MAX, client),
            KeyCode::Char('d') if ctrl && self.input.is_empty() => self.effects.quit = true,
            KeyCode::Up => self.recall(-1),
            KeyCode::Down => self.recall(1),
            KeyCode::Esc => {
                self.notice = None;
                self.scroll_down(usize::MAX, client);
            }
            _ => {
                let before = self.input.text().len();
                edit(&mut self.input, key);
                if self.input.text().len() > before && !commands::is_command(self.input.text()) {
                    self.typed(client);
                }
            }
        }
    }

    /// Tells the others in the conversation that we are typing, now and then.
    fn typed<C: Cache>(&mut self, client: &mut Client<C>) {
        let Some(conv) = self.selected else { return };
        let (last_conv, at) = self.last_typing;
        if last_conv == conv && self.now_ms < at + TYPING_EVERY_MS {
            return;
        }
        if client.me().is_some_and(|u| u.role == Role::Visitor) {
            return;
        }
        if let Ok(id) = client.request(Request::Typing { conv }) {
            self.asked.insert(id, Asked::Typing);
            self.last_typing = (conv, self.now_ms);
            self.effects.wake = true;
        }
    }

    fn recall(&mut self, by: isize) {
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
    }

    pub fn scroll_up<C: Cache>(&mut self, lines: usize, client: &mut Client<C>) {
        let top = self.layout.total_lines.saturating_sub(self.layout.height);
        self.scroll = (self.scroll + lines).min(top);
        if self.scroll >= top {
            self.load_older(client);
        }
    }

    pub fn scroll_down<C: Cache>(&mut self, lines: usize, client: &mut Client<C>) {
        self.scroll = self.scroll.saturating_sub(lines);
        if self.scroll == 0
            && let Some(conv) = self.selected
        {
            let _ = client.mark_read(conv);
        }
    }

    /// At the top of what is loaded: read further back in the cache, or ask
    /// the server for the page before it.
    fn load_older<C: Cache>(&mut self, client: &mut Client<C>) {
        let Some(conv) = self.selected else { return };
        if self.layout.loaded >= self.want {
            self.want += PAGE;
        } else if self.layout.oldest == Some(1) {
            self.complete.insert(conv);
        } else if !self.complete.contains(&conv) && client.fetch_older(conv).is_ok() {
            self.effects.wake = true;
        }
    }

    fn complete<C: Cache>(&mut self, client: &Client<C>, by: isize) {
        if let Some(c) = &mut self.completion {
            let n = c.candidates.len() as isize;
            c.index = ((c.index as isize + by).rem_euclid(n)) as usize;
            let with = c.candidates[c.index].clone();
            self.input.replace_before_cursor(c.start, &with);
            return;
        }
        let (start, word) = self.input.word_before_cursor();
        let candidates = self.candidates(start, word, client);
        if candidates.is_empty() {
            return;
        }
        self.input.replace_before_cursor(start, &candidates[0]);
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
            if let Some(ms) = self.selected.and_then(|c| client.members(c)) {
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
                    self.run(cmd, client);
                }
                Err(e) => self.error(e),
            }
            return;
        }
        let text = line.strip_prefix('/').unwrap_or(&line).trim_end();
        let Some(conv) = self.selected else {
            self.error("you are in no conversation yet: /join #channel (/list shows them)");
            return;
        };
        let text = emoji::expand(text);
        match client.send(Target::Conv(conv), &text, self.now_ms as i64) {
            Ok(_) => {
                self.input.take();
                self.scroll = 0;
                self.effects.wake = true;
            }
            Err(e) => self.error(format!("not sent: {e}")),
        }
    }

    /// Sends a request for the user, remembering what it was.
    fn ask<C: Cache>(&mut self, client: &mut Client<C>, req: Request, asked: Asked) {
        match client.request(req) {
            Ok(id) => {
                self.asked.insert(id, asked);
                self.effects.wake = true;
            }
            Err(e) => self.error(format!("{e}: try again once connected")),
        }
    }

    /// The selected conversation's channel name, for commands that default to it.
    fn current_channel<C: Cache>(&self, client: &Client<C>) -> Option<String> {
        self.selected
            .and_then(|c| client.conv(c))
            .filter(|c| c.kind == ConvKind::Channel)
            .map(|c| c.name.clone())
    }

    fn run<C: Cache>(&mut self, cmd: Command, client: &mut Client<C>) {
        match cmd {
            Command::Join(name) => {
                if let Some(c) = client.conv_named(ConvKind::Channel, &name) {
                    let conv = c.conv;
                    self.select(conv, client);
                } else {
                    self.ask(client, Request::ChannelJoin { name }, Asked::Join);
                }
            }
            Command::Leave(name) => match name.or_else(|| self.current_channel(client)) {
                Some(name) => self.ask(
                    client,
                    Request::ChannelLeave { name: name.clone() },
                    Asked::Leave(name),
                ),
                None => self.error("/leave works in a channel, or name one: /leave #channel"),
            },
            Command::Create {
                name,
                private,
                topic,
            } => self.ask(
                client,
                Request::ChannelCreate {
                    name,
                    private,
                    topic,
                },
                Asked::Create,
            ),
            Command::Invite { user, channel } => {
                match channel.or_else(|| self.current_channel(client)) {
                    Some(channel) => self.ask(
                        client,
                        Request::ChannelInvite {
                            name: channel.clone(),
                            user: user.clone(),
                        },
                        Asked::Invite { user, channel },
                    ),
                    None => self.error("/invite needs a channel here: /invite USER #channel"),
                }
            }
            Command::List => self.ask(client, Request::ChannelList {}, Asked::List),
            Command::Users => self.ask(client, Request::Users {}, Asked::Users),
            Command::Msg { user, text } => {
                let existing = client.conv_named(ConvKind::Dm, &user).map(|c| c.conv);
                match (text, existing) {
                    (None, Some(conv)) => self.select(conv, client),
                    (None, None) => self.error(format!(
                        "no conversation with {user} yet: /msg {user} TEXT starts one"
                    )),
                    (Some(text), existing) => {
                        let text = emoji::expand(&text);
                        match client.send(Target::User(user.clone()), &text, self.now_ms as i64) {
                            Ok(_) => {
                                self.effects.wake = true;
                                self.users.insert(user.clone());
                                match existing {
                                    Some(conv) => self.select(conv, client),
                                    None => self.open_dm = Some(user),
                                }
                            }
                            Err(e) => self.error(format!("not sent: {e}")),
                        }
                    }
                }
            }
            Command::Invisible(on) => {
                let on = on.unwrap_or_else(|| !client.me().is_some_and(|u| u.invisible));
                self.ask(
                    client,
                    Request::SetStatus { invisible: on },
                    Asked::Invisible(on),
                );
            }
            Command::Passwd => {
                if client.me().is_some_and(|u| u.role == Role::Visitor) {
                    self.error("visitors have no password");
                } else {
                    self.overlay = Some(Overlay::Passwd(PasswdForm::default()));
                }
            }
            Command::Whoami => {
                if *client.state() == ConnState::Online {
                    self.ask(client, Request::Whoami {}, Asked::Whoami);
                } else {
                    let who = client
                        .me()
                        .map_or("nobody yet".to_owned(), |u| u.name.clone());
                    self.info(format!("you are {who} on {} (offline)", self.server));
                }
            }
            Command::Clear => {
                if let Some(conv) = self.selected {
                    let upto = client.conv(conv).map_or(0, |c| c.synced);
                    self.cleared.insert(conv, upto);
                    self.scroll = 0;
                    self.info("cleared (only here: nothing was deleted)");
                }
            }
            Command::Logout => {
                if *client.state() == ConnState::Online {
                    self.ask(client, Request::Logout {}, Asked::Logout);
                } else {
                    self.logged_out(client);
                }
            }
            Command::Help => self.overlay = Some(Overlay::Help),
            Command::Exit => self.effects.quit = true,
        }
    }
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
