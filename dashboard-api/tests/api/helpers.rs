use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpServer};
use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_dashboard_api::ApiState;
use larder_dashboard_api::auth::manage::{self, NewToken, NewUser};
use larder_dashboard_api::auth::{AuthConfig, Clock, Email, PasswordCost, Role};
use larder_store::sites::{self, Site};
use larder_store::{EmbeddedConfig, EmbeddedStore, ServerConfig, ServerStore, Store};
use reqwest::Method;
use serde_json::Value;

pub const SITE: &str = "shop.example";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Server,
}

pub const BOTH: [Backend; 2] = [Backend::Embedded, Backend::Server];

fn chdb_library() -> PathBuf {
    std::env::var_os("LARDER_CHDB_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/chdb/libchdb.so")))
}

pub fn server_url() -> String {
    std::env::var("LARDER_TEST_CLICKHOUSE_URL")
        .expect("LARDER_TEST_CLICKHOUSE_URL is not set: run the tests with `make test`, which starts clickhouse-server")
}

/// A migrated store of the given kind, with `shop.example` registered.
pub async fn store(backend: Backend, dir: &TestDir, test: &str) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = match backend {
        Backend::Embedded => Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                data_dir: dir.path().join("data"),
                library: chdb_library(),
                read_connections: 2,
            })
            .await
            .expect("open chDB (run `make test`, which installs it)"),
        ),
        Backend::Server => {
            let database = format!("t_{test}_{}", uuid::Uuid::new_v4().simple());
            let config = ServerConfig { url: server_url(), user: "default".into(), password: String::new(), database };
            Arc::new(ServerStore::new(&config).expect("client"))
        }
    };
    larder_store::migrate::migrate(store.as_ref()).await.expect("migrate");
    add_site(store.as_ref(), SITE).await;
    store
}

pub async fn add_site(store: &dyn Store, domain: &str) {
    let site = Site::new(SiteDomain::parse(domain).expect("domain"), Utc::now());
    sites::add(store, &site).await.expect("add site");
}

/// A clock the test moves forward.
#[derive(Debug, Default)]
pub struct TestClock(Mutex<chrono::Duration>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        let mut offset = self.0.lock().expect("clock");
        *offset += chrono::Duration::from_std(by).expect("duration");
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().expect("clock")
    }
}

