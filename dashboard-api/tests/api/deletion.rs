//! `POST /api/v1/sites/{site}/deletions` and per-site retention against real stores: only
//! owners delete, the data is gone from reports and SQL export when the answer comes, the
//! deletion is in the audit log without the value a customer asked to forget, and retention
//! follows the `retention_days` admins set through the API.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{BOTH, Cred, SITE, TestApp, code, store, test_dir};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

/// Two months of shop.example's events, three of whose page views carry order A-1001.
fn fixture() -> Vec<larder_core::Event> {
    let mut all = events(&FixtureSpec {
        seed: 11,
        count: 2000,
        sites: vec![SiteDomain::parse(SITE).expect("site")],
        start: at("2026-09-01T00:00:00Z"),
        span_secs: 61 * 86_400,
        visitors: 150,
    });
    for event in all.iter_mut().filter(|e| e.name.as_str() == "pageview").take(3) {
        event.order_id = "A-1001".into();
    }
    all
}

/// The first column of the first row of a CSV export as analyst.
async fn export_count(app: &TestApp, analyst: &Cred, query: &str) -> u64 {
    let body = json!({ "sites": [SITE], "query": query, "format": "csv" });
    let response = app.request(Method::POST, "/api/v1/sql", analyst).json(&body).send().await.expect("export");
    assert_eq!(response.status().as_u16(), 200, "export of {query}");
    let text = response.text().await.expect("body");
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("a count in {text}"))
}

async fn pageviews(app: &TestApp, viewer: &Cred, from: &str, to: &str) -> u64 {
    let (status, body) =
        app.get(&format!("/api/v1/sites/{SITE}/overview?period=custom&from={from}&to={to}"), viewer).await;
    assert_eq!(status, 200, "{body}");
    body["current"]["pageviews"].as_u64().expect("pageviews")
}

