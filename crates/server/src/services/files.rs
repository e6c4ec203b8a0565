//! Files: uploads (the tus protocol's steps, spoken over HTTP by
//! `transport/files.rs`), verification, content-addressed storage,
//! thumbnails, posting a finished file to its conversation (or offering
//! it, or making it an avatar), who may download what, and collecting what
//! nobody needs.
//!
//! On disk, under the data dir's `files/`: `uploads/{id}` holds an upload's
//! bytes so far (its length is the upload's offset), `blobs/{aa}/{sha256}`
//! a finished file's bytes, named by their hash. Both names are made here
//! (a random id, a computed hash) and checked for form before any path is
//! built: nothing a client sends becomes part of a path.
//!
//! A PATCH streams its body to the upload's file through a 1 MiB buffer,
//! hashing as it goes, so memory does not grow with the file. The hash of
//! the bytes so far stays in memory between requests (and is recomputed
//! from the file after a restart); when the last byte arrives the whole
//! file's SHA-256 must equal the one declared at creation, or nothing is
//! kept.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use confab_proto::file::{self as pf, is_id, is_sha256};
use confab_proto::{Body, ConvId, ErrorCode, FileInfo, ImageInfo};
use confab_store::{Dest, FileRecord, UploadRecord, UploadTarget, UserId};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::messages::{Messages, now_ms};
use super::{Actor, Ctx};
use crate::config::FileConfig;
use crate::error::ApiError;

/// Why a file request failed; each maps to an HTTP status.
#[derive(Debug)]
pub(crate) enum FileError {
    /// By its error code (400, 401, 403, 404, ...).
    Api(ApiError),
    /// 413: over the size limit or the quota.
    TooLarge(String),
    /// 409: the offset given is not the upload's, or another request is
    /// writing it.
    Conflict(String),
    /// 460 (tus): a checksum did not match.
    Checksum(String),
    /// 415: a type not allowed, or a PATCH that is not
    /// `application/offset+octet-stream`.
    Type(String),
    /// 422: an image too big to decode.
    Image(String),
}

impl From<ApiError> for FileError {
    fn from(e: ApiError) -> Self {
        FileError::Api(e)
    }
}

impl From<confab_store::StoreError> for FileError {
    fn from(e: confab_store::StoreError) -> Self {
        FileError::Api(e.into())
    }
}

fn io_error(what: &str, e: std::io::Error) -> FileError {
    tracing::error!(error = %e, "files: {what}");
    FileError::Api(ApiError::new(
        ErrorCode::Internal,
        format!("the server could not {what}"),
    ))
}

fn no_upload(id: &str) -> FileError {
    FileError::Api(ApiError::not_found(format!(
        "no upload `{}` of yours (finished, ended or expired?)",
        confab_proto::limits::shown(id)
    )))
}

fn no_file(id: &str) -> FileError {
    FileError::Api(ApiError::not_found(format!(
        "no file `{}` that you can read",
        confab_proto::limits::shown(id)
    )))
}

/// A fresh id: 128 random bits as 32 hex digits.
fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Where the bytes live. Paths are built only from ids and hashes this
/// server made, and only after checking their form.
pub(crate) struct Disk {
    root: PathBuf,
}

impl Disk {
    pub(crate) fn new(root: PathBuf) -> std::io::Result<Disk> {
        for sub in ["uploads", "blobs"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Disk { root })
    }

    fn upload(&self, id: &str) -> PathBuf {
        assert!(is_id(id), "upload ids are made by the server");
        self.root.join("uploads").join(id)
    }

    pub(crate) fn blob(&self, sha256: &str) -> PathBuf {
        assert!(is_sha256(sha256), "blobs are named by their hash");
        self.root.join("blobs").join(&sha256[..2]).join(sha256)
    }
}

/// What a PATCH achieved.
pub(crate) struct Patched {
    /// Bytes the server holds now.
    pub offset: u64,
    /// When that was the last of them: the file, and where it went.
    pub done: Option<Finished>,
}

/// A finished upload.
#[derive(Clone)]
pub(crate) struct Finished {
    pub file: FileInfo,
    /// The message that posted or offered it (conversation, seq).
    pub message: Option<(ConvId, u64)>,
}

/// A download: which bytes, and how to label them.
pub(crate) struct Download {
    pub path: PathBuf,
    pub name: String,
    pub mime: String,
    pub sha256: String,
    /// Shown inline (an image the server could read), not saved.
    pub inline: bool,
}

/// What one collection freed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    pub uploads: usize,
    pub files: usize,
    pub blobs: usize,
}

/// The hash of an upload's bytes so far, kept between requests.
struct Live {
    hashed: u64,
    hasher: Sha256,
}

