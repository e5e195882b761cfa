//! Access control: who is calling, what they may do on which site, and the audit log.
//!
//! A caller is a dashboard user with a session cookie (from `POST /api/v1/login`) or an API
//! token (`Authorization: Bearer lrd_…`). Handlers take a [`Caller`] argument — extracting it
//! authenticates the request, and checks the CSRF header of cookie-authenticated writes — and
//! call [`Caller::require`] with the site and the least role the endpoint needs.
//!
//! Roles are per site, ordered `viewer < analyst < admin < owner`:
//! - viewer: reads aggregates (overview, breakdowns, funnels, search, UX);
//! - analyst: also raw events and SQL export;
//! - admin: also the site's settings, goals, funnels and API tokens;
//! - owner: also the site's users and roles, its audit log, and deleting it.
//!
//! Instance administrators (a flag set by the CLI) may create sites. An API token acts for its
//! user on the sites it names with at most its role — and never more than the user has now, so
//! taking a user's role away also takes it from their tokens.
//!
//! Secrets are kept only as hashes: passwords as argon2id, session cookies and API tokens
//! (32 random bytes each) as blake3. Nothing here depends on the analytics routes.

mod email;
pub(crate) mod lockout;
pub mod manage;
pub(crate) mod password;
pub(crate) mod session;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_store::auth as stored;

use crate::{ApiError, ApiState};

pub use email::Email;
pub use password::PasswordCost;

/// A role on a site. Ordered: `Viewer < Analyst < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Analyst, Self::Admin, Self::Owner];

    /// The role's name as stored and shown: `viewer`, `analyst`, `admin`, `owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Analyst => "analyst",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Parses a role name (as [`Role::as_str`] gives it).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time, passed in so that tests can move it (lock-out cool-downs, expiries).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How access control behaves; `[auth]` in the configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A login session lasts this long.
    pub session_ttl: Duration,
    /// Whether the session cookie is marked `Secure` (sent over https only). It is marked anyway
    /// when a proxy says the request came over https (`X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Failed logins of one account, or from one source, that trigger a lock-out…
    pub max_failed_logins: u32,
    /// …when they happen within this window…
    pub failed_login_window: Duration,
    /// …which then lasts this long after the last of them.
    pub lockout: Duration,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers give the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The argon2id cost of new password hashes.
    pub password_cost: PasswordCost,
    pub clock: Arc<dyn Clock>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_cookies: true,
            max_failed_logins: 5,
            failed_login_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
            password_cost: PasswordCost::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Access control's configuration and the little state it keeps in memory (a cache of the
/// day's lock-out key, the hash that unknown accounts are checked against).
#[derive(Debug)]
pub struct Auth {
    pub config: AuthConfig,
    pub(crate) login_keys: Mutex<Option<lockout::CachedKeys>>,
    pub(crate) dummy_hash: OnceLock<String>,
}

impl Auth {
    pub fn new(config: AuthConfig) -> Self {
        Self { config, login_keys: Mutex::new(None), dummy_hash: OnceLock::new() }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::new(AuthConfig::default())
    }
}

/// The authenticated caller of a request (session cookie or API token).
///
/// Extracting it answers 401 `unauthenticated` when the request carries neither valid
/// credential, and 403 `csrf` for a cookie-authenticated POST, PUT, PATCH or DELETE without
/// the session's `X-CSRF-Token` header. API-token requests need no CSRF header: browsers never
/// add an `Authorization` header by themselves.
#[derive(Debug, Clone)]
pub struct Caller {
    email: String,
    /// Set when the caller is an API token.
    token_id: Option<String>,
    /// How the audit log names the caller.
    name: String,
    roles: BTreeMap<SiteDomain, Role>,
    is_instance_admin: bool,
    /// The CSRF token of the caller's session (cookie callers only).
    csrf: Option<session::CsrfToken>,
    /// The hash of the session's secret (cookie callers only), for logout.
    session_hash: Option<String>,
}

impl Caller {
    /// How the audit log names the caller: the user's email, or for an API token
    /// `email (token ID)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user (for a token, the user it acts for).
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The id of the API token the request used, if it used one.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// The caller's role on `site`, if any.
    pub fn role_on(&self, site: &SiteDomain) -> Option<Role> {
        self.roles.get(site).copied()
    }

