//! Reading manifests and restoring a backup (see the [parent module](super)).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::target::{Location, Storage, Targets};
use super::{
    BackupError, BackupKey, ChunkEntry, FORMAT, FileDigest, MANIFEST, Manifest, SEALED_SUFFIX, TableEntry,
    TableSummary, WHOLE_TABLE, applied_migrations, backed_up_tables, seal, summarize,
};
use crate::{Store, migrate, sql};

/// A format-1 manifest: one file per table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV1 {
    format: u32,
    larder_version: String,
    engine: String,
    engine_version: String,
    created_at: chrono::DateTime<chrono::Utc>,
    migrations: Vec<u32>,
    tables: Vec<TableV1>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableV1 {
    name: String,
    file: String,
    #[serde(flatten)]
    summary: TableSummary,
    bytes: u64,
}

impl From<ManifestV1> for Manifest {
    fn from(v1: ManifestV1) -> Self {
        let tables = v1
            .tables
            .into_iter()
            .map(|t| TableEntry {
                name: t.name,
                chunk_key: String::new(),
                summary: t.summary,
                chunks: vec![ChunkEntry {
                    id: WHOLE_TABLE.to_owned(),
                    summary: t.summary,
                    file: t.file,
                    bytes: t.bytes,
                    sealed: None,
                    base: None,
                }],
            })
            .collect();
        Self {
            format: v1.format,
            larder_version: v1.larder_version,
            engine: v1.engine,
            engine_version: v1.engine_version,
            created_at: v1.created_at,
            migrations: v1.migrations,
            bases: Vec::new(),
            tables,
        }
    }
}

/// Opens, decodes and checks a manifest (either format); `path` names it in errors.
fn decode_manifest(key: &BackupKey, path: &Path, sealed: &[u8]) -> Result<Manifest, BackupError> {
    let json = seal::open(key, MANIFEST, path, sealed)?;
    let bad = |message: String| BackupError::BadManifest { path: path.to_owned(), message };
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let format: Format = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    let manifest: Manifest = match format.format {
        1 => serde_json::from_slice::<ManifestV1>(&json).map_err(|e| bad(e.to_string()))?.into(),
        FORMAT => serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?,
        other => return Err(bad(format!("unknown format {other} (this Larder reads 1 and {FORMAT})"))),
    };
    for table in &manifest.tables {
        if !sql::is_identifier(&table.name) {
            return Err(BackupError::BadTableName { table: table.name.clone() });
        }
        for chunk in &table.chunks {
            let expected = if manifest.format == 1 {
                format!("tables/{}.native{SEALED_SUFFIX}", table.name)
            } else {
                format!("tables/{}/{}.native{SEALED_SUFFIX}", table.name, chunk.id)
            };
            let is_id =
                chunk.id == WHOLE_TABLE || chunk.id.len() == 16 && chunk.id.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_id || chunk.file != expected || (manifest.format > 1 && chunk.sealed.is_none()) {
                return Err(bad(format!(
                    "table {}: chunk {:?} is not described as this format's",
                    table.name, chunk.id
                )));
            }
        }
    }
    Ok(manifest)
}

/// Opens and checks the manifest of the backup in the directory `from`.
///
/// # Errors
/// As [`read_manifest_from`].
pub fn read_manifest(key: &BackupKey, from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(format!("{MANIFEST}{SEALED_SUFFIX}"));
    match std::fs::read(&path) {
        Ok(sealed) => decode_manifest(key, &path, &sealed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(BackupError::NoManifest { location: from.display().to_string() })
        }
        Err(source) => Err(BackupError::Io { path, source }),
    }
}

/// Opens and checks a backup's manifest.
///
/// # Errors
/// [`BackupError::NoManifest`], [`SealError::Refused`](super::SealError::Refused) (wrong key,
/// changed or truncated), [`BackupError::BadManifest`]; I/O and bucket errors.
pub async fn read_manifest_from(key: &BackupKey, storage: &Storage) -> Result<Manifest, BackupError> {
    let name = format!("{MANIFEST}{SEALED_SUFFIX}");
    let location = storage.location();
    match storage.get(&name).await? {
        Some(sealed) => decode_manifest(key, &location.file(&name), &sealed),
        None => Err(BackupError::NoManifest { location: location.to_string() }),
    }
}

/// Restores the backup in the directory `from` into `store` (see [`restore_from`]).
///
/// # Errors
/// As [`restore_from`].
pub async fn restore(store: &dyn Store, key: &BackupKey, from: &Path, force: bool) -> Result<Manifest, BackupError> {
    restore_from(store, key, &Targets::default(), &Location::Dir(from.to_owned()), force).await
}

/// The backups a restore reads from, opened once each.
struct Holders<'a> {
    targets: &'a Targets,
    from: &'a Location,
    opened: HashMap<String, Storage>,
}

