//! Files over HTTP on the web listener: uploads by the tus 1.0 protocol at
//! `/uploads` (core, creation, checksum with sha256, termination,
//! expiration) and downloads at `/files/{id}` and `/files/{id}/thumb`
//! (HTTP Range, the file's SHA-256 in `Repr-Digest` and the `ETag`). Every
//! request carries `Authorization: Bearer <session token>`. This is glue:
//! headers in, a call to the files service, headers out.

use std::sync::atomic::Ordering::Relaxed;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use confab_proto::ErrorCode;

use super::ws::AppState;
use crate::Shared;
use crate::access::Actor;
use crate::services::files::{self, FileError};

const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,checksum,termination,expiration";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/uploads", post(create).options(options))
        .route("/uploads/", post(create).options(options))
        .route(
            "/uploads/{id}",
            axum::routing::head(head)
                .patch(patch)
                .delete(terminate)
                .options(options),
        )
        .route("/files/{id}", get(download))
        .route("/files/{id}/thumb", get(thumbnail))
        .route("/avatars/{name}", get(avatar))
        // Bodies are streamed to disk and bounded by each upload's length.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// An error as the client sees it: a status and a line saying why.
struct HttpError(StatusCode, String);

impl From<FileError> for HttpError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Api(e) => HttpError(status_of(e.code), e.message),
            FileError::TooLarge(m) => HttpError(StatusCode::PAYLOAD_TOO_LARGE, m),
            FileError::Conflict(m) => HttpError(StatusCode::CONFLICT, m),
            FileError::Checksum(m) => {
                HttpError(StatusCode::from_u16(460).expect("460 is a valid status"), m)
            }
            FileError::Type(m) => HttpError(StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            FileError::Image(m) => HttpError(StatusCode::UNPROCESSABLE_ENTITY, m),
        }
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Forbidden | ErrorCode::NotMember => StatusCode::FORBIDDEN,
        ErrorCode::AuthRequired | ErrorCode::BadToken | ErrorCode::BadCredentials => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::AlreadyDone | ErrorCode::AlreadyMember | ErrorCode::NameTaken => {
            StatusCode::CONFLICT
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut r = (self.0, format!("{}\n", self.1)).into_response();
        let h = r.headers_mut();
        tus_headers(h);
        if self.0 == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

fn bad(msg: impl Into<String>) -> HttpError {
    HttpError(StatusCode::BAD_REQUEST, msg.into())
}

fn tus_headers(h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn set(h: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn expires(h: &mut HeaderMap, ms: i64) {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    set(h, "upload-expires", httpdate::fmt_http_date(at));
}

/// The logged-in user behind `Authorization: Bearer <token>`.
async fn actor(shared: &Shared, headers: &HeaderMap) -> Result<Actor, HttpError> {
    let unauthorized = |m: &str| HttpError(StatusCode::UNAUTHORIZED, m.to_owned());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            unauthorized("send `Authorization: Bearer <session token>` (the token a login gives)")
        })?;
    let login = shared
        .services
        .accounts
        .resume(token.trim())
        .await
        .map_err(|e| unauthorized(&e.message))?;
    Ok(Actor {
        id: login.user.id,
        name: login.user.name,
        role: login.user.role,
    })
}

/// The tus version check every request but OPTIONS makes.
fn tus_version(headers: &HeaderMap) -> Result<(), HttpError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(HttpError(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "this server speaks tus {TUS_VERSION}, not `{}`",
                confab_proto::limits::shown(other)
            ),
        )),
        None => Err(bad("send `Tus-Resumable: 1.0.0` (this is a tus endpoint)")),
    }
}

fn number(headers: &HeaderMap, name: &str) -> Result<u64, HttpError> {
    let v = headers
        .get(name)
        .ok_or_else(|| bad(format!("the `{name}` header is missing")))?;
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("`{name}` must be a number of bytes")))
}

async fn options(State(app): State<AppState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    set(h, "tus-version", TUS_VERSION);
    set(h, "tus-extension", TUS_EXTENSIONS);
    set(h, "tus-max-size", app.shared.config.files.max_bytes);
    set(h, "tus-checksum-algorithm", "sha256");
    r
}

