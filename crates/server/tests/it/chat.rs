//! Channels, messages, DMs, presence, invisibility and sync.

use std::time::Duration;

use confab_testkit::{TRANSPORTS, TestServer, Transport, seqs};
use serde_json::json;

async fn chat_between(a_t: Transport, b_t: Transport) {
    let server = TestServer::start().await;
    let mut alice = server.user(a_t, "alice").await;
    let mut bob = server.user(b_t, "bob").await;
    let conv = alice.create("general", false).await;
    let joined = bob
        .ok(json!({"type": "channel_join", "name": "general"}))
        .await;
    assert_eq!(
        (
            joined["channel"]["conv"].as_u64(),
            joined["channel"]["members"].as_u64()
        ),
        (Some(conv), Some(2))
    );
    let joined = alice.event("member_joined").await;
    assert_eq!(
        (joined["user"].as_str(), joined["conv"].as_u64()),
        (Some("bob"), Some(conv))
    );

    let sent = alice.say(conv, "hello bob 👋").await;
    assert_eq!(
        (sent["seq"].as_u64(), sent["sender"].as_str()),
        (Some(1), Some("alice"))
    );
    let got = bob.event("message").await["message"].clone();
    assert_eq!(
        got, sent,
        "bob receives exactly what alice's reply says was stored"
    );

    bob.say(conv, "hi alice").await;
    let got = alice.event("message").await;
    assert_eq!(
        (
            got["message"]["text"].as_str(),
            got["message"]["seq"].as_u64()
        ),
        (Some("hi alice"), Some(2))
    );

    // The sender's own connection gets the reply, not a second copy as an event.
    assert!(alice.drain("message").await.is_empty());
    let hist = bob.ok(json!({"type": "history", "conv": conv})).await;
    let texts: Vec<&str> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello bob 👋", "hi alice"]);
}

#[tokio::test]
async fn two_users_chat_over_tls() {
    chat_between(Transport::Tls, Transport::Tls).await;
}

#[tokio::test]
async fn two_users_chat_over_websocket() {
    chat_between(Transport::Ws, Transport::Ws).await;
}

#[tokio::test]
async fn one_user_on_each_transport_chat() {
    chat_between(Transport::Tls, Transport::Ws).await;
    chat_between(Transport::Ws, Transport::Tls).await;
}

#[tokio::test]
async fn the_server_sets_the_sender_not_the_client() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    let (code, msg) = alice
        .err(json!({"type": "send", "conv": conv, "text": "x", "sender": "bob"}))
        .await;
    assert_eq!(code, "bad_request");
    assert!(msg.contains("unknown field `sender`"), "{msg}");
}

#[tokio::test]
async fn presence_and_member_lists_follow_logins() {
    // A short grace period: a dropped user goes offline soon after.
    let server = TestServer::start_with(|c| c.presence_grace = Duration::from_millis(300)).await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let bob = server.user(Transport::Ws, "bob").await;
    drop(bob);
    alice.create("general", false).await;
    let (mut bob, _) = server.login(Transport::Ws, "bob").await;
    bob.join("general").await;
    let members = alice
        .ok(json!({"type": "channel_members", "name": "general"}))
        .await;
    assert_eq!(
        members["members"],
        json!([
            {"name": "alice", "role": "member", "online": true},
            {"name": "bob", "role": "member", "online": true},
        ])
    );
    drop(bob);
    let off = alice.event("presence").await;
    assert_eq!(
        off,
        json!({"type": "presence", "user": "bob", "online": false})
    );
    let (_bob, _) = server.login(Transport::Tls, "bob").await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "bob", "online": true})
    );
}

