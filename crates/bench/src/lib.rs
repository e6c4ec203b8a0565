//! `confab bench`: a load generator that gives Confab and IRC servers the
//! same load and measures them the same way.
//!
//! - `wire`: connections (Confab TLS, Confab WebSocket, IRC).
//! - `client`: log in, join, send and recognise messages per protocol.
//! - `run`: one measured point (open-loop senders, counting receivers).
//! - `metrics`: payloads, latency and delivery accounting, /proc readings.
//! - `report`: JSON lines, the readable table and `RESULTS.md` tables.
//!
//! A scenario is a function here that connects clients, builds send plans
//! and calls `run::run_point`; add one by adding a `Scenario` variant and a
//! function.

pub mod client;
pub mod files;
pub mod metrics;
mod node;
pub mod report;
pub mod run;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::client::{Account, Client, Dest};
use crate::report::Point;
use crate::run::SendPlan;
use crate::wire::{Kind, Target};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// N clients in one room, S of them sending.
    Fanout,
    /// Clients in many small rooms, one sender per room.
    Rooms,
    /// Direct messages between random pairs.
    Dm,
    /// Idle connections: server memory per connection.
    Idle,
    /// Newest 100 messages of a long channel, at several concurrencies (Confab only).
    History,
    /// Every client drops and comes back at once.
    Storm,
    /// A file uploaded over tus, against a plain HTTPS sink, with the
    /// server's memory watched (Confab only; needs --web-url).
    Upload,
    /// Serve the plain HTTPS sink for `upload --sink-url` in another
    /// process: prints its URL, writes its certificate to --sink-ca, and
    /// runs until stopped.
    Sink,
    /// Serverless nodes (`confab node`) on loopback: lookups, direct
    /// messages, queued delivery, conferences, idle memory (--nodes).
    Node,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server: confab-tls://HOST:PORT, confab-ws://HOST:PORT or irc://HOST:PORT
    #[arg(long, default_value = "confab-tls://127.0.0.1:7070")]
    pub target: String,
    /// The server's certificate (PEM) to trust, e.g. confab-data/tls/cert.pem
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Encrypt without checking the server's certificate
    #[arg(long)]
    pub insecure: bool,
    /// The server's process id, to read its CPU time and memory from /proc
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long, value_enum, default_value = "fanout")]
    pub scenario: Scenario,
    /// Clients connected
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Senders (fanout: in the room; rooms: one per room, ignoring this)
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Rooms for the rooms scenario
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Message size in bytes
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Aggregate messages per second; several (comma-separated) run several points
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub rate: Vec<f64>,
    /// Search for the highest rate holding p99 <= 50 ms (and <= 100 ms) with >= 99.9% delivered, starting at --rate
    #[arg(long)]
    pub sweep: bool,
    /// Seconds of sending per point
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Messages in the history scenario's channel
    #[arg(long, default_value_t = 1_000_000)]
    pub history_messages: u64,
    /// A file of session tokens (JSON, name to token) kept between runs, so
    /// that Confab accounts log in once rather than hashing their password
    /// in every run; stale tokens are replaced
    #[arg(long)]
    pub token_cache: Option<PathBuf>,
    /// Concurrent readers in the history scenario
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Confab's web listener (uploads), e.g. https://127.0.0.1:8443
    #[arg(long, value_name = "URL")]
    pub web_url: Option<String>,
    /// Size of each file uploaded, in MiB (upload; fanout with --uploads)
    #[arg(long, default_value_t = 100)]
    pub file_mib: u64,
    /// fanout: uploads of --file-mib running all through each point;
    /// upload: how many times the upload is measured
    #[arg(long, default_value_t = 0)]
    pub uploads: usize,
    /// upload: the plain sink to compare with, served by another
    /// `confab bench --scenario sink` (default: one in this process)
    #[arg(long, value_name = "URL", requires = "sink_ca")]
    pub sink_url: Option<String>,
    /// The sink's certificate (written by `--scenario sink`, read by `upload`)
    #[arg(long, value_name = "FILE")]
    pub sink_ca: Option<PathBuf>,
    /// Append one JSON object per point to this file
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// A name for the server in reports (default: the target's kind)
    #[arg(long, default_value = "")]
    pub label: String,
    /// Nodes for `--scenario node`
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Measured messages (and lookups) per figure of `--scenario node`
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Instead of running: render markdown tables (median of repeats) from these JSON-lines files
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub report: Vec<PathBuf>,
}

