//! Site search: how visitors search the shop and what comes of it, over the events of the
//! visits a scope keeps (period and filters, see [`crate::stats`]).
//!
//! Definitions. A *search* is a `search` event; its query is the normalised `search.query`. A
//! search *found no results* when `search.results` is 0 (unknown counts are not no-result
//! searches) and otherwise *found results*. Events of a visit are ordered by
//! `(timestamp, event_id)` (the id as text, see [`crate::stats::EVENT_ORDER`]), as everywhere in the
//! store.
//! - *searches* count search events, *searchers* the distinct visitors with one;
//! - a `search_click` *belongs* to the latest search before it in its visit (clicks before a
//!   visit's first search belong to none); a search is *clicked* when at least one click
//!   belongs to it. *Click-through rate* = clicked searches / searches; *searches with no click*
//!   = searches − clicked searches; *average clicked position* = the mean `search.position`
//!   over the clicks that belong to a search and carry one;
//! - a search is *refined* when another search of the same visit follows it; *refinements*
//!   count refined searches;
//! - a search is a *search exit* when no page view of its visit follows it (the search's own
//!   results page is viewed before the search event is sent);
//! - the page a search *came from* is the latest page view of the visit before the search on
//!   another path than the search's own page (its results page), `""` when there is none (the
//!   visit began on the results page);
//! - *trending* queries: searchers of the query in the period against the previous period of the
//!   same length (as filtered), for queries with at least a minimum of searchers now and more
//!   than before; ranked by the rise in searchers, then searchers, then query;
//! - *search-to-purchase*: the scope's visits split into those with a search and those
//!   without; per group: visits, purchasing visits (with at least one `purchase` event),
//!   purchase rate = purchasing / visits, and revenue, orders (purchases carrying revenue) and
//!   average order value per currency;
//! - *estimated lost revenue* of a no-result query = its searchers (of no-result searches) ×
//!   the purchase rate of the visits with a search that found results × the average order
//!   value of those visits' purchases, in their main currency (the one with the most orders,
//!   then the most revenue, then alphabetical). Exact in ten-thousandths, rounded half away
//!   from zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::StoreError;
use crate::goals::{CurrencyRevenue, divide_rounded, share};
use crate::stats::{self, Scope};

pub(crate) mod rolled;

/// The parts of the report a request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SearchSection {
    Summary,
    TopQueries,
    Trending,
    NoResults,
    Conversion,
    LostRevenue,
}

impl SearchSection {
    pub const ALL: [Self; 6] =
        [Self::Summary, Self::TopQueries, Self::Trending, Self::NoResults, Self::Conversion, Self::LostRevenue];

    /// The name a request uses: `summary`, `top_queries`, `trending`, `no_results`,
    /// `conversion`, `lost_revenue`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Summary => "summary",
            Self::TopQueries => "top_queries",
            Self::Trending => "trending",
            Self::NoResults => "no_results",
            Self::Conversion => "conversion",
            Self::LostRevenue => "lost_revenue",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    pub sections: Vec<SearchSection>,
    /// Rows per list (top, trending, no-result and lost-revenue queries), 1..=1000.
    pub limit: u32,
    /// Fewest searchers a query needs in the period to trend.
    pub trending_min_searchers: u64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { sections: SearchSection::ALL.to_vec(), limit: 10, trending_min_searchers: 3 }
    }
}

/// The headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSummary {
    pub searches: u64,
    pub searchers: u64,
    pub no_result_searches: u64,
    /// no-result searches / searches.
    pub no_result_rate: f64,
    pub clicked_searches: u64,
    pub click_through_rate: f64,
    pub searches_without_click: u64,
    pub average_clicked_position: Option<f64>,
    pub refinements: u64,
    /// refined searches / searches.
    pub refinement_rate: f64,
    pub search_exits: u64,
    /// search exits / searches.
    pub exit_rate: f64,
}

/// One query among the most searched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRow {
    pub query: String,
    pub searches: u64,
    pub searchers: u64,
    /// no-result searches / searches of the query.
    pub no_result_rate: f64,
    pub click_through_rate: f64,
    pub average_clicked_position: Option<f64>,
}

/// A query searched by more people than in the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendingQuery {
    pub query: String,
    pub searchers: u64,
    pub previous_searchers: u64,
    pub rise: u64,
    /// Percent change; `None` when nobody searched it before.
    pub change_percent: Option<f64>,
}

