//! Finished visits rolled up per site and UTC day (`visit_days`, migration 0005), so that the
//! overview and its daily, weekly and monthly series read five rows per day instead of finishing
//! every visit from `visit_parts`.
//!
//! Why per UTC day: a visitor id is the hash under the UTC day's salt, and the collector
//! continues a visit only while its visitor id is the same, so no visit has events on two UTC
//! days and no visitor id occurs on two. A day's visits are therefore finished within the day,
//! and the visitors of a range are the sum of each day's distinct visitors. A day where a visit
//! does reach into a neighbouring day (possible only in data not written by the collector) is
//! recorded as not rollable and always computed from `visit_parts`.
//!
//! A site's days (in its time zone) begin at a local midnight, which falls inside a UTC day at
//! its `split`. Besides the whole day, each rolled day keeps the two sides of the split, counted
//! two ways: the visits that *start* on a side, whole (an inner day of a series counts a visit
//! where it started), and the visits' events on a side, *cut* at the split (the first day of a
//! range counts only what is in range, as the reports do when they finish visits from events).
//! A report over whole local days takes, for each UTC day it touches, the whole day or one of
//! these pieces, and gets exactly the numbers [`crate::visits::subquery`] gives.
//!
//! A rolled day is used only while nothing changed since: `day_inserts` counts the events
//! inserted per day (a view on `events` adds to it on every insert), the day records the count
//! it was rolled at, and deletions add to the count of every day they touch ([`invalidate`]).
//! The engine feeds an insert to its views one after the other, so a count can move a moment
//! before the same events reach `visit_parts`: [`roll`] rolls a day only when its count stood
//! still for [`QUIET`] before it reads the day's visits.
//! Days that changed, the current day, and days whose split is not the report's midnight (the
//! site's time zone changed) are computed from `visit_parts`, and [`roll`], which the API process
//! runs every few minutes, rolls them again.
//!
//! Reports with filters are computed from `visit_parts` or the events as before. The
//! site-search report's days are rolled up with the visits' (see [`crate::search::rolled`]).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use crate::error::StoreError;
use crate::stats::{Scope, VisitTotals};
use crate::{Store, sql};

/// The rolled-up days.
pub(crate) const TABLE: &str = "visit_days";
/// Events inserted per day.
pub(crate) const COUNTS: &str = "day_inserts";
const DAY_SECS: i64 = 86_400;
/// How long after its end a UTC day is rolled up: events still on their way (a collector's
/// spool, a replay) usually land within it. Later ones make the day be rolled again.
const SETTLE: Duration = Duration::hours(1);
/// How long a day's count must stand still before the day is rolled (see the module
/// documentation): far longer than an insert takes between two of its views.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// The pieces of a day (see the module documentation).
pub(crate) const DAY: &str = "day";
const STARTS_BEFORE: &str = "starts_before";
const STARTS_AFTER: &str = "starts_after";
pub(crate) const UNTIL_SPLIT: &str = "until_split";
pub(crate) const FROM_SPLIT: &str = "from_split";

/// The migration that creates the tables; [`fill`] runs after it.
pub(crate) const MIGRATION_NAME: &str = "0005_visit_days";

/// Counts the events stored before the view existed, once, right after the migration. Events
/// inserted meanwhile are counted twice, which only makes a count larger: a count tells whether
/// a day changed, not how many events it has.
///
/// # Errors
/// Store errors.
pub(crate) async fn fill(store: &dyn Store) -> Result<(), StoreError> {
    store
        .execute(&format!(
            "INSERT INTO {COUNTS} (site, day, inserted) SELECT site, toDate(timestamp) AS d, count() FROM events \
             GROUP BY site, d"
        ))
        .await
}

/// What a [`roll`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollReport {
    /// Site days rolled up (again).
    pub rolled: usize,
    /// Of those, days with a visit that reaches into another day: left to `visit_parts`.
    pub not_rollable: usize,
}

