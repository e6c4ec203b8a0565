//! Files going up and down: what the core asks a driver to move, what the
//! driver reports back, and each transfer's progress as every UI shows it
//! (percent, speed, time left).
//!
//! The core does no I/O here either. An upload is an entry in the outbox
//! ([`What::File`](crate::What::File)), so one chosen offline waits there
//! and starts when the server is back; the core hands the driver an
//! [`UploadJob`] (through [`Output::Upload`](crate::Output::Upload)), the
//! driver hashes the file, speaks tus to the server's web listener and
//! reports [`TransferReport`]s; the server posts the message, whose nonce
//! takes the entry out of the outbox. A download is a [`DownloadJob`]: the
//! driver fetches `/files/{id}` (resuming with a Range), checks the bytes
//! against the SHA-256 the server announces, and reports the same way.

use confab_proto::file::{self, human_size};
use confab_proto::{ConvId, ConvKind, FileInfo, FilesInfo, Seq};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError, Pending, Target, What};
use crate::core::{ActionError, Auth, Client, ConnState, Event, Output};

/// How far a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the server (offline), or its turn.
    Queued,
    /// Reading the file to compute its SHA-256 (uploads).
    Hashing,
    /// Bytes on their way.
    Moving,
    /// Uploaded (the message follows), or saved (`to`: where).
    Finished {
        to: Option<String>,
    },
    Failed(String),
}

/// One file going up (`key` is the outbox entry's nonce) or down (`key` is
/// `d-` and the file id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub key: String,
    /// The file's name.
    pub name: String,
    pub upload: bool,
    /// Where it goes or comes from, when a conversation.
    pub conv: Option<ConvId>,
    pub phase: Phase,
    /// Bytes done of `total` in the current phase.
    pub done: u64,
    pub total: u64,
    /// When the current phase started, and how many bytes were already done
    /// then (a resumed transfer starts part way): the speed counts only
    /// what moved since.
    pub since_ms: u64,
    pub done_at_start: u64,
    /// The driver's clock at the last report.
    pub now_ms: u64,
}

impl Transfer {
    pub fn new(key: &str, name: &str, upload: bool, conv: Option<ConvId>, total: u64) -> Self {
        Transfer {
            key: key.to_owned(),
            name: name.to_owned(),
            upload,
            conv,
            phase: Phase::Queued,
            done: 0,
            total,
            since_ms: 0,
            done_at_start: 0,
            now_ms: 0,
        }
    }

    /// Whether it is still going (or waiting to).
    pub fn active(&self) -> bool {
        matches!(self.phase, Phase::Queued | Phase::Hashing | Phase::Moving)
    }

    /// 0 to 100.
    pub fn percent(&self) -> u8 {
        match self.total {
            0 => 100 * u8::from(matches!(self.phase, Phase::Finished { .. })),
            t => (self.done.min(t) * 100 / t) as u8,
        }
    }

    /// Bytes per second since the phase started, once there is something
    /// to measure.
    pub fn rate(&self) -> Option<f64> {
        let ms = self.now_ms.saturating_sub(self.since_ms);
        let moved = self.done.saturating_sub(self.done_at_start);
        (ms >= 200 && moved > 0).then(|| moved as f64 * 1000.0 / ms as f64)
    }

    /// Seconds left at the current speed.
    pub fn eta_s(&self) -> Option<u64> {
        let rate = self.rate()?;
        Some((self.total.saturating_sub(self.done) as f64 / rate).ceil() as u64)
    }

