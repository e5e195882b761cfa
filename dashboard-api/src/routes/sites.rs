//! `/api/v1/sites`: the caller's sites, creating sites (instance administrators), a site's
//! settings (read: viewer; change: admin) and deleting it (owner).

use actix_web::{HttpResponse, web};
use larder_core::SiteDomain;
use larder_store::auth as stored;
use larder_store::sites::{self, Site};

use super::Endpoint;
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/sites", |r| r.to(list)),
        Endpoint::post("/api/v1/sites", |r| r.to(create)),
        Endpoint::get("/api/v1/sites/{site}", |r| r.to(get)),
        Endpoint::patch("/api/v1/sites/{site}", |r| r.to(update)),
        Endpoint::delete("/api/v1/sites/{site}", |r| r.to(remove)),
    ]
}

/// Parses a site named in a path or body.
pub(crate) fn parse_site(raw: &str) -> Result<SiteDomain, ApiError> {
    SiteDomain::parse(raw).map_err(|e| ApiError::Invalid { message: e.to_string(), field: "site" })
}

/// A site's settings and the caller's role on it.
#[derive(serde::Serialize)]
struct SiteView {
    site: String,
    role: Option<Role>,
    timezone: String,
    retention_days: u32,
    honour_privacy_signals: bool,
    search_params: Vec<String>,
    allowed_query_params: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl SiteView {
    fn new(site: Site, role: Option<Role>) -> Self {
        Self {
            site: site.domain.to_string(),
            role,
            timezone: site.timezone,
            retention_days: site.retention_days,
            honour_privacy_signals: site.honour_privacy_signals,
            search_params: site.search_params,
            allowed_query_params: site.allowed_query_params,
            created_at: site.created_at,
        }
    }
}

async fn list(caller: Caller, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let all = sites::list(state.store.as_ref()).await?;
    let mine: Vec<SiteView> = all
        .into_iter()
        .filter_map(|site| {
            let role = caller.role_on(&site.domain)?;
            Some(SiteView::new(site, Some(role)))
        })
        .collect();
    Ok(HttpResponse::Ok().json(mine))
}

/// Settings a request may set; absent ones are left as they are (or at their defaults).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    honour_privacy_signals: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_params: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_query_params: Option<Vec<String>>,
}

/// A new site: its domain and, optionally, settings (`deny_unknown_fields` does not work with
/// `flatten`, hence the repetition).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSite {
    site: String,
    timezone: Option<String>,
    retention_days: Option<u32>,
    honour_privacy_signals: Option<bool>,
    search_params: Option<Vec<String>>,
    allowed_query_params: Option<Vec<String>>,
}

impl NewSite {
    fn settings(self) -> SettingsPatch {
        SettingsPatch {
            timezone: self.timezone,
            retention_days: self.retention_days,
            honour_privacy_signals: self.honour_privacy_signals,
            search_params: self.search_params,
            allowed_query_params: self.allowed_query_params,
        }
    }
}

const MAX_RETENTION_DAYS: u32 = 3650;
const MAX_SEARCH_PARAMS: usize = 10;
const MAX_ALLOWED_PARAMS: usize = 50;

