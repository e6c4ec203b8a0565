//! `confab serve`: settings from flags, `CONFAB_*` variables and a TOML
//! file (in that order of precedence), then the server, signals and console.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use confab_server::{Config, Handle, console};
use serde::Deserialize;

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML file with any of: data_dir, tcp, http, udp, turn,
    /// turn_public_ip, turn_transports, stream_viewers, tls_cert, tls_key,
    /// heartbeat_secs, outbox_bytes, http_plain, http_idle_secs,
    /// allowed_origins, trusted_proxies, rate_limits, metrics_token,
    /// registration, visitors, token_max_age_days, domains, acme_directory,
    /// acme_contact, acme_ca. Flags and variables override it.
    #[arg(long, env = "CONFAB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the database and TLS key live [default: ./confab-data]
    #[arg(long, env = "CONFAB_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for native clients (TLS over TCP); port 0 picks a free port [default: 127.0.0.1:7070]
    #[arg(long, env = "CONFAB_TCP", value_name = "ADDR")]
    pub tcp: Option<SocketAddr>,
    /// Address for browsers (HTTP and the WebSocket at /ws); port 0 works [default: 127.0.0.1:8080]
    #[arg(long, env = "CONFAB_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// UDP address for native clients' typing notices, or `off` [default: the TLS address and port]
    #[arg(long, env = "CONFAB_UDP", value_name = "ADDR|off")]
    pub udp: Option<String>,
    /// The TURN relay for live streams, UDP and TCP on this address (3478
    /// is TURN's port), or `off` [default: off]
    #[arg(long, env = "CONFAB_TURN", value_name = "ADDR|off")]
    pub turn: Option<String>,
    /// The IP the relay's clients are told, when it is not the one it
    /// listens on (behind NAT, or listening on 0.0.0.0)
    #[arg(long, env = "CONFAB_TURN_PUBLIC_IP", value_name = "IP")]
    pub turn_public_ip: Option<std::net::IpAddr>,
    /// Which of the relay's transports browsers are offered: `tcp` alone
    /// where UDP is blocked on the way [default: both]
    #[arg(long, env = "CONFAB_TURN_TRANSPORTS", value_name = "udp|tcp|both")]
    pub turn_transports: Option<confab_server::TurnTransports>,
    /// Most viewers of one live stream (each is a copy of the host's upload) [default: 6]
    #[arg(long, env = "CONFAB_STREAM_VIEWERS", value_name = "N")]
    pub stream_viewers: Option<u32>,
    /// PEM certificate chain for TLS; without it a self-signed one is made in the data dir
    #[arg(
        long,
        env = "CONFAB_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(
        long,
        env = "CONFAB_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Obtain and renew a trusted certificate for this name by ACME (repeat
    /// for more names); the web listener must be reachable on port 443 of it
    #[arg(
        long = "domain",
        env = "CONFAB_DOMAINS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub domains: Vec<String>,
    /// The ACME directory [default: Let's Encrypt]
    #[arg(long, env = "CONFAB_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// An e-mail address the certificate authority may write to
    #[arg(long, env = "CONFAB_ACME_CONTACT", value_name = "EMAIL")]
    pub acme_contact: Option<String>,
    /// PEM certificates to trust for a private ACME server's own HTTPS
    #[arg(long, env = "CONFAB_ACME_CA", value_name = "FILE")]
    pub acme_ca: Option<PathBuf>,
    /// Seconds between heartbeats; a client silent for 3 heartbeats is dropped [default: 15]
    #[arg(long, env = "CONFAB_HEARTBEAT_SECS", value_name = "SECS")]
    pub heartbeat_secs: Option<f64>,
    /// Serve plain HTTP on the web listener even beyond loopback: only
    /// behind a reverse proxy that terminates TLS [default: HTTPS whenever a
    /// certificate is given or the address is not loopback]
    #[arg(long, env = "CONFAB_HTTP_PLAIN")]
    pub http_plain: bool,
    /// An origin whose pages may open /ws besides the server's own (repeat, or comma-separated)
    #[arg(
        long = "allowed-origin",
        env = "CONFAB_ALLOWED_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat, or comma-separated)
    #[arg(
        long = "trusted-proxy",
        env = "CONFAB_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A token that lets Prometheus read /metrics from elsewhere
    /// (`Authorization: Bearer TOKEN`) [default: /metrics only from this machine]
    #[arg(long, env = "CONFAB_METRICS_TOKEN", value_name = "TOKEN")]
    pub metrics_token: Option<String>,
    /// Who may register: open, invite (with a token from `confab admin
    /// invite`) or closed (admins make accounts) [default: open]
    #[arg(long, env = "CONFAB_REGISTRATION", value_name = "MODE", value_parser = ["open", "invite", "closed"])]
    pub registration: Option<String>,
    /// Do not let visitors in
    #[arg(long, env = "CONFAB_NO_VISITORS")]
    pub no_visitors: bool,
    /// The channel a fresh server creates and new accounts join; "" for none [default: general]
    #[arg(long, env = "CONFAB_FIRST_CHANNEL", value_name = "NAME")]
    pub first_channel: Option<String>,
    /// Session tokens older than this many days no longer log in [default: no expiry]
    #[arg(long, env = "CONFAB_TOKEN_MAX_AGE_DAYS", value_name = "DAYS")]
    pub token_max_age_days: Option<f64>,
    /// Largest file a user may upload, in megabytes [default: 100]
    #[arg(long, env = "CONFAB_MAX_FILE_MB", value_name = "MB")]
    pub max_file_mb: Option<f64>,
    /// What one user may store in all, in megabytes; 0 for no limit [default: 1000]
    #[arg(long, env = "CONFAB_FILE_QUOTA_MB", value_name = "MB")]
    pub file_quota_mb: Option<f64>,
    /// Only files of these types, detected from their content, e.g.
    /// `image/*,application/pdf` [default: any]
    #[arg(
        long,
        env = "CONFAB_FILE_TYPES",
        value_name = "TYPES",
        value_delimiter = ','
    )]
    pub file_types: Option<Vec<String>>,
    /// Turn the rate limits off (for benchmarks: thousands of clients from one address)
    #[arg(long, env = "CONFAB_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// Do not read console commands from the terminal
    #[arg(long, env = "CONFAB_NO_CONSOLE")]
    pub no_console: bool,
}

