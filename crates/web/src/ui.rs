//! The Leptos components. State lives in two places: the client core
//! (conversations, messages, the outbox, the connection), which the views
//! read through [`with_client`] whenever `tick` changes, and [`Ui`]'s
//! signals (what is selected, open or typed). The core is not `Send`, so it
//! sits in a thread-local rather than in a signal; views capture only
//! signals.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Duration;

use chrono::FixedOffset;
use confab_client::{Auth, Cache, Client, ConnState, Event, Target, emoji};
use confab_proto::{ChannelInfo, ConvId, ConvKind, Request, Role, ServerBody};
use leptos::ev;
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::driver::{Core, drive, now_ms};
use crate::idb::IdbCache;
use crate::picker;
use crate::view::{self, Item, PendingLine};

/// Messages read from the cache per step of scrollback.
const PAGE: usize = 100;
const TYPING_SHOWN_MS: u64 = 6_000;
const TYPING_EVERY_MS: u64 = 3_000;
/// Cache setting with the recently used emoji.
const RECENT_KEY: &str = "recent_emoji";
/// localStorage key for the theme (read before the wasm loads, by index.html).
const THEME_KEY: &str = "confab-theme";

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

fn core() -> Rc<Core> {
    CORE.with(|c| {
        c.borrow()
            .clone()
            .expect("the core is installed before the UI")
    })
}

/// Reads the client (inside a view, after tracking `tick`).
fn with_client<R>(f: impl FnOnce(&Client<IdbCache>) -> R) -> R {
    let core = core();
    let c = core.client.borrow();
    f(&c)
}

/// Changes the client without telling anyone (inside event handling).
fn mutate<R>(f: impl FnOnce(&mut Client<IdbCache>) -> R) -> R {
    let core = core();
    let mut c = core.client.borrow_mut();
    f(&mut c)
}

/// A user action: change the client, then wake the driver and redraw.
fn act<R>(f: impl FnOnce(&mut Client<IdbCache>) -> R) -> R {
    let r = mutate(f);
    core().wake();
    r
}

pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("confab: {info}").into());
    }));
    register_service_worker();
    // Not Leptos's `spawn_local`: its executor is set up by `mount_to_body`,
    // which comes once the cache is open.
    wasm_bindgen_futures::spawn_local(async {
        let (cache, warning) = IdbCache::open().await;
        let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
        let client = match Client::new(cache, "confab-web", seed) {
            Ok(c) => c,
            Err(e) => {
                web_sys::console::error_1(&format!("confab: {e}").into());
                return;
            }
        };
        let (core, wake) = Core::new(client);
        CORE.with(|c| *c.borrow_mut() = Some(core.clone()));
        leptos::mount::mount_to_body(move || {
            let ui = Ui::new();
            core.set_on_change(move || ui.on_change());
            if let Some(w) = warning {
                ui.error(w);
            }
            set_interval(move || ui.now.set(now_ms()), Duration::from_secs(1));
            view! { <App ui=ui/> }
        });
        leptos::task::spawn_local(drive(self::core(), wake));
    });
}

