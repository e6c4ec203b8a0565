//! The embedded TURN relay (RFC 8656) for live streams, on UDP and TCP at
//! one address, built on webrtc-rs's `turn` server.
//!
//! When a host's browser and a viewer's cannot reach each other, the video
//! goes through here. Only those the server hands credentials to can use
//! it: the parties of a live stream get them with `stream` and `watching`
//! (see `services::streams`). Credentials are time-limited
//! ("TURN REST API" style: the username is the expiry, the password an
//! HMAC of it with a secret made at each start), so nothing is stored and a
//! restart revokes them all. Every allocation needs them: this is not an
//! open relay.
//!
//! The `turn` crate serves UDP. Over TCP (RFC 6062 framing: each STUN
//! message or ChannelData frame back to back on the stream, ChannelData
//! padded to 4 bytes), [`TcpConn`] turns one TCP connection into the
//! datagram connection the crate reads from, and each TCP connection gets
//! a TURN server of its own. Relayed bytes are counted on the relay side
//! (`Stats::relayed_bytes`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::TurnTransports;
use async_trait::async_trait;
use confab_proto::IceServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use turn::auth::{LongTermAuthHandler, generate_long_term_credentials};
use turn::relay::RelayAddressGenerator;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::Conn;

/// The realm the relay names in its challenges.
const REALM: &str = "confab";
/// TCP connections served at once; more are closed.
const MAX_TCP: usize = 512;
/// A TCP connection must send its first message within this, and then
/// something at least this often (a stream sends all the time; an idle
/// allocation refreshes every few minutes).
const TCP_FIRST: Duration = Duration::from_secs(10);
const TCP_IDLE: Duration = Duration::from_secs(15 * 60);
/// Requests without credentials (the first of every client, answered with
/// a challenge) the relay takes per second, from everyone together: each
/// costs the `turn` crate a nonce it keeps, and an answer four times its
/// size to an address that may be forged.
const UNAUTHENTICATED_PER_SEC: u32 = 50;

/// The running relay.
pub(crate) struct Relay {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// The address clients are told (the public one).
    public: SocketAddr,
    secret: String,
    /// How long credentials stay good.
    lasting: Duration,
    transports: TurnTransports,
    udp: Server,
    relayed: Arc<AtomicU64>,
}

impl Relay {
    /// Binds UDP and TCP at `addr` (port 0: the same free port for both),
    /// telling clients `config.turn_public_ip` (or the bound IP).
    pub(crate) async fn start(
        addr: SocketAddr,
        config: &crate::Config,
        shutdown: CancellationToken,
    ) -> io::Result<Relay> {
        let (public_ip, lasting) = (config.turn_public_ip, config.turn_credentials_for);
        let loopback_peers = config.turn_loopback_peers;
        if addr.ip().is_unspecified() && public_ip.is_none() {
            return Err(io::Error::other(
                "listening on every address, the relay needs the IP browsers reach it by (--turn-public-ip, or turn_public_ip in the config file)",
            ));
        }
        let relayed = Arc::new(AtomicU64::new(0));
        let (udp, tcp) = bind_both(addr).await?;
        let addr = udp.local_addr()?;
        let public = SocketAddr::new(public_ip.unwrap_or(addr.ip()), addr.port());
        let secret = config
            .turn_secret
            .clone()
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
        let relays = Relays {
            bind: addr.ip(),
            public: public.ip(),
            relayed: relayed.clone(),
            loopback_peers,
            own: addr,
            gate: Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                std::num::NonZeroU32::new(UNAUTHENTICATED_PER_SEC).expect("above zero"),
            ))),
        };
        let gated = Gated {
            inner: Arc::new(udp),
            gate: relays.gate.clone(),
        };
        let udp_server = serve(Arc::new(gated), relays.clone(), &secret)
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(accept_tcp(tcp, relays, secret.clone(), shutdown));
        Ok(Relay {
            addr,
            public,
            secret,
            lasting,
            transports: config.turn_transports,
            udp: udp_server,
            relayed,
        })
    }

    /// Credentials for one party of a stream, with the relay's URLs.
    pub(crate) fn ice_server(&self) -> Option<IceServer> {
        let (username, credential) =
            generate_long_term_credentials(&self.secret, self.lasting).ok()?;
        let at = self.public;
        let urls = match self.transports {
            TurnTransports::Both => vec!["udp", "tcp"],
            TurnTransports::Udp => vec!["udp"],
            TurnTransports::Tcp => vec!["tcp"],
        };
        Some(IceServer {
            urls: urls
                .into_iter()
                .map(|t| format!("turn:{at}?transport={t}"))
                .collect(),
            username,
            credential,
        })
    }

    /// Bytes carried so far, both ways.
    pub(crate) fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }

    pub(crate) async fn close(&self) {
        let _ = self.udp.close().await;
    }
}