/// The config file's keys: the same settings as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub tcp: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub udp: Option<String>,
    pub turn: Option<String>,
    pub turn_public_ip: Option<std::net::IpAddr>,
    pub turn_transports: Option<String>,
    pub stream_viewers: Option<u32>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub heartbeat_secs: Option<f64>,
    pub outbox_bytes: Option<usize>,
    pub http_plain: Option<bool>,
    pub http_idle_secs: Option<f64>,
    pub allowed_origins: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    pub rate_limits: Option<bool>,
    pub metrics_token: Option<String>,
    pub registration: Option<String>,
    pub visitors: Option<bool>,
    pub first_channel: Option<String>,
    pub token_max_age_days: Option<f64>,
    pub max_file_mb: Option<f64>,
    pub file_quota_mb: Option<f64>,
    pub file_types: Option<Vec<String>>,
    pub domains: Option<Vec<String>>,
    pub acme_directory: Option<String>,
    pub acme_contact: Option<String>,
    pub acme_ca: Option<PathBuf>,
}

fn read_file_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
}

/// Flags (and their variables, which clap has already applied) win over the file.
pub fn resolve(args: &ServeArgs) -> Result<Config> {
    let file = match &args.config {
        Some(path) => read_file_config(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("confab-data"));
    let mut config = Config::new(data_dir);
    if let Some(a) = args.tcp.or(file.tcp) {
        config.tcp = a;
    }
    if let Some(a) = args.http.or(file.http) {
        config.http = a;
    }
    if let Some(u) = args.udp.clone().or(file.udp) {
        config.udp = match u.as_str() {
            "off" => confab_server::Udp::Off,
            addr => confab_server::Udp::At(
                addr.parse()
                    .with_context(|| format!("udp must be an address or `off`, got `{addr}`"))?,
            ),
        };
    }
    if let Some(t) = args.turn.clone().or(file.turn) {
        config.turn = match t.as_str() {
            "off" => None,
            addr => Some(
                addr.parse()
                    .with_context(|| format!("turn must be an address or `off`, got `{addr}`"))?,
            ),
        };
    }
    config.turn_public_ip = args.turn_public_ip.or(file.turn_public_ip);
    if let Some(t) = args.turn_transports {
        config.turn_transports = t;
    } else if let Some(t) = file.turn_transports {
        config.turn_transports = t.parse().map_err(anyhow::Error::msg)?;
    }
    if let Some(at) = config.turn
        && at.ip().is_unspecified()
        && config.turn_public_ip.is_none()
    {
        anyhow::bail!(
            "the TURN relay listens on every address ({at}): give the IP browsers reach it by with --turn-public-ip (turn_public_ip in the config file)"
        );
    }
    if let Some(n) = args.stream_viewers.or(file.stream_viewers) {
        anyhow::ensure!(n >= 1, "stream_viewers must be at least 1");
        config.stream_viewers = n;
    }
    config.tls_cert = args.tls_cert.clone().or(file.tls_cert);
    config.tls_key = args.tls_key.clone().or(file.tls_key);
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        anyhow::bail!("give both tls_cert and tls_key, or neither");
    }
    let domains = if args.domains.is_empty() {
        file.domains.clone().unwrap_or_default()
    } else {
        args.domains.clone()
    };
    if !domains.is_empty() {
        anyhow::ensure!(
            config.tls_cert.is_none(),
            "give domains (a certificate by ACME) or tls_cert, not both"
        );
        config.acme = Some(confab_server::Acme {
            domains,
            directory: args
                .acme_directory
                .clone()
                .or(file.acme_directory.clone())
                .unwrap_or_else(|| confab_server::LETS_ENCRYPT.to_owned()),
            contact: args
                .acme_contact
                .clone()
                .or(file.acme_contact.clone())
                .map(|c| vec![format!("mailto:{}", c.trim_start_matches("mailto:"))])
                .unwrap_or_default(),
            directory_ca: args.acme_ca.clone().or(file.acme_ca.clone()),
        });
    }
    if let Some(secs) = args.heartbeat_secs.or(file.heartbeat_secs) {
        anyhow::ensure!(
            secs > 0.0 && secs <= 3600.0,
            "heartbeat must be between 0 and 3600 seconds, got {secs}"
        );
        config.heartbeat = Duration::from_secs_f64(secs);
    }
    config.http_plain = args.http_plain || file.http_plain.unwrap_or(false);
    if let Some(secs) = file.http_idle_secs {
        anyhow::ensure!(
            secs > 0.0 && secs <= 3600.0,
            "http_idle_secs must be between 0 and 3600 seconds, got {secs}"
        );
        config.http_idle = Duration::from_secs_f64(secs);
    }
    config.allowed_origins = if args.allowed_origins.is_empty() {
        file.allowed_origins.unwrap_or_default()
    } else {
        args.allowed_origins.clone()
    };
    config.trusted_proxies = if args.trusted_proxies.is_empty() {
        file.trusted_proxies.unwrap_or_default()
    } else {
        args.trusted_proxies.clone()
    };
    config.metrics_token = args.metrics_token.clone().or(file.metrics_token);
    if let Some(mode) = args.registration.clone().or(file.registration) {
        config.registration = match mode.as_str() {
            "open" => confab_server::Registration::Open,
            "invite" => confab_server::Registration::Invite,
            "closed" => confab_server::Registration::Closed,
            other => anyhow::bail!("registration is open, invite or closed, got `{other}`"),
        };
    }
    config.visitors = !args.no_visitors && file.visitors.unwrap_or(true);
    if let Some(name) = args.first_channel.clone().or(file.first_channel) {
        let name = name.trim().trim_start_matches('#').to_owned();
        if !name.is_empty() {
            config
                .limits
                .check_channel(&name)
                .map_err(|e| anyhow::anyhow!("first_channel: {e}"))?;
        }
        config.first_channel = (!name.is_empty()).then_some(name);
    }
    if let Some(mb) = args.max_file_mb.or(file.max_file_mb) {
        anyhow::ensure!(
            mb > 0.0 && mb <= 1e6,
            "max_file_mb must be above 0 and at most 1000000, got {mb}"
        );
        config.files.max_bytes = (mb * 1e6) as u64;
    }
    if let Some(mb) = args.file_quota_mb.or(file.file_quota_mb) {
        anyhow::ensure!(mb >= 0.0, "file_quota_mb must not be negative, got {mb}");
        config.files.quota_bytes = (mb > 0.0).then_some((mb * 1e6) as u64);
    }
    if let Some(types) = args.file_types.clone().or(file.file_types) {
        for t in &types {
            let ok = t.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty() && !b.is_empty() && !a.contains('*') && (b == "*" || !b.contains('*'))
            });
            anyhow::ensure!(
                ok,
                "file_types are types such as image/png or families such as image/*, got `{t}`"
            );
        }
        config.files.allowed_types = types.into_iter().map(|t| t.trim().to_owned()).collect();
    }
    if let Some(days) = args.token_max_age_days.or(file.token_max_age_days) {
        anyhow::ensure!(
            days > 0.0 && days <= 3650.0,
            "token_max_age_days must be between 0 and 3650, got {days}"
        );
        config.token_max_age = Some(Duration::from_secs_f64(days * 86_400.0));
    }
    config.rates.enabled = !args.no_rate_limits && file.rate_limits.unwrap_or(true);
    if let Some(b) = file.outbox_bytes {
        anyhow::ensure!(
            b >= 64 * 1024,
            "outbox_bytes must be at least 65536, got {b}"
        );
        config.outbox_bytes = b;
    }
    Ok(config)
}

