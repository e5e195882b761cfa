//! The site-search report from days rolled up in `search_days` (migration 0006), as the
//! overview reads `visit_days` (see [`crate::rollup`], whose pieces, splits and counts it shares).
//!
//! A search's outcome (clicks, refinement, exit, the page it came from) depends only on its
//! visit, and a visit lies within one UTC day, so each day's (or piece's) numbers per query are
//! exact, and a range's are their sums: searches and counts add up, and searchers too, since a
//! visitor id belongs to one UTC day. The summary, the top queries and the no-result queries
//! with their pages read the rolled rows of the pieces [`rollup::plan`] picks and compute the
//! rest of the range (today, a changed day) from the events, in the same SQL. Trending queries,
//! conversion and the lost-revenue basis read the events as before.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Rows, search_rows_in};
use crate::error::StoreError;
use crate::rollup::{self, PieceKey, Rolled};
use crate::stats::Scope;
use crate::{Store, sql};

/// The rolled-up search days.
pub(crate) const TABLE: &str = "search_days";

/// Per query (or for all, as totals) over search rows, in the columns of `search_days`. A
/// total's `no_result_searchers` is stored but not read.
const PER_QUERY: &str = "toUInt64(count()) AS searches, toUInt64(uniqExact(visitor)) AS searchers, \
     toUInt64(countIf(results = 0)) AS no_result, toUInt64(uniqExactIf(visitor, results = 0)) AS no_result_searchers, \
     toUInt64(countIf(clicks > 0)) AS clicked, toUInt64(sum(positioned)) AS positioned_total, \
     toUInt64(sum(position_total)) AS position_sum, toUInt64(countIf(refined)) AS refinements, \
     toUInt64(countIf(exited)) AS exits";
const COLUMNS: &str =
    "searches, searchers, no_result, no_result_searchers, clicked, positioned_total, position_sum, refinements, exits";

