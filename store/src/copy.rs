//! Copying every table of one store into another: `larder migrate-to-cluster` moves an embedded
//! store onto a ClickHouse cluster with it.
//!
//! Both stores are migrated first, so they have the same tables. The target must be empty:
//! a copy is never applied twice (a second run is refused before it writes anything, and a run
//! that stopped halfway is redone into a fresh database). Rows go as `RowBinary` with an
//! explicit column list, which reads the same on chDB 26 and ClickHouse 18.16
//! (`LowCardinality(String)` is a `String` on the wire). `events` goes one day at a time, so
//! memory holds at most one day's events; in cluster mode through the `Distributed` table,
//! which sends each visitor's events to its shard. Every table is checked afterwards: the
//! same row count on both sides, and the same checksum (see [`backup::summarize`]) when both
//! run the same engine version (chDB 26 and ClickHouse 18.16 hash some column types
//! differently, so between them only the counts compare).
//!
//! What is not copied: the migration ledger (each side has its own), the collectors'
//! pending snapshots (they describe spools of the process that ran on the source, which must
//! be stopped for the copy) and the pre-aggregated visits (the target's view computes them
//! from the events copied).

use std::time::Instant;

use crate::backup::{self, BackupError, TableSummary};
use crate::error::StoreError;
use crate::{Store, migrate, sql};

/// Tables that are not copied (see the module documentation).
const NOT_COPIED: &[&str] = &[
    "schema_migrations",
    "collector_pending",
    crate::visits::TABLE,
    crate::rollup::TABLE,
    crate::rollup::COUNTS,
    crate::search::rolled::TABLE,
];

/// Why a copy did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the target already has rows in {}: a copy goes into an empty store only (drop the target's database to copy again)",
        tables.join(", ")
    )]
    TargetNotEmpty { tables: Vec<String> },
    #[error("the target has no table {table} (is it migrated by the same Larder version?)")]
    MissingTable { table: String },
    #[error(
        "table {table} differs after the copy: the source has {source_rows} rows (checksum {source_checksum}), the target {target_rows} (checksum {target_checksum})"
    )]
    Verify { table: String, source_rows: u64, source_checksum: u64, target_rows: u64, target_checksum: u64 },
}

impl From<BackupError> for CopyError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Store(e) => Self::Store(e),
            other => Self::Store(StoreError::Invalid(other.to_string())),
        }
    }
}

/// One table copied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    pub table: String,
    pub rows: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyReport {
    pub tables: Vec<CopiedTable>,
    pub seconds: f64,
}

impl CopyReport {
    /// Rows copied over every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Migrates both stores, then copies every table of `from` into `to` and checks each.
///
/// # Errors
/// [`CopyError::TargetNotEmpty`] before anything is written when `to` has rows; store errors;
/// [`CopyError::Verify`] when a table's rows differ afterwards.
pub async fn copy(from: &dyn Store, to: &dyn Store) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    migrate::migrate(from).await?;
    migrate::migrate(to).await?;
    let tables: Vec<String> =
        backup::tables(from).await?.into_iter().filter(|t| !NOT_COPIED.contains(&t.as_str())).collect();
    let target_tables = backup::tables(to).await?;
    if let Some(table) = tables.iter().find(|t| !target_tables.contains(t)) {
        return Err(CopyError::MissingTable { table: table.clone() });
    }
    let mut not_empty = Vec::new();
    for table in &tables {
        if crate::deletion::count(to, &format!("SELECT count() FROM {table}")).await? > 0 {
            not_empty.push(table.clone());
        }
    }
    if !not_empty.is_empty() {
        return Err(CopyError::TargetNotEmpty { tables: not_empty });
    }
    let same_engine = from.version().await? == to.version().await?;
    let mut report = CopyReport { tables: Vec::new(), seconds: 0.0 };
    for table in tables {
        let columns = columns(from, &table).await?;
        let list = columns.join(", ");
        let insert = format!("INSERT INTO {table} ({list})");
        let chunks = if table == "events" { event_days(from).await? } else { vec!["1".to_owned()] };
        for condition in chunks {
            let rows = from.query_raw(&format!("SELECT {list} FROM {table} WHERE {condition}"), "RowBinary").await?;
            if !rows.is_empty() {
                to.insert_raw(&insert, "RowBinary", rows).await?;
            }
        }
        let (source, target): (TableSummary, TableSummary) =
            (backup::summarize(from, &table).await?, backup::summarize(to, &table).await?);
        if source.rows != target.rows || (same_engine && source != target) {
            return Err(CopyError::Verify {
                table,
                source_rows: source.rows,
                source_checksum: source.checksum,
                target_rows: target.rows,
                target_checksum: target.checksum,
            });
        }
        tracing::info!(table, rows = source.rows, "table copied");
        report.tables.push(CopiedTable { table, rows: source.rows });
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The columns of `table` in `store`, in table order, quoted for a column list.
async fn columns(store: &dyn Store, table: &str) -> Result<Vec<String>, StoreError> {
    let out = store
        .query_raw(
            &format!(
                "SELECT name FROM system.columns WHERE database = {} AND table = {}",
                sql::quote(store.database()),
                sql::quote(table)
            ),
            "TabSeparated",
        )
        .await?;
    let names: Vec<String> =
        String::from_utf8_lossy(&out).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if names.is_empty() {
        return Err(StoreError::Decode(format!("table {table} has no columns")));
    }
    names
        .into_iter()
        .map(|name| {
            // Nested columns are `n.key`: plain identifiers joined by dots, quoted with backticks.
            if name.split('.').all(sql::is_identifier) {
                Ok(format!("`{name}`"))
            } else {
                Err(StoreError::Invalid(format!("column {name:?} of {table} is not a plain name")))
            }
        })
        .collect()
}

/// One condition per day that has events, for copying them a day at a time.
async fn event_days(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Day {
        day: u32,
    }
    let days: Vec<Day> =
        store.fetch_json("SELECT DISTINCT toYYYYMMDD(timestamp) AS day FROM events ORDER BY day").await?;
    Ok(days.into_iter().map(|d| format!("toYYYYMMDD(timestamp) = {}", d.day)).collect())
}
