//! Larder's ingestion service: `POST /api/event`, validation, enrichment, the disk spool and
//! the batcher that writes events to the store.
//!
//! Depends on `larder-core` (the wire format, domain types, URL and referrer hygiene) and
//! `larder-store` (every SQL statement); it never writes SQL itself. [`Collector::start`]
//! recovers the spool and starts the background tasks; [`Collector::configure`] mounts the
//! routes on an actix app; [`Collector::shutdown`] flushes what it can and stops.

pub mod batcher;
pub mod clock;
pub mod config;
pub mod coordination;
pub mod enrich;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod salts;
pub mod sessions;
pub mod sites;
pub mod spool;
pub mod visitor;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use larder_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::CollectorConfig;
pub use error::IngestError;
pub use routes::event::parse_body;
pub use routes::script::Script;

use crate::clock::Clock;
use crate::coordination::Coordinator;
use crate::enrich::Geo;
use crate::metrics::Metrics;
use crate::salts::SaltBook;
use crate::sessions::SessionAssigner;
use crate::sites::SiteCache;
use crate::spool::{Spool, SpoolLimits};

/// What the ingest handlers share.
pub struct IngestState {
    pub config: CollectorConfig,
    pub spool: Spool,
    pub salts: SaltBook,
    pub sites: SiteCache,
    pub geo: Geo,
    pub limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub metrics: Metrics,
    pub script: Option<Script>,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestState").field("spool", &self.spool).finish_non_exhaustive()
    }
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the spool in {dir}: {source}")]
    Spool { dir: String, source: spool::SpoolError },
    #[error("cannot open the geo database: {0}")]
    Geo(#[from] maxminddb::MaxMindDbError),
    #[error("cannot read the tracker script {path}: {source}")]
    Script { path: String, source: std::io::Error },
}