    /// Ok if the caller has at least `role` on `site`.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] (404 `not_found`, field `site`) when the caller has no role on
    /// the site at all — whether it exists is not revealed; [`ApiError::Forbidden`] (403
    /// `forbidden`) when their role is lower than `role`.
    pub fn require(&self, site: &SiteDomain, role: Role) -> Result<(), ApiError> {
        match self.role_on(site) {
            None => Err(ApiError::NotFound { what: "site", field: "site" }),
            Some(have) if have < role => Err(ApiError::Forbidden),
            Some(_) => Ok(()),
        }
    }

    /// Every site the caller has a role on, with the role, by domain.
    pub fn sites(&self) -> impl Iterator<Item = (&SiteDomain, Role)> {
        self.roles.iter().map(|(site, role)| (site, *role))
    }

    /// The sites on which the caller has at least `role` (e.g. the sites an SQL export may read).
    pub fn sites_with(&self, role: Role) -> Vec<SiteDomain> {
        self.sites().filter(|(_, have)| *have >= role).map(|(site, _)| site.clone()).collect()
    }

    /// Whether the caller is an instance administrator (may create sites). Never true for an
    /// API token.
    pub fn is_instance_admin(&self) -> bool {
        self.is_instance_admin
    }

    /// The CSRF token of the caller's session (cookie callers only).
    pub(crate) fn csrf_token(&self) -> Option<&str> {
        self.csrf.as_ref().map(session::CsrfToken::as_str)
    }

    pub(crate) fn session_hash(&self) -> Option<&str> {
        self.session_hash.as_deref()
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<ApiState>>()
                .ok_or_else(|| ApiError::Unexpected("the API state is not registered".into()))?;
            authenticate(state, &req).await
        })
    }
}

/// Finds the caller of a request: an `Authorization: Bearer` token if the header is present
/// (and then only that), else the session cookie.
async fn authenticate(state: &ApiState, req: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let token = header.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        return match token {
            Some(token) => token_caller(state, token).await,
            None => Err(ApiError::Unauthenticated),
        };
    }
    let secret = session::SessionSecret::from_request(req).ok_or(ApiError::Unauthenticated)?;
    let store = state.store.as_ref();
    let now = state.auth.now();
    let found = stored::session_by_hash(store, &secret.hash()).await?;
    let Some(found) = found.filter(|s| !s.revoked && s.expires_at > now) else {
        return Err(ApiError::Unauthenticated);
    };
    let csrf = secret.csrf_token();
    if is_state_changing(req) {
        let presented = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !csrf.matches(presented) {
            return Err(ApiError::Csrf);
        }
    }
    if stored::get_user(store, &found.email).await?.is_none() {
        return Err(ApiError::Unauthenticated);
    }
    let roles = roles_of(store, &found.email).await?;
    let is_instance_admin = stored::is_instance_admin(store, &found.email).await?;
    Ok(Caller {
        name: found.email.clone(),
        email: found.email,
        token_id: None,
        roles,
        is_instance_admin,
        csrf: Some(csrf),
        session_hash: Some(found.session_hash),
    })
}

fn is_state_changing(req: &HttpRequest) -> bool {
    use actix_web::http::Method;
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(req.method())
}

async fn token_caller(state: &ApiState, presented: &str) -> Result<Caller, ApiError> {
    let Some(hash) = manage::token_hash(presented) else {
        return Err(ApiError::Unauthenticated);
    };
    let store = state.store.as_ref();
    let now = state.auth.now();
    let token = stored::token_by_hash(store, &hash).await?;
    let Some(token) = token.filter(|t| !t.revoked && t.expires_at.is_none_or(|at| at > now)) else {
        return Err(ApiError::Unauthenticated);
    };
    if stored::get_user(store, &token.email).await?.is_none() {
        return Err(ApiError::Unauthenticated);
    }
    let ceiling = Role::parse(&token.role).ok_or(ApiError::Unauthenticated)?;
    let user_roles = roles_of(store, &token.email).await?;
    // The token's sites, each with the lower of the token's role and the user's role now.
    let roles = token
        .sites
        .iter()
        .filter_map(|site| SiteDomain::parse(site).ok())
        .filter_map(|site| user_roles.get(&site).map(|have| (site, (*have).min(ceiling))))
        .collect();
    Ok(Caller {
        name: format!("{} (token {})", token.email, token.token_id),
        email: token.email,
        token_id: Some(token.token_id),
        roles,
        is_instance_admin: false,
        csrf: None,
        session_hash: None,
    })
}

