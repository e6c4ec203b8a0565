//! The client core and its tokio driver against a real server: real TLS
//! (with trust on first use), real SQLite caches on disk, a real restart.

#![cfg(feature = "native")]

use std::path::Path;
use std::sync::{Arc, Mutex};

use confab_client::native::tls::fingerprint;
use confab_client::native::{Connector, Profile, Shared, SqliteCache, TrustError, drive, now_ms};
use confab_client::{Action, Auth, Client, ConnState, Target};
use confab_proto::ConvKind;
use confab_testkit::{DEADLINE, TestServer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

type SharedClient = Arc<Shared<SqliteCache>>;

/// The fingerprint of the self-signed certificate a test server made.
fn server_fingerprint(data_dir: &Path) -> String {
    let cert = CertificateDer::from_pem_file(data_dir.join(confab_server::tls::SELF_SIGNED_CERT))
        .expect("server certificate");
    fingerprint(&cert)
}

struct Peer {
    shared: SharedClient,
    connector: Arc<Mutex<Connector>>,
    task: tokio::task::JoinHandle<()>,
}

fn start(cache: &Path, addr: &str, pin: Option<String>, auth: Option<Auth>) -> Peer {
    start_with(cache, Connector::new(addr, pin), auth)
}

fn start_with(cache: &Path, connector: Connector, auth: Option<Auth>) -> Peer {
    let mut client = Client::new(SqliteCache::open(cache).unwrap(), "e2e", now_ms()).unwrap();
    if let Some(auth) = auth {
        client.set_auth(auth, now_ms());
    }
    let shared = Shared::new(client);
    let connector = Arc::new(Mutex::new(connector));
    let task = tokio::spawn(drive(shared.clone(), connector.clone()));
    Peer {
        shared,
        connector,
        task,
    }
}

/// Waits, under the test deadline, until `cond` holds for the client.
async fn until(shared: &SharedClient, what: &str, cond: impl Fn(&Client<SqliteCache>) -> bool) {
    let wait = async {
        loop {
            // Register interest before checking, so no change is missed.
            let changed = shared.changed.notified();
            if cond(&shared.lock()) {
                return;
            }
            changed.await;
        }
    };
    if tokio::time::timeout(DEADLINE, wait).await.is_err() {
        let c = shared.lock();
        panic!(
            "timed out waiting until {what}; state {:?}, events {:?}",
            c.state(),
            c.outbox()
        );
    }
}

fn texts(c: &Client<SqliteCache>, channel: &str) -> Vec<String> {
    let Some(conv) = c.conv_named(ConvKind::Channel, channel) else {
        return Vec::new();
    };
    c.messages(conv.conv, None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|m| format!("{}: {}", m.sender, m.text().unwrap_or_default()))
        .collect()
}

async fn act(peer: &Peer, action: Action) {
    peer.shared.lock().act(action).expect("online");
    peer.shared.wake.notify_one();
}

fn register(name: &str) -> Option<Auth> {
    Some(Auth::Register {
        username: name.into(),
        password: format!("password-{name}"),
        invite: None,
        setup: None,
    })
}

#[tokio::test]
async fn messages_written_while_the_server_is_down_arrive_once_and_in_order_after_it_restarts() {
    let server = TestServer::start().await;
    let (tcp, http) = (server.tcp, server.http);
    let pin = Some(server_fingerprint(server.dir.path()));
    let local = tempfile::tempdir().unwrap();
    let (ann_db, bob_db) = (
        local.path().join("ann.sqlite3"),
        local.path().join("bob.sqlite3"),
    );
    let addr = tcp.to_string();

    let ann = start(&ann_db, &addr, pin.clone(), register("ann"));
    until(&ann.shared, "ann is online", |c| {
        *c.state() == ConnState::Online
    })
    .await;
    act(
        &ann,
        Action::CreateChannel {
            name: "general".into(),
            private: false,
            topic: None,
        },
    )
    .await;
    until(&ann.shared, "ann has #general", |c| {
        c.conv_named(ConvKind::Channel, "general").is_some()
    })
    .await;

    let bob = start(&bob_db, &addr, pin.clone(), register("bob"));
    until(&bob.shared, "bob is online", |c| {
        *c.state() == ConnState::Online
    })
    .await;
    act(&bob, Action::Join("general".into())).await;
    until(&bob.shared, "bob has #general", |c| {
        c.conv_named(ConvKind::Channel, "general").is_some()
    })
    .await;

    let general = ann
        .shared
        .lock()
        .conv_named(ConvKind::Channel, "general")
        .unwrap()
        .conv;
    ann.shared
        .lock()
        .send(Target::Conv(general), "hello bob", now_ms() as i64)
        .unwrap();
    ann.shared.wake.notify_one();
    until(&bob.shared, "bob has ann's first message", |c| {
        texts(c, "general") == ["ann: hello bob"]
    })
    .await;

    // The server stops; both clients notice.
    let dir = server.stop().await;
    for p in [&ann, &bob] {
        until(&p.shared, "the client is offline", |c| {
            matches!(c.state(), ConnState::Offline { .. })
        })
        .await;
    }

    // Ann writes three messages, then quits: they are only in her outbox.
    for text in ["one", "two", "three"] {
        ann.shared
            .lock()
            .send(Target::Conv(general), text, now_ms() as i64)
            .unwrap();
    }
    assert_eq!(ann.shared.lock().pending_in(general).len(), 3);
    ann.task.abort();
    let _ = ann.task.await;
    drop(ann.shared);

    // The server comes back on the same ports; Ann starts her client again.
    let server = TestServer::start_in(dir, |c| {
        c.tcp = tcp;
        c.http = http;
    })
    .await;
    let ann = start(&ann_db, &addr, pin.clone(), None);
    assert_eq!(
        ann.shared.lock().outbox().len(),
        3,
        "the outbox survived the restart"
    );
    until(&ann.shared, "ann's outbox is empty", |c| {
        c.outbox().is_empty() && *c.state() == ConnState::Online
    })
    .await;
    let want = ["ann: hello bob", "ann: one", "ann: two", "ann: three"];
    until(&bob.shared, "bob has all four messages", |c| {
        texts(c, "general").len() >= 4
    })
    .await;
    assert_eq!(
        texts(&bob.shared.lock(), "general"),
        want,
        "each exactly once, in order"
    );
    assert_eq!(texts(&ann.shared.lock(), "general"), want);

    // And the server stored each once.
    let mut check = server.user(confab_testkit::Transport::Tls, "carol").await;
    check.join("general").await;
    let page = check
        .ok(serde_json::json!({"type": "history", "conv": general}))
        .await;
    let stored: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ["hello bob", "one", "two", "three"]);
}