/// Rolls up every site day that ended at least an hour before `now` and is not rolled up yet,
/// changed since, or was rolled in another time zone than the site's.
///
/// # Errors
/// Store errors.
pub async fn roll(store: &dyn Store, now: DateTime<Utc>) -> Result<RollReport, StoreError> {
    #[derive(Deserialize)]
    struct Count {
        #[serde(rename = "site_name")]
        site: String,
        #[serde(rename = "day_number")]
        day: i64,
        #[serde(rename = "total")]
        inserted: u64,
    }
    #[derive(Deserialize)]
    struct Rolled {
        #[serde(rename = "site_name")]
        site: String,
        #[serde(rename = "day_number")]
        day: i64,
        timezone: String,
        inserted: u64,
    }
    let zones: HashMap<String, String> =
        crate::sites::list(store).await?.into_iter().map(|s| (s.domain.as_str().to_owned(), s.timezone)).collect();
    let settled = (now - SETTLE).date_naive();
    let counts_sql = format!(
        "SELECT toString(site) AS site_name, toInt64(day) AS day_number, sum(inserted) AS total FROM {COUNTS} \
         WHERE day < toDate('{}') GROUP BY site, day ORDER BY site, day",
        settled.format("%Y-%m-%d")
    );
    let counts: Vec<Count> = store.fetch_json(&counts_sql).await?;
    let rolled: HashMap<(String, i64), (String, u64)> = store
        .fetch_json::<Rolled>(&format!(
            "SELECT toString(site) AS site_name, toInt64(day) AS day_number, timezone, inserted FROM {TABLE} FINAL \
             WHERE piece = '{DAY}'"
        ))
        .await?
        .into_iter()
        .map(|r| ((r.site, r.day), (r.timezone, r.inserted)))
        .collect();
    let mut report = RollReport::default();
    let due: Vec<(Count, &String)> = counts
        .into_iter()
        .filter_map(|c| zones.get(&c.site).map(|tz| (c, tz)))
        .filter(|(c, tz)| !rolled.get(&(c.site.clone(), c.day)).is_some_and(|(t, n)| t == *tz && *n == c.inserted))
        .collect();
    if due.is_empty() {
        return Ok(report);
    }
    tokio::time::sleep(QUIET).await;
    let still: HashMap<(String, i64), u64> =
        store.fetch_json::<Count>(&counts_sql).await?.into_iter().map(|c| ((c.site, c.day), c.inserted)).collect();
    for (Count { site, day, inserted }, timezone) in due {
        if still.get(&(site.clone(), day)) != Some(&inserted) {
            continue; // still receiving events: the next run rolls it
        }
        let rollable = roll_day(store, &site, timezone, day, inserted, now).await?;
        report.rolled += 1;
        report.not_rollable += usize::from(!rollable);
    }
    if report.rolled > 0 {
        tracing::info!(days = report.rolled, not_rollable = report.not_rollable, "visits rolled up per day");
    }
    Ok(report)
}

pub(crate) fn date_of(day: i64) -> NaiveDate {
    NaiveDate::default() + Duration::days(day)
}

/// The local midnight of `timezone` within the UTC day `day` (days since 1970), in seconds, as
/// the reports compute a range's bounds ([`Scope::range_bounds`]).
async fn split_of(store: &dyn Store, timezone: &str, day: i64) -> Result<i64, StoreError> {
    #[derive(Deserialize)]
    struct Split {
        split: i64,
    }
    let tz = Scope::quote_time_zone(timezone)?;
    let (date, next) = (date_of(day).format("%Y-%m-%d"), date_of(day + 1).format("%Y-%m-%d"));
    let rows: Vec<Split> = store
        .fetch_json(&format!(
            "SELECT toInt64(if(toDateTime('{date} 00:00:00', {tz}) >= toDateTime('{date} 00:00:00', 'UTC'), \
             toDateTime('{date} 00:00:00', {tz}), toDateTime('{next} 00:00:00', {tz}))) AS split"
        ))
        .await?;
    rows.first().map(|r| r.split).ok_or_else(|| StoreError::Decode("no split".into()))
}