/// Rolls up one site day's searches: its pieces `day`, `until_split` and `from_split`, each
/// from the events of its window. Called by [`rollup::roll`] for days it could roll up.
pub(crate) async fn roll_day(
    store: &dyn Store,
    site: &str,
    day: (i64, i64),
    split: i64,
    inserted: u64,
    version: i64,
    numbers: bool,
) -> Result<(), StoreError> {
    let date = rollup::date_of(day.0.div_euclid(86_400)).format("%Y-%m-%d").to_string();
    let head = |piece: &str, kind: &str, query: &str, page: &str| {
        format!(
            "INSERT INTO {TABLE} (site, day, piece, kind, query, page, split, inserted, {COLUMNS}, version) \
             SELECT {}, toDate('{date}'), '{piece}', '{kind}', {query}, {page}, toDateTime({split}, 'UTC'), \
             {inserted}, {COLUMNS}, {version} FROM",
            sql::quote(site)
        )
    };
    for (piece, start, end) in
        [(rollup::DAY, day.0, day.1), (rollup::UNTIL_SPLIT, day.0, split), (rollup::FROM_SPLIT, split, day.1)]
    {
        let events = format!(
            "site = {} AND timestamp >= toDateTime({start}, 'UTC') AND timestamp < toDateTime({end}, 'UTC')",
            sql::quote(site)
        );
        if piece == rollup::FROM_SPLIT && start == day.0 {
            // Midnight in UTC: from the split is the whole day.
            store
                .execute(&format!(
                    "INSERT INTO {TABLE} (site, day, piece, kind, query, page, split, inserted, {COLUMNS}, version) \
                     SELECT site, day, '{piece}', kind, query, page, split, inserted, {COLUMNS}, version FROM {TABLE} \
                     WHERE site = {} AND day = toDate('{date}') AND piece = '{}' AND version = {version}",
                    sql::quote(site),
                    rollup::DAY
                ))
                .await?;
            continue;
        }
        let rows = search_rows_in(&events, "", Rows::Outcomes, numbers);
        // The total row last: it marks the piece as rolled up, so a run that fails before it
        // leaves a piece the reports do not use (and the day is rolled again).
        let total = format!("{} (SELECT {PER_QUERY} FROM ({rows}))", head(piece, "total", "''", "''"));
        if start == end {
            store.execute(&total).await?;
            continue;
        }
        store
            .execute(&format!(
                "{} (SELECT query, {PER_QUERY} FROM ({rows}) GROUP BY query)",
                head(piece, "query", "query", "''")
            ))
            .await?;
        let origins = search_rows_in(&events, "AND search_results = 0", Rows::WithOrigins, numbers);
        store
            .execute(&format!(
                "{} (SELECT query, from_page, toUInt64(count()) AS searches, toUInt64(0) AS searchers, \
                 toUInt64(0) AS no_result, toUInt64(0) AS no_result_searchers, toUInt64(0) AS clicked, \
                 toUInt64(0) AS positioned_total, toUInt64(0) AS position_sum, toUInt64(0) AS refinements, \
                 toUInt64(0) AS exits FROM ({origins}) WHERE results = 0 GROUP BY query, from_page)",
                head(piece, "origin", "query", "from_page")
            ))
            .await?;
        store.execute(&total).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Piece {
    #[serde(flatten)]
    key: PieceKey,
    inserted: u64,
}

impl Rolled for Piece {
    fn key(&self) -> &PieceKey {
        &self.key
    }
}

/// One query's sums (or the totals, with searchers counted over all queries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Sums {
    #[serde(default)]
    pub query: String,
    pub searches: u64,
    pub searchers: u64,
    pub no_result: u64,
    pub no_result_searchers: u64,
    pub clicked: u64,
    pub positioned_total: u64,
    pub position_sum: u64,
    pub refinements: u64,
    pub exits: u64,
}

impl std::ops::AddAssign<&Sums> for Sums {
    fn add_assign(&mut self, o: &Sums) {
        self.searches += o.searches;
        self.searchers += o.searchers;
        self.no_result += o.no_result;
        self.no_result_searchers += o.no_result_searchers;
        self.clicked += o.clicked;
        self.positioned_total += o.positioned_total;
        self.position_sum += o.position_sum;
        self.refinements += o.refinements;
        self.exits += o.exits;
    }
}

/// A query and its sums in the order of [`COLUMNS`], as `groupArray` of a tuple gives them.
type SumsTuple = (String, u64, u64, u64, u64, u64, u64, u64, u64, u64);

impl From<SumsTuple> for Sums {
    fn from(t: SumsTuple) -> Self {
        Self {
            query: t.0,
            searches: t.1,
            searchers: t.2,
            no_result: t.3,
            no_result_searchers: t.4,
            clicked: t.5,
            positioned_total: t.6,
            position_sum: t.7,
            refinements: t.8,
            exits: t.9,
        }
    }
}

/// The range's totals and every query's sums, in no particular order.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub totals: Sums,
    pub queries: Vec<Sums>,
}

/// Where a report without filters reads its search rows: the rolled-up pieces it uses (a
/// condition on `search_days`) and the windows of the range left to the events (a condition on
/// `events`), `None` when all are rolled up.
pub(crate) struct Source {
    pieces: String,
    events: Option<String>,
    numbers: bool,
}

impl Source {
    /// `None` when no day of the scope's range is rolled up (or the scope has filters).
    pub(crate) async fn of(store: &dyn Store, scope: &Scope<'_>, numbers: bool) -> Result<Option<Self>, StoreError> {
        if !scope.filters.is_empty() {
            return Ok(None);
        }
        let Some(span) = rollup::range_span(store, scope).await? else { return Ok(None) };
        let spans = [span];
        let Some(days) = rollup::days_condition(&spans) else { return Ok(None) };
        let site = scope.site.as_str();
        let available: Vec<Piece> = store
            .fetch_json(&format!(
                "SELECT toInt64(day) AS day_number, toString(piece) AS piece_name, toInt64(split) AS split_at, \
                 inserted FROM {TABLE} FINAL WHERE site = {} AND kind = 'total' AND {days} \
                 AND (day, inserted) IN {}",
                sql::quote(site),
                rollup::current_days(site, &days)
            ))
            .await?;
        let (taken, raw) = rollup::plan(&spans, &available);
        if taken.is_empty() {
            return Ok(None);
        }
        let tuples: Vec<String> = taken
            .iter()
            .map(|(_, p)| {
                format!(
                    "(toDate('{}'), '{}', toDateTime({}, 'UTC'), {})",
                    rollup::date_of(p.key.day).format("%Y-%m-%d"),
                    p.key.piece,
                    p.key.split,
                    p.inserted
                )
            })
            .collect();
        let pieces =
            format!("site = {} AND (day, piece, split, inserted) IN ({})", sql::quote(site), tuples.join(", "));
        let events =
            (!raw.is_empty()).then(|| format!("site = {} AND {}", sql::quote(site), rollup::within("timestamp", &raw)));
        Ok(Some(Self { pieces, events, numbers }))
    }

