//! The batcher: closed spool segments into the store, exactly once.
//!
//! Segments are taken in order; several are merged into one insert when a backlog built up,
//! so the store sees about one insert per table per flush interval whatever the request rate.
//! Before its events are first inserted a segment is renamed `.inflight`: from then on a retry
//! or a restart first asks the store which of its event ids are already there and inserts only
//! the rest, so a crash mid-insert neither loses nor duplicates events (ClickHouse 18.16 has no
//! insert de-duplication tokens; this works the same on every engine). Retryable store errors
//! back off and retry forever — nothing acknowledged is dropped; a segment the store refuses
//! outright is moved to `spool/quarantine/` for an operator.
//!
//! With peers (see `coordination`), an event whose visitor has an earlier event pending at a
//! peer is held back in memory, its segment kept on disk, and tried again next round.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_store::rowbinary::Row;
use larder_store::rows::EventRow;
use larder_store::{Store, StoreError, ingest};
use tokio::sync::watch;

use crate::coordination::{Coordinator, Peer, all_cover, may_assign};
use crate::metrics::Metrics;
use crate::sessions::SessionAssigner;
use crate::spool::{Segment, SegmentQueue, Spool, SpoolError, SpooledEvent};
use crate::visitor::{key_runs, visitor_key};

/// Rows per piece of an insert (about 1 MB of RowBinary): a ClickHouse server is sent each piece
/// as it is encoded, so a flush holds one piece and its compressed copy beside the spooled rows,
/// not a second copy of the whole insert and a third compressed.
const PIECE_ROWS: usize = 4096;

/// Why a flush failed.
#[derive(Debug, thiserror::Error)]
enum FlushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl FlushError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Spool(SpoolError::Corrupt(..)) => false,
            Self::Spool(_) => true,
        }
    }
}

/// The batcher's parts.
#[derive(Debug)]
pub struct Batcher {
    pub spool: Spool,
    pub store: Arc<dyn Store>,
    pub sessions: SessionAssigner,
    pub coordinator: Option<Coordinator>,
    pub metrics: Metrics,
    pub max_events: usize,
}

/// An event read from a segment and not yet in the store.
#[derive(Debug, Clone)]
struct Waiting {
    seq: u64,
    event: SpooledEvent,
    /// It may already be in the store (a replayed segment, or a failed attempt).
    maybe_stored: bool,
}

/// Segments whose events are being flushed, with how many are left.
#[derive(Debug, Default)]
struct Open {
    segments: HashMap<u64, (Segment, usize)>,
}

/// Longest pause between retries of a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a round waits for peers' snapshots to cover its events before deciding with what
/// it has (events not covered are simply held to the next round).
const PEER_WAIT: Duration = Duration::from_secs(2);

