//! The UI's own state ([`Ui`], all signals) and what the client's events
//! and the server's replies do to it.

use std::collections::{BTreeSet, HashMap};

use confab_client::{Cache, ConnState, Event, Target, emoji};
use confab_proto::{ChannelInfo, ConvId, ConvKind, Request, Role, ServerBody};
use leptos::prelude::*;

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Screen {
    /// No saved session, or it ended: log in, register or visit.
    Login,
    Chat,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) enum Dialog {
    Create,
    Join,
    Invite,
    Passwd,
}

#[derive(Clone, Debug)]
pub(super) enum Asked {
    Join,
    Create,
    Leave(String),
    Invite(String, String),
    List,
    Invisible(bool),
    Passwd,
    Logout,
    Typing,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    pub(super) fn attr(self) -> &'static str {
        match self {
            Theme::System => "",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub(super) fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme: as the system",
            Theme::Light => "Theme: light",
            Theme::Dark => "Theme: dark",
        }
    }
}

/// The UI's own state, all signals (so `Copy`).
#[derive(Clone, Copy)]
pub(super) struct Ui {
    /// Bumped whenever the client changed; views that read the client track it.
    pub(super) tick: RwSignal<u64>,
    pub(super) now: RwSignal<u64>,
    pub(super) screen: RwSignal<Screen>,
    pub(super) login_error: RwSignal<Option<String>>,
    pub(super) login_busy: RwSignal<bool>,
    pub(super) selected: RwSignal<Option<ConvId>>,
    /// A DM to someone with no conversation yet (the first message makes it).
    pub(super) new_dm: RwSignal<Option<String>>,
    pub(super) want: RwSignal<usize>,
    pub(super) complete: RwSignal<BTreeSet<ConvId>>,
    /// The last answer or problem: (is an error, text).
    pub(super) notice: RwSignal<Option<(bool, String)>>,
    pub(super) dialog: RwSignal<Option<Dialog>>,
    pub(super) dialog_error: RwSignal<Option<String>>,
    pub(super) channel_list: RwSignal<Vec<ChannelInfo>>,
    pub(super) draft: RwSignal<String>,
    pub(super) typing: RwSignal<Vec<(ConvId, String, u64)>>,
    pub(super) last_typing: StoredValue<(ConvId, u64)>,
    pub(super) theme: RwSignal<Theme>,
    pub(super) picker_open: RwSignal<bool>,
    pub(super) sidebar_open: RwSignal<bool>,
    /// Whether the message list is scrolled to the newest message.
    pub(super) stick: StoredValue<bool>,
    /// Before loading older messages: (scroll height, scroll top), to keep the place.
    pub(super) anchor: StoredValue<Option<(i32, i32)>>,
    pub(super) asked: StoredValue<HashMap<u64, Asked>>,
}

impl Ui {
    pub(super) fn new() -> Ui {
        let has_auth = with_client(|c| c.has_auth());
        let first = with_client(|c| c.convs().first().map(|c| c.conv));
        let theme = match local_storage_get(THEME_KEY).as_deref() {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        };
        Ui {
            tick: RwSignal::new(0),
            now: RwSignal::new(now_ms()),
            screen: RwSignal::new(if has_auth {
                Screen::Chat
            } else {
                Screen::Login
            }),
            login_error: RwSignal::new(None),
            login_busy: RwSignal::new(false),
            selected: RwSignal::new(first),
            new_dm: RwSignal::new(None),
            want: RwSignal::new(PAGE),
            complete: RwSignal::new(BTreeSet::new()),
            notice: RwSignal::new(None),
            dialog: RwSignal::new(None),
            dialog_error: RwSignal::new(None),
            channel_list: RwSignal::new(Vec::new()),
            draft: RwSignal::new(String::new()),
            typing: RwSignal::new(Vec::new()),
            last_typing: StoredValue::new((0, 0)),
            theme: RwSignal::new(theme),
            picker_open: RwSignal::new(false),
            sidebar_open: RwSignal::new(false),
            stick: StoredValue::new(true),
            anchor: StoredValue::new(None),
            asked: StoredValue::new(HashMap::new()),
        }
    }

    pub(super) fn info(self, text: impl Into<String>) {
        self.notice.set(Some((false, text.into())));
    }

    pub(super) fn error(self, text: impl Into<String>) {
        self.notice.set(Some((true, text.into())));
    }

    /// The driver changed the client: handle its events, redraw.
    pub(super) fn on_change(self) {
        let events = mutate(|c| c.take_events());
        for e in events {
            self.event(e);
        }
        self.tick.update(|t| *t += 1);
    }

