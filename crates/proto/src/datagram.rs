//! Typing datagrams: the UDP companion of the TLS transport.
//!
//! A native client that logged in over TLS asks `udp_open` and gets a
//! session id. Both sides take 64 bytes from that TLS session with the TLS
//! exporter (RFC 8446, label [`EXPORTER_LABEL`], no context) and derive
//! the path's two keys from them with HKDF-SHA256, the session id as salt
//! ([`keys`]): one seals what the client sends, the other what the server
//! sends. A new path (a second `udp_open`, a new login on the same
//! connection) has a new session id and so new keys, so counters starting
//! again from 1 never reuse a nonce under a key. Every datagram is then
//!
//! ```text
//! magic "CF" | version 1 | direction (0 to the server, 1 to the client)
//! | session id (8 bytes, big-endian) | counter (8 bytes, big-endian)
//! | ChaCha20-Poly1305 ciphertext of the JSON payload, with its 16-byte tag
//! ```
//!
//! The first 20 bytes are the header and the AEAD's associated data; the
//! nonce is four zero bytes and the counter. Each side counts from 1 and
//! never reuses a counter; a receiver refuses a datagram it cannot open
//! (forged, or sealed for another session), one with a counter it has
//! already accepted or that is older than its window (replayed), and one
//! from a session it does not know. Losing a datagram is harmless: they
//! carry only keepalives and typing notices.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use serde::{Deserialize, Serialize};

use crate::ConvId;

/// The TLS exporter label both sides derive the keys with.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-confab-udp-v1";
/// Bytes of exporter output: two 32-byte keys.
pub const SECRET_LEN: usize = 64;
/// Header bytes before the ciphertext.
pub const HEADER_LEN: usize = 20;
/// The AEAD tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// No datagram is larger (the payloads are tiny; this stays under every
/// path MTU).
pub const MAX_DATAGRAM: usize = 1200;
const MAGIC: &[u8; 2] = b"CF";
const VERSION: u8 = 1;

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer = 0,
    ToClient = 1,
}

/// What a datagram says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Payload {
    /// Client: "here I am" (also keeps a NAT mapping open). `rx`: I have
    /// received your datagrams lately, so send me typing notices this way.
    Ping {
        #[serde(default)]
        rx: bool,
    },
    /// Server: the answer to a ping.
    Pong {},
    /// Client: I am typing in `conv`. Server: `user` is typing in `conv`.
    Typing {
        conv: ConvId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
}

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a Confab datagram (bad length, magic, version or direction)")]
    Malformed,
    #[error("no such UDP session")]
    UnknownSession,
    #[error("the seal does not open: forged, or for another session")]
    Forged,
    #[error("already received, or older than the window")]
    Replayed,
}

/// The header fields of a datagram, read before anything is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub direction: Direction,
    pub session: u64,
    pub counter: u64,
}

/// Reads the header of `datagram` (nothing in it is authentic yet).
pub fn header(datagram: &[u8]) -> Result<Header, Refused> {
    if datagram.len() < HEADER_LEN + TAG_LEN
        || datagram.len() > MAX_DATAGRAM
        || &datagram[..2] != MAGIC
        || datagram[2] != VERSION
    {
        return Err(Refused::Malformed);
    }
    let direction = match datagram[3] {
        0 => Direction::ToServer,
        1 => Direction::ToClient,
        _ => return Err(Refused::Malformed),
    };
    let u64_at = |i: usize| u64::from_be_bytes(datagram[i..i + 8].try_into().expect("8 bytes"));
    Ok(Header {
        direction,
        session: u64_at(4),
        counter: u64_at(12),
    })
}

