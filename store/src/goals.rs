//! Goals and revenue: the site's goals (versioned rows of the `goals` table), their conversions
//! over a scope, and purchase revenue per value of a visit-level dimension.
//!
//! Definitions:
//! - a *goal* is either an event name (every event of that name converts) or a page path
//!   pattern (every page view whose path matches converts). In a pattern `*` stands for any run
//!   of characters within one path segment (no `/`), `**` for anything (`/` included), and
//!   every other character for itself; the pattern must match the whole path;
//! - a goal's *converting visitors* are the distinct visitors with at least one converting
//!   event, its *conversions* the converting events, and its *conversion rate* converting
//!   visitors / all visitors of the scope (as the overview counts them);
//! - *revenue* is the `revenue` of `purchase` events, per currency; *orders* are the purchases
//!   that carry revenue, and the *average order value* is revenue / orders. A goal on the
//!   `purchase` event reports the scope's purchase revenue.
//!
//! Everything counts the events of the visits the scope keeps (period and filters, see
//! [`crate::stats`]). The page patterns and the small helpers shared by the report modules
//! (funnels, search, UX) live here too.

use larder_core::query::Dimension;
use larder_core::{EventName, SiteDomain, ValidationError};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::rowbinary::{Reader, Row, Writer};
use crate::stats::{self, Scope};
use crate::{Store, sql};

/// Most goals a site may have.
pub const MAX_GOALS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Helpers shared by the report modules

/// Distinct visitors of the scope's kept visits: the overview's `visitors`.
pub(crate) async fn visitors_in_scope(store: &dyn Store, scope: &Scope<'_>) -> Result<u64, StoreError> {
    #[derive(Deserialize)]
    struct Count {
        visitors: u64,
    }
    let sql = format!("SELECT uniqExact(visitor_id) AS visitors FROM {}", stats::kept_visits(scope)?);
    let rows: Vec<Count> = store.fetch_json(&sql).await?;
    Ok(rows.first().map_or(0, |c| c.visitors))
}

/// `part / whole` rounded to four decimals; 0 when `whole` is 0.
pub(crate) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { stats::round(part as f64 / whole as f64, 4) }
}

/// `numerator / denominator` rounded half away from zero to a whole number; 0 when the
/// denominator is 0.
pub(crate) fn divide_rounded(numerator: i128, denominator: i128) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let (n, d) = if denominator < 0 { (-numerator, -denominator) } else { (numerator, denominator) };
    let rounded = if n >= 0 { (2 * n + d) / (2 * d) } else { -((-2 * n + d) / (2 * d)) };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Row versions: nanoseconds since the epoch, strictly increasing within the process, so that
/// a later write (a deletion right after a creation) wins.
pub(crate) fn next_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or_default();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Parses the id of a goal or funnel as it appears in a URL; `None` when it is not a UUID.
pub fn parse_id(raw: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).ok()
}

/// Checks a short label (a goal's or funnel's name): trimmed, 1..=`max` bytes, no control
/// characters.
pub(crate) fn label(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::Invalid { field, reason: "must not be empty" });
    }
    if text.len() > max {
        return Err(ValidationError::TooLong { field, max });
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::Invalid { field, reason: "must not contain control characters" });
    }
    Ok(text.to_owned())
}

/// Checks an event name as the collector does; `field` names it in errors.
pub(crate) fn event_name(field: &'static str, raw: &str) -> Result<EventName, ValidationError> {
    EventName::parse(raw).map_err(|e| match e {
        ValidationError::Invalid { reason, .. } => ValidationError::Invalid { field, reason },
        ValidationError::TooLong { max, .. } => ValidationError::TooLong { field, max },
    })
}

// ---------------------------------------------------------------------------------------------
// Page patterns

/// A page path pattern: `/p/*` (one segment), `/blog/**` (anything below), `/thanks`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PagePattern(String);

impl PagePattern {
    /// Longest accepted pattern, in bytes.
    pub const MAX_BYTES: usize = 512;

