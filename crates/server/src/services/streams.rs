//! Live streams in channels: the tracker and the signalling path.
//!
//! The video goes from the host's browser to each viewer's (WebRTC); the
//! server only knows who streams where, who watches, and carries their
//! signalling messages (SDP, ICE candidates) between the two ends of each
//! watch, in order, through their connections' outboxes. A stream belongs
//! to the connection that started it: it ends when the host stops it,
//! leaves the channel, or that connection closes. Starts and ends are
//! entries in the channel's log.
//!
//! Streams live in memory only: a restart ends them all (their log entries
//! stay).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use confab_proto::limits::{MAX_SIGNAL_BYTES, MAX_STREAM_TITLE_CHARS};
use confab_proto::{Body, ConvId, ServerBody, StreamId, StreamInfo, SystemEvent, Viewer, WatchId};
use confab_store::{Dest, NewMessage, UserId};

use super::messages::{Messages, now_ms};
use super::{Actor, ConnRef, Ctx};
use crate::access;
use crate::error::ApiError;
use crate::hub::{Audience, ConnId, Except, event};

pub(crate) struct Streams {
    ctx: Arc<Ctx>,
    /// The TURN relay whose credentials the parties of a stream get.
    relay: Option<Arc<crate::relay::Relay>>,
    /// The most viewers of one stream (see `Config::stream_viewers`).
    max_viewers: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    live: HashMap<StreamId, Live>,
}

struct Live {
    info: StreamInfo,
    host: UserId,
    host_conn: ConnRef,
    viewers: HashMap<WatchId, Watch>,
}

struct Watch {
    user: String,
    /// (A visitor's is negative: never a member.)
    user_id: UserId,
    conn: ConnRef,
}

impl Live {
    fn viewers(&self) -> Vec<Viewer> {
        let mut v: Vec<Viewer> = self
            .viewers
            .iter()
            .map(|(watch, w)| Viewer {
                user: w.user.clone(),
                watch: *watch,
            })
            .collect();
        v.sort_by_key(|v| v.watch);
        v
    }

    fn info(&self) -> StreamInfo {
        StreamInfo {
            viewers: self.viewers.len() as u32,
            ..self.info.clone()
        }
    }
}

fn no_stream(stream: StreamId) -> ApiError {
    ApiError::not_found(format!("no live stream {stream}"))
}

