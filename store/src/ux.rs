//! UX signals per page: frustrated clicks, scroll depth, engaged time, Core Web Vitals and
//! JavaScript errors, over the events of the visits a scope keeps (period and filters, see
//! [`crate::stats`]); a `page` filter also restricts the rows to its pages.
//!
//! Definitions:
//! - *rage clicks* and *dead clicks* are `rage_click` and `dead_click` events, grouped by page
//!   and element selector: clicks (events) and visitors (distinct), most clicks first;
//! - *scroll depth* of a page: the `engagement` events on it that carry a depth (each reports
//!   the deepest point reached on the page view so far), as shares in `[0, 25)`, `[25, 50)`,
//!   `[50, 75)` and `[75, 100]` percent, and their mean;
//! - *engaged time* of a page: the sum of `engaged_ms` of its `engagement` events (each reports
//!   the time since the previous one of the same page view) divided by its page views, in
//!   seconds; pages are listed by page views;
//! - *Core Web Vitals*, per page and metric (LCP, INP, CLS, TTFB, FCP): the 75th percentile of
//!   the `web_vital` values — `quantileExact(0.75)`, the value at 0-based rank ⌊0.75·n⌋ of the
//!   sorted values, identical on every engine — and the shares of good / needs-improvement /
//!   poor values by web.dev's thresholds (good ≤ the first, poor > the second): LCP 2500 /
//!   4000 ms, INP 200 / 500 ms, CLS 0.1 / 0.25, TTFB 800 / 1800 ms, FCP 1800 / 3000 ms. The
//!   `rating` is the p75's. Pages are those with the most vitals;
//! - *JS errors* are `js_error` events grouped by message and source: errors (events),
//!   visitors, the number of pages they happened on and the five pages with the most.

use std::collections::BTreeMap;

use larder_core::query::Dimension;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::goals::share;
use crate::stats::{self, Scope};
use crate::{Store, sql};

/// The parts of the report a request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UxSection {
    FrustratedClicks,
    Pages,
    WebVitals,
    Errors,
}

impl UxSection {
    pub const ALL: [Self; 4] = [Self::FrustratedClicks, Self::Pages, Self::WebVitals, Self::Errors];

    /// `frustrated_clicks`, `pages`, `web_vitals`, `errors`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrustratedClicks => "frustrated_clicks",
            Self::Pages => "pages",
            Self::WebVitals => "web_vitals",
            Self::Errors => "errors",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Frustrated clicks on one element of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickRow {
    pub page: String,
    pub selector: String,
    pub clicks: u64,
    pub visitors: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FrustratedClicks {
    pub rage: Vec<ClickRow>,
    pub dead: Vec<ClickRow>,
}

/// How far a page is scrolled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrollDepth {
    /// Engagement events with a depth.
    pub samples: u64,
    /// Shares of the samples in `[0, 25)`, `[25, 50)`, `[50, 75)`, `[75, 100]` percent.
    pub shares: [f64; 4],
    /// Mean depth in percent, one decimal.
    pub mean: f64,
}

/// Engagement on one page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageEngagement {
    pub page: String,
    pub pageviews: u64,
    /// Engaged time per page view, seconds, one decimal.
    pub engaged_seconds_per_view: f64,
    /// `None` when no engagement event on the page reported a depth.
    pub scroll_depth: Option<ScrollDepth>,
}

/// One Core Web Vital on one page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VitalSummary {
    /// `LCP`, `INP`, `CLS`, `TTFB`, `FCP`.
    pub metric: String,
    pub samples: u64,
    /// Milliseconds (CLS: unitless).
    pub p75: f64,
    /// `good`, `needs_improvement` or `poor`, by the p75.
    pub rating: &'static str,
    pub good: f64,
    pub needs_improvement: f64,
    pub poor: f64,
}

/// The vitals of one page, by metric name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageVitals {
    pub page: String,
    pub metrics: Vec<VitalSummary>,
}

/// A page and how often an error happened there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorPage {
    pub page: String,
    pub errors: u64,
}

/// One JavaScript error (message and source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsErrorRow {
    pub message: String,
    pub source: String,
    pub errors: u64,
    pub visitors: u64,
    /// Distinct pages it happened on.
    pub page_count: u64,
    /// The five pages with the most, most first (then by page).
    pub pages: Vec<ErrorPage>,
}

/// The UX report; sections not asked for are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UxReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frustrated_clicks: Option<FrustratedClicks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<PageEngagement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_vitals: Option<Vec<PageVitals>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<JsErrorRow>>,
}

