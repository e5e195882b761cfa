//! `/api/v1/sites/{site}/users`: a site's users and their roles, managed by its owners.

use actix_web::{HttpResponse, web};
use larder_store::auth as stored;

use super::Endpoint;
use super::sites::parse_site;
use crate::auth::manage::{self, NewUser};
use crate::auth::{Caller, Email, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/sites/{site}/users", |r| r.to(list)),
        Endpoint::post("/api/v1/sites/{site}/users", |r| r.to(add)),
        Endpoint::put("/api/v1/sites/{site}/users/{email}", |r| r.to(grant)),
        Endpoint::delete("/api/v1/sites/{site}/users/{email}", |r| r.to(revoke)),
    ]
}

fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|why| ApiError::Invalid { message: format!("email {why}"), field: "email" })
}

async fn list(caller: Caller, state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&path)?;
    caller.require(&site, Role::Owner)?;
    let grants = stored::grants_on_site(state.store.as_ref(), site.as_str()).await?;
    let users: Vec<serde_json::Value> = grants
        .iter()
        .filter_map(|g| Some(serde_json::json!({ "email": g.email, "role": Role::parse(&g.role)? })))
        .collect();
    Ok(HttpResponse::Ok().json(users))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUser {
    email: String,
    role: Role,
    /// For a new account; absent: one is generated and returned once.
    password: Option<String>,
}

/// `POST /api/v1/sites/{site}/users`: gives someone a role on the site, creating their account
/// if they have none (with the given password, or a generated one returned once). An existing
/// account's password is never changed here.
async fn add(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<AddUser>,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&path)?;
    caller.require(&site, Role::Owner)?;
    let body = body.into_inner();
    let email = parse_email(&body.email)?;
    let new = NewUser {
        email: email.clone(),
        password: body.password,
        grant: Some((site, body.role)),
        instance_admin: false,
    };
    let added = manage::add_user(&state, caller.name(), new).await?;
    let answer = serde_json::json!({
        "email": email,
        "role": body.role,
        "created": added.created,
        "password": added.generated_password,
    });
    Ok(if added.created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(answer))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: Role,
}

/// `PUT /api/v1/sites/{site}/users/{email}`: gives an existing user a role on the site.
async fn grant(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let (site, email) = path.into_inner();
    let site = parse_site(&site)?;
    caller.require(&site, Role::Owner)?;
    let email = parse_email(&email)?;
    manage::grant(&state, caller.name(), &email, &site, body.role).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "email": email, "role": body.role })))
}

/// `DELETE /api/v1/sites/{site}/users/{email}`: takes a user's role on the site away.
async fn revoke(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (site, email) = path.into_inner();
    let site = parse_site(&site)?;
    caller.require(&site, Role::Owner)?;
    let email = parse_email(&email)?;
    manage::revoke(&state, caller.name(), &email, &site).await?;
    Ok(HttpResponse::NoContent().finish())
}
