//! How long to wait before the next reconnect attempt.

/// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s, each
/// drawn from the upper half of its step so that many clients dropped at once
/// (a server restart) do not come back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    rng: u64,
}

/// The first retry waits about this long.
pub const BASE_MS: u64 = 500;
/// No retry waits longer than this.
pub const MAX_MS: u64 = 30_000;

impl Backoff {
    /// `seed` makes the jitter reproducible (tests) or random (pass entropy).
    pub fn new(seed: u64) -> Self {
        Backoff {
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt, in milliseconds.
    pub fn next_delay_ms(&mut self) -> u64 {
        let step = BASE_MS
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(MAX_MS);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: enough for jitter, and no dependency in the core.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        step / 2 + self.rng % (step / 2 + 1)
    }

    /// A connection succeeded: the next failure starts from the beginning.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(42);
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay_ms()).collect();
        let mut step = BASE_MS;
        for d in &delays {
            assert!(
                *d >= step / 2 && *d <= step,
                "{d} not in [{}, {step}]",
                step / 2
            );
            step = (step * 2).min(MAX_MS);
        }
        assert!(delays[9] >= MAX_MS / 2);
        b.reset();
        assert!(b.next_delay_ms() <= BASE_MS);
    }
}
