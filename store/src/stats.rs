//! Dashboard statistics: the overview, time series, breakdowns and realtime, over one site, a
//! date range in the site's time zone, and filters.
//!
//! Definitions (the same on every report):
//! - a *visit* is a session (see the collector); *visitors* are distinct visitor ids — ids
//!   change every day with the salt, so a visitor who returns on another day counts again;
//! - *pageviews* count `pageview` events;
//! - a visit *bounces* when it has at most one page view and no interaction: every event other
//!   than a page view and the automatic UX signals (`engagement`, `web_vital`, `js_error`,
//!   `rage_click`, `dead_click`) counts as one;
//! - *visit duration* is the time from a visit's first to its last event;
//! - visit-level dimensions (source, entry page, country, device…) take the value of the
//!   visit's first event (entry/exit page: its first/last page view); ties within a second are
//!   broken by the event id, which is time-ordered.
//!
//! Filters: a visit-level filter keeps the visits whose value matches; an event-level filter
//! (page, event, property, hostname) keeps the visits with at least one matching event (`is`,
//! `contains`) or with none (`is not`, `does not contain`). Reports over events (pages, events,
//! properties) then count only the events of kept visits, and a filter on the report's own
//! dimension also restricts its rows.
//!
//! Visits come from the pre-aggregated `visit_parts` when every filter is visit-level, and from
//! grouping the events otherwise (see [`crate::visits`]); both give the same visits. Without
//! filters, the overview and its daily, weekly and monthly series take the days that are rolled
//! up (see [`crate::rollup`]) from their sums and finish only the rest.
//!
//! Everything is computed in ClickHouse; SQL is built from validated types only (identifiers
//! from `match`es, values through [`sql::quote`]) and runs unchanged on chDB 26.x and 18.16.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use larder_core::SiteDomain;
use larder_core::query::{DateRange, Dimension, Filter, FilterOp, Interval};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::{Store, sql};

/// What a report is about.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub site: &'a SiteDomain,
    /// The site's IANA time zone; days and hours are counted in it.
    pub timezone: &'a str,
    pub range: DateRange,
    pub filters: &'a [Filter],
}

/// Events that are not interactions (see the module documentation).
pub(crate) const PASSIVE_EVENTS: &str =
    "('pageview', 'engagement', 'web_vital', 'js_error', 'rage_click', 'dead_click')";

/// Whether `tz` is a time zone name safe to put in SQL: letters, digits, `/`, `_`, `-`, `+`.
pub fn is_time_zone_name(tz: &str) -> bool {
    !tz.is_empty() && tz.len() <= 64 && tz.chars().all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
}

impl Scope<'_> {
    pub(crate) fn tz(&self) -> Result<String, StoreError> {
        Self::quote_time_zone(self.timezone)
    }

    /// A time zone name as SQL, refused unless [`is_time_zone_name`].
    pub(crate) fn quote_time_zone(tz: &str) -> Result<String, StoreError> {
        if is_time_zone_name(tz) {
            Ok(sql::quote(tz))
        } else {
            Err(StoreError::Invalid(format!("{tz:?} is not a time zone name")))
        }
    }

    /// The local midnights that begin `days` (in the site's time zone), in seconds.
    pub(crate) async fn midnights(&self, store: &dyn Store, days: &[NaiveDate]) -> Result<Vec<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            m: Vec<i64>,
        }
        let tz = self.tz()?;
        let each: Vec<String> =
            days.iter().map(|d| format!("toInt64(toDateTime('{} 00:00:00', {tz}))", d.format("%Y-%m-%d"))).collect();
        let rows: Vec<Row> = store.fetch_json(&format!("SELECT [{}] AS m", each.join(", "))).await?;
        Ok(rows.into_iter().next().map(|r| r.m).unwrap_or_default())
    }

    /// The first instant of the range and the first after it (midnights in the site's time
    /// zone), as SQL.
    pub(crate) fn range_bounds(&self) -> Result<(String, String), StoreError> {
        let tz = self.tz()?;
        let start = format!("{} 00:00:00", self.range.from.format("%Y-%m-%d"));
        let end = format!("{} 00:00:00", (self.range.to + Duration::days(1)).format("%Y-%m-%d"));
        Ok((format!("toDateTime({}, {tz})", sql::quote(&start)), format!("toDateTime({}, {tz})", sql::quote(&end))))
    }

    /// `site = … AND timestamp` within the range's days in the site's time zone.
    pub(crate) fn events_in_range(&self) -> Result<String, StoreError> {
        let (start, end) = self.range_bounds()?;
        Ok(format!("site = {} AND timestamp >= {start} AND timestamp < {end}", sql::quote(self.site.as_str())))
    }

    /// The same scope over another range (comparisons).
    pub fn with_range(&self, range: DateRange) -> Self {
        Self { range, ..self.clone() }
    }
}

