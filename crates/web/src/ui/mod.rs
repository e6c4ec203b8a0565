//! The Leptos components. State lives in two places: the client core
//! (conversations, messages, the outbox, the connection), which the views
//! read through [`with_client`] whenever `tick` changes, and [`Ui`]'s
//! signals (what is selected, open or typed). The core is not `Send`, so it
//! sits in a thread-local rather than in a signal; views capture only
//! signals.
//!
//! - [`state`]: [`Ui`] and what the client's events do to it.
//! - `login`, `chat` (the frame: top bar, sidebar with channels, groups,
//!   DMs and friends, members), `messages`, `composer` (with the emoji
//!   picker), `dialogs` (channels, groups, friends, password) and `admin`
//!   (the admin panel, with its charts), `streams` (the live panel): the
//!   components. Behaviour is the client core's; these only render it and
//!   call its actions.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use chrono::FixedOffset;
use confab_client::describe::label;
use confab_client::{Client, ConnState};
use confab_proto::ConvKind;
use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::driver::{Core, drive, now_ms};
use crate::idb::IdbCache;

mod admin;
mod chat;
mod composer;
mod dialogs;
mod login;
mod messages;
mod state;
mod streams;

use chat::Chat;
use login::Login;
use state::{Screen, Ui};

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
        let text = format!("confab: {info}");
        web_sys::console::error_1(&text.as_str().into());
        // Kept where a test (or a curious user) can read it.
        if let Some(w) = web_sys::window() {
            let _ = js_sys::Reflect::set(&w, &"confabPanic".into(), &text.into());
        }
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
            crate::live::install(move |a| ui.try_ask(a), move || ui.live.update(|t| *t += 1));
            if let Some(w) = warning {
                ui.error(w);
            }
            set_interval(
                move || {
                    let now = now_ms();
                    ui.now.set(now);
                    ui.expire_notice(now);
                },
                Duration::from_secs(1),
            );
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
                if ui.picker_open.get_untracked() {
                    // Back to where the emoji would have gone.
                    focus_composer();
                }
                ui.picker_open.set(false);
                ui.sidebar_open.set(false);
                ui.members_open.set(false);
                ui.reacting.set(None);
            }
            _ => {}
        }
    });
    // A link to watch a stream opened in a tab already showing Confab.
    let _ = window_event_listener(ev::hashchange, move |_| ui.watch_from_link());
    ui.set_theme(ui.theme.get_untracked());
    view! {
        {move || match ui.screen.get() {
            Screen::Login => view! { <Login ui=ui/> }.into_any(),
            Screen::Chat => view! { <Chat ui=ui/> }.into_any(),
        }}
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
