//! The message list: grouped by sender and day, scrollback that keeps
//! the place, and who is typing.

use confab_client::Target;
use leptos::html;

use super::*;
use confab_client::timeline::{self as view, Item, PendingLine};

#[component]
pub(super) fn Messages(ui: Ui) -> impl IntoView {
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
        // Scrolled down to the newest: read (scroll events are many; only
        // a change in unread counts redraws).
        if at_bottom
            && let Some(conv) = ui.selected.get_untracked()
            && with_client(|c| c.conv(conv).is_some_and(|cv| cv.unread > 0))
        {
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

pub(super) fn render_item(item: Item) -> AnyView {
    match item {
        Item::Day { label, .. } => view! {
            <div class="day" role="separator"><span>{label}</span></div>
        }
        .into_any(),
        Item::Event {
            text,
            time,
            unknown,
            ..
        } => view! {
            <p class="event" class:unknown=unknown title=time>{text}</p>
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
