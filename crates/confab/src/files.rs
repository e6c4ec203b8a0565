//! `confab upload FILE CONV` and `confab download ID [PATH]`: files from
//! the command line, through the client core (so an upload waits in the
//! profile's outbox like a message, and is resumed by the next run of this
//! or any command on the same profile). A progress bar on a terminal;
//! `--json` prints one object per line (progress, then the result).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use confab_client::describe::label;
use confab_client::transfer::{Phase, Transfer, download_key};
use confab_client::{Event, Target, What};
use confab_proto::ConvKind;
use indicatif::{ProgressBar, ProgressStyle};

use crate::script::{ProfileArgs, Session, parse_conv};

#[derive(Args, Debug)]
pub struct UploadArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// The file to upload.
    pub file: std::path::PathBuf,
    /// Where to post it: `#channel`, `@user` (a direct message) or `&group`.
    pub conv: String,
    /// Offer it to `@user` instead: they accept or decline before they can
    /// download it.
    #[arg(long)]
    pub offer: bool,
    /// One JSON object per line: progress, then the posted file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub at: ProfileArgs,
    /// The file's id (32 hex digits; `confab history` shows it).
    pub id: String,
    /// Where to save it: a file name, or a folder to save it in under its
    /// own name [default: the current folder]. An interrupted download of
    /// the same file to the same place resumes.
    pub path: Option<String>,
    /// One JSON object per line: progress, then where it was saved.
    #[arg(long)]
    pub json: bool,
}

/// Shows a transfer's progress: a bar on a terminal, or JSON lines.
struct Progress {
    bar: Option<ProgressBar>,
    json: bool,
    last: Option<(Phase, u64)>,
}

