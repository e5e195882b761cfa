//! `POST /api/v1/sql` and `/api/local/sql` against real stores: who may export, what an export
//! holds, how refusals and limits answer, and the audit trail.

use std::sync::Arc;

use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{BOTH, Backend, Cred, SITE, TestApp, add_site, code, store, test_dir};

const OTHER: &str = "other.example";
const SHOP_EVENTS: usize = 30;

/// Registers other.example and loads 30 events of shop.example and 20 of other.example.
async fn load(app: &TestApp) {
    add_site(app.store.as_ref(), OTHER).await;
    for (site, count) in [(SITE, SHOP_EVENTS), (OTHER, 20)] {
        app.store
            .execute(&format!(
                "INSERT INTO events (event_id, site, timestamp, name, visitor_id, pathname) \
                 SELECT generateUUIDv4(), '{site}', toDateTime('2026-01-01 00:00:00', 'UTC') + number, 'pageview', \
                 number, concat('/p/', toString(number % 3)) FROM numbers({count})"
            ))
            .await
            .expect("load events");
    }
}

/// An export's status, content type and body.
async fn export(app: &TestApp, cred: &Cred, body: Value) -> (u16, String, Vec<u8>) {
    let response = app.request(Method::POST, "/api/v1/sql", cred).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.bytes().await.expect("body").to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_analyst_exports_the_events_of_their_sites_and_the_audit_log_has_the_statement() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "sql_export").await;
        let app = TestApp::start(store, Arc::default()).await;
        load(&app).await;
        app.user("analyst@shop.example", Some((SITE, Role::Analyst))).await;
        let analyst = app.session("analyst@shop.example").await;

        let query = "SELECT site, count() AS n FROM events GROUP BY site";
        let (status, content_type, body) = export(&app, &analyst, json!({ "sites": [SITE], "query": query })).await;
        assert_eq!(status, 200, "{backend:?}: {}", String::from_utf8_lossy(&body));
        assert_eq!(content_type, "text/csv; charset=utf-8", "{backend:?}");
        assert_eq!(
            String::from_utf8_lossy(&body),
            format!("\"site\",\"n\"\n\"{SITE}\",{SHOP_EVENTS}\n"),
            "{backend:?}"
        );

        // Without `sites`: every site the caller may export; here shop.example only.
        let everything = "SELECT * FROM events WHERE site = 'other.example' OR 1";
        let (status, content_type, body) =
            export(&app, &analyst, json!({ "query": everything, "format": "jsonl" })).await;
        assert_eq!((status, content_type.as_str()), (200, "application/x-ndjson"), "{backend:?}");
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.lines().count(), SHOP_EVENTS, "{backend:?}: every row of shop.example");
        assert!(!text.contains(OTHER), "{backend:?}: none of other.example");

        // An API token with the analyst role exports too.
        let (_, secret) = app.token("analyst@shop.example", &[SITE], Role::Analyst, None).await;
        let (status, _, body) =
            export(&app, &Cred::Token(secret), json!({ "query": "SELECT count() FROM events", "format": "tsv" })).await;
        assert_eq!((status, String::from_utf8_lossy(&body).into_owned()), (200, format!("count()\n{SHOP_EVENTS}\n")));

        let entries = app.audit_entries().await;
        for statement in [query, everything] {
            assert!(
                entries.iter().any(|(actor, action, site, detail)| actor == "analyst@shop.example"
                    && action == "sql"
                    && site == SITE
                    && detail == statement),
                "{backend:?}: the audit log has {statement:?}: {entries:?}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn viewers_are_forbidden_and_sites_without_a_role_are_not_found() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "sql_roles").await;
    let app = TestApp::start(store, Arc::default()).await;
    load(&app).await;
    app.user("viewer@shop.example", Some((SITE, Role::Viewer))).await;
    app.user("analyst@shop.example", Some((SITE, Role::Analyst))).await;
    let viewer = app.session("viewer@shop.example").await;
    let analyst = app.session("analyst@shop.example").await;
    let query = json!({ "sites": [SITE], "query": "SELECT count() FROM events" });

    let (status, _, body) = export(&app, &Cred::None, query.clone()).await;
    assert_eq!((status, code(&json_of(&body))), (401, "unauthenticated"), "no credentials");
    let (status, _, body) = export(&app, &viewer, query.clone()).await;
    assert_eq!((status, code(&json_of(&body))), (403, "forbidden"), "a viewer sees aggregates only");
    let (status, _, body) = export(&app, &viewer, json!({ "query": "SELECT 1" })).await;
    assert_eq!((status, code(&json_of(&body))), (403, "forbidden"), "a viewer has no site to export");
    let (status, _, body) = export(&app, &analyst, json!({ "sites": [OTHER], "query": "SELECT 1" })).await;
    assert_eq!((status, code(&json_of(&body))), (404, "not_found"), "no role on other.example");
    let (status, _, body) = export(&app, &analyst, json!({ "sites": [SITE, OTHER], "query": "SELECT 1" })).await;
    assert_eq!(status, 404, "every site needs the role: {}", String::from_utf8_lossy(&body));
    let (status, _, body) = export(&app, &analyst, json!({ "sites": [], "query": "SELECT 1" })).await;
    assert_eq!((status, code(&json_of(&body))), (422, "invalid_field"), "an empty list of sites");
    let (status, _, body) = export(&app, &analyst, json!({ "query": "SELECT 1", "format": "xlsx" })).await;
    assert_eq!((status, json_of(&body)["error"]["field"].as_str()), (422, Some("format")));
    assert!(
        !app.audit_entries().await.iter().any(|(actor, action, ..)| actor == "viewer@shop.example" && action == "sql"),
        "refused callers ran nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_queries_and_limits_answer_422_with_the_reason() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "sql_refused").await;
        let app = TestApp::start(store, Arc::default()).await;
        load(&app).await;
        app.user("analyst@shop.example", Some((SITE, Role::Analyst))).await;
        let analyst = app.session("analyst@shop.example").await;

        let escape = format!("SELECT * FROM {}.salts", app.store.database());
        let (status, _, body) = export(&app, &analyst, json!({ "query": escape })).await;
        let body = json_of(&body);
        assert_eq!((status, code(&body)), (422, "query_rejected"), "{backend:?}: {body}");
        assert_eq!(body["error"]["field"], "query");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains("only the table `events` can be read"), "{backend:?}: {message}");
        assert!(
            app.audit_entries().await.iter().any(|(_, action, _, detail)| action == "sql" && *detail == escape),
            "{backend:?}: refused statements are audited too"
        );

        let (status, _, body) =
            export(&app, &analyst, json!({ "query": "SELECT * FROM events", "max_rows": 10 })).await;
        let body = json_of(&body);
        assert_eq!((status, code(&body)), (422, "query_rejected"), "{backend:?}: {body}");
        assert!(body["error"]["message"].as_str().expect("message").contains("more than 10 rows"), "{body}");

        let (status, _, body) = export(&app, &analyst, json!({ "query": "SELECT pathnme FROM events" })).await;
        assert_eq!((status, code(&json_of(&body))), (422, "query_rejected"), "{backend:?}: an engine error");

        let (status, content_type, body) =
            export(&app, &analyst, json!({ "query": "SELECT pathname FROM events", "format": "parquet" })).await;
        match backend {
            Backend::Embedded => {
                assert_eq!((status, content_type.as_str()), (200, "application/vnd.apache.parquet"));
                assert!(body.starts_with(b"PAR1") && body.ends_with(b"PAR1"), "Parquet magic bytes");
            }
            Backend::Server => {
                let body = json_of(&body);
                assert_eq!((status, body["error"]["field"].as_str()), (422, Some("format")), "{body}");
            }
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn an_analyst_of_several_sites_exports_them_together() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "sql_sites").await;
    let app = TestApp::start(store, Arc::default()).await;
    load(&app).await;
    app.user("analyst@shop.example", Some((SITE, Role::Analyst))).await;
    app.grant("analyst@shop.example", OTHER, Role::Owner).await;
    let analyst = app.session("analyst@shop.example").await;
    let query = "SELECT site, count() FROM events GROUP BY site ORDER BY site";
    let (status, _, body) = export(&app, &analyst, json!({ "query": query, "format": "tsv" })).await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&body), format!("site\tcount()\n{OTHER}\t20\n{SITE}\t{SHOP_EVENTS}\n"));
    let sites: Vec<String> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|(_, action, _, detail)| action == "sql" && detail == query)
        .map(|(_, _, site, _)| site)
        .collect();
    assert_eq!(sites.len(), 2, "one audit entry per site: {sites:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_local_channel_runs_the_same_checks_for_larder_sql() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "sql_local").await;
    let app = TestApp::start(store, Arc::default()).await;
    load(&app).await;
    let operator = Cred::Token("local-secret".into());
    let call = |body: Value| {
        let (app, operator) = (&app, &operator);
        async move {
            let response =
                app.request(Method::POST, "/api/local/sql", operator).json(&body).send().await.expect("send");
            (response.status().as_u16(), response.bytes().await.expect("body").to_vec())
        }
    };
    let (status, body) = call(json!({ "site": SITE, "query": "SELECT count() FROM events", "format": "tsv" })).await;
    assert_eq!((status, String::from_utf8_lossy(&body).into_owned()), (200, format!("count()\n{SHOP_EVENTS}\n")));
    let (status, body) = call(json!({ "sites": [SITE, OTHER], "query": "SELECT count() FROM events" })).await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).into_owned()),
        (200, format!("\"count()\"\n{}\n", SHOP_EVENTS + 20))
    );
    let (status, body) = call(json!({ "site": SITE, "query": "SELECT * FROM system.tables" })).await;
    assert_eq!((status, code(&json_of(&body))), (422, "query_rejected"), "the same validator");
    let (status, _) = call(json!({ "site": "nowhere.example", "query": "SELECT 1" })).await;
    assert_eq!(status, 404, "an unregistered site");
    let entries = app.audit_entries().await;
    assert!(
        entries.iter().any(|(actor, action, site, _)| actor == "operator (cli)" && action == "sql" && site == SITE),
        "{entries:?}"
    );
    app.stop().await;
}