/// Rolls up one site day; whether it could be (no visit reaches into another day).
async fn roll_day(
    store: &dyn Store,
    site: &str,
    timezone: &str,
    day: i64,
    inserted: u64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let split = split_of(store, timezone, day).await?;
    let (start, end) = (day * DAY_SECS, (day + 1) * DAY_SECS);
    let at = |secs: i64| format!("toDateTime({secs}, 'UTC')");
    // Per visit: its parts on the day before (side 0), before the split (1), from it (2), and on
    // the day after (3), each finished as `visits::subquery` finishes a visit.
    let sides = format!(
        "SELECT session_id, multiIf(bucket < {s}, 0, bucket < {m}, 1, bucket < {e}, 2, 3) AS side, \
           min(visitor_id) AS v, minMerge(s_started) AS st, maxMerge(s_ended) AS en, \
           sumMerge(s_pageviews) AS pv, sumMerge(s_interactions) AS it \
         FROM visit_parts WHERE site = {site_q} AND bucket >= {before} AND bucket < {after} \
         GROUP BY session_id, side",
        s = at(start),
        m = at(split),
        e = at(end),
        site_q = sql::quote(site),
        before = at(start - DAY_SECS),
        after = at(end + DAY_SECS),
    );
    let visits = format!(
        "SELECT session_id, countIf(side IN (0, 3)) > 0 AS crosses, \
           minIf(v, side IN (1, 2)) AS w_v, minIf(st, side IN (1, 2)) AS w_st, maxIf(en, side IN (1, 2)) AS w_en, \
           sumIf(pv, side IN (1, 2)) AS w_pv, sumIf(it, side IN (1, 2)) AS w_it, \
           countIf(side = 1) > 0 AS in_b, minIf(v, side = 1) AS b_v, minIf(st, side = 1) AS b_st, \
           maxIf(en, side = 1) AS b_en, sumIf(pv, side = 1) AS b_pv, sumIf(it, side = 1) AS b_it, \
           countIf(side = 2) > 0 AS in_a, minIf(v, side = 2) AS a_v, minIf(st, side = 2) AS a_st, \
           maxIf(en, side = 2) AS a_en, sumIf(pv, side = 2) AS a_pv, sumIf(it, side = 2) AS a_it \
         FROM ({sides}) GROUP BY session_id HAVING countIf(side IN (1, 2)) > 0"
    );
    // Each piece: which visits (a condition) and which of their columns (a prefix).
    let starts_before = format!("toInt64(w_st) < {split}");
    let starts_after = format!("toInt64(w_st) >= {split}");
    let pieces: [(&str, &str, &str); 5] = [
        (DAY, "1", "w"),
        (STARTS_BEFORE, &starts_before, "w"),
        (STARTS_AFTER, &starts_after, "w"),
        (UNTIL_SPLIT, "in_b", "b"),
        (FROM_SPLIT, "in_a", "a"),
    ];
    let mut columns = vec!["countIf(crosses) AS crossing".to_owned()];
    for (piece, kept, p) in pieces {
        columns.push(format!("uniqExactIf({p}_v, {kept}) AS {piece}_visitors"));
        columns.push(format!("countIf({kept}) AS {piece}_visits"));
        columns.push(format!("sumIf({p}_pv, {kept}) AS {piece}_pageviews"));
        columns.push(format!("countIf({kept} AND {p}_pv <= 1 AND {p}_it = 0) AS {piece}_bounces"));
        columns.push(format!("sumIf(toUInt64({p}_en) - toUInt64({p}_st), {kept}) AS {piece}_duration"));
    }
    let rows: Vec<HashMap<String, u64>> =
        store.fetch_json(&format!("SELECT {} FROM ({visits})", columns.join(", "))).await?;
    let numbers = rows.into_iter().next().unwrap_or_default();
    let rollable = numbers.get("crossing").copied().unwrap_or(0) == 0;
    let version = now.timestamp_micros().max(0);
    let values: Vec<String> = pieces
        .iter()
        .map(|(piece, _, _)| {
            let n = |metric: &str| if rollable { numbers.get(&format!("{piece}_{metric}")).copied().unwrap_or(0) } else { 0 };
            format!(
                "({}, toDate('{}'), '{piece}', {}, toDateTime({split}, 'UTC'), {inserted}, {}, {}, {}, {}, {}, {}, {version})",
                sql::quote(site),
                date_of(day).format("%Y-%m-%d"),
                sql::quote(timezone),
                u8::from(rollable),
                n("visitors"),
                n("visits"),
                n("pageviews"),
                n("bounces"),
                n("duration"),
            )
        })
        .collect();
    // The searches first: the visits' row marks the day as rolled up (see `roll`), so a failure
    // in between leaves it to the next run.
    if rollable {
        let numbers = store.version().await?.has_uuid_number();
        crate::search::rolled::roll_day(store, site, (start, end), split, inserted, version, numbers).await?;
    }
    store
        .execute(&format!(
            "INSERT INTO {TABLE} (site, day, piece, timezone, split, inserted, rollable, visitors, visits, pageviews, \
             bounces, duration, version) VALUES {}",
            values.join(", ")
        ))
        .await?;
    Ok(rollable)
}

