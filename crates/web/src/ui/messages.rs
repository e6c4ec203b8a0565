//! The message list: grouped by sender and day, scrollback that keeps
//! the place, and who is typing.

use leptos::html;

use super::*;
use confab_client::describe::DELETED;
use confab_client::markdown;
use confab_client::timeline::{Item, Line};
use confab_proto::Seq;

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
    // A conversation opened with unread messages starts at its "new
    // messages" line.
    let shown_conv = StoredValue::new(None::<confab_proto::ConvId>);
    Effect::new(move |_| {
        data.track();
        ui.older.track();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            let conv = with_client(|c| c.opened_conv());
            let opened = shown_conv.get_value() != conv;
            shown_conv.set_value(conv);
            if opened && let Some(line) = document().get_element_by_id("unread-line") {
                line.scroll_into_view();
                el.set_scroll_top(el.scroll_top() - 40);
            } else if let Some((height, top)) = ui.anchor.try_update_value(Option::take).flatten() {
                el.set_scroll_top(el.scroll_height() - height + top);
            } else if with_client(|c| c.reading()) {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    let to_newest = move |_| {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        act(|c| c.set_reading(true));
    };
    let scrolled_back = move || {
        ui.tick.track();
        with_client(|c| c.opened().is_some() && !c.reading())
    };
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
    let nothing_open = move || {
        ui.tick.track();
        with_client(|c| c.opened().is_none())
    };
    view! {
        <div class="scroller" node_ref=scroller id="messages" role="log" aria-label="Messages" tabindex="0" on:scroll=on_scroll>
            <Show when=nothing_open>
                <div class="empty" id="empty-state">
                    <h2>"Nothing open yet"</h2>
                    <p>"Join a channel with "<strong>"#"</strong>" beside Channels, or create one with "<strong>"+"</strong>"."</p>
                    <p>"To write to someone, click their name in a channel's member list."</p>
                    <p>"In a conversation, "<code>"/help"</code>" in the message box lists every command."</p>
                </div>
            </Show>
            <Show when=beginning>
                <p class="beginning">"This is the beginning of the conversation."</p>
            </Show>
            <For each=move || data.get().items key=|item| item.key().to_owned() let(item)>
                {render_item(ui, item)}
            </For>
        </div>
        <Show when=scrolled_back>
            <button class="to-newest" id="to-newest" on:click=to_newest>"↓ Newest messages"</button>
        </Show>
        <p class="typing" aria-live="polite">{typing}</p>
    }
}

/// Quick reactions offered first; the picker has the rest.
const QUICK: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

pub(super) fn render_item(ui: Ui, item: Item) -> AnyView {
    match item {
        Item::Day { label, .. } => view! {
            <div class="day" role="separator"><span>{label}</span></div>
        }
        .into_any(),
        Item::Unread { .. } => view! {
            <div class="unread-line" role="separator" id="unread-line"><span>"New messages"</span></div>
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
        } => {
            let mine = with_client(|c| c.me().is_some_and(|u| u.name == sender));
            view! {
                <article class="group">
                    <header>
                        <span class="sender">{sender.clone()}</span>
                        <time>{time}</time>
                    </header>
                    {lines
                        .into_iter()
                        .map(|l| render_line(ui, l, &sender, mine))
                        .collect_view()}
                </article>
            }
            .into_any()
        }
    }
}

fn render_line(ui: Ui, l: Line, sender: &str, mine: bool) -> impl IntoView {
    let pending = l.pending;
    let seq = l.seq;
    let id = seq.map(|s| format!("m-{s}"));
    let quote = l.reply.clone().map(|q| {
        let text = if q.loaded {
            format!("{}: {}", q.sender, q.text)
        } else {
            format!("message {} (not loaded: show it)", q.seq)
        };
        view! {
            <button class="quote" title="Show the message this answers"
                on:click=move |_| {
                    if let Some(conv) = with_client(|c| c.opened_conv()) {
                        act(|c| c.jump_to(conv, q.seq, now_ms()));
                    }
                }>{format!("↳ {text}")}</button>
        }
    });
    let reactions = l
        .reactions
        .iter()
        .map(|r| {
            let emoji = r.emoji.clone();
            let who = r.users.join(", ");
            let label = format!("{} {}: {who}", r.emoji, r.users.len());
            view! {
                <button class="reaction" class:mine=r.mine title=who aria-label=label aria-pressed=r.mine.to_string()
                    on:click=move |_| react(seq, &emoji)>
                    {format!("{} {}", r.emoji, r.users.len())}
                </button>
            }
        })
        .collect_view();
    let has_reactions = !l.reactions.is_empty();
    let text = if l.deleted {
        DELETED.to_owned()
    } else {
        l.text.clone()
    };
    let edit_text = l.text.clone();
    let reply_to = format!("Reply to {sender}");
    let actions = seq.filter(|_| !l.deleted).map(|seq| {
        view! {
            <span class="actions" role="toolbar" aria-label="Message actions">
                <button class="icon react-button" aria-label="React" title="React"
                    on:click=move |_| ui.reacting.update(|r| *r = if *r == Some(seq) { None } else { Some(seq) })>"☺"</button>
                <button class="icon reply-button" aria-label=reply_to.clone() title="Reply"
                    on:click=move |_| {
                        if let Some(conv) = with_client(|c| c.opened_conv()) {
                            ui.editing.set(None);
                            ui.replying.set(Some((conv, seq)));
                            focus_composer();
                        }
                    }>"↩"</button>
                <Show when=move || mine>
                    <button class="icon edit-button" aria-label="Edit" title="Edit"
                        on:click={
                            let text = edit_text.clone();
                            move |_| {
                                if let Some(conv) = with_client(|c| c.opened_conv()) {
                                    ui.replying.set(None);
                                    ui.editing.set(Some((conv, seq)));
                                    act(|c| c.set_draft(&text));
                                    focus_composer();
                                }
                            }
                        }>"✎"</button>
                </Show>
                <button class="icon delete-button" aria-label="Delete" title="Delete"
                    on:click=move |_| {
                        let ok = web_sys::window()
                            .and_then(|w| w.confirm_with_message("Delete this message for everyone?").ok())
                            .unwrap_or(false);
                        if ok
                            && let Some(conv) = with_client(|c| c.opened_conv())
                            && let Err(e) = act(|c| c.delete(conv, seq, now_ms() as i64))
                        {
                            ui.error(format!("Not deleted: {e}."));
                        }
                    }>"🗑"</button>
            </span>
            <Show when=move || ui.reacting.get() == Some(seq)>
                <div class="react-bar" role="group" aria-label="Pick a reaction">
                    {QUICK.iter().map(|e| view! {
                        <button class="emoji" aria-label=*e on:click=move |_| { react(Some(seq), e); ui.reacting.set(None); }>{*e}</button>
                    }).collect_view()}
                    <super::composer::EmojiPicker ui=ui on_pick=move |e: &str| {
                        react(Some(seq), e);
                        super::composer::remember_emoji(e);
                        ui.reacting.set(None);
                    }/>
                </div>
            </Show>
        }
    });
    view! {
        <div class="msg" tabindex="0" class:pending=pending class:mention=l.mention class:deleted=l.deleted
            class:highlight=move || seq.is_some() && ui.highlight.get() == seq
            id=id title=match seq { Some(s) => format!("{} · message {s}", l.time), None => l.time.clone() }>
            {quote}
            <div class="body">
                {if l.deleted { view! { <span class="text">{text}</span> }.into_any() } else { markdown_view(&text) }}
                {l.edited.then(|| view! { <span class="edited">" (edited)"</span> })}
                {pending.then(|| view! {
                    <span class="pending-mark" role="img" aria-label="pending: not yet sent" title="Not yet sent: waiting for the server">
                        " "
                        // A clock, drawn: every font has it.
                        <svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>
                    </span>
                })}
            </div>
            {has_reactions.then(|| view! { <div class="reactions">{reactions}</div> })}
            {actions}
        </div>
    }
}

/// A message's Markdown as elements: text nodes and a few tags, never
/// HTML from the message (the core hands over styled spans; links only
/// to http, https and mailto).
fn markdown_view(text: &str) -> AnyView {
    let blocks = markdown::parse(text);
    view! {
        <span class="text">
            {blocks.into_iter().map(|b| match b {
                markdown::Block::Code { quote, text } => {
                    let quoted = quote > 0;
                    view! { <pre class:quote=quoted tabindex="0"><code>{text}</code></pre> }.into_any()
                }
                markdown::Block::Text { quote, lines } => {
                    let n = lines.len();
                    let quoted = quote > 0;
                    view! {
                        <span class="para" class:quote=quoted>
                            {lines.into_iter().enumerate().map(|(i, line)| view! {
                                {line.into_iter().map(span_view).collect_view()}
                                {(i + 1 < n).then(|| view! { <br/> })}
                            }).collect_view()}
                        </span>
                    }.into_any()
                }
            }).collect_view()}
        </span>
    }
    .into_any()
}

fn span_view(s: markdown::Span) -> AnyView {
    let mut v: AnyView = s.text.into_any();
    if s.style.code {
        v = view! { <code>{v}</code> }.into_any();
    }
    if s.style.strike {
        v = view! { <s>{v}</s> }.into_any();
    }
    if s.style.italic {
        v = view! { <em>{v}</em> }.into_any();
    }
    if s.style.bold {
        v = view! { <strong>{v}</strong> }.into_any();
    }
    if let Some(url) = s.link.filter(|u| markdown::safe_url(u)) {
        v = view! { <a href=url target="_blank" rel="noopener noreferrer nofollow">{v}</a> }
            .into_any();
    }
    v
}

/// Adds the emoji to the message, or takes it back (the core decides).
fn react(seq: Option<Seq>, emoji: &str) {
    let (Some(seq), Some(conv)) = (seq, with_client(|c| c.opened_conv())) else {
        return;
    };
    let _ = act(|c| c.react(conv, seq, emoji, now_ms() as i64));
}