    /// # Errors
    /// `field` when the pattern does not start with `/`, is longer than
    /// [`PagePattern::MAX_BYTES`], or holds a control character, `?` or `#` (stored paths have
    /// neither query nor fragment).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if !raw.starts_with('/') {
            return Err(ValidationError::Invalid { field, reason: "must start with /" });
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::TooLong { field, max: Self::MAX_BYTES });
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::Invalid { field, reason: "must not contain control characters" });
        }
        if raw.contains(['?', '#']) {
            return Err(ValidationError::Invalid { field, reason: "paths have no query string or fragment" });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The anchored RE2 expression equivalent to the pattern: `**` becomes `.*`, `*` becomes
    /// `[^/]*`, ASCII punctuation other than `/` is escaped, everything else stands for itself.
    pub fn regex(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 2 + 2);
        out.push('^');
        let mut chars = self.0.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '*' {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    out.push_str(".*");
                } else {
                    out.push_str("[^/]*");
                }
            } else if c.is_ascii_punctuation() && c != '/' {
                out.push('\\');
                out.push(c);
            } else {
                out.push(c);
            }
        }
        out.push('$');
        out
    }

    /// The SQL condition for a page view whose path matches.
    pub(crate) fn condition(&self) -> String {
        format!("(name = 'pageview' AND match(pathname, {}))", sql::quote(&self.regex()))
    }
}

impl Serialize for PagePattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Goals

/// What converts for a goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalTarget {
    /// Events of this name.
    EventName(#[serde(serialize_with = "event_name_text")] EventName),
    /// Page views whose path matches.
    PagePattern(PagePattern),
}

fn event_name_text<S: serde::Serializer>(name: &EventName, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(name.as_str())
}

impl GoalTarget {
    /// The SQL condition for a converting event.
    pub(crate) fn condition(&self) -> String {
        match self {
            Self::EventName(name) => format!("name = {}", sql::quote(name.as_str())),
            Self::PagePattern(pattern) => pattern.condition(),
        }
    }

    fn is_purchase(&self) -> bool {
        matches!(self, Self::EventName(name) if name.as_str() == "purchase")
    }
}

/// A goal before it is saved: a name and exactly one of an event name or a page pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGoal {
    name: String,
    target: GoalTarget,
}

impl NewGoal {
    /// Longest goal name, in bytes.
    pub const MAX_NAME_BYTES: usize = 100;

    /// # Errors
    /// Field `name`, `event_name` or `page_pattern`; `event_name` when both or neither target
    /// is given.
    pub fn parse(name: &str, event_name: Option<&str>, page_pattern: Option<&str>) -> Result<Self, ValidationError> {
        let name = label("name", name, Self::MAX_NAME_BYTES)?;
        let target = match (event_name, page_pattern) {
            (Some(event), None) => GoalTarget::EventName(self::event_name("event_name", event)?),
            (None, Some(page)) => GoalTarget::PagePattern(PagePattern::parse("page_pattern", page)?),
            _ => {
                return Err(ValidationError::Invalid {
                    field: "event_name",
                    reason: "a goal has either an event_name or a page_pattern",
                });
            }
        };
        Ok(Self { name, target })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn target(&self) -> &GoalTarget {
        &self.target
    }
}

/// A saved goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Goal {
    pub id: uuid::Uuid,
    pub name: String,
    #[serde(flatten)]
    pub target: GoalTarget,
}

/// One version of a goal, as stored.
#[derive(Debug)]
struct GoalRow {
    site: String,
    goal_id: uuid::Uuid,
    name: String,
    event_name: String,
    page_pattern: String,
    version: u64,
    deleted: bool,
}

impl Row for GoalRow {
    const TABLE: &'static str = "goals";
    const COLUMNS: &'static [&'static str] =
        &["site", "goal_id", "name", "event_name", "page_pattern", "version", "deleted"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.site);
        w.uuid(self.goal_id);
        w.str(&self.name);
        w.str(&self.event_name);
        w.str(&self.page_pattern);
        w.u64(self.version);
        w.u8(u8::from(self.deleted));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            site: r.string()?,
            goal_id: r.uuid()?,
            name: r.string()?,
            event_name: r.string()?,
            page_pattern: r.string()?,
            version: r.u64()?,
            deleted: r.u8()? != 0,
        })
    }
}

