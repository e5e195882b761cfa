//! The server backend: a ClickHouse server or cluster over HTTP, through the official
//! `clickhouse` crate.
//!
//! Schema validation of the crate is turned off: it relies on `describe_include_subcolumns`,
//! which ClickHouse 18.16 lacks, and Larder encodes and decodes its own RowBinary anyway.
//!
//! In cluster mode ([`ServerStore::in_cluster`]) every table is a `Distributed` table over a
//! shard-local `<name>_local` one (see [`crate::cluster`]), and every query carries the settings
//! that make the distributed tables behave as one server's tables would:
//! - `insert_distributed_sync=1`: an insert returns once the rows are on their shards, so a
//!   collector deletes a spool segment only after its events really landed (and an insert
//!   that fails on any shard fails, to be replayed);
//! - `distributed_product_mode=local`: an `IN (subquery)` or `JOIN` over `events` inside a
//!   query over `events` reads each shard's own events. Events are sharded by visitor, and such
//!   subqueries select visits (`session_id`), which never span visitors, so this is exact —
//!   and cheaper than `GLOBAL` (a subquery that is not per visit says `GLOBAL IN` itself);
//! - `load_balancing=in_order`, `prefer_localhost_replica=0`: a shard's reads and writes go to
//!   its first live replica, wherever the process is connected. The small tables (salts,
//!   sessions, users…) all live on the first shard, so every process reads what any other wrote
//!   just before, as on one server.

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::error::{StoreError, parse_error_code};
use crate::{BackendKind, EngineVersion, Store};

/// Settings of the server store.
#[derive(Clone)]
pub struct ServerConfig {
    /// `http://host:8123`.
    pub url: String,
    pub user: String,
    pub password: String,
    /// Database holding Larder's tables; created if missing.
    pub database: String,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .finish()
    }
}

/// The store on a ClickHouse server.
#[derive(Clone)]
pub struct ServerStore {
    client: clickhouse::Client,
    analyst: clickhouse::Client,
    bootstrap: clickhouse::Client,
    database: String,
    cluster: Option<String>,
    version: std::sync::Arc<OnceCell<EngineVersion>>,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStore")
            .field("database", &self.database)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl ServerStore {
    /// Builds the client. Nothing is sent until the first statement, so this succeeds while the
    /// server is down; [`Store::ping`](crate::Store) tells whether it is up.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the database name is not a plain identifier.
    pub fn new(config: &ServerConfig) -> Result<Self, StoreError> {
        if !crate::sql::is_identifier(&config.database) {
            return Err(StoreError::Invalid(format!("database name {:?} is not a plain identifier", config.database)));
        }
        let bootstrap = clickhouse::Client::default()
            .with_url(config.url.trim_end_matches('/'))
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false)
            .with_setting("output_format_json_quote_64bit_integers", "0");
        let client = bootstrap.clone().with_database(&config.database);
        // readonly=1: no writes, no DDL, no settings changes (the query cannot lift its limits),
        // no table functions. The limits themselves come with each query's URL.
        let analyst = client.clone().with_setting("readonly", "1");
        Ok(Self {
            client,
            analyst,
            bootstrap,
            database: config.database.clone(),
            cluster: None,
            version: Default::default(),
        })
    }

    /// The same store in cluster mode: its tables are `Distributed` over the shards of
    /// `cluster` (a name in the servers' `remote_servers`), migrations run `ON CLUSTER`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the name is not a plain identifier.
    pub fn in_cluster(mut self, cluster: &str) -> Result<Self, StoreError> {
        if !crate::sql::is_identifier(cluster) {
            return Err(StoreError::Invalid(format!("cluster name {cluster:?} is not a plain identifier")));
        }
        let distributed = |client: clickhouse::Client| {
            client
                .with_setting("insert_distributed_sync", "1")
                .with_setting("distributed_product_mode", "local")
                .with_setting("load_balancing", "in_order")
                .with_setting("prefer_localhost_replica", "0")
        };
        self.client = distributed(self.client);
        self.analyst = distributed(self.analyst);
        self.bootstrap = distributed(self.bootstrap);
        self.cluster = Some(cluster.to_owned());
        Ok(self)
    }

