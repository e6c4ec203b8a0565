//! Native clients: TLS over TCP, each frame a 4-byte big-endian length and
//! then the JSON payload.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use confab_proto::frame;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter, WriteHalf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::task::TaskTracker;

use super::{FrameSink, Inbound};
use crate::Shared;

/// Splits the byte stream into frames, refusing over-limit lengths before
/// their bodies arrive.
struct FrameDecoder {
    max: usize,
}

enum DecodeError {
    TooLarge(usize),
    Io(io::Error),
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        DecodeError::Io(e)
    }
}

impl Decoder for FrameDecoder {
    type Item = Bytes;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        frame::decode(src, self.max).map_err(|e| DecodeError::TooLarge(e.len))
    }
}

struct TcpSink {
    w: BufWriter<WriteHalf<TlsStream<tokio::net::TcpStream>>>,
}

impl FrameSink for TcpSink {
    async fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<()> {
        for f in frames {
            self.w.write_all(&frame::header(f.len())).await?;
            self.w.write_all(f).await?;
        }
        self.w.flush().await
    }

    async fn close(&mut self) {
        let _ = self.w.shutdown().await;
    }
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
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shared.shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tasks.spawn(async move {
            let deadline = shared.config.tls_handshake_timeout;
            let tls = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let (r, w) = tokio::io::split(tls);
            let max = shared.config.limits.max_frame_bytes;
            let inbound = FramedRead::new(r, FrameDecoder { max }).map(|item| match item {
                Ok(payload) => Ok(Inbound::Frame(payload)),
                Err(DecodeError::TooLarge(len)) => Ok(Inbound::TooLarge { len, fatal: true }),
                Err(DecodeError::Io(e)) => Err(e),
            });
            super::serve(
                shared,
                inbound,
                TcpSink {
                    w: BufWriter::new(w),
                },
            )
            .await;
        });
    }
}
