//! The web client's files over plain HTTP: what a browser gets.

use confab_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request; the status, the headers (lower-case names) and the body.
async fn get(
    server: &TestServer,
    path: &str,
    headers: &[&str],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_web_client_is_served_compressed_and_revalidated_by_etag() {
    let server = TestServer::start().await;

    let (status, headers, body) = get(&server, "/", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("/pkg/confab_web.js"), "{page}");

    let (status, headers, plain) = get(&server, "/pkg/confab_web_bg.wasm", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(&plain[..4], b"\0asm", "a WebAssembly module");
    let etag = header(&headers, "etag").expect("an etag").to_owned();

    let (status, headers, gz) = get(
        &server,
        "/pkg/confab_web_bg.wasm",
        &["Accept-Encoding: gzip, br"],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert!(
        gz.len() < plain.len() / 2,
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    assert_eq!(&gz[..2], [0x1f, 0x8b], "gzip data");

    let (status, _, body) = get(
        &server,
        "/pkg/confab_web_bg.wasm",
        &[&format!("If-None-Match: {etag}")],
    )
    .await;
    assert_eq!(
        (status, body.len()),
        (304, 0),
        "unchanged: nothing sent again"
    );

    for path in ["/sw.js", "/style.css", "/pkg/confab_web.js"] {
        assert_eq!(get(&server, path, &[]).await.0, 200, "{path}");
    }
    assert_eq!(get(&server, "/no/such/file", &[]).await.0, 404);
}