    /// One line for people: "cat.png: uploading 45% of 12.0 MB, 3.1 MB/s,
    /// 4 s left".
    pub fn status(&self) -> String {
        let verb = match (&self.phase, self.upload) {
            (Phase::Queued, true) => return format!("{}: waiting to upload", self.name),
            (Phase::Queued, false) => return format!("{}: waiting to download", self.name),
            (Phase::Hashing, _) => "checking",
            (Phase::Moving, true) => "uploading",
            (Phase::Moving, false) => "downloading",
            (Phase::Finished { to: Some(to) }, _) => {
                return format!("{}: saved to {to} (SHA-256 checked)", self.name);
            }
            (Phase::Finished { to: None }, true) => return format!("{}: uploaded", self.name),
            (Phase::Finished { to: None }, false) => return format!("{}: downloaded", self.name),
            (Phase::Failed(why), true) => return format!("{}: upload failed: {why}", self.name),
            (Phase::Failed(why), false) => {
                return format!("{}: download failed: {why}", self.name);
            }
        };
        let mut s = format!(
            "{}: {verb} {}% of {}",
            self.name,
            self.percent(),
            human_size(self.total)
        );
        if let Some(rate) = self.rate() {
            s.push_str(&format!(", {}/s", human_size(rate as u64)));
        }
        if let Some(eta) = self.eta_s() {
            s.push_str(&format!(", {} left", duration(eta)));
        }
        s
    }
}

/// "4 s", "2 min 5 s", "1 h 3 min".
pub fn duration(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// Progress is reported at most this often.
pub const REPORT_EVERY_MS: u64 = 100;

/// The progress reports of one transfer (or one phase of it), at most
/// every [`REPORT_EVERY_MS`], and always when forced (its start and end):
/// what every driver sends.
pub struct Pace {
    key: String,
    hashing: bool,
    last_ms: Option<u64>,
}

impl Pace {
    pub fn new(key: &str, hashing: bool) -> Pace {
        Pace {
            key: key.to_owned(),
            hashing,
            last_ms: None,
        }
    }

    /// The report to send now, if one is due.
    pub fn progress(
        &mut self,
        now_ms: u64,
        done: u64,
        total: u64,
        force: bool,
    ) -> Option<TransferReport> {
        if !force && self.last_ms.is_some_and(|t| now_ms < t + REPORT_EVERY_MS) {
            return None;
        }
        self.last_ms = Some(now_ms);
        Some(TransferReport::Progress {
            key: self.key.clone(),
            hashing: self.hashing,
            done,
            total,
        })
    }
}

/// What a driver makes of a refusal from the web listener: the sentence
/// for people, and whether trying again later may work (the server's
/// trouble, too many requests, or `409`: another request still writes the
/// upload, or its offset moved, and the next attempt asks again).
pub fn refusal(download: bool, status: u16, body: &str) -> (String, bool) {
    let retry = status >= 500 || status == 429 || status == 409;
    let body = body.trim();
    let why = match status {
        401 => "the session is no longer valid: log in again".to_owned(),
        404 if download => "no such file, or you may not read it".to_owned(),
        _ if body.is_empty() => format!("the server answered {status}"),
        _ => body.to_owned(),
    };
    let what = if download { "download" } else { "upload" };
    (format!("{what} refused: {why}"), retry)
}

/// Where the web listener is and how to reach it, with the session's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub files: FilesInfo,
    /// `Authorization: Bearer` value.
    pub token: String,
}

/// An upload for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadJob {
    /// The outbox entry's nonce: names it in every report, and goes to the
    /// server (tus metadata `nonce`) so the message carries it.
    pub nonce: String,
    /// What the UI chose: a path (native) or a key of the driver's own
    /// (the browser's `File`).
    pub source: String,
    pub name: String,
    pub size: u64,
    /// Known from an earlier attempt (then not read twice).
    pub sha256: Option<String>,
    /// The upload's URL from an earlier attempt: resume it (`HEAD` gives
    /// the offset) unless the server forgot it.
    pub url: Option<String>,
    /// tus metadata besides `sha256` and `filename` (`conv`, `offer_to`,
    /// `avatar`, `nonce`).
    pub metadata: Vec<(String, String)>,
    pub endpoint: Endpoint,
}

/// A download for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadJob {
    /// The transfer's key (`d-` and the file id).
    pub key: String,
    pub id: String,
    pub name: String,
    /// Expected, when known from the message (else from the response).
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// Where to save it (native: a path; relative ones are the driver's
    /// working directory). Written as `dest` + `.part` first, which a later
    /// download of the same file resumes.
    pub dest: String,
    pub endpoint: Endpoint,
}