    /// Creates the database if it is missing (on every node of the cluster in cluster mode).
    /// Called by the migration runner.
    pub(crate) async fn ensure_database(&self) -> Result<(), StoreError> {
        if let Some(cluster) = &self.cluster {
            let known = Self::fetch(
                &self.bootstrap,
                &format!("SELECT count() FROM system.clusters WHERE cluster = {}", crate::sql::quote(cluster)),
                "TabSeparated",
            )
            .await?;
            if known.trim_ascii() == b"0" {
                return Err(StoreError::Invalid(format!(
                    "the server has no cluster named {cluster:?} (remote_servers in its config); check store.cluster"
                )));
            }
        }
        let on_cluster = self.cluster.as_ref().map(|c| format!(" ON CLUSTER {c}")).unwrap_or_default();
        self.bootstrap
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}{on_cluster}", self.database))
            .execute()
            .await
            .map_err(map_error)
    }

    async fn fetch(client: &clickhouse::Client, sql: &str, format: &str) -> Result<Vec<u8>, StoreError> {
        let mut cursor = client.query_raw(sql).fetch_bytes(format).map_err(map_error)?;
        let mut out = Vec::new();
        while let Some(chunk) = cursor.next().await.map_err(map_error)? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// An analyst query's HTTP body, chunk by chunk as it arrives.
struct BodyChunks(clickhouse::query::BytesCursor);

#[async_trait]
impl crate::analyst::ChunkSource for BodyChunks {
    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, StoreError> {
        self.0.next().await.map_err(map_error)
    }
}

/// Bytes of an analyst's result the server keeps in memory before it spills to a temporary
/// file: with `wait_end_of_query=1` it answers only once the query has finished, so that a
/// limit hit late becomes an error status rather than a truncated body.
const ANALYST_BUFFER_BYTES: &str = "1048576";

/// Maps the crate's errors: transport problems are retryable, server answers carry a code.
fn map_error(error: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    match error {
        Error::BadResponse(message) => match parse_error_code(&message) {
            Some(_) => StoreError::from_engine_message(&message),
            None => StoreError::Unavailable { message, source: None },
        },
        Error::Network(_) | Error::TimedOut => StoreError::Unavailable {
            message: "cannot reach the ClickHouse server".into(),
            source: Some(Box::new(error)),
        },
        other => StoreError::Decode(other.to_string()),
    }
}

#[async_trait]
impl Store for ServerStore {
    fn kind(&self) -> BackendKind {
        BackendKind::Server
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.client.query_raw(sql).execute().await.map_err(map_error)
    }

    async fn query_raw(&self, sql: &str, format: &'static str) -> Result<Vec<u8>, StoreError> {
        Self::fetch(&self.client, sql, format).await
    }

    async fn query_analyst(
        &self,
        database: &str,
        sql: &str,
        format: &'static str,
        settings: &[(&'static str, String)],
    ) -> Result<crate::analyst::Chunks, StoreError> {
        if !crate::sql::is_identifier(database) {
            return Err(StoreError::Invalid(format!("database name {database:?} is not a plain identifier")));
        }
        let mut client = self.analyst.clone().with_database(database);
        for (name, value) in settings {
            client = client.with_setting(*name, value);
        }
        // Set last, so that no entry of `settings` can replace them.
        let client = client
            .with_setting("readonly", "1")
            .with_setting("wait_end_of_query", "1")
            .with_setting("buffer_size", ANALYST_BUFFER_BYTES);
        let cursor = client.query_raw(sql).fetch_bytes(format).map_err(map_error)?;
        Ok(crate::analyst::Chunks::new(BodyChunks(cursor)))
    }

    fn database(&self) -> &str {
        &self.database
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    async fn insert_raw(&self, insert: &str, format: &'static str, data: Vec<u8>) -> Result<(), StoreError> {
        self.insert_raw_pieces(insert, format, &mut std::iter::once(data)).await
    }

    async fn insert_raw_pieces(
        &self,
        insert: &str,
        format: &'static str,
        pieces: &mut (dyn Iterator<Item = Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        let mut writer = self.client.insert_formatted_with(format!("{insert} FORMAT {format}"));
        for piece in pieces {
            writer.send(piece.into()).await.map_err(map_error)?;
        }
        writer.end().await.map_err(map_error)
    }

    async fn version(&self) -> Result<EngineVersion, StoreError> {
        self.version
            .get_or_try_init(|| async {
                let raw = Self::fetch(&self.bootstrap, "SELECT version()", "TabSeparated").await?;
                EngineVersion::parse(String::from_utf8_lossy(&raw).trim())
            })
            .await
            .cloned()
    }

    async fn prepare(&self) -> Result<(), StoreError> {
        self.ensure_database().await
    }
}
