//! `/api/v1/sites/{site}/audit` (owners) and `/api/v1/audit` (instance administrators): the
//! audit log, newest first, a page at a time.

use actix_web::{HttpResponse, web};
use larder_store::auth as stored;

use super::Endpoint;
use super::sites::parse_site;
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/sites/{site}/audit", |r| r.to(site_log)),
        Endpoint::get("/api/v1/audit", |r| r.to(full_log)),
    ]
}

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn page(state: &ApiState, site: Option<&str>, page: &Page) -> Result<HttpResponse, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Invalid { message: format!("limit must be 1 to {MAX_LIMIT}"), field: "limit" });
    }
    let offset = page.offset.unwrap_or(0);
    // One more than asked tells whether there is a next page.
    let mut entries = stored::audit_page(state.store.as_ref(), site, offset, limit + 1).await?;
    let next_offset = (entries.len() as u64 > limit).then_some(offset + limit);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(HttpResponse::Ok().json(serde_json::json!({ "entries": entries, "next_offset": next_offset })))
}

async fn site_log(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&path)?;
    caller.require(&site, Role::Owner)?;
    page(&state, Some(site.as_str()), &query).await
}

async fn full_log(
    caller: Caller,
    state: web::Data<ApiState>,
    query: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    if !caller.is_instance_admin() {
        return Err(ApiError::Forbidden);
    }
    page(&state, None, &query).await
}
