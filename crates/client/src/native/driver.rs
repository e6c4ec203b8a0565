//! The tokio driver: connects the core to a server and keeps it connected.
//! It only moves bytes and time: it performs what
//! [`Client::poll_output`] asks (connect, write a frame, send a datagram,
//! close) and hands the core what happens ([`Client::handle`]).
//!
//! [`drive`] runs until its task is dropped. The UI shares the core through
//! [`Shared`]: it locks `client` to act or to read state, calls
//! `wake.notify_one()` after acting (so that what it queued is written),
//! and waits on `changed` to redraw.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use confab_proto::{ServerFrame, datagram, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, split};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::client::TlsStream;

use crate::cache::Cache;
use crate::core::{Client, Event, Input, Output};
use crate::native::now_ms;
use crate::native::tls::{ConnectError, Connector, TrustError, Udp};
use crate::native::transfer::{self, Failure, Http};
use crate::transfer::TransferReport;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one batch of writes may take before the server is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the server. (A `sync` reply can be large;
/// what the client sends is held to the limit the server announces.)
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Uploads and downloads at once; more wait their turn.
const MAX_TRANSFERS: usize = 2;

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
    /// Uploads and downloads running at once.
    transfers: Semaphore,
}

impl<C: Cache> Shared<C> {
    pub fn new(client: Client<C>) -> Arc<Self> {
        Arc::new(Shared {
            client: Mutex::new(client),
            wake: Notify::new(),
            changed: Notify::new(),
            trust: Mutex::new(None),
            transfers: Semaphore::new(MAX_TRANSFERS),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Client<C>> {
        self.client.lock().expect("client lock poisoned")
    }
}

fn wait_until(deadline: Option<u64>) -> Duration {
    deadline.map_or(Duration::from_secs(3600), |d| {
        Duration::from_millis(d.saturating_sub(now_ms()))
    })
}

/// Keeps `shared`'s client connected through `connector` (whose pin may be
/// replaced between attempts).
pub async fn drive<C: Cache + Send + 'static>(
    shared: Arc<Shared<C>>,
    connector: Arc<Mutex<Connector>>,
) {
    loop {
        // Offline: wait until the core asks to connect.
        let deadline = {
            let mut c = shared.lock();
            match c.poll_output(now_ms()) {
                Some(Output::Connect) => None,
                // Nothing else is asked while there is no connection.
                _ => Some(c.poll_timeout()),
            }
        };
        if let Some(deadline) = deadline {
            shared.changed.notify_one();
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(wait_until(deadline)) => {}
            }
            continue;
        }
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
                session(&shared, stream, &target).await
            }
        };
        shared.lock().handle(Input::Disconnected(why), now_ms());
        shared.changed.notify_one();
    }
}

/// The UDP side of a session: a socket, and where datagrams go.
struct UdpPath {
    socket: UdpSocket,
    /// The server's host (the TLS peer's address), or a fixed address.
    to: Udp,
    host: SocketAddr,
}

impl UdpPath {
    async fn open(to: Udp, host: SocketAddr) -> Option<UdpPath> {
        let local: SocketAddr = match (to, host) {
            (Udp::Via(a), _) if a.is_ipv6() => "[::]:0".parse().ok()?,
            (Udp::Via(_), _) => "0.0.0.0:0".parse().ok()?,
            (_, h) if h.is_ipv6() => "[::]:0".parse().ok()?,
            _ => "0.0.0.0:0".parse().ok()?,
        };
        let socket = UdpSocket::bind(local).await.ok()?;
        Some(UdpPath { socket, to, host })
    }

    fn send(&self, port: u16, bytes: &[u8]) {
        let dest = match self.to {
            Udp::Via(a) => a,
            _ => SocketAddr::new(self.host.ip(), port),
        };
        // Losing a datagram is harmless; a full socket buffer loses one.
        let _ = self.socket.try_send_to(bytes, dest);
    }
}

/// The exporter secret that keys this TLS session's datagrams.
fn udp_secret(stream: &TlsStream<TcpStream>) -> Option<[u8; 64]> {
    stream
        .get_ref()
        .1
        .export_keying_material([0u8; datagram::SECRET_LEN], datagram::EXPORTER_LABEL, None)
        .ok()
}