/// The service worker keeps the page itself (HTML, script, wasm) so that
/// it opens with the server down and shows the cached history.
fn register_service_worker() {
    if let Some(w) = web_sys::window() {
        let sw = w.navigator().service_worker();
        let _ = sw.register("/sw.js");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Screen {
    /// Waiting for the cache to tell whether a session exists.
    Login,
    Chat,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Dialog {
    Create,
    Join,
    Invite,
    Passwd,
}

#[derive(Clone, Debug)]
enum Asked {
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
enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    fn attr(self) -> &'static str {
        match self {
            Theme::System => "",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme: as the system",
            Theme::Light => "Theme: light",
            Theme::Dark => "Theme: dark",
        }
    }
}

/// The UI's own state, all signals (so `Copy`).
#[derive(Clone, Copy)]
struct Ui {
    /// Bumped whenever the client changed; views that read the client track it.
    tick: RwSignal<u64>,
    now: RwSignal<u64>,
    screen: RwSignal<Screen>,
    login_error: RwSignal<Option<String>>,
    login_busy: RwSignal<bool>,
    selected: RwSignal<Option<ConvId>>,
    /// A DM to someone with no conversation yet (the first message makes it).
    new_dm: RwSignal<Option<String>>,
    want: RwSignal<usize>,
    complete: RwSignal<BTreeSet<ConvId>>,
    /// The last answer or problem: (is an error, text).
    notice: RwSignal<Option<(bool, String)>>,
    dialog: RwSignal<Option<Dialog>>,
    dialog_error: RwSignal<Option<String>>,
    channel_list: RwSignal<Vec<ChannelInfo>>,
    draft: RwSignal<String>,
    typing: RwSignal<Vec<(ConvId, String, u64)>>,
    last_typing: StoredValue<(ConvId, u64)>,
    theme: RwSignal<Theme>,
    picker_open: RwSignal<bool>,
    sidebar_open: RwSignal<bool>,
    /// Whether the message list is scrolled to the newest message.
    stick: StoredValue<bool>,
    /// Before loading older messages: (scroll height, scroll top), to keep the place.
    anchor: StoredValue<Option<(i32, i32)>>,
    asked: StoredValue<HashMap<u64, Asked>>,
}

impl Ui {
    fn new() -> Ui {
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

    fn info(self, text: impl Into<String>) {
        self.notice.set(Some((false, text.into())));
    }

    fn error(self, text: impl Into<String>) {
        self.notice.set(Some((true, text.into())));
    }

    /// The driver changed the client: handle its events, redraw.
    fn on_change(self) {
        let events = mutate(|c| c.take_events());
        for e in events {
            self.event(e);
        }
        self.tick.update(|t| *t += 1);
    }

    fn event(self, e: Event) {
        match e {
            Event::LoggedIn(user) => {
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

    fn reply(self, asked: Asked, body: ServerBody) {
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

    fn logged_out(self) {
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
    fn ask(self, req: Request, asked: Asked) {
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

    fn fix_selection(self) {
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

    fn select(self, conv: ConvId) {
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
    fn opened(self, conv: ConvId) {
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

    fn move_selection(self, by: isize) {
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
    fn open_dm(self, user: String) {
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

    fn send(self) {
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
    fn typed(self) {
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
    fn load_older(self, loaded: usize, oldest: Option<u64>) {
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

    fn set_theme(self, theme: Theme) {
        self.theme.set(theme);
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", theme.attr());
        }
        if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = s.set_item(THEME_KEY, theme.attr());
        }
    }
}

fn local_storage_get(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

fn focus_composer() {
    if let Some(el) = document()
        .get_element_by_id("composer")
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// The browser's offset from UTC now.
fn local_offset() -> FixedOffset {
    let minutes_west = js_sys::Date::new_0().get_timezone_offset() as i32;
    FixedOffset::west_opt(minutes_west * 60).unwrap_or(FixedOffset::east_opt(0).expect("zero"))
}

#[component]
fn App(ui: Ui) -> impl IntoView {
    // Alt+↑/↓ switch conversation; Escape closes what is open.
    let _ = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
        match e.key().as_str() {
            "ArrowUp" | "ArrowDown" if e.alt_key() && ui.screen.get_untracked() == Screen::Chat => {
                e.prevent_default();
                ui.move_selection(if e.key() == "ArrowUp" { -1 } else { 1 });
            }
            "Escape" => {
                ui.dialog.set(None);
                ui.picker_open.set(false);
                ui.sidebar_open.set(false);
            }
            _ => {}
        }
    });
    ui.set_theme(ui.theme.get_untracked());
    view! {
        {move || match ui.screen.get() {
            Screen::Login => view! { <Login ui=ui/> }.into_any(),
            Screen::Chat => view! { <Chat ui=ui/> }.into_any(),
        }}
    }
}

#[component]
fn Login(ui: Ui) -> impl IntoView {
    let user: NodeRef<html::Input> = NodeRef::new();
    let password: NodeRef<html::Input> = NodeRef::new();
    let submit = move |how: &str| {
        let name = user.get().map(|i| i.value()).unwrap_or_default();
        let pass = password.get().map(|i| i.value()).unwrap_or_default();
        let auth = match how {
            "visitor" => Auth::Visitor,
            _ if name.trim().is_empty() => {
                ui.login_error
                    .set(Some("Enter a user name (or enter as a visitor).".into()));
                return;
            }
            _ if pass.is_empty() => {
                ui.login_error.set(Some("Enter a password.".into()));
                return;
            }
            "register" => Auth::Register {
                username: name.trim().to_owned(),
                password: pass,
            },
            _ => Auth::Login {
                username: name.trim().to_owned(),
                password: pass,
            },
        };
        ui.login_error.set(None);
        ui.login_busy.set(true);
        act(|c| {
            c.set_auth(auth, now_ms());
            c.retry_now(now_ms());
        });
    };
    view! {
        <main class="login">
            <form
                aria-labelledby="login-title"
                on:submit=move |e: ev::SubmitEvent| {
                    e.prevent_default();
                    submit("login");
                }
            >
                <h1 id="login-title">"Confab"</h1>
                <p class="muted">{move || document().location().and_then(|l| l.host().ok()).unwrap_or_default()}</p>
                <label>"User name" <input node_ref=user id="username" name="username" autocomplete="username" required/></label>
                <label>"Password" <input node_ref=password id="password" name="password" type="password" autocomplete="current-password"/></label>
                <div class="buttons">
                    <button type="submit" id="login" class="primary">"Log in"</button>
                    <button type="button" id="register" on:click=move |_| submit("register")>"Register"</button>
                    <button type="button" id="visitor" on:click=move |_| submit("visitor")>"Enter as a visitor"</button>
                </div>
                <p class="error" role="alert">{move || ui.login_error.get()}</p>
                <p class="muted" aria-live="polite">{move || {
                    ui.tick.track();
                    ui.now.track();
                    ui.login_busy.get().then(|| connection_text(ui))
                }}</p>
            </form>
        </main>
    }
}

/// "Connected", "Connecting…", "Offline: reconnecting in N s".
fn connection_text(ui: Ui) -> String {
    let now = ui.now.get();
    with_client(|c| match c.state() {
        ConnState::Online => "Connected.".into(),
        ConnState::Connecting => "Connecting…".into(),
        ConnState::LoggingIn => "Logging in…".into(),
        ConnState::Offline {
            retry_at_ms: Some(at),
        } => format!(
            "Offline: reconnecting in {} s.",
            at.saturating_sub(now).div_ceil(1000)
        ),
        ConnState::Offline { retry_at_ms: None } => "Offline.".into(),
    })
}

#[component]
fn Chat(ui: Ui) -> impl IntoView {
    let offline = move || {
        ui.tick.track();
        with_client(|c| *c.state() != ConnState::Online)
    };
    let title = move || {
        ui.tick.track();
        if let Some(user) = ui.new_dm.get() {
            return format!("@{user}");
        }
        ui.selected
            .get()
            .and_then(|s| with_client(|c| c.conv(s).map(|c| label(c.kind, &c.name))))
            .unwrap_or_else(|| "Confab".into())
    };
    view! {
        <div class="chat" class:sidebar-open=move || ui.sidebar_open.get()>
            <header class="topbar">
                <button class="icon only-narrow" aria-label="Conversations" on:click=move |_| ui.sidebar_open.update(|o| *o = !*o)>"☰"</button>
                <h1 id="conv-title">{title}</h1>
                <span class="status" role="status">{move || { ui.tick.track(); ui.now.track(); connection_text(ui) }}</span>
                <UserMenu ui=ui/>
            </header>
            <Show when=offline>
                <div class="banner" role="status" id="offline-banner">
                    {move || {
                        ui.tick.track();
                        let queued = with_client(|c| c.outbox().len());
                        let mut text = format!("You are offline. {}", connection_text(ui));
                        if queued > 0 {
                            text.push_str(&format!(" {queued} message{} will be sent when the connection is back.", if queued == 1 { "" } else { "s" }));
                        }
                        text
                    }}
                    <button on:click=move |_| act(|c| c.retry_now(now_ms()))>"Retry now"</button>
                </div>
            </Show>
            <Sidebar ui=ui/>
            <main class="thread" aria-labelledby="conv-title">
                <Messages ui=ui/>
                <Composer ui=ui/>
            </main>
            <Members ui=ui/>
            <p class="notice" role="status" class:error=move || ui.notice.with(|n| n.as_ref().is_some_and(|(e, _)| *e))>
                {move || ui.notice.get().map(|(_, t)| t)}
                <Show when=move || ui.notice.with(Option::is_some)>
                    <button class="icon" aria-label="Dismiss" on:click=move |_| ui.notice.set(None)>"×"</button>
                </Show>
            </p>
            <Dialogs ui=ui/>
        </div>
    }
}

fn label(kind: ConvKind, name: &str) -> String {
    match kind {
        ConvKind::Channel => format!("#{name}"),
        ConvKind::Dm => format!("@{name}"),
    }
}

#[component]
fn UserMenu(ui: Ui) -> impl IntoView {
    let me = move || {
        ui.tick.track();
        with_client(|c| c.me().cloned())
    };
    let visitor = move || me().is_some_and(|u| u.role == Role::Visitor);
    view! {
        <div class="user">
            <button class="icon" id="theme" aria-label=move || ui.theme.get().label() title=move || ui.theme.get().label()
                on:click=move |_| ui.set_theme(ui.theme.get_untracked().next())>"◐"</button>
            <span class="me">{move || me().map(|u| u.name).unwrap_or_default()}</span>
            <Show when=move || !visitor()>
                <label class="toggle">
                    <input type="checkbox" id="invisible"
                        prop:checked=move || me().is_some_and(|u| u.invisible)
                        on:change=move |e| {
                            let on = event_target_checked(&e);
                            ui.ask(Request::SetStatus { invisible: on }, Asked::Invisible(on));
                        }/>
                    "Invisible"
                </label>
                <button id="passwd" on:click=move |_| { ui.dialog_error.set(None); ui.dialog.set(Some(Dialog::Passwd)) }>"Password"</button>
            </Show>
            <button id="logout" on:click=move |_| {
                if with_client(|c| *c.state() == ConnState::Online) {
                    ui.ask(Request::Logout {}, Asked::Logout);
                } else {
                    ui.logged_out();
                }
            }>"Log out"</button>
        </div>
    }
}

#[component]
fn Sidebar(ui: Ui) -> impl IntoView {
    let convs = move |kind: ConvKind| {
        ui.tick.track();
        with_client(|c| {
            c.convs()
                .into_iter()
                .filter(|cv| cv.kind == kind)
                .map(|cv| (cv.conv, cv.name.clone(), cv.unread))
                .collect::<Vec<_>>()
        })
    };
    let item = move |(conv, name, unread): (ConvId, String, u32), kind: ConvKind| {
        let current = move || ui.selected.get() == Some(conv);
        let text = label(kind, &name);
        let has_unread = unread != 0;
        view! {
            <li>
                <button class="conv" aria-current=move || current().then_some("page")
                    class:unread=move || has_unread && !current()
                    on:click=move |_| ui.select(conv)>
                    <span class="name">{text}</span>
                    <Show when=move || has_unread && !current()>
                        <span class="badge" aria-label=format!("{unread} unread")>{unread}</span>
                    </Show>
                </button>
            </li>
        }
    };
    let visitor = move || {
        ui.tick.track();
        with_client(|c| c.me().is_some_and(|u| u.role == Role::Visitor))
    };
    view! {
        <nav class="sidebar" aria-label="Conversations">
            <div class="heading">
                <h2>"Channels"</h2>
                <button class="icon" id="join-channel" aria-label="Join a channel" title="Join a channel"
                    on:click=move |_| {
                        ui.dialog_error.set(None);
                        ui.dialog.set(Some(Dialog::Join));
                        ui.ask(Request::ChannelList {}, Asked::List);
                    }>"#"</button>
                <Show when=move || !visitor()>
                    <button class="icon" id="create-channel" aria-label="Create a channel" title="Create a channel"
                        on:click=move |_| { ui.dialog_error.set(None); ui.dialog.set(Some(Dialog::Create)) }>"+"</button>
                </Show>
            </div>
            <ul id="channels">
                {move || convs(ConvKind::Channel).into_iter().map(|c| item(c, ConvKind::Channel)).collect_view()}
            </ul>
            <div class="heading"><h2>"Direct messages"</h2></div>
            <ul id="dms">
                {move || convs(ConvKind::Dm).into_iter().map(|c| item(c, ConvKind::Dm)).collect_view()}
                {move || ui.new_dm.get().map(|u| view! {
                    <li><button class="conv" aria-current="page"><span class="name">{format!("@{u}")}</span></button></li>
                })}
            </ul>
        </nav>
    }
}

#[component]
fn Messages(ui: Ui) -> impl IntoView {
    let scroller: NodeRef<html::Div> = NodeRef::new();
    // (items, messages loaded, oldest seq loaded)
    let data = Memo::new(move |_| {
        ui.tick.track();
        let want = ui.want.get();
        let offset = local_offset();
        if let Some(user) = ui.new_dm.get() {
            let pending = with_client(|c| {
                c.outbox()
                    .iter()
                    .filter(|p| p.target == Target::User(user.clone()))
                    .map(|p| PendingLine {
                        nonce: p.nonce.clone(),
                        text: p.text.clone(),
                        written_ms: p.written_ms,
                    })
                    .collect::<Vec<_>>()
            });
            let me = with_client(|c| c.me().map(|u| u.name.clone()).unwrap_or_default());
            return (view::items(&[], &pending, &me, offset), 0, None);
        }
        let Some(conv) = ui.selected.get() else {
            return (Vec::new(), 0, None);
        };
        with_client(|c| {
            let msgs = c.messages(conv, None, want).unwrap_or_default();
            let pending: Vec<PendingLine> = c
                .pending_in(conv)
                .into_iter()
                .map(|p| PendingLine {
                    nonce: p.nonce.clone(),
                    text: p.text.clone(),
                    written_ms: p.written_ms,
                })
                .collect();
            let me = c.me().map(|u| u.name.clone()).unwrap_or_default();
            (
                view::items(&msgs, &pending, &me, offset),
                msgs.len(),
                msgs.first().map(|m| m.seq),
            )
        })
    });
    // After each change: stay at the newest message, or keep the place
    // when older ones were added above.
    Effect::new(move |_| {
        data.track();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            if let Some((height, top)) = ui.anchor.try_update_value(Option::take).flatten() {
                el.set_scroll_top(el.scroll_height() - height + top);
            } else if ui.stick.get_value() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 40;
        ui.stick.set_value(at_bottom);
        if at_bottom && let Some(conv) = ui.selected.get_untracked() {
            act(|c| {
                let _ = c.mark_read(conv);
            });
        }
        if el.scroll_top() < 60 && ui.anchor.with_value(Option::is_none) {
            let (_, loaded, oldest) = data.get_untracked();
            let conv_done = ui
                .selected
                .get_untracked()
                .is_some_and(|c| ui.complete.with_untracked(|s| s.contains(&c)));
            if !conv_done {
                ui.anchor
                    .set_value(Some((el.scroll_height(), el.scroll_top())));
                ui.load_older(loaded, oldest);
            }
        }
    };
    let beginning = move || {
        let (_, _, oldest) = data.get();
        oldest == Some(1)
            || ui
                .selected
                .get()
                .is_some_and(|c| ui.complete.with(|s| s.contains(&c)) && data.with(|d| d.1 == 0))
    };
    let typing = move || {
        let now = ui.now.get();
        let conv = ui.selected.get();
        let who: Vec<String> = ui.typing.with(|t| {
            t.iter()
                .filter(|(c, _, until)| Some(*c) == conv && *until > now)
                .map(|(_, u, _)| u.clone())
                .collect()
        });
        match who.len() {
            0 => String::new(),
            1 => format!("{} is typing…", who[0]),
            _ => format!("{} are typing…", who.join(", ")),
        }
    };
    view! {
        <div class="scroller" node_ref=scroller id="messages" role="log" aria-label="Messages" tabindex="0" on:scroll=on_scroll>
            <Show when=beginning>
                <p class="beginning">"This is the beginning of the conversation."</p>
            </Show>
            <For each=move || data.get().0 key=|item| item.key().to_owned() let(item)>
                {render_item(item)}
            </For>
        </div>
        <p class="typing" aria-live="polite">{typing}</p>
    }
}

fn render_item(item: Item) -> AnyView {
    match item {
        Item::Day { label, .. } => view! {
            <div class="day" role="separator"><span>{label}</span></div>
        }
        .into_any(),
        Item::Group {
            sender,
            time,
            lines,
            ..
        } => view! {
            <article class="group">
                <header>
                    <span class="sender">{sender}</span>
                    <time>{time}</time>
                </header>
                {lines
                    .into_iter()
                    .map(|l| {
                        let pending = l.pending;
                        view! {
                            <p class="msg" class:pending=pending title=l.time.clone()>
                                <span class="text">{l.text}</span>
                                {pending.then(|| view! {
                                    <span class="pending-mark" aria-label="pending: not yet sent" title="Not yet sent: waiting for the server">" ⧗"</span>
                                })}
                            </p>
                        }
                    })
                    .collect_view()}
            </article>
        }
        .into_any(),
    }
}

#[component]
fn Composer(ui: Ui) -> impl IntoView {
    let area: NodeRef<html::Textarea> = NodeRef::new();
    // `:shortcode` completion: the suggestions and which one is chosen.
    let suggestions = RwSignal::new(Vec::<&'static str>::new());
    let chosen = RwSignal::new(0usize);
    let word_start = StoredValue::new(0usize);
    let visitor = move || {
        ui.tick.track();
        with_client(|c| c.me().is_some_and(|u| u.role == Role::Visitor))
    };
    let target = move || {
        ui.tick.track();
        if let Some(u) = ui.new_dm.get() {
            return Some(format!("@{u}"));
        }
        ui.selected
            .get()
            .and_then(|s| with_client(|c| c.conv(s).map(|c| label(c.kind, &c.name))))
    };
    let refresh_suggestions = move || {
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let cursor = el.selection_start().ok().flatten().unwrap_or(0) as usize;
        // selection_start counts UTF-16 units; find the byte offset.
        let byte = utf16_to_byte(&text, cursor);
        let before = &text[..byte];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let found = match word.strip_prefix(':') {
            Some(code) if code.len() >= 2 && emoji::is_shortcode_prefix(code) => {
                emoji::complete(code, 8)
            }
            _ => Vec::new(),
        };
        word_start.set_value(start);
        chosen.set(0);
        suggestions.set(found);
    };
    let accept = move |i: usize| {
        let Some(code) = suggestions.get_untracked().get(i).copied() else {
            return;
        };
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let cursor = utf16_to_byte(
            &text,
            el.selection_start().ok().flatten().unwrap_or(0) as usize,
        );
        let start = word_start.get_value().min(cursor);
        let e = emojis::get_by_shortcode(code).map_or("", |e| e.as_str());
        let new = format!("{}{e} {}", &text[..start], &text[cursor..]);
        let pos = (text[..start].encode_utf16().count() + e.encode_utf16().count() + 1) as u32;
        el.set_value(&new);
        let _ = el.set_selection_range(pos, pos);
        ui.draft.set(new);
        remember_emoji(e);
        suggestions.set(Vec::new());
    };
    let insert = move |e: &str| {
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let at = utf16_to_byte(
            &text,
            el.selection_start().ok().flatten().unwrap_or(0) as usize,
        );
        let new = format!("{}{e}{}", &text[..at], &text[at..]);
        let pos = (text[..at].encode_utf16().count() + e.encode_utf16().count()) as u32;
        el.set_value(&new);
        let _ = el.set_selection_range(pos, pos);
        let _ = el.focus();
        ui.draft.set(new);
        remember_emoji(e);
    };
    let on_key = move |e: ev::KeyboardEvent| {
        let open = suggestions.with_untracked(|s| !s.is_empty());
        match e.key().as_str() {
            "ArrowDown" if open => {
                e.prevent_default();
                let n = suggestions.with_untracked(Vec::len);
                chosen.update(|c| *c = (*c + 1) % n);
            }
            "ArrowUp" if open => {
                e.prevent_default();
                let n = suggestions.with_untracked(Vec::len);
                chosen.update(|c| *c = (*c + n - 1) % n);
            }
            "Tab" | "Enter" if open => {
                e.prevent_default();
                accept(chosen.get_untracked());
            }
            "Escape" if open => suggestions.set(Vec::new()),
            "Enter" if !e.shift_key() => {
                e.prevent_default();
                ui.send();
                if let Some(el) = area.get_untracked() {
                    el.set_value("");
                }
            }
            _ => {}
        }
    };
    view! {
        <Show
            when=move || !visitor()
            fallback=|| view! {
                <p class="visitor-note" id="visitor-note">"Visitors can read public channels but not write. Log out and register to take part."</p>
            }
        >
            <form class="composer" on:submit=move |e: ev::SubmitEvent| {
                e.prevent_default();
                ui.send();
                if let Some(el) = area.get_untracked() { el.set_value(""); }
            }>
                <Show when=move || suggestions.with(|s| !s.is_empty())>
                    <ul class="suggestions" role="listbox" aria-label="Emoji suggestions" id="suggestions">
                        {move || suggestions.get().into_iter().enumerate().map(|(i, code)| {
                            let e = emojis::get_by_shortcode(code).map_or("", |e| e.as_str());
                            view! {
                                <li role="option" aria-selected=move || (chosen.get() == i).to_string()
                                    class:chosen=move || chosen.get() == i
                                    on:mousedown=move |ev: ev::MouseEvent| { ev.prevent_default(); accept(i) }>
                                    {e}" :"{code}":"
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </Show>
                <textarea
                    id="composer"
                    node_ref=area
                    rows="1"
                    aria-label=move || format!("Message {}", target().unwrap_or_default())
                    placeholder=move || format!("Message {}  (:shortcode: for emoji)", target().unwrap_or_default())
                    prop:value=move || ui.draft.get()
                    disabled=move || target().is_none()
                    on:input=move |e| {
                        ui.draft.set(event_target_value(&e));
                        refresh_suggestions();
                        ui.typed();
                    }
                    on:keydown=on_key
                ></textarea>
                <button type="button" class="icon" id="emoji-button" aria-label="Emoji" title="Emoji"
                    aria-expanded=move || ui.picker_open.get().to_string()
                    on:click=move |_| ui.picker_open.update(|o| *o = !*o)>"😊"</button>
                <button type="submit" id="send" class="primary" disabled=move || target().is_none()>"Send"</button>
                <Show when=move || ui.picker_open.get()>
                    <EmojiPicker ui=ui on_pick=insert/>
                </Show>
            </form>
        </Show>
    }
}

/// Byte offset in `s` of the UTF-16 offset `units` (what the DOM reports).
fn utf16_to_byte(s: &str, units: usize) -> usize {
    let mut count = 0;
    for (i, c) in s.char_indices() {
        if count >= units {
            return i;
        }
        count += c.len_utf16();
    }
    s.len()
}

fn remember_emoji(e: &str) {
    if e.is_empty() {
        return;
    }
    mutate(|c| {
        let stored = c.cache().get(RECENT_KEY).ok().flatten().unwrap_or_default();
        let _ = c
            .cache_mut()
            .set(RECENT_KEY, Some(&picker::remember(&stored, e)));
    });
}

#[component]
fn EmojiPicker(ui: Ui, on_pick: impl Fn(&str) + Copy + Send + Sync + 'static) -> impl IntoView {
    let tab = RwSignal::new(usize::MAX); // MAX: recently used (or the first group)
    let query = RwSignal::new(String::new());
    let recent = move || {
        ui.tick.track();
        with_client(|c| c.cache().get(RECENT_KEY).ok().flatten().unwrap_or_default())
    };
    let shown = move || -> Vec<(String, String)> {
        let q = query.get();
        if !q.trim().is_empty() {
            return picker::search(&q, 120)
                .into_iter()
                .map(|e| {
                    (
                        e.as_str().to_owned(),
                        e.shortcode().unwrap_or(e.name()).to_owned(),
                    )
                })
                .collect();
        }
        let t = tab.get();
        if t == usize::MAX {
            let r = picker::recent(&recent());
            if !r.is_empty() {
                return r
                    .into_iter()
                    .map(|e| {
                        let name = emojis::get(&e).map_or(String::new(), |x| x.name().to_owned());
                        (e, name)
                    })
                    .collect();
            }
        }
        let g = picker::GROUPS[if t == usize::MAX { 0 } else { t }].0;
        picker::group(g)
            .into_iter()
            .map(|e| {
                (
                    e.as_str().to_owned(),
                    e.shortcode().unwrap_or(e.name()).to_owned(),
                )
            })
            .collect()
    };
    view! {
        <div class="picker" role="dialog" aria-label="Emoji picker" id="emoji-picker">
            <input type="search" placeholder="Search emoji" aria-label="Search emoji" id="emoji-search"
                prop:value=move || query.get()
                on:input=move |e| query.set(event_target_value(&e))/>
            <div class="tabs" role="tablist" aria-label="Emoji categories">
                <button type="button" role="tab" aria-selected=move || (tab.get() == usize::MAX).to_string()
                    aria-label="Recently used" title="Recently used" on:click=move |_| { query.set(String::new()); tab.set(usize::MAX) }>"🕘"</button>
                {picker::GROUPS.iter().enumerate().map(|(i, (_, name, icon))| view! {
                    <button type="button" role="tab" aria-selected=move || (tab.get() == i).to_string()
                        aria-label=*name title=*name on:click=move |_| { query.set(String::new()); tab.set(i) }>{*icon}</button>
                }).collect_view()}
            </div>
            <div class="grid" role="listbox" aria-label="Emoji">
                {move || shown().into_iter().map(|(e, name)| {
                    let pick = e.clone();
                    view! {
                        <button type="button" role="option" class="emoji" title=format!(":{name}:") aria-label=name.clone()
                            on:click=move |_| on_pick(&pick)>{e}</button>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}

#[component]
fn Members(ui: Ui) -> impl IntoView {
    let data = move || {
        ui.tick.track();
        let conv = ui.selected.get()?;
        with_client(|c| {
            let cv = c.conv(conv)?;
            let me = c.me().map(|u| u.name.clone()).unwrap_or_default();
            let online = *c.state() == ConnState::Online;
            let members: Vec<(String, bool)> = match cv.kind {
                ConvKind::Channel => {
                    let mut ms: Vec<(String, bool)> = c
                        .members(conv)
                        .unwrap_or_default()
                        .iter()
                        .map(|m| (m.name.clone(), m.online && online))
                        .collect();
                    ms.sort_by(|a, b| (!a.1, &a.0).cmp(&(!b.1, &b.0)));
                    ms
                }
                ConvKind::Dm => vec![(cv.name.clone(), false), (me.clone(), online)],
            };
            Some((cv.kind, cv.name.clone(), me, members))
        })
    };
    let visitor = move || {
        ui.tick.track();
        with_client(|c| c.me().is_some_and(|u| u.role == Role::Visitor))
    };
    view! {
        <aside class="members" aria-label="Members">
            {move || data().map(|(kind, name, me, members)| {
                let channel = kind == ConvKind::Channel;
                let leave_name = name.clone();
                view! {
                    <div class="heading"><h2>"Members"</h2></div>
                    <ul id="member-list">
                        {members.into_iter().map(|(m, on)| {
                            let is_me = m == me;
                            let who = m.clone();
                            view! {
                                <li>
                                    <button class="member" disabled=is_me
                                        title=if is_me { "You".to_owned() } else { format!("Send {m} a direct message") }
                                        on:click=move |_| ui.open_dm(who.clone())>
                                        <span class="dot" class:online=on aria-label=if on { "online" } else { "offline" }></span>
                                        {m.clone()}{is_me.then_some(" (you)")}
                                    </button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    <Show when=move || channel && !visitor()>
                        <div class="actions">
                            <button id="invite" on:click=move |_| { ui.dialog_error.set(None); ui.dialog.set(Some(Dialog::Invite)) }>"Invite…"</button>
                            <button id="leave" on:click={
                                let name = leave_name.clone();
                                move |_| ui.ask(Request::ChannelLeave { name: name.clone() }, Asked::Leave(name.clone()))
                            }>{format!("Leave #{leave_name}")}</button>
                        </div>
                    </Show>
                }
            })}
        </aside>
    }
}

#[component]
fn Dialogs(ui: Ui) -> impl IntoView {
    // Keyboard users land in the dialog's first field.
    Effect::new(move |_| {
        if ui.dialog.get().is_some() {
            request_animation_frame(|| {
                if let Some(el) = document()
                    .query_selector(".dialog input")
                    .ok()
                    .flatten()
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = el.focus();
                }
            });
        }
    });
    view! {
        {move || ui.dialog.get().map(|d| {
            let (title, body) = match d {
                Dialog::Create => ("Create a channel", view! { <CreateForm ui=ui/> }.into_any()),
                Dialog::Join => ("Join a channel", view! { <JoinForm ui=ui/> }.into_any()),
                Dialog::Invite => ("Invite someone", view! { <InviteForm ui=ui/> }.into_any()),
                Dialog::Passwd => ("Change your password", view! { <PasswdForm ui=ui/> }.into_any()),
            };
            view! {
                <div class="backdrop" on:click=move |_| ui.dialog.set(None)></div>
                <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
                    <h2 id="dialog-title">{title}</h2>
                    {body}
                    <p class="error" role="alert">{move || ui.dialog_error.get()}</p>
                </div>
            }
        })}
    }
}

#[component]
fn CreateForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let topic: NodeRef<html::Input> = NodeRef::new();
    let private: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let n = name.get().map(|i| i.value()).unwrap_or_default();
            let t = topic.get().map(|i| i.value()).unwrap_or_default();
            let p = private.get().is_some_and(|i| i.checked());
            ui.ask(Request::ChannelCreate {
                name: n.trim().trim_start_matches('#').to_owned(),
                private: p,
                topic: (!t.trim().is_empty()).then(|| t.trim().to_owned()),
            }, Asked::Create);
        }>
            <label>"Name" <input node_ref=name id="new-channel-name" required autofocus/></label>
            <label>"Topic" <input node_ref=topic id="new-channel-topic"/></label>
            <label class="toggle"><input type="checkbox" node_ref=private id="new-channel-private"/>"Private: only people you invite"</label>
            <div class="buttons">
                <button type="submit" class="primary" id="create">"Create"</button>
                <button type="button" on:click=move |_| ui.dialog.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn JoinForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let join = move |n: String| {
        let n = n.trim().trim_start_matches('#').to_owned();
        if let Some(conv) = with_client(|c| c.conv_named(ConvKind::Channel, &n).map(|c| c.conv)) {
            ui.dialog.set(None);
            ui.select(conv);
        } else {
            ui.ask(Request::ChannelJoin { name: n }, Asked::Join);
        }
    };
    view! {
        <ul class="channel-list" id="channel-list">
            {move || ui.channel_list.get().into_iter().map(|ch| {
                let n = ch.name.clone();
                view! {
                    <li>
                        <button class="conv" on:click=move |_| join(n.clone())>
                            <span class="name">{format!("#{}", ch.name)}</span>
                            <span class="muted">{format!("{} members{}{}", ch.members,
                                if ch.private { " · private" } else { "" },
                                if ch.joined { " · joined" } else { "" })}</span>
                        </button>
                    </li>
                }
            }).collect_view()}
        </ul>
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            join(name.get().map(|i| i.value()).unwrap_or_default());
        }>
            <label>"Channel name" <input node_ref=name id="join-name" required/></label>
            <div class="buttons">
                <button type="submit" class="primary" id="join">"Join"</button>
                <button type="button" on:click=move |_| ui.dialog.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn InviteForm(ui: Ui) -> impl IntoView {
    let user: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let u = user.get().map(|i| i.value()).unwrap_or_default();
            let u = u.trim().trim_start_matches('@').to_owned();
            let channel = ui.selected.get_untracked()
                .and_then(|s| with_client(|c| c.conv(s).filter(|c| c.kind == ConvKind::Channel).map(|c| c.name.clone())));
            if let Some(channel) = channel {
                ui.ask(Request::ChannelInvite { name: channel.clone(), user: u.clone() }, Asked::Invite(u, channel));
            }
        }>
            <label>"User name" <input node_ref=user id="invite-user" required autofocus/></label>
            <div class="buttons">
                <button type="submit" class="primary">"Invite"</button>
                <button type="button" on:click=move |_| ui.dialog.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn PasswdForm(ui: Ui) -> impl IntoView {
    let old: NodeRef<html::Input> = NodeRef::new();
    let new: NodeRef<html::Input> = NodeRef::new();
    let again: NodeRef<html::Input> = NodeRef::new();
    let value = |r: NodeRef<html::Input>| r.get().map(|i| i.value()).unwrap_or_default();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let (o, n, a) = (value(old), value(new), value(again));
            if n != a {
                ui.dialog_error.set(Some("The new passwords differ.".into()));
            } else if o.is_empty() || n.is_empty() {
                ui.dialog_error.set(Some("Fill in all three fields.".into()));
            } else {
                ui.ask(Request::ChangePassword { old_password: o, new_password: n }, Asked::Passwd);
            }
        }>
            <label>"Current password" <input node_ref=old type="password" autocomplete="current-password" required/></label>
            <label>"New password" <input node_ref=new type="password" autocomplete="new-password" required/></label>
            <label>"New password, again" <input node_ref=again type="password" autocomplete="new-password" required/></label>
            <div class="buttons">
                <button type="submit" class="primary">"Change"</button>
                <button type="button" on:click=move |_| ui.dialog.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}
