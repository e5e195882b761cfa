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
