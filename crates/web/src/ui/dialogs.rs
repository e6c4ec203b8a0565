//! Dialogs: create, join and invite to channels; friends and requests;
//! new groups, adding to and renaming them; the password.

use confab_client::Action;
use confab_proto::{ConvId, ConvKind};
use leptos::html;

use super::state::Dialog;
use super::*;

/// What Tab may reach inside a dialog.
const FOCUSABLE: &str = "button:not([disabled]), input:not([disabled]), select, textarea, a[href], [tabindex]:not([tabindex='-1'])";

/// Keeps Tab inside the open dialog: past the last element it comes back
/// to the first, and Shift+Tab before the first goes to the last.
fn trap_tab(e: &ev::KeyboardEvent) {
    if e.key() != "Tab" {
        return;
    }
    let Some(dialog) = document().query_selector(".dialog").ok().flatten() else {
        return;
    };
    let Ok(list) = dialog.query_selector_all(FOCUSABLE) else {
        return;
    };
    let items: Vec<web_sys::HtmlElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return;
    };
    let active = document().active_element();
    let at = |el: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == el.unchecked_ref::<web_sys::Element>())
    };
    let inside = active.as_ref().is_some_and(|a| dialog.contains(Some(a)));
    if e.shift_key() && (at(first) || !inside) {
        e.prevent_default();
        let _ = last.focus();
    } else if !e.shift_key() && (at(last) || !inside) {
        e.prevent_default();
        let _ = first.focus();
    }
}

#[component]
pub(super) fn Dialogs(ui: Ui) -> impl IntoView {
    // Opening, keyboard users land in the dialog's first field; closing
    // (Esc, Cancel, done), they are back where they were.
    let before = StoredValue::new_local(None::<web_sys::HtmlElement>);
    Effect::new(move |was_open: Option<bool>| {
        let open = ui.dialog.get().is_some();
        if open && was_open != Some(true) {
            before.set_value(
                document()
                    .active_element()
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()),
            );
            request_animation_frame(|| {
                let first = document()
                    .query_selector(".dialog input")
                    .ok()
                    .flatten()
                    .or_else(|| {
                        document()
                            .query_selector(&format!(".dialog {FOCUSABLE}"))
                            .ok()
                            .flatten()
                    })
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(el) = first {
                    let _ = el.focus();
                }
            });
        } else if !open
            && was_open == Some(true)
            && let Some(el) = before.try_update_value(Option::take).flatten()
        {
            request_animation_frame(move || {
                let _ = el.focus();
            });
        }
        open
    });
    view! {
        {move || ui.dialog.get().map(|d| {
            let (title, body) = match d {
                Dialog::Create => ("Create a channel", view! { <CreateForm ui=ui/> }.into_any()),
                Dialog::Join => ("Join a channel", view! { <JoinForm ui=ui/> }.into_any()),
                Dialog::Invite => ("Invite someone", view! { <InviteForm ui=ui/> }.into_any()),
                Dialog::Passwd => ("Change your password", view! { <PasswdForm ui=ui/> }.into_any()),
                Dialog::Friends => ("Friends", view! { <FriendsPanel ui=ui/> }.into_any()),
                Dialog::NewGroup => ("New group", view! { <NewGroupForm ui=ui/> }.into_any()),
                Dialog::GroupAdd => ("Add people", view! { <GroupAddForm ui=ui/> }.into_any()),
                Dialog::GroupRename => ("Rename the group", view! { <GroupRenameForm ui=ui/> }.into_any()),
                Dialog::Admin => ("Administration", view! { <super::admin::AdminPanel ui=ui/> }.into_any()),
                Dialog::Search => ("Search", view! { <SearchResults ui=ui/> }.into_any()),
                Dialog::Help => ("Commands", view! { <CommandHelp ui=ui/> }.into_any()),
            };
            let wide = d == Dialog::Admin;
            view! {
                <div class="backdrop" on:click=move |_| ui.dialog.set(None)></div>
                <div class="dialog" class:wide=wide id=if wide { "admin-panel" } else { "" } role="dialog" aria-modal="true" aria-labelledby="dialog-title"
                    on:keydown=move |e: ev::KeyboardEvent| trap_tab(&e)>
                    <h2 id="dialog-title">{title}</h2>
                    {body}
                    <p class="error" role="alert">{move || ui.dialog_error.get()}</p>
                </div>
            }
        })}
    }
}

