//! The message list: grouped by sender and day, scrollback that keeps
//! the place, and who is typing.

use leptos::html;

use super::*;
use confab_client::describe::DELETED;
use confab_client::markdown;
use confab_client::timeline::{FileLine, Item, Line};
use confab_client::transfer::download_key;
use confab_proto::Seq;
use confab_proto::file::human_size;

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
        <div class="scroller" node_ref=scroller id="messages" role="log" aria-label="Messages" tabindex="0" on:scroll=on_scroll
            on:dragover=move |e: ev::DragEvent| e.prevent_default()
            on:drop=move |e: ev::DragEvent| {
                // Files dropped on the conversation are uploaded to it.
                e.prevent_default();
                ui.upload_files(e.data_transfer().and_then(|d| d.files()));
            }>
            <Show when=move || ui.viewing.with(Option::is_some)>
                <div class="lightbox" id="image-view" role="dialog" aria-modal="true" aria-label="Image" tabindex="-1"
                    on:click=move |_| ui.viewing.set(None)
                    on:keydown=move |e: ev::KeyboardEvent| if e.key() == "Escape" { ui.viewing.set(None) }>
                    {move || ui.viewing.get().map(|(url, name)| view! {
                        <img src=url alt=name.clone()/>
                        <button class="icon" autofocus aria-label="Close" title="Close (Esc)">"×"</button>
                    })}
                </div>
            </Show>
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
                        {avatar(ui, &sender)}
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
                {match (&l.file, l.deleted) {
                    (Some(f), false) => file_view(ui, f.clone(), seq, mine).into_any(),
                    (_, true) => view! { <span class="text">{text}</span> }.into_any(),
                    _ => markdown_view(&text),
                }}
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

/// A user's picture: their initial until it loads, or when they have none.
pub(super) fn avatar(ui: Ui, name: &str) -> impl IntoView + use<> {
    let url = RwSignal::new(None::<String>);
    let path = crate::files::avatar_path(name);
    Effect::new(move |_| {
        ui.avatar_gen.track();
        let Some(token) = with_client(|c| c.token().map(str::to_owned)) else {
            return;
        };
        let path = path.clone();
        leptos::task::spawn_local(async move {
            if let Ok(u) = crate::files::image_url(&path, &token).await {
                url.set(Some(u));
            }
        });
    });
    let initial = name
        .chars()
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    view! {
        <span class="avatar" aria-hidden="true">
            {move || match url.get() {
                Some(u) => view! { <img src=u alt=""/> }.into_any(),
                None => initial.clone().into_any(),
            }}
        </span>
    }
}

/// A file on its line: an image's thumbnail (its place kept from the
/// dimensions the message carries; a click shows it whole), or a card with
/// its name, size and type and a download button; an offer's answer
/// buttons; and progress with speed and time left while it moves.
fn file_view(ui: Ui, f: FileLine, seq: Option<Seq>, mine: bool) -> impl IntoView {
    let info = f.info.clone();
    let progress_key = f.upload.clone().unwrap_or_else(|| download_key(&info.id));
    let progress = move || {
        ui.tick.track();
        with_client(|c| {
            c.transfer(&progress_key)
                .filter(|t| t.active())
                .map(|t| (t.done, t.total.max(1), t.status()))
        })
        .map(|(done, total, status)| {
            view! {
                <div class="transfer" role="status">
                    <progress max=total.to_string() value=done.to_string()></progress>
                    <span>{status}</span>
                </div>
            }
        })
    };
    let (offered, answer) = match f.offer {
        Some((_, a)) => (true, a),
        None => (false, None),
    };
    let may_fetch = !info.id.is_empty() && (!offered || mine || answer == Some(true));
    let caption = format!(
        "{} · {}{}",
        info.name,
        human_size(info.size),
        if info.mime.is_empty() {
            String::new()
        } else {
            format!(" · {}", info.mime)
        }
    );
    let thumb = info.image.filter(|_| may_fetch).map(|img| {
        let url = RwSignal::new(None::<String>);
        let id = info.id.clone();
        if let Some(token) = with_client(|c| c.token().map(str::to_owned)) {
            let path = format!("/files/{id}/thumb");
            leptos::task::spawn_local(async move {
                if let Ok(u) = crate::files::image_url(&path, &token).await {
                    url.set(Some(u));
                }
            });
        }
        let name = info.name.clone();
        let open = move |_| {
            let (id, name) = (id.clone(), name.clone());
            let Some(token) = with_client(|c| c.token().map(str::to_owned)) else { return };
            leptos::task::spawn_local(async move {
                match crate::files::image_url(&format!("/files/{id}"), &token).await {
                    Ok(u) => {
                        ui.viewing.set(Some((u, name)));
                        request_animation_frame(|| {
                            if let Some(el) = document()
                                .get_element_by_id("image-view")
                                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                            {
                                let _ = el.focus();
                            }
                        });
                    }
                    Err(e) => ui.error(format!("The image did not load: {e}.")),
                }
            });
        };
        // Shown at most 320 px wide, in its proportions, before it loads.
        let style = format!("aspect-ratio: {} / {}; width: min(100%, {}px)", img.width.max(1), img.height.max(1), img.width.min(320));
        let alt = format!("{} ({}×{})", info.name, img.width, img.height);
        view! {
            <button class="thumb" style=style title="Show it whole" on:click=open>
                <img alt=alt src=move || url.get().unwrap_or_default() width=img.width.min(320).to_string()/>
            </button>
        }
    });
    let file_for_download = info.clone();
    let download = may_fetch.then(|| {
        view! {
            <button class="download" on:click=move |_| {
                if let Err(e) = act(|c| c.download(&file_for_download, "")) {
                    ui.error(format!("Not downloaded: {e}."));
                }
            }>"Download"</button>
        }
    });
    let answer_buttons = (offered && !mine && answer.is_none()).then(|| {
        let reply = move |accept: bool| {
            if let (Some(seq), Some(conv)) = (seq, with_client(|c| c.opened_conv()))
                && let Err(e) = act(|c| c.answer(conv, seq, accept, now_ms() as i64))
            {
                ui.error(format!("Not answered: {e}."));
            }
        };
        view! {
            <button class="primary accept" on:click=move |_| reply(true)>"Accept"</button>
            <button class="decline" on:click=move |_| reply(false)>"Decline"</button>
        }
    });
    let offer_state = offered.then_some(match (answer, mine) {
        (None, true) => "Offered: waiting for an answer",
        (None, false) => "Offered to you",
        (Some(true), _) => "Offer accepted",
        (Some(false), _) => "Offer declined",
    });
    view! {
        <div class="file" class:pending=f.upload.is_some()>
            {thumb}
            <div class="file-card">
                <span class="file-name">{format!("📎 {caption}")}</span>
                {offer_state.map(|s| view! { <span class="offer-state">{s}</span> })}
                {answer_buttons}
                {download}
            </div>
            {progress}
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
