//! The state ingestion keeps in ClickHouse so that any number of collectors agree without
//! talking to each other: the daily salts, each visitor's last session, and what each collector
//! still holds in its spool. Also the lookup that makes a replayed spool segment idempotent.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::error::StoreError;
use crate::rowbinary::{Reader, Row, Writer};
use crate::{Store, sql};

/// Keys per lookup query: ClickHouse refuses queries over 256 KiB (`max_query_size`).
const KEYS_PER_QUERY: usize = 2_000;

fn day_literal(day: NaiveDate) -> String {
    sql::quote(&day.format("%Y-%m-%d").to_string())
}

/// Days since 1970-01-01, as ClickHouse's `Date` stores them.
fn day_number(day: NaiveDate) -> u16 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    u16::try_from((day - epoch).num_days()).unwrap_or(0)
}

fn day_from_number(n: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Duration::days(i64::from(n))
}

/// Drops every partition of a day-partitioned table before `day`.
async fn drop_days_before(
    store: &dyn Store,
    table: &'static str,
    day: NaiveDate,
) -> Result<Vec<NaiveDate>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Day {
        day: String,
    }
    let days: Vec<Day> = store
        .fetch_json(&format!(
            "SELECT DISTINCT toString(day) AS day FROM {table} WHERE day < {} ORDER BY day",
            day_literal(day)
        ))
        .await?;
    let mut dropped = Vec::new();
    for Day { day } in days {
        let parsed = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| StoreError::Decode(e.to_string()))?;
        let target = crate::cluster::local_table(store, table);
        store.execute(&format!("ALTER TABLE {target} DROP PARTITION {}", day_literal(parsed))).await?;
        dropped.push(parsed);
    }
    Ok(dropped)
}

// ---------------------------------------------------------------------------------------------
// Salts

/// A salt candidate for a day, as stored (64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltCandidate {
    pub day: NaiveDate,
    pub salt_hex: String,
}

/// Every salt candidate stored for `days`.
///
/// # Errors
/// Store errors.
pub async fn salt_candidates(store: &dyn Store, days: &[NaiveDate]) -> Result<Vec<SaltCandidate>, StoreError> {
    if days.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(serde::Deserialize)]
    struct Candidate {
        day: String,
        salt: String,
    }
    let list: Vec<String> = days.iter().map(|d| day_literal(*d)).collect();
    let rows: Vec<Candidate> = store
        .fetch_json(&format!(
            "SELECT toString(day) AS day, salt FROM salts WHERE day IN ({}) ORDER BY day, salt",
            list.join(", ")
        ))
        .await?;
    rows.into_iter()
        .map(|c| {
            let day = NaiveDate::parse_from_str(&c.day, "%Y-%m-%d").map_err(|e| StoreError::Decode(e.to_string()))?;
            Ok(SaltCandidate { day, salt_hex: c.salt })
        })
        .collect()
}

/// Stores a salt candidate for `day`.
///
/// # Errors
/// Store errors.
pub async fn add_salt_candidate(store: &dyn Store, day: NaiveDate, salt_hex: &str) -> Result<(), StoreError> {
    store
        .execute(&format!(
            "INSERT INTO salts (day, salt, created_at) VALUES ({}, {}, now())",
            day_literal(day),
            sql::quote(salt_hex)
        ))
        .await
}

/// Deletes the salts of every day before `day` (whole partitions).
///
/// # Errors
/// Store errors.
pub async fn drop_salts_before(store: &dyn Store, day: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
    drop_days_before(store, "salts", day).await
}

// ---------------------------------------------------------------------------------------------
// Visitor sessions

/// A visitor's current session, as the collectors share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub session_id: u64,
    pub session_start_ms: u64,
    pub last_seen_ms: u64,
}

/// One row of `visitor_sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub day: NaiveDate,
    pub site: String,
    pub visitor_id: u64,
    pub state: SessionState,
}

impl Row for SessionRow {
    const TABLE: &'static str = "visitor_sessions";
    const COLUMNS: &'static [&'static str] =
        &["day", "site", "visitor_id", "session_id", "session_start_ms", "last_seen_ms"];

    fn encode(&self, w: &mut Writer) {
        w.u16(day_number(self.day));
        w.str(&self.site);
        w.u64(self.visitor_id);
        w.u64(self.state.session_id);
        w.u64(self.state.session_start_ms);
        w.u64(self.state.last_seen_ms);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            day: day_from_number(r.u16()?),
            site: r.string()?,
            visitor_id: r.u64()?,
            state: SessionState { session_id: r.u64()?, session_start_ms: r.u64()?, last_seen_ms: r.u64()? },
        })
    }
}

/// The latest session of each (site, visitor) of `day`, for those that have one.
///
/// # Errors
/// Store errors.
pub async fn latest_sessions<S: AsRef<str> + Sync>(
    store: &dyn Store,
    day: NaiveDate,
    keys: &[(S, u64)],
) -> Result<HashMap<(String, u64), SessionState>, StoreError> {
    // Aliases differ from the column names: ClickHouse would otherwise read `last_seen_ms`
    // inside `argMax` as the alias of `max(last_seen_ms)`.
    #[derive(serde::Deserialize)]
    struct Latest {
        site: String,
        visitor_id: u64,
        latest_session: u64,
        latest_start: u64,
        latest_seen: u64,
    }
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let tuples: Vec<String> =
            chunk.iter().map(|(site, visitor)| format!("({}, {visitor})", sql::quote(site.as_ref()))).collect();
        let rows: Vec<Latest> = store
            .fetch_json(&format!(
                "SELECT site, visitor_id, argMax(session_id, last_seen_ms) AS latest_session, \
                 argMax(session_start_ms, last_seen_ms) AS latest_start, max(last_seen_ms) AS latest_seen \
                 FROM visitor_sessions WHERE day = {} AND (site, visitor_id) IN ({}) GROUP BY site, visitor_id",
                day_literal(day),
                tuples.join(", ")
            ))
            .await?;
        for row in rows {
            out.insert(
                (row.site, row.visitor_id),
                SessionState {
                    session_id: row.latest_session,
                    session_start_ms: row.latest_start,
                    last_seen_ms: row.latest_seen,
                },
            );
        }
    }
    Ok(out)
}

