use std::time::Duration;

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};

use crate::helpers::{both, count, eventually};

#[tokio::test]
async fn retention_drops_a_sites_old_data_and_keeps_the_rest() {
    let (_dir, stores) = both("retention").await;
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").expect("now").with_timezone(&Utc);
    let shop = SiteDomain::parse("shop.example").expect("site");
    let other = SiteDomain::parse("other.example").expect("site");
    // 400 days of events for both sites, one batch per 20-day slice.
    let mut all = Vec::new();
    for slice in 0..20u64 {
        all.extend(events(&FixtureSpec {
            seed: slice,
            count: 200,
            sites: vec![shop.clone(), other.clone()],
            start: now - chrono::Duration::days(400 - 20 * slice as i64),
            span_secs: 20 * 86_400,
            visitors: 50,
        }));
    }
    let cutoff = larder_store::retention::cutoff(now, 30);
    let old = |site: &SiteDomain| all.iter().filter(|e| &e.site == site && e.timestamp < cutoff).count() as u64;
    let kept = |site: &SiteDomain| all.iter().filter(|e| &e.site == site && e.timestamp >= cutoff).count() as u64;
    assert!(old(&shop) > 0 && kept(&shop) > 0, "fixture straddles the cutoff");

    for store in &stores {
        let kind = store.kind();
        store.insert_events(&all).await.expect("insert");
        let report = larder_store::retention::apply(store.as_ref(), &shop, 30, now).await.expect("retention");
        assert!(report.dropped_months.len() >= 11, "{kind:?}: whole months dropped as partitions: {report:?}");
        assert!(report.deleted_boundary_rows, "{kind:?}: the boundary month is trimmed");
        let shop_sql = "SELECT count() FROM events WHERE site = 'shop.example'";
        let want = kept(&shop);
        // 18.16 runs the boundary delete as an asynchronous mutation.
        eventually(Duration::from_secs(30), "boundary rows deleted", || async {
            count(store.as_ref(), shop_sql).await == want
        })
        .await;
        let oldest = count(
            store.as_ref(),
            &format!(
                "SELECT count() FROM events WHERE site = 'shop.example' AND timestamp < toDateTime({}, 'UTC')",
                cutoff.timestamp()
            ),
        )
        .await;
        assert_eq!(oldest, 0, "{kind:?}: nothing older than the cutoff");
        let other_count = count(store.as_ref(), "SELECT count() FROM events WHERE site = 'other.example'").await;
        assert_eq!(other_count, old(&other) + kept(&other), "{kind:?}: the other site is untouched");

        let again = larder_store::retention::apply(store.as_ref(), &shop, 30, now).await.expect("retention again");
        assert_eq!(again, Default::default(), "{kind:?}: a second run finds nothing to do");
    }
}
