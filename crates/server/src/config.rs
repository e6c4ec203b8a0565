//! The server's settings, already resolved from flags, environment and the
//! config file by the `confab` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use confab_proto::Limits;

/// Where the UDP path for typing notices listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp {
    /// The TLS listener's address and port number (the default). If that
    /// port is taken for UDP, the server runs without a UDP path.
    SameAsTcp,
    At(SocketAddr),
    /// No UDP path: typing notices go over the connections.
    Off,
}

/// Certificates obtained and renewed by ACME (TLS-ALPN-01 on the web
/// listener, which must then be reachable on port 443 of those names).
#[derive(Debug, Clone)]
pub struct Acme {
    pub domains: Vec<String>,
    /// The ACME directory URL (Let's Encrypt's by default).
    pub directory: String,
    /// `mailto:` addresses the CA may write to about the certificates.
    pub contact: Vec<String>,
    /// A PEM file of certificates to trust for the directory's own HTTPS
    /// (a private ACME server); the system's web roots otherwise.
    pub directory_ca: Option<PathBuf>,
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Who may make an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone.
    Open,
    /// With an invitation token from an admin (`admin_invite`).
    Invite,
    /// Nobody: admins make the accounts.
    Closed,
}

/// The channel a fresh server starts with by default; new accounts join it
/// (see [`Config::first_channel`]).
pub const FIRST_CHANNEL: &str = "general";

#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `confab.db` and `tls/`.
    pub data_dir: PathBuf,
    /// Native clients: TLS over TCP.
    pub tcp: SocketAddr,
    /// Browsers: HTTP with a WebSocket endpoint at `/ws`.
    pub http: SocketAddr,
    /// Typing datagrams for native clients.
    pub udp: Udp,
    /// A real certificate chain and key (PEM). Without them a self-signed
    /// pair is made in `data_dir/tls` on first run and reused after.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Certificates by ACME instead (exclusive with `tls_cert`).
    pub acme: Option<Acme>,
    /// How often the server pings; a client silent for three times this is dropped.
    pub heartbeat: Duration,
    /// A TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// Serve the web listener over plain HTTP even beyond loopback or with
    /// a certificate: only behind a reverse proxy that terminates TLS.
    pub http_plain: bool,
    /// An HTTP connection that sends no complete request head within this
    /// (a new one, or one idle between requests) is closed.
    pub http_idle: Duration,
    /// How often the certificate files are checked for changes.
    pub tls_watch_every: Duration,
    /// Origins (`https://chat.example.org`) whose pages may open `/ws`,
    /// besides the server's own (an Origin naming the Host the request came
    /// to). Requests without an Origin (non-browser clients) are allowed.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the real client
    /// address; from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Per-connection outgoing queue, in bytes (see `outbox`).
    pub outbox_bytes: usize,
    /// A user whose last connection drops still shows online this long, so
    /// that a quick reconnect is not announced as leaving and coming back.
    /// Logging out takes effect at once.
    pub presence_grace: Duration,
    /// At most one typing notice per user and conversation is passed on
    /// this often (clients send one every few seconds while typing).
    pub typing_every: Duration,
    pub limits: Limits,
    /// `/metrics` answers requests carrying `Authorization: Bearer TOKEN`;
    /// without a token, only requests from this machine (not through a
    /// trusted proxy).
    pub metrics_token: Option<String>,
    /// Who may register.
    pub registration: Registration,
    /// A fresh server (no conversation yet) creates this public channel,
    /// and new accounts join it. `None`: nothing is created or joined.
    pub first_channel: Option<String>,
    /// Whether visitors may enter (read-only, public channels).
    pub visitors: bool,
    /// Session tokens older than this no longer log in (None: they last
    /// until logout or revocation).
    pub token_max_age: Option<Duration>,
    /// Rate limits per address and per user.
    pub rates: crate::rates::RateConfig,
    /// Files: sizes, quotas, types, expiries.
    pub files: FileConfig,
    /// Most viewers of one live stream, and the limit a host gets unless
    /// they ask for fewer: each viewer is one more copy of the video the
    /// host's browser uploads. The default, 6, is measured: on a 2-core
    /// machine every viewer still got the camera's full frame rate with
    /// six, and not with eight (`bench/RESULTS.md`, "Live streams").
    pub stream_viewers: u32,
    /// The TURN relay for live streams (UDP and TCP at one address), if
    /// any, and the IP its clients are told (the public one, behind NAT).
    pub turn: Option<SocketAddr>,
    pub turn_public_ip: Option<std::net::IpAddr>,
    /// Which of the relay's transports browsers are told of: it listens on
    /// both, but where UDP is blocked on the way, offering only TCP saves
    /// every stream the failed UDP attempts.
    pub turn_transports: TurnTransports,
    /// How long relay credentials stay good (a stream watched longer needs
    /// new ones: watch again).
    pub turn_credentials_for: Duration,
    /// Whether the relay carries datagrams to peers on loopback (only for
    /// tests on one machine: otherwise that is the server's own machine).
    pub turn_loopback_peers: bool,
    /// The secret relay credentials are signed with ("TURN REST API":
    /// the password is base64(HMAC-SHA1(secret, username))). Made afresh
    /// at each start unless given, so that a restart revokes them all.
    pub turn_secret: Option<String>,
}

