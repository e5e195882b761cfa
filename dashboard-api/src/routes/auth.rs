//! `/api/v1/login`, `/api/v1/logout`, `/api/v1/me`: dashboard sessions.
//!
//! `GET /api/v1/login` (no credentials needed) answers the login policy — how many failures lock
//! an account or a source out, within which window, for how long, and the shortest password —
//! so that the login page can state it. It says nothing about any account.
//!
//! A login answers the same `401 invalid_credentials` for an unknown account, a wrong password
//! and a lock-out, and takes the same time for each (an unknown account is checked against a
//! dummy hash; a locked-out attempt is still verified).

use actix_web::{HttpRequest, HttpResponse, web};
use larder_store::auth::{self as stored, LoginSession};

use super::Endpoint;
use crate::auth::manage::{self, SiteRole};
use crate::auth::{Caller, Email, PasswordCost, Role, lockout, password, session};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post("/api/v1/login", |r| r.to(login)),
        Endpoint::get("/api/v1/login", |r| r.to(policy)),
        Endpoint::post("/api/v1/logout", |r| r.to(logout)),
        Endpoint::get("/api/v1/me", |r| r.to(me)),
        Endpoint::put("/api/v1/me/password", |r| r.to(change_password)),
    ]
}

/// `GET /api/v1/login`: the login policy, the same for everyone.
async fn policy(state: web::Data<ApiState>) -> HttpResponse {
    let config = &state.auth.config;
    HttpResponse::Ok().json(serde_json::json!({
        "max_failed_logins": config.max_failed_logins,
        "failed_login_window_secs": config.failed_login_window.as_secs(),
        "lockout_secs": config.lockout.as_secs(),
        "min_password_chars": password::MIN_PASSWORD_CHARS,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

/// Why a login failed, for the audit log only (the client always hears the same).
fn failure_reason(locked: bool, known: bool) -> &'static str {
    match (locked, known) {
        (true, _) => "locked out",
        (false, true) => "wrong password",
        (false, false) => "unknown account",
    }
}

#[tracing::instrument(skip_all)]
async fn login(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.as_ref();
    let email = Email::parse(&body.email).ok();
    // An address that does not parse still counts against itself (bounded), and is refused.
    let account = email.as_ref().map_or_else(|| bounded_lowercase(&body.email), |e| e.as_str().to_owned());
    let ip = session::client_addr(req.peer_addr(), req.headers(), &state.auth.config.trusted_proxies);
    let subjects = lockout::subjects(&state, &account, ip).await?;
    let locked = lockout::is_locked(&state, &subjects).await?;
    let user = match &email {
        Some(email) => stored::get_user(store, email.as_str()).await?,
        None => None,
    };
    let hash = match &user {
        Some(user) => user.password_hash.clone(),
        None => dummy_hash(&state).await?,
    };
    let matches =
        body.password.len() <= password::MAX_PASSWORD_BYTES && password::verify(&body.password, &hash).await?;
    let known = user.is_some();
    let sites = stored::grants_of_user(store, &account).await?;
    let site_names: Vec<&str> = sites.iter().map(|g| g.site.as_str()).collect();
    let (Some(user), true, false) = (user, matches, locked) else {
        if !locked {
            lockout::record(&state, &subjects, false).await?;
        }
        crate::auth::record_many(&state, &account, "login_failed", &site_names, failure_reason(locked, known)).await;
        return Err(ApiError::InvalidCredentials);
    };
    lockout::record(&state, &subjects, true).await?;
    let (cookie, csrf) = start_session(&state, &req, &user.email).await?;
    crate::auth::record_many(&state, &user.email, "login", &site_names, "").await;
    let is_admin = stored::is_instance_admin(store, &user.email).await?;
    let body = serde_json::json!({
        "email": user.email,
        "csrf_token": csrf,
        "is_admin": is_admin,
        "sites": site_roles(&sites),
    });
    Ok(HttpResponse::Ok().insert_header(("set-cookie", cookie)).json(body))
}

/// Stores a new session for `email`; returns its `Set-Cookie` value and CSRF token.
async fn start_session(state: &ApiState, req: &HttpRequest, email: &str) -> Result<(String, String), ApiError> {
    let secret = session::SessionSecret::generate();
    let now = state.auth.now();
    let ttl = chrono::Duration::from_std(state.auth.config.session_ttl).unwrap_or_default();
    let stored_session = LoginSession {
        session_hash: secret.hash(),
        email: email.to_owned(),
        created_at: now,
        expires_at: now + ttl,
        revoked: false,
    };
    stored::put_session(state.store.as_ref(), &stored_session).await?;
    let secure = state.auth.config.secure_cookies || session::forwarded_https(req.headers());
    let cookie = session::set_cookie(&secret.cookie_value(), state.auth.config.session_ttl.as_secs(), secure);
    Ok((cookie, secret.csrf_token().as_str().to_owned()))
}

fn bounded_lowercase(raw: &str) -> String {
    raw.trim().to_lowercase().chars().take(254).collect()
}

fn site_roles(grants: &[stored::Grant]) -> Vec<SiteRole> {
    grants.iter().filter_map(|g| Some(SiteRole { site: g.site.clone(), role: Role::parse(&g.role)? })).collect()
}

/// The hash unknown accounts are checked against, so that they take as long as known ones.
async fn dummy_hash(state: &ApiState) -> Result<String, ApiError> {
    if let Some(hash) = state.auth.dummy_hash.get() {
        return Ok(hash.clone());
    }
    let cost: PasswordCost = state.auth.config.password_cost;
    let hash = password::hash(&session::SessionSecret::generate().cookie_value(), cost).await?;
    Ok(state.auth.dummy_hash.get_or_init(|| hash).clone())
}

async fn logout(req: HttpRequest, caller: Caller, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let Some(hash) = caller.session_hash() else {
        return Err(ApiError::BadRequest {
            message: "an API token has no session to end; revoke it with DELETE /api/v1/tokens/{id}".into(),
            field: None,
        });
    };
    let store = state.store.as_ref();
    if let Some(found) = stored::session_by_hash(store, hash).await? {
        stored::put_session(store, &LoginSession { revoked: true, ..found }).await?;
    }
    crate::auth::record(&state, caller.name(), "logout", None, "").await;
    let secure = state.auth.config.secure_cookies || session::forwarded_https(req.headers());
    Ok(HttpResponse::NoContent().insert_header(("set-cookie", session::set_cookie("", 0, secure))).finish())
}

async fn me(caller: Caller) -> HttpResponse {
    let sites: Vec<SiteRole> =
        caller.sites().map(|(site, role)| SiteRole { site: site.as_str().to_owned(), role }).collect();
    HttpResponse::Ok().json(serde_json::json!({
        "email": caller.email(),
        "token_id": caller.token_id(),
        "csrf_token": caller.csrf_token(),
        "is_admin": caller.is_instance_admin(),
        "sites": sites,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `PUT /api/v1/me/password`: a user changes their own password. Every session of theirs ends;
/// the answer carries a new one. A wrong current password counts toward the lock-out.
async fn change_password(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<ApiState>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    if caller.token_id().is_some() {
        return Err(ApiError::Forbidden);
    }
    let store = state.store.as_ref();
    let email = Email::parse(caller.email()).map_err(|_| ApiError::Unauthenticated)?;
    let user = stored::get_user(store, email.as_str()).await?.ok_or(ApiError::Unauthenticated)?;
    let ip = session::client_addr(req.peer_addr(), req.headers(), &state.auth.config.trusted_proxies);
    let subjects = lockout::subjects(&state, email.as_str(), ip).await?;
    let locked = lockout::is_locked(&state, &subjects).await?;
    let matches = password::verify(&body.current_password, &user.password_hash).await?;
    if locked || !matches {
        if !locked {
            lockout::record(&state, &subjects, false).await?;
        }
        return Err(ApiError::Invalid { message: "the current password is wrong".into(), field: "current_password" });
    }
    manage::reset_password(&state, caller.name(), &email, Some(body.new_password.clone())).await?;
    let (cookie, csrf) = start_session(&state, &req, email.as_str()).await?;
    Ok(HttpResponse::Ok().insert_header(("set-cookie", cookie)).json(serde_json::json!({ "csrf_token": csrf })))
}