    pub(super) fn event(self, e: Event) {
        match e {
            Event::LoggedIn(user) => {
                // Requests of an earlier connection are never answered.
                self.asked.update_value(HashMap::clear);
                self.screen.set(Screen::Chat);
                self.login_busy.set(false);
                self.login_error.set(None);
                if self.notice.with_untracked(|n| {
                    n.as_ref()
                        .is_some_and(|(_, t)| t.starts_with("disconnected"))
                }) {
                    self.notice.set(None);
                }
                if user.role == Role::Visitor {
                    self.info(format!(
                        "You are {}, a visitor: you can read public channels but not write. Join one with “Join a channel”.",
                        user.name
                    ));
                }
                self.fix_selection();
                if let Some(conv) = self.selected.get_untracked() {
                    mutate(|c| {
                        let _ = c.fetch_members(conv);
                    });
                    self.opened(conv);
                }
            }
            Event::LoginFailed { message, .. } => {
                let ended = self.screen.get_untracked() == Screen::Chat;
                self.screen.set(Screen::Login);
                self.login_busy.set(false);
                self.login_error.set(Some(if ended {
                    format!("Your session has ended: {message}")
                } else {
                    message
                }));
            }
            Event::Convs => {
                if let Some(user) = self.new_dm.get_untracked() {
                    let conv = with_client(|c| c.conv_named(ConvKind::Dm, &user).map(|c| c.conv));
                    if let Some(conv) = conv {
                        self.select(conv);
                    }
                }
                self.fix_selection();
            }
            Event::Messages(conv) => {
                // Whoever just wrote has stopped typing.
                let sender = with_client(|c| {
                    c.messages(conv, None, 1)
                        .ok()
                        .and_then(|m| m.last().map(|m| m.sender.clone()))
                });
                if let Some(sender) = sender {
                    self.typing
                        .update(|t| t.retain(|(c, u, _)| !(*c == conv && *u == sender)));
                }
                if Some(conv) == self.selected.get_untracked() && self.stick.get_value() {
                    mutate(|c| {
                        let _ = c.mark_read(conv);
                    });
                }
            }
            Event::Older { conv, more } => {
                if !more {
                    self.complete.update(|s| {
                        s.insert(conv);
                    });
                }
                if Some(conv) == self.selected.get_untracked() {
                    self.want.update(|w| *w += PAGE);
                }
            }
            Event::Typing { conv, user } => {
                let until = now_ms() + TYPING_SHOWN_MS;
                self.typing.update(|t| {
                    t.retain(|(c, u, _)| !(*c == conv && *u == user));
                    t.push((conv, user, until));
                });
            }
            Event::SendFailed { pending, message } => {
                self.error(format!("Not sent: {message} (“{}”)", pending.text));
            }
            Event::Reply { id, body } => {
                if let Some(asked) = self.asked.try_update_value(|m| m.remove(&id)).flatten() {
                    self.reply(asked, body);
                }
            }
            Event::Error(text) => self.error(text),
            Event::Notice(text) => self.info(format!("Notice: {text}")),
            Event::State(_) | Event::Members(_) => {}
        }
    }

    pub(super) fn reply(self, asked: Asked, body: ServerBody) {
        if let ServerBody::Error { message, .. } = body {
            match asked {
                Asked::Typing => {}
                Asked::Create | Asked::Join | Asked::Invite(..) | Asked::Passwd
                    if self.dialog.get_untracked().is_some() =>
                {
                    self.dialog_error.set(Some(message))
                }
                _ => self.error(message),
            }
            return;
        }
        match (asked, body) {
            (Asked::Join | Asked::Create, ServerBody::Channel { channel }) => {
                self.dialog.set(None);
                self.info(format!("You are in #{}.", channel.name));
                self.select(channel.conv);
            }
            (Asked::Leave(name), _) => {
                self.info(format!("You left #{name}."));
                self.fix_selection();
            }
            (Asked::Invite(user, channel), _) => {
                self.dialog.set(None);
                self.info(format!("{user} can now read and write in #{channel}."));
            }
            (Asked::List, ServerBody::Channels { channels }) => self.channel_list.set(channels),
            (Asked::Invisible(on), _) => self.info(if on {
                "You are invisible: others see you offline."
            } else {
                "You are visible again."
            }),
            (Asked::Passwd, _) => {
                self.dialog.set(None);
                self.info("Password changed; your other sessions were logged out.");
            }
            (Asked::Logout, _) => self.logged_out(),
            _ => {}
        }
    }

    pub(super) fn logged_out(self) {
        mutate(|c| {
            let _ = c.forget_login();
            c.hang_up();
        });
        core().poke();
        self.screen.set(Screen::Login);
        self.login_error.set(Some("You are logged out.".into()));
        self.selected.set(None);
    }

