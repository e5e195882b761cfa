//! Backup and restore of a store's tables, on both engines, through the [`Store`] trait.
//!
//! A backup is a directory: one sealed file per table (its rows in ClickHouse's `Native`
//! format, as `SELECT *` returns them) under `tables/`, and a sealed `manifest.json` written
//! last, so a directory without a manifest is an unfinished backup. The manifest records the
//! Larder version, the schema migrations applied, and per table the row count, a checksum the
//! engine computes (`sum(cityHash64(…))` of every column) and the byte length of the data.
//! Every file is sealed with the backup key (see [`seal`]). The rows come from a store this
//! process opened, or from a running `larder serve` that holds the embedded store (a
//! [`BackupSource`]); the files are always sealed and written by the caller's process.
//!
//! Rows are read through `SELECT`, not copied as parts: after a deletion the engine keeps the
//! replaced parts on disk for a while (`old_parts_lifetime`, ~8 minutes), and a copy of the
//! files could carry the deleted rows; a `SELECT` sees only what queries see.
//!
//! Restore migrates the target, requires the same schema migrations as the backup and empty
//! tables (unless forced, which truncates them), inserts each table's rows back and then checks
//! every table's count and checksum against the manifest.
//!
//! Each table is held in memory while it is copied; tables are copied one after another, not
//! as one snapshot (a table whose rows change while it is read is read again).

pub mod seal;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use seal::{BackupKey, SealError};

use crate::error::StoreError;
use crate::{Store, migrate, sql};

/// Version of the backup layout.
const FORMAT: u32 = 1;
/// The manifest's name inside the backup (bound to its content by the seal).
const MANIFEST: &str = "manifest.json";
const SEALED_SUFFIX: &str = ".sealed";
/// The migration ledger is not copied: restore migrates the target and compares versions.
const LEDGER: &str = "schema_migrations";
/// Privacy: the daily salts are never backed up. They are deleted after 48 hours so that no one
/// can link a visitor across days; a backup kept longer would keep them alive. After a restore
/// the collector makes a new salt for the day. Nor are the pre-aggregated visits, which
/// restoring the events fills again.
const NOT_BACKED_UP: &[&str] = &[LEDGER, "salts", crate::visits::TABLE];
/// Times a table is read again when its rows changed while it was read.
const READ_ATTEMPTS: usize = 5;

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
    pub tables: Vec<TableEntry>,
}

/// One table of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub name: String,
    /// The sealed file, relative to the backup directory.
    pub file: String,
    #[serde(flatten)]
    pub summary: TableSummary,
    /// Length of the `Native` data before sealing.
    pub bytes: u64,
}

/// A table's row count and the engine's checksum of its rows (a sum of row hashes, which
/// does not depend on the order of rows or parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    pub rows: u64,
    pub checksum: u64,
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
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists and is not empty; a backup never overwrites one", path.display())]
    Exists { path: PathBuf },
    #[error("{} has no manifest: not a Larder backup, or an unfinished one", path.display())]
    NoManifest { path: PathBuf },
    #[error("the manifest {} does not decode: {message}", path.display())]
    BadManifest { path: PathBuf, message: String },
    /// The source of a backup other than a store (a running `larder serve`) failed.
    #[error("{message}")]
    Source { message: String },
    #[error("table {table:?} is not a plain identifier")]
    BadTableName { table: String },
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
    #[error("{} holds {found} bytes of data, the manifest says {expected}: the file was changed or truncated", path.display())]
    Size { path: PathBuf, expected: u64, found: u64 },
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

/// The engine's row count and checksum of `table` (a plain identifier).
///
/// The checksum is `sum(cityHash64(columns…))` over every column in table order; a nullable
/// column is hashed as `isNull(c), assumeNotNull(c)` and UUIDs and Decimals as their text, so
/// that it works on ClickHouse 18.16 and chDB alike.
///
/// # Errors
/// As [`Store::query_raw`], or [`StoreError::Decode`].
pub async fn summarize(store: &dyn Store, table: &str) -> Result<TableSummary, StoreError> {
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
    let sql = format!("SELECT count(), sum(cityHash64({})) FROM {table}", hashed.join(", "));
    let out = store.query_raw(&sql, "TabSeparated").await?;
    let text = String::from_utf8_lossy(&out);
    let mut fields = text.trim().split('\t').map(str::parse::<u64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(rows)), Some(Ok(checksum)), None) => Ok(TableSummary { rows, checksum }),
        _ => Err(StoreError::Decode(format!("unexpected table summary {text:?}"))),
    }
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
    /// A table's rows in `Native` format and the summary that describes exactly them.
    async fn read_table(&self, table: &str) -> Result<(TableSummary, Vec<u8>), BackupError>;
}

