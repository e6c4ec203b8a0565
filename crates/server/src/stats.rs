//! The server's counters and histograms: the console's `stats` and
//! `/metrics` (see `metrics.rs`) read them.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub struct Stats {
    pub connections_total: AtomicU64,
    /// Open connections, by transport.
    pub open_tls: AtomicI64,
    pub open_ws: AtomicI64,
    /// Log entries stored (messages and system events).
    pub messages: AtomicU64,
    /// Events queued to connections, and those dropped for a full queue.
    pub events: AtomicU64,
    pub events_dropped: AtomicU64,
    /// `lagged` events sent (a connection fell behind and must sync).
    pub lagged: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Logins (password, token) that succeeded and failed; new accounts.
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub registrations: AtomicU64,
    /// Datagrams accepted on the UDP path, and typing notices sent on it.
    pub udp_in: AtomicU64,
    pub udp_out: AtomicU64,
    /// Of `udp_in`, typing notices.
    pub udp_typing_in: AtomicU64,
    /// Datagrams refused: sealed with another key or bent in transit,
    /// seen before, for no known session, not ours at all.
    pub udp_forged: AtomicU64,
    pub udp_replayed: AtomicU64,
    pub udp_unknown: AtomicU64,
    pub udp_malformed: AtomicU64,
    /// Requests refused by a rate limit (or a full line of password checks).
    pub rate_limited: AtomicU64,
    /// Uploads begun, finished (stored as files) and refused at the end (a
    /// wrong hash, a type not allowed, an image too big); bytes received
    /// for uploads; downloads served.
    pub uploads_started: AtomicU64,
    pub uploads_finished: AtomicU64,
    pub uploads_refused: AtomicU64,
    pub upload_bytes: AtomicU64,
    pub downloads: AtomicU64,
    /// Live streams started, and signalling messages carried.
    pub streams_started: AtomicU64,
    pub signals: AtomicU64,
    /// Seconds from a log entry's arrival to its event queued for every
    /// connection of its audience (the store's commit included).
    pub delivery: Histogram,
    /// Seconds per commit of a batch of log entries.
    pub commit: Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        // 100 µs to about 13 s, doubling.
        let buckets = || exponential_buckets(0.0001, 2.0, 18);
        Stats {
            connections_total: AtomicU64::new(0),
            open_tls: AtomicI64::new(0),
            open_ws: AtomicI64::new(0),
            messages: AtomicU64::new(0),
            events: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            logins: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            registrations: AtomicU64::new(0),
            udp_in: AtomicU64::new(0),
            udp_out: AtomicU64::new(0),
            udp_typing_in: AtomicU64::new(0),
            udp_forged: AtomicU64::new(0),
            udp_replayed: AtomicU64::new(0),
            udp_unknown: AtomicU64::new(0),
            udp_malformed: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            uploads_started: AtomicU64::new(0),
            uploads_finished: AtomicU64::new(0),
            uploads_refused: AtomicU64::new(0),
            upload_bytes: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            streams_started: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            delivery: Histogram::new(buckets()),
            commit: Histogram::new(buckets()),
        }
    }
}
