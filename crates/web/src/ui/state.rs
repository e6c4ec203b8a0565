//! The page's own state ([`Ui`], all signals) and what the client's events
//! do to it. Behaviour (the open conversation, drafts, typing, scrollback,
//! what an action's outcome says) is the client core's; this keeps only
//! what a page has: the screen, dialogs, the notice, the theme.

use confab_client::{Action, Event, Outcome, Ran, Refusal, Target, commands, emoji};
use confab_proto::{ChannelInfo, ConvId, Role, Seq};
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
    Friends,
    NewGroup,
    GroupAdd,
    GroupRename,
    /// Admins: accounts, channels, statistics, the audit log, the server.
    Admin,
    /// Search results (the last search's).
    Search,
    /// The slash commands.
    Help,
}

/// The last search: its words, what it found, whether there is more.
#[derive(Clone, Default, PartialEq, Debug)]
pub(super) struct Found {
    pub(super) query: String,
    pub(super) hits: Vec<confab_proto::SearchHit>,
    pub(super) more: bool,
}

/// What the admin panel shows, as the server last answered.
#[derive(Clone, Default, PartialEq, Debug)]
pub(super) struct AdminView {
    pub(super) users: Vec<confab_proto::AdminUser>,
    pub(super) channels: Vec<confab_proto::AdminChannel>,
    pub(super) audit: Vec<confab_proto::AuditEntry>,
    /// Samples of the server's counters: (page time in ms, counters).
    pub(super) samples: Vec<(u64, confab_proto::ServerStats)>,
    pub(super) invite: Option<String>,
}

/// How long a notice stays: an answer, a problem.
const NOTICE_INFO_MS: u64 = 8_000;
const NOTICE_ERROR_MS: u64 = 20_000;

/// Samples kept for the charts (two seconds apart: four minutes).
pub(super) const MAX_SAMPLES: usize = 120;

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

/// The page's own state, all signals (so `Copy`).
#[derive(Clone, Copy)]
pub(super) struct Ui {
    /// Bumped whenever the client changed; views that read the client track it.
    pub(super) tick: RwSignal<u64>,
    pub(super) now: RwSignal<u64>,
    /// Bumped when older messages were loaded (or none were left), so that
    /// the message list restores its place even when nothing new shows.
    pub(super) older: RwSignal<u64>,
    pub(super) screen: RwSignal<Screen>,
    pub(super) login_error: RwSignal<Option<String>>,
    pub(super) login_busy: RwSignal<bool>,
    /// The last answer or problem: (is an error, text).
    pub(super) notice: RwSignal<Option<(bool, String)>>,
    /// When it was given (page clock, ms).
    pub(super) notice_at: StoredValue<u64>,
    pub(super) dialog: RwSignal<Option<Dialog>>,
    pub(super) dialog_error: RwSignal<Option<String>>,
    pub(super) channel_list: RwSignal<Vec<ChannelInfo>>,
    pub(super) theme: RwSignal<Theme>,
    pub(super) picker_open: RwSignal<bool>,
    pub(super) sidebar_open: RwSignal<bool>,
    /// On a phone: the member list is shown over the thread.
    pub(super) members_open: RwSignal<bool>,
    /// Before loading older messages: (scroll height, scroll top), to keep the place.
    pub(super) anchor: StoredValue<Option<(i32, i32)>>,
    pub(super) admin: RwSignal<AdminView>,
    /// The composer answers this message (conv, seq).
    pub(super) replying: RwSignal<Option<(ConvId, Seq)>>,
    /// The composer edits this message of the user's (conv, seq).
    pub(super) editing: RwSignal<Option<(ConvId, Seq)>>,
    /// The message whose reaction picker is open.
    pub(super) reacting: RwSignal<Option<Seq>>,
    /// A message jumped to, shown highlighted.
    pub(super) highlight: RwSignal<Option<Seq>>,
    pub(super) found: RwSignal<Found>,
    /// Bumped when the notification permission was answered.
    pub(super) notify_asked: RwSignal<u32>,
    /// The next files chosen are offered (`/offer` in a DM), not posted.
    pub(super) offer_next: RwSignal<bool>,
    /// The next file chosen becomes the user's picture (`/avatar`).
    pub(super) avatar_next: RwSignal<bool>,
    /// Bumped when someone's picture changed: pictures are fetched again
    /// (the others from the cache).
    pub(super) avatar_gen: RwSignal<u32>,
    /// An image shown whole over the page: (object URL, name).
    pub(super) viewing: RwSignal<Option<(String, String)>>,
    /// Bumped when a live stream's state here changed (`crate::live`):
    /// only the live panel follows it, not the whole page.
    pub(super) live: RwSignal<u64>,
    /// The "Go live" form is open.
    pub(super) live_form: RwSignal<bool>,
}

