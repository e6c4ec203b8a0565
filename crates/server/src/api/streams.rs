//! Live streams: the tracker and the signalling path.

use confab_proto::{ConvId, ServerBody, StreamId, WatchId};

use super::ok;
use crate::session::{Reply, Session};

pub(super) async fn start(
    s: &mut Session,
    conv: ConvId,
    title: String,
    max_viewers: Option<u32>,
) -> Reply {
    let services = s.services();
    let stream = services
        .streams
        .start(
            &s.actor(),
            &s.conn,
            &services.messages,
            conv,
            &title,
            max_viewers,
        )
        .await?;
    let ice_servers = services.streams.ice_servers();
    Ok(Some(ServerBody::Stream {
        stream,
        ice_servers,
    }))
}

pub(super) async fn stop(s: &mut Session, stream: StreamId) -> Reply {
    let services = s.services();
    services
        .streams
        .stop(&s.actor(), &services.messages, stream)
        .await?;
    ok()
}

pub(super) async fn list(s: &mut Session, conv: ConvId) -> Reply {
    let streams = s.services().streams.list(&s.actor(), conv).await?;
    Ok(Some(ServerBody::Streams { streams }))
}

pub(super) async fn watch(s: &mut Session, stream: StreamId) -> Reply {
    let (stream, watch) = s
        .services()
        .streams
        .watch(&s.actor(), &s.conn, stream)
        .await?;
    let ice_servers = s.services().streams.ice_servers();
    Ok(Some(ServerBody::Watching {
        stream,
        watch,
        ice_servers,
    }))
}

pub(super) fn unwatch(s: &mut Session, stream: StreamId) -> Reply {
    s.services().streams.unwatch(&s.conn, stream)?;
    ok()
}

pub(super) fn ice(s: &mut Session, stream: StreamId) -> Reply {
    let ice_servers = s.services().streams.renew(&s.conn, stream)?;
    Ok(Some(ServerBody::IceServers { ice_servers }))
}

pub(super) fn signal(
    s: &mut Session,
    stream: StreamId,
    watch: WatchId,
    data: serde_json::Value,
) -> Reply {
    s.services()
        .streams
        .signal(&s.actor(), &s.conn, stream, watch, data)?;
    ok()
}