/// What a driver reports about a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferReport {
    /// The upload's file was read: its hash, to keep for a retry.
    Hashed { nonce: String, sha256: String },
    /// The server made the upload: its URL, to resume it after a cut.
    Created { nonce: String, url: String },
    /// `done` of `total` bytes, hashing or moving.
    Progress {
        key: String,
        hashing: bool,
        done: u64,
        total: u64,
    },
    /// Uploaded (the server posts the message), or saved at `to`.
    Finished { key: String, to: Option<String> },
    /// It stopped. `retry`: a passing failure (the connection, the server
    /// restarting), so the upload stays in the outbox and is tried again;
    /// otherwise the server refused it (`message` says why) and it leaves
    /// the outbox.
    Failed {
        key: String,
        message: String,
        retry: bool,
    },
}

/// Settings key beside an upload in the outbox: what the driver learnt.
const KEY_UPLOAD: &str = "upload:";
/// Finished or failed transfers kept for the UIs to show.
const KEEP_DONE: usize = 8;
/// A passing failure is tried again after this long.
const RETRY_MS: u64 = 5_000;

/// What is kept between attempts of an upload.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Resume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// The transfer key of a download of file `id`.
pub fn download_key(id: &str) -> String {
    format!("d-{id}")
}

impl<C: Cache> Client<C> {
    /// What the server said about files (`None` before `hello`, or when it
    /// takes none).
    pub fn files(&self) -> Option<&FilesInfo> {
        self.files.as_ref()
    }

    /// The session token, for HTTP requests to the web listener.
    pub fn token(&self) -> Option<&str> {
        match &self.auth {
            Some(Auth::Token(t)) => Some(t),
            _ => None,
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        Some(Endpoint {
            files: self.files.clone()?,
            token: self.token()?.to_owned(),
        })
    }

    /// Uploads and downloads, oldest first.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    pub fn transfer(&self, key: &str) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.key == key)
    }

    /// Uploads a file (`source`: a path, or the browser driver's key) and
    /// posts it to `target`; with `offer`, offers it to the user of a DM
    /// (`target` names them or their conversation), who accepts or
    /// declines. It waits in the outbox like a message: offline, it starts
    /// when the server is back. Returns its nonce (its transfer's key).
    pub fn upload(
        &mut self,
        target: Target,
        source: &str,
        name: &str,
        size: u64,
        offer: bool,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        self.fits(size)?;
        if offer && self.offer_to(&target).is_none() {
            return Err(ActionError::Refused(
                "a file is offered to one person: in a direct conversation".into(),
            ));
        }
        let name = file::clean_name(name);
        let nonce = self.post(
            target,
            "",
            What::File {
                source: source.to_owned(),
                name: name.clone(),
                size,
                offer,
                avatar: false,
            },
            now_ms,
        )?;
        if !self.running.contains(&nonce) {
            // Offline: shown as waiting.
            self.track(Transfer::new(&nonce, &name, true, None, size));
        }
        Ok(nonce)
    }

    /// Makes an image (a path, or the browser's key) the user's profile
    /// picture, through the outbox like any upload. Returns its key.
    pub fn set_avatar(
        &mut self,
        source: &str,
        name: &str,
        size: u64,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        self.fits(size)?;
        let me = self
            .me()
            .map(|u| u.name.clone())
            .ok_or(ActionError::Offline)?;
        let name = file::clean_name(name);
        let nonce = self.post(
            Target::User(me),
            "",
            What::File {
                source: source.to_owned(),
                name: name.clone(),
                size,
                offer: false,
                avatar: true,
            },
            now_ms,
        )?;
        if !self.running.contains(&nonce) {
            self.track(Transfer::new(&nonce, &name, true, None, size));
        }
        Ok(nonce)
    }

