//! Bad input is normal input: precise errors, the connection survives where
//! the framing does, and nobody else notices.

use confab_testkit::{TestServer, Transport};
use serde_json::{Value, json};

/// (payload, expected code, expected id, text the message must contain)
fn cases() -> Vec<(Vec<u8>, &'static str, Option<u64>, &'static str)> {
    let long_text = "x".repeat(4001);
    vec![
        (b"{not json".to_vec(), "bad_json", None, "invalid JSON"),
        (b"[1,2,3]".to_vec(), "not_object", None, "got an array"),
        (b"\"just a string\"".to_vec(), "not_object", None, "got a string"),
        (b"42".to_vec(), "not_object", None, "got a number"),
        (br#"{"id":10,"type":"launch_missiles"}"#.to_vec(), "unknown_type", Some(10), "unknown message type `launch_missiles`"),
        (br#"{"id":11,"type":"send","conv":1}"#.to_vec(), "bad_request", Some(11), "missing field `text`"),
        (br#"{"id":12,"type":"whoami","extra":1}"#.to_vec(), "bad_request", Some(12), "unknown field `extra`"),
        (br#"{"id":13,"type":"send","conv":"one","text":"x"}"#.to_vec(), "bad_request", Some(13), "invalid type"),
        (br#"{"type":"whoami"}"#.to_vec(), "bad_request", None, "missing field `id`"),
        (br#"{"id":"seven","type":"whoami"}"#.to_vec(), "bad_request", None, "`id` must be a non-negative integer"),
        (json!({"id": 14, "type": "send", "conv": 1, "text": long_text}).to_string().into_bytes(), "too_long", Some(14), "the limit is 4000"),
        (json!({"id": 15, "type": "channel_create", "name": "c".repeat(100)}).to_string().into_bytes(), "invalid_name", Some(15), "1 to 32 characters"),
        (json!({"id": 16, "type": "dm_send", "user": "alice", "text": "hi", "nonce": "n".repeat(65)}).to_string().into_bytes(), "too_long", Some(16), "`nonce` must be 1 to 64 bytes"),
        (json!({"id": 17, "type": "send", "conv": 1, "text": "   "}).to_string().into_bytes(), "bad_request", Some(17), "must not be empty"),
        (br#"{"id":18,"type":"hello","protocol":1,"client":"again"}"#.to_vec(), "already_done", Some(18), "handshake is already done"),
    ]
}

async fn check_all(t: Transport) {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    for i in 0..3 {
        alice.say(conv, &format!("keep {i}")).await;
    }

    let mut m = server.connect(t).await;
    let r = m.request(json!({"type": "whoami"})).await;
    assert_eq!(
        (r["code"].as_str(), r["message"].as_str()),
        (
            Some("handshake_required"),
            Some("send `hello` before `whoami`")
        )
    );
    let r = m
        .request(json!({"type": "hello", "protocol": 99, "client": "x"}))
        .await;
    assert_eq!(r["code"], "unsupported_version");
    m.ok(json!({"type": "hello", "protocol": 1, "client": "mallory"}))
        .await;
    let r = m.request(json!({"type": "channel_list"})).await;
    assert_eq!(r["code"], "auth_required");
    m.ok(json!({"type": "register", "username": "mallory", "password": "password-mallory"}))
        .await;
    m.join("general").await;

    // Bytes that are not UTF-8: a bad frame on TLS, a binary message on WebSocket.
    m.send_raw(&[0xff, 0xfe, 0x00, b'x']).await.unwrap();
    let e = m.take(|v| v["type"] == "error").await.unwrap();
    assert_eq!(e["code"], "bad_frame", "{e}");
    for (payload, code, id, needle) in cases() {
        m.send_raw(&payload).await.unwrap();
        let e = m.take(|v| v["type"] == "error").await.unwrap();
        assert_eq!(
            e["code"],
            code,
            "for {}: {e}",
            String::from_utf8_lossy(&payload[..payload.len().min(80)])
        );
        assert_eq!(e["id"].as_u64(), id, "{e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{e} should say {needle:?}"
        );
    }
    // Still connected, still mallory, and nothing else arrived.
    assert_eq!(
        m.ok(json!({"type": "whoami"})).await["user"]["name"],
        "mallory"
    );
    m.barrier().await;
    assert!(
        m.pending.iter().all(|v: &Value| v["type"] != "error"),
        "{:?}",
        m.pending
    );

    // The bystander noticed nothing and lost nothing.
    alice.barrier().await;
    assert!(
        alice.pending.iter().all(|v| v["type"] == "member_joined"),
        "{:?}",
        alice.pending
    );
    let hist = alice.ok(json!({"type": "history", "conv": conv})).await;
    assert_eq!(hist["messages"].as_array().unwrap().len(), 3);
    alice.say(conv, "still here").await;
    assert_eq!(m.event("message").await["message"]["text"], "still here");
}

#[tokio::test]
async fn every_bad_input_over_tls_gets_a_precise_error() {
    check_all(Transport::Tls).await;
}

#[tokio::test]
async fn every_bad_input_over_websocket_gets_a_precise_error() {
    check_all(Transport::Ws).await;
}

/// A text message that is not UTF-8 ends a WebSocket (RFC 6455 says the
/// endpoint fails the connection), but not before an error says why; the
/// others in the channel notice nothing.
#[tokio::test]
async fn a_websocket_text_message_that_is_not_utf8_is_named_before_the_close() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let conv = alice.create("general", false).await;
    let mut m = server.user(Transport::Ws, "mallory").await;
    m.join("general").await;
    m.send_ws_text_unchecked(&[b'{', 0xff, 0xfe, b'}'])
        .await
        .unwrap();
    let got = m.closed().await;
    let e = got
        .iter()
        .find(|v| v["type"] == "error")
        .unwrap_or_else(|| panic!("no error before the close: {got:?}"));
    assert_eq!(e["code"], "bad_frame", "{e}");
    assert!(e["message"].as_str().unwrap().contains("not UTF-8"), "{e}");
    alice.say(conv, "still here").await;
    let hist = alice
        .ok(serde_json::json!({"type": "history", "conv": conv}))
        .await;
    assert_eq!(hist["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_over_limit_length_prefix_closes_the_connection_after_an_error() {
    let server = TestServer::start().await;
    let mut bystander = server.user(Transport::Tls, "alice").await;
    let mut m = server.hello(Transport::Tls).await;
    // An HTTP request line read as a length prefix: 0x47455420 bytes.
    m.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let got = m.closed().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["code"], "frame_too_large");
    assert!(
        got[0]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 65536 bytes"),
        "{}",
        got[0]
    );
    assert_eq!(
        bystander.ok(json!({"type": "whoami"})).await["user"]["name"],
        "alice"
    );
}

#[tokio::test]
async fn an_over_limit_websocket_message_is_refused_and_the_connection_survives() {
    let server = TestServer::start().await;
    let mut m = server.user(Transport::Ws, "mallory").await;
    let big = json!({"id": 1, "type": "send", "conv": 1, "text": "y".repeat(70_000)}).to_string();
    m.send_raw(big.as_bytes()).await.unwrap();
    let e = m.take(|v| v["type"] == "error").await.unwrap();
    assert_eq!(e["code"], "frame_too_large");
    assert_eq!(
        m.ok(json!({"type": "whoami"})).await["user"]["name"],
        "mallory"
    );
}

/// Regression: error messages repeated whatever name they were given, so a
/// 1,000-character name came back whole.
#[tokio::test]
async fn errors_quote_at_most_a_short_piece_of_what_they_were_given() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    ann.create("general", false).await;
    let long = "z".repeat(1000);
    for req in [
        json!({"type": "channel_join", "name": long}),
        json!({"type": "channel_leave", "name": long}),
        json!({"type": "channel_members", "name": long}),
        json!({"type": "channel_create", "name": long}),
        json!({"type": "channel_invite", "name": "general", "user": long}),
        json!({"type": "dm_send", "user": long, "text": "hi"}),
        json!({"type": "friend_request", "user": long}),
        json!({"type": "block", "user": long}),
        json!({"type": "group_create", "name": long, "members": []}),
        json!({"type": "group_create", "name": "ok", "members": [long]}),
        json!({"type": "launch", "x": long}),
    ] {
        let (code, msg) = ann.err(req.clone()).await;
        assert!(
            msg.len() < 200,
            "{} answered {code} with {} bytes: {msg}",
            req["type"],
            msg.len()
        );
    }
    // A visitor is told the same about a long name.
    let mut v = server.hello(Transport::Ws).await;
    v.ok(json!({"type": "visitor"})).await;
    let (_, msg) = v.err(json!({"type": "channel_join", "name": long})).await;
    assert!(msg.len() < 200, "{msg}");
}

/// Regression: creating a channel with the name of a private channel one
/// is not in answered `name_taken`, which told that it existed.
#[tokio::test]
async fn a_private_channel_is_never_revealed_by_its_name() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Tls, "ann").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let secret = ann.create("secret", true).await;
    ann.say(secret, "only for ann's eyes").await;
    // Bob may have a channel of that name, public or private: it is his own.
    let r = bob
        .ok(json!({"type": "channel_create", "name": "secret", "private": true}))
        .await;
    assert_ne!(r["channel"]["conv"].as_u64(), Some(secret));
    assert_eq!(r["channel"]["members"], 1);
    let mine = bob.ok(json!({"type": "channel_list"})).await;
    assert_eq!(mine["channels"].as_array().unwrap().len(), 1);
    let hist = bob
        .ok(json!({"type": "history", "conv": r["channel"]["conv"]}))
        .await;
    assert_eq!(hist["messages"], json!([]));
    // For ann, "secret" still means hers.
    let m = ann
        .ok(json!({"type": "channel_members", "name": "secret"}))
        .await;
    assert_eq!(m["conv"].as_u64(), Some(secret));
    // A third user's public channel of that name is fine too, and ann,
    // who sees both, cannot make a third.
    let mut cat = server.user(Transport::Tls, "cat").await;
    cat.create("secret", false).await;
    let (code, _) = ann
        .err(json!({"type": "channel_create", "name": "secret"}))
        .await;
    assert_eq!(code, "name_taken");
}
