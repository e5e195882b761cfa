//! Analysts' SQL: read-only queries over the events of a set of sites, and nothing else.
//!
//! An analyst writes `SELECT … FROM events` and sees only the rows of the sites in their
//! [`Scope`]. Two walls stand between the query and anything else:
//!
//! 1. [`validate`] reads the query with a tokenizer of ClickHouse SQL and accepts one `SELECT`
//!    whose every `FROM`/`JOIN`, at any depth, reads `events` or a subquery; it refuses other
//!    tables and databases, table functions and functions that reach files, the network,
//!    dictionaries or other tables, `SETTINGS`, `INTO OUTFILE`, `FORMAT` and every other
//!    statement. The engine receives the query rebuilt without comments.
//! 2. The engine runs it with a scope database as the current database — named by a hash of
//!    Larder's database and the sorted sites — in which `events` is a view of Larder's table
//!    filtered to those sites, on a session with `readonly=1` (no writes, no DDL, no settings
//!    changes, no `SETTINGS` clause, no table functions on 18.16 and none that reach files or
//!    the network on chDB) and the [`Limits`] as engine settings (`max_execution_time`,
//!    `max_result_rows`/`max_result_bytes` with `result_overflow_mode = 'throw'`,
//!    `max_memory_usage`), which the query cannot lift.
//!
//! The view works the same on 18.16, which lacks row policies, and on chDB, which has no
//! access control at all. What only the first wall stops on the engines Larder supports:
//! a qualified name of another database (`larder.salts`), `IN other_table`, and on chDB the
//! functions `file()`, `merge()`, `view()` and `INTO OUTFILE` (tests in
//! `store/tests/it/analyst.rs` run every escape attempt against both walls separately).

mod lexer;
mod validate;

use async_trait::async_trait;
use bytes::Bytes;
use larder_core::SiteDomain;

pub use validate::{MAX_QUERY_BYTES, Rejection, ValidatedQuery, validate};

use crate::error::{StoreError, parse_error_code};
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
    /// Apache Parquet, where the engine has it (chDB yes, ClickHouse 18.16 no).
    Parquet,
}

impl ExportFormat {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [Self; 4] = [Self::Csv, Self::Tsv, Self::JsonLines, Self::Parquet];

    /// Parses `csv`, `tsv`, `jsonl` (or `ndjson`) or `parquet`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "csv" => Some(Self::Csv),
            "tsv" => Some(Self::Tsv),
            "jsonl" | "ndjson" => Some(Self::JsonLines),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// The name [`ExportFormat::parse`] takes, also the file extension.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::JsonLines => "jsonl",
            Self::Parquet => "parquet",
        }
    }

    /// The ClickHouse format name.
    pub fn engine_format(self) -> &'static str {
        match self {
            Self::Csv => "CSVWithNames",
            Self::Tsv => "TabSeparatedWithNames",
            Self::JsonLines => "JSONEachRow",
            Self::Parquet => "Parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Tsv => "text/tab-separated-values; charset=utf-8",
            Self::JsonLines => "application/x-ndjson",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Bounds on one analyst query, enforced by the engine. A zero counts as one: ClickHouse reads
/// zero as "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_execution_time`, whole seconds (18.16 ignores fractions).
    pub max_execution_secs: u64,
    /// `max_result_rows`.
    pub max_result_rows: u64,
    /// `max_result_bytes`: uncompressed bytes of the result.
    pub max_result_bytes: u64,
    /// `max_memory_usage` of the query.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_execution_secs: 30,
            max_result_rows: 1_000_000,
            max_result_bytes: 1024 * 1024 * 1024,
            max_memory_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// These limits, each lowered to the caller's own choice where it gave a smaller one.
    #[must_use]
    pub fn lowered_to(self, max_result_rows: Option<u64>, max_execution_secs: Option<u64>) -> Self {
        Self {
            max_result_rows: max_result_rows.map_or(self.max_result_rows, |n| n.min(self.max_result_rows)),
            max_execution_secs: max_execution_secs.map_or(self.max_execution_secs, |n| n.min(self.max_execution_secs)),
            ..self
        }
    }

    /// The engine settings that enforce these limits. The backends add `readonly=1` themselves.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("max_execution_time", self.max_execution_secs.max(1).to_string()),
            ("timeout_overflow_mode", "throw".into()),
            ("max_result_rows", self.max_result_rows.max(1).to_string()),
            ("max_result_bytes", self.max_result_bytes.max(1).to_string()),
            ("result_overflow_mode", "throw".into()),
            ("max_memory_usage", self.max_memory_bytes.max(1).to_string()),
        ]
    }
}

