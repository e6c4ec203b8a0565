//! Files: tus uploads to a Confab server's web listener, and the plain
//! HTTPS streaming sink they are compared with.
//!
//! The sink does the least a verified upload must: TLS, HTTP/1.1, SHA-256
//! of the body and writing it to disk (through the same 1 MiB buffer the
//! server uses). It runs in this process on a port of its own, with a
//! certificate made for it.
//!
//! Bodies are one random MiB repeated: generated as they are sent, so the
//! client holds one MiB whatever the size, and its hash is known before.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1 << 20;

/// A body of `size` bytes: one random MiB repeated.
#[derive(Clone)]
pub struct Body {
    piece: Bytes,
    pub size: u64,
    pub sha256: String,
}

impl Body {
    pub fn new(size: u64) -> Body {
        let piece: Vec<u8> = (0..MIB).map(|_| rand::random::<u8>()).collect();
        let piece = Bytes::from(piece);
        let mut h = Sha256::new();
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB as u64) as usize;
            h.update(&piece[..n]);
            left -= n as u64;
        }
        Body {
            piece,
            size,
            sha256: hex::encode(h.finalize()),
        }
    }

    /// The bytes, as a stream of pieces.
    fn stream(&self) -> reqwest::Body {
        let piece = self.piece.clone();
        let size = self.size;
        let pieces = size.div_ceil(MIB as u64);
        reqwest::Body::wrap_stream(futures_util::stream::iter((0..pieces).map(move |i| {
            let n = (size - i * MIB as u64).min(MIB as u64) as usize;
            Ok::<_, std::io::Error>(piece.slice(..n))
        })))
    }
}

/// Uploads to one Confab server as one user, into one conversation.
pub struct Uploader {
    http: reqwest::Client,
    base: String,
    token: String,
    conv: u64,
}

impl Uploader {
    pub fn new(
        tls: Option<Arc<rustls::ClientConfig>>,
        base: &str,
        token: &str,
        conv: u64,
    ) -> Result<Uploader> {
        let mut b = reqwest::Client::builder();
        if let Some(tls) = tls {
            b = b.use_preconfigured_tls((*tls).clone());
        }
        Ok(Uploader {
            http: b.build()?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            conv,
        })
    }

    /// One whole upload (creation, then one `PATCH`); how long it took.
    pub async fn upload(&self, body: &Body) -> Result<Duration> {
        let t = Instant::now();
        let meta = format!(
            "sha256 {},conv {},filename {}",
            B64.encode(&body.sha256),
            B64.encode(self.conv.to_string()),
            B64.encode("bench.bin")
        );
        let r = self
            .http
            .post(format!("{}/uploads", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", body.size.to_string())
            .header("upload-metadata", meta)
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::CREATED {
            bail!("creation refused: {} {}", r.status(), r.text().await?);
        }
        let at = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .context("no Location")?
            .to_owned();
        let r = self
            .http
            .patch(format!("{}{at}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", body.size.to_string())
            .body(body.stream())
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::NO_CONTENT {
            bail!("upload refused: {} {}", r.status(), r.text().await?);
        }
        Ok(t.elapsed())
    }
}

/// The comparison: a plain HTTPS server that hashes what is `PUT` and
/// writes it to a file.
pub struct Sink {
    pub url: String,
    /// Its certificate (PEM), for a client elsewhere to trust.
    pub cert_pem: String,
    http: reqwest::Client,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Sink {
    /// A sink another process runs (`--scenario sink`), at `url` with the
    /// certificate in `ca`.
    pub fn remote(url: &str, ca: &std::path::Path) -> Result<Sink> {
        let pem = std::fs::read_to_string(ca)?;
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?)
            .build()?;
        Ok(Sink {
            url: url.to_owned(),
            cert_pem: pem,
            http,
            task: None,
        })
    }

    /// Serves a sink in this process.
    pub async fn start() -> Result<Sink> {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])?;
        let key = rustls_pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let dir = std::env::temp_dir();
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((tcp, _)) = listener.accept().await {
                n += 1;
                let path = dir.join(format!("confab-bench-sink-{}-{n}", std::process::id()));
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| sink(req, path.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes())?)
            .build()?;
        Ok(Sink {
            url: format!("https://{addr}/sink"),
            cert_pem: made.cert.pem(),
            http,
            task: Some(task),
        })
    }

    /// One `PUT` of `body`; how long it took. The sink answers with the
    /// hash, which is checked.
    pub async fn put(&self, body: &Body) -> Result<Duration> {
        let t = Instant::now();
        let r = self
            .http
            .put(&self.url)
            .header("content-length", body.size.to_string())
            .body(body.stream())
            .send()
            .await?;
        let took = t.elapsed();
        let got = r.text().await?;
        if got != body.sha256 {
            bail!("the sink hashed {got}, not {}", body.sha256);
        }
        Ok(took)
    }
}

async fn sink(
    req: hyper::Request<hyper::body::Incoming>,
    path: PathBuf,
) -> Result<hyper::Response<http_body_util::Full<Bytes>>, std::io::Error> {
    let mut body = req.into_body();
    let file = tokio::fs::File::create(&path).await?;
    let mut out = tokio::io::BufWriter::with_capacity(MIB, file);
    let mut h = Sha256::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            h.update(&data);
            out.write_all(&data).await?;
        }
    }
    out.flush().await?;
    out.into_inner().sync_data().await?;
    let _ = tokio::fs::remove_file(&path).await;
    Ok(hyper::Response::new(http_body_util::Full::new(
        Bytes::from(hex::encode(h.finalize())),
    )))
}

/// The server's memory while something runs: sampled every 100 ms.
pub struct RssWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl RssWatch {
    pub fn start(pid: u32) -> RssWatch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let first = crate::metrics::rss_kib(pid).unwrap_or(0);
            let mut max = first;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(crate::metrics::rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (first, max)
        });
        RssWatch { stop, task }
    }

    /// (KiB at the start, most KiB seen).
    pub async fn finish(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or((0, 0))
    }
}
