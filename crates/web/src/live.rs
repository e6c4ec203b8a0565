//! Live streams in the browser: the video goes from the host's browser to
//! each viewer's over WebRTC, one peer connection per viewer, with the
//! server as the signalling path (`signal`, in order) and, where the two
//! cannot reach each other (or the user asks), as the TURN relay.
//!
//! The host keeps a peer per watch the server lists (`stream_viewers`): it
//! offers, the viewer answers, both trickle ICE candidates. Each peer's
//! signals are taken strictly in order by a task of its own, so a
//! candidate never meets a connection without its description. Nothing
//! outlives the connection to the server: streams and watches belong to
//! it, and the server ends them with it.
//!
//! A signal holds an `sdp` (`{type, sdp}`) or a `candidate` (`{candidate,
//! sdpMid, sdpMLineIndex}`); anything else is dropped with a console line,
//! and the browser checks the rest.
//!
//! The UI reads [`hosting`] and [`watching`] (copies) and calls the
//! `on_*` functions with what the client core reports. This module never
//! calls into the UI while it holds its own state: actions and redraws go
//! through the callbacks [`install`] gives it, from tasks and browser
//! events only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use confab_client::Action;
use confab_proto::{ConvId, IceServer, StreamId, StreamInfo, Viewer, WatchId};
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_timers::future::TimeoutFuture;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    DisplayMediaStreamConstraints, HtmlMediaElement, MediaStream, MediaStreamConstraints,
    MediaStreamTrack, RtcConfiguration, RtcIceCandidateInit, RtcIceServer, RtcIceTransportPolicy,
    RtcPeerConnection, RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

use crate::driver::now_ms;

/// Signals waiting for one peer's task. The server rate-limits them; a
/// peer this far behind has failed anyway.
const QUEUE: usize = 256;
/// How often the figures (frames, the path) are read again.
const STATS_MS: u32 = 1_000;
/// Relay credentials last two hours; a host renews them this often, so
/// that a viewer who comes late still gets through the relay.
const RENEW_ICE_MS: u32 = 3_600_000;
/// localStorage: "1" when every stream goes through the relay.
const RELAY_ONLY_KEY: &str = "confab-relay-only";
/// The page's video elements: what the user watches, and the host's own
/// picture.
pub const WATCH_VIDEO: &str = "live-video";
pub const PREVIEW_VIDEO: &str = "live-preview";

/// What a peer connection shows, as of its last statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Video frames decoded (a viewer) or encoded (the host, to this viewer).
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    /// "direct", "relay (udp)", "relay (tcp)"; `None` until connected.
    pub path: Option<String>,
    /// Media bytes received (a viewer) or sent (the host, to this viewer)
    /// so far, when that was read (page clock), and the rate since the
    /// reading before, in kbit/s.
    pub bytes: u64,
    pub at_ms: u64,
    pub kbps: u64,
}

/// The user's own stream, as the UI shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostView {
    pub stream: StreamInfo,
    /// Who watches, with how their copy goes.
    pub viewers: Vec<(String, Figures)>,
}

/// The stream the user watches, as the UI shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchView {
    pub stream: StreamInfo,
    pub figures: Figures,
    /// From the click on "Watch" to the first picture, in ms.
    pub first_frame_ms: Option<u64>,
    pub connected: bool,
}

struct Peer {
    pc: RtcPeerConnection,
    queue: mpsc::Sender<Value>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    figures: Figures,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.close();
    }
}

struct Hosting {
    stream: StreamInfo,
    media: MediaStream,
    ice: Vec<IceServer>,
    /// By watch: the viewer's name and the peer.
    peers: HashMap<WatchId, (String, Peer)>,
    _ended: Closure<dyn FnMut(JsValue)>,
}

impl Drop for Hosting {
    fn drop(&mut self) {
        stop_tracks(&self.media);
    }
}

struct Watching {
    stream: StreamInfo,
    watch: WatchId,
    peer: Peer,
    media: Option<MediaStream>,
    first_frame_ms: Option<u64>,
}

