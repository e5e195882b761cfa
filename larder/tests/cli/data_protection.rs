//! `larder datamap`, `larder delete` and `larder retention apply` as an operator runs them: on
//! the embedded store directly, and through a running `larder serve` that holds the directory.

use crate::helpers::{Serve, larder, run, run_ok, shop_sql};

fn count(data: &str, query: &str) -> u64 {
    let out = shop_sql(data, query);
    out.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("a count in {out:?}"))
}

#[test]
fn datamap_delete_and_retention_work_directly_and_through_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let data_path = dir.path().join("data");
    let data = data_path.to_str().expect("utf-8 path");
    // The site keeps 20 days; the demo events span 60.
    let loaded = larder()
        .args(["demo-data", "--data", data, "--site", "shop.example", "--events", "4000", "--days", "60"])
        .env("LARDER_PRIVACY__RETENTION_DAYS", "20")
        .output()
        .expect("demo-data");
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));

    // The data map, directly.
    let markdown = run_ok(&["datamap", "--data", data]);
    for want in
        ["# Larder data map", "## `events`", "| `visitor_id` | `UInt64` |", "## `salts`", "`shop.example`: 20 days"]
    {
        assert!(markdown.contains(want), "{want:?} in {markdown}");
    }
    let direct: serde_json::Value =
        serde_json::from_str(&run_ok(&["datamap", "--data", data, "--format", "json"])).expect("json");
    assert_eq!(direct["unannotated"], serde_json::json!([]), "{direct}");
    assert!(direct["fields"].as_array().is_some_and(|f| f.len() > 100), "every field");

    let serve = Serve::start(&data_path);
    let through: serde_json::Value =
        serde_json::from_str(&run_ok(&["datamap", "--data", data, "--format", "json"])).expect("json");
    assert_eq!(through["fields"], direct["fields"], "the same map through larder serve");

    // A customer's order, through serve.
    let order = shop_sql(data, "SELECT order_id FROM events WHERE order_id != '' ORDER BY order_id LIMIT 1");
    let order = order.lines().nth(1).expect("an order id").trim().to_owned();
    let with_order = count(data, &format!("SELECT count() FROM events WHERE order_id = '{order}'"));
    assert!(with_order > 0);
    let total = count(data, "SELECT count() FROM events");
    let deleted =
        run_ok(&["delete", "--data", data, "--site", "shop.example", "--order-id", &order, "--reference", "ticket 7"]);
    assert_eq!(
        deleted.trim(),
        format!("deleted {with_order} event(s) of shop.example (the other rows deleted by a mutation)")
    );
    assert_eq!(count(data, &format!("SELECT count() FROM events WHERE order_id = '{order}'")), 0, "gone");
    assert_eq!(count(data, "SELECT count() FROM events"), total - with_order, "nothing else went");

    let unbounded = run(&["delete", "--data", data, "--site", "shop.example"]);
    assert!(!unbounded.status.success(), "a deletion must say what it deletes");
    let both = run(&["delete", "--data", data, "--site", "shop.example", "--all", "--order-id", "x"]);
    assert!(!both.status.success(), "--all stands alone");

    // Retention on demand, through serve: the site's 20 days.
    let old = "SELECT count() FROM events WHERE timestamp < toDateTime(toDate(now() - INTERVAL 20 DAY))";
    assert!(count(data, old) > 0, "events older than 20 days exist");
    let applied = run_ok(&["retention", "apply", "--data", data, "--site", "shop.example"]);
    assert!(applied.starts_with("shop.example: keeps 20 days"), "{applied}");
    assert_eq!(count(data, old), 0, "nothing older than the site's retention");
    assert!(count(data, "SELECT count() FROM events") > 0, "recent events stay");
    assert!(serve.stop().success());

    // Directly again: everything, then the full retention run.
    let all = run_ok(&["delete", "--data", data, "--site", "shop.example", "--all"]);
    assert!(all.starts_with("deleted ") && all.contains("partitions of"), "{all}");
    assert_eq!(count(data, "SELECT count() FROM events"), 0);
    let applied = run_ok(&["retention", "apply", "--data", data]);
    assert!(applied.contains("no events stored") && applied.contains("login records:"), "{applied}");

    // The operator's deletions and retention are in the audit log, without the order id.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let entries = runtime.block_on(async {
        let store = larder_store::EmbeddedStore::open(larder_store::EmbeddedConfig {
            data_dir: data_path.clone(),
            library: std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/chdb/libchdb.so")),
            read_connections: 1,
        })
        .await
        .expect("open the store");
        larder_store::auth::audit_page(&store, Some("shop.example"), 0, 1000).await.expect("audit log")
    });
    drop(runtime);
    larder_store::shutdown_embedded_engine();
    let deletions: Vec<_> = entries.iter().filter(|e| e.action == "data_deleted").collect();
    assert_eq!(deletions.len(), 2, "{entries:#?}");
    assert!(deletions.iter().all(|e| e.actor == "operator (cli)"), "{deletions:#?}");
    assert!(deletions.iter().any(|e| e.detail.contains("ticket 7") && !e.detail.contains(&order)), "{deletions:#?}");
    assert!(
        entries.iter().any(|e| e.action == "retention_applied" && e.detail.contains("\"retention_days\":20")),
        "{entries:#?}"
    );
}