#[tokio::test]
async fn a_quick_reconnect_is_not_announced_but_a_logout_is() {
    // A grace period longer than any test deadline: an offline event seen
    // here cannot have come from it.
    let server = TestServer::start_with(|c| c.presence_grace = Duration::from_secs(600)).await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    alice.create("general", false).await;
    bob.join("general").await;
    assert!(alice.drain("presence").await.is_empty());

    // Bob's connection drops; once the server has seen it, he comes back.
    drop(bob);
    server
        .eventually("bob's connection is gone", |h| {
            h.online()
                .iter()
                .any(|(name, conns, _)| name == "bob" && *conns == 0)
        })
        .await;
    let members = alice
        .ok(json!({"type": "channel_members", "name": "general"}))
        .await;
    assert_eq!(members["members"][1]["online"], true, "still shown online");
    let (mut bob, _) = server.login(Transport::Tls, "bob").await;
    bob.barrier().await;
    assert!(
        alice.drain("presence").await.is_empty(),
        "neither offline nor online was announced"
    );

    // Logging out is meant: it is announced at once.
    bob.ok(json!({"type": "logout"})).await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "bob", "online": false})
    );
}

#[tokio::test]
async fn an_invisible_user_stays_hidden() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    bob.ok(json!({"type": "set_status", "invisible": true}))
        .await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "bob", "online": false})
    );

    let members = alice
        .ok(json!({"type": "channel_members", "name": "general"}))
        .await;
    assert_eq!(
        members["members"][1],
        json!({"name": "bob", "role": "member", "online": false})
    );
    assert_eq!(
        alice.ok(json!({"type": "users"})).await["users"],
        json!(["alice"])
    );

    // Typing would give bob away; it is not forwarded.
    bob.ok(json!({"type": "typing", "conv": conv})).await;
    // Reconnecting while invisible announces nothing, and neither does leaving.
    drop(bob);
    let (mut bob, session) = server.login(Transport::Tls, "bob").await;
    assert_eq!(
        session["user"]["invisible"], true,
        "invisibility is remembered"
    );
    assert!(alice.drain("typing").await.is_empty());
    assert!(
        alice.drain("presence").await.is_empty(),
        "no online/offline events for an invisible user"
    );

    // Bob still chats normally.
    bob.say(conv, "boo").await;
    assert_eq!(alice.event("message").await["message"]["sender"], "bob");

    // A visible user's typing does reach others (the positive control).
    alice.ok(json!({"type": "typing", "conv": conv})).await;
    assert_eq!(bob.event("typing").await["user"], "alice");

    bob.ok(json!({"type": "set_status", "invisible": false}))
        .await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "bob", "online": true})
    );
}

#[tokio::test]
async fn a_private_channel_is_invisible_to_non_members() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut carol = server.user(Transport::Ws, "carol").await;
    let secret = alice.create("secret", true).await;
    alice.create("lobby", false).await;
    alice.say(secret, "the plans").await;

    let list = carol.ok(json!({"type": "channel_list"})).await;
    let names: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lobby"]);

    // Every reply about it is the reply for a channel that does not exist.
    for (req, missing) in [
        (
            json!({"type": "channel_join", "name": "secret"}),
            json!({"type": "channel_join", "name": "nothing"}),
        ),
        (
            json!({"type": "channel_members", "name": "secret"}),
            json!({"type": "channel_members", "name": "nothing"}),
        ),
        (
            json!({"type": "channel_leave", "name": "secret"}),
            json!({"type": "channel_leave", "name": "nothing"}),
        ),
        (
            json!({"type": "history", "conv": secret}),
            json!({"type": "history", "conv": 9999}),
        ),
        (
            json!({"type": "send", "conv": secret, "text": "hi"}),
            json!({"type": "send", "conv": 9999, "text": "hi"}),
        ),
    ] {
        let (code, msg) = carol.err(req).await;
        let (code2, msg2) = carol.err(missing).await;
        assert_eq!(code, "not_found");
        assert_eq!(code, code2);
        assert_eq!(
            msg.replace("secret", "X").replace(&secret.to_string(), "N"),
            msg2.replace("nothing", "X").replace("9999", "N")
        );
    }
    let synced = carol.ok(json!({"type": "sync"})).await;
    assert_eq!(synced["convs"], json!([]));

    // Only the owner (or an admin) may invite; then carol is in.
    let mut bob = server.user(Transport::Tls, "bob").await;
    let (code, _) = bob
        .err(json!({"type": "channel_invite", "name": "secret", "user": "carol"}))
        .await;
    assert_eq!(code, "not_found", "bob cannot even see it");
    alice
        .ok(json!({"type": "channel_invite", "name": "secret", "user": "carol"}))
        .await;
    let invited = carol.event("invited").await;
    assert_eq!(
        (invited["channel"]["name"].as_str(), invited["by"].as_str()),
        (Some("secret"), Some("alice"))
    );
    let hist = carol.ok(json!({"type": "history", "conv": secret})).await;
    assert_eq!(hist["messages"][0]["text"], "the plans");
    carol.say(secret, "thanks").await;
    assert_eq!(alice.event("message").await["message"]["text"], "thanks");

    let (code, msg) = carol
        .err(json!({"type": "channel_delete", "name": "secret"}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("only the owner"), "{msg}");
    alice
        .ok(json!({"type": "channel_delete", "name": "secret"}))
        .await;
    assert_eq!(carol.event("channel_deleted").await["channel"], "secret");
    assert_eq!(
        carol
            .err(json!({"type": "history", "conv": secret}))
            .await
            .0,
        "not_found"
    );
}

