//! Profiles: one directory per server (or per name given), holding the
//! SQLite cache (messages, outbox, session token, pinned certificate).
//!
//! The root is `$CONFAB_HOME` if set, else the user's data directory
//! (`~/.local/share/confab` on Linux).

use std::path::{Path, PathBuf};

use crate::cache::{Cache, CacheError};
use crate::native::SqliteCache;

/// A profile directory.
#[derive(Debug, Clone)]
pub struct Profile {
    pub dir: PathBuf,
    /// The server this profile talks to, `host:port`.
    pub server: String,
}

const KEY_PIN: &str = "pinned_fingerprint";

impl Profile {
    /// Where profiles live.
    pub fn root() -> PathBuf {
        if let Some(home) = std::env::var_os("CONFAB_HOME") {
            return PathBuf::from(home);
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("confab")
    }

    /// The profile `name` (default: named after the server) under `root`.
    pub fn open(root: &Path, name: Option<&str>, server: &str) -> std::io::Result<Profile> {
        let name = name.map_or_else(
            || {
                server
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            },
            str::to_owned,
        );
        let dir = root.join("profiles").join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Profile {
            dir,
            server: server.to_owned(),
        })
    }

    /// The profile's cache.
    pub fn cache(&self) -> Result<SqliteCache, CacheError> {
        SqliteCache::open(&self.dir.join("cache.sqlite3"))
    }

    /// The certificate fingerprint trusted for this server.
    pub fn pinned(cache: &dyn Cache) -> Result<Option<String>, CacheError> {
        cache.get(KEY_PIN)
    }

    /// Trusts `fingerprint` from now on (or forgets the pin).
    pub fn pin(cache: &mut dyn Cache, fingerprint: Option<&str>) -> Result<(), CacheError> {
        cache.set(KEY_PIN, fingerprint)
    }
}