impl Progress {
    fn new(json: bool) -> Progress {
        let bar = (!json).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            json,
            last: None,
        }
    }

    fn show(&mut self, t: &Transfer) {
        let now = (t.phase.clone(), t.done);
        if self.last.as_ref() == Some(&now) {
            return;
        }
        let phase = match (&t.phase, t.upload) {
            (Phase::Queued, _) => "waiting",
            (Phase::Hashing, _) => "checking",
            (Phase::Moving, true) => "uploading",
            (Phase::Moving, false) => "downloading",
            _ => return,
        };
        if let Some(bar) = &self.bar {
            if self.last.as_ref().is_none_or(|(p, _)| *p != t.phase) {
                // A new phase: its own speed and time left.
                bar.reset();
                bar.set_length(t.total);
                bar.set_message(phase);
            }
            bar.set_position(t.done);
        } else if self.json {
            let v = serde_json::json!({
                "event": "progress", "phase": phase, "done": t.done, "total": t.total,
                "bytes_per_s": t.rate().map(|r| r.round() as u64), "eta_s": t.eta_s(),
            });
            let _ = writeln!(std::io::stdout().lock(), "{v}");
        }
        self.last = Some(now);
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub async fn upload(args: UploadArgs) -> Result<()> {
    let path =
        std::path::absolute(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let meta =
        std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let s = Session::open(&args.at, None)?;
    let wait = Duration::from_secs(30);
    s.online(wait).await?;
    s.settled(wait).await?;
    let (kind, conv_name) = parse_conv(&args.conv);
    if args.offer && kind != ConvKind::Dm {
        bail!("a file is offered to one person: --offer @user");
    }
    let target = match kind {
        ConvKind::Dm => Target::User(conv_name.to_owned()),
        _ => Target::Conv(
            s.shared
                .lock()
                .conv_named(kind, conv_name)
                .map(|c| c.conv)
                .with_context(|| format!("you are not in {}", label(kind, conv_name)))?,
        ),
    };
    let source = path.display().to_string();
    // The same file to the same place, left in the outbox by an earlier
    // run that was cut: that upload goes on (from where the server's
    // bytes end) rather than a second one starting.
    let nonce = {
        let mut c = s.shared.lock();
        let earlier = c.outbox().iter().find(|p| {
            p.target == target
                && matches!(&p.what, What::File { source: s, offer, .. }
                    if *s == source && *offer == args.offer)
        });
        match earlier {
            Some(p) => p.nonce.clone(),
            None => c.upload(
                target,
                &source,
                &name,
                meta.len(),
                args.offer,
                confab_client::native::now_ms() as i64,
            )?,
        }
    };
    s.shared.wake.notify_one();
    let mut progress = Progress::new(args.json);
    loop {
        let changed = s.shared.changed.notified();
        {
            let mut c = s.shared.lock();
            for e in c.take_events() {
                if let Event::SendFailed { pending, message } = e
                    && pending.nonce == nonce
                {
                    progress.finish();
                    if args.json {
                        println!(
                            "{}",
                            serde_json::json!({"event": "failed", "error": message})
                        );
                    }
                    bail!("not uploaded: {message}");
                }
            }
            if let Some(t) = c.transfer(&nonce) {
                progress.show(t);
            }
            if !c.outbox().iter().any(|p| p.nonce == nonce) {
                progress.finish();
                let posted = c
                    .convs()
                    .iter()
                    .map(|cv| cv.conv)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .find_map(|conv| {
                        c.messages(conv, None, 50)
                            .ok()?
                            .into_iter()
                            .find(|m| m.nonce.as_deref() == Some(nonce.as_str()))
                            .map(|m| (conv, m))
                    });
                let Some((conv, m)) = posted else {
                    println!("uploaded {name}");
                    return Ok(());
                };
                let (file, offer) = match &m.body {
                    confab_proto::Body::File { file } => (file.clone(), false),
                    confab_proto::Body::Offer { file, .. } => (file.clone(), true),
                    _ => bail!("the server posted something else than the file"),
                };
                let where_ = c
                    .conv(conv)
                    .map(|cv| label(cv.kind, &cv.name))
                    .unwrap_or_default();
                if args.json {
                    let v = serde_json::json!({
                        "event": "posted", "conv": where_, "seq": m.seq, "offer": offer,
                        "file": file,
                    });
                    println!("{v}");
                } else {
                    println!(
                        "{} {} ({}) {} {where_} as message {}; id {}, SHA-256 {}",
                        if offer { "offered" } else { "posted" },
                        file.name,
                        confab_proto::file::human_size(file.size),
                        if offer { "in" } else { "to" },
                        m.seq,
                        file.id,
                        file.sha256
                    );
                }
                return Ok(());
            }
        }
        changed.await;
    }
}

pub async fn download(args: DownloadArgs) -> Result<()> {
    let s = Session::open(&args.at, None)?;
    let wait = Duration::from_secs(30);
    s.online(wait).await?;
    let dest = args.path.clone().unwrap_or_default();
    let key = download_key(&args.id);
    s.shared.lock().download_id(&args.id, "", None, &dest)?;
    s.shared.wake.notify_one();
    let mut progress = Progress::new(args.json);
    loop {
        let changed = s.shared.changed.notified();
        {
            let mut c = s.shared.lock();
            c.take_events();
            let Some(t) = c.transfer(&key) else {
                bail!("the download was forgotten");
            };
            progress.show(t);
            match &t.phase {
                Phase::Finished { to } => {
                    progress.finish();
                    let to = to.clone().unwrap_or_default();
                    let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
                    if args.json {
                        let v = serde_json::json!({
                            "event": "saved", "path": to, "size": size, "sha256_checked": true,
                        });
                        println!("{v}");
                    } else {
                        println!(
                            "saved {} ({}, SHA-256 checked)",
                            Path::new(&to).display(),
                            confab_proto::file::human_size(size)
                        );
                    }
                    return Ok(());
                }
                Phase::Failed(why) => {
                    progress.finish();
                    if args.json {
                        println!("{}", serde_json::json!({"event": "failed", "error": why}));
                    }
                    bail!("{why}");
                }
                _ => {}
            }
        }
        changed.await;
    }
}
