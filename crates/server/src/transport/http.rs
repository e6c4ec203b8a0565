//! The web listener: HTTP/1.1, over TLS whenever [`crate::Config::web_tls`]
//! says so, serving the router of `ws.rs` (the web client, `/ws`, health
//! and metrics). Each connection runs in its own task on the bulk runtime
//! (`crate::bulk`), so that an upload's TLS and body do not take the CPU
//! from chat: a TLS handshake under a deadline, then hyper with a deadline
//! for every request head, so a connection that sends nothing (new, or
//! idle between requests) is closed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::Shared;
use crate::bulk::Bulk;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    shared: Arc<Shared>,
    tasks: TaskTracker,
    bulk: Arc<Bulk>,
) {
    while let Some((stream, peer)) = super::accept(&listener, &shared.shutdown).await {
        // The socket leaves this runtime's reactor for the bulk runtime's.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot hand a connection over");
                continue;
            }
        };
        let (tls, app, shared) = (tls.clone(), app.clone(), shared.clone());
        bulk.spawn(tasks.track_future(async move {
            let stream = match TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => return tracing::debug!(%peer, error = %e, "cannot take a connection"),
            };
            match tls {
                Some(acceptor) => {
                    let handshake = Box::pin(acceptor.accept(stream));
                    match tokio::time::timeout(shared.config.tls_handshake_timeout, handshake).await
                    {
                        Ok(Ok(tls)) => serve_conn(TokioIo::new(tls), peer, app, &shared).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_conn(TokioIo::new(stream), peer, app, &shared).await,
            }
        }));
    }
}

async fn serve_conn<I>(io: I, peer: SocketAddr, app: Router, shared: &Shared)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower::ServiceExt::oneshot(app.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.http_idle)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        }
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The client's address: the peer's, or, when the peer is a trusted
/// proxy, the nearest address in `X-Forwarded-For` that is not one (each
/// proxy appends the address it heard from, so the entries on the left
/// are whatever the client claimed).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// Whether a page from `origin` may open `/ws` on this server: its own
/// pages (the origin names the host the request came to), and the origins
/// configured; requests without an Origin are not from a browser page.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get("origin") else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return Ok(());
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return Ok(());
    }
    let shown: String = origin.chars().take(80).collect();
    Err(format!(
        "pages from `{shown}` may not open /ws on this server (the server's own pages and its allowed_origins may)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(
            client_ip(proxy, &h, &[proxy]),
            "203.0.113.7".parse::<IpAddr>().unwrap(),
            "the address the proxy heard from, not what the client wrote"
        );
        let stranger: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &[proxy]), stranger);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn a_page_of_the_server_itself_or_an_allowed_origin_may_open_ws() {
        let own = headers(&[
            ("origin", "https://chat.example.org"),
            ("host", "chat.example.org"),
        ]);
        assert!(origin_allowed(&own, &[]).is_ok());
        assert!(origin_allowed(&headers(&[("host", "x")]), &[]).is_ok());
        let evil = headers(&[
            ("origin", "https://evil.example"),
            ("host", "chat.example.org"),
        ]);
        let e = origin_allowed(&evil, &[]).unwrap_err();
        assert!(e.contains("evil.example"), "{e}");
        assert!(origin_allowed(&evil, &["https://evil.example/".into()]).is_ok());
    }
}