/// After events of `site` between `from` and `to` (either open) were deleted: every rolled-up
/// day they touch stops being used (its count moves on) until it is rolled again.
pub(crate) async fn invalidate(
    store: &dyn Store,
    site: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let mut condition = format!("site = {}", sql::quote(site));
    if let Some(from) = from {
        condition.push_str(&format!(" AND day >= toDate('{}')", from.date_naive().format("%Y-%m-%d")));
    }
    if let Some(to) = to {
        condition.push_str(&format!(" AND day <= toDate('{}')", to.date_naive().format("%Y-%m-%d")));
    }
    store
        .execute(&format!(
            "INSERT INTO {COUNTS} (site, day, inserted) SELECT site, day, 1 FROM {TABLE} WHERE {condition} GROUP BY site, day"
        ))
        .await
}

/// `column` (a time) within any of `windows` (`[start, end)` in seconds), as SQL: the part of a
/// range a report computes from `visit_parts` or the events instead of rolled-up days.
pub(crate) fn within(column: &str, windows: &[(i64, i64)]) -> String {
    let any: Vec<String> = windows
        .iter()
        .map(|(start, end)| format!("({column} >= toDateTime({start}, 'UTC') AND {column} < toDateTime({end}, 'UTC'))"))
        .collect();
    format!("({})", any.join(" OR "))
}

/// The scope's whole range as one span (its first local midnight and the one after its last
/// day), as the overview and the search report read rolled-up days for it.
pub(crate) async fn range_span(store: &dyn Store, scope: &Scope<'_>) -> Result<Option<Span>, StoreError> {
    let bounds = scope.midnights(store, &[scope.range.from, scope.range.to + Duration::days(1)]).await?;
    Ok(match bounds[..] {
        [start, end] => Some(Span { label: String::new(), start, end }),
        _ => None,
    })
}

/// A report's span: its label and its first and end instants (seconds), local midnights.
pub(crate) struct Span {
    pub label: String,
    pub start: i64,
    pub end: i64,
}

/// Which piece of which day a rolled-up row is, as the queries select it (`day_number`,
/// `piece_name`, `split_at`).
#[derive(Debug, Deserialize)]
pub(crate) struct PieceKey {
    /// Days since 1970.
    #[serde(rename = "day_number")]
    pub day: i64,
    #[serde(rename = "piece_name")]
    pub piece: String,
    /// Seconds.
    #[serde(rename = "split_at")]
    pub split: i64,
}

#[derive(Debug, Deserialize)]
struct Piece {
    #[serde(flatten)]
    key: PieceKey,
    visitors: u64,
    visits: u64,
    pageviews: u64,
    bounces: u64,
    duration: u64,
}

impl From<&Piece> for VisitTotals {
    fn from(p: &Piece) -> Self {
        Self {
            visitors: p.visitors,
            visits: p.visits,
            pageview_total: p.pageviews,
            bounces: p.bounces,
            duration_total: p.duration,
        }
    }
}

/// The pieces a report takes, each with the index of the span it counts in, and the windows
/// (`[start, end)` seconds) it computes from the visits themselves (see [`plan`]).
pub(crate) type Plan<'a, P> = (Vec<(usize, &'a P)>, Vec<(i64, i64)>);

