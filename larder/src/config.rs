//! Settings: one TOML file, then `LARDER_SECTION__KEY` environment overrides, then flags.
//!
//! [`load`] is a pure function of the file's text and a map of variables, so tests never touch
//! the process environment. Unknown keys are errors; every problem found is reported at once;
//! secrets print as `<redacted>`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything Larder can be configured with. See `larder.example.toml` for each key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub http: HttpSettings,
    pub store: StoreSettings,
    pub ingest: IngestSettings,
    pub geo: GeoSettings,
    pub privacy: PrivacySettings,
    pub auth: AuthSettings,
    pub backup: BackupSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The built dashboard (`index.html`, `assets/`) served at `/`. Empty: dashboard/dist.
    pub dashboard_dir: PathBuf,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 8080)), dashboard_dir: PathBuf::new() }
    }
}

impl HttpSettings {
    /// The directory of the built dashboard: the configured one, else where `make` builds it.
    pub fn dashboard_dir_path(&self) -> PathBuf {
        if self.dashboard_dir.as_os_str().is_empty() {
            installed_file("dashboard/dist")
        } else {
            self.dashboard_dir.clone()
        }
    }
}

/// Which ClickHouse engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// chDB in-process, on `data_dir`.
    #[default]
    Embedded,
    /// A ClickHouse server or cluster over HTTP.
    Server,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub backend: Backend,
    /// Embedded: the data directory (also holds the spool and the control file).
    pub data_dir: PathBuf,
    /// Embedded: path of `libchdb.so`; empty means where `make` installed it.
    pub chdb_library: PathBuf,
    /// Embedded: connections serving dashboard queries (inserts have their own).
    pub read_connections: usize,
    /// Server: `http://host:8123`.
    pub url: String,
    pub user: String,
    pub password: Secret,
    pub database: String,
    /// Server: the cluster (a name in the servers' `remote_servers`) whose shards hold the
    /// tables; empty: one server. Every Larder process of a cluster sets the same name.
    pub cluster: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Embedded,
            data_dir: PathBuf::from("./data"),
            chdb_library: PathBuf::new(),
            read_connections: 3,
            url: "http://127.0.0.1:8123".into(),
            user: "default".into(),
            password: Secret::default(),
            database: "larder".into(),
            cluster: String::new(),
        }
    }
}

impl StoreSettings {
    /// The chDB library to load: the configured path, else where `make` installs it.
    pub fn chdb_library_path(&self) -> PathBuf {
        if !self.chdb_library.as_os_str().is_empty() {
            return self.chdb_library.clone();
        }
        installed_file("vendor/chdb/libchdb.so")
    }
}

/// A file that `make` produces in the repository: the first that exists of `relative` under
/// the working directory, beside the repository the binary was built in (`target/*/larder`),
/// and in the source tree; else `relative` itself (the error then names it).
pub fn installed_file(relative: &str) -> PathBuf {
    let relative = Path::new(relative);
    let mut candidates = vec![relative.to_path_buf()];
    if let Ok(exe) = std::env::current_exe()
        && let Some(repo) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(repo.join(relative));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative));
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates.swap_remove(0))
}

/// Whether sessions are coordinated between collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coordination {
    /// On for a ClickHouse server (several collectors may share it), off for the embedded store.
    #[default]
    Auto,
    On,
    Off,
}

