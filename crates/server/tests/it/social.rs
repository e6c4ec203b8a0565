//! Friends and blocks, over the wire: requests that wait for the offline,
//! live updates on every change, friends' presence, and blocks that reveal
//! nothing to the blocked.

use std::time::Duration;

use confab_testkit::{Client, TestServer, Transport};
use serde_json::{Value, json};

async fn friends(c: &mut Client) -> Value {
    c.ok(json!({"type": "friends"})).await
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| n["name"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn update(c: &mut Client) -> Value {
    let mut v = c.event("friend_update").await;
    v.as_object_mut().unwrap().remove("type");
    v
}

#[tokio::test]
async fn the_friend_flow_between_three_users_one_of_them_offline() {
    let server = TestServer::start_with(|c| c.presence_grace = Duration::ZERO).await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    drop(server.user(Transport::Tls, "carol").await);

    // Alice asks bob (online) and carol (offline).
    let r = alice
        .ok(json!({"type": "friend_request", "user": "bob"}))
        .await;
    assert_eq!(r["state"], "outgoing");
    assert_eq!(
        update(&mut bob).await,
        json!({"user": "alice", "state": "incoming", "online": false})
    );
    alice
        .ok(json!({"type": "friend_request", "user": "carol"}))
        .await;
    let mine = friends(&mut alice).await;
    assert_eq!(names(&mine["outgoing"]), ["bob", "carol"]);

    // Bob accepts: both hear, with each other's presence.
    let r = bob
        .ok(json!({"type": "friend_accept", "user": "alice"}))
        .await;
    assert_eq!(
        r,
        json!({"id": r["id"], "type": "friendship", "user": "alice", "state": "friends"})
    );
    assert_eq!(
        update(&mut alice).await,
        json!({"user": "bob", "state": "friends", "online": true})
    );
    let mine = friends(&mut alice).await;
    assert_eq!(mine["friends"], json!([{"name": "bob", "online": true}]));
    assert_eq!(names(&mine["outgoing"]), ["carol"]);

    // Carol comes back: the request waited for her.
    let (mut carol, _) = server.login(Transport::Tls, "carol").await;
    let hers = friends(&mut carol).await;
    assert_eq!(names(&hers["incoming"]), ["alice"]);
    // Asking back is accepting.
    let r = carol
        .ok(json!({"type": "friend_request", "user": "alice"}))
        .await;
    assert_eq!(r["state"], "friends");
    assert_eq!(update(&mut alice).await["state"], "friends");

    // Friends see each other come and go, with no channel in common.
    carol.ok(json!({"type": "logout"})).await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "carol", "online": false})
    );
    let (mut carol, _) = server.login(Transport::Ws, "carol").await;
    assert_eq!(
        alice.event("presence").await,
        json!({"type": "presence", "user": "carol", "online": true})
    );
    // ...but never an invisible one.
    carol
        .ok(json!({"type": "set_status", "invisible": true}))
        .await;
    assert_eq!(alice.event("presence").await["online"], false);
    let mine = friends(&mut alice).await;
    assert_eq!(
        mine["friends"],
        json!([{"name": "bob", "online": true}, {"name": "carol", "online": false}])
    );
    assert!(
        bob.drain("presence").await.is_empty(),
        "bob is not carol's friend"
    );

    // Remove: both sides hear.
    alice
        .ok(json!({"type": "friend_remove", "user": "carol"}))
        .await;
    assert_eq!(
        update(&mut carol).await,
        json!({"user": "alice", "state": "none", "online": false})
    );
    assert_eq!(
        names(&friends(&mut carol).await["friends"]),
        Vec::<String>::new()
    );

    // Decline and cancel.
    bob.ok(json!({"type": "friend_request", "user": "carol"}))
        .await;
    assert_eq!(update(&mut carol).await["state"], "incoming");
    bob.ok(json!({"type": "friend_cancel", "user": "carol"}))
        .await;
    assert_eq!(update(&mut carol).await["state"], "none");
    carol
        .ok(json!({"type": "friend_request", "user": "bob"}))
        .await;
    assert_eq!(update(&mut bob).await["state"], "incoming");
    bob.ok(json!({"type": "friend_decline", "user": "carol"}))
        .await;
    assert_eq!(update(&mut carol).await["state"], "none");
    let (code, msg) = bob
        .err(json!({"type": "friend_accept", "user": "carol"}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("not_found", "no friend request from `carol`")
    );

    // Another device of the asker hears of its own changes.
    let (mut alice2, _) = server.login(Transport::Ws, "alice").await;
    alice
        .ok(json!({"type": "friend_remove", "user": "bob"}))
        .await;
    assert_eq!(
        update(&mut alice2).await,
        json!({"user": "bob", "state": "none", "online": false})
    );
}