/// Where no-result searches came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FromPage {
    pub page: String,
    pub searches: u64,
}

/// A query that found nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoResultQuery {
    pub query: String,
    /// No-result searches of the query.
    pub searches: u64,
    pub searchers: u64,
    /// `searches` / all searches of the scope.
    pub share_of_searches: f64,
    /// The five pages these searches came from most, most first (then by page).
    pub from_pages: Vec<FromPage>,
}

/// Visits of one kind (with or without a search) and what they bought.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitGroup {
    pub visits: u64,
    pub purchasing_visits: u64,
    pub purchase_rate: f64,
    /// Per currency, largest first.
    pub revenue: Vec<CurrencyRevenue>,
}

/// Search-to-purchase conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchConversion {
    pub with_search: VisitGroup,
    pub without_search: VisitGroup,
}

/// What the lost-revenue estimate is based on: visits with a search that found results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostRevenueBasis {
    pub visits: u64,
    pub purchasing_visits: u64,
    pub purchase_rate: f64,
    /// Their main currency; `None` when they bought nothing.
    pub currency: Option<String>,
    pub average_order_e4: i64,
}

/// A no-result query and the revenue it may have cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostRevenueQuery {
    pub query: String,
    pub searchers: u64,
    pub searches: u64,
    pub estimated_lost_e4: i64,
}

/// No-result queries by estimated lost revenue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostRevenue {
    pub basis: LostRevenueBasis,
    pub queries: Vec<LostRevenueQuery>,
}

/// The report; sections not asked for are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SearchSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_queries: Option<Vec<QueryRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trending: Option<Vec<TrendingQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_result_queries: Option<Vec<NoResultQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<SearchConversion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_revenue: Option<LostRevenue>,
}

/// `expr`, whose lambdas read `captured` (columns or aliases of the same query), written so
/// that ClickHouse 18.16 computes them: it does not count what a lambda reads from outside
/// among the columns a query needs ("Unknown identifier"). Naming them in a tuple does.
fn captures(captured: &[&str], expr: &str) -> String {
    format!("tupleElement(tuple({}, {expr}), {})", captured.join(", "), captured.len() + 1)
}

/// What [`search_rows`] works out for each search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// Its clicks, refinement and exit: the visit's searches and clicks, and the order of its
    /// last page view, without collecting its page views.
    Outcomes,
    /// Also the page it came from, which needs the visit's page views in order.
    WithOrigins,
}

/// An event's place in the order of events (see [`stats::EVENT_ORDER`]) as one number: its
/// second, then its id (`toUInt128` orders ids as their text does where it exists).
const ORDER_NUMBER: &str = "bitShiftLeft(toUInt256(toUInt32(timestamp)), 128) + toUInt256(toUInt128(event_id))";

/// One row per search of the scope with what became of it: `session_id`, `visitor`, `query`,
/// `results` (−1: unknown), `nth`, `clicks`, `positioned` (clicks with a position),
/// `position_total`, `refined`, `exited`; with [`Rows::WithOrigins`] also `page` and `from_page`
/// (see the module documentation).
///
/// Only the visits with a search that meets `searches` (an extra condition on `search` events,
/// `""` for every search) are kept; with a condition, the others are skipped before grouping.
///
/// With `numbers` (engines with `toUInt128(UUID)`, see [`crate::EngineVersion::has_uuid_number`]),
/// an event's place in the order is one number, the second then the id ([`ORDER_NUMBER`]),
/// instead of the text of [`stats::EVENT_ORDER`]: the same order, made and compared for less (at
/// 10M events, the summary and top queries took ~0.85× the time).
fn search_rows(scope: &Scope<'_>, searches: &str, rows: Rows, numbers: bool) -> Result<String, StoreError> {
    Ok(search_rows_in(&stats::kept_events(scope, None)?, searches, rows, numbers))
}

