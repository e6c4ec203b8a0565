//! Reactions, replies, edits, deletes, topics, read positions and search,
//! each an entry in a conversation's log (or, for reads and search, a
//! question about it).

use confab_testkit::{TestServer, Transport};
use serde_json::json;

#[tokio::test]
async fn reactions_replies_edits_and_deletes_reach_everyone_as_log_entries() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    alice.event("member_joined").await;

    let first = alice.say(conv, "lunch at noon?").await;
    assert_eq!(first["seq"], 1);
    bob.event("message").await;

    // A reply names the message it answers.
    let reply = bob
        .ok(json!({"type": "send", "conv": conv, "text": "yes!", "reply_to": 1}))
        .await["message"]
        .clone();
    assert_eq!(
        (reply["seq"].as_u64(), reply["reply_to"].as_u64()),
        (Some(2), Some(1))
    );
    let got = alice.event("message").await["message"].clone();
    assert_eq!(got, reply);
    let (code, msg) = bob
        .err(json!({"type": "send", "conv": conv, "text": "?", "reply_to": 9}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("not_found", "no message 9 in conversation 1")
    );

    // A reaction, live to the other member; with the same nonce it is stored once.
    let react = json!({"type": "react", "conv": conv, "target": 1, "emoji": "👍", "nonce": "r1"});
    let r = bob.ok(react.clone()).await;
    assert_eq!(
        (
            r["message"]["kind"].as_str(),
            r["message"]["target"].as_u64(),
            r["message"]["emoji"].as_str()
        ),
        (Some("reaction"), Some(1), Some("👍"))
    );
    let again = bob.ok(react).await;
    assert_eq!(
        (
            again["duplicate"].as_bool(),
            again["message"]["seq"].clone()
        ),
        (Some(true), r["message"]["seq"].clone())
    );
    let seen = alice.event("message").await["message"].clone();
    assert_eq!(
        (seen["kind"].as_str(), seen["sender"].as_str()),
        (Some("reaction"), Some("bob"))
    );
    let (code, msg) = bob
        .err(json!({"type": "react", "conv": conv, "target": 1, "emoji": "<script>"}))
        .await;
    assert_eq!(code, "bad_request");
    assert!(msg.contains("`emoji` must be one emoji"), "{msg}");
    let (code, _) = bob
        .err(json!({"type": "react", "conv": conv, "target": 3, "emoji": "👍"}))
        .await;
    assert_eq!(
        code, "bad_request",
        "a reaction is not a text message to react to"
    );

    // Only the sender edits; the edit is an entry and the target changes.
    let (code, msg) = bob
        .err(json!({"type": "edit", "conv": conv, "target": 1, "text": "mine now"}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("you can edit only your own messages"), "{msg}");
    let edit = alice
        .ok(json!({"type": "edit", "conv": conv, "target": 1, "text": "lunch at one?"}))
        .await["message"]
        .clone();
    // The entry names the message; its text is in the message only.
    assert_eq!(
        (
            edit["kind"].as_str(),
            edit["target"].as_u64(),
            edit.get("text")
        ),
        (Some("edit"), Some(1), None)
    );
    assert_eq!(bob.event("message").await["message"], edit);
    let hist = bob.ok(json!({"type": "history", "conv": conv})).await;
    let m1 = &hist["messages"][0];
    assert_eq!(m1["text"], "lunch at one?");
    assert_eq!(m1["edited"], edit["ts"]);

    // Bob may not delete alice's message in alice's channel; alice may
    // delete bob's (she owns it); bob his own.
    let (code, _) = bob
        .err(json!({"type": "delete", "conv": conv, "target": 1}))
        .await;
    assert_eq!(code, "forbidden");
    let del = alice
        .ok(json!({"type": "delete", "conv": conv, "target": 2}))
        .await["message"]
        .clone();
    assert_eq!(
        (del["kind"].as_str(), del["target"].as_u64()),
        (Some("delete"), Some(2))
    );
    assert_eq!(bob.event("message").await["message"], del);
    let hist = bob.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"][1]["kind"], "deleted");
    assert_eq!(
        hist["messages"][1].get("text"),
        None,
        "the text is gone: {}",
        hist["messages"][1]
    );
    let (code, msg) = bob
        .err(json!({"type": "edit", "conv": conv, "target": 2, "text": "back"}))
        .await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("not_found", "message 2 in conversation 1 was deleted")
    );

    // Someone not in the conversation can do none of it.
    let mut carol = server.user(Transport::Tls, "carol").await;
    for req in [
        json!({"type": "react", "conv": conv, "target": 1, "emoji": "👍"}),
        json!({"type": "edit", "conv": conv, "target": 1, "text": "x"}),
        json!({"type": "delete", "conv": conv, "target": 1}),
    ] {
        let (code, _) = carol.err(req).await;
        assert_eq!(code, "not_found");
    }
}

