//! Uploads and downloads for the native driver, over HTTPS to the server's
//! web listener with the same trust as the chat connection.
//!
//! Uploads speak tus 1.0 (creation, then one `PATCH` with the rest of the
//! file; after a cut, `HEAD` says where the server's verified bytes end and
//! the next attempt continues there). Downloads write `DEST.part`, resume
//! it with a Range, check the whole file's SHA-256 and only then move it
//! to its name. Both report through a callback, paced by
//! [`Pace`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use confab_proto::file;
use futures_util::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::native::now_ms;
use crate::native::tls::Connector;
use crate::transfer::{DownloadJob, Endpoint, Pace, TransferReport, UploadJob};

/// Read and hash in pieces of this size.
const PIECE: usize = 1 << 20;

/// Where a transfer's reports go.
pub type Report = std::sync::Arc<dyn Fn(TransferReport) + Send + Sync>;

/// Why a transfer stopped: `retry` when it may work later.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
}

impl Failure {
    fn new(message: impl Into<String>, retry: bool) -> Self {
        Failure {
            message: message.into(),
            retry,
        }
    }

    fn net(e: reqwest::Error) -> Self {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        Failure::new(text, true)
    }

    fn io(what: &str, e: std::io::Error) -> Self {
        Failure::new(format!("{what}: {e}"), false)
    }
}

/// An HTTP client for one server's files.
pub struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    pub fn new(connector: &Connector, endpoint: &Endpoint) -> Result<Http, Failure> {
        let tls = connector
            .tls_config()
            .map_err(|e| Failure::new(e.to_string(), false))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Failure::new(e.to_string(), false))?;
        let host = connector.host();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let scheme = if endpoint.files.https {
            "https"
        } else {
            "http"
        };
        Ok(Http {
            client,
            base: format!("{scheme}://{host}:{}", endpoint.files.port),
            token: endpoint.token.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }
}

/// Hands `report` the progress reports its [`Pace`] lets through.
struct Throttle {
    report: Report,
    pace: Pace,
}

impl Throttle {
    fn new(report: &Report, key: &str, hashing: bool) -> Throttle {
        Throttle {
            report: report.clone(),
            pace: Pace::new(key, hashing),
        }
    }

    fn tell(&mut self, done: u64, total: u64, force: bool) {
        if let Some(r) = self.pace.progress(now_ms(), done, total, force) {
            (self.report)(r);
        }
    }
}