/// A query parameter name: 1 to 64 letters, digits, `_`, `-`, `.`, `[`, `]`.
fn check_params(field: &'static str, params: &[String], max: usize) -> Result<Vec<String>, ApiError> {
    if params.len() > max {
        return Err(ApiError::Invalid { message: format!("at most {max} parameters"), field });
    }
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        let ok = (1..=64).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
        if !ok {
            return Err(ApiError::Invalid {
                message: format!("{p:?} is not a query parameter name (1 to 64 letters, digits, _ - . [ ])"),
                field,
            });
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Applies a patch to a site's settings, checking each value.
async fn apply(state: &ApiState, site: &mut Site, patch: SettingsPatch) -> Result<(), ApiError> {
    if let Some(tz) = patch.timezone {
        if !stored::is_time_zone(state.store.as_ref(), &tz).await? {
            return Err(ApiError::Invalid { message: format!("{tz:?} is not a known time zone"), field: "timezone" });
        }
        site.timezone = tz;
    }
    if let Some(days) = patch.retention_days {
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(ApiError::Invalid {
                message: format!("retention_days must be 1 to {MAX_RETENTION_DAYS}"),
                field: "retention_days",
            });
        }
        site.retention_days = days;
    }
    if let Some(honour) = patch.honour_privacy_signals {
        site.honour_privacy_signals = honour;
    }
    if let Some(params) = patch.search_params {
        site.search_params = check_params("search_params", &params, MAX_SEARCH_PARAMS)?;
    }
    if let Some(params) = patch.allowed_query_params {
        site.allowed_query_params = check_params("allowed_query_params", &params, MAX_ALLOWED_PARAMS)?;
    }
    Ok(())
}

/// `POST /api/v1/sites`: instance administrators create a site and become its owner.
async fn create(
    caller: Caller,
    state: web::Data<ApiState>,
    body: web::Json<NewSite>,
) -> Result<HttpResponse, ApiError> {
    if !caller.is_instance_admin() {
        return Err(ApiError::Forbidden);
    }
    let body = body.into_inner();
    let domain = parse_site(&body.site)?;
    let store = state.store.as_ref();
    if sites::get(store, &domain).await?.is_some() {
        return Err(ApiError::Conflict { message: format!("{domain} is already registered"), field: Some("site") });
    }
    let mut site = Site::new(domain.clone(), state.auth.now());
    site.retention_days = state.site_defaults.retention_days;
    site.honour_privacy_signals = state.site_defaults.honour_privacy_signals;
    apply(&state, &mut site, body.settings()).await?;
    sites::add(store, &site).await?;
    state.notify_sites_changed().await;
    let email = crate::auth::Email::parse(caller.email()).map_err(|_| ApiError::Unauthenticated)?;
    crate::auth::manage::grant(&state, caller.name(), &email, &domain, Role::Owner).await?;
    crate::auth::audit(&state, &caller, "site_created", Some(&domain), "").await;
    Ok(HttpResponse::Created().json(SiteView::new(site, Some(Role::Owner))))
}

async fn load(state: &ApiState, caller: &Caller, raw: &str, role: Role) -> Result<Site, ApiError> {
    let domain = parse_site(raw)?;
    caller.require(&domain, role)?;
    sites::get(state.store.as_ref(), &domain).await?.ok_or(ApiError::NotFound { what: "site", field: "site" })
}

async fn get(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let site = load(&state, &caller, &path, Role::Viewer).await?;
    let role = caller.role_on(&site.domain);
    Ok(HttpResponse::Ok().json(SiteView::new(site, role)))
}

/// `PATCH /api/v1/sites/{site}`: admins change the settings given in the body.
async fn update(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<SettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    let mut site = load(&state, &caller, &path, Role::Admin).await?;
    let patch = body.into_inner();
    let detail = serde_json::to_string(&patch).unwrap_or_default();
    apply(&state, &mut site, patch).await?;
    sites::update(state.store.as_ref(), &site).await?;
    state.notify_sites_changed().await;
    crate::auth::audit(&state, &caller, "site_updated", Some(&site.domain), &detail).await;
    let role = caller.role_on(&site.domain);
    Ok(HttpResponse::Ok().json(SiteView::new(site, role)))
}

/// `DELETE /api/v1/sites/{site}`: owners remove a site. Everyone's roles on it go with it; its
/// events stay until retention or an explicit deletion removes them.
async fn remove(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let site = load(&state, &caller, &path, Role::Owner).await?;
    let store = state.store.as_ref();
    sites::remove(store, &site.domain).await?;
    state.notify_sites_changed().await;
    stored::remove_site_grants(store, site.domain.as_str()).await?;
    crate::auth::audit(&state, &caller, "site_deleted", Some(&site.domain), "").await;
    Ok(HttpResponse::NoContent().finish())
}
