//! Files in the browser: the driver's side of uploads (tus over `fetch`,
//! in pieces, each reported) and downloads (streamed, SHA-256 checked,
//! then saved through a link), and images fetched with the session token
//! for `<img>` (which cannot send one) as object URLs.
//!
//! The web listener is the page's own origin, so every URL is relative.
//! A chosen `File` stays in this tab ([`add_source`]); the outbox entry
//! names it by key. After a reload the entry is still in the outbox but
//! the file is not: it fails with a sentence saying to choose it again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use confab_client::Input;
use confab_client::transfer::{DownloadJob, Pace, TransferReport, UploadJob, refusal};
use confab_proto::file;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Headers, Request, RequestInit, Response};

use crate::driver::{Core, now_ms};

/// Uploaded in pieces of this size: each is one `PATCH` and one progress
/// step, and the most a cut loses.
const PIECE: f64 = 4.0 * 1024.0 * 1024.0;

thread_local! {
    static SOURCES: RefCell<HashMap<String, web_sys::File>> = RefCell::new(HashMap::new());
    static NEXT: RefCell<u64> = const { RefCell::new(0) };
    /// Object URLs of images already fetched, by path.
    static IMAGES: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Keeps a chosen file for its upload; returns the key the outbox names.
pub fn add_source(f: web_sys::File) -> String {
    let n = NEXT.with(|n| {
        let mut n = n.borrow_mut();
        *n += 1;
        *n
    });
    let key = format!("tab-{}-{n}", now_ms());
    SOURCES.with(|s| s.borrow_mut().insert(key.clone(), f));
    key
}

fn tell(core: &Core, r: TransferReport) {
    core.client
        .borrow_mut()
        .handle(Input::Transfer(r), now_ms());
    core.wake();
}

/// Hands the core the progress reports its [`Pace`] lets through.
struct Throttle<'a> {
    core: &'a Core,
    pace: Pace,
}

impl<'a> Throttle<'a> {
    fn new(core: &'a Core, key: &str, hashing: bool) -> Self {
        Throttle {
            core,
            pace: Pace::new(key, hashing),
        }
    }

    fn tell(&mut self, done: u64, total: u64, force: bool) {
        if let Some(r) = self.pace.progress(now_ms(), done, total, force) {
            tell(self.core, r);
        }
    }
}

fn js(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn fetch(
    method: &str,
    url: &str,
    token: &str,
    headers: &[(&str, String)],
    body: Option<&JsValue>,
) -> Result<Response, String> {
    let h = Headers::new().map_err(js)?;
    h.set("authorization", &format!("Bearer {token}"))
        .map_err(js)?;
    for (k, v) in headers {
        h.set(k, v).map_err(js)?;
    }
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    if let Some(b) = body {
        init.set_body(b);
    }
    let req = Request::new_with_str_and_init(url, &init).map_err(js)?;
    let window = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|e| format!("the connection failed: {}", js(e)))?;
    resp.dyn_into::<Response>().map_err(js)
}

async fn text(r: &Response) -> String {
    match r.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
    .trim()
    .to_owned()
}

/// A refusal: the server's sentence, and whether trying again may help.
async fn refused(download: bool, r: &Response) -> (String, bool) {
    refusal(download, r.status(), &text(r).await)
}

async fn bytes_of(blob: &Blob) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(blob.array_buffer()).await.map_err(js)?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// Runs an upload the core asked for and reports as it goes.
pub async fn upload(core: Rc<Core>, job: UploadJob) {
    let key = job.nonce.clone();
    let result = try_upload(&core, &job).await;
    tell(
        &core,
        match result {
            Ok(()) => TransferReport::Finished { key, to: None },
            Err((message, retry)) => TransferReport::Failed {
                key,
                message,
                retry,
            },
        },
    );
}