impl GoalRow {
    fn new(site: &SiteDomain, id: uuid::Uuid, goal: &NewGoal, deleted: bool) -> Self {
        let (event_name, page_pattern) = match &goal.target {
            GoalTarget::EventName(name) => (name.as_str().to_owned(), String::new()),
            GoalTarget::PagePattern(pattern) => (String::new(), pattern.as_str().to_owned()),
        };
        Self {
            site: site.as_str().to_owned(),
            goal_id: id,
            name: goal.name.clone(),
            event_name,
            page_pattern,
            version: next_version(),
            deleted,
        }
    }

    fn into_goal(self) -> Result<Goal, StoreError> {
        let some = |s: &str| (!s.is_empty()).then_some(s.to_owned());
        let checked =
            NewGoal::parse(&self.name, some(&self.event_name).as_deref(), some(&self.page_pattern).as_deref())
                .map_err(|e| StoreError::Decode(format!("stored goal {}: {e}", self.goal_id)))?;
        Ok(Goal { id: self.goal_id, name: checked.name, target: checked.target })
    }
}

/// Saves a new goal and returns it with its id.
///
/// # Errors
/// Store errors.
pub async fn add(store: &dyn Store, site: &SiteDomain, goal: &NewGoal) -> Result<Goal, StoreError> {
    let id = uuid::Uuid::new_v4();
    store.insert_rows(&[GoalRow::new(site, id, goal, false)]).await?;
    Ok(Goal { id, name: goal.name.clone(), target: goal.target.clone() })
}

/// The site's goals, by name (then id).
///
/// # Errors
/// Store errors; [`StoreError::Decode`] for a stored goal that no longer validates.
pub async fn list(store: &dyn Store, site: &SiteDomain) -> Result<Vec<Goal>, StoreError> {
    let rows: Vec<GoalRow> = store
        .fetch_rows(&format!(
            "FROM goals FINAL WHERE site = {} AND deleted = 0 ORDER BY name, goal_id",
            sql::quote(site.as_str())
        ))
        .await?;
    rows.into_iter().map(GoalRow::into_goal).collect()
}

/// One goal of the site, if it exists.
///
/// # Errors
/// As [`list`].
pub async fn get(store: &dyn Store, site: &SiteDomain, id: uuid::Uuid) -> Result<Option<Goal>, StoreError> {
    let rows: Vec<GoalRow> = store
        .fetch_rows(&format!(
            "FROM goals FINAL WHERE site = {} AND goal_id = toUUID({}) AND deleted = 0",
            sql::quote(site.as_str()),
            sql::quote(&id.to_string())
        ))
        .await?;
    rows.into_iter().next().map(GoalRow::into_goal).transpose()
}

/// Deletes a goal; `false` when the site has no such goal.
///
/// # Errors
/// As [`list`].
pub async fn remove(store: &dyn Store, site: &SiteDomain, id: uuid::Uuid) -> Result<bool, StoreError> {
    let Some(goal) = get(store, site, id).await? else {
        return Ok(false);
    };
    let stored = NewGoal { name: goal.name, target: goal.target };
    store.insert_rows(&[GoalRow::new(site, id, &stored, true)]).await?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Conversions and revenue

/// Revenue in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyRevenue {
    pub currency: String,
    /// Ten-thousandths of the currency unit.
    pub amount_e4: i64,
    pub orders: u64,
    /// `amount_e4 / orders`, rounded half away from zero (0 without orders).
    pub average_order_e4: i64,
}

impl From<stats::Revenue> for CurrencyRevenue {
    fn from(r: stats::Revenue) -> Self {
        Self::new(r.currency, r.amount_e4, r.orders)
    }
}

impl CurrencyRevenue {
    pub(crate) fn new(currency: String, amount_e4: i64, orders: u64) -> Self {
        Self {
            currency,
            amount_e4,
            orders,
            average_order_e4: divide_rounded(i128::from(amount_e4), i128::from(orders)),
        }
    }
}

/// One goal's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalConversion {
    #[serde(flatten)]
    pub goal: Goal,
    /// Distinct visitors with a converting event.
    pub visitors: u64,
    /// Converting events.
    pub conversions: u64,
    /// `visitors` / all visitors of the scope, 0..=1, four decimals.
    pub conversion_rate: f64,
    /// For a goal on `purchase`: revenue per currency, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Vec<CurrencyRevenue>>,
}