fn value(r: NodeRef<html::Input>) -> String {
    r.get().map(|i| i.value()).unwrap_or_default()
}

/// A Cancel (or Close) button.
fn close(ui: Ui, text: &'static str) -> impl IntoView {
    view! { <button type="button" on:click=move |_| ui.dialog.set(None)>{text}</button> }
}

#[component]
pub(super) fn CreateForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let topic: NodeRef<html::Input> = NodeRef::new();
    let private: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let t = value(topic);
            ui.ask(Action::CreateChannel {
                name: value(name).trim().trim_start_matches('#').to_owned(),
                private: private.get().is_some_and(|i| i.checked()),
                topic: (!t.trim().is_empty()).then(|| t.trim().to_owned()),
            });
        }>
            <label>"Name" <input node_ref=name id="new-channel-name" required autofocus/></label>
            <label>"Topic" <input node_ref=topic id="new-channel-topic"/></label>
            <label class="toggle"><input type="checkbox" node_ref=private id="new-channel-private"/>"Private: only people you invite"</label>
            <div class="buttons">
                <button type="submit" class="primary" id="create">"Create"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

#[component]
pub(super) fn JoinForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let join = move |n: String| {
        let n = n.trim().trim_start_matches('#').to_owned();
        if let Some(conv) = with_client(|c| c.conv_named(ConvKind::Channel, &n).map(|c| c.conv)) {
            ui.dialog.set(None);
            ui.select(conv);
        } else {
            ui.ask(Action::Join(n));
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
            join(value(name));
        }>
            <label>"Channel name" <input node_ref=name id="join-name" required/></label>
            <div class="buttons">
                <button type="submit" class="primary" id="join">"Join"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

#[component]
pub(super) fn InviteForm(ui: Ui) -> impl IntoView {
    let user: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let u = value(user).trim().trim_start_matches('@').to_owned();
            let channel = with_client(|c| {
                c.opened_conv()
                    .and_then(|s| c.conv(s))
                    .filter(|c| c.kind == ConvKind::Channel)
                    .map(|c| c.name.clone())
            });
            if let Some(channel) = channel {
                ui.ask(Action::Invite { user: u, channel });
            }
        }>
            <label>"User name" <input node_ref=user id="invite-user" required autofocus/></label>
            <div class="buttons">
                <button type="submit" class="primary">"Invite"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

#[component]
pub(super) fn PasswdForm(ui: Ui) -> impl IntoView {
    let old: NodeRef<html::Input> = NodeRef::new();
    let new: NodeRef<html::Input> = NodeRef::new();
    let again: NodeRef<html::Input> = NodeRef::new();
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let (o, n, a) = (value(old), value(new), value(again));
            if n != a {
                ui.dialog_error.set(Some("The new passwords differ.".into()));
            } else if o.is_empty() || n.is_empty() {
                ui.dialog_error.set(Some("Fill in all three fields.".into()));
            } else {
                ui.ask(Action::ChangePassword { old: o, new: n });
            }
        }>
            <label>"Current password" <input node_ref=old type="password" autocomplete="current-password" required/></label>
            <label>"New password" <input node_ref=new type="password" autocomplete="new-password" required/></label>
            <label>"New password, again" <input node_ref=again type="password" autocomplete="new-password" required/></label>
            <div class="buttons">
                <button type="submit" class="primary">"Change"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

/// Friends with presence, requests both ways, blocks: all live, each with
/// what can be done about it.
#[component]
pub(super) fn FriendsPanel(ui: Ui) -> impl IntoView {
    let user: NodeRef<html::Input> = NodeRef::new();
    let friends = move || {
        ui.tick.track();
        with_client(|c| c.friends().clone())
    };
    let online = move || {
        ui.tick.track();
        with_client(|c| *c.state() == ConnState::Online)
    };
    let row = move |name: String, buttons: Vec<(&'static str, Action)>| {
        view! {
            <li class="friend-row">
                <span class="name">{name}</span>
                {buttons.into_iter().map(|(text, action)| view! {
                    <button type="button" on:click=move |_| ui.ask(action.clone())>{text}</button>
                }).collect_view()}
            </li>
        }
    };
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            let u = value(user).trim().trim_start_matches('@').to_owned();
            if !u.is_empty() {
                ui.ask(Action::FriendRequest(u));
                if let Some(i) = user.get() {
                    i.set_value("");
                }
            }
        }>
            <label>"Ask someone to be your friend" <input node_ref=user id="friend-name" placeholder="user name"/></label>
            <div class="buttons"><button type="submit" class="primary" id="friend-add">"Ask"</button></div>
        </form>
        <Show when=move || !friends().incoming.is_empty()>
            <h3>"Asking you"</h3>
            <ul id="incoming">
                {move || friends().incoming.into_iter().map(|n| row(n.clone(), vec![
                    ("Accept", Action::FriendAccept(n.clone())),
                    ("Decline", Action::FriendDecline(n)),
                ])).collect_view()}
            </ul>
        </Show>
        <h3>"Friends"</h3>
        <ul id="friend-list">
            {move || {
                let f = friends();
                if f.friends.is_empty() {
                    return view! { <li class="muted">"No friends yet."</li> }.into_any();
                }
                f.friends.into_iter().map(|f| {
                    let on = f.online && online();
                    let (dm, name) = (f.name.clone(), f.name.clone());
                    view! {
                        <li class="friend-row">
                            <span class="name">
                                <span class="dot" class:online=on aria-label=if on { "online" } else { "offline" }></span>
                                {f.name.clone()}
                            </span>
                            <button type="button" on:click=move |_| { ui.dialog.set(None); ui.open_dm(dm.clone()) }>"Message"</button>
                            <button type="button" on:click={ let n = name.clone(); move |_| ui.ask(Action::FriendRemove(n.clone())) }>"Remove"</button>
                            <button type="button" on:click=move |_| ui.ask(Action::Block(name.clone()))>"Block"</button>
                        </li>
                    }
                }).collect_view().into_any()
            }}
        </ul>
        <Show when=move || !friends().outgoing.is_empty()>
            <h3>"You asked"</h3>
            <ul id="outgoing">
                {move || friends().outgoing.into_iter().map(|n| row(n.clone(), vec![
                    ("Cancel", Action::FriendCancel(n)),
                ])).collect_view()}
            </ul>
        </Show>
        <Show when=move || !friends().blocked.is_empty()>
            <h3>"Blocked"</h3>
            <ul id="blocked">
                {move || friends().blocked.into_iter().map(|n| row(n.clone(), vec![
                    ("Unblock", Action::Unblock(n)),
                ])).collect_view()}
            </ul>
        </Show>
        <div class="buttons">{close(ui, "Close")}</div>
    }
}