/// One direction's key.
pub struct Key(LessSafeKey);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// A path's two keys (to the server, to the client), from its TLS
/// session's exporter output and its session id: HKDF-SHA256 with the
/// session id (8 bytes, big-endian) as salt, and the info strings
/// `confab udp v1 to server` and `confab udp v1 to client`.
pub fn keys(secret: &[u8; SECRET_LEN], session: u64) -> (Key, Key) {
    let prk = Salt::new(HKDF_SHA256, &session.to_be_bytes()).extract(secret);
    let key = |info: &[u8]| {
        let info = [info];
        let okm = prk
            .expand(&info, &CHACHA20_POLY1305)
            .expect("32 bytes is within HKDF's limit");
        Key(LessSafeKey::new(UnboundKey::from(okm)))
    };
    (
        key(b"confab udp v1 to server"),
        key(b"confab udp v1 to client"),
    )
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Seals `payload` as datagram number `counter` of `session`.
pub fn seal(
    key: &Key,
    direction: Direction,
    session: u64,
    counter: u64,
    payload: &Payload,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(direction as u8);
    out.extend_from_slice(&session.to_be_bytes());
    out.extend_from_slice(&counter.to_be_bytes());
    let mut body = serde_json::to_vec(payload).expect("payloads serialize");
    let aad: [u8; HEADER_LEN] = out[..HEADER_LEN].try_into().expect("header");
    key.0
        .seal_in_place_append_tag(nonce(counter), Aad::from(aad), &mut body)
        .expect("sealing cannot fail for a small payload");
    out.extend_from_slice(&body);
    out
}

/// Opens a datagram whose header was read with [`header`]: checks the seal
/// and the replay window, then reads the payload.
pub fn open(
    key: &Key,
    window: &mut Window,
    header: &Header,
    datagram: &[u8],
) -> Result<Payload, Refused> {
    if !window.fresh(header.counter) {
        return Err(Refused::Replayed);
    }
    let aad: [u8; HEADER_LEN] = datagram[..HEADER_LEN].try_into().expect("header");
    let mut body = datagram[HEADER_LEN..].to_vec();
    let plain = key
        .0
        .open_in_place(nonce(header.counter), Aad::from(aad), &mut body)
        .map_err(|_| Refused::Forged)?;
    let payload = serde_json::from_slice(plain).map_err(|_| Refused::Malformed)?;
    // Only an authentic datagram moves the window.
    window.accept(header.counter);
    Ok(payload)
}

/// The replay window: the highest counter accepted and which of the 64
/// before it were seen (as in IPsec and WireGuard).
#[derive(Debug, Clone, Default)]
pub struct Window {
    top: u64,
    seen: u64,
}

impl Window {
    fn fresh(&self, n: u64) -> bool {
        if n == 0 {
            return false;
        }
        if n > self.top {
            return true;
        }
        let back = self.top - n;
        back < 64 && self.seen & (1 << back) == 0
    }

    fn accept(&mut self, n: u64) {
        if n > self.top {
            let shift = n - self.top;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.top = n;
        } else {
            self.seen |= 1 << (self.top - n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> [u8; SECRET_LEN] {
        [b; SECRET_LEN]
    }

    #[test]
    fn sealed_datagrams_open_once_and_only_with_the_right_key() {
        let (to_server, _) = keys(&secret(7), 42);
        let typing = Payload::Typing {
            conv: 3,
            user: None,
        };
        let d = seal(&to_server, Direction::ToServer, 42, 1, &typing);
        let h = header(&d).unwrap();
        assert_eq!(
            h,
            Header {
                direction: Direction::ToServer,
                session: 42,
                counter: 1
            }
        );
        let mut w = Window::default();
        assert_eq!(open(&to_server, &mut w, &h, &d), Ok(typing.clone()));
        assert_eq!(open(&to_server, &mut w, &h, &d), Err(Refused::Replayed));

        // Another TLS session's keys, or another path's of the same TLS
        // session, do not open it; a flipped bit is caught.
        let (other, _) = keys(&secret(8), 42);
        let (next_path, _) = keys(&secret(7), 43);
        let d2 = seal(&to_server, Direction::ToServer, 42, 2, &typing);
        let h2 = header(&d2).unwrap();
        assert_eq!(
            open(&other, &mut w, &h2, &d2),
            Err(Refused::Forged),
            "a foreign key"
        );
        assert_eq!(open(&next_path, &mut w, &h2, &d2), Err(Refused::Forged));
        let mut bent = d2.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert_eq!(open(&to_server, &mut w, &h2, &bent), Err(Refused::Forged));
        // A forgery did not spend the counter: the real one still opens.
        assert!(open(&to_server, &mut w, &h2, &d2).is_ok());
        // The header is authenticated too: a changed counter does not open.
        let mut moved = d2.clone();
        moved[19] = 9;
        let hm = header(&moved).unwrap();
        assert_eq!(open(&to_server, &mut w, &hm, &moved), Err(Refused::Forged));

        assert_eq!(header(b"CF"), Err(Refused::Malformed));
        assert_eq!(header(&[0u8; 40]), Err(Refused::Malformed));
    }

    #[test]
    fn the_window_takes_late_datagrams_once_and_refuses_old_ones() {
        let mut w = Window::default();
        for n in [1, 3, 2, 100, 50, 99] {
            assert!(w.fresh(n), "{n}");
            w.accept(n);
        }
        for n in [1, 2, 3, 50, 99, 100, 0] {
            assert!(!w.fresh(n), "{n} again");
        }
        assert!(w.fresh(98) && w.fresh(37), "late but inside the window");
        assert!(!w.fresh(36), "older than the window");
    }
}