/// The sites an analyst query sees: at least one, sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    sites: Vec<SiteDomain>,
}

impl Scope {
    /// A scope over `sites`.
    ///
    /// # Errors
    /// [`AnalystError::NoSites`] when `sites` is empty.
    pub fn new(sites: impl IntoIterator<Item = SiteDomain>) -> Result<Self, AnalystError> {
        let mut sites: Vec<SiteDomain> = sites.into_iter().collect();
        sites.sort();
        sites.dedup();
        if sites.is_empty() { Err(AnalystError::NoSites) } else { Ok(Self { sites }) }
    }

    /// A scope over one site.
    pub fn one(site: SiteDomain) -> Self {
        Self { sites: vec![site] }
    }

    pub fn sites(&self) -> &[SiteDomain] {
        &self.sites
    }

    /// The scope database of these sites in the store whose tables live in `store_database`:
    /// `larder_scope_<16 hex of the database>_<16 hex of the sites>`. The database's part keeps
    /// the scopes of several Larder databases on one server apart (each view reads its own
    /// database), and lets [`drop_scoped_views`] drop only its own.
    pub fn database(&self, store_database: &str) -> String {
        let mut sites = blake3::Hasher::new();
        for site in &self.sites {
            sites.update(site.as_str().as_bytes());
            sites.update(b"\n");
        }
        format!("{}{}", scope_prefix(store_database), short_hex(sites.finalize()))
    }
}

const SCOPE_PREFIX: &str = "larder_scope_";

/// Scope databases of an older layout (one per site, not tied to a database); dropped when seen.
const LEGACY_SCOPE_PREFIX: &str = "larder_site_";

fn scope_prefix(store_database: &str) -> String {
    format!("{SCOPE_PREFIX}{}_", short_hex(blake3::hash(store_database.as_bytes())))
}

fn short_hex(hash: blake3::Hash) -> String {
    hex::encode(&hash.as_bytes()[..8])
}

/// Why an analyst query did not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AnalystError {
    /// The validator refused the query.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The engine refused the query (a syntax error, an unknown column, a write on a read-only
    /// session…); the message is the engine's.
    #[error("{message}")]
    Engine { code: u32, message: String },
    /// The result would have more rows than the limit.
    #[error("the result has more than {limit} rows, the limit; aggregate, filter or add a LIMIT")]
    TooManyRows { limit: u64 },
    /// The result would be larger than the limit.
    #[error("the result is larger than {limit} bytes, the limit; select fewer columns or rows")]
    TooManyBytes { limit: u64 },
    /// The query ran longer than the time limit and was stopped.
    #[error("the query ran longer than {limit_secs} s, the time limit, and was stopped")]
    TimeLimit { limit_secs: u64 },
    /// The query needed more memory than its limit.
    #[error("the query needs more memory than its limit of {limit} bytes")]
    MemoryLimit { limit: u64 },
    /// The engine cannot write this format.
    #[error("the {format} format is not supported by this ClickHouse (version {version}); use csv, tsv or jsonl")]
    FormatUnsupported { format: &'static str, version: String },
    /// A scope needs at least one site.
    #[error("no site to read")]
    NoSites,
    /// The store failed otherwise (unreachable, overloaded…).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AnalystError {
    /// Turns an engine error into what the analyst should hear.
    fn from_store(error: StoreError, limits: &Limits) -> Self {
        let (code, message) = match &error {
            StoreError::Rejected { code, message } => (*code, message.as_str()),
            StoreError::Unavailable { message, .. } => match parse_error_code(message) {
                Some(code) => (code, message.as_str()),
                None => return Self::Store(error),
            },
            _ => return Self::Store(error),
        };
        match code {
            159 | 160 => Self::TimeLimit { limit_secs: limits.max_execution_secs.max(1) },
            158 => Self::TooManyRows { limit: limits.max_result_rows },
            307 => Self::TooManyBytes { limit: limits.max_result_bytes },
            396 if message.contains("max bytes") => Self::TooManyBytes { limit: limits.max_result_bytes },
            396 => Self::TooManyRows { limit: limits.max_result_rows },
            // "(total)" is the server's own limit: another moment may do.
            241 if message.contains("(total)") => Self::Store(error),
            241 => Self::MemoryLimit { limit: limits.max_memory_bytes },
            _ if error.is_retryable() => Self::Store(error),
            _ => Self::Engine { code, message: message.trim().to_owned() },
        }
    }
}

/// A source of result chunks, implemented by each backend.
#[async_trait]
pub(crate) trait ChunkSource: Send {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError>;
}

/// The output of an analyst query as the engine produces it: the embedded engine's in one
/// chunk, a server's as its HTTP body arrives.
pub struct Chunks(Box<dyn ChunkSource>);

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chunks")
    }
}