/// A store this process opened, as a backup's source.
struct StoreSource<'a>(&'a dyn Store);

#[async_trait::async_trait]
impl BackupSource for StoreSource<'_> {
    async fn describe(&self) -> Result<SourceInfo, BackupError> {
        describe(self.0).await
    }

    async fn read_table(&self, table: &str) -> Result<(TableSummary, Vec<u8>), BackupError> {
        read_table(self.0, table).await
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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// Backs up every table of `store` into the new directory `to`, sealed with `key`.
///
/// # Errors
/// [`BackupError::Exists`] when `to` exists and is not empty; store, seal and I/O errors;
/// [`BackupError::KeptChanging`] when a table's rows kept changing while it was read.
pub async fn backup(store: &dyn Store, key: &BackupKey, to: &Path) -> Result<Manifest, BackupError> {
    backup_from(&StoreSource(store), key, to).await
}

/// As [`backup`], from any [`BackupSource`].
///
/// # Errors
/// As [`backup`].
pub async fn backup_from(source: &dyn BackupSource, key: &BackupKey, to: &Path) -> Result<Manifest, BackupError> {
    let is_empty_dir = std::fs::read_dir(to).map(|mut entries| entries.next().is_none()).unwrap_or(false);
    if to.exists() && !is_empty_dir {
        return Err(BackupError::Exists { path: to.to_owned() });
    }
    let info = source.describe().await?;
    let tables_dir = to.join("tables");
    std::fs::create_dir_all(&tables_dir).map_err(io(&tables_dir))?;
    let mut entries = Vec::new();
    for table in info.tables {
        if !sql::is_identifier(&table) {
            return Err(BackupError::BadTableName { table });
        }
        let (summary, data) = source.read_table(&table).await?;
        let name = format!("tables/{table}.native");
        let file = format!("{name}{SEALED_SUFFIX}");
        let path = to.join(&file);
        write_file(&path, &seal::seal(key, &name, &data)?)?;
        tracing::info!(table = %table, rows = summary.rows, bytes = data.len(), "table backed up");
        entries.push(TableEntry { name: table, file, summary, bytes: data.len() as u64 });
    }
    let manifest = Manifest {
        format: FORMAT,
        larder_version: env!("CARGO_PKG_VERSION").to_owned(),
        engine: info.engine,
        engine_version: info.engine_version,
        created_at: chrono::Utc::now(),
        migrations: info.migrations,
        tables: entries,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Decode(e.to_string()))?;
    // Written last: its presence marks a finished backup.
    write_file(&to.join(format!("{MANIFEST}{SEALED_SUFFIX}")), &seal::seal(key, MANIFEST, &json)?)?;
    Ok(manifest)
}

/// Reads a table's rows with the summary that describes exactly them: the summary is taken
/// before and after the read, and the read is repeated while they differ.
///
/// # Errors
/// [`BackupError::BadTableName`] for a table a backup does not copy; store errors;
/// [`BackupError::KeptChanging`].
pub async fn read_table(store: &dyn Store, table: &str) -> Result<(TableSummary, Vec<u8>), BackupError> {
    if !backed_up_tables(store).await?.iter().any(|t| t == table) {
        return Err(BackupError::BadTableName { table: table.to_owned() });
    }
    for _ in 0..READ_ATTEMPTS {
        let before = summarize(store, table).await?;
        let data = store.query_raw(&format!("SELECT * FROM {table}"), "Native").await?;
        if summarize(store, table).await? == before {
            return Ok((before, data));
        }
        tracing::info!(table = %table, "rows changed while the table was read; reading again");
    }
    Err(BackupError::KeptChanging { table: table.to_owned() })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut file = std::fs::File::create_new(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Opens and checks a backup's manifest.
///
/// # Errors
/// [`BackupError::NoManifest`], [`SealError::Refused`] (wrong key, changed or truncated),
/// [`BackupError::BadManifest`].
pub fn read_manifest(key: &BackupKey, from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(format!("{MANIFEST}{SEALED_SUFFIX}"));
    let sealed = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoManifest { path: from.into() });
        }
        Err(source) => return Err(BackupError::Io { path, source }),
    };
    let json = seal::open(key, MANIFEST, &path, &sealed)?;
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| BackupError::BadManifest { path: path.clone(), message: e.to_string() })?;
    if manifest.format != FORMAT {
        return Err(BackupError::BadManifest { path, message: format!("unknown format {}", manifest.format) });
    }
    for table in &manifest.tables {
        let expected = format!("tables/{}.native{SEALED_SUFFIX}", table.name);
        if !sql::is_identifier(&table.name) || table.file != expected {
            return Err(BackupError::BadTableName { table: table.name.clone() });
        }
    }
    Ok(manifest)
}

