//! Rate limits: GCRA token buckets (governor), keyed by the client's
//! address before login and for password checks, by the user after. Each
//! request's [`Rate`] class (decided in `access`) picks the bucket; a
//! refusal says when to retry. Buckets of keys not seen for a while are
//! dropped by [`Rates::forget_idle`], so the tables stay bounded by the
//! clients of the last few minutes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use confab_store::UserId;
use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::{Quota, RateLimiter};

use crate::access::Rate;

/// The clock the limits run on: real time, or a manual one that tests
/// move forward.
#[derive(Clone, Debug)]
pub struct RateClock {
    start: std::time::Instant,
    manual: Option<Arc<AtomicU64>>,
}

impl RateClock {
    pub fn real() -> Self {
        RateClock {
            start: std::time::Instant::now(),
            manual: None,
        }
    }

    /// A clock that stands still until [`RateClock::advance`].
    pub fn manual() -> Self {
        RateClock {
            start: std::time::Instant::now(),
            manual: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    /// Moves a manual clock forward (a real one ignores this).
    pub fn advance(&self, by: Duration) {
        if let Some(n) = &self.manual {
            n.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
        }
    }
}

impl Clock for RateClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        match &self.manual {
            Some(n) => Nanos::from(n.load(Ordering::SeqCst)),
            None => Nanos::from(self.start.elapsed()),
        }
    }
}

/// One bucket: `burst` at once, then one more every `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub burst: u32,
    pub every: Duration,
}

impl Limit {
    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least 1");
        Quota::with_period(self.every.max(Duration::from_nanos(1)))
            .expect("a period above zero")
            .allow_burst(burst)
    }
}

/// The limits a server applies.
#[derive(Clone, Debug)]
pub struct RateConfig {
    /// Off for benchmarks (`--no-rate-limits`).
    pub enabled: bool,
    /// Password checks (login, password change) per client address.
    pub login: Limit,
    /// New accounts per client address.
    pub register: Limit,
    /// Log entries (messages, group changes) per user.
    pub post: Limit,
    /// Every other limited request, per user (per address before login).
    pub other: Limit,
    /// Password checks that may wait for a free core; more are refused at
    /// once. Applies whether or not the limits are `enabled`.
    pub password_line: usize,
    pub clock: RateClock,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            enabled: true,
            // Ten tries at once, then one every 6 s.
            login: Limit {
                burst: 10,
                every: Duration::from_secs(6),
            },
            // Five accounts at once, then one a minute.
            register: Limit {
                burst: 5,
                every: Duration::from_secs(60),
            },
            // 30 at once, then 10 a second: well above a person typing.
            post: Limit {
                burst: 30,
                every: Duration::from_millis(100),
            },
            other: Limit {
                burst: 60,
                every: Duration::from_millis(50),
            },
            password_line: 64,
            clock: RateClock::real(),
        }
    }
}

type Keyed<K> = RateLimiter<
    K,
    governor::state::keyed::DefaultKeyedStateStore<K>,
    RateClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

pub(crate) struct Rates {
    config: RateConfig,
    login: Keyed<IpAddr>,
    register: Keyed<IpAddr>,
    post: Keyed<UserId>,
    other_user: Keyed<UserId>,
    other_addr: Keyed<IpAddr>,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(limit: Limit, clock: &RateClock) -> Keyed<K> {
    RateLimiter::dashmap_with_clock(limit.quota(), clock.clone())
}

impl Rates {
    pub(crate) fn new(config: RateConfig) -> Self {
        let clock = &config.clock;
        Rates {
            login: keyed(config.login, clock),
            register: keyed(config.register, clock),
            post: keyed(config.post, clock),
            other_user: keyed(config.other, clock),
            other_addr: keyed(config.other, clock),
            config,
        }
    }

    /// Counts a request of class `rate`; `Err` is how long until it would
    /// be allowed. `register` is told apart from the other password checks.
    pub(crate) fn check(
        &self,
        rate: Rate,
        register: bool,
        addr: IpAddr,
        user: Option<UserId>,
    ) -> Result<(), Duration> {
        if !self.config.enabled {
            return Ok(());
        }
        let now = self.config.clock.now();
        let wait = |r: Result<(), governor::NotUntil<Nanos>>| {
            r.map_err(|n| n.wait_time_from(now).max(Duration::from_millis(1)))
        };
        match (rate, user) {
            (Rate::Free | Rate::Typing, _) => Ok(()),
            (Rate::Login, _) if register => wait(self.register.check_key(&addr)),
            (Rate::Login, _) => wait(self.login.check_key(&addr)),
            (Rate::Post, Some(u)) => wait(self.post.check_key(&u)),
            (_, Some(u)) => wait(self.other_user.check_key(&u)),
            (_, None) => wait(self.other_addr.check_key(&addr)),
        }
    }

    /// Drops the buckets that are full again (nobody used them within
    /// their refill time): they would allow the same as a new one.
    pub(crate) fn forget_idle(&self) {
        self.login.retain_recent();
        self.register.retain_recent();
        self.post.retain_recent();
        self.other_user.retain_recent();
        self.other_addr.retain_recent();
        self.login.shrink_to_fit();
        self.register.shrink_to_fit();
        self.post.shrink_to_fit();
        self.other_user.shrink_to_fit();
        self.other_addr.shrink_to_fit();
    }

    /// Keys held, over all tables (for the metrics).
    pub(crate) fn keys(&self) -> usize {
        self.login.len()
            + self.register.len()
            + self.post.len()
            + self.other_user.len()
            + self.other_addr.len()
    }
}
