//! `confab login`, `confab send`, `confab history` and `confab tail`: the
//! client core driven from the command line, for scripts and tests. They use
//! the same profile (cache, outbox, session token, pinned certificate) as
//! `confab chat`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use confab_client::describe::{self, label};
use confab_client::native::{Connector, Profile, Shared, SqliteCache, TrustError, drive, now_ms};
use confab_client::{Action, Auth, Client, ConnState, Event, Outcome, Target};
use confab_proto::{Body, ConvKind, Message};

/// Exit status of `confab send` when the message is queued but not yet
/// acknowledged (EX_TEMPFAIL): it is sent the next time this profile connects.
pub const EXIT_QUEUED: i32 = 75;

/// Which server and profile.
#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// The server, host:port of its TLS listener.
    #[arg(
        long,
        short = 's',
        env = "CONFAB_SERVER",
        default_value = "localhost:7070"
    )]
    pub server: String,
    /// Profile name [default: named after the server]. Profiles live in
    /// $CONFAB_HOME, or the user's data directory (~/.local/share/confab).
    #[arg(long, env = "CONFAB_PROFILE")]
    pub profile: Option<String>,
    /// Trust a self-signed certificate with this SHA-256 fingerprint
    /// without asking (it is pinned in the profile).
    #[arg(long)]
    pub trust: Option<String>,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The server, host:port (the same as --server).
    #[arg(value_name = "SERVER", id = "server_arg")]
    pub server: Option<String>,
    #[command(flatten)]
    pub at: ProfileArgs,
    /// The setup code a fresh server prints: registering with it makes you
    /// the server's first admin
    #[arg(long, value_name = "CODE")]
    pub setup: Option<String>,
}

impl ChatArgs {
    pub fn options(self) -> confab_tui::Options {
        confab_tui::Options {
            server: self.server.unwrap_or(self.at.server),
            profile: self.at.profile,
            trust: self.at.trust,
            setup: self.setup,
        }
    }
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    pub user: String,
    /// Create the account first. The password comes from CONFAB_PASSWORD, or a prompt.
    #[arg(long)]
    pub register: bool,
    /// An invitation token (where registration is by invitation)
    #[arg(long, requires = "register", value_name = "TOKEN")]
    pub invite: Option<String>,
    /// The setup code a fresh server prints: the account becomes its first admin
    #[arg(long, requires = "register", value_name = "CODE")]
    pub setup: Option<String>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// `#channel` (or just `channel`) or `@user` for a direct message.
    pub to: String,
    /// The message; several words are joined with spaces.
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Seconds to wait for the server to acknowledge before leaving the
    /// message queued (exit status 75).
    #[arg(long, default_value_t = 10)]
    pub wait: u64,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// `#channel` or `@user`.
    pub conv: String,
    /// How many of the newest messages.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub count: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FriendsArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FriendArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// add (ask them), accept, decline, cancel (your request), remove
    #[arg(value_parser = ["add", "accept", "decline", "cancel", "remove"])]
    pub op: String,
    pub user: String,
}

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    pub user: String,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// Only these conversations (`#channel`, `@user`); all by default.
    pub convs: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// A profile's client, connected by a background driver.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared<SqliteCache>>,
    connector: Arc<Mutex<Connector>>,
}

impl Session {
    pub(crate) fn open(at: &ProfileArgs, auth: Option<Auth>) -> Result<Session> {
        let profile = Profile::open(&Profile::root(), at.profile.as_deref(), &at.server)
            .context("opening the profile")?;
        let mut cache = profile.cache()?;
        if let Some(fp) = &at.trust {
            Profile::pin(&mut cache, Some(fp))?;
        }
        let pinned = Profile::pinned(&cache)?;
        let mut client = Client::new(cache, "confab-cli", rand::random())?;
        if let Some(auth) = auth {
            client.set_auth(auth, now_ms());
        }
        if !client.has_auth() {
            bail!(
                "not logged in to {}: run `confab login --server {} USER` (or `confab chat`) first",
                at.server,
                at.server
            );
        }
        let shared = Shared::new(client);
        let connector = Arc::new(Mutex::new(Connector::new(&at.server, pinned)));
        tokio::spawn(drive(shared.clone(), connector.clone()));
        Ok(Session { shared, connector })
    }