impl Chunks {
    pub(crate) fn new(source: impl ChunkSource + 'static) -> Self {
        Self(Box::new(source))
    }

    /// The whole output at once.
    pub(crate) fn whole(bytes: Vec<u8>) -> Self {
        struct Whole(Option<Bytes>);
        #[async_trait]
        impl ChunkSource for Whole {
            async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
                Ok(self.0.take().filter(|b| !b.is_empty()))
            }
        }
        Self::new(Whole(Some(Bytes::from(bytes))))
    }

    /// The next chunk, `None` at the end.
    ///
    /// # Errors
    /// Store errors, including a limit the engine hit after output had started.
    pub async fn next(&mut self) -> Result<Option<Bytes>, StoreError> {
        self.0.next_chunk().await
    }
}

/// A running analyst query's output. The first chunk has been read already, so that errors the
/// engine reports before any output (most of them, and every one on a ClickHouse server, which
/// is asked to finish the query before answering) come back from [`stream`] itself.
#[derive(Debug)]
pub struct Output {
    pub format: ExportFormat,
    first: Option<Bytes>,
    rest: Chunks,
    limits: Limits,
}

impl Output {
    /// The next chunk, `None` at the end.
    ///
    /// # Errors
    /// As [`stream`], for errors that happen after output started.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, AnalystError> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        self.rest.next().await.map_err(|e| AnalystError::from_store(e, &self.limits))
    }

    /// Reads the whole output.
    ///
    /// # Errors
    /// As [`Output::next_chunk`].
    pub async fn collect(mut self) -> Result<Vec<u8>, AnalystError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Validates an analyst's query and starts it over the events of `scope`.
///
/// # Errors
/// [`AnalystError::Rejected`] when the validator refuses the query; the limit variants when the
/// engine stopped it; [`AnalystError::Engine`] for anything else the engine refused;
/// [`AnalystError::FormatUnsupported`] for Parquet on an engine without it;
/// [`AnalystError::Store`] when the store fails.
pub async fn stream(
    store: &dyn Store,
    scope: &Scope,
    query: &str,
    format: ExportFormat,
    limits: &Limits,
) -> Result<Output, AnalystError> {
    let query = validate(query, store.database())?;
    if format == ExportFormat::Parquet && !engine_writes(store, format).await? {
        let version = store.version().await?.text;
        return Err(AnalystError::FormatUnsupported { format: format.name(), version });
    }
    let database = prepare_scope(store, scope).await?;
    let settings = limits.settings();
    let started = store.query_analyst(&database, query.as_str(), format.engine_format(), &settings).await;
    let mut rest = match started {
        // The scope was dropped meanwhile (migrations recreate them): create it again, once.
        Err(e) if is_missing_scope(&e, &database) => {
            let database = prepare_scope(store, scope).await?;
            store.query_analyst(&database, query.as_str(), format.engine_format(), &settings).await
        }
        other => other,
    }
    .map_err(|e| AnalystError::from_store(e, limits))?;
    let first = rest.next().await.map_err(|e| AnalystError::from_store(e, limits))?;
    Ok(Output { format, first, rest, limits: *limits })
}

/// Runs an analyst's query over the events of `scope` and returns its whole output.
///
/// # Errors
/// As [`stream`].
pub async fn run(
    store: &dyn Store,
    scope: &Scope,
    query: &str,
    format: ExportFormat,
    limits: &Limits,
) -> Result<Vec<u8>, AnalystError> {
    stream(store, scope, query, format, limits).await?.collect().await
}

/// Creates the scope database of `scope` and its `events` view, if missing, and returns the
/// database's name.
///
/// # Errors
/// Store errors.
pub async fn prepare_scope(store: &dyn Store, scope: &Scope) -> Result<String, StoreError> {
    let database = scope.database(store.database());
    let sites: Vec<String> = scope.sites.iter().map(|s| s.as_str().to_owned()).collect();
    store.execute(&format!("CREATE DATABASE IF NOT EXISTS {database}")).await?;
    store
        .execute(&format!(
            "CREATE VIEW IF NOT EXISTS {database}.events AS SELECT * FROM {}.events WHERE site IN {}",
            store.database(),
            tuple_literal(&sites)
        ))
        .await?;
    Ok(database)
}

/// `('a', 'b')`: a tuple literal of quoted strings, which `IN` takes on every engine version.
fn tuple_literal(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| sql::quote(v)).collect();
    format!("({})", items.join(", "))
}

