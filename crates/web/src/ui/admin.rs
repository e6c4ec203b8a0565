//! The admin panel (admins only): accounts, channels, live statistics
//! drawn as charts, the audit log, and the server (broadcast, invitations,
//! shutdown). Every button sends an `admin_*` request through the client
//! core's `Action::Admin`; the answers land in [`Ui::admin`].

use std::time::Duration;

use confab_client::Action;
use confab_proto::{Request, Role, ServerStats};
use leptos::html;

use super::state::{AdminView, Dialog};
use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Users,
    Channels,
    Stats,
    Audit,
    Server,
}

fn ask(ui: Ui, req: Request) {
    ui.ask(Action::Admin(Box::new(req)));
}

fn all_users() -> Request {
    Request::AdminUsers {
        query: String::new(),
        limit: None,
    }
}

fn audit() -> Request {
    Request::AdminAudit {
        before: None,
        limit: Some(50),
    }
}

/// Asks the browser to confirm something that cannot be undone.
fn confirmed(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}

fn input(r: NodeRef<html::Input>) -> String {
    r.get().map(|i| i.value()).unwrap_or_default()
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&local_offset())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[component]
pub(super) fn AdminPanel(ui: Ui) -> impl IntoView {
    let tab = RwSignal::new(Tab::Users);
    ui.admin.set(AdminView::default());
    ask(ui, all_users());
    ask(ui, Request::AdminChannels {});
    ask(ui, audit());
    ask(ui, Request::AdminStats {});
    // The charts sample the server's counters while the panel is open.
    if let Ok(handle) = set_interval_with_handle(
        move || {
            if ui.dialog.get_untracked() == Some(Dialog::Admin) {
                ask(ui, Request::AdminStats {});
            }
        },
        Duration::from_secs(2),
    ) {
        on_cleanup(move || handle.clear());
    }
    let tab_button = move |t: Tab, id: &'static str, label: &'static str| {
        view! {
            <button role="tab" id=id aria-selected=move || (tab.get() == t).to_string()
                class:active=move || tab.get() == t on:click=move |_| tab.set(t)>{label}</button>
        }
    };
    view! {
        <div class="tabs" role="tablist">
            {tab_button(Tab::Users, "admin-tab-users", "Users")}
            {tab_button(Tab::Channels, "admin-tab-channels", "Channels")}
            {tab_button(Tab::Stats, "admin-tab-stats", "Statistics")}
            {tab_button(Tab::Audit, "admin-tab-audit", "Audit log")}
            {tab_button(Tab::Server, "admin-tab-server", "Server")}
        </div>
        <div class="admin-body">
            {move || match tab.get() {
                Tab::Users => view! { <Users ui=ui/> }.into_any(),
                Tab::Channels => view! { <Channels ui=ui/> }.into_any(),
                Tab::Stats => view! { <Stats ui=ui/> }.into_any(),
                Tab::Audit => view! { <Audit ui=ui/> }.into_any(),
                Tab::Server => view! { <Server ui=ui/> }.into_any(),
            }}
        </div>
        <div class="buttons">
            <button type="button" id="admin-close" on:click=move |_| ui.dialog.set(None)>"Close"</button>
        </div>
    }
}

