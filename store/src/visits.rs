//! Visits pre-aggregated in the store (`visit_parts`, migration 0003), and keeping them in step
//! with the events when events are deleted.
//!
//! A row of `visit_parts` holds the engine's partial aggregates of one visit's events within one
//! quarter of an hour (UTC): first and last time, page views, interactions, entry and exit page,
//! source and campaign by event order; and, as plain columns of its key, the visit's place and
//! software (one value per visit: they derive from what its visitor id hashes). A materialized view
//! writes it on every insert into `events`; the engine merges rows of one key in the background.
//! Every time zone's midnight falls on a quarter of an hour, so a report's days in a site's time
//! zone select whole rows, and finishing the aggregates per visit ([`subquery`]) gives exactly the
//! visits that grouping the range's events would: the same first event, the same counts. It reads
//! a few rows per visit instead of every event, and the aggregates are already partly done.
//!
//! Event-level filters (a page, an event, a property) need each visit's events; reports with
//! such a filter group the events as before (see [`crate::stats`]).

use std::sync::LazyLock;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::deletion::{run_mutation, time_literal};
use crate::error::StoreError;
use crate::stats::{FIRST_TOUCH, PER_VISIT, Scope};
use crate::{Store, cluster, sql};

/// The migration that creates the table and the view as they are now (0003 made the first ones),
/// and after which the table is filled.
const MIGRATION: &str = include_str!("../../migrations/0004_visit_parts_keys.sql");
/// Derived from `events`: not backed up or copied (inserting the events fills it again).
pub(crate) const TABLE: &str = "visit_parts";
/// What the engine's quarter-hour buckets are.
const BUCKET_MINUTES: i64 = 15;
/// Keys per statement when visits are recomputed for a list of keys (well under `max_query_size`).
const KEYS_PER_STATEMENT: usize = 1_000;

/// The migration's name: [`fill`] runs after it.
pub(crate) const MIGRATION_NAME: &str = "0004_visit_parts_keys";

/// The view's `SELECT … FROM events` (without its `GROUP BY`), taken from the migration so that
/// a fill or a rebuild computes rows exactly as the view does.
static PARTS_SELECT: LazyLock<&'static str> = LazyLock::new(|| {
    const START: &str = "TO visit_parts AS\n";
    const END: &str = "\nFROM events";
    let from = MIGRATION.find(START).map_or(0, |at| at + START.len());
    let to = MIGRATION[from..].find(END).map_or(MIGRATION.len(), |at| from + at + END.len());
    &MIGRATION[from..to]
});
const PARTS_GROUP_BY: &str = "GROUP BY site, bucket, session_id, visitor_id, country, region, city, device, browser, browser_version, os, os_version";
/// What joins a visit's first-touch values in `s_first_touch` (the collector removes control
/// characters from each of them).
const FIRST_TOUCH_SEPARATOR: &str = "'\\0'";

/// One row per visit in scope, with the columns of [`crate::stats::visits_subquery`] (no filter
/// flags), finished from `visit_parts`. `among` narrows the visits (a condition on `session_id`).
pub(crate) fn subquery(scope: &Scope<'_>, among: Option<&str>) -> Result<String, StoreError> {
    let (start, end) = scope.range_bounds()?;
    Ok(finish(scope, &format!("bucket >= {start} AND bucket < {end}"), among))
}

/// As [`subquery`], over the quarter hours of `windows` (`[start, end)` in seconds, quarter-hour
/// aligned) instead of the scope's range: the parts of a range that [`crate::rollup`] has not
/// rolled up.
pub(crate) fn subquery_in(scope: &Scope<'_>, windows: &[(i64, i64)]) -> String {
    finish(scope, &crate::rollup::within("bucket", windows), None)
}

/// The visits of the parts in `buckets` (a condition), finished.
fn finish(scope: &Scope<'_>, buckets: &str, among: Option<&str>) -> String {
    let mut columns = vec![
        "session_id".to_owned(),
        "min(visitor_id) AS visitor_id".into(),
        "minMerge(s_started) AS started".into(),
        "maxMerge(s_ended) AS ended".into(),
        "sumMerge(s_pageviews) AS pageviews".into(),
        "sumMerge(s_interactions) AS interactions".into(),
        "argMinIfMerge(s_entry_page) AS entry_page".into(),
        "argMaxIfMerge(s_exit_page) AS exit_page".into(),
    ];
    // One state for all eight; the engine merges an aggregate that occurs several times once.
    for (i, (_, alias)) in FIRST_TOUCH.iter().enumerate() {
        columns.push(format!("splitByChar({FIRST_TOUCH_SEPARATOR}, argMinMerge(s_first_touch))[{}] AS {alias}", i + 1));
    }
    for column in PER_VISIT {
        columns.push(format!("min({column}) AS {column}"));
    }
    let mut condition = format!("site = {} AND {buckets}", sql::quote(scope.site.as_str()));
    if let Some(among) = among {
        condition.push_str(&format!(" AND {among}"));
    }
    format!("SELECT {} FROM {TABLE} WHERE {condition} GROUP BY session_id", columns.join(", "))
}

fn floor_bucket(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(BUCKET_MINUTES)).unwrap_or(at)
}

fn ceil_bucket(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_bucket(at);
    if floor == at { at } else { floor + Duration::minutes(BUCKET_MINUTES) }
}