/// Ingestion: the collector's spool, batching, sessions, limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Where accepted events wait for the store. Empty: `<store.data_dir>/spool`.
    pub spool_dir: PathBuf,
    pub max_body_bytes: usize,
    /// Beyond this much unflushed data, new events get 503 with Retry-After.
    pub spool_max_bytes: u64,
    /// A spool segment becomes one insert at this size or after `flush_interval_ms`.
    pub segment_max_bytes: u64,
    pub flush_interval_ms: u64,
    /// Most events per insert when catching up on a backlog.
    pub flush_max_events: usize,
    /// A visit ends after this much inactivity.
    pub session_timeout_secs: u64,
    pub coordinate_sessions: Coordination,
    /// This collector's name among its peers. Empty: host name and process id.
    pub collector_id: String,
    pub peer_timeout_ms: u64,
    /// CIDRs of proxies whose X-Forwarded-For / Forwarded headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Requests per second from one client address (0 disables the limit) and the burst.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// The built tracker served at /larder.js. Empty: tracker-js/dist/larder.js.
    pub tracker_script: PathBuf,
    /// At shutdown, how long to keep flushing before leaving the rest in the spool.
    pub shutdown_drain_ms: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        let collector = larder_collector::CollectorConfig::new(PathBuf::new());
        Self {
            spool_dir: PathBuf::new(),
            max_body_bytes: collector.max_body_bytes,
            spool_max_bytes: collector.spool_max_bytes,
            segment_max_bytes: collector.segment_max_bytes,
            flush_interval_ms: millis(collector.flush_interval),
            flush_max_events: collector.flush_max_events,
            session_timeout_secs: collector.session_timeout.as_secs(),
            coordinate_sessions: Coordination::Auto,
            collector_id: String::new(),
            peer_timeout_ms: millis(collector.peer_timeout),
            trusted_proxies: Vec::new(),
            rate_limit_per_second: collector.rate_limit_per_second,
            rate_limit_burst: collector.rate_limit_burst,
            tracker_script: PathBuf::new(),
            shutdown_drain_ms: millis(collector.shutdown_drain),
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Geolocation databases (MaxMind DB format).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoSettings {
    /// Country database. Empty: the one `make` installs (vendor/geo/country.mmdb); "off": none.
    pub country_database: String,
    /// Optional city database (GeoLite2-City or DB-IP City Lite) for region and city.
    pub city_database: String,
}

/// Defaults given to newly registered sites.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Whether new sites skip visitors who send `Sec-GPC: 1` or `DNT: 1`.
    pub honour_privacy_signals: bool,
    /// How long new sites keep events.
    pub retention_days: u32,
    /// The hour (UTC, 0 to 23) at which `larder serve` applies every site's retention each day.
    pub retention_hour_utc: u32,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self { honour_privacy_signals: true, retention_days: 730, retention_hour_utc: 3 }
    }
}

/// Whether the dashboard's session cookie is marked `Secure` (sent over https only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecurity {
    /// On, unless `http.listen` is a loopback address (plain http from the same machine).
    #[default]
    Auto,
    On,
    Off,
}

/// Access control: dashboard sessions and the login lock-out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// A login session lasts this long.
    pub session_ttl_secs: u64,
    pub secure_cookies: CookieSecurity,
    /// Failed logins of one account, or from one address, within `failed_login_window_secs`
    /// that lock further logins out for `lockout_secs`.
    pub max_failed_logins: u32,
    pub failed_login_window_secs: u64,
    pub lockout_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let auth = larder_dashboard_api::auth::AuthConfig::default();
        Self {
            session_ttl_secs: auth.session_ttl.as_secs(),
            secure_cookies: CookieSecurity::Auto,
            max_failed_logins: auth.max_failed_logins,
            failed_login_window_secs: auth.failed_login_window.as_secs(),
            lockout_secs: auth.lockout.as_secs(),
        }
    }
}

/// Backups to S3-compatible buckets (`larder backup --to s3://bucket/prefix`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// `https://…`, or `http://…` for a server on a private network. Empty: AWS S3 itself.
    pub s3_endpoint: String,
    pub s3_region: String,
    /// Empty: the `AWS_ACCESS_KEY_ID` environment variable; with neither, the machine's role
    /// (the cloud's instance metadata).
    pub s3_access_key_id: String,
    /// Empty: the `AWS_SECRET_ACCESS_KEY` environment variable.
    pub s3_secret_access_key: Secret,
    /// `endpoint/bucket/key` requests (MinIO and most self-hosted servers) instead of
    /// `bucket.endpoint/key`.
    pub s3_path_style: bool,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
            s3_path_style: false,
        }
    }
}

