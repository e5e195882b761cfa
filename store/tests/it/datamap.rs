use larder_store::datamap::{self, Relation, Source};

use crate::helpers::{both, count};

#[tokio::test]
async fn the_data_map_describes_every_column_of_the_migrated_schema_and_nothing_else() {
    let (_dir, stores) = both("datamap").await;
    for store in &stores {
        let kind = store.kind();
        let map = datamap::build(store.as_ref()).await.expect("data map");
        assert!(
            map.unannotated.is_empty(),
            "{kind:?}: columns created by migrations/*.sql without an annotation in store/src/datamap.rs: {:?}",
            map.unannotated
        );
        assert!(
            map.stale.is_empty(),
            "{kind:?}: annotations in store/src/datamap.rs of columns the schema does not have: {:?}",
            map.stale
        );
        // Views store nothing: the materialized view of visits writes into visit_parts.
        let tables_only = format!(
            "table NOT IN (SELECT name FROM system.tables WHERE database = '{}' AND engine LIKE '%View')",
            store.database()
        );
        let columns = count(
            store.as_ref(),
            &format!("SELECT count() FROM system.columns WHERE database = '{}' AND {tables_only}", store.database()),
        )
        .await;
        assert_eq!(map.fields.len() as u64, columns, "{kind:?}: one field per live column");
        let tables = count(
            store.as_ref(),
            &format!(
                "SELECT count() FROM system.tables WHERE database = '{}' AND engine NOT LIKE '%View'",
                store.database()
            ),
        )
        .await;
        assert_eq!(map.tables.len() as u64, tables, "{kind:?}: every table is described");

        let field = |table: &str, column: &str| {
            map.fields
                .iter()
                .find(|f| f.table == table && f.column == column)
                .unwrap_or_else(|| panic!("{kind:?}: {table}.{column} in the map"))
        };
        let visitor = field("events", "visitor_id");
        assert_eq!(visitor.relates_to_a_person, Relation::Pseudonymous, "{kind:?}");
        assert!(visitor.why.contains("48 h"), "{kind:?}: says why: {}", visitor.why);
        assert_eq!(visitor.source, Source::Enrichment, "{kind:?}");
        assert_eq!(visitor.readable_by, vec!["analyst", "admin", "owner"], "{kind:?}: raw ids only in SQL export");
        assert!(field("events", "pathname").readable_by.contains(&"viewer".to_owned()), "{kind:?}: in reports");
        assert!(field("events", "order_id").retention.contains("retention_days"), "{kind:?}: per-site retention");
        assert!(field("salts", "salt").retention.contains("48 hours"), "{kind:?}");
        for secret in [("users", "password_hash"), ("salts", "salt"), ("api_tokens", "token_hash")] {
            assert!(field(secret.0, secret.1).readable_by.is_empty(), "{kind:?}: nobody reads {secret:?}");
        }
        assert_eq!(field("audit_log", "detail").readable_by, vec!["owner"], "{kind:?}");
        assert!(field("events", "props.value").engine_type.contains("Array"), "{kind:?}: the engine's type");

        let markdown = map.to_markdown();
        assert!(markdown.contains("| `visitor_id` | `UInt64` |"), "{kind:?}: {markdown}");
        assert!(!markdown.contains("## Problems"), "{kind:?}");
    }
}

#[tokio::test]
async fn the_data_map_flags_a_column_added_or_dropped_without_an_annotation() {
    let (_dir, stores) = both("datamap_drift").await;
    for store in &stores {
        let kind = store.kind();
        store.execute("ALTER TABLE goals ADD COLUMN owner_email String").await.expect("add column");
        store.execute("ALTER TABLE funnels DROP COLUMN created_by").await.expect("drop column");
        let map = datamap::build(store.as_ref()).await.expect("data map");
        assert_eq!(map.unannotated, vec!["goals.owner_email".to_owned()], "{kind:?}");
        assert_eq!(map.stale, vec!["funnels.created_by".to_owned()], "{kind:?}");
        assert!(!map.is_complete(), "{kind:?}");
        assert!(map.to_markdown().contains("`goals.owner_email` is stored but not described"), "{kind:?}");
    }
}
