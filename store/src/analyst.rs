//! Analysts' SQL: read-only queries over a site's events.
//!
//! An analyst writes `SELECT … FROM events` and sees only the site they asked for: the query
//! runs with a per-site database as its current database, in which `events` is a view over
//! Larder's table filtered to that site, on a session that cannot change data (`readonly=2`).
//! The view works the same on 18.16, which lacks row policies and `additional_table_filters`.
//!
//! This scoping is what `larder sql` needs, run by an operator who holds the data anyway. It
//! is not a security boundary against a hostile query that names `larder.events` directly;
//! the SQL export API must add its own checks (see the dashboard-api).

use larder_core::SiteDomain;

use crate::error::StoreError;
use crate::{Store, sql};

/// Output formats for analysts' results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV with a header line.
    Csv,
    /// Tab-separated with a header line.
    Tsv,
    /// One JSON object per line.
    JsonLines,
}

impl ExportFormat {
    /// Parses `csv`, `tsv` or `jsonl`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "csv" => Some(Self::Csv),
            "tsv" => Some(Self::Tsv),
            "jsonl" | "ndjson" => Some(Self::JsonLines),
            _ => None,
        }
    }
    /// The ClickHouse format name.
    pub fn engine_format(self) -> &'static str {
        match self {
            Self::Csv => "CSVWithNames",
            Self::Tsv => "TabSeparatedWithNames",
            Self::JsonLines => "JSONEachRow",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Tsv => "text/tab-separated-values; charset=utf-8",
            Self::JsonLines => "application/x-ndjson",
        }
    }
}

const SCOPE_PREFIX: &str = "larder_site_";

/// The per-site database name: a prefix and 16 hex digits of the domain's hash.
fn scope_database(site: &SiteDomain) -> String {
    let hash = blake3::hash(site.as_str().as_bytes());
    format!("{SCOPE_PREFIX}{}", hex::encode(&hash.as_bytes()[..8]))
}

/// Runs an analyst's query over one site's events and returns the output.
///
/// # Errors
/// [`StoreError::Rejected`] for SQL the engine refuses (including any write), store errors.
pub async fn run(
    store: &dyn Store,
    site: &SiteDomain,
    query: &str,
    format: ExportFormat,
) -> Result<Vec<u8>, StoreError> {
    let query = query.trim().trim_end_matches(';').trim();
    if query.is_empty() {
        return Err(StoreError::Invalid("the query is empty".into()));
    }
    let scope = scope_database(site);
    store.execute(&format!("CREATE DATABASE IF NOT EXISTS {scope}")).await?;
    store
        .execute(&format!(
            "CREATE VIEW IF NOT EXISTS {scope}.events AS SELECT * FROM {}.events WHERE site = {}",
            store.database(),
            sql::quote(site.as_str())
        ))
        .await?;
    store.query_readonly(&scope, query, format.engine_format()).await
}

/// Drops every per-site view database; they are recreated on next use.
///
/// # Errors
/// Store errors.
pub async fn drop_scoped_views(store: &dyn Store) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Name {
        name: String,
    }
    let scopes: Vec<Name> = store
        .fetch_json(&format!("SELECT name FROM system.databases WHERE startsWith(name, {})", sql::quote(SCOPE_PREFIX)))
        .await?;
    for Name { name } in scopes {
        if sql::is_identifier(&name) {
            store.execute(&format!("DROP TABLE IF EXISTS {name}.events")).await?;
            store.execute(&format!("DROP DATABASE IF EXISTS {name}")).await?;
        }
    }
    Ok(())
}
