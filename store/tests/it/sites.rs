use chrono::Utc;
use larder_core::SiteDomain;
use larder_store::sites::{self, AddOutcome, Site};

use crate::helpers::both;

#[tokio::test]
async fn sites_are_added_once_listed_updated_and_removed() {
    let (_dir, stores) = both("sites").await;
    for store in &stores {
        let kind = store.kind();
        let store = store.as_ref();
        let shop = Site::new(SiteDomain::parse("shop.example").expect("site"), Utc::now());
        let other = Site::new(SiteDomain::parse("other.example").expect("site"), Utc::now());
        assert_eq!(sites::add(store, &shop).await.expect("add"), AddOutcome::Created, "{kind:?}");
        assert_eq!(sites::add(store, &shop).await.expect("add"), AddOutcome::AlreadyExists, "{kind:?}");
        assert_eq!(sites::add(store, &other).await.expect("add"), AddOutcome::Created, "{kind:?}");
        let listed: Vec<String> =
            sites::list(store).await.expect("list").iter().map(|s| s.domain.to_string()).collect();
        assert_eq!(listed, vec!["other.example", "shop.example"], "{kind:?}");

        let changed = Site { retention_days: 90, search_params: vec!["s".into()], ..shop.clone() };
        sites::update(store, &changed).await.expect("update");
        let got = sites::get(store, &shop.domain).await.expect("get").expect("exists");
        assert_eq!((got.retention_days, got.search_params.clone()), (90, vec!["s".to_owned()]), "{kind:?}");

        assert!(sites::remove(store, &other.domain).await.expect("remove"), "{kind:?}");
        assert!(sites::get(store, &other.domain).await.expect("get").is_none(), "{kind:?}: removed");
        assert!(!sites::remove(store, &other.domain).await.expect("remove again"), "{kind:?}");
    }
}

#[tokio::test]
async fn analyst_sql_sees_only_the_chosen_sites_events_and_cannot_write() {
    use larder_store::analyst::{ExportFormat, run};
    let (_dir, stores) = both("analyst").await;
    let events = crate::roundtrip::fixture(3, 2_000);
    let shop = SiteDomain::parse("shop.example").expect("site");
    let want = events.iter().filter(|e| e.site == shop).count();
    for store in &stores {
        let kind = store.kind();
        store.insert_events(&events).await.expect("insert");
        let out = run(store.as_ref(), &shop, "SELECT site, count() AS n FROM events GROUP BY site;", ExportFormat::Csv)
            .await
            .expect("query");
        assert_eq!(String::from_utf8_lossy(&out), format!("\"site\",\"n\"\n\"shop.example\",{want}\n"), "{kind:?}");
        let jsonl = run(store.as_ref(), &shop, "SELECT count() AS n FROM events", ExportFormat::JsonLines)
            .await
            .expect("jsonl");
        assert_eq!(String::from_utf8_lossy(&jsonl).trim(), format!("{{\"n\":{want}}}"), "{kind:?}");
        let write = run(store.as_ref(), &shop, "INSERT INTO events (site) VALUES ('x')", ExportFormat::Csv).await;
        assert!(matches!(write, Err(larder_store::StoreError::Rejected { .. })), "{kind:?}: writes refused: {write:?}");
        let drop = run(store.as_ref(), &shop, "DROP TABLE events", ExportFormat::Csv).await;
        assert!(drop.is_err(), "{kind:?}: DDL refused");
        assert_eq!(crate::helpers::count(store.as_ref(), "SELECT count() FROM events").await, events.len() as u64);
    }
}
