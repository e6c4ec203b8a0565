//! `confab node`: real nodes (the real binary) on loopback, driven through
//! their standard input as a user's script would, reading what they print.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long a node may take to show what a step should make it show.
const DEADLINE: Duration = Duration::from_secs(30);

struct Node {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    /// Everything printed so far, in order.
    seen: Vec<String>,
    /// The addresses and peer id of its listening line.
    addrs: Vec<String>,
    peer: String,
    /// Where its client listener is (TLS), and the certificate's fingerprint.
    client: String,
    fingerprint: String,
    dir: PathBuf,
}

impl Node {
    /// A node on loopback, joining through `bootstrap`.
    async fn start(dir: &Path, bootstrap: &[&Node]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
        cmd.args([
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--client",
            "127.0.0.1:0",
        ]);
        for b in bootstrap {
            cmd.arg("--bootstrap")
                .arg(format!("{}/p2p/{}", b.addrs[0], b.peer));
        }
        let node = Node::spawn(cmd, dir).await;
        assert!(
            node.addrs
                .iter()
                .all(|a| a.starts_with("/ip4/127.0.0.1/tcp/") && !a.ends_with("/tcp/0")),
            "{:?}",
            node.addrs
        );
        node
    }

    /// A node in network namespace `ns`, on every address, finding others
    /// by mDNS alone.
    async fn in_namespace(ns: &str, dir: &Path) -> Node {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_confab")]);
        cmd.args(["node", "--listen", "/ip4/0.0.0.0/tcp/0", "--mdns"]);
        cmd.args(["--client", "127.0.0.1:0"]);
        Node::spawn(cmd, dir).await
    }

