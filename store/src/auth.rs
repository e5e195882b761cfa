//! What access control keeps in ClickHouse: users and instance administrators, per-site roles,
//! API tokens, login sessions, login attempts and the daily keys of their source hashes, and
//! the audit log. See `migrations/0001_schema_v1.sql` and `0002_auth.sql`.
//!
//! This module stores and reads; it decides nothing. Password hashing, the lock-out rule, role
//! ordering and who may do what live in the dashboard-api (`auth`). Secrets never reach it:
//! passwords arrive as argon2id hashes, session and API token secrets as blake3 hashes.
//!
//! Mutable things are versioned rows of `ReplacingMergeTree` tables, read with `FINAL`; a
//! version is the write time in nanoseconds, so a later write wins.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::StoreError;
use crate::rowbinary::{Reader, Row, Writer};
use crate::{Store, sql};

/// Row versions: nanoseconds since the epoch, so that a later write wins. Strictly increasing
/// within a process, so that two writes in the same nanosecond still order.
fn next_version() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or_default();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn seconds(at: DateTime<Utc>) -> u32 {
    u32::try_from(at.timestamp()).unwrap_or(0)
}

fn from_seconds(secs: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(secs), 0).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Users

/// A dashboard user, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Lowercase; the key.
    pub email: String,
    /// An argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug)]
struct UserRow {
    user: User,
    version: u64,
    deleted: bool,
}

impl Row for UserRow {
    const TABLE: &'static str = "users";
    const COLUMNS: &'static [&'static str] =
        &["email", "password_hash", "display_name", "created_at", "version", "deleted"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.user.email);
        w.str(&self.user.password_hash);
        w.str(&self.user.display_name);
        w.u32(seconds(self.user.created_at));
        w.u64(self.version);
        w.u8(u8::from(self.deleted));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            user: User {
                email: r.string()?,
                password_hash: r.string()?,
                display_name: r.string()?,
                created_at: from_seconds(r.u32()?),
            },
            version: r.u64()?,
            deleted: r.u8()? != 0,
        })
    }
}

/// Writes a user (a new version: creation, or a password change).
///
/// # Errors
/// Store errors.
pub async fn put_user(store: &dyn Store, user: &User) -> Result<(), StoreError> {
    store.insert_rows(&[UserRow { user: user.clone(), version: next_version(), deleted: false }]).await
}

/// A user by (lowercase) email, unless absent or deleted.
///
/// # Errors
/// Store errors.
pub async fn get_user(store: &dyn Store, email: &str) -> Result<Option<User>, StoreError> {
    let rows: Vec<UserRow> =
        store.fetch_rows(&format!("FROM users FINAL WHERE email = {} AND deleted = 0", sql::quote(email))).await?;
    Ok(rows.into_iter().next().map(|r| r.user))
}

/// Every user, by email.
///
/// # Errors
/// Store errors.
pub async fn list_users(store: &dyn Store) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = store.fetch_rows("FROM users FINAL WHERE deleted = 0 ORDER BY email").await?;
    Ok(rows.into_iter().map(|r| r.user).collect())
}

// ---------------------------------------------------------------------------------------------
// Instance administrators

#[derive(Debug)]
struct AdminRow {
    email: String,
    version: u64,
    deleted: bool,
}

impl Row for AdminRow {
    const TABLE: &'static str = "instance_admins";
    const COLUMNS: &'static [&'static str] = &["email", "version", "deleted"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.email);
        w.u64(self.version);
        w.u8(u8::from(self.deleted));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self { email: r.string()?, version: r.u64()?, deleted: r.u8()? != 0 })
    }
}

/// Makes a user an instance administrator (who may create sites), or no longer one.
///
/// # Errors
/// Store errors.
pub async fn set_instance_admin(store: &dyn Store, email: &str, is_admin: bool) -> Result<(), StoreError> {
    store.insert_rows(&[AdminRow { email: email.to_owned(), version: next_version(), deleted: !is_admin }]).await
}

/// The emails of every instance administrator.
///
/// # Errors
/// Store errors.
pub async fn instance_admins(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    let rows: Vec<AdminRow> = store.fetch_rows("FROM instance_admins FINAL WHERE deleted = 0 ORDER BY email").await?;
    Ok(rows.into_iter().map(|r| r.email).collect())
}