/// What went wrong, from a refusal's status and text.
async fn refusal(what: &str, r: reqwest::Response) -> Failure {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    let (message, retry) = crate::transfer::refusal(what == "download", status, &body);
    Failure { message, retry }
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads `path` through, hashing it, with progress.
async fn hash_file(path: &Path, size: u64, throttle: &mut Throttle) -> Result<String, Failure> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| Failure::io(&path.display().to_string(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; PIECE];
    let mut done = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| Failure::io(&path.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        throttle.tell(done, size, false);
    }
    throttle.tell(done, size, true);
    if done != size {
        return Err(Failure::new(
            format!(
                "{} changed since it was chosen ({size} bytes then, {done} now): choose it again",
                path.display()
            ),
            false,
        ));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Uploads `job`; the server posts the message when the last byte is in.
pub async fn upload(http: &Http, job: &UploadJob, report: &Report) -> Result<(), Failure> {
    let path = PathBuf::from(&job.source);
    let sha256 = match &job.sha256 {
        Some(s) => s.clone(),
        None => {
            let mut t = Throttle::new(report, &job.nonce, true);
            let s = hash_file(&path, job.size, &mut t).await?;
            report(TransferReport::Hashed {
                nonce: job.nonce.clone(),
                sha256: s.clone(),
            });
            s
        }
    };
    // Resume where the server's verified bytes end, if it still has them.
    let mut at = None;
    if let Some(url) = &job.url {
        let r = http
            .req(reqwest::Method::HEAD, url)
            .header("tus-resumable", "1.0.0")
            .send()
            .await
            .map_err(Failure::net)?;
        match r.status() {
            StatusCode::OK => {
                let offset = header(&r, "upload-offset").and_then(|o| o.parse::<u64>().ok());
                at = offset.map(|o| (url.clone(), o));
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => {}
            _ => return Err(refusal("upload", r).await),
        }
    }
    let (url, offset) = match at {
        Some(a) => a,
        None => {
            let mut meta = vec![
                format!("{} {}", file::meta::FILENAME, B64.encode(&job.name)),
                format!("{} {}", file::meta::SHA256, B64.encode(&sha256)),
            ];
            meta.extend(
                job.metadata
                    .iter()
                    .map(|(k, v)| format!("{k} {}", B64.encode(v))),
            );
            let r = http
                .req(reqwest::Method::POST, "/uploads")
                .header("tus-resumable", "1.0.0")
                .header("upload-length", job.size.to_string())
                .header("upload-metadata", meta.join(","))
                .send()
                .await
                .map_err(Failure::net)?;
            if r.status() != StatusCode::CREATED {
                return Err(refusal("upload", r).await);
            }
            let Some(url) = header(&r, "location").map(str::to_owned) else {
                return Err(Failure::new(
                    "the server made no upload (no Location)",
                    true,
                ));
            };
            report(TransferReport::Created {
                nonce: job.nonce.clone(),
                url: url.clone(),
            });
            (url, 0)
        }
    };
    if offset < job.size || job.size == 0 {
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Failure::io(&job.source, e))?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| Failure::io(&job.source, e))?;
        let size = job.size;
        let mut throttle = Throttle::new(report, &job.nonce, false);
        throttle.tell(offset, size, true);
        let mut sent = offset;
        let body = tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024).map(move |piece| {
            if let Ok(p) = &piece {
                sent += p.len() as u64;
                throttle.tell(sent.min(size), size, false);
            }
            piece
        });
        let r = http
            .req(reqwest::Method::PATCH, &url)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", (job.size - offset).to_string())
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(Failure::net)?;
        if r.status() != StatusCode::NO_CONTENT {
            return Err(refusal("upload", r).await);
        }
        report(TransferReport::Progress {
            key: job.nonce.clone(),
            hashing: false,
            done: job.size,
            total: job.size,
        });
    }
    Ok(())
}

/// `filename*=UTF-8''…` (or `filename="…"`) of a Content-Disposition.
fn disposition_name(v: &str) -> Option<String> {
    for part in v.split(';').map(str::trim) {
        if let Some(enc) = part.strip_prefix("filename*=UTF-8''") {
            let mut bytes = Vec::new();
            let mut it = enc.bytes();
            while let Some(b) = it.next() {
                if b == b'%' {
                    let hi = it.next()?;
                    let lo = it.next()?;
                    let s = [hi, lo];
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&s).ok()?, 16).ok()?);
                } else {
                    bytes.push(b);
                }
            }
            return String::from_utf8(bytes).ok();
        }
    }
    v.split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename="))
        .map(|n| n.trim_matches('"').to_owned())
}

/// `sha-256=:…:` of a Repr-Digest, as hex.
fn digest_hex(v: &str) -> Option<String> {
    let b64 = v
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("sha-256=:"))?
        .strip_suffix(':')?;
    B64.decode(b64).ok().map(hex::encode)
}