/// The column or expression of an event for a dimension.
pub(crate) fn event_expr(dimension: &Dimension) -> String {
    match dimension {
        Dimension::Page | Dimension::EntryPage | Dimension::ExitPage => "pathname".into(),
        Dimension::Hostname => "hostname".into(),
        Dimension::Source => "referrer_source".into(),
        Dimension::Referrer => "referrer_host".into(),
        Dimension::Medium => "referrer_medium".into(),
        Dimension::UtmSource => "utm_source".into(),
        Dimension::UtmMedium => "utm_medium".into(),
        Dimension::UtmCampaign => "utm_campaign".into(),
        Dimension::UtmTerm => "utm_term".into(),
        Dimension::UtmContent => "utm_content".into(),
        Dimension::Country => "country".into(),
        Dimension::Region => "region".into(),
        Dimension::City => "city".into(),
        Dimension::Device => "device".into(),
        Dimension::Browser => "browser".into(),
        Dimension::BrowserVersion => "browser_version".into(),
        Dimension::Os => "os".into(),
        Dimension::OsVersion => "os_version".into(),
        Dimension::EventName => "name".into(),
        Dimension::Prop(key) => format!("props.value[indexOf(props.key, {})]", sql::quote(key)),
    }
}

/// The column of the visits subquery that holds a visit-level dimension.
pub(crate) fn visit_column(dimension: &Dimension) -> Option<&'static str> {
    Some(match dimension {
        Dimension::EntryPage => "entry_page",
        Dimension::ExitPage => "exit_page",
        Dimension::Source => "source",
        Dimension::Referrer => "referrer",
        Dimension::Medium => "medium",
        Dimension::UtmSource => "utm_source",
        Dimension::UtmMedium => "utm_medium",
        Dimension::UtmCampaign => "utm_campaign",
        Dimension::UtmTerm => "utm_term",
        Dimension::UtmContent => "utm_content",
        Dimension::Country => "country",
        Dimension::Region => "region",
        Dimension::City => "city",
        Dimension::Device => "device",
        Dimension::Browser => "browser",
        Dimension::BrowserVersion => "browser_version",
        Dimension::Os => "os",
        Dimension::OsVersion => "os_version",
        Dimension::Page | Dimension::Hostname | Dimension::EventName | Dimension::Prop(_) => return None,
    })
}

/// `expr` compared with the filter's values, ignoring the filter's negation.
pub(crate) fn positive_match(expr: &str, filter: &Filter) -> String {
    match filter.op {
        FilterOp::Is | FilterOp::IsNot => format!("{expr} IN {}", list(&filter.values)),
        FilterOp::Contains | FilterOp::DoesNotContain => {
            let any: Vec<String> = filter
                .values
                .iter()
                .map(|v| format!("positionCaseInsensitiveUTF8({expr}, {}) > 0", sql::quote(v)))
                .collect();
            format!("({})", any.join(" OR "))
        }
    }
}

pub(crate) fn is_negative(op: FilterOp) -> bool {
    matches!(op, FilterOp::IsNot | FilterOp::DoesNotContain)
}

pub(crate) fn list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| sql::quote(v)).collect();
    format!("({})", quoted.join(", "))
}

/// The condition an event must meet to match an event-level filter.
pub(crate) fn event_filter_condition(filter: &Filter) -> String {
    let matched = positive_match(&event_expr(&filter.dimension), filter);
    match &filter.dimension {
        Dimension::Page => format!("name = 'pageview' AND {matched}"),
        Dimension::Prop(key) => format!("has(props.key, {}) AND {matched}", sql::quote(key)),
        _ => matched,
    }
}

/// The order of events: by second, ties by the time-ordered (v7) event id compared as text.
/// As text because ClickHouse before 23.x compares UUIDs by their second half first — for a v7
/// id its random bits — so on 18.16 `(timestamp, event_id)` would order the events of one
/// second at random, and differently from chDB. One string (the second as 11 digits, then the
/// id) sorts exactly as the pair and is compared 2–3× faster by `argMin`/`argMax` than a tuple.
pub(crate) const EVENT_ORDER: &str = "concat(toString(toUInt64(timestamp) + 10000000000), toString(event_id))";