/// Whether a user is an instance administrator.
///
/// # Errors
/// Store errors.
pub async fn is_instance_admin(store: &dyn Store, email: &str) -> Result<bool, StoreError> {
    let rows: Vec<AdminRow> = store
        .fetch_rows(&format!("FROM instance_admins FINAL WHERE email = {} AND deleted = 0", sql::quote(email)))
        .await?;
    Ok(!rows.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Roles

/// A user's role on a site, as stored (`owner`, `admin`, `analyst`, `viewer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub email: String,
    pub site: String,
    pub role: String,
}

#[derive(Debug)]
struct GrantRow {
    grant: Grant,
    version: u64,
    deleted: bool,
}

impl Row for GrantRow {
    const TABLE: &'static str = "user_roles";
    const COLUMNS: &'static [&'static str] = &["email", "site", "role", "version", "deleted"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.grant.email);
        w.str(&self.grant.site);
        w.str(&self.grant.role);
        w.u64(self.version);
        w.u8(u8::from(self.deleted));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            grant: Grant { email: r.string()?, site: r.string()?, role: r.string()? },
            version: r.u64()?,
            deleted: r.u8()? != 0,
        })
    }
}

/// Gives a user a role on a site, replacing the one they had.
///
/// # Errors
/// Store errors.
pub async fn put_grant(store: &dyn Store, grant: &Grant) -> Result<(), StoreError> {
    store.insert_rows(&[GrantRow { grant: grant.clone(), version: next_version(), deleted: false }]).await
}

/// Takes a user's role on a site away.
///
/// # Errors
/// Store errors.
pub async fn remove_grant(store: &dyn Store, email: &str, site: &str) -> Result<(), StoreError> {
    let grant = Grant { email: email.to_owned(), site: site.to_owned(), role: String::new() };
    store.insert_rows(&[GrantRow { grant, version: next_version(), deleted: true }]).await
}

/// The grants in force that match `filter` (a condition on `email` and `site`). A grant counts
/// only while its site is registered and only if it was written after the site was (last)
/// created: removing a site and registering the same domain again does not bring back the
/// roles people had on the old one.
///
/// `ALL` join: the right side has one row per site; `ANY INNER JOIN` would also keep just one
/// grant per site on newer engines.
async fn grants_where(store: &dyn Store, filter: &str) -> Result<Vec<Grant>, StoreError> {
    let query = format!(
        "FROM (SELECT email, site, role, version FROM user_roles FINAL WHERE deleted = 0 AND {filter}) AS granted \
         ALL INNER JOIN (SELECT site, created_at FROM sites FINAL WHERE deleted = 0) AS registered USING site \
         WHERE version >= toUInt64(toUInt32(created_at)) * 1000000000 \
         ORDER BY email, site"
    );
    let rows: Vec<GrantView> = store.fetch_rows(&query).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The three columns of a grant, for reads through the join in [`grants_where`].
#[derive(Debug)]
struct GrantView(Grant);

impl Row for GrantView {
    const TABLE: &'static str = "user_roles";
    const COLUMNS: &'static [&'static str] = &["email", "site", "role"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.0.email);
        w.str(&self.0.site);
        w.str(&self.0.role);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self(Grant { email: r.string()?, site: r.string()?, role: r.string()? }))
    }
}

/// A user's roles on registered sites, by site.
///
/// # Errors
/// Store errors.
pub async fn grants_of_user(store: &dyn Store, email: &str) -> Result<Vec<Grant>, StoreError> {
    grants_where(store, &format!("email = {}", sql::quote(email))).await
}

/// Everyone's roles on a site, by email.
///
/// # Errors
/// Store errors.
pub async fn grants_on_site(store: &dyn Store, site: &str) -> Result<Vec<Grant>, StoreError> {
    grants_where(store, &format!("site = {}", sql::quote(site))).await
}

/// Every grant in force, by email then site.
///
/// # Errors
/// Store errors.
pub async fn all_grants(store: &dyn Store) -> Result<Vec<Grant>, StoreError> {
    grants_where(store, "1").await
}

/// Takes every role on a site away (when the site is removed).
///
/// # Errors
/// Store errors.
pub async fn remove_site_grants(store: &dyn Store, site: &str) -> Result<(), StoreError> {
    store
        .execute(&format!(
            "INSERT INTO user_roles (email, site, role, version, deleted) \
             SELECT email, site, role, {}, 1 FROM user_roles FINAL WHERE site = {} AND deleted = 0",
            next_version(),
            sql::quote(site)
        ))
        .await
}

