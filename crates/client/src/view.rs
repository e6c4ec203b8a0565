//! What the user is looking at, kept by the core so that every UI behaves
//! the same: the open conversation (or a direct conversation about to
//! begin), how far back it is loaded, whether the newest messages are in
//! view (then they count as read), a draft per conversation, and who is
//! typing where. UIs call these and render [`Client::timeline`].

use std::collections::{BTreeSet, HashMap};

use chrono::FixedOffset;
use confab_proto::{ConvId, ConvKind, Request, Seq};

use crate::cache::{Cache, CacheError, Pending, Target};
use crate::core::{ActionError, Client, ConnState, Event, Waiting};
use crate::emoji;
use crate::timeline::{self, Item, PendingLine};

/// Messages read from the cache per step of scrollback.
pub const PAGE: usize = 100;
/// Most messages a jump widens the view to (and a reaction looks through).
pub const MAX_WINDOW: usize = 5_000;
/// How long "bob is typing" stays up without another notice.
pub const TYPING_SHOWN_MS: u64 = 6_000;
/// How often this client tells others it is typing (while it is).
pub const TYPING_EVERY_MS: u64 = 3_000;

#[derive(Debug, Default)]
pub(crate) struct View {
    pub open: Option<Target>,
    /// The newest messages of the open conversation are in view. Until a
    /// UI says so, nothing is read for the user (a script reads nothing).
    pub reading: bool,
    drafts: HashMap<Target, String>,
    /// Drafts changed since they were last written to the cache.
    dirty: BTreeSet<String>,
    last_typing: Option<(ConvId, u64)>,
}

/// What the open conversation's view shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub items: Vec<Item>,
    /// The first message is loaded: nothing lies before.
    pub at_beginning: bool,
    /// Messages loaded from the cache.
    pub loaded: usize,
}

fn draft_key(t: &Target) -> String {
    match t {
        Target::Conv(c) => format!("draft/{c}"),
        Target::User(u) => format!("draft/@{u}"),
    }
}

impl<C: Cache> Client<C> {
    /// The conversation on screen (a `Target::User` is a direct
    /// conversation whose first message is not written yet).
    pub fn opened(&self) -> Option<&Target> {
        self.view.open.as_ref()
    }

    /// The open conversation's id, if it has one.
    pub fn opened_conv(&self) -> Option<ConvId> {
        match self.view.open {
            Some(Target::Conv(c)) => Some(c),
            _ => None,
        }
    }

    /// Shows `target`: marks it read, fetches its members (and a group's
    /// settings) and, with nothing cached, its newest page. A user with
    /// whom a direct conversation exists opens that conversation.
    pub fn open(&mut self, target: Target, now_ms: u64) {
        let target = match target {
            Target::User(u) => match self.conv_named(ConvKind::Dm, &u) {
                Some(c) => Target::Conv(c.conv),
                None => Target::User(u),
            },
            t => t,
        };
        if self.view.open.as_ref() != Some(&target) {
            if let Some(old) = self.view.open.clone() {
                self.keep_draft(&old);
            }
            self.load_draft(&target);
            if let Target::Conv(c) = target {
                let live = self.live.entry(c).or_default();
                live.want = PAGE;
                live.unread_after = None;
            }
            self.view.open = Some(target.clone());
        }
        // Where new messages begin (before they count as read), kept while
        // it stays open.
        if let Target::Conv(c) = target
            && let Some(read) = self.convs.get(&c).filter(|c| c.unread > 0).map(|c| c.read)
        {
            self.live.entry(c).or_default().unread_after = Some(read);
        }
        // Opened, a conversation shows its newest messages.
        self.view.reading = true;
        if let Target::Conv(conv) = target {
            let _ = self.opened_effects(conv);
        }
        let _ = now_ms;
    }

    /// Opens a direct conversation with `user` (one about to begin if none
    /// exists). Nothing for oneself.
    pub fn open_dm(&mut self, user: &str, now_ms: u64) {
        if self.me().is_some_and(|m| m.name == user) {
            return;
        }
        self.open(Target::User(user.to_owned()), now_ms);
    }