/// As [`search_rows`], over the events that meet `scoped` (a condition on `events`).
fn search_rows_in(scoped: &str, searches: &str, rows: Rows, numbers: bool) -> String {
    let (id, order, place) = if numbers {
        ("toUInt128(event_id)", ORDER_NUMBER, "bitShiftLeft(toUInt256(x.1), 128) + toUInt256(x.2)")
    } else {
        ("toString(event_id)", stats::EVENT_ORDER, "concat(toString(toUInt64(x.1) + 10000000000), x.2)")
    };
    // A visit's events in order: all three kinds, or only searches and clicks beside the order of
    // its last page view (`""` when it has none). Kinds: 1 page view, 2 search, 3 click.
    let (collected, last_view) = match rows {
        Rows::WithOrigins => (
            format!(
                "groupArray((toUInt32(timestamp), {id}, \
                 multiIf(name = 'pageview', 1, name = 'search', 2, 3), search_query, toInt64(ifNull(search_results, -1)), \
                 toUInt64(ifNull(search_position, 0)), pathname))"
            ),
            String::new(),
        ),
        Rows::Outcomes => (
            format!(
                "groupArrayIf((toUInt32(timestamp), {id}, if(name = 'search', 2, 3), search_query, \
                 toInt64(ifNull(search_results, -1)), toUInt64(ifNull(search_position, 0))), name != 'pageview')"
            ),
            format!(", maxIf({order}, name = 'pageview') AS last_view"),
        ),
    };
    // Visits with a matching search are picked before grouping when the condition is narrow;
    // for every search, grouping all visits and keeping those with one is faster than the set
    // of searching visits (measured at 10M events: 1.3 s against 2.2 s with half the visits
    // searching, and the set only grows with them).
    let among = if searches.is_empty() {
        String::new()
    } else {
        format!("AND session_id IN (SELECT session_id FROM events WHERE {scoped} AND name = 'search' {searches})")
    };
    let visits = format!(
        "SELECT session_id, min(visitor_id) AS visitor, arraySort({collected}) AS ev{last_view} \
         FROM events WHERE {scoped} AND name IN ('pageview', 'search', 'search_click') {among} \
         GROUP BY session_id HAVING countIf(name = 'search') > 0"
    );
    // Per event: its kind, the number of the latest search at or before it (`ordinal`), and
    // the page views so far (`views`) or its place in the event order (`orders`, as
    // `stats::EVENT_ORDER` writes it); then one row per search (`i`, its position).
    let (extra, kept) = match rows {
        Rows::WithOrigins => (
            "arrayMap(x -> x.7, ev) AS paths, arrayCumSum(arrayMap(k -> k = 1, kinds)) AS views".to_owned(),
            "paths, views",
        ),
        Rows::Outcomes => (
            // (`x.1` is the event's second and `x.2` its id: see the test below.)
            format!("arrayMap(x -> {place}, ev) AS orders, last_view"),
            "orders, last_view",
        ),
    };
    let arrays = format!(
        "SELECT session_id, visitor, kinds, queries, counts, positions, ordinal, {kept}, \
         arrayJoin(arrayFilter((j, k) -> k = 2, arrayEnumerate(kinds), kinds)) AS i FROM \
         (SELECT session_id, visitor, arrayMap(x -> x.3, ev) AS kinds, arrayMap(x -> x.4, ev) AS queries, \
          arrayMap(x -> x.5, ev) AS counts, arrayMap(x -> x.6, ev) AS positions, \
          arrayCumSum(arrayMap(k -> k = 2, kinds)) AS ordinal, {extra} \
          FROM ({visits}))"
    );
    let clicks = captures(&["nth"], "arrayCount((k, o) -> k = 3 AND o = nth, kinds, ordinal)");
    let positioned =
        captures(&["nth"], "arrayCount((k, o, p) -> k = 3 AND o = nth AND p > 0, kinds, ordinal, positions)");
    let position_total =
        captures(&["nth"], "arraySum(arrayMap((k, o, p) -> if(k = 3 AND o = nth, p, 0), kinds, ordinal, positions))");
    let outcome = match rows {
        Rows::WithOrigins => {
            let from_page = captures(
                &["i", "page"],
                "arrayElement(arrayFilter((p, k, j) -> k = 1 AND j < i AND p != page, paths, kinds, arrayEnumerate(kinds)), -1)",
            );
            format!("views[i] = arrayElement(views, -1) AS exited, paths[i] AS page, {from_page} AS from_page")
        }
        // No page view after it: its place is after the last one's.
        Rows::Outcomes => "orders[i] > last_view AS exited".to_owned(),
    };
    format!(
        "SELECT session_id, visitor, queries[i] AS query, counts[i] AS results, ordinal[i] AS nth, \
         {clicks} AS clicks, {positioned} AS positioned, {position_total} AS position_total, \
         nth < arrayElement(ordinal, -1) AS refined, {outcome} FROM ({arrays})"
    )
}