/// Actions answered inside the dialog that asked them.
fn from_dialog(action: &Action) -> bool {
    matches!(
        action,
        Action::CreateChannel { .. }
            | Action::Join(_)
            | Action::Invite { .. }
            | Action::ChangePassword { .. }
            | Action::CreateGroup { .. }
            | Action::GroupAdd { .. }
            | Action::GroupRename { .. }
    )
}

impl Ui {
    pub(super) fn new() -> Ui {
        let has_auth = with_client(|c| c.has_auth());
        // The chat opens at the newest messages.
        mutate(|c| c.set_reading(true));
        let theme = match local_storage_get(THEME_KEY).as_deref() {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        };
        Ui {
            tick: RwSignal::new(0),
            now: RwSignal::new(now_ms()),
            older: RwSignal::new(0),
            screen: RwSignal::new(if has_auth {
                Screen::Chat
            } else {
                Screen::Login
            }),
            login_error: RwSignal::new(None),
            login_busy: RwSignal::new(false),
            notice: RwSignal::new(None),
            notice_at: StoredValue::new(0),
            dialog: RwSignal::new(None),
            dialog_error: RwSignal::new(None),
            channel_list: RwSignal::new(Vec::new()),
            theme: RwSignal::new(theme),
            picker_open: RwSignal::new(false),
            sidebar_open: RwSignal::new(false),
            members_open: RwSignal::new(false),
            anchor: StoredValue::new(None),
            admin: RwSignal::new(AdminView::default()),
            replying: RwSignal::new(None),
            editing: RwSignal::new(None),
            reacting: RwSignal::new(None),
            highlight: RwSignal::new(None),
            found: RwSignal::new(Found::default()),
            notify_asked: RwSignal::new(0),
            offer_next: RwSignal::new(false),
            avatar_next: RwSignal::new(false),
            avatar_gen: RwSignal::new(0),
            viewing: RwSignal::new(None),
            live: RwSignal::new(0),
            live_form: RwSignal::new(false),
        }
    }

    /// A link to watch a stream (`#watch=ID`, as the terminal prints it):
    /// once logged in, watch it.
    pub(super) fn watch_from_link(self) {
        if let Some(l) = document().location()
            && let Some(id) = l
                .hash()
                .ok()
                .and_then(|h| h.strip_prefix("#watch=").and_then(|n| n.parse().ok()))
            && with_client(|c| *c.state() == confab_client::ConnState::Online)
        {
            let _ = l.set_hash("");
            crate::live::asked_to_watch();
            self.ask(Action::StreamWatch(id));
        }
    }

    /// Files chosen, dropped or pasted: each goes to the outbox to upload
    /// to the open conversation (or, after `/offer`, is offered).
    pub(super) fn upload_files(self, files: Option<web_sys::FileList>) {
        let Some(files) = files else { return };
        let offer = self.offer_next.get_untracked();
        self.offer_next.set(false);
        if self.avatar_next.get_untracked() {
            self.avatar_next.set(false);
            let Some(f) = files.get(0) else { return };
            let (name, size) = (f.name(), f.size() as u64);
            let key = crate::files::add_source(f);
            if let Err(e) = act(|c| c.set_avatar(&key, &name, size, now_ms() as i64)) {
                self.error(format!("Not changed: {e}."));
            }
            return;
        }
        let Some(target) = with_client(|c| c.opened().cloned()) else {
            return self.error("Open a conversation to post the file in first.");
        };
        for i in 0..files.length() {
            let Some(f) = files.get(i) else { continue };
            let (name, size) = (f.name(), f.size() as u64);
            let key = crate::files::add_source(f);
            if let Err(e) =
                act(|c| c.upload(target.clone(), &key, &name, size, offer, now_ms() as i64))
            {
                self.error(format!("Not uploaded: {e}."));
            }
        }
    }

    pub(super) fn info(self, text: impl Into<String>) {
        self.notice_at.set_value(now_ms());
        self.notice.set(Some((false, text.into())));
    }

    pub(super) fn error(self, text: impl Into<String>) {
        self.notice_at.set_value(now_ms());
        self.notice.set(Some((true, text.into())));
    }