/// A visit's attributes taken from its first event: the event's column and the visit's.
pub(crate) const FIRST_TOUCH: [(&str, &str); 8] = [
    ("referrer_source", "source"),
    ("referrer_host", "referrer"),
    ("referrer_medium", "medium"),
    ("utm_source", "utm_source"),
    ("utm_medium", "utm_medium"),
    ("utm_campaign", "utm_campaign"),
    ("utm_term", "utm_term"),
    ("utm_content", "utm_content"),
];

/// Where a visit comes from and what it runs on derive from the address and user agent, the
/// very things its visitor id hashes: one value per visit, so the cheapest deterministic
/// aggregate, `min`, gives its first event's (an `argMin` by event order costs several times
/// more).
pub(crate) const PER_VISIT: [&str; 8] =
    ["country", "region", "city", "device", "browser", "browser_version", "os", "os_version"];

/// One row per visit in scope, with its attributes, and `f<i>` flags for event-level filters.
pub(crate) fn visits_subquery(scope: &Scope<'_>) -> Result<String, StoreError> {
    visits_subquery_among(scope, None)
}

/// As [`visits_subquery`], only for the sessions `among` selects (a condition on `session_id`):
/// a report about a few visits (those with a purchase) need not compute all of them.
///
/// Without event-level filters the visits are finished from the pre-aggregated `visit_parts`
/// (see [`crate::visits`]); with one, each visit's events are needed to know whether one matched.
fn visits_subquery_among(scope: &Scope<'_>, among: Option<&str>) -> Result<String, StoreError> {
    if scope.filters.iter().all(|f| f.dimension.is_visit_level()) {
        return crate::visits::subquery(scope, among);
    }
    let first = EVENT_ORDER;
    let mut columns = vec![
        "session_id".to_owned(),
        // `min`, not `any`: deterministic even if a visit held several visitor ids (generated data).
        "min(visitor_id) AS visitor_id".into(),
        "min(timestamp) AS started".into(),
        "max(timestamp) AS ended".into(),
        "countIf(name = 'pageview') AS pageviews".into(),
        format!("countIf(name NOT IN {PASSIVE_EVENTS}) AS interactions"),
        format!("argMinIf(pathname, {first}, name = 'pageview') AS entry_page"),
        format!("argMaxIf(pathname, {first}, name = 'pageview') AS exit_page"),
    ];
    for (column, alias) in FIRST_TOUCH {
        columns.push(format!("argMin({column}, {first}) AS {alias}"));
    }
    for column in PER_VISIT {
        columns.push(format!("min({column}) AS {column}"));
    }
    for (i, filter) in scope.filters.iter().enumerate() {
        if !filter.dimension.is_visit_level() {
            columns.push(format!("max({}) AS f{i}", event_filter_condition(filter)));
        }
    }
    let mut condition = scope.events_in_range()?;
    if let Some(among) = among {
        condition.push_str(&format!(" AND {among}"));
    }
    Ok(format!("SELECT {} FROM events WHERE {condition} GROUP BY session_id", columns.join(", ")))
}

/// The `WHERE` over the visits subquery that applies every filter.
pub(crate) fn visits_condition(scope: &Scope<'_>) -> String {
    let mut conditions = vec!["1".to_owned()];
    for (i, filter) in scope.filters.iter().enumerate() {
        let condition = match visit_column(&filter.dimension) {
            Some(column) => positive_match(column, filter),
            None => format!("f{i} = 1"),
        };
        conditions.push(if is_negative(filter.op) { format!("NOT ({condition})") } else { condition });
    }
    conditions.join(" AND ")
}

/// The visits in scope that pass every filter.
pub(crate) fn kept_visits(scope: &Scope<'_>) -> Result<String, StoreError> {
    Ok(format!("(SELECT * FROM ({}) WHERE {})", visits_subquery(scope)?, visits_condition(scope)))
}

/// The kept visits among the sessions `among` selects (a condition on `session_id`, such as
/// `session_id IN (…)`). Each is computed from all its events in range, as in [`kept_visits`].
pub(crate) fn kept_visits_among(scope: &Scope<'_>, among: &str) -> Result<String, StoreError> {
    Ok(format!("(SELECT * FROM ({}) WHERE {})", visits_subquery_among(scope, Some(among))?, visits_condition(scope)))
}