    /// The next (`by` 1) or previous (-1) conversation in the list.
    pub fn open_next(&mut self, by: isize, now_ms: u64) {
        let convs: Vec<ConvId> = self.convs().iter().map(|c| c.conv).collect();
        if convs.is_empty() {
            return;
        }
        let i = self
            .opened_conv()
            .and_then(|s| convs.iter().position(|c| *c == s))
            .unwrap_or(0) as isize;
        let next = convs[(i + by).rem_euclid(convs.len() as isize) as usize];
        self.open(Target::Conv(next), now_ms);
    }

    fn opened_effects(&mut self, conv: ConvId) -> Result<(), CacheError> {
        if self.view.reading {
            self.mark_read(conv)?;
        }
        if self.state != ConnState::Online {
            return Ok(());
        }
        if self.members(conv).is_none() {
            let _ = self.fetch_members(conv);
        }
        if self.conv(conv).is_some_and(|c| c.kind == ConvKind::Group)
            && self.group(conv).is_none()
            && !self.waiting.values().any(|w| *w == Waiting::Group(conv))
        {
            self.push(Waiting::Group(conv), Request::Group { conv });
        }
        // A visitor's channels are not synced: fetch the newest page.
        if self.is_visitor() && self.cache.oldest(conv)?.is_none() {
            let _ = self.fetch_older(conv);
        }
        Ok(())
    }

    /// After a logout: nothing is open, no draft is kept.
    /// `convs`: the conversations the account had (their drafts go too).
    pub(crate) fn view_logged_out(&mut self, convs: &[ConvId]) -> Result<(), CacheError> {
        let keys = convs
            .iter()
            .map(|c| draft_key(&Target::Conv(*c)))
            .chain(self.view.drafts.keys().map(draft_key))
            .collect::<BTreeSet<_>>();
        for key in keys {
            self.cache.set(&key, None)?;
        }
        self.view.drafts.clear();
        self.view.dirty.clear();
        self.view.open = None;
        self.event(Event::Opened);
        Ok(())
    }

    /// After a login: what is on screen may have changed unseen.
    pub(crate) fn view_logged_in(&mut self, _now_ms: u64) {
        self.fix_open();
        if let Some(conv) = self.opened_conv() {
            if let Some(l) = self.live.get_mut(&conv) {
                l.members = None;
            }
            let _ = self.opened_effects(conv);
        }
    }

    /// Keeps the open conversation valid: one that went away gives way to
    /// the first in the list; a direct conversation about to begin becomes
    /// the real one once it exists.
    pub(crate) fn fix_open(&mut self) {
        let next = match &self.view.open {
            Some(Target::Conv(c)) if self.convs.contains_key(c) => return,
            Some(Target::User(u)) => match self.conv_named(ConvKind::Dm, u) {
                Some(c) => Some(Target::Conv(c.conv)),
                None => return,
            },
            _ => self.convs().first().map(|c| Target::Conv(c.conv)),
        };
        if next == self.view.open {
            return;
        }
        if let (Some(Target::User(u)), Some(Target::Conv(c))) = (&self.view.open, &next) {
            // The draft follows the conversation into being.
            if let Some(d) = self.view.drafts.remove(&Target::User(u.clone())) {
                self.view.drafts.insert(Target::Conv(*c), d);
            }
        }
        self.view.open = next;
        if let Some(Target::Conv(c)) = self.view.open {
            self.live.entry(c).or_default().want = PAGE;
            let _ = self.opened_effects(c);
        }
        self.event(Event::Opened);
    }

    /// Whether the newest messages of the open conversation are in view;
    /// while they are, what arrives there counts as read.
    pub fn set_reading(&mut self, reading: bool) {
        self.view.reading = reading;
        if reading && let Some(conv) = self.opened_conv() {
            let _ = self.mark_read(conv);
        }
    }

    /// Whether the newest messages of the open conversation are in view.
    pub fn reading(&self) -> bool {
        self.view.reading
    }

