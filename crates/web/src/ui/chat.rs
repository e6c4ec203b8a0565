//! The chat's frame: top bar, offline banner, sidebar, members, notices.

use confab_proto::{ConvId, Request, Role};

use super::composer::Composer;
use super::dialogs::Dialogs;
use super::messages::Messages;
use super::state::{Asked, Dialog};
use super::*;

#[component]
pub(super) fn Chat(ui: Ui) -> impl IntoView {
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

#[component]
pub(super) fn UserMenu(ui: Ui) -> impl IntoView {
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
pub(super) fn Sidebar(ui: Ui) -> impl IntoView {
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
pub(super) fn Members(ui: Ui) -> impl IntoView {
    let data = move || {
        ui.tick.track();
        let conv = ui.selected.get()?;
        with_client(|c| {
            let cv = c.conv(conv)?;
            let me = c.me().map(|u| u.name.clone()).unwrap_or_default();
            let online = *c.state() == ConnState::Online;
            let members: Vec<(String, bool)> = match cv.kind {
                ConvKind::Channel | ConvKind::Group => {
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
