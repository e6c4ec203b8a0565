//! `/metrics` read by a Prometheus text parser while people chat; who may
//! read it; `/healthz` and `/readyz`.

use std::net::SocketAddr;

use confab_testkit::{TestServer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP/1.1 GET; the status code and the body.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: confab\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(confab_testkit::DEADLINE, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    // The body may come chunked.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

fn parse(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

#[tokio::test]
async fn metrics_count_what_happens_and_a_prometheus_parser_reads_them() {
    let server = TestServer::start().await;
    let mut alice = server.user(Transport::Tls, "alice").await;
    let mut bob = server.user(Transport::Ws, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    for i in 0..5 {
        alice.say(conv, &format!("hello {i}")).await;
        bob.event("message").await;
    }
    let mut c = server.connect(Transport::Tls).await;
    c.ok(serde_json::json!({"type": "hello", "protocol": 1, "client": "m"}))
        .await;
    c.err(serde_json::json!({"type": "login", "username": "alice", "password": "nope-nope"}))
        .await;

    let (status, body) = get(server.http, "/metrics", &[]).await;
    assert_eq!(status, 200, "{body}");
    let m = parse(&body);
    assert_eq!(
        value(&m, "confab_connections", Some(("transport", "tls"))),
        2.0
    );
    assert_eq!(
        value(&m, "confab_connections", Some(("transport", "websocket"))),
        1.0
    );
    assert_eq!(value(&m, "confab_messages_total", None), 5.0);
    assert_eq!(value(&m, "confab_registrations_total", None), 2.0);
    assert_eq!(value(&m, "confab_login_failures_total", None), 1.0);
    assert!(value(&m, "confab_events_total", None) >= 5.0);
    assert!(value(&m, "confab_sent_bytes_total", None) > 0.0);
    assert!(value(&m, "confab_received_bytes_total", None) > 0.0);
    assert!(value(&m, "confab_resident_memory_bytes", None) > 1e6);
    // The histograms: one delivery per message, and commits.
    let delivery = m
        .samples
        .iter()
        .find(|s| s.metric == "confab_delivery_seconds")
        .expect("the delivery histogram");
    match &delivery.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.last().unwrap();
            assert_eq!(inf.count, 5.0, "{buckets:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(body.contains("confab_commit_seconds_count"), "{body}");

    // Through a trusted proxy (so from anywhere), without the token: no.
    let proxied = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert_eq!(get(proxied.http, "/metrics", &[]).await.0, 403);
    let with_token = TestServer::start_with(|c| c.metrics_token = Some("s3cret".into())).await;
    assert_eq!(get(with_token.http, "/metrics", &[]).await.0, 403);
    assert_eq!(
        get(
            with_token.http,
            "/metrics",
            &[("Authorization", "Bearer wrong")]
        )
        .await
        .0,
        403
    );
    let (status, body) = get(
        with_token.http,
        "/metrics",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(status, 200);
    parse(&body);
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    assert_eq!(
        get(server.http, "/healthz", &[]).await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        get(server.http, "/readyz", &[]).await,
        (200, "ready\n".to_owned())
    );
}