    pub(crate) fn view_saw_messages(
        &mut self,
        touched: &BTreeSet<ConvId>,
        _now_ms: u64,
    ) -> Result<(), CacheError> {
        if self.view.reading
            && let Some(conv) = self.opened_conv()
            && touched.contains(&conv)
        {
            self.mark_read(conv)?;
        }
        Ok(())
    }

    /// The open conversation's timeline: its loaded messages grouped by day
    /// and sender, then what the user has pending there. `offset` is the
    /// local time zone.
    pub fn timeline(&self, offset: FixedOffset) -> Timeline {
        let me = self.me().map(|u| u.name.clone()).unwrap_or_default();
        let pending_lines = |ps: Vec<&Pending>| -> Vec<PendingLine> {
            ps.into_iter()
                .map(|p| PendingLine {
                    nonce: p.nonce.clone(),
                    text: p.text.clone(),
                    written_ms: p.written_ms,
                    what: p.what.clone(),
                })
                .collect()
        };
        match &self.view.open {
            None => Timeline::default(),
            Some(Target::User(u)) => {
                let pending = pending_lines(
                    self.outbox()
                        .iter()
                        .filter(|p| p.target == Target::User(u.clone()))
                        .collect(),
                );
                Timeline {
                    items: timeline::items(&[], &pending, &me, offset, None),
                    at_beginning: true,
                    loaded: 0,
                }
            }
            Some(Target::Conv(conv)) => {
                let live = self.live.get(conv);
                let want = live.map_or(PAGE, |l| l.want.max(PAGE));
                let cleared = live.map_or(0, |l| l.cleared);
                let mut msgs = self.messages(*conv, None, want).unwrap_or_default();
                msgs.retain(|m| m.seq > cleared);
                let pending = pending_lines(self.pending_in(*conv));
                let complete = live.is_some_and(|l| l.complete);
                let unread_after = live.and_then(|l| l.unread_after);
                Timeline {
                    // `complete`: scrollback found nothing older (for
                    // someone added to a group later, its log starts
                    // after seq 1).
                    at_beginning: cleared == 0
                        && (msgs.first().map(|m| m.seq) == Some(1)
                            || (complete
                                && msgs.first().map(|m| m.seq)
                                    == self.cache.oldest(*conv).ok().flatten())),
                    loaded: msgs.len(),
                    items: timeline::items(&msgs, &pending, &me, offset, unread_after),
                }
            }
        }
    }