impl Streams {
    pub(crate) fn new(
        ctx: Arc<Ctx>,
        max_viewers: u32,
        relay: Option<Arc<crate::relay::Relay>>,
    ) -> Streams {
        Streams {
            ctx,
            relay,
            max_viewers: max_viewers.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `actor` goes live in channel `conv` from connection `conn`.
    pub(crate) async fn start(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        messages: &Messages,
        conv: ConvId,
        title: &str,
        max_viewers: Option<u32>,
    ) -> Result<StreamInfo, ApiError> {
        // Nobody learns of a channel they cannot read.
        let (record, _) = messages.readable(actor, conv).await?;
        let member = self.ctx.hub.members.is_member(conv, actor.id);
        access::can_stream(&record, member)?;
        let title = title.trim();
        if title.is_empty() {
            return Err(ApiError::bad_request("a stream needs a `title`"));
        }
        if title.chars().count() > MAX_STREAM_TITLE_CHARS {
            return Err(ApiError::new(
                confab_proto::ErrorCode::TooLong,
                format!("a stream's title has at most {MAX_STREAM_TITLE_CHARS} characters"),
            ));
        }
        let max_viewers = match max_viewers {
            Some(0) => return Err(ApiError::bad_request("`max_viewers` must be at least 1")),
            Some(n) if n > self.max_viewers => {
                return Err(ApiError::bad_request(format!(
                    "`max_viewers` is at most {} on this server",
                    self.max_viewers
                )));
            }
            Some(n) => n,
            None => self.max_viewers,
        };
        let info = {
            let mut s = self.lock();
            if s.live
                .values()
                .any(|l| l.host == actor.id && l.info.conv == conv)
            {
                return Err(ApiError::new(
                    confab_proto::ErrorCode::AlreadyDone,
                    "you are live in this channel already: stop that stream first",
                ));
            }
            s.next += 1;
            let info = StreamInfo {
                id: s.next,
                conv,
                host: actor.name.clone(),
                title: title.to_owned(),
                started_ms: now_ms(),
                viewers: 0,
                max_viewers,
            };
            s.live.insert(
                info.id,
                Live {
                    info: info.clone(),
                    host: actor.id,
                    host_conn: conn.clone(),
                    viewers: HashMap::new(),
                },
            );
            info
        };
        self.ctx.hub.stats.streams_started.fetch_add(1, ORDER);
        // Told before the log entry is written, so that an end (from the
        // host's other device) never arrives before the start.
        let frame = event(ServerBody::StreamStarted {
            stream: info.clone(),
        });
        self.ctx
            .hub
            .bus
            .publish(Audience::Conv(conv), &frame, Except::NONE);
        self.log(
            messages,
            actor,
            conv,
            SystemEvent::StreamStarted {
                stream: info.id,
                title: info.title.clone(),
            },
        )
        .await;
        Ok(info)
    }

    /// Records a start or an end in the channel's log, as its host. (Not
    /// fatal: the stream is live or over whether or not this is stored.)
    async fn log(&self, messages: &Messages, host: &Actor, conv: ConvId, e: SystemEvent) {
        let entry = NewMessage {
            dest: Dest::Conv(conv),
            sender: host.id,
            sender_name: host.name.clone(),
            body: Body::System(e),
            nonce: None,
            ts: now_ms(),
            hidden_for: None,
            effect: None,
        };
        if let Err(e) = messages.post_and_wait(entry).await {
            tracing::warn!(conv, error = %e.message, "recording a live stream in its channel's log");
        }
    }

    /// The host ends `stream`.
    pub(crate) async fn stop(
        &self,
        actor: &Actor,
        messages: &Messages,
        stream: StreamId,
    ) -> Result<(), ApiError> {
        let host = self
            .lock()
            .live
            .get(&stream)
            .map(|l| l.host)
            .ok_or_else(|| no_stream(stream))?;
        if host != actor.id {
            return Err(ApiError::forbidden("only its host ends a live stream"));
        }
        self.end(messages, stream).await;
        Ok(())
    }

    /// Ends `stream`: everyone who can read its channel is told, and its
    /// log has the end.
    async fn end(&self, messages: &Messages, stream: StreamId) {
        let Some(live) = self.lock().live.remove(&stream) else {
            return;
        };
        let conv = live.info.conv;
        self.tell_ended(&live);
        let host = Actor {
            id: live.host,
            name: live.info.host.clone(),
            role: confab_proto::Role::Member,
        };
        self.log(messages, &host, conv, SystemEvent::StreamEnded { stream })
            .await;
    }

    /// Whether `actor` may see and watch `conv`'s streams (`not_found` as
    /// for a conversation they cannot read, if not).
    async fn may_watch(&self, actor: &Actor, conv: ConvId) -> Result<(), ApiError> {
        let record = self.ctx.conv(conv).await?;
        let member = self.ctx.hub.members.is_member(conv, actor.id);
        if access::can_watch(&record, member, actor) {
            Ok(())
        } else {
            Err(super::messages::no_conv(conv))
        }
    }

    /// Tells everyone in (or watching) the channel, and its host and
    /// viewers who are neither (who left it), that `live` ended.
    fn tell_ended(&self, live: &Live) {
        let (conv, stream) = (live.info.conv, live.info.id);
        let frame = event(ServerBody::StreamEnded { conv, stream });
        let members = &self.ctx.hub.members;
        self.ctx
            .hub
            .bus
            .publish(Audience::Conv(conv), &frame, Except::NONE);
        let parties = live
            .viewers
            .values()
            .map(|w| (w.user_id, &w.conn))
            .chain([(live.host, &live.host_conn)]);
        for (user, conn) in parties {
            if !members.is_member(conv, user) && !members.is_watching(conv, conn.id) {
                conn.outbox.push_event(frame.clone());
            }
        }
    }

    /// The live streams of these conversations, oldest first.
    pub(crate) fn in_convs(&self, convs: &std::collections::HashSet<ConvId>) -> Vec<StreamInfo> {
        let mut found: Vec<StreamInfo> = self
            .lock()
            .live
            .values()
            .filter(|l| convs.contains(&l.info.conv))
            .map(Live::info)
            .collect();
        found.sort_by_key(|s| s.id);
        found
    }

    /// Channel `conv` was deleted: its streams end (with no log to record
    /// it in).
    pub(crate) fn gone(&self, conv: ConvId) {
        let ended: Vec<Live> = {
            let mut s = self.lock();
            let ids: Vec<StreamId> = s
                .live
                .values()
                .filter(|l| l.info.conv == conv)
                .map(|l| l.info.id)
                .collect();
            ids.iter().filter_map(|id| s.live.remove(id)).collect()
        };
        for live in &ended {
            // (Members were told of the deletion; viewers who are not.)
            for w in live.viewers.values() {
                let frame = event(ServerBody::StreamEnded {
                    conv,
                    stream: live.info.id,
                });
                w.conn.outbox.push_event(frame);
            }
        }
    }

    /// The live streams of `conv`, which `actor` must be able to watch.
    pub(crate) async fn list(
        &self,
        actor: &Actor,
        conv: ConvId,
    ) -> Result<Vec<StreamInfo>, ApiError> {
        self.may_watch(actor, conv).await?;
        let mut v: Vec<StreamInfo> = self
            .lock()
            .live
            .values()
            .filter(|l| l.info.conv == conv)
            .map(Live::info)
            .collect();
        v.sort_by_key(|s| s.id);
        Ok(v)
    }

    /// `actor` watches `stream` from `conn`: a new watch, told to the host.
    pub(crate) async fn watch(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        stream: StreamId,
    ) -> Result<(StreamInfo, WatchId), ApiError> {
        let conv = self
            .lock()
            .live
            .get(&stream)
            .map(|l| l.info.conv)
            .ok_or_else(|| no_stream(stream))?;
        // Whoever may not watch learns nothing of the stream.
        self.may_watch(actor, conv)
            .await
            .map_err(|_| no_stream(stream))?;
        let mut s = self.lock();
        s.next += 1;
        let watch = s.next;
        let live = s.live.get_mut(&stream).ok_or_else(|| no_stream(stream))?;
        if live.host_conn.id == conn.id {
            return Err(ApiError::bad_request("you are this stream's host"));
        }
        if let Some((id, _)) = live.viewers.iter().find(|(_, w)| w.conn.id == conn.id) {
            return Err(ApiError::new(
                confab_proto::ErrorCode::AlreadyDone,
                format!("you watch this stream already (watch {id})"),
            ));
        }
        if live.viewers.len() as u32 >= live.info.max_viewers {
            return Err(ApiError::forbidden(format!(
                "{}'s stream is full: {} watch already, as many as it takes",
                live.info.host, live.info.max_viewers
            )));
        }
        live.viewers.insert(
            watch,
            Watch {
                user: actor.name.clone(),
                user_id: actor.id,
                conn: conn.clone(),
            },
        );
        let info = live.info();
        Self::tell_host(live);
        Ok((info, watch))
    }

    fn tell_host(live: &Live) {
        let frame = event(ServerBody::StreamViewers {
            stream: live.info.id,
            viewers: live.viewers(),
        });
        live.host_conn.outbox.push_event(frame);
    }

    /// `conn` stops watching `stream`.
    pub(crate) fn unwatch(&self, conn: &ConnRef, stream: StreamId) -> Result<(), ApiError> {
        let mut s = self.lock();
        let live = s.live.get_mut(&stream).ok_or_else(|| no_stream(stream))?;
        let before = live.viewers.len();
        live.viewers.retain(|_, w| w.conn.id != conn.id);
        if live.viewers.len() == before {
            return Err(ApiError::not_found(format!(
                "you are not watching stream {stream}"
            )));
        }
        Self::tell_host(live);
        Ok(())
    }

    /// Carries a signalling message between the two ends of `watch`: from
    /// the host's connection to the viewer's, or back.
    pub(crate) fn signal(
        &self,
        actor: &Actor,
        conn: &ConnRef,
        stream: StreamId,
        watch: WatchId,
        data: serde_json::Value,
    ) -> Result<(), ApiError> {
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(0);
        if size > MAX_SIGNAL_BYTES {
            return Err(ApiError::new(
                confab_proto::ErrorCode::TooLong,
                format!("`data` has at most {MAX_SIGNAL_BYTES} bytes, got {size}"),
            ));
        }
        let s = self.lock();
        let live = s.live.get(&stream).ok_or_else(|| no_stream(stream))?;
        let w = live
            .viewers
            .get(&watch)
            .ok_or_else(|| ApiError::not_found(format!("no watch {watch} of stream {stream}")))?;
        let to = if conn.id == live.host_conn.id {
            &w.conn
        } else if conn.id == w.conn.id {
            &live.host_conn
        } else {
            return Err(ApiError::not_found(format!(
                "no watch {watch} of stream {stream}"
            )));
        };
        let frame = event(ServerBody::Signal {
            stream,
            watch,
            from: actor.name.clone(),
            data,
        });
        if !to.outbox.push_event(frame) {
            // Dropped (the other end reads too slowly): no `sync` brings a
            // signal back, so the sender must know.
            return Err(ApiError::new(
                confab_proto::ErrorCode::RateLimited,
                "the other end is not keeping up: try again in a moment",
            ));
        }
        self.ctx.hub.stats.signals.fetch_add(1, ORDER);
        Ok(())
    }

    /// Connection `conn` closed: its streams end, its watches stop.
    pub(crate) async fn closed(&self, messages: &Messages, conn: ConnId) {
        let ended: Vec<StreamId> = {
            let mut s = self.lock();
            for live in s.live.values_mut() {
                let before = live.viewers.len();
                live.viewers.retain(|_, w| w.conn.id != conn);
                if live.viewers.len() != before && live.host_conn.id != conn {
                    Self::tell_host(live);
                }
            }
            s.live
                .values()
                .filter(|l| l.host_conn.id == conn)
                .map(|l| l.info.id)
                .collect()
        };
        for stream in ended {
            self.end(messages, stream).await;
        }
    }

    /// `user` left channel `conv`: their streams there end, and they stop
    /// watching its others.
    pub(crate) async fn left(&self, messages: &Messages, user: UserId, conv: ConvId) {
        let ended: Vec<StreamId> = {
            let mut s = self.lock();
            for live in s.live.values_mut().filter(|l| l.info.conv == conv) {
                let before = live.viewers.len();
                live.viewers.retain(|_, w| w.user_id != user);
                if live.viewers.len() != before {
                    Self::tell_host(live);
                }
            }
            s.live
                .values()
                .filter(|l| l.host == user && l.info.conv == conv)
                .map(|l| l.info.id)
                .collect()
        };
        for stream in ended {
            self.end(messages, stream).await;
        }
    }

    /// Fresh relay credentials for `conn`, if it hosts or watches `stream`.
    pub(crate) fn renew(
        &self,
        conn: &ConnRef,
        stream: StreamId,
    ) -> Result<Vec<confab_proto::IceServer>, ApiError> {
        let party = self.lock().live.get(&stream).is_some_and(|l| {
            l.host_conn.id == conn.id || l.viewers.values().any(|w| w.conn.id == conn.id)
        });
        if !party {
            return Err(ApiError::not_found(format!(
                "you neither host nor watch a live stream {stream}"
            )));
        }
        Ok(self.ice_servers())
    }

    /// Relay credentials for a party of a stream (none without a relay).
    pub(crate) fn ice_servers(&self) -> Vec<confab_proto::IceServer> {
        self.relay
            .as_ref()
            .and_then(|r| r.ice_server())
            .into_iter()
            .collect()
    }

    /// Bytes the relay carried so far.
    pub(crate) fn relayed(&self) -> u64 {
        self.relay.as_ref().map_or(0, |r| r.relayed())
    }

    /// Live streams and their viewers now.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let s = self.lock();
        let viewers = s.live.values().map(|l| l.viewers.len()).sum();
        (s.live.len(), viewers)
    }
}

const ORDER: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;