/// Every goal's numbers over a scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversions {
    /// All visitors of the scope: the conversion rates' denominator.
    pub visitors: u64,
    /// In the order the goals were given.
    pub goals: Vec<GoalConversion>,
}

/// Conversions of `goals` over a scope, computed in one pass over the events.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] for more than [`MAX_GOALS`] goals or a bad time zone.
pub async fn conversions(store: &dyn Store, scope: &Scope<'_>, goals: &[Goal]) -> Result<Conversions, StoreError> {
    if goals.len() > MAX_GOALS {
        return Err(StoreError::Invalid(format!("at most {MAX_GOALS} goals")));
    }
    let visitors = visitors_in_scope(store, scope).await?;
    #[derive(Deserialize)]
    struct Row {
        goal: usize,
        converters: u64,
        conversions: u64,
    }
    let mut found: Vec<Row> = Vec::new();
    if !goals.is_empty() {
        // Each event yields the (1-based) numbers of the goals it converts; an event may
        // convert several goals.
        let conditions: Vec<String> = goals.iter().map(|g| g.target.condition()).collect();
        let numbered: Vec<String> =
            conditions.iter().enumerate().map(|(i, c)| format!("if({c}, {}, 0)", i + 1)).collect();
        let sql = format!(
            "SELECT arrayJoin(arrayFilter(g -> g > 0, [{}])) AS goal, uniqExact(visitor_id) AS converters, \
             count() AS conversions FROM events WHERE {} AND ({}) GROUP BY goal",
            numbered.join(", "),
            stats::kept_events(scope, None)?,
            conditions.join(" OR ")
        );
        found = store.fetch_json(&sql).await?;
    }
    let purchase_revenue = if goals.iter().any(|g| g.target.is_purchase()) {
        Some(stats::revenue(store, scope).await?.into_iter().map(CurrencyRevenue::from).collect::<Vec<_>>())
    } else {
        None
    };
    let goals = goals
        .iter()
        .enumerate()
        .map(|(i, goal)| {
            let (converters, conversions) =
                found.iter().find(|r| r.goal == i + 1).map_or((0, 0), |r| (r.converters, r.conversions));
            GoalConversion {
                goal: goal.clone(),
                visitors: converters,
                conversions,
                conversion_rate: share(converters, visitors),
                revenue: if goal.target.is_purchase() { purchase_revenue.clone() } else { None },
            }
        })
        .collect();
    Ok(Conversions { visitors, goals })
}

/// Purchase revenue of the visits with one value of a dimension, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevenueRow {
    pub value: String,
    #[serde(flatten)]
    pub revenue: CurrencyRevenue,
}

/// Purchase revenue per value of a visit-level dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevenueBreakdown {
    pub dimension: String,
    /// The whole scope, per currency, largest first.
    pub total: Vec<CurrencyRevenue>,
    /// Per (value, currency), largest revenue first (then value, currency).
    pub rows: Vec<RevenueRow>,
    pub has_more: bool,
}