/// Runs what `args` asks for.
pub async fn run(args: Args) -> Result<()> {
    if !args.report.is_empty() {
        print!("{}", report::markdown(&args.report)?);
        return Ok(());
    }
    if args.scenario == Scenario::Sink {
        return serve_sink(args.sink_ca.as_deref()).await;
    }
    if args.scenario == Scenario::Node {
        let label = if args.label.is_empty() {
            "confab"
        } else {
            &args.label
        };
        for p in node::run(args.nodes, args.messages, label).await? {
            emit(args.json.as_deref(), &p)?;
        }
        return Ok(());
    }
    // Thousands of sockets: use every file descriptor allowed.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let target = Target::parse(&args.target, args.tls_ca.as_deref(), args.insecure)?;
    let mut b = Bench {
        label: if args.label.is_empty() {
            target.kind.name().to_owned()
        } else {
            args.label.clone()
        },
        target,
        args,
        epoch: Instant::now(),
        point: 0,
    };
    match b.args.scenario {
        Scenario::Fanout => b.fanout().await,
        Scenario::Rooms => b.rooms().await,
        Scenario::Dm => b.dm().await,
        Scenario::Idle => b.idle().await,
        Scenario::History => b.history().await,
        Scenario::Storm => b.storm().await,
        Scenario::Upload => b.upload().await,
        Scenario::Sink | Scenario::Node => unreachable!("run above"),
    }
}

/// Prints a point's line, and appends its JSON to `json` if given.
fn emit(json: Option<&std::path::Path>, p: &Point) -> Result<()> {
    println!("{}", p.line());
    if let Some(path) = json {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", p.json())?;
    }
    Ok(())
}

struct Bench {
    target: Target,
    args: Args,
    label: String,
    epoch: Instant,
    point: u32,
}

/// Serves the plain sink until stopped (`--scenario sink`).
async fn serve_sink(ca: Option<&std::path::Path>) -> Result<()> {
    let Some(ca) = ca else {
        bail!("the sink scenario needs --sink-ca FILE to write its certificate to")
    };
    let sink = files::Sink::start().await?;
    std::fs::write(ca, &sink.cert_pem)?;
    println!("sink listening url={}", sink.url);
    std::future::pending::<()>().await;
    Ok(())
}

/// The benchmark account for client `i`: short enough for IRC nicknames.
/// The storm's accounts start here, apart from every other scenario's.
const STORM_ACCOUNTS: usize = 50_000;
/// The uploaders' accounts.
const UPLOAD_ACCOUNTS: usize = 60_000;

/// Joins each client `i` to `room(i)`, 64 at a time: one after another took
/// long enough at 5,000 clients for the first ones to be dropped by the
/// server's heartbeat (setup clients do not answer pings).
async fn join_each(clients: &mut [Client], room: impl Fn(usize) -> String) -> Result<()> {
    let room = &room;
    let joined: Vec<Result<()>> = futures_util::stream::iter(clients.iter_mut().enumerate())
        .map(|(i, c)| async move { c.join(&room(i)).await })
        .buffer_unordered(64)
        .collect()
        .await;
    joined.into_iter().collect()
}

/// The storm's clients sit in rooms of 100, as people do, rather than all in
/// one room, where every join would be announced to thousands.
fn storm_room(i: usize) -> String {
    format!("storm{}", i / 100)
}

fn account(i: usize) -> Account {
    Account::User {
        name: format!("bn{i:05}"),
        password: format!("bench-pw-{i:05}"),
    }
}

/// Client `i` of `senders` sending an aggregate `rate` for `duration` seconds.
fn plan(
    duration: f64,
    size: usize,
    rate: f64,
    senders: usize,
    i: usize,
    dests: Vec<(Dest, u64)>,
    random: bool,
) -> SendPlan {
    let per_sender = rate / senders as f64;
    let interval = Duration::from_secs_f64(1.0 / per_sender);
    SendPlan {
        dests,
        random,
        interval,
        count: (per_sender * duration).round().max(1.0) as u64,
        offset: interval.mul_f64(i as f64 / senders as f64),
        size,
    }
}

