//! Runs one measured point: every client is a task that reads (counting
//! deliveries) and, if it is a sender, sends on an open-loop schedule.
//! Each message carries its *scheduled* send time, so a stalled sender
//! shows up as latency (no coordinated omission) and as lag behind schedule.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::client::{Client, Dest, Event};
use crate::metrics::{self, Recorder};

/// What one client sends during a point.
#[derive(Clone)]
pub struct SendPlan {
    /// Destinations, used in turn (or at random when `random`).
    pub dests: Vec<(Dest, u64)>,
    pub random: bool,
    /// Time between this client's messages.
    pub interval: Duration,
    pub count: u64,
    /// Start offset, to spread senders over the interval.
    pub offset: Duration,
    pub size: usize,
}

/// Shared by the tasks of one point.
struct Ctx {
    point: u32,
    epoch: Instant,
    t0: Instant,
    stop: CancellationToken,
    expected: AtomicU64,
    delivered: AtomicU64,
    senders_left: AtomicUsize,
}

/// What senders saw.
pub struct SendStats {
    pub sent: u64,
    pub lag_us: Histogram<u64>,
}

/// Everything measured in one point.
pub struct PointResult {
    pub clients: Vec<Client>,
    pub recv: Recorder,
    pub send: SendStats,
    pub expected: u64,
    pub elapsed: Duration,
    pub send_window: Duration,
}

/// Runs a point. `plans[i]` is client `i`'s plan (or `None`: only receive).
/// After the last send, waits up to `drain` for outstanding deliveries.
pub async fn run_point(
    point: u32,
    epoch: Instant,
    clients: Vec<Client>,
    plans: Vec<Option<SendPlan>>,
    drain: Duration,
) -> Result<PointResult> {
    let senders = plans.iter().filter(|p| p.is_some()).count();
    // A server that stops reading from a sender (or drops it) must not hang
    // the point: after the planned sending time plus `drain`, and `drain`
    // again for slow senders, it ends whatever is outstanding.
    let planned = plans
        .iter()
        .flatten()
        .map(|p| p.offset + p.interval.mul_f64(p.count as f64))
        .max()
        .unwrap_or_default();
    let ctx = Arc::new(Ctx {
        point,
        epoch,
        t0: Instant::now() + Duration::from_millis(200),
        stop: CancellationToken::new(),
        expected: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        senders_left: AtomicUsize::new(senders),
    });
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(plans)
        .enumerate()
        .map(|(i, (c, plan))| tokio::spawn(drive(i as u32, c, plan, ctx.clone())))
        .collect();

    // Wait for the senders, then for deliveries to catch up (or the drain
    // deadline). A load generator may poll; tests may not.
    let mut sends_done_at = None;
    let give_up = ctx.t0 + planned + drain * 2;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if Instant::now() > give_up {
            sends_done_at.get_or_insert_with(Instant::now);
            break;
        }
        let all_sent = ctx.senders_left.load(Ordering::Acquire) == 0;
        if all_sent && sends_done_at.is_none() {
            sends_done_at = Some(Instant::now());
        }
        let caught_up =
            ctx.delivered.load(Ordering::Acquire) >= ctx.expected.load(Ordering::Acquire);
        if let Some(done) = sends_done_at
            && (caught_up || done.elapsed() > drain)
        {
            break;
        }
    }
    let send_window = sends_done_at
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(ctx.t0);
    ctx.stop.cancel();

    let mut clients = Vec::with_capacity(tasks.len());
    let mut recv = Recorder::default();
    let mut send = SendStats {
        sent: 0,
        lag_us: metrics::histogram(),
    };
    for t in tasks {
        let (c, r, s) = t.await??;
        clients.push(c);
        recv.merge(&r);
        send.sent += s.sent;
        let _ = send.lag_us.add(&s.lag_us);
    }
    let end = recv
        .last_delivery
        .unwrap_or(ctx.t0)
        .max(ctx.t0 + send_window);
    Ok(PointResult {
        clients,
        recv,
        send,
        expected: ctx.expected.load(Ordering::Acquire),
        elapsed: end.saturating_duration_since(ctx.t0),
        send_window,
    })
}

async fn drive(
    me: u32,
    mut c: Client,
    plan: Option<SendPlan>,
    ctx: Arc<Ctx>,
) -> Result<(Client, Recorder, SendStats)> {
    let mut rec = Recorder::default();
    let mut stats = SendStats {
        sent: 0,
        lag_us: metrics::histogram(),
    };
    let mut msgnos: HashMap<usize, u32> = HashMap::new();
    let mut k = 0u64;
    let far = ctx.t0 + Duration::from_secs(86_400);
    let sched = |k: u64, p: &SendPlan| ctx.t0 + p.offset + p.interval.mul_f64(k as f64);
    let mut sending = plan.as_ref().is_some_and(|p| p.count > 0);
    if plan.is_some() && !sending {
        ctx.senders_left.fetch_sub(1, Ordering::AcqRel);
    }
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    loop {
        let due = match (&plan, sending) {
            (Some(p), true) => sched(k, p),
            _ => far,
        };
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => break,
            _ = tokio::time::sleep_until(due.into()), if sending => {
                let p = plan.as_ref().expect("sending implies a plan");
                let burst = async {
                let now = Instant::now();
                // Send everything now due: a stalled sender catches up, and
                // the stall shows as latency from the scheduled times.
                while k < p.count && sched(k, p) <= now {
                    let at = sched(k, p);
                    let d = if p.random { rng.random_range(0..p.dests.len()) } else { (k as usize) % p.dests.len() };
                    let (dest, recipients) = &p.dests[d];
                    let msgno = msgnos.entry(d).or_insert(0);
                    let sched_ns = at.duration_since(ctx.epoch).as_nanos() as u64;
                    let text = metrics::payload(ctx.point, sched_ns, me, *msgno, p.size);
                    *msgno += 1;
                    let frame = c.chat_frame(dest, &text);
                    c.wire.feed(frame).await?;
                    ctx.expected.fetch_add(*recipients, Ordering::AcqRel);
                    let _ = stats.lag_us.record((now.duration_since(at).as_micros() as u64).max(1));
                    stats.sent += 1;
                    k += 1;
                }
                c.wire.flush().await?;
                anyhow::Ok(())
                };
                // A write the server never takes must not outlive the point.
                tokio::select! {
                    r = burst => r?,
                    _ = ctx.stop.cancelled() => break,
                }
                if k == p.count {
                    sending = false;
                    ctx.senders_left.fetch_sub(1, Ordering::AcqRel);
                }
            }
            incoming = c.wire.recv() => {
                let Some(text) = incoming? else {
                    rec.errors += 1;
                    break;
                };
                match c.classify(&text) {
                    Event::Chat(t) => {
                        let now = Instant::now();
                        let now_ns = now.duration_since(ctx.epoch).as_nanos() as u64;
                        if metrics::point_of(&t) == Some(ctx.point) && rec.record(&t, now_ns, now) {
                            ctx.delivered.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    Event::Ping(reply) => c.wire.send(reply).await?,
                    Event::Lagged => rec.lagged += 1,
                    Event::Error(e) => {
                        if rec.errors == 0 {
                            tracing::warn!(client = me, "server error: {e}");
                        }
                        rec.errors += 1;
                    }
                    Event::Other => {}
                }
            }
        }
    }
    if sending {
        ctx.senders_left.fetch_sub(1, Ordering::AcqRel);
    }
    Ok((c, rec, stats))
}
