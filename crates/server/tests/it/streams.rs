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
    assert_eq!(s["stream"]["max_viewers"], 6, "the server's default");
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
    // Bob's next session says who is live in his channels; a stranger's
    // says nothing of it.
    let (_, session) = server.login(Transport::Tls, "bob").await;
    assert_eq!(session["streams"][0]["id"].as_u64(), Some(stream));
    assert_eq!(session["streams"][0]["title"], "Soundcheck");
    server.user(Transport::Ws, "cid").await;
    let (_, session) = server.login(Transport::Ws, "cid").await;
    assert!(session.get("streams").is_none(), "{session}");

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
    // The host, out of the channel now, is told too (her page stops).
    let ended = ann.event("stream_ended").await;
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

/// A TURN client of webrtc-rs on `conn`, with `ice`'s credentials (the
/// password may be replaced).
async fn turn_client(
    conn: std::sync::Arc<dyn webrtc_util::Conn + Send + Sync>,
    relay: std::net::SocketAddr,
    username: &str,
    password: &str,
) -> turn::client::Client {
    let client = turn::client::Client::new(turn::client::ClientConfig {
        stun_serv_addr: relay.to_string(),
        turn_serv_addr: relay.to_string(),
        username: username.to_owned(),
        password: password.to_owned(),
        realm: "confab".to_owned(),
        software: String::new(),
        rto_in_ms: 0,
        conn,
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    client
}

/// Through an allocation of `client`, a datagram reaches a peer socket.
async fn relays(client: &turn::client::Client) {
    use webrtc_util::Conn;
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let allocation = client.allocate().await.expect("an allocation");
    allocation
        .send_to(b"a video frame", peer.local_addr().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) =
        tokio::time::timeout(std::time::Duration::from_secs(10), peer.recv_from(&mut buf))
            .await
            .expect("the relayed datagram arrives")
            .unwrap();
    assert_eq!(&buf[..n], b"a video frame");
    assert_eq!(
        from,
        allocation.local_addr().unwrap(),
        "it comes from the relay"
    );
}

/// The relay's secret in the relay's test, to sign credentials of its own.
const SECRET: &str = "a secret for tests";

#[tokio::test]
async fn the_relay_serves_a_streams_parties_over_udp_and_tcp_and_nobody_else() {
    let server = TestServer::start_with(|c| {
        c.turn = Some("127.0.0.1:0".parse().unwrap());
        c.turn_loopback_peers = true;
        c.turn_secret = Some(SECRET.into());
    })
    .await;
    let relay = server.turn_addr.expect("the relay runs");
    let mut ann = server.user(Transport::Ws, "ann").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = ann.create("gigs", false).await;
    bob.join("gigs").await;
    let s = ann
        .ok(json!({"type": "stream_start", "conv": conv, "title": "Relayed"}))
        .await;
    let host_ice = &s["ice_servers"][0];
    assert_eq!(
        host_ice["urls"],
        json!([
            format!("turn:{relay}?transport=udp"),
            format!("turn:{relay}?transport=tcp")
        ])
    );
    let stream = s["stream"]["id"].as_u64().unwrap();
    let w = bob
        .ok(json!({"type": "stream_watch", "stream": stream}))
        .await;
    let ice = &w["ice_servers"][0];
    let (user, pass) = (
        ice["username"].as_str().unwrap(),
        ice["credential"].as_str().unwrap(),
    );
    // Fresh ones for the parties, nobody else.
    let renewed = bob
        .ok(json!({"type": "stream_ice", "stream": stream}))
        .await;
    assert_eq!(renewed["ice_servers"][0]["urls"], ice["urls"]);
    let mut carol = server.user(Transport::Ws, "carol").await;
    carol.join("gigs").await;
    let (code, _) = carol
        .err(json!({"type": "stream_ice", "stream": stream}))
        .await;
    assert_eq!(code, "not_found");

    // Over UDP, with the viewer's credentials: relayed, and counted.
    let udp = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = turn_client(udp, relay, user, pass).await;
    relays(&client).await;
    client.close().await.unwrap();
    // Over TCP too.
    let tcp = tokio::net::TcpStream::connect(relay).await.unwrap();
    let conn = std::sync::Arc::new(confab_server::relay::TcpConn::new(tcp, relay));
    let client = turn_client(conn, relay, user, pass).await;
    relays(&client).await;
    client.close().await.unwrap();
    assert!(
        server.handle.turn_relayed() >= 2 * 13,
        "{}",
        server.handle.turn_relayed()
    );

    // A wrong password gets no allocation.
    let udp = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = turn_client(udp, relay, user, "not the password").await;
    assert!(
        client.allocate().await.is_err(),
        "a wrong password is refused"
    );
    client.close().await.unwrap();

    // Credentials are the expiry (Unix seconds) signed with the secret:
    // signed here, they work until then, and not after.
    let sign = |expiry: u64| {
        let key =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET.as_bytes());
        let user = expiry.to_string();
        let pass = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            ring::hmac::sign(&key, user.as_bytes()),
        );
        (user, pass)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (user, pass) = sign(now + 600);
    let udp = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = turn_client(udp, relay, &user, &pass).await;
    relays(&client).await;
    client.close().await.unwrap();
    let (user, pass) = sign(now - 60);
    let udp = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = turn_client(udp, relay, &user, &pass).await;
    assert!(
        client.allocate().await.is_err(),
        "expired credentials are refused"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_stream_ends_with_its_channel_and_its_hosts_logout_and_nobody_watches_twice() {
    let server = TestServer::start().await;
    let mut ann = server.user(Transport::Ws, "ann").await;
    let mut bob = server.user(Transport::Tls, "bob").await;
    let conv = ann.create("gigs", false).await;
    bob.join("gigs").await;
    let start = json!({"type": "stream_start", "conv": conv, "title": "One"});
    let stream = ann.ok(start.clone()).await["stream"]["id"]
        .as_u64()
        .unwrap();
    // One stream per host and channel; one watch per connection.
    let (code, _) = ann.err(start.clone()).await;
    assert_eq!(code, "already_done");
    bob.ok(json!({"type": "stream_watch", "stream": stream}))
        .await;
    let (code, _) = bob
        .err(json!({"type": "stream_watch", "stream": stream}))
        .await;
    assert_eq!(code, "already_done");
    // Bob leaves the channel: he no longer watches.
    bob.ok(json!({"type": "channel_leave", "name": "gigs"}))
        .await;
    let v = ann
        .take(|v| v["type"] == "stream_viewers" && v["viewers"] == json!([]))
        .await
        .unwrap();
    assert_eq!(v["stream"].as_u64(), Some(stream));
    bob.join("gigs").await;

    // Ann logs out on that connection: her stream ends.
    ann.ok(json!({"type": "logout"})).await;
    let ended = bob.event("stream_ended").await;
    assert_eq!(ended["stream"].as_u64(), Some(stream));

    // A deleted channel's streams end too.
    let (mut ann, _) = server.login(Transport::Ws, "ann").await;
    let again = ann.ok(start).await["stream"]["id"].as_u64().unwrap();
    let listed = bob.ok(json!({"type": "streams", "conv": conv})).await;
    assert_eq!(listed["streams"][0]["id"].as_u64(), Some(again));
    ann.ok(json!({"type": "channel_delete", "name": "gigs"}))
        .await;
    bob.event("channel_deleted").await;
    let mut carol = server.user(Transport::Ws, "carol").await;
    let conv2 = carol.create("gigs", false).await;
    let listed = carol.ok(json!({"type": "streams", "conv": conv2})).await;
    assert_eq!(listed["streams"], json!([]));
    assert_eq!(
        server
            .handle
            .stats()
            .streams_started
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