    /// Waits until logged in, or fails with why not; asks about an unknown
    /// certificate on a terminal.
    pub(crate) async fn online(&self, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut c = self.shared.lock();
                for e in c.take_events() {
                    if let Event::LoginFailed { message, .. } = e {
                        bail!("login refused: {message}");
                    }
                }
                if *c.state() == ConnState::Online {
                    return Ok(());
                }
            }
            if let Some(t) = self.shared.trust.lock().expect("trust lock").take() {
                self.decide_trust(t)?;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let why = match self.shared.lock().state() {
                    ConnState::Offline { .. } => "the server is unreachable",
                    _ => "the login is taking too long",
                };
                bail!("{why} ({})", self.connector.lock().expect("lock").addr);
            }
        }
    }

    fn decide_trust(&self, t: TrustError) -> Result<()> {
        let TrustError::Unknown { fingerprint } = &t else {
            bail!("{t}");
        };
        if !std::io::stdin().is_terminal() {
            bail!("{t}. To trust it, pass --trust {fingerprint}");
        }
        eprint!(
            "The server's certificate is not signed by a known authority.\n\
             SHA-256 fingerprint: {fingerprint}\n\
             Check it with the server's operator (`confab serve` prints it). Trust it? [y/N] "
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            bail!("certificate not trusted; not connecting");
        }
        Profile::pin(self.shared.lock().cache_mut(), Some(fingerprint))?;
        self.connector.lock().expect("lock").pinned = Some(fingerprint.clone());
        self.shared.lock().retry_now(now_ms());
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Waits until every request in flight is answered (after login: the sync).
    pub(crate) async fn settled(&self, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.changed.notified();
            if !self.shared.lock().busy() {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("the server did not answer in time");
            }
        }
    }
}

fn password(user: &str, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var("CONFAB_PASSWORD") {
        return Ok(p);
    }
    let p = rpassword::prompt_password(format!("password for {user}: "))?;
    if confirm && rpassword::prompt_password("again: ")? != p {
        bail!("the passwords differ");
    }
    Ok(p)
}

/// `#channel` (or a bare name), `@user`, `&group`.
pub(crate) fn parse_conv(s: &str) -> (ConvKind, &str) {
    if let Some(user) = s.strip_prefix('@') {
        (ConvKind::Dm, user)
    } else if let Some(group) = s.strip_prefix('&') {
        (ConvKind::Group, group)
    } else {
        (ConvKind::Channel, s.strip_prefix('#').unwrap_or(s))
    }
}

pub async fn login(args: LoginArgs) -> Result<()> {
    let password = password(&args.user, args.register)?;
    let auth = if args.register {
        Auth::Register {
            username: args.user.clone(),
            password,
            invite: args.invite.clone(),
            setup: args.setup.clone(),
        }
    } else {
        Auth::Login {
            username: args.user.clone(),
            password,
        }
    };
    let s = Session::open(&args.at, Some(auth))?;
    s.online(Duration::from_secs(30)).await?;
    s.settled(Duration::from_secs(30)).await?;
    let c = s.shared.lock();
    let me = c.me().context("logged in")?;
    println!(
        "logged in to {} as {} ({}); {} conversations",
        args.at.server,
        me.name,
        me.role.as_str(),
        c.convs().len()
    );
    Ok(())
}

