//! Passwords (argon2id) and session tokens. Hashing is slow on purpose, so
//! it runs on the blocking pool. Tokens are 256 random bits; the store keeps
//! only their SHA-256, so a stolen database holds no usable token.

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Working memory for argon2, kept between hashes. Allocating ~19 MiB per
/// login and freeing it leaves that memory in the allocator's per-thread
/// arenas: measured, 20 logins took the server from 18 MiB to 215 MiB RSS.
/// At most one buffer per hashing slot is ever in use, so the pool stays small.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let pooled = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut mem = pooled
        .filter(|m| m.len() >= blocks)
        .unwrap_or_else(|| vec![Block::default(); blocks]);
    let out = f(&mut mem[..blocks]);
    MEMORY.lock().unwrap_or_else(|p| p.into_inner()).push(mem);
    out
}

/// Hashes a password with argon2id (default parameters) and a random salt,
/// as a standard PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; 32];
    with_memory(params.block_count(), |mem| {
        argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, mem)
    })
    .expect("argon2 with default parameters");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("default parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("32-byte output")),
    }
    .to_string()
}

/// Whether `password` matches the stored PHC hash (argon2 of any variant and
/// parameters). The comparison is constant-time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let check = || -> Option<bool> {
        let h = PasswordHash::new(hash).ok()?;
        let algorithm = Algorithm::try_from(h.algorithm).ok()?;
        let version = h
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)
            .ok()?;
        let params = Params::try_from(&h).ok()?;
        let mut salt = [0u8; 64];
        let salt = h.salt?.decode_b64(&mut salt).ok()?;
        let expected = h.hash?;
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        with_memory(params.block_count(), |mem| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, mem)
        })
        .ok()?;
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// Each argon2 hash takes about 19 MiB and a core for tens of milliseconds;
/// a burst of logins must queue here rather than run hundreds at once on the
/// blocking pool and exhaust memory.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// Password checks that may wait for a slot (`RateConfig::password_line`;
/// like the slots, one line for the process). Beyond that a check is
/// refused at once (`rate_limited`) rather than queued without bound: the
/// rate limits keep any one address to a few, so this bounds a flood from
/// many addresses, and a person's login waits behind at most this many.
static MAX_WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(64);

pub(crate) fn set_password_line(max_waiting: usize) {
    MAX_WAITING.store(max_waiting, std::sync::atomic::Ordering::Relaxed);
}

/// Checks waiting for or holding a slot.
static IN_LINE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Too many password checks are already waiting.
pub(crate) struct Busy;

impl From<Busy> for crate::ApiError {
    fn from(_: Busy) -> Self {
        crate::ApiError::rate_limited(
            "the server is busy checking passwords; try again in a second",
            std::time::Duration::from_secs(1),
        )
    }
}

async fn run_hashing<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
    use std::sync::atomic::Ordering;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let max = cores.saturating_add(MAX_WAITING.load(Ordering::Relaxed));
    if IN_LINE.fetch_add(1, Ordering::AcqRel) >= max {
        IN_LINE.fetch_sub(1, Ordering::AcqRel);
        return Err(Busy);
    }
    // Leaves the line however this ends (a dropped future included).
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_LINE.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
    let _leave = Leave;
    let _slot = hashing_slots()
        .acquire()
        .await
        .expect("the semaphore is never closed");
    Ok(tokio::task::spawn_blocking(f)
        .await
        .expect("hashing does not panic"))
}

pub(crate) async fn hash_password_async(password: String) -> Result<String, Busy> {
    run_hashing(move || hash_password(&password)).await
}

/// Checks `password` against `hash`; with no hash (an unknown user) it checks
/// against a fixed one and fails, taking as long as a real check.
pub(crate) async fn verify_password_async(
    password: String,
    hash: Option<String>,
) -> Result<bool, Busy> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    run_hashing(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let dummy = DUMMY.get_or_init(|| hash_password("no user has this password"));
            let _ = verify_password(&password, dummy);
            false
        }
    })
    .await
}

/// A new token and the hash to store for it.
pub(crate) fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// A fresh server's one-time setup code: 80 random bits, short enough to
/// type.
pub(crate) fn new_setup_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("pa55word");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pa55word", &parsed)
                .is_ok(),
            "the argon2 crate accepts ours"
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"pa55word", &salt)
            .unwrap()
            .to_string();
        assert!(
            verify_password("pa55word", &theirs),
            "we accept the argon2 crate's"
        );
        assert!(!verify_password("pa55wore", &theirs));
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
