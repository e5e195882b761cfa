//! `/api/v1/sites/{site}/{overview,timeseries,breakdown/{dimension},realtime}`: the
//! dashboard's traffic numbers. Readable by every role (viewers included: aggregates only).
//!
//! Common query parameters: `period` (`today`, `yesterday`, `7d`, `30d` (default), `month`,
//! `last_month`, `12mo`, `custom` with `from`/`to`), repeated `filter` (see
//! `larder_core::query`), `compare=previous` for the previous period of the same length.
//!
//! The overview answers purchase revenue per currency beside the headline numbers (and, with
//! `compare=previous`, the previous period's). The time series takes `interval` (`hour`, `day`,
//! `week`, `month`; by default from the range's length) and `include=revenue`, which adds each
//! bucket's purchase revenue per currency to its point — per day at the finest, so not with
//! `interval=hour`.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::future::try_join;
use larder_core::SiteDomain;
use larder_core::query::{DateRange, Dimension, Filter, Interval, Period};
use larder_store::sites::{self, Site};
use larder_store::stats::{self, Scope};
use serde::Serialize;

use super::Endpoint;
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/sites/{site}/overview", |r| r.to(overview)),
        Endpoint::get("/api/v1/sites/{site}/timeseries", |r| r.to(timeseries)),
        Endpoint::get("/api/v1/sites/{site}/breakdown/{dimension}", |r| r.to(breakdown)),
        Endpoint::get("/api/v1/sites/{site}/realtime", |r| r.to(realtime)),
    ]
}

/// The query string of a stats request, parsed and checked.
#[derive(Debug, Default)]
pub(crate) struct StatsParams {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub interval: Option<String>,
    pub compare: bool,
    pub limit: Option<u32>,
    pub page: Option<u32>,
    pub filters: Vec<Filter>,
    /// Parameters a particular route reads itself (funnel, goal…).
    pub extra: Vec<(String, String)>,
}

impl StatsParams {
    /// Parses the query string; `extra_keys` are accepted and kept for the route.
    pub fn parse(query: &str, extra_keys: &[&str]) -> Result<Self, ApiError> {
        let mut params = Self::default();
        let number = |key: &'static str, value: &str| {
            value
                .parse::<u32>()
                .map_err(|_| ApiError::Invalid { message: format!("{key} must be a whole number"), field: key })
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "period" => params.period = Some(value.into_owned()),
                "from" => params.from = Some(value.into_owned()),
                "to" => params.to = Some(value.into_owned()),
                "interval" => params.interval = Some(value.into_owned()),
                "compare" => match value.as_ref() {
                    "previous" => params.compare = true,
                    "" | "none" => params.compare = false,
                    _ => {
                        return Err(ApiError::Invalid {
                            message: "compare must be previous or none".into(),
                            field: "compare",
                        });
                    }
                },
                "limit" => params.limit = Some(number("limit", &value)?),
                "page" => params.page = Some(number("page", &value)?),
                "filter" => params.filters.push(Filter::parse(&value).map_err(invalid)?),
                other if extra_keys.contains(&other) => params.extra.push((other.to_owned(), value.into_owned())),
                other => {
                    return Err(ApiError::BadRequest {
                        message: format!("unknown query parameter {other:?}"),
                        field: Some(other.to_owned()),
                    });
                }
            }
        }
        if params.filters.len() > 20 {
            return Err(ApiError::Invalid { message: "at most 20 filters".into(), field: "filter" });
        }
        Ok(params)
    }

    /// The date range, resolved against the site's today.
    pub async fn range(&self, state: &ApiState, site: &Site) -> Result<DateRange, ApiError> {
        let period = Period::parse(self.period.as_deref().unwrap_or("30d"), self.from.as_deref(), self.to.as_deref())
            .map_err(invalid)?;
        let today = stats::today(state.store.as_ref(), &site.timezone).await?;
        Ok(period.resolve(today))
    }
}

pub(crate) fn invalid(e: larder_core::ValidationError) -> ApiError {
    ApiError::Invalid { message: e.to_string(), field: e.field() }
}

/// The site named in the path, if the caller may read it at `role`.
pub(crate) async fn readable_site(state: &ApiState, caller: &Caller, raw: &str, role: Role) -> Result<Site, ApiError> {
    let domain = SiteDomain::parse(raw).map_err(|_| ApiError::NotFound { what: "site", field: "site" })?;
    caller.require(&domain, role)?;
    sites::get(state.store.as_ref(), &domain).await?.ok_or(ApiError::NotFound { what: "site", field: "site" })
}

