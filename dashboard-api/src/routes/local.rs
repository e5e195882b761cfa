//! `/api/local/…`: the operator's control channel (see [`crate::local`]).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use larder_core::SiteDomain;
use larder_store::analyst;
use larder_store::{migrate, sites};

use super::Endpoint;
use crate::auth::manage::{self, NewToken, NewUser};
use crate::auth::{Email, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/api/local/sql", |r| r.to(sql)),
        Endpoint::get("/api/local/sites", |r| r.to(list_sites)),
        Endpoint::post("/api/local/sites", |r| r.to(add_site)),
        Endpoint::delete("/api/local/sites/{domain}", |r| r.to(remove_site)),
        Endpoint::post("/api/local/migrate", |r| r.to(run_migrations)),
        Endpoint::get("/api/local/users", |r| r.to(list_users)),
        Endpoint::post("/api/local/users", |r| r.to(add_user)),
        Endpoint::put("/api/local/users/{email}/sites/{site}", |r| r.to(grant_role)),
        Endpoint::delete("/api/local/users/{email}/sites/{site}", |r| r.to(revoke_role)),
        Endpoint::post("/api/local/users/{email}/password", |r| r.to(reset_password)),
        Endpoint::get("/api/local/tokens", |r| r.to(list_tokens)),
        Endpoint::post("/api/local/tokens", |r| r.to(create_token)),
        Endpoint::delete("/api/local/tokens/{id}", |r| r.to(revoke_token)),
        Endpoint::post("/api/local/sites/{domain}/deletions", |r| r.to(delete_events)),
        Endpoint::post("/api/local/retention", |r| r.to(apply_retention)),
        Endpoint::get("/api/local/datamap", |r| r.to(data_map)),
        Endpoint::get("/api/local/backup", |r| r.to(backup_source)),
        Endpoint::get("/api/local/backup/tables/{table}/chunks", |r| r.to(backup_chunks)),
        Endpoint::get("/api/local/backup/tables/{table}/chunks/{id}", |r| r.to(backup_chunk)),
    ]
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

/// `larder sql` through a running server. `site` is what older CLIs send; `sites` may name
/// several. Same validator, scoping and limits as `POST /api/v1/sql`; audited as the operator.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    sites: Vec<String>,
    query: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    max_rows: Option<u64>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

async fn sql(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<SqlRequest>,
) -> Result<HttpResponse, ApiError> {
    let format = super::sql::parse_format(body.format.as_deref())?;
    let mut sites = Vec::new();
    for raw in body.site.iter().chain(&body.sites) {
        let site = parse_site(raw)?;
        if sites::get(state.store.as_ref(), &site).await?.is_none() {
            return Err(ApiError::NotFound { what: "site", field: "site" });
        }
        sites.push(site);
    }
    let scope = analyst::Scope::new(sites)
        .map_err(|_| ApiError::Invalid { message: "name at least one site".into(), field: "site" })?;
    let names: Vec<&str> = scope.sites().iter().map(SiteDomain::as_str).collect();
    crate::auth::record_many(&state, manage::OPERATOR, "sql", &names, &body.query).await;
    // The operator may raise the limits: they hold the data directory anyway.
    let defaults = analyst::Limits::default();
    let limits = analyst::Limits {
        max_result_rows: body.max_rows.unwrap_or(defaults.max_result_rows),
        max_execution_secs: body.timeout_secs.unwrap_or(defaults.max_execution_secs),
        ..defaults
    };
    let output = analyst::stream(state.store.as_ref(), &scope, &body.query, format, &limits)
        .await
        .map_err(super::sql::export_error)?;
    Ok(super::sql::export_response(output))
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
    // The configured defaults (`[privacy]`), as `larder sites add` gives them without a server.
    let mut site = sites::Site::new(domain, state.auth.now());
    site.retention_days = state.site_defaults.retention_days;
    site.honour_privacy_signals = state.site_defaults.honour_privacy_signals;
    let store = state.store.as_ref();
    let created = sites::add(store, &site).await? == sites::AddOutcome::Created;
    state.notify_sites_changed().await;
    // A site registered already is left as it is: the answer shows its settings.
    let site = if created { site } else { sites::get(store, &site.domain).await?.unwrap_or(site) };
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
        state.notify_sites_changed().await;
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

// Users and tokens, for `larder users …` and `larder tokens …` (see `crate::auth::manage`).

fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|why| ApiError::Invalid { message: format!("email {why}"), field: "email" })
}

