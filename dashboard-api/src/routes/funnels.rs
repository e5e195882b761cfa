//! Funnels:
//! - `POST /api/v1/sites/{site}/funnels/evaluate` (viewer): evaluates the definition in the body
//!   (`{"steps": [{"page": "/p/*"} | {"event": "add_to_cart", "props": {"k": "v"}}, …],
//!   "window_seconds": 86400, "order": "strict" | "any"}`) over the stats parameters
//!   (`period`, `filter`) and an optional `breakdown=<visit-level dimension>`;
//! - `GET /api/v1/sites/{site}/funnels` (viewer), `POST` (admin, audited: the definition and a
//!   `name`): saved funnels;
//! - `GET` (viewer) and `DELETE` (admin, audited) `/api/v1/sites/{site}/funnels/{id}`;
//! - `GET /api/v1/sites/{site}/funnels/{id}/result` (viewer): a saved funnel evaluated as above.
//!
//! Definitions are checked strictly; errors name the field (`steps[2].page`). Definitions of
//! the numbers: `larder_store::funnels`.

use actix_web::{HttpRequest, HttpResponse, web};
use larder_store::funnels::{self, FunnelDefinition, FunnelInput, FunnelResult, SavedFunnel};
use larder_store::goals;
use larder_store::stats::Scope;
use serde::Serialize;

use super::Endpoint;
use super::goals::{RangeView, visit_dimension};
use super::stats::{StatsParams, invalid, readable_site};
use crate::auth::{Caller, Role, audit};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    // `evaluate` before `{id}`: the first path that matches takes the request.
    vec![
        Endpoint::post("/api/v1/sites/{site}/funnels/evaluate", |r| r.to(evaluate)),
        Endpoint::get("/api/v1/sites/{site}/funnels", |r| r.to(list)),
        Endpoint::post("/api/v1/sites/{site}/funnels", |r| r.to(save)),
        Endpoint::get("/api/v1/sites/{site}/funnels/{id}", |r| r.to(get)),
        Endpoint::delete("/api/v1/sites/{site}/funnels/{id}", |r| r.to(remove)),
        Endpoint::get("/api/v1/sites/{site}/funnels/{id}/result", |r| r.to(result)),
    ]
}

#[derive(Serialize)]
struct ResultAnswer<'a> {
    range: RangeView,
    #[serde(skip_serializing_if = "Option::is_none")]
    funnel: Option<&'a SavedFunnel>,
    definition: &'a FunnelDefinition,
    result: FunnelResult,
}

/// Evaluates `definition` with the request's stats parameters and breakdown.
async fn answer(
    req: &HttpRequest,
    state: &ApiState,
    site: &larder_store::sites::Site,
    definition: &FunnelDefinition,
    funnel: Option<&SavedFunnel>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &["breakdown"])?;
    let breakdown = match params.extra.iter().find(|(k, _)| k == "breakdown") {
        Some((_, raw)) => Some(visit_dimension(raw, "breakdown")?),
        None => None,
    };
    let range = params.range(state, site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let result = funnels::evaluate(state.store.as_ref(), &scope, definition, breakdown.as_ref()).await?;
    Ok(HttpResponse::Ok().json(ResultAnswer { range: range.into(), funnel, definition, result }))
}

async fn evaluate(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<FunnelInput>,
) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let definition = FunnelDefinition::parse(&body).map_err(invalid)?;
    answer(&req, &state, &site, &definition, None).await
}

async fn list(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let saved = funnels::list(state.store.as_ref(), &site.domain).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "funnels": saved })))
}

async fn save(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<FunnelInput>,
) -> Result<HttpResponse, ApiError> {
    let site = readable_site(&state, &caller, &path, Role::Admin).await?;
    let (name, definition) = FunnelDefinition::parse_named(&body).map_err(invalid)?;
    if funnels::list(state.store.as_ref(), &site.domain).await?.len() >= funnels::MAX_FUNNELS {
        return Err(ApiError::Conflict {
            message: format!("a site has at most {} saved funnels", funnels::MAX_FUNNELS),
            field: None,
        });
    }
    let saved = funnels::save(state.store.as_ref(), &site.domain, &name, &definition, caller.name()).await?;
    let detail = serde_json::to_string(&saved).unwrap_or_default();
    audit(&state, &caller, "funnel_created", Some(&site.domain), &detail).await;
    Ok(HttpResponse::Created().json(saved))
}

/// The saved funnel named in the path, on a site the caller may read at `role`.
async fn saved(
    state: &ApiState,
    caller: &Caller,
    path: (String, String),
    role: Role,
) -> Result<(larder_store::sites::Site, SavedFunnel), ApiError> {
    let (site_raw, id_raw) = path;
    let site = readable_site(state, caller, &site_raw, role).await?;
    let not_found = || ApiError::NotFound { what: "funnel", field: "id" };
    let id = goals::parse_id(&id_raw).ok_or_else(not_found)?;
    let funnel = funnels::get(state.store.as_ref(), &site.domain, id).await?.ok_or_else(not_found)?;
    Ok((site, funnel))
}

async fn get(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, funnel) = saved(&state, &caller, path.into_inner(), Role::Viewer).await?;
    Ok(HttpResponse::Ok().json(funnel))
}

async fn remove(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (site, funnel) = saved(&state, &caller, path.into_inner(), Role::Admin).await?;
    funnels::remove(state.store.as_ref(), &site.domain, funnel.id).await?;
    audit(&state, &caller, "funnel_deleted", Some(&site.domain), &format!("{} {}", funnel.id, funnel.name)).await;
    Ok(HttpResponse::NoContent().finish())
}

async fn result(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (site, funnel) = saved(&state, &caller, path.into_inner(), Role::Viewer).await?;
    answer(&req, &state, &site, &funnel.definition, Some(&funnel)).await
}
