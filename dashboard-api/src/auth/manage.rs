//! Managing users, roles and API tokens: the operations behind the API's routes, the local
//! channel and the CLI's `users` and `tokens` commands.
//!
//! Each operation checks what must hold whoever asks — the user and the site exist, a site
//! keeps at least one owner, a token's role is not above its user's — and writes its audit
//! entry under `actor`. Who may ask is decided before: the routes check the caller's role, the
//! CLI is the operator.

use chrono::{DateTime, Timelike, Utc};
use larder_core::SiteDomain;
use larder_store::auth::{self as stored, ApiToken, Grant, User};
use larder_store::sites;

use super::{Email, Role, password};
use crate::{ApiError, ApiState};

/// How the audit log names the operator running the CLI (directly or through the local channel).
pub const OPERATOR: &str = "operator (cli)";

/// A user with their roles, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    pub email: String,
    /// An instance administrator (may create sites).
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub sites: Vec<SiteRole>,
}

/// A role on a site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteRole {
    pub site: String,
    pub role: Role,
}

/// What [`add_user`] should do.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    /// `None`: generate one (returned once).
    pub password: Option<String>,
    /// A role to grant on a site.
    pub grant: Option<(SiteDomain, Role)>,
    /// Make the user an instance administrator.
    pub instance_admin: bool,
}

/// What [`add_user`] did.
#[derive(Debug, Clone)]
pub struct AddedUser {
    /// False when the user existed (then only the grant and the flag were applied).
    pub created: bool,
    /// The generated password, to show once.
    pub generated_password: Option<String>,
}

fn user_not_found() -> ApiError {
    ApiError::NotFound { what: "user", field: "email" }
}

fn site_not_found() -> ApiError {
    ApiError::NotFound { what: "site", field: "site" }
}

async fn require_site(state: &ApiState, site: &SiteDomain) -> Result<(), ApiError> {
    match sites::get(state.store.as_ref(), site).await? {
        Some(_) => Ok(()),
        None => Err(site_not_found()),
    }
}

/// Creates a user (with the given or a generated password) unless they exist, then applies the
/// grant and the instance-administrator flag.
///
/// # Errors
/// [`ApiError::Conflict`] when the user exists and a password was given (a password is never
/// replaced this way); [`ApiError::Invalid`] for a password the policy refuses; not found for a
/// grant's site; store errors.
pub async fn add_user(state: &ApiState, actor: &str, new: NewUser) -> Result<AddedUser, ApiError> {
    let store = state.store.as_ref();
    if let Some((site, _)) = &new.grant {
        require_site(state, site).await?;
    }
    let existing = stored::get_user(store, new.email.as_str()).await?;
    let mut added = AddedUser { created: false, generated_password: None };
    match (existing, new.password) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Conflict {
                message: format!("{} already has an account; their password is unchanged", new.email),
                field: Some("email"),
            });
        }
        (Some(_), None) => {}
        (None, password) => {
            let password = match password {
                Some(p) => {
                    password::check_policy(&p)?;
                    p
                }
                None => {
                    let generated = password::generate();
                    added.generated_password = Some(generated.clone());
                    generated
                }
            };
            let hash = password::hash(&password, state.auth.config.password_cost).await?;
            let user = User {
                email: new.email.as_str().to_owned(),
                password_hash: hash,
                display_name: String::new(),
                created_at: state.auth.now(),
            };
            stored::put_user(store, &user).await?;
            added.created = true;
            let site = new.grant.as_ref().map(|(s, _)| s.as_str());
            super::record(state, actor, "user_created", site, new.email.as_str()).await;
        }
    }
    if new.instance_admin && !stored::is_instance_admin(store, new.email.as_str()).await? {
        stored::set_instance_admin(store, new.email.as_str(), true).await?;
        super::record(state, actor, "instance_admin_granted", None, new.email.as_str()).await;
    }
    if let Some((site, role)) = &new.grant {
        grant(state, actor, &new.email, site, *role).await?;
    }
    Ok(added)
}

/// Gives a user a role on a site (replacing the one they had).
///
/// # Errors
/// Not found for the user or the site; [`ApiError::Conflict`] when this would leave the site
/// without an owner; store errors.
pub async fn grant(
    state: &ApiState,
    actor: &str,
    email: &Email,
    site: &SiteDomain,
    role: Role,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    require_site(state, site).await?;
    if stored::get_user(store, email.as_str()).await?.is_none() {
        return Err(user_not_found());
    }
    if role != Role::Owner {
        ensure_another_owner(state, email, site).await?;
    }
    let grant =
        Grant { email: email.as_str().to_owned(), site: site.as_str().to_owned(), role: role.as_str().to_owned() };
    stored::put_grant(store, &grant).await?;
    super::record(state, actor, "role_granted", Some(site.as_str()), &format!("{email} {role}")).await;
    Ok(())
}