impl Batcher {
    /// Flushes segments until the queue ends or `stop` turns true; then, for up to `drain_for`,
    /// keeps flushing what is queued (graceful shutdown). What is left stays in the spool.
    pub async fn run(mut self, mut queue: SegmentQueue, mut stop: watch::Receiver<bool>, drain_for: Duration) {
        let mut backlog: VecDeque<Segment> = VecDeque::new();
        let mut carry: Vec<Waiting> = Vec::new();
        let mut open = Open::default();
        let mut failures: u32 = 0;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if drain_deadline.is_none() && *stop.borrow() {
                drain_deadline = Some(Instant::now() + drain_for);
            }
            while let Ok(segment) = queue.try_recv() {
                backlog.push_back(segment);
            }
            if let Some(deadline) = drain_deadline
                && ((backlog.is_empty() && carry.is_empty()) || Instant::now() >= deadline)
            {
                if !backlog.is_empty() || !carry.is_empty() {
                    tracing::warn!(
                        segments = backlog.len() + open.segments.len(),
                        "stopping with unflushed segments; they stay in the spool"
                    );
                }
                return;
            }
            if drain_deadline.is_none() && backlog.is_empty() {
                // Held events are retried soon; otherwise sleep until a segment closes.
                let wait = if carry.is_empty() { Duration::from_secs(3600) } else { Duration::from_millis(100) };
                tokio::select! {
                    segment = queue.recv() => match segment {
                        Some(segment) => backlog.push_back(segment),
                        None if carry.is_empty() => return,
                        None => {}
                    },
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => continue,
                }
            }
            let room = self.max_events.saturating_sub(carry.len()).max(1);
            let mut candidates = std::mem::take(&mut carry);
            for segment in take_group(&mut backlog, room) {
                self.open_segment(segment, &mut open, &mut candidates);
            }
            if candidates.is_empty() {
                continue;
            }
            let (go, hold) = match &self.coordinator {
                Some(coordinator) => self.choose(coordinator, candidates, &mut stop, drain_deadline).await,
                None => (candidates, Vec::new()),
            };
            carry = hold;
            if go.is_empty() {
                continue;
            }
            let started = Instant::now();
            match self.flush(go, &mut open).await {
                Ok(stored) => {
                    failures = 0;
                    self.metrics.flushes.inc();
                    self.metrics.stored.inc_by(stored);
                    self.metrics.flush_seconds.observe(started.elapsed().as_secs_f64());
                    self.metrics.flush_events.observe(stored as f64);
                    if let Some(coordinator) = &self.coordinator
                        && let Err(e) = coordinator.publish(&self.spool.snapshot()).await
                    {
                        tracing::warn!(error = %e, "cannot publish the pending snapshot");
                    }
                }
                Err((e, go)) if e.is_retryable() => {
                    failures = failures.saturating_add(1);
                    self.metrics.flush_failures.inc();
                    let pause = backoff(failures);
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "flush failed; retrying");
                    let mut retry: Vec<Waiting> = go.into_iter().map(|w| Waiting { maybe_stored: true, ..w }).collect();
                    retry.append(&mut carry);
                    carry = retry;
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err((e, go)) => {
                    self.metrics.flush_failures.inc();
                    let mut refused: Vec<u64> = go.iter().map(|w| w.seq).collect();
                    refused.sort_unstable();
                    refused.dedup();
                    carry.retain(|w| !refused.contains(&w.seq));
                    for seq in refused {
                        self.quarantine(seq, &mut open, &e);
                    }
                }
            }
        }
    }

    /// Reads a segment's events into `candidates` and marks it in flight.
    fn open_segment(&self, mut segment: Segment, open: &mut Open, candidates: &mut Vec<Waiting>) {
        let replayed = segment.inflight;
        let events = match self.spool.read(&segment).and_then(|events| {
            self.spool.mark_inflight(&mut segment)?;
            Ok(events)
        }) {
            Ok(events) => events,
            Err(e) => {
                let seq = segment.seq;
                open.segments.insert(seq, (segment, 0));
                self.quarantine(seq, open, &FlushError::Spool(e));
                return;
            }
        };
        if events.is_empty() {
            if let Err(e) = self.spool.complete(&segment) {
                tracing::warn!(error = %e, "cannot remove an empty segment");
            }
            return;
        }
        let seq = segment.seq;
        open.segments.insert(seq, (segment, events.len()));
        candidates.extend(events.into_iter().map(|event| Waiting { seq, event, maybe_stored: replayed }));
    }

    fn quarantine(&self, seq: u64, open: &mut Open, why: &FlushError) {
        if let Some((segment, _)) = open.segments.remove(&seq) {
            match self.spool.quarantine(&segment) {
                Ok(path) => tracing::error!(
                    error = %why, segment = seq, path = %path.display(),
                    "the store refused a spool segment; moved to quarantine"
                ),
                Err(io) => tracing::error!(error = %io, segment = seq, "cannot quarantine a segment"),
            }
        }
    }

    /// Splits candidates into those that may get a session now and those to hold (see
    /// `coordination`). Once one event of a visitor is held, its later ones are too.
    async fn choose(
        &self,
        coordinator: &Coordinator,
        mut candidates: Vec<Waiting>,
        stop: &mut watch::Receiver<bool>,
        deadline: Option<Instant>,
    ) -> (Vec<Waiting>, Vec<Waiting>) {
        candidates.sort_by_key(|w| w.event.receipt_ms);
        let newest = candidates.last().map_or(0, |w| w.event.receipt_ms);
        let own = coordinator.collector_id().to_owned();
        let started = Instant::now();
        let peers: Vec<Peer> = loop {
            // Peers wait for us too: keep our own snapshot fresh while waiting.
            if let Err(e) = coordinator.publish(&self.spool.snapshot()).await {
                tracing::warn!(error = %e, "cannot publish the pending snapshot");
            }
            let peers = match coordinator.peers().await {
                Ok(peers) => Some(peers),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read peers' snapshots");
                    None
                }
            };
            let waited_enough = started.elapsed() >= PEER_WAIT || deadline.is_some_and(|d| Instant::now() >= d);
            match peers {
                Some(peers) if all_cover(&peers, &own, newest) || waited_enough => break peers,
                None if waited_enough => return (Vec::new(), candidates),
                _ => {}
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => {}
            }
        };
        self.metrics.coordination_wait_seconds.observe(started.elapsed().as_secs_f64());
        let mut held_keys = std::collections::HashSet::new();
        let (mut go, mut hold) = (Vec::new(), Vec::new());
        for waiting in candidates {
            let key = visitor_key(&waiting.event.site, waiting.event.visitor_id);
            if held_keys.contains(&key) || !may_assign(&peers, &own, key, waiting.event.receipt_ms) {
                held_keys.insert(key);
                hold.push(waiting);
            } else {
                go.push(waiting);
            }
        }
        (go, hold)
    }

    /// Inserts events; returns how many were written (some may have been there already). On
    /// failure the events come back for a retry. Events are moved, never copied: a flush of a
    /// backlog holds tens of thousands of them.
    async fn flush(&mut self, mut go: Vec<Waiting>, open: &mut Open) -> Result<u64, (FlushError, Vec<Waiting>)> {
        // In receipt order, the order sessions are assigned in.
        go.sort_by_key(|w| w.event.receipt_ms);
        let stored = match self.insert(&mut go).await {
            Ok(stored) => stored,
            Err(e) => return Err((e, go.into_iter().map(|w| Waiting { maybe_stored: true, ..w }).collect())),
        };
        let flushed = key_runs(go.iter().map(|w| (&*w.event.site, w.event.visitor_id, w.event.receipt_ms)));
        self.spool.release(&flushed);
        for waiting in &go {
            if let Some((_, left)) = open.segments.get_mut(&waiting.seq) {
                *left = left.saturating_sub(1);
            }
        }
        drop(go);
        let done: Vec<u64> = open.segments.iter().filter(|(_, (_, left))| *left == 0).map(|(seq, _)| *seq).collect();
        for seq in done {
            if let Some((segment, _)) = open.segments.remove(&seq) {
                // Its events are stored: if removing the file fails, a replay skips them.
                self.spool.complete(&segment).map_err(|e| (e.into(), Vec::new()))?;
            }
        }
        Ok(stored)
    }

    /// Assigns sessions to the events of `go` not yet in the store and inserts them. The events
    /// are lent out and put back, so that `go` is whole again whatever happens.
    async fn insert(&mut self, go: &mut [Waiting]) -> Result<u64, FlushError> {
        let mut stored = std::collections::HashSet::new();
        if go.iter().any(|w| w.maybe_stored) {
            let ids: Vec<uuid::Uuid> = go.iter().map(|w| w.event.event_id).collect();
            let min = go.iter().map(|w| w.event.timestamp).min().unwrap_or(0);
            let max = go.iter().map(|w| w.event.timestamp).max().unwrap_or(0);
            stored = ingest::existing_event_ids(self.store.as_ref(), &ids, min, max).await?;
            if !stored.is_empty() {
                let skipped = go.iter().filter(|w| stored.contains(&w.event.event_id)).count() as u64;
                self.metrics.replay_skipped.inc_by(skipped);
                tracing::info!(skipped, "replay: events already in the store were not inserted again");
            }
        }
        let lent: Vec<usize> = (0..go.len()).filter(|&i| !stored.contains(&go[i].event.event_id)).collect();
        let mut events: Vec<SpooledEvent> = lent.iter().map(|&i| std::mem::take(&mut go[i].event)).collect();
        let outcome = self.assign_and_insert(&mut events).await;
        for (i, event) in lent.into_iter().zip(events) {
            go[i].event = event;
        }
        outcome
    }

    /// `events` in receipt order; they keep their assigned sessions.
    async fn assign_and_insert(&mut self, events: &mut [SpooledEvent]) -> Result<u64, FlushError> {
        let needed = self.sessions.lookups_needed(events);
        let mut known = HashMap::new();
        for (day, keys) in needed {
            let latest = ingest::latest_sessions(self.store.as_ref(), day, &keys).await?;
            known.extend(latest.into_iter().map(|((site, visitor), state)| ((Arc::from(site), visitor), state)));
        }
        let assignment = self.sessions.assign(events, &known);
        // Session state first: if the event insert then fails, a replay re-derives the same ids
        // from it (see `sessions`).
        self.store.insert_rows(&assignment.states).await?;
        for chunk in events.chunks(self.max_events.max(1)) {
            // Encoded a piece at a time as the insert is sent, not all at once (see `PIECE_ROWS`).
            let mut pieces = chunk.chunks(PIECE_ROWS).map(|rows| {
                let mut data = Vec::with_capacity(rows.iter().map(SpooledEvent::encoded_len).sum());
                rows.iter().for_each(|e| e.encode(&mut data));
                data
            });
            self.store.insert_raw_pieces(&EventRow::insert_statement(), "RowBinary", &mut pieces).await?;
        }
        self.metrics.sessions_started.inc_by(assignment.sessions_started);
        Ok(events.len() as u64)
    }
}