impl BackupSettings {
    /// Where backups may go, as the store's backup module opens them.
    pub fn targets(&self) -> larder_store::backup::Targets {
        larder_store::backup::Targets {
            s3: larder_store::backup::S3Settings {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.expose().to_owned(),
                path_style: self.s3_path_style,
            },
        }
    }

    /// The standard AWS variables fill in the credentials the configuration leaves empty.
    fn fill_from_aws_env(&mut self, env: &BTreeMap<String, String>) {
        if self.s3_access_key_id.is_empty()
            && let Some(id) = env.get("AWS_ACCESS_KEY_ID")
        {
            self.s3_access_key_id.clone_from(id);
        }
        if self.s3_secret_access_key.expose().is_empty()
            && let Some(secret) = env.get("AWS_SECRET_ACCESS_KEY")
        {
            self.s3_secret_access_key = Secret(secret.clone());
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter: `info`, `warn,larder=debug`…
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A secret setting: prints as `<redacted>`, serialises as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<redacted>" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Everything wrong with a configuration, listed at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Where settings come from, as text: the file (if any) and the environment.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// The TOML file's name (for messages) and text.
    pub file: Option<(&'a Path, &'a str)>,
    /// Environment variables; only `LARDER_SECTION__KEY` ones are read.
    pub env: &'a BTreeMap<String, String>,
}

/// Builds settings from defaults, the file, then environment overrides, and validates them.
///
/// # Errors
/// [`ConfigError`] listing every problem found.
pub fn load(sources: &Sources<'_>) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    let mut table = match sources.file {
        Some((path, text)) => match text.parse::<toml::Table>() {
            Ok(table) => table,
            Err(e) => return Err(ConfigError { problems: vec![format!("{}: {e}", path.display())] }),
        },
        None => toml::Table::new(),
    };
    let defaults = toml::Table::try_from(Settings::default()).unwrap_or_default();
    let origin = sources.file.map(|(p, _)| p.display().to_string()).unwrap_or_else(|| "settings".into());
    remove_unknown_keys(&mut table, &defaults, &origin, &mut problems);
    for (name, raw) in sources.env {
        let Some(rest) = name.strip_prefix("LARDER_") else { continue };
        let Some((section, key)) = rest.split_once("__") else { continue };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let Some(default_section) = defaults.get(&section).and_then(toml::Value::as_table) else {
            problems.push(format!("{name}: unknown section [{section}]"));
            continue;
        };
        let Some(default_value) = default_section.get(&key) else {
            problems.push(format!("{name}: unknown key {key:?} in [{section}]"));
            continue;
        };
        match override_value(default_value, raw) {
            Ok(value) => {
                let entry = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                match entry.as_table_mut() {
                    Some(t) => {
                        t.insert(key, value);
                    }
                    None => problems.push(format!("{name}: [{}] is not a table in the file", rest)),
                }
            }
            Err(why) => problems.push(format!("{name}: {why}")),
        }
    }
    let settings = match Settings::deserialize(toml::Value::Table(table)) {
        Ok(mut settings) => {
            settings.backup.fill_from_aws_env(sources.env);
            Some(settings)
        }
        Err(e) => {
            problems.push(format!("{origin}: {}", e.message()));
            None
        }
    };
    if let Some(settings) = &settings {
        problems.extend(settings.problems());
    }
    match settings {
        Some(settings) if problems.is_empty() => Ok(settings),
        _ => Err(ConfigError { problems }),
    }
}

/// Reports and drops keys the settings do not have, so that every one is listed and the rest
/// of the file is still checked.
fn remove_unknown_keys(table: &mut toml::Table, defaults: &toml::Table, origin: &str, problems: &mut Vec<String>) {
    table.retain(|section, value| {
        let Some(known) = defaults.get(section).and_then(toml::Value::as_table) else {
            problems.push(format!("{origin}: unknown section [{section}]"));
            return false;
        };
        if let Some(keys) = value.as_table_mut() {
            keys.retain(|key, _| {
                let ok = known.contains_key(key);
                if !ok {
                    problems.push(format!("{origin}: unknown key {key:?} in [{section}]"));
                }
                ok
            });
        }
        true
    });
}

/// Converts an environment value to the type the key has by default.
fn override_value(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    use toml::Value;
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Integer(_) => raw.trim().parse().map(Value::Integer).map_err(|_| format!("{raw:?} is not an integer")),
        Value::Float(_) => raw.trim().parse().map(Value::Float).map_err(|_| format!("{raw:?} is not a number")),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
            _ => Err(format!("{raw:?} is not true or false")),
        },
        Value::Array(_) => Ok(Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        )),
        other => Err(format!("cannot be set from the environment (a {})", other.type_str())),
    }
}