/// UDP and TCP on one port: with port 0, UDP picks one and TCP takes the
/// same (tried a few times, as another program may hold it).
async fn bind_both(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..10 {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

async fn serve(
    conn: Arc<dyn Conn + Send + Sync>,
    relays: Relays,
    secret: &str,
) -> std::result::Result<Server, turn::Error> {
    Server::new(ServerConfig {
        conn_configs: vec![ConnConfig {
            conn,
            relay_addr_generator: Box::new(relays),
        }],
        realm: REALM.to_owned(),
        auth_handler: Arc::new(LongTermAuthHandler::new(secret.to_owned())),
        channel_bind_timeout: Duration::ZERO,
        alloc_close_notify: None,
    })
    .await
}

async fn accept_tcp(
    listener: TcpListener,
    relays: Relays,
    secret: String,
    shutdown: CancellationToken,
) {
    let open = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a TURN connection over TCP");
                    continue;
                }
            },
        };
        if open.load(Ordering::Relaxed) as usize >= MAX_TCP {
            continue; // dropped: closed
        }
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(TcpConn::new(stream, peer));
        let gated = Arc::new(Gated {
            inner: conn.clone(),
            gate: relays.gate.clone(),
        });
        let (relays, secret, open) = (relays.clone(), secret.clone(), open.clone());
        let shutdown = shutdown.clone();
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(server) = serve(gated, relays, &secret).await {
                tokio::select! {
                    _ = conn.closed.cancelled() => {}
                    _ = shutdown.cancelled() => conn.closed.cancel(),
                }
                let _ = server.close().await;
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Makes each allocation's relay socket: UDP on the relay's IP, any port,
/// counting what it carries.
#[derive(Clone)]
struct Relays {
    bind: IpAddr,
    public: IpAddr,
    relayed: Arc<AtomicU64>,
    /// Whether peers on loopback may be relayed to (tests on one machine).
    loopback_peers: bool,
    /// The relay's own listening address, never a peer.
    own: SocketAddr,
    gate: Arc<Gate>,
}

type Gate = governor::DefaultDirectRateLimiter;

/// Whether the relay carries datagrams to and from `peer`. Not to the
/// machine itself, the link-local network (cloud metadata services live
/// there), multicast or broadcast, nor the relay's own port: a relay is
/// for browsers, not a way into the server's own network.
fn peer_allowed(peer: SocketAddr, loopback: bool, own: SocketAddr) -> bool {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    };
    let bad = match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (v4.is_loopback() && !loopback)
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || (v6.is_loopback() && !loopback)
        }
    };
    !bad && peer.port() != own.port()
}

#[async_trait]
impl RelayAddressGenerator for Relays {
    fn validate(&self) -> std::result::Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> std::result::Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.bind.is_ipv4() {
            return Err(turn::Error::ErrListeningAddressInvalid);
        }
        let socket = UdpSocket::bind(SocketAddr::new(self.bind, requested_port))
            .await
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        let mut told = socket
            .local_addr()
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        told.set_ip(self.public);
        let counted = Counted {
            inner: socket,
            relayed: self.relayed.clone(),
            loopback: self.loopback_peers,
            own: self.own,
        };
        Ok((Arc::new(counted), told))
    }
}

/// A relay socket that counts the bytes it carries, and carries nothing
/// to or from peers it may not reach ([`peer_allowed`]).
struct Counted {
    inner: UdpSocket,
    relayed: Arc<AtomicU64>,
    loopback: bool,
    own: SocketAddr,
}

impl Counted {
    fn count(&self, n: usize) -> usize {
        self.relayed.fetch_add(n as u64, Ordering::Relaxed);
        n
    }
}

#[async_trait]
impl Conn for Counted {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.inner.connect(addr).await?)
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.count(self.inner.recv(buf).await?))
    }
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            if peer_allowed(from, self.loopback, self.own) {
                return Ok((self.count(n), from));
            }
        }
    }
    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(io::Error::other("a relay socket sends to a peer").into())
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !peer_allowed(target, self.loopback, self.own) {
            // Quietly not carried (as a firewall would).
            return Ok(buf.len());
        }
        Ok(self.count(self.inner.send_to(buf, target).await?))
    }
    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.inner.local_addr()?)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// The relay's listening side, letting through only so many requests
/// without credentials per second (see [`UNAUTHENTICATED_PER_SEC`]).
struct Gated {
    inner: Arc<dyn Conn + Send + Sync>,
    gate: Arc<Gate>,
}

/// Whether `buf` is a STUN request that carries no MESSAGE-INTEGRITY
/// attribute (RFC 8489: a 20-byte header, then type-length-value
/// attributes padded to 4 bytes).
fn unauthenticated(buf: &[u8]) -> bool {
    const MESSAGE_INTEGRITY: u16 = 0x0008;
    if buf.len() < 20 || buf[0] & 0xC0 != 0 {
        return false; // ChannelData, or not STUN
    }
    let mut at = 20;
    while at + 4 <= buf.len() {
        let kind = u16::from_be_bytes([buf[at], buf[at + 1]]);
        if kind == MESSAGE_INTEGRITY {
            return false;
        }
        let len = u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize;
        at += 4 + len.div_ceil(4) * 4;
    }
    true
}