    async fn spawn(mut cmd: Command, dir: &Path) -> Node {
        cmd.arg("--data-dir")
            .arg(dir)
            .env("CONFAB_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("confab node starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = Node {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            addrs: Vec::new(),
            peer: String::new(),
            client: String::new(),
            fingerprint: String::new(),
            dir: dir.to_path_buf(),
        };
        let line = node.expect("confab node listening ").await;
        let words: Vec<&str> = line.split_whitespace().collect();
        node.addrs = words[3..]
            .iter()
            .filter(|w| w.starts_with('/'))
            .map(|w| w.to_string())
            .collect();
        node.peer = words
            .iter()
            .find_map(|w| w.strip_prefix("peer="))
            .expect("the line names the peer")
            .to_string();
        let word = |key: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("the line has {key}: {line}"))
                .to_string()
        };
        node.client = word("client=");
        node.fingerprint = word("fingerprint=");
        assert!(!node.addrs.is_empty(), "{line}");
        node
    }

    async fn say(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Waits for a line containing `text` (printed since the last wait),
    /// and returns it.
    async fn expect(&mut self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "the node ended before printing {text:?}; it printed {:#?}",
                    self.seen
                ),
                Err(_) => panic!(
                    "no {text:?} within {DEADLINE:?}; the node printed {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Like `expect`, but also looks among the lines already read.
    async fn saw(&mut self, text: &str) {
        if self.count(text) == 0 {
            self.expect(text).await;
        }
    }

    /// Registers and logs in `user` (password "pw-USER").
    async fn user(&mut self, user: &str, display: &str) {
        self.say(&format!("register {user} {display}")).await;
        self.say(&format!("pw-{user}")).await;
        self.expect(&format!("registered {user}")).await;
        self.say(&format!("login {user}")).await;
        self.say(&format!("pw-{user}")).await;
        self.expect(&format!("logged in as {user}")).await;
    }

    /// How many lines printed so far contain `text`.
    fn count(&self, text: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    async fn kill(mut self) -> PathBuf {
        self.child.kill().await.unwrap();
        self.dir
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_replay_the_demo_friends_by_name_messages_online_and_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut n1 = Node::start(&tmp.path().join("n1"), &[]).await;
    let mut n2 = Node::start(&tmp.path().join("n2"), &[&n1]).await;
    let mut n3 = Node::start(&tmp.path().join("n3"), &[&n1]).await;
    let mut n4 = Node::start(&tmp.path().join("n4"), &[&n2]).await;
    n1.user("alice", "Alice Smith").await;
    n2.user("bob", "Bob Jones").await;
    n3.user("carol", "").await;
    n4.user("dave", "").await;

    n1.say("whoami").await;
    let who = n1.expect("alice (Alice Smith) peer=").await;
    assert!(who.contains(&n1.peer), "{who}");

    // A name is someone's for good: not again on another node.
    n3.say("register bob").await;
    n3.say("pw").await;
    n3.expect("error: the name bob is taken").await;

    // Friends by name alone: each node finds the other's home in the DHT.
    n1.say("friend-add bob").await;
    n1.expect("asked bob to be your friend").await;
    n2.expect("friend request from alice").await;
    n1.expect("friend request delivered to bob").await;
    n2.say("friend-requests").await;
    n2.expect("incoming: alice; outgoing: none").await;
    n2.say("friend-accept alice").await;
    n2.expect("you and alice are friends").await;
    n1.expect("bob accepted your friend request").await;
    n1.expect("bob is online").await;
    n1.say("online-friends").await;
    n1.expect("online: bob").await;

    n1.say("msg dave hello").await;
    n1.expect("error: dave is not your friend").await;
    n4.say("friend-add alice").await;
    n1.expect("friend request from dave").await;
    n1.say("friend-decline dave").await;
    n4.expect("alice declined your friend request").await;

    // A direct message, online.
    n1.say("msg bob hello bob").await;
    n2.expect("alice: hello bob").await;
    n1.expect("delivered to bob").await;
    n2.say("msg alice hi alice").await;
    n1.expect("bob: hi alice").await;

    // Offline: bob's node stops; the message waits in alice's outbox and
    // reaches bob exactly once when his node is back, on another port.
    let old = n2.addrs.clone();
    let n2_dir = n2.kill().await;
    n1.expect("bob is offline").await;
    n1.say("msg bob while you were out").await;
    n1.expect("bob is offline: the message will be delivered when they are back")
        .await;
    let mut n2 = Node::start(&n2_dir, &[&n1]).await;
    assert_ne!(n2.addrs, old, "a new port");
    n2.say("login bob").await;
    n2.say("pw-bob").await;
    n2.expect("alice: while you were out").await;
    n1.expect("delivered to bob").await;
    n1.say("msg bob and now").await;
    n2.expect("alice: and now").await;
    assert_eq!(n2.count("while you were out"), 1, "{:#?}", n2.seen);

    // passwd: old, new, new.
    n2.say("passwd").await;
    for line in ["pw-bob", "new-pw", "new-pw"] {
        n2.say(line).await;
    }
    n2.expect("password changed").await;
    n2.say("logout").await;
    n2.expect("logged out bob").await;
    n2.say("login bob").await;
    n2.say("pw-bob").await;
    n2.expect("error: unknown user or wrong password").await;
    n2.say("login bob").await;
    n2.say("new-pw").await;
    n2.expect("logged in as bob").await;

    // Bad lines are answered, and the node goes on.
    n3.say("frobnicate").await;
    n3.expect("error: unknown command `frobnicate`").await;
    n3.say("quit").await;
    n3.expect("bye").await;
}

/// `a` (on node `na`) and `b` (on `nb`) become friends.
async fn befriend(na: &mut Node, a: &str, nb: &mut Node, b: &str) {
    na.say(&format!("friend-add {b}")).await;
    nb.expect(&format!("friend request from {a}")).await;
    nb.say(&format!("friend-accept {a}")).await;
    na.expect(&format!("{b} accepted your friend request"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conferences_across_nodes_with_a_member_added_later_catch_up_and_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut n1 = Node::start(&tmp.path().join("n1"), &[]).await;
    let mut n2 = Node::start(&tmp.path().join("n2"), &[&n1]).await;
    let mut n3 = Node::start(&tmp.path().join("n3"), &[&n1]).await;
    let mut n4 = Node::start(&tmp.path().join("n4"), &[&n1]).await;
    n1.user("alice", "").await;
    n2.user("bob", "").await;
    n3.user("carol", "").await;
    n4.user("dave", "").await;
    befriend(&mut n1, "alice", &mut n2, "bob").await;
    befriend(&mut n1, "alice", &mut n3, "carol").await;
    befriend(&mut n2, "bob", &mut n4, "dave").await;

    n1.say("conf-create team bob dave").await;
    n1.expect("error: dave is not your friend").await;
    n1.say("conf-create team bob carol").await;
    n1.expect("created conference team: alice, bob, carol")
        .await;
    n2.expect("you are in conference team (host alice): alice, bob, carol")
        .await;
    n3.expect("you are in conference team (host alice)").await;

    n2.say("conf-send team hello team").await;
    n1.expect("#team bob: hello team").await;
    n3.expect("#team bob: hello team").await;

    // Any member invites a friend of theirs, at any time.
    n2.say("conf-invite team dave").await;
    n4.expect("you are in conference team (host alice): alice, bob, carol, dave")
        .await;
    n1.expect("bob added dave to team").await;
    n4.say("conf-send team hi all").await;
    n1.expect("#team dave: hi all").await;
    n3.expect("#team dave: hi all").await;

    // carol's node is away; the host keeps what she missed.
    let n3_dir = n3.kill().await;
    n1.say("conf-send team while carol is away").await;
    n4.expect("#team alice: while carol is away").await;
    let mut n3 = Node::start(&n3_dir, &[&n1]).await;
    n3.say("login carol").await;
    n3.say("pw-carol").await;
    n3.expect("#team alice: while carol is away").await;
    n3.say("conf-list").await;
    n3.expect("host alice): alice, bob, carol, dave").await;

    // The host's user removes bob: he reads and sends nothing more there.
    n1.say("conf-remove team bob").await;
    n2.expect("you are no longer in team").await;
    n4.expect("team is now: alice, carol, dave").await;
    n2.say("conf-send team still here?").await;
    n2.expect("error: you are in no conference team").await;
    n1.say("conf-send team after bob").await;
    n3.expect("#team alice: after bob").await;
    n4.expect("#team alice: after bob").await;
    n1.say("whoami").await;
    n1.expect("alice peer=").await;
    n2.say("whoami").await;
    n2.expect("bob peer=").await;
    assert_eq!(n2.count("after bob"), 0, "{:#?}", n2.seen);
    // dave joined later: what came before is not his.
    assert_eq!(n4.count("hello team"), 0, "{:#?}", n4.seen);
    assert_eq!(n3.count("while carol is away"), 1, "{:#?}", n3.seen);
}

/// A node of our own making that speaks the nodes' protocol and says what
/// it likes: the forger.
async fn forge(to: &Node, envelope: confab_p2p::wire::Envelope) -> confab_p2p::wire::Reply {
    forge_many(to, vec![envelope]).await.remove(0)
}

/// The forger sends all `envelopes` at once: the answers, in any order.
async fn forge_many(
    to: &Node,
    envelopes: Vec<confab_p2p::wire::Envelope>,
) -> Vec<confab_p2p::wire::Reply> {
    use confab_p2p::libp2p::request_response::{self, Message, ProtocolSupport};
    use confab_p2p::libp2p::swarm::SwarmEvent;
    use confab_p2p::libp2p::{StreamProtocol, noise, tcp, yamux};
    use confab_p2p::wire::{Envelope, PROTOCOL, Reply};

    let mut swarm = confab_p2p::libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::cbor::Behaviour::<Envelope, Reply>::new(
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build();
    let peer = to.peer.parse().unwrap();
    swarm.add_peer_address(peer, to.addrs[0].parse().unwrap());
    let mut replies = Vec::new();
    let count = envelopes.len();
    for envelope in envelopes {
        swarm.behaviour_mut().send_request(&peer, envelope);
    }
    while replies.len() < count {
        let reply = until(
            &mut swarm,
            "the node's answer to the forger",
            |ev| match ev {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: Message::Response { response, .. },
                    ..
                }) => Some(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => {
                    panic!("the forger's request failed: {error}")
                }
                _ => None,
            },
        )
        .await;
        replies.push(reply);
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_naming_many_strangers_at_once_is_asked_to_come_back_later() {
    use confab_p2p::wire::{Body, Envelope, Reply};
    // The node's only known peer never answers, so each lookup of an
    // unknown sender runs until its timeout: they are all running at once.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let nobody = confab_p2p::libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.args([
        "node",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--client",
        "127.0.0.1:0",
    ]);
    cmd.arg("--bootstrap").arg(format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{nobody}",
        silent_addr.port()
    ));
    let mut node = Node::spawn(cmd, tmp.path()).await;
    node.user("bob", "").await;

    let envelopes = (0..20)
        .map(|i| Envelope {
            id: format!("id-{i}"),
            from: format!("stranger{i}"),
            to: "bob".into(),
            at: chrono_now_ms(),
            body: Body::FriendRequest,
        })
        .collect();
    let replies = forge_many(&node, envelopes).await;
    let later =
        |r: &Reply| matches!(r, Reply::Retry(why) if why.contains("too many unknown senders"));
    assert_eq!(
        replies.iter().filter(|r| later(r)).count(),
        12,
        "{replies:?}"
    );
    // The eight looked up are not found, and nothing reached bob.
    assert!(
        replies
            .iter()
            .filter(|r| !later(r))
            .all(|r| matches!(r, Reply::Retry(why) if why.contains("cannot be found yet"))),
        "{replies:?}"
    );
    assert_eq!(node.count("friend request from"), 0, "{:#?}", node.seen);
}

/// Drives a swarm of the test's own until `pick` takes one of its events.
async fn until<B, T>(
    swarm: &mut confab_p2p::libp2p::Swarm<B>,
    what: &str,
    mut pick: impl FnMut(confab_p2p::libp2p::swarm::SwarmEvent<B::ToSwarm>) -> Option<T>,
) -> T
where
    B: confab_p2p::libp2p::swarm::NetworkBehaviour,
{
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ev = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"));
        if let Some(t) = pick(ev) {
            return t;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sender_a_hijacked_name_and_a_sender_killed_while_delivering() {
    use confab_p2p::wire::{Body, Envelope, Reply};
    let tmp = tempfile::tempdir().unwrap();
    let mut n1 = Node::start(&tmp.path().join("n1"), &[]).await;
    let mut n2 = Node::start(&tmp.path().join("n2"), &[&n1]).await;
    let mut n3 = Node::start(&tmp.path().join("n3"), &[&n1]).await;
    n1.user("alice", "").await;
    n2.user("bob", "").await;
    n3.user("carol", "").await;
    befriend(&mut n1, "alice", &mut n2, "bob").await;

    // Another node speaks for alice: refused, and bob sees nothing.
    let forged = Envelope {
        id: "forged-1".into(),
        from: "alice".into(),
        to: "bob".into(),
        at: 0,
        body: Body::Dm {
            text: "send me your password".into(),
        },
    };
    assert_eq!(
        forge(&n2, forged.clone()).await,
        Reply::Rejected("alice is not a user of the node that sent this".into())
    );
    // A name nobody has: not now (it may be registered later), and
    // nothing kept.
    let unknown = Envelope {
        from: "mallory".into(),
        ..forged.clone()
    };
    assert_eq!(
        forge(&n2, unknown).await,
        Reply::Retry("mallory cannot be found yet".into())
    );

    // A node that was cut off registers "alice" too, then joins: the
    // nodes that store names keep the first owner's, and carol's friend
    // request reaches the real alice.
    let mut n5 = Node::start(&tmp.path().join("n5"), &[]).await;
    n5.say("register alice").await;
    n5.say("pw").await;
    n5.expect("registered alice").await;
    n5.say("quit").await;
    n5.expect("bye").await;
    let mut n5 = Node::start(&tmp.path().join("n5"), &[&n2]).await;
    n5.say("login alice").await;
    n5.say("pw").await;
    n5.expect("logged in as alice").await;
    n3.say("friend-add alice").await;
    n1.expect("friend request from carol").await;
    n3.expect("friend request delivered to alice").await;

    // alice's node is killed (SIGKILL) in the middle of sending: what it
    // had taken reaches bob once each when it is back.
    for i in 0..30 {
        n1.say(&format!("msg bob burst {i}")).await;
    }
    n1.say("whoami").await;
    n1.expect("alice peer=").await;
    let n1_dir = n1.kill().await;
    n2.expect("alice is offline").await;
    let mut n1 = Node::start(&n1_dir, &[&n2]).await;
    for i in 0..30 {
        n2.saw(&format!("alice: burst {i}")).await;
    }
    n1.say("whoami").await;
    n1.expect("not logged in").await;
    n2.say("whoami").await;
    n2.expect("bob peer=").await;
    // Each once, and in the order sent.
    let bursts: Vec<&String> = n2
        .seen
        .iter()
        .filter(|l| l.contains("alice: burst "))
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("alice: burst {i}")).collect();
    assert_eq!(bursts.len(), 30, "{bursts:#?}");
    for (line, want) in bursts.iter().zip(&expected) {
        assert!(line.ends_with(want.as_str()), "{bursts:#?}");
    }
    assert_eq!(n5.count("friend request from carol"), 0, "{:#?}", n5.seen);
    assert_eq!(n2.count("password"), 0, "{:#?}", n2.seen);
}

/// Hosts on a LAN of their own: a network namespace each, joined by veth
/// pairs to a bridge in one more namespace (the switch). Removed on drop.
struct Lan {
    /// The hosts' namespaces, then the switch's.
    names: Vec<String>,
}

impl Lan {
    fn new(hosts: usize) -> Lan {
        let tag = std::process::id() % 100_000;
        let switch = format!("cfb{tag}sw");
        let mut lan = Lan { names: Vec::new() };
        let mut steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), switch.clone()],
            vec![
                "-n".into(),
                switch.clone(),
                "link".into(),
                "add".into(),
                "br0".into(),
                "type".into(),
                "bridge".into(),
            ],
            vec![
                "-n".into(),
                switch.clone(),
                "link".into(),
                "set".into(),
                "br0".into(),
                "up".into(),
            ],
        ];
        for h in 0..hosts {
            let ns = format!("cfb{tag}h{h}");
            let (inner, outer) = (format!("v{tag}h{h}"), format!("v{tag}s{h}"));
            let addr = format!("10.201.0.{}/24", h + 1);
            let w = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
            steps.push(w(&["netns", "add", &ns]));
            steps.push(w(&[
                "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer,
                "netns", &switch,
            ]));
            steps.push(w(&["-n", &switch, "link", "set", &outer, "master", "br0"]));
            steps.push(w(&["-n", &switch, "link", "set", &outer, "up"]));
            steps.push(w(&["-n", &ns, "addr", "add", &addr, "dev", &inner]));
            steps.push(w(&["-n", &ns, "link", "set", &inner, "up"]));
            steps.push(w(&["-n", &ns, "link", "set", "lo", "up"]));
            // As on a LAN: the way out (and to multicast) is the link.
            steps.push(w(&["-n", &ns, "route", "add", "default", "dev", &inner]));
            lan.names.push(ns);
        }
        lan.names.push(switch);
        for args in steps {
            let out = std::process::Command::new("ip")
                .args(&args)
                .output()
                .expect("`ip` (iproute2) is needed: apt-get install iproute2");
            assert!(
                out.status.success(),
                "ip {}: {} (network namespaces need root)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        lan
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", n])
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_a_lan_where_nodes_find_each_other_by_mdns_alone() {
    let lan = Lan::new(4);
    let tmp = tempfile::tempdir().unwrap();
    let dir = |i: usize| tmp.path().join(format!("h{i}"));
    let mut n1 = Node::in_namespace(&lan.names[0], &dir(1)).await;
    let mut n2 = Node::in_namespace(&lan.names[1], &dir(2)).await;
    let mut n3 = Node::in_namespace(&lan.names[2], &dir(3)).await;
    let mut n4 = Node::in_namespace(&lan.names[3], &dir(4)).await;
    assert!(
        n1.addrs
            .iter()
            .any(|x| x.starts_with("/ip4/10.201.0.1/tcp/")),
        "{:?}",
        n1.addrs
    );
    // The last to start hears from every other.
    for other in [&n1.peer, &n2.peer, &n3.peer] {
        n4.saw(&format!("found a node on the local network: {other}"))
            .await;
    }
    n1.user("alice", "Alice Smith").await;
    n2.user("bob", "").await;
    n3.user("carol", "").await;
    n4.user("dave", "").await;

    befriend(&mut n2, "bob", &mut n1, "alice").await;
    befriend(&mut n1, "alice", &mut n3, "carol").await;
    befriend(&mut n3, "carol", &mut n4, "dave").await;
    n1.saw("bob is online").await;
    n1.saw("carol is online").await;
    n1.say("online-friends").await;
    n1.expect("online: bob, carol").await;
    n2.say("msg alice over the LAN").await;
    n1.expect("bob: over the LAN").await;

    // A conference, with a member invited later by another member.
    n1.say("conf-create lan bob carol").await;
    n2.expect("you are in conference lan").await;
    n3.say("conf-invite lan dave").await;
    n4.expect("you are in conference lan (host alice): alice, bob, carol, dave")
        .await;
    n4.say("conf-send lan hello from dave").await;
    n1.expect("#lan dave: hello from dave").await;
    n2.expect("#lan dave: hello from dave").await;

    // bob's host goes away; a message and a conference line wait for him.
    let n2_dir = n2.kill().await;
    n1.saw("bob is offline").await;
    n1.say("msg bob while you were out").await;
    n1.expect("the message will be delivered when they are back")
        .await;
    n3.say("conf-send lan missed you").await;
    let mut n2 = Node::in_namespace(&lan.names[1], &n2_dir).await;
    n2.say("login bob").await;
    n2.say("pw-bob").await;
    n2.saw("alice: while you were out").await;
    n2.saw("#lan carol: missed you").await;

    n2.say("passwd").await;
    for line in ["pw-bob", "new-pw", "new-pw"] {
        n2.say(line).await;
    }
    n2.expect("password changed").await;
    n2.say("logout").await;
    n2.say("login bob").await;
    n2.say("new-pw").await;
    n2.expect("logged in as bob").await;
    assert_eq!(n2.count("while you were out"), 1, "{:#?}", n2.seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_benchmark_measures_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("points.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "bench",
            "--scenario",
            "node",
            "--nodes",
            "3",
            "--messages",
            "3",
            "--json",
        ])
        .arg(&json)
        .env("CONFAB_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let points: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scenarios: Vec<&str> = points
        .iter()
        .map(|p| p["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios,
        [
            "node-lookup",
            "node-dm-rtt",
            "node-conf-all",
            "node-idle",
            "node-queued"
        ]
    );
    for p in &points {
        if p["scenario"] == "node-idle" {
            assert!(p["rss_mib_max"].as_f64().unwrap() > 1.0, "{p}");
        } else {
            assert_eq!(p["samples"], 3, "{p}");
            assert!(p["p50_ms"].as_f64().unwrap() > 0.0, "{p}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_pushed_into_a_nodes_store_does_not_make_it_trust_a_forger() {
    use confab_p2p::libp2p::kad::{self, Quorum, Record};
    use confab_p2p::libp2p::swarm::SwarmEvent;
    use confab_p2p::libp2p::{StreamProtocol, identity::Keypair, noise, tcp, yamux};
    use confab_p2p::wire::{Body, Envelope, NameClaim, Reply, name_key};

    let tmp = tempfile::tempdir().unwrap();
    let mut n1 = Node::start(&tmp.path().join("n1"), &[]).await;
    let mut n2 = Node::start(&tmp.path().join("n2"), &[&n1]).await;
    n1.user("alice", "").await;
    n2.user("bob", "").await;
    // A node on its own, which nobody has told about bob yet.
    let mut n4 = Node::start(&tmp.path().join("n4"), &[]).await;
    n4.user("dave", "").await;

    // The forger pushes its own signed claim on "bob" into n4's store.
    let key = Keypair::generate_ed25519();
    let forger = key.public().to_peer_id();
    let mut swarm = confab_p2p::libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            let mut k = kad::Behaviour::with_config(
                forger,
                kad::store::MemoryStore::new(forger),
                kad::Config::new(StreamProtocol::new("/confab/kad/1")),
            );
            k.set_mode(Some(kad::Mode::Server));
            k
        })
        .unwrap()
        .build();
    let victim = n4.peer.parse().unwrap();
    swarm
        .behaviour_mut()
        .add_address(&victim, n4.addrs[0].parse().unwrap());
    let claim = NameClaim {
        user: "bob".into(),
        peer: forger.to_string(),
        addrs: vec![],
        seq: 1,
    };
    let record = Record::new(name_key("bob"), claim.sign(&key));
    swarm
        .behaviour_mut()
        .put_record_to(record, std::iter::once(victim), Quorum::One);
    until(&mut swarm, "answer to the push", |ev| match ev {
        SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
            result: kad::QueryResult::PutRecord(r),
            ..
        }) => Some(r.expect("n4 took the record")),
        _ => None,
    })
    .await;

    // n4 joins the others (its store keeps the forged record) ...
    n4.say("quit").await;
    n4.expect("bye").await;
    let mut n4 = Node::start(&tmp.path().join("n4"), &[&n1]).await;
    // ... and still believes the majority: bob's own node.
    n4.say("lookup bob").await;
    let line = n4.expect("bob: peer=").await;
    assert!(line.contains(&n2.peer), "{line}");
    // A message "from bob" by the forger is refused.
    let forged = Envelope {
        id: "forged-2".into(),
        from: "bob".into(),
        to: "dave".into(),
        at: 0,
        body: Body::FriendRequest,
    };
    assert_eq!(
        forge(&n4, forged).await,
        Reply::Rejected("bob is not a user of the node that sent this".into())
    );
    n4.say("login dave").await;
    n4.say("pw-dave").await;
    n4.expect("logged in as dave").await;
    n4.say("friend-requests").await;
    n4.expect("no friend requests").await;
    n1.say("whoami").await;
    n1.expect("alice peer=").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_thirty_days_is_given_up_and_its_sender_told() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n1");
    let mut n1 = Node::start(&dir, &[]).await;
    n1.user("alice", "").await;
    n1.say("quit").await;
    n1.expect("bye").await;
    // A message to bob queued 31 days ago (the clock is the envelope's).
    let at = chrono_now_ms() - 31 * 24 * 3600 * 1000;
    let envelope = serde_json::json!({
        "id": "old-1", "from": "alice", "to": "bob", "at": at,
        "body": {"Dm": {"text": "anyone there?"}}
    });
    let db = rusqlite::Connection::open(dir.join("node.db")).unwrap();
    db.execute(
        "INSERT INTO outbox (id, to_user, envelope, queued) VALUES ('old-1', 'bob', ?1, ?2)",
        rusqlite::params![envelope.to_string(), at],
    )
    .unwrap();
    drop(db);
    let mut n1 = Node::start(&dir, &[]).await;
    n1.say("login alice").await;
    n1.say("pw-alice").await;
    n1.expect("error: gave up on a message to bob after 30 days")
        .await;
    let db = rusqlite::Connection::open(dir.join("node.db")).unwrap();
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Runs `confab ARGS` against `node`'s client listener with a profile in
/// `home` (password "pw-USER" for `user`), which must succeed: its
/// standard output.
async fn script(node: &Node, home: &Path, user: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .env("CONFAB_HOME", home)
        .env("CONFAB_SERVER", &node.client)
        .env("CONFAB_PASSWORD", format!("pw-{user}"))
        .env("CONFAB_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("confab runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "confab {args:?}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `confab ARGS` until its output contains `text` (a state that
/// other nodes bring about, which no event of the command shows), within
/// the deadline.
async fn script_until(node: &Node, home: &Path, user: &str, args: &[&str], text: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let out = script(node, home, user, args).await;
        if out.contains(text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "confab {args:?} never showed {text:?}; last:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confab_chat_and_the_scripting_commands_against_a_node() {
    use confab_testkit::tmux::Tmux;
    let tmp = tempfile::tempdir().unwrap();
    let mut n1 = Node::start(&tmp.path().join("n1"), &[]).await;
    let mut n2 = Node::start(&tmp.path().join("n2"), &[&n1]).await;
    assert!(n1.client.starts_with("127.0.0.1:"), "{}", n1.client);
    // Alice registers at her node's console and never logs in there.
    n1.say("register alice Alice").await;
    n1.say("pw-alice").await;
    n1.expect("registered alice").await;
    n2.user("bob", "Bob").await;
    let home = tmp.path().join("profile");

    // The scripting commands: log in with the node's password, ask bob
    // (by name alone) to be friends.
    let trust = n1.fingerprint.clone();
    n1.expect("alice can log in at the client listener").await;
    script(&n1, &home, "alice", &["login", "alice", "--trust", &trust]).await;
    script(&n1, &home, "alice", &["friend", "add", "bob"]).await;
    n2.expect("friend request from alice").await;
    n2.say("friend-accept alice").await;
    n2.expect("you and alice are friends").await;
    // The friendship and bob's presence reach alice's client.
    script_until(&n1, &home, "alice", &["friends"], "friend bob online").await;

    // Direct messages both ways.
    script(
        &n1,
        &home,
        "alice",
        &["send", "@bob", "hello from a script"],
    )
    .await;
    n2.expect("alice: hello from a script").await;
    n2.say("msg alice hi back from a node").await;
    script_until(
        &n1,
        &home,
        "alice",
        &["history", "@bob"],
        "hi back from a node",
    )
    .await;
    // Each once, in order.
    let history = script(&n1, &home, "alice", &["history", "@bob"]).await;
    assert_eq!(
        history.matches("hello from a script").count(),
        1,
        "{history}"
    );
    assert_eq!(
        history.matches("hi back from a node").count(),
        1,
        "{history}"
    );
    assert!(
        history.find("hello from a script") < history.find("hi back from a node"),
        "{history}"
    );

    // `confab chat`: the same conversation in the terminal, both ways.
    let tui_home = tmp.path().join("tui");
    let tui = Tmux::start(&format!(
        "env CONFAB_HOME={} {} chat {} --trust {}; sleep 600",
        tui_home.display(),
        env!("CARGO_BIN_EXE_confab"),
        n1.client,
        trust,
    ));
    tui.wait_for("Username:").await;
    tui.type_text("alice");
    tui.press(&["Tab"]);
    tui.type_text("pw-alice");
    tui.press(&["Tab", "Enter"]);
    tui.wait_for("● connected as alice").await;
    tui.type_text("/msg bob");
    tui.press(&["Enter"]);
    tui.wait_for("hi back from a node").await;
    tui.type_text("typed in a terminal");
    tui.press(&["Enter"]);
    n2.expect("alice: typed in a terminal").await;
    n2.say("msg alice live to the terminal").await;
    tui.wait_for("live to the terminal").await;

    // A conference made at bob's node is a group in alice's terminal, both
    // ways.
    n2.say("conf-create trip alice").await;
    n2.expect("created conference trip").await;
    tui.wait_for("bob added you to “trip”").await;
    tui.press(&["C-p"]);
    tui.wait_for("bob created “trip” with alice").await;
    n2.say("conf-send trip we leave at nine").await;
    tui.wait_for("we leave at nine").await;
    tui.type_text("I bring the map");
    tui.press(&["Enter"]);
    n2.expect("#trip alice: I bring the map").await;

    // A group made in the terminal with bob is a conference at his node.
    tui.type_text("/group new plans bob");
    tui.press(&["Enter"]);
    n2.expect("you are in conference plans (host alice): alice, bob")
        .await;
    tui.wait_for("&plans").await;
    tui.type_text("first plan");
    tui.press(&["Enter"]);
    n2.expect("#plans alice: first plan").await;
    n2.say("conf-send plans agreed").await;
    tui.wait_for("agreed").await;

    // Bob's node stops: alice's client shows him offline.
    n2.kill().await;
    script_until(&n1, &home, "alice", &["friends"], "friend bob offline").await;

    // A new password set from the terminal is the node's too.
    tui.type_text("/passwd");
    tui.press(&["Enter"]);
    for field in ["pw-alice", "a new secret", "a new secret"] {
        tui.type_text(field);
        tui.press(&["Enter"]);
    }
    tui.wait_for("Password changed").await;
    n1.say("login alice").await;
    n1.say("a new secret").await;
    n1.expect("logged in as alice").await;
}
