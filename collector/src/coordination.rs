//! Agreement between collectors on visits, through the store, without talking to each other.
//!
//! A visit depends on the order of one visitor's events. Behind a load balancer that is not
//! sticky, a visitor's requests reach several collectors, each with its own spool. So each
//! collector publishes a *pending snapshot*: every event it accepted before `as_of` is either
//! in the store or listed, as a visitor key with the receipt of that visitor's oldest pending
//! event. A collector assigns a session to its event `e` of visitor `v` only when every live
//! peer's snapshot covers `e`'s receipt and lists no earlier pending event of `v` — then all of
//! `v`'s earlier events are in the store's session state, whoever accepted them. Order is by
//! (receipt, collector id), so of two pending events one is always first and can go: no
//! deadlock. Events held back stay in memory and in their spool segment until they can go.
//! A peer whose heartbeat is older than `peer_timeout` is presumed gone and not waited for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use larder_store::Store;
use larder_store::ingest::{self, PendingSnapshot};

use crate::clock::Clock;
use crate::spool;

/// Publishes this collector's snapshot and reads its peers'.
#[derive(Debug, Clone)]
pub struct Coordinator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    collector_id: String,
    peer_timeout: Duration,
}

/// A peer's view, indexed for the per-event check.
#[derive(Debug, Clone)]
pub struct Peer {
    pub id: String,
    pub as_of_ms: u64,
    pub oldest: HashMap<u64, u64>,
}

impl Coordinator {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, collector_id: String, peer_timeout: Duration) -> Self {
        Self { store, clock, collector_id, peer_timeout }
    }

    pub fn collector_id(&self) -> &str {
        &self.collector_id
    }

    /// Publishes what this collector still holds.
    ///
    /// # Errors
    /// Store errors.
    pub async fn publish(&self, snapshot: &spool::PendingSnapshot) -> Result<(), larder_store::StoreError> {
        let row = PendingSnapshot {
            collector_id: self.collector_id.clone(),
            as_of_ms: snapshot.as_of_ms,
            heartbeat_ms: self.clock.now_ms(),
            keys: snapshot.keys.iter().map(|(k, _)| *k).collect(),
            receipts: snapshot.keys.iter().map(|(_, r)| *r).collect(),
        };
        self.store.insert_rows(&[row]).await
    }

    /// The live peers' latest snapshots.
    ///
    /// # Errors
    /// Store errors.
    pub async fn peers(&self) -> Result<Vec<Peer>, larder_store::StoreError> {
        let timeout_ms = u64::try_from(self.peer_timeout.as_millis()).unwrap_or(u64::MAX);
        let since = self.clock.now_ms().saturating_sub(timeout_ms);
        let snapshots = ingest::pending_snapshots(self.store.as_ref(), since).await?;
        Ok(snapshots
            .into_iter()
            .filter(|s| s.collector_id != self.collector_id)
            .map(|s| Peer {
                id: s.collector_id,
                as_of_ms: s.as_of_ms,
                oldest: s.keys.into_iter().zip(s.receipts).collect(),
            })
            .collect())
    }

    /// Forgets collectors silent for a day and compacts the table.
    ///
    /// # Errors
    /// Store errors.
    pub async fn compact(&self) -> Result<(), larder_store::StoreError> {
        ingest::compact_snapshots(self.store.as_ref(), self.clock.now_ms().saturating_sub(86_400_000)).await
    }
}

/// Whether this collector (`own_id`) may assign a session to an event of visitor `key`
/// accepted at `receipt_ms`, given its live peers.
pub fn may_assign(peers: &[Peer], own_id: &str, key: u64, receipt_ms: u64) -> bool {
    let mine = (receipt_ms, own_id);
    peers.iter().all(|peer| {
        let covered = mine < (peer.as_of_ms, peer.id.as_str());
        let earlier_pending = peer.oldest.get(&key).is_some_and(|oldest| (*oldest, peer.id.as_str()) < mine);
        covered && !earlier_pending
    })
}

/// Whether every peer's snapshot covers receipts up to `receipt_ms`.
pub fn all_cover(peers: &[Peer], own_id: &str, receipt_ms: u64) -> bool {
    peers.iter().all(|p| (receipt_ms, own_id) < (p.as_of_ms, p.id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, as_of: u64, pending: &[(u64, u64)]) -> Peer {
        Peer { id: id.into(), as_of_ms: as_of, oldest: pending.iter().copied().collect() }
    }

    #[test]
    fn an_event_waits_until_every_peer_covers_it() {
        let peers = [peer("a", 100, &[]), peer("c", 300, &[])];
        assert!(may_assign(&peers, "b", 7, 99), "both peers cover 99");
        assert!(!may_assign(&peers, "b", 7, 150), "peer a's snapshot does not cover 150 yet");
        assert!(may_assign(&[], "b", 7, 1_000), "alone, nothing to wait for");
    }

    #[test]
    fn an_event_waits_for_a_peers_earlier_event_of_the_same_visitor_only() {
        let peers = [peer("a", 1_000, &[(7, 100), (8, 900)])];
        assert!(!may_assign(&peers, "b", 7, 500), "visitor 7 has an earlier event at peer a");
        assert!(may_assign(&peers, "b", 8, 500), "peer a's event of visitor 8 is later");
        assert!(may_assign(&peers, "b", 9, 500), "another visitor is not held up");
    }

    #[test]
    fn ties_are_broken_by_collector_id_so_one_side_always_goes_first() {
        let from_b = [peer("b", 1_000, &[(7, 100)])];
        let from_a = [peer("a", 1_000, &[(7, 100)])];
        assert!(may_assign(&from_b, "a", 7, 100), "a goes first on a tie");
        assert!(!may_assign(&from_a, "b", 7, 100), "b waits for a");
    }
}