/// Returns the process exit status.
pub async fn send(args: SendArgs) -> Result<i32> {
    let s = Session::open(&args.at, None)?;
    let text = args.text.join(" ");
    let (kind, name) = parse_conv(&args.to);
    let wait = Duration::from_secs(args.wait);
    // A channel is addressed by its id, known once synced; a DM by name.
    let target = match kind {
        ConvKind::Dm => Target::User(name.to_owned()),
        ConvKind::Channel | ConvKind::Group => {
            let known = s.shared.lock().conv_named(kind, name).map(|c| c.conv);
            match known {
                Some(conv) => Target::Conv(conv),
                None => {
                    s.online(wait).await?;
                    s.settled(wait).await?;
                    let conv = s.shared.lock().conv_named(kind, name).map(|c| c.conv);
                    Target::Conv(
                        conv.with_context(|| format!("you are not in {}", label(kind, name)))?,
                    )
                }
            }
        }
    };
    let nonce = s.shared.lock().send(target, &text, now_ms() as i64)?;
    s.shared.wake.notify_one();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changed = s.shared.changed.notified();
        {
            let mut c = s.shared.lock();
            for e in c.take_events() {
                if let Event::SendFailed { pending, message } = e
                    && pending.nonce == nonce
                {
                    bail!("not sent: {message}");
                }
            }
            if !c.outbox().iter().any(|p| p.nonce == nonce) {
                return Ok(0);
            }
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            let queued = s.shared.lock().outbox().len();
            eprintln!(
                "queued, not yet sent: the server did not acknowledge within {} s. It will be sent \
                 the next time this profile connects ({queued} message(s) waiting).",
                args.wait
            );
            return Ok(EXIT_QUEUED);
        }
    }
}

/// One entry on a line: text as written, events as `* sentence`, and
/// nothing for what is withheld. `--json` adds the entry's `kind`.
fn print_message(m: &Message, conv_name: &str, json: bool) {
    let Some(text) = describe::shown(m).line() else {
        return;
    };
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::json!({
            "conv": conv_name, "seq": m.seq, "id": m.id, "sender": m.sender,
            "kind": m.body.kind(), "text": text, "ts": m.ts,
        });
        if let Body::File { file } | Body::Offer { file, .. } = &m.body {
            v["file"] = serde_json::json!(file);
        }
        let _ = writeln!(out, "{v}");
    } else {
        // A file says how to save it.
        let save = match &m.body {
            Body::File { file } | Body::Offer { file, .. } => {
                format!(" (confab download {})", file.id)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "[{}] {} <{}> {}{save}",
            conv_name,
            format_ts(m.ts),
            m.sender,
            text
        );
    }
}

/// Local date and time of a server timestamp.
fn format_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

pub async fn history(args: HistoryArgs) -> Result<()> {
    let s = Session::open(&args.at, None)?;
    let wait = Duration::from_secs(10);
    if let Err(e) = s.online(wait).await.and(s.settled(wait).await) {
        eprintln!("offline ({e}): showing the cached messages");
    }
    let (kind, name) = parse_conv(&args.conv);
    let c = s.shared.lock();
    let conv = c
        .conv_named(kind, name)
        .with_context(|| format!("no conversation {}", label(kind, name)))?;
    let lbl = label(conv.kind, &conv.name);
    for m in c.messages(conv.conv, None, args.count)? {
        print_message(&m, &lbl, args.json);
    }
    Ok(())
}

pub async fn tail(args: TailArgs) -> Result<()> {
    let s = Session::open(&args.at, None)?;
    let wanted: Vec<(ConvKind, String)> = args
        .convs
        .iter()
        .map(|c| {
            let (k, n) = parse_conv(c);
            (k, n.to_owned())
        })
        .collect();
    // Print only what arrives from now on: remember where each conversation ends.
    let mut printed: std::collections::HashMap<u64, u64> = {
        let c = s.shared.lock();
        c.convs().iter().map(|cv| (cv.conv, cv.synced)).collect()
    };
    let mut announced = false;
    loop {
        let changed = s.shared.changed.notified();
        let mut lines = Vec::new();
        {
            let mut c = s.shared.lock();
            for e in c.take_events() {
                match e {
                    Event::LoginFailed { message, .. } => bail!("login refused: {message}"),
                    Event::State(ConnState::Online) if !announced => {
                        announced = true;
                        eprintln!("connected; waiting for messages (Ctrl-C to stop)");
                    }
                    Event::Error(text) => eprintln!("{text}"),
                    Event::Notice(text) => eprintln!("notice: {text}"),
                    Event::Done { result: Err(r), .. } => eprintln!("{}", r.message),
                    _ => {}
                }
            }
            for cv in c.convs() {
                if !wanted.is_empty() && !wanted.iter().any(|(k, n)| *k == cv.kind && *n == cv.name)
                {
                    continue;
                }
                let from = *printed.entry(cv.conv).or_insert(0);
                if cv.synced <= from {
                    continue;
                }
                let fresh: Vec<Message> = c
                    .messages(cv.conv, Some(cv.synced + 1), (cv.synced - from) as usize)?
                    .into_iter()
                    .filter(|m| m.seq > from)
                    .collect();
                printed.insert(cv.conv, cv.synced);
                lines.push((label(cv.kind, &cv.name), fresh));
            }
        }
        for (lbl, msgs) in lines {
            for m in msgs {
                print_message(&m, &lbl, args.json);
            }
        }
        if let Some(t) = s.shared.trust.lock().expect("trust lock").take() {
            s.decide_trust(t)?;
        }
        changed.await;
    }
}

