//! The site cache against a real store: a burst of lookups for a site that is not registered
//! reads the sites once, not once per waiting request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use larder_collector::sites::{SiteCache, SiteLookup};
use larder_core::SiteDomain;
use larder_store::analyst::Chunks;
use larder_store::{BackendKind, EngineVersion, Store, StoreError};

use crate::helpers::{Backend, SITE, store, test_dir};

/// The real store, with a count of the reads of the `sites` table going through it.
#[derive(Debug)]
struct CountingSiteReads {
    inner: Arc<dyn Store>,
    site_reads: AtomicUsize,
}

#[async_trait::async_trait]
impl Store for CountingSiteReads {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }
    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.inner.execute(sql).await
    }
    async fn query_raw(&self, sql: &str, format: &'static str) -> Result<Vec<u8>, StoreError> {
        if sql.contains("FROM sites") {
            self.site_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.query_raw(sql, format).await
    }
    async fn query_analyst(
        &self,
        database: &str,
        sql: &str,
        format: &'static str,
        settings: &[(&'static str, String)],
    ) -> Result<Chunks, StoreError> {
        self.inner.query_analyst(database, sql, format, settings).await
    }
    fn database(&self) -> &str {
        self.inner.database()
    }
    async fn insert_raw(&self, insert: &str, format: &'static str, data: Vec<u8>) -> Result<(), StoreError> {
        self.inner.insert_raw(insert, format, data).await
    }
    async fn version(&self) -> Result<EngineVersion, StoreError> {
        self.inner.version().await
    }
}

#[tokio::test]
async fn a_burst_of_misses_reads_the_sites_once() {
    let dir = test_dir();
    let inner = store(Backend::Server, dir.path(), "site_misses").await;
    let counting = Arc::new(CountingSiteReads { inner, site_reads: AtomicUsize::new(0) });
    let cache = SiteCache::new(Arc::clone(&counting) as Arc<dyn Store>);
    cache.reload().await.expect("first read");
    // Past the once-a-second allowance, so that a miss may read again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = counting.site_reads.load(Ordering::SeqCst);

    let unknown = SiteDomain::parse("not-registered.example").expect("domain");
    let lookups = (0..64).map(|_| {
        let cache = cache.clone();
        let unknown = unknown.clone();
        tokio::spawn(async move { cache.get(&unknown).await })
    });
    let lookups: Vec<_> = lookups.collect();
    let owners = (0..64).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { cache.owner_of("www.not-registered.example").await })
    });
    let owners: Vec<_> = owners.collect();
    for lookup in lookups {
        assert!(matches!(lookup.await.expect("task"), SiteLookup::Unknown));
    }
    for owner in owners {
        assert_eq!(owner.await.expect("task"), None);
    }
    let reads = counting.site_reads.load(Ordering::SeqCst) - before;
    assert_eq!(reads, 1, "128 concurrent misses read the sites {reads} times");

    // A registered site is still found, and found without a read.
    let known = SiteDomain::parse(SITE).expect("domain");
    assert!(matches!(cache.get(&known).await, SiteLookup::Found(_)));
    assert_eq!(counting.site_reads.load(Ordering::SeqCst) - before, 1);
}
