//! Everything ClickHouse.
//!
//! Owns the [`Store`] trait and its two backends — [`EmbeddedStore`] (chDB in-process, the
//! default) and [`ServerStore`] (a ClickHouse server or cluster over HTTP) — the row types and
//! their RowBinary encoding, the migration runner, retention, deletion on request, backup and
//! restore, the data map, and the read queries that return core types. No other crate speaks
//! SQL or touches chDB.
//!
//! Both backends run the same SQL: every statement must work on chDB 26.x and on ClickHouse
//! server 18.16. Where a newer feature is worth it, the [`EngineVersion`] is consulted and the
//! code falls back; queries are never forked per backend.

pub mod analyst;
pub mod auth;
pub mod backup;
pub mod cluster;
pub mod copy;
pub mod datamap;
pub mod deletion;
mod embedded;
mod error;
pub mod funnels;
pub mod goals;
pub mod ingest;
pub mod migrate;
pub mod retention;
pub mod rollup;
pub mod rowbinary;
pub mod rows;
pub mod search;
mod server;
pub mod sites;
pub mod sql;
pub mod stats;
pub mod ux;
mod visits;

use async_trait::async_trait;

pub use embedded::{EmbeddedConfig, EmbeddedStore, shutdown_engine as shutdown_embedded_engine};
pub use error::StoreError;
pub use rows::EventRow;
pub use server::{ServerConfig, ServerStore};

/// Which engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Embedded,
    Server,
}

/// The engine's version, for the few places that fall back on older servers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EngineVersion {
    pub major: u32,
    pub minor: u32,
    /// As the engine printed it.
    pub text: String,
}

impl EngineVersion {
    /// Parses `18.16.1` or `26.7.3.1`.
    ///
    /// # Errors
    /// [`StoreError::Decode`] when the text does not start with two dotted numbers.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let mut parts = text.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => Ok(Self { major, minor, text: text.to_owned() }),
            _ => Err(StoreError::Decode(format!("unexpected engine version {text:?}"))),
        }
    }

    /// `LowCardinality` became a regular (non-experimental) type in 19.0.
    pub fn has_low_cardinality(&self) -> bool {
        self.major >= 19
    }

    /// `arrayFill`, with empty arrays handled (20.6; a late 20.5 patch fixed them too).
    pub fn has_array_fill(&self) -> bool {
        (self.major, self.minor) >= (20, 6)
    }

    /// `toUInt128(UUID)` (and `UInt256`): one number per id that orders ids as their text does.
    /// Checked on 26, the release chDB bundles; older servers take the portable forms.
    pub fn has_uuid_number(&self) -> bool {
        self.major >= 26
    }
}

/// A ClickHouse engine Larder can store events in. Object-safe: services hold an
/// `Arc<dyn Store>`; the typed operations live in `impl dyn Store` below and in the modules.
///
/// Implementations must be safe to call from many tokio tasks at once and must not block the
/// async workers.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    fn kind(&self) -> BackendKind;

    /// Runs a statement that returns nothing (DDL, `ALTER`, `INSERT … SELECT`).
    async fn execute(&self, sql: &str) -> Result<(), StoreError>;

    /// Runs a query and returns its whole output in `format` (`RowBinary`, `JSONEachRow`, `CSV`…).
    async fn query_raw(&self, sql: &str, format: &'static str) -> Result<Vec<u8>, StoreError>;

    /// Runs an analyst's statement (see [`analyst`]) with `database` as the current database, on
    /// a session that may not change data, schema or settings (`readonly=1`), with `settings`
    /// (the limits) applied by the engine, and returns the output in `format` as it arrives.
    async fn query_analyst(
        &self,
        database: &str,
        sql: &str,
        format: &'static str,
        settings: &[(&'static str, String)],
    ) -> Result<analyst::Chunks, StoreError>;

    /// The database that holds Larder's tables.
    fn database(&self) -> &str;

    /// The cluster whose shards hold the tables, in cluster mode (see [`cluster`]).
    fn cluster(&self) -> Option<&str> {
        None
    }

    /// Inserts pre-encoded rows: `insert` is `INSERT INTO table (columns)`, `data` is in `format`.
    async fn insert_raw(&self, insert: &str, format: &'static str, data: Vec<u8>) -> Result<(), StoreError>;

    /// As [`Store::insert_raw`], one statement, with the data made piece by piece as it is
    /// sent: each piece is whole rows in `format`. A ClickHouse server is sent each piece (and
    /// its compressed form) as it comes, so memory holds one piece rather than the whole insert;
    /// this default, which the embedded engine (one buffer per insert) keeps, joins them.
    async fn insert_raw_pieces(
        &self,
        insert: &str,
        format: &'static str,
        pieces: &mut (dyn Iterator<Item = Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        let mut data = pieces.next().unwrap_or_default();
        pieces.for_each(|piece| data.extend_from_slice(&piece));
        self.insert_raw(insert, format, data).await
    }

    /// The engine's version (asked once, then cached).
    async fn version(&self) -> Result<EngineVersion, StoreError>;

    /// Creates what must exist before migrations run (the server's database).
    async fn prepare(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl dyn Store {
    /// Checks that the engine answers a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let out = self.query_raw("SELECT 1", "TabSeparated").await?;
        if out.trim_ascii() == b"1" {
            Ok(())
        } else {
            Err(StoreError::Decode(format!("unexpected answer to SELECT 1: {:?}", String::from_utf8_lossy(&out))))
        }
    }

    /// Inserts rows of one type in a single statement, encoded as RowBinary.
    ///
    /// # Errors
    /// As [`Store::insert_raw`].
    pub async fn insert_rows<R: rowbinary::Row>(&self, rows: &[R]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let data = rowbinary::encode_rows(rows);
        self.insert_raw(&R::insert_statement(), "RowBinary", data).await
    }

    /// Inserts validated events.
    ///
    /// # Errors
    /// As [`Store::insert_raw`].
    pub async fn insert_events(&self, events: &[larder_core::Event]) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = events.iter().map(EventRow::from).collect();
        self.insert_rows(&rows).await
    }

    /// Runs `SELECT <R's columns> FROM …` (the caller writes everything after the column list)
    /// and decodes the RowBinary answer.
    ///
    /// # Errors
    /// As [`Store::query_raw`], or [`StoreError::Decode`].
    pub async fn fetch_rows<R: rowbinary::Row>(&self, from_and_rest: &str) -> Result<Vec<R>, StoreError> {
        let sql = format!("SELECT {} {from_and_rest}", R::COLUMNS.join(", "));
        let bytes = self.query_raw(&sql, "RowBinary").await?;
        rowbinary::decode_rows(&bytes)
    }

    /// Runs a query and deserialises each JSONEachRow line into `T`.
    ///
    /// # Errors
    /// As [`Store::query_raw`], or [`StoreError::Decode`].
    pub async fn fetch_json<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, StoreError> {
        let bytes = self.query_raw(sql, "JSONEachRow").await?;
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.trim_ascii().is_empty())
            .map(|line| serde_json::from_slice(line).map_err(|e| StoreError::Decode(e.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_releases_get_the_features_they_have() {
        let of = |text: &str| {
            let v = EngineVersion::parse(text).unwrap_or_else(|e| panic!("{e}"));
            (v.has_array_fill(), v.has_uuid_number())
        };
        assert_eq!(of("18.16.1"), (false, false), "18.16 has neither");
        assert_eq!(of("20.5.2.7"), (false, false), "20.5 mishandled empty arrays in arrayFill until a late patch");
        assert_eq!(of("24.8.1.1"), (true, false));
        assert_eq!(of("26.7.2.1"), (true, true));
    }
}