impl Holders<'_> {
    /// Reads a chunk's sealed file from the backup that holds it.
    async fn get(&mut self, chunk: &ChunkEntry) -> Result<(Vec<u8>, std::path::PathBuf), BackupError> {
        let holder = match &chunk.base {
            Some(reference) => self.from.resolve(reference)?,
            None => self.from.clone(),
        };
        let text = holder.to_string();
        if !self.opened.contains_key(&text) {
            self.opened.insert(text.clone(), self.targets.open(&holder)?);
        }
        let path = holder.file(&chunk.file);
        let storage = self.opened.get(&text).ok_or_else(|| BackupError::MissingFile { path: path.clone() })?;
        match storage.get(&chunk.file).await? {
            Some(bytes) => Ok((bytes, path)),
            None if chunk.base.is_some() => Err(BackupError::BaseUnreachable { base: text, path }),
            None => Err(BackupError::MissingFile { path }),
        }
    }
}

/// Opens a chunk's sealed file and checks it against the manifest.
fn open_chunk(key: &BackupKey, chunk: &ChunkEntry, sealed: &[u8], path: &Path) -> Result<Vec<u8>, BackupError> {
    // A changed file of this backup is refused by its seal, naming the chunk that fails; a
    // base's file may be another backup's of the same name, which opens: its digest refuses it.
    let is_expected = chunk.sealed.as_ref().is_none_or(|expected| *expected == FileDigest::of(sealed));
    if chunk.base.is_some() && !is_expected {
        return Err(BackupError::Swapped { path: path.to_owned() });
    }
    let plain = seal::open(key, chunk.file.trim_end_matches(SEALED_SUFFIX), path, sealed)?;
    if !is_expected {
        return Err(BackupError::Swapped { path: path.to_owned() });
    }
    if plain.len() as u64 != chunk.bytes {
        return Err(BackupError::Size { path: path.to_owned(), expected: chunk.bytes, found: plain.len() as u64 });
    }
    Ok(plain)
}

/// Restores the backup at `from` into `store`: migrates it, checks that the schema matches and
/// that the tables are empty (with `force`, empties them), opens and checks every file (its own
/// and those of the backups it refers to), inserts every chunk's rows, then checks every
/// table's count and checksum against the manifest.
///
/// Every file is read twice, once to check it before anything is inserted and once to insert
/// it, so that only one chunk is held in memory at a time; the second read must give the same
/// bytes as the first.
///
/// # Errors
/// Everything [`read_manifest_from`] refuses; [`BackupError::SchemaMismatch`],
/// [`BackupError::TablesMismatch`], [`BackupError::TargetNotEmpty`];
/// [`BackupError::MissingFile`], [`BackupError::BaseUnreachable`], [`BackupError::Swapped`],
/// [`BackupError::Size`] or [`SealError::Refused`](super::SealError::Refused) for a file that
/// is missing, was changed or truncated (checked before anything is inserted);
/// [`BackupError::Verify`] when a restored table differs from the backup.
pub async fn restore_from(
    store: &dyn Store,
    key: &BackupKey,
    targets: &Targets,
    from: &Location,
    force: bool,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest_from(key, &targets.open(from)?).await?;
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
    // Every file is opened and checked before anything is changed, so a damaged or incomplete
    // backup leaves the target as it was.
    let mut holders = Holders { targets, from, opened: HashMap::new() };
    let mut checked: Vec<FileDigest> = Vec::new();
    for table in &manifest.tables {
        for chunk in &table.chunks {
            let (sealed, path) = holders.get(chunk).await?;
            open_chunk(key, chunk, &sealed, &path)?;
            checked.push(FileDigest::of(&sealed));
        }
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
        for table in not_empty.iter().map(String::as_str).chain([
            crate::visits::TABLE,
            crate::rollup::TABLE,
            crate::rollup::COUNTS,
            crate::search::rolled::TABLE,
        ]) {
            store.execute(&format!("TRUNCATE TABLE {}", crate::cluster::local_table(store, table))).await?;
        }
    }
    // Newer engines collapse a replacing table's duplicate keys while inserting; the backup's
    // rows go back exactly as they were, so that counts and checksums compare.
    let settings = if store.version().await?.major >= 20 { " SETTINGS optimize_on_insert = 0" } else { "" };
    let mut checked = checked.into_iter();
    for table in &manifest.tables {
        for chunk in &table.chunks {
            let first = checked.next();
            if chunk.summary.rows == 0 {
                continue;
            }
            let (sealed, path) = holders.get(chunk).await?;
            if first.as_ref() != Some(&FileDigest::of(&sealed)) {
                return Err(BackupError::Swapped { path });
            }
            let plain = open_chunk(key, chunk, &sealed, &path)?;
            store.insert_raw(&format!("INSERT INTO {}{settings}", table.name), "Native", plain).await?;
        }
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
