//! Group conversations over the wire: made with friends, changes recorded
//! in the log, late members seeing it from when they were added, offline
//! members catching up once and in order.

use confab_testkit::{Client, TestServer, Transport, seqs};
use serde_json::{Value, json};

/// Makes `a` and `b` friends.
async fn befriend(a: &mut Client, b: &mut Client, b_name: &str, a_name: &str) {
    a.ok(json!({"type": "friend_request", "user": b_name}))
        .await;
    b.ok(json!({"type": "friend_accept", "user": a_name})).await;
}

/// What a log entry reads as, in short.
fn entry(m: &Value) -> String {
    match m["kind"].as_str().unwrap() {
        "text" => format!(
            "{}: {}",
            m["sender"].as_str().unwrap(),
            m["text"].as_str().unwrap()
        ),
        "system" => {
            let mut e = m.as_object().unwrap().clone();
            for k in ["id", "conv", "seq", "ts", "kind"] {
                e.remove(k);
            }
            Value::Object(e).to_string()
        }
        other => other.to_owned(),
    }
}

#[tokio::test]
async fn a_group_of_four_with_one_joining_late_and_one_offline() {
    let server = TestServer::start_with(|c| c.presence_grace = std::time::Duration::ZERO).await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let mut cat = server.user(Transport::Tls, "cat").await;
    let mut dan = server.user(Transport::Ws, "dan").await;
    befriend(&mut ann, &mut bob, "bob", "ann").await;
    befriend(&mut ann, &mut cat, "cat", "ann").await;
    befriend(&mut bob, &mut dan, "dan", "bob").await;

    // Only friends may be added.
    let (code, msg) = ann
        .err(json!({"type": "group_create", "name": "Trip", "members": ["bob", "dan"]}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("`dan` is not your friend"), "{msg}");

    let r = ann
        .ok(json!({"type": "group_create", "name": "Trip to Lyon", "members": ["bob", "cat"]}))
        .await;
    let g = &r["group"];
    let conv = g["conv"].as_u64().unwrap();
    assert_eq!(
        (g["name"].clone(), g["owner"].clone(), g["members"].clone()),
        (
            json!("Trip to Lyon"),
            json!("ann"),
            json!(["ann", "bob", "cat"])
        )
    );
    let added = bob.event("group_added").await;
    assert_eq!(
        (added["by"].as_str(), added["group"]["conv"].as_u64()),
        (Some("ann"), Some(conv))
    );
    let created = bob.event("message").await["message"].clone();
    assert_eq!(
        entry(&created),
        r#"{"event":"created","members":["bob","cat"],"name":"Trip to Lyon","sender":"ann"}"#
    );
    assert_eq!(created["seq"], 1);

    // Cat goes offline; the others talk.
    drop(cat);
    server
        .eventually("cat is offline", |h| {
            !h.online().iter().any(|(name, ..)| name == "cat")
        })
        .await;
    ann.say(conv, "who brings the tent?").await;
    bob.say(conv, "me").await;
    // Ann's own connections hear of the group's creation too.
    assert!(entry(&ann.event("message").await["message"]).contains("created"));
    assert_eq!(ann.event("message").await["message"]["text"], "me");

    // Bob (a member, and dan's friend) adds dan, who sees the group from there on.
    bob.ok(json!({"type": "group_add", "conv": conv, "users": ["dan"]}))
        .await;
    let added = dan.event("group_added").await;
    assert_eq!(
        added["group"]["members"],
        json!(["ann", "bob", "cat", "dan"])
    );
    assert_eq!(added["from_seq"], 3, "his view starts after entry 3");
    let (code, _) = bob
        .err(json!({"type": "group_add", "conv": conv, "users": ["dan"]}))
        .await;
    assert_eq!(code, "already_member");
    let hist = dan.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(seqs(&hist["messages"]), [4]);
    assert_eq!(
        entry(&hist["messages"][0]),
        r#"{"event":"added","sender":"bob","users":["dan"]}"#
    );
    let earlier = dan
        .ok(json!({"type": "history", "conv": conv, "before": 4}))
        .await;
    assert_eq!(
        earlier["messages"],
        json!([]),
        "nothing from before he came"
    );
    // His sync from nothing starts there too, and says so.
    let synced = dan
        .ok(json!({"type": "sync", "since": [{"conv": conv, "seq": 0}]}))
        .await;
    let mine = &synced["convs"][0];
    assert_eq!(
        (mine["conv"].as_u64(), mine["from_seq"].as_u64()),
        (Some(conv), Some(3))
    );
    assert_eq!(seqs(&mine["messages"]), [4]);
    dan.say(conv, "hi all").await;
    let (_dan2, session) = server.login(Transport::Ws, "dan").await;
    let summary = session["convs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conv"] == conv)
        .unwrap()
        .clone();
    assert_eq!(summary["from_seq"], 3);

    // Renamed by a member; the member list is live.
    bob.ok(json!({"type": "group_update", "conv": conv, "name": "Lyon 🚲"}))
        .await;
    let members = dan.ok(json!({"type": "members", "conv": conv})).await;
    let names: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "bob", "cat", "dan"]);
    let online: Vec<bool> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["online"].as_bool().unwrap())
        .collect();
    assert_eq!(online, [true, true, false, true], "cat is offline");

    // The owner says only she adds; a member's add is refused.
    ann.ok(json!({"type": "group_update", "conv": conv, "owner_only_add": true}))
        .await;
    let (code, msg) = bob
        .err(json!({"type": "group_add", "conv": conv, "users": ["dan"]}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("only the owner"), "{msg}");
    let (code, _) = bob
        .err(json!({"type": "group_update", "conv": conv, "owner_only_add": false}))
        .await;
    assert_eq!(code, "forbidden");

    // The owner leaves; the group passes to whoever was in it longest.
    ann.ok(json!({"type": "group_leave", "conv": conv})).await;
    let left = bob
        .take(|v| v["type"] == "message" && v["message"]["event"] == "left")
        .await
        .unwrap();
    assert_eq!(left["message"]["owner"], "bob");
    let (code, _) = ann
        .err(json!({"type": "send", "conv": conv, "text": "still here?"}))
        .await;
    assert_eq!(code, "not_found");

    // Cat returns and gets everything once, in order.
    let (mut cat, session) = server.login(Transport::Tls, "cat").await;
    let summary = session["convs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conv"] == conv)
        .unwrap()
        .clone();
    assert_eq!(
        (summary["kind"].as_str(), summary["name"].as_str()),
        (Some("group"), Some("Lyon 🚲"))
    );
    let synced = cat
        .ok(json!({"type": "sync", "since": [{"conv": conv, "seq": 1}]}))
        .await;
    let log: Vec<String> = synced["convs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conv"] == conv)
        .unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(entry)
        .collect();
    assert_eq!(
        log,
        [
            "ann: who brings the tent?",
            "bob: me",
            r#"{"event":"added","sender":"bob","users":["dan"]}"#,
            "dan: hi all",
            r#"{"event":"renamed","name":"Lyon 🚲","sender":"bob"}"#,
            r#"{"event":"add_policy","owner_only":true,"sender":"ann"}"#,
            r#"{"event":"left","owner":"bob","sender":"ann"}"#,
        ]
    );
    let info = cat.ok(json!({"type": "members", "conv": conv})).await;
    assert_eq!(info["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn groups_refuse_strangers_bad_names_and_non_members() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let mut eve = server.user(Transport::Ws, "eve").await;
    let (code, _) = ann
        .err(json!({"type": "group_create", "name": "  ", "members": []}))
        .await;
    assert_eq!(code, "invalid_name");
    let (code, msg) = ann
        .err(json!({"type": "group_create", "name": "x".repeat(65), "members": []}))
        .await;
    assert_eq!(code, "too_long");
    assert!(!msg.contains("xxxxxxxxxx"), "the name is not echoed: {msg}");
    // A member list that could never fit is refused before anyone is looked up.
    let crowd: Vec<String> = (0..300).map(|i| format!("nobody{i}")).collect();
    let (code, msg) = ann
        .err(json!({"type": "group_create", "name": "Crowd", "members": crowd}))
        .await;
    assert_eq!(code, "too_long", "{msg}");
    let r = ann
        .ok(json!({"type": "group_create", "name": "Notes to self", "members": []}))
        .await;
    let conv = r["group"]["conv"].as_u64().unwrap();
    for req in [
        json!({"type": "history", "conv": conv}),
        json!({"type": "send", "conv": conv, "text": "hi"}),
        json!({"type": "members", "conv": conv}),
        json!({"type": "group_add", "conv": conv, "users": ["eve"]}),
        json!({"type": "group_leave", "conv": conv}),
        json!({"type": "group_update", "conv": conv, "name": "mine"}),
    ] {
        let (code, msg) = eve.err(req.clone()).await;
        assert_eq!(code, "not_found", "{req}");
        assert_eq!(msg, format!("no conversation {conv} that you can see"));
    }
    // The last one out: the group is gone.
    ann.ok(json!({"type": "group_leave", "conv": conv})).await;
    let (code, _) = ann.err(json!({"type": "history", "conv": conv})).await;
    assert_eq!(code, "not_found");
}
