//! `--scenario node`: serverless nodes (`confab node`, this same binary)
//! on loopback, driven through their standard input as a user would, and
//! timed by what they print: direct message round trip, name lookup,
//! delivery of a queued message once its recipient's node is back,
//! conference message latency across the nodes, and a node's idle memory.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::report::Point;

/// How long one step may take before the run gives up.
const STEP: Duration = Duration::from_secs(30);

struct Node {
    child: Child,
    stdin: ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
    addr: String,
    peer: String,
}

impl Node {
    async fn start(dir: &Path, bootstrap: Option<&Node>) -> Result<Node> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args([
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--client",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("CONFAB_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
        if let Some(b) = bootstrap {
            cmd.arg("--bootstrap")
                .arg(format!("{}/p2p/{}", b.addr, b.peer));
        }
        let mut child = cmd.spawn().context("starting `confab node`")?;
        let stdin = child.stdin.take().context("stdin")?;
        let out = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut node = Node {
            child,
            stdin,
            out,
            addr: String::new(),
            peer: String::new(),
        };
        let line = node.wait("confab node listening").await?;
        let words: Vec<&str> = line.split_whitespace().collect();
        node.addr = words.get(3).context("an address")?.to_string();
        node.peer = words
            .iter()
            .find_map(|w| w.strip_prefix("peer="))
            .context("a peer id")?
            .to_string();
        Ok(node)
    }

    async fn say(&mut self, line: &str) -> Result<()> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn wait(&mut self, text: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + STEP;
        let mut skipped = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.out.next_line()).await {
                Ok(Ok(Some(line))) if line.contains(text) => return Ok(line),
                Ok(Ok(Some(line))) if line.starts_with("error:") => {
                    bail!("waiting for {text:?}, the node said {line:?}")
                }
                Ok(Ok(Some(line))) => skipped.push(line),
                Ok(_) => bail!("the node ended while we waited for {text:?}"),
                Err(_) => bail!("no {text:?} within {STEP:?}; it said {skipped:?}"),
            }
        }
    }

    async fn user(&mut self, name: &str) -> Result<()> {
        self.say(&format!("register {name}")).await?;
        self.say("bench password").await?;
        self.wait(&format!("registered {name}")).await?;
        self.say(&format!("login {name}")).await?;
        self.say("bench password").await?;
        self.wait(&format!("logged in as {name}")).await?;
        Ok(())
    }

    fn rss_mib(&self) -> Option<f64> {
        self.child
            .id()
            .and_then(crate::metrics::rss_kib)
            .map(|k| k as f64 / 1024.0)
    }
}

async fn befriend(nodes: &mut [Node], a: usize, b: usize) -> Result<()> {
    let (na, nb) = (format!("user{a}"), format!("user{b}"));
    nodes[a].say(&format!("friend-add {nb}")).await?;
    nodes[b].wait(&format!("friend request from {na}")).await?;
    nodes[b].say(&format!("friend-accept {na}")).await?;
    nodes[a].wait(&format!("{nb} accepted")).await?;
    Ok(())
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Runs the scenario with `n` nodes and `m` messages per measure.
pub async fn run(n: usize, m: usize, label: &str) -> Result<Vec<Point>> {
    if n < 2 {
        bail!("--nodes must be at least 2");
    }
    let tmp = tempfile::tempdir()?;
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let boot = nodes.first();
        let node = Node::start(&tmp.path().join(format!("n{i}")), boot).await?;
        nodes.push(node);
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        node.user(&format!("user{i}")).await?;
    }
    eprintln!("node: {n} nodes up, one user each");
    let mut points = Vec::new();
    let point = |name: &str, h: &Histogram<u64>| {
        let mut p = Point::new(label, "confab-node", name);
        p.set("nodes", json!(n));
        p.set("samples", json!(h.len()));
        p.latency(h);
        p
    };

    // Name lookups (through the DHT, not the node's own records).
    let mut h = Histogram::<u64>::new(3)?;
    for k in 0..m {
        let asker = 1 + k % (n - 1);
        let whom = (asker + 1 + k / (n - 1)) % n;
        let whom = if whom == asker { 0 } else { whom };
        let t = Instant::now();
        nodes[asker].say(&format!("lookup user{whom}")).await?;
        nodes[asker].wait(&format!("user{whom}: peer=")).await?;
        h.record(us(t.elapsed()))?;
    }
    points.push(point("node-lookup", &h));

    // Direct messages: sent until the sender hears the acknowledgement.
    for i in 1..n {
        befriend(&mut nodes, 0, i).await?;
    }
    let mut h = Histogram::<u64>::new(3)?;
    for k in 0..m {
        let t = Instant::now();
        nodes[0].say(&format!("msg user1 ping {k}")).await?;
        nodes[0].wait("delivered to user1").await?;
        h.record(us(t.elapsed()))?;
        nodes[1].wait(&format!("ping {k}")).await?;
    }
    points.push(point("node-dm-rtt", &h));

    // Conferences: from one member's send to the last member's line.
    nodes[0]
        .say(&format!(
            "conf-create bench {}",
            (1..n)
                .map(|i| format!("user{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .await?;
    nodes[0].wait("created conference bench").await?;
    for node in nodes.iter_mut().skip(1) {
        node.wait("you are in conference bench").await?;
    }
    let mut h = Histogram::<u64>::new(3)?;
    for k in 0..m {
        let t = Instant::now();
        nodes[0].say(&format!("conf-send bench hello {k}")).await?;
        for node in nodes.iter_mut().skip(1) {
            node.wait(&format!("user0: hello {k}")).await?;
        }
        h.record(us(t.elapsed()))?;
    }
    points.push(point("node-conf-all", &h));

    // Idle memory, after all of the above.
    let mut idle = Point::new(label, "confab-node", "node-idle");
    let rss: Vec<f64> = nodes.iter().filter_map(Node::rss_mib).collect();
    idle.set("nodes", json!(n));
    idle.set(
        "rss_mib_max",
        json!(rss.iter().cloned().fold(0.0_f64, f64::max)),
    );
    idle.set(
        "rss_mib_mean",
        json!(rss.iter().sum::<f64>() / rss.len().max(1) as f64),
    );
    points.push(idle);

    // A queued message: the recipient's node stops, a message waits,
    // and the node comes back (on a new port): time from its start to the
    // sender's acknowledgement.
    let mut h = Histogram::<u64>::new(3)?;
    let last = n - 1;
    for k in 0..m.min(10) {
        let mut gone = nodes.pop().context("a node")?;
        gone.child.kill().await?;
        nodes[0].wait(&format!("user{last} is offline")).await?;
        nodes[0].say(&format!("msg user{last} queued {k}")).await?;
        nodes[0]
            .wait(&format!("user{last} is offline: the message"))
            .await?;
        let t = Instant::now();
        let back = Node::start(&tmp.path().join(format!("n{last}")), nodes.first()).await?;
        nodes.push(back);
        nodes[0].wait(&format!("delivered to user{last}")).await?;
        h.record(us(t.elapsed()))?;
        nodes[last].say(&format!("login user{last}")).await?;
        nodes[last].say("bench password").await?;
        nodes[last].wait(&format!("queued {k}")).await?;
        nodes[0].wait(&format!("user{last} is online")).await?;
    }
    points.push(point("node-queued", &h));
    Ok(points)
}
