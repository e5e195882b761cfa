//! The daily salts of visitor hashing, shared by every collector through the store.
//!
//! Each collector keeps today's and tomorrow's salt in memory and, every minute, makes sure
//! both exist in the store (creating a random candidate if none does). When several collectors
//! race to create a day's salt, all of them use the smallest candidate; since tomorrow's is
//! created during today, every collector has read the final set long before midnight. Salts of
//! past days are dropped (the partition of a day goes once yesterday is over), after which no
//! one — the operator included — can link a visitor across days.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use larder_store::{Store, StoreError, ingest};

use crate::clock::{Clock, day_of};
use crate::visitor::Salt;

/// Today's and tomorrow's salts.
#[derive(Debug, Clone)]
pub struct SaltBook {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    salts: Arc<RwLock<HashMap<NaiveDate, Salt>>>,
}

impl SaltBook {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, salts: Arc::default() }
    }

    /// The current time, by the book's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The salt of the day that `now_ms` falls in, if loaded.
    pub fn salt_at(&self, now_ms: u64) -> Option<Salt> {
        let day = day_of(now_ms);
        self.salts.read().ok().and_then(|salts| salts.get(&day).cloned())
    }

    /// Ensures today's and tomorrow's salts exist in the store and loads them; forgets older
    /// ones in memory.
    ///
    /// # Errors
    /// Store errors (the salts already loaded stay usable).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let today = day_of(self.clock.now_ms());
        let days = [today, today.succ_opt().unwrap_or(today)];
        let mut candidates = ingest::salt_candidates(self.store.as_ref(), &days).await?;
        let mut created = false;
        for day in days {
            if !candidates.iter().any(|c| c.day == day) {
                let salt_hex = hex::encode(rand::random::<[u8; 32]>());
                ingest::add_salt_candidate(self.store.as_ref(), day, &salt_hex).await?;
                created = true;
            }
        }
        if created {
            // Read back: another collector may have added a smaller candidate meanwhile.
            candidates = ingest::salt_candidates(self.store.as_ref(), &days).await?;
        }
        let mut chosen: HashMap<NaiveDate, Salt> = HashMap::new();
        for day in days {
            let smallest = candidates.iter().filter(|c| c.day == day).map(|c| c.salt_hex.as_str()).min();
            if let Some(salt) = smallest.and_then(Salt::from_hex) {
                chosen.insert(day, salt);
            }
        }
        if let Ok(mut salts) = self.salts.write() {
            *salts = chosen;
        }
        Ok(())
    }

    /// Deletes past days' salts and session state from the store.
    ///
    /// # Errors
    /// Store errors.
    pub async fn expire(&self) -> Result<(), StoreError> {
        let today = day_of(self.clock.now_ms());
        // Yesterday is kept for events accepted just before midnight still in a spool: their
        // visitor ids are computed already, but their sessions are assigned at flush time.
        let keep_from = today.pred_opt().unwrap_or(today);
        let dropped = ingest::drop_salts_before(self.store.as_ref(), keep_from).await?;
        ingest::drop_sessions_before(self.store.as_ref(), keep_from).await?;
        for day in dropped {
            tracing::info!(%day, "salt deleted: visitors of that day can no longer be linked");
        }
        Ok(())
    }
}