/// Events of kept visits (for event-level reports); a filter on `own` also restricts rows.
/// Without filters every visit is kept, so the events in range are the answer: no visits are
/// computed just to find that out.
pub(crate) fn kept_events(scope: &Scope<'_>, own: Option<&Dimension>) -> Result<String, StoreError> {
    if scope.filters.is_empty() {
        return scope.events_in_range();
    }
    let mut condition =
        format!("{} AND session_id IN (SELECT session_id FROM {})", scope.events_in_range()?, kept_visits(scope)?);
    for filter in scope.filters.iter().filter(|f| Some(&f.dimension) == own) {
        let matched = positive_match(&event_expr(&filter.dimension), filter);
        condition.push_str(&if is_negative(filter.op) {
            format!(" AND NOT ({matched})")
        } else {
            format!(" AND {matched}")
        });
    }
    Ok(condition)
}

/// Aggregates over visits: the overview's numbers. No alias repeats a column name: ClickHouse
/// would read the column inside another aggregate as the alias.
pub(crate) const VISIT_METRICS: &str = "uniqExact(visitor_id) AS visitors, count() AS visits, sum(pageviews) AS pageview_total, \
     countIf(pageviews <= 1 AND interactions = 0) AS bounces, sum(toUInt64(ended) - toUInt64(started)) AS duration_total";

/// The headline numbers of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    /// Page views per visit.
    pub views_per_visit: f64,
    /// Share of visits that bounced, 0..=1.
    pub bounce_rate: f64,
    /// Mean visit duration in seconds.
    pub visit_duration: f64,
}

/// The sums behind an [`Overview`]; those of disjoint sets of visits add up (visitors too: a
/// visitor id belongs to one UTC day, see [`crate::rollup`]).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct VisitTotals {
    pub visitors: u64,
    pub visits: u64,
    pub pageview_total: u64,
    pub bounces: u64,
    pub duration_total: u64,
}

impl std::ops::AddAssign for VisitTotals {
    fn add_assign(&mut self, other: Self) {
        self.visitors += other.visitors;
        self.visits += other.visits;
        self.pageview_total += other.pageview_total;
        self.bounces += other.bounces;
        self.duration_total += other.duration_total;
    }
}

impl From<VisitTotals> for Overview {
    fn from(t: VisitTotals) -> Self {
        let per_visit = |n: u64| if t.visits == 0 { 0.0 } else { n as f64 / t.visits as f64 };
        Self {
            visitors: t.visitors,
            visits: t.visits,
            pageviews: t.pageview_total,
            views_per_visit: round(per_visit(t.pageview_total), 2),
            bounce_rate: round(per_visit(t.bounces), 4),
            visit_duration: round(per_visit(t.duration_total), 1),
        }
    }
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (x * factor).round() / factor
}

/// The overview of a scope.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] for a bad time zone.
pub async fn overview(store: &dyn Store, scope: &Scope<'_>) -> Result<Overview, StoreError> {
    if scope.filters.is_empty()
        && let Some(span) = crate::rollup::range_span(store, scope).await?
        && let Some((mut totals, raw)) = crate::rollup::rolled(store, scope, &[span]).await?
    {
        let mut sum = totals.pop().unwrap_or_default();
        if !raw.is_empty() {
            let sql = format!("SELECT {VISIT_METRICS} FROM ({})", crate::visits::subquery_in(scope, &raw));
            let rows: Vec<VisitTotals> = store.fetch_json(&sql).await?;
            sum += rows.into_iter().next().unwrap_or_default();
        }
        return Ok(Overview::from(sum));
    }
    let sql = format!("SELECT {VISIT_METRICS} FROM {}", kept_visits(scope)?);
    let rows: Vec<VisitTotals> = store.fetch_json(&sql).await?;
    Ok(rows.into_iter().next().map(Overview::from).unwrap_or_default())
}

/// Revenue of purchases in scope, per currency, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revenue {
    pub currency: String,
    /// Ten-thousandths of the currency unit.
    pub amount_e4: i64,
    pub orders: u64,
}

/// Purchase revenue per currency.
///
/// # Errors
/// Store errors.
pub async fn revenue(store: &dyn Store, scope: &Scope<'_>) -> Result<Vec<Revenue>, StoreError> {
    let sql = format!(
        "SELECT currency, toInt64(sum(revenue) * 10000) AS amount_e4, count() AS orders FROM events \
         WHERE {} AND name = 'purchase' AND isNotNull(revenue) GROUP BY currency ORDER BY amount_e4 DESC, currency",
        kept_events(scope, None)?
    );
    store.fetch_json(&sql).await
}

