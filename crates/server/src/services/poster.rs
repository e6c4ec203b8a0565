//! The one task that writes conversation logs.
//!
//! Every log entry (a message, a group's system event) is handed to it
//! through a bounded channel. It takes whatever has queued up as one batch,
//! stores the batch in one transaction (with the conversations the entries
//! create and the changes they record), then, in commit order, updates the
//! membership mirror, delivers each entry to its conversation and answers
//! whoever posted it. One writer gives a total order per conversation
//! (fan-out never reorders seq numbers), persists before it acknowledges,
//! and turns load into bigger batches rather than more fsyncs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use confab_proto::{Body, ConvKind, ErrorCode, ServerBody, ServerFrame};
use confab_store::{Appended, Dest, Effect, NewMessage, Store, UserId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::hub::{Audience, ConnId, Except, Hub, encode, event};
use crate::outbox::Outbox;

/// Most entries stored in one transaction.
const MAX_BATCH: usize = 512;

/// Under load, commits start at most this often. Every commit costs an fsync
/// and, for each connection in the conversations it touched, a write
/// syscall; spacing them turns load into bigger batches instead. An entry
/// that arrives when the last commit is older than this (the usual case
/// below a few hundred messages per second) is committed at once.
const MIN_COMMIT_INTERVAL: Duration = Duration::from_millis(5);

/// An entry to store, and who hears back.
pub(crate) struct Post {
    pub msg: NewMessage,
    pub reply: ReplyTo,
    /// When the request arrived (for the delivery-latency histogram).
    pub received: Instant,
}

pub(crate) enum ReplyTo {
    /// Answer the sender's connection with `sent` (it gets no copy as an
    /// event).
    Conn {
        outbox: Arc<Outbox>,
        conn: ConnId,
        req_id: u64,
    },
    /// Hand the result to a service waiting for it (system entries); every
    /// connection of the audience, the asker's included, gets the event.
    Wait(oneshot::Sender<Result<Appended, ApiError>>),
}

/// What delivery needs to know of an entry besides what the store returns.
struct Meta {
    sender: UserId,
    dest: Dest,
    effect: Option<Effect>,
    hidden_for: Option<UserId>,
    reply: ReplyTo,
    received: Instant,
}

pub(crate) async fn run(
    mut rx: mpsc::Receiver<Post>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    let mut last_commit: Option<Instant> = None;
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut buf, MAX_BATCH) => n,
            _ = shutdown.cancelled(), if !rx.is_closed() => {
                // Refuse new posts; the loop drains what is already queued.
                rx.close();
                continue;
            }
        };
        if n == 0 {
            break;
        }
        if let Some(last) = last_commit {
            let next = last + MIN_COMMIT_INTERVAL;
            if Instant::now() < next && !shutdown.is_cancelled() {
                // Busy: let the batch grow until the interval is up.
                let linger = tokio::time::sleep_until(next);
                tokio::pin!(linger);
                while buf.len() < MAX_BATCH {
                    let room = MAX_BATCH - buf.len();
                    tokio::select! {
                        n = rx.recv_many(&mut buf, room) => if n == 0 { break },
                        _ = &mut linger => break,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        last_commit = Some(Instant::now());
        let (msgs, metas): (Vec<NewMessage>, Vec<Meta>) = buf
            .drain(..)
            .map(|p| {
                let meta = Meta {
                    sender: p.msg.sender,
                    dest: match &p.msg.dest {
                        // Delivery needs the members, not the name.
                        Dest::NewGroup { members, .. } => Dest::NewGroup {
                            name: String::new(),
                            owner_only_add: false,
                            members: members.clone(),
                        },
                        d => d.clone(),
                    },
                    effect: p.msg.effect.clone(),
                    hidden_for: p.msg.hidden_for,
                    reply: p.reply,
                    received: p.received,
                };
                (p.msg, meta)
            })
            .unzip();
        let commit = Instant::now();
        let stored = store.append(msgs).await;
        hub.stats.commit.observe(commit.elapsed().as_secs_f64());
        match stored {
            Ok(results) => {
                for (result, meta) in results.into_iter().zip(metas) {
                    deliver(&hub, result.map_err(ApiError::from), meta);
                }
            }
            Err(e) => {
                let err = ApiError::from(e);
                for meta in metas {
                    answer(meta.reply, Err(err.clone()));
                }
            }
        }
    }
}

/// After the commit: the mirror first (so that people added by an entry
/// receive it), then the event, then the answer.
fn deliver(hub: &Hub, result: Result<Appended, ApiError>, meta: Meta) {
    let appended = match result {
        Ok(a) if !a.duplicate => a,
        other => return answer(meta.reply, other),
    };
    hub.stats.messages.fetch_add(1, Ordering::Relaxed);
    let message = &appended.message;
    let conv = message.conv;
    if appended.created {
        match &meta.dest {
            Dest::Dm(a, b) => {
                hub.members.set_kind(conv, ConvKind::Dm);
                hub.members.add(conv, *a, 0);
                hub.members.add(conv, *b, 0);
                hub.members.remember_dm(*a, *b, conv);
            }
            Dest::NewGroup { members, .. } => {
                hub.members.set_kind(conv, ConvKind::Group);
                hub.members.add(conv, meta.sender, 0);
                for m in members {
                    hub.members.add(conv, *m, 0);
                }
            }
            Dest::Conv(_) => {}
        }
    }
    if let Some(Effect::AddMembers(users)) = &meta.effect {
        for u in users {
            hub.members.add(conv, *u, message.seq - 1);
        }
    }
    let frame = event(ServerBody::Message {
        message: message.clone(),
    });
    let mut except = match &meta.reply {
        ReplyTo::Conn { conn, .. } => Except::conn(*conn),
        ReplyTo::Wait(_) => Except::NONE,
    };
    if let Some(hidden) = meta.hidden_for {
        except.user = Some(hidden);
        let withheld = event(ServerBody::Message {
            message: confab_proto::Message {
                body: Body::Withheld,
                ..message.clone()
            },
        });
        hub.bus
            .publish(Audience::User(hidden), &withheld, Except::NONE);
    }
    hub.bus.publish(Audience::Conv(conv), &frame, except);
    hub.bridge.posted(
        &hub.members,
        meta.sender,
        message,
        meta.hidden_for.is_some(),
    );
    hub.stats
        .delivery
        .observe(meta.received.elapsed().as_secs_f64());
    if let Some(Effect::Leave) = &meta.effect {
        // After the event, so that the leaver's other devices hear it.
        hub.members.remove(conv, meta.sender);
    }
    answer(meta.reply, Ok(appended));
}

fn answer(reply: ReplyTo, result: Result<Appended, ApiError>) {
    match reply {
        ReplyTo::Wait(tx) => {
            let _ = tx.send(result);
        }
        ReplyTo::Conn { outbox, req_id, .. } => {
            let frame = match result {
                Ok(a) => ServerFrame::reply(
                    req_id,
                    ServerBody::Sent {
                        message: a.message,
                        duplicate: a.duplicate,
                    },
                ),
                Err(e) if e.code == ErrorCode::NotFound => ServerFrame::error(
                    Some(req_id),
                    ErrorCode::NotFound,
                    "that conversation no longer exists",
                ),
                Err(e) => ServerFrame::error(Some(req_id), e.code, e.message),
            };
            outbox.push_reply(encode(&frame));
        }
    }
}
