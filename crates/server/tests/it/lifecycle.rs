//! Heartbeats, stalled handshakes, graceful shutdown, the console.

use std::time::Duration;

use confab_server::console::run_command;
use confab_testkit::{DEADLINE, TestServer, Transport};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_silent_peer_is_dropped_and_shown_offline() {
    let server = TestServer::start_with(|c| {
        c.heartbeat = Duration::from_millis(500);
        c.presence_grace = Duration::ZERO;
    })
    .await;
    let mut alice = server.user(Transport::Ws, "alice").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    alice.create("general", false).await;
    bob.join("general").await;
    // Bob now says nothing, not even pong; alice answers every ping.
    let mut pings = 0;
    loop {
        let v = alice
            .take(|v| v["type"] == "ping" || v["type"] == "presence")
            .await
            .unwrap();
        if v["type"] == "ping" {
            pings += 1;
            alice.send_json(&json!({"type": "pong"})).await.unwrap();
        } else {
            assert_eq!(
                v,
                json!({"type": "presence", "user": "bob", "online": false})
            );
            break;
        }
    }
    assert!(
        pings >= 2,
        "bob was dropped only after missing heartbeats ({pings} pings)"
    );
    let got = bob.closed().await;
    assert!(
        got.iter().any(|v| v["type"] == "ping"),
        "bob was pinged before being dropped"
    );
    // Alice, who answered, is still connected after more heartbeats than the timeout.
    for _ in 0..4 {
        alice.event("ping").await;
        alice.send_json(&json!({"type": "pong"})).await.unwrap();
    }
    assert_eq!(
        alice.ok(json!({"type": "whoami"})).await["user"]["name"],
        "alice"
    );
}

#[tokio::test]
async fn a_stalled_tls_handshake_blocks_nobody_and_is_cut_off() {
    let server = TestServer::start_with(|c| c.tls_handshake_timeout = Duration::from_secs(2)).await;
    // Half a ClientHello, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(server.tcp).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(server.tcp).await.unwrap();

    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    alice.say(conv, "not blocked").await;
    assert_eq!(bob.event("message").await["message"]["text"], "not blocked");

    for s in [&mut stalled, &mut idle] {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("server closes it")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without a TLS session");
    }
}

#[tokio::test]
async fn graceful_shutdown_tells_clients_and_keeps_every_acknowledged_message() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    for i in 0..20 {
        alice.say(conv, &format!("m{i}")).await;
    }
    server.handle.shutdown("maintenance");
    for c in [&mut alice, &mut bob] {
        let got = c.closed().await;
        assert_eq!(
            got.last().unwrap(),
            &json!({"type": "shutdown", "reason": "maintenance"})
        );
    }
    let dir = server.stop().await;

    let server = TestServer::start_in(dir, |_| {}).await;
    let (mut bob, session) = server.login(Transport::Tls, "bob").await;
    assert_eq!(session["convs"][0]["last_seq"], 20);
    let hist = bob.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"].as_array().unwrap().len(), 20);
    assert_eq!(hist["messages"][19]["text"], "m19");
}

#[tokio::test]
async fn console_commands_report_and_act() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    alice.say(conv, "hi").await;
    let h = &server.handle;
    assert_eq!(
        run_command(h, "users").await,
        "1 online:\n  alice (1 connection)"
    );
    let stats = run_command(h, "stats").await;
    assert!(
        stats.contains("messages 1 since start, 1 stored"),
        "{stats}"
    );
    assert!(stats.contains("users online 1 of 1"), "{stats}");
    assert!(
        run_command(h, "fly")
            .await
            .starts_with("unknown command `fly`")
    );
    assert_eq!(run_command(h, "broadcast").await, "usage: broadcast <text>");
    assert_eq!(
        run_command(h, "broadcast tea in 5 minutes").await,
        "sent to 1 connection(s)"
    );
    assert_eq!(
        alice.event("notice").await,
        json!({"type": "notice", "text": "tea in 5 minutes"})
    );
    assert_eq!(run_command(h, "shutdown").await, "shutting down");
    assert_eq!(alice.closed().await.last().unwrap()["type"], "shutdown");
    server.wait_stopped().await;
}
