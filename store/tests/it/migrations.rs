use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_store::migrate::{MIGRATIONS, migrate, migrate_with};

use crate::helpers::{assert_visits_agree, both, count, embedded, server};

const TABLES: &[&str] = &[
    "events",
    "sites",
    "salts",
    "visitor_sessions",
    "collector_pending",
    "users",
    "user_roles",
    "api_tokens",
    "login_attempts",
    "audit_log",
    "funnels",
    "goals",
    "visit_parts",
];

#[tokio::test]
async fn migrations_apply_from_empty_and_reapply_as_a_no_op() {
    let (_dir, stores) = both("migrations").await; // `both` applied them once already
    for store in &stores {
        let kind = store.kind();
        for table in TABLES {
            let n = count(
                store.as_ref(),
                &format!("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '{table}'"),
            )
            .await;
            assert_eq!(n, 1, "{kind:?}: table {table} exists");
        }
        let recorded = count(store.as_ref(), "SELECT count() FROM schema_migrations").await;
        assert_eq!(recorded, MIGRATIONS.len() as u64, "{kind:?}: each migration recorded once");

        let again = migrate(store.as_ref()).await.expect("second run");
        assert!(again.applied.is_empty(), "{kind:?}: nothing applied twice: {again:?}");
        assert_eq!(again.already_applied.len(), MIGRATIONS.len(), "{kind:?}");
        let recorded = count(store.as_ref(), "SELECT count() FROM schema_migrations").await;
        assert_eq!(recorded, MIGRATIONS.len() as u64, "{kind:?}: still recorded once");
    }
}

#[tokio::test]
async fn a_failing_migration_names_its_file_and_statement_and_is_not_recorded() {
    use larder_store::StoreError;
    use larder_store::migrate::{Migration, migrate_with};
    let (_dir, stores) = both("failing_migration").await;
    let bad = [Migration {
        version: 9999,
        name: "9999_broken",
        sql: "CREATE TABLE IF NOT EXISTS ok_table (x UInt8) ENGINE = Memory;\nCREATE TABLE broken (x NoSuchType) ENGINE = Memory;",
    }];
    for store in &stores {
        let kind = store.kind();
        let err = migrate_with(store.as_ref(), &bad).await.expect_err("broken migration fails");
        match &err {
            StoreError::Migration { name, statement, source } => {
                assert_eq!((name.as_str(), *statement), ("9999_broken", 2), "{kind:?}: {err}");
                assert!(matches!(**source, StoreError::Rejected { .. }), "{kind:?}: engine rejected it: {source:?}");
            }
            other => panic!("{kind:?}: expected a migration error, got {other:?}"),
        }
        let recorded = count(store.as_ref(), "SELECT count() FROM schema_migrations WHERE version = 9999").await;
        assert_eq!(recorded, 0, "{kind:?}: a failed migration is not recorded");

        let fixed = [Migration { sql: "CREATE TABLE IF NOT EXISTS ok_table (x UInt8) ENGINE = Memory;", ..bad[0] }];
        let report = migrate_with(store.as_ref(), &fixed).await.expect("fixed migration applies");
        assert_eq!(report.applied, vec!["9999_broken".to_owned()], "{kind:?}");

        let edited = [Migration { sql: "SELECT 1;", ..bad[0] }];
        let err = migrate_with(store.as_ref(), &edited).await.expect_err("edited migration is refused");
        assert!(matches!(err, StoreError::MigrationChanged { .. }), "{kind:?}: {err:?}");
    }
}

#[tokio::test]
async fn events_stored_before_the_visits_view_existed_are_pre_aggregated_by_its_migration() {
    let (_dir, embedded) = embedded().await;
    let start = DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").expect("time").with_timezone(&Utc);
    let fixture = events(&FixtureSpec {
        seed: 11,
        count: 3000,
        sites: vec![SiteDomain::parse("shop.example").expect("site"), SiteDomain::parse("b.example").expect("site")],
        start,
        span_secs: 40 * 86_400,
        visitors: 200,
    });
    for store in [embedded, server("migration_fill")] {
        let kind = store.kind();
        let store = store.as_ref();
        migrate_with(store, &MIGRATIONS[..2]).await.expect("the schema before the view");
        store.insert_events(&fixture[100..]).await.expect("insert");
        // A store of the first layout (0003), whose view aggregated some events, is upgraded.
        migrate_with(store, &MIGRATIONS[..3]).await.expect("the first layout");
        store.insert_events(&fixture[..100]).await.expect("insert through the first view");
        assert!(count(store, "SELECT count() FROM visit_parts").await > 0, "{kind:?}: the first view wrote");
        let report = migrate(store).await.expect("migrate");
        assert_eq!(
            report.applied,
            vec!["0004_visit_parts_keys".to_owned(), "0005_visit_days".to_owned(), "0006_search_days".to_owned()],
            "{kind:?}"
        );
        assert!(count(store, "SELECT count() FROM visit_parts").await > 0, "{kind:?}: the old events were aggregated");
        assert_visits_agree(store, "the migration's fill").await;
        let counted = "SELECT sum(inserted) FROM day_inserts";
        let stored = count(store, "SELECT count() FROM events").await;
        assert_eq!(count(store, counted).await, stored, "{kind:?}: 0005 counted the stored events per day");
        // Events stored afterwards go through the views.
        store.insert_events(&fixture[..100]).await.expect("insert again");
        assert_visits_agree(store, "an insert through the view").await;
        assert_eq!(count(store, counted).await, stored + 100, "{kind:?}: and counted as they come");
        assert_eq!(
            count(store, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'visit_parts' AND name = 's_source'").await,
            0,
            "{kind:?}: the first layout's columns are gone"
        );
    }
}
