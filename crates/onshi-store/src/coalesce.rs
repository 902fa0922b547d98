//! Coalesced checks by card data on PostgreSQL.
//!
//! Why: on PostgreSQL a check's lookup costs more in per-statement work than in the index
//! probes themselves. On the 10,000,000-person database `FIND_BY_CARD` executes in about
//! 0.16 ms with 17 buffer hits, while the round trip around it (the backend waking,
//! bind, executor start-up and shutdown, the reply; tokio-postgres encoding and decoding on
//! our side) costs each check several times that in CPU, and on a small machine the CPU is
//! shared with central itself (docs/performance.md, sessions 5 and 6). So checks that arrive
//! while others are being looked up are gathered and answered by one execution of the
//! many-keys statement the bulk check already uses (`FIND_BY_CARDS_PG`): the fixed cost is
//! paid once per batch, the probes once per key.
//!
//! There is no timer and no waiting for company: a check that finds a free slot runs at
//! once, alone, so latency at low load is what it was. Batches form only when all
//! [`in_flight`] slots are busy, and grow with the load (at most [`MAX_BATCH`] keys). The
//! answers are the same as the one-key statement's (same rows, same order per key; the
//! equivalence test is `coalesced_lookups_answer_as_single_ones`). If a batch fails, each
//! of its checks is retried alone so that each gets its own answer or its own error.
//!
//! Two slots by default: on the 2-core machine with 10,000,000 people, 128 connections,
//! three interleaved rounds gave 10,359–10,786 checks/s with 2 slots, 8,252–10,368 with 1
//! (batches of ~40 keys, but one slow batch holds everyone up) and 9,928–10,305 with 4;
//! without coalescing 5,978 (docs/performance.md, session 7). A server with more cores, or
//! data not all in memory, may want more: `ONSHI_PG_LOOKUP_SLOTS=N`. `ONSHI_PG_LOOKUP_SLOTS=0`
//! turns coalescing off (one statement per check, as before), for comparison runs.

use crate::pg::PgStore;
use crate::{CardQuery, QualificationRecord, Result, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The most keys one lookup statement carries.
pub(crate) const MAX_BATCH: usize = 64;

/// Lookups running at once unless `ONSHI_PG_LOOKUP_SLOTS` says otherwise.
const DEFAULT_SLOTS: usize = 2;

/// The number of lookup statements that may run at once: `ONSHI_PG_LOOKUP_SLOTS` when it
/// is a number, else [`DEFAULT_SLOTS`]; 0 means no coalescing.
pub(crate) fn in_flight() -> usize {
    std::env::var("ONSHI_PG_LOOKUP_SLOTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SLOTS)
}

type Reply = oneshot::Sender<Result<Vec<QualificationRecord>>>;
type Job = (CardQuery, Reply);

/// How many statements the coalescer ran, how many checks they answered, and how many
/// batches failed and were answered one check at a time.
#[derive(Debug, Default)]
struct LookupCounts {
    statements: AtomicU64,
    checks: AtomicU64,
    failed_batches: AtomicU64,
}

/// A reading of the coalescer's counters (see [`crate::PoolStatus`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LookupTally {
    /// Lookup statements run, the retries of failed batches included.
    pub statements: u64,
    /// Checks answered.
    pub checks: u64,
    /// Batches whose statement failed, so that each of their checks was retried alone.
    pub failed_batches: u64,
}

/// The queue in front of the lookups; cloned into every [`PgStore`] handle that answers
/// checks. The dispatcher ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Coalescer {
    jobs: mpsc::UnboundedSender<Job>,
    counts: Arc<LookupCounts>,
}

impl Coalescer {
    /// Starts the dispatcher. `store` must not itself hold a coalescer (it would keep the
    /// queue open for ever).
    pub(crate) fn start(store: PgStore, slots: usize) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let counts = Arc::new(LookupCounts::default());
        tokio::spawn(dispatch(store, rx, slots.max(1), counts.clone()));
        Coalescer { jobs, counts }
    }

    pub(crate) fn counts(&self) -> LookupTally {
        LookupTally {
            statements: self.counts.statements.load(Ordering::Relaxed),
            checks: self.counts.checks.load(Ordering::Relaxed),
            failed_batches: self.counts.failed_batches.load(Ordering::Relaxed),
        }
    }

    pub(crate) async fn find(&self, q: &CardQuery) -> Result<Vec<QualificationRecord>> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((q.clone(), tx))
            .map_err(|_| StoreError::Join("the lookup dispatcher has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Join("a coalesced lookup was dropped".into()))?
    }
}

/// Waits for a check, then for a free slot; whatever else has queued meanwhile goes with
/// it.
async fn dispatch(
    store: PgStore,
    mut rx: mpsc::UnboundedReceiver<Job>,
    slots: usize,
    counts: Arc<LookupCounts>,
) {
    let slots = Arc::new(Semaphore::new(slots));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut batch = Vec::with_capacity(8);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        counts.statements.fetch_add(1, Ordering::Relaxed);
        counts
            .checks
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let (store, counts) = (store.clone(), counts.clone());
        tokio::spawn(async move {
            answer(&store, batch, &counts).await;
            drop(slot);
        });
    }
}

async fn answer(store: &PgStore, batch: Vec<Job>, counts: &LookupCounts) {
    let (queries, replies): (Vec<CardQuery>, Vec<Reply>) = batch.into_iter().unzip();
    if let [q] = queries.as_slice() {
        let found = store.find_by_card_alone(q).await;
        if let Some(reply) = replies.into_iter().next() {
            let _ = reply.send(found);
        }
        return;
    }
    match store.find_by_cards(&queries).await {
        Ok(found) => {
            for (reply, records) in replies.into_iter().zip(found) {
                let _ = reply.send(Ok(records));
            }
        }
        Err(e) => {
            // One bad key (or a statement too big for the server) must not cost the others
            // their answers: each is looked up alone and gets its own answer or error.
            tracing::warn!(keys = queries.len(), error = %e, "coalesced lookup failed; retrying each check alone");
            counts.failed_batches.fetch_add(1, Ordering::Relaxed);
            counts
                .statements
                .fetch_add(queries.len() as u64, Ordering::Relaxed);
            for (q, reply) in queries.iter().zip(replies) {
                let _ = reply.send(store.find_by_card_alone(q).await);
            }
        }
    }
}