/// `confab config check`: the effective settings and where each came from
/// (a flag, a variable, the config file, or the default), after the same
/// checks `serve` makes.
pub fn check(args: &ServeArgs, matches: &clap::ArgMatches) -> Result<String> {
    let config = resolve(args)?;
    let in_file: toml::Table = match &args.config {
        Some(path) => toml::from_str(&std::fs::read_to_string(path)?)?,
        None => toml::Table::new(),
    };
    let source = |id: &str, key: &str, env: &str| -> String {
        use clap::parser::ValueSource;
        // Some settings are in the file only (no flag to ask about).
        let given = if id.is_empty() {
            None
        } else {
            matches.value_source(id)
        };
        match given {
            Some(ValueSource::CommandLine) => format!("--{}", id.replace('_', "-")),
            Some(ValueSource::EnvVariable) => format!("${env}"),
            _ if in_file.contains_key(key) => format!(
                "{} ({key})",
                args.config
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            _ => "default".into(),
        }
    };
    let opt = |v: &Option<PathBuf>| {
        v.as_ref()
            .map_or("-".to_owned(), |p| p.display().to_string())
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let rows: Vec<(&str, String, String)> = vec![
        (
            "data_dir",
            config.data_dir.display().to_string(),
            source("data_dir", "data_dir", "CONFAB_DATA_DIR"),
        ),
        (
            "tcp",
            config.tcp.to_string(),
            source("tcp", "tcp", "CONFAB_TCP"),
        ),
        (
            "http",
            config.http.to_string(),
            source("http", "http", "CONFAB_HTTP"),
        ),
        (
            "web over",
            if config.web_tls() {
                "HTTPS".into()
            } else {
                "plain HTTP".into()
            },
            "(from http, tls_cert, http_plain)".into(),
        ),
        (
            "udp",
            match config.udp {
                confab_server::Udp::SameAsTcp => "the TLS port's number".into(),
                confab_server::Udp::At(a) => a.to_string(),
                confab_server::Udp::Off => "off".into(),
            },
            source("udp", "udp", "CONFAB_UDP"),
        ),
        (
            "turn",
            config.turn.map_or("off".to_owned(), |a| a.to_string()),
            source("turn", "turn", "CONFAB_TURN"),
        ),
        (
            "turn_public_ip",
            config
                .turn_public_ip
                .map_or("- (the address it listens on)".to_owned(), |a| {
                    a.to_string()
                }),
            source("turn_public_ip", "turn_public_ip", "CONFAB_TURN_PUBLIC_IP"),
        ),
        (
            "stream_viewers",
            config.stream_viewers.to_string(),
            source("stream_viewers", "stream_viewers", "CONFAB_STREAM_VIEWERS"),
        ),
        (
            "tls_cert",
            config
                .tls_cert
                .as_ref()
                .map_or("self-signed, in the data dir".to_owned(), |p| {
                    p.display().to_string()
                }),
            source("tls_cert", "tls_cert", "CONFAB_TLS_CERT"),
        ),
        (
            "tls_key",
            opt(&config.tls_key),
            source("tls_key", "tls_key", "CONFAB_TLS_KEY"),
        ),
        (
            "http_plain",
            config.http_plain.to_string(),
            source("http_plain", "http_plain", "CONFAB_HTTP_PLAIN"),
        ),
        (
            "http_idle_secs",
            config.http_idle.as_secs_f64().to_string(),
            source("", "http_idle_secs", ""),
        ),
        (
            "heartbeat_secs",
            config.heartbeat.as_secs_f64().to_string(),
            source("heartbeat_secs", "heartbeat_secs", "CONFAB_HEARTBEAT_SECS"),
        ),
        (
            "outbox_bytes",
            config.outbox_bytes.to_string(),
            source("", "outbox_bytes", ""),
        ),
        (
            "allowed_origins",
            list(&config.allowed_origins),
            source(
                "allowed_origins",
                "allowed_origins",
                "CONFAB_ALLOWED_ORIGINS",
            ),
        ),
        (
            "trusted_proxies",
            list(
                &config
                    .trusted_proxies
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>(),
            ),
            source(
                "trusted_proxies",
                "trusted_proxies",
                "CONFAB_TRUSTED_PROXIES",
            ),
        ),
        (
            "registration",
            format!("{:?}", config.registration).to_lowercase(),
            source("registration", "registration", "CONFAB_REGISTRATION"),
        ),
        (
            "visitors",
            config.visitors.to_string(),
            source("no_visitors", "visitors", "CONFAB_NO_VISITORS"),
        ),
        (
            "first_channel",
            config
                .first_channel
                .as_ref()
                .map_or("- (none)".to_owned(), |c| format!("#{c}")),
            source("first_channel", "first_channel", "CONFAB_FIRST_CHANNEL"),
        ),
        (
            "max_file_mb",
            (config.files.max_bytes as f64 / 1e6).to_string(),
            source("max_file_mb", "max_file_mb", "CONFAB_MAX_FILE_MB"),
        ),
        (
            "file_quota_mb",
            config
                .files
                .quota_bytes
                .map_or("0 (no limit)".to_owned(), |q| (q as f64 / 1e6).to_string()),
            source("file_quota_mb", "file_quota_mb", "CONFAB_FILE_QUOTA_MB"),
        ),
        (
            "file_types",
            if config.files.allowed_types.is_empty() {
                "any".to_owned()
            } else {
                config.files.allowed_types.join(",")
            },
            source("file_types", "file_types", "CONFAB_FILE_TYPES"),
        ),
        (
            "token_max_age_days",
            config.token_max_age.map_or("never expire".to_owned(), |d| {
                (d.as_secs_f64() / 86_400.0).to_string()
            }),
            source(
                "token_max_age_days",
                "token_max_age_days",
                "CONFAB_TOKEN_MAX_AGE_DAYS",
            ),
        ),
        (
            "rate_limits",
            if config.rates.enabled {
                "on".into()
            } else {
                "off".into()
            },
            source("no_rate_limits", "rate_limits", "CONFAB_NO_RATE_LIMITS"),
        ),
        (
            "metrics_token",
            if config.metrics_token.is_some() {
                "set (hidden)".into()
            } else {
                "- (/metrics from this machine only)".into()
            },
            source("metrics_token", "metrics_token", "CONFAB_METRICS_TOKEN"),
        ),
    ];
    let mut out = String::new();
    for (key, value, from) in rows {
        out.push_str(&format!("{key:<20} {value:<40} {from}\n"));
    }
    Ok(out)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let config = resolve(&args)?;
    // One file descriptor per connection: allow as many as the system lets us.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "could not raise the open-file limit");
    }
    let running = confab_server::start(config).await?;
    let signals = signals()?;
    // Tools and tests read this line to learn the bound ports; clients show
    // the fingerprint when first meeting a self-signed certificate. One line,
    // one write: a reader that stops after it must not break a second write.
    let scheme = if running.web_tls { "https" } else { "http" };
    println!(
        "confab listening tcp={} http={} udp={} tls-sha256={} web={scheme}://{}/ turn={}",
        running.tcp_addr,
        running.http_addr,
        running
            .udp_addr
            .map_or_else(|| "off".to_owned(), |a| a.to_string()),
        running.cert_fingerprint,
        running.http_addr,
        running
            .turn_addr
            .map_or_else(|| "off".to_owned(), |a| a.to_string()),
    );
    std::io::stdout().flush()?;
    if let Some(code) = &running.setup_code {
        // Listening on every address, the link names this machine by the
        // name people reach it by, which only they know.
        let host = if running.http_addr.ip().is_unspecified() {
            format!("YOUR-SERVER:{}", running.http_addr.port())
        } else {
            running.http_addr.to_string()
        };
        eprintln!(
            "\nThis server has no admin yet. To become its admin, open\n\n    {scheme}://{host}/#setup={code}\n\n\
             and choose a name and password (or register with `confab login --register NAME --setup {code}`,\n\
             or `confab chat --setup {code}`). The code works once; a restart before then prints a new one.\n"
        );
    }

    let handle = running.handle();
    tokio::spawn(on_signal(handle.clone(), signals));
    if !args.no_console && std::io::stdin().is_terminal() {
        spawn_console(handle.clone());
    }
    running.wait().await;
    Ok(())
}

/// The signals the server acts on, registered before the listening line
/// is printed: a tool that reads the line and at once sends SIGHUP or
/// SIGTERM must not meet the default action (which ends the process).
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
fn signals() -> Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Signals {
        int: signal(SignalKind::interrupt())?,
        term: signal(SignalKind::terminate())?,
        hup: signal(SignalKind::hangup())?,
    })
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
fn signals() -> Result<Signals> {
    Ok(Signals)
}