/// Where a download goes: `dest` itself, or (when it is empty or a
/// folder) the file's cleaned name in it; never over an existing file
/// (`name (1).ext` instead).
fn destination(dest: &str, name: &str) -> PathBuf {
    let d = Path::new(dest);
    let path = if dest.is_empty() || dest.ends_with('/') || d.is_dir() {
        d.join(file::clean_name(name))
    } else {
        d.to_path_buf()
    };
    if !path.exists() {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..)
        .map(|n| path.with_file_name(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .expect("some name is free")
}

fn part_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// Downloads `job`; returns where it was saved.
pub async fn download(http: &Http, job: &DownloadJob, report: &Report) -> Result<PathBuf, Failure> {
    let path = |e: std::io::Error, p: &Path| Failure::io(&p.display().to_string(), e);
    // The name, from the message or else the server (`HEAD`), gives the
    // part file a previous attempt may have left.
    let name = if job.name.is_empty() {
        let r = http
            .req(reqwest::Method::HEAD, &format!("/files/{}", job.id))
            .send()
            .await
            .map_err(Failure::net)?;
        if r.status() != StatusCode::OK {
            return Err(refusal("download", r).await);
        }
        header(&r, "content-disposition")
            .and_then(disposition_name)
            .unwrap_or_else(|| job.id.clone())
    } else {
        job.name.clone()
    };
    let d = Path::new(&job.dest);
    let target = if job.dest.is_empty() || job.dest.ends_with('/') || d.is_dir() {
        d.join(file::clean_name(&name))
    } else {
        d.to_path_buf()
    };
    let mut offset = tokio::fs::metadata(part_of(&target))
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut req = http.req(reqwest::Method::GET, &format!("/files/{}", job.id));
    if offset > 0 {
        req = req.header("range", format!("bytes={offset}-"));
    }
    let r = req.send().await.map_err(Failure::net)?;
    let resumed = match r.status() {
        StatusCode::PARTIAL_CONTENT => true,
        StatusCode::OK => false,
        StatusCode::RANGE_NOT_SATISFIABLE => {
            // The part is whole (or not this file): start again.
            let _ = tokio::fs::remove_file(part_of(&target)).await;
            return Box::pin(download(http, job, report)).await;
        }
        _ => return Err(refusal("download", r).await),
    };
    if !resumed {
        offset = 0;
    }
    let part = part_of(&target);
    let expected = job
        .sha256
        .clone()
        .or_else(|| header(&r, "repr-digest").and_then(digest_hex));
    let total = offset + r.content_length().unwrap_or(0);
    if let Some(size) = job.size
        && size != total
    {
        return Err(Failure::new(
            format!("the server sends {total} bytes; the message says {size}"),
            false,
        ));
    }
    let mut hasher = Sha256::new();
    let mut throttle = Throttle::new(report, &job.key, false);
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(!resumed)
        .open(&part)
        .await
        .map_err(|e| path(e, &part))?;
    if resumed {
        // What is already here counts toward the hash.
        let mut buf = vec![0u8; PIECE];
        let mut left = offset;
        while left > 0 {
            let n = out.read(&mut buf).await.map_err(|e| path(e, &part))?;
            if n == 0 {
                break;
            }
            let n = n.min(left as usize);
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        out.set_len(offset).await.map_err(|e| path(e, &part))?;
        out.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| path(e, &part))?;
    }
    throttle.tell(offset, total, true);
    let mut done = offset;
    let mut body = r.bytes_stream();
    let mut writer = tokio::io::BufWriter::with_capacity(PIECE, out);
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(Failure::net)?;
        hasher.update(&piece);
        writer.write_all(&piece).await.map_err(|e| path(e, &part))?;
        done += piece.len() as u64;
        throttle.tell(done, total, false);
    }
    writer.flush().await.map_err(|e| path(e, &part))?;
    drop(writer);
    throttle.tell(done, total, true);
    if done != total {
        return Err(Failure::new(
            format!("the download stopped at {done} of {total} bytes"),
            true,
        ));
    }
    let got = hex::encode(hasher.finalize());
    if let Some(want) = expected
        && want != got
    {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(Failure::new(
            format!("the downloaded bytes' SHA-256 is {got}, not the file's {want}: not saved"),
            false,
        ));
    }
    let dest = destination(&target.display().to_string(), &name);
    tokio::fs::rename(&part, &dest)
        .await
        .map_err(|e| path(e, &dest))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_headers_the_server_sends() {
        assert_eq!(
            disposition_name("attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b%C3%A9.txt")
                .as_deref(),
            Some("a bé.txt")
        );
        assert_eq!(
            disposition_name("inline; filename=\"x.png\"").as_deref(),
            Some("x.png")
        );
        assert_eq!(
            digest_hex("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:").as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn never_saves_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(destination(&d, "../x.txt"), dir.path().join("x.txt"));
        std::fs::write(dir.path().join("x.txt"), "old").unwrap();
        assert_eq!(destination(&d, "x.txt"), dir.path().join("x (1).txt"));
    }
}