    /// Names to complete `@prefix` with in the open conversation: its
    /// members, and whoever wrote in what is loaded; not the user.
    pub fn complete_mention(&self, prefix: &str, max: usize) -> Vec<String> {
        let me = self.me().map(|u| u.name.as_str()).unwrap_or_default();
        let Some(conv) = self.opened_conv() else {
            return match self.opened() {
                Some(Target::User(u)) if u.starts_with(prefix) => vec![u.clone()],
                _ => Vec::new(),
            };
        };
        let mut names: Vec<String> = self
            .members(conv)
            .unwrap_or_default()
            .iter()
            .map(|m| m.name.clone())
            .chain(
                self.messages(conv, None, PAGE)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m.sender),
            )
            .chain(
                self.conv(conv)
                    .filter(|c| c.kind == ConvKind::Dm)
                    .map(|c| c.name.clone()),
            )
            .filter(|n| n != me && n.starts_with(prefix))
            .collect();
        names.sort();
        names.dedup();
        names.truncate(max);
        names
    }

    /// Reactions to the message `seq` of `conv`, the user's pending ones
    /// included.
    pub fn reactions_to(&self, conv: ConvId, seq: Seq) -> Vec<timeline::Reaction> {
        let me = self.me().map(|u| u.name.clone()).unwrap_or_default();
        let newest = self.conv(conv).map_or(seq, |c| c.synced.max(seq));
        // Far back, only the newest stretch is read (reactions to an old
        // message given long after it are not all counted here).
        let after = ((newest - seq + 1) as usize).min(MAX_WINDOW);
        let msgs = self
            .messages(conv, None, after + 64)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.seq >= seq)
            .collect::<Vec<_>>();
        let pending: Vec<PendingLine> = self
            .pending_in(conv)
            .into_iter()
            .map(|p| PendingLine {
                nonce: p.nonce.clone(),
                text: p.text.clone(),
                written_ms: p.written_ms,
                what: p.what.clone(),
            })
            .collect();
        timeline::reactions(&msgs, &pending, &me)
            .remove(&seq)
            .unwrap_or_default()
    }

    /// Shows the message `seq` of `conv`: opens it and loads history back
    /// to it. [`Event::Jumped`] says when it is in the timeline.
    pub fn jump_to(&mut self, conv: ConvId, seq: Seq, now_ms: u64) {
        self.open(Target::Conv(conv), now_ms);
        self.live.entry(conv).or_default().jump = Some(seq);
        self.continue_jump(conv);
    }

    /// Widens the view (or loads older pages) until the jump's target is in it.
    pub(crate) fn continue_jump(&mut self, conv: ConvId) {
        let Some(seq) = self.live.get(&conv).and_then(|l| l.jump) else {
            return;
        };
        let oldest = self.cache.oldest(conv).ok().flatten();
        let complete = self.live.get(&conv).is_some_and(|l| l.complete);
        if oldest.is_some_and(|o| o <= seq) || complete {
            let newest = self.conv(conv).map_or(seq, |c| c.synced.max(seq));
            let live = self.live.entry(conv).or_default();
            live.jump = None;
            live.want = live
                .want
                .max(((newest - seq) as usize + PAGE / 2).min(MAX_WINDOW));
            self.event(Event::Jumped { conv, seq });
        } else if self.fetch_older(conv).is_err() {
            // Offline: as far back as is cached.
            self.live.entry(conv).or_default().jump = None;
            self.event(Event::Jumped { conv, seq });
        }
    }

    /// Hides what the open conversation shows so far, here only (`/clear`:
    /// nothing is deleted, and it comes back after a restart).
    pub fn clear_view(&mut self) {
        if let Some(conv) = self.opened_conv() {
            let upto = self.conv(conv).map_or(0, |c| c.synced);
            self.live.entry(conv).or_default().cleared = upto;
            self.event(Event::Messages(conv));
        }
    }

    /// The user reached the top of what is shown: read further back in the
    /// cache, or ask the server for the page before it.
    pub fn scroll_back(&mut self) {
        let Some(conv) = self.opened_conv() else {
            return;
        };
        let oldest = self.cache.oldest(conv).ok().flatten();
        let want = self.live.get(&conv).map_or(PAGE, |l| l.want.max(PAGE));
        let more_cached = self.messages(conv, None, want + 1).map_or(0, |m| m.len()) > want;
        let live = self.live.entry(conv).or_default();
        live.want = want;
        if more_cached {
            // (Even when the beginning is known: a reopened conversation
            // shows only its newest page of what is cached.)
            live.want += PAGE;
            self.event(Event::Older(conv));
        } else if live.complete {
            // The beginning is shown.
        } else if oldest == Some(1) {
            live.complete = true;
            self.event(Event::Older(conv));
        } else {
            let _ = self.fetch_older(conv);
        }
    }

    /// A page of older messages arrived (or none is left).
    pub(crate) fn older_done(&mut self, conv: ConvId, more: bool) {
        let live = self.live.entry(conv).or_default();
        live.want = live.want.max(PAGE) + PAGE;
        if !more {
            live.complete = true;
        }
        self.event(Event::Older(conv));
        self.continue_jump(conv);
    }

    // ---- drafts ----

    /// What the user has written for `target` and not sent.
    pub fn draft(&self, target: &Target) -> &str {
        self.view.drafts.get(target).map_or("", String::as_str)
    }

    /// The open conversation's draft.
    pub fn open_draft(&self) -> &str {
        self.view.open.as_ref().map_or("", |t| self.draft(t))
    }

    /// Replaces the open conversation's draft (kept per conversation: it
    /// stays with its conversation when the user switches).
    pub fn set_draft(&mut self, text: &str) {
        if let Some(t) = self.view.open.clone()
            && self.draft(&t) != text
        {
            self.view.dirty.insert(draft_key(&t));
            self.view.drafts.insert(t, text.to_owned());
        }
    }

    fn load_draft(&mut self, t: &Target) {
        if !self.view.drafts.contains_key(t)
            && let Ok(Some(d)) = self.cache.get(&draft_key(t))
        {
            self.view.drafts.insert(t.clone(), d);
        }
    }

    fn keep_draft(&mut self, t: &Target) {
        let key = draft_key(t);
        if self.view.dirty.remove(&key) {
            let d = self.draft(t).to_owned();
            let _ = self
                .cache
                .set(&key, Some(d.as_str()).filter(|d| !d.is_empty()));
        }
    }

    /// Writes every changed draft to the cache (a UI calls it when it quits).
    pub fn save_drafts(&mut self) {
        let targets: Vec<Target> = self.view.drafts.keys().cloned().collect();
        for t in targets {
            self.keep_draft(&t);
        }
    }

    /// Sends the open conversation's draft (its `:shortcodes:` made emoji).
    /// It is cleared once it is in the outbox; a draft that cannot be sent
    /// (too long, say) stays, and the error says why.
    pub fn send_draft(&mut self, now_ms: u64) -> Result<String, ActionError> {
        let target = self.view.open.clone().ok_or(ActionError::NothingOpen)?;
        let text = emoji::expand(self.draft(&target).trim_end());
        let nonce = self.send(target.clone(), &text, now_ms as i64)?;
        self.view.drafts.remove(&target);
        self.view.dirty.insert(draft_key(&target));
        self.view.reading = true;
        self.view.last_typing = None;
        Ok(nonce)
    }

    /// A refused message goes back into its conversation's draft, unless
    /// the user has started another there.
    pub(crate) fn restore_draft(&mut self, p: &Pending) {
        let target = match &p.target {
            Target::User(u) => self
                .conv_named(ConvKind::Dm, u)
                .map_or(p.target.clone(), |c| Target::Conv(c.conv)),
            t => t.clone(),
        };
        if self.draft(&target).is_empty() {
            self.view.dirty.insert(draft_key(&target));
            self.view.drafts.insert(target, p.text.clone());
        }
    }

    // ---- typing ----

    /// The user typed in the open conversation: tells the others now and
    /// then (over UDP when that path works, else over the connection).
    pub fn typed(&mut self, now_ms: u64) {
        let Some(conv) = self.opened_conv() else {
            return;
        };
        if self.is_visitor() || self.state != ConnState::Online {
            return;
        }
        if let Some((c, at)) = self.view.last_typing
            && c == conv
            && now_ms < at + TYPING_EVERY_MS
        {
            return;
        }
        self.view.last_typing = Some((conv, now_ms));
        #[cfg(feature = "udp")]
        if let Some(path) = self.udp.as_mut()
            && path.up(now_ms)
        {
            let bytes = path.typing(conv);
            self.datagrams.push_back((path.port, bytes));
            return;
        }
        self.push(Waiting::Typing, Request::Typing { conv });
    }

    /// Who is typing in `conv` now.
    pub fn typing_in(&self, conv: ConvId, now_ms: u64) -> Vec<&str> {
        self.live.get(&conv).map_or_else(Vec::new, |l| {
            l.typing
                .iter()
                .filter(|(_, until)| *until > now_ms)
                .map(|(u, _)| u.as_str())
                .collect()
        })
    }

    pub(crate) fn someone_typing(&mut self, conv: ConvId, user: String, now_ms: u64) {
        if self.me().is_some_and(|m| m.name == user) || !self.convs.contains_key(&conv) {
            return;
        }
        let live = self.live.entry(conv).or_default();
        live.typing.retain(|(u, _)| *u != user);
        live.typing.push((user, now_ms + TYPING_SHOWN_MS));
        self.event(Event::Typing(conv));
    }

    pub(crate) fn expire_typing(&mut self, now_ms: u64) {
        let mut changed = Vec::new();
        for (conv, live) in &mut self.live {
            let before = live.typing.len();
            live.typing.retain(|(_, until)| *until > now_ms);
            if live.typing.len() != before {
                changed.push(*conv);
            }
        }
        for conv in changed {
            self.event(Event::Typing(conv));
        }
    }
}