/// Takes segments from the front while their events fit in one insert (at least one).
fn take_group(backlog: &mut VecDeque<Segment>, max_events: usize) -> Vec<Segment> {
    let mut group = Vec::new();
    let mut events = 0u64;
    while let Some(next) = backlog.front() {
        if !group.is_empty() && events + next.events > max_events as u64 {
            break;
        }
        events += next.events;
        group.extend(backlog.pop_front());
    }
    group
}

fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << failures.min(16));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(seq: u64, events: u64) -> Segment {
        Segment { seq, inflight: false, min_receipt_ms: seq, max_receipt_ms: seq, events, bytes: 0 }
    }

    #[test]
    fn a_backlog_is_merged_into_inserts_of_bounded_size() {
        let mut backlog: VecDeque<Segment> = [segment(1, 40), segment(2, 40), segment(3, 40), segment(4, 500)].into();
        let first: Vec<u64> = take_group(&mut backlog, 100).iter().map(|s| s.seq).collect();
        assert_eq!(first, vec![1, 2], "two segments fit in 100 events");
        let second: Vec<u64> = take_group(&mut backlog, 100).iter().map(|s| s.seq).collect();
        assert_eq!(second, vec![3]);
        let third: Vec<u64> = take_group(&mut backlog, 100).iter().map(|s| s.seq).collect();
        assert_eq!(third, vec![4], "an oversized segment still goes alone");
    }

    #[test]
    fn backoff_grows_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
