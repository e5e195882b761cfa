use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use larder_store::{EmbeddedConfig, EmbeddedStore, ServerConfig, ServerStore, Store};

/// `libchdb.so`: `LARDER_CHDB_LIBRARY`, else where `make` installs it.
pub fn chdb_library() -> PathBuf {
    let path = std::env::var_os("LARDER_CHDB_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/chdb/libchdb.so")));
    assert!(path.exists(), "chDB library missing at {}: run `make test`, which installs it", path.display());
    path
}

/// The test ClickHouse server's URL, set by `make test` (scripts/ch-server.sh).
pub fn server_url() -> String {
    std::env::var("LARDER_TEST_CLICKHOUSE_URL")
        .expect("LARDER_TEST_CLICKHOUSE_URL is not set: run the tests with `make test`, which starts clickhouse-server")
}

/// A store on a fresh chDB data directory, kept alive by the returned guard.
pub async fn embedded() -> (TestDir, Arc<dyn Store>) {
    let dir = test_dir();
    let store = EmbeddedStore::open(EmbeddedConfig {
        data_dir: dir.path().join("data"),
        library: chdb_library(),
        read_connections: 2,
    })
    .await
    .expect("open embedded store");
    (dir, Arc::new(store))
}

/// A store on a fresh database of the test server.
pub fn server(test: &str) -> Arc<dyn Store> {
    let database = format!("t_{}_{}", test, uuid::Uuid::new_v4().simple());
    Arc::new(
        ServerStore::new(&ServerConfig {
            url: server_url(),
            user: "default".into(),
            password: String::new(),
            database,
        })
        .expect("server store"),
    )
}

/// Migrated stores of both kinds.
pub async fn both(test: &str) -> (TestDir, Vec<Arc<dyn Store>>) {
    let (dir, embedded) = embedded().await;
    let server = server(test);
    for store in [&embedded, &server] {
        larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    }
    (dir, vec![embedded, server])
}

/// Polls `check` until it returns true or the deadline passes.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not true within {deadline:?}");
}

pub async fn count(store: &dyn Store, sql: &str) -> u64 {
    let out = store.query_raw(sql, "TabSeparated").await.expect("count query");
    String::from_utf8_lossy(&out).trim().parse().expect("a number")
}

/// A test's temporary directory. Dropped last in a test (declare it first), it stops the
/// embedded engine before the process exits — chDB crashes when exit tears it down while its
/// threads run — and then removes the directory.
pub struct TestDir(Option<tempfile::TempDir>);

impl TestDir {
    pub fn path(&self) -> &std::path::Path {
        self.0.as_ref().map(tempfile::TempDir::path).expect("live directory")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        larder_store::shutdown_embedded_engine();
        drop(self.0.take());
    }
}

pub fn test_dir() -> TestDir {
    TestDir(Some(tempfile::tempdir().expect("temp dir")))
}