#[tokio::test]
async fn a_self_signed_certificate_is_trusted_on_first_use_and_a_changed_one_is_refused() {
    let server = TestServer::start().await;
    let local = tempfile::tempdir().unwrap();
    let db = local.path().join("dee.sqlite3");
    let want = server_fingerprint(server.dir.path());
    assert_eq!(want, server.fingerprint);

    // Nothing pinned: the connection is refused with the fingerprint to confirm.
    let dee = start(&db, &server.tcp.to_string(), None, register("dee"));
    let wait = async {
        loop {
            let changed = dee.shared.changed.notified();
            if let Some(t) = dee.shared.trust.lock().unwrap().clone() {
                return t;
            }
            changed.await;
        }
    };
    let refused = tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("refused in time");
    assert_eq!(
        refused,
        TrustError::Unknown {
            fingerprint: want.clone()
        }
    );
    assert!(matches!(
        dee.shared.lock().state(),
        ConnState::Offline { .. } | ConnState::Connecting
    ));

    // The user accepts: pin it, connect again.
    Profile::pin(dee.shared.lock().cache_mut(), Some(&want)).unwrap();
    dee.connector.lock().unwrap().pinned = Some(want.clone());
    dee.shared.lock().retry_now(now_ms());
    dee.shared.wake.notify_one();
    until(&dee.shared, "dee is online", |c| {
        *c.state() == ConnState::Online
    })
    .await;
    assert_eq!(
        Profile::pinned(dee.shared.lock().cache()).unwrap(),
        Some(want.clone())
    );
    dee.task.abort();

    // Another server (another certificate) under the same pin is refused.
    let other = TestServer::start().await;
    let Err(err) = Connector::new(&other.tcp.to_string(), Some(want.clone()))
        .connect()
        .await
    else {
        panic!("a changed certificate must be refused");
    };
    let text = err.to_string();
    assert!(text.contains("CHANGED") && text.contains(&want), "{text}");
    assert!(
        text.contains(&server_fingerprint(other.dir.path())),
        "{text}"
    );
}

