//! Cluster mode: how Larder's tables are laid out over a ClickHouse cluster, and how statements
//! that change data in place reach every shard.
//!
//! Every table `t` of the schema becomes two, both created `ON CLUSTER`:
//! - `t_local` on every node, the rows themselves: `ReplicatedMergeTree` (or the replicated
//!   form of the table's engine) when the servers have ZooKeeper/Keeper, so that each shard
//!   may have several replicas; the plain engine otherwise;
//! - `t`, a `Distributed` table over the `t_local` of every shard. Queries and inserts use `t`,
//!   so no query is written twice: a dashboard query still selects `FROM events`.
//!
//! Sharding: `events` by `visitor_id`, so that a visitor's events — and so each visit and each
//! funnel path — are on one shard. Every other table (salts, sessions, users, sites…) is small
//! and goes whole to the first shard (sharding key `0`): every process, wherever it connects,
//! reads and writes those rows on one server (its first live replica, see
//! [`crate::ServerStore::in_cluster`]), so collectors agree on the day's salt and on visits
//! exactly as they do on one server.
//!
//! A `Distributed` table takes no `ALTER`, `OPTIMIZE` or `TRUNCATE`: those go to the local
//! tables, `ON CLUSTER` ([`local_table`]).

use crate::error::StoreError;
use crate::{Store, sql};

/// What the shard-local table of `t` is called.
pub const LOCAL_SUFFIX: &str = "_local";

/// The table a statement that changes rows in place (`ALTER`, `TRUNCATE`) names: `table` on one
/// server, `db.table_local ON CLUSTER c` in cluster mode. `table` must be a plain identifier.
pub fn local_table(store: &dyn Store, table: &str) -> String {
    match store.cluster() {
        Some(cluster) => format!("{}.{table}{LOCAL_SUFFIX} ON CLUSTER {cluster}", store.database()),
        None => table.to_owned(),
    }
}

/// Where the engine's mutations are listed: this server's `system.mutations`, or every node's
/// in cluster mode (through the `cluster` table function).
pub fn mutations_source(store: &dyn Store) -> String {
    match store.cluster() {
        Some(cluster) => format!("cluster('{cluster}', system, mutations)"),
        None => "system.mutations".to_owned(),
    }
}

/// The name a table's mutations are listed under (see [`mutations_source`]).
pub fn mutated_table(store: &dyn Store, table: &str) -> String {
    match store.cluster() {
        Some(_) => format!("{table}{LOCAL_SUFFIX}"),
        None => table.to_owned(),
    }
}

/// Whether `name` is a shard-local table of cluster mode, not one that queries name.
pub fn is_local_table(name: &str) -> bool {
    name.ends_with(LOCAL_SUFFIX)
}

/// The sharding key of a table's `Distributed` table.
fn sharding_key(table: &str) -> &'static str {
    match table {
        // A visit's pre-aggregated rows live beside its events (see `adapt` for the view).
        "events" | "visit_parts" => "visitor_id",
        _ => "0",
    }
}

/// How the migration runner lays tables out in cluster mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub database: String,
    pub cluster: String,
    /// Whether the local tables are replicated (the servers have ZooKeeper/Keeper).
    pub replicated: bool,
}

impl Layout {
    /// Checks that the server knows the cluster and finds out whether it has ZooKeeper/Keeper.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the cluster is not in the server's `remote_servers`; store
    /// errors.
    pub async fn of(store: &dyn Store, cluster: &str) -> Result<Self, StoreError> {
        let hosts = crate::deletion::count(
            store,
            &format!("SELECT count() FROM system.clusters WHERE cluster = {}", sql::quote(cluster)),
        )
        .await?;
        if hosts == 0 {
            return Err(StoreError::Invalid(format!(
                "the server has no cluster named {cluster:?} (remote_servers in its config); check store.cluster"
            )));
        }
        // `system.zookeeper` answers only when ZooKeeper/Keeper is configured.
        let replicated =
            store.query_raw("SELECT count() FROM system.zookeeper WHERE path = '/'", "TabSeparated").await.is_ok();
        Ok(Self { database: store.database().to_owned(), cluster: cluster.to_owned(), replicated })
    }

