//! Sessions: a visit is a visitor's run of events with no gap longer than the session timeout.
//!
//! The batcher assigns them at flush time, in receipt order, from the visitor's last known
//! session: its own cache, or the shared `visitor_sessions` state in the store when the cache
//! cannot be trusted (a miss, or — with peers — a stale entry, since a peer may have seen the
//! visitor since). A new session's id is a hash of (site, visitor, start), so every collector
//! that starts it computes the same id.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use chrono::NaiveDate;
use larder_store::ingest::{SessionRow, SessionState};
use lru::LruCache;

use crate::clock::day_of;
use crate::spool::SpooledEvent;
use crate::visitor::session_id;

/// The key of a visitor's session state: the site (shared with the events, not copied per
/// event) and the visitor.
pub type VisitorKey = (Arc<str>, u64);

/// Assigns session ids; remembers recent visitors.
#[derive(Debug)]
pub struct SessionAssigner {
    timeout_ms: u64,
    /// Grows with the visitors seen, up to `capacity`: a cache made at its full size would hold
    /// ~17 MB of empty table from the start.
    cache: LruCache<VisitorKey, SessionState>,
    capacity: NonZeroUsize,
    /// With peers, a cached entry older than the timeout may be outdated.
    has_peers: bool,
}

/// What an assignment produced.
#[derive(Debug, Default)]
pub struct Assignment {
    /// The visitors' new states, to write to `visitor_sessions`.
    pub states: Vec<SessionRow>,
    /// How many events started a new visit.
    pub sessions_started: u64,
}

impl SessionAssigner {
    /// `capacity` bounds the cache (visitors remembered).
    pub fn new(timeout_ms: u64, capacity: usize, has_peers: bool) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { timeout_ms, cache: LruCache::unbounded(), capacity, has_peers }
    }

    /// The visitors whose state must be read from the store before [`Self::assign`], by day.
    pub fn lookups_needed(&self, events: &[SpooledEvent]) -> HashMap<NaiveDate, Vec<VisitorKey>> {
        let mut needed: HashMap<NaiveDate, Vec<VisitorKey>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for event in events {
            let key = (Arc::clone(&event.site), event.visitor_id);
            if !seen.insert(key.clone()) {
                continue;
            }
            let trusted = match self.cache.peek(&key) {
                None => false,
                Some(state) => {
                    !self.has_peers || event.receipt_ms.saturating_sub(state.last_seen_ms) <= self.timeout_ms
                }
            };
            if !trusted {
                needed.entry(day_of(event.receipt_ms)).or_default().push(key);
            }
        }
        needed
    }

    /// Sets `session_id` on every event (sorted here by receipt time) given the store's states.
    pub fn assign(&mut self, events: &mut [SpooledEvent], stored: &HashMap<VisitorKey, SessionState>) -> Assignment {
        events.sort_by_key(|e| e.receipt_ms);
        let mut touched: HashMap<VisitorKey, (NaiveDate, SessionState)> = HashMap::new();
        let mut started = 0;
        for event in events.iter_mut() {
            let key = (Arc::clone(&event.site), event.visitor_id);
            let known = [self.cache.peek(&key).copied(), stored.get(&key).copied()]
                .into_iter()
                .flatten()
                .max_by_key(|s| s.last_seen_ms);
            let state = match known {
                // A receipt before the last seen one (a peer got ahead) continues the visit too.
                Some(s) if event.receipt_ms.saturating_sub(s.last_seen_ms) <= self.timeout_ms => {
                    SessionState { last_seen_ms: s.last_seen_ms.max(event.receipt_ms), ..s }
                }
                _ => {
                    started += 1;
                    SessionState {
                        session_id: session_id(&key.0, key.1, event.receipt_ms),
                        session_start_ms: event.receipt_ms,
                        last_seen_ms: event.receipt_ms,
                    }
                }
            };
            event.session_id = state.session_id;
            if self.cache.len() >= self.capacity.get() && !self.cache.contains(&key) {
                self.cache.pop_lru();
            }
            self.cache.put(key.clone(), state);
            touched.insert(key, (day_of(event.receipt_ms), state));
        }
        let states = touched
            .into_iter()
            .map(|((site, visitor_id), (day, state))| SessionRow { day, site: site.to_string(), visitor_id, state })
            .collect();
        Assignment { states, sessions_started: started }
    }
}

#[cfg(test)]
mod tests {
    use larder_store::rows::EventRow;

    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_790_000_000_000;

    fn event(visitor: u64, receipt_ms: u64) -> SpooledEvent {
        let row = EventRow { site: "a.example".into(), visitor_id: visitor, ..EventRow::default() };
        SpooledEvent::from_row(receipt_ms, &row).unwrap_or_else(|e| panic!("{e}"))
    }

