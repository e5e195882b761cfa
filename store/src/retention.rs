//! Per-site retention, enforced by the engine, and the expiry of access control's records.
//!
//! Events are partitioned by (site, month). Months that end before the cutoff are dropped as
//! whole partitions — instant, and the same on every engine. What remains older than the cutoff
//! in the boundary month is removed with `ALTER TABLE … DELETE` (a mutation, also on 18.16),
//! so retention is exact to the day; both go through [`crate::deletion`], which returns when
//! the rows are gone. `TTL` would be the natural tool on recent engines, but it cannot express
//! a per-site period without a column for it, and 18.16 lacks it altogether.
//!
//! Every function takes the current time as `now`: nothing here reads the clock, so tests run
//! retention "in the past" and the caller (the daily schedule in `larder serve`, or `larder
//! retention apply`) decides what now is.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use larder_core::SiteDomain;

use crate::deletion::{self, Deletion, count, month_of, time_literal};
use crate::error::StoreError;
use crate::{Store, sql};

/// What retention removed from one site.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RetentionReport {
    /// Months (`YYYYMM`) dropped as partitions.
    pub dropped_months: Vec<u32>,
    /// Whether a delete mutation was issued for the boundary month.
    pub deleted_boundary_rows: bool,
    /// Events older than the cutoff when retention began, all gone now.
    pub deleted_events: u64,
}

/// The first instant that is kept: midnight UTC, `retention_days` before `now`'s day.
pub fn cutoff(now: DateTime<Utc>, retention_days: u32) -> DateTime<Utc> {
    let day = now.date_naive() - Duration::days(i64::from(retention_days));
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Deletes one site's events older than its retention period, and returns when they are gone.
///
/// # Errors
/// Store errors.
pub async fn apply(
    store: &dyn Store,
    site: &SiteDomain,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<RetentionReport, StoreError> {
    let cutoff = cutoff(now, retention_days);
    let old = Deletion::selected(site.clone(), None, Some(cutoff), None)
        .map_err(|e| StoreError::Invalid(format!("retention of {site}: {e}")))?;
    let done = deletion::delete(store, &old).await?;
    let report = RetentionReport {
        dropped_months: done.dropped_months,
        deleted_boundary_rows: done.mutated,
        deleted_events: done.deleted_events,
    };
    if report.deleted_events > 0 {
        tracing::info!(
            site = %site,
            retention_days,
            cutoff = %cutoff,
            deleted_events = report.deleted_events,
            dropped_partitions = report.dropped_months.len(),
            "retention applied"
        );
    }
    Ok(report)
}

/// Retention of one site in a run of [`apply_all`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteRetention {
    pub site: String,
    pub retention_days: u32,
    /// Events before this instant were deleted.
    pub cutoff: DateTime<Utc>,
    pub report: RetentionReport,
}

/// What expiring access control's records removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LoginRecordsReport {
    /// Months (`YYYYMM`) of `login_attempts` dropped.
    pub dropped_attempt_months: Vec<u32>,
    /// Rows of `login_sessions` deleted (sessions that ended more than a day ago).
    pub deleted_sessions: u64,
}

/// One retention run.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RetentionRun {
    pub sites: Vec<SiteRetention>,
    /// `None` when the run was limited to one site.
    pub login_records: Option<LoginRecordsReport>,
}

impl RetentionRun {
    /// Events deleted in the run, over every site.
    pub fn deleted_events(&self) -> u64 {
        self.sites.iter().map(|s| s.report.deleted_events).sum()
    }
}

