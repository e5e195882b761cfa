//! `/api/local/…`: the operator's control channel (see [`crate::local`]).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use larder_core::SiteDomain;
use larder_store::analyst::{self, ExportFormat};
use larder_store::{StoreError, migrate, sites};

use crate::{ApiError, ApiState};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/local")
            .route("/sql", web::post().to(sql))
            .route("/sites", web::get().to(list_sites))
            .route("/sites", web::post().to(add_site))
            .route("/sites/{domain}", web::delete().to(remove_site))
            .route("/migrate", web::post().to(run_migrations)),
    );
}

/// Proof that the request carries the local channel's token.
struct LocalOperator;

impl FromRequest for LocalOperator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.app_data::<web::Data<ApiState>>().and_then(|s| s.local_token.clone());
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        std::future::ready(match (token, presented) {
            (Some(token), Some(presented)) if token.verify(presented) => Ok(Self),
            _ => Err(ApiError::Unauthenticated),
        })
    }
}

fn parse_site(raw: &str) -> Result<SiteDomain, ApiError> {
    SiteDomain::parse(raw).map_err(|e| ApiError::Invalid { message: e.to_string(), field: "site" })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    site: String,
    query: String,
    #[serde(default = "default_format")]
    format: String,
}

fn default_format() -> String {
    "csv".into()
}

async fn sql(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<SqlRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&body.site)?;
    let format = ExportFormat::parse(&body.format)
        .ok_or(ApiError::Invalid { message: "format must be csv, tsv or jsonl".into(), field: "format" })?;
    if sites::get(state.store.as_ref(), &site).await?.is_none() {
        return Err(ApiError::NotFound { what: "site", field: "site" });
    }
    match analyst::run(state.store.as_ref(), &site, &body.query, format).await {
        Ok(out) => Ok(HttpResponse::Ok().content_type(format.content_type()).body(out)),
        Err(StoreError::Rejected { message, .. }) => Err(ApiError::QueryRejected(message)),
        Err(StoreError::Invalid(message)) => Err(ApiError::Invalid { message, field: "query" }),
        Err(other) => Err(other.into()),
    }
}

#[derive(serde::Serialize)]
struct SiteView {
    domain: String,
    timezone: String,
    retention_days: u32,
    honour_privacy_signals: bool,
    search_params: Vec<String>,
}

impl From<&sites::Site> for SiteView {
    fn from(s: &sites::Site) -> Self {
        Self {
            domain: s.domain.to_string(),
            timezone: s.timezone.clone(),
            retention_days: s.retention_days,
            honour_privacy_signals: s.honour_privacy_signals,
            search_params: s.search_params.clone(),
        }
    }
}

async fn list_sites(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let all = sites::list(state.store.as_ref()).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(SiteView::from).collect::<Vec<_>>()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddSite {
    domain: String,
}

async fn add_site(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<AddSite>,
) -> Result<HttpResponse, ApiError> {
    let domain = parse_site(&body.domain)?;
    let site = sites::Site::new(domain, chrono::Utc::now());
    let outcome = sites::add(state.store.as_ref(), &site).await?;
    let created = outcome == sites::AddOutcome::Created;
    let status = if created { actix_web::http::StatusCode::CREATED } else { actix_web::http::StatusCode::OK };
    Ok(HttpResponse::build(status).json(serde_json::json!({ "created": created, "site": SiteView::from(&site) })))
}

async fn remove_site(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let domain = parse_site(&path)?;
    if sites::remove(state.store.as_ref(), &domain).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound { what: "site", field: "site" })
    }
}

async fn run_migrations(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let report = migrate::migrate(state.store.as_ref()).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "applied": report.applied, "already_applied": report.already_applied })))
}
