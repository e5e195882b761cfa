//! Backup and restore of a store's tables, on both engines, through the [`Store`] trait.
//!
//! A backup is a directory or a prefix in an S3-compatible bucket (see [`target`]): sealed data
//! files under `tables/` and a sealed `manifest.json` written last, so a backup without a
//! manifest is an unfinished one. Every file is sealed with the backup key (see [`seal`]) by
//! this process before it is written anywhere.
//!
//! Each table is cut into chunks along its partition key (`events`: one site's month; a table
//! partitioned by day: one day; a table without a partition key: one chunk). A chunk's file
//! (`tables/TABLE/ID.native.sealed`, its rows in ClickHouse's `Native` format, as `SELECT *`
//! returns them) is named by the engine's `cityHash64` of its partition value, and the
//! manifest records per chunk its row count and checksum (see [`summarize`]), the length of its
//! data, and the length and BLAKE3 digest of its sealed file.
//!
//! Incremental backups: given a base backup, a chunk whose row count and checksum equal the
//! base's chunk of the same id is not written again; the manifest refers to the backup that
//! holds the file (a path relative to this backup's location when both are directories or
//! prefixes of one bucket, see [`Location::reference_to`]) with the sealed file's length and
//! digest, so a base that was replaced or changed is refused. References always name the
//! backup that holds the bytes, never a backup that refers further: an incremental of an
//! incremental works, and its restore reads each file from wherever it is, without walking the
//! chain. A deletion or a retention run that touched a partition changes its chunk's checksum,
//! so that chunk is written anew and the deleted rows are not carried on.
//!
//! Rows are read through `SELECT`, not copied as parts: after a deletion the engine keeps the
//! replaced parts on disk for a while (`old_parts_lifetime`, ~8 minutes), and a copy of the
//! files could carry the deleted rows; a `SELECT` sees only what queries see.
//!
//! Restore migrates the target, requires the same schema migrations as the backup and empty
//! tables (unless forced, which truncates them), opens and checks every file (its own and its
//! bases') before inserting the first row, inserts the chunks, then checks every table's count
//! and checksum against the manifest. Format-1 backups (one file per table) still restore.
//!
//! One chunk at a time is held in memory, while it is copied or restored; tables are copied one
//! after another, not as one snapshot (a table whose rows change while it is read is read
//! again, until two listings of its chunks agree with what was read).

mod restore;
pub mod seal;
mod take;
pub mod target;

use serde::{Deserialize, Serialize};

pub use restore::{read_manifest, read_manifest_from, restore, restore_from};
pub use seal::{BackupKey, SealError};
pub use take::{BackupReport, backup, backup_to};
pub use target::{Location, S3Settings, Storage, Targets};

use crate::error::StoreError;
use crate::{Store, sql};

/// Version of the backup layout: 1 had one file per table, 2 has chunks and references.
const FORMAT: u32 = 2;
/// The manifest's name inside the backup (bound to its content by the seal).
const MANIFEST: &str = "manifest.json";
const SEALED_SUFFIX: &str = ".sealed";
/// The migration ledger is not copied: restore migrates the target and compares versions.
const LEDGER: &str = "schema_migrations";
/// Privacy: the daily salts are never backed up. They are deleted after 48 hours so that no one
/// can link a visitor across days; a backup kept longer would keep them alive. After a restore
/// the collector makes a new salt for the day. Nor are the pre-aggregated visits, which
/// restoring the events fills again.
const NOT_BACKED_UP: &[&str] =
    &[LEDGER, "salts", crate::visits::TABLE, crate::rollup::TABLE, crate::rollup::COUNTS, crate::search::rolled::TABLE];
/// Times a table's chunks are listed again when its rows changed while it was read.
const READ_ATTEMPTS: usize = 5;
/// The id of the one chunk of a table without a partition key.
pub const WHOLE_TABLE: &str = "all";