#[tokio::test]
async fn topics_are_set_by_owners_and_admins_and_recorded_in_the_log() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    let (code, msg) = bob
        .err(json!({"type": "topic", "conv": conv, "topic": "mine"}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(
        msg.contains("only the owner of #general or an admin"),
        "{msg}"
    );
    alice
        .ok(json!({"type": "topic", "conv": conv, "topic": "Plans for Friday"}))
        .await;
    let m = bob.event("message").await["message"].clone();
    assert_eq!(
        (m["event"].as_str(), m["topic"].as_str()),
        (Some("topic"), Some("Plans for Friday"))
    );
    let list = bob.ok(json!({"type": "channel_list"})).await;
    assert_eq!(list["channels"][0]["topic"], "Plans for Friday");
    let synced = bob.ok(json!({"type": "sync"})).await;
    assert_eq!(synced["convs"][0]["topic"], "Plans for Friday");
    let (code, _) = alice
        .err(json!({"type": "topic", "conv": conv, "topic": "x".repeat(300)}))
        .await;
    assert_eq!(code, "too_long");
    let mut root = server.admin(Transport::Tls, "root").await;
    root.ok(json!({"type": "topic", "conv": conv, "topic": ""}))
        .await;
    assert_eq!(bob.event("message").await["message"]["topic"], "");
}

#[tokio::test]
async fn the_read_position_is_kept_for_every_device() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    for t in ["one", "two", "three"] {
        alice.say(conv, t).await;
    }
    let (mut phone, _) = server.login(Transport::Ws, "alice").await;
    alice
        .ok(json!({"type": "read", "conv": conv, "seq": 2}))
        .await;
    let ev = phone.event("read").await;
    assert_eq!(
        (ev["conv"].as_u64(), ev["seq"].as_u64()),
        (Some(conv), Some(2))
    );
    // Never back; a position past the end is refused.
    alice
        .ok(json!({"type": "read", "conv": conv, "seq": 1}))
        .await;
    assert_eq!(phone.event("read").await["seq"], 2);
    let (code, msg) = alice
        .err(json!({"type": "read", "conv": conv, "seq": 4}))
        .await;
    assert_eq!(code, "bad_request");
    assert!(msg.contains("past the end"), "{msg}");
    // A new session hears where it was.
    let (_laptop, session) = server.login(Transport::Tls, "alice").await;
    assert_eq!(session["convs"][0]["read"], 2);
}

#[tokio::test]
async fn search_never_shows_what_the_reader_may_not_read() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let public = alice.create("general", false).await;
    let secret = alice.create("secret", true).await;
    alice.say(public, "the launch is on Monday").await;
    alice.say(secret, "the launch code is 1234").await;
    alice
        .ok(json!({"type": "dm_send", "user": "bob", "text": "launch party?"}))
        .await;

    let found = |r: &serde_json::Value| -> Vec<String> {
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{}: {}",
                    h["name"].as_str().unwrap(),
                    h["message"]["text"].as_str().unwrap()
                )
            })
            .collect()
    };
    let r = alice.ok(json!({"type": "search", "query": "launch"})).await;
    assert_eq!(
        found(&r),
        [
            "bob: launch party?",
            "secret: the launch code is 1234",
            "general: the launch is on Monday"
        ]
    );
    // Bob is not in #secret: its message never appears for him.
    let r = bob.ok(json!({"type": "search", "query": "launch"})).await;
    assert_eq!(
        found(&r),
        ["alice: launch party?", "general: the launch is on Monday"]
    );
    let r = bob
        .ok(json!({"type": "search", "query": "code 1234"}))
        .await;
    assert_eq!(found(&r), Vec::<String>::new());
    let (code, _) = bob
        .err(json!({"type": "search", "query": "launch", "conv": secret}))
        .await;
    assert_eq!(code, "not_found");
    // A visitor searches the public channels only.
    let mut v = server.hello(Transport::Ws).await;
    v.ok(json!({"type": "visitor"})).await;
    let r = v.ok(json!({"type": "search", "query": "launch"})).await;
    assert_eq!(found(&r), ["general: the launch is on Monday"]);
    let (code, msg) = bob
        .err(json!({"type": "search", "query": "  \"*\" "}))
        .await;
    assert_eq!(code, "bad_request");
    assert!(msg.contains("no words"), "{msg}");
}
