//! The server's counters.

use std::sync::atomic::AtomicU64;

/// Counters for the console and, later, `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub connections_total: AtomicU64,
    pub messages: AtomicU64,
    pub events_dropped: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
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
}