// ---------------------------------------------------------------------------------------------
// API tokens

/// An API token, as stored: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id, for listing and revoking.
    pub token_id: String,
    /// Hex blake3 hash of the secret.
    pub token_hash: String,
    /// The user the token acts for.
    pub email: String,
    pub description: String,
    pub sites: Vec<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// `None`: the token does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug)]
struct TokenRow {
    token: ApiToken,
    version: u64,
}

impl Row for TokenRow {
    const TABLE: &'static str = "api_tokens";
    const COLUMNS: &'static [&'static str] = &[
        "token_id",
        "token_hash",
        "email",
        "description",
        "sites",
        "role",
        "created_at",
        "expires_at",
        "version",
        "revoked",
    ];

    fn encode(&self, w: &mut Writer) {
        let t = &self.token;
        w.str(&t.token_id);
        w.str(&t.token_hash);
        w.str(&t.email);
        w.str(&t.description);
        w.array(&t.sites, |w, s| w.str(s));
        w.str(&t.role);
        w.u32(seconds(t.created_at));
        // 0 (1970-01-01) stands for "never".
        w.u32(t.expires_at.map_or(0, seconds));
        w.u64(self.version);
        w.u8(u8::from(t.revoked));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        let token = ApiToken {
            token_id: r.string()?,
            token_hash: r.string()?,
            email: r.string()?,
            description: r.string()?,
            sites: r.array(Reader::string)?,
            role: r.string()?,
            created_at: from_seconds(r.u32()?),
            expires_at: Some(r.u32()?).filter(|s| *s != 0).map(from_seconds),
            revoked: false,
        };
        let version = r.u64()?;
        let revoked = r.u8()? != 0;
        Ok(Self { token: ApiToken { revoked, ..token }, version })
    }
}

/// Writes a token (creation, or revocation with `revoked` set).
///
/// # Errors
/// Store errors.
pub async fn put_token(store: &dyn Store, token: &ApiToken) -> Result<(), StoreError> {
    store.insert_rows(&[TokenRow { token: token.clone(), version: next_version() }]).await
}

/// The token whose secret hashes to `token_hash`, revoked or not.
///
/// # Errors
/// Store errors.
pub async fn token_by_hash(store: &dyn Store, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
    let rows: Vec<TokenRow> =
        store.fetch_rows(&format!("FROM api_tokens FINAL WHERE token_hash = {}", sql::quote(token_hash))).await?;
    Ok(rows.into_iter().next().map(|r| r.token))
}

/// A token by id, revoked or not.
///
/// # Errors
/// Store errors.
pub async fn token_by_id(store: &dyn Store, token_id: &str) -> Result<Option<ApiToken>, StoreError> {
    let rows: Vec<TokenRow> =
        store.fetch_rows(&format!("FROM api_tokens FINAL WHERE token_id = {}", sql::quote(token_id))).await?;
    Ok(rows.into_iter().next().map(|r| r.token))
}

/// Every token not revoked, newest first.
///
/// # Errors
/// Store errors.
pub async fn list_tokens(store: &dyn Store) -> Result<Vec<ApiToken>, StoreError> {
    let rows: Vec<TokenRow> =
        store.fetch_rows("FROM api_tokens FINAL WHERE revoked = 0 ORDER BY created_at DESC, token_id").await?;
    Ok(rows.into_iter().map(|r| r.token).collect())
}

// ---------------------------------------------------------------------------------------------
// Login sessions

/// A dashboard login session: the hash of the cookie's secret and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Hex blake3 hash of the cookie's secret.
    pub session_hash: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug)]
struct LoginSessionRow {
    session: LoginSession,
    version: u64,
}

impl Row for LoginSessionRow {
    const TABLE: &'static str = "login_sessions";
    const COLUMNS: &'static [&'static str] =
        &["session_hash", "email", "created_at", "expires_at", "version", "revoked"];

    fn encode(&self, w: &mut Writer) {
        let s = &self.session;
        w.str(&s.session_hash);
        w.str(&s.email);
        w.u32(seconds(s.created_at));
        w.u32(seconds(s.expires_at));
        w.u64(self.version);
        w.u8(u8::from(s.revoked));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        let session_hash = r.string()?;
        let email = r.string()?;
        let created_at = from_seconds(r.u32()?);
        let expires_at = from_seconds(r.u32()?);
        let version = r.u64()?;
        let revoked = r.u8()? != 0;
        Ok(Self { session: LoginSession { session_hash, email, created_at, expires_at, revoked }, version })
    }
}