async fn try_upload(core: &Core, job: &UploadJob) -> Result<(), (String, bool)> {
    let Some(f) = SOURCES.with(|s| s.borrow().get(&job.source).cloned()) else {
        return Err((
            "the file is no longer open in this tab (the page was reloaded): choose it again"
                .into(),
            false,
        ));
    };
    let net = |e: String| (e, true);
    let size = job.size as f64;
    let sha256 = match &job.sha256 {
        Some(s) => s.clone(),
        None => {
            let mut t = Throttle::new(core, &job.nonce, true);
            let mut h = Sha256::new();
            let mut at = 0.0;
            while at < size {
                let end = (at + PIECE).min(size);
                let piece = f.slice_with_f64_and_f64(at, end).map_err(|e| net(js(e)))?;
                h.update(bytes_of(&piece).await.map_err(net)?);
                at = end;
                t.tell(at as u64, job.size, false);
            }
            t.tell(job.size, job.size, true);
            let s = hex::encode(h.finalize());
            tell(
                core,
                TransferReport::Hashed {
                    nonce: job.nonce.clone(),
                    sha256: s.clone(),
                },
            );
            s
        }
    };
    let tus = ("tus-resumable", "1.0.0".to_owned());
    let token = &job.endpoint.token;
    let mut resume = None;
    if let Some(url) = &job.url {
        let r = fetch("HEAD", url, token, std::slice::from_ref(&tus), None)
            .await
            .map_err(net)?;
        if r.status() == 200 {
            let offset = r
                .headers()
                .get("upload-offset")
                .ok()
                .flatten()
                .and_then(|o| o.parse::<u64>().ok());
            resume = offset.map(|o| (url.clone(), o));
        } else if r.status() != 404 && r.status() != 410 {
            return Err(refused(false, &r).await);
        }
    }
    let (url, mut offset) = match resume {
        Some(x) => x,
        None => {
            let b64 = |s: &str| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(s)
            };
            let mut meta = vec![
                format!("{} {}", file::meta::FILENAME, b64(&job.name)),
                format!("{} {}", file::meta::SHA256, b64(&sha256)),
            ];
            meta.extend(job.metadata.iter().map(|(k, v)| format!("{k} {}", b64(v))));
            let r = fetch(
                "POST",
                "/uploads",
                token,
                &[
                    tus.clone(),
                    ("upload-length", job.size.to_string()),
                    ("upload-metadata", meta.join(",")),
                ],
                None,
            )
            .await
            .map_err(net)?;
            if r.status() != 201 {
                return Err(refused(false, &r).await);
            }
            let url = r
                .headers()
                .get("location")
                .ok()
                .flatten()
                .ok_or(("the server made no upload".to_owned(), true))?;
            tell(
                core,
                TransferReport::Created {
                    nonce: job.nonce.clone(),
                    url: url.clone(),
                },
            );
            (url, 0)
        }
    };
    let mut t = Throttle::new(core, &job.nonce, false);
    t.tell(offset, job.size, true);
    loop {
        let end = (offset as f64 + PIECE).min(size);
        let piece = f
            .slice_with_f64_and_f64(offset as f64, end)
            .map_err(|e| net(js(e)))?;
        let r = fetch(
            "PATCH",
            &url,
            token,
            &[
                tus.clone(),
                ("upload-offset", offset.to_string()),
                ("content-type", "application/offset+octet-stream".into()),
            ],
            Some(&piece.into()),
        )
        .await
        .map_err(net)?;
        if r.status() != 204 {
            return Err(refused(false, &r).await);
        }
        offset = r
            .headers()
            .get("upload-offset")
            .ok()
            .flatten()
            .and_then(|o| o.parse().ok())
            .unwrap_or(end as u64);
        t.tell(offset, job.size, offset >= job.size);
        if offset >= job.size {
            return Ok(());
        }
    }
}