/// Every visit's numbers and attributes, as the pre-aggregated `visit_parts` finish them and as
/// grouping the events gives them: count and a checksum of each, which must agree.
pub async fn visits_both_ways(store: &dyn Store) -> (String, String) {
    const COLUMNS: &str = "session_id, visitor_id, started, ended, pageviews, interactions, entry_page, exit_page, \
         source, referrer, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, country, region, city, \
         device, browser, browser_version, os, os_version";
    let order = "concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))";
    let from_events = format!(
        "SELECT site, session_id, min(visitor_id) AS visitor_id, min(timestamp) AS started, max(timestamp) AS ended, \
         countIf(name = 'pageview') AS pageviews, countIf(name NOT IN ('pageview', 'engagement', 'web_vital', 'js_error', \
         'rage_click', 'dead_click')) AS interactions, argMinIf(pathname, {order}, name = 'pageview') AS entry_page, \
         argMaxIf(pathname, {order}, name = 'pageview') AS exit_page, argMin(toString(referrer_source), {order}) AS source, \
         argMin(referrer_host, {order}) AS referrer, argMin(toString(referrer_medium), {order}) AS medium, \
         argMin(utm_source, {order}) AS utm_source, argMin(utm_medium, {order}) AS utm_medium, \
         argMin(utm_campaign, {order}) AS utm_campaign, argMin(utm_term, {order}) AS utm_term, \
         argMin(utm_content, {order}) AS utm_content, min(toString(country)) AS country, min(toString(region)) AS region, \
         min(city) AS city, min(toString(device)) AS device, min(toString(browser)) AS browser, \
         min(toString(browser_version)) AS browser_version, min(toString(os)) AS os, min(toString(os_version)) AS os_version \
         FROM events GROUP BY site, session_id"
    );
    let from_parts = "SELECT site, session_id, min(visitor_id) AS visitor_id, minMerge(s_started) AS started, \
         maxMerge(s_ended) AS ended, sumMerge(s_pageviews) AS pageviews, sumMerge(s_interactions) AS interactions, \
         argMinIfMerge(s_entry_page) AS entry_page, argMaxIfMerge(s_exit_page) AS exit_page, \
         splitByChar('\\0', argMinMerge(s_first_touch)) AS first_touch, first_touch[1] AS source, \
         first_touch[2] AS referrer, first_touch[3] AS medium, first_touch[4] AS utm_source, first_touch[5] AS utm_medium, \
         first_touch[6] AS utm_campaign, first_touch[7] AS utm_term, first_touch[8] AS utm_content, \
         min(toString(country)) AS country, min(toString(region)) AS region, min(city) AS city, \
         min(toString(device)) AS device, min(toString(browser)) AS browser, \
         min(toString(browser_version)) AS browser_version, min(toString(os)) AS os, min(toString(os_version)) AS os_version \
         FROM visit_parts GROUP BY site, session_id";
    let fingerprint = |visits: String| async move {
        let sql = format!("SELECT count(), sum(cityHash64(site, {COLUMNS})) FROM ({visits})");
        let out = store.query_raw(&sql, "TabSeparated").await.expect("visits");
        String::from_utf8_lossy(&out).trim().to_owned()
    };
    (fingerprint(from_parts.to_owned()).await, fingerprint(from_events).await)
}

pub async fn assert_visits_agree(store: &dyn Store, after: &str) {
    let (parts, events) = visits_both_ways(store).await;
    assert_eq!(parts, events, "{:?} after {after}: the pre-aggregated visits are those of the events", store.kind());
}

/// moto's S3-compatible server, started by scripts/s3-server.sh with the bucket `larder-test`,
/// stopped when dropped (also when the test fails).
pub struct S3Server {
    dir: tempfile::TempDir,
    pub endpoint: String,
}

/// The bucket every [`S3Server`] has.
pub const BUCKET: &str = "larder-test";

fn s3_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/s3-server.sh"))
}

impl S3Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let out = std::process::Command::new(s3_script())
            .arg("start")
            .arg(dir.path())
            .arg(BUCKET)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run scripts/s3-server.sh");
        let server = Self { endpoint: String::from_utf8_lossy(&out.stdout).trim().to_owned(), dir };
        assert!(out.status.success(), "scripts/s3-server.sh start failed (is moto installed? scripts/setup.sh test)");
        server
    }

    /// Where Larder's backups reach this server (moto takes any credentials; some are given,
    /// as a real bucket needs them).
    pub fn targets(&self) -> larder_store::backup::Targets {
        larder_store::backup::Targets {
            s3: larder_store::backup::S3Settings {
                endpoint: self.endpoint.clone(),
                region: "us-east-1".into(),
                access_key_id: "larder-test".into(),
                secret_access_key: "larder-test-secret".into(),
                path_style: true,
            },
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = std::process::Command::new(s3_script()).arg("stop").arg(self.dir.path()).status();
    }
}
