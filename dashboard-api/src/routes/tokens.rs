//! `/api/v1/tokens`: API tokens.
//!
//! A user creates tokens for themselves, on sites where they have at least the token's role,
//! from a login session (a token cannot create tokens: revoking a leaked one must be enough).
//! A caller sees and may revoke their own tokens and every token naming a site they administer.

use actix_web::{HttpResponse, web};
use larder_core::SiteDomain;

use super::Endpoint;
use super::sites::parse_site;
use crate::auth::manage::{self, NewToken, TokenView};
use crate::auth::{Caller, Email, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/tokens", |r| r.to(list)),
        Endpoint::post("/api/v1/tokens", |r| r.to(create)),
        Endpoint::delete("/api/v1/tokens/{id}", |r| r.to(revoke)),
    ]
}

/// Whether `caller` may see and revoke `token`.
fn manages(caller: &Caller, token: &TokenView) -> bool {
    token.email == caller.email()
        || token
            .sites
            .iter()
            .filter_map(|s| SiteDomain::parse(s).ok())
            .any(|s| caller.role_on(&s).is_some_and(|r| r >= Role::Admin))
}

async fn list(caller: Caller, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let tokens: Vec<TokenView> =
        manage::list_tokens(&state).await?.into_iter().filter(|t| manages(&caller, t)).collect();
    Ok(HttpResponse::Ok().json(tokens))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    sites: Vec<String>,
    role: Role,
    expires_days: Option<u32>,
    #[serde(default)]
    description: String,
}

/// `POST /api/v1/tokens`: the answer holds the token's secret, shown this once.
async fn create(
    caller: Caller,
    state: web::Data<ApiState>,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    if caller.token_id().is_some() {
        return Err(ApiError::Forbidden);
    }
    let body = body.into_inner();
    let sites = body.sites.iter().map(|s| parse_site(s)).collect::<Result<Vec<_>, _>>()?;
    for site in &sites {
        caller.require(site, body.role)?;
    }
    let email = Email::parse(caller.email()).map_err(|_| ApiError::Unauthenticated)?;
    let new =
        NewToken { email, sites, role: body.role, expires_days: body.expires_days, description: body.description };
    let created = manage::create_token(&state, caller.name(), new).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn revoke(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let visible = manage::get_token(&state, &path).await?.filter(|t| manages(&caller, t));
    if visible.is_none() {
        return Err(ApiError::NotFound { what: "token", field: "id" });
    }
    manage::revoke_token(&state, caller.name(), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
