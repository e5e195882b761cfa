//! Per-site retention, enforced by the engine.
//!
//! Events are partitioned by (site, month). Months that end before the cutoff are dropped as
//! whole partitions — instant, and the same on every engine. What remains older than the cutoff
//! in the boundary month is removed with `ALTER TABLE … DELETE` (a mutation, also on 18.16),
//! so retention is exact to the day. `TTL` would be the natural tool on recent engines, but it
//! cannot express a per-site period without a column for it, and 18.16 lacks it altogether.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use larder_core::SiteDomain;

use crate::error::StoreError;
use crate::{Store, sql};

/// What retention removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Months (`YYYYMM`) dropped as partitions.
    pub dropped_months: Vec<u32>,
    /// Whether a delete mutation was issued for the boundary month.
    pub deleted_boundary_rows: bool,
}

/// The first instant that is kept: midnight UTC, `retention_days` before `now`'s day.
pub fn cutoff(now: DateTime<Utc>, retention_days: u32) -> DateTime<Utc> {
    let day = now.date_naive() - Duration::days(i64::from(retention_days));
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Deletes one site's events older than its retention period.
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
    let cutoff_sql = format!("toDateTime({}, 'UTC')", cutoff.timestamp());
    let site_sql = sql::quote(site.as_str());
    #[derive(serde::Deserialize)]
    struct Month {
        month: u32,
    }
    let months: Vec<Month> = store
        .fetch_json(&format!(
            "SELECT DISTINCT toYYYYMM(timestamp) AS month FROM events \
             WHERE site = {site_sql} AND timestamp < {cutoff_sql} ORDER BY month"
        ))
        .await?;
    let mut report = RetentionReport::default();
    let first_kept_month = cutoff.year() as u32 * 100 + cutoff.month();
    for Month { month } in months {
        if month < first_kept_month {
            store.execute(&format!("ALTER TABLE events DROP PARTITION ({site_sql}, {month})")).await?;
            report.dropped_months.push(month);
        } else {
            let version = store.version().await?;
            // mutations_sync (20.x+) makes the delete visible when the statement returns.
            let settings = if version.major >= 20 { " SETTINGS mutations_sync = 1" } else { "" };
            store
                .execute(&format!(
                    "ALTER TABLE events DELETE WHERE site = {site_sql} AND timestamp < {cutoff_sql}{settings}"
                ))
                .await?;
            report.deleted_boundary_rows = true;
        }
    }
    if !report.dropped_months.is_empty() || report.deleted_boundary_rows {
        tracing::info!(site = %site, retention_days, dropped = report.dropped_months.len(), "retention applied");
    }
    Ok(report)
}

/// The first day of the month of `day`, for tests and callers that reason in partitions.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
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