/// Applies every site's retention as of `now`: each site with events, registered or removed,
/// keeps its latest `retention_days` setting (a removed site the one it had; a site never
/// registered gets `default_days`). With `only`, just that site; without, access control's
/// records are expired too (see [`expire_login_records`]).
///
/// # Errors
/// Store errors; sites handled before the error stay handled.
pub async fn apply_all(
    store: &dyn Store,
    now: DateTime<Utc>,
    default_days: u32,
    only: Option<&SiteDomain>,
) -> Result<RetentionRun, StoreError> {
    #[derive(serde::Deserialize)]
    struct Setting {
        site: String,
        retention_days: u32,
    }
    // Every version counts, tombstones too: a removed site keeps the period it had.
    let settings: Vec<Setting> = store
        .fetch_json("SELECT site, argMax(retention_days, version) AS retention_days FROM sites GROUP BY site")
        .await?;
    #[derive(serde::Deserialize)]
    struct WithEvents {
        site: String,
    }
    let filter = only.map(|s| format!("WHERE site = {}", sql::quote(s.as_str()))).unwrap_or_default();
    let with_events: Vec<WithEvents> =
        store.fetch_json(&format!("SELECT DISTINCT site FROM events {filter} ORDER BY site")).await?;
    let mut run = RetentionRun::default();
    for WithEvents { site } in with_events {
        let Ok(domain) = SiteDomain::parse(&site) else {
            tracing::warn!(site, "events of a site name that does not parse are left alone");
            continue;
        };
        let retention_days = settings
            .iter()
            .find(|s| s.site == site)
            .map(|s| s.retention_days)
            .filter(|days| *days > 0)
            .unwrap_or(default_days);
        let report = apply(store, &domain, retention_days, now).await?;
        run.sites.push(SiteRetention { site, retention_days, cutoff: cutoff(now, retention_days), report });
    }
    if only.is_none() {
        run.login_records = Some(expire_login_records(store, now).await?);
    }
    Ok(run)
}

/// Expires access control's records as of `now`:
/// - `login_attempts`: the lock-out counts attempts of at most the last day, so months before
///   the previous one are dropped (an attempt is kept for one to two months);
/// - `login_sessions`: rows of sessions that expired more than a day ago are deleted (a
///   session's rows hold the user's email and a hash of the cookie, useless once expired).
///
/// # Errors
/// Store errors.
pub async fn expire_login_records(store: &dyn Store, now: DateTime<Utc>) -> Result<LoginRecordsReport, StoreError> {
    let mut report = LoginRecordsReport::default();
    let this_month = now.date_naive().with_day0(0).unwrap_or(now.date_naive());
    let previous_month = this_month.checked_sub_months(chrono::Months::new(1)).unwrap_or(this_month);
    let keep_from = month_of(previous_month.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    #[derive(serde::Deserialize)]
    struct Month {
        month: u32,
    }
    let months: Vec<Month> = store
        .fetch_json(&format!(
            "SELECT DISTINCT toYYYYMM(at) AS month FROM login_attempts WHERE toYYYYMM(at) < {keep_from} ORDER BY month"
        ))
        .await?;
    for Month { month } in months {
        let table = crate::cluster::local_table(store, "login_attempts");
        store.execute(&format!("ALTER TABLE {table} DROP PARTITION {month}")).await?;
        report.dropped_attempt_months.push(month);
    }
    let ended = format!("expires_at < {}", time_literal(now - Duration::days(1)));
    report.deleted_sessions = count(store, &format!("SELECT count() FROM login_sessions WHERE {ended}")).await?;
    if report.deleted_sessions > 0 {
        deletion::run_mutation(store, "login_sessions", &ended).await?;
    }
    if report.deleted_sessions > 0 || !report.dropped_attempt_months.is_empty() {
        tracing::info!(
            deleted_sessions = report.deleted_sessions,
            dropped_attempt_months = report.dropped_attempt_months.len(),
            "expired login records deleted"
        );
    }
    Ok(report)
}

/// The first day of the month of `day`, for tests and callers that reason in partitions.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day0(0).unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_midnight_utc_retention_days_before_today() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T15:30:00Z").map(|d| d.with_timezone(&Utc));
        let now = now.unwrap_or_default();
        assert_eq!(cutoff(now, 30).to_rfc3339(), "2026-10-23T00:00:00+00:00");
        assert_eq!(cutoff(now, 0).to_rfc3339(), "2026-11-22T00:00:00+00:00");
    }
}