/// The bucket of `interval` that the time `column` falls in, as text in the site's time zone
/// (`YYYY-MM-DD`, or `YYYY-MM-DD HH:00:00` for hours).
fn bucket_expr(scope: &Scope<'_>, interval: Interval, column: &str) -> Result<String, StoreError> {
    let tz = scope.tz()?;
    let start = match interval {
        Interval::Hour => "toStartOfHour",
        Interval::Day => "toDate",
        Interval::Week => "toMonday",
        Interval::Month => "toStartOfMonth",
    };
    Ok(format!("toString({start}({column}, {tz}))"))
}

/// Purchase revenue per bucket of a series (`YYYY-MM-DD` of the day, week start or month
/// start, in the site's time zone) and currency, in one query; buckets without purchases are
/// absent. The events are those of the scope's kept visits, as for [`revenue`], so the buckets
/// add up to the period's revenue. Hourly buckets are refused: revenue is per day at the finest.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] for `Interval::Hour` or a bad time zone.
pub async fn revenue_by_bucket(
    store: &dyn Store,
    scope: &Scope<'_>,
    interval: Interval,
) -> Result<Vec<(String, Vec<Revenue>)>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        bucket: String,
        currency: String,
        amount_e4: i64,
        orders: u64,
    }
    if interval == Interval::Hour {
        return Err(StoreError::Invalid("revenue is counted per day at the finest".into()));
    }
    let bucket = bucket_expr(scope, interval, "timestamp")?;
    let sql = format!(
        "SELECT {bucket} AS bucket, currency, toInt64(sum(revenue) * 10000) AS amount_e4, count() AS orders \
         FROM events WHERE {} AND name = 'purchase' AND isNotNull(revenue) \
         GROUP BY bucket, currency ORDER BY bucket, amount_e4 DESC, currency",
        kept_events(scope, None)?
    );
    let rows: Vec<Row> = store.fetch_json(&sql).await?;
    let mut buckets: Vec<(String, Vec<Revenue>)> = Vec::new();
    for row in rows {
        let revenue = Revenue { currency: row.currency, amount_e4: row.amount_e4, orders: row.orders };
        match buckets.last_mut() {
            Some((bucket, list)) if *bucket == row.bucket => list.push(revenue),
            _ => buckets.push((row.bucket, vec![revenue])),
        }
    }
    Ok(buckets)
}

/// One bucket of a time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// `YYYY-MM-DD` (day, week start, month start) or `YYYY-MM-DD HH:00:00` (hour), site time.
    pub bucket: String,
    #[serde(flatten)]
    pub values: Overview,
}

#[derive(Debug, Deserialize)]
struct BucketTotals {
    bucket: String,
    #[serde(flatten)]
    totals: VisitTotals,
}

/// Visits and page views per bucket, every bucket of the range present (empty ones as zeros).
/// A visit counts in the bucket where it started.
///
/// # Errors
/// Store errors.
pub async fn timeseries(store: &dyn Store, scope: &Scope<'_>, interval: Interval) -> Result<Vec<Point>, StoreError> {
    let bucket = bucket_expr(scope, interval, "started")?;
    let by_bucket_sql =
        |visits: String| format!("SELECT {bucket} AS bucket, {VISIT_METRICS} FROM {visits} GROUP BY bucket");
    let mut by_bucket: HashMap<String, VisitTotals> = HashMap::new();
    let mut raw_sql = Some(by_bucket_sql(kept_visits(scope)?));
    // Days, weeks and months of a report without filters: from the rolled-up days where there
    // are some (hours do not fall on a day's pieces).
    if scope.filters.is_empty() && interval != Interval::Hour {
        let days: Vec<NaiveDate> =
            scope.range.from.iter_days().take_while(|d| *d <= scope.range.to + Duration::days(1)).collect();
        let midnights = scope.midnights(store, &days).await?;
        let mut spans: Vec<crate::rollup::Span> = Vec::new();
        for (i, day) in days.iter().take(days.len().saturating_sub(1)).enumerate() {
            let (label, start, end) = (label(*day, interval), midnights[i], midnights[i + 1]);
            match spans.last_mut() {
                Some(span) if span.label == label => span.end = end,
                _ => spans.push(crate::rollup::Span { label, start, end }),
            }
        }
        if midnights.len() == days.len()
            && let Some((totals, raw)) = crate::rollup::rolled(store, scope, &spans).await?
        {
            by_bucket.extend(spans.into_iter().map(|s| s.label).zip(totals));
            raw_sql = match raw.is_empty() {
                true => None,
                false => Some(by_bucket_sql(format!("({})", crate::visits::subquery_in(scope, &raw)))),
            };
        }
    }
    if let Some(sql) = raw_sql {
        for row in store.fetch_json::<BucketTotals>(&sql).await? {
            *by_bucket.entry(row.bucket).or_default() += row.totals;
        }
    }
    Ok(buckets(scope.range, interval)
        .into_iter()
        .map(|bucket| {
            let values = by_bucket.remove(&bucket).map(Overview::from).unwrap_or_default();
            Point { bucket, values }
        })
        .collect())
}

