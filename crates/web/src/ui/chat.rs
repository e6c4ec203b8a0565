//! The chat's frame: top bar, offline banner, sidebar (channels, groups,
//! direct messages, friends), members, notices.

use confab_client::{Action, Target};
use confab_proto::{ConvId, Role};

use super::composer::Composer;
use super::dialogs::Dialogs;
use super::messages::Messages;
use super::state::Dialog;
use super::*;

fn open_dialog(ui: Ui, d: Dialog) {
    ui.dialog_error.set(None);
    ui.dialog.set(Some(d));
}

#[component]
pub(super) fn Chat(ui: Ui) -> impl IntoView {
    let offline = move || {
        ui.tick.track();
        with_client(|c| *c.state() != ConnState::Online)
    };
    let title = move || {
        ui.tick.track();
        with_client(|c| match c.opened() {
            Some(Target::User(u)) => format!("@{u}"),
            Some(Target::Conv(conv)) => c
                .conv(*conv)
                .map_or_else(|| "Confab".into(), |cv| label(cv.kind, &cv.name)),
            None => "Confab".into(),
        })
    };
    let topic = move || {
        ui.tick.track();
        with_client(|c| {
            c.opened_conv()
                .and_then(|conv| c.conv(conv))
                .map(|cv| cv.topic.clone())
        })
        .unwrap_or_default()
    };
    // The tab's title counts what is unread (mentions first).
    Effect::new(move |_| {
        ui.tick.track();
        let (unread, mentions) = with_client(|c| {
            c.convs()
                .iter()
                .filter(|cv| !cv.muted || cv.mentions > 0)
                .fold((0, 0), |(u, m), cv| (u + cv.unread, m + cv.mentions))
        });
        let title = match (unread, mentions) {
            (0, _) => "Confab".to_owned(),
            (u, 0) => format!("({u}) Confab"),
            (u, m) => format!("({u}, @{m}) Confab"),
        };
        document().set_title(&title);
    });
    let search: NodeRef<leptos::html::Input> = NodeRef::new();
    let muted = move || {
        ui.tick.track();
        with_client(|c| {
            c.opened_conv()
                .and_then(|conv| c.conv(conv))
                .is_some_and(|cv| cv.muted)
        })
    };
    view! {
        <div class="chat" class:sidebar-open=move || ui.sidebar_open.get() class:members-open=move || ui.members_open.get()>
            <header class="topbar">
                <button class="icon only-narrow" id="conversations-button" aria-label="Conversations" aria-expanded=move || ui.sidebar_open.get().to_string()
                    on:click=move |_| { ui.members_open.set(false); ui.sidebar_open.update(|o| *o = !*o) }>"☰"</button>
                <h1 id="conv-title">{title}</h1>
                <span class="topic" id="conv-topic" title=topic>{topic}</span>
                <Show when=move || ui.selected().is_some()>
                    <button class="icon" id="mute" aria-pressed=move || muted().to_string()
                        aria-label=move || if muted() { "Unmute this conversation" } else { "Mute this conversation" }
                        title=move || if muted() { "Muted: no notifications (click to unmute)" } else { "Mute: no notifications from here" }
                        on:click=move |_| {
                            let m = !muted();
                            if let Some(conv) = with_client(|c| c.opened_conv()) {
                                act(|c| { let _ = c.set_muted(conv, m); });
                            }
                        }>{move || if muted() { "🔕" } else { "🔔" }}</button>
                </Show>
                <super::streams::GoLiveButton ui=ui/>
                <button class="icon only-narrow" id="members-button" aria-label="Members" aria-expanded=move || ui.members_open.get().to_string()
                    on:click=move |_| { ui.sidebar_open.set(false); ui.members_open.update(|o| *o = !*o) }>"👥"</button>
                <form class="search" role="search" on:submit=move |e: ev::SubmitEvent| {
                    e.prevent_default();
                    let query = search.get().map(|i| i.value()).unwrap_or_default();
                    if !query.trim().is_empty() {
                        ui.ask(Action::Search { query, conv: None });
                    }
                }>
                    <input type="search" id="search" node_ref=search placeholder="Search" aria-label="Search messages"/>
                </form>
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
                <super::streams::LivePanel ui=ui/>
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

#[component]
pub(super) fn UserMenu(ui: Ui) -> impl IntoView {
    let me = move || {
        ui.tick.track();
        with_client(|c| c.me().cloned())
    };
    let visitor = move || me().is_some_and(|u| u.role == Role::Visitor);
    let open = RwSignal::new(false);
    view! {
        <div class="user" class:open=move || open.get()>
            <button class="icon" id="theme" aria-label=move || ui.theme.get().label() title=move || ui.theme.get().label()
                on:click=move |_| ui.set_theme(ui.theme.get_untracked().next())>"◐"</button>
            // On a phone the rest folds into this menu.
            <button class="icon only-narrow" id="menu-button" aria-label="Account menu" aria-haspopup="true"
                aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>"⋮"</button>
            <div class="menu-items" id="user-menu">
            <span class="me">{move || me().map(|u| u.name).unwrap_or_default()}</span>
            <Show when=move || !visitor()>
                <label class="toggle">
                    <input type="checkbox" id="invisible"
                        prop:checked=move || me().is_some_and(|u| u.invisible)
                        on:change=move |e| ui.ask(Action::SetInvisible(event_target_checked(&e)))/>
                    "Invisible"
                </label>
                <button id="passwd" on:click=move |_| open_dialog(ui, Dialog::Passwd)>"Password"</button>
            </Show>
            <label class="toggle" title="Live streams you watch or host go through the server's relay: the other end never learns your address">
                <input type="checkbox" id="relay-only" prop:checked=crate::live::relay_only()
                    on:change=move |e| crate::live::set_relay_only(event_target_checked(&e))/>
                "Streams via the server"
            </label>
            <Show when=move || me().is_some_and(|u| u.role == Role::Admin)>
                <button id="admin" on:click=move |_| open_dialog(ui, Dialog::Admin)>"Admin"</button>
            </Show>
            <Show when=move || { ui.tick.track(); ui.notify_asked.get(); super::state::notification_permission() == Some(web_sys::NotificationPermission::Default) }>
                <button id="enable-notifications" title="Be told of direct messages and mentions while you look elsewhere"
                    on:click=move |_| {
                        // Asked only here, on the user's click, never on load.
                        if let Ok(p) = web_sys::Notification::request_permission() {
                            leptos::task::spawn_local(async move {
                                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                                ui.notify_asked.update(|n| *n += 1);
                            });
                        }
                    }>"Notify me"</button>
            </Show>
            <button id="logout" on:click=move |_| {
                // Logging out forgets this browser's copy, unsent messages too.
                let unsent = with_client(|c| c.outbox().len());
                let ok = unsent == 0
                    || web_sys::window()
                        .and_then(|w| w.confirm_with_message(&format!(
                            "{unsent} message{} not sent yet will be lost. Log out anyway?",
                            if unsent == 1 { "" } else { "s" }
                        )).ok())
                        .unwrap_or(false);
                if ok {
                    ui.ask(Action::Logout);
                }
            }>"Log out"</button>
            </div>
        </div>
    }
}

#[component]
pub(super) fn Sidebar(ui: Ui) -> impl IntoView {
    let convs = move |kind: ConvKind| {
        ui.tick.track();
        with_client(|c| {
            c.convs()
                .into_iter()
                .filter(|cv| cv.kind == kind)
                .map(|cv| (cv.conv, cv.name.clone(), cv.unread, cv.mentions))
                .collect::<Vec<_>>()
        })
    };
    let item = move |(conv, name, unread, mentions): (ConvId, String, u32, u32), kind: ConvKind| {
        let current = move || ui.selected() == Some(conv);
        let text = label(kind, &name);
        let has_unread = unread != 0;
        let mentioned = mentions != 0;
        let live = move || {
            ui.tick.track();
            with_client(|c| !c.live_streams(conv).is_empty())
        };
        view! {
            <li>
                <button class="conv" aria-current=move || current().then_some("page")
                    class:unread=move || has_unread && !current()
                    on:click=move |_| ui.select(conv)>
                    <span class="name">{text}</span>
                    <Show when=live>
                        <span class="badge live" aria-label="live now" title="Someone is live here">"● live"</span>
                    </Show>
                    <Show when=move || mentioned && !current()>
                        <span class="badge mention" aria-label=format!("{mentions} mentioning you")>{format!("@{mentions}")}</span>
                    </Show>
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
    let new_dm = move || {
        ui.tick.track();
        with_client(|c| match c.opened() {
            Some(Target::User(u)) => Some(u.clone()),
            _ => None,
        })
    };
    let friends = move || {
        ui.tick.track();
        with_client(|c| c.friends().clone())
    };
    let online = move || {
        ui.tick.track();
        with_client(|c| *c.state() == ConnState::Online)
    };
    view! {
        <nav class="sidebar" aria-label="Conversations">
            <div class="heading">
                <h2>"Channels"</h2>
                <button class="icon" id="join-channel" aria-label="Join a channel" title="Join a channel"
                    on:click=move |_| {
                        open_dialog(ui, Dialog::Join);
                        ui.ask(Action::ListChannels);
                    }>"#"</button>
                <Show when=move || !visitor()>
                    <button class="icon" id="create-channel" aria-label="Create a channel" title="Create a channel"
                        on:click=move |_| open_dialog(ui, Dialog::Create)>"+"</button>
                </Show>
            </div>
            <ul id="channels">
                {move || convs(ConvKind::Channel).into_iter().map(|c| item(c, ConvKind::Channel)).collect_view()}
            </ul>
            <Show when=move || !visitor()>
                <div class="heading">
                    <h2>"Groups"</h2>
                    <button class="icon" id="new-group" aria-label="New group" title="New group"
                        on:click=move |_| open_dialog(ui, Dialog::NewGroup)>"+"</button>
                </div>
                <ul id="groups">
                    {move || convs(ConvKind::Group).into_iter().map(|c| item(c, ConvKind::Group)).collect_view()}
                </ul>
            </Show>
            <div class="heading"><h2>"Direct messages"</h2></div>
            <ul id="dms">
                {move || convs(ConvKind::Dm).into_iter().map(|c| item(c, ConvKind::Dm)).collect_view()}
                {move || new_dm().map(|u| view! {
                    <li><button class="conv" aria-current="page"><span class="name">{format!("@{u}")}</span></button></li>
                })}
            </ul>
            <Show when=move || !visitor()>
                <div class="heading">
                    <h2>"Friends"</h2>
                    <button class="icon" id="friends-button" aria-label="Friends and requests" title="Friends and requests"
                        on:click=move |_| open_dialog(ui, Dialog::Friends)>
                        "👤"
                        {move || {
                            let n = friends().incoming.len();
                            (n > 0).then(|| view! { <span class="badge" id="requests-badge" aria-label=format!("{n} friend requests")>{n}</span> })
                        }}
                    </button>
                </div>
                <ul id="friends">
                    {move || friends().friends.into_iter().map(|f| {
                        let on = f.online && online();
                        let name = f.name.clone();
                        view! {
                            <li>
                                <button class="conv member" title=format!("Write to {}", f.name)
                                    on:click=move |_| ui.open_dm(name.clone())>
                                    <span class="name">
                                        <span class="dot" class:online=on aria-label=if on { "online" } else { "offline" }></span>
                                        {f.name.clone()}
                                    </span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
        </nav>
    }
}

#[component]
pub(super) fn Members(ui: Ui) -> impl IntoView {
    // (kind, name, me, members (name, online, marker), am I the owner, group add policy).
    // A memo: redrawn when it changes, not on every tick (so that focus
    // and a click in progress are not lost).
    let data = Memo::new(move |_| {
        ui.tick.track();
        with_client(|c| {
            let me = c.me().map(|u| u.name.clone()).unwrap_or_default();
            let online = *c.state() == ConnState::Online;
            match c.opened()? {
                Target::User(u) => Some((
                    ConvKind::Dm,
                    u.clone(),
                    me.clone(),
                    vec![(u.clone(), false, ""), (me, online, "")],
                    false,
                    false,
                )),
                Target::Conv(conv) => {
                    let cv = c.conv(*conv)?;
                    let group = c.group(*conv);
                    let owner = group.map(|g| g.owner.clone()).unwrap_or_default();
                    let mut members: Vec<(String, bool, &'static str)> = c
                        .members(*conv)
                        .unwrap_or_default()
                        .iter()
                        .map(|m| {
                            let marker = if cv.kind == ConvKind::Group && m.name == owner {
                                " (owner)"
                            } else {
                                ""
                            };
                            (m.name.clone(), m.online && online, marker)
                        })
                        .collect();
                    members.sort_by(|a, b| (!a.1, &a.0).cmp(&(!b.1, &b.0)));
                    Some((
                        cv.kind,
                        cv.name.clone(),
                        me.clone(),
                        members,
                        owner == me,
                        group.is_some_and(|g| g.owner_only_add),
                    ))
                }
            }
        })
    });
    let visitor = move || {
        ui.tick.track();
        with_client(|c| c.me().is_some_and(|u| u.role == Role::Visitor))
    };
    view! {
        <aside class="members" aria-label="Members">
            {move || data.get().map(|(kind, name, me, members, owner, owner_only)| {
                let leave_name = name.clone();
                view! {
                    <div class="heading"><h2>"Members"</h2></div>
                    <ul id="member-list">
                        {members.into_iter().map(|(m, on, marker)| {
                            let is_me = m == me;
                            let who = m.clone();
                            view! {
                                <li>
                                    <button class="member" disabled=is_me
                                        title=if is_me { "You".to_owned() } else { format!("Send {m} a direct message") }
                                        on:click=move |_| ui.open_dm(who.clone())>
                                        {super::messages::avatar(ui, &m)}
                                        <span class="dot" class:online=on aria-label=if on { "online" } else { "offline" }></span>
                                        {m.clone()}{is_me.then_some(" (you)")}{marker}
                                    </button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    <Show when=move || kind == ConvKind::Channel && !visitor()>
                        <div class="actions">
                            <button id="invite" on:click=move |_| open_dialog(ui, Dialog::Invite)>"Invite…"</button>
                            <button id="leave" on:click={
                                let name = leave_name.clone();
                                move |_| ui.ask(Action::Leave(name.clone()))
                            }>{format!("Leave #{leave_name}")}</button>
                        </div>
                    </Show>
                    <Show when=move || kind == ConvKind::Group>
                        <div class="actions" id="group-actions">
                            <Show when=move || owner || !owner_only>
                                <button id="group-add" on:click=move |_| open_dialog(ui, Dialog::GroupAdd)>"Add people…"</button>
                            </Show>
                            <button id="group-rename" on:click=move |_| open_dialog(ui, Dialog::GroupRename)>"Rename…"</button>
                            <Show when=move || owner>
                                <label class="toggle">
                                    <input type="checkbox" id="group-owner-only" prop:checked=owner_only
                                        on:change=move |e| {
                                            if let Some(conv) = with_client(|c| c.opened_conv()) {
                                                ui.ask(Action::GroupAddPolicy { conv, owner_only: event_target_checked(&e) });
                                            }
                                        }/>
                                    "Only I add people"
                                </label>
                            </Show>
                            <button id="group-leave" on:click=move |_| {
                                if let Some(conv) = with_client(|c| c.opened_conv()) {
                                    ui.ask(Action::GroupLeave(conv));
                                }
                            }>"Leave the group"</button>
                        </div>
                    </Show>
                }
            })}
        </aside>
    }
}
