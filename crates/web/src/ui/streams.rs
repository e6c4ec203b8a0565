//! The live panel above a channel's messages, shown when there is
//! something live: who is live there (with "Watch"), the stream the user
//! watches (the video, and how it comes), the user's own stream (a
//! preview, who watches; in every conversation, to stop it from anywhere)
//! and the "Go live" form (opened from the top bar, [`GoLiveButton`]).
//! The WebRTC behind it is `crate::live`'s.

use confab_client::Action;
use confab_proto::{ConvKind, Role, StreamInfo};
use leptos::html;

use super::*;
use crate::live::{self, Figures};

/// Whether the user may go live in the open conversation now: a channel,
/// a member, not live already.
pub(super) fn can_host(ui: Ui) -> bool {
    ui.live.track();
    let channel = ui.selected().is_some_and(|c| {
        with_client(|cl| cl.conv(c).is_some_and(|cv| cv.kind == ConvKind::Channel))
    });
    channel
        && live::hosting().is_none()
        && with_client(|c| c.me().is_some_and(|u| u.role != Role::Visitor))
}

/// The top bar's "Go live": opens the form in the live panel.
#[component]
pub(super) fn GoLiveButton(ui: Ui) -> impl IntoView {
    view! {
        <Show when=move || can_host(ui)>
            <button class="icon" id="go-live" aria-label="Go live" title="Go live: show your camera or screen to this channel"
                aria-expanded=move || ui.live_form.get().to_string()
                on:click=move |_| ui.live_form.update(|o| *o = !*o)>"📹"</button>
        </Show>
    }
}

/// "640×480, 312 frames, direct".
fn figures_text(f: &Figures) -> String {
    let mut parts = Vec::new();
    if f.width > 0 {
        parts.push(format!("{}×{}", f.width, f.height));
    }
    parts.push(format!("{} frames", f.frames));
    if f.kbps > 0 {
        parts.push(format!("{:.1} Mbit/s", f.kbps as f64 / 1000.0));
    }
    parts.push(match &f.path {
        Some(p) => p.clone(),
        None => "connecting…".into(),
    });
    parts.join(", ")
}

