//! The one task that writes messages.
//!
//! Sessions hand every `send` and `dm_send` to it through a bounded channel.
//! It takes whatever has queued up as one batch, stores the batch in one
//! transaction, then, in commit order, delivers each message to the
//! conversation and replies to its sender. One writer gives a total order per
//! conversation (fan-out never reorders seq numbers), persists before it
//! acknowledges, and turns load into bigger batches rather than more fsyncs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use confab_proto::{ErrorCode, ServerBody, ServerFrame};
use confab_store::{Appended, NewMessage, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::hub::{ConnId, Hub, encode, event};
use crate::outbox::Outbox;

/// Most messages stored in one transaction.
const MAX_BATCH: usize = 512;

/// Under load, commits start at most this often. Every commit costs an fsync
/// and, for each connection in the conversations it touched, a write
/// syscall; spacing them turns load into bigger batches instead. A message
/// that arrives when the last commit is older than this (the usual case
/// below a few hundred messages per second) is committed at once.
const MIN_COMMIT_INTERVAL: Duration = Duration::from_millis(5);

/// A message to store, and where its reply goes.
pub(crate) struct Post {
    pub msg: NewMessage,
    pub outbox: Arc<Outbox>,
    pub conn: ConnId,
    pub req_id: u64,
}

struct ReplyTo {
    outbox: Arc<Outbox>,
    conn: ConnId,
    req_id: u64,
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
        let (msgs, replies): (Vec<NewMessage>, Vec<ReplyTo>) = buf
            .drain(..)
            .map(|p| {
                (
                    p.msg,
                    ReplyTo {
                        outbox: p.outbox,
                        conn: p.conn,
                        req_id: p.req_id,
                    },
                )
            })
            .unzip();
        match store.append(msgs).await {
            Ok(results) => {
                for (result, to) in results.into_iter().zip(replies) {
                    deliver(&hub, result.map_err(ApiError::from), to);
                }
            }
            Err(e) => {
                let err = ApiError::from(e);
                for to in replies {
                    deliver(&hub, Err(err.clone()), to);
                }
            }
        }
    }
}

fn deliver(hub: &Hub, result: Result<Appended, ApiError>, to: ReplyTo) {
    let reply = match result {
        Ok(Appended::New(message)) => {
            hub.stats.messages.fetch_add(1, Ordering::Relaxed);
            let frame = event(ServerBody::Message {
                message: message.clone(),
            });
            hub.publish(message.conv, &frame, Some(to.conn), None);
            ServerFrame::reply(
                to.req_id,
                ServerBody::Sent {
                    message,
                    duplicate: false,
                },
            )
        }
        Ok(Appended::Duplicate(message)) => ServerFrame::reply(
            to.req_id,
            ServerBody::Sent {
                message,
                duplicate: true,
            },
        ),
        Err(e) if e.code == ErrorCode::NotFound => ServerFrame::error(
            Some(to.req_id),
            ErrorCode::NotFound,
            "that conversation no longer exists",
        ),
        Err(e) => ServerFrame::error(Some(to.req_id), e.code, e.message),
    };
    to.outbox.push_reply(encode(&reply));
}
