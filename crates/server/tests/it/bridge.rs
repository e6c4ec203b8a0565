//! The bridge a program embedding the server (`confab node`) drives: remote
//! accounts that cannot log in, what local users do toward them coming out,
//! what the bridge posts not coming back, unknown names looked up.

use std::time::Duration;

use confab_proto::FriendState;
use confab_server::bridge::Outgoing;
use confab_testkit::{TestServer, Transport};
use serde_json::json;
use tokio::sync::mpsc::Receiver;

/// The next action out of the bridge, within a deadline.
async fn next(out: &mut Receiver<Outgoing>) -> Outgoing {
    tokio::time::timeout(Duration::from_secs(10), out.recv())
        .await
        .expect("an action comes out of the bridge")
        .expect("the bridge is open")
}

#[tokio::test]
async fn remote_users_are_driven_through_the_bridge_and_local_moves_come_out() {
    let server = TestServer::start().await;
    let (bridge, mut out) = server
        .handle
        .bridge(16)
        .await
        .unwrap()
        .expect("the first bridge");
    assert!(
        server.handle.bridge(16).await.unwrap().is_none(),
        "only one"
    );
    let mut ann = server.user(Transport::Tls, "ann").await;
    // Ann's own presence goes out (the other side tells her friends).
    match next(&mut out).await {
        Outgoing::Online { user, online } => assert_eq!((user.as_str(), online), ("ann", true)),
        other => panic!("{other:?}"),
    }

    // A name the server does not know is asked of the other side.
    let asking = tokio::spawn(async move {
        ann.ok(json!({"type": "friend_request", "user": "zed"}))
            .await;
        ann
    });
    match next(&mut out).await {
        Outgoing::Lookup { name, reply } => {
            assert_eq!(name, "zed");
            reply.send(true).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let mut ann = asking.await.unwrap();
    match next(&mut out).await {
        Outgoing::Friend { from, to, state } => {
            assert_eq!(
                (from.as_str(), to.as_str(), state),
                ("ann", "zed", FriendState::Outgoing)
            )
        }
        other => panic!("{other:?}"),
    }
    // A name nobody has is not found, and nothing is made of it.
    let asking = tokio::spawn(async move {
        let e = ann
            .err(json!({"type": "friend_request", "user": "nobody"}))
            .await;
        (ann, e)
    });
    match next(&mut out).await {
        Outgoing::Lookup { reply, .. } => reply.send(false).unwrap(),
        other => panic!("{other:?}"),
    }
    let (mut ann, (code, _)) = asking.await.unwrap();
    assert_eq!(code, "not_found");

    // Zed (remote) accepts on the other side; he comes online there.
    bridge
        .relation("ann", "zed", FriendState::Friends)
        .await
        .unwrap();
    let update = ann.event("friend_update").await;
    assert_eq!(
        (update["user"].as_str(), update["state"].as_str()),
        (Some("zed"), Some("friends"))
    );
    bridge.presence("zed", true);
    let p = ann.event("presence").await;
    assert_eq!(
        (p["user"].as_str(), p["online"].as_bool()),
        (Some("zed"), Some(true))
    );

    // His message comes in (twice, as after a restart: kept once), and is
    // not sent back out; ann's answer goes out.
    for _ in 0..2 {
        bridge
            .dm("zed", "ann", "hi ann".into(), "id-1")
            .await
            .unwrap();
    }
    let m = ann.event("message").await;
    assert_eq!(
        (
            m["message"]["sender"].as_str(),
            m["message"]["text"].as_str()
        ),
        (Some("zed"), Some("hi ann"))
    );
    ann.ok(json!({"type": "dm_send", "user": "zed", "text": "hi zed"}))
        .await;
    match next(&mut out).await {
        Outgoing::Dm { from, to, text } => {
            assert_eq!(
                (from.as_str(), to.as_str(), text.as_str()),
                ("ann", "zed", "hi zed")
            )
        }
        other => panic!("{other:?}"),
    }
    let h = ann
        .ok(json!({"type": "history", "conv": m["message"]["conv"], "limit": 10}))
        .await;
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["hi ann", "hi zed"]);

    // A group made on the other side; ann writes in it.
    let conv = bridge
        .group_create("zed", "trip", &["zed".into(), "ann".into()])
        .await
        .unwrap();
    let added = ann.event("group_added").await;
    assert_eq!(added["group"]["conv"].as_u64(), Some(conv));
    bridge
        .group_post(conv, "zed", "we leave at nine".into(), "g-1")
        .await
        .unwrap();
    ann.ok(json!({"type": "send", "conv": conv, "text": "map packed"}))
        .await;
    match next(&mut out).await {
        Outgoing::GroupPost {
            conv: c,
            from,
            text,
        } => {
            assert_eq!(
                (c, from.as_str(), text.as_str()),
                (conv, "ann", "map packed")
            )
        }
        other => panic!("{other:?}"),
    }

    // A remote account cannot log in, and clients may not use the
    // bridge's nonces.
    let mut guess = server.hello(Transport::Ws).await;
    let (code, _) = guess
        .err(json!({"type": "login", "username": "zed", "password": "!remote"}))
        .await;
    assert_eq!(code, "bad_credentials");
    let (code, msg) = ann
        .err(json!({"type": "send", "conv": conv, "text": "x", "nonce": "bridge:1"}))
        .await;
    assert_eq!(code, "bad_request", "{msg}");

    // The name becomes a local user's: the remote account goes, with its
    // groups; the new zed logs in with his own password.
    let hash = confab_server::hash_password("password-zed");
    assert!(
        bridge.local_user("zed", &hash).await.unwrap(),
        "a new account"
    );
    let (_zed, session) = server.login(Transport::Tls, "zed").await;
    assert!(!session.to_string().contains("trip"), "{session}");
}
