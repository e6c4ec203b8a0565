//! The message list: grouped by sender and day, scrollback that keeps
//! the place, and who is typing.

use leptos::html;

use super::*;
use confab_client::timeline::Item;

#[component]
pub(super) fn Messages(ui: Ui) -> impl IntoView {
    let scroller: NodeRef<html::Div> = NodeRef::new();
    // The open conversation's timeline, from the client core.
    let data = Memo::new(move |_| {
        ui.tick.track();
        let offset = local_offset();
        with_client(|c| c.timeline(offset))
    });
    // After each change: stay at the newest message, or keep the place
    // when older ones were added above. (`older` also runs this when a
    // page of history added nothing new to show, so that the place kept
    // for it is let go and scrolling back goes on.)
    Effect::new(move |_| {
        data.track();
        ui.older.track();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            if let Some((height, top)) = ui.anchor.try_update_value(Option::take).flatten() {
                el.set_scroll_top(el.scroll_height() - height + top);
            } else if with_client(|c| c.reading()) {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 40;
        // Reading the newest messages marks them read (scroll events are
        // many; only a change redraws).
        if with_client(|c| c.reading()) != at_bottom {
            act(|c| c.set_reading(at_bottom));
        }
        if el.scroll_top() < 60
            && ui.anchor.with_value(Option::is_none)
            && !data.with_untracked(|d| d.at_beginning)
        {
            ui.anchor
                .set_value(Some((el.scroll_height(), el.scroll_top())));
            act(|c| c.scroll_back());
        }
    };
    let beginning = move || data.with(|d| d.at_beginning);
    let typing = move || {
        ui.tick.track();
        let now = ui.now.get();
        let who: Vec<String> = with_client(|c| {
            c.opened_conv().map_or_else(Vec::new, |conv| {
                c.typing_in(conv, now)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
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
            <For each=move || data.get().items key=|item| item.key().to_owned() let(item)>
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