/// What a backup holds; sealed as `manifest.json.sealed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub larder_version: String,
    /// `embedded` or `server`, and the engine's version: the data is in its `Native` format.
    pub engine: String,
    pub engine_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Versions of the schema migrations applied to the store backed up.
    pub migrations: Vec<u32>,
    /// The other backups this one refers to (as in [`ChunkEntry::base`]); empty for a backup
    /// that holds every file itself.
    #[serde(default)]
    pub bases: Vec<String>,
    pub tables: Vec<TableEntry>,
}

/// One table of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub name: String,
    /// The partition key its chunks follow; empty: one chunk, [`WHOLE_TABLE`].
    pub chunk_key: String,
    /// The whole table's row count and checksum.
    #[serde(flatten)]
    pub summary: TableSummary,
    pub chunks: Vec<ChunkEntry>,
}

/// One chunk of a table: the rows of one partition value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkEntry {
    /// `cityHash64` of the partition value, 16 hex digits, or [`WHOLE_TABLE`].
    pub id: String,
    #[serde(flatten)]
    pub summary: TableSummary,
    /// The sealed file, relative to the backup that holds it.
    pub file: String,
    /// Length of the `Native` data before sealing.
    pub bytes: u64,
    /// Length and BLAKE3 digest of the sealed file; absent in format-1 backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<FileDigest>,
    /// The backup that holds the file when it is not this one: its location, relative to this
    /// backup's when possible (see [`Location::reference_to`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// What a sealed file must be: a base backup swapped for another is refused by this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub bytes: u64,
    pub blake3: String,
}

impl FileDigest {
    pub fn of(sealed: &[u8]) -> Self {
        Self { bytes: sealed.len() as u64, blake3: blake3::hash(sealed).to_hex().to_string() }
    }
}

/// A table's (or a chunk's) row count and the engine's checksum of its rows (a sum of row
/// hashes, which does not depend on the order of rows or parts, and adds up over chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableSummary {
    pub rows: u64,
    pub checksum: u64,
}

impl TableSummary {
    fn add(self, other: Self) -> Self {
        Self { rows: self.rows + other.rows, checksum: self.checksum.wrapping_add(other.checksum) }
    }
}