    /// Sends a request for the user, remembering what it was.
    pub(super) fn ask(self, req: Request, asked: Asked) {
        match act(|c| c.request(req)) {
            Ok(id) => self.asked.update_value(|m| {
                m.insert(id, asked);
            }),
            Err(e) => {
                let text = format!("Cannot do that now: {e}.");
                if self.dialog.get_untracked().is_some() {
                    self.dialog_error.set(Some(text));
                } else {
                    self.error(text);
                }
            }
        }
    }

    pub(super) fn fix_selection(self) {
        let gone = self
            .selected
            .get_untracked()
            .is_none_or(|s| with_client(|c| c.conv(s).is_none()));
        if gone && self.new_dm.get_untracked().is_none() {
            self.selected.set(None);
            if let Some(first) = with_client(|c| c.convs().first().map(|c| c.conv)) {
                self.select(first);
            }
        }
    }

    pub(super) fn select(self, conv: ConvId) {
        if self.selected.get_untracked() != Some(conv) {
            self.selected.set(Some(conv));
            self.want.set(PAGE);
            self.stick.set_value(true);
        }
        self.new_dm.set(None);
        self.sidebar_open.set(false);
        self.opened(conv);
    }

    /// The conversation is on screen: read, with members and some history.
    pub(super) fn opened(self, conv: ConvId) {
        mutate(|c| {
            let _ = c.mark_read(conv);
            if *c.state() != ConnState::Online {
                return;
            }
            if c.members(conv).is_none() {
                let _ = c.fetch_members(conv);
            }
            if c.cache().oldest(conv).ok().flatten().is_none() {
                let _ = c.fetch_older(conv);
            }
        });
        // Frames may have been queued; the driver writes them when woken.
        core().poke();
    }

    pub(super) fn move_selection(self, by: isize) {
        let convs: Vec<ConvId> = with_client(|c| c.convs().iter().map(|c| c.conv).collect());
        if convs.is_empty() {
            return;
        }
        let i = self
            .selected
            .get_untracked()
            .and_then(|s| convs.iter().position(|c| *c == s))
            .unwrap_or(0) as isize;
        self.select(convs[(i + by).rem_euclid(convs.len() as isize) as usize]);
    }

    /// Opens a direct conversation with `user`, or prepares a new one.
    pub(super) fn open_dm(self, user: String) {
        if with_client(|c| c.me().is_some_and(|m| m.name == user)) {
            return;
        }
        match with_client(|c| c.conv_named(ConvKind::Dm, &user).map(|c| c.conv)) {
            Some(conv) => self.select(conv),
            None => {
                self.selected.set(None);
                self.new_dm.set(Some(user));
                self.sidebar_open.set(false);
            }
        }
        focus_composer();
    }

    pub(super) fn send(self) {
        let text = self.draft.get_untracked();
        let text = emoji::expand(text.trim_end());
        if text.trim().is_empty() {
            return;
        }
        let target = match (self.selected.get_untracked(), self.new_dm.get_untracked()) {
            (_, Some(user)) => Target::User(user),
            (Some(conv), None) => Target::Conv(conv),
            (None, None) => {
                self.error("Choose a conversation first, or join a channel.");
                return;
            }
        };
        match act(|c| c.send(target, &text, now_ms() as i64)) {
            Ok(_) => {
                self.draft.set(String::new());
                self.stick.set_value(true);
            }
            Err(e) => self.error(format!("Not sent: {e}.")),
        }
    }

    /// Tells the others in the conversation that we are typing, now and then.
    pub(super) fn typed(self) {
        let Some(conv) = self.selected.get_untracked() else {
            return;
        };
        let (last, at) = self.last_typing.get_value();
        let now = now_ms();
        if last == conv && now < at + TYPING_EVERY_MS {
            return;
        }
        if with_client(|c| c.me().is_none_or(|u| u.role == Role::Visitor)) {
            return;
        }
        self.last_typing.set_value((conv, now));
        self.ask(Request::Typing { conv }, Asked::Typing);
    }

    /// At the top of the list: read further back in the cache, or ask the
    /// server for the page before it.
    pub(super) fn load_older(self, loaded: usize, oldest: Option<u64>) {
        let Some(conv) = self.selected.get_untracked() else {
            return;
        };
        if loaded >= self.want.get_untracked() {
            self.want.update(|w| *w += PAGE);
        } else if oldest == Some(1) {
            self.complete.update(|s| {
                s.insert(conv);
            });
        } else if !self.complete.with_untracked(|s| s.contains(&conv)) {
            let _ = act(|c| c.fetch_older(conv));
        }
    }

    pub(super) fn set_theme(self, theme: Theme) {
        self.theme.set(theme);
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", theme.attr());
        }
        if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = s.set_item(THEME_KEY, theme.attr());
        }
    }
}