async fn on_signal(handle: Handle, signals: Signals) {
    #[cfg(unix)]
    {
        let Signals {
            mut int,
            mut term,
            mut hup,
        } = signals;
        loop {
            tokio::select! {
                _ = int.recv() => return handle.shutdown("the server received SIGINT"),
                _ = term.recv() => return handle.shutdown("the server received SIGTERM"),
                // SIGHUP: read the certificate files again.
                _ = hup.recv() => match handle.reload_tls() {
                    Ok(fp) => tracing::info!(fingerprint = %fp, "TLS certificate reloaded (SIGHUP)"),
                    Err(e) => tracing::warn!(error = %e, "SIGHUP: the TLS certificate could not be reloaded; keeping the old one"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = signals;
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown("the server was interrupted");
    }
}

/// Reads console lines on a plain thread (a blocked stdin read must not hold
/// up the runtime's shutdown) and runs them on the runtime.
fn spawn_console(handle: Handle) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    eprintln!("console ready: {}", console::HELP);
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let out = console::run_command(&handle, &line).await;
            if !out.is_empty() {
                println!("{out}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("confab.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/confab\"\ntcp = \"0.0.0.0:7000\"\nheartbeat_secs = 5\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            tcp: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        };
        let c = resolve(&args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/confab"));
        assert_eq!(c.tcp, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.heartbeat, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("confab.toml");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let err = resolve(&ServeArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `prot`"),
            "{err:#}"
        );
    }
}