#[derive(Default)]
struct Live {
    /// The camera or screen, between asking to go live and the answer.
    pending: Option<MediaStream>,
    /// Viewers the server listed before its answer reached us (a viewer
    /// quick to click): taken up once the stream is ours.
    early: Option<(StreamId, Vec<Viewer>)>,
    hosting: Option<Hosting>,
    watching: Option<Watching>,
    /// When the user last clicked "Watch" (page clock).
    asked_ms: u64,
    /// Whether the figures task runs.
    counting: bool,
}

/// What this module may do to the rest of the page.
struct Hooks {
    /// Whether the action was sent (not: offline).
    act: Box<dyn Fn(Action) -> bool>,
    redraw: Box<dyn Fn()>,
}

thread_local! {
    static LIVE: RefCell<Live> = RefCell::new(Live::default());
    static HOOKS: RefCell<Option<Rc<Hooks>>> = const { RefCell::new(None) };
}

/// How this module asks the client core for something, and redraws.
pub fn install(act: impl Fn(Action) -> bool + 'static, redraw: impl Fn() + 'static) {
    HOOKS.with(|h| {
        *h.borrow_mut() = Some(Rc::new(Hooks {
            act: Box::new(act),
            redraw: Box::new(redraw),
        }))
    });
}

fn hooks() -> Option<Rc<Hooks>> {
    HOOKS.with(|h| h.borrow().clone())
}

/// Does `action` (never while this module's state is borrowed); whether
/// it was sent.
fn act(action: Action) -> bool {
    hooks().is_some_and(|h| (h.act)(action))
}

fn redraw() {
    if let Some(h) = hooks() {
        (h.redraw)();
    }
}

fn log(text: &str) {
    web_sys::console::warn_1(&format!("confab live: {text}").into());
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

pub fn relay_only() -> bool {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(RELAY_ONLY_KEY).ok().flatten())
        .as_deref()
        == Some("1")
}

pub fn set_relay_only(on: bool) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(RELAY_ONLY_KEY, if on { "1" } else { "0" });
    }
}

pub fn hosting() -> Option<HostView> {
    LIVE.with(|l| {
        l.borrow().hosting.as_ref().map(|h| {
            let mut viewers: Vec<_> = h
                .peers
                .iter()
                .map(|(w, (user, p))| (*w, user.clone(), p.figures.clone()))
                .collect();
            viewers.sort_by_key(|(w, ..)| *w);
            HostView {
                stream: h.stream.clone(),
                viewers: viewers.into_iter().map(|(_, u, f)| (u, f)).collect(),
            }
        })
    })
}

pub fn watching() -> Option<WatchView> {
    LIVE.with(|l| {
        l.borrow().watching.as_ref().map(|w| WatchView {
            stream: w.stream.clone(),
            figures: w.peer.figures.clone(),
            first_frame_ms: w.first_frame_ms,
            connected: w.media.is_some(),
        })
    })
}

fn stop_tracks(media: &MediaStream) {
    for t in media.get_tracks().iter() {
        if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
            t.stop();
        }
    }
}

/// The camera (with its microphone, if there is one) or a screen.
async fn capture(screen: bool) -> Result<MediaStream, String> {
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "this browser cannot capture video here (it needs https or localhost)")?;
    let ask = |audio: bool| -> Result<js_sys::Promise, JsValue> {
        if screen {
            let c = DisplayMediaStreamConstraints::new();
            c.set_video_bool(true);
            c.set_audio_bool(audio);
            devices.get_display_media_with_constraints(&c)
        } else {
            let c = MediaStreamConstraints::new();
            c.set_video_bool(true);
            c.set_audio_bool(audio);
            devices.get_user_media_with_constraints(&c)
        }
    };
    let got = match JsFuture::from(ask(true).map_err(|e| describe(&e))?).await {
        // No microphone (or no sound to share): the picture alone. (Not
        // after a refusal or a cancel: the user said no.)
        Err(e)
            if e.dyn_ref::<web_sys::DomException>().is_some_and(|d| {
                matches!(
                    d.name().as_str(),
                    "NotFoundError" | "OverconstrainedError" | "NotReadableError"
                )
            }) =>
        {
            JsFuture::from(ask(false).map_err(|e| describe(&e))?).await
        }
        got => got,
    };
    got.map(|m| m.unchecked_into())
        .map_err(|e| match describe(&e) {
            m if m.contains("denied") || m.contains("Permission") => {
                format!("the browser was not allowed to capture ({m})")
            }
            m => m,
        })
}