#[tokio::test]
async fn typing_notices_are_passed_on_at_most_once_per_interval() {
    // An interval no test outlasts: a second notice is always inside it.
    let server = TestServer::start_with(|c| c.typing_every = Duration::from_secs(3600)).await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = ann.create("plans", false).await;
    bob.join("plans").await;
    for _ in 0..5 {
        ann.ok(json!({"type": "typing", "conv": conv})).await;
    }
    ann.say(conv, "done").await;
    assert_eq!(bob.event("message").await["message"]["text"], "done");
    assert_eq!(
        bob.drain("typing").await.len(),
        1,
        "five notices in a row reach him once"
    );
    // The interval is per conversation: another one is not held back.
    let dm = ann
        .ok(json!({"type": "dm_send", "user": "bob", "text": "psst"}))
        .await["message"]["conv"]
        .as_u64()
        .unwrap();
    bob.event("message").await;
    ann.ok(json!({"type": "typing", "conv": dm})).await;
    assert_eq!(bob.event("typing").await["conv"], dm);
}

#[tokio::test]
async fn a_dm_to_an_offline_user_arrives_on_connect() {
    for t in TRANSPORTS {
        let server = TestServer::start().await;
        let bob = server.user(t, "bob").await;
        drop(bob);
        let mut alice = server.user(Transport::Tls, "alice").await;
        let sent = alice
            .ok(json!({"type": "dm_send", "user": "bob", "text": "are you there?"}))
            .await["message"]
            .clone();

        let (mut bob, session) = server.login(t, "bob").await;
        let dm = &session["convs"][0];
        assert_eq!(
            (
                dm["kind"].as_str(),
                dm["name"].as_str(),
                dm["last_seq"].as_u64()
            ),
            (Some("dm"), Some("alice"), Some(1))
        );
        let synced = bob.ok(json!({"type": "sync", "since": []})).await;
        assert_eq!(synced["convs"][0]["messages"], json!([sent]));

        // Online now: the next DM arrives live, both ways.
        bob.ok(json!({"type": "dm_send", "user": "alice", "text": "yes"}))
            .await;
        assert_eq!(alice.event("message").await["message"]["text"], "yes");
        alice
            .ok(json!({"type": "dm_send", "user": "bob", "text": "great"}))
            .await;
        assert_eq!(bob.event("message").await["message"]["seq"], 3);
        let (code, _) = bob
            .err(json!({"type": "dm_send", "user": "nobody", "text": "x"}))
            .await;
        assert_eq!(code, "not_found");
    }
}