async fn create(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, HttpError> {
    tus_version(&headers)?;
    let actor = actor(&app.shared, &headers).await?;
    if headers.contains_key("upload-defer-length") {
        return Err(bad(
            "`Upload-Defer-Length` is not supported: give `Upload-Length`",
        ));
    }
    let length = number(&headers, "Upload-Length")?;
    let meta = match headers.get("upload-metadata") {
        Some(v) => files::parse_metadata(
            v.to_str()
                .map_err(|_| bad("`Upload-Metadata` must be ASCII"))?,
        )
        .map_err(bad)?,
        None => Default::default(),
    };
    let new = files::new_upload(length, &meta).map_err(bad)?;
    let services = &app.shared.services;
    let up = services
        .files
        .create(&actor, &services.messages, new)
        .await?;
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    set(h, "location", format!("/uploads/{}", up.id));
    set(h, "upload-offset", 0);
    expires(h, up.expires_ms);
    Ok(r)
}

async fn head(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    tus_version(&headers)?;
    let actor = actor(&app.shared, &headers).await?;
    let (offset, length, until) = app.shared.services.files.offset(&actor, &id).await?;
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    set(h, "upload-offset", offset);
    set(h, "upload-length", length);
    if let Some(ms) = until {
        expires(h, ms);
    }
    Ok(r)
}

/// `Upload-Checksum: sha256 <base64>`: the body's own hash.
fn checksum(headers: &HeaderMap) -> Result<Option<[u8; 32]>, HttpError> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| bad("`Upload-Checksum` must be ASCII"))?;
    let (algo, b64) = v
        .trim()
        .split_once(' ')
        .ok_or_else(|| bad("`Upload-Checksum` must be `sha256 <base64 of the body's hash>`"))?;
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(bad(format!(
            "checksum algorithm `{}` is not supported: use sha256",
            confab_proto::limits::shown(algo)
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| bad("`Upload-Checksum`: the sha256 must be 32 bytes in base64"))?;
    Ok(Some(bytes))
}

async fn patch(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, HttpError> {
    let headers = req.headers().clone();
    tus_version(&headers)?;
    let actor = actor(&app.shared, &headers).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/offset+octet-stream" {
        return Err(HttpError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a PATCH must be `Content-Type: application/offset+octet-stream`".into(),
        ));
    }
    let offset = number(&headers, "Upload-Offset")?;
    let sum = checksum(&headers)?;
    let body = req.into_body().into_data_stream();
    let services = &app.shared.services;
    let done = services
        .files
        .patch(&actor, &services.messages, &id, offset, sum, body)
        .await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    set(h, "upload-offset", done.offset);
    if let Some(f) = done.done {
        // Beyond tus: what the upload became.
        set(h, "confab-file", &f.file.id);
        set(h, "confab-sha256", &f.file.sha256);
        if let Some((conv, seq)) = f.message {
            set(h, "confab-message", format!("{conv}/{seq}"));
        }
    }
    Ok(r)
}

async fn terminate(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    tus_version(&headers)?;
    let actor = actor(&app.shared, &headers).await?;
    app.shared.services.files.terminate(&actor, &id).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    tus_headers(r.headers_mut());
    Ok(r)
}

async fn download(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, HttpError> {
    serve(app, id, false, req).await
}

async fn thumbnail(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, HttpError> {
    serve(app, id, true, req).await
}

/// A user's profile picture (its thumbnail), for anyone logged in. It
/// may change, so it is cached briefly, not forever like a file.
async fn avatar(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, HttpError> {
    actor(&app.shared, req.headers()).await?;
    let d = app.shared.services.files.avatar_of(&name).await?;
    send(app, d, req, "private, max-age=60").await
}

/// Serves a file (Range, conditional requests) to who may read it.
async fn serve(
    app: AppState,
    id: String,
    thumb: bool,
    req: Request,
) -> Result<Response, HttpError> {
    let actor = actor(&app.shared, req.headers()).await?;
    let services = &app.shared.services;
    let d = services
        .files
        .download(&actor, &services.messages, &id, thumb)
        .await?;
    // A file's bytes never change under its id.
    send(app, d, req, "private, max-age=31536000, immutable").await
}

/// Sends `d` with the headers every download carries.
async fn send(
    app: AppState,
    d: crate::services::files::Download,
    req: Request,
    cache: &'static str,
) -> Result<Response, HttpError> {
    let mime = if d.inline {
        d.mime.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let mime = HeaderValue::from_str(&mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let method = req.method().clone();
    let served = tower::ServiceExt::oneshot(tower_http::services::ServeFile::new(&d.path), req)
        .await
        .map_err(|e| HttpError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (mut parts, body) = served.into_parts();
    if parts.status == StatusCode::NOT_FOUND {
        tracing::error!(blob = d.sha256, "a file's blob is missing from the disk");
        return Err(HttpError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server lost this file's bytes".into(),
        ));
    }
    let h = &mut parts.headers;
    if h.contains_key(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, mime);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A file never runs as a page of this site, whatever it holds.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    set(h, "etag", format!("\"{}\"", d.sha256));
    if let Ok(raw) = hex::decode(&d.sha256) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        set(h, "repr-digest", format!("sha-256=:{b64}:"));
    }
    let disposition = if d.inline { "inline" } else { "attachment" };
    set(
        h,
        "content-disposition",
        content_disposition(disposition, &d.name),
    );
    if method == Method::GET && parts.status.is_success() {
        app.shared.hub.stats.downloads.fetch_add(1, Relaxed);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`
/// (RFC 6266): the name to save under, in both forms.
fn content_disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn disposition_quotes_nothing_dangerous() {
        assert_eq!(
            super::content_disposition("attachment", "a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        let d = super::content_disposition("inline", "chat\r\nSet-Cookie: x.png");
        assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
        assert!(
            super::content_disposition("attachment", "été.pdf")
                .ends_with("filename*=UTF-8''%C3%A9t%C3%A9.pdf")
        );
    }
}