/// Takes a user's role on a site away.
///
/// # Errors
/// Not found when the user has no role there; [`ApiError::Conflict`] when they are its last
/// owner; store errors.
pub async fn revoke(state: &ApiState, actor: &str, email: &Email, site: &SiteDomain) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let grants = stored::grants_on_site(store, site.as_str()).await?;
    if !grants.iter().any(|g| g.email == email.as_str()) {
        return Err(ApiError::NotFound { what: "role", field: "email" });
    }
    ensure_another_owner(state, email, site).await?;
    stored::remove_grant(store, email.as_str(), site.as_str()).await?;
    super::record(state, actor, "role_revoked", Some(site.as_str()), email.as_str()).await;
    Ok(())
}

/// Refuses to demote or remove the last owner of a site (nobody could manage it afterwards).
async fn ensure_another_owner(state: &ApiState, email: &Email, site: &SiteDomain) -> Result<(), ApiError> {
    let grants = stored::grants_on_site(state.store.as_ref(), site.as_str()).await?;
    let owner = Role::Owner.as_str();
    let is_owner = grants.iter().any(|g| g.email == email.as_str() && g.role == owner);
    let others = grants.iter().filter(|g| g.email != email.as_str() && g.role == owner).count();
    if is_owner && others == 0 {
        return Err(ApiError::Conflict {
            message: format!("{email} is the last owner of {site}; make someone else owner first"),
            field: Some("role"),
        });
    }
    Ok(())
}

/// Sets a user's password (the given one, or a generated one that is returned) and ends all
/// their sessions.
///
/// # Errors
/// Not found for the user; [`ApiError::Invalid`] for a password the policy refuses; store
/// errors.
pub async fn reset_password(
    state: &ApiState,
    actor: &str,
    email: &Email,
    password: Option<String>,
) -> Result<Option<String>, ApiError> {
    let store = state.store.as_ref();
    let Some(user) = stored::get_user(store, email.as_str()).await? else {
        return Err(user_not_found());
    };
    let (password, generated) = match password {
        Some(p) => {
            password::check_policy(&p)?;
            (p, None)
        }
        None => {
            let p = password::generate();
            (p.clone(), Some(p))
        }
    };
    let hash = password::hash(&password, state.auth.config.password_cost).await?;
    stored::put_user(store, &User { password_hash: hash, ..user }).await?;
    stored::revoke_sessions_of(store, email.as_str()).await?;
    let grants = stored::grants_of_user(store, email.as_str()).await?;
    let sites: Vec<&str> = grants.iter().map(|g| g.site.as_str()).collect();
    super::record_many(state, actor, "password_reset", &sites, email.as_str()).await;
    Ok(generated)
}