/// Finished uploads remembered, so that a client whose last response was
/// lost learns on HEAD that the upload is complete.
const FINISHED_KEPT: usize = 10_000;

pub(crate) struct Files {
    ctx: Arc<Ctx>,
    config: FileConfig,
    disk: Disk,
    /// Hash state per upload not being written now.
    live: Mutex<HashMap<String, Live>>,
    /// Uploads being written by a request now.
    busy: Mutex<std::collections::HashSet<String>>,
    finished: Mutex<VecDeque<(String, UserId, u64, Finished)>>,
    /// Held while a blob is placed and recorded, and while one is
    /// collected, so that the two never cross.
    blobs: tokio::sync::Mutex<()>,
}

/// Marks an upload busy until dropped.
struct BusyGuard<'a> {
    files: &'a Files,
    id: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        lock(&self.files.busy).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The parsed `Upload-Metadata` of a creation.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewUpload {
    pub length: u64,
    pub name: String,
    pub sha256: String,
    pub target: Option<Target>,
    pub nonce: Option<String>,
}

/// Where a finished upload goes, as the client named it.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Conv(ConvId),
    Offer(String),
    Avatar,
}

impl Files {
    pub(crate) fn new(ctx: Arc<Ctx>, config: FileConfig, disk: Disk) -> Files {
        Files {
            ctx,
            config,
            disk,
            live: Mutex::new(HashMap::new()),
            busy: Mutex::new(Default::default()),
            finished: Mutex::new(VecDeque::new()),
            blobs: tokio::sync::Mutex::new(()),
        }
    }

    /// tus creation: checks size, quota, the target and the declared hash;
    /// makes the upload and its (empty) file.
    pub(crate) async fn create(
        &self,
        actor: &Actor,
        messages: &Messages,
        new: NewUpload,
    ) -> Result<UploadRecord, FileError> {
        let cfg = &self.config;
        if new.length > cfg.max_bytes {
            return Err(FileError::TooLarge(format!(
                "the file is {}; the largest allowed is {}",
                pf::human_size(new.length),
                pf::human_size(cfg.max_bytes)
            )));
        }
        if !is_sha256(&new.sha256) {
            return Err(ApiError::bad_request(
                "Upload-Metadata must carry `sha256`: the whole file's SHA-256, 64 lowercase hex digits",
            )
            .into());
        }
        let store = &self.ctx.store;
        if store.uploads_of(actor.id).await? >= cfg.max_uploads {
            return Err(FileError::Conflict(format!(
                "you have {} uploads in progress already; finish or end one first",
                cfg.max_uploads
            )));
        }
        if let Some(quota) = cfg.quota_bytes {
            let held = store.bytes_held(actor.id).await?;
            if held.saturating_add(new.length) > quota {
                return Err(FileError::TooLarge(format!(
                    "this file ({}) would take you over your quota: you hold {} of {}",
                    pf::human_size(new.length),
                    pf::human_size(held),
                    pf::human_size(quota)
                )));
            }
        }
        let target = match new.target {
            None => {
                return Err(ApiError::bad_request(
                    "Upload-Metadata must say where the file goes: `conv` (a conversation id), `offer_to` (a user) or `avatar`",
                )
                .into());
            }
            Some(Target::Conv(conv)) => {
                messages.may_post(actor, conv).await?;
                UploadTarget::Conv(conv)
            }
            Some(Target::Offer(name)) => {
                let user = self.ctx.user_named(&name).await?;
                messages.dm_rule(actor, user.id, Some(&name)).await?;
                UploadTarget::Offer(user.id)
            }
            Some(Target::Avatar) => UploadTarget::Avatar,
        };
        if let Some(n) = &new.nonce
            && (n.is_empty() || n.len() > self.ctx.limits.max_nonce_bytes)
        {
            return Err(ApiError::bad_request(format!(
                "`nonce` must be 1 to {} bytes long",
                self.ctx.limits.max_nonce_bytes
            ))
            .into());
        }
        let now = now_ms();
        let up = UploadRecord {
            id: new_id(),
            owner: actor.id,
            length: new.length,
            sha256: new.sha256,
            name: pf::clean_name(&new.name),
            target,
            nonce: new.nonce,
            created_ms: now,
            expires_ms: now + self.config.upload_expiry.as_millis() as i64,
        };
        tokio::fs::File::create(self.disk.upload(&up.id))
            .await
            .map_err(|e| io_error("create the upload's file", e))?;
        store.add_upload(up.clone()).await?;
        lock(&self.live).insert(
            up.id.clone(),
            Live {
                hashed: 0,
                hasher: Sha256::new(),
            },
        );
        self.ctx.hub.stats.uploads_started.fetch_add(1, Relaxed);
        Ok(up)
    }