impl Settings {
    /// Problems that types alone do not catch.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let store = &self.store;
        if !(1..=64).contains(&store.read_connections) {
            out.push(format!("store.read_connections: {} is not in 1..=64", store.read_connections));
        }
        if !larder_store::sql::is_identifier(&store.database) {
            out.push(format!("store.database: {:?} is not a plain identifier", store.database));
        }
        if store.backend == Backend::Server && !(store.url.starts_with("http://") || store.url.starts_with("https://"))
        {
            out.push(format!("store.url: {:?} must start with http:// or https://", store.url));
        }
        if !store.cluster.is_empty() && !larder_store::sql::is_identifier(&store.cluster) {
            out.push(format!("store.cluster: {:?} is not a plain identifier", store.cluster));
        }
        if store.backend == Backend::Embedded && !store.cluster.is_empty() {
            out.push("store.cluster: cluster mode needs store.backend = \"server\"".into());
        }
        if store.backend == Backend::Embedded && store.data_dir.as_os_str().is_empty() {
            out.push("store.data_dir: must not be empty".into());
        }
        let ingest = &self.ingest;
        for cidr in &ingest.trusted_proxies {
            if cidr.parse::<ipnet::IpNet>().is_err() && cidr.parse::<std::net::IpAddr>().is_err() {
                out.push(format!("ingest.trusted_proxies: {cidr:?} is not an address or CIDR"));
            }
        }
        for (name, value, min) in [
            ("ingest.max_body_bytes", ingest.max_body_bytes as u64, 1024),
            ("ingest.spool_max_bytes", ingest.spool_max_bytes, 1024 * 1024),
            ("ingest.segment_max_bytes", ingest.segment_max_bytes, 4096),
            ("ingest.flush_interval_ms", ingest.flush_interval_ms, 10),
            ("ingest.flush_max_events", ingest.flush_max_events as u64, 100),
            ("ingest.session_timeout_secs", ingest.session_timeout_secs, 60),
            ("ingest.peer_timeout_ms", ingest.peer_timeout_ms, 1000),
        ] {
            if value < min {
                out.push(format!("{name}: {value} is below the minimum {min}"));
            }
        }
        if self.privacy.retention_days == 0 {
            out.push("privacy.retention_days: must be at least 1".into());
        }
        if self.privacy.retention_hour_utc > 23 {
            out.push(format!(
                "privacy.retention_hour_utc: {} is not an hour (0 to 23)",
                self.privacy.retention_hour_utc
            ));
        }
        let auth = &self.auth;
        for (name, value, range) in [
            ("auth.session_ttl_secs", auth.session_ttl_secs, 60..=366 * 86_400),
            ("auth.max_failed_logins", u64::from(auth.max_failed_logins), 1..=1000),
            ("auth.failed_login_window_secs", auth.failed_login_window_secs, 1..=86_400),
            ("auth.lockout_secs", auth.lockout_secs, 1..=86_400),
        ] {
            if !range.contains(&value) {
                out.push(format!("{name}: {value} is not in {}..={}", range.start(), range.end()));
            }
        }
        let backup = &self.backup;
        if !(backup.s3_endpoint.is_empty()
            || backup.s3_endpoint.starts_with("http://")
            || backup.s3_endpoint.starts_with("https://"))
        {
            out.push(format!(
                "backup.s3_endpoint: {:?} must start with http:// or https:// (or be empty: AWS)",
                backup.s3_endpoint
            ));
        }
        if backup.s3_region.trim().is_empty() {
            out.push("backup.s3_region: must not be empty".into());
        }
        if backup.s3_access_key_id.is_empty() != backup.s3_secret_access_key.expose().is_empty() {
            out.push(
                "backup.s3_access_key_id and backup.s3_secret_access_key: give both (or neither: the machine's role, from the cloud's instance metadata)"
                    .into(),
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            out.push(format!("log.level: {:?} is not a tracing filter", self.log.level));
        }
        out
    }
}