/// Whether the engine can write `format` (`system.formats` exists on 18.16 and on chDB).
async fn engine_writes(store: &dyn Store, format: ExportFormat) -> Result<bool, StoreError> {
    let out = store
        .query_raw(
            &format!("SELECT count() FROM system.formats WHERE name = {}", sql::quote(format.engine_format())),
            "TabSeparated",
        )
        .await?;
    Ok(out.trim_ascii() != b"0")
}

/// Whether an error says that the scope database or its view does not exist.
fn is_missing_scope(error: &StoreError, database: &str) -> bool {
    matches!(error, StoreError::Rejected { code: 60 | 81, message } if message.contains(database))
}

/// Drops this store's scope databases (and any of the older per-site layout); they are created
/// again on next use. Migrations call it: the views select `*`, fixed when they were created.
///
/// # Errors
/// Store errors.
pub async fn drop_scoped_views(store: &dyn Store) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Name {
        name: String,
    }
    let scopes: Vec<Name> = store
        .fetch_json(&format!(
            "SELECT name FROM system.databases WHERE startsWith(name, {}) OR startsWith(name, {})",
            sql::quote(&scope_prefix(store.database())),
            sql::quote(LEGACY_SCOPE_PREFIX)
        ))
        .await?;
    for Name { name } in scopes {
        if sql::is_identifier(&name) {
            store.execute(&format!("DROP TABLE IF EXISTS {name}.events")).await?;
            store.execute(&format!("DROP DATABASE IF EXISTS {name}")).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(s: &str) -> SiteDomain {
        SiteDomain::parse(s).expect("site")
    }

    #[test]
    fn a_scope_is_named_by_its_database_and_its_sorted_sites() {
        let ab = Scope::new([site("b.example"), site("a.example"), site("a.example")]).expect("scope");
        let ba = Scope::new([site("a.example"), site("b.example")]).expect("scope");
        assert_eq!(ab, ba, "order and duplicates do not matter");
        assert_eq!(ab.database("larder"), ba.database("larder"), "same sites, same database");
        assert_ne!(ab.database("larder"), Scope::one(site("a.example")).database("larder"), "other sites");
        assert_ne!(ab.database("larder"), ab.database("other_db"), "another store's database");
        let name = ab.database("larder");
        assert!(sql::is_identifier(&name) && name.starts_with(&scope_prefix("larder")), "{name}");
        assert!(matches!(Scope::new([]), Err(AnalystError::NoSites)), "empty scope refused");
    }

    #[test]
    fn limits_become_engine_settings_and_zero_never_means_unlimited() {
        let zero = Limits { max_execution_secs: 0, max_result_rows: 0, max_result_bytes: 0, max_memory_bytes: 0 };
        for (name, value) in zero.settings() {
            assert_ne!(value, "0", "{name} must not be 0 (unlimited)");
        }
        let lowered = Limits::default().lowered_to(Some(10), Some(100));
        assert_eq!((lowered.max_result_rows, lowered.max_execution_secs), (10, 30), "only lowered, never raised");
    }

    #[test]
    fn engine_errors_are_told_apart() {
        let limits = Limits::default();
        let rejected = |code: u32, message: &str| StoreError::Rejected { code, message: message.into() };
        let rows =
            AnalystError::from_store(rejected(396, "Code: 396. Limit for result exceeded, max rows: 5"), &limits);
        assert!(matches!(rows, AnalystError::TooManyRows { limit: 1_000_000 }), "{rows:?}");
        let bytes = AnalystError::from_store(rejected(396, "Limit for result exceeded, max bytes: 1 KiB"), &limits);
        assert!(matches!(bytes, AnalystError::TooManyBytes { .. }), "{bytes:?}");
        let slow = StoreError::from_engine_message("Code: 159. DB::Exception: Timeout exceeded: elapsed 1 s");
        assert!(matches!(AnalystError::from_store(slow, &limits), AnalystError::TimeLimit { limit_secs: 30 }));
        let memory = StoreError::from_engine_message("Code: 241. DB::Exception: Memory limit (for query) exceeded");
        assert!(matches!(AnalystError::from_store(memory, &limits), AnalystError::MemoryLimit { .. }));
        let total = StoreError::from_engine_message("Code: 241. DB::Exception: Memory limit (total) exceeded");
        assert!(matches!(AnalystError::from_store(total, &limits), AnalystError::Store(_)), "server-wide");
        let readonly = rejected(164, "Code: 164. Cannot execute query in readonly mode");
        assert!(matches!(AnalystError::from_store(readonly, &limits), AnalystError::Engine { code: 164, .. }));
        let down = StoreError::unavailable("connection refused");
        assert!(matches!(AnalystError::from_store(down, &limits), AnalystError::Store(_)));
    }
}