/// One query's metrics as the combined summary query lists them: query, searches, searchers,
/// no-result searches, clicked searches, positioned clicks, position sum, refinements, exits.
type QueryTuple = (String, u64, u64, u64, u64, u64, u64, u64, u64);

/// Aggregates over search rows. No alias repeats a column of the rows (see `stats`).
const SEARCH_METRICS: &str = "count() AS searches, uniqExact(visitor) AS searchers, countIf(results = 0) AS no_result, \
     countIf(clicks > 0) AS clicked, sum(positioned) AS positioned_total, sum(position_total) AS position_sum, \
     countIf(refined) AS refinements, countIf(exited) AS exits";

#[derive(Debug, Default, Deserialize)]
struct Metrics {
    #[serde(default)]
    query: String,
    searches: u64,
    searchers: u64,
    no_result: u64,
    clicked: u64,
    positioned_total: u64,
    position_sum: u64,
    refinements: u64,
    exits: u64,
}

impl From<QueryTuple> for Metrics {
    fn from(t: QueryTuple) -> Self {
        let (query, searches, searchers, no_result, clicked, positioned_total, position_sum, refinements, exits) = t;
        Self { query, searches, searchers, no_result, clicked, positioned_total, position_sum, refinements, exits }
    }
}

impl From<&rolled::Sums> for Metrics {
    fn from(q: &rolled::Sums) -> Self {
        Self {
            query: q.query.clone(),
            searches: q.searches,
            searchers: q.searchers,
            no_result: q.no_result,
            clicked: q.clicked,
            positioned_total: q.positioned_total,
            position_sum: q.position_sum,
            refinements: q.refinements,
            exits: q.exits,
        }
    }
}

impl Metrics {
    fn average_position(&self) -> Option<f64> {
        (self.positioned_total > 0).then(|| stats::round(self.position_sum as f64 / self.positioned_total as f64, 2))
    }
}

