//! The web listener over HTTPS, certificates reloaded while clients stay
//! connected, idle HTTP connections closed, and `/ws` refused to other
//! sites' pages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_testkit::{Client, DEADLINE, TestServer, poll, trusting};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fresh certificate and key for `localhost`, written as `NAME.pem` and
/// `NAME.key` in `dir`.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Puts `from` in place of `to` at once (as certbot and ACME clients do),
/// so the server never reads half a file.
fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

async fn hello_login(c: &mut Client, name: &str) {
    c.ok(json!({"type": "hello", "protocol": 1, "client": "https-test"}))
        .await;
    c.ok(json!({"type": "register", "username": name, "password": format!("password-{name}")}))
        .await;
}

#[tokio::test]
async fn https_on_the_web_listener_and_a_certificate_reloaded_while_clients_chat() {
    let certs = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = make_cert(certs.path(), "a");
    let (b_cert, b_key) = make_cert(certs.path(), "b");
    let (live_cert, live_key) = (certs.path().join("live.pem"), certs.path().join("live.key"));
    replace(&a_cert, &live_cert);
    replace(&a_key, &live_key);
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(live_cert.clone());
        c.tls_key = Some(live_key.clone());
        c.tls_watch_every = Duration::from_millis(50);
    })
    .await;
    let fp_a = server.fingerprint.clone();

    // A certificate is configured: the web listener speaks HTTPS, and
    // plain HTTP gets nowhere.
    assert!(
        Client::ws(server.http).await.is_err(),
        "plain ws:// must fail"
    );
    let trust_a = trusting(&[&a_cert]).unwrap();
    let trust_b = trusting(&[&b_cert]).unwrap();
    let mut bob = Client::wss(server.http, trust_a.clone()).await.unwrap();
    hello_login(&mut bob, "bob").await;
    let mut alice = Client::tls_with(
        TcpStream::connect(server.tcp).await.unwrap(),
        trust_a.clone(),
    )
    .await
    .unwrap();
    hello_login(&mut alice, "alice").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    alice.say(conv, "before the renewal").await;
    assert_eq!(
        bob.event("message").await["message"]["text"],
        "before the renewal"
    );

    // Renewal: the files change; the server notices by itself.
    replace(&b_cert, &live_cert);
    replace(&b_key, &live_key);
    let fp_b = poll(
        "the new certificate",
        Duration::from_millis(20),
        async || {
            let fp = server.handle.cert_fingerprint();
            (fp != fp_a).then_some(fp)
        },
    )
    .await
    .unwrap();
    // New connections get the new certificate on both listeners...
    let mut carol = Client::wss(server.http, trust_b.clone()).await.unwrap();
    hello_login(&mut carol, "carol").await;
    let mut dave = Client::tls_with(
        TcpStream::connect(server.tcp).await.unwrap(),
        trust_b.clone(),
    )
    .await
    .unwrap();
    hello_login(&mut dave, "dave").await;
    assert!(
        Client::wss(server.http, trust_a.clone()).await.is_err(),
        "the old certificate is no longer presented"
    );
    // ...and the old connections chat on.
    carol.join("general").await;
    alice.say(conv, "after the renewal").await;
    assert_eq!(
        bob.event("message").await["message"]["text"],
        "after the renewal"
    );
    assert_eq!(
        carol.event("message").await["message"]["text"],
        "after the renewal"
    );
    bob.say(conv, "still here").await;
    assert_eq!(
        alice.event("message").await["message"]["text"],
        "still here"
    );

    // A reload (SIGHUP) that meets a key of another certificate keeps the
    // one in use, and says why.
    replace(&a_key, &live_key);
    let err = server.handle.reload_tls().unwrap_err();
    assert!(err.contains("does not belong"), "{err}");
    assert_eq!(server.handle.cert_fingerprint(), fp_b);
    replace(&b_key, &live_key);
    assert_eq!(server.handle.reload_tls().unwrap(), fp_b);
}

#[tokio::test]
async fn beyond_loopback_the_web_listener_speaks_https_with_the_self_signed_certificate() {
    let server = TestServer::start_with(|c| {
        c.http = "0.0.0.0:0".parse().unwrap();
    })
    .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.http.port()));
    assert!(Client::ws(addr).await.is_err(), "plain ws:// must fail");
    let trust = confab_testkit::client_tls_config(server.dir.path()).unwrap();
    let mut c = Client::wss(addr, trust).await.unwrap();
    hello_login(&mut c, "erin").await;
    // Unless plain HTTP is asked for (behind a reverse proxy).
    let plain = TestServer::start_with(|c| {
        c.http = "0.0.0.0:0".parse().unwrap();
        c.http_plain = true;
    })
    .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], plain.http.port()));
    let mut c = Client::ws(addr).await.unwrap();
    hello_login(&mut c, "fred").await;
}

/// Reads until the server closes the connection; the bytes it sent.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .unwrap();
    got
}

#[tokio::test]
async fn http_connections_that_send_nothing_are_closed() {
    let server = TestServer::start_with(|c| c.http_idle = Duration::from_millis(300)).await;
    // A WebSocket opened first outlives the others' closing (its heartbeat,
    // not the HTTP deadline, keeps it).
    let mut ws = server.hello(confab_testkit::Transport::Ws).await;
    // Says nothing at all.
    let mut silent = TcpStream::connect(server.http).await.unwrap();
    // Sends half a request head and stops.
    let mut slow = TcpStream::connect(server.http).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Asks once, then stays idle on the kept-alive connection.
    let mut idle = TcpStream::connect(server.http).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());
    let _ = read_to_close(&mut slow).await;
    let answered = String::from_utf8(read_to_close(&mut idle).await).unwrap();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    ws.ok(json!({"type": "visitor"})).await;
}

#[tokio::test]
async fn only_the_servers_own_pages_and_allowed_origins_may_open_ws() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start_with(|c| {
        c.allowed_origins = vec!["https://app.example.org".into()];
    })
    .await;
    let open = async |origin: &str| {
        let mut req = format!("ws://{}/ws", server.http)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req).await
    };
    match open("https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("evil.example"), "{body}");
        }
        other => panic!("a foreign page's WebSocket must be refused: {other:?}"),
    }
    open(&format!("http://{}", server.http))
        .await
        .expect("the server's own page");
    open("https://app.example.org")
        .await
        .expect("an allowed origin");
}