/// Captures the camera or the screen, then asks the server to go live.
/// The answer ([`on_live`]) starts the stream.
pub async fn go_live(
    conv: ConvId,
    title: String,
    max_viewers: Option<u32>,
    screen: bool,
) -> Result<(), String> {
    let media = capture(screen).await?;
    LIVE.with(|l| {
        if let Some(old) = l.borrow_mut().pending.replace(media) {
            stop_tracks(&old);
        }
    });
    if !act(Action::StreamStart {
        conv,
        title,
        max_viewers,
    }) {
        start_refused();
        return Err("not connected".into());
    }
    Ok(())
}

/// The server refused to start the stream: the camera goes off.
pub fn start_refused() {
    if let Some(m) = LIVE.with(|l| l.borrow_mut().pending.take()) {
        stop_tracks(&m);
    }
}

/// The server said the user is live.
pub fn on_live(stream: StreamInfo, ice: Vec<IceServer>) {
    let id = stream.id;
    let Some(media) = LIVE.with(|l| l.borrow_mut().pending.take()) else {
        // Nothing to send (the page forgot it): not live after all.
        act(Action::StreamStop(id));
        return;
    };
    // The browser's own "Stop sharing" ends the stream.
    let ended = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if stop_hosting(id) {
            act(Action::StreamStop(id));
        }
    });
    for t in media.get_video_tracks().iter() {
        if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
            t.set_onended(Some(ended.as_ref().unchecked_ref()));
        }
    }
    attach(PREVIEW_VIDEO, Some(&media));
    let (old, early) = LIVE.with(|l| {
        let mut l = l.borrow_mut();
        let old = l.hosting.replace(Hosting {
            stream,
            media,
            ice,
            peers: HashMap::new(),
            _ended: ended,
        });
        (old, l.early.take().filter(|(s, _)| *s == id))
    });
    // One stream at a time from a page.
    if let Some(old) = old {
        let old_id = old.stream.id;
        drop(old);
        act(Action::StreamStop(old_id));
    }
    if let Some((_, viewers)) = early {
        on_viewers(id, &viewers);
    }
    count();
    spawn_local(renew(id));
    redraw();
}

/// Ends the user's own stream here (the caller tells the server);
/// whether it was live.
pub fn stop_hosting(stream: StreamId) -> bool {
    let gone = LIVE.with(|l| {
        let mut l = l.borrow_mut();
        match &l.hosting {
            Some(h) if h.stream.id == stream => l.hosting.take(),
            _ => None,
        }
    });
    let was = gone.is_some();
    drop(gone);
    if was {
        redraw();
    }
    was
}

/// The user clicked "Watch": the clock for the first frame starts.
pub fn asked_to_watch() {
    LIVE.with(|l| l.borrow_mut().asked_ms = now_ms());
}

/// The server let the user watch: a peer waits for the host's offer.
pub fn on_watching(stream: StreamInfo, watch: WatchId, ice: Vec<IceServer>) {
    let id = stream.id;
    let on_track = move |e: JsValue| {
        let Some(media) = e
            .dyn_ref::<RtcTrackEvent>()
            .and_then(|t| t.streams().get(0).dyn_into::<MediaStream>().ok())
        else {
            return;
        };
        attach(WATCH_VIDEO, Some(&media));
        LIVE.with(|l| {
            if let Some(w) = l
                .borrow_mut()
                .watching
                .as_mut()
                .filter(|w| w.stream.id == id)
            {
                w.media = Some(media);
            }
        });
        redraw();
    };
    let peer = match peer(&ice, id, watch, Some(Box::new(on_track))) {
        Ok((peer, rx)) => {
            spawn_local(take_signals(peer.pc.clone(), id, watch, rx, false));
            peer
        }
        Err(e) => {
            log(&format!("cannot open a peer connection: {}", describe(&e)));
            return;
        }
    };
    let old = LIVE.with(|l| {
        l.borrow_mut().watching.replace(Watching {
            stream,
            watch,
            peer,
            media: None,
            first_frame_ms: None,
        })
    });
    // One watch at a time: the one before ends.
    if let Some(old) = old
        && old.stream.id != id
    {
        let old_id = old.stream.id;
        drop(old);
        attach(WATCH_VIDEO, None);
        act(Action::StreamUnwatch(old_id));
    }
    count();
    redraw();
}

