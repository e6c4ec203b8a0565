//! The UDP companion of the TLS port: typing notices as sealed datagrams
//! (the format is `confab_proto::datagram`, documented in PROTOCOL.md).
//!
//! A native connection asks `udp_open` and gets a session id; the keys
//! come from its TLS session's exporter, so only that connection can seal
//! datagrams for it. Datagrams that are forged, replayed, malformed or for
//! an unknown session are dropped and counted. Typing notices go to a
//! connection this way while its path is live (it pinged lately and says
//! our datagrams reach it); otherwise over its stream. Nothing here is
//! needed for correctness: losing a datagram loses a typing notice.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use confab_proto::ConvId;
use confab_proto::datagram::{self, Direction, Key, Payload, Refused, Window};
use confab_store::UserId;
use rand::RngCore;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::conns::ConnId;
use crate::stats::Stats;

/// A path counts as live this long after its last authentic datagram
/// (clients ping every 15 s).
const LIVE: Duration = Duration::from_secs(45);

/// One connection's path.
struct Path {
    user: UserId,
    name: String,
    to_server: Key,
    to_client: Key,
    window: Window,
    counter: u64,
    /// Where its datagrams come from (it may change: NAT rebinding).
    peer: Option<SocketAddr>,
    /// The client says our datagrams reach it.
    rx_ok: bool,
    last_seen: Option<Instant>,
}

pub(crate) struct Udp {
    socket: Arc<UdpSocket>,
    paths: Mutex<Paths>,
    stats: Arc<Stats>,
}

/// The paths by session id, and each connection's session (a typing
/// notice is sent to a connection: one lookup, not a scan).
#[derive(Default)]
struct Paths {
    by_session: HashMap<u64, Path>,
    by_conn: HashMap<ConnId, u64>,
}

/// A typing notice that came in by datagram, for the messages service.
pub(crate) struct Typed {
    pub user: UserId,
    pub name: String,
    pub conv: ConvId,
}

impl Udp {
    pub(crate) fn new(socket: UdpSocket, stats: Arc<Stats>) -> Udp {
        Udp {
            socket: Arc::new(socket),
            paths: Mutex::new(Paths::default()),
            stats,
        }
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn lock(&self) -> MutexGuard<'_, Paths> {
        self.paths.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A path for `conn`, keyed by its TLS session's exporter output.
    /// Returns the session id its datagrams carry.
    pub(crate) fn open(
        &self,
        conn: ConnId,
        user: UserId,
        name: &str,
        secret: &[u8; datagram::SECRET_LEN],
    ) -> u64 {
        let mut paths = self.lock();
        // One path per connection: asking again replaces it.
        if let Some(old) = paths.by_conn.remove(&conn) {
            paths.by_session.remove(&old);
        }
        let session = loop {
            let id = rand::rng().next_u64();
            if id != 0 && !paths.by_session.contains_key(&id) {
                break id;
            }
        };
        let (to_server, to_client) = datagram::keys(secret, session);
        paths.by_conn.insert(conn, session);
        paths.by_session.insert(
            session,
            Path {
                user,
                name: name.to_owned(),
                to_server,
                to_client,
                window: Window::default(),
                counter: 0,
                peer: None,
                rx_ok: false,
                last_seen: None,
            },
        );
        session
    }

    /// The connection closed or logged out.
    pub(crate) fn close(&self, conn: ConnId) {
        let mut paths = self.lock();
        if let Some(session) = paths.by_conn.remove(&conn) {
            paths.by_session.remove(&session);
        }
    }

    /// Sends `user`'s typing notice to `conn` over its path if that path
    /// is live; false if it must go over the stream.
    pub(crate) fn try_typing(&self, conn: ConnId, conv: ConvId, user: &str) -> bool {
        let mut paths = self.lock();
        let Some(&session) = paths.by_conn.get(&conn) else {
            return false;
        };
        let Some(path) = paths.by_session.get_mut(&session) else {
            return false;
        };
        let live = path.rx_ok && path.last_seen.is_some_and(|t| t.elapsed() < LIVE);
        let Some(peer) = path.peer.filter(|_| live) else {
            return false;
        };
        path.counter += 1;
        let bytes = datagram::seal(
            &path.to_client,
            Direction::ToClient,
            session,
            path.counter,
            &Payload::Typing {
                conv,
                user: Some(user.to_owned()),
            },
        );
        if self.socket.try_send_to(&bytes, peer).is_ok() {
            self.stats.udp_out.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Reads one datagram: checks it, answers pings, returns a typing
    /// notice to pass on.
    fn receive(&self, bytes: &[u8], from: SocketAddr) -> Result<Option<Typed>, Refused> {
        let h = datagram::header(bytes)?;
        if h.direction != Direction::ToServer {
            return Err(Refused::Malformed);
        }
        let mut paths = self.lock();
        let path = paths
            .by_session
            .get_mut(&h.session)
            .ok_or(Refused::UnknownSession)?;
        let payload = datagram::open(&path.to_server, &mut path.window, &h, bytes)?;
        path.peer = Some(from);
        path.last_seen = Some(Instant::now());
        match payload {
            Payload::Ping { rx } => {
                path.rx_ok = rx;
                path.counter += 1;
                let pong = datagram::seal(
                    &path.to_client,
                    Direction::ToClient,
                    h.session,
                    path.counter,
                    &Payload::Pong {},
                );
                let _ = self.socket.try_send_to(&pong, from);
                Ok(None)
            }
            Payload::Typing { conv, .. } => Ok(Some(Typed {
                user: path.user,
                name: path.name.clone(),
                conv,
            })),
            Payload::Pong {} => Err(Refused::Malformed),
        }
    }

    /// Receives datagrams until shutdown, handing typing notices to `typed`.
    pub(crate) async fn run(self: Arc<Self>, shutdown: CancellationToken, typed: impl Fn(Typed)) {
        let mut buf = vec![0u8; datagram::MAX_DATAGRAM + 1];
        loop {
            let (n, from) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // An ICMP error from an earlier send shows up here on
                        // some systems; anything else, back off a moment
                        // rather than spin.
                        tracing::debug!(error = %e, "UDP receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => return,
            };
            let counter = match self.receive(&buf[..n], from) {
                Ok(t) => {
                    if let Some(t) = t {
                        self.stats.udp_typing_in.fetch_add(1, Ordering::Relaxed);
                        typed(t);
                    }
                    &self.stats.udp_in
                }
                Err(Refused::Malformed) => &self.stats.udp_malformed,
                Err(Refused::UnknownSession) => &self.stats.udp_unknown,
                Err(Refused::Forged) => &self.stats.udp_forged,
                Err(Refused::Replayed) => &self.stats.udp_replayed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