/// The label of the bucket of `interval` that `day` falls in, as [`timeseries`] gives it
/// (days, weeks and months; hours are labelled per hour).
fn label(day: NaiveDate, interval: Interval) -> String {
    match interval {
        Interval::Hour | Interval::Day => day.format("%Y-%m-%d").to_string(),
        Interval::Week => {
            let monday = day - Duration::days(i64::from(chrono::Datelike::weekday(&day).num_days_from_monday()));
            monday.format("%Y-%m-%d").to_string()
        }
        Interval::Month => chrono::Datelike::with_day(&day, 1).unwrap_or(day).format("%Y-%m-%d").to_string(),
    }
}

/// Every bucket label of a range, in the format [`timeseries`] uses.
pub fn buckets(range: DateRange, interval: Interval) -> Vec<String> {
    let days = range.from.iter_days().take_while(|d| *d <= range.to);
    let mut labels: Vec<String> = match interval {
        Interval::Hour => {
            days.flat_map(|d| (0..24).map(move |h| format!("{} {h:02}:00:00", d.format("%Y-%m-%d")))).collect()
        }
        Interval::Day | Interval::Week | Interval::Month => days.map(|d| label(d, interval)).collect(),
    };
    labels.dedup();
    labels
}

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    pub value: String,
    pub visitors: u64,
    /// Visits (visit-level dimensions) or events (event-level dimensions).
    pub visits: u64,
    /// Page views: those of the visits, or the page's own for `page`.
    pub pageviews: u64,
    /// Visit-level dimensions and pages (visits that entered there): the share that bounced.
    pub bounce_rate: Option<f64>,
    /// Visit-level dimensions: mean visit duration in seconds.
    pub visit_duration: Option<f64>,
    /// Event-level dimensions: how many events.
    pub events: Option<u64>,
    /// Pages: mean engaged time on the page in seconds (from `engagement` events).
    pub time_on_page: Option<f64>,
}

/// A page of a breakdown, sorted by visitors (then value), and whether more rows follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub dimension: String,
    pub rows: Vec<BreakdownRow>,
    pub has_more: bool,
}

/// Most rows a breakdown page may hold.
pub const MAX_BREAKDOWN_ROWS: u32 = 1_000;

