//! `GET /api/v1/sites/{site}/ux` (viewer): UX signals per page over the stats parameters
//! (`period`, `filter`; a `page` filter also restricts the rows to its pages), with `sections`
//! (comma-separated: `frustrated_clicks`, `pages`, `web_vitals`, `errors`; all by default) and
//! `limit` (rows per list, default 10).
//!
//! Definitions: `larder_store::ux`.

use actix_web::{HttpRequest, HttpResponse, web};
use larder_store::stats::Scope;
use larder_store::ux::{self, UxReport, UxSection};
use serde::Serialize;

use super::Endpoint;
use super::goals::{RangeView, limit};
use super::search::{extra, sections};
use super::stats::{StatsParams, readable_site};
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::get("/api/v1/sites/{site}/ux", |r| r.to(report))]
}

#[derive(Serialize)]
struct Answer {
    range: RangeView,
    #[serde(flatten)]
    report: UxReport,
}

async fn report(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = StatsParams::parse(req.query_string(), &["sections"])?;
    let site = readable_site(&state, &caller, &path, Role::Viewer).await?;
    let chosen = sections(extra(&params, "sections"), &UxSection::ALL, UxSection::parse)?;
    let limit = limit(&params, 10)?;
    let range = params.range(&state, &site).await?;
    let scope = Scope { site: &site.domain, timezone: &site.timezone, range, filters: &params.filters };
    let report = ux::report(state.store.as_ref(), &scope, &chosen, limit).await?;
    Ok(HttpResponse::Ok().json(Answer { range: range.into(), report }))
}