/// A user's roles on registered sites.
async fn roles_of(store: &dyn larder_store::Store, email: &str) -> Result<BTreeMap<SiteDomain, Role>, ApiError> {
    let grants = stored::grants_of_user(store, email).await?;
    Ok(grants.into_iter().filter_map(|g| Some((SiteDomain::parse(&g.site).ok()?, Role::parse(&g.role)?))).collect())
}

/// Longest detail kept in one audit entry (an SQL statement, say); the rest is cut.
const MAX_AUDIT_DETAIL_BYTES: usize = 16 * 1024;

/// Records in the audit log that `caller` did `action` (`sql`, `export`, …) on `site`, with
/// `detail` (the statement, the export's parameters). Never fails the request: when the store
/// refuses the entry, a warning is logged.
pub async fn audit(state: &ApiState, caller: &Caller, action: &str, site: Option<&SiteDomain>, detail: &str) {
    record(state, caller.name(), action, site.map(SiteDomain::as_str), detail).await;
}

/// Appends one audit entry under any actor name (the CLI's, a failed login's email).
pub(crate) async fn record(state: &ApiState, actor: &str, action: &str, site: Option<&str>, detail: &str) {
    record_many(state, actor, action, &[site.unwrap_or_default()], detail).await;
}

/// Appends one audit entry per site (one with no site when `sites` is empty).
pub(crate) async fn record_many(state: &ApiState, actor: &str, action: &str, sites: &[&str], detail: &str) {
    let at = state.auth.now();
    let detail = truncate(detail, MAX_AUDIT_DETAIL_BYTES);
    let sites: &[&str] = if sites.is_empty() { &[""] } else { sites };
    let entries: Vec<stored::AuditEntry> = sites
        .iter()
        .map(|site| stored::AuditEntry {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            site: (*site).to_owned(),
            detail: detail.to_owned(),
        })
        .collect();
    if let Err(error) = stored::append_audit(state.store.as_ref(), &entries).await {
        tracing::warn!(%error, action, "audit entry not written");
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let cut = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[(&str, Role)]) -> Caller {
        Caller {
            email: "a@shop.example".into(),
            token_id: None,
            name: "a@shop.example".into(),
            roles: roles.iter().map(|(s, r)| (SiteDomain::parse(s).expect("site"), *r)).collect(),
            is_instance_admin: false,
            csrf: None,
            session_hash: None,
        }
    }

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin && Role::Admin < Role::Owner);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role), "{role} round-trips");
            assert_eq!(serde_json::to_string(&role).ok(), Some(format!("\"{role}\"")), "{role} serialises");
        }
        assert_eq!(Role::parse("Owner"), None, "names are lowercase");
    }

    #[test]
    fn require_hides_unknown_sites_and_refuses_low_roles() {
        let c = caller(&[("shop.example", Role::Analyst)]);
        let shop = SiteDomain::parse("shop.example").expect("site");
        let other = SiteDomain::parse("other.example").expect("site");
        assert!(c.require(&shop, Role::Viewer).is_ok(), "a higher role suffices");
        assert!(c.require(&shop, Role::Analyst).is_ok(), "the same role suffices");
        assert!(matches!(c.require(&shop, Role::Admin), Err(ApiError::Forbidden)), "a lower role is forbidden");
        assert!(
            matches!(c.require(&other, Role::Viewer), Err(ApiError::NotFound { .. })),
            "no role at all looks like no site"
        );
        assert_eq!(c.sites_with(Role::Analyst), vec![shop.clone()]);
        assert!(c.sites_with(Role::Admin).is_empty());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h", "does not split é");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