/// Connects clients with bounded concurrency; returns them in order and the
/// connect+login times.
/// Connects one setup client. Setup, not measurement: some servers (ngircd)
/// reset a burst of connects, so try a few times.
async fn connect_with_retry(target: &Target, account: &Account) -> Result<Client> {
    let mut c = Client::connect(target, account).await;
    for attempt in 1..=5u64 {
        if c.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
        c = Client::connect(target, account).await;
    }
    c
}

async fn connect_all(
    target: &Target,
    accounts: Vec<Account>,
    concurrency: usize,
) -> Result<(Vec<Client>, hdrhistogram::Histogram<u64>)> {
    let results: Vec<_> = futures_util::stream::iter(accounts)
        .map(|a| async move {
            let t = Instant::now();
            let c = connect_with_retry(target, &a).await;
            (c, t.elapsed())
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut hist = metrics::histogram();
    let mut clients = Vec::with_capacity(results.len());
    for (c, took) in results {
        clients.push(c?);
        let _ = hist.record((took.as_micros() as u64).max(1));
    }
    Ok((clients, hist))
}

impl Bench {
    fn server_cpu(&self) -> Option<f64> {
        self.args.server_pid.and_then(metrics::cpu_seconds)
    }

    fn base(&self, scenario: &str) -> Point {
        let mut p = Point::new(&self.label, self.target.kind.name(), scenario);
        p.set("size", json!(self.args.size));
        p
    }

    /// Runs one load point with the given plans and reports it.
    async fn load_point(
        &mut self,
        scenario: &str,
        clients: Vec<Client>,
        plans: Vec<Option<SendPlan>>,
        rate: f64,
        extra: &[(&str, Value)],
    ) -> Result<(Vec<Client>, Point)> {
        self.point += 1;
        let (srv0, gen0, wall0) = (
            self.server_cpu(),
            metrics::cpu_seconds(std::process::id()),
            Instant::now(),
        );
        let n = clients.len();
        let r = run::run_point(
            self.point,
            self.epoch,
            clients,
            plans,
            Duration::from_secs(5),
        )
        .await?;
        let wall = wall0.elapsed().as_secs_f64();
        let mut p = self.base(scenario);
        p.set("clients", json!(n));
        p.set("rate_target", json!(rate));
        for (k, v) in extra {
            p.set(k, v.clone());
        }
        p.load(&r);
        p.cpu(
            srv0.zip(self.server_cpu()).map(|(a, b)| (b - a) / wall),
            gen0.zip(metrics::cpu_seconds(std::process::id()))
                .map(|(a, b)| (b - a) / wall),
        );
        p.set(
            "server_rss_mib",
            json!(
                self.args
                    .server_pid
                    .and_then(metrics::rss_kib)
                    .map(|k| k as f64 / 1024.0)
            ),
        );
        self.emit(&p)?;
        Ok((r.clients, p))
    }

    fn emit(&self, p: &Point) -> Result<()> {
        emit(self.args.json.as_deref(), p)
    }

    /// Runs `plans_for(rate)` at each --rate, or sweeps for the best rate.
    async fn rates(
        &mut self,
        scenario: &str,
        mut clients: Vec<Client>,
        extra: Vec<(&str, Value)>,
        plans_for: impl Fn(f64) -> Vec<Option<SendPlan>>,
    ) -> Result<()> {
        if !self.args.sweep {
            for rate in self.args.rate.clone() {
                clients = self
                    .load_point(scenario, clients, plans_for(rate), rate, &extra)
                    .await?
                    .0;
            }
            return Ok(());
        }
        // Double until p99 <= 50 ms or delivery fails, then bisect.
        let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
        let (mut best50, mut best100) = (None::<(f64, f64)>, None::<(f64, f64)>);
        let mut rate = self.args.rate[0];
        for _ in 0..14 {
            let (back, p) = self
                .load_point(scenario, clients, plans_for(rate), rate, &extra)
                .await?;
            clients = back;
            let (p99, ratio, dps) = (
                p.num("p99_ms"),
                p.num("delivery_ratio"),
                p.num("deliveries_per_s"),
            );
            if ratio >= 0.999 && p99 <= 100.0 && best100.is_none_or(|(_, d)| dps > d) {
                best100 = Some((rate, dps));
            }
            if ratio >= 0.999 && p99 <= 50.0 {
                if best50.is_none_or(|(_, d)| dps > d) {
                    best50 = Some((rate, dps));
                }
                lo = Some(rate);
            } else {
                hi = Some(rate);
            }
            rate = match (lo, hi) {
                (Some(l), None) => l * 2.0,
                (None, Some(h)) => h / 2.0,
                (Some(l), Some(h)) if (h - l) / l > 0.05 => (l + h) / 2.0,
                _ => break,
            };
            if rate < 1.0 {
                break;
            }
        }
        let mut p = self.base(&format!("{scenario}-sweep"));
        for (k, v) in extra {
            p.set(k, v);
        }
        p.set("clients", json!(clients.len()));
        p.set("best_rate_p99_50ms", json!(best50.map(|b| b.0)));
        p.set("best_deliveries_per_s_p99_50ms", json!(best50.map(|b| b.1)));
        p.set("best_rate_p99_100ms", json!(best100.map(|b| b.0)));
        p.set(
            "best_deliveries_per_s_p99_100ms",
            json!(best100.map(|b| b.1)),
        );
        self.emit(&p)
    }

    /// Connects `n` member accounts. On Confab, every account first logs in
    /// (registering if new) on a short connection that is closed at once,
    /// and then all connect with their session tokens: password hashing is
    /// slow by design, and a connection left idle while thousands of others
    /// register would be dropped by the server's heartbeat.
    async fn members(&self, n: usize) -> Result<(Vec<Client>, hdrhistogram::Histogram<u64>)> {
        self.members_from(0, n).await
    }

    /// Like [`members`](Self::members), with accounts `first..first + n`.
    async fn members_from(
        &self,
        first: usize,
        n: usize,
    ) -> Result<(Vec<Client>, hdrhistogram::Histogram<u64>)> {
        let accounts: Vec<Account> = (first..first + n).map(account).collect();
        if !self.target.kind.is_confab() {
            return connect_all(&self.target, accounts, 64).await;
        }
        let target = &self.target;
        let cache: HashMap<String, String> = match &self.args.token_cache {
            Some(path) if path.exists() => serde_json::from_slice(&std::fs::read(path)?)
                .with_context(|| format!("reading {}", path.display()))?,
            _ => HashMap::new(),
        };
        let cache = &cache;
        let tokens: Vec<Result<Account>> = futures_util::stream::iter(accounts)
            .map(|a| async move {
                // A cached token that still resumes saves a password hash.
                let cached = match &a {
                    Account::User { name, .. } => cache.get(name).map(|token| Account::Token {
                        name: name.clone(),
                        token: token.clone(),
                    }),
                    _ => None,
                };
                let c = match cached {
                    Some(t) => match Client::connect(target, &t).await {
                        Ok(c) => c,
                        Err(_) => connect_with_retry(target, &a).await?,
                    },
                    None => connect_with_retry(target, &a).await?,
                };
                let token = c.token.clone().context("no session token after login")?;
                let name = c.name.clone();
                c.wire.close().await;
                Ok(Account::Token { name, token })
            })
            .buffered(64)
            .collect()
            .await;
        let tokens = tokens.into_iter().collect::<Result<Vec<_>>>()?;
        if let Some(path) = &self.args.token_cache {
            let mut all = cache.clone();
            for t in &tokens {
                if let Account::Token { name, token } = t {
                    all.insert(name.clone(), token.clone());
                }
            }
            std::fs::write(path, serde_json::to_vec(&all)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        connect_all(target, tokens, 64).await
    }

    async fn fanout(&mut self) -> Result<()> {
        let (n, s) = (self.args.clients, self.args.senders.min(self.args.clients));
        let (mut clients, connect) = self.members(n).await?;
        join_each(&mut clients, |_| "fanout".into()).await?;
        eprintln!(
            "fanout: {n} clients connected and joined (connect p99 {:.1} ms)",
            connect.value_at_quantile(0.99) as f64 / 1000.0
        );
        let uploads = self.background_uploads().await?;
        let mut extra = vec![("senders", json!(s))];
        if self.args.uploads > 0 {
            extra.push(("uploads", json!(self.args.uploads)));
            extra.push(("file_mib", json!(self.args.file_mib)));
        }
        let (dur, size) = (self.args.duration, self.args.size);
        let result = self
            .rates("fanout", clients, extra, move |rate| {
                (0..n)
                    .map(|i| {
                        (i < s).then(|| {
                            plan(
                                dur,
                                size,
                                rate,
                                s,
                                i,
                                vec![(Dest::Room("fanout".into()), (n - 1) as u64)],
                                false,
                            )
                        })
                    })
                    .collect()
            })
            .await;
        if let Some((stop, tasks)) = uploads {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for t in tasks {
                let done = tokio::task::spawn_blocking(move || t.join())
                    .await?
                    .map_err(|_| anyhow::anyhow!("a background upload panicked"))?;
                eprintln!("fanout: a background upload finished {done} files");
            }
        }
        result
    }

    /// An uploader for Confab account `i`, in the room `files`.
    async fn uploader(&self, i: usize) -> Result<files::Uploader> {
        let Some(web) = self.args.web_url.clone() else {
            bail!("uploads need --web-url (Confab's web listener, e.g. https://127.0.0.1:8443)")
        };
        if !self.target.kind.is_confab() {
            bail!("uploads are Confab's: the target must be confab-tls:// or confab-ws://");
        }
        let mut c = Client::connect(&self.target, &account(i)).await?;
        c.join("files").await?;
        let conv = c.conv("files").context("joined")?;
        let token = c.token.clone().context("a session token")?;
        files::Uploader::new(self.target.tls(), &web, &token, conv)
    }

    /// `--uploads` uploads of `--file-mib` each, one after another per
    /// uploader, until told to stop; each thread returns how many it did.
    /// They run on threads of their own at the lowest priority, so that on
    /// a machine where the generator shares its cores with them, the
    /// latency measured is the server's, not the generator's.
    async fn background_uploads(
        &self,
    ) -> Result<
        Option<(
            Arc<std::sync::atomic::AtomicBool>,
            Vec<std::thread::JoinHandle<u64>>,
        )>,
    > {
        if self.args.uploads == 0 {
            return Ok(None);
        }
        let body = files::Body::new(self.args.file_mib << 20);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for k in 0..self.args.uploads {
            let up = self.uploader(UPLOAD_ACCOUNTS + k).await?;
            let (body, stop) = (body.clone(), stop.clone());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            tasks.push(
                std::thread::Builder::new()
                    .name("bench-upload".into())
                    .spawn(move || {
                        lowest_priority();
                        runtime.block_on(async move {
                            let mut done = 0;
                            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                                match up.upload(&body).await {
                                    Ok(_) => done += 1,
                                    Err(e) => {
                                        eprintln!("fanout: a background upload failed: {e:#}");
                                        break;
                                    }
                                }
                            }
                            done
                        })
                    })?,
            );
        }
        eprintln!(
            "fanout: {} uploads of {} MiB running",
            self.args.uploads, self.args.file_mib
        );
        Ok(Some((stop, tasks)))
    }

    /// Upload throughput against the plain sink, and the server's memory
    /// while it runs.
    async fn upload(&mut self) -> Result<()> {
        let up = self.uploader(UPLOAD_ACCOUNTS).await?;
        let sink = match (&self.args.sink_url, &self.args.sink_ca) {
            (Some(url), Some(ca)) => files::Sink::remote(url, ca)?,
            _ => files::Sink::start().await?,
        };
        let body = files::Body::new(self.args.file_mib << 20);
        let mib = (body.size >> 20) as f64;
        for _ in 0..self.args.uploads.max(1) {
            let watch = self.args.server_pid.map(files::RssWatch::start);
            let confab = up.upload(&body).await?;
            let rss = match watch {
                Some(w) => Some(w.finish().await),
                None => None,
            };
            let plain = sink.put(&body).await?;
            let mut p = self.base("upload");
            p.set("file_mib", json!(mib));
            let (c, s) = (mib / confab.as_secs_f64(), mib / plain.as_secs_f64());
            p.set("confab_mib_s", json!(c));
            p.set("sink_mib_s", json!(s));
            p.set("vs_sink", json!(c / s));
            if let Some((first, max)) = rss {
                p.set("rss_start_mib", json!(first as f64 / 1024.0));
                p.set("rss_max_mib", json!(max as f64 / 1024.0));
            }
            self.emit(&p)?;
        }
        Ok(())
    }

    async fn rooms(&mut self) -> Result<()> {
        let (n, r) = (self.args.clients, self.args.rooms.min(self.args.clients));
        let (mut clients, _) = self.members(n).await?;
        let mut sizes = vec![0u64; r];
        for i in 0..n {
            sizes[i % r] += 1;
        }
        join_each(&mut clients, |i| format!("room{}", i % r)).await?;
        eprintln!("rooms: {n} clients in {r} rooms");
        let extra = vec![("rooms", json!(r))];
        let (dur, size) = (self.args.duration, self.args.size);
        self.rates("rooms", clients, extra, move |rate| {
            (0..n)
                .map(|i| {
                    (i < r).then(|| {
                        plan(
                            dur,
                            size,
                            rate,
                            r,
                            i,
                            vec![(Dest::Room(format!("room{i}")), sizes[i] - 1)],
                            false,
                        )
                    })
                })
                .collect()
        })
        .await
    }

    async fn dm(&mut self) -> Result<()> {
        let n = self.args.clients;
        if n < 2 {
            bail!("the dm scenario needs at least 2 clients");
        }
        let (clients, _) = self.members(n).await?;
        let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
        eprintln!("dm: {n} clients");
        let (dur, size) = (self.args.duration, self.args.size);
        self.rates("dm", clients, vec![], move |rate| {
            (0..n)
                .map(|i| {
                    let peers = names
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, p)| (Dest::User(p.clone()), 1))
                        .collect();
                    Some(plan(dur, size, rate, n, i, peers, true))
                })
                .collect()
        })
        .await
    }

    async fn idle(&mut self) -> Result<()> {
        let Some(pid) = self.args.server_pid else {
            bail!("the idle scenario needs --server-pid to read the server's memory")
        };
        let n = self.args.clients;
        let before = metrics::rss_kib(pid).unwrap_or(0);
        // Visitors on Confab: logged in, no password hashing, nothing stored.
        let accounts = (0..n)
            .map(|i| {
                if self.target.kind.is_confab() {
                    Account::Visitor
                } else {
                    account(i)
                }
            })
            .collect();
        let t = Instant::now();
        let (clients, connect) = connect_all(&self.target, accounts, 256).await?;
        let took = t.elapsed();
        let after = metrics::rss_kib(pid).unwrap_or(0);
        let mut p = self.base("idle");
        p.set("clients", json!(n));
        p.set("connect_s", json!(took.as_secs_f64()));
        p.set(
            "connect_p99_ms",
            json!(connect.value_at_quantile(0.99) as f64 / 1000.0),
        );
        p.set("server_rss_mib", json!(after as f64 / 1024.0));
        p.set(
            "rss_per_conn_kib",
            json!((after.saturating_sub(before)) as f64 / n as f64),
        );
        self.emit(&p)?;
        for c in clients {
            c.wire.close().await;
        }
        Ok(())
    }

    async fn history(&mut self) -> Result<()> {
        if !self.target.kind.is_confab() {
            bail!("IRC servers keep no history; the history scenario is Confab only");
        }
        let mut writer = Client::connect(&self.target, &account(99_999)).await?;
        writer.join("history").await?;
        let conv = writer.conv("history").expect("joined");
        let list = writer.request(json!({"type": "channel_list"})).await?;
        let mut have = list["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["conv"] == conv)
            .and_then(|c| c["last_seq"].as_u64())
            .unwrap_or(0);
        let target = self.args.history_messages;
        let t = Instant::now();
        if have < target {
            eprintln!("history: filling the channel from {have} to {target} messages");
        }
        while have < target {
            let chunk = (target - have).min(1000);
            for i in 0..chunk {
                let frame = writer.chat_frame(
                    &Dest::Room("history".into()),
                    &format!("history message {}", have + i + 1),
                );
                writer.wire.feed(frame).await?;
            }
            writer.wire.flush().await?;
            let mut acked = 0;
            while acked < chunk {
                let Some(text) = writer.wire.recv().await? else {
                    bail!("server closed while filling history")
                };
                if text.contains(r#""type":"sent""#) {
                    acked += 1;
                } else if text.contains(r#""type":"error""#) {
                    bail!("filling history: {text}");
                }
            }
            have += chunk;
        }
        if t.elapsed() > Duration::from_secs(1) {
            eprintln!("history: filled in {:.1} s", t.elapsed().as_secs_f64());
        }
        for conc in self.args.concurrency.clone() {
            let (readers, _) = connect_all(&self.target, vec![Account::Visitor; conc], 64).await?;
            let deadline = Instant::now() + Duration::from_secs_f64(self.args.duration);
            let srv0 = self.server_cpu();
            let t0 = Instant::now();
            let tasks: Vec<_> = readers
                .into_iter()
                .map(|mut c| {
                    tokio::spawn(async move {
                        let mut h = metrics::histogram();
                        let mut errors = 0u64;
                        while Instant::now() < deadline {
                            let t = Instant::now();
                            let r = c
                                .request_raw(json!({"type": "history", "conv": conv, "limit": 100}))
                                .await?;
                            if r["messages"].as_array().map_or(0, Vec::len) != 100 {
                                errors += 1;
                            }
                            let _ = h.record((t.elapsed().as_micros() as u64).max(1));
                        }
                        c.wire.close().await;
                        anyhow::Ok((h, errors))
                    })
                })
                .collect();
            let mut h = metrics::histogram();
            let mut errors = 0;
            for t in tasks {
                let (th, e) = t.await??;
                let _ = h.add(&th);
                errors += e;
            }
            let wall = t0.elapsed().as_secs_f64();
            let mut p = self.base("history");
            p.set("messages_in_channel", json!(have));
            p.set("concurrency", json!(conc));
            p.set("requests_per_s", json!(h.len() as f64 / wall));
            p.latency(&h);
            p.set("errors", json!(errors));
            p.cpu(
                srv0.zip(self.server_cpu()).map(|(a, b)| (b - a) / wall),
                None,
            );
            self.emit(&p)?;
        }
        Ok(())
    }

    async fn storm(&mut self) -> Result<()> {
        let n = self.args.clients;
        // Accounts of their own, in no other scenario's rooms: each client
        // resumes and syncs the one room it is in, as a client that was
        // up to date before the drop does.
        let (mut clients, _) = self.members_from(STORM_ACCOUNTS, n).await?;
        join_each(&mut clients, storm_room).await?;
        let accounts: Vec<Account> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| match &c.token {
                Some(token) => Account::Token {
                    name: c.name.clone(),
                    token: token.clone(),
                },
                None => account(STORM_ACCOUNTS + i),
            })
            .collect();
        eprintln!("storm: {n} clients connected; dropping them all");
        futures_util::future::join_all(clients.into_iter().map(|c| c.wire.close())).await;

        let target = self.target.clone();
        let srv0 = self.server_cpu();
        let t0 = Instant::now();
        let tasks: Vec<_> = accounts
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let target = target.clone();
                tokio::spawn(async move {
                    let mut c = Client::connect(&target, &a).await?;
                    if c.kind.is_confab() {
                        c.request(json!({"type": "sync", "since": []})).await?;
                    } else {
                        c.join(&storm_room(i)).await?;
                    }
                    anyhow::Ok((c, t0.elapsed()))
                })
            })
            .collect();
        let mut h = metrics::histogram();
        let mut errors = 0u64;
        let mut back = Vec::new();
        for t in tasks {
            match t.await? {
                Ok((c, took)) => {
                    let _ = h.record((took.as_micros() as u64).max(1));
                    back.push(c);
                }
                Err(e) => {
                    if errors == 0 {
                        eprintln!("storm: first error: {e:#}");
                    }
                    errors += 1;
                }
            }
        }
        let all_back = t0.elapsed();
        let mut p = self.base("storm");
        p.set("clients", json!(n));
        p.set("all_back_s", json!(all_back.as_secs_f64()));
        p.latency(&h);
        p.set("errors", json!(errors));
        p.cpu(
            srv0.zip(self.server_cpu())
                .map(|(a, b)| (b - a) / all_back.as_secs_f64()),
            None,
        );
        self.emit(&p)?;
        futures_util::future::join_all(back.into_iter().map(|c| c.wire.close())).await;
        Ok(())
    }
}

/// For tests: the kind of a parsed target.
pub fn target_kind(url: &str) -> Result<Kind> {
    Ok(Target::parse(url, None, true)?.kind)
}

/// Gives the calling thread the lowest CPU priority: the idle scheduling
/// class, or nice 19 where that is refused.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; the one pointer
    // handed over is to a local that outlives the call.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
        }
    }
}