/// Top values of a dimension with their metrics.
///
/// # Errors
/// Store errors.
pub async fn breakdown(
    store: &dyn Store,
    scope: &Scope<'_>,
    dimension: &Dimension,
    limit: u32,
    page: u32,
) -> Result<Breakdown, StoreError> {
    let limit = limit.clamp(1, MAX_BREAKDOWN_ROWS);
    let offset = u64::from(page.saturating_sub(1)) * u64::from(limit);
    let window = format!("ORDER BY visitors DESC, value LIMIT {} OFFSET {offset}", u64::from(limit) + 1);
    let mut rows: Vec<BreakdownRow> = if let Some(column) = visit_column(dimension) {
        #[derive(Deserialize)]
        struct Row {
            value: String,
            visitors: u64,
            visits: u64,
            pageview_total: u64,
            bounces: u64,
            duration_total: u64,
        }
        let sql =
            format!("SELECT {column} AS value, {VISIT_METRICS} FROM {} GROUP BY value {window}", kept_visits(scope)?);
        let found: Vec<Row> = store.fetch_json(&sql).await?;
        found
            .into_iter()
            .map(|r| {
                let o = Overview::from(VisitTotals {
                    visitors: r.visitors,
                    visits: r.visits,
                    pageview_total: r.pageview_total,
                    bounces: r.bounces,
                    duration_total: r.duration_total,
                });
                BreakdownRow {
                    value: r.value,
                    visitors: o.visitors,
                    visits: o.visits,
                    pageviews: o.pageviews,
                    bounce_rate: Some(o.bounce_rate),
                    visit_duration: Some(o.visit_duration),
                    events: None,
                    time_on_page: None,
                }
            })
            .collect()
    } else {
        #[derive(Deserialize)]
        struct Row {
            value: String,
            visitors: u64,
            visits: u64,
            pageviews: u64,
            events: u64,
            engaged_total: u64,
            engaged_count: u64,
        }
        let expr = event_expr(dimension);
        let only = match dimension {
            Dimension::Page => "name IN ('pageview', 'engagement')".to_owned(),
            Dimension::Prop(key) => format!("has(props.key, {})", sql::quote(key)),
            Dimension::Hostname => "name = 'pageview'".to_owned(),
            _ => "1".to_owned(),
        };
        let sql = format!(
            "SELECT {expr} AS value, uniqExactIf(visitor_id, name != 'engagement') AS visitors, \
             uniqExactIf(session_id, name != 'engagement') AS visits, countIf(name = 'pageview') AS pageviews, \
             countIf(name != 'engagement') AS events, sumIf(toUInt64(assumeNotNull(engaged_ms)), name = 'engagement' AND isNotNull(engaged_ms)) AS engaged_total, \
             countIf(name = 'engagement' AND isNotNull(engaged_ms)) AS engaged_count \
             FROM events WHERE {} AND {only} GROUP BY value HAVING visitors > 0 {window}",
            kept_events(scope, Some(dimension))?
        );
        let found: Vec<Row> = store.fetch_json(&sql).await?;
        let is_page = *dimension == Dimension::Page;
        found
            .into_iter()
            .map(|r| BreakdownRow {
                value: r.value,
                visitors: r.visitors,
                visits: r.visits,
                pageviews: r.pageviews,
                bounce_rate: None,
                visit_duration: None,
                events: (!is_page).then_some(r.events),
                time_on_page: (is_page && r.engaged_count > 0)
                    .then(|| round(r.engaged_total as f64 / r.engaged_count as f64 / 1000.0, 1)),
            })
            .collect()
    };
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if *dimension == Dimension::Page && !rows.is_empty() {
        entry_bounce_rates(store, scope, &mut rows).await?;
    }
    Ok(Breakdown { dimension: dimension.name(), rows, has_more })
}

/// For the pages report: the bounce rate of the visits that entered on each page.
async fn entry_bounce_rates(store: &dyn Store, scope: &Scope<'_>, rows: &mut [BreakdownRow]) -> Result<(), StoreError> {
    #[derive(Deserialize)]
    struct Row {
        entry_page: String,
        visits: u64,
        bounces: u64,
    }
    let pages: Vec<String> = rows.iter().map(|r| r.value.clone()).collect();
    // Every visit is computed: the top pages are viewed in most visits, so narrowing them first
    // (`session_id IN` the visits that viewed one) costs more than it saves.
    let sql = format!(
        "SELECT entry_page, count() AS visits, countIf(pageviews <= 1 AND interactions = 0) AS bounces FROM {} \
         WHERE entry_page IN {} GROUP BY entry_page",
        kept_visits(scope)?,
        list(&pages)
    );
    let found: Vec<Row> = store.fetch_json(&sql).await?;
    for row in rows.iter_mut() {
        row.bounce_rate = found
            .iter()
            .find(|f| f.entry_page == row.value && f.visits > 0)
            .map(|f| round(f.bounces as f64 / f.visits as f64, 4));
    }
    Ok(())
}

/// Who is on the site now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Realtime {
    /// Visitors with an event in the last five minutes.
    pub visitors: u64,
    /// Where they are: each visitor's latest page, most visitors first.
    pub pages: Vec<RealtimePage>,
    /// Visitors per minute over the last 30 minutes, oldest first.
    pub per_minute: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealtimePage {
    pub page: String,
    pub visitors: u64,
}