/// After a site's events in `[from, to)` were deleted: the rows of the quarter hours the range
/// touches are deleted and those of its two edge quarter hours computed again from the events
/// left in them.
pub(crate) async fn recompute_span(
    store: &dyn Store,
    site: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let site = sql::quote(site);
    let (low, high) = (from.map(floor_bucket), to.map(ceil_bucket));
    let mut span = vec![format!("site = {site}")];
    span.extend(low.map(|at| format!("bucket >= {}", time_literal(at))));
    span.extend(high.map(|at| format!("bucket < {}", time_literal(at))));
    run_mutation(store, TABLE, &span.join(" AND ")).await?;
    let mut edges = Vec::new();
    if let (Some(low), Some(from)) = (low, from)
        && low < from
    {
        edges.push(format!("(timestamp >= {} AND timestamp < {})", time_literal(low), time_literal(from)));
    }
    if let (Some(high), Some(to)) = (high, to)
        && to < high
    {
        edges.push(format!("(timestamp >= {} AND timestamp < {})", time_literal(to), time_literal(high)));
    }
    if edges.is_empty() {
        return Ok(());
    }
    insert_from_events(store, &format!("site = {site} AND ({})", edges.join(" OR "))).await
}

/// A visit's quarter hour: what a `visit_parts` row is keyed by within a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub(crate) struct PartKey {
    session_id: u64,
    bucket: u32,
}

/// The quarter hours of visits that events matching `condition` (over `events`) belong to.
pub(crate) async fn keys_of(store: &dyn Store, condition: &str) -> Result<Vec<PartKey>, StoreError> {
    store
        .fetch_json(&format!(
            "SELECT DISTINCT session_id, toUInt32(toStartOfFifteenMinutes(timestamp)) AS bucket FROM events WHERE {condition}"
        ))
        .await
}

/// After events of `keys` were deleted: their rows are deleted and computed again from the
/// events left.
pub(crate) async fn recompute_keys(store: &dyn Store, site: &str, keys: &[PartKey]) -> Result<(), StoreError> {
    let site = sql::quote(site);
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let list: Vec<String> = chunk.iter().map(|k| format!("({}, {})", k.session_id, k.bucket)).collect();
        let list = list.join(", ");
        run_mutation(store, TABLE, &format!("site = {site} AND (session_id, toUInt32(bucket)) IN ({list})")).await?;
        insert_from_events(
            store,
            &format!("site = {site} AND (session_id, toUInt32(toStartOfFifteenMinutes(timestamp))) IN ({list})"),
        )
        .await?;
    }
    Ok(())
}

/// Fills `visit_parts` from the events stored before the view existed: once, right after the
/// migration that creates it. Truncates it first (so a run that failed halfway is redone, not
/// added to), then aggregates a site's day at a time, so memory holds one day's visits however
/// large the store. Events inserted while it runs are counted twice in the quarter hours they
/// fall in, by the view and by the fill: run migrations while no collector writes, as `larder
/// serve` does at start.
///
/// # Errors
/// Store errors.
pub(crate) async fn fill(store: &dyn Store) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Day {
        site: String,
        /// Midnight UTC, in seconds.
        start: u32,
    }
    store.execute(&format!("TRUNCATE TABLE {}", cluster::local_table(store, TABLE))).await?;
    let days: Vec<Day> = store
        .fetch_json(
            "SELECT DISTINCT toString(site) AS site, toUInt32(toStartOfDay(timestamp)) AS start FROM events \
             ORDER BY site, start",
        )
        .await?;
    for Day { site, start } in &days {
        let end = u64::from(*start) + 86_400;
        insert_from_events(
            store,
            &format!(
                "site = {} AND timestamp >= toDateTime({start}, 'UTC') AND timestamp < toDateTime({end}, 'UTC')",
                sql::quote(site)
            ),
        )
        .await?;
    }
    if !days.is_empty() {
        tracing::info!(days = days.len(), "visits pre-aggregated from the stored events");
    }
    Ok(())
}

async fn insert_from_events(store: &dyn Store, condition: &str) -> Result<(), StoreError> {
    store.execute(&format!("INSERT INTO {TABLE} {} WHERE {condition} {PARTS_GROUP_BY}", *PARTS_SELECT)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebuild_computes_rows_as_the_view_does() {
        let select = *PARTS_SELECT;
        assert!(select.starts_with("SELECT\n    site,") && select.ends_with("\nFROM events"), "{select}");
        let view = format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS visit_parts_mv TO visit_parts AS\n{select}\n{PARTS_GROUP_BY};"
        );
        assert!(MIGRATION.contains(&view), "the view groups as fills and rebuilds do");
        assert!(
            select.contains(crate::stats::EVENT_ORDER) && select.contains(crate::stats::PASSIVE_EVENTS),
            "the view orders events and counts interactions as the reports do"
        );
        let joined: Vec<String> = FIRST_TOUCH
            .iter()
            .map(|(column, _)| match *column {
                "referrer_source" | "referrer_medium" => format!("CAST({column} AS String)"),
                _ => (*column).to_owned(),
            })
            .collect();
        let first_touch = format!("arrayStringConcat([{}], {FIRST_TOUCH_SEPARATOR})", joined.join(", "));
        assert!(select.contains(&first_touch), "the first-touch values joined in the order the query splits them");
        for column in PER_VISIT {
            assert!(select.contains(&format!("\n    {column},\n")), "{column} is a key column");
        }
    }

    #[test]
    fn spans_widen_to_whole_quarter_hours() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
        assert_eq!(floor_bucket(at("2026-11-03T10:07:00Z")), at("2026-11-03T10:00:00Z"));
        assert_eq!(ceil_bucket(at("2026-11-03T10:07:00Z")), at("2026-11-03T10:15:00Z"));
        assert_eq!(ceil_bucket(at("2026-11-03T10:15:00Z")), at("2026-11-03T10:15:00Z"));
    }
}