#[derive(Serialize)]
struct RangeView {
    from: String,
    to: String,
}

impl From<DateRange> for RangeView {
    fn from(r: DateRange) -> Self {
        Self { from: r.from.format("%Y-%m-%d").to_string(), to: r.to.format("%Y-%m-%d").to_string() }
    }
}

/// Relative change from `before` to `now`, in percent; `None` when there was nothing before.
fn change(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| ((now - before) / before * 1000.0).round() / 10.0)
}

#[derive(Serialize)]
struct OverviewAnswer {
    site: String,
    range: RangeView,
    current: stats::Overview,
    revenue: Vec<stats::Revenue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousOverview>,
}

#[derive(Serialize)]
struct PreviousOverview {
    range: RangeView,
    values: stats::Overview,
    revenue: Vec<stats::Revenue>,
    /// Percent change per metric.
    change: std::collections::BTreeMap<&'static str, Option<f64>>,
}

async fn overview(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &[])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let store = state.store.as_ref();
    let before = range.previous();
    let earlier = scope.with_range(before);
    // The four queries at once: the small ones (revenue, an empty previous period) finish
    // while the period's visits are grouped, instead of after.
    let now = try_join(stats::overview(store, &scope), stats::revenue(store, &scope));
    let then = async {
        if params.compare {
            try_join(stats::overview(store, &earlier), stats::revenue(store, &earlier)).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let ((current, revenue), previous_values) = try_join(now, then).await?;
    let previous = if let Some((values, revenue)) = previous_values {
        let change = [
            ("visitors", change(current.visitors as f64, values.visitors as f64)),
            ("visits", change(current.visits as f64, values.visits as f64)),
            ("pageviews", change(current.pageviews as f64, values.pageviews as f64)),
            ("views_per_visit", change(current.views_per_visit, values.views_per_visit)),
            ("bounce_rate", change(current.bounce_rate, values.bounce_rate)),
            ("visit_duration", change(current.visit_duration, values.visit_duration)),
        ]
        .into_iter()
        .collect();
        Some(PreviousOverview { range: before.into(), values, revenue, change })
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(OverviewAnswer {
        site: site.domain.to_string(),
        range: range.into(),
        current,
        revenue,
        previous,
    }))
}

#[derive(Serialize)]
struct SeriesAnswer {
    interval: &'static str,
    range: RangeView,
    points: Vec<PointView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<Vec<PointView>>,
}

/// A point of a series and, with `include=revenue`, its purchase revenue per currency.
#[derive(Serialize)]
struct PointView {
    #[serde(flatten)]
    point: stats::Point,
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<Vec<stats::Revenue>>,
}

/// What `include` may name.
fn includes_revenue(params: &StatsParams) -> Result<bool, ApiError> {
    let mut revenue = false;
    for (_, value) in params.extra.iter().filter(|(k, _)| k == "include") {
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "revenue" => revenue = true,
                _ => {
                    return Err(ApiError::Invalid { message: format!("cannot include {name:?}"), field: "include" });
                }
            }
        }
    }
    Ok(revenue)
}

/// The points of the previous period of the same length.
async fn points_of_previous(
    state: &ApiState,
    scope: &Scope<'_>,
    interval: Interval,
    with_revenue: bool,
) -> Result<Vec<PointView>, ApiError> {
    points(state, &scope.with_range(scope.range.previous()), interval, with_revenue).await
}

/// The points of a series, each with its bucket's revenue when `with_revenue` (one grouped
/// query for every bucket).
async fn points(
    state: &ApiState,
    scope: &Scope<'_>,
    interval: Interval,
    with_revenue: bool,
) -> Result<Vec<PointView>, ApiError> {
    let points = stats::timeseries(state.store.as_ref(), scope, interval).await?;
    if !with_revenue {
        return Ok(points.into_iter().map(|point| PointView { point, revenue: None }).collect());
    }
    let mut revenue: std::collections::HashMap<String, Vec<stats::Revenue>> =
        stats::revenue_by_bucket(state.store.as_ref(), scope, interval).await?.into_iter().collect();
    Ok(points
        .into_iter()
        .map(|point| {
            let bucket = revenue.remove(&point.bucket).unwrap_or_default();
            PointView { point, revenue: Some(bucket) }
        })
        .collect())
}

