//! A connection's outgoing queue, bounded in bytes.
//!
//! Events (messages, presence, typing) are dropped once the queue holds
//! `cap` bytes, and the connection is marked lagged: when the writer next
//! drains the queue it appends a `lagged` event, and the client catches up
//! with `sync`, which reads from the store, so nothing is lost. Replies are
//! never dropped; instead the session stops reading requests until the queue
//! has room again, which bounds them too. A client that stops reading thus
//! holds at most about `cap` bytes of server memory and never slows anyone
//! else: publishers only ever take this queue's short lock.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

pub(crate) struct Outbox {
    cap: usize,
    state: Mutex<State>,
    /// Wakes the writer: something was queued, or the outbox closed.
    ready: Notify,
    /// Wakes the reader: the writer drained the queue.
    room: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    bytes: usize,
    lagged: bool,
    closed: bool,
}

/// What [`Outbox::next_batch`] found.
pub(crate) enum Batch {
    /// Frames to write; `lagged` if events were dropped before them.
    Frames { lagged: bool },
    /// Closed and drained: the writer is done.
    Closed,
}

impl Outbox {
    pub(crate) fn new(cap: usize) -> Self {
        Outbox {
            cap,
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event unless the queue is full. Returns false if dropped.
    pub(crate) fn push_event(&self, frame: Bytes) -> bool {
        {
            let mut s = self.lock();
            if s.closed {
                return false;
            }
            if s.bytes + frame.len() > self.cap {
                s.lagged = true;
                return false;
            }
            s.bytes += frame.len();
            s.queue.push_back(frame);
        }
        self.ready.notify_one();
        true
    }

    /// Queues a frame nobody needs to catch up on (a typing notice) unless
    /// the queue is full; dropping it does not mark the connection lagged.
    pub(crate) fn push_lossy(&self, frame: Bytes) {
        {
            let mut s = self.lock();
            if s.closed || s.bytes + frame.len() > self.cap {
                return;
            }
            s.bytes += frame.len();
            s.queue.push_back(frame);
        }
        self.ready.notify_one();
    }

    /// Queues a reply whatever the queue holds.
    pub(crate) fn push_reply(&self, frame: Bytes) {
        {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            s.bytes += frame.len();
            s.queue.push_back(frame);
        }
        self.ready.notify_one();
    }

    /// No more frames will be queued; the writer drains what is there and stops.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
        self.room.notify_one();
    }

    /// Waits until the queue is below its cap (or closed).
    pub(crate) async fn wait_for_room(&self) {
        loop {
            {
                let s = self.lock();
                if s.bytes < self.cap || s.closed {
                    return;
                }
            }
            self.room.notified().await;
        }
    }

    /// Moves every queued frame into `out`, waiting if there is none.
    /// Cancel-safe: nothing is taken until it returns.
    pub(crate) async fn next_batch(&self, out: &mut Vec<Bytes>) -> Batch {
        loop {
            {
                let mut s = self.lock();
                if !s.queue.is_empty() {
                    // Take the queue itself, so that an idle connection holds
                    // no queue storage between bursts.
                    out.extend(std::mem::take(&mut s.queue));
                    s.bytes = 0;
                    let lagged = std::mem::take(&mut s.lagged);
                    drop(s);
                    self.room.notify_one();
                    return Batch::Frames { lagged };
                }
                if s.closed {
                    return Batch::Closed;
                }
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_beyond_the_cap_are_dropped_and_flagged_replies_are_not() {
        let o = Outbox::new(10);
        assert!(o.push_event(Bytes::from_static(b"12345")));
        assert!(o.push_event(Bytes::from_static(b"12345")));
        assert!(!o.push_event(Bytes::from_static(b"1")), "over the cap");
        o.push_reply(Bytes::from_static(b"reply"));
        let mut out = Vec::new();
        assert!(matches!(
            o.next_batch(&mut out).await,
            Batch::Frames { lagged: true }
        ));
        assert_eq!(out.len(), 3);
        assert!(
            o.push_event(Bytes::from_static(b"again")),
            "room after draining"
        );
        o.close();
        out.clear();
        assert!(matches!(
            o.next_batch(&mut out).await,
            Batch::Frames { lagged: false }
        ));
        assert!(matches!(o.next_batch(&mut out).await, Batch::Closed));
    }
}
