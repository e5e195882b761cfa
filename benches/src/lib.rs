//! Shared helpers of the benchmarks: stores to measure, fixture events, and a report line.
//!
//! Each benchmark is a binary in `src/bin/`; `make bench` (scripts/bench.sh) builds them in
//! release mode, starts a throwaway clickhouse-server, runs them and prints Markdown rows that
//! go into the README with the machine and the date.

pub mod loadgen;
pub mod mix;
pub mod procfs;
pub mod service;

use std::path::PathBuf;
use std::sync::Arc;

use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_store::{EmbeddedConfig, EmbeddedStore, ServerConfig, ServerStore, Store};

/// Where `make` installs chDB.
pub fn chdb_library() -> PathBuf {
    std::env::var_os("LARDER_CHDB_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/chdb/libchdb.so")))
}

/// A migrated embedded store in a fresh directory (kept alive by the returned guard).
///
/// # Panics
/// When chDB cannot be opened: a benchmark has nothing to measure then.
pub async fn embedded() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(EmbeddedConfig {
        data_dir: dir.path().join("data"),
        library: chdb_library(),
        read_connections: 2,
    })
    .await
    .expect("open chDB (run `make setup`)");
    let store: Arc<dyn Store> = Arc::new(store);
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    (dir, store)
}

/// A migrated server store in a fresh database, when `LARDER_BENCH_CLICKHOUSE_URL` is set.
///
/// # Panics
/// When the server cannot be migrated.
pub async fn server(name: &str) -> Option<Arc<dyn Store>> {
    let url = std::env::var("LARDER_BENCH_CLICKHOUSE_URL").ok()?;
    let database = format!("bench_{name}_{}", uuid::Uuid::new_v4().simple());
    let config = ServerConfig { url, user: "default".into(), password: String::new(), database };
    let store: Arc<dyn Store> = Arc::new(ServerStore::new(&config).expect("server store"));
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate server");
    Some(store)
}

/// `count` realistic shop events for one site over the last 30 days.
pub fn shop_events(seed: u64, count: usize) -> Vec<larder_core::Event> {
    let site = SiteDomain::parse("shop.example").expect("valid site");
    events(&FixtureSpec {
        seed,
        count,
        sites: vec![site],
        start: chrono::Utc::now() - chrono::Duration::days(30),
        span_secs: 30 * 86_400,
        visitors: (count as u64 / 8).max(1),
    })
}

/// The machine, for the report: CPU model and count.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} × {cpu}")
}

/// Digits grouped by thousands: `"1234567"` → `"1,234,567"`.
pub fn group_digits(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