/// Writes a session (login, or logout with `revoked` set).
///
/// # Errors
/// Store errors.
pub async fn put_session(store: &dyn Store, session: &LoginSession) -> Result<(), StoreError> {
    store.insert_rows(&[LoginSessionRow { session: session.clone(), version: next_version() }]).await
}

/// The session whose secret hashes to `session_hash`, revoked or not.
///
/// # Errors
/// Store errors.
pub async fn session_by_hash(store: &dyn Store, session_hash: &str) -> Result<Option<LoginSession>, StoreError> {
    let rows: Vec<LoginSessionRow> = store
        .fetch_rows(&format!("FROM login_sessions FINAL WHERE session_hash = {}", sql::quote(session_hash)))
        .await?;
    Ok(rows.into_iter().next().map(|r| r.session))
}

/// Ends every session of a user (after a password reset).
///
/// # Errors
/// Store errors.
pub async fn revoke_sessions_of(store: &dyn Store, email: &str) -> Result<(), StoreError> {
    store
        .execute(&format!(
            "INSERT INTO login_sessions (session_hash, email, created_at, expires_at, version, revoked) \
             SELECT session_hash, email, created_at, expires_at, {}, 1 FROM login_sessions FINAL \
             WHERE email = {} AND revoked = 0",
            next_version(),
            sql::quote(email)
        ))
        .await
}

// ---------------------------------------------------------------------------------------------
// Login attempts and their keys

/// One login attempt: `subject` is `account:<email>` or `source:<keyed hash>`, never an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub subject: String,
    pub at: DateTime<Utc>,
    pub succeeded: bool,
}

impl Row for LoginAttempt {
    const TABLE: &'static str = "login_attempts";
    const COLUMNS: &'static [&'static str] = &["subject", "at", "succeeded"];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.subject);
        w.u32(seconds(self.at));
        w.u8(u8::from(self.succeeded));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self { subject: r.string()?, at: from_seconds(r.u32()?), succeeded: r.u8()? != 0 })
    }
}

/// Records login attempts.
///
/// # Errors
/// Store errors.
pub async fn record_attempts(store: &dyn Store, attempts: &[LoginAttempt]) -> Result<(), StoreError> {
    store.insert_rows(attempts).await
}

/// The attempts of `subjects` at or after `since`, oldest first.
///
/// # Errors
/// Store errors.
pub async fn attempts_since(
    store: &dyn Store,
    subjects: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<LoginAttempt>, StoreError> {
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    store
        .fetch_rows(&format!(
            "FROM login_attempts WHERE subject IN {} AND at >= toDateTime({}, 'UTC') ORDER BY at, subject",
            in_list(subjects),
            seconds(since)
        ))
        .await
}

fn in_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| sql::quote(v)).collect();
    format!("({})", quoted.join(", "))
}

fn day_literal(day: NaiveDate) -> String {
    sql::quote(&day.format("%Y-%m-%d").to_string())
}

/// The candidates stored for a day's login key (64 hex digits each), smallest first: the
/// smallest is the day's key.
///
/// # Errors
/// Store errors.
pub async fn login_key_candidates(store: &dyn Store, day: NaiveDate) -> Result<Vec<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Key {
        key: String,
    }
    let rows: Vec<Key> =
        store.fetch_json(&format!("SELECT key FROM login_keys WHERE day = {} ORDER BY key", day_literal(day))).await?;
    Ok(rows.into_iter().map(|k| k.key).collect())
}

/// Stores a candidate for a day's login key.
///
/// # Errors
/// Store errors.
pub async fn add_login_key_candidate(store: &dyn Store, day: NaiveDate, key_hex: &str) -> Result<(), StoreError> {
    store
        .execute(&format!(
            "INSERT INTO login_keys (day, key, created_at) VALUES ({}, {}, now())",
            day_literal(day),
            sql::quote(key_hex)
        ))
        .await
}

/// Deletes the login keys of every day before `day` (whole partitions).
///
/// # Errors
/// Store errors.
pub async fn drop_login_keys_before(store: &dyn Store, day: NaiveDate) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct Day {
        day: String,
    }
    let days: Vec<Day> = store
        .fetch_json(&format!(
            "SELECT DISTINCT toString(day) AS day FROM login_keys WHERE day < {} ORDER BY day",
            day_literal(day)
        ))
        .await?;
    for Day { day } in days {
        let parsed = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| StoreError::Decode(e.to_string()))?;
        let table = crate::cluster::local_table(store, "login_keys");
        store.execute(&format!("ALTER TABLE {table} DROP PARTITION {}", day_literal(parsed))).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Audit log