    fn sessions_of(events: &[SpooledEvent]) -> Vec<u64> {
        events.iter().map(|e| e.session_id).collect()
    }

    #[test]
    fn a_gap_longer_than_the_timeout_starts_a_new_visit() {
        let mut assigner = SessionAssigner::new(30 * MIN, 100, false);
        let mut events = vec![event(1, T0), event(1, T0 + 29 * MIN), event(1, T0 + 58 * MIN), event(1, T0 + 89 * MIN)];
        let out = assigner.assign(&mut events, &HashMap::new());
        let ids = sessions_of(&events);
        assert_eq!(ids[0], ids[1], "29 minutes: same visit");
        assert_eq!(ids[1], ids[2], "29 minutes after the last event: still the same visit");
        assert_ne!(ids[2], ids[3], "31 minutes of inactivity: a new visit");
        assert_eq!(out.sessions_started, 2);
        assert_eq!(ids[0], session_id("a.example", 1, T0), "the id derives from the start");
    }

    #[test]
    fn visitors_are_separate_and_events_are_taken_in_receipt_order() {
        let mut assigner = SessionAssigner::new(30 * MIN, 100, false);
        let mut events = vec![event(2, T0 + 5 * MIN), event(1, T0), event(2, T0)];
        assigner.assign(&mut events, &HashMap::new());
        let by: Vec<(u64, u64)> = events.iter().map(|e| (e.visitor_id, e.session_id)).collect();
        assert_eq!(by[0], (1, session_id("a.example", 1, T0)));
        assert_eq!(by[1], (2, session_id("a.example", 2, T0)));
        assert_eq!(by[2], (2, session_id("a.example", 2, T0)), "continues visitor 2's visit");
    }

    #[test]
    fn a_stored_state_continues_a_visit_another_collector_began() {
        let mut assigner = SessionAssigner::new(30 * MIN, 100, true);
        let mut events = vec![event(1, T0 + 10 * MIN)];
        let lookups = assigner.lookups_needed(&events);
        assert_eq!(lookups.values().map(Vec::len).sum::<usize>(), 1, "an unknown visitor is looked up");
        let peer = SessionState { session_id: 42, session_start_ms: T0, last_seen_ms: T0 + 5 * MIN };
        let stored = HashMap::from([((Arc::from("a.example"), 1), peer)]);
        let out = assigner.assign(&mut events, &stored);
        assert_eq!(events[0].session_id, 42);
        assert_eq!(out.states[0].state, SessionState { last_seen_ms: T0 + 10 * MIN, ..peer });
        assert_eq!(out.sessions_started, 0);
    }

    #[test]
    fn with_peers_a_stale_cache_entry_is_checked_against_the_store() {
        let mut alone = SessionAssigner::new(30 * MIN, 100, false);
        let mut with_peers = SessionAssigner::new(30 * MIN, 100, true);
        for assigner in [&mut alone, &mut with_peers] {
            assigner.assign(&mut [event(1, T0)], &HashMap::new());
        }
        let fresh = [event(1, T0 + MIN)];
        let stale = [event(1, T0 + 31 * MIN)];
        assert!(alone.lookups_needed(&stale).is_empty(), "alone, the cache is the whole truth");
        assert!(with_peers.lookups_needed(&fresh).is_empty(), "a recent entry is enough even with peers");
        assert!(!with_peers.lookups_needed(&stale).is_empty(), "a peer may have seen the visitor since");
    }

    #[test]
    fn the_cache_keeps_the_most_recent_visitors_up_to_its_capacity() {
        let mut assigner = SessionAssigner::new(30 * MIN, 2, false);
        assigner.assign(&mut [event(1, T0), event(2, T0 + 1), event(1, T0 + 2)], &HashMap::new());
        assigner.assign(&mut [event(3, T0 + 3)], &HashMap::new());
        assert_eq!(assigner.cache.len(), 2, "never more than the capacity");
        let later = |visitor| [event(visitor, T0 + MIN)];
        assert!(assigner.lookups_needed(&later(2)).values().any(|keys| keys.iter().any(|k| k.1 == 2)), "evicted");
        assert!(assigner.lookups_needed(&later(1)).is_empty(), "seen after visitor 2: kept");
        assert!(assigner.lookups_needed(&later(3)).is_empty(), "the newest: kept");
    }

    #[test]
    fn assigning_the_same_events_again_gives_the_same_ids() {
        let mut assigner = SessionAssigner::new(30 * MIN, 100, false);
        let mut first = vec![event(1, T0), event(1, T0 + 40 * MIN)];
        assigner.assign(&mut first, &HashMap::new());
        let mut again = vec![event(1, T0), event(1, T0 + 40 * MIN)];
        assigner.assign(&mut again, &HashMap::new());
        assert_eq!(sessions_of(&first)[1], sessions_of(&again)[1], "a retried flush keeps its ids");
    }
}