/// A rolled-up piece of a day that a report may use.
pub(crate) trait Rolled {
    fn key(&self) -> &PieceKey;
}

impl Rolled for Piece {
    fn key(&self) -> &PieceKey {
        &self.key
    }
}

/// Which rolled-up pieces give `spans` (consecutive local days, weeks or months, covering a
/// range): for each UTC day the range touches, either the piece each of its portions is (the
/// whole day; before the split when a span ends there; from it when one begins there — cut at
/// the range's own ends, started elsewhere) with the span it counts in, or, when one is
/// missing, the whole day within the range as a window (`[start, end)` seconds) to compute from
/// the visits themselves. Adjacent windows are merged.
pub(crate) fn plan<'a, P: Rolled>(spans: &[Span], available: &'a [P]) -> Plan<'a, P> {
    let (mut taken, mut raw): Plan<'_, P> = (Vec::new(), Vec::new());
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else { return (taken, raw) };
    let (range_start, range_end) = (first.start, last.end);
    if range_end <= range_start {
        return (taken, raw);
    }
    let mut by_day: HashMap<i64, Vec<&P>> = HashMap::new();
    for piece in available {
        by_day.entry(piece.key().day).or_default().push(piece);
    }
    for day in range_start.div_euclid(DAY_SECS)..=(range_end - 1).div_euclid(DAY_SECS) {
        let (start, end) = (day * DAY_SECS, (day + 1) * DAY_SECS);
        let got = by_day.get(&day).map(Vec::as_slice).unwrap_or_default();
        let mut pieces: Vec<(usize, &P)> = Vec::new();
        let mut whole = true;
        for (i, span) in spans.iter().enumerate() {
            let (lo, hi) = (span.start.max(start), span.end.min(end));
            if lo >= hi {
                continue;
            }
            let wanted = match (lo == start, hi == end) {
                (true, true) => Some((DAY, None)),
                (true, false) => Some((if hi == range_end { UNTIL_SPLIT } else { STARTS_BEFORE }, Some(hi))),
                (false, true) => Some((if lo == range_start { FROM_SPLIT } else { STARTS_AFTER }, Some(lo))),
                (false, false) => None,
            };
            let found = wanted.and_then(|(name, split)| {
                got.iter().find(|p| p.key().piece == name && split.is_none_or(|s| s == p.key().split)).copied()
            });
            match found {
                Some(piece) => pieces.push((i, piece)),
                None => {
                    whole = false;
                    break;
                }
            }
        }
        if whole {
            taken.extend(pieces);
        } else {
            let window = (start.max(range_start), end.min(range_end));
            match raw.last_mut() {
                Some(last) if last.1 == window.0 => last.1 = window.1,
                _ => raw.push(window),
            }
        }
    }
    (taken, raw)
}

/// The UTC days (since 1970) that `spans` touch, as a condition on `day`.
pub(crate) fn days_condition(spans: &[Span]) -> Option<String> {
    let (first, last) = (spans.first()?, spans.last()?);
    (last.end > first.start).then(|| {
        format!(
            "day >= toDate('{}') AND day <= toDate('{}')",
            date_of(first.start.div_euclid(DAY_SECS)).format("%Y-%m-%d"),
            date_of((last.end - 1).div_euclid(DAY_SECS)).format("%Y-%m-%d")
        )
    })
}

/// `(day, inserted)` of the site's days as they are now, as SQL (a rolled-up row is current
/// when its pair is among them).
pub(crate) fn current_days(site: &str, days: &str) -> String {
    format!("(SELECT day, sum(inserted) FROM {COUNTS} WHERE site = {} AND {days} GROUP BY day)", sql::quote(site))
}

