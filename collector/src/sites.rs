//! Registered sites and their settings, cached: every event names its site, and the store is
//! not asked for each one. The cache is re-read periodically and on a miss (at most once per
//! second), so a site added a moment ago is accepted promptly.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use larder_core::SiteDomain;
use larder_store::sites::{self, Site};
use larder_store::{Store, StoreError};
use tokio::sync::Mutex;

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum SiteLookup {
    Found(Arc<Site>),
    /// Not registered (as of a fresh read).
    Unknown,
    /// The store could not be read and the site is not cached.
    Unavailable,
}

#[derive(Debug, Default)]
struct Cached {
    sites: HashMap<SiteDomain, Arc<Site>>,
    loaded: Option<Instant>,
}

/// The cache of registered sites.
#[derive(Debug, Clone)]
pub struct SiteCache {
    store: Arc<dyn Store>,
    cached: Arc<RwLock<Cached>>,
    reload: Arc<Mutex<()>>,
}

/// A miss triggers a reload only if the last one is older than this.
const MISS_RELOAD_AFTER: Duration = Duration::from_secs(1);

impl SiteCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cached: Arc::default(), reload: Arc::default() }
    }

    /// Re-reads every site.
    ///
    /// # Errors
    /// Store errors (the cache keeps what it had).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.reload.lock().await;
        self.read_all().await
    }

    /// Re-reads the sites after a miss seen against the cache as loaded at `seen`, unless
    /// another request re-read them meanwhile: a burst of misses (a bot posting for an unknown
    /// site) costs one read, not one per request waiting in line.
    async fn reload_after_miss(&self, seen: Option<Instant>) -> Result<(), StoreError> {
        let _one_at_a_time = self.reload.lock().await;
        let loaded = self.cached.read().ok().and_then(|c| c.loaded);
        if loaded != seen {
            return Ok(());
        }
        self.read_all().await
    }

    async fn read_all(&self) -> Result<(), StoreError> {
        let all = sites::list(self.store.as_ref()).await?;
        let map = all.into_iter().map(|s| (s.domain.clone(), Arc::new(s))).collect();
        if let Ok(mut cached) = self.cached.write() {
            cached.sites = map;
            cached.loaded = Some(Instant::now());
        }
        Ok(())
    }

    fn cached(&self, domain: &SiteDomain) -> (Option<Arc<Site>>, Option<Instant>) {
        match self.cached.read() {
            Ok(cached) => (cached.sites.get(domain).cloned(), cached.loaded),
            Err(_) => (None, None),
        }
    }

    /// Finds a site, re-reading the store on a miss when the cache is not brand new.
    pub async fn get(&self, domain: &SiteDomain) -> SiteLookup {
        let (site, loaded) = self.cached(domain);
        if let Some(site) = site {
            return SiteLookup::Found(site);
        }
        if loaded.is_some_and(|at| at.elapsed() < MISS_RELOAD_AFTER) {
            return SiteLookup::Unknown;
        }
        match self.reload_after_miss(loaded).await {
            Ok(()) => match self.cached(domain).0 {
                Some(site) => SiteLookup::Found(site),
                None => SiteLookup::Unknown,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read sites");
                if loaded.is_some() { SiteLookup::Unknown } else { SiteLookup::Unavailable }
            }
        }
    }

    /// The registered site that `host` (from an `Origin` header) belongs to: the site itself or
    /// a parent domain of it. Re-reads the store on a miss, as [`Self::get`] does.
    pub async fn owner_of(&self, host: &str) -> Option<SiteDomain> {
        if let Some(site) = self.owns_host(host) {
            return Some(site);
        }
        let loaded = self.cached.read().ok().and_then(|c| c.loaded);
        if loaded.is_some_and(|at| at.elapsed() < MISS_RELOAD_AFTER) {
            return None;
        }
        if let Err(e) = self.reload_after_miss(loaded).await {
            tracing::warn!(error = %e, "cannot read sites");
        }
        self.owns_host(host)
    }

    /// Like [`Self::owner_of`], from the cache only.
    pub fn owns_host(&self, host: &str) -> Option<SiteDomain> {
        let cached = self.cached.read().ok()?;
        let mut candidate = host;
        loop {
            if let Ok(domain) = SiteDomain::parse(candidate)
                && cached.sites.contains_key(&domain)
            {
                return Some(domain);
            }
            candidate = candidate.split_once('.')?.1;
        }
    }
}
