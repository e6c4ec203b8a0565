//! The browser's driver: a WebSocket to the server that served the page,
//! reconnects on the core's schedule, and timers for its deadlines. The
//! UI shares the core through [`Core`].

use std::cell::RefCell;
use std::rc::Rc;

use confab_client::{Client, Input, Output};
use confab_proto::ServerFrame;
use futures_channel::mpsc;
use futures_util::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::idb::IdbCache;

/// How long opening the WebSocket may take.
const CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Bytes the browser may hold unsent before the server is deemed not to
/// be reading (the connection is then dropped and resumed later).
const MAX_BUFFERED: u32 = 4 * 1024 * 1024;

/// The core and the signals around it.
pub struct Core {
    pub client: RefCell<Client<IdbCache>>,
    /// Wakes the driver after a UI action queued frames (capacity 1: wakes coalesce).
    wake: RefCell<mpsc::Sender<()>>,
    /// Called after the driver changed the client, for the UI to redraw.
    on_change: RefCell<Option<Box<dyn Fn()>>>,
}

impl Core {
    pub fn new(client: Client<IdbCache>) -> (Rc<Core>, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel(1);
        let core = Rc::new(Core {
            client: RefCell::new(client),
            wake: RefCell::new(tx),
            on_change: RefCell::new(None),
        });
        (core, rx)
    }

    pub fn set_on_change(&self, f: impl Fn() + 'static) {
        *self.on_change.borrow_mut() = Some(Box::new(f));
    }

    /// After a UI action: write what it queued, redraw.
    pub fn wake(&self) {
        let _ = self.wake.borrow_mut().try_send(());
        self.changed();
    }

    /// Wakes the driver only (while handling the client's events, which
    /// ends in a redraw anyway).
    pub fn poke(&self) {
        let _ = self.wake.borrow_mut().try_send(());
    }

    pub fn changed(&self) {
        if let Some(f) = self.on_change.borrow().as_ref() {
            f();
        }
    }
}

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `ws://host/ws` (or `wss://` on an https page) of the page's own server.
fn ws_url() -> String {
    let loc = web_sys::window().expect("window").location();
    let scheme = match loc.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{}/ws", loc.host().unwrap_or_default())
}

fn sleep_until(deadline: Option<u64>) -> TimeoutFuture {
    let ms = deadline.map_or(3_600_000, |d| d.saturating_sub(now_ms()));
    TimeoutFuture::new(ms.min(3_600_000) as u32)
}

/// Keeps the core connected, forever. Like every driver it only moves
/// bytes and time: it does what `poll_output` asks and hands the core what
/// happens.
pub async fn drive(core: Rc<Core>, mut wake: mpsc::Receiver<()>) {
    let url = ws_url();
    loop {
        // Offline: wait until the core asks to connect.
        let deadline = {
            let mut c = core.client.borrow_mut();
            match c.poll_output(now_ms()) {
                Some(Output::Connect) => None,
                _ => Some(c.poll_timeout()),
            }
        };
        if let Some(deadline) = deadline {
            core.changed();
            futures_util::select! {
                _ = wake.next() => {}
                _ = sleep_until(deadline).fuse() => {}
            }
            continue;
        }
        core.changed();
        let why = session(&core, &url, &mut wake).await;
        core.client
            .borrow_mut()
            .handle(Input::Disconnected(why), now_ms());
        core.changed();
    }
}

enum WsEvent {
    Open,
    Text(String),
    Closed(String),
}

/// The socket's handlers, removed when the session ends.
struct Handlers {
    ws: WebSocket,
    _closures: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Handlers {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// Opens the socket; events arrive on the returned channel. Unbounded: it
/// holds what the browser has already received (the server bounds what it
/// sends to a client that falls behind), and the driver takes each at once.
fn open(url: &str) -> Result<(Handlers, mpsc::UnboundedReceiver<WsEvent>), String> {
    let ws = WebSocket::new(url).map_err(|e| format!("{e:?}"))?;
    let (tx, rx) = mpsc::unbounded();
    let on = |f: Box<dyn FnMut(JsValue)>| Closure::wrap(f);
    let t = tx.clone();
    let open = on(Box::new(move |_| {
        let _ = t.unbounded_send(WsEvent::Open);
    }));
    let t = tx.clone();
    let message = on(Box::new(move |e: JsValue| {
        if let Some(text) = e
            .dyn_ref::<MessageEvent>()
            .and_then(|m| m.data().as_string())
        {
            let _ = t.unbounded_send(WsEvent::Text(text));
        }
    }));
    let t = tx.clone();
    let close = on(Box::new(move |e: JsValue| {
        let why = e
            .dyn_ref::<CloseEvent>()
            .map(|c| c.reason())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "the connection closed".into());
        let _ = t.unbounded_send(WsEvent::Closed(why));
    }));
    // An error is followed by a close event, which says the rest.
    let error = on(Box::new(|_| {}));
    ws.set_onopen(Some(open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(error.as_ref().unchecked_ref()));
    Ok((
        Handlers {
            ws,
            _closures: vec![open, message, close, error],
        },
        rx,
    ))
}

/// One connection, until it ends; returns why.
async fn session(core: &Rc<Core>, url: &str, wake: &mut mpsc::Receiver<()>) -> String {
    let (h, mut events) = match open(url) {
        Ok(x) => x,
        Err(e) => return format!("cannot open a WebSocket: {e}"),
    };
    futures_util::select! {
        ev = events.next() => match ev {
            Some(WsEvent::Open) => {}
            _ => return "cannot reach the server".into(),
        },
        _ = TimeoutFuture::new(CONNECT_TIMEOUT_MS).fuse() => return "timed out connecting".into(),
    }
    // A browser has no datagrams: typing notices stay on the WebSocket.
    core.client
        .borrow_mut()
        .handle(Input::Connected { udp_secret: None }, now_ms());
    loop {
        let deadline = {
            let mut c = core.client.borrow_mut();
            while let Some(out) = c.poll_output(now_ms()) {
                match out {
                    Output::Send(f) => {
                        let json = serde_json::to_string(&f).expect("client frames serialize");
                        if let Err(e) = h.ws.send_with_str(&json) {
                            return format!("send failed: {e:?}");
                        }
                    }
                    Output::Close(why) => return why,
                    Output::Upload(job) => {
                        wasm_bindgen_futures::spawn_local(crate::files::upload(core.clone(), job));
                    }
                    Output::Download(job) => {
                        wasm_bindgen_futures::spawn_local(crate::files::download(
                            core.clone(),
                            job,
                        ));
                    }
                    Output::Datagram { .. } | Output::Connect => {}
                }
            }
            c.poll_timeout()
        };
        if h.ws.buffered_amount() > MAX_BUFFERED {
            return "the server is not reading".into();
        }
        core.changed();
        futures_util::select! {
            ev = events.next() => match ev {
                Some(WsEvent::Text(text)) => match serde_json::from_str::<ServerFrame>(&text) {
                    Ok(frame) => core.client.borrow_mut().handle(Input::Frame(frame), now_ms()),
                    Err(e) => web_sys::console::error_1(
                        &format!("confab: unreadable frame from the server: {e}").into(),
                    ),
                },
                Some(WsEvent::Closed(why)) => return why,
                None => return "the connection closed".into(),
                Some(WsEvent::Open) => {}
            },
            _ = wake.next() => {}
            _ = sleep_until(deadline).fuse() => {}
        }
    }
}