/// Does one action and prints what came of it; fails with the server's
/// refusal.
async fn act(at: &ProfileArgs, action: Action) -> Result<Outcome> {
    let outcome = run_action(at, action).await?;
    println!("{}", outcome.sentence());
    Ok(outcome)
}

/// An `admin_*` request on the profile's session (an admin's login); the
/// reply.
pub async fn admin_request(
    at: &ProfileArgs,
    req: confab_proto::Request,
) -> Result<confab_proto::ServerBody> {
    match run_action(at, Action::Admin(Box::new(req))).await? {
        Outcome::Admin(v) => Ok(serde_json::from_value(v)?),
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// Does `action` on the profile's session and waits for its outcome.
async fn run_action(at: &ProfileArgs, action: Action) -> Result<Outcome> {
    let s = Session::open(at, None)?;
    let wait = Duration::from_secs(30);
    s.online(wait).await?;
    s.shared.lock().act(action.clone())?;
    s.shared.wake.notify_one();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let changed = s.shared.changed.notified();
        for e in s.shared.lock().take_events() {
            if let Event::Done { action: a, result } = e
                && a == action
            {
                return result.map_err(|r| anyhow::anyhow!(r.message));
            }
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            bail!("the server did not answer in time");
        }
    }
}

/// `confab friend add|accept|decline|cancel|remove USER`.
pub async fn friend(args: FriendArgs) -> Result<()> {
    let user = args.user.trim_start_matches('@').to_owned();
    let action = match args.op.as_str() {
        "add" => Action::FriendRequest(user),
        "accept" => Action::FriendAccept(user),
        "decline" => Action::FriendDecline(user),
        "cancel" => Action::FriendCancel(user),
        _ => Action::FriendRemove(user),
    };
    act(&args.at, action).await.map(drop)
}

pub async fn block(args: UserArgs, on: bool) -> Result<()> {
    let user = args.user.trim_start_matches('@').to_owned();
    let action = if on {
        Action::Block(user)
    } else {
        Action::Unblock(user)
    };
    act(&args.at, action).await.map(drop)
}

/// `confab friends`: friends with presence, requests both ways, blocks.
/// Offline, what the profile last knew.
pub async fn friends(args: FriendsArgs) -> Result<()> {
    let s = Session::open(&args.at, None)?;
    let wait = Duration::from_secs(10);
    if let Err(e) = s.online(wait).await.and(s.settled(wait).await) {
        eprintln!("offline ({e}): showing what this profile last knew");
    }
    let c = s.shared.lock();
    let f = c.friends();
    if args.json {
        println!("{}", serde_json::to_string(f)?);
        return Ok(());
    }
    for friend in &f.friends {
        let status = if friend.online { "online" } else { "offline" };
        println!("friend {} {status}", friend.name);
    }
    for name in &f.incoming {
        println!("asks you {name}   (confab friend accept {name})");
    }
    for name in &f.outgoing {
        println!("you asked {name}");
    }
    for name in &f.blocked {
        println!("blocked {name}");
    }
    if f == &confab_client::Friends::default() {
        println!("no friends yet: confab friend add USER");
    }
    Ok(())
}
