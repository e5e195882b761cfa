//! Taking a backup, full or incremental (see the [parent module](super)).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::target::{Location, Storage, Targets};
use super::{
    BackupError, BackupKey, BackupSource, ChunkEntry, FORMAT, FileDigest, MANIFEST, Manifest, READ_ATTEMPTS,
    SEALED_SUFFIX, StoreSource, TableEntry, TableSummary, seal,
};
use crate::error::StoreError;
use crate::{Store, sql};

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub manifest: Manifest,
    /// Chunk files written into this backup.
    pub chunks_written: usize,
    /// Chunks left where the base backup (or the backup it refers to) holds them.
    pub chunks_reused: usize,
    /// Sealed bytes written, the manifest included.
    pub bytes_written: u64,
    /// Why the base's chunks could not be used, when they could not (another schema or
    /// engine version): the backup then holds every chunk itself.
    pub base_unused: Option<String>,
}

/// Backs up every table of `store` into the new directory `to`, sealed with `key`.
///
/// # Errors
/// As [`backup_to`].
pub async fn backup(store: &dyn Store, key: &BackupKey, to: &Path) -> Result<Manifest, BackupError> {
    let report = backup_to(&StoreSource(store), key, &Targets::default(), &Location::Dir(to.to_owned()), None).await?;
    Ok(report.manifest)
}

/// A chunk of the base that may be referred to instead of written.
struct Reusable {
    entry: ChunkEntry,
    /// How the new backup refers to the backup that holds the file.
    reference: String,
}

/// Backs up every table read from `source` into `to` (a directory or a bucket prefix, which
/// must be empty), sealed with `key`. With `base`, chunks equal to the base's are referred to,
/// not written (see the [parent module](super)).
///
/// # Errors
/// [`BackupError::Exists`] when `to` is not empty; [`BackupError::NoManifest`] and what
/// [`super::read_manifest_from`] refuses for the base (read with the same key); store, seal,
/// I/O and bucket errors; [`BackupError::KeptChanging`] when a table's rows kept changing while
/// it was read.
pub async fn backup_to(
    source: &dyn BackupSource,
    key: &BackupKey,
    targets: &Targets,
    to: &Location,
    base: Option<&Location>,
) -> Result<BackupReport, BackupError> {
    let storage = targets.open(to)?;
    if !storage.is_empty().await? {
        return Err(BackupError::Exists { location: to.to_string() });
    }
    let info = source.describe().await?;
    storage.create()?;
    let mut base_unused = None;
    let reusable = match base {
        Some(base) => {
            let base_storage = targets.open(base)?;
            let manifest = super::read_manifest_from(key, &base_storage).await?;
            let same = manifest.engine == info.engine
                && manifest.engine_version == info.engine_version
                && manifest.migrations == info.migrations;
            if same {
                reusable_chunks(targets, &manifest, base, to).await?
            } else {
                base_unused = Some(format!(
                    "the base was taken from {} {} at schema migrations {:?}, this store is {} {} at {:?}",
                    manifest.engine,
                    manifest.engine_version,
                    manifest.migrations,
                    info.engine,
                    info.engine_version,
                    info.migrations
                ));
                HashMap::new()
            }
        }
        None => HashMap::new(),
    };
    let mut report = BackupReport {
        manifest: Manifest {
            format: FORMAT,
            larder_version: env!("CARGO_PKG_VERSION").to_owned(),
            engine: info.engine,
            engine_version: info.engine_version,
            created_at: chrono::Utc::now(),
            migrations: info.migrations,
            bases: Vec::new(),
            tables: Vec::new(),
        },
        chunks_written: 0,
        chunks_reused: 0,
        bytes_written: 0,
        base_unused,
    };
    for table in info.tables {
        if !sql::is_identifier(&table) {
            return Err(BackupError::BadTableName { table });
        }
        let entry = back_up_table(source, key, &storage, &table, &reusable, &mut report).await?;
        tracing::info!(table = %table, rows = entry.summary.rows, chunks = entry.chunks.len(), "table backed up");
        report.manifest.tables.push(entry);
    }
    let mut bases: Vec<String> =
        report.manifest.tables.iter().flat_map(|t| &t.chunks).filter_map(|c| c.base.clone()).collect();
    bases.sort();
    bases.dedup();
    report.manifest.bases = bases;
    let json = serde_json::to_vec_pretty(&report.manifest).map_err(|e| StoreError::Decode(e.to_string()))?;
    let sealed = seal::seal(key, MANIFEST, &json)?;
    report.bytes_written += sealed.len() as u64;
    // Written last: its presence marks a finished backup.
    storage.put(&format!("{MANIFEST}{SEALED_SUFFIX}"), sealed).await?;
    Ok(report)
}