/// The running collector: its state and background tasks.
#[derive(Debug)]
pub struct Collector {
    state: web::Data<IngestState>,
    stop: watch::Sender<bool>,
    batcher: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

impl Collector {
    /// Recovers the spool, loads salts and sites (waiting for neither if the store is down:
    /// events are accepted into the spool meanwhile), and starts the batcher and maintenance.
    ///
    /// # Errors
    /// [`StartError`] when the spool, a configured geo database or the script cannot be read.
    pub async fn start(
        config: CollectorConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, StartError> {
        let metrics = Metrics::register(registry);
        let limits = SpoolLimits {
            max_bytes: config.spool_max_bytes,
            segment_max_bytes: config.segment_max_bytes,
            flush_interval: config.flush_interval,
        };
        let (spool, queue) = Spool::open(&config.spool_dir, limits, Arc::clone(&clock), metrics.clone())
            .map_err(|source| StartError::Spool { dir: config.spool_dir.display().to_string(), source })?;
        let geo = Geo::open(config.geo_database.as_deref(), config.city_database.as_deref())?;
        let script = match &config.tracker_script {
            Some(path) => match std::fs::read(path) {
                Ok(body) => Some(Script::new(body)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(path = %path.display(), "tracker script not built; /larder.js answers 404");
                    None
                }
                Err(source) => return Err(StartError::Script { path: path.display().to_string(), source }),
            },
            None => None,
        };
        let salts = SaltBook::new(Arc::clone(&store), Arc::clone(&clock));
        if let Err(e) = salts.refresh().await {
            tracing::warn!(error = %e, "cannot load today's salt yet; retrying in the background");
        }
        let sites = SiteCache::new(Arc::clone(&store));
        if let Err(e) = sites.reload().await {
            tracing::warn!(error = %e, "cannot load sites yet; retrying in the background");
        }
        let limiter = (config.rate_limit_per_second > 0).then(|| {
            let per_second =
                std::num::NonZeroU32::new(config.rate_limit_per_second).unwrap_or(std::num::NonZeroU32::MIN);
            let burst = std::num::NonZeroU32::new(config.rate_limit_burst.max(config.rate_limit_per_second))
                .unwrap_or(per_second);
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        let coordinator = config.coordinate_sessions.then(|| {
            Coordinator::new(Arc::clone(&store), Arc::clone(&clock), config.collector_id.clone(), config.peer_timeout)
        });
        let timeout_ms = u64::try_from(config.session_timeout.as_millis()).unwrap_or(u64::MAX);
        let (stop, stop_rx) = watch::channel(false);
        let batcher = batcher::Batcher {
            spool: spool.clone(),
            store: Arc::clone(&store),
            sessions: SessionAssigner::new(timeout_ms, 500_000, config.coordinate_sessions),
            coordinator: coordinator.clone(),
            metrics: metrics.clone(),
            max_events: config.flush_max_events,
        };
        let batcher = tokio::spawn(batcher.run(queue, stop_rx.clone(), config.shutdown_drain));
        let state = web::Data::new(IngestState { config, spool, salts, sites, geo, limiter, metrics, script });
        let maintenance = tokio::spawn(maintain(state.clone(), coordinator, stop_rx));
        tracing::info!(
            collector = %state.config.collector_id,
            coordinated = state.config.coordinate_sessions,
            spool = %state.config.spool_dir.display(),
            "collector started"
        );
        Ok(Self { state, stop, batcher, maintenance })
    }

    /// Registers the collector's routes on an actix app.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + use<> {
        let state = self.state.clone();
        move |cfg| {
            cfg.app_data(state);
            routes::event::configure(cfg);
            routes::script::configure(cfg);
        }
    }

    /// The shared state (tests, metrics).
    pub fn state(&self) -> &IngestState {
        &self.state
    }

    /// Closes the open spool segment, flushes for up to `shutdown_drain`, and stops. What could not
    /// be flushed stays in the spool and is flushed at the next start.
    pub async fn shutdown(self) {
        self.state.spool.rotate().await;
        let _ = self.stop.send(true);
        let _ = self.batcher.await;
        let _ = self.maintenance.await;
        let left = self.state.spool.pending_segments();
        tracing::info!(unflushed_segments = left, "collector stopped");
    }
}

/// Periodic work: salts (and their expiry), sites, the rate limiter's memory, the pending
/// snapshot peers wait on.
async fn maintain(state: web::Data<IngestState>, coordinator: Option<Coordinator>, mut stop: watch::Receiver<bool>) {
    let tick = state.config.flush_interval.min(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        ticks += 1;
        let age_ms = state.spool.oldest_receipt_ms().map_or(0, |oldest| clock_now(&state).saturating_sub(oldest));
        state.metrics.spool_oldest_seconds.set(i64::try_from(age_ms / 1000).unwrap_or(i64::MAX));
        let every =
            |period: Duration| ticks.is_multiple_of((period.as_secs_f64() / tick.as_secs_f64()).max(1.0) as u64);
        if let Some(coordinator) = &coordinator
            && let Err(e) = coordinator.publish(&state.spool.snapshot()).await
        {
            tracing::warn!(error = %e, "cannot publish the pending snapshot");
        }
        let salt_missing = state.salts.salt_at(clock_now(&state)).is_none();
        if (salt_missing || every(Duration::from_secs(60)))
            && let Err(e) = state.salts.refresh().await
        {
            tracing::warn!(error = %e, "cannot refresh salts");
        }
        if every(Duration::from_secs(600)) || ticks == 1 {
            if let Err(e) = state.salts.expire().await {
                tracing::warn!(error = %e, "cannot expire old salts");
            }
            if let Some(limiter) = &state.limiter {
                limiter.retain_recent();
            }
        }
        if every(state.config.sites_refresh)
            && let Err(e) = state.sites.reload().await
        {
            tracing::warn!(error = %e, "cannot refresh sites");
        }
        if let Some(coordinator) = &coordinator
            && every(Duration::from_secs(3600))
            && let Err(e) = coordinator.compact().await
        {
            tracing::warn!(error = %e, "cannot compact pending snapshots");
        }
    }
}

fn clock_now(state: &IngestState) -> u64 {
    state.salts.now_ms()
}