async fn list_users(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(manage::list_users(&state).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUser {
    email: String,
    password: Option<String>,
    site: Option<String>,
    role: Option<Role>,
    #[serde(default)]
    admin: bool,
}

async fn add_user(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<AddUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let grant = match (body.site, body.role) {
        (Some(site), Some(role)) => Some((parse_site(&site)?, role)),
        (None, None) => None,
        _ => return Err(ApiError::Invalid { message: "give both site and role, or neither".into(), field: "role" }),
    };
    let new = NewUser { email: parse_email(&body.email)?, password: body.password, grant, instance_admin: body.admin };
    let added = manage::add_user(&state, manage::OPERATOR, new).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "created": added.created, "password": added.generated_password })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

async fn grant_role(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let (email, site) = path.into_inner();
    manage::grant(&state, manage::OPERATOR, &parse_email(&email)?, &parse_site(&site)?, body.role).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke_role(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (email, site) = path.into_inner();
    manage::revoke(&state, manage::OPERATOR, &parse_email(&email)?, &parse_site(&site)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: Option<String>,
}

async fn reset_password(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let email = parse_email(&path)?;
    let generated = manage::reset_password(&state, manage::OPERATOR, &email, body.into_inner().password).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "password": generated })))
}

async fn list_tokens(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(manage::list_tokens(&state).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    email: String,
    sites: Vec<String>,
    role: Role,
    expires_days: Option<u32>,
    #[serde(default)]
    description: String,
}

async fn create_token(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let sites = body.sites.iter().map(|s| parse_site(s)).collect::<Result<Vec<_>, _>>()?;
    let new = NewToken {
        email: parse_email(&body.email)?,
        sites,
        role: body.role,
        expires_days: body.expires_days,
        description: body.description,
    };
    Ok(HttpResponse::Created().json(manage::create_token(&state, manage::OPERATOR, new).await?))
}

async fn revoke_token(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    manage::revoke_token(&state, manage::OPERATOR, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

// Data protection, for `larder delete`, `larder retention apply` and `larder datamap`.

/// `larder delete`: as `POST /api/v1/sites/{site}/deletions`, audited as the operator.
async fn delete_events(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<crate::deletion::DeletionRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&path)?;
    Ok(HttpResponse::Ok().json(crate::deletion::run(&state, manage::OPERATOR, &site, &body).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    site: Option<String>,
}

/// `larder retention apply`: every site's retention now (or one site's), as the daily run does.
async fn apply_retention(
    _: LocalOperator,
    state: web::Data<ApiState>,
    body: web::Json<RetentionBody>,
) -> Result<HttpResponse, ApiError> {
    let only = body.site.as_deref().map(parse_site).transpose()?;
    let run = crate::deletion::apply_retention(&state, manage::OPERATOR, state.auth.now(), only.as_ref()).await?;
    Ok(HttpResponse::Ok().json(run))
}

/// `larder datamap`: the data map of the store this server holds.
async fn data_map(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(larder_store::datamap::build(state.store.as_ref()).await?))
}

// Backup, for `larder backup` while this server holds the embedded store: the CLI reads the
// tables through these and seals and writes the files itself, so the key never reaches the
// server.

fn backup_error(error: larder_store::backup::BackupError) -> ApiError {
    use larder_store::backup::BackupError;
    match error {
        BackupError::Store(e) => e.into(),
        BackupError::BadTableName { .. } => ApiError::NotFound { what: "table", field: "table" },
        BackupError::BadChunk { .. } => ApiError::NotFound { what: "chunk", field: "id" },
        other => ApiError::Unexpected(Box::new(other)),
    }
}

/// `larder backup`: the engine, the schema migrations and the tables a backup copies.
async fn backup_source(_: LocalOperator, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let info = larder_store::backup::describe(state.store.as_ref()).await.map_err(backup_error)?;
    Ok(HttpResponse::Ok().json(info))
}

/// `larder backup`: a table's chunks (by partition), each with its row count and checksum.
async fn backup_chunks(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let chunks = larder_store::backup::chunks(state.store.as_ref(), &path).await.map_err(backup_error)?;
    Ok(HttpResponse::Ok().json(chunks))
}

/// `larder backup`: one chunk's rows in ClickHouse's `Native` format.
async fn backup_chunk(
    _: LocalOperator,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (table, id) = path.into_inner();
    let data = larder_store::backup::read_chunk(state.store.as_ref(), &table, &id).await.map_err(backup_error)?;
    Ok(HttpResponse::Ok().content_type("application/octet-stream").body(data))
}