impl Settings {
    /// Access control's configuration, for a server listening on `listen_ip` (which decides
    /// `secure_cookies = "auto"`). The proxies trusted for client addresses are
    /// `ingest.trusted_proxies`: the same proxies front the collector and the API.
    pub fn auth_config(&self, listen_ip: std::net::IpAddr) -> larder_dashboard_api::auth::AuthConfig {
        use std::time::Duration;
        let auth = &self.auth;
        larder_dashboard_api::auth::AuthConfig {
            session_ttl: Duration::from_secs(auth.session_ttl_secs),
            secure_cookies: match auth.secure_cookies {
                CookieSecurity::On => true,
                CookieSecurity::Off => false,
                CookieSecurity::Auto => !listen_ip.is_loopback(),
            },
            max_failed_logins: auth.max_failed_logins,
            failed_login_window: Duration::from_secs(auth.failed_login_window_secs),
            lockout: Duration::from_secs(auth.lockout_secs),
            trusted_proxies: self
                .ingest
                .trusted_proxies
                .iter()
                .filter_map(|cidr| {
                    cidr.parse::<ipnet::IpNet>()
                        .ok()
                        .or_else(|| cidr.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
                })
                .collect(),
            ..larder_dashboard_api::auth::AuthConfig::default()
        }
    }

    /// What sites created through the API start with.
    pub fn site_defaults(&self) -> larder_dashboard_api::SiteDefaults {
        larder_dashboard_api::SiteDefaults {
            retention_days: self.privacy.retention_days,
            honour_privacy_signals: self.privacy.honour_privacy_signals,
        }
    }

    /// The collector's configuration these settings describe.
    ///
    /// # Errors
    /// A trusted proxy that does not parse (already reported by [`load`]).
    pub fn collector_config(&self) -> anyhow::Result<larder_collector::CollectorConfig> {
        use std::time::Duration;
        let ingest = &self.ingest;
        let spool_dir = if ingest.spool_dir.as_os_str().is_empty() {
            self.store.data_dir.join("spool")
        } else {
            ingest.spool_dir.clone()
        };
        let mut config = larder_collector::CollectorConfig::new(spool_dir);
        config.max_body_bytes = ingest.max_body_bytes;
        config.spool_max_bytes = ingest.spool_max_bytes;
        config.segment_max_bytes = ingest.segment_max_bytes;
        config.flush_interval = Duration::from_millis(ingest.flush_interval_ms);
        config.flush_max_events = ingest.flush_max_events;
        config.session_timeout = Duration::from_secs(ingest.session_timeout_secs);
        config.coordinate_sessions = match ingest.coordinate_sessions {
            Coordination::On => true,
            Coordination::Off => false,
            Coordination::Auto => self.store.backend == Backend::Server,
        };
        if !ingest.collector_id.is_empty() {
            config.collector_id.clone_from(&ingest.collector_id);
        }
        config.peer_timeout = Duration::from_millis(ingest.peer_timeout_ms);
        config.trusted_proxies = ingest
            .trusted_proxies
            .iter()
            .map(|cidr| {
                cidr.parse::<ipnet::IpNet>()
                    .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| anyhow::anyhow!("ingest.trusted_proxies: {cidr:?} is not an address or CIDR"))
            })
            .collect::<anyhow::Result<_>>()?;
        config.rate_limit_per_second = ingest.rate_limit_per_second;
        config.rate_limit_burst = ingest.rate_limit_burst;
        config.tracker_script = Some(if ingest.tracker_script.as_os_str().is_empty() {
            installed_file("tracker-js/dist/larder.js")
        } else {
            ingest.tracker_script.clone()
        });
        config.shutdown_drain = Duration::from_millis(ingest.shutdown_drain_ms);
        config.geo_database = match self.geo.country_database.as_str() {
            "off" => None,
            "" => Some(installed_file("vendor/geo/country.mmdb")).filter(|p| p.exists()),
            path => Some(PathBuf::from(path)),
        };
        config.city_database = (!self.geo.city_database.is_empty()).then(|| PathBuf::from(&self.geo.city_database));
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load_from(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = env(vars);
        load(&Sources { file: file.map(|text| (Path::new("larder.toml"), text)), env: &env })
    }

    #[test]
    fn defaults_serve_the_embedded_store_on_loopback() {
        let settings = load_from(None, &[]).expect("defaults are valid");
        assert_eq!(settings.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.store.backend, Backend::Embedded);
        assert_eq!(settings.store.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn environment_overrides_the_file_with_typed_values() {
        let file = "[store]\nbackend = \"server\"\nurl = \"http://db:8123\"\nread_connections = 2\n";
        let settings = load_from(
            Some(file),
            &[
                ("LARDER_STORE__READ_CONNECTIONS", "5"),
                ("LARDER_HTTP__LISTEN", "0.0.0.0:9000"),
                ("LARDER_STORE__PASSWORD", "12345"),
                ("LARDER_CONFIG", "ignored: not a section override"),
                ("PATH", "/usr/bin"),
            ],
        )
        .expect("valid");
        assert_eq!(settings.store.backend, Backend::Server, "file value kept");
        assert_eq!(settings.store.url, "http://db:8123");
        assert_eq!(settings.store.read_connections, 5, "env wins over the file");
        assert_eq!(settings.http.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.store.password.expose(), "12345", "a numeric secret stays text");
    }

    #[test]
    fn the_example_file_is_valid_and_states_the_defaults() {
        let example = include_str!("../../larder.example.toml");
        let settings = load_from(Some(example), &[]).expect("the example parses");
        let as_toml = |s: &Settings| toml::to_string(s).unwrap_or_default();
        assert_eq!(as_toml(&settings), as_toml(&Settings::default()), "larder.example.toml shows every default");
        let defaults = toml::Table::try_from(Settings::default()).unwrap_or_default();
        let file: toml::Table = example.parse().unwrap_or_default();
        for (section, keys) in &defaults {
            for key in keys.as_table().map(|t| t.keys().collect::<Vec<_>>()).unwrap_or_default() {
                assert!(
                    file.get(section).and_then(|t| t.get(key)).is_some(),
                    "larder.example.toml documents [{section}] {key}"
                );
            }
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let err = load_from(
            None,
            &[("LARDER_STORE__READ_CONNECTIONS", "many"), ("LARDER_NOPE__X", "1"), ("LARDER_LOG__LEVEL", "[[[")],
        )
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 3, "{err}");
        assert!(err.problems[0].contains("LARDER_NOPE__X: unknown section"), "{err}");
        assert!(err.problems[1].contains("\"many\" is not an integer"), "{err}");
        assert!(err.problems[2].contains("log.level"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = load_from(Some("[store]\ndata_directory = \"x\"\n"), &[]).expect_err("unknown key");
        assert!(err.to_string().contains("unknown key \"data_directory\" in [store]"), "{err}");
        let err = load_from(Some("[store]\nbackend = \"server\"\nurl = \"db:8123\"\ndatabase = \"a-b\"\n"), &[])
            .expect_err("bad values");
        assert_eq!(err.problems.len(), 2, "{err}");
        let err = load_from(Some("[http\nlisten = 1"), &[]).expect_err("bad toml");
        assert!(err.to_string().contains("larder.toml"), "{err}");
        let err = load_from(None, &[("LARDER_STORE__BOGUS", "1")]).expect_err("unknown env key");
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = load_from(Some("[nope]\nx = 1\n[store]\nread_connectionz = 1\nread_connections = \"two\"\n"), &[])
            .expect_err("several problems");
        assert_eq!(err.problems.len(), 3, "unknown section, unknown key and a wrong type, all at once: {err}");
    }

    #[test]
    fn secure_cookies_follow_the_listen_address_unless_set() {
        let loopback: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
        let public: std::net::IpAddr = "0.0.0.0".parse().expect("ip");
        let auto = load_from(None, &[]).expect("valid");
        assert!(!auto.auth_config(loopback).secure_cookies, "auto: plain http on loopback");
        assert!(auto.auth_config(public).secure_cookies, "auto: secure elsewhere");
        let on = load_from(Some("[auth]\nsecure_cookies = \"on\"\n"), &[]).expect("valid");
        assert!(on.auth_config(loopback).secure_cookies, "on: secure even on loopback");
        let off = load_from(None, &[("LARDER_AUTH__SECURE_COOKIES", "off")]).expect("valid");
        assert!(!off.auth_config(public).secure_cookies, "off: never");
        let err = load_from(Some("[auth]\nmax_failed_logins = 0\nlockout_secs = 0\n"), &[]).expect_err("invalid");
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn a_cluster_is_a_plain_name_for_the_server_backend() {
        let settings =
            load_from(Some("[store]\nbackend = \"server\"\n"), &[("LARDER_STORE__CLUSTER", "larder")]).expect("valid");
        assert_eq!(settings.store.cluster, "larder", "set from the environment");
        let err = load_from(Some("[store]\nbackend = \"server\"\ncluster = \"a b\"\n"), &[]).expect_err("bad name");
        assert!(err.to_string().contains("store.cluster: \"a b\" is not a plain identifier"), "{err}");
        let err = load_from(Some("[store]\ncluster = \"larder\"\n"), &[]).expect_err("embedded");
        assert!(err.to_string().contains("cluster mode needs store.backend = \"server\""), "{err}");
    }

    #[test]
    fn s3_settings_come_from_the_file_larder_variables_or_the_aws_ones() {
        let file = "[backup]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_path_style = true\n";
        let settings = load_from(
            Some(file),
            &[("LARDER_BACKUP__S3_ACCESS_KEY_ID", "larder"), ("LARDER_BACKUP__S3_SECRET_ACCESS_KEY", "s3cr3t")],
        )
        .expect("valid");
        let targets = settings.backup.targets();
        assert_eq!(targets.s3.endpoint, "http://127.0.0.1:9000");
        assert!(targets.s3.path_style, "path-style requests from the file");
        assert_eq!((targets.s3.access_key_id.as_str(), targets.s3.secret_access_key.as_str()), ("larder", "s3cr3t"));
        let from_aws = load_from(None, &[("AWS_ACCESS_KEY_ID", "aws-id"), ("AWS_SECRET_ACCESS_KEY", "aws-secret")])
            .expect("valid");
        assert_eq!(from_aws.backup.s3_access_key_id, "aws-id", "the standard variable fills an empty key id");
        assert_eq!(from_aws.backup.s3_secret_access_key.expose(), "aws-secret");
        let printed = format!("{from_aws:?} {}", toml::to_string(&from_aws).unwrap_or_default());
        assert!(!printed.contains("aws-secret"), "the secret key never prints: {printed}");
        let larder_wins = load_from(
            None,
            &[
                ("AWS_ACCESS_KEY_ID", "aws-id"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("LARDER_BACKUP__S3_ACCESS_KEY_ID", "mine"),
            ],
        )
        .expect("valid");
        assert_eq!(larder_wins.backup.s3_access_key_id, "mine", "Larder's own setting wins");

        let err = load_from(
            Some("[backup]\ns3_endpoint = \"minio:9000\"\ns3_region = \"\"\ns3_bucket = \"x\"\n"),
            &[("LARDER_BACKUP__S3_ACCESS_KEY_ID", "only-the-id")],
        )
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 4, "unknown key, endpoint, region, half the credentials: {err}");
        assert!(err.to_string().contains("unknown key \"s3_bucket\" in [backup]"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let settings = load_from(None, &[("LARDER_STORE__PASSWORD", "hunter2")]).expect("valid");
        let printed = format!("{settings:?} {}", toml::to_string(&settings).unwrap_or_default());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