    /// Accepts or declines the offer `seq` of `conv`.
    pub fn answer(
        &mut self,
        conv: ConvId,
        seq: Seq,
        accept: bool,
        now_ms: i64,
    ) -> Result<String, ActionError> {
        self.post(
            Target::Conv(conv),
            "",
            What::Answer {
                target: seq,
                accept,
            },
            now_ms,
        )
    }

    /// Downloads `file` to `dest` (native: a path); the SHA-256 is checked
    /// before it is saved. Returns its transfer's key.
    pub fn download(&mut self, file: &FileInfo, dest: &str) -> Result<String, ActionError> {
        self.download_id(&file.id, &file.name, Some((file.size, &file.sha256)), dest)
    }

    /// Downloads the file `id` (its size and hash, when known, are checked;
    /// the server announces them in any case).
    pub fn download_id(
        &mut self,
        id: &str,
        name: &str,
        expect: Option<(u64, &str)>,
        dest: &str,
    ) -> Result<String, ActionError> {
        if !file::is_id(id) {
            return Err(ActionError::Refused(format!(
                "`{id}` is not a file id (32 hex digits)"
            )));
        }
        let endpoint = match self.endpoint() {
            Some(e) => e,
            None if self.state != ConnState::Online => return Err(ActionError::Offline),
            None => return Err(ActionError::NoFiles),
        };
        let key = download_key(id);
        if self.running.insert(key.clone()) {
            self.track(Transfer::new(
                &key,
                name,
                false,
                None,
                expect.map_or(0, |(size, _)| size),
            ));
            self.jobs.push_back(Output::Download(DownloadJob {
                key: key.clone(),
                id: id.to_owned(),
                name: name.to_owned(),
                size: expect.map(|(size, _)| size),
                sha256: expect.map(|(_, sha)| sha.to_owned()),
                dest: dest.to_owned(),
                endpoint,
            }));
            self.event(Event::Transfer(key.clone()));
        }
        Ok(key)
    }

    /// Refuses, before anything is sent, a file over the size `hello`
    /// announced (in bytes when the rounded sizes would read the same).
    fn fits(&self, size: u64) -> Result<(), ActionError> {
        match &self.files {
            Some(f) if size > f.max_bytes => {
                let (is, max) = match (human_size(size), human_size(f.max_bytes)) {
                    (a, b) if a == b => (format!("{size} bytes"), format!("{} bytes", f.max_bytes)),
                    pair => pair,
                };
                Err(ActionError::FileTooLarge(is, max))
            }
            _ => Ok(()),
        }
    }

    /// The user an offer to `target` goes to.
    fn offer_to(&self, target: &Target) -> Option<String> {
        match target {
            Target::User(u) => Some(u.clone()),
            Target::Conv(c) => self
                .conv(*c)
                .filter(|c| c.kind == ConvKind::Dm)
                .map(|c| c.name.clone()),
        }
    }

    /// Hands an upload from the outbox to the driver (once).
    pub(crate) fn start_upload(&mut self, p: &Pending) {
        let What::File {
            source,
            name,
            size,
            offer,
            avatar,
        } = &p.what
        else {
            return;
        };
        if self.running.contains(&p.nonce) {
            return;
        }
        let Some(endpoint) = self.endpoint() else {
            if self.files.is_none() {
                self.refuse_upload(&p.nonce, "this server takes no files".into());
            }
            return;
        };
        let place = match (&p.target, offer) {
            _ if *avatar => Some((file::meta::AVATAR, "1".to_owned())),
            (t, true) => self.offer_to(t).map(|u| (file::meta::OFFER_TO, u)),
            (Target::Conv(c), false) => Some((file::meta::CONV, c.to_string())),
            (Target::User(u), false) => self
                .conv_named(ConvKind::Dm, u)
                .map(|c| (file::meta::CONV, c.conv.to_string())),
        };
        let Some((key, value)) = place else {
            self.refuse_upload(
                &p.nonce,
                "there is no conversation to post it in: write to them first".into(),
            );
            return;
        };
        let resume: Resume = self
            .cache
            .get(&format!("{KEY_UPLOAD}{}", p.nonce))
            .ok()
            .flatten()
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        let conv = match &p.target {
            _ if *avatar => None,
            Target::Conv(c) => Some(*c),
            Target::User(u) => self.conv_named(ConvKind::Dm, u).map(|c| c.conv),
        };
        self.running.insert(p.nonce.clone());
        let mut t = Transfer::new(&p.nonce, name, true, conv, *size);
        if let Some(old) = self.transfer(&p.nonce) {
            t.done = old.done;
        }
        self.track(t);
        self.jobs.push_back(Output::Upload(UploadJob {
            nonce: p.nonce.clone(),
            source: source.clone(),
            name: name.clone(),
            size: *size,
            sha256: resume.sha256,
            url: resume.url,
            metadata: vec![
                (key.to_owned(), value),
                (file::meta::NONCE.to_owned(), p.nonce.clone()),
            ],
            endpoint,
        }));
        self.event(Event::Transfer(p.nonce.clone()));
    }