/// Checkboxes for the user's friends (but `except`), and the chosen ones.
fn friend_picker(ui: Ui, except: Vec<String>) -> (impl IntoView, RwSignal<Vec<String>>) {
    let chosen = RwSignal::new(Vec::<String>::new());
    let names = move || {
        ui.tick.track();
        with_client(|c| {
            c.friends()
                .friends
                .iter()
                .map(|f| f.name.clone())
                .filter(|n| !except.contains(n))
                .collect::<Vec<_>>()
        })
    };
    let view = view! {
        <fieldset class="pick" id="pick-friends">
            <legend>"Friends"</legend>
            {move || {
                let names = names();
                if names.is_empty() {
                    return view! { <p class="muted">"No friends to add: ask someone in Friends first."</p> }.into_any();
                }
                names.into_iter().map(|n| {
                    let toggled = n.clone();
                    view! {
                        <label class="toggle">
                            <input type="checkbox" value=n.clone() on:change=move |e| {
                                let on = event_target_checked(&e);
                                chosen.update(|c| {
                                    c.retain(|x| *x != toggled);
                                    if on { c.push(toggled.clone()); }
                                });
                            }/>
                            {n.clone()}
                        </label>
                    }
                }).collect_view().into_any()
            }}
        </fieldset>
    };
    (view, chosen)
}