/// The site-search report of a scope.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] for a bad time zone.
pub async fn report(store: &dyn Store, scope: &Scope<'_>, options: &SearchOptions) -> Result<SearchReport, StoreError> {
    let wants = |s: SearchSection| options.sections.contains(&s);
    let limit = options.limit.clamp(1, stats::MAX_BREAKDOWN_ROWS);
    let mut report = SearchReport::default();
    let mut total_searches = None;
    let numbers = store.version().await?.has_uuid_number();
    let rolled_sections =
        [SearchSection::Summary, SearchSection::TopQueries, SearchSection::NoResults, SearchSection::LostRevenue];
    let source = match rolled_sections.iter().any(|s| wants(*s)) {
        true => rolled::Source::of(store, scope, numbers).await?,
        false => None,
    };
    let rolled = match source {
        Some(source) => {
            let merged = source.fetch(store).await?;
            Some((source, merged))
        }
        None => None,
    };
    if let Some((_, merged)) = &rolled {
        total_searches = Some(merged.totals.searches);
    }
    if let Some((_, merged)) = &rolled
        && (wants(SearchSection::Summary) || wants(SearchSection::TopQueries))
    {
        let mut top: Vec<&rolled::Sums> = merged.queries.iter().collect();
        top.sort_by(|a, b| b.searchers.cmp(&a.searchers).then(b.searches.cmp(&a.searches)).then(a.query.cmp(&b.query)));
        let top = top.into_iter().take(limit as usize).map(Metrics::from).collect();
        let m = Metrics::from(&merged.totals);
        summarize(&mut report, &wants, m, top);
    } else if wants(SearchSection::Summary) || wants(SearchSection::TopQueries) {
        // One pass over the search rows for both: per query, then the totals over the queries
        // (visitors merged, not added) and the top queries in the same answer.
        #[derive(Deserialize)]
        struct Combined {
            t_searches: u64,
            t_searchers: u64,
            t_no_result: u64,
            t_clicked: u64,
            t_positioned: u64,
            t_position_sum: u64,
            t_refinements: u64,
            t_exits: u64,
            top: Vec<QueryTuple>,
        }
        let sql = format!(
            "SELECT sum(searches) AS t_searches, uniqExactMerge(visitor_set) AS t_searchers, \
             sum(no_result) AS t_no_result, sum(clicked) AS t_clicked, sum(positioned_total) AS t_positioned, \
             sum(position_sum) AS t_position_sum, sum(refinements) AS t_refinements, sum(exits) AS t_exits, \
             arraySlice(arraySort(x -> (-toInt64(tupleElement(x, 3)), -toInt64(tupleElement(x, 2)), \
             tupleElement(x, 1)), groupArray((query, searches, searchers, no_result, clicked, positioned_total, \
             position_sum, refinements, exits))), 1, {limit}) AS top \
             FROM (SELECT query, {SEARCH_METRICS}, uniqExactState(visitor) AS visitor_set FROM ({rows}) GROUP BY query)",
            rows = search_rows(scope, "", Rows::Outcomes, numbers)?
        );
        let found: Vec<Combined> = store.fetch_json(&sql).await?;
        let (m, top) = match found.into_iter().next() {
            Some(c) => (
                Metrics {
                    query: String::new(),
                    searches: c.t_searches,
                    searchers: c.t_searchers,
                    no_result: c.t_no_result,
                    clicked: c.t_clicked,
                    positioned_total: c.t_positioned,
                    position_sum: c.t_position_sum,
                    refinements: c.t_refinements,
                    exits: c.t_exits,
                },
                c.top.into_iter().map(Metrics::from).collect(),
            ),
            None => (Metrics::default(), Vec::new()),
        };
        total_searches = Some(m.searches);
        summarize(&mut report, &wants, m, top);
    }
    if wants(SearchSection::NoResults) && total_searches.is_none() {
        #[derive(Deserialize)]
        struct Count {
            searches: u64,
        }
        let sql = format!(
            "SELECT count() AS searches FROM events WHERE {} AND name = 'search'",
            stats::kept_events(scope, None)?
        );
        let counted: Vec<Count> = store.fetch_json(&sql).await?;
        total_searches = Some(counted.first().map_or(0, |c| c.searches));
    }
    if wants(SearchSection::Trending) {
        report.trending = Some(trending(store, scope, limit, options.trending_min_searchers).await?);
    }
    if wants(SearchSection::NoResults) {
        report.no_result_queries =
            Some(no_result_queries(store, scope, rolled.as_ref(), limit, total_searches.unwrap_or(0)).await?);
    }
    if wants(SearchSection::Conversion) || wants(SearchSection::LostRevenue) {
        let groups = visit_groups(store, scope).await?;
        if wants(SearchSection::LostRevenue) {
            report.lost_revenue = Some(lost_revenue(store, scope, rolled.as_ref(), limit, &groups).await?);
        }
        if wants(SearchSection::Conversion) {
            report.conversion = Some(SearchConversion {
                with_search: groups.group(|searched, _| searched == 1),
                without_search: groups.group(|searched, _| searched == 0),
            });
        }
    }
    Ok(report)
}

/// The summary and top queries of `report` (those `wants` asks for) from the totals `m` and the
/// top queries' metrics.
fn summarize(report: &mut SearchReport, wants: &dyn Fn(SearchSection) -> bool, m: Metrics, top: Vec<Metrics>) {
    if wants(SearchSection::Summary) {
        report.summary = Some(SearchSummary {
            searches: m.searches,
            searchers: m.searchers,
            no_result_searches: m.no_result,
            no_result_rate: share(m.no_result, m.searches),
            clicked_searches: m.clicked,
            click_through_rate: share(m.clicked, m.searches),
            searches_without_click: m.searches - m.clicked,
            average_clicked_position: m.average_position(),
            refinements: m.refinements,
            refinement_rate: share(m.refinements, m.searches),
            search_exits: m.exits,
            exit_rate: share(m.exits, m.searches),
        });
    }
    if wants(SearchSection::TopQueries) {
        report.top_queries = Some(
            top.into_iter()
                .map(|q| QueryRow {
                    average_clicked_position: q.average_position(),
                    no_result_rate: share(q.no_result, q.searches),
                    click_through_rate: share(q.clicked, q.searches),
                    query: q.query,
                    searches: q.searches,
                    searchers: q.searchers,
                })
                .collect(),
        );
    }
}