/// Visitors in the last five minutes and their current pages, as of `now` (seconds).
///
/// With filters, only the visits they keep count: their visit-level values and events are
/// read over the days around `now` (UTC yesterday to tomorrow, which holds every visit active
/// in the last 30 minutes in any time zone), as the other reports read them over a period.
///
/// # Errors
/// Store errors.
pub async fn realtime(
    store: &dyn Store,
    site: &SiteDomain,
    now: i64,
    filters: &[Filter],
) -> Result<Realtime, StoreError> {
    let site_sql = sql::quote(site.as_str());
    let kept = if filters.is_empty() {
        String::new()
    } else {
        let today = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().date_naive();
        let range = DateRange { from: today - Duration::days(1), to: today + Duration::days(1) };
        let scope = Scope { site, timezone: "UTC", range, filters };
        format!(" AND session_id IN (SELECT session_id FROM {})", kept_visits(&scope)?)
    };
    let recent = format!(
        "site = {site_sql} AND timestamp >= toDateTime({}) AND timestamp <= toDateTime({now}){kept}",
        now - 300
    );
    #[derive(Deserialize)]
    struct Count {
        visitors: u64,
    }
    let total: Vec<Count> =
        store.fetch_json(&format!("SELECT uniqExact(visitor_id) AS visitors FROM events WHERE {recent}")).await?;
    let pages: Vec<RealtimePage> = store
        .fetch_json(&format!(
            "SELECT page, count() AS visitors FROM (SELECT visitor_id, argMax(pathname, {EVENT_ORDER}) AS page \
             FROM events WHERE {recent} AND name = 'pageview' GROUP BY visitor_id) GROUP BY page \
             ORDER BY visitors DESC, page LIMIT 20"
        ))
        .await?;
    #[derive(Deserialize)]
    struct Minute {
        minute: i64,
        visitors: u64,
    }
    let minutes: Vec<Minute> = store
        .fetch_json(&format!(
            "SELECT intDiv(toInt64(toUInt32(timestamp)) - {}, 60) AS minute, uniqExact(visitor_id) AS visitors \
             FROM events WHERE site = {site_sql} AND timestamp > toDateTime({}) AND timestamp <= toDateTime({now}){kept} \
             GROUP BY minute",
            now - 1800,
            now - 1800
        ))
        .await?;
    let mut per_minute = vec![0; 30];
    for m in minutes {
        if let Ok(i) = usize::try_from(m.minute)
            && i < 30
        {
            per_minute[i] = m.visitors;
        }
    }
    Ok(Realtime { visitors: total.first().map_or(0, |c| c.visitors), pages, per_minute })
}

/// The site's date `today` in its time zone, as the store sees it.
///
/// # Errors
/// Store errors.
pub async fn today(store: &dyn Store, timezone: &str) -> Result<NaiveDate, StoreError> {
    if !is_time_zone_name(timezone) {
        return Err(StoreError::Invalid(format!("{timezone:?} is not a time zone name")));
    }
    let out =
        store.query_raw(&format!("SELECT toString(toDate(now(), {}))", sql::quote(timezone)), "TabSeparated").await?;
    NaiveDate::parse_from_str(String::from_utf8_lossy(&out).trim(), "%Y-%m-%d")
        .map_err(|e| StoreError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn filter_values_are_quoted_not_interpolated() {
        let filter = Filter::parse("page==/a'); DROP TABLE events; --").unwrap_or_else(|e| panic!("{e}"));
        let sql = event_filter_condition(&filter);
        assert_eq!(sql, r"name = 'pageview' AND pathname IN ('/a\'); DROP TABLE events; --')");
        let prop = Filter::parse("prop:it's~=x").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            event_filter_condition(&prop).contains(r"has(props.key, 'it\'s')"),
            "{}",
            event_filter_condition(&prop)
        );
    }

    #[test]
    fn time_zones_are_checked_before_use() {
        for tz in ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(is_time_zone_name(tz), "{tz}");
        }
        for tz in ["", "UTC'", "Europe/Berlin; DROP", "a b"] {
            assert!(!is_time_zone_name(tz), "{tz}");
        }
    }

    #[test]
    fn every_bucket_of_a_range_is_listed_once() {
        let range = DateRange { from: day("2026-11-29"), to: day("2026-12-02") };
        assert_eq!(buckets(range, Interval::Day), ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
        assert_eq!(buckets(range, Interval::Week), ["2026-11-23", "2026-11-30"]);
        assert_eq!(buckets(range, Interval::Month), ["2026-11-01", "2026-12-01"]);
        assert_eq!(buckets(DateRange { from: day("2026-11-29"), to: day("2026-11-29") }, Interval::Hour).len(), 24);
    }
}