/// Deletes the session state of every day before `day`.
///
/// # Errors
/// Store errors.
pub async fn drop_sessions_before(store: &dyn Store, day: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
    drop_days_before(store, "visitor_sessions", day).await
}

// ---------------------------------------------------------------------------------------------
// Collector pending snapshots

/// What a collector still holds in its spool, as of an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSnapshot {
    pub collector_id: String,
    /// Every event the collector accepted before this instant (ms since the epoch) is either
    /// in the store or listed here.
    pub as_of_ms: u64,
    /// When it published (ms since the epoch): a stale heartbeat means the collector is gone.
    pub heartbeat_ms: u64,
    /// Hashes of (site, visitor) with unflushed events, and the receipt of the oldest of each.
    pub keys: Vec<u64>,
    pub receipts: Vec<u64>,
}

impl Row for PendingSnapshot {
    const TABLE: &'static str = "collector_pending";
    const COLUMNS: &'static [&'static str] =
        &["collector_id", "as_of_ms", "heartbeat_ms", "pending_keys", "pending_receipts"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.collector_id);
        w.u64(self.as_of_ms);
        w.u64(self.heartbeat_ms);
        w.array(&self.keys, |w, k| w.u64(*k));
        w.array(&self.receipts, |w, r| w.u64(*r));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            collector_id: r.string()?,
            as_of_ms: r.u64()?,
            heartbeat_ms: r.u64()?,
            keys: r.array(Reader::u64)?,
            receipts: r.array(Reader::u64)?,
        })
    }
}

/// The latest snapshot of every collector that published since `since_ms`.
///
/// # Errors
/// Store errors.
pub async fn pending_snapshots(store: &dyn Store, since_ms: u64) -> Result<Vec<PendingSnapshot>, StoreError> {
    latest_snapshots(store, &format!("heartbeat_ms >= {since_ms}")).await
}

async fn latest_snapshots(store: &dyn Store, condition: &str) -> Result<Vec<PendingSnapshot>, StoreError> {
    // The inner aliases differ from the column names: ClickHouse would otherwise read
    // `heartbeat_ms` inside `argMax` as the alias of `max(heartbeat_ms)`.
    store
        .fetch_rows(&format!(
            "FROM (SELECT collector_id, argMax(as_of_ms, heartbeat_ms) AS latest_as_of, \
             max(heartbeat_ms) AS latest_heartbeat, argMax(pending_keys, heartbeat_ms) AS latest_keys, \
             argMax(pending_receipts, heartbeat_ms) AS latest_receipts FROM collector_pending GROUP BY collector_id) \
             ARRAY JOIN [latest_as_of] AS as_of_ms, [latest_heartbeat] AS heartbeat_ms, \
             [latest_keys] AS pending_keys, [latest_receipts] AS pending_receipts \
             WHERE {condition} ORDER BY collector_id"
        ))
        .await
}

/// Collapses the snapshot history and forgets collectors silent since before `before_ms`.
///
/// # Errors
/// Store errors.
pub async fn compact_snapshots(store: &dyn Store, before_ms: u64) -> Result<(), StoreError> {
    let stale = latest_snapshots(store, &format!("heartbeat_ms < {before_ms}")).await?;
    if !stale.is_empty() {
        let ids: Vec<String> = stale.into_iter().map(|w| w.collector_id).collect();
        let table = crate::cluster::local_table(store, "collector_pending");
        store.execute(&format!("ALTER TABLE {table} DELETE WHERE collector_id IN {}", in_list(&ids))).await?;
    }
    if store.cluster().is_some() {
        // 18.16 fails `OPTIMIZE … ON CLUSTER` on a replicated table with nothing to merge (the
        // shards that hold none of it); reads take the latest row anyway, and the engine's own
        // merges collapse the history in the background.
        return Ok(());
    }
    store.execute("OPTIMIZE TABLE collector_pending FINAL").await
}

fn in_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| sql::quote(v)).collect();
    format!("({})", quoted.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Idempotent replay

/// Which of `ids` are already in `events` (events stamped between the given seconds).
///
/// # Errors
/// Store errors.
pub async fn existing_event_ids(
    store: &dyn Store,
    ids: &[uuid::Uuid],
    min_timestamp: u32,
    max_timestamp: u32,
) -> Result<HashSet<uuid::Uuid>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Id {
        event_id: uuid::Uuid,
    }
    let mut found = HashSet::new();
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        let list: Vec<String> = chunk.iter().map(|id| format!("'{id}'")).collect();
        let rows: Vec<Id> = store
            .fetch_json(&format!(
                "SELECT event_id FROM events WHERE timestamp BETWEEN toDateTime({min_timestamp}, 'UTC') \
                 AND toDateTime({max_timestamp}, 'UTC') AND event_id IN ({})",
                list.join(", ")
            ))
            .await?;
        found.extend(rows.into_iter().map(|r| r.event_id));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_map_to_clickhouse_day_numbers() {
        for (day, n) in [("1970-01-01", 0u16), ("2026-11-24", 20_781)] {
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_default();
            assert_eq!(day_number(day), n, "{day}");
            assert_eq!(day_from_number(n), day, "{n}");
        }
    }
}