/// Test settings: plain-http cookies, a cheap password hash (the production cost is checked
/// by one test), loopback trusted as a proxy so that tests choose client addresses with
/// `X-Forwarded-For`.
pub fn auth_config(clock: Arc<TestClock>) -> AuthConfig {
    AuthConfig {
        secure_cookies: false,
        trusted_proxies: vec!["127.0.0.1/32".parse().expect("net")],
        password_cost: PasswordCost { memory_kib: 256, iterations: 1, parallelism: 1 },
        clock,
        ..AuthConfig::default()
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Cred {
    None,
    /// A session cookie and its CSRF token (sent on writes).
    Session {
        cookie: String,
        csrf: String,
    },
    /// A session cookie without the CSRF header.
    CookieOnly {
        cookie: String,
    },
    Token(String),
}

impl Cred {
    pub fn without_csrf(&self) -> Self {
        match self {
            Self::Session { cookie, .. } => Self::CookieOnly { cookie: cookie.clone() },
            other => other.clone(),
        }
    }
}

/// The dashboard-api on a loopback port over a real store.
pub struct TestApp {
    pub url: String,
    pub store: Arc<dyn Store>,
    pub state: ApiState,
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn start(store: Arc<dyn Store>, clock: Arc<TestClock>) -> Self {
        let config = auth_config(Arc::clone(&clock));
        Self::start_with(store, config, Some("local-secret")).await
    }

    pub async fn start_with(store: Arc<dyn Store>, config: AuthConfig, local_secret: Option<&str>) -> Self {
        let state = ApiState::new(Arc::clone(&store), local_secret.map(larder_dashboard_api::LocalToken::from_secret))
            .with_auth(config);
        Self::start_state(state).await
    }

    /// Serves `state` (its store, access control, dashboard files) as it is.
    pub async fn start_state(state: ApiState) -> Self {
        let store = Arc::clone(&state.store);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app_state = state.clone();
        let server = HttpServer::new(move || App::new().configure(larder_dashboard_api::configure(app_state.clone())))
            .workers(2)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build().expect("client");
        Self { url, store, state, client, server: handle }
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// Creates a user with [`PASSWORD`] and, optionally, a role on a site.
    pub async fn user(&self, email: &str, grant: Option<(&str, Role)>) {
        let new = NewUser {
            email: Email::parse(email).expect("email"),
            password: Some(PASSWORD.into()),
            grant: grant.map(|(site, role)| (SiteDomain::parse(site).expect("site"), role)),
            instance_admin: false,
        };
        manage::add_user(&self.state, "test", new).await.expect("add user");
    }

    pub async fn make_instance_admin(&self, email: &str) {
        larder_store::auth::set_instance_admin(self.store.as_ref(), email, true).await.expect("admin");
    }

    pub async fn grant(&self, email: &str, site: &str, role: Role) {
        let (email, site) = (Email::parse(email).expect("email"), SiteDomain::parse(site).expect("site"));
        manage::grant(&self.state, "test", &email, &site, role).await.expect("grant");
    }

    /// Creates an API token directly; returns (id, secret).
    pub async fn token(&self, email: &str, sites: &[&str], role: Role, expires_days: Option<u32>) -> (String, String) {
        let new = NewToken {
            email: Email::parse(email).expect("email"),
            sites: sites.iter().map(|s| SiteDomain::parse(s).expect("site")).collect(),
            role,
            expires_days,
            description: "test".into(),
        };
        let created = manage::create_token(&self.state, "test", new).await.expect("token");
        (created.token.id, created.secret)
    }

    /// `POST /api/v1/login` from the client address `ip`.
    pub async fn login_from(&self, email: &str, password: &str, ip: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/login", self.url))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    pub async fn login_response(&self, email: &str, password: &str) -> reqwest::Response {
        self.login_from(email, password, "192.0.2.1").await
    }

    /// Logs in with [`PASSWORD`] and returns the session's credentials.
    pub async fn session(&self, email: &str) -> Cred {
        self.session_with(email, PASSWORD).await
    }

    pub async fn session_with(&self, email: &str, password: &str) -> Cred {
        let response = self.login_response(email, password).await;
        assert_eq!(response.status(), 200, "login of {email}");
        session_of(response).await
    }

    pub fn request(&self, method: Method, path: &str, cred: &Cred) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.url));
        match cred {
            Cred::None => {}
            Cred::Session { cookie, csrf } => {
                request = request.header("cookie", format!("larder_session={cookie}"));
                if method != Method::GET {
                    request = request.header("x-csrf-token", csrf);
                }
            }
            Cred::CookieOnly { cookie } => request = request.header("cookie", format!("larder_session={cookie}")),
            Cred::Token(secret) => request = request.bearer_auth(secret),
        }
        request
    }

    /// Sends a request with an optional JSON body; returns the status and the JSON answer
    /// (`Null` when there is none).
    pub async fn call(&self, method: Method, path: &str, cred: &Cred, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path, cred);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, cred: &Cred) -> (u16, Value) {
        self.call(Method::GET, path, cred, None).await
    }

    /// Every row of a table as text (TSV), to look for what must not be there.
    pub async fn dump(&self, table: &str) -> String {
        let out = self.store.query_raw(&format!("SELECT * FROM {table}"), "TabSeparated").await.expect("dump");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The audit log's entries as (actor, action, site, detail).
    pub async fn audit_entries(&self) -> Vec<(String, String, String, String)> {
        let page = larder_store::auth::audit_page(self.store.as_ref(), None, 0, 10_000).await.expect("audit");
        page.into_iter().map(|e| (e.actor, e.action, e.site, e.detail)).collect()
    }
}

/// The session cookie and CSRF token of a successful login answer.
pub async fn session_of(response: reqwest::Response) -> Cred {
    let cookie = set_cookie(&response).expect("a session cookie");
    let value = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.trim().strip_prefix("larder_session="))
        .expect("larder_session=…")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf_token").to_owned();
    Cred::Session { cookie: value, csrf }
}

pub fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The error code of an error answer.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
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

/// The same store opened afresh, as after a restart of the process: the embedded store is
/// closed and opened again on its directory, the server store gets a new client.
pub async fn reopen(store: Arc<dyn Store>, backend: Backend, dir: &TestDir) -> Arc<dyn Store> {
    let database = store.database().to_owned();
    drop(store);
    match backend {
        Backend::Embedded => {
            // The stopped server's worker threads drop their copies of the store a moment
            // after it stops; until then the directory is still held.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let config =
                    EmbeddedConfig { data_dir: dir.path().join("data"), library: chdb_library(), read_connections: 2 };
                match EmbeddedStore::open(config).await {
                    Ok(store) => break Arc::new(store),
                    Err(e) if std::time::Instant::now() < deadline => {
                        eprintln!("reopen: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("reopen chDB: {e}"),
                }
            }
        }
        Backend::Server => {
            let config = ServerConfig { url: server_url(), user: "default".into(), password: String::new(), database };
            Arc::new(ServerStore::new(&config).expect("client"))
        }
    }
}