/// Runs a download: streamed with progress, hashed as it comes, checked,
/// then handed to the browser to save under the file's name.
pub async fn download(core: Rc<Core>, job: DownloadJob) {
    let key = job.key.clone();
    let result = try_download(&core, &job).await;
    tell(
        &core,
        match result {
            Ok(()) => TransferReport::Finished {
                key,
                to: Some(format!("your downloads as {}", file::clean_name(&job.name))),
            },
            Err((message, retry)) => TransferReport::Failed {
                key,
                message,
                retry,
            },
        },
    );
}

async fn try_download(core: &Core, job: &DownloadJob) -> Result<(), (String, bool)> {
    let net = |e: String| (e, true);
    let r = fetch(
        "GET",
        &format!("/files/{}", job.id),
        &job.endpoint.token,
        &[],
        None,
    )
    .await
    .map_err(net)?;
    if r.status() != 200 {
        return Err(refused(true, &r).await);
    }
    let total = r
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.parse::<u64>().ok())
        .or(job.size)
        .unwrap_or(0);
    let mime = r
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = r.body().ok_or(("an empty answer".to_owned(), true))?;
    let reader: web_sys::ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|e| net(js(e.into())))?;
    let mut h = Sha256::new();
    let chunks = js_sys::Array::new();
    let mut done = 0u64;
    let mut t = Throttle::new(core, &job.key, false);
    loop {
        let step = JsFuture::from(reader.read())
            .await
            .map_err(|e| net(js(e)))?;
        let finished = js_sys::Reflect::get(&step, &"done".into())
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if finished {
            break;
        }
        let value = js_sys::Reflect::get(&step, &"value".into()).map_err(|e| net(js(e)))?;
        let chunk = js_sys::Uint8Array::new(&value);
        h.update(chunk.to_vec());
        done += chunk.length() as u64;
        chunks.push(&chunk);
        t.tell(done, total, false);
    }
    t.tell(done, total, true);
    let got = hex::encode(h.finalize());
    if let Some(want) = &job.sha256
        && *want != got
    {
        return Err((
            format!("the downloaded bytes' SHA-256 is {got}, not the file's {want}: not saved"),
            false,
        ));
    }
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(&mime);
    let blob =
        Blob::new_with_u8_array_sequence_and_options(&chunks, &opts).map_err(|e| net(js(e)))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| net(js(e)))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or(("no document".to_owned(), false))?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| net(js(e)))?
        .dyn_into()
        .map_err(|e| net(js(e.into())))?;
    a.set_href(&url);
    a.set_download(&file::clean_name(&job.name));
    a.click();
    // The browser has taken it once the click is handled.
    wasm_bindgen_futures::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(60_000).await;
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    Ok(())
}

/// Forgets a fetched image (a profile picture that changed).
pub fn forget_image(path: &str) {
    IMAGES.with(|m| m.borrow_mut().remove(path));
}

/// The path of `user`'s profile picture.
pub fn avatar_path(user: &str) -> String {
    format!(
        "/avatars/{}",
        String::from(js_sys::encode_uri_component(user))
    )
}

/// An object URL for an image at `path` (`/files/ID` or its thumbnail),
/// fetched once with the session token.
pub async fn image_url(path: &str, token: &str) -> Result<String, String> {
    match IMAGES.with(|m| m.borrow().get(path).cloned()) {
        Some(u) if u.is_empty() => return Err("none".into()),
        Some(u) => return Ok(u),
        None => {}
    }
    let r = fetch("GET", path, token, &[], None).await?;
    if r.status() == 404 {
        // None there (a user with no picture): not asked again.
        IMAGES.with(|m| m.borrow_mut().insert(path.to_owned(), String::new()));
    }
    if r.status() != 200 {
        return Err(refused(true, &r).await.0);
    }
    let blob: Blob = JsFuture::from(r.blob().map_err(js)?)
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js)?;
    IMAGES.with(|m| m.borrow_mut().insert(path.to_owned(), url.clone()));
    Ok(url)
}