#[derive(Debug, Deserialize)]
struct QuerySearchers {
    query: String,
    searchers: u64,
}

async fn trending(
    store: &dyn Store,
    scope: &Scope<'_>,
    limit: u32,
    min_searchers: u64,
) -> Result<Vec<TrendingQuery>, StoreError> {
    let per_query = |scope: &Scope<'_>, extra: &str| -> Result<String, StoreError> {
        Ok(format!(
            "SELECT search_query AS query, uniqExact(visitor_id) AS searchers FROM events \
             WHERE {} AND name = 'search' {extra} GROUP BY query",
            stats::kept_events(scope, None)?
        ))
    };
    let now: Vec<QuerySearchers> =
        store.fetch_json(&format!("{} HAVING searchers >= {min_searchers}", per_query(scope, "")?)).await?;
    if now.is_empty() {
        return Ok(Vec::new());
    }
    let queries: Vec<String> = now.iter().map(|q| q.query.clone()).collect();
    let previous_scope = scope.with_range(scope.range.previous());
    let before: Vec<QuerySearchers> = store
        .fetch_json(&per_query(&previous_scope, &format!("AND search_query IN {}", stats::list(&queries)))?)
        .await?;
    let before: BTreeMap<String, u64> = before.into_iter().map(|q| (q.query, q.searchers)).collect();
    let mut rising: Vec<TrendingQuery> = now
        .into_iter()
        .filter_map(|q| {
            let previous = before.get(&q.query).copied().unwrap_or(0);
            (q.searchers > previous).then(|| TrendingQuery {
                rise: q.searchers - previous,
                change_percent: (previous > 0)
                    .then(|| stats::round((q.searchers as f64 - previous as f64) / previous as f64 * 100.0, 1)),
                query: q.query,
                searchers: q.searchers,
                previous_searchers: previous,
            })
        })
        .collect();
    rising.sort_by(|a, b| b.rise.cmp(&a.rise).then(b.searchers.cmp(&a.searchers)).then(a.query.cmp(&b.query)));
    rising.truncate(limit as usize);
    Ok(rising)
}

/// A no-result query's searches and searchers.
#[derive(Debug, Deserialize)]
struct NoResultCount {
    query: String,
    searches: u64,
    searchers: u64,
}

/// How no-result queries are ranked: by their no-result searches or by their searchers first,
/// then by the other, then by query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoResultOrder {
    Searches,
    Searchers,
}

impl NoResultOrder {
    fn sql(self) -> &'static str {
        match self {
            Self::Searches => "searches DESC, searchers DESC, query",
            Self::Searchers => "searchers DESC, searches DESC, query",
        }
    }

    /// The sort key, largest first.
    fn key(self, c: &NoResultCount) -> (u64, u64) {
        match self {
            Self::Searches => (c.searches, c.searchers),
            Self::Searchers => (c.searchers, c.searches),
        }
    }
}

/// The first `limit` no-result queries of the scope in `order`: from the rolled-up days' sums
/// when there are some, else from the events (a search's query, result count and visitor are its
/// event's: no visit arrays needed).
async fn no_result_counts(
    store: &dyn Store,
    scope: &Scope<'_>,
    rolled: Option<&(rolled::Source, rolled::Merged)>,
    order: NoResultOrder,
    limit: u32,
) -> Result<Vec<NoResultCount>, StoreError> {
    if let Some((_, merged)) = rolled {
        let mut found: Vec<NoResultCount> = merged
            .queries
            .iter()
            .filter(|q| q.no_result > 0)
            .map(|q| NoResultCount { query: q.query.clone(), searches: q.no_result, searchers: q.no_result_searchers })
            .collect();
        found.sort_by(|a, b| order.key(b).cmp(&order.key(a)).then(a.query.cmp(&b.query)));
        found.truncate(limit as usize);
        return Ok(found);
    }
    store
        .fetch_json(&format!(
            "SELECT search_query AS query, count() AS searches, uniqExact(visitor_id) AS searchers FROM events \
             WHERE {} AND name = 'search' AND search_results = 0 GROUP BY query ORDER BY {} LIMIT {limit}",
            stats::kept_events(scope, None)?,
            order.sql()
        ))
        .await
}