    /// The totals and every query's sums: the rolled rows added up, and the windows left to the
    /// events worked out once (per query, with each query's searchers as a state, merged for
    /// the totals).
    pub(crate) async fn fetch(&self, store: &dyn Store) -> Result<Merged, StoreError> {
        // Sums of `c_…` (rolled rows) or `q_…` (per query) columns under the plain names: an
        // alias never repeats a column it aggregates (see `stats`).
        let sums =
            |prefix: &str| -> Vec<String> { COLUMNS.split(", ").map(|c| format!("sum({prefix}{c}) AS {c}")).collect() };
        let renamed: Vec<String> = COLUMNS.split(", ").map(|c| format!("{c} AS c_{c}")).collect();
        let rolled = |kind: &str| {
            format!(
                "(SELECT query, {} FROM {TABLE} FINAL WHERE {} AND kind = '{kind}')",
                renamed.join(", "),
                self.pieces
            )
        };
        let totals_sql = format!("SELECT {} FROM {}", sums("c_").join(", "), rolled("total"));
        let mut totals = store.fetch_json::<Sums>(&totals_sql).await?.into_iter().next().unwrap_or_default();
        let queries_sql = format!("SELECT query, {} FROM {} GROUP BY query", sums("c_").join(", "), rolled("query"));
        let mut by_query: HashMap<String, Sums> =
            store.fetch_json::<Sums>(&queries_sql).await?.into_iter().map(|q| (q.query.clone(), q)).collect();
        if let Some(events) = &self.events {
            #[derive(Deserialize)]
            struct Raw {
                #[serde(flatten)]
                totals: Sums,
                per_query: Vec<SumsTuple>,
            }
            let rows = search_rows_in(events, "", Rows::Outcomes, self.numbers);
            // The totals' searchers merged from each query's, not added.
            let mut columns: Vec<String> = COLUMNS
                .split(", ")
                .map(|c| match c {
                    "searchers" => "uniqExactMerge(visitor_set) AS searchers".to_owned(),
                    _ => format!("sum(q_{c}) AS {c}"),
                })
                .collect();
            let tuple: Vec<String> = COLUMNS.split(", ").map(|c| format!("q_{c}")).collect();
            columns.push(format!("groupArray((query, {})) AS per_query", tuple.join(", ")));
            let sql = format!(
                "SELECT {} FROM (SELECT query, {}, uniqExactState(visitor) AS visitor_set FROM ({rows}) GROUP BY query)",
                columns.join(", "),
                PER_QUERY.replace(" AS ", " AS q_")
            );
            if let Some(raw) = store.fetch_json::<Raw>(&sql).await?.into_iter().next() {
                totals += &raw.totals;
                for q in raw.per_query.into_iter().map(Sums::from) {
                    *by_query.entry(q.query.clone()).or_default() += &q;
                }
            }
        }
        // (Queries only the events had get their name here; the callers sort.)
        let queries = by_query.into_iter().map(|(query, q)| Sums { query, ..q }).collect();
        Ok(Merged { totals, queries })
    }

    /// No-result searches of `queries` per page they came from (`query`, `from_page`,
    /// `searches`), most first.
    pub(crate) fn origins_sql(&self, queries: &str) -> String {
        let rolled = format!(
            "SELECT query, page AS from_page, searches AS n FROM {TABLE} FINAL WHERE {} AND kind = 'origin' \
             AND query IN {queries}",
            self.pieces
        );
        let all = match &self.events {
            None => rolled,
            Some(events) => {
                let rows = search_rows_in(
                    events,
                    &format!("AND search_results = 0 AND search_query IN {queries}"),
                    Rows::WithOrigins,
                    self.numbers,
                );
                format!(
                    "{rolled} UNION ALL SELECT query, from_page, toUInt64(count()) AS n FROM ({rows}) \
                     WHERE results = 0 AND query IN {queries} GROUP BY query, from_page"
                )
            }
        };
        format!(
            "SELECT query, from_page, sum(n) AS searches FROM ({all}) GROUP BY query, from_page \
             ORDER BY searches DESC, from_page"
        )
    }
}