/// Stops watching here (the caller tells the server); whether the user
/// was watching `stream`.
pub fn stop_watching(stream: StreamId) -> bool {
    let gone = LIVE.with(|l| {
        let mut l = l.borrow_mut();
        match &l.watching {
            Some(w) if w.stream.id == stream => l.watching.take(),
            _ => None,
        }
    });
    let was = gone.is_some();
    drop(gone);
    if was {
        attach(WATCH_VIDEO, None);
        redraw();
    }
    was
}

/// The watched video showed its first picture.
pub fn first_frame() {
    LIVE.with(|l| {
        let mut l = l.borrow_mut();
        let asked = l.asked_ms;
        if let Some(w) = l.watching.as_mut().filter(|w| w.first_frame_ms.is_none()) {
            w.first_frame_ms = Some(now_ms().saturating_sub(asked));
        }
    });
    redraw();
}

/// The video elements were drawn (again): they show what they should.
pub fn attach_all() {
    let (preview, watched) = LIVE.with(|l| {
        let l = l.borrow();
        (
            l.hosting.as_ref().map(|h| h.media.clone()),
            l.watching.as_ref().and_then(|w| w.media.clone()),
        )
    });
    if let Some(m) = preview {
        attach(PREVIEW_VIDEO, Some(&m));
    }
    if let Some(m) = watched {
        attach(WATCH_VIDEO, Some(&m));
    }
}

fn attach(id: &str, media: Option<&MediaStream>) {
    let Some(v) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<HtmlMediaElement>().ok())
    else {
        return;
    };
    let same = match (v.src_object(), media) {
        (Some(a), Some(b)) => a.id() == b.id(),
        (None, None) => true,
        _ => false,
    };
    if !same {
        v.set_src_object(media);
    }
}

/// To the host: who watches now. A peer for each newcomer (which offers
/// at once); the peers of those gone are closed.
pub fn on_viewers(stream: StreamId, viewers: &[Viewer]) {
    let plan = LIVE.with(|l| {
        let mut l = l.borrow_mut();
        let Some(h) = l.hosting.as_mut().filter(|h| h.stream.id == stream) else {
            if l.pending.is_some() {
                l.early = Some((stream, viewers.to_vec()));
            }
            return None;
        };
        h.stream.viewers = viewers.len() as u32;
        let gone: Vec<WatchId> = h
            .peers
            .keys()
            .filter(|w| !viewers.iter().any(|v| v.watch == **w))
            .copied()
            .collect();
        let gone: Vec<_> = gone.iter().filter_map(|w| h.peers.remove(w)).collect();
        let new: Vec<Viewer> = viewers
            .iter()
            .filter(|v| !h.peers.contains_key(&v.watch))
            .cloned()
            .collect();
        Some((gone, new, h.ice.clone(), h.media.clone()))
    });
    let Some((gone, new, ice, media)) = plan else {
        return;
    };
    drop(gone);
    // Made outside the state's borrow: the browser's calls may throw.
    for v in new {
        let (peer, rx) = match peer(&ice, stream, v.watch, None) {
            Ok(p) => p,
            Err(e) => {
                log(&format!(
                    "cannot open a peer connection for {}: {}",
                    v.user,
                    describe(&e)
                ));
                continue;
            }
        };
        for t in media.get_tracks().iter() {
            if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                peer.pc.add_track_0(&t, &media);
            }
        }
        spawn_local(take_signals(peer.pc.clone(), stream, v.watch, rx, true));
        let unwanted = LIVE.with(|l| {
            match l
                .borrow_mut()
                .hosting
                .as_mut()
                .filter(|h| h.stream.id == stream)
            {
                Some(h) => {
                    h.peers.insert(v.watch, (v.user, peer));
                    None
                }
                None => Some(peer),
            }
        });
        drop(unwanted);
    }
    redraw();
}