    /// An upload the server will not take: out of the outbox, said why.
    fn refuse_upload(&mut self, nonce: &str, message: String) {
        let Some(p) = self.outbox().iter().find(|p| p.nonce == nonce).cloned() else {
            return;
        };
        let forgot = self
            .acknowledge(nonce)
            .and_then(|()| self.cache.set(&format!("{KEY_UPLOAD}{nonce}"), None));
        if let Err(e) = forgot {
            self.event(Event::Error(e.to_string()));
        }
        if let Some(t) = self.transfers.iter_mut().find(|t| t.key == nonce) {
            t.phase = Phase::Failed(message.clone());
        }
        self.event(Event::SendFailed {
            pending: p,
            message,
        });
    }

    /// The server posted our upload (its message carries the nonce).
    pub(crate) fn file_posted(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.acknowledge(nonce)?;
        self.cache.set(&format!("{KEY_UPLOAD}{nonce}"), None)?;
        if let Some(t) = self.transfers.iter_mut().find(|t| t.key == nonce) {
            t.phase = Phase::Finished { to: None };
            t.done = t.total;
        }
        self.event(Event::Transfer(nonce.to_owned()));
        Ok(())
    }

    fn track(&mut self, t: Transfer) {
        match self.transfers.iter_mut().find(|o| o.key == t.key) {
            Some(o) => *o = t,
            None => self.transfers.push(t),
        }
        let done = self.transfers.iter().filter(|t| !t.active()).count();
        let mut extra = done.saturating_sub(KEEP_DONE);
        self.transfers.retain(|t| {
            let drop = extra > 0 && !t.active();
            extra -= usize::from(drop);
            !drop
        });
    }

    fn remember(&mut self, nonce: &str, learn: impl FnOnce(&mut Resume)) -> Result<(), CacheError> {
        let key = format!("{KEY_UPLOAD}{nonce}");
        if !self.outbox().iter().any(|p| p.nonce == nonce) {
            return Ok(());
        }
        let mut r: Resume = self
            .cache
            .get(&key)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        learn(&mut r);
        let json = serde_json::to_string(&r).expect("resume state serializes");
        self.cache.set(&key, Some(&json))
    }