/// A table's chunks as the source sees them now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableChunks {
    /// The partition key the chunks follow; empty: one chunk.
    pub key: String,
    pub chunks: Vec<ChunkSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkSummary {
    pub id: String,
    #[serde(flatten)]
    pub summary: TableSummary,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bucket: {what}: {message}")]
    Bucket { what: String, message: String },
    #[error("{location:?} is not a backup location: {why}")]
    BadLocation { location: String, why: String },
    #[error("{location} already exists and is not empty; a backup never overwrites one")]
    Exists { location: String },
    #[error("{location} has no manifest: not a Larder backup, or an unfinished one")]
    NoManifest { location: String },
    #[error("the manifest {} does not decode: {message}", path.display())]
    BadManifest { path: std::path::PathBuf, message: String },
    /// The source of a backup other than a store (a running `larder serve`) failed.
    #[error("{message}")]
    Source { message: String },
    #[error("table {table:?} is not a plain identifier")]
    BadTableName { table: String },
    #[error("table {table} has no chunk {id:?}")]
    BadChunk { table: String, id: String },
    #[error("table {table} kept changing while it was read ({READ_ATTEMPTS} attempts); try again")]
    KeptChanging { table: String },
    #[error(
        "the backup was taken at schema migrations {backup:?} but the target has {target:?}: restore with the Larder version that took it, then upgrade"
    )]
    SchemaMismatch { backup: Vec<u32>, target: Vec<u32> },
    #[error(
        "the backup's tables differ from the target's: missing in the backup {missing:?}, unknown to the target {unknown:?}"
    )]
    TablesMismatch { missing: Vec<String>, unknown: Vec<String> },
    #[error(
        "the target is not empty (tables {tables:?} have rows); restore into an empty store, or force it (--force empties them first)"
    )]
    TargetNotEmpty { tables: Vec<String> },
    #[error("{} is missing: the backup is incomplete", path.display())]
    MissingFile { path: std::path::PathBuf },
    #[error(
        "{} is missing: this backup is incremental and refers to the backup at {base}, which a restore needs (every backup it refers to must be reachable)",
        path.display()
    )]
    BaseUnreachable { base: String, path: std::path::PathBuf },
    #[error(
        "{} is not the file the manifest refers to (its length or digest differs): the backup holding it was replaced or changed",
        path.display()
    )]
    Swapped { path: std::path::PathBuf },
    #[error("{} holds {found} bytes of data, the manifest says {expected}: the file was changed or truncated", path.display())]
    Size { path: std::path::PathBuf, expected: u64, found: u64 },
    #[error(
        "table {table} after restore has {found_rows} rows (checksum {found_checksum}), the backup {expected_rows} (checksum {expected_checksum})"
    )]
    Verify { table: String, expected_rows: u64, expected_checksum: u64, found_rows: u64, found_checksum: u64 },
}
/// Larder's tables in the store's database, views excluded, sorted. In cluster mode, the
/// `Distributed` tables (which read and write every shard), not the shards' local ones.
///
/// # Errors
/// As [`Store::query_raw`]; [`BackupError::BadTableName`] for a name that is not a plain identifier.
pub async fn tables(store: &dyn Store) -> Result<Vec<String>, BackupError> {
    let sql = format!(
        "SELECT name FROM system.tables WHERE database = {} AND engine NOT LIKE '%View' \
         AND name NOT LIKE '.inner%' ORDER BY name",
        sql::quote(store.database())
    );
    let out = store.query_raw(&sql, "TabSeparated").await?;
    let in_cluster = store.cluster().is_some();
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|line| !line.is_empty())
        .filter(|name| !(in_cluster && crate::cluster::is_local_table(name)))
        .map(|name| {
            if sql::is_identifier(name) {
                Ok(name.to_owned())
            } else {
                Err(BackupError::BadTableName { table: name.to_owned() })
            }
        })
        .collect()
}

/// The tables a backup copies: every table but the ledger and the salts.
async fn backed_up_tables(store: &dyn Store) -> Result<Vec<String>, BackupError> {
    Ok(tables(store).await?.into_iter().filter(|t| !NOT_BACKED_UP.contains(&t.as_str())).collect())
}

/// What `cityHash64` is given for a column of type `kind`. A NULL makes `cityHash64` NULL, so a
/// nullable column is given as `isNull(c), assumeNotNull(c)`; ClickHouse 18.16's `cityHash64`
/// takes no UUID or Decimal, so those (and arrays of them) are given as their text.
fn hash_argument(column: &str, kind: &str) -> String {
    let is_unhashable = |inner: &str| inner == "UUID" || inner.starts_with("Decimal");
    let as_text = |inner: &str, value: String| match inner.strip_prefix("Array(").and_then(|r| r.strip_suffix(')')) {
        Some(element) if is_unhashable(element) => format!("arrayMap(x -> toString(x), {value})"),
        _ if is_unhashable(inner) => format!("toString({value})"),
        _ => value,
    };
    match kind.strip_prefix("Nullable(").and_then(|rest| rest.strip_suffix(')')) {
        Some(inner) => format!("isNull({column}), {}", as_text(inner, format!("assumeNotNull({column})"))),
        None => as_text(kind, column.to_owned()),
    }
}

