//! The Confab server.
//!
//! [`start`] opens the store, binds both listeners (port 0 works) and returns
//! a [`Running`] server with the addresses it actually bound. Inside:
//!
//! The layers, from the network in:
//!
//! - `transport`: TLS/TCP and WebSocket adapters; both feed `transport::serve`.
//! - `session`: one connection's state; parses each frame, checks it with
//!   `access`, hands it to `api`.
//! - `api`: the handlers, glue: parse, call a service, reply.
//! - `access`: who may do what, in one place (per-request specs and the
//!   object-level rules).
//! - `services`: accounts, rooms (channels and groups), messages (with the
//!   `poster`, the single writer of conversation logs) and social
//!   (friends, blocks): each does "store write + in-memory state + publish".
//! - `hub`: the live state (connection registry, membership mirror,
//!   relations mirror, presence) and the `Bus` every event goes through.
//! - `outbox`: the bounded per-connection queue and its lag policy.
//! - `console`: the operator's commands (`users`, `stats`, `broadcast`, `shutdown`).
//!
//! `docs/ARCHITECTURE.md` has the map and says where new things go.

mod access;
mod api;
mod auth;
pub mod bridge;
mod bulk;
mod config;
pub mod console;
mod error;
mod hub;
mod metrics;
mod outbox;
pub mod rates;
pub mod relay;
pub mod services;
mod session;
mod stats;
pub mod tls;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

pub use auth::{hash_password, verify_password};
use confab_proto::ServerBody;
use confab_store::{SqliteStore, Store, UserId};
pub use config::{
    Acme, Config, FIRST_CHANNEL, FileConfig, LETS_ENCRYPT, Registration, TurnTransports, Udp,
};
pub use error::ApiError;
use hub::udp;
use hub::{Audience, Except};
pub use rates::{Limit, RateClock, RateConfig};
pub use stats::Stats;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("{0}")]
    Io(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("opening the database: {0}")]
    Store(#[from] confab_store::StoreError),
}

/// What every connection shares.
pub(crate) struct Shared {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hub: Arc<hub::Hub>,
    pub services: services::Services,
    /// The UDP path for typing notices, if the server has one.
    pub udp: Option<Arc<udp::Udp>>,
    pub shutdown: CancellationToken,
    pub started: Instant,
    /// The certificate both listeners present.
    pub certs: Arc<tls::Certs>,
    pub rates: rates::Rates,
    /// The web listener's bound port, and whether it speaks HTTPS (for
    /// `hello`'s `files`).
    pub web_port: u16,
    pub web_tls: bool,
    next_visitor: AtomicI64,
}

impl Shared {
    /// A fresh id for a visitor: negative, so it never meets a stored user.
    pub(crate) fn next_visitor(&self) -> UserId {
        self.next_visitor.fetch_sub(1, Ordering::Relaxed)
    }
}

/// A running server.
pub struct Running {
    /// Where native (TLS) clients connect.
    pub tcp_addr: SocketAddr,
    /// Where browsers connect (HTTP or HTTPS; WebSocket at `/ws`).
    pub http_addr: SocketAddr,
    /// Whether that listener speaks HTTPS (see [`Config::web_tls`]).
    pub web_tls: bool,
    /// Where typing datagrams go, if the server listens for them.
    pub udp_addr: Option<SocketAddr>,
    /// The TURN relay's address (UDP and TCP), if it runs.
    pub turn_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the TLS certificate, for clients to check on first use.
    pub cert_fingerprint: String,
    /// While the server has no admin: the one-time code that makes whoever
    /// registers with it the first admin (`register` with `setup`).
    pub setup_code: Option<String>,
    handle: Handle,
    tasks: TaskTracker,
    poster: JoinHandle<()>,
    /// Shut down once every connection has closed.
    bulk: Arc<bulk::Bulk>,
    relay: Option<Arc<relay::Relay>>,
}