#[async_trait]
impl Conn for Gated {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            if !unauthenticated(&buf[..n]) || self.gate.check().is_ok() {
                return Ok((n, from));
            }
        }
    }
    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        self.inner.send_to(buf, target).await
    }
    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }
    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// One TCP connection to a TURN server, as the datagram connection the
/// `turn` crate reads: each `recv_from` is one STUN message or ChannelData
/// frame (RFC 6062 framing), each `send_to` writes one.
pub struct TcpConn {
    read: Mutex<OwnedReadHalf>,
    write: Mutex<OwnedWriteHalf>,
    local: SocketAddr,
    peer: SocketAddr,
    /// Whether a frame was read yet.
    started: std::sync::atomic::AtomicBool,
    /// Cancelled when the connection ends (either way).
    pub closed: CancellationToken,
}

/// The largest frame taken from a TCP connection (a STUN message's length
/// field allows 64 KiB).
const MAX_FRAME: usize = 4 + 65535 + 3;

impl TcpConn {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> TcpConn {
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (read, write) = stream.into_split();
        TcpConn {
            read: Mutex::new(read),
            write: Mutex::new(write),
            local,
            peer,
            started: std::sync::atomic::AtomicBool::new(false),
            closed: CancellationToken::new(),
        }
    }

    /// Reads one frame into `buf`: the first within [`TCP_FIRST`], the
    /// next within [`TCP_IDLE`] of the last.
    async fn frame(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read = self.read.lock().await;
        let mut head = [0u8; 4];
        let wait = if self.started.swap(true, Ordering::Relaxed) {
            TCP_IDLE
        } else {
            TCP_FIRST
        };
        tokio::time::timeout(wait, read.read_exact(&mut head))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        // STUN: a 20-byte header (the length counts what follows it).
        // ChannelData (first two bits 01): 4 bytes, then the data padded
        // to a multiple of 4 over TCP.
        let (total, keep) = if head[0] & 0xC0 == 0x40 {
            (4 + len.div_ceil(4) * 4, 4 + len)
        } else {
            (20 + len, 20 + len)
        };
        if total > MAX_FRAME || keep > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a TURN frame larger than the buffer",
            ));
        }
        buf[..4].copy_from_slice(&head);
        read.read_exact(&mut buf[4..keep]).await?;
        let mut pad = [0u8; 3];
        read.read_exact(&mut pad[..total - keep]).await?;
        Ok(keep)
    }
}

#[async_trait]
impl Conn for TcpConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        tokio::select! {
            _ = self.closed.cancelled() => Err(io::Error::from(io::ErrorKind::ConnectionAborted).into()),
            r = self.frame(buf) => match r {
                Ok(n) => Ok((n, self.peer)),
                Err(e) => {
                    self.closed.cancel();
                    Err(e.into())
                }
            },
        }
    }
    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.send_to(buf, self.peer).await
    }
    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        let mut write = self.write.lock().await;
        let pad = if buf.first().is_some_and(|b| b & 0xC0 == 0x40) {
            buf.len().div_ceil(4) * 4 - buf.len()
        } else {
            0
        };
        let r = async {
            write.write_all(buf).await?;
            write.write_all(&[0u8; 3][..pad]).await
        }
        .await;
        if let Err(e) = r {
            self.closed.cancel();
            return Err(e.into());
        }
        Ok(buf.len())
    }
    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }
    async fn close(&self) -> webrtc_util::Result<()> {
        self.closed.cancel();
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_reaches_browsers_not_the_servers_own_network() {
        let own: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let ok = |p: &str, loopback: bool| peer_allowed(p.parse().unwrap(), loopback, own);
        assert!(ok("198.51.100.7:50000", false), "a browser elsewhere");
        assert!(ok("192.168.1.20:50000", false), "a browser on the LAN");
        assert!(!ok("127.0.0.1:22", false), "the machine itself");
        assert!(ok("127.0.0.1:50000", true), "unless tests ask for it");
        assert!(!ok("169.254.169.254:80", false), "cloud metadata");
        assert!(!ok("0.0.0.0:80", false));
        assert!(!ok("224.0.0.1:5353", false), "multicast");
        assert!(!ok("255.255.255.255:9", false), "broadcast");
        assert!(!ok("[::1]:22", false));
        assert!(
            !ok("[::ffff:127.0.0.1]:22", false),
            "loopback mapped into IPv6"
        );
        assert!(!ok("[fe80::1]:22", false));
        assert!(!ok("198.51.100.7:3478", false), "the relay's own port");
    }

    #[test]
    fn requests_without_credentials_are_told_apart() {
        // A Binding request: header only.
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        req.extend([0u8; 12]);
        assert!(unauthenticated(&req));
        // With a USERNAME (5 bytes, padded) then MESSAGE-INTEGRITY.
        let mut signed = req.clone();
        signed.extend([
            0x00, 0x06, 0x00, 0x05, b'a', b'l', b'i', b'c', b'e', 0, 0, 0,
        ]);
        signed.extend([0x00, 0x08, 0x00, 0x14]);
        signed.extend([0u8; 20]);
        assert!(!unauthenticated(&signed));
        // ChannelData is never a request.
        assert!(!unauthenticated(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]));
    }
}