/// The base's chunks by table and id, each with how `to` refers to the backup holding it. The
/// manifest of every backup the base refers to is read, so that a chain whose older backup is
/// gone is refused now rather than at restore.
async fn reusable_chunks(
    targets: &Targets,
    base_manifest: &Manifest,
    base: &Location,
    to: &Location,
) -> Result<HashMap<(String, String), Reusable>, BackupError> {
    let mut holders: BTreeMap<String, String> = BTreeMap::new();
    let mut out = HashMap::new();
    for table in &base_manifest.tables {
        for chunk in &table.chunks {
            // Only format-2 chunks can be referred to: their sealed file's digest is known.
            if chunk.sealed.is_none() {
                continue;
            }
            let holder = match &chunk.base {
                Some(reference) => base.resolve(reference)?,
                None => base.clone(),
            };
            let holder_text = holder.to_string();
            let reference = match holders.get(&holder_text) {
                Some(reference) => reference.clone(),
                None => {
                    if chunk.base.is_some() {
                        let storage = targets.open(&holder)?;
                        if storage.get(&format!("{MANIFEST}{SEALED_SUFFIX}")).await?.is_none() {
                            return Err(BackupError::BaseUnreachable {
                                base: holder_text,
                                path: holder.file(&format!("{MANIFEST}{SEALED_SUFFIX}")),
                            });
                        }
                    }
                    let reference = to.reference_to(&holder)?;
                    holders.insert(holder_text, reference.clone());
                    reference
                }
            };
            out.insert((table.name.clone(), chunk.id.clone()), Reusable { entry: chunk.clone(), reference });
        }
    }
    Ok(out)
}

/// Writes (or refers to) every chunk of `table`, listing the chunks again after reading them
/// until a listing agrees with everything read: then each chunk's file holds exactly the rows
/// its summary describes.
async fn back_up_table(
    source: &dyn BackupSource,
    key: &BackupKey,
    storage: &Storage,
    table: &str,
    reusable: &HashMap<(String, String), Reusable>,
    report: &mut BackupReport,
) -> Result<TableEntry, BackupError> {
    let mut done: BTreeMap<String, ChunkEntry> = BTreeMap::new();
    for attempt in 0..=READ_ATTEMPTS {
        let listed = source.chunks(table).await?;
        let chunk_key = listed.key;
        let now: BTreeMap<&str, TableSummary> = listed.chunks.iter().map(|c| (c.id.as_str(), c.summary)).collect();
        done.retain(|id, _| now.contains_key(id.as_str()));
        let pending: Vec<(&str, TableSummary)> = now
            .iter()
            .filter(|(id, s)| done.get(**id).map(|e| e.summary) != Some(**s))
            .map(|(i, s)| (*i, *s))
            .collect();
        if pending.is_empty() {
            let summary = done.values().fold(TableSummary::default(), |sum, c| sum.add(c.summary));
            return Ok(TableEntry { name: table.to_owned(), chunk_key, summary, chunks: done.into_values().collect() });
        }
        if attempt == READ_ATTEMPTS {
            break;
        }
        if attempt > 0 {
            tracing::info!(table = %table, chunks = pending.len(), "rows changed while the table was read; reading again");
        }
        for (id, summary) in pending {
            if !(id == super::WHOLE_TABLE || id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(BackupError::BadChunk { table: table.to_owned(), id: id.to_owned() });
            }
            if let Some(old) = reusable.get(&(table.to_owned(), id.to_owned()))
                && old.entry.summary == summary
            {
                report.chunks_reused += 1;
                done.insert(id.to_owned(), ChunkEntry { base: Some(old.reference.clone()), ..old.entry.clone() });
                continue;
            }
            let data = source.read_chunk(table, id).await?;
            let name = format!("tables/{table}/{id}.native");
            let sealed = seal::seal(key, &name, &data)?;
            let digest = FileDigest::of(&sealed);
            report.bytes_written += digest.bytes;
            report.chunks_written += 1;
            let file = format!("{name}{SEALED_SUFFIX}");
            storage.put(&file, sealed).await?;
            let entry = ChunkEntry {
                id: id.to_owned(),
                summary,
                file,
                bytes: data.len() as u64,
                sealed: Some(digest),
                base: None,
            };
            done.insert(id.to_owned(), entry);
        }
    }
    Err(BackupError::KeptChanging { table: table.to_owned() })
}