/// Every user with their roles.
///
/// # Errors
/// Store errors.
pub async fn list_users(state: &ApiState) -> Result<Vec<UserSummary>, ApiError> {
    let store = state.store.as_ref();
    let users = stored::list_users(store).await?;
    let admins = stored::instance_admins(store).await?;
    let grants = stored::all_grants(store).await?;
    Ok(users
        .into_iter()
        .map(|u| UserSummary {
            is_admin: admins.contains(&u.email),
            sites: grants
                .iter()
                .filter(|g| g.email == u.email)
                .filter_map(|g| Some(SiteRole { site: g.site.clone(), role: Role::parse(&g.role)? }))
                .collect(),
            created_at: u.created_at,
            email: u.email,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// API tokens

/// The prefix of every API token's secret.
pub const TOKEN_PREFIX: &str = "lrd_";
/// Longest token description.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Most sites one token may name.
pub const MAX_TOKEN_SITES: usize = 100;
/// Longest token lifetime that may be asked for.
pub const MAX_EXPIRES_DAYS: u32 = 3650;

/// An API token as shown (never its secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: String,
    /// The user it acts for.
    pub email: String,
    pub description: String,
    pub sites: Vec<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
}

impl TokenView {
    fn new(token: &ApiToken, now: DateTime<Utc>) -> Option<Self> {
        Some(Self {
            id: token.token_id.clone(),
            email: token.email.clone(),
            description: token.description.clone(),
            sites: token.sites.clone(),
            role: Role::parse(&token.role)?,
            created_at: token.created_at,
            expires_at: token.expires_at,
            expired: token.expires_at.is_some_and(|at| at <= now),
        })
    }
}

/// What [`create_token`] should create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub email: Email,
    pub sites: Vec<SiteDomain>,
    pub role: Role,
    pub expires_days: Option<u32>,
    pub description: String,
}

/// A new token and its secret, which is shown this once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// `lrd_` and 64 hex digits; only its hash is stored.
    pub secret: String,
}

/// The stored hash of a presented token, if it has the shape of one.
pub fn token_hash(presented: &str) -> Option<String> {
    let hex_part = presented.strip_prefix(TOKEN_PREFIX)?;
    (hex_part.len() == 64 && hex_part.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| blake3::hash(presented.as_bytes()).to_hex().to_string())
}

/// Creates an API token for a user, on sites where the user has at least the token's role.
///
/// # Errors
/// [`ApiError::Invalid`] for no sites, too many, a bad expiry or description; not found for the
/// user, or a site the user has no role on; [`ApiError::Forbidden`] when the role is above the
/// user's on a site; store errors.
pub async fn create_token(state: &ApiState, actor: &str, new: NewToken) -> Result<CreatedToken, ApiError> {
    let store = state.store.as_ref();
    let mut sites = new.sites;
    sites.sort();
    sites.dedup();
    if sites.is_empty() || sites.len() > MAX_TOKEN_SITES {
        return Err(ApiError::Invalid {
            message: format!("a token names 1 to {MAX_TOKEN_SITES} sites"),
            field: "sites",
        });
    }
    if new.description.chars().count() > MAX_DESCRIPTION_CHARS || new.description.chars().any(char::is_control) {
        return Err(ApiError::Invalid {
            message: format!(
                "the description is at most {MAX_DESCRIPTION_CHARS} characters, without control characters"
            ),
            field: "description",
        });
    }
    // Whole seconds, as stored.
    let now = state.auth.now().with_nanosecond(0).unwrap_or_else(|| state.auth.now());
    let expires_at = match new.expires_days {
        None => None,
        Some(days @ 1..=MAX_EXPIRES_DAYS) => Some(now + chrono::Duration::days(i64::from(days))),
        Some(_) => {
            return Err(ApiError::Invalid {
                message: format!("expires_days must be 1 to {MAX_EXPIRES_DAYS}"),
                field: "expires_days",
            });
        }
    };
    if stored::get_user(store, new.email.as_str()).await?.is_none() {
        return Err(user_not_found());
    }
    let grants = stored::grants_of_user(store, new.email.as_str()).await?;
    for site in &sites {
        let have = grants.iter().find(|g| g.site == site.as_str()).and_then(|g| Role::parse(&g.role));
        match have {
            None => return Err(site_not_found()),
            Some(have) if have < new.role => return Err(ApiError::Forbidden),
            Some(_) => {}
        }
    }
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let token = ApiToken {
        token_id: hex::encode(rand::random::<[u8; 8]>()),
        token_hash: blake3::hash(secret.as_bytes()).to_hex().to_string(),
        email: new.email.as_str().to_owned(),
        description: new.description,
        sites: sites.iter().map(|s| s.as_str().to_owned()).collect(),
        role: new.role.as_str().to_owned(),
        created_at: now,
        expires_at,
        revoked: false,
    };
    stored::put_token(store, &token).await?;
    let site_names: Vec<&str> = token.sites.iter().map(String::as_str).collect();
    let detail = format!("{} for {} as {}", token.token_id, token.email, token.role);
    super::record_many(state, actor, "token_created", &site_names, &detail).await;
    let view = TokenView::new(&token, now).ok_or_else(|| ApiError::Unexpected("token role".into()))?;
    Ok(CreatedToken { token: view, secret })
}

/// Every token not revoked, newest first.
///
/// # Errors
/// Store errors.
pub async fn list_tokens(state: &ApiState) -> Result<Vec<TokenView>, ApiError> {
    let now = state.auth.now();
    let tokens = stored::list_tokens(state.store.as_ref()).await?;
    Ok(tokens.iter().filter_map(|t| TokenView::new(t, now)).collect())
}

/// A token by id, unless revoked.
///
/// # Errors
/// Store errors.
pub async fn get_token(state: &ApiState, id: &str) -> Result<Option<TokenView>, ApiError> {
    let token = stored::token_by_id(state.store.as_ref(), id).await?;
    Ok(token.filter(|t| !t.revoked).and_then(|t| TokenView::new(&t, state.auth.now())))
}

/// Revokes a token.
///
/// # Errors
/// Not found when there is no such token or it is revoked already; store errors.
pub async fn revoke_token(state: &ApiState, actor: &str, id: &str) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let Some(token) = stored::token_by_id(store, id).await?.filter(|t| !t.revoked) else {
        return Err(ApiError::NotFound { what: "token", field: "id" });
    };
    stored::put_token(store, &ApiToken { revoked: true, ..token.clone() }).await?;
    let sites: Vec<&str> = token.sites.iter().map(String::as_str).collect();
    super::record_many(state, actor, "token_revoked", &sites, &format!("{} for {}", token.token_id, token.email)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        let good = format!("{TOKEN_PREFIX}{}", "ab".repeat(32));
        assert_eq!(token_hash(&good), Some(blake3::hash(good.as_bytes()).to_hex().to_string()));
        for bad in
            ["", "lrd_", "lrd_abc", &format!("xyz_{}", "ab".repeat(32)), &format!("{TOKEN_PREFIX}{}", "zz".repeat(32))]
        {
            assert_eq!(token_hash(bad), None, "{bad:?}");
        }
    }
}