    /// The upload `id` of `actor`, and how many bytes the server holds.
    /// A finished one answers with its full length.
    pub(crate) async fn offset(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(u64, u64, Option<i64>), FileError> {
        if let Some((length, _)) = self.finished_of(actor, id) {
            return Ok((length, length, None));
        }
        let up = self.upload_of(actor, id).await?;
        let have = file_len(&self.disk.upload(id)).await?;
        Ok((have, up.length, Some(up.expires_ms)))
    }

    fn finished_of(&self, actor: &Actor, id: &str) -> Option<(u64, Finished)> {
        lock(&self.finished)
            .iter()
            .find(|(f, owner, _, _)| f == id && *owner == actor.id)
            .map(|(_, _, len, done)| (*len, done.clone()))
    }

    async fn upload_of(&self, actor: &Actor, id: &str) -> Result<UploadRecord, FileError> {
        if !is_id(id) {
            return Err(no_upload(id));
        }
        match self.ctx.store.upload(id).await? {
            Some(up) if up.owner == actor.id && up.expires_ms > now_ms() => Ok(up),
            _ => Err(no_upload(id)),
        }
    }

    /// tus PATCH: appends `body` at `offset`. With `checksum` (the body's
    /// SHA-256), a body that does not match is not kept; without one,
    /// whatever arrived before a cut connection is kept.
    pub(crate) async fn patch<S, E>(
        &self,
        actor: &Actor,
        messages: &Messages,
        id: &str,
        offset: u64,
        checksum: Option<[u8; 32]>,
        body: S,
    ) -> Result<Patched, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if let Some((length, done)) = self.finished_of(actor, id) {
            if offset == length {
                return Ok(Patched {
                    offset,
                    done: Some(done),
                });
            }
            return Err(FileError::Conflict(format!(
                "this upload is finished ({length} bytes)"
            )));
        }
        let up = self.upload_of(actor, id).await?;
        if !lock(&self.busy).insert(id.to_owned()) {
            return Err(FileError::Conflict(
                "another request is writing this upload; wait for it, then ask for the offset again"
                    .into(),
            ));
        }
        let _busy = BusyGuard {
            files: self,
            id: id.to_owned(),
        };
        let path = self.disk.upload(id);
        let have = file_len(&path).await?;
        if offset != have {
            return Err(FileError::Conflict(format!(
                "Upload-Offset is {offset}, but the server has {have} bytes of this upload"
            )));
        }
        let live = self.live_hash(id, &path, have).await?;
        let before = live.hasher.clone();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_error("open the upload's file", e))?;
        // Hashing and writing run on a thread of their own at a low
        // priority: on a busy machine chat comes first, and the upload
        // takes what is left (the bounded channel slows the body down).
        let writer = Writer::start(file, live, checksum.is_some());
        let mut written = 0u64;
        let mut cut = None;
        let mut body = body;
        let room = up.length - have;
        loop {
            let next = tokio::time::timeout(self.config.body_idle, body.next()).await;
            let data = match next {
                Ok(Some(Ok(data))) => data,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    cut = Some(format!("the request body ended early: {e}"));
                    break;
                }
                Err(_) => {
                    cut = Some("the request body stalled".to_owned());
                    break;
                }
            };
            if written + data.len() as u64 > room {
                // Keep nothing of a request that overruns the length.
                let _ = writer.finish().await;
                truncate(&path, have).await?;
                return Err(FileError::TooLarge(format!(
                    "this upload is {} bytes long; the request sends more than the {room} left",
                    up.length
                )));
            }
            written += data.len() as u64;
            self.ctx
                .hub
                .stats
                .upload_bytes
                .fetch_add(data.len() as u64, Relaxed);
            if writer.send(data).await.is_err() {
                break;
            }
        }
        let (mut live, chunk_hash) = writer
            .finish()
            .await
            .map_err(|e| io_error("write the upload", e))?;
        if let (Some(want), Some(h)) = (checksum, chunk_hash) {
            let got: [u8; 32] = h.finalize().into();
            if cut.is_some() || got != want {
                truncate(&path, have).await?;
                lock(&self.live).insert(
                    id.to_owned(),
                    Live {
                        hashed: have,
                        hasher: before,
                    },
                );
                return Err(match cut {
                    Some(why) => FileError::Api(ApiError::bad_request(format!(
                        "{why}; the chunk had a checksum, so none of it was kept"
                    ))),
                    None => FileError::Checksum(
                        "Upload-Checksum does not match the bytes sent; none of them were kept"
                            .into(),
                    ),
                });
            }
        }
        let offset = have + written;
        if offset < up.length {
            live.hashed = offset;
            lock(&self.live).insert(id.to_owned(), live);
            if let Some(why) = cut {
                tracing::debug!(upload = id, offset, "{why}");
            }
            return Ok(Patched { offset, done: None });
        }
        let sha: String = hex::encode(live.hasher.finalize());
        let done = self.finish(actor, messages, up, sha).await?;
        let mut finished = lock(&self.finished);
        if finished.len() == FINISHED_KEPT {
            finished.pop_front();
        }
        finished.push_back((id.to_owned(), actor.id, offset, done.clone()));
        drop(finished);
        Ok(Patched {
            offset,
            done: Some(done),
        })
    }

    /// The hash of the upload's first `have` bytes: kept from the last
    /// request, or read again from the file (after a restart).
    async fn live_hash(&self, id: &str, path: &Path, have: u64) -> Result<Live, FileError> {
        if let Some(l) = lock(&self.live).remove(id)
            && l.hashed == have
        {
            return Ok(l);
        }
        let mut f = tokio::fs::File::open(path)
            .await
            .map_err(|e| io_error("read the upload", e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 16];
        let mut hashed = 0;
        while hashed < have {
            let n = f
                .read(&mut buf)
                .await
                .map_err(|e| io_error("read the upload", e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            hashed += n as u64;
        }
        Ok(Live { hashed, hasher })
    }

    /// The last byte arrived: verify, sniff, make the thumbnail, store the
    /// blob, post.
    async fn finish(
        &self,
        actor: &Actor,
        messages: &Messages,
        up: UploadRecord,
        sha: String,
    ) -> Result<Finished, FileError> {
        let path = self.disk.upload(&up.id);
        let discard = || async {
            let _ = tokio::fs::remove_file(&path).await;
            let _ = self.ctx.store.remove_upload(&up.id).await;
        };
        if sha != up.sha256 {
            discard().await;
            self.ctx.hub.stats.uploads_refused.fetch_add(1, Relaxed);
            return Err(FileError::Checksum(format!(
                "the file's SHA-256 is {sha}, not the {} declared; nothing was kept",
                up.sha256
            )));
        }
        let mime = match sniff(&path).await {
            Ok(m) => m,
            Err(e) => {
                discard().await;
                return Err(io_error("read the upload", e));
            }
        };
        if !self.config.allows(&mime) {
            discard().await;
            self.ctx.hub.stats.uploads_refused.fetch_add(1, Relaxed);
            return Err(FileError::Type(format!(
                "files of type {mime} are not accepted here (allowed: {})",
                self.config.allowed_types.join(", ")
            )));
        }
        let picture = if is_picture(&mime) {
            let (p, max) = (path.clone(), self.config.max_image_pixels);
            match tokio::task::spawn_blocking(move || thumbnail(&p, max)).await {
                Ok(Ok(t)) => Some(t),
                Ok(Err(Thumb::TooBig(why))) => {
                    discard().await;
                    self.ctx.hub.stats.uploads_refused.fetch_add(1, Relaxed);
                    return Err(FileError::Image(why));
                }
                // Unreadable as an image: kept as a file, shown as one.
                Ok(Err(Thumb::Unreadable(why))) => {
                    tracing::debug!(upload = up.id, "not an image after all: {why}");
                    None
                }
                Err(e) => return Err(io_error(&format!("make a thumbnail ({e})"), e.into())),
            }
        } else {
            None
        };
        if up.target == UploadTarget::Avatar && picture.is_none() {
            discard().await;
            self.ctx.hub.stats.uploads_refused.fetch_add(1, Relaxed);
            return Err(FileError::Type(format!(
                "a profile picture must be an image the server can read (PNG, JPEG, GIF or WebP), \
                 not {mime}"
            )));
        }
        let file_id = new_id();
        let now = now_ms();
        let (offer_to, expires_ms) = match up.target {
            UploadTarget::Offer(user) => (
                Some(user),
                Some(now + self.config.offer_expiry.as_millis() as i64),
            ),
            _ => (None, None),
        };
        let record = FileRecord {
            id: file_id.clone(),
            blob: sha.clone(),
            owner: up.owner,
            name: up.name.clone(),
            size: up.length,
            mime: mime.clone(),
            image: picture.as_ref().map(|p| p.size),
            thumb: picture
                .as_ref()
                .map(|p| (p.sha256.clone(), p.bytes.len() as u64)),
            conv: None,
            seq: None,
            offer_to,
            expires_ms,
            accepted: None,
            created_ms: now,
        };
        {
            let _blobs = self.blobs.lock().await;
            self.place(&path, &sha).await?;
            if let Some(p) = &picture {
                let at = self.disk.blob(&p.sha256);
                if !tokio::fs::try_exists(&at).await.unwrap_or(false) {
                    write_new(&at, &p.bytes)
                        .await
                        .map_err(|e| io_error("store the thumbnail", e))?;
                }
            }
            self.ctx.store.add_file(record).await?;
            self.ctx.store.remove_upload(&up.id).await?;
        }
        self.ctx.hub.stats.uploads_finished.fetch_add(1, Relaxed);
        let info = FileInfo {
            id: file_id.clone(),
            name: up.name.clone(),
            size: up.length,
            mime,
            sha256: sha,
            image: picture.map(|p| ImageInfo {
                width: p.size.0,
                height: p.size.1,
            }),
        };
        let posted = match up.target {
            UploadTarget::Conv(conv) => {
                messages
                    .post_file(
                        actor,
                        Dest::Conv(conv),
                        Body::File { file: info.clone() },
                        up.nonce,
                        &file_id,
                    )
                    .await
            }
            UploadTarget::Offer(user) => {
                let dest = messages.dm_dest(actor, user).await;
                match dest {
                    Ok(dest) => {
                        messages
                            .post_file(
                                actor,
                                dest,
                                Body::Offer {
                                    file: info.clone(),
                                    expires: expires_ms.unwrap_or(now),
                                    accepted: None,
                                },
                                up.nonce,
                                &file_id,
                            )
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            UploadTarget::Avatar => {
                let set = match self.ctx.store.set_avatar(actor.id, Some(&file_id)).await {
                    Ok(Some(old)) => {
                        self.ctx.store.remove_file(&old).await?;
                        Ok(None)
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.into()),
                };
                if set.is_ok() {
                    self.ctx.hub.presence.avatar_changed(actor.id, &actor.name);
                }
                set
            }
        };
        match posted {
            Ok(message) => Ok(Finished {
                file: info,
                message,
            }),
            Err(e) => {
                // Its blob goes at the next collection (unless shared).
                self.ctx.store.remove_file(&file_id).await?;
                Err(e.into())
            }
        }
    }

    /// Moves a verified upload into the blob store (or drops it, when the
    /// same bytes are there already).
    async fn place(&self, upload: &Path, sha: &str) -> Result<(), FileError> {
        let at = self.disk.blob(sha);
        if tokio::fs::try_exists(&at).await.unwrap_or(false) {
            tokio::fs::remove_file(upload)
                .await
                .map_err(|e| io_error("drop a duplicate upload", e))?;
            return Ok(());
        }
        if let Some(dir) = at.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io_error("make the blob directory", e))?;
        }
        tokio::fs::rename(upload, &at)
            .await
            .map_err(|e| io_error("store the file", e))
    }

    /// tus termination: the upload and its bytes go.
    pub(crate) async fn terminate(&self, actor: &Actor, id: &str) -> Result<(), FileError> {
        self.upload_of(actor, id).await?;
        if lock(&self.busy).contains(id) {
            return Err(FileError::Conflict(
                "a request is writing this upload; cut it first".into(),
            ));
        }
        self.drop_upload(id).await
    }

    async fn drop_upload(&self, id: &str) -> Result<(), FileError> {
        lock(&self.live).remove(id);
        match tokio::fs::remove_file(self.disk.upload(id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove the upload", e)),
        }
        self.ctx.store.remove_upload(id).await?;
        Ok(())
    }

    /// A download of the file `id` (or its thumbnail) for `actor`: only
    /// for who may read the message it was posted in (and that message,
    /// as they read it, must carry it), the two people of an accepted
    /// offer, or anyone logged in for an avatar. Everything else, as if
    /// it did not exist.
    pub(crate) async fn download(
        &self,
        actor: &Actor,
        messages: &Messages,
        id: &str,
        thumb: bool,
    ) -> Result<Download, FileError> {
        if !is_id(id) {
            return Err(no_file(id));
        }
        let store = &self.ctx.store;
        let f = store.file(id).await?.ok_or_else(|| no_file(id))?;
        let allowed = if f.offer_to.is_some() {
            f.owner == actor.id || (f.offer_to == Some(actor.id) && f.accepted == Some(true))
        } else if let (Some(conv), Some(seq)) = (f.conv, f.seq) {
            messages.carries(actor, conv, seq, id).await
        } else {
            f.owner == actor.id || store.avatar(f.owner).await?.is_some_and(|a| a.id == f.id)
        };
        if !allowed {
            return Err(no_file(id));
        }
        if thumb {
            let Some((sha, _)) = f.thumb else {
                return Err(FileError::Api(ApiError::not_found(format!(
                    "file `{id}` has no thumbnail (it is not an image)"
                ))));
            };
            let path = self.disk.blob(&sha);
            let mime = sniff(&path)
                .await
                .map_err(|e| io_error("read the thumbnail", e))?;
            return Ok(Download {
                path,
                name: format!("thumb-{}", f.name),
                mime,
                sha256: sha,
                inline: true,
            });
        }
        Ok(Download {
            path: self.disk.blob(&f.blob),
            inline: f.image.is_some(),
            name: f.name,
            mime: f.mime,
            sha256: f.blob,
        })
    }

    /// The profile picture of the user `name` (its thumbnail, which every
    /// avatar has: only images become avatars).
    pub(crate) async fn avatar_of(&self, name: &str) -> Result<Download, FileError> {
        let none = || {
            FileError::Api(ApiError::not_found(format!(
                "`{name}` has no profile picture"
            )))
        };
        if self.ctx.limits.check_username(name).is_err() {
            return Err(none());
        }
        let store = &self.ctx.store;
        let user = store.user_by_name(name).await?.ok_or_else(none)?;
        let f = store.avatar(user.id).await?.ok_or_else(none)?;
        let (sha, _) = f.thumb.ok_or_else(none)?;
        let path = self.disk.blob(&sha);
        let mime = sniff(&path)
            .await
            .map_err(|e| io_error("read the profile picture", e))?;
        Ok(Download {
            path,
            name: format!("{name}-avatar"),
            mime,
            sha256: sha,
            inline: true,
        })
    }

    /// Collects abandoned uploads, files never posted (after an hour),
    /// lapsed offers and blobs nothing points to.
    pub(crate) async fn collect(&self) -> Result<Collected, FileError> {
        let store = &self.ctx.store;
        let now = now_ms();
        let mut done = Collected::default();
        for id in store.expired_uploads(now).await? {
            if lock(&self.busy).contains(&id) {
                continue;
            }
            if is_id(&id) {
                self.drop_upload(&id).await?;
                done.uploads += 1;
            } else {
                store.remove_upload(&id).await?;
            }
        }
        for id in store.lapsed_files(now, now - 3_600_000).await? {
            store.remove_file(&id).await?;
            done.files += 1;
        }
        let _blobs = self.blobs.lock().await;
        for sha in store.unreferenced_blobs().await? {
            if store.remove_blob(&sha).await? && is_sha256(&sha) {
                match tokio::fs::remove_file(self.disk.blob(&sha)).await {
                    Ok(()) => done.blobs += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error("remove a blob", e)),
                }
            }
        }
        if done != Collected::default() {
            tracing::info!(
                uploads = done.uploads,
                files = done.files,
                blobs = done.blobs,
                "collected files"
            );
        }
        Ok(done)
    }
}

async fn file_len(path: &Path) -> Result<u64, FileError> {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .map_err(|e| io_error("read the upload's length", e))
}

async fn truncate(path: &Path, len: u64) -> Result<(), FileError> {
    let f = tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(|e| io_error("cut the upload back", e))?;
    f.set_len(len)
        .await
        .map_err(|e| io_error("cut the upload back", e))?;
    f.sync_data()
        .await
        .map_err(|e| io_error("cut the upload back", e))
}

async fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut f = tokio::fs::File::create(path).await?;
    f.write_all(bytes).await?;
    f.sync_data().await
}

/// The type of a file from its first bytes: what `infer` recognises, else
/// `text/plain` for UTF-8 text, else `application/octet-stream`.
async fn sniff(path: &Path) -> std::io::Result<String> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut buf = vec![0; 8192];
    let mut n = 0;
    while n < buf.len() {
        let got = f.read(&mut buf[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    buf.truncate(n);
    Ok(sniff_bytes(&buf))
}

pub(crate) fn sniff_bytes(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside a character at the end of the sample.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if !head.is_empty() && text && !head.contains(&0) {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// Raster types the server reads and browsers show (never SVG: it is a
/// document that can run script).
fn is_picture(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// Pieces in flight to an upload's writer thread (each as the body
/// brought it, usually up to 16 KiB).
const WRITER_QUEUE: usize = 8;

/// One request's body, hashed and written to the upload's file on a
/// thread of its own.
struct Writer {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: tokio::sync::oneshot::Receiver<std::io::Result<(Live, Option<Sha256>)>>,
}

impl Writer {
    fn start(file: std::fs::File, mut live: Live, chunk: bool) -> Writer {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITER_QUEUE);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("confab-upload".into())
            .spawn(move || {
                crate::bulk::lower_priority();
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                let mut chunk_hash = chunk.then(Sha256::new);
                let mut result = Ok(());
                let mut trickle = Trickle::new(live.hashed);
                while let Some(data) = rx.blocking_recv() {
                    live.hasher.update(&data);
                    if let Some(h) = &mut chunk_hash {
                        h.update(&data);
                    }
                    if let Err(e) = std::io::Write::write_all(&mut out, &data) {
                        result = Err(e);
                        break;
                    }
                    live.hashed += data.len() as u64;
                    if let Err(e) = trickle.wrote(&mut out, live.hashed) {
                        result = Err(e);
                        break;
                    }
                }
                let result = result
                    .and_then(|()| std::io::Write::flush(&mut out))
                    .and_then(|()| out.get_ref().sync_data())
                    .map(|()| (live, chunk_hash));
                let _ = done_tx.send(result);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start an upload's writer thread: {e}");
        }
        Writer { tx, done }
    }

    /// Hands over a piece; waits while the writer is behind. An error
    /// means the writer stopped (its reason comes from `finish`).
    async fn send(&self, data: Bytes) -> Result<(), ()> {
        self.tx.send(data).await.map_err(|_| ())
    }

    /// Everything sent is written and synced: the hash so far, and the
    /// request's own when it had a checksum.
    async fn finish(self) -> std::io::Result<(Live, Option<Sha256>)> {
        drop(self.tx);
        self.done
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the upload's writer thread stopped")))
    }
}

/// Bytes an upload may leave to the kernel to write back before it starts
/// the writing itself.
const TRICKLE: u64 = 256 << 10;

/// Keeps an upload's unwritten bytes in the page cache small: every
/// [`TRICKLE`] bytes it starts their writeback, waits for the window
/// before, and drops that from the cache. Without it, hundreds of
/// megabytes wait to be written at once, and every fsync of the chat's
/// database waits behind them.
struct Trickle {
    /// Where the window being written back starts, and where the bytes not
    /// yet handed to writeback start.
    started: u64,
    handed: u64,
}

impl Trickle {
    fn new(at: u64) -> Trickle {
        Trickle {
            started: at,
            handed: at,
        }
    }

    /// `end`: the file's length once `out` is flushed.
    fn wrote(
        &mut self,
        out: &mut std::io::BufWriter<std::fs::File>,
        end: u64,
    ) -> std::io::Result<()> {
        if end - self.handed < TRICKLE {
            return Ok(());
        }
        std::io::Write::flush(out)?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = out.get_ref().as_raw_fd();
            // SAFETY: system calls on a file descriptor this thread owns
            // (through `out`) for the whole call; no memory handed over.
            unsafe {
                libc::sync_file_range(
                    fd,
                    self.handed as libc::off64_t,
                    (end - self.handed) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
                if self.handed > self.started {
                    let (from, len) = (self.started, self.handed - self.started);
                    libc::sync_file_range(
                        fd,
                        from as libc::off64_t,
                        len as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WAIT_BEFORE
                            | libc::SYNC_FILE_RANGE_WRITE
                            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                    );
                    libc::posix_fadvise(
                        fd,
                        from as libc::off64_t,
                        len as libc::off64_t,
                        libc::POSIX_FADV_DONTNEED,
                    );
                }
            }
        }
        self.started = self.handed;
        self.handed = end;
        Ok(())
    }
}

/// The longest side of a thumbnail, in pixels.
pub(crate) const THUMB_SIDE: u32 = 320;

struct Picture {
    /// As shown (after the EXIF orientation).
    size: (u32, u32),
    /// The thumbnail, encoded, with no metadata.
    bytes: Vec<u8>,
    sha256: String,
}

enum Thumb {
    TooBig(String),
    Unreadable(String),
}

/// Reads an image within `max_pixels` (looking at its header before
/// decoding anything), applies its EXIF orientation and makes a thumbnail:
/// PNG when it has transparency, else JPEG; a fresh encoding carries none
/// of the original's metadata.
fn thumbnail(path: &Path, max_pixels: u64) -> Result<Picture, Thumb> {
    use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
    let unreadable = |e: image::ImageError| Thumb::Unreadable(e.to_string());
    let reader = ImageReader::open(path)
        .map_err(|e| Thumb::Unreadable(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| Thumb::Unreadable(e.to_string()))?;
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > max_pixels {
        return Err(Thumb::TooBig(format!(
            "the image is {w}×{h} pixels ({} million); the limit is {} million",
            pixels / 1_000_000,
            max_pixels / 1_000_000
        )));
    }
    let mut limits = Limits::default();
    // Room for the decoded frame (at most 8 bytes a pixel) and little more.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    decoder.set_limits(limits).map_err(|e| match e {
        image::ImageError::Limits(l) => Thumb::TooBig(format!("the image is too big to read: {l}")),
        other => unreadable(other),
    })?;
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(l) => Thumb::TooBig(format!("the image is too big to read: {l}")),
        other => unreadable(other),
    })?;
    img.apply_orientation(orientation);
    let size = (img.width(), img.height());
    // Smaller than a thumbnail: kept at its size (re-encoded all the
    // same, so that no metadata goes out), never blown up.
    let small = if size.0 <= THUMB_SIDE && size.1 <= THUMB_SIDE {
        img
    } else {
        img.thumbnail(THUMB_SIDE, THUMB_SIDE)
    };
    let mut bytes = Vec::new();
    let mut cursor = std::io::Cursor::new(&mut bytes);
    if small.color().has_alpha() {
        small
            .to_rgba8()
            .write_to(&mut cursor, image::ImageFormat::Png)
            .map_err(unreadable)?;
    } else {
        let rgb = small.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut cursor, 82)
            .encode_image(&rgb)
            .map_err(unreadable)?;
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Picture {
        size,
        bytes,
        sha256,
    })
}

/// Parses tus `Upload-Metadata`: comma-separated `key base64value` pairs
/// (a key alone has an empty value).
pub(crate) fn parse_metadata(header: &str) -> Result<HashMap<String, String>, String> {
    use base64::Engine;
    let mut out = HashMap::new();
    for pair in header.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let mut parts = pair.splitn(2, ' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or("").trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| {
                format!(
                    "Upload-Metadata: the value of `{}` is not base64",
                    confab_proto::limits::shown(key)
                )
            })?;
        let text = String::from_utf8(decoded).map_err(|_| {
            format!(
                "Upload-Metadata: the value of `{}` is not UTF-8",
                confab_proto::limits::shown(key)
            )
        })?;
        if out.insert(key.to_owned(), text).is_some() {
            return Err(format!(
                "Upload-Metadata: `{}` is given twice",
                confab_proto::limits::shown(key)
            ));
        }
    }
    Ok(out)
}

/// A creation's fields from its metadata (see `confab_proto::file::meta`).
pub(crate) fn new_upload(length: u64, meta: &HashMap<String, String>) -> Result<NewUpload, String> {
    use pf::meta;
    let name = meta
        .get(meta::FILENAME)
        .or_else(|| meta.get("name"))
        .cloned()
        .unwrap_or_default();
    let targets = [
        meta.contains_key(meta::CONV),
        meta.contains_key(meta::OFFER_TO),
        meta.contains_key(meta::AVATAR),
    ];
    if targets.iter().filter(|t| **t).count() > 1 {
        return Err("Upload-Metadata: give one of `conv`, `offer_to` and `avatar`".into());
    }
    let target = if let Some(c) = meta.get(meta::CONV) {
        Some(Target::Conv(c.parse().map_err(|_| {
            format!(
                "Upload-Metadata: `conv` must be a conversation id (a number), not `{}`",
                confab_proto::limits::shown(c)
            )
        })?))
    } else if let Some(u) = meta.get(meta::OFFER_TO) {
        Some(Target::Offer(u.clone()))
    } else if meta.contains_key(meta::AVATAR) {
        Some(Target::Avatar)
    } else {
        None
    };
    Ok(NewUpload {
        length,
        name,
        sha256: meta
            .get(meta::SHA256)
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default(),
        target,
        nonce: meta.get(meta::NONCE).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_content() {
        assert_eq!(sniff_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff_bytes(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff_bytes("héllo".as_bytes()), "text/plain");
        assert_eq!(sniff_bytes(b"\0\x01\x02"), "application/octet-stream");
        // A name saying .png changes nothing: only bytes count.
        assert_eq!(sniff_bytes(b"<svg onload=alert(1)>"), "text/plain");
    }

    #[test]
    fn metadata_parses_strictly() {
        let m = parse_metadata("filename Y2F0LnBuZw==,sha256 YWJj,avatar").unwrap();
        assert_eq!(m["filename"], "cat.png");
        assert_eq!(m["sha256"], "abc");
        assert_eq!(m["avatar"], "");
        assert!(
            parse_metadata("filename !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            parse_metadata("a YQ==,a YQ==")
                .unwrap_err()
                .contains("twice")
        );
        let both = parse_metadata("conv MQ==,avatar").unwrap();
        assert!(new_upload(1, &both).unwrap_err().contains("one of"));
        let bad = parse_metadata("conv Li4vZXRj").unwrap();
        assert!(new_upload(1, &bad).unwrap_err().contains("number"));
    }
}