#[component]
fn Users(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let password: NodeRef<html::Input> = NodeRef::new();
    let admin: NodeRef<html::Input> = NodeRef::new();
    view! {
        <input type="search" id="admin-search" placeholder="Search by name" aria-label="Search users"
            on:input=move |e| ask(ui, Request::AdminUsers { query: event_target_value(&e), limit: None })/>
        <table class="admin-table" id="admin-users">
            <thead><tr><th>"Name"</th><th>"Role"</th><th>"State"</th><th>"Sessions"</th><th></th></tr></thead>
            <tbody>
            {move || ui.admin.get().users.into_iter().map(|u| {
                let n = u.name.clone();
                let (n1, n2, n3, n4, n5) = (n.clone(), n.clone(), n.clone(), n.clone(), n.clone());
                let state = if u.disabled { "disabled" } else if u.online { "online" } else { "offline" };
                let is_admin = u.role == Role::Admin;
                let disabled = u.disabled;
                view! {
                    <tr data-user=n.clone()>
                        <td>{n.clone()}</td>
                        <td>{u.role.as_str()}</td>
                        <td class=state>{state}</td>
                        <td>{u.sessions}</td>
                        <td class="actions">
                            <button class="disable" on:click=move |_| ask(ui, Request::AdminUserUpdate {
                                name: n1.clone(), role: None, disabled: Some(!disabled) })>
                                {if disabled { "Enable" } else { "Disable" }}</button>
                            <button class="role" on:click=move |_| ask(ui, Request::AdminUserUpdate {
                                name: n2.clone(), role: Some(if is_admin { Role::Member } else { Role::Admin }), disabled: None })>
                                {if is_admin { "Make member" } else { "Make admin" }}</button>
                            <button class="revoke" on:click=move |_| ask(ui, Request::AdminUserRevoke { name: n3.clone() })>"End sessions"</button>
                            <button class="password" on:click=move |_| {
                                let new = web_sys::window()
                                    .and_then(|w| w.prompt_with_message(&format!("A new password for {n4}")).ok().flatten());
                                if let Some(p) = new.filter(|p| !p.is_empty()) {
                                    ask(ui, Request::AdminUserPassword { name: n4.clone(), password: p });
                                }
                            }>"New password"</button>
                            <button class="delete danger" on:click=move |_| {
                                if confirmed(&format!("Delete {n5}? Their messages stay, under another name.")) {
                                    ask(ui, Request::AdminUserDelete { name: n5.clone() });
                                }
                            }>"Delete"</button>
                        </td>
                    </tr>
                }
            }).collect_view()}
            </tbody>
        </table>
        <form class="inline" on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            ask(ui, Request::AdminUserCreate {
                name: input(name).trim().to_owned(),
                password: input(password),
                role: Some(if admin.get().is_some_and(|i| i.checked()) { Role::Admin } else { Role::Member }),
            });
        }>
            <h3>"New account"</h3>
            <label>"Name" <input node_ref=name id="admin-new-name" required/></label>
            <label>"Password" <input node_ref=password id="admin-new-password" type="password" required/></label>
            <label class="toggle"><input type="checkbox" node_ref=admin id="admin-new-admin"/>"Admin"</label>
            <button type="submit" class="primary" id="admin-create">"Create"</button>
        </form>
    }
}

#[component]
fn Channels(ui: Ui) -> impl IntoView {
    view! {
        <table class="admin-table" id="admin-channels">
            <thead><tr><th>"Channel"</th><th>"Kind"</th><th>"Owner"</th><th>"Members"</th><th>"Messages"</th><th></th></tr></thead>
            <tbody>
            {move || ui.admin.get().channels.into_iter().map(|c| {
                let conv = c.conv;
                let name = c.name.clone();
                view! {
                    <tr data-conv=conv.to_string()>
                        <td>{format!("#{}", c.name)}</td>
                        <td>{if c.private { "private" } else { "public" }}</td>
                        <td>{c.owner.clone().unwrap_or_else(|| "-".into())}</td>
                        <td>{c.members}</td>
                        <td>{c.last_seq}</td>
                        <td class="actions">
                            <button class="owner" on:click=move |_| {
                                let who = web_sys::window()
                                    .and_then(|w| w.prompt_with_message("The new owner's user name").ok().flatten());
                                if let Some(user) = who.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) {
                                    ask(ui, Request::AdminChannelOwner { conv, user });
                                }
                            }>"Change owner"</button>
                            <button class="delete danger" on:click=move |_| {
                                if confirmed(&format!("Delete #{name} and all its messages?")) {
                                    ask(ui, Request::AdminChannelDelete { conv });
                                }
                            }>"Delete"</button>
                        </td>
                    </tr>
                }
            }).collect_view()}
            </tbody>
        </table>
    }
}

/// One chart: a line over the samples, and the newest value.
fn chart(
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    points: Vec<f64>,
) -> impl IntoView {
    const W: f64 = 300.0;
    const H: f64 = 60.0;
    let max = points.iter().cloned().fold(0.0_f64, f64::max).max(1e-9);
    let n = points.len().max(2) as f64 - 1.0;
    let line: String = points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * W / n,
                H - v / max * (H - 4.0) - 2.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let now = points.last().copied().unwrap_or(0.0);
    let shown = if now >= 100.0 || now.fract() == 0.0 {
        format!("{now:.0}")
    } else {
        format!("{now:.2}")
    };
    view! {
        <figure class="chart" id=id>
            <figcaption>{title} ": " <strong class="value">{shown}</strong> " " {unit}</figcaption>
            <svg viewBox="0 0 300 60" preserveAspectRatio="none" role="img" aria-label=title>
                <polyline points=line fill="none" stroke="currentColor" stroke-width="1.5"/>
            </svg>
        </figure>
    }
}