async fn no_result_queries(
    store: &dyn Store,
    scope: &Scope<'_>,
    rolled: Option<&(rolled::Source, rolled::Merged)>,
    limit: u32,
    total: u64,
) -> Result<Vec<NoResultQuery>, StoreError> {
    let found = no_result_counts(store, scope, rolled, NoResultOrder::Searches, limit).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct From {
        query: String,
        from_page: String,
        searches: u64,
    }
    let queries: Vec<String> = found.iter().map(|r| r.query.clone()).collect();
    let sql = match rolled {
        Some((source, _)) => source.origins_sql(&stats::list(&queries)),
        None => {
            // Only the visits with one of these no-result searches.
            let rows = search_rows(
                scope,
                &format!("AND search_results = 0 AND search_query IN {}", stats::list(&queries)),
                Rows::WithOrigins,
                store.version().await?.has_uuid_number(),
            )?;
            format!(
                "SELECT query, from_page, count() AS searches FROM ({rows}) WHERE results = 0 AND query IN {} \
                 GROUP BY query, from_page ORDER BY searches DESC, from_page",
                stats::list(&queries)
            )
        }
    };
    let origins: Vec<From> = store.fetch_json(&sql).await?;
    Ok(found
        .into_iter()
        .map(|r| NoResultQuery {
            from_pages: origins
                .iter()
                .filter(|o| o.query == r.query)
                .take(5)
                .map(|o| FromPage { page: o.from_page.clone(), searches: o.searches })
                .collect(),
            share_of_searches: share(r.searches, total),
            query: r.query,
            searches: r.searches,
            searchers: r.searchers,
        })
        .collect())
}

/// Visits and purchase revenue per kind of visit: with a search (`has_search`), and with a
/// search that found results (`has_found`).
#[derive(Debug, Default)]
struct VisitGroups {
    counts: Vec<GroupCount>,
    revenue: Vec<GroupRevenue>,
}

#[derive(Debug, Deserialize)]
struct GroupCount {
    has_search: u8,
    has_found: u8,
    visits: u64,
    purchasing: u64,
}

#[derive(Debug, Deserialize)]
struct GroupRevenue {
    has_search: u8,
    has_found: u8,
    currency: String,
    amount_e4: i64,
    orders: u64,
}

impl VisitGroups {
    /// The visits (and their revenue) whose keys (`has_search`, `has_found`) `pick` accepts.
    fn group(&self, pick: impl Fn(u8, u8) -> bool) -> VisitGroup {
        let counts = self.counts.iter().filter(|c| pick(c.has_search, c.has_found));
        let (visits, purchasing) = counts.fold((0, 0), |(v, p), c| (v + c.visits, p + c.purchasing));
        let mut by_currency: BTreeMap<String, (i64, u64)> = BTreeMap::new();
        for r in self.revenue.iter().filter(|r| pick(r.has_search, r.has_found)) {
            let entry = by_currency.entry(r.currency.clone()).or_default();
            entry.0 += r.amount_e4;
            entry.1 += r.orders;
        }
        let mut revenue: Vec<CurrencyRevenue> = by_currency
            .into_iter()
            .map(|(currency, (amount, orders))| CurrencyRevenue::new(currency, amount, orders))
            .collect();
        revenue.sort_by(|a, b| b.amount_e4.cmp(&a.amount_e4).then(a.currency.cmp(&b.currency)));
        VisitGroup { visits, purchasing_visits: purchasing, purchase_rate: share(purchasing, visits), revenue }
    }
}

async fn visit_groups(store: &dyn Store, scope: &Scope<'_>) -> Result<VisitGroups, StoreError> {
    let events = stats::kept_events(scope, None)?;
    let found_search = "name = 'search' AND ifNull(search_results, 1) != 0";
    let counts: Vec<GroupCount> = store
        .fetch_json(&format!(
            "SELECT has_search, has_found, count() AS visits, countIf(purchases > 0) AS purchasing FROM \
             (SELECT session_id, toUInt8(countIf(name = 'search') > 0) AS has_search, \
              toUInt8(countIf({found_search}) > 0) AS has_found, countIf(name = 'purchase') AS purchases \
              FROM events WHERE {events} GROUP BY session_id) \
             GROUP BY has_search, has_found"
        ))
        .await?;
    let revenue: Vec<GroupRevenue> = store
        .fetch_json(&format!(
            "SELECT has_search, has_found, currency, toInt64(sum(amount) * 10000) AS amount_e4, count() AS orders FROM \
             (SELECT toUInt8(session_id IN (SELECT session_id FROM events WHERE {events} AND name = 'search')) AS has_search, \
              toUInt8(session_id IN (SELECT session_id FROM events WHERE {events} AND {found_search})) AS has_found, \
              currency, assumeNotNull(revenue) AS amount FROM events \
              WHERE {events} AND name = 'purchase' AND isNotNull(revenue)) \
             GROUP BY has_search, has_found, currency"
        ))
        .await?;
    Ok(VisitGroups { counts, revenue })
}

