//! `/metrics` in the Prometheus text format (OpenMetrics 1.0, which
//! Prometheus reads), rendered from [`crate::Stats`] and the live state on
//! every scrape; and who may read it.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::Shared;

/// The content type of what [`render`] returns.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether a request may read `/metrics`: with the configured token, or,
/// when none is configured, from this machine directly.
pub(crate) fn allowed(shared: &Shared, peer: IpAddr, authorization: Option<&str>) -> bool {
    let config = &shared.config;
    match &config.metrics_token {
        Some(token) => authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes())),
        None => peer.is_loopback() && !config.trusted_proxies.contains(&peer),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn render(shared: &Shared) -> String {
    let s = &shared.hub.stats;
    let mut r = Registry::with_prefix("confab");
    let counter = |r: &mut Registry, name: &str, help: &str, v: &std::sync::atomic::AtomicU64| {
        r.register(name, help, ConstCounter::new(v.load(Relaxed)));
    };
    let connections = Family::<[(&'static str, &'static str); 1], Gauge>::default();
    connections
        .get_or_create(&[("transport", "tls")])
        .set(s.open_tls.load(Relaxed));
    connections
        .get_or_create(&[("transport", "websocket")])
        .set(s.open_ws.load(Relaxed));
    r.register(
        "connections",
        "Open client connections, by transport",
        connections,
    );
    counter(
        &mut r,
        "connections_opened",
        "Client connections accepted",
        &s.connections_total,
    );
    r.register(
        "users_online",
        "Users shown online (invisible users included)",
        ConstGauge::new(shared.hub.presence.online_summary().len() as i64),
    );
    counter(
        &mut r,
        "logins",
        "Successful logins (password or token)",
        &s.logins,
    );
    counter(
        &mut r,
        "login_failures",
        "Failed logins (password or token)",
        &s.login_failures,
    );
    counter(
        &mut r,
        "registrations",
        "Accounts registered",
        &s.registrations,
    );
    counter(
        &mut r,
        "messages",
        "Log entries stored (messages and system events)",
        &s.messages,
    );
    counter(&mut r, "events", "Events queued to connections", &s.events);
    counter(
        &mut r,
        "events_dropped",
        "Events dropped for a connection that fell behind",
        &s.events_dropped,
    );
    counter(
        &mut r,
        "lagged",
        "`lagged` events sent (a connection fell behind and syncs)",
        &s.lagged,
    );
    counter(
        &mut r,
        "received_bytes",
        "Bytes of frames received from clients",
        &s.bytes_in,
    );
    counter(
        &mut r,
        "sent_bytes",
        "Bytes of frames sent to clients",
        &s.bytes_out,
    );
    counter(
        &mut r,
        "rate_limited",
        "Requests refused by a rate limit",
        &s.rate_limited,
    );
    counter(
        &mut r,
        "uploads_started",
        "Uploads begun",
        &s.uploads_started,
    );
    counter(
        &mut r,
        "uploads_finished",
        "Uploads verified and stored as files",
        &s.uploads_finished,
    );
    counter(
        &mut r,
        "uploads_refused",
        "Uploads refused when finished (hash, type or image size)",
        &s.uploads_refused,
    );
    counter(
        &mut r,
        "upload_bytes",
        "Bytes received for uploads",
        &s.upload_bytes,
    );
    counter(&mut r, "downloads", "File downloads served", &s.downloads);
    counter(
        &mut r,
        "streams_started",
        "Live streams started",
        &s.streams_started,
    );
    counter(
        &mut r,
        "stream_signals",
        "Signalling messages carried between stream hosts and viewers",
        &s.signals,
    );
    let relayed =
        prometheus_client::metrics::counter::ConstCounter::new(shared.services.streams.relayed());
    r.register(
        "turn_relayed_bytes",
        "Bytes the TURN relay carried for live streams",
        relayed,
    );
    let (live, watching) = shared.services.streams.counts();
    r.register(
        "streams_live",
        "Live streams now",
        ConstGauge::new(live as i64),
    );
    r.register(
        "stream_viewers",
        "Viewers of live streams now",
        ConstGauge::new(watching as i64),
    );
    counter(
        &mut r,
        "udp_received",
        "Typing datagrams accepted",
        &s.udp_in,
    );
    counter(&mut r, "udp_sent", "Typing datagrams sent", &s.udp_out);
    let refused = Family::<
        [(&'static str, &'static str); 1],
        prometheus_client::metrics::counter::Counter,
    >::default();
    for (why, v) in [
        ("forged", &s.udp_forged),
        ("replayed", &s.udp_replayed),
        ("unknown_session", &s.udp_unknown),
        ("malformed", &s.udp_malformed),
    ] {
        refused
            .get_or_create(&[("reason", why)])
            .inc_by(v.load(Relaxed));
    }
    r.register("udp_refused", "Datagrams refused, by reason", refused);
    r.register(
        "delivery_seconds",
        "From a log entry's arrival to its event queued for every recipient (commit included)",
        s.delivery.clone(),
    );
    r.register(
        "commit_seconds",
        "Time to store one batch of log entries",
        s.commit.clone(),
    );
    r.register(
        "uptime_seconds",
        "Seconds since the server started",
        ConstGauge::new(shared.started.elapsed().as_secs() as i64),
    );
    r.register(
        "rate_limit_keys",
        "Addresses and users with a rate-limit bucket in use",
        ConstGauge::new(shared.rates.keys() as i64),
    );
    if let Some(rss) = resident_bytes() {
        r.register(
            "resident_memory_bytes",
            "Resident memory of the server process",
            ConstGauge::new(rss as i64),
        );
    }
    let mut out = String::new();
    encode(&mut out, &r).expect("writing to a String does not fail");
    out
}

/// The process's resident memory (Linux: VmRSS in /proc/self/status).
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The delivery histogram's 50th and 99th percentiles in seconds (the
/// upper bound of the bucket each falls in; 0 before any delivery).
pub(crate) fn delivery_percentiles(stats: &crate::Stats) -> (f64, f64) {
    use prometheus_client::encoding::text::encode;
    // The histogram's buckets are read back from its own encoding: the
    // crate keeps them private.
    let mut r = Registry::default();
    r.register("d", "", stats.delivery.clone());
    let mut text = String::new();
    if encode(&mut text, &r).is_err() {
        return (0.0, 0.0);
    }
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("d_bucket{le=\"") else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(0.0)
        };
        buckets.push((le, count.trim().parse().unwrap_or(0.0)));
    }
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return (0.0, 0.0);
    }
    let at = |q: f64| {
        let want = q * total;
        buckets
            .iter()
            .find(|(_, c)| *c >= want)
            .map_or(0.0, |(le, _)| if le.is_finite() { *le } else { 60.0 })
    };
    (at(0.50), at(0.99))
}