/// web.dev's thresholds: (metric, good up to, poor above).
const THRESHOLDS: [(&str, f64, f64); 5] = [
    ("LCP", 2500.0, 4000.0),
    ("INP", 200.0, 500.0),
    ("CLS", 0.1, 0.25),
    ("TTFB", 800.0, 1800.0),
    ("FCP", 1800.0, 3000.0),
];

/// The UX report of a scope, `limit` rows per list (1..=1000).
///
/// # Errors
/// Store errors; [`StoreError::Invalid`] for a bad time zone.
pub async fn report(
    store: &dyn Store,
    scope: &Scope<'_>,
    sections: &[UxSection],
    limit: u32,
) -> Result<UxReport, StoreError> {
    let limit = limit.clamp(1, stats::MAX_BREAKDOWN_ROWS);
    let events = stats::kept_events(scope, Some(&Dimension::Page))?;
    let mut report = UxReport::default();
    if sections.contains(&UxSection::FrustratedClicks) {
        report.frustrated_clicks = Some(frustrated_clicks(store, &events, limit).await?);
    }
    if sections.contains(&UxSection::Pages) {
        report.pages = Some(pages(store, &events, limit).await?);
    }
    if sections.contains(&UxSection::WebVitals) {
        report.web_vitals = Some(web_vitals(store, &events, limit).await?);
    }
    if sections.contains(&UxSection::Errors) {
        report.errors = Some(errors(store, &events, limit).await?);
    }
    Ok(report)
}

async fn frustrated_clicks(store: &dyn Store, events: &str, limit: u32) -> Result<FrustratedClicks, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        kind: String,
        #[serde(flatten)]
        row: ClickRow,
    }
    let found: Vec<Row> = store
        .fetch_json(&format!(
            "SELECT name AS kind, pathname AS page, selector, count() AS clicks, uniqExact(visitor_id) AS visitors \
             FROM events WHERE {events} AND name IN ('rage_click', 'dead_click') GROUP BY kind, page, selector \
             ORDER BY kind, clicks DESC, visitors DESC, page, selector LIMIT {limit} BY kind"
        ))
        .await?;
    let mut clicks = FrustratedClicks::default();
    for r in found {
        if r.kind == "rage_click" { clicks.rage.push(r.row) } else { clicks.dead.push(r.row) }
    }
    Ok(clicks)
}

async fn pages(store: &dyn Store, events: &str, limit: u32) -> Result<Vec<PageEngagement>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        page: String,
        views: u64,
        engaged_total: u64,
        depth_samples: u64,
        depth_total: u64,
        quarters: [u64; 4],
    }
    let depth = "name = 'engagement' AND isNotNull(scroll_depth)";
    let value = "assumeNotNull(scroll_depth)";
    let found: Vec<Row> = store
        .fetch_json(&format!(
            "SELECT pathname AS page, countIf(name = 'pageview') AS views, \
             sumIf(toUInt64(assumeNotNull(engaged_ms)), name = 'engagement' AND isNotNull(engaged_ms)) AS engaged_total, \
             countIf({depth}) AS depth_samples, sumIf(toUInt64({value}), {depth}) AS depth_total, \
             [countIf({depth} AND {value} < 25), countIf({depth} AND {value} >= 25 AND {value} < 50), \
              countIf({depth} AND {value} >= 50 AND {value} < 75), countIf({depth} AND {value} >= 75)] AS quarters \
             FROM events WHERE {events} AND name IN ('pageview', 'engagement') GROUP BY page HAVING views > 0 \
             ORDER BY views DESC, page LIMIT {limit}"
        ))
        .await?;
    Ok(found
        .into_iter()
        .map(|r| PageEngagement {
            engaged_seconds_per_view: stats::round(r.engaged_total as f64 / r.views as f64 / 1000.0, 1),
            scroll_depth: (r.depth_samples > 0).then(|| ScrollDepth {
                samples: r.depth_samples,
                shares: r.quarters.map(|q| share(q, r.depth_samples)),
                mean: stats::round(r.depth_total as f64 / r.depth_samples as f64, 1),
            }),
            page: r.page,
            pageviews: r.views,
        })
        .collect())
}

