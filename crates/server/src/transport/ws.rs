//! Browsers: HTTP, with the WebSocket endpoint at `/ws` (one JSON object per
//! text message), and the web client (built into the binary by build.rs) at
//! `/`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio_util::task::TaskTracker;

use super::{FrameSink, Inbound};
use crate::Shared;

#[derive(Clone)]
pub(super) struct AppState {
    pub shared: Arc<Shared>,
    pub tasks: TaskTracker,
    /// Chat's runtime: WebSocket sessions run there, not on the bulk
    /// runtime that serves the listener's HTTP.
    pub chat: tokio::runtime::Handle,
}

pub(crate) fn router(shared: Arc<Shared>, tasks: TaskTracker) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws", get(upgrade))
        .merge(super::files::routes())
        .fallback(asset)
        .with_state(AppState {
            shared,
            tasks,
            chat: tokio::runtime::Handle::current(),
        })
}

mod web {
    /// A file of the web client, embedded by build.rs.
    pub struct Asset {
        pub path: &'static str,
        pub mime: &'static str,
        /// Quoted, as in the header.
        pub etag: &'static str,
        pub body: &'static [u8],
        /// The same, gzipped, when that is smaller.
        pub gzip: Option<&'static [u8]>,
    }

    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// A file of the web client. None is named by its content, so each is
/// revalidated (`no-cache`) by its ETag; the service worker keeps them for
/// offline use.
async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let Some(a) = web::ASSETS.iter().find(|a| a.path == uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let common = [
        (header::ETAG, a.etag),
        (header::CACHE_CONTROL, "no-cache"),
        (header::VARY, "accept-encoding"),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    match a.gzip.filter(|_| gzip_ok) {
        Some(gz) => (
            common,
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            gz,
        )
            .into_response(),
        None => (common, [(header::CONTENT_TYPE, a.mime)], a.body).into_response(),
    }
}

/// Ready to serve: not shutting down, and the database answers.
async fn readyz(State(app): State<AppState>) -> Response {
    if app.shared.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match app.shared.store.user_by_id(0).await {
        Ok(_) => "ready\n".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database does not answer: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !crate::metrics::allowed(&app.shared, peer.ip(), auth) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are served to this machine, or with the configured metrics token\n",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&app.shared),
    )
        .into_response()
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let config = &app.shared.config;
    // A page of another site must not act with a visitor's cookies or
    // network position (cross-site WebSocket hijacking).
    if let Err(why) = super::http::origin_allowed(&headers, &config.allowed_origins) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let client = super::http::client_ip(peer.ip(), &headers, &config.trusted_proxies);
    let max = config.limits.max_frame_bytes;
    // Messages up to 4x the limit are read and refused with an error, and the
    // connection lives on; beyond that the WebSocket layer closes it.
    ws.max_message_size(max * 4)
        .max_frame_size(max * 4)
        // tungstenite keeps a read buffer of this size per connection: by
        // default 128 KiB, which was 137 KiB per idle connection, measured.
        // Requests are small, and a longer message still gets a buffer its
        // size, so 1 KiB (a few requests per read) is enough
        // (bench/RESULTS.md).
        .read_buffer_size(1024)
        .on_upgrade(move |socket| {
            let AppState {
                shared,
                tasks,
                chat,
            } = app;
            chat.spawn(tasks.track_future(serve(shared, client, socket)));
            std::future::ready(())
        })
        .into_response()
}

async fn serve(shared: Arc<Shared>, client: IpAddr, socket: WebSocket) {
    let max = shared.config.limits.max_frame_bytes;
    let (sink, stream) = socket.split();
    let inbound = stream
        .take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .map(move |m| match m {
            Ok(Message::Text(t)) if t.len() > max => Ok(Inbound::TooLarge {
                len: t.len(),
                fatal: false,
            }),
            Ok(Message::Text(t)) => Ok(Inbound::Frame(Bytes::from(t))),
            Ok(Message::Binary(_)) => Ok(Inbound::Binary),
            Ok(_) => Ok(Inbound::Alive),
            // A text message that is not UTF-8 was read whole and dropped by
            // tungstenite; the connection can go on.
            Err(e) => match e.into_inner().downcast::<tungstenite::Error>() {
                Ok(e) if matches!(*e, tungstenite::Error::Utf8(_)) => Ok(Inbound::NotUtf8),
                Ok(e) => Err(io::Error::other(e)),
                Err(e) => Err(io::Error::other(e)),
            },
        });
    // Boxed so that the connection's task is not sized for the upgrade's
    // state as well.
    Box::pin(super::serve(
        shared,
        client,
        Box::pin(inbound),
        WsSink { sink },
        None,
    ))
    .await;
}

struct WsSink {
    sink: SplitSink<WebSocket, Message>,
}

impl FrameSink for WsSink {
    async fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<()> {
        for f in frames {
            // Frames are serde_json output, so always UTF-8.
            let text = Utf8Bytes::try_from(f.clone()).map_err(io::Error::other)?;
            self.sink
                .feed(Message::Text(text))
                .await
                .map_err(io::Error::other)?;
        }
        self.sink.flush().await.map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}
