//! The collector's settings, typed. The `larder` binary builds them from the `[ingest]`,
//! `[geo]` and `[privacy]` sections of the configuration file.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// Everything the collector needs to know.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Where accepted events wait until they are in the store.
    pub spool_dir: PathBuf,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// When the spool holds this much, new events get `503` with `Retry-After`.
    pub spool_max_bytes: u64,
    /// A spool segment is closed (and becomes one insert) at this size…
    pub segment_max_bytes: u64,
    /// …or this age, whichever comes first.
    pub flush_interval: Duration,
    /// Most events in one insert when the batcher catches up on a backlog.
    pub flush_max_events: usize,
    /// A visit ends after this much inactivity.
    pub session_timeout: Duration,
    /// Whether several collectors share the store: sessions then wait for live peers' pending
    /// snapshots so that they agree (see `coordination`).
    pub coordinate_sessions: bool,
    /// This collector's stable name among its peers.
    pub collector_id: String,
    /// A peer silent for this long is considered gone.
    pub peer_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per second allowed from one client address (0: no limit), and the burst.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// The country database (MaxMind DB format); `None` disables geo.
    pub geo_database: Option<PathBuf>,
    /// An optional city database (GeoLite2-City / DB-IP City Lite format) for region and city.
    pub city_database: Option<PathBuf>,
    /// The built tracker script served at `/larder.js`.
    pub tracker_script: Option<PathBuf>,
    /// How often registered sites are re-read from the store.
    pub sites_refresh: Duration,
    /// At shutdown, how long the batcher keeps flushing before leaving the rest in the spool.
    pub shutdown_drain: Duration,
}

impl CollectorConfig {
    /// Defaults for a spool in `spool_dir`: what `larder serve` uses unless configured.
    pub fn new(spool_dir: PathBuf) -> Self {
        Self {
            spool_dir,
            max_body_bytes: 64 * 1024,
            spool_max_bytes: 1024 * 1024 * 1024,
            segment_max_bytes: 8 * 1024 * 1024,
            flush_interval: Duration::from_millis(1000),
            flush_max_events: 100_000,
            session_timeout: Duration::from_secs(30 * 60),
            coordinate_sessions: false,
            collector_id: default_collector_id(),
            peer_timeout: Duration::from_secs(15),
            trusted_proxies: Vec::new(),
            rate_limit_per_second: 50,
            rate_limit_burst: 200,
            geo_database: None,
            city_database: None,
            tracker_script: None,
            sites_refresh: Duration::from_secs(10),
            shutdown_drain: Duration::from_secs(10),
        }
    }
}

/// The host name and process id: stable enough to tell peers apart in logs; a restarted
/// collector gets a new id and its old one times out.
pub fn default_collector_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "collector".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}