/// Controls a running server from elsewhere (signals, console, tests).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Tells every client why, then stops the server. `Running::wait` returns
    /// once every connection has closed and every acknowledged write is on disk.
    pub fn shutdown(&self, reason: &str) {
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        tracing::info!(reason, "shutting down");
        let hub = &self.shared.hub;
        hub.presence.go_quiet();
        let frame = hub::event(ServerBody::Shutdown {
            reason: reason.to_owned(),
        });
        hub.bus.publish(Audience::Everyone, &frame, Except::NONE);
        self.shared.shutdown.cancel();
    }

    /// Sends a notice to every connected client.
    pub fn broadcast(&self, text: &str) {
        let frame = hub::event(ServerBody::Notice {
            text: text.to_owned(),
        });
        self.shared
            .hub
            .bus
            .publish(Audience::Everyone, &frame, Except::NONE);
    }

    /// The bridge to users elsewhere, with the channel (of `capacity`) on
    /// which what local users do toward them comes out. Once per server:
    /// `None` after the first call.
    pub async fn bridge(
        &self,
        capacity: usize,
    ) -> Result<Option<(bridge::Bridge, mpsc::Receiver<bridge::Outgoing>)>, ApiError> {
        bridge::Bridge::start(self.shared.clone(), capacity).await
    }

    /// Bytes the TURN relay carried so far (0 without one).
    pub fn turn_relayed(&self) -> u64 {
        self.shared.services.streams.relayed()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.hub.stats
    }

    pub fn connections(&self) -> usize {
        self.shared.hub.conns.count()
    }

    /// Users shown online (or within their grace period): (name,
    /// connections, invisible).
    pub fn online(&self) -> Vec<(String, usize, bool)> {
        self.shared.hub.presence.online_summary()
    }

    pub fn uptime(&self) -> Duration {
        self.shared.started.elapsed()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Reads the certificate files again (SIGHUP): new connections get the
    /// new certificate, open ones keep theirs. Returns its fingerprint; on
    /// failure the old certificate stays.
    pub fn reload_tls(&self) -> Result<String, String> {
        self.shared.certs.reload()
    }

    /// The SHA-256 fingerprint of the certificate presented now.
    pub fn cert_fingerprint(&self) -> String {
        self.shared.certs.fingerprint()
    }

    /// Collects abandoned uploads, lapsed offers and unreferenced blobs
    /// now (the server also does it every `files.collect_every`).
    pub async fn collect_files(&self) -> Result<services::files::Collected, String> {
        self.shared
            .services
            .files
            .collect()
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }
}

/// Makes the data directory (if needed) private to its owner: it holds the
/// database and the TLS key.
pub fn make_data_dir(dir: &std::path::Path) -> Result<(), StartError> {
    let io = |e: std::io::Error| StartError::Io(format!("creating {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Opens the store in `config.data_dir`, binds the listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    make_data_dir(&config.data_dir)?;
    let store = SqliteStore::open(config.db_path())?;
    start_with_store(config, Arc::new(store)).await
}

/// Connections the kernel may hold for us before we accept them. tokio's
/// default of 1,024 made a burst of reconnects lose SYNs and wait a second
/// for the retry (the kernel caps this at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 8192;

fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let err = |e: std::io::Error| StartError::Io(format!("binding {addr}: {e}"));
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    // As std's and tokio's `bind` do: restart without waiting out TIME_WAIT.
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)
}

/// The UDP socket for typing datagrams, as configured. A port that cannot
/// be had is a warning, not a failure: clients then type over their
/// connections.
async fn bind_udp(config: &Config, tcp: SocketAddr) -> Option<tokio::net::UdpSocket> {
    let addr = match config.udp {
        Udp::Off => return None,
        Udp::SameAsTcp => tcp,
        Udp::At(a) => a,
    };
    match tokio::net::UdpSocket::bind(addr).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(%addr, error = %e, "no UDP path for typing notices");
            None
        }
    }
}

