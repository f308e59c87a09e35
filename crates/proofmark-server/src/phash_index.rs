//! The lookup indexes of a server process, kept up to date from the store before each search: every record's
//! perceptual hash in a [`proofmark_media::PHashIndex`] (a linear popcount scan: exact recall, about a
//! millisecond per million hashes), and every watermark payload in a [`proofmark_media::PayloadIndex`] (exact
//! by hash map; within 6 of 128 bits by pigeonhole over 16-bit chunks, never a scan).
//!
//! Other processes sharing the database insert records too, and on PostgreSQL a record with a lower position
//! can become visible after a higher one was read; so every 2 s a refresh re-reads a window of the last
//! 10,000 positions (ids already held are skipped; in between it reads only what is past the last position),
//! and the whole index is rebuilt aside every [`REBUILD_SECS`]. A running server does that in a background
//! task ([`run_refresher`]); requests call [`PhashIndex::refresh_tail`], which builds the index once and
//! afterwards only reads what is past the last position (one indexed query), so no request waits for a window
//! re-read or a rebuild.
use std::collections::HashSet;
use std::time::{Duration, Instant};

use proofmark_media::{Match, PHash, PHashIndex, PayloadIndex, PayloadMatch};
use proofmark_store::{RecordId, Store, StoreError};
use tokio::sync::RwLock;

/// Positions re-read, at most every [`WINDOW_EVERY`]: inserts that became visible out of order.
const WINDOW: i64 = 10_000;
/// Between window re-reads a refresh reads only positions past the last one seen (one indexed query that
/// returns nothing when nothing is new).
const WINDOW_EVERY: Duration = Duration::from_secs(2);
/// Rows read per store query.
const BATCH: u32 = 50_000;
/// A full rebuild this often catches anything the window missed.
pub const REBUILD_SECS: u64 = 600;

#[derive(Debug, Default)]
struct Inner {
    index: PHashIndex,
    payloads: PayloadIndex,
    ids: Vec<RecordId>,
    held: HashSet<RecordId>,
    last: i64,
    built: Option<Instant>,
    window_read: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct PhashIndex {
    inner: RwLock<Inner>,
}

impl Inner {
    /// Read the store from position `after` on and add what is not held yet.
    async fn load(&mut self, store: &dyn Store, mut after: i64) -> Result<(), StoreError> {
        loop {
            let rows = store.record_hashes(after, BATCH).await?;
            let Some(last) = rows.last().map(|r| r.seq) else { break };
            for row in &rows {
                if self.held.insert(row.record_id) {
                    let position = self.ids.len() as u64;
                    self.index.insert(position, PHash(row.phash));
                    if let Some(p) = row.watermark_payload {
                        self.payloads.insert(position, p);
                    }
                    self.ids.push(row.record_id);
                }
                self.last = self.last.max(row.seq);
            }
            after = last;
            if rows.len() < BATCH as usize {
                break;
            }
        }
        Ok(())
    }
}

impl PhashIndex {
    /// Bring the index up to date with the store. A due rebuild is made aside and swapped in, so searches
    /// keep running on the old index meanwhile.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let due = self.inner.read().await.built.is_none_or(|t| t.elapsed() > Duration::from_secs(REBUILD_SECS));
        if due {
            let mut fresh = Inner { built: Some(Instant::now()), ..Inner::default() };
            fresh.load(store, 0).await?;
            *self.inner.write().await = fresh;
        }
        let mut inner = self.inner.write().await;
        let window_due = inner.window_read.is_none_or(|t| t.elapsed() >= WINDOW_EVERY);
        let after = if window_due {
            inner.window_read = Some(Instant::now());
            (inner.last - WINDOW).max(0)
        } else {
            inner.last
        };
        inner.load(store, after).await
    }

    /// For a request: build the index if it was never built, else read only what is past the last position
    /// (what this process and others inserted since; the window and the rebuilds are the refresher's).
    pub async fn refresh_tail(&self, store: &dyn Store) -> Result<(), StoreError> {
        if self.inner.read().await.built.is_none() {
            return self.refresh(store).await;
        }
        let mut inner = self.inner.write().await;
        let after = inner.last;
        inner.load(store, after).await
    }

    /// Records whose pHash is within `max_distance` bits of `query`, nearest first.
    pub async fn search(&self, query: PHash, max_distance: u32) -> Vec<(RecordId, u32)> {
        let inner = self.inner.read().await;
        inner
            .index
            .query(query, max_distance)
            .into_iter()
            .filter_map(|Match { distance, id }| inner.ids.get(id as usize).map(|r| (*r, distance)))
            .collect()
    }

    /// Records whose watermark payload is `payload` exactly (`exact`), or within `max_distance` bits of it,
    /// nearest first.
    pub async fn search_payload(&self, payload: [u8; 16], exact: bool, max_distance: u32) -> Vec<(RecordId, u32)> {
        let inner = self.inner.read().await;
        let found: Vec<PayloadMatch> = if exact {
            inner.payloads.exact(payload).into_iter().map(|id| PayloadMatch { distance: 0, id }).collect()
        } else {
            inner.payloads.query(payload, max_distance)
        };
        found.into_iter().filter_map(|m| inner.ids.get(m.id as usize).map(|r| (*r, m.distance))).collect()
    }
}

/// Keep a server's index fresh in the background: every [`WINDOW_EVERY`], the window re-read and, when due,
/// the rebuild aside ([`PhashIndex::refresh`]), until `stop` resolves. The index is first built by the first
/// request that needs it, not here: a server that is never searched never reads every record. Failures are
/// logged and retried.
pub async fn run_refresher(state: crate::AppState, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(WINDOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {
                if state.phash_index.inner.read().await.built.is_none() {
                    continue;
                }
                if let Err(e) = state.phash_index.refresh(state.store.as_ref()).await {
                    tracing::warn!("refreshing the lookup indexes: {e}");
                }
            }
        }
    }
}