#[tokio::test]
async fn owners_delete_an_order_a_range_and_everything_and_it_is_gone_and_audited() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "deletion_api").await;
        let all = fixture();
        store.insert_events(&all).await.expect("insert");
        let app = TestApp::start(store, Arc::default()).await;
        for (email, role) in [
            ("owner@shop.example", Role::Owner),
            ("admin@shop.example", Role::Admin),
            ("analyst@shop.example", Role::Analyst),
        ] {
            app.user(email, Some((SITE, role))).await;
        }
        app.user("stranger@other.example", None).await;
        let owner = app.session("owner@shop.example").await;
        let admin = app.session("admin@shop.example").await;
        let analyst = app.session("analyst@shop.example").await;
        let stranger = app.session("stranger@other.example").await;
        let path = format!("/api/v1/sites/{SITE}/deletions");
        let order = json!({ "order_id": "A-1001", "reference": "ticket 42" });

        for (who, cred, want) in [("admin", &admin, 403), ("analyst", &analyst, 403), ("no role", &stranger, 404)] {
            let (status, body) = app.call(Method::POST, &path, cred, Some(order.clone())).await;
            assert_eq!(status, want, "{backend:?}: {who} may not delete: {body}");
        }
        let (status, body) = app.call(Method::POST, &path, &owner, Some(json!({}))).await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (422, "invalid_field", Some("all")),
            "{backend:?}: {body}"
        );
        let (status, _) = app.call(Method::POST, &path, &owner.without_csrf(), Some(order.clone())).await;
        assert_eq!(status, 403, "{backend:?}: a cookie write needs the CSRF header");
        assert_eq!(
            export_count(&app, &analyst, "SELECT count() FROM events WHERE order_id = 'A-1001'").await,
            3,
            "{backend:?}: refused requests deleted nothing"
        );

        // A customer's order.
        let (status, body) = app.call(Method::POST, &path, &owner, Some(order.clone())).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!((body["deleted_events"].as_u64(), body["whole_site"].as_bool()), (Some(3), Some(false)), "{body}");
        assert_eq!(
            export_count(&app, &analyst, "SELECT count() FROM events WHERE order_id = 'A-1001'").await,
            0,
            "{backend:?}: gone from SQL export when the answer came"
        );
        let total = all.len() as u64;
        assert_eq!(export_count(&app, &analyst, "SELECT count() FROM events").await, total - 3, "{backend:?}");

        // October, as dates.
        assert!(pageviews(&app, &owner, "2026-10-01", "2026-10-31").await > 0, "{backend:?}: October had page views");
        let september = pageviews(&app, &owner, "2026-09-01", "2026-09-30").await;
        let (status, body) =
            app.call(Method::POST, &path, &owner, Some(json!({ "from": "2026-10-01", "to": "2026-11-01" }))).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["dropped_months"], json!([202610]), "{backend:?}: a whole month goes as a partition: {body}");
        assert_eq!(pageviews(&app, &owner, "2026-10-01", "2026-10-31").await, 0, "{backend:?}: October is empty");
        assert_eq!(
            pageviews(&app, &owner, "2026-09-01", "2026-09-30").await,
            september,
            "{backend:?}: September stays"
        );

        // Everything.
        let (status, body) = app.call(Method::POST, &path, &owner, Some(json!({ "all": true }))).await;
        assert_eq!((status, body["whole_site"].as_bool()), (200, Some(true)), "{backend:?}: {body}");
        assert_eq!(export_count(&app, &analyst, "SELECT count() FROM events").await, 0, "{backend:?}");
        let rows_in_parts = app
            .store
            .query_raw(
                "SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active",
                "TabSeparated",
            )
            .await
            .expect("parts");
        assert_eq!(
            String::from_utf8_lossy(&rows_in_parts).trim(),
            "0",
            "{backend:?}: no rows left in the table's parts"
        );

        // The owner reads what happened; the order id itself is not in the log.
        let (status, log) = app.get(&format!("/api/v1/sites/{SITE}/audit"), &owner).await;
        assert_eq!(status, 200, "{log}");
        let deletions: Vec<&Value> =
            log["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "data_deleted").collect();
        assert_eq!(deletions.len(), 3, "{backend:?}: one entry per deletion: {log}");
        assert!(deletions.iter().all(|e| e["actor"] == "owner@shop.example" && e["site"] == SITE), "{log}");
        let details: Vec<&str> = deletions.iter().filter_map(|e| e["detail"].as_str()).collect();
        assert!(details.iter().any(|d| d.contains("\"match\":\"order_id\"") && d.contains("ticket 42")), "{details:?}");
        assert!(details.iter().any(|d| d.contains("\"whole_site\":true")), "{details:?}");
        // (The analyst's own statements above quote it: SQL is audited as written.)
        assert!(!details.iter().any(|d| d.contains("A-1001")), "{backend:?}: the order id is not kept: {details:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn retention_follows_the_days_an_admin_sets_through_the_api() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "retention_api").await;
        let all = fixture();
        store.insert_events(&all).await.expect("insert");
        let app = TestApp::start(store, Arc::default()).await;
        app.user("admin@shop.example", Some((SITE, Role::Admin))).await;
        let admin = app.session("admin@shop.example").await;
        let (status, body) = app
            .call(Method::PATCH, &format!("/api/v1/sites/{SITE}"), &admin, Some(json!({ "retention_days": 20 })))
            .await;
        assert_eq!((status, body["retention_days"].as_u64()), (200, Some(20)), "{backend:?}: {body}");

        // The daily run, as of the fixture's last day (a clock in the past), default 730 days.
        let now = at("2026-10-31T12:00:00Z");
        let run = larder_store::retention::apply_all(app.store.as_ref(), now, 730, None).await.expect("retention");
        let cutoff = larder_store::retention::cutoff(now, 20);
        let shop = run.sites.iter().find(|s| s.site == SITE).expect("the site ran");
        assert_eq!(shop.retention_days, 20, "{backend:?}: the API's setting, not the default");
        let old = all.iter().filter(|e| e.timestamp < cutoff).count() as u64;
        assert_eq!(shop.report.deleted_events, old, "{backend:?}");
        let left = app.store.query_raw(
            "SELECT count(), min(timestamp) >= toDateTime('2026-10-11 00:00:00', 'UTC') FROM events",
            "TabSeparated",
        );
        let left = String::from_utf8_lossy(&left.await.expect("count")).trim().to_owned();
        assert_eq!(left, format!("{}\t1", all.len() as u64 - old), "{backend:?}: the last 20 days stay, nothing older");
        app.stop().await;
    }
}
