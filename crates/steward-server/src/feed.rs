//! The audit feed: every committed audit event, in `seq` order, to whoever follows it
//! inside this instance (audit tail, live pages, permit waits, caller-scoped event streams).
//!
//! One poller per instance reads the audit head every [`POLL`] while someone follows, reads
//! the new events once and broadcasts them; followers cost nothing while they wait. Because
//! the poller reads the database, an event committed by any instance sharing it (several
//! instances on one PostgreSQL) reaches the followers of every instance.
//!
//! # Invariants
//!
//! - A follower sees every event from its starting `seq` on, each once, in `seq` order: it
//!   reads from the database what the broadcast cannot give it (events before it
//!   subscribed, events it missed because it fell behind), so lagging loses nothing.
//! - Audit seqs become visible in order (appends serialise on the audit head), so reading
//!   "everything above the last seq seen" never skips an event.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, stream};
use steward_store::{AuditEntry, Store, StoreError};
use tokio::sync::{broadcast, watch};

/// How often the poller looks for new events while someone follows.
pub const POLL: Duration = Duration::from_millis(200);

/// Events read per query.
const PAGE: u32 = 500;

/// Events the broadcast holds for slow followers before they must re-read the database.
const CAPACITY: usize = 4096;

/// A cheap-clone handle on this instance's audit feed.
#[derive(Clone)]
pub struct AuditFeed {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sender: broadcast::Sender<Arc<AuditEntry>>,
    /// The last seq the poller has published: every event up to it was broadcast, or was
    /// committed before the poller (re)started. A follower still short of it reads the
    /// database.
    published: watch::Sender<u64>,
    /// Whether the poller task runs; it is started by the first follower.
    poller: Mutex<bool>,
}

impl std::fmt::Debug for AuditFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditFeed")
            .field("followers", &self.inner.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

impl AuditFeed {
    /// A feed over `store`. Nothing runs until someone follows it.
    pub fn new(store: Store) -> AuditFeed {
        AuditFeed::with_capacity(store, CAPACITY)
    }

    /// A feed whose broadcast holds `capacity` events for slow followers (tests use a
    /// small one to make followers fall behind).
    pub fn with_capacity(store: Store, capacity: usize) -> AuditFeed {
        let (sender, _) = broadcast::channel(capacity.max(1));
        AuditFeed {
            inner: Arc::new(Inner {
                store,
                sender,
                published: watch::Sender::new(0),
                poller: Mutex::new(false),
            }),
        }
    }

    /// The seq the next appended event will have: where a follower that wants only new
    /// events starts.
    pub async fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.inner.store.audit_head().await?.seq + 1)
    }

    /// Every event from `from_seq` on, in `seq` order, each once, until the stream is
    /// dropped. A database error is retried at the next poll, never ends the stream.
    pub fn follow(&self, from_seq: u64) -> impl Stream<Item = Arc<AuditEntry>> + Send + use<> {
        // Subscribe before the first read, so nothing committed in between is lost.
        let receiver = self.inner.sender.subscribe();
        let published = self.inner.published.subscribe();
        self.start_poller();
        let follower = Follower {
            store: self.inner.store.clone(),
            receiver,
            published,
            next: from_seq.max(1),
            buffered: VecDeque::new(),
            caught_up: false,
        };
        stream::unfold(follower, |mut follower| async move {
            let entry = follower.next_entry().await;
            Some((entry, follower))
        })
    }

    fn start_poller(&self) {
        let mut running = self
            .inner
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *running {
            return;
        }
        *running = true;
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last = None;
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // The poller ends with the last handle on the feed.
                let Some(inner) = inner.upgrade() else { return };
                if inner.sender.receiver_count() == 0 {
                    // Nobody follows: start from the head again when someone does.
                    last = None;
                    continue;
                }
                last = poll_once(&inner, last).await;
            }
        });
    }
}

/// Reads the events after `last` (the last seq broadcast) and broadcasts them; returns the
/// new last seq. With no last seq yet, it starts at the current head: followers read what
/// came before from the database themselves.
async fn poll_once(inner: &Inner, last: Option<u64>) -> Option<u64> {
    let head = match inner.store.audit_head().await {
        Ok(head) => head.seq,
        Err(error) => {
            tracing::warn!(%error, "audit feed: reading the audit head failed; retrying");
            return last;
        }
    };
    let Some(mut last) = last else {
        inner.published.send_replace(head);
        return Some(head);
    };
    while last < head {
        let page = match inner.store.events(last + 1, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "audit feed: reading events failed; retrying");
                return Some(last);
            }
        };
        let Some(end) = page.last().map(|entry| entry.seq) else {
            break;
        };
        for entry in page {
            // No receiver is not an error: followers may have left.
            let _ = inner.sender.send(Arc::new(entry));
        }
        last = end;
        inner.published.send_replace(last);
    }
    Some(last)
}

struct Follower {
    store: Store,
    receiver: broadcast::Receiver<Arc<AuditEntry>>,
    published: watch::Receiver<u64>,
    /// The seq this follower gives out next.
    next: u64,
    buffered: VecDeque<Arc<AuditEntry>>,
    /// Whether the database had nothing at or after `next` at the last read, so the
    /// broadcast is the way forward.
    caught_up: bool,
}

impl Follower {
    async fn next_entry(&mut self) -> Arc<AuditEntry> {
        loop {
            if let Some(entry) = self.buffered.pop_front() {
                if entry.seq == self.next {
                    self.next += 1;
                    return entry;
                }
                if entry.seq > self.next {
                    // A gap between what it read and what was broadcast: read it.
                    self.buffered.clear();
                    self.caught_up = false;
                }
                continue;
            }
            if !self.caught_up {
                self.read_database().await;
                continue;
            }
            match self.receiver.try_recv() {
                Ok(entry) => {
                    self.buffered.push_back(entry);
                    continue;
                }
                Err(broadcast::error::TryRecvError::Empty) => {}
                // Fell behind: the database has what the broadcast no longer holds.
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.caught_up = false;
                    continue;
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    // The feed is gone (shutdown): wait on the database instead.
                    tokio::time::sleep(POLL).await;
                    self.caught_up = false;
                    continue;
                }
            }
            // Published beyond what this follower has: events it cannot get from the
            // broadcast (committed before the poller started, or before it subscribed).
            if *self.published.borrow_and_update() >= self.next {
                self.caught_up = false;
                continue;
            }
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(entry) => self.buffered.push_back(entry),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.caught_up = false,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep(POLL).await;
                        self.caught_up = false;
                    }
                },
                changed = self.published.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL).await;
                        self.caught_up = false;
                    }
                }
            }
        }
    }

    async fn read_database(&mut self) {
        match self.store.events(self.next, PAGE).await {
            Ok(page) if page.is_empty() => {
                // Nothing stored at or after `next`: whatever was published up to here
                // has been pruned, so there is nothing left to give out below it.
                self.caught_up = true;
                let published = *self.published.borrow();
                self.next = self.next.max(published + 1);
            }
            Ok(page) => {
                // A first seq above `next` means the events in between were pruned
                // (retention removes only leading ranges): continue after them.
                if let Some(first) = page.first() {
                    self.next = self.next.max(first.seq);
                }
                self.buffered.extend(page.into_iter().map(Arc::new));
            }
            Err(error) => {
                tracing::warn!(%error, "audit feed: reading events failed; retrying");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}