/// Revenue, orders and average order value per value of `dimension` (a visit-level one: a
/// purchase counts for the value of the visit it happened in) and currency.
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] when the dimension is not visit-level.
pub async fn revenue_by(
    store: &dyn Store,
    scope: &Scope<'_>,
    dimension: &Dimension,
    limit: u32,
) -> Result<RevenueBreakdown, StoreError> {
    let Some(column) = stats::visit_column(dimension) else {
        return Err(StoreError::Invalid(format!(
            "revenue is broken down by visit-level dimensions, not {}",
            dimension.name()
        )));
    };
    let limit = limit.clamp(1, stats::MAX_BREAKDOWN_ROWS);
    #[derive(Deserialize)]
    struct Row {
        value: String,
        currency: String,
        amount_e4: i64,
        orders: u64,
    }
    // Purchases in range; the join keeps those of kept visits. Only the visits with a purchase
    // are computed: a few percent of them in a shop.
    let purchases = format!("{} AND name = 'purchase' AND isNotNull(revenue)", scope.events_in_range()?);
    let buying = format!("session_id IN (SELECT session_id FROM events WHERE {purchases})");
    let sql = format!(
        "SELECT value, currency, toInt64(sum(amount) * 10000) AS amount_e4, count() AS orders FROM \
         (SELECT session_id, currency, assumeNotNull(revenue) AS amount FROM events WHERE {purchases}) AS purchase \
         ALL INNER JOIN (SELECT session_id, {column} AS value FROM {}) AS visit USING session_id \
         GROUP BY value, currency ORDER BY amount_e4 DESC, value, currency LIMIT {}",
        stats::kept_visits_among(scope, &buying)?,
        u64::from(limit) + 1
    );
    let mut found: Vec<Row> = store.fetch_json(&sql).await?;
    let has_more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let total = stats::revenue(store, scope).await?.into_iter().map(CurrencyRevenue::from).collect();
    Ok(RevenueBreakdown {
        dimension: dimension.name(),
        total,
        rows: found
            .into_iter()
            .map(|r| RevenueRow { value: r.value, revenue: CurrencyRevenue::new(r.currency, r.amount_e4, r.orders) })
            .collect(),
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_patterns_become_anchored_escaped_expressions() {
        for (pattern, want) in [
            ("/", "^/$"),
            ("/p/*", "^/p/[^/]*$"),
            ("/blog/**", "^/blog/.*$"),
            ("/p/*/reviews", "^/p/[^/]*/reviews$"),
            ("/a.b+(c)", r"^/a\.b\+\(c\)$"),
            ("/café crème", "^/café crème$"),
            ("/***", "^/.*[^/]*$"),
            (r"/x\y[z]$^|{1}", r"^/x\\y\[z\]\$\^\|\{1\}$"),
        ] {
            let parsed = PagePattern::parse("page", pattern).map(|p| p.regex());
            assert_eq!(parsed.as_deref(), Ok(want), "{pattern}");
        }
    }

    #[test]
    fn page_patterns_are_refused_with_their_field() {
        for (raw, reason) in [("p/1", "must start with /"), ("/a?b", "paths have no query string or fragment")] {
            assert_eq!(
                PagePattern::parse("steps[1].page", raw),
                Err(ValidationError::Invalid { field: "steps[1].page", reason })
            );
        }
        let long = format!("/{}", "a".repeat(600));
        assert_eq!(
            PagePattern::parse("page_pattern", &long),
            Err(ValidationError::TooLong { field: "page_pattern", max: 512 })
        );
        assert!(PagePattern::parse("page_pattern", "/a\nb").is_err(), "control characters");
    }

    #[test]
    fn a_goal_has_exactly_one_target() {
        assert!(NewGoal::parse("Signup", Some("newsletter_signup"), None).is_ok());
        assert!(NewGoal::parse("Thanks", None, Some("/thanks/**")).is_ok());
        let either = ValidationError::Invalid {
            field: "event_name",
            reason: "a goal has either an event_name or a page_pattern",
        };
        assert_eq!(NewGoal::parse("Both", Some("x"), Some("/x")), Err(either.clone()));
        assert_eq!(NewGoal::parse("None", None, None), Err(either));
        assert_eq!(
            NewGoal::parse("  ", Some("x"), None),
            Err(ValidationError::Invalid { field: "name", reason: "must not be empty" })
        );
        assert!(matches!(
            NewGoal::parse("x", Some(""), None),
            Err(ValidationError::Invalid { field: "event_name", .. })
        ));
    }

    #[test]
    fn goal_sql_quotes_values() {
        let goal = NewGoal::parse("x", Some("it's"), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(goal.target().condition(), r"name = 'it\'s'");
        let page = NewGoal::parse("x", None, Some("/o'clock/*")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.target().condition(), r"(name = 'pageview' AND match(pathname, '^/o\\\'clock/[^/]*$'))");
    }

    #[test]
    fn goals_serialise_with_their_one_target() {
        let goal = Goal {
            id: uuid::Uuid::nil(),
            name: "Thanks".into(),
            target: GoalTarget::PagePattern(PagePattern("/thanks".into())),
        };
        let json = serde_json::to_value(&goal).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"id": "00000000-0000-0000-0000-000000000000", "name": "Thanks", "page_pattern": "/thanks"})
        );
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        for (n, d, want) in [(7, 2, 4), (-7, 2, -4), (5, 3, 2), (4, 3, 1), (1, 0, 0), (10, -4, -3)] {
            assert_eq!(divide_rounded(n, d), want, "{n}/{d}");
        }
    }
}