    /// Rewrites one schema statement for the cluster: `CREATE TABLE IF NOT EXISTS t (…) ENGINE
    /// = E …` becomes the local table and the `Distributed` table over it.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a statement of another form: a migration must say how it
    /// reaches the shards before it can run on a cluster.
    ///
    /// Also: a materialized view of one table into another (`CREATE MATERIALIZED VIEW IF NOT
    /// EXISTS v TO t AS SELECT … FROM s …`) becomes one on every node from `s_local` into
    /// `t_local`, so each shard aggregates its own rows (the tables must be sharded alike);
    /// `TRUNCATE TABLE t` truncates `t_local` on every node; `DROP TABLE IF EXISTS t` drops `t`
    /// and `t_local` on every node (whichever exist: a view has only the local one); `INSERT INTO
    /// t SELECT …` runs as written, through the `Distributed` tables.
    pub fn adapt(&self, statement: &str) -> Result<Vec<String>, StoreError> {
        const CREATE: &str = "CREATE TABLE IF NOT EXISTS ";
        const VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS ";
        const TRUNCATE: &str = "TRUNCATE TABLE ";
        const DROP: &str = "DROP TABLE IF EXISTS ";
        let unsupported = || {
            let head: String = statement.chars().take(60).collect();
            StoreError::Invalid(format!("cluster mode cannot run this migration statement yet: {head:?}"))
        };
        let (db, cluster) = (&self.database, &self.cluster);
        if let Some(rest) = statement.strip_prefix(VIEW) {
            let (view, rest) = rest.split_once(" TO ").ok_or_else(unsupported)?;
            let (target, select) = rest.split_once(" AS\n").ok_or_else(unsupported)?;
            let (head, source) = select.split_once("\nFROM ").ok_or_else(unsupported)?;
            let source_end = source.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(source.len());
            let (source, tail) = source.split_at(source_end);
            if ![view, target, source].iter().all(|name| sql::is_identifier(name)) {
                return Err(unsupported());
            }
            return Ok(vec![format!(
                "{VIEW}{db}.{view}{LOCAL_SUFFIX} ON CLUSTER {cluster} TO {db}.{target}{LOCAL_SUFFIX} AS\n{head}\n\
                 FROM {db}.{source}{LOCAL_SUFFIX}{tail}"
            )]);
        }
        if let Some(table) = statement.strip_prefix(TRUNCATE) {
            if !sql::is_identifier(table) {
                return Err(unsupported());
            }
            return Ok(vec![format!("{TRUNCATE}{db}.{table}{LOCAL_SUFFIX} ON CLUSTER {cluster}")]);
        }
        if let Some(table) = statement.strip_prefix(DROP) {
            if !sql::is_identifier(table) {
                return Err(unsupported());
            }
            // The `Distributed` table first: nothing may reach a local table while it goes.
            return Ok(vec![
                format!("{DROP}{db}.{table} ON CLUSTER {cluster}"),
                format!("{DROP}{db}.{table}{LOCAL_SUFFIX} ON CLUSTER {cluster}"),
            ]);
        }
        if statement.starts_with("INSERT INTO ") {
            return Ok(vec![statement.to_owned()]);
        }
        let rest = statement.strip_prefix(CREATE).ok_or_else(unsupported)?;
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let (table, rest) = rest.split_at(name_end);
        if !sql::is_identifier(table) {
            return Err(unsupported());
        }
        let engine_at = rest.find("ENGINE = ").ok_or_else(unsupported)?;
        let (columns, engine_clause) = rest.split_at(engine_at);
        let engine_clause = &engine_clause["ENGINE = ".len()..];
        let engine_end = engine_clause.find(['\n', ' ']).unwrap_or(engine_clause.len());
        let (engine, settings) = engine_clause.split_at(engine_end);
        let engine = if self.replicated {
            self.replicated_engine(table, engine).ok_or_else(unsupported)?
        } else {
            engine.to_owned()
        };
        Ok(vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{table}{LOCAL_SUFFIX} ON CLUSTER {cluster}{columns}ENGINE = {engine}{settings}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{table}{LOCAL_SUFFIX} \
                 ENGINE = Distributed({cluster}, {db}, {table}{LOCAL_SUFFIX}, {})",
                sharding_key(table)
            ),
        ])
    }

    /// `MergeTree` -> `ReplicatedMergeTree('<path>', '{replica}')`, `ReplacingMergeTree(v)` ->
    /// `ReplicatedReplacingMergeTree('<path>', '{replica}', v)`. The path names the shard (a
    /// server macro), so the replicas of one shard share it.
    fn replicated_engine(&self, table: &str, engine: &str) -> Option<String> {
        let (name, args) = match engine.split_once('(') {
            Some((name, args)) => (name, Some(args.strip_suffix(')')?)),
            None => (engine, None),
        };
        if !name.ends_with("MergeTree") || name.starts_with("Replicated") {
            return None;
        }
        let path = format!("/clickhouse/larder/{}/{}/{table}/{{shard}}", self.cluster, self.database);
        let mut arguments = vec![format!("'{path}'"), "'{replica}'".to_owned()];
        arguments.extend(args.filter(|a| !a.is_empty()).map(str::to_owned));
        Some(format!("Replicated{name}({})", arguments.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(replicated: bool) -> Layout {
        Layout { database: "larder".into(), cluster: "c1".into(), replicated }
    }

    #[test]
    fn events_become_a_replicated_local_table_and_a_distributed_table_sharded_by_visitor() {
        let ddl =
            "CREATE TABLE IF NOT EXISTS events\n(\n    visitor_id UInt64\n)\nENGINE = MergeTree\nORDER BY visitor_id";
        let out = layout(true).adapt(ddl).expect("adapted");
        assert_eq!(
            out[0],
            "CREATE TABLE IF NOT EXISTS larder.events_local ON CLUSTER c1\n(\n    visitor_id UInt64\n)\n\
             ENGINE = ReplicatedMergeTree('/clickhouse/larder/c1/larder/events/{shard}', '{replica}')\nORDER BY visitor_id"
        );
        assert_eq!(
            out[1],
            "CREATE TABLE IF NOT EXISTS larder.events ON CLUSTER c1 AS larder.events_local \
             ENGINE = Distributed(c1, larder, events_local, visitor_id)"
        );
    }

    #[test]
    fn small_tables_keep_their_engine_arguments_and_go_to_the_first_shard() {
        let ddl = "CREATE TABLE IF NOT EXISTS sites\n(\n    site String\n)\nENGINE = ReplacingMergeTree(version)\nORDER BY site";
        let replicated = layout(true).adapt(ddl).expect("adapted");
        assert!(
            replicated[0].contains(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/larder/c1/larder/sites/{shard}', '{replica}', version)\nORDER BY site"
            ),
            "{}",
            replicated[0]
        );
        assert!(replicated[1].ends_with("Distributed(c1, larder, sites_local, 0)"), "{}", replicated[1]);
        let plain = layout(false).adapt(ddl).expect("adapted");
        assert!(plain[0].contains("ENGINE = ReplacingMergeTree(version)\nORDER BY site"), "{}", plain[0]);
    }

    #[test]
    fn a_one_line_ledger_is_adapted_too() {
        let ddl = "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32) ENGINE = MergeTree ORDER BY version";
        let out = layout(false).adapt(ddl).expect("adapted");
        assert_eq!(
            out[0],
            "CREATE TABLE IF NOT EXISTS larder.schema_migrations_local ON CLUSTER c1 (version UInt32) ENGINE = MergeTree ORDER BY version"
        );
    }

    #[test]
    fn a_materialized_view_aggregates_each_shards_rows_into_its_local_table() {
        let ddl = "CREATE MATERIALIZED VIEW IF NOT EXISTS parts_mv TO parts AS\nSELECT\n    site,\n    count() AS n\nFROM events\nGROUP BY site";
        let out = layout(true).adapt(ddl).expect("adapted");
        assert_eq!(
            out,
            vec![
                "CREATE MATERIALIZED VIEW IF NOT EXISTS larder.parts_mv_local ON CLUSTER c1 TO larder.parts_local AS\n\
                 SELECT\n    site,\n    count() AS n\nFROM larder.events_local\nGROUP BY site"
            ]
        );
        assert_eq!(
            layout(false).adapt("TRUNCATE TABLE parts").expect("adapted"),
            vec!["TRUNCATE TABLE larder.parts_local ON CLUSTER c1"]
        );
        let fill = "INSERT INTO parts\nSELECT site, count() FROM events GROUP BY site";
        assert_eq!(layout(false).adapt(fill).expect("adapted"), vec![fill], "through the Distributed tables");
        assert!(layout(false).adapt("TRUNCATE TABLE parts; DROP TABLE x").is_err());
        assert_eq!(
            layout(true).adapt("DROP TABLE IF EXISTS parts").expect("adapted"),
            vec![
                "DROP TABLE IF EXISTS larder.parts ON CLUSTER c1",
                "DROP TABLE IF EXISTS larder.parts_local ON CLUSTER c1"
            ]
        );
        assert!(layout(true).adapt("DROP TABLE IF EXISTS parts; SELECT 1").is_err());
    }

    #[test]
    fn other_statements_are_refused_with_their_beginning() {
        for ddl in ["ALTER TABLE events ADD COLUMN x UInt8", "CREATE TABLE t (x UInt8) ENGINE = Memory"] {
            let err = layout(true).adapt(ddl).expect_err("refused").to_string();
            assert!(err.contains("cluster mode cannot run"), "{ddl}: {err}");
        }
        let memory = "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory";
        assert!(layout(true).adapt(memory).is_err(), "a replicated form of Memory does not exist");
    }
}
