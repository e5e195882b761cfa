//! The daily retention run: every day at `privacy.retention_hour_utc`, each site's events older
//! than its `retention_days` are deleted and expired login records go (see
//! `larder_store::retention` and `larder_dashboard_api::deletion::apply_retention`). Beside it,
//! every few minutes, the visits of finished days are rolled up for the reports
//! ([`roll_visits`], `larder_store::rollup`), for the same reasons in the same process.
//!
//! It runs in the process that serves the API (`larder serve`, or `larder api` beside separate
//! collectors), not in `larder collector`: collectors are many, stateless and scaled with
//! traffic, and each would repeat the same deletions, while the API is where the sites'
//! `retention_days` are changed and the operator's requests arrive. In the embedded setup
//! `larder serve` is the only process anyway. Several API processes each run it at the same
//! hour; whichever comes second finds nothing left to delete.
//!
//! The schedule is fixed (the same hour every day, no jitter), computed from a [`Clock`] so
//! tests run days in milliseconds; a run that is missed while the process is down is made up by
//! the next day's, which deletes everything past the cutoff, however old.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use larder_dashboard_api::ApiState;
use larder_dashboard_api::auth::Clock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// How the audit log names the daily run.
pub const ACTOR: &str = "larder (daily retention)";

/// The longest single sleep: the clock is read again at least this often, so that a clock
/// that jumps (suspend, a corrected time) moves the run with it.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The first instant after `now` at `hour_utc`:00:00 UTC.
pub fn next_run(now: DateTime<Utc>, hour_utc: u32) -> DateTime<Utc> {
    let today = now.date_naive().and_hms_opt(hour_utc.min(23), 0, 0).unwrap_or_default().and_utc();
    if today > now { today } else { today + chrono::Duration::days(1) }
}

/// Calls `job` with the clock's time every day at `hour_utc`:00 UTC, forever (drop or abort
/// the future to stop it).
pub async fn run_daily<F, Fut>(clock: Arc<dyn Clock>, hour_utc: u32, mut job: F)
where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let next = next_run(clock.now(), hour_utc);
        loop {
            let now = clock.now();
            if now >= next {
                break;
            }
            let wait = (next - now).to_std().unwrap_or_default().min(MAX_SLEEP);
            tokio::time::sleep(wait).await;
        }
        job(clock.now()).await;
    }
}

/// The daily run of `larder serve`: retention of every site as of the API's clock, logged and
/// audited; a failure is logged and the next day's run tries again.
pub async fn daily_retention(api: ApiState, hour_utc: u32) {
    let clock = Arc::clone(&api.auth.config.clock);
    tracing::info!(hour_utc, next = %next_run(clock.now(), hour_utc), "daily retention scheduled");
    run_daily(clock, hour_utc, |now| {
        let api = api.clone();
        async move {
            match larder_dashboard_api::deletion::apply_retention(&api, ACTOR, now, None).await {
                Ok(run) => tracing::info!(
                    sites = run.sites.len(),
                    deleted_events = run.deleted_events(),
                    dropped_partitions = run.sites.iter().map(|s| s.report.dropped_months.len()).sum::<usize>(),
                    expired_sessions = run.login_records.as_ref().map_or(0, |l| l.deleted_sessions),
                    "daily retention done"
                ),
                Err(error) => tracing::warn!(%error, "daily retention failed; the next run retries"),
            }
        }
    })
    .await;
}

/// How often `larder serve` rolls up the days that ended or changed (see
/// `larder_store::rollup`): a day is rolled an hour after it ends, and a changed day is computed
/// from the pre-aggregated visits until then, so the reports are right either way; this only
/// decides how soon they are fast again.
pub const ROLL_EVERY: Duration = Duration::from_secs(300);

/// What the roll-ups did, on `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct RollMetrics {
    days: Counter,
    not_rollable: Counter,
    failures: Counter,
}

impl RollMetrics {
    /// Registers the counters: `larder_rollup_days_total` (site days rolled up, again when they
    /// changed), `larder_rollup_not_rollable_days_total` (of those, days a visit reaches beyond)
    /// and `larder_rollup_failures_total` (runs that failed).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "larder_rollup_days",
            "Site days whose visits were rolled up for the reports",
            metrics.days.clone(),
        );
        registry.register(
            "larder_rollup_not_rollable_days",
            "Site days left to the pre-aggregated visits: a visit reaches into another day",
            metrics.not_rollable.clone(),
        );
        registry.register("larder_rollup_failures", "Roll-up runs that failed", metrics.failures.clone());
        metrics
    }
}

/// Rolls up the visits of finished days at start and then every `every`, forever (abort the
/// future to stop it); a failure is logged and counted, and the next run tries again.
pub async fn roll_visits(api: ApiState, every: Duration, metrics: RollMetrics) {
    let clock = Arc::clone(&api.auth.config.clock);
    loop {
        match larder_store::rollup::roll(api.store.as_ref(), clock.now()).await {
            Ok(report) => {
                metrics.days.inc_by(report.rolled as u64);
                metrics.not_rollable.inc_by(report.not_rollable as u64);
            }
            Err(error) => {
                metrics.failures.inc();
                tracing::warn!(%error, "rolling up visits per day failed; the next run retries");
            }
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|d| d.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_next_run_is_the_next_occurrence_of_the_hour() {
        for (now, hour, want) in [
            ("2026-03-10T01:30:00Z", 3, "2026-03-10T03:00:00Z"),
            ("2026-03-10T03:00:00Z", 3, "2026-03-11T03:00:00Z"),
            ("2026-03-10T03:00:01Z", 3, "2026-03-11T03:00:00Z"),
            ("2026-12-31T23:59:59Z", 0, "2027-01-01T00:00:00Z"),
            ("2026-02-28T22:00:00Z", 23, "2026-02-28T23:00:00Z"),
        ] {
            assert_eq!(next_run(at(now), hour), at(want), "from {now} at hour {hour}");
        }
    }

    /// Runs on tokio's paused clock: the fake wall clock moves with tokio's time.
    #[derive(Debug)]
    struct PausedClock {
        start: tokio::time::Instant,
        wall_start: DateTime<Utc>,
    }

    impl Clock for PausedClock {
        fn now(&self) -> DateTime<Utc> {
            let elapsed = tokio::time::Instant::now() - self.start;
            self.wall_start + chrono::Duration::from_std(elapsed).unwrap_or_default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_job_runs_once_a_day_at_the_fixed_hour() {
        let clock =
            Arc::new(PausedClock { start: tokio::time::Instant::now(), wall_start: at("2026-03-10T01:30:00Z") });
        let runs = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&runs);
        let schedule = tokio::spawn(run_daily(clock, 3, move |now| {
            let recorded = Arc::clone(&recorded);
            async move {
                // A run takes a while; the next one is still at 03:00 the next day.
                tokio::time::sleep(Duration::from_secs(600)).await;
                recorded.lock().map(|mut r| r.push(now)).unwrap_or_default();
            }
        }));
        tokio::time::sleep(Duration::from_secs(3 * 86_400)).await;
        schedule.abort();
        let runs = runs.lock().map(|r| r.clone()).unwrap_or_default();
        assert_eq!(runs, vec![at("2026-03-10T03:00:00Z"), at("2026-03-11T03:00:00Z"), at("2026-03-12T03:00:00Z")]);
    }
}