#[tokio::test]
async fn a_blocked_user_cannot_reach_you_and_is_told_nothing() {
    let server = TestServer::start().await;
    let mut dave = server.user(Transport::Tls, "dave").await;
    let mut erin = server.user(Transport::Ws, "erin").await;
    // Friends first: blocking ends it, and to erin that looks like a removal.
    erin.ok(json!({"type": "friend_request", "user": "dave"}))
        .await;
    assert_eq!(update(&mut dave).await["state"], "incoming");
    dave.ok(json!({"type": "friend_accept", "user": "erin"}))
        .await;
    update(&mut erin).await;
    let r = dave.ok(json!({"type": "block", "user": "erin"})).await;
    assert_eq!(r["state"], "blocked");
    assert_eq!(
        update(&mut erin).await,
        json!({"user": "dave", "state": "none", "online": false})
    );
    assert_eq!(names(&friends(&mut dave).await["blocked"]), ["erin"]);

    // Erin's request looks sent; dave never hears of it.
    let r = erin
        .ok(json!({"type": "friend_request", "user": "dave"}))
        .await;
    assert_eq!(r["state"], "outgoing");
    assert_eq!(names(&friends(&mut erin).await["outgoing"]), ["dave"]);
    let his = friends(&mut dave).await;
    assert_eq!(his["incoming"], json!([]));
    assert!(dave.drain("friend_update").await.is_empty());
    let (code, _) = dave
        .err(json!({"type": "friend_accept", "user": "erin"}))
        .await;
    assert_eq!(code, "not_found");

    // Her direct message is answered like any other, but dave reads nothing of it.
    let sent = erin
        .ok(json!({"type": "dm_send", "user": "dave", "text": "let me explain"}))
        .await;
    assert_eq!(sent["type"], "sent");
    assert_eq!(sent["message"]["text"], "let me explain");
    let conv = sent["message"]["conv"].as_u64().unwrap();
    let got = dave.event("message").await;
    assert_eq!(got["message"]["kind"], "withheld");
    assert!(got["message"].get("text").is_none(), "{got}");
    let hist = dave.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"][0]["kind"], "withheld");
    assert!(!hist.to_string().contains("explain"));
    // Her own history is as she wrote it.
    let hist = erin.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"][0]["text"], "let me explain");
    // Her typing does not reach him.
    erin.ok(json!({"type": "typing", "conv": conv})).await;
    assert!(dave.drain("typing").await.is_empty());
    // Dave cannot write to her while he blocks her (it is his own block).
    let (code, msg) = dave
        .err(json!({"type": "dm_send", "user": "erin", "text": "hm"}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("you blocked `erin`"), "{msg}");

    // Unblocked: they can talk again, and the request she made meanwhile
    // shows now.
    let r = dave.ok(json!({"type": "unblock", "user": "erin"})).await;
    assert_eq!(r["state"], "incoming");
    assert_eq!(names(&friends(&mut dave).await["incoming"]), ["erin"]);
    erin.ok(json!({"type": "dm_send", "user": "dave", "text": "hello again"}))
        .await;
    assert_eq!(
        dave.event("message").await["message"]["text"],
        "hello again"
    );
}

#[tokio::test]
async fn friend_requests_name_what_is_wrong_without_echoing_long_input() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let long = "x".repeat(1000);
    let (code, msg) = ann
        .err(json!({"type": "friend_request", "user": long}))
        .await;
    assert_eq!(code, "not_found");
    assert!(msg.len() < 100, "{msg}");
    let (code, _) = ann
        .err(json!({"type": "friend_request", "user": "ann"}))
        .await;
    assert_eq!(code, "bad_request");
    let (code, msg) = ann.err(json!({"type": "unblock", "user": "ann2"})).await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("not_found", "no user named `ann2`")
    );
    let v = server.hello(Transport::Ws).await;
    let mut visitor = v;
    visitor.ok(json!({"type": "visitor"})).await;
    let (code, _) = visitor
        .err(json!({"type": "friend_request", "user": "ann"}))
        .await;
    assert_eq!(code, "forbidden");
}