    /// Called every second: a notice goes after a while (an answer sooner
    /// than a problem), so none stays to mislead.
    pub(super) fn expire_notice(self, now: u64) {
        let limit = match self.notice.with_untracked(|n| n.as_ref().map(|(e, _)| *e)) {
            None => return,
            Some(true) => NOTICE_ERROR_MS,
            Some(false) => NOTICE_INFO_MS,
        };
        if now.saturating_sub(self.notice_at.get_value()) >= limit {
            self.notice.set(None);
        }
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
                // A setup link has done its work.
                if let Some(l) = document().location()
                    && l.hash().is_ok_and(|h| h.starts_with("#setup="))
                {
                    let _ = l.set_hash("");
                }
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
                self.watch_from_link();
                // The login queued requests for what is on screen.
                core().poke();
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
            Event::Older(_) => self.older.update(|n| *n += 1),
            Event::Done { action, result } => self.done(action, result),
            Event::SendFailed { pending, message } => {
                let what = match &pending.what {
                    confab_client::What::File { name, .. } => name.clone(),
                    _ => pending.text.clone(),
                };
                self.error(format!("Not sent: {message} (“{what}”)"));
            }
            Event::Transfer(key) => {
                // Progress shows on the file's line; the end of a download
                // (or any failure) is worth a notice.
                use confab_client::transfer::Phase;
                match with_client(|c| c.transfer(&key).map(|t| (t.phase.clone(), t.status()))) {
                    Some((Phase::Finished { to: Some(_) }, status)) => self.info(status),
                    Some((Phase::Failed(_), status)) => self.error(status),
                    _ => {}
                }
            }
            // The offline banner says so, and what is queued waits there:
            // a dropped connection is not an error to keep on screen.
            Event::Error(text) if text.starts_with("disconnected") => {}
            Event::Error(text) => self.error(text),
            Event::Notice(text) => self.info(text),
            Event::Avatar(user) => {
                crate::files::forget_image(&crate::files::avatar_path(&user));
                self.avatar_gen.update(|n| *n += 1);
            }
            Event::Notify {
                conv,
                title,
                body,
                in_view,
            } => {
                let hidden = document().hidden();
                if hidden || !in_view {
                    notify(self, conv, &title, &body);
                }
            }
            Event::Jumped { seq, .. } => {
                self.highlight.set(Some(seq));
                // Once drawn: into view.
                request_animation_frame(move || {
                    if let Some(el) = document().get_element_by_id(&format!("m-{seq}")) {
                        el.scroll_into_view();
                    }
                });
            }
            Event::State(confab_client::ConnState::Offline { .. }) => crate::live::on_offline(),
            Event::Streams(conv) => {
                let live = with_client(|c| c.live_streams(conv).to_vec());
                if let Some(said) = crate::live::on_streams(conv, &live) {
                    self.info(said);
                }
            }
            Event::StreamViewers { stream, viewers } => crate::live::on_viewers(stream, &viewers),
            Event::Signal {
                stream,
                watch,
                data,
                ..
            } => crate::live::on_signal(stream, watch, data),
            Event::State(_)
            | Event::Convs
            | Event::Messages(_)
            | Event::Members(_)
            | Event::Typing(_)
            | Event::Friends
            | Event::Opened => {}
        }
    }

    /// An action finished: say how; close the dialog that asked it.
    fn done(self, action: Action, result: Result<Outcome, Refusal>) {
        let in_dialog = from_dialog(&action) && self.dialog.get_untracked().is_some();
        if let (Action::StreamStart { .. }, Err(_)) = (&action, &result) {
            crate::live::start_refused();
        }
        let outcome = match result {
            Ok(o) => o,
            Err(r) if in_dialog => return self.dialog_error.set(Some(r.message)),
            Err(r) => return self.error(r.message),
        };
        if in_dialog {
            self.dialog.set(None);
        }
        if let Outcome::Joined(_) | Outcome::Group(_) = &outcome {
            // On a phone: show what was joined, not the list.
            self.sidebar_open.set(false);
        }
        match &outcome {
            Outcome::Channels(channels) => self.channel_list.set(channels.clone()),
            Outcome::Found { query, hits, more } => {
                self.found.set(Found {
                    query: query.clone(),
                    hits: hits.clone(),
                    more: *more,
                });
                self.dialog_error.set(None);
                self.dialog.set(Some(Dialog::Search));
            }
            Outcome::Admin(reply) => self.admin_reply(&action, reply),
            Outcome::LoggedOut => self.logged_out(),
            Outcome::Live {
                stream,
                ice_servers,
            } => {
                crate::live::on_live(stream.clone(), ice_servers.clone());
                self.info(outcome.sentence());
            }
            Outcome::Watching {
                stream,
                watch,
                ice_servers,
            } => {
                crate::live::on_watching(stream.clone(), *watch, ice_servers.clone());
                if self.selected() != Some(stream.conv) {
                    self.select(stream.conv);
                }
            }
            Outcome::StreamStopped(id) => {
                crate::live::stop_hosting(*id);
                self.info(outcome.sentence());
            }
            Outcome::IceServers {
                stream,
                ice_servers,
            } => crate::live::on_ice(*stream, ice_servers.clone()),
            // Signals and stopping watching say nothing.
            Outcome::Signalled | Outcome::Unwatched(_) => {}
            _ => self.info(outcome.sentence()),
        }
        // What the outcome opened (a joined channel) may need its members.
        core().poke();
    }

    /// An admin request was answered: keep what it returned; after a
    /// change, ask again for what it changed.
    fn admin_reply(self, action: &Action, reply: &serde_json::Value) {
        use confab_proto::{Request, ServerBody};
        let Ok(body) = serde_json::from_value::<ServerBody>(reply.clone()) else {
            return;
        };
        match body {
            ServerBody::AdminUsers { users } => self.admin.update(|a| a.users = users),
            ServerBody::AdminChannels { channels } => self.admin.update(|a| a.channels = channels),
            ServerBody::AdminAudit { entries } => self.admin.update(|a| a.audit = entries),
            ServerBody::AdminStats { stats } => self.admin.update(|a| {
                a.samples.push((now_ms(), stats));
                if a.samples.len() > MAX_SAMPLES {
                    a.samples.remove(0);
                }
            }),
            ServerBody::AdminInvite { token, .. } => self.admin.update(|a| a.invite = Some(token)),
            _ => {
                let Action::Admin(req) = action else { return };
                let again = match **req {
                    Request::AdminChannelDelete { .. } | Request::AdminChannelOwner { .. } => {
                        Request::AdminChannels {}
                    }
                    _ => Request::AdminUsers {
                        query: String::new(),
                        limit: None,
                    },
                };
                self.info("Done.");
                self.ask(Action::Admin(Box::new(again)));
                self.ask(Action::Admin(Box::new(Request::AdminAudit {
                    before: None,
                    limit: Some(50),
                })));
            }
        }
    }

    pub(super) fn logged_out(self) {
        self.notice.set(None);
        self.found.set(Found::default());
        self.replying.set(None);
        self.editing.set(None);
        self.dialog.set(None);
        self.screen.set(Screen::Login);
        self.login_error.set(Some("You are logged out.".into()));
    }

    /// Does something for the user; a refusal before sending (offline)
    /// is said where the user asked.
    pub(super) fn ask(self, action: Action) {
        self.try_ask(action);
    }

    /// [`Ui::ask`], saying whether it was sent.
    pub(super) fn try_ask(self, action: Action) -> bool {
        let Err(e) = act(|c| c.act(action)) else {
            return true;
        };
        let text = format!("Cannot do that now: {e}.");
        if self.dialog.get_untracked().is_some() {
            self.dialog_error.set(Some(text));
        } else {
            self.error(text);
        }
        false
    }

    /// The open conversation's id, if it has one (a view reading this
    /// tracks `tick`).
    pub(super) fn selected(self) -> Option<ConvId> {
        self.tick.track();
        with_client(|c| c.opened_conv())
    }

    /// A reply or an edit belongs to the conversation it began in.
    fn stop_composing(self) {
        self.replying.set(None);
        if self.editing.get_untracked().is_some() {
            self.editing.set(None);
            mutate(|c| c.set_draft(""));
        }
    }

    pub(super) fn select(self, conv: ConvId) {
        self.stop_composing();
        self.anchor.set_value(None);
        self.sidebar_open.set(false);
        act(|c| c.open(Target::Conv(conv), now_ms()));
    }

    pub(super) fn move_selection(self, by: isize) {
        self.stop_composing();
        self.anchor.set_value(None);
        act(|c| c.open_next(by, now_ms()));
    }

    /// Opens a direct conversation with `user` (a new one if none yet).
    pub(super) fn open_dm(self, user: String) {
        self.stop_composing();
        self.anchor.set_value(None);
        self.sidebar_open.set(false);
        self.members_open.set(false);
        act(|c| c.open_dm(&user, now_ms()));
        focus_composer();
    }

    /// Sends the draft: a slash command is carried out (by the client
    /// core, as in the terminal), a reply or an edit goes as one, anything
    /// else as a message. One that cannot be sent stays, and the notice
    /// says why.
    pub(super) fn send(self) {
        let draft = with_client(|c| c.open_draft().to_owned());
        if commands::is_command(&draft) {
            let cmd = match commands::parse(&draft) {
                Ok(cmd) => cmd,
                Err(e) => return self.error(e),
            };
            act(|c| c.set_draft(""));
            match act(|c| c.run(cmd, now_ms())) {
                Ok(Ran::Done) => {}
                Ok(Ran::Info(text)) => self.info(text),
                Ok(Ran::Ui(commands::Command::Help)) => {
                    self.dialog_error.set(None);
                    self.dialog.set(Some(Dialog::Help));
                }
                Ok(Ran::Ui(commands::Command::Passwd)) => {
                    self.dialog_error.set(None);
                    self.dialog.set(Some(Dialog::Passwd));
                }
                Ok(Ran::Ui(commands::Command::Friends)) => {
                    self.dialog_error.set(None);
                    self.dialog.set(Some(Dialog::Friends));
                }
                Ok(Ran::Ui(
                    cmd @ (commands::Command::Upload { .. } | commands::Command::Avatar(_)),
                )) => {
                    // A browser chooses files with its picker.
                    self.offer_next
                        .set(matches!(cmd, commands::Command::Upload { offer: true, .. }));
                    self.avatar_next
                        .set(matches!(cmd, commands::Command::Avatar(_)));
                    if let Some(input) = document()
                        .get_element_by_id("file-input")
                        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                    {
                        input.click();
                    }
                }
                Ok(Ran::Ui(commands::Command::Live)) => {
                    self.info("Who is live here shows above the messages, with “Watch”.")
                }
                Ok(Ran::Ui(_)) => self.info("To leave, close the tab (or log out)."),
                Err(e) => {
                    act(|c| c.set_draft(&draft));
                    self.error(e);
                }
            }
            return;
        }
        // `//text` sends `/text`.
        let text = draft.strip_prefix('/').unwrap_or(&draft).to_owned();
        let now = now_ms();
        // A reply or an edit only where it began (the conversation may
        // have changed some other way, a jump from search).
        let open = with_client(|c| c.opened_conv());
        if self
            .editing
            .get_untracked()
            .is_some_and(|(c, _)| Some(c) != open)
            || self
                .replying
                .get_untracked()
                .is_some_and(|(c, _)| Some(c) != open)
        {
            self.replying.set(None);
            self.editing.set(None);
        }
        let sent = if let Some((conv, seq)) = self.editing.get_untracked() {
            act(|c| c.edit(conv, seq, &emoji::expand(&text), now as i64))
        } else if let Some((conv, seq)) = self.replying.get_untracked() {
            act(|c| c.reply(conv, seq, &emoji::expand(&text), now as i64))
        } else {
            if text != draft {
                mutate(|c| c.set_draft(&text));
            }
            act(|c| c.send_draft(now))
        };
        match sent {
            Ok(_) => {
                if self.editing.get_untracked().is_some() || self.replying.get_untracked().is_some()
                {
                    act(|c| c.set_draft(""));
                }
                self.editing.set(None);
                self.replying.set(None);
            }
            Err(e) => {
                if text != draft {
                    mutate(|c| c.set_draft(&draft));
                }
                self.error(format!("Not sent: {e}."));
            }
        }
    }

    /// The user typed: the others hear of it now and then.
    pub(super) fn typed(self) {
        act(|c| c.typed(now_ms()));
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

/// Whether the browser lets this page notify (`None`: it has no
/// notifications at all).
pub(super) fn notification_permission() -> Option<web_sys::NotificationPermission> {
    let has = js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false);
    has.then(web_sys::Notification::permission)
}

/// A desktop notification, if the user allowed them; a click on it opens
/// the conversation.
fn notify(ui: Ui, conv: ConvId, title: &str, body: &str) {
    if notification_permission() != Some(web_sys::NotificationPermission::Granted) {
        return;
    }
    let opts = web_sys::NotificationOptions::new();
    opts.set_body(body);
    opts.set_tag(&format!("conv-{conv}"));
    let Ok(n) = web_sys::Notification::new_with_options(title, &opts) else {
        return;
    };
    let on_click = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        let _ = window().focus();
        ui.select(conv);
    });
    n.set_onclick(Some(on_click.as_ref().unchecked_ref()));
    // Lives as long as the notification may be clicked: the page's life.
    on_click.forget();
}