async fn timeseries(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &["include"])?;
    let with_revenue = includes_revenue(&params)?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let range = params.range(&state, &site).await?;
    let interval = match &params.interval {
        Some(raw) => Interval::parse(raw).map_err(invalid)?,
        None => range.default_interval(),
    };
    if interval == Interval::Hour && range.days() > 31 {
        return Err(ApiError::Invalid { message: "hourly series cover at most 31 days".into(), field: "interval" });
    }
    if interval == Interval::Hour && with_revenue {
        return Err(ApiError::Invalid {
            message: "revenue is counted per day at the finest: use interval=day".into(),
            field: "interval",
        });
    }
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let points = points(&state, &scope, interval, with_revenue).await?;
    let previous =
        if params.compare { Some(points_of_previous(&state, &scope, interval, with_revenue).await?) } else { None };
    let interval = match interval {
        Interval::Hour => "hour",
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    };
    Ok(HttpResponse::Ok().json(SeriesAnswer { interval, range: range.into(), points, previous }))
}

#[derive(Serialize)]
struct BreakdownAnswer {
    range: RangeView,
    #[serde(flatten)]
    breakdown: stats::Breakdown,
    /// With `compare=previous`: visitors per value in the previous period (values shown only).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_visitors: Option<std::collections::BTreeMap<String, u64>>,
}

async fn breakdown(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (site_raw, dimension_raw) = path.into_inner();
    let params = StatsParams::parse(req.query_string(), &[])?;
    let site = readable_site(&state, &caller, &site_raw, Role::Viewer).await?;
    let dimension = Dimension::parse(&dimension_raw).map_err(invalid)?;
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    // 1 to 1000 as everywhere (the store would read 0 as 1).
    let limit = super::goals::limit(&params, 10)?;
    let page = match params.page {
        None => 1,
        Some(0) => return Err(ApiError::Invalid { message: "page counts from 1".into(), field: "page" }),
        Some(page) => page,
    };
    let result = stats::breakdown(state.store.as_ref(), &scope, &dimension, limit, page).await?;
    let previous_visitors = if params.compare && !result.rows.is_empty() {
        let before = stats::breakdown(
            state.store.as_ref(),
            &scope.with_range(range.previous()),
            &dimension,
            stats::MAX_BREAKDOWN_ROWS,
            1,
        )
        .await?;
        let shown: std::collections::HashSet<&str> = result.rows.iter().map(|r| r.value.as_str()).collect();
        Some(
            before
                .rows
                .into_iter()
                .filter(|r| shown.contains(r.value.as_str()))
                .map(|r| (r.value, r.visitors))
                .collect(),
        )
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(BreakdownAnswer { range: range.into(), breakdown: result, previous_visitors }))
}

async fn realtime(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // The period parameters are checked and ignored (realtime is the last 30 minutes); filters apply.
    let params = StatsParams::parse(req.query_string(), &[])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let now = chrono::Utc::now().timestamp();
    let live = stats::realtime(state.store.as_ref(), &site.domain, now, &params.filters).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(live))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_parse_repeated_filters_and_refuse_unknown_keys() {
        let params = StatsParams::parse(
            "period=7d&filter=source%3D%3DGoogle&filter=page~%3D%2Fp%2F&compare=previous&limit=5",
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(params.period.as_deref(), Some("7d"));
        assert_eq!(params.filters.len(), 2);
        assert!(params.compare);
        assert_eq!(params.limit, Some(5));
        for bad in ["colour=red", "limit=many", "filter=nope", "compare=yes"] {
            assert!(StatsParams::parse(bad, &[]).is_err(), "{bad}");
        }
        let funnel = StatsParams::parse("funnel=abc", &["funnel"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(funnel.extra, vec![("funnel".to_owned(), "abc".to_owned())]);
    }

    #[test]
    fn include_names_only_revenue() {
        let parse = |raw: &str| StatsParams::parse(raw, &["include"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(includes_revenue(&parse("include=revenue")).unwrap_or(false));
        assert!(!includes_revenue(&parse("")).unwrap_or(true));
        assert!(includes_revenue(&parse("include=sessions")).is_err());
    }

    #[test]
    fn change_is_a_percentage_with_one_decimal() {
        assert_eq!(change(150.0, 100.0), Some(50.0));
        assert_eq!(change(1.0, 3.0), Some(-66.7));
        assert_eq!(change(5.0, 0.0), None, "no change against nothing");
    }
}