#[tokio::test]
async fn typing_goes_over_udp_and_over_the_connection_when_udp_is_blocked() {
    use std::sync::atomic::Ordering;
    let server = TestServer::start().await;
    let pin = Some(server_fingerprint(server.dir.path()));
    let addr = server.tcp.to_string();
    let local = tempfile::tempdir().unwrap();
    // Bob's datagrams go where nothing answers: UDP is blocked for him.
    let blackhole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut blocked = Connector::new(&addr, pin.clone());
    blocked.udp = confab_client::native::Udp::Via(blackhole.local_addr().unwrap());
    let ann = start(
        &local.path().join("ann"),
        &addr,
        pin.clone(),
        register("ann"),
    );
    let bob = start_with(&local.path().join("bob"), blocked, register("bob"));
    until(&ann.shared, "ann is online", |c| {
        *c.state() == ConnState::Online
    })
    .await;
    act(
        &ann,
        Action::CreateChannel {
            name: "general".into(),
            private: false,
            topic: None,
        },
    )
    .await;
    until(&ann.shared, "ann has #general", |c| {
        c.conv_named(ConvKind::Channel, "general").is_some()
    })
    .await;
    until(&bob.shared, "bob is online", |c| {
        *c.state() == ConnState::Online
    })
    .await;
    act(&bob, Action::Join("general".into())).await;
    until(&bob.shared, "bob has #general", |c| {
        c.conv_named(ConvKind::Channel, "general").is_some()
    })
    .await;
    let general = ann
        .shared
        .lock()
        .conv_named(ConvKind::Channel, "general")
        .unwrap()
        .conv;
    // Ann's path comes up (the server answers her pings); bob's never does.
    until(&ann.shared, "ann's UDP path is up", |c| c.udp_up(now_ms())).await;
    assert!(!bob.shared.lock().udp_up(now_ms()));

    // Ann types: by datagram. Bob hears it on his connection.
    let stats = server.handle.stats();
    {
        let mut c = ann.shared.lock();
        c.open(Target::Conv(general), now_ms());
        c.typed(now_ms());
    }
    ann.shared.wake.notify_one();
    until(&bob.shared, "bob sees ann typing", |c| {
        c.typing_in(general, now_ms()) == ["ann"]
    })
    .await;
    assert_eq!(stats.udp_typing_in.load(Ordering::Relaxed), 1);

    // Bob types: his path is not up, so over his connection. Ann's path
    // works both ways, so it reaches her by datagram.
    let out_before = stats.udp_out.load(Ordering::Relaxed);
    {
        let mut c = bob.shared.lock();
        c.open(Target::Conv(general), now_ms());
        c.typed(now_ms());
    }
    bob.shared.wake.notify_one();
    until(&ann.shared, "ann sees bob typing", |c| {
        c.typing_in(general, now_ms()) == ["bob"]
    })
    .await;
    assert_eq!(
        stats.udp_typing_in.load(Ordering::Relaxed),
        1,
        "bob's was not a datagram"
    );
    assert!(
        stats.udp_out.load(Ordering::Relaxed) > out_before,
        "ann got it by datagram"
    );
}
