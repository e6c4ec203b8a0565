//! The tokio driver: connects the core to a server and keeps it connected.
//!
//! [`drive`] runs until its task is dropped. The UI shares the core through
//! [`Shared`]: it locks `client` to act or to read state, calls
//! `wake.notify_one()` after acting (so frames it queued are written), and
//! waits on `changed` to redraw.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use confab_proto::ServerFrame;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, split};
use tokio::sync::Notify;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use crate::cache::Cache;
use crate::core::{Client, ConnState, Event};
use crate::native::now_ms;
use crate::native::tls::{ConnectError, Connector, TrustError};

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one batch of writes may take before the server is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the server.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// The core and the signals around it.
pub struct Shared<C: Cache> {
    pub client: Mutex<Client<C>>,
    /// Notify after acting on `client`, so the driver writes what was queued
    /// (or connects, after `set_auth`).
    pub wake: Notify,
    /// Notified whenever the driver changed `client` (new events to take).
    pub changed: Notify,
    /// Why the last connection attempt failed on the certificate, if it did.
    pub trust: Mutex<Option<TrustError>>,
}

impl<C: Cache> Shared<C> {
    pub fn new(client: Client<C>) -> Arc<Self> {
        Arc::new(Shared {
            client: Mutex::new(client),
            wake: Notify::new(),
            changed: Notify::new(),
            trust: Mutex::new(None),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Client<C>> {
        self.client.lock().expect("client lock poisoned")
    }
}

/// Keeps `shared`'s client connected through `connector` (whose pin may be
/// replaced between attempts through `pin`).
pub async fn drive<C: Cache + Send>(shared: Arc<Shared<C>>, connector: Arc<Mutex<Connector>>) {
    loop {
        // Wait until the core wants a connection.
        loop {
            let (go, deadline) = {
                let c = shared.lock();
                (c.should_connect(now_ms()), c.next_deadline())
            };
            if go {
                break;
            }
            let wait = deadline.map_or(Duration::from_secs(3600), |d| {
                Duration::from_millis(d.saturating_sub(now_ms()))
            });
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        shared.lock().connecting();
        shared.changed.notify_one();
        let target = connector.lock().expect("connector lock").clone();
        let why = match tokio::time::timeout(CONNECT_TIMEOUT, target.connect()).await {
            Err(_) => format!("{}: timed out connecting", target.addr),
            Ok(Err(ConnectError::Trust(t))) => {
                let text = t.to_string();
                *shared.trust.lock().expect("trust lock") = Some(t);
                text
            }
            Ok(Err(ConnectError::Io(e))) => e.to_string(),
            Ok(Ok(stream)) => {
                *shared.trust.lock().expect("trust lock") = None;
                shared.lock().connected(now_ms());
                session(&shared, stream).await
            }
        };
        shared.lock().disconnected(now_ms(), &why);
        shared.changed.notify_one();
    }
}

/// Runs one connection until it ends; returns why it ended.
async fn session<C: Cache + Send>(
    shared: &Shared<C>,
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> String {
    let (r, mut w) = split(stream);
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let mut reader = FramedRead::new(r, codec);
    let mut out = BytesMut::new();
    loop {
        let deadline = {
            let mut c = shared.lock();
            if matches!(c.state(), ConnState::Offline { .. }) {
                // The login was refused; the UI asks again.
                return String::new();
            }
            if let Some(why) = c.take_hangup() {
                return why;
            }
            if c.overloaded() {
                return "the server is not reading".into();
            }
            while let Some(f) = c.poll_frame() {
                let json = serde_json::to_vec(&f).expect("client frames serialize");
                out.put_u32(json.len() as u32);
                out.extend_from_slice(&json);
            }
            c.next_deadline()
        };
        shared.changed.notify_one();
        if !out.is_empty() {
            match tokio::time::timeout(WRITE_TIMEOUT, w.write_all(&out)).await {
                Ok(Ok(())) => out.clear(),
                Ok(Err(e)) => return format!("write failed: {e}"),
                Err(_) => return "the server stopped reading".into(),
            }
            if let Err(e) = w.flush().await {
                return format!("write failed: {e}");
            }
        }
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            Duration::from_millis(d.saturating_sub(now_ms()))
        });
        tokio::select! {
            item = reader.next() => match item {
                Some(Ok(bytes)) => match serde_json::from_slice::<ServerFrame>(&bytes) {
                    Ok(frame) => shared.lock().frame(frame, now_ms()),
                    Err(e) => {
                        let text = format!("unreadable frame from the server: {e}");
                        shared.lock().report(Event::Error(text));
                    }
                },
                Some(Err(e)) => return format!("read failed: {e}"),
                None => return "the server closed the connection".into(),
            },
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {
                if !shared.lock().tick(now_ms()) {
                    return "the server stopped answering".into();
                }
            }
        }
    }
}