async fn lost_revenue(
    store: &dyn Store,
    scope: &Scope<'_>,
    rolled: Option<&(rolled::Source, rolled::Merged)>,
    limit: u32,
    groups: &VisitGroups,
) -> Result<LostRevenue, StoreError> {
    let found = groups.group(|_, found| found == 1);
    let main = found
        .revenue
        .iter()
        .max_by(|a, b| a.orders.cmp(&b.orders).then(a.amount_e4.cmp(&b.amount_e4)).then(b.currency.cmp(&a.currency)));
    let basis = LostRevenueBasis {
        visits: found.visits,
        purchasing_visits: found.purchasing_visits,
        purchase_rate: found.purchase_rate,
        currency: main.map(|m| m.currency.clone()),
        average_order_e4: main.map_or(0, |m| m.average_order_e4),
    };
    let queries = no_result_counts(store, scope, rolled, NoResultOrder::Searchers, limit).await?;
    // searchers × purchasing / visits × amount / orders, exactly, then rounded.
    let (amount, orders) = main.map_or((0, 0), |m| (i128::from(m.amount_e4), i128::from(m.orders)));
    let per_searcher = (i128::from(found.purchasing_visits) * amount, i128::from(found.visits) * orders);
    Ok(LostRevenue {
        basis,
        queries: queries
            .into_iter()
            .map(|q| LostRevenueQuery {
                estimated_lost_e4: divide_rounded(i128::from(q.searchers) * per_searcher.0, per_searcher.1),
                query: q.query,
                searchers: q.searchers,
                searches: q.searches,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse_by_name() {
        for section in SearchSection::ALL {
            assert_eq!(SearchSection::parse(section.as_str()), Some(section));
        }
        assert_eq!(SearchSection::parse("everything"), None);
    }

    #[test]
    fn a_search_is_placed_in_the_event_order_as_page_views_are() {
        let site = larder_core::SiteDomain::parse("shop.example").expect("site");
        let scope = Scope {
            site: &site,
            timezone: "UTC",
            range: larder_core::query::DateRange::new(
                chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("day"),
                chrono::NaiveDate::from_ymd_opt(2026, 11, 2).expect("day"),
            )
            .expect("range"),
            filters: &[],
        };
        // (the search's place from its tuple's second and id, what those are, the page views' order)
        let forms = [
            (
                false,
                "concat(toString(toUInt64(x.1) + 10000000000), x.2)",
                ["timestamp", "toString(event_id)"],
                stats::EVENT_ORDER,
            ),
            (
                true,
                "bitShiftLeft(toUInt256(x.1), 128) + toUInt256(x.2)",
                ["toUInt32(timestamp)", "toUInt128(event_id)"],
                ORDER_NUMBER,
            ),
        ];
        for (numbers, place, [second, id], order) in forms {
            let sql = search_rows(&scope, "", Rows::Outcomes, numbers).expect("sql");
            let tuple = format!("groupArrayIf((toUInt32(timestamp), {id}, ");
            assert!(sql.contains(&tuple), "x.1 is the second and x.2 the id");
            assert!(sql.contains(&format!("arrayMap(x -> {place}, ev) AS orders")), "{numbers}");
            let placed = place.replace("x.1", second).replace("x.2", id);
            assert_eq!(placed, order, "searches and page views compare in one order ({numbers})");
            assert!(sql.contains(&format!("maxIf({order}, name = 'pageview')")), "{numbers}");
        }
    }

    #[test]
    fn captured_names_are_named_outside_the_lambda() {
        assert_eq!(
            captures(&["a", "b"], "arrayMap(x -> x + a + b, c)"),
            "tupleElement(tuple(a, b, arrayMap(x -> x + a + b, c)), 3)"
        );
    }
}
