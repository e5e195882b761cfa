use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use larder_collector::clock::{Clock, SystemClock};
use larder_collector::{Collector, CollectorConfig};
use larder_core::SiteDomain;
use larder_store::sites::{self, Site};
use larder_store::{EmbeddedConfig, EmbeddedStore, ServerConfig, ServerStore, Store};

pub const SITE: &str = "shop.example";
pub const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Server,
}

pub const BOTH: [Backend; 2] = [Backend::Embedded, Backend::Server];

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub fn server_url() -> String {
    std::env::var("LARDER_TEST_CLICKHOUSE_URL")
        .expect("LARDER_TEST_CLICKHOUSE_URL is not set: run the tests with `make test`, which starts clickhouse-server")
}

/// A migrated store of the given kind with `shop.example` registered.
pub async fn store(backend: Backend, dir: &Path, test: &str) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = match backend {
        Backend::Embedded => Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                data_dir: dir.join("data"),
                library: repo().join("vendor/chdb/libchdb.so"),
                read_connections: 2,
            })
            .await
            .expect("open chDB (run `make test`, which installs it)"),
        ),
        Backend::Server => server_store(&server_url(), test),
    };
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    let site = Site::new(SiteDomain::parse(SITE).expect("site"), chrono::Utc::now());
    sites::add(store.as_ref(), &site).await.expect("add site");
    store
}

pub fn server_store(url: &str, test: &str) -> Arc<dyn Store> {
    let database = format!("t_{test}_{}", uuid::Uuid::new_v4().simple());
    Arc::new(
        ServerStore::new(&ServerConfig { url: url.into(), user: "default".into(), password: String::new(), database })
            .expect("client"),
    )
}

/// Test defaults: a fast flush, no rate limit, the country database, proxies on loopback
/// trusted so that tests choose client addresses with `X-Forwarded-For`.
pub fn config(dir: &Path) -> CollectorConfig {
    let mut config = CollectorConfig::new(dir.join("spool"));
    config.flush_interval = Duration::from_millis(100);
    config.rate_limit_per_second = 0;
    config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    config.geo_database = Some(repo().join("vendor/geo/country.mmdb"));
    config
}

/// A running collector on a loopback port.
pub struct TestApp {
    pub url: String,
    pub store: Arc<dyn Store>,
    pub collector: Option<Collector>,
    server: actix_web::dev::ServerHandle,
    pub client: reqwest::Client,
    pub registry: prometheus_client::registry::Registry,
}

impl TestApp {
    pub async fn start(store: Arc<dyn Store>, config: CollectorConfig) -> Self {
        Self::start_with_clock(store, config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(store: Arc<dyn Store>, config: CollectorConfig, clock: Arc<dyn Clock>) -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let collector =
            Collector::start(config, Arc::clone(&store), clock, &mut registry).await.expect("start collector");
        let routes = collector.configure();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(2)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        // Idle connections are dropped before the server's 5 s keep-alive would close them under
        // a request being sent.
        let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build().expect("client");
        Self { url, store, collector: Some(collector), server: handle, client, registry }
    }

    /// Posts a body as `application/json` from the client address `ip` with a Chrome user agent.
    pub async fn post(&self, body: &str, ip: &str) -> reqwest::Response {
        self.post_with(body, &[("content-type", "application/json"), ("x-forwarded-for", ip), ("user-agent", CHROME)])
            .await
    }

    pub async fn post_with(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.post(format!("{}/api/event", self.url)).body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().await.expect("request")
    }

    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(collector) = self.collector.take() {
            collector.shutdown().await;
        }
    }

    pub fn metrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("encode");
        out
    }
}

pub async fn count(store: &dyn Store, sql: &str) -> u64 {
    let out = store.query_raw(sql, "TabSeparated").await.expect("count query");
    String::from_utf8_lossy(&out).trim().parse().expect("a number")
}

/// Polls `check` until it holds or the deadline passes.
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not true within {deadline:?}");
}

/// One pageview event as JSON.
pub fn pageview(path: &str) -> String {
    format!(r#"{{"site":"{SITE}","name":"pageview","url":"https://{SITE}{path}"}}"#)
}

/// A TCP proxy on loopback in front of the ClickHouse server, which a test can cut to make the
/// store unreachable (new connections refused, open ones dropped) and restore.
pub struct FaultyLink {
    pub url: String,
    down: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl FaultyLink {
    pub async fn to(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (flag, gen_) = (Arc::clone(&down), Arc::clone(&generation));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let (flag, gen_) = (Arc::clone(&flag), Arc::clone(&gen_));
                let born = gen_.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while !flag.load(Ordering::SeqCst) && gen_.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, () = cut => {} }
                });
            }
        });
        Self { url, down, generation }
    }

    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
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

/// A clickhouse-server of the test's own, which the test can stop and start again (same port,
/// same data), started by the project's script on a free loopback port.
pub struct DedicatedServer {
    dir: tempfile::TempDir,
    pub url: String,
}

impl DedicatedServer {
    fn script(command: &str, dir: &Path) -> String {
        let out = std::process::Command::new(repo().join("scripts/ch-server.sh"))
            .arg(command)
            .arg(dir)
            .output()
            .expect("run scripts/ch-server.sh");
        assert!(out.status.success(), "ch-server.sh {command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let url = Self::script("start", dir.path());
        Self { dir, url }
    }

    pub fn stop(&self) {
        Self::script("stop", self.dir.path());
    }

    pub fn start_again(&self) {
        let url = Self::script("start", self.dir.path());
        assert_eq!(url, self.url, "a restarted server keeps its address");
    }
}

impl Drop for DedicatedServer {
    fn drop(&mut self) {
        Self::script("stop", self.dir.path());
    }
}