/// Restores the backup in `from` into `store`: migrates it, checks that the schema matches and
/// that the tables are empty (with `force`, empties them), inserts every table's rows, then
/// checks every table's count and checksum against the manifest.
///
/// # Errors
/// Everything [`read_manifest`] refuses; [`BackupError::SchemaMismatch`],
/// [`BackupError::TablesMismatch`], [`BackupError::TargetNotEmpty`]; [`BackupError::Size`] or
/// [`SealError::Refused`] for a data file that was changed or truncated (checked before anything
/// is inserted); [`BackupError::Verify`] when a restored table differs from the backup.
pub async fn restore(store: &dyn Store, key: &BackupKey, from: &Path, force: bool) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(key, from)?;
    migrate::migrate(store).await?;
    let target = applied_migrations(store).await?;
    if target != manifest.migrations {
        return Err(BackupError::SchemaMismatch { backup: manifest.migrations.clone(), target });
    }
    let target_tables = backed_up_tables(store).await?;
    let in_backup: Vec<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    let missing: Vec<String> = target_tables.iter().filter(|t| !in_backup.contains(&t.as_str())).cloned().collect();
    let unknown: Vec<String> =
        in_backup.iter().filter(|t| !target_tables.iter().any(|n| n == *t)).map(|t| (*t).to_owned()).collect();
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(BackupError::TablesMismatch { missing, unknown });
    }
    // Every file is opened and checked before anything is changed, so a damaged backup leaves
    // the target as it was.
    let mut data = Vec::with_capacity(manifest.tables.len());
    for table in &manifest.tables {
        let path = from.join(&table.file);
        let sealed = std::fs::read(&path).map_err(io(&path))?;
        let plain = seal::open(key, table.file.trim_end_matches(SEALED_SUFFIX), &path, &sealed)?;
        if plain.len() as u64 != table.bytes {
            return Err(BackupError::Size { path, expected: table.bytes, found: plain.len() as u64 });
        }
        data.push(plain);
    }
    let mut not_empty = Vec::new();
    for table in &target_tables {
        if summarize(store, table).await?.rows > 0 {
            not_empty.push(table.clone());
        }
    }
    if !not_empty.is_empty() {
        if !force {
            return Err(BackupError::TargetNotEmpty { tables: not_empty });
        }
        // The pre-aggregated visits go with the events; inserting the events fills them again.
        for table in not_empty.iter().map(String::as_str).chain([crate::visits::TABLE]) {
            store.execute(&format!("TRUNCATE TABLE {}", crate::cluster::local_table(store, table))).await?;
        }
    }
    // Newer engines collapse a replacing table's duplicate keys while inserting; the backup's
    // rows go back exactly as they were, so that counts and checksums compare.
    let settings = if store.version().await?.major >= 20 { " SETTINGS optimize_on_insert = 0" } else { "" };
    for (table, plain) in manifest.tables.iter().zip(data) {
        if table.summary.rows == 0 {
            continue;
        }
        store.insert_raw(&format!("INSERT INTO {}{settings}", table.name), "Native", plain).await?;
        tracing::info!(table = %table.name, rows = table.summary.rows, "table restored");
    }
    for table in &manifest.tables {
        let found = summarize(store, &table.name).await?;
        if found != table.summary {
            return Err(BackupError::Verify {
                table: table.name.clone(),
                expected_rows: table.summary.rows,
                expected_checksum: table.summary.checksum,
                found_rows: found.rows,
                found_checksum: found.checksum,
            });
        }
    }
    Ok(manifest)
}
