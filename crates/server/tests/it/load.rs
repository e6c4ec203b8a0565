//! Fan-out under load: slow readers and many clients.

use std::sync::atomic::Ordering;

use confab_testkit::{Client, TestServer, Transport, seqs};
use serde_json::json;

/// Message event seqs for `conv` in arrival order, until `want` have arrived.
async fn collect(
    c: &mut Client,
    conv: u64,
    mut own: Vec<u64>,
    want: usize,
) -> (Vec<u64>, Vec<u64>) {
    let mut events = Vec::new();
    while events.len() + own.len() < want {
        let v = c.event("message").await;
        assert_eq!(v["message"]["conv"], conv);
        events.push(v["message"]["seq"].as_u64().unwrap());
    }
    own.sort();
    (events, own)
}

/// A client whose socket barely buffers and which has stopped reading.
async fn stuck_client(server: &TestServer) -> Client {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(server.tcp).await.unwrap();
    let mut stuck = Client::tls_with_socket(tcp, server.dir.path())
        .await
        .unwrap();
    stuck
        .ok(json!({"type": "hello", "protocol": 1, "client": "stuck"}))
        .await;
    stuck
        .ok(json!({"type": "register", "username": "stuck", "password": "password-stuck"}))
        .await;
    stuck.join("general").await;
    stuck.set_reading(false);
    stuck
}

/// Lets the stuck client read again and catch up the way a real client
/// does: take live messages until told it lagged (or has them all), then
/// sync and page through history. Returns every seq it ends up with, and
/// whether it was told it lagged.
async fn catch_up(stuck: &mut Client, conv: u64, total: usize) -> (Vec<u64>, bool) {
    stuck.set_reading(true);
    let mut got = Vec::new();
    let mut lagged = false;
    while got.len() < total {
        let v = stuck
            .take(|v| v["type"] == "message" || v["type"] == "lagged")
            .await
            .unwrap();
        if v["type"] == "lagged" {
            lagged = true;
            break;
        }
        got.push(v["message"]["seq"].as_u64().unwrap());
    }
    let mut after = got.last().copied().unwrap_or(0);
    let synced = stuck
        .ok(json!({"type": "sync", "since": [{"conv": conv, "seq": after}]}))
        .await;
    let page = seqs(&synced["convs"][0]["messages"]);
    got.extend(&page);
    after = got.last().copied().unwrap_or(0);
    while got.len() < total {
        let h = stuck
            .ok(json!({"type": "history", "conv": conv, "after": after, "limit": 500}))
            .await;
        got.extend(
            h["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_u64().unwrap()),
        );
        after = *got.last().unwrap();
    }
    (got, lagged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_delay_fifty_others() {
    const MESSAGES: usize = 400;
    let server = TestServer::start_with(|c| c.outbox_bytes = 64 * 1024).await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    let mut stuck = stuck_client(&server).await;

    let others = server.users_in(50, "general").await;
    let receivers: Vec<_> = others
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move { collect(&mut c, conv, Vec::new(), MESSAGES).await.0 })
        })
        .collect();
    let text = "z".repeat(1000);
    for _ in 0..MESSAGES {
        alice.say(conv, &text).await;
    }
    // All fifty got everything while the stuck client read nothing.
    for r in receivers {
        assert_eq!(r.await.unwrap(), (1..=MESSAGES as u64).collect::<Vec<_>>());
    }
    let (got, _) = catch_up(&mut stuck, conv, MESSAGES).await;
    assert_eq!(got, (1..=MESSAGES as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_at_its_queue_bound_and_catches_up() {
    // 8 MB of messages: more than the kernel's socket buffers (4 MB at most
    // here) and the 64 KiB outbox can hold together.
    const MESSAGES: usize = 2000;
    let server = TestServer::start_with(|c| {
        c.outbox_bytes = 64 * 1024;
        // Long enough that the stuck client is not dropped as a dead peer:
        // this test is about the lag path.
        c.heartbeat = std::time::Duration::from_secs(120);
    })
    .await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    let mut stuck = stuck_client(&server).await;
    // Pipelined, as a busy client sends: the server batches the writes.
    let text = "q".repeat(4000);
    for i in 0..MESSAGES {
        alice
            .send_json(&json!({"id": 10_000 + i, "type": "send", "conv": conv, "text": text}))
            .await
            .unwrap();
    }
    assert_eq!(
        alice.reply_to(10_000 + MESSAGES as u64 - 1).await["message"]["seq"],
        MESSAGES
    );
    let dropped = server.handle.stats().events_dropped.load(Ordering::Relaxed);
    assert!(
        dropped > 0,
        "the stuck client's queue was cut at its bound, not grown"
    );

    let (got, lagged) = catch_up(&mut stuck, conv, MESSAGES).await;
    assert!(lagged, "the client is told it fell behind");
    assert_eq!(
        got,
        (1..=MESSAGES as u64).collect::<Vec<_>>(),
        "and loses nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_in_one_channel_each_receive_every_message_once_in_order() {
    const CLIENTS: usize = 200;
    const SENDERS: usize = 10;
    const EACH: usize = 20;
    const TOTAL: usize = SENDERS * EACH;
    let server = TestServer::start().await;
    let mut owner = server.user(Transport::Tls, "owner").await;
    let conv = owner.create("general", false).await;
    let clients = server.users_in(CLIENTS, "general").await;

    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                let mut own = Vec::new();
                if i < SENDERS {
                    for n in 0..EACH {
                        own.push(
                            c.say(conv, &format!("{i}:{n}")).await["seq"]
                                .as_u64()
                                .unwrap(),
                        );
                    }
                }
                collect(&mut c, conv, own, TOTAL).await
            })
        })
        .collect();
    for t in tasks {
        let (events, own) = t.await.unwrap();
        assert!(
            events.windows(2).all(|w| w[0] < w[1]),
            "in order, no repeats: {events:?}"
        );
        let mut all: Vec<u64> = events.into_iter().chain(own).collect();
        all.sort();
        assert_eq!(
            all,
            (1..=TOTAL as u64).collect::<Vec<_>>(),
            "every message exactly once"
        );
    }
    let (events, _) = collect(&mut owner, conv, Vec::new(), TOTAL).await;
    assert_eq!(events, (1..=TOTAL as u64).collect::<Vec<_>>());
}