/// The expression that hashes one row of `table`: `cityHash64(columns…)`.
async fn row_hash(store: &dyn Store, table: &str) -> Result<String, StoreError> {
    let columns = store
        .query_raw(
            &format!(
                "SELECT name, type FROM system.columns WHERE database = {} AND table = {}",
                sql::quote(store.database()),
                sql::quote(table)
            ),
            "TabSeparated",
        )
        .await?;
    let mut hashed = Vec::new();
    for line in String::from_utf8_lossy(&columns).lines().filter(|l| !l.is_empty()) {
        let (name, kind) = line.split_once('\t').unwrap_or((line, ""));
        // Nested columns are `n.key`: plain identifiers joined by dots, quoted with backticks.
        if !name.split('.').all(sql::is_identifier) {
            return Err(StoreError::Invalid(format!("column {name:?} of {table} is not a plain name")));
        }
        hashed.push(hash_argument(&format!("`{name}`"), kind));
    }
    if hashed.is_empty() {
        return Err(StoreError::Decode(format!("table {table} has no columns")));
    }
    Ok(format!("cityHash64({})", hashed.join(", ")))
}

fn parse_summary(text: &str) -> Option<TableSummary> {
    let mut fields = text.trim().split('\t').map(str::parse::<u64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(rows)), Some(Ok(checksum)), None) => Some(TableSummary { rows, checksum }),
        _ => None,
    }
}

/// The engine's row count and checksum of `table` (a plain identifier).
///
/// The checksum is `sum(cityHash64(columns…))` over every column in table order; a nullable
/// column is hashed as `isNull(c), assumeNotNull(c)` and UUIDs and Decimals as their text, so
/// that it works on ClickHouse 18.16 and chDB alike.
///
/// # Errors
/// As [`Store::query_raw`], or [`StoreError::Decode`].
pub async fn summarize(store: &dyn Store, table: &str) -> Result<TableSummary, StoreError> {
    let sql = format!("SELECT count(), sum({}) FROM {table}", row_hash(store, table).await?);
    let out = store.query_raw(&sql, "TabSeparated").await?;
    let text = String::from_utf8_lossy(&out);
    parse_summary(&text).ok_or_else(|| StoreError::Decode(format!("unexpected table summary {text:?}")))
}

/// The partition key of `table` as the engine states it (of the shard-local table in cluster
/// mode; the `Distributed` table has none); empty when the table has none.
async fn partition_key(store: &dyn Store, table: &str) -> Result<String, StoreError> {
    let name = match store.cluster() {
        Some(_) => format!("{table}{}", crate::cluster::LOCAL_SUFFIX),
        None => table.to_owned(),
    };
    let out = store
        .query_raw(
            &format!(
                "SELECT partition_key FROM system.tables WHERE database = {} AND name = {}",
                sql::quote(store.database()),
                sql::quote(&name)
            ),
            "TabSeparated",
        )
        .await?;
    // TabSeparated escapes; a partition key has no tab, newline or backslash in our schema, and
    // one that had would only give a query the engine refuses.
    let key = String::from_utf8_lossy(&out).trim().to_owned();
    Ok(if key == "tuple()" { String::new() } else { key })
}

/// The chunks of `table` (a table a backup copies), each with its row count and checksum.
///
/// # Errors
/// [`BackupError::BadTableName`] for a table a backup does not copy; store errors.
pub async fn chunks(store: &dyn Store, table: &str) -> Result<TableChunks, BackupError> {
    if !backed_up_tables(store).await?.iter().any(|t| t == table) {
        return Err(BackupError::BadTableName { table: table.to_owned() });
    }
    let key = partition_key(store, table).await?;
    let hash = row_hash(store, table).await?;
    if key.is_empty() {
        let summary = summarize(store, table).await?;
        let chunks =
            if summary.rows == 0 { Vec::new() } else { vec![ChunkSummary { id: WHOLE_TABLE.to_owned(), summary }] };
        return Ok(TableChunks { key, chunks });
    }
    let sql =
        format!("SELECT cityHash64({key}) AS chunk, count(), sum({hash}) FROM {table} GROUP BY chunk ORDER BY chunk");
    let out = store.query_raw(&sql, "TabSeparated").await?;
    let text = String::from_utf8_lossy(&out);
    let mut chunks = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let decoded =
            line.split_once('\t').and_then(|(id, rest)| Some((id.parse::<u64>().ok()?, parse_summary(rest)?)));
        let Some((id, summary)) = decoded else {
            return Err(StoreError::Decode(format!("unexpected chunk summary {line:?}")).into());
        };
        chunks.push(ChunkSummary { id: format!("{id:016x}"), summary });
    }
    Ok(TableChunks { key, chunks })
}

