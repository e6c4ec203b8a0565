//! Native clients: TLS over TCP, each frame a 4-byte big-endian length and
//! then the JSON payload.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use confab_proto::{datagram, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::task::TaskTracker;

use super::{FrameSink, Inbound};

type Tls = TlsStream<TcpStream>;
use crate::Shared;

/// Reads frames off the TLS stream, holding no buffer of its own while the
/// connection is idle: an idle connection waits on a small read inside its
/// task, and a buffer is allocated only for a frame that arrives in pieces.
/// (A `FramedRead` and a `BufWriter` kept 16 KiB per idle connection,
/// bench/RESULTS.md.)
struct FrameReader {
    r: ReadHalf<Tls>,
    buf: BytesMut,
    max: usize,
}

/// Bytes read at once while no frame is in progress (kept small: they live
/// in every idle connection's state). Later reads of the same frames go
/// straight into a buffer with room for [`READ_MORE`] or the frame's rest.
const FIRST_READ: usize = 64;
const READ_MORE: usize = 4096;

impl FrameReader {
    async fn next(&mut self) -> Option<io::Result<Inbound>> {
        loop {
            match frame::decode(&mut self.buf, self.max) {
                Ok(Some(payload)) => return Some(Ok(Inbound::Frame(payload))),
                Err(e) => {
                    return Some(Ok(Inbound::TooLarge {
                        len: e.len,
                        fatal: true,
                    }));
                }
                Ok(None) => {}
            }
            let n = if self.buf.is_empty() {
                // Give back what the last frames used before waiting.
                self.buf = BytesMut::new();
                let mut first = [0u8; FIRST_READ];
                let n = match self.r.read(&mut first).await {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e)),
                };
                self.buf.extend_from_slice(&first[..n]);
                n
            } else {
                // `decode` reserved room for the rest of the frame.
                self.buf.reserve(READ_MORE);
                match self.r.read_buf(&mut self.buf).await {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e)),
                }
            };
            if n == 0 {
                return None;
            }
        }
    }
}

/// Writes each batch of frames as one buffer, so that it becomes as few TLS
/// records as possible, and frees the buffer afterwards.
struct TcpSink {
    w: WriteHalf<Tls>,
}

impl FrameSink for TcpSink {
    async fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<()> {
        let len = frames.iter().map(|f| frame::HEADER_LEN + f.len()).sum();
        let mut out = Vec::with_capacity(len);
        for f in frames {
            out.extend_from_slice(&frame::header(f.len()));
            out.extend_from_slice(f);
        }
        self.w.write_all(&out).await?;
        self.w.flush().await
    }

    async fn close(&mut self) {
        let _ = self.w.shutdown().await;
    }
}

/// The TLS session's exporter output: the UDP path's keying material.
type UdpSecret = Box<[u8; datagram::SECRET_LEN]>;

/// The exporter output and the stream's halves. A function of its own so
/// that the connection's task never borrows the stream: a borrowed local
/// stays in an async task's state until the end of its scope, and the
/// stream is 1 KiB that every idle connection would carry for its whole
/// life.
fn split_with_secret(tls: Tls) -> (Option<UdpSecret>, ReadHalf<Tls>, WriteHalf<Tls>) {
    let secret = tls
        .get_ref()
        .1
        .export_keying_material([0u8; datagram::SECRET_LEN], datagram::EXPORTER_LABEL, None)
        .ok()
        .map(Box::new);
    let (r, w) = tokio::io::split(tls);
    (secret, r, w)
}

/// Accepts connections until shutdown. Each TLS handshake runs in the
/// connection's own task, under a deadline, so a client that never finishes
/// its handshake holds up nobody.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    tasks: TaskTracker,
) {
    while let Some((stream, peer)) = super::accept(&listener, &shared.shutdown).await {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tasks.spawn(async move {
            let deadline = shared.config.tls_handshake_timeout;
            // Boxed: the handshake's state (a few KiB) is freed after it,
            // rather than sizing the connection's task for its whole life.
            let handshake = Box::pin(acceptor.accept(stream));
            let tls = match tokio::time::timeout(deadline, handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let (udp_secret, r, w) = split_with_secret(tls);
            let reader = FrameReader {
                r,
                buf: BytesMut::new(),
                max: shared.config.limits.max_frame_bytes,
            };
            let inbound = futures_util::stream::unfold(reader, |mut reader| async {
                let item = reader.next().await?;
                Some((item, reader))
            });
            // Boxed for the same reason as the handshake: the task is sized
            // for the larger of the two.
            Box::pin(super::serve(
                shared,
                peer.ip(),
                Box::pin(inbound),
                TcpSink { w },
                udp_secret,
            ))
            .await;
        });
    }
}