#[tokio::test]
async fn a_retried_nonce_does_not_duplicate() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    let send = json!({"type": "send", "conv": conv, "text": "only once", "nonce": "c0ffee-1"});
    let first = alice.ok(send.clone()).await;
    let again = alice.ok(send.clone()).await;
    assert_eq!(first["duplicate"], false);
    assert_eq!(again["duplicate"], true);
    assert_eq!(first["message"], again["message"]);
    // A retry from another connection of the same user (after a reconnect) too.
    let (mut alice2, _) = server.login(Transport::Ws, "alice").await;
    assert_eq!(alice2.ok(send).await["message"], first["message"]);
    // The same nonce from someone else is their own message.
    let bobs = bob
        .ok(json!({"type": "send", "conv": conv, "text": "mine", "nonce": "c0ffee-1"}))
        .await;
    assert_eq!(
        (bobs["duplicate"].as_bool(), bobs["message"]["seq"].as_u64()),
        (Some(false), Some(2))
    );

    assert_eq!(
        bob.drain("message").await.len(),
        1,
        "bob got alice's message once"
    );
    let hist = bob.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reconnect_and_sync_lose_and_duplicate_nothing_while_another_keeps_sending() {
    const TOTAL: u64 = 300;
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;

    let sender = tokio::spawn(async move {
        for i in 1..=TOTAL {
            alice.say(conv, &format!("m{i}")).await;
        }
        alice
    });

    // Bob reads a while, then drops off mid-stream.
    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < 50 {
        seen.push(
            bob.event("message").await["message"]["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    let token = bob.token.clone().unwrap();
    drop(bob);

    // Resume with the token (no password), then sync from the last seq seen.
    let mut bob = server.hello(Transport::Tls).await;
    bob.ok(json!({"type": "resume", "token": token})).await;
    let last = *seen.last().unwrap();
    let synced = bob
        .ok(json!({"type": "sync", "since": [{"conv": conv, "seq": last}]}))
        .await;
    let page = seqs(&synced["convs"][0]["messages"]);
    assert!(
        page.windows(2).all(|w| w[1] == w[0] + 1),
        "sync is gap-free and in order: {page:?}"
    );
    assert!(page.first().is_none_or(|f| *f == last + 1));
    seen.extend(&page);

    // Live events continue; a client merges by seq, keeping what is new.
    let mut live = Vec::new();
    while *seen.iter().max().unwrap() < TOTAL {
        let seq = bob.event("message").await["message"]["seq"]
            .as_u64()
            .unwrap();
        live.push(seq);
        if seq > *seen.iter().max().unwrap() {
            seen.push(seq);
        }
    }
    sender.await.unwrap();
    assert!(
        live.windows(2).all(|w| w[1] > w[0]),
        "live events never repeat or go back: {live:?}"
    );
    assert_eq!(
        seen,
        (1..=TOTAL).collect::<Vec<_>>(),
        "every message exactly once, in order"
    );
    let hist = bob
        .ok(json!({"type": "history", "conv": conv, "after": 0, "limit": 500}))
        .await;
    assert_eq!(hist["messages"].as_array().unwrap().len() as u64, TOTAL);
}

#[tokio::test]
async fn history_pages_backwards_and_forwards() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    for i in 1..=12 {
        alice.say(conv, &format!("m{i}")).await;
    }
    let newest = alice
        .ok(json!({"type": "history", "conv": conv, "limit": 5}))
        .await;
    assert_eq!(
        (seqs(&newest["messages"]), newest["more"].as_bool()),
        (vec![8, 9, 10, 11, 12], Some(true))
    );
    let older = alice
        .ok(json!({"type": "history", "conv": conv, "before": 8, "limit": 5}))
        .await;
    assert_eq!(seqs(&older["messages"]), vec![3, 4, 5, 6, 7]);
    let oldest = alice
        .ok(json!({"type": "history", "conv": conv, "before": 3, "limit": 5}))
        .await;
    assert_eq!(
        (seqs(&oldest["messages"]), oldest["more"].as_bool()),
        (vec![1, 2], Some(false))
    );
    let after = alice
        .ok(json!({"type": "history", "conv": conv, "after": 10}))
        .await;
    assert_eq!(
        (seqs(&after["messages"]), after["more"].as_bool()),
        (vec![11, 12], Some(false))
    );
    let (code, msg) = alice
        .err(json!({"type": "history", "conv": conv, "before": 3, "after": 1}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("bad_request", "give `before` or `after`, not both")
    );
    let (_, msg) = alice
        .err(json!({"type": "history", "conv": conv, "limit": 100000}))
        .await;
    assert!(msg.contains("at most 500"), "{msg}");
}
