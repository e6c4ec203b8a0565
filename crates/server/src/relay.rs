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

/// The running relay.
pub(crate) struct Relay {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// The address clients are told (the public one).
    public: SocketAddr,
    secret: String,
    /// How long credentials stay good.
    lasting: Duration,
    udp: Server,
    relayed: Arc<AtomicU64>,
}

impl Relay {
    /// Binds UDP and TCP at `addr` (port 0: the same free port for both),
    /// telling clients `public_ip` (or the bound IP).
    pub(crate) async fn start(
        addr: SocketAddr,
        public_ip: Option<IpAddr>,
        lasting: Duration,
        shutdown: CancellationToken,
    ) -> io::Result<Relay> {
        let relayed = Arc::new(AtomicU64::new(0));
        let (udp, tcp) = bind_both(addr).await?;
        let addr = udp.local_addr()?;
        let public = SocketAddr::new(public_ip.unwrap_or(addr.ip()), addr.port());
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let relays = Relays {
            bind: addr.ip(),
            public: public.ip(),
            relayed: relayed.clone(),
        };
        let udp_server = serve(Arc::new(udp), relays.clone(), &secret)
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(accept_tcp(tcp, relays, secret.clone(), shutdown));
        Ok(Relay {
            addr,
            public,
            secret,
            lasting,
            udp: udp_server,
            relayed,
        })
    }

    /// Credentials for one party of a stream, with the relay's URLs.
    pub(crate) fn ice_server(&self) -> Option<IceServer> {
        let (username, credential) =
            generate_long_term_credentials(&self.secret, self.lasting).ok()?;
        let at = self.public;
        Some(IceServer {
            urls: vec![
                format!("turn:{at}?transport=udp"),
                format!("turn:{at}?transport=tcp"),
            ],
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
        let (relays, secret, open) = (relays.clone(), secret.clone(), open.clone());
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(server) = serve(conn.clone(), relays, &secret).await {
                conn.closed.cancelled().await;
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
        };
        Ok((Arc::new(counted), told))
    }
}

/// A relay socket that counts the bytes it carries.
struct Counted {
    inner: UdpSocket,
    relayed: Arc<AtomicU64>,
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
        let (n, from) = self.inner.recv_from(buf).await?;
        Ok((self.count(n), from))
    }
    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.count(self.inner.send(buf).await?))
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
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

/// One TCP connection to a TURN server, as the datagram connection the
/// `turn` crate reads: each `recv_from` is one STUN message or ChannelData
/// frame (RFC 6062 framing), each `send_to` writes one.
pub struct TcpConn {
    read: Mutex<OwnedReadHalf>,
    write: Mutex<OwnedWriteHalf>,
    local: SocketAddr,
    peer: SocketAddr,
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
            closed: CancellationToken::new(),
        }
    }

    /// Reads one frame into `buf`.
    async fn frame(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read = self.read.lock().await;
        let mut head = [0u8; 4];
        read.read_exact(&mut head).await?;
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