async fn web_vitals(store: &dyn Store, events: &str, limit: u32) -> Result<Vec<PageVitals>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        page: String,
        metric: String,
        samples: u64,
        p75: f64,
        good: u64,
        fair: u64,
        bad: u64,
    }
    let metric_is = |pick: fn(&(&str, f64, f64)) -> f64| {
        let arms: Vec<String> =
            THRESHOLDS.iter().map(|t| format!("vital_name = {}, {}", sql::quote(t.0), pick(t))).collect();
        format!("multiIf({}, 0)", arms.join(", "))
    };
    let names: Vec<String> = THRESHOLDS.iter().map(|t| t.0.to_owned()).collect();
    let vitals =
        format!("{events} AND name = 'web_vital' AND isNotNull(vital_value) AND vital_name IN {}", stats::list(&names));
    // `GLOBAL IN`: the top pages are chosen over all events, also on a cluster, where a plain
    // `IN` would pick each shard's own (see `ServerStore::in_cluster`); on one server the same.
    let found: Vec<Row> = store
        .fetch_json(&format!(
            "SELECT page, metric, count() AS samples, quantileExact(0.75)(measured) AS p75, \
             countIf(measured <= good_max) AS good, countIf(measured > good_max AND measured <= poor_min) AS fair, \
             countIf(measured > poor_min) AS bad FROM \
             (SELECT pathname AS page, vital_name AS metric, assumeNotNull(vital_value) AS measured, \
              {} AS good_max, {} AS poor_min FROM events WHERE {vitals} AND pathname GLOBAL IN \
              (SELECT pathname FROM events WHERE {vitals} GROUP BY pathname ORDER BY count() DESC, pathname LIMIT {limit})) \
             GROUP BY page, metric",
            metric_is(|t| t.1),
            metric_is(|t| t.2)
        ))
        .await?;
    let mut samples_per_page: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_page: BTreeMap<String, Vec<VitalSummary>> = BTreeMap::new();
    for r in found {
        *samples_per_page.entry(r.page.clone()).or_default() += r.samples;
        let (good_max, poor_min) = THRESHOLDS.iter().find(|t| t.0 == r.metric).map_or((0.0, 0.0), |t| (t.1, t.2));
        let rating = if r.p75 <= good_max {
            "good"
        } else if r.p75 <= poor_min {
            "needs_improvement"
        } else {
            "poor"
        };
        per_page.entry(r.page).or_default().push(VitalSummary {
            rating,
            p75: r.p75,
            good: share(r.good, r.samples),
            needs_improvement: share(r.fair, r.samples),
            poor: share(r.bad, r.samples),
            metric: r.metric,
            samples: r.samples,
        });
    }
    let order = |m: &str| THRESHOLDS.iter().position(|t| t.0 == m).unwrap_or(THRESHOLDS.len());
    let mut pages: Vec<PageVitals> = per_page
        .into_iter()
        .map(|(page, mut metrics)| {
            metrics.sort_by_key(|m| order(&m.metric));
            PageVitals { page, metrics }
        })
        .collect();
    pages.sort_by(|a, b| samples_per_page[&b.page].cmp(&samples_per_page[&a.page]).then(a.page.cmp(&b.page)));
    Ok(pages)
}

async fn errors(store: &dyn Store, events: &str, limit: u32) -> Result<Vec<JsErrorRow>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        message: String,
        source: String,
        errors: u64,
        visitors: u64,
        page_count: u64,
    }
    let found: Vec<Row> = store
        .fetch_json(&format!(
            "SELECT error_message AS message, error_source AS source, count() AS errors, \
             uniqExact(visitor_id) AS visitors, uniqExact(pathname) AS page_count FROM events \
             WHERE {events} AND name = 'js_error' GROUP BY message, source \
             ORDER BY errors DESC, visitors DESC, message, source LIMIT {limit}"
        ))
        .await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct PageRow {
        message: String,
        source: String,
        page: String,
        errors: u64,
    }
    // Every pair of a shown message and a shown source, narrowed to the shown pairs below.
    let messages: Vec<String> = found.iter().map(|r| r.message.clone()).collect();
    let sources: Vec<String> = found.iter().map(|r| r.source.clone()).collect();
    let pages: Vec<PageRow> = store
        .fetch_json(&format!(
            "SELECT error_message AS message, error_source AS source, pathname AS page, count() AS errors FROM events \
             WHERE {events} AND name = 'js_error' AND error_message IN {} AND error_source IN {} \
             GROUP BY message, source, page ORDER BY errors DESC, page",
            stats::list(&messages),
            stats::list(&sources)
        ))
        .await?;
    Ok(found
        .into_iter()
        .map(|r| JsErrorRow {
            pages: pages
                .iter()
                .filter(|p| p.message == r.message && p.source == r.source)
                .take(5)
                .map(|p| ErrorPage { page: p.page.clone(), errors: p.errors })
                .collect(),
            message: r.message,
            source: r.source,
            errors: r.errors,
            visitors: r.visitors,
            page_count: r.page_count,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse_by_name() {
        for section in UxSection::ALL {
            assert_eq!(UxSection::parse(section.as_str()), Some(section));
        }
        assert_eq!(UxSection::parse("vitals"), None);
    }
}