/// Like [`start`], with a store of the caller's choosing.
pub async fn start_with_store(
    config: Config,
    store: Arc<dyn Store>,
) -> Result<Running, StartError> {
    let (certs, acme) = tls::Certs::load(&config)?;
    let cert_fingerprint = if certs.by_acme() {
        "acme".to_owned()
    } else {
        certs.fingerprint()
    };
    let native_tls = certs.server_config(&[])?;
    let web_tls = config.web_tls();
    let web_acceptor = if web_tls {
        Some(tokio_rustls::TlsAcceptor::from(
            certs.server_config(&[b"http/1.1"])?,
        ))
    } else {
        None
    };
    let tcp = bind(config.tcp)?;
    let http = bind(config.http)?;
    let local = |l: &TcpListener| l.local_addr().map_err(|e| StartError::Io(e.to_string()));
    let (tcp_addr, http_addr) = (local(&tcp)?, local(&http)?);

    let stats = Arc::new(Stats::default());
    let udp = bind_udp(&config, tcp_addr)
        .await
        .map(|s| Arc::new(udp::Udp::new(s, stats.clone())));
    let udp_addr = udp.as_ref().and_then(|u| u.local_addr().ok());
    let shutdown = CancellationToken::new();
    let relay = match config.turn {
        Some(at) => Some(Arc::new(
            relay::Relay::start(at, &config, shutdown.clone())
                .await
                .map_err(|e| StartError::Io(format!("binding the TURN relay to {at}: {e}")))?,
        )),
        None => None,
    };
    let turn_addr = relay.as_ref().map(|r| r.addr);
    // A fresh server: a channel to start in, and a one-time code that makes
    // whoever uses it the first admin (never the first to come along).
    if let Some(name) = &config.first_channel
        && let Some(first) = store
            .first_channel(name, "Say hello: everyone joins here")
            .await?
    {
        tracing::info!(channel = %first.name, "created the first channel");
    }
    let setup_code = if store.has_admin().await? {
        None
    } else {
        Some(auth::new_setup_code())
    };
    let hub = Arc::new(hub::Hub::new(
        store.all_memberships().await?,
        store.all_relations().await?,
        config.presence_grace,
        stats,
        udp.clone(),
    ));
    let (post_tx, post_rx) = mpsc::channel(4096);
    let poster = tokio::spawn(services::poster::run(
        post_rx,
        store.clone(),
        hub.clone(),
        shutdown.clone(),
    ));
    let ctx = Arc::new(services::Ctx {
        store: store.clone(),
        hub: hub.clone(),
        limits: config.limits.clone(),
        typing_every: config.typing_every,
        registration: config.registration,
        token_max_age: config.token_max_age,
        first_channel: config.first_channel.clone(),
        poster: post_tx,
        setup: std::sync::Mutex::new(setup_code.as_ref().map(|c| auth::token_hash(c))),
    });
    let disk = services::files::Disk::new(config.files_dir())
        .map_err(|e| StartError::Io(format!("creating {}: {e}", config.files_dir().display())))?;
    let files = services::files::Files::new(ctx.clone(), config.files.clone(), disk);
    let max_viewers = config.stream_viewers;
    let config_rates = config.rates.clone();
    auth::set_password_line(config_rates.password_line);
    let shared = Arc::new(Shared {
        config,
        store,
        hub,
        services: services::Services::new(ctx, files, max_viewers, relay.clone()),
        web_port: http_addr.port(),
        web_tls,
        udp: udp.clone(),
        shutdown: shutdown.clone(),
        started: Instant::now(),
        certs: certs.clone(),
        rates: rates::Rates::new(config_rates),
        next_visitor: AtomicI64::new(-1),
    });

    let tasks = TaskTracker::new();
    if let Some(udp) = udp {
        let shared = shared.clone();
        tasks.spawn(udp.run(shutdown.clone(), move |t| {
            let actor = access::Actor {
                id: t.user,
                name: t.name,
                role: confab_proto::Role::Member,
            };
            // As over the stream; a refusal (not a member) is dropped, as
            // a datagram may be.
            let _ = shared.services.messages.typing(&actor, t.conv);
        }));
    }
    tasks.spawn(transport::tcp::accept_loop(
        tcp,
        tokio_rustls::TlsAcceptor::from(native_tls),
        shared.clone(),
        tasks.clone(),
    ));
    let app = transport::ws::router(shared.clone(), tasks.clone());
    let bulk = Arc::new(
        bulk::Bulk::start()
            .map_err(|e| StartError::Io(format!("starting the bulk runtime: {e}")))?,
    );
    tasks.spawn(transport::http::accept_loop(
        http,
        web_acceptor,
        app,
        shared.clone(),
        tasks.clone(),
        bulk.clone(),
    ));
    tasks.spawn({
        // Buckets nobody used lately allow what a new one would: drop them,
        // so the tables hold only the clients of the last minutes.
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => shared.rates.forget_idle(),
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    });
    tasks.spawn({
        // Abandoned uploads, lapsed offers, blobs nobody points to.
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        async move {
            let every = shared.config.files.collect_every;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if let Err(e) = shared.services.files.collect().await {
                            tracing::warn!(error = ?e, "collecting files failed");
                        }
                    }
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    });
    tasks.spawn(
        certs
            .clone()
            .watch(shared.config.tls_watch_every, shutdown.clone()),
    );
    if let Some(state) = acme {
        tasks.spawn(tls::drive_acme(state, shutdown.clone()));
    }
    if !web_tls && !http_addr.ip().is_loopback() {
        tracing::warn!(%http_addr, "the web listener speaks plain HTTP beyond loopback (http_plain): only behind a reverse proxy that terminates TLS");
    }
    tracing::info!(%tcp_addr, %http_addr, web_tls, ?udp_addr, ?turn_addr, "listening");
    Ok(Running {
        tcp_addr,
        http_addr,
        web_tls,
        udp_addr,
        turn_addr,
        relay,
        cert_fingerprint,
        setup_code,
        handle: Handle { shared },
        tasks,
        poster,
        bulk,
    })
}

impl Running {
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Waits until the server is told to shut down, then for every
    /// connection to close and every queued message to be stored.
    pub async fn wait(self) {
        let Running {
            handle,
            tasks,
            relay,
            poster,
            bulk,
            ..
        } = self;
        handle.shared.shutdown.cancelled().await;
        tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 10 s");
        }
        let _ = poster.await;
        if let Some(relay) = relay {
            relay.close().await;
        }
        drop(bulk);
        tracing::info!("stopped");
    }

    /// Shuts down and waits for it to finish.
    pub async fn shutdown(self, reason: &str) {
        self.handle.shutdown(reason);
        self.wait().await;
    }
}
