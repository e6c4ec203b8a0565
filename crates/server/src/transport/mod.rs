//! Transports: bytes in, frames out. Each one turns its connection into a
//! stream of [`Inbound`] items and a [`FrameSink`], then hands both to
//! [`serve`], which runs the session, the heartbeat and the writer the same
//! way for every transport. To add a transport, write those two adapters.

mod files;
pub(crate) mod http;
pub(crate) mod tcp;
pub(crate) mod ws;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use confab_proto::{ErrorCode, ServerBody};
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::hub::event;
use crate::outbox::{Batch, Outbox};
use crate::services::ConnRef;
use crate::session::Session;

/// The next connection of a listener, with Nagle off (every small frame
/// would otherwise wait for the previous one's delayed ACK); `None` at
/// shutdown. A failed accept (out of file descriptors and the like) is
/// logged and retried after a pause instead of spinning.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// What a transport read.
pub(crate) enum Inbound {
    /// One frame's payload.
    Frame(Bytes),
    /// A frame over the size limit. `fatal` when the stream cannot continue
    /// after it (a TCP length prefix); a WebSocket message can be skipped.
    TooLarge { len: usize, fatal: bool },
    /// A WebSocket binary message: not our protocol.
    Binary,
    /// A WebSocket text message that is not UTF-8: the WebSocket stream
    /// ends after it.
    NotUtf8,
    /// Transport-level liveness (a WebSocket ping) with nothing to handle.
    Alive,
}

/// Where a connection's outgoing frames go.
pub(crate) trait FrameSink: Send + 'static {
    /// Writes the frames and flushes.
    fn send_batch(&mut self, frames: &[Bytes]) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the connection politely.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// Runs one connection until it closes, the peer goes silent, or the server
/// shuts down. `peer`: the client's address (for logs and rate limits).
/// `udp_secret`: the TLS session's exporter output, which keys
/// the connection's typing datagrams (TLS connections only).
pub(crate) async fn serve<S, K>(
    shared: Arc<Shared>,
    peer: std::net::IpAddr,
    mut inbound: S,
    sink: K,
    udp_secret: Option<Box<[u8; 64]>>,
) where
    S: Stream<Item = io::Result<Inbound>> + Unpin + Send,
    K: FrameSink,
{
    let outbox = Arc::new(Outbox::new(shared.config.outbox_bytes));
    let conn = shared.hub.conns.register(outbox.clone());
    let stats = &shared.hub.stats;
    stats.connections_total.fetch_add(1, Ordering::Relaxed);
    // TLS connections carry the UDP path's secret; WebSockets never do.
    let open = if udp_secret.is_some() {
        &stats.open_tls
    } else {
        &stats.open_ws
    };
    open.fetch_add(1, Ordering::Relaxed);
    let dead = CancellationToken::new();
    let mut writer = tokio::spawn(write_loop(
        shared.clone(),
        outbox.clone(),
        sink,
        dead.clone(),
    ));
    let mut session = Session::new(
        shared.clone(),
        ConnRef {
            id: conn,
            outbox: outbox.clone(),
        },
        udp_secret,
        peer,
    );
    let idle = shared.config.heartbeat * 3;

    loop {
        // Backpressure: while this client is not reading its replies, stop
        // reading its requests.
        tokio::select! {
            _ = outbox.wait_for_room() => {}
            _ = dead.cancelled() => break,
            _ = shared.shutdown.cancelled() => break,
        }
        let item = tokio::select! {
            item = tokio::time::timeout(idle, inbound.next()) => item,
            _ = dead.cancelled() => break,
            _ = shared.shutdown.cancelled() => break,
        };
        match item {
            Err(_) => {
                tracing::debug!(conn, "no frame for {idle:?}; dropping the connection");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(conn, error = %e, "read failed");
                break;
            }
            Ok(Some(Ok(Inbound::Frame(payload)))) => {
                shared
                    .hub
                    .stats
                    .bytes_in
                    .fetch_add(payload.len() as u64, Ordering::Relaxed);
                // Boxed: the handler's state exists only while it runs,
                // not in every idle connection's task.
                Box::pin(crate::api::handle(&mut session, &payload)).await;
            }
            Ok(Some(Ok(Inbound::TooLarge { len, fatal }))) => {
                let max = shared.config.limits.max_frame_bytes;
                let tail = if fatal {
                    "; closing the connection"
                } else {
                    ""
                };
                session.send_error(
                    None,
                    ErrorCode::FrameTooLarge,
                    format!("frame of {len} bytes exceeds the limit of {max} bytes{tail}"),
                );
                if fatal {
                    break;
                }
            }
            Ok(Some(Ok(Inbound::Binary))) => session.send_error(
                None,
                ErrorCode::BadFrame,
                "binary WebSocket messages are not part of the protocol; send JSON as text",
            ),
            Ok(Some(Ok(Inbound::NotUtf8))) => {
                // The WebSocket layer reads nothing more after it (RFC 6455
                // fails the connection), so say why, then close.
                session.send_error(
                    None,
                    ErrorCode::BadFrame,
                    "the text message is not UTF-8; closing the connection",
                );
                break;
            }
            Ok(Some(Ok(Inbound::Alive))) => {}
        }
    }

    session.finish();
    let services = &shared.services;
    services.streams.closed(&services.messages, conn).await;
    shared.hub.conns.unregister(conn);
    open.fetch_sub(1, Ordering::Relaxed);
    outbox.close();
    // Let the writer flush what is queued (a final error, the shutdown
    // notice), but never wait long on a peer that does not read.
    if tokio::time::timeout(Duration::from_secs(5), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

async fn write_loop<K: FrameSink>(
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    mut sink: K,
    dead: CancellationToken,
) {
    // Shared by every connection rather than encoded per connection.
    static PING: LazyLock<Bytes> = LazyLock::new(|| event(ServerBody::Ping {}));
    static LAGGED: LazyLock<Bytes> = LazyLock::new(|| event(ServerBody::Lagged {}));
    let mut heartbeat = tokio::time::interval(shared.config.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    let mut batch = Vec::new();
    loop {
        let result = tokio::select! {
            next = outbox.next_batch(&mut batch) => match next {
                Batch::Closed => break,
                Batch::Frames { lagged: was_lagged } => {
                    if was_lagged {
                        batch.push(LAGGED.clone());
                        shared.hub.stats.lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    let bytes: usize = batch.iter().map(Bytes::len).sum();
                    shared.hub.stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
                    let r = sink.send_batch(&batch).await;
                    batch.clear();
                    r
                }
            },
            _ = heartbeat.tick() => sink.send_batch(std::slice::from_ref(&*PING)).await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "write failed");
            dead.cancel();
            return;
        }
    }
    sink.close().await;
    dead.cancel();
}