/// The relay's transports offered to browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransports {
    Both,
    Udp,
    Tcp,
}

impl std::str::FromStr for TurnTransports {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "both" | "udp,tcp" | "tcp,udp" => Ok(TurnTransports::Both),
            "udp" => Ok(TurnTransports::Udp),
            "tcp" => Ok(TurnTransports::Tcp),
            _ => Err(format!(
                "the relay's transports are `udp`, `tcp` or `both`, not `{s}`"
            )),
        }
    }
}

/// What may be uploaded, and how long things wait.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// What one user may hold in all (files and uploads in progress), in
    /// bytes; `None`: no limit.
    pub quota_bytes: Option<u64>,
    /// Types allowed, detected from the content: `image/png`, or a family
    /// such as `image/*`. Empty: any.
    pub allowed_types: Vec<String>,
    /// Uploads a user may have in progress at once.
    pub max_uploads: u32,
    /// An upload unfinished this long after it began is collected.
    pub upload_expiry: Duration,
    /// An offer unanswered this long lapses, and its file is freed.
    pub offer_expiry: Duration,
    /// Images with more pixels than this are refused (decompression bombs).
    pub max_image_pixels: u64,
    /// How often abandoned uploads, lapsed offers and unreferenced blobs
    /// are collected.
    pub collect_every: Duration,
    /// A request body that sends nothing for this long is cut (the upload
    /// keeps what arrived before).
    pub body_idle: Duration,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            max_bytes: 100_000_000,
            quota_bytes: Some(1_000_000_000),
            allowed_types: Vec::new(),
            max_uploads: 10,
            upload_expiry: Duration::from_secs(24 * 3600),
            offer_expiry: Duration::from_secs(7 * 24 * 3600),
            max_image_pixels: 50_000_000,
            collect_every: Duration::from_secs(600),
            body_idle: Duration::from_secs(30),
        }
    }
}

impl FileConfig {
    /// Whether a detected type is allowed.
    pub fn allows(&self, mime: &str) -> bool {
        self.allowed_types.is_empty()
            || self
                .allowed_types
                .iter()
                .any(|t| match t.strip_suffix("/*") {
                    Some(family) => mime.split('/').next() == Some(family),
                    None => t == mime,
                })
    }
}

impl Config {
    /// Defaults for a server whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            tcp: "127.0.0.1:7070".parse().expect("valid"),
            http: "127.0.0.1:8080".parse().expect("valid"),
            udp: Udp::SameAsTcp,
            tls_cert: None,
            tls_key: None,
            acme: None,
            heartbeat: Duration::from_secs(15),
            tls_handshake_timeout: Duration::from_secs(10),
            http_plain: false,
            http_idle: Duration::from_secs(30),
            tls_watch_every: Duration::from_secs(5),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            outbox_bytes: 1024 * 1024,
            presence_grace: Duration::from_secs(5),
            typing_every: Duration::from_secs(1),
            limits: Limits::default(),
            metrics_token: None,
            registration: Registration::Open,
            first_channel: Some(FIRST_CHANNEL.to_owned()),
            visitors: true,
            token_max_age: None,
            rates: crate::rates::RateConfig::default(),
            files: FileConfig::default(),
            stream_viewers: 6,
            turn: None,
            turn_public_ip: None,
            turn_transports: TurnTransports::Both,
            turn_credentials_for: Duration::from_secs(2 * 3600),
            turn_loopback_peers: false,
            turn_secret: None,
        }
    }

    /// Whether the web listener speaks HTTPS: whenever a certificate is
    /// configured or it listens beyond loopback, unless plain HTTP was
    /// asked for (behind a TLS-terminating proxy).
    pub fn web_tls(&self) -> bool {
        !self.http_plain
            && (self.tls_cert.is_some() || self.acme.is_some() || !self.http.ip().is_loopback())
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("confab.db")
    }

    /// Where uploads and blobs live (`uploads/`, `blobs/`).
    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }
}