/// What the rolled-up days give for `spans` (consecutive, covering the scope's range, no
/// filters), and the windows (`[start, end)` seconds, whole UTC days within the range) left to
/// compute from `visit_parts`. `None` when no day of the range is rolled up.
pub(crate) async fn rolled(
    store: &dyn Store,
    scope: &Scope<'_>,
    spans: &[Span],
) -> Result<Option<(Vec<VisitTotals>, Vec<(i64, i64)>)>, StoreError> {
    let Some(days) = days_condition(spans) else { return Ok(None) };
    let site = scope.site.as_str();
    let pieces: Vec<Piece> = store
        .fetch_json(&format!(
            "SELECT toInt64(day) AS day_number, toString(piece) AS piece_name, toInt64(split) AS split_at, visitors, \
             visits, pageviews, bounces, duration FROM {TABLE} FINAL \
             WHERE site = {} AND rollable = 1 AND {days} AND (day, inserted) IN {}",
            sql::quote(site),
            current_days(site, &days)
        ))
        .await?;
    if pieces.is_empty() {
        return Ok(None);
    }
    let (taken, raw) = plan(spans, &pieces);
    let mut totals: Vec<VisitTotals> = spans.iter().map(|_| VisitTotals::default()).collect();
    for (i, piece) in taken {
        totals[i] += VisitTotals::from(piece);
    }
    Ok(Some((totals, raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P(PieceKey);

    impl Rolled for P {
        fn key(&self) -> &PieceKey {
            &self.0
        }
    }

    /// Days 10–12 (UTC) in a zone whose midnight falls at 18:15 UTC: every piece rolled up for
    /// days 10 and 12, none for day 11.
    #[test]
    fn a_range_takes_the_pieces_it_needs_and_computes_the_days_without_them() {
        let split = |day: i64| day * DAY_SECS + 18 * 3600 + 900;
        let mut available = Vec::new();
        for day in [10, 12] {
            for piece in [DAY, STARTS_BEFORE, STARTS_AFTER, UNTIL_SPLIT, FROM_SPLIT] {
                available.push(P(PieceKey { day, piece: piece.into(), split: split(day) }));
            }
        }
        let names = |plan: &Plan<'_, P>| -> Vec<(usize, i64, String)> {
            plan.0.iter().map(|(i, p)| (*i, p.0.day, p.0.piece.clone())).collect()
        };
        // The overview of the local days from day 10's midnight to day 12's: cut at both ends.
        let whole = [Span { label: String::new(), start: split(10), end: split(12) }];
        let chosen = super::plan(&whole, &available);
        assert_eq!(names(&chosen), vec![(0, 10, FROM_SPLIT.into()), (0, 12, UNTIL_SPLIT.into())]);
        assert_eq!(chosen.1, vec![(11 * DAY_SECS, 12 * DAY_SECS)], "day 11 from the visits");
        // Two local days as a series: the inner midnight counts visits where they start.
        let days = [
            Span { label: "a".into(), start: split(10), end: split(11) },
            Span { label: "b".into(), start: split(11), end: split(12) },
        ];
        let chosen = super::plan(&days, &available);
        assert_eq!(names(&chosen), vec![(0, 10, FROM_SPLIT.into()), (1, 12, UNTIL_SPLIT.into())]);
        assert_eq!(chosen.1, vec![(11 * DAY_SECS, 12 * DAY_SECS)]);
        // Whole UTC days (a UTC range), and a series whose inner midnight is day 12's split.
        let utc = [Span { label: String::new(), start: 10 * DAY_SECS, end: 13 * DAY_SECS }];
        let chosen = super::plan(&utc, &available);
        assert_eq!(names(&chosen), vec![(0, 10, DAY.into()), (0, 12, DAY.into())]);
        let around = [
            Span { label: "a".into(), start: 12 * DAY_SECS, end: split(12) },
            Span { label: "b".into(), start: split(12), end: 13 * DAY_SECS },
        ];
        let chosen = super::plan(&around, &available);
        assert_eq!(names(&chosen), vec![(0, 12, STARTS_BEFORE.into()), (1, 12, STARTS_AFTER.into())]);
        // A split that is not the range's midnight (another zone): the day is computed.
        let elsewhere = [Span { label: String::new(), start: split(10) + 3600, end: 13 * DAY_SECS }];
        let chosen = super::plan(&elsewhere, &available);
        assert_eq!(names(&chosen), vec![(0, 12, DAY.into())]);
        assert_eq!(chosen.1, vec![(split(10) + 3600, 12 * DAY_SECS)], "days 10 and 11 merged into one window");
    }
}
