//! What a run measures: latency from the send time embedded in each
//! message, delivery accounting (lost, duplicated, out of order), and CPU
//! and memory read from /proc.

use std::collections::HashMap;
use std::time::Instant;

use hdrhistogram::Histogram;

/// Embeds the point, the scheduled send time (ns since the run's epoch),
/// the sender and the message's number, padded with `x` to `size` bytes.
pub fn payload(point: u32, sched_ns: u64, sender: u32, msgno: u32, size: usize) -> String {
    let mut s = format!("cb|{point}|{sched_ns}|{sender}|{msgno}|");
    while s.len() < size {
        s.push('x');
    }
    s
}

/// (scheduled ns, sender, msgno) of a benchmark payload.
pub fn parse(text: &str) -> Option<(u64, u32, u32)> {
    let mut it = text.strip_prefix("cb|")?.split('|').skip(1);
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// The point a payload belongs to (late deliveries from an earlier point
/// must not count in the next).
pub fn point_of(text: &str) -> Option<u32> {
    text.strip_prefix("cb|")?.split('|').next()?.parse().ok()
}

/// A new latency histogram in microseconds, 1 µs to 10 min, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// One receiving connection's view.
#[derive(Default)]
pub struct Recorder {
    /// Latencies in microseconds, in arrival order. Kept as a plain list
    /// and turned into a histogram at the end: recording into one large
    /// histogram per receiver cost the generator 8% of its CPU in cache
    /// misses.
    latencies_us: Vec<u32>,
    /// Next message number expected from each sender (messages from one
    /// sender to one destination arrive in order).
    next: HashMap<u32, u32>,
    pub unique: u64,
    pub duplicates: u64,
    /// Messages skipped over: arrived later than a newer one, or never.
    pub gaps: u64,
    pub lagged: u64,
    pub errors: u64,
    pub last_delivery: Option<Instant>,
}

impl Recorder {
    /// Records a delivery at `now_ns` (ns since the run's epoch). Returns
    /// whether it was new.
    pub fn record(&mut self, text: &str, now_ns: u64, now: Instant) -> bool {
        let Some((sched, sender, msgno)) = parse(text) else {
            return false;
        };
        let next = self.next.entry(sender).or_insert(0);
        if msgno < *next {
            self.duplicates += 1;
            return false;
        }
        self.gaps += u64::from(msgno - *next);
        *next = msgno + 1;
        self.unique += 1;
        let us = (now_ns.saturating_sub(sched) / 1000).max(1);
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
        self.last_delivery = Some(now);
        true
    }

    /// The latencies recorded so far, as a histogram.
    pub fn latency_histogram(&self) -> Histogram<u64> {
        let mut h = histogram();
        for &us in &self.latencies_us {
            let _ = h.record(u64::from(us));
        }
        h
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.unique += other.unique;
        self.duplicates += other.duplicates;
        self.gaps += other.gaps;
        self.lagged += other.lagged;
        self.errors += other.errors;
        self.last_delivery = match (self.last_delivery, other.last_delivery) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// CPU time (user + system) of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux.
    Some((utime + stime) / 100.0)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_pads() {
        let p = payload(3, 123_456, 7, 42, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(parse(&p), Some((123_456, 7, 42)));
        assert_eq!(point_of(&p), Some(3));
        assert_eq!(parse("hello"), None);
    }

    #[test]
    fn recorder_counts_duplicates_and_gaps() {
        let mut r = Recorder::default();
        let now = Instant::now();
        for msgno in [0, 1, 1, 3, 2, 4] {
            r.record(&payload(0, 0, 1, msgno, 10), 5_000, now);
        }
        // 0, 1 new; 1 dup; 3 new (gap of 2); 2 late (counted as dup); 4 new.
        assert_eq!((r.unique, r.duplicates, r.gaps), (4, 2, 1));
        assert_eq!(r.latency_histogram().max(), 5);
    }

    #[test]
    fn proc_stats_of_this_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_seconds(me).is_some());
    }
}