    /// What the driver reports about a transfer.
    pub(crate) fn on_transfer(
        &mut self,
        report: TransferReport,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        let key = match report {
            TransferReport::Hashed { nonce, sha256 } => {
                self.remember(&nonce, |r| r.sha256 = Some(sha256))?;
                return Ok(());
            }
            TransferReport::Created { nonce, url } => {
                self.remember(&nonce, |r| r.url = Some(url))?;
                return Ok(());
            }
            TransferReport::Progress {
                key,
                hashing,
                done,
                total,
            } => {
                if let Some(t) = self.transfers.iter_mut().find(|t| t.key == key) {
                    let phase = if hashing {
                        Phase::Hashing
                    } else {
                        Phase::Moving
                    };
                    if t.phase != phase {
                        t.phase = phase;
                        t.since_ms = now_ms;
                        t.done_at_start = done;
                    }
                    t.done = done;
                    t.total = total;
                    t.now_ms = now_ms;
                }
                key
            }
            TransferReport::Finished { key, to } => {
                self.running.remove(&key);
                let avatar = self
                    .outbox()
                    .iter()
                    .any(|p| p.nonce == key && matches!(p.what, What::File { avatar: true, .. }));
                if avatar {
                    // No message follows a profile picture: done now.
                    self.file_posted(&key)?;
                    self.event(Event::Notice("your profile picture is changed".into()));
                    return Ok(());
                }
                if let Some(t) = self.transfers.iter_mut().find(|t| t.key == key) {
                    // An upload is done when its message arrives; that
                    // may have happened already.
                    if !(t.upload && t.phase == (Phase::Finished { to: None })) {
                        t.phase = Phase::Finished { to };
                        t.done = t.total;
                        t.now_ms = now_ms;
                    }
                }
                key
            }
            TransferReport::Failed {
                key,
                message,
                retry,
            } => {
                self.running.remove(&key);
                let upload = self.outbox().iter().any(|p| p.nonce == key);
                if upload && !retry {
                    self.refuse_upload(&key, message);
                } else {
                    if upload {
                        self.resend.push((now_ms + RETRY_MS, key.clone()));
                    }
                    if let Some(t) = self.transfers.iter_mut().find(|t| t.key == key) {
                        t.phase = if upload {
                            Phase::Queued
                        } else {
                            Phase::Failed(message)
                        };
                    }
                }
                key
            }
        };
        self.event(Event::Transfer(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_as_people_expect() {
        let mut t = Transfer::new("n1", "cat.png", true, None, 10_000_000);
        assert_eq!(t.status(), "cat.png: waiting to upload");
        t.phase = Phase::Moving;
        t.since_ms = 1_000;
        t.done_at_start = 2_000_000;
        t.done = 4_500_000;
        t.now_ms = 2_000;
        assert_eq!(t.percent(), 45);
        assert_eq!(t.rate(), Some(2_500_000.0));
        assert_eq!(t.eta_s(), Some(3));
        assert_eq!(
            t.status(),
            "cat.png: uploading 45% of 10 MB, 2.5 MB/s, 3 s left"
        );
        t.phase = Phase::Failed("the server refused it".into());
        assert!(!t.active());
        assert_eq!(t.status(), "cat.png: upload failed: the server refused it");
        assert_eq!(duration(125), "2 min 5 s");
        assert_eq!(duration(3_780), "1 h 3 min");
    }

    #[test]
    fn progress_is_paced_and_refusals_say_whether_to_try_again() {
        let mut p = Pace::new("n1", false);
        assert!(
            p.progress(1_000, 0, 10, false).is_some(),
            "the first is due"
        );
        assert!(p.progress(1_050, 5, 10, false).is_none());
        assert!(
            p.progress(1_060, 10, 10, true).is_some(),
            "the end is forced"
        );
        assert!(p.progress(1_160, 10, 10, false).is_some());
        assert_eq!(
            refusal(true, 404, ""),
            (
                "download refused: no such file, or you may not read it".into(),
                false
            )
        );
        assert_eq!(
            refusal(false, 460, "the file's SHA-256 is x\n"),
            ("upload refused: the file's SHA-256 is x".into(), false)
        );
        assert!(refusal(false, 409, "busy").1 && refusal(false, 503, "").1);
        assert_eq!(
            refusal(false, 503, "").0,
            "upload refused: the server answered 503"
        );
    }

    #[test]
    fn no_speed_before_there_is_anything_to_measure() {
        let mut t = Transfer::new("d-x", "a.bin", false, None, 100);
        t.phase = Phase::Moving;
        t.since_ms = 1_000;
        t.now_ms = 1_100;
        t.done = 10;
        assert_eq!(t.rate(), None, "100 ms is too short to tell");
        assert_eq!(t.status(), "a.bin: downloading 10% of 100 B");
    }
}
