//! Registered sites and their settings, in the `sites` table (a ReplacingMergeTree of versions).

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;

use crate::error::StoreError;
use crate::rowbinary::{Reader, Row, Writer};
use crate::{Store, sql};

/// A site's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub domain: SiteDomain,
    /// IANA time zone the dashboard's days are counted in.
    pub timezone: String,
    /// Events older than this many days are deleted.
    pub retention_days: u32,
    /// Whether `Sec-GPC: 1` and `DNT: 1` visitors are not tracked.
    pub honour_privacy_signals: bool,
    /// Query parameters that carry the site-search query (`q`, `search`).
    pub search_params: Vec<String>,
    /// Further query parameters kept in stored URLs besides UTM and search keys.
    pub allowed_query_params: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Site {
    /// A new site with the defaults a store owner would expect: UTC, 2 years' retention,
    /// privacy signals honoured, `q` and `search` as search parameters.
    pub fn new(domain: SiteDomain, now: DateTime<Utc>) -> Self {
        Self {
            domain,
            timezone: "UTC".into(),
            retention_days: 730,
            honour_privacy_signals: true,
            search_params: vec!["q".into(), "search".into()],
            allowed_query_params: Vec::new(),
            created_at: now,
        }
    }
}

/// One version of a site, as stored.
#[derive(Debug, Clone, PartialEq, Default)]
struct SiteRow {
    site: String,
    timezone: String,
    retention_days: u32,
    honour_privacy_signals: u8,
    search_params: Vec<String>,
    allowed_query_params: Vec<String>,
    created_at: u32,
    version: u64,
    deleted: u8,
}

impl Row for SiteRow {
    const TABLE: &'static str = "sites";
    const COLUMNS: &'static [&'static str] = &[
        "site",
        "timezone",
        "retention_days",
        "honour_privacy_signals",
        "search_params",
        "allowed_query_params",
        "created_at",
        "version",
        "deleted",
    ];

    fn encode(&self, w: &mut Writer) {
        w.str(&self.site);
        w.str(&self.timezone);
        w.u32(self.retention_days);
        w.u8(self.honour_privacy_signals);
        w.array(&self.search_params, |w, s| w.str(s));
        w.array(&self.allowed_query_params, |w, s| w.str(s));
        w.u32(self.created_at);
        w.u64(self.version);
        w.u8(self.deleted);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            site: r.string()?,
            timezone: r.string()?,
            retention_days: r.u32()?,
            honour_privacy_signals: r.u8()?,
            search_params: r.array(Reader::string)?,
            allowed_query_params: r.array(Reader::string)?,
            created_at: r.u32()?,
            version: r.u64()?,
            deleted: r.u8()?,
        })
    }
}

impl SiteRow {
    fn from_site(site: &Site, deleted: bool) -> Self {
        Self {
            site: site.domain.as_str().to_owned(),
            timezone: site.timezone.clone(),
            retention_days: site.retention_days,
            honour_privacy_signals: u8::from(site.honour_privacy_signals),
            search_params: site.search_params.clone(),
            allowed_query_params: site.allowed_query_params.clone(),
            created_at: u32::try_from(site.created_at.timestamp()).unwrap_or(0),
            version: next_version(),
            deleted: u8::from(deleted),
        }
    }

    fn into_site(self) -> Result<Site, StoreError> {
        Ok(Site {
            domain: SiteDomain::parse(&self.site).map_err(|e| StoreError::Decode(format!("stored site: {e}")))?,
            timezone: self.timezone,
            retention_days: self.retention_days,
            honour_privacy_signals: self.honour_privacy_signals != 0,
            search_params: self.search_params,
            allowed_query_params: self.allowed_query_params,
            created_at: DateTime::from_timestamp(i64::from(self.created_at), 0).unwrap_or_default(),
        })
    }
}

/// Row versions: nanoseconds since the epoch, so a later write wins.
fn next_version() -> u64 {
    u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or_default()
}

/// Whether [`add`] created the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Created,
    AlreadyExists,
}

/// Registers a site unless it exists.
///
/// # Errors
/// Store errors.
pub async fn add(store: &dyn Store, site: &Site) -> Result<AddOutcome, StoreError> {
    if get(store, &site.domain).await?.is_some() {
        return Ok(AddOutcome::AlreadyExists);
    }
    store.insert_rows(&[SiteRow::from_site(site, false)]).await?;
    Ok(AddOutcome::Created)
}

/// Writes a site's settings (a new version).
///
/// # Errors
/// Store errors.
pub async fn update(store: &dyn Store, site: &Site) -> Result<(), StoreError> {
    store.insert_rows(&[SiteRow::from_site(site, false)]).await
}

/// Marks a site removed; its events stay until deleted explicitly or by retention.
///
/// # Errors
/// Store errors.
pub async fn remove(store: &dyn Store, domain: &SiteDomain) -> Result<bool, StoreError> {
    match get(store, domain).await? {
        Some(site) => store.insert_rows(&[SiteRow::from_site(&site, true)]).await.map(|()| true),
        None => Ok(false),
    }
}

/// Every registered site, by domain.
///
/// # Errors
/// Store errors.
pub async fn list(store: &dyn Store) -> Result<Vec<Site>, StoreError> {
    let rows: Vec<SiteRow> = store.fetch_rows("FROM sites FINAL WHERE deleted = 0 ORDER BY site").await?;
    rows.into_iter().map(SiteRow::into_site).collect()
}

/// One site, if registered.
///
/// # Errors
/// Store errors.
pub async fn get(store: &dyn Store, domain: &SiteDomain) -> Result<Option<Site>, StoreError> {
    let rows: Vec<SiteRow> = store
        .fetch_rows(&format!("FROM sites FINAL WHERE site = {} AND deleted = 0", sql::quote(domain.as_str())))
        .await?;
    rows.into_iter().next().map(SiteRow::into_site).transpose()
}