/// Runs one connection until it ends; returns why it ended.
async fn session<C: Cache + Send + 'static>(
    shared: &Arc<Shared<C>>,
    stream: TlsStream<TcpStream>,
    target: &Connector,
) -> String {
    let udp_mode = target.udp;
    let peer = stream.get_ref().0.peer_addr();
    let udp = match (udp_mode, peer) {
        (Udp::Off, _) | (_, Err(_)) => None,
        (mode, Ok(host)) => UdpPath::open(mode, host).await,
    };
    let secret = udp.as_ref().and_then(|_| udp_secret(&stream));
    shared
        .lock()
        .handle(Input::Connected { udp_secret: secret }, now_ms());
    let (mut r, mut w) = split(stream);
    let mut inbuf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut dgram = vec![0u8; datagram::MAX_DATAGRAM];
    loop {
        let (deadline, close) = {
            let mut c = shared.lock();
            let max = c.limits().max_frame_bytes;
            let mut close = None;
            while let Some(o) = c.poll_output(now_ms()) {
                match o {
                    Output::Send(f) => {
                        let json = serde_json::to_vec(&f).expect("client frames serialize");
                        if json.len() > max {
                            // The server would refuse it and close the
                            // stream; it is not sent.
                            c.report(Event::Error(format!(
                                "a `{}` request of {} bytes is over the server's limit of {max}; not sent",
                                f.req.type_name(),
                                json.len()
                            )));
                            continue;
                        }
                        out.put_slice(&frame::header(json.len()));
                        out.extend_from_slice(&json);
                    }
                    Output::Datagram { port, bytes } => {
                        if let Some(u) = &udp {
                            u.send(port, &bytes);
                        }
                    }
                    Output::Close(why) => {
                        close = Some(why);
                        break;
                    }
                    Output::Upload(job) => {
                        tokio::spawn(run_transfer(shared.clone(), target.clone(), Job::Up(job)));
                    }
                    Output::Download(job) => {
                        tokio::spawn(run_transfer(shared.clone(), target.clone(), Job::Down(job)));
                    }
                    Output::Connect => {}
                }
            }
            (c.poll_timeout(), close)
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
        if let Some(why) = close {
            let _ = w.shutdown().await;
            return why;
        }
        let recv_dgram = async {
            match &udp {
                Some(u) => u.socket.recv_from(&mut dgram).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = read_frame(&mut r, &mut inbuf) => match read {
                Ok(Some(bytes)) => match serde_json::from_slice::<ServerFrame>(&bytes) {
                    Ok(frame) => shared.lock().handle(Input::Frame(frame), now_ms()),
                    Err(e) => {
                        let text = format!("unreadable frame from the server: {e}");
                        shared.lock().report(Event::Error(text));
                    }
                },
                Ok(None) => return "the server closed the connection".into(),
                Err(e) => return format!("read failed: {e}"),
            },
            got = recv_dgram => {
                if let Ok((n, _)) = got {
                    let bytes = dgram[..n].to_vec();
                    shared.lock().handle(Input::Datagram(bytes), now_ms());
                }
            }
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait_until(deadline)) => {}
        }
    }
}

enum Job {
    Up(crate::transfer::UploadJob),
    Down(crate::transfer::DownloadJob),
}

/// Runs one upload or download (when a place is free) and reports to the
/// core as it goes. It does not depend on the chat connection: a cut of
/// either is reported, and the core tries an upload again.
async fn run_transfer<C: Cache + Send + 'static>(
    shared: Arc<Shared<C>>,
    connector: Connector,
    job: Job,
) {
    let Ok(_turn) = shared.transfers.acquire().await else {
        return;
    };
    let tell: transfer::Report = {
        let shared = shared.clone();
        Arc::new(move |r: TransferReport| {
            shared.lock().handle(Input::Transfer(r), now_ms());
            shared.changed.notify_one();
            shared.wake.notify_one();
        })
    };
    let (key, endpoint) = match &job {
        Job::Up(j) => (j.nonce.clone(), &j.endpoint),
        Job::Down(j) => (j.key.clone(), &j.endpoint),
    };
    let result = match Http::new(&connector, endpoint) {
        Err(f) => Err(f),
        Ok(http) => match &job {
            Job::Up(j) => transfer::upload(&http, j, &tell).await.map(|()| None),
            Job::Down(j) => transfer::download(&http, j, &tell)
                .await
                .map(|p| Some(p.display().to_string())),
        },
    };
    tell(match result {
        Ok(to) => TransferReport::Finished { key, to },
        Err(Failure { message, retry }) => TransferReport::Failed {
            key,
            message,
            retry,
        },
    });
}

/// Reads one frame with the protocol's framing (`confab_proto::frame`).
/// Cancel-safe: bytes read stay in `buf` for the next call.
async fn read_frame<R: AsyncReadExt + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> io::Result<Option<bytes::Bytes>> {
    loop {
        match frame::decode(buf, MAX_FRAME) {
            Ok(Some(payload)) => return Ok(Some(payload)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        buf.reserve(4096);
        if r.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