#[component]
pub(super) fn NewGroupForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let owner_only: NodeRef<html::Input> = NodeRef::new();
    let (picker, chosen) = friend_picker(ui, Vec::new());
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            ui.ask(Action::CreateGroup {
                name: value(name).trim().to_owned(),
                members: chosen.get_untracked(),
                owner_only_add: owner_only.get().is_some_and(|i| i.checked()),
            });
        }>
            <label>"Name" <input node_ref=name id="group-name" required/></label>
            {picker}
            <label class="toggle"><input type="checkbox" node_ref=owner_only id="group-owner-only-new"/>"Only I add people"</label>
            <div class="buttons">
                <button type="submit" class="primary" id="group-create">"Create"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

fn open_group(ui: Ui) -> Option<ConvId> {
    ui.tick.track();
    with_client(|c| {
        c.opened_conv()
            .filter(|conv| c.conv(*conv).is_some_and(|cv| cv.kind == ConvKind::Group))
    })
}

#[component]
pub(super) fn GroupAddForm(ui: Ui) -> impl IntoView {
    let members = with_client(|c| {
        c.opened_conv()
            .and_then(|conv| c.group(conv))
            .map(|g| g.members.clone())
            .unwrap_or_default()
    });
    let (picker, chosen) = friend_picker(ui, members);
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            if let Some(conv) = open_group(ui) {
                ui.ask(Action::GroupAdd { conv, users: chosen.get_untracked() });
            }
        }>
            {picker}
            <div class="buttons">
                <button type="submit" class="primary" id="group-add-submit">"Add"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

#[component]
pub(super) fn GroupRenameForm(ui: Ui) -> impl IntoView {
    let name: NodeRef<html::Input> = NodeRef::new();
    let current = with_client(|c| {
        c.opened_conv()
            .and_then(|conv| c.conv(conv))
            .map(|cv| cv.name.clone())
            .unwrap_or_default()
    });
    view! {
        <form on:submit=move |e: ev::SubmitEvent| {
            e.prevent_default();
            if let Some(conv) = open_group(ui) {
                ui.ask(Action::GroupRename { conv, name: value(name).trim().to_owned() });
            }
        }>
            <label>"Name" <input node_ref=name id="group-new-name" value=current required/></label>
            <div class="buttons">
                <button type="submit" class="primary" id="group-rename-submit">"Rename"</button>
                {close(ui, "Cancel")}
            </div>
        </form>
    }
}

/// The last search's results; each opens its message in its conversation.
#[component]
pub(super) fn SearchResults(ui: Ui) -> impl IntoView {
    let offset = local_offset();
    view! {
        {move || {
            let found = ui.found.get();
            if found.hits.is_empty() {
                return view! {
                    <p id="search-none">{format!("Nothing found for “{}”.", found.query)}</p>
                }
                .into_any();
            }
            view! {
                <p>{format!("For “{}”{}:", found.query, if found.more { " (the newest)" } else { "" })}</p>
                <ul class="hits" id="search-results">
                    {found.hits.into_iter().map(|h| {
                        let conv = h.message.conv;
                        let seq = h.message.seq;
                        let place = label(h.kind, &h.name);
                        let when = confab_client::timeline::clock(h.message.ts, offset);
                        let text = h.message.body.as_text().unwrap_or_default().to_owned();
                        view! {
                            <li>
                                <button class="hit" on:click=move |_| {
                                    let known = with_client(|c| c.conv(conv).is_some());
                                    if known {
                                        ui.dialog.set(None);
                                        act(|c| c.jump_to(conv, seq, now_ms()));
                                    } else {
                                        ui.dialog_error.set(Some(format!("Join {place} to read it in its place.")));
                                    }
                                }>
                                    <span class="where">{label(h.kind, &h.name)}" · "{h.message.sender.clone()}" · "{when}</span>
                                    <span class="text">{text}</span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }}
        <div class="buttons">{close(ui, "Close")}</div>
    }
}

/// The slash commands, as in the terminal.
#[component]
pub(super) fn CommandHelp(ui: Ui) -> impl IntoView {
    view! {
        <p>"Type these in the message box (start with // to send a /):"</p>
        <dl class="commands">
            {confab_client::commands::HELP.iter().map(|(usage, what)| view! {
                <dt><code>{*usage}</code></dt>
                <dd>{*what}</dd>
            }).collect_view()}
        </dl>
        <div class="buttons">{close(ui, "Close")}</div>
    }
}
