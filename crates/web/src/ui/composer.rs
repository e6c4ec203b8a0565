//! The message box, with `:shortcode:` completion and the emoji picker.

use confab_client::{Cache, Target, emoji};
use confab_proto::Role;
use leptos::html;

use super::*;
use crate::picker;
use crate::view::utf16_to_byte;

#[component]
pub(super) fn Composer(ui: Ui) -> impl IntoView {
    let area: NodeRef<html::Textarea> = NodeRef::new();
    // `:shortcode` and `@name` completion: the suggestions (what the list
    // shows, what goes in) and which one is chosen.
    let suggestions = RwSignal::new(Vec::<(String, String)>::new());
    let chosen = RwSignal::new(0usize);
    let word_start = StoredValue::new(0usize);
    let visitor = move || {
        ui.tick.track();
        with_client(|c| c.me().is_some_and(|u| u.role == Role::Visitor))
    };
    let target = move || {
        ui.tick.track();
        with_client(|c| match c.opened()? {
            Target::User(u) => Some(format!("@{u}")),
            Target::Conv(conv) => c.conv(*conv).map(|cv| label(cv.kind, &cv.name)),
        })
    };
    let refresh_suggestions = move || {
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let cursor = el.selection_start().ok().flatten().unwrap_or(0) as usize;
        // selection_start counts UTF-16 units; find the byte offset.
        let byte = utf16_to_byte(&text, cursor);
        let before = &text[..byte];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let found: Vec<(String, String)> = if let Some(code) = word.strip_prefix(':')
            && code.len() >= 2
            && emoji::is_shortcode_prefix(code)
        {
            emoji::complete(code, 8)
                .into_iter()
                .map(|code| {
                    let e = emojis::get_by_shortcode(code).map_or("", |e| e.as_str());
                    (format!("{e} :{code}:"), e.to_owned())
                })
                .collect()
        } else if let Some(prefix) = word.strip_prefix('@') {
            with_client(|c| c.complete_mention(prefix, 8))
                .into_iter()
                .map(|n| (format!("@{n}"), format!("@{n}")))
                .collect()
        } else {
            Vec::new()
        };
        word_start.set_value(start);
        chosen.set(0);
        suggestions.set(found);
    };
    let accept = move |i: usize| {
        let Some((_, e)) = suggestions.get_untracked().get(i).cloned() else {
            return;
        };
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let cursor = utf16_to_byte(
            &text,
            el.selection_start().ok().flatten().unwrap_or(0) as usize,
        );
        let start = word_start.get_value().min(cursor);
        let new = format!("{}{e} {}", &text[..start], &text[cursor..]);
        let pos = (text[..start].encode_utf16().count() + e.encode_utf16().count() + 1) as u32;
        el.set_value(&new);
        let _ = el.set_selection_range(pos, pos);
        mutate(|c| c.set_draft(&new));
        if !e.starts_with('@') {
            remember_emoji(&e);
        }
        suggestions.set(Vec::new());
    };
    let insert = move |e: &str| {
        let Some(el) = area.get_untracked() else {
            return;
        };
        let text = el.value();
        let at = utf16_to_byte(
            &text,
            el.selection_start().ok().flatten().unwrap_or(0) as usize,
        );
        let new = format!("{}{e}{}", &text[..at], &text[at..]);
        let pos = (text[..at].encode_utf16().count() + e.encode_utf16().count()) as u32;
        el.set_value(&new);
        let _ = el.set_selection_range(pos, pos);
        let _ = el.focus();
        mutate(|c| c.set_draft(&new));
        remember_emoji(e);
    };
    let on_key = move |e: ev::KeyboardEvent| {
        let open = suggestions.with_untracked(|s| !s.is_empty());
        match e.key().as_str() {
            "ArrowDown" if open => {
                e.prevent_default();
                let n = suggestions.with_untracked(Vec::len);
                chosen.update(|c| *c = (*c + 1) % n);
            }
            "ArrowUp" if open => {
                e.prevent_default();
                let n = suggestions.with_untracked(Vec::len);
                chosen.update(|c| *c = (*c + n - 1) % n);
            }
            "Tab" | "Enter" if open => {
                e.prevent_default();
                accept(chosen.get_untracked());
            }
            "Escape" if open => suggestions.set(Vec::new()),
            "Escape"
                if ui.replying.get_untracked().is_some()
                    || ui.editing.get_untracked().is_some() =>
            {
                ui.replying.set(None);
                if ui.editing.get_untracked().is_some() {
                    ui.editing.set(None);
                    mutate(|c| c.set_draft(""));
                    if let Some(el) = area.get_untracked() {
                        el.set_value("");
                    }
                }
            }
            "Enter" if !e.shift_key() => {
                e.prevent_default();
                // The draft clears once it is sent; one that cannot be
                // sent (too long) stays, and the notice says why.
                ui.send();
            }
            _ => {}
        }
    };
    view! {
        <Show
            when=move || !visitor()
            fallback=|| view! {
                <p class="visitor-note" id="visitor-note">"Visitors can read public channels but not write. Log out and register to take part."</p>
            }
        >
            <form class="composer" on:submit=move |e: ev::SubmitEvent| {
                e.prevent_default();
                ui.send();
            }>
                {move || {
                    let (what, seq) = match (ui.editing.get(), ui.replying.get()) {
                        (Some((_, seq)), _) => ("Editing message", seq),
                        (None, Some((_, seq))) => ("Replying to message", seq),
                        _ => return None,
                    };
                    Some(view! {
                        <div class="composing" id="composing" role="status">
                            <span>{format!("{what} {seq}")}</span>
                            <button type="button" class="icon" aria-label="Cancel" title="Cancel (Esc)"
                                on:click=move |_| {
                                    if ui.editing.get_untracked().is_some() {
                                        act(|c| c.set_draft(""));
                                    }
                                    ui.replying.set(None);
                                    ui.editing.set(None);
                                }>"×"</button>
                        </div>
                    })
                }}
                <Show when=move || suggestions.with(|s| !s.is_empty())>
                    <ul class="suggestions" role="listbox" aria-label="Suggestions" id="suggestions">
                        {move || suggestions.get().into_iter().enumerate().map(|(i, (shown, _))| {
                            view! {
                                <li role="option" aria-selected=move || (chosen.get() == i).to_string()
                                    class:chosen=move || chosen.get() == i
                                    on:mousedown=move |ev: ev::MouseEvent| { ev.prevent_default(); accept(i) }>
                                    {shown}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </Show>
                <textarea
                    id="composer"
                    node_ref=area
                    rows="1"
                    aria-label=move || format!("Message {}", target().unwrap_or_default())
                    placeholder=move || format!("Message {}  (:shortcode: for emoji)", target().unwrap_or_default())
                    prop:value=move || { ui.tick.track(); with_client(|c| c.open_draft().to_owned()) }
                    disabled=move || target().is_none()
                    on:input=move |e| {
                        let text = event_target_value(&e);
                        mutate(|c| c.set_draft(&text));
                        refresh_suggestions();
                        if !text.is_empty() {
                            ui.typed();
                        }
                    }
                    on:keydown=on_key
                    on:paste=move |e: ev::ClipboardEvent| {
                        // Pasted images (or files) are uploaded, not typed.
                        let files = e.clipboard_data().and_then(|d| d.files());
                        if files.as_ref().is_some_and(|f| f.length() > 0) {
                            e.prevent_default();
                            ui.upload_files(files);
                        }
                    }
                ></textarea>
                <input type="file" id="file-input" multiple hidden
                    on:change=move |e: ev::Event| {
                        let input: Option<web_sys::HtmlInputElement> =
                            e.target().and_then(|t| t.dyn_into().ok());
                        if let Some(input) = input {
                            ui.upload_files(input.files());
                            input.set_value("");
                        }
                    }/>
                <button type="button" class="icon" id="attach-button" aria-label="Attach files" title="Attach files (or drop or paste them)"
                    disabled=move || target().is_none()
                    on:click=move |_| {
                        ui.offer_next.set(false);
                        if let Some(input) = document()
                            .get_element_by_id("file-input")
                            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                        {
                            input.click();
                        }
                    }>"📎"</button>
                <button type="button" class="icon" id="emoji-button" aria-label="Emoji" title="Emoji"
                    aria-expanded=move || ui.picker_open.get().to_string()
                    on:click=move |_| ui.picker_open.update(|o| *o = !*o)>"😊"</button>
                <button type="submit" id="send" class="primary" disabled=move || target().is_none()>"Send"</button>
                <Show when=move || ui.picker_open.get()>
                    <EmojiPicker ui=ui on_pick=insert/>
                </Show>
            </form>
        </Show>
    }
}

pub(super) fn remember_emoji(e: &str) {
    if e.is_empty() {
        return;
    }
    mutate(|c| {
        let stored = c.cache().get(RECENT_KEY).ok().flatten().unwrap_or_default();
        let _ = c
            .cache_mut()
            .set(RECENT_KEY, Some(&picker::remember(&stored, e)));
    });
}

#[component]
pub(super) fn EmojiPicker(
    ui: Ui,
    on_pick: impl Fn(&str) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let tab = RwSignal::new(usize::MAX); // MAX: recently used (or the first group)
    let query = RwSignal::new(String::new());
    let search: NodeRef<html::Input> = NodeRef::new();
    // Opened, the picker is ready to type into.
    Effect::new(move |_| {
        if let Some(el) = search.get() {
            request_animation_frame(move || {
                let _ = el.focus();
            });
        }
    });
    let recent = move || {
        ui.tick.track();
        with_client(|c| c.cache().get(RECENT_KEY).ok().flatten().unwrap_or_default())
    };
    let shown = move || -> Vec<(String, String)> {
        let q = query.get();
        if !q.trim().is_empty() {
            return picker::search(&q, 120)
                .into_iter()
                .map(|e| {
                    (
                        e.as_str().to_owned(),
                        e.shortcode().unwrap_or(e.name()).to_owned(),
                    )
                })
                .collect();
        }
        let t = tab.get();
        if t == usize::MAX {
            let r = picker::recent(&recent());
            if !r.is_empty() {
                return r
                    .into_iter()
                    .map(|e| {
                        let name = emojis::get(&e).map_or(String::new(), |x| x.name().to_owned());
                        (e, name)
                    })
                    .collect();
            }
        }
        let g = picker::GROUPS[if t == usize::MAX { 0 } else { t }].0;
        picker::group(g)
            .into_iter()
            .map(|e| {
                (
                    e.as_str().to_owned(),
                    e.shortcode().unwrap_or(e.name()).to_owned(),
                )
            })
            .collect()
    };
    view! {
        <div class="picker" role="dialog" aria-label="Emoji picker" id="emoji-picker">
            <input type="search" placeholder="Search emoji" aria-label="Search emoji" id="emoji-search"
                node_ref=search
                prop:value=move || query.get()
                on:input=move |e| query.set(event_target_value(&e))
                on:keydown=move |e: ev::KeyboardEvent| {
                    // Enter picks the first one shown.
                    if e.key() == "Enter" {
                        e.prevent_default();
                        if let Some((first, _)) = shown().into_iter().next() {
                            on_pick(&first);
                        }
                    }
                }/>
            <div class="tabs" role="tablist" aria-label="Emoji categories">
                <button type="button" role="tab" aria-selected=move || (tab.get() == usize::MAX).to_string()
                    aria-label="Recently used" title="Recently used" on:click=move |_| { query.set(String::new()); tab.set(usize::MAX) }>"🕘"</button>
                {picker::GROUPS.iter().enumerate().map(|(i, (_, name, icon))| view! {
                    <button type="button" role="tab" aria-selected=move || (tab.get() == i).to_string()
                        aria-label=*name title=*name on:click=move |_| { query.set(String::new()); tab.set(i) }>{*icon}</button>
                }).collect_view()}
            </div>
            <div class="grid" role="listbox" aria-label="Emoji">
                {move || shown().into_iter().map(|(e, name)| {
                    let pick = e.clone();
                    view! {
                        <button type="button" role="option" class="emoji" title=format!(":{name}:") aria-label=name.clone()
                            on:click=move |_| on_pick(&pick)>{e}</button>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}