/// A signal from the other end of a watch: to its peer's queue.
pub fn on_signal(stream: StreamId, watch: WatchId, data: Value) {
    LIVE.with(|l| {
        let mut l = l.borrow_mut();
        let queue = if let Some(h) = l.hosting.as_mut().filter(|h| h.stream.id == stream) {
            h.peers.get_mut(&watch).map(|(_, p)| &mut p.queue)
        } else if let Some(w) = l
            .watching
            .as_mut()
            .filter(|w| w.stream.id == stream && w.watch == watch)
        {
            Some(&mut w.peer.queue)
        } else {
            None
        };
        match queue {
            Some(q) => {
                if q.try_send(data).is_err() {
                    log("a peer's signals were not taken (it failed, or fell behind)");
                }
            }
            None => log(&format!(
                "a signal for watch {watch} of stream {stream}, not ours"
            )),
        }
    });
}

/// A channel's live streams changed: what the user hosted or watched
/// there and is no longer live ends here too. Says what ended.
pub fn on_streams(conv: ConvId, live: &[StreamInfo]) -> Option<String> {
    let is_live = |s: &StreamInfo| live.iter().any(|l| l.id == s.id);
    let (hosted, watched) = LIVE.with(|l| {
        let l = l.borrow();
        (
            l.hosting
                .as_ref()
                .filter(|h| h.stream.conv == conv && !is_live(&h.stream))
                .map(|h| h.stream.id),
            l.watching
                .as_ref()
                .filter(|w| w.stream.conv == conv && !is_live(&w.stream))
                .map(|w| w.stream.clone()),
        )
    });
    let mut said = None;
    if let Some(id) = hosted
        && stop_hosting(id)
    {
        said = Some("Your live stream ended.".to_owned());
    }
    if let Some(s) = watched
        && stop_watching(s.id)
    {
        said = Some(format!("{}'s live stream “{}” has ended.", s.host, s.title));
    }
    said
}

/// The connection to the server went: so did every stream and watch (and
/// a start that was under way).
pub fn on_offline() {
    start_refused();
    let (hosted, watched) = LIVE.with(|l| {
        let l = l.borrow();
        (
            l.hosting.as_ref().map(|h| h.stream.id),
            l.watching.as_ref().map(|w| w.stream.id),
        )
    });
    if let Some(id) = hosted {
        stop_hosting(id);
    }
    if let Some(id) = watched {
        stop_watching(id);
    }
}

/// Fresh relay credentials, for the peers opened from now on.
pub fn on_ice(stream: StreamId, ice: Vec<IceServer>) {
    LIVE.with(|l| {
        if let Some(h) = l
            .borrow_mut()
            .hosting
            .as_mut()
            .filter(|h| h.stream.id == stream)
        {
            h.ice = ice;
        }
    });
}

/// While the user hosts `stream`: new relay credentials every hour.
async fn renew(stream: StreamId) {
    loop {
        TimeoutFuture::new(RENEW_ICE_MS).await;
        let live = LIVE.with(|l| l.borrow().hosting.as_ref().map(|h| h.stream.id) == Some(stream));
        if !live {
            return;
        }
        act(Action::StreamIce(stream));
    }
}

/// A peer connection with the stream's relay and its ICE candidates going
/// to the other end; its signals arrive on the returned queue.
#[allow(clippy::type_complexity)]
fn peer(
    ice: &[IceServer],
    stream: StreamId,
    watch: WatchId,
    on_track: Option<Box<dyn FnMut(JsValue)>>,
) -> Result<(Peer, mpsc::Receiver<Value>), JsValue> {
    let config = RtcConfiguration::new();
    let servers = js_sys::Array::new();
    for s in ice {
        let server = RtcIceServer::new();
        let urls: js_sys::Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        server.set_urls(&urls);
        server.set_username(&s.username);
        server.set_credential(&s.credential);
        servers.push(&server);
    }
    config.set_ice_servers(&servers);
    if relay_only() {
        config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
    }
    let pc = RtcPeerConnection::new_with_configuration(&config)?;
    let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(c) = e
            .dyn_ref::<RtcPeerConnectionIceEvent>()
            .and_then(|e| e.candidate())
        else {
            return;
        };
        if c.candidate().is_empty() {
            return;
        }
        act(Action::Signal {
            stream,
            watch,
            data: json!({"candidate": {
                "candidate": c.candidate(),
                "sdpMid": c.sdp_mid(),
                "sdpMLineIndex": c.sdp_m_line_index(),
            }}),
        });
    });
    pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
    let mut handlers = vec![on_candidate];
    if let Some(f) = on_track {
        let on_track = Closure::<dyn FnMut(JsValue)>::new(f);
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        handlers.push(on_track);
    }
    let (queue, rx) = mpsc::channel(QUEUE);
    Ok((
        Peer {
            pc,
            queue,
            _handlers: handlers,
            figures: Figures::default(),
        },
        rx,
    ))
}

