//! Dialogs: create, join and invite to channels; change the password.

use confab_proto::{ConvKind, Request};
use leptos::html;

use super::state::{Asked, Dialog};
use super::*;

#[component]
pub(super) fn Dialogs(ui: Ui) -> impl IntoView {
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
pub(super) fn CreateForm(ui: Ui) -> impl IntoView {
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
pub(super) fn JoinForm(ui: Ui) -> impl IntoView {
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
pub(super) fn InviteForm(ui: Ui) -> impl IntoView {
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
pub(super) fn PasswdForm(ui: Ui) -> impl IntoView {
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
