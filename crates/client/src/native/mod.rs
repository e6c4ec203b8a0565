//! What a native client (the terminal client and the scripting commands)
//! needs around the core: a SQLite [`SqliteCache`], a TLS connection with
//! trust on first use ([`tls`]), profiles on disk ([`profile`]) and the tokio
//! [`driver`] that connects the core to the network.

pub mod driver;
pub mod profile;
pub mod sqlite;
pub mod tls;
pub mod transfer;

pub use driver::{Shared, drive};
pub use profile::Profile;
pub use sqlite::SqliteCache;
pub use tls::{Connector, TrustError, Udp};

/// Milliseconds since the Unix epoch: the clock the core is driven with.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