/// One peer's signalling, in order: the host offers first; then each
/// signal from the other end is taken before the next.
async fn take_signals(
    pc: RtcPeerConnection,
    stream: StreamId,
    watch: WatchId,
    mut rx: mpsc::Receiver<Value>,
    host: bool,
) {
    let send = |desc: &Value| {
        act(Action::Signal {
            stream,
            watch,
            data: json!({ "sdp": desc }),
        });
    };
    if host {
        match describe_local(&pc, JsFuture::from(pc.create_offer()).await).await {
            Ok(offer) => send(&offer),
            Err(e) => return log(&format!("cannot offer: {e}")),
        }
    }
    while let Some(data) = rx.next().await {
        if let Err(e) = take(&pc, &data, host, &send).await {
            log(&format!("a signal for watch {watch} was not taken: {e}"));
        }
    }
}

/// Sets a description the browser made as the local one; it, as JSON for
/// the other end.
async fn describe_local(
    pc: &RtcPeerConnection,
    made: Result<JsValue, JsValue>,
) -> Result<Value, String> {
    let made = made.map_err(|e| describe(&e))?;
    let get = |k: &str| {
        js_sys::Reflect::get(&made, &k.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let (kind, sdp) = (get("type"), get("sdp"));
    let init = RtcSessionDescriptionInit::new(match kind.as_str() {
        "offer" => RtcSdpType::Offer,
        _ => RtcSdpType::Answer,
    });
    init.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&init))
        .await
        .map_err(|e| describe(&e))?;
    Ok(json!({"type": kind, "sdp": sdp}))
}

async fn take(
    pc: &RtcPeerConnection,
    data: &Value,
    host: bool,
    send: &impl Fn(&Value),
) -> Result<(), String> {
    if let Some(desc) = data.get("sdp") {
        let sdp = desc["sdp"].as_str().ok_or("an sdp without its text")?;
        let kind = match (desc["type"].as_str(), host) {
            (Some("answer"), true) => RtcSdpType::Answer,
            (Some("offer"), false) => RtcSdpType::Offer,
            (other, _) => return Err(format!("an unexpected description: {other:?}")),
        };
        let init = RtcSessionDescriptionInit::new(kind);
        init.set_sdp(sdp);
        JsFuture::from(pc.set_remote_description(&init))
            .await
            .map_err(|e| describe(&e))?;
        if !host {
            let answer = describe_local(pc, JsFuture::from(pc.create_answer()).await).await?;
            send(&answer);
        }
        Ok(())
    } else if let Some(c) = data.get("candidate") {
        let text = c["candidate"]
            .as_str()
            .ok_or("a candidate without its text")?;
        let init = RtcIceCandidateInit::new(text);
        init.set_sdp_mid(c["sdpMid"].as_str());
        init.set_sdp_m_line_index(
            c["sdpMLineIndex"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok()),
        );
        JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)))
            .await
            .map(drop)
            .map_err(|e| describe(&e))
    } else {
        Err("neither a description nor a candidate".into())
    }
}

/// Starts reading the figures every second, while anything is live here.
fn count() {
    let start = LIVE.with(|l| {
        let mut l = l.borrow_mut();
        !std::mem::replace(&mut l.counting, true)
    });
    if start {
        spawn_local(counting());
    }
}

