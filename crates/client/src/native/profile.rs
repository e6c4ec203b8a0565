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
    /// A name is a name, never a path: letters, digits, `.`, `-` and `_`,
    /// not starting with a dot. The folders are made private to their
    /// owner (the cache holds a live session token).
    pub fn open(root: &Path, name: Option<&str>, server: &str) -> std::io::Result<Profile> {
        let name = match name {
            Some(n) => check_name(n)?.to_owned(),
            None => server
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
        };
        let fresh_root = !root.exists();
        let profiles = root.join("profiles");
        let dir = profiles.join(&name);
        std::fs::create_dir_all(&dir)?;
        // The root only if we made it: it may be a folder of the user's.
        if fresh_root {
            private_dir(root)?;
        }
        for d in [&profiles, &dir] {
            private_dir(d)?;
        }
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

/// Longest profile name.
const MAX_NAME: usize = 64;

fn check_name(name: &str) -> std::io::Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(name)
    } else {
        let shown: String = name.chars().take(40).collect();
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a profile name has 1 to {MAX_NAME} letters, digits, `.`, `-` or `_` and does not start with `.` (got `{shown}`)"
            ),
        ))
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let _ = dir;
    Ok(())
}