/// One audit entry: who did what, on which site (empty: none), with what detail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub site: String,
    pub detail: String,
}

impl Row for AuditEntry {
    const TABLE: &'static str = "audit_log";
    const COLUMNS: &'static [&'static str] = &["at", "actor", "action", "site", "detail"];

    fn encode(&self, w: &mut Writer) {
        w.u32(seconds(self.at));
        w.str(&self.actor);
        w.str(&self.action);
        w.str(&self.site);
        w.str(&self.detail);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            at: from_seconds(r.u32()?),
            actor: r.string()?,
            action: r.string()?,
            site: r.string()?,
            detail: r.string()?,
        })
    }
}

/// Appends audit entries.
///
/// # Errors
/// Store errors.
pub async fn append_audit(store: &dyn Store, entries: &[AuditEntry]) -> Result<(), StoreError> {
    store.insert_rows(entries).await
}

/// A page of the audit log, newest first: one site's entries, or (`None`) everyone's.
/// Entries of the same second are ordered by actor, action and detail so that pages do not
/// overlap.
///
/// # Errors
/// Store errors.
pub async fn audit_page(
    store: &dyn Store,
    site: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let filter = site.map(|s| format!("WHERE site = {}", sql::quote(s))).unwrap_or_default();
    store
        .fetch_rows(&format!(
            "FROM audit_log {filter} ORDER BY at DESC, actor, action, site, detail LIMIT {offset}, {limit}"
        ))
        .await
}

// ---------------------------------------------------------------------------------------------
// Time zones

/// Whether the engine knows `name` as a time zone (the dashboard counts a site's days in it).
/// Names are checked to be plain (`Europe/Berlin`, `UTC`, `America/Argentina/Buenos_Aires`,
/// `Etc/GMT+1`) before they reach the engine.
///
/// # Errors
/// Store errors other than the engine refusing the zone.
pub async fn is_time_zone(store: &dyn Store, name: &str) -> Result<bool, StoreError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if !plain {
        return Ok(false);
    }
    match store.query_raw(&format!("SELECT toString(toDateTime(0, {}))", sql::quote(name)), "TabSeparated").await {
        Ok(_) => Ok(true),
        Err(StoreError::Rejected { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowbinary::{decode_rows, encode_rows};

    #[test]
    fn versions_strictly_increase() {
        let mut last = 0;
        for _ in 0..1000 {
            let v = next_version();
            assert!(v > last, "version {v} after {last}");
            last = v;
        }
    }

    #[test]
    fn tokens_round_trip_with_and_without_expiry() {
        let at = from_seconds(1_700_000_000);
        for expires_at in [None, Some(from_seconds(1_800_000_000))] {
            let token = ApiToken {
                token_id: "abc".into(),
                token_hash: "h".into(),
                email: "a@b.example".into(),
                description: "ci".into(),
                sites: vec!["shop.example".into(), "b.example".into()],
                role: "viewer".into(),
                created_at: at,
                expires_at,
                revoked: true,
            };
            let bytes = encode_rows(&[TokenRow { token: token.clone(), version: 7 }]);
            let back: Vec<TokenRow> = decode_rows(&bytes).expect("decodes");
            assert_eq!(back[0].token, token, "expiry {expires_at:?}");
            assert_eq!(back[0].version, 7);
        }
    }

    #[test]
    fn sessions_and_attempts_round_trip() {
        let session = LoginSession {
            session_hash: "h".into(),
            email: "a@b.example".into(),
            created_at: from_seconds(1),
            expires_at: from_seconds(2),
            revoked: true,
        };
        let back: Vec<LoginSessionRow> =
            decode_rows(&encode_rows(&[LoginSessionRow { session: session.clone(), version: 3 }])).expect("decodes");
        assert_eq!(back[0].session, session);
        let attempt = LoginAttempt { subject: "account:a@b.example".into(), at: from_seconds(5), succeeded: false };
        let back: Vec<LoginAttempt> = decode_rows(&encode_rows(std::slice::from_ref(&attempt))).expect("decodes");
        assert_eq!(back, vec![attempt]);
    }
}
