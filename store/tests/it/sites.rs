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
