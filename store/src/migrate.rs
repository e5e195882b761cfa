//! The migration runner: numbered SQL files from `migrations/`, applied in order, each once,
//! recorded in `schema_migrations`.
//!
//! ClickHouse DDL is not transactional, so a file is recorded only after all of its statements
//! succeeded, and every statement is written to be re-runnable (`IF NOT EXISTS`): after a
//! failure, fixing the cause and running `larder migrate` again completes the file. An applied
//! file that later changes is an error, not a silent re-run.
//!
//! In cluster mode (a [`Store`] with a cluster) each table is created `ON CLUSTER` as a local
//! table on every shard plus a `Distributed` table over them (see [`crate::cluster`]); the
//! ledger too, so any node knows what was applied.

use crate::cluster::Layout;
use crate::error::StoreError;
use crate::{EngineVersion, Store, sql};

/// One migration file, compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    /// The file name without `.sql`.
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A test checks this list against the `migrations/` folder.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_schema_v1", sql: include_str!("../../migrations/0001_schema_v1.sql") },
    Migration { version: 2, name: "0002_auth", sql: include_str!("../../migrations/0002_auth.sql") },
    Migration { version: 3, name: "0003_visit_parts", sql: include_str!("../../migrations/0003_visit_parts.sql") },
    Migration {
        version: 4,
        name: "0004_visit_parts_keys",
        sql: include_str!("../../migrations/0004_visit_parts_keys.sql"),
    },
    Migration { version: 5, name: "0005_visit_days", sql: include_str!("../../migrations/0005_visit_days.sql") },
    Migration { version: 6, name: "0006_search_days", sql: include_str!("../../migrations/0006_search_days.sql") },
];

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub already_applied: Vec<String>,
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
    (version UInt32, name String, checksum String, applied_at DateTime('UTC')) \
    ENGINE = MergeTree ORDER BY version";

/// Applies every migration not yet applied.
///
/// # Errors
/// [`StoreError::Migration`] naming the file and statement that failed;
/// [`StoreError::MigrationChanged`] when an applied file was edited.
pub async fn migrate(store: &dyn Store) -> Result<MigrationReport, StoreError> {
    migrate_with(store, MIGRATIONS).await
}

/// Applies `migrations` (Larder's own are [`MIGRATIONS`]); public so tests can run broken ones.
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_with(store: &dyn Store, migrations: &[Migration]) -> Result<MigrationReport, StoreError> {
    store.prepare().await?;
    let layout = match store.cluster() {
        Some(cluster) => Some(Layout::of(store, cluster).await?),
        None => None,
    };
    let for_store = |statement: &str| match &layout {
        Some(layout) => layout.adapt(statement),
        None => Ok(vec![statement.to_owned()]),
    };
    for statement in for_store(LEDGER)? {
        store.execute(&statement).await?;
    }
    let version = store.version().await?;
    #[derive(serde::Deserialize)]
    struct Applied {
        version: u32,
        checksum: String,
    }
    let applied: Vec<Applied> = store.fetch_json("SELECT version, checksum FROM schema_migrations").await?;
    let mut report = MigrationReport::default();
    for migration in migrations {
        let checksum = blake3::hash(migration.sql.as_bytes()).to_hex().to_string();
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            if done.checksum != checksum {
                return Err(StoreError::MigrationChanged {
                    name: migration.name.to_owned(),
                    applied: done.checksum.clone(),
                    current: checksum,
                });
            }
            report.already_applied.push(migration.name.to_owned());
            continue;
        }
        for (i, statement) in statements(migration.sql).iter().enumerate() {
            let failed = |source| StoreError::Migration {
                name: migration.name.to_owned(),
                statement: i + 1,
                source: Box::new(source),
            };
            for statement in for_store(&adapt_to_engine(statement, &version)).map_err(failed)? {
                store.execute(&statement).await.map_err(failed)?;
            }
        }
        // What SQL alone would do badly: aggregating every stored event at once (a day at a
        // time), and counting the stored events per day.
        let filled = match migration.name {
            name if name == crate::visits::MIGRATION_NAME => crate::visits::fill(store).await,
            name if name == crate::rollup::MIGRATION_NAME => crate::rollup::fill(store).await,
            _ => Ok(()),
        };
        filled.map_err(|source| StoreError::Migration {
            name: migration.name.to_owned(),
            // The step after the file's statements.
            statement: statements(migration.sql).len() + 1,
            source: Box::new(source),
        })?;
        store
            .execute(&format!(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ({}, {}, {}, now())",
                migration.version,
                sql::quote(migration.name),
                sql::quote(&checksum)
            ))
            .await?;
        tracing::info!(migration = migration.name, "migration applied");
        report.applied.push(migration.name.to_owned());
    }
    if !report.applied.is_empty() {
        // Analysts' per-site views select `*`; recreate them so they show new columns.
        crate::analyst::drop_scoped_views(store).await?;
    }
    Ok(report)
}

/// Splits a file into statements: `--` comment lines dropped, a `;` ending a line ends one.
pub fn statements(file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in file.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim().to_owned();
            out.push(statement);
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Rewrites what an older engine lacks: `LowCardinality(String)` is plain `String` before 19.0.
fn adapt_to_engine(statement: &str, version: &EngineVersion) -> String {
    if version.has_low_cardinality() {
        statement.to_owned()
    } else {
        statement.replace("LowCardinality(String)", "String")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_list_matches_the_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".sql"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(files, listed, "every file in migrations/ is listed in MIGRATIONS, in order");
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are consecutive");
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} is numbered by its version", m.name);
        }
    }

    #[test]
    fn statements_split_at_line_end_semicolons_and_drop_comments() {
        let file = "-- a comment\nCREATE TABLE a (x String DEFAULT ';')\nENGINE = Memory;\n\n-- b\nSELECT 1;\nSELECT 2";
        assert_eq!(
            statements(file),
            vec!["CREATE TABLE a (x String DEFAULT ';')\nENGINE = Memory", "SELECT 1", "SELECT 2"]
        );
    }

    #[test]
    fn low_cardinality_is_rewritten_only_for_old_engines() {
        let old = EngineVersion { major: 18, minor: 16, text: "18.16.1".into() };
        let new = EngineVersion { major: 26, minor: 7, text: "26.7.3".into() };
        let ddl = "site LowCardinality(String), n UInt8";
        assert_eq!(adapt_to_engine(ddl, &old), "site String, n UInt8");
        assert_eq!(adapt_to_engine(ddl, &new), ddl);
    }
}