async fn counting() {
    loop {
        TimeoutFuture::new(STATS_MS).await;
        // (host, watch, connection): the watch is the key on either side.
        let pcs: Vec<(bool, WatchId, RtcPeerConnection)> = LIVE.with(|l| {
            let mut l = l.borrow_mut();
            let mut pcs: Vec<_> = l
                .hosting
                .iter()
                .flat_map(|h| h.peers.iter().map(|(w, (_, p))| (true, *w, p.pc.clone())))
                .collect();
            pcs.extend(
                l.watching
                    .iter()
                    .map(|w| (false, w.watch, w.peer.pc.clone())),
            );
            if pcs.is_empty() && l.hosting.is_none() && l.watching.is_none() {
                l.counting = false;
            }
            pcs
        });
        if !LIVE.with(|l| l.borrow().counting) {
            return;
        }
        for (host, watch, pc) in pcs {
            let Ok(report) = JsFuture::from(pc.get_stats()).await else {
                continue;
            };
            let mut f = figures(&report);
            f.at_ms = now_ms();
            LIVE.with(|l| {
                let mut l = l.borrow_mut();
                let slot = if host {
                    l.hosting
                        .as_mut()
                        .and_then(|h| h.peers.get_mut(&watch))
                        .map(|(_, p)| &mut p.figures)
                } else {
                    l.watching
                        .as_mut()
                        .filter(|w| w.watch == watch)
                        .map(|w| &mut w.peer.figures)
                };
                if let Some(slot) = slot {
                    let ms = f.at_ms.saturating_sub(slot.at_ms);
                    if slot.at_ms > 0 && ms > 0 {
                        f.kbps = f.bytes.saturating_sub(slot.bytes) * 8 / ms;
                    }
                    *slot = f;
                }
            });
        }
        redraw();
    }
}

/// Frames, size and path from a connection's statistics.
fn figures(report: &JsValue) -> Figures {
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).unwrap_or_default();
    let text = |o: &JsValue, k: &str| get(o, k).as_string();
    let number = |o: &JsValue, k: &str| get(o, k).as_f64().unwrap_or(0.0);
    let mut by_id = HashMap::new();
    if let Ok(Some(entries)) = js_sys::try_iter(report) {
        for e in entries.flatten() {
            let pair = js_sys::Array::from(&e);
            if let Some(id) = pair.get(0).as_string() {
                by_id.insert(id, pair.get(1));
            }
        }
    }
    let mut f = Figures::default();
    let mut pair = None;
    for s in by_id.values() {
        match (text(s, "type").as_deref(), text(s, "kind").as_deref()) {
            (Some("inbound-rtp"), kind) => {
                f.bytes += number(s, "bytesReceived") as u64;
                if kind != Some("video") {
                    continue;
                }
                f.frames += number(s, "framesDecoded") as u64;
                f.width = number(s, "frameWidth") as u32;
                f.height = number(s, "frameHeight") as u32;
            }
            (Some("outbound-rtp"), kind) => {
                f.bytes += number(s, "bytesSent") as u64;
                if kind != Some("video") {
                    continue;
                }
                f.frames += number(s, "framesEncoded") as u64;
                f.width = number(s, "frameWidth") as u32;
                f.height = number(s, "frameHeight") as u32;
            }
            (Some("transport"), _) => {
                if let Some(id) = text(s, "selectedCandidatePairId") {
                    pair = by_id.get(&id).cloned();
                }
            }
            _ => {}
        }
    }
    let pair = pair.or_else(|| {
        by_id
            .values()
            .find(|s| {
                text(s, "type").as_deref() == Some("candidate-pair")
                    && get(s, "nominated").as_bool() == Some(true)
                    && text(s, "state").as_deref() == Some("succeeded")
            })
            .cloned()
    });
    if let Some(pair) = pair {
        let candidate = |k: &str| text(&pair, k).and_then(|id| by_id.get(&id).cloned());
        let kind = |c: &Option<JsValue>| c.as_ref().and_then(|c| text(c, "candidateType"));
        let (local, remote) = (
            candidate("localCandidateId"),
            candidate("remoteCandidateId"),
        );
        f.path = Some(match (kind(&local).as_deref(), kind(&remote).as_deref()) {
            (Some("relay"), _) => format!(
                "relay ({})",
                local
                    .as_ref()
                    .and_then(|c| text(c, "relayProtocol"))
                    .unwrap_or_else(|| "?".into())
            ),
            (_, Some("relay")) => "relay (their side)".into(),
            _ => "direct".into(),
        });
    }
    f
}
