//! Goals and revenue:
//! - `GET /api/v1/sites/{site}/goals` (viewer): the site's goals;
//! - `POST /api/v1/sites/{site}/goals` (admin, audited): `{"name", "event_name" | "page_pattern"}`;
//! - `DELETE /api/v1/sites/{site}/goals/{id}` (admin, audited);
//! - `GET /api/v1/sites/{site}/goals/conversions` (viewer): per goal converting visitors,
//!   conversions, conversion rate and, for `purchase`, revenue; with the stats parameters
//!   (`period`, `filter`, `compare=previous`);
//! - `GET /api/v1/sites/{site}/revenue?by=<visit-level dimension>` (viewer): purchase revenue,
//!   orders and average order value per value and currency (`limit`, default 10).
//!
//! Definitions: `larder_store::goals`.

use actix_web::{HttpRequest, HttpResponse, web};
use larder_core::query::{DateRange, Dimension};
use larder_store::goals::{self, NewGoal};
use larder_store::stats::{self as store_stats, Scope};
use serde::{Deserialize, Serialize};

use super::Endpoint;
use super::stats::{StatsParams, invalid, readable_site};
use crate::auth::{Caller, Role, audit};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    // `conversions` before `{id}`: the first path that matches takes the request.
    vec![
        Endpoint::get("/api/v1/sites/{site}/goals", |r| r.to(list)),
        Endpoint::post("/api/v1/sites/{site}/goals", |r| r.to(create)),
        Endpoint::get("/api/v1/sites/{site}/goals/conversions", |r| r.to(conversions)),
        Endpoint::delete("/api/v1/sites/{site}/goals/{id}", |r| r.to(remove)),
        Endpoint::get("/api/v1/sites/{site}/revenue", |r| r.to(revenue)),
    ]
}

/// A date range as answers show it.
#[derive(Debug, Serialize)]
pub(crate) struct RangeView {
    from: String,
    to: String,
}

impl From<DateRange> for RangeView {
    fn from(r: DateRange) -> Self {
        Self { from: r.from.format("%Y-%m-%d").to_string(), to: r.to.format("%Y-%m-%d").to_string() }
    }
}

/// The `limit` parameter: 1..=1000, `default` when absent.
pub(crate) fn limit(params: &StatsParams, default: u32) -> Result<u32, ApiError> {
    match params.limit {
        None => Ok(default),
        Some(n) if (1..=store_stats::MAX_BREAKDOWN_ROWS).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Invalid {
            message: format!("limit is from 1 to {}", store_stats::MAX_BREAKDOWN_ROWS),
            field: "limit",
        }),
    }
}

/// A visit-level dimension named by the parameter `field`.
pub(crate) fn visit_dimension(raw: &str, field: &'static str) -> Result<Dimension, ApiError> {
    let dimension = Dimension::parse(raw).map_err(|e| ApiError::Invalid { message: e.to_string(), field })?;
    if !dimension.is_visit_level() {
        return Err(ApiError::Invalid {
            message: format!("{field} must be a visit-level dimension (source, utm_campaign, country…), not {raw}"),
            field,
        });
    }
    Ok(dimension)
}

async fn list(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let goals = goals::list(state.store.as_ref(), &site.domain).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "goals": goals })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalBody {
    name: String,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    page_pattern: Option<String>,
}

async fn create(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<GoalBody>,
) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &caller, &path, Role::Admin).await?;
    let new = NewGoal::parse(&body.name, body.event_name.as_deref(), body.page_pattern.as_deref()).map_err(invalid)?;
    if goals::list(state.store.as_ref(), &site.domain).await?.len() >= goals::MAX_GOALS {
        return Err(ApiError::Conflict {
            message: format!("a site has at most {} goals", goals::MAX_GOALS),
            field: None,
        });
    }
    let goal = goals::add(state.store.as_ref(), &site.domain, &new).await?;
    let detail = serde_json::to_string(&goal).unwrap_or_default();
    audit(&state, &caller, "goal_created", Some(&site.domain), &detail).await;
    Ok(HttpResponse::Created().json(goal))
}

async fn remove(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (site_raw, id_raw) = path.into_inner();
    let site = readable_site(&state, &caller, &site_raw, Role::Admin).await?;
    let not_found = ApiError::NotFound { what: "goal", field: "id" };
    let id = goals::parse_id(&id_raw).ok_or(not_found)?;
    if !goals::remove(state.store.as_ref(), &site.domain, id).await? {
        return Err(ApiError::NotFound { what: "goal", field: "id" });
    }
    audit(&state, &caller, "goal_deleted", Some(&site.domain), &id.to_string()).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct ConversionsAnswer {
    range: RangeView,
    #[serde(flatten)]
    current: goals::Conversions,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousConversions>,
}

#[derive(Serialize)]
struct PreviousConversions {
    range: RangeView,
    #[serde(flatten)]
    values: goals::Conversions,
}

async fn conversions(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &[])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let saved = goals::list(state.store.as_ref(), &site.domain).await?;
    let current = goals::conversions(state.store.as_ref(), &scope, &saved).await?;
    let previous = if params.compare {
        let before = range.previous();
        let values = goals::conversions(state.store.as_ref(), &scope.with_range(before), &saved).await?;
        Some(PreviousConversions { range: before.into(), values })
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(ConversionsAnswer { range: range.into(), current, previous }))
}

#[derive(Serialize)]
struct RevenueAnswer {
    range: RangeView,
    #[serde(flatten)]
    breakdown: goals::RevenueBreakdown,
}

async fn revenue(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &["by"])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let by = params.extra.iter().find(|(k, _)| k == "by").map(|(_, v)| v.as_str()).ok_or(ApiError::Invalid {
        message: "by is required: a visit-level dimension such as source or utm_campaign".into(),
        field: "by",
    })?;
    let dimension = visit_dimension(by, "by")?;
    let limit = limit(&params, 10)?;
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let breakdown = goals::revenue_by(state.store.as_ref(), &scope, &dimension, limit).await?;
    Ok(HttpResponse::Ok().json(RevenueAnswer { range: range.into(), breakdown }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdowns_and_limits_are_checked() {
        assert!(visit_dimension("utm_campaign", "by").is_ok());
        for bad in ["page", "event", "prop:plan", "nope"] {
            assert!(matches!(visit_dimension(bad, "by"), Err(ApiError::Invalid { field: "by", .. })), "{bad}");
        }
        let params = |raw: &str| StatsParams::parse(raw, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limit(&params(""), 10).ok(), Some(10));
        assert_eq!(limit(&params("limit=50"), 10).ok(), Some(50));
        for bad in ["limit=0", "limit=1001"] {
            assert!(limit(&params(bad), 10).is_err(), "{bad}");
        }
    }
}