/// Per-second rates between samples of a cumulative counter.
fn rate(samples: &[(u64, ServerStats)], get: impl Fn(&ServerStats) -> u64) -> Vec<f64> {
    samples
        .windows(2)
        .map(|w| {
            let secs = (w[1].0.saturating_sub(w[0].0)) as f64 / 1000.0;
            let d = get(&w[1].1).saturating_sub(get(&w[0].1)) as f64;
            if secs > 0.0 { d / secs } else { 0.0 }
        })
        .collect()
}

#[component]
fn Stats(ui: Ui) -> impl IntoView {
    view! {
        <div class="charts">
        {move || {
            let s = ui.admin.get().samples;
            let gauge = |f: &dyn Fn(&ServerStats) -> f64| s.iter().map(|(_, x)| f(x)).collect::<Vec<_>>();
            view! {
                {chart("chart-connections", "Connections", "", gauge(&|x| x.connections as f64))}
                {chart("chart-messages", "Messages", "per second", rate(&s, |x| x.messages))}
                {chart("chart-bytes-in", "Received", "bytes per second", rate(&s, |x| x.bytes_in))}
                {chart("chart-bytes-out", "Sent", "bytes per second", rate(&s, |x| x.bytes_out))}
                {chart("chart-latency-p50", "Delivery p50", "ms", gauge(&|x| x.delivery_p50_ms))}
                {chart("chart-latency-p99", "Delivery p99", "ms", gauge(&|x| x.delivery_p99_ms))}
                {chart("chart-memory", "Memory", "MiB", gauge(&|x| x.memory_bytes as f64 / 1048576.0))}
                {chart("chart-online", "Users online", "", gauge(&|x| x.users_online as f64))}
                {chart("chart-streams", "Live streams", "", gauge(&|x| x.streams_live as f64))}
                {chart("chart-viewers", "Stream viewers", "", gauge(&|x| x.stream_viewers as f64))}
                {chart("chart-relayed", "Relayed", "bytes per second", rate(&s, |x| x.turn_relayed_bytes))}
            }
        }}
        </div>
    }
}

#[component]
fn Audit(ui: Ui) -> impl IntoView {
    view! {
        <table class="admin-table" id="admin-audit">
            <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"To"</th><th>"From"</th><th>"Detail"</th></tr></thead>
            <tbody>
            {move || ui.admin.get().audit.into_iter().map(|e| view! {
                <tr>
                    <td>{when(e.ts_ms)}</td>
                    <td>{e.actor.unwrap_or_default()}</td>
                    <td class="action">{e.action}</td>
                    <td>{e.target.unwrap_or_default()}</td>
                    <td>{e.client.unwrap_or_default()}</td>
                    <td>{e.detail.unwrap_or_default()}</td>
                </tr>
            }).collect_view()}
            </tbody>
        </table>
        <div class="buttons">
            <button id="admin-audit-refresh" on:click=move |_| ask(ui, audit())>"Refresh"</button>
            <button id="admin-audit-older" on:click=move |_| {
                let before = ui.admin.with_untracked(|a| a.audit.last().map(|e| e.id));
                ask(ui, Request::AdminAudit { before, limit: Some(50) });
            }>"Older"</button>
        </div>
    }
}

#[component]
fn Server(ui: Ui) -> impl IntoView {
    let text: NodeRef<html::Input> = NodeRef::new();
    let uses: NodeRef<html::Input> = NodeRef::new();
    let reason: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form class="inline" on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            ask(ui, Request::AdminBroadcast { text: input(text) });
        }>
            <h3>"Broadcast"</h3>
            <label>"Notice to everyone" <input node_ref=text id="admin-broadcast-text" required/></label>
            <button type="submit" id="admin-broadcast">"Send"</button>
        </form>
        <form class="inline" on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let n = input(uses).parse().ok();
            ask(ui, Request::AdminInvite { uses: n, hours: None });
        }>
            <h3>"Invitation"</h3>
            <label>"Uses" <input node_ref=uses id="admin-invite-uses" type="number" min="1" value="1"/></label>
            <button type="submit" id="admin-invite">"Make one"</button>
            <p class="token" id="admin-invite-token">{move || ui.admin.get().invite.unwrap_or_default()}</p>
        </form>
        <form class="inline" on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            if confirmed("Stop the server? Everyone is disconnected.") {
                ask(ui, Request::AdminShutdown { reason: input(reason) });
            }
        }>
            <h3>"Shut down"</h3>
            <label>"Reason" <input node_ref=reason id="admin-shutdown-reason"/></label>
            <button type="submit" class="danger" id="admin-shutdown">"Stop the server"</button>
        </form>
    }
}