/// The rows of one chunk of `table` in `Native` format.
///
/// # Errors
/// [`BackupError::BadTableName`], [`BackupError::BadChunk`] for an id that cannot name a chunk
/// of the table; store errors.
pub async fn read_chunk(store: &dyn Store, table: &str, id: &str) -> Result<Vec<u8>, BackupError> {
    if !backed_up_tables(store).await?.iter().any(|t| t == table) {
        return Err(BackupError::BadTableName { table: table.to_owned() });
    }
    let key = partition_key(store, table).await?;
    let bad = || BackupError::BadChunk { table: table.to_owned(), id: id.to_owned() };
    let condition = match (key.is_empty(), id) {
        (true, WHOLE_TABLE) => "1".to_owned(),
        (false, hex) if hex.len() == 16 => {
            let value = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
            format!("cityHash64({key}) = {value}")
        }
        _ => return Err(bad()),
    };
    Ok(store.query_raw(&format!("SELECT * FROM {table} WHERE {condition}"), "Native").await?)
}

async fn applied_migrations(store: &dyn Store) -> Result<Vec<u32>, BackupError> {
    let out = store.query_raw(&format!("SELECT version FROM {LEDGER} ORDER BY version"), "TabSeparated").await?;
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|line| !line.is_empty())
        .map(|v| v.parse().map_err(|_| StoreError::Decode(format!("unexpected migration version {v:?}")).into()))
        .collect()
}

/// What a backup is taken from, besides the rows: the engine, the schema, the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// `embedded` or `server`.
    pub engine: String,
    pub engine_version: String,
    pub migrations: Vec<u32>,
    /// The tables a backup copies, sorted.
    pub tables: Vec<String>,
}

/// Where a backup reads from: a store this process opened, or a running `larder serve` that
/// holds the embedded store (through its local channel).
#[async_trait::async_trait]
pub trait BackupSource: Send + Sync {
    async fn describe(&self) -> Result<SourceInfo, BackupError>;
    /// A table's chunks, each with its row count and checksum, as they are now.
    async fn chunks(&self, table: &str) -> Result<TableChunks, BackupError>;
    /// One chunk's rows in `Native` format.
    async fn read_chunk(&self, table: &str, id: &str) -> Result<Vec<u8>, BackupError>;
}

/// A store this process opened, as a backup's source.
pub struct StoreSource<'a>(pub &'a dyn Store);

impl std::fmt::Debug for StoreSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSource")
    }
}

#[async_trait::async_trait]
impl BackupSource for StoreSource<'_> {
    async fn describe(&self) -> Result<SourceInfo, BackupError> {
        describe(self.0).await
    }

    async fn chunks(&self, table: &str) -> Result<TableChunks, BackupError> {
        chunks(self.0, table).await
    }

    async fn read_chunk(&self, table: &str, id: &str) -> Result<Vec<u8>, BackupError> {
        read_chunk(self.0, table, id).await
    }
}

/// The store's engine, schema migrations and the tables a backup copies.
///
/// # Errors
/// As [`tables`].
pub async fn describe(store: &dyn Store) -> Result<SourceInfo, BackupError> {
    Ok(SourceInfo {
        engine: match store.kind() {
            crate::BackendKind::Embedded => "embedded".into(),
            crate::BackendKind::Server => "server".into(),
        },
        engine_version: store.version().await?.text,
        migrations: applied_migrations(store).await?,
        tables: backed_up_tables(store).await?,
    })
}
