//! Live streams: the tracker (who streams where, who watches) and the
//! signalling path between a host and each viewer.

use confab_testkit::{TestServer, Transport};
use serde_json::json;

#[tokio::test]
async fn a_member_goes_live_others_watch_and_signals_pass_in_order() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Ws, "ann").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = ann.create("gigs", false).await;
    bob.join("gigs").await;

    let s = ann
        .ok(json!({"type": "stream_start", "conv": conv, "title": "Soundcheck"}))
        .await;
    let stream = s["stream"]["id"].as_u64().unwrap();
    assert_eq!(s["stream"]["host"], "ann");
    assert_eq!(s["stream"]["max_viewers"], 8, "the server's default");
    let started = bob.event("stream_started").await;
    assert_eq!(started["stream"]["title"], "Soundcheck");
    // The start is in the channel's log.
    let entry = bob
        .take(|v| v["type"] == "message" && v["message"]["event"] == "stream_started")
        .await
        .unwrap();
    assert_eq!(entry["message"]["sender"], "ann");
    let listed = bob.ok(json!({"type": "streams", "conv": conv})).await;
    assert_eq!(listed["streams"][0]["id"].as_u64(), Some(stream));

    // Bob watches: ann sees him among her viewers.
    let w = bob
        .ok(json!({"type": "stream_watch", "stream": stream}))
        .await;
    let watch = w["watch"].as_u64().unwrap();
    let viewers = ann.event("stream_viewers").await;
    assert_eq!(viewers["viewers"], json!([{"user": "bob", "watch": watch}]));

    // Signalling: bob's offer and candidates reach ann in order, her answer
    // reaches bob; the sender is the server's word.
    bob.ok(json!({"type": "signal", "stream": stream, "watch": watch, "data": {"sdp": "offer"}}))
        .await;
    for i in 0..5 {
        bob.ok(
            json!({"type": "signal", "stream": stream, "watch": watch, "data": {"candidate": i}}),
        )
        .await;
    }
    let offer = ann.event("signal").await;
    assert_eq!(
        (offer["from"].as_str(), offer["data"]["sdp"].as_str()),
        (Some("bob"), Some("offer"))
    );
    for i in 0..5 {
        let c = ann.event("signal").await;
        assert_eq!(c["data"]["candidate"], i);
    }
    ann.ok(json!({"type": "signal", "stream": stream, "watch": watch, "data": {"sdp": "answer"}}))
        .await;
    let answer = bob.event("signal").await;
    assert_eq!(
        (answer["from"].as_str(), answer["data"]["sdp"].as_str()),
        (Some("ann"), Some("answer"))
    );

    // Only the host ends it; leaving the channel ends it too.
    let (code, _) = bob
        .err(json!({"type": "stream_stop", "stream": stream}))
        .await;
    assert_eq!(code, "forbidden");
    ann.ok(json!({"type": "channel_leave", "name": "gigs"}))
        .await;
    let ended = bob.event("stream_ended").await;
    assert_eq!(ended["stream"].as_u64(), Some(stream));
    let entry = bob
        .take(|v| v["type"] == "message" && v["message"]["event"] == "stream_ended")
        .await
        .unwrap();
    assert_eq!(entry["message"]["sender"], "ann");
    let listed = bob.ok(json!({"type": "streams", "conv": conv})).await;
    assert_eq!(listed["streams"], json!([]));
}

#[tokio::test]
async fn strangers_visitors_and_a_full_stream_are_refused_and_a_dropped_host_ends_it() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Ws, "ann").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let mut carol = server.user(Transport::Tls, "carol").await;
    let secret = ann.create("band", true).await;
    ann.ok(json!({"type": "channel_invite", "name": "band", "user": "bob"}))
        .await;
    bob.event("invited").await;

    // Only members start streams; not in a DM.
    let (code, _) = carol
        .err(json!({"type": "stream_start", "conv": secret, "title": "mine"}))
        .await;
    assert_eq!(code, "not_found", "a private channel stays unseen");
    let (code, msg) = ann
        .err(json!({"type": "stream_start", "conv": secret, "title": ""}))
        .await;
    assert_eq!(code, "bad_request", "{msg}");
    let s = ann
        .ok(json!({"type": "stream_start", "conv": secret, "title": "Rehearsal", "max_viewers": 1}))
        .await;
    let stream = s["stream"]["id"].as_u64().unwrap();

    // A stranger neither sees, watches nor signals it.
    let (code, _) = carol.err(json!({"type": "streams", "conv": secret})).await;
    assert_eq!(code, "not_found");
    let (code, _) = carol
        .err(json!({"type": "stream_watch", "stream": stream}))
        .await;
    assert_eq!(code, "not_found");
    let w = bob
        .ok(json!({"type": "stream_watch", "stream": stream}))
        .await;
    let watch = w["watch"].as_u64().unwrap();
    let (code, _) = carol
        .err(json!({"type": "signal", "stream": stream, "watch": watch, "data": "hi"}))
        .await;
    assert_eq!(code, "not_found");
    // Bob is the one viewer it takes.
    let dave_conv = secret;
    let mut dave = server.user(Transport::Ws, "dave").await;
    ann.ok(json!({"type": "channel_invite", "name": "band", "user": "dave"}))
        .await;
    dave.event("invited").await;
    let (code, msg) = dave
        .err(json!({"type": "stream_watch", "stream": stream}))
        .await;
    assert_eq!(code, "forbidden");
    assert!(msg.contains("full"), "{msg}");
    // An oversize signal is refused, naming the limit.
    let big = "x".repeat(20_000);
    let (code, msg) = bob
        .err(json!({"type": "signal", "stream": stream, "watch": watch, "data": big}))
        .await;
    assert_eq!(code, "too_long", "{msg}");

    // In a public channel a visitor watches, but never hosts.
    let open = ann.create("lobby", false).await;
    let lobby = ann
        .ok(json!({"type": "stream_start", "conv": open, "title": "Open rehearsal"}))
        .await["stream"]["id"]
        .as_u64()
        .unwrap();
    let mut guest = server.hello(Transport::Ws).await;
    guest.ok(json!({"type": "visitor"})).await;
    let listed = guest.ok(json!({"type": "streams", "conv": open})).await;
    assert_eq!(listed["streams"][0]["id"].as_u64(), Some(lobby));
    guest
        .ok(json!({"type": "stream_watch", "stream": lobby}))
        .await;
    let (code, _) = guest
        .err(json!({"type": "stream_start", "conv": open, "title": "me too"}))
        .await;
    assert_eq!(code, "forbidden");
    // (A visitor does not see a private channel's streams.)
    let (code, _) = guest
        .err(json!({"type": "streams", "conv": dave_conv}))
        .await;
    assert_eq!(code, "not_found");

    // Ann's connection drops: both her streams end, for members and the
    // visitor alike.
    drop(ann);
    let ended = bob.event("stream_ended").await;
    assert_eq!(ended["stream"].as_u64(), Some(stream));
    let ended = guest.event("stream_ended").await;
    assert_eq!(ended["stream"].as_u64(), Some(lobby));
    server
        .eventually("no stream is live", |h| {
            h.stats()
                .streams_started
                .load(std::sync::atomic::Ordering::Relaxed)
                == 2
        })
        .await;
}