#[component]
pub(super) fn LivePanel(ui: Ui) -> impl IntoView {
    // The open channel (streams are a channel's).
    let conv = move || {
        ui.selected().filter(|c| {
            with_client(|cl| cl.conv(*c).is_some_and(|cv| cv.kind == ConvKind::Channel))
        })
    };
    let me = move || {
        ui.tick.track();
        with_client(|c| c.me().map(|u| u.name.clone()))
    };
    let streams = move || -> Vec<StreamInfo> {
        let Some(conv) = conv() else {
            return Vec::new();
        };
        let mine = me().unwrap_or_default();
        with_client(|c| {
            c.live_streams(conv)
                .iter()
                .filter(|s| s.host != mine)
                .cloned()
                .collect()
        })
    };
    // The live module's state follows `ui.live` (bumped every second while
    // something is live), not the page's `tick`.
    let hosting = move || {
        ui.live.track();
        live::hosting()
    };
    let watching = move || {
        ui.live.track();
        live::watching()
    };
    let watching_here = move || {
        let here = conv();
        watching().is_some_and(|w| Some(w.stream.conv) == here)
    };
    let is_hosting = move || hosting().is_some();
    let form_open = ui.live_form;
    let busy = RwSignal::new(false);
    let title: NodeRef<html::Input> = NodeRef::new();
    let source: NodeRef<html::Select> = NodeRef::new();
    let max: NodeRef<html::Input> = NodeRef::new();
    let video: NodeRef<html::Video> = NodeRef::new();
    let preview: NodeRef<html::Video> = NodeRef::new();
    // A video element drawn anew shows its stream again.
    Effect::new(move |_| {
        let (v, p) = (video.get(), preview.get());
        if v.is_some() || p.is_some() {
            request_animation_frame(live::attach_all);
        }
    });
    let start = move |e: ev::SubmitEvent| {
        e.prevent_default();
        let Some(conv) = conv() else { return };
        let text = title.get().map(|i| i.value()).unwrap_or_default();
        let screen = source.get().is_some_and(|s| s.value() == "screen");
        let limit = max
            .get()
            .and_then(|i| i.value().trim().parse::<u32>().ok())
            .filter(|n| *n > 0);
        busy.set(true);
        leptos::task::spawn_local(async move {
            let went = live::go_live(conv, text, limit, screen).await;
            busy.set(false);
            match went {
                Ok(()) => form_open.set(false),
                Err(e) => ui.error(format!("Cannot go live: {e}.")),
            }
        });
    };
    let watch = move |stream: u64| {
        live::asked_to_watch();
        ui.ask(Action::StreamWatch(stream));
    };
    view! {
        <Show when=move || is_hosting() || (conv().is_some() && (!streams().is_empty() || watching_here() || form_open.get()))>
            <section class="live" id="live" aria-label="Live streams">
                <ul class="live-streams" id="live-streams">
                    <For each=streams key=|s| s.id let:s>
                        {
                        let id = s.id;
                        let this = move || watching().is_some_and(|w| w.stream.id == id);
                        view! {
                            <li class="live-stream" data-stream=id.to_string()>
                                <span class="live-dot" aria-hidden="true">"● "</span>
                                {format!("{} is live: “{}” ", s.host, s.title)}
                                <Show when=move || !this()>
                                    <button class="watch" on:click=move |_| watch(id)>"Watch"</button>
                                </Show>
                            </li>
                        }
                        }
                    </For>
                </ul>
                <Show when=watching_here>
                    <div class="watching">
                        <video id=live::WATCH_VIDEO node_ref=video autoplay=true muted=true prop:muted=true controls=true playsinline=true
                            on:loadeddata=move |_| live::first_frame()></video>
                        <p class="live-figures" id="watch-figures"
                            data-frames=move || watching().map(|w| w.figures.frames.to_string())
                            data-path=move || watching().and_then(|w| w.figures.path)
                            data-kbps=move || watching().map(|w| w.figures.kbps.to_string())
                            data-first-frame-ms=move || watching().and_then(|w| w.first_frame_ms.map(|n| n.to_string()))>
                            {move || watching().map(|w| {
                                let first = w.first_frame_ms.map(|n| format!(" (first picture after {n} ms)")).unwrap_or_default();
                                format!("{}'s “{}”: {}{first}", w.stream.host, w.stream.title, figures_text(&w.figures))
                            })}
                        </p>
                        <button id="stop-watching" on:click=move |_| {
                            if let Some(w) = watching() && live::stop_watching(w.stream.id) {
                                ui.ask(Action::StreamUnwatch(w.stream.id));
                            }
                        }>"Stop watching"</button>
                    </div>
                </Show>
                <Show when=is_hosting>
                    <div class="hosting">
                        <video id=live::PREVIEW_VIDEO node_ref=preview autoplay=true muted=true prop:muted=true playsinline=true></video>
                        <p id="live-status">
                            {move || hosting().map(|h| {
                                let place = with_client(|c| c.conv(h.stream.conv).map(|cv| label(cv.kind, &cv.name))).unwrap_or_default();
                                format!("You are live: “{}” in {place} ", h.stream.title)
                            })}
                            <button id="stop-live" on:click=move |_| {
                                if let Some(h) = hosting() && live::stop_hosting(h.stream.id) {
                                    ui.ask(Action::StreamStop(h.stream.id));
                                }
                            }>"Stop"</button>
                        </p>
                        <p id="live-viewers" data-count=move || hosting().map(|h| h.viewers.len().to_string())>
                            {move || hosting().map(|h| if h.viewers.is_empty() {
                                format!("Nobody watches yet (up to {}).", h.stream.max_viewers)
                            } else {
                                let who: Vec<String> = h.viewers.iter().map(|(name, f)| match &f.path {
                                    Some(p) => format!("{name} ({p})"),
                                    None => format!("{name} (connecting…)"),
                                }).collect();
                                format!("Watching ({}/{}): {}", h.viewers.len(), h.stream.max_viewers, who.join(", "))
                            })}
                        </p>
                    </div>
                </Show>
                <Show when=move || form_open.get() && can_host(ui)>
                    <form class="go-live" id="go-live-form" on:submit=start>
                        <label>"Title " <input node_ref=title id="live-title" required maxlength="100" autofocus/></label>
                        <label>"Show "
                            <select node_ref=source id="live-source">
                                <option value="camera">"my camera"</option>
                                <option value="screen">"my screen"</option>
                            </select>
                        </label>
                        <label>"At most " <input node_ref=max id="live-max" type="number" min="1" inputmode="numeric" placeholder="the server's limit"/>" viewers"</label>
                        <button type="submit" id="start-live" disabled=move || busy.get()>"Start"</button>
                        <button type="button" on:click=move |_| form_open.set(false)>"Cancel"</button>
                    </form>
                </Show>
            </section>
        </Show>
    }
}
