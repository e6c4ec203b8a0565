//! The client side of the UDP path for typing notices (see
//! `confab_proto::datagram` for the format). Sans-I/O like the rest of the
//! core: it makes datagrams for the driver to send and reads the ones it
//! receives.
//!
//! The path is "up" while the server has answered a ping lately; until
//! then, and whenever it goes quiet (UDP blocked, a NAT mapping lost),
//! typing notices go over the TLS stream instead. Pings every
//! [`KEEPALIVE_MS`] keep a NAT mapping open and tell the server whether
//! its datagrams arrive (`rx`), so that it knows which way to send.

use confab_proto::ConvId;
use confab_proto::datagram::{self, Direction, Key, Payload, Refused, Window};

/// Between pings once the path is up.
pub const KEEPALIVE_MS: u64 = 15_000;
/// Between pings while it is not: quick at first, so that the path comes
/// up within a second or two of logging in.
const PROBE_MS: u64 = 1_000;
/// Quick probes before falling back to the keepalive pace.
const PROBES: u32 = 5;
/// The path is down when no pong came for this long.
const QUIET_MS: u64 = 3 * KEEPALIVE_MS;

pub(crate) struct Path {
    pub port: u16,
    session: u64,
    send: Key,
    recv: Key,
    counter: u64,
    window: Window,
    last_rx_ms: Option<u64>,
    next_ping_ms: u64,
    probes: u32,
}

/// What a datagram from the server meant.
pub(crate) enum Received {
    /// A pong: the path works.
    Pong,
    Typing {
        conv: ConvId,
        user: String,
    },
}

impl Path {
    pub(crate) fn new(
        secret: &[u8; datagram::SECRET_LEN],
        session: u64,
        port: u16,
        now: u64,
    ) -> Path {
        let (send, recv) = datagram::keys(secret, session);
        Path {
            port,
            session,
            send,
            recv,
            counter: 0,
            window: Window::default(),
            last_rx_ms: None,
            next_ping_ms: now,
            probes: 0,
        }
    }

    /// Whether typing notices should go this way now.
    pub(crate) fn up(&self, now: u64) -> bool {
        self.last_rx_ms
            .is_some_and(|t| now.saturating_sub(t) < QUIET_MS)
    }

    fn seal(&mut self, payload: &Payload) -> Vec<u8> {
        self.counter += 1;
        datagram::seal(
            &self.send,
            Direction::ToServer,
            self.session,
            self.counter,
            payload,
        )
    }

    /// When the next ping is due.
    pub(crate) fn deadline(&self) -> u64 {
        self.next_ping_ms
    }

    /// A ping, if one is due.
    pub(crate) fn ping(&mut self, now: u64) -> Option<Vec<u8>> {
        if now < self.next_ping_ms {
            return None;
        }
        let pace = if self.up(now) || self.probes >= PROBES {
            KEEPALIVE_MS
        } else {
            self.probes += 1;
            PROBE_MS
        };
        self.next_ping_ms = now + pace;
        let rx = self.up(now);
        Some(self.seal(&Payload::Ping { rx }))
    }

    pub(crate) fn typing(&mut self, conv: ConvId) -> Vec<u8> {
        self.seal(&Payload::Typing { conv, user: None })
    }

    /// Reads a datagram from the server.
    pub(crate) fn receive(&mut self, bytes: &[u8], now: u64) -> Result<Received, Refused> {
        let h = datagram::header(bytes)?;
        if h.direction != Direction::ToClient {
            return Err(Refused::Malformed);
        }
        if h.session != self.session {
            return Err(Refused::UnknownSession);
        }
        let payload = datagram::open(&self.recv, &mut self.window, &h, bytes)?;
        let was_up = self.up(now);
        self.last_rx_ms = Some(now);
        if !was_up {
            // Tell the server at once that its datagrams arrive.
            self.next_ping_ms = now;
        }
        match payload {
            Payload::Pong {} => Ok(Received::Pong),
            Payload::Typing {
                conv,
                user: Some(user),
            } => Ok(Received::Typing { conv, user }),
            _ => Err(Refused::Malformed),
        }
    }
}
