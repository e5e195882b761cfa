//! What the browser dashboard needs from the service: its static files (index.html for the
//! app's paths, never cached; hashed assets cached for a year; a page saying how to build it
//! when it is not built), the public login policy, and revenue over time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use larder_core::{Currency, EventId, Money};
use larder_dashboard_api::{ApiState, DashboardFiles};
use reqwest::header;
use serde_json::Value;

use crate::helpers::{BOTH, Backend, Cred, SITE, TestApp, auth_config, code, store, test_dir};
use crate::reports::event;

/// A built dashboard: index.html and one hashed asset.
fn built_dashboard(dir: &std::path::Path) -> std::path::PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("assets dir");
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Larder</title><script src=/assets/app-AB12CD34.js></script>",
    )
    .expect("index");
    std::fs::write(dist.join("assets/app-AB12CD34.js"), "console.log('larder')").expect("asset");
    std::fs::write(dir.join("secret.txt"), "not served").expect("secret");
    dist
}

async fn app_with_dashboard(
    backend: Backend,
    dir: &crate::helpers::TestDir,
    test: &str,
    dist: std::path::PathBuf,
) -> TestApp {
    let store = store(backend, dir, test).await;
    let state =
        ApiState::new(store, None).with_auth(auth_config(Arc::default())).with_dashboard(DashboardFiles::new(dist));
    TestApp::start_state(state).await
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_app_paths_answer_index_html_uncached_and_assets_are_cached_for_a_year() {
    let dir = test_dir();
    let dist = built_dashboard(dir.path());
    let app = app_with_dashboard(Backend::Embedded, &dir, "dashboard_files", dist.clone()).await;
    let index = std::fs::read_to_string(dist.join("index.html")).expect("index");
    for path in
        ["/", "/login", "/account", "/sites", "/sites/shop.example/overview", "/sites/shop.example/search?query=x"]
    {
        let response = app.client.get(format!("{}{path}", app.url)).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache", "{path}: revalidated every time");
        let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header_of(&response, header::X_FRAME_OPTIONS), "DENY", "{path}");
        assert_eq!(response.text().await.expect("body"), index, "{path}");
    }

    let asset = format!("{}/assets/app-AB12CD34.js", app.url);
    let response = app.client.get(&asset).send().await.expect("asset");
    assert_eq!(response.status(), 200);
    assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header_of(&response, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert_eq!(header_of(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let etag = header_of(&response, header::ETAG);
    assert_eq!(response.text().await.expect("body"), "console.log('larder')");
    let revalidated = app.client.get(&asset).header(header::IF_NONE_MATCH, &etag).send().await.expect("asset");
    assert_eq!(revalidated.status(), 304, "the same ETag: not modified");
    let head = app.client.head(&asset).send().await.expect("head");
    assert_eq!((head.status().as_u16(), header_of(&head, header::CONTENT_LENGTH)), (200, "21".to_owned()), "HEAD");

    for path in ["/assets/missing.js", "/assets/..%2Fsecret.txt", "/assets/.hidden", "/secret.txt", "/nope"] {
        let response = app.client.get(format!("{}{path}", app.url)).send().await.expect("get");
        assert_eq!(response.status(), 404, "{path}");
    }
    let (status, body) = app.get("/api/v1/me", &Cred::None).await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"), "the API answers as before");

    // A new build is served without a restart.
    std::fs::write(dist.join("index.html"), "<!doctype html><title>rebuilt</title>").expect("rebuild");
    let rebuilt = app.client.get(format!("{}/", app.url)).send().await.expect("get").text().await.expect("body");
    assert!(rebuilt.contains("rebuilt"), "{rebuilt}");
    app.stop().await;
}

#[tokio::test]
async fn an_unbuilt_dashboard_says_how_to_build_it_and_no_dashboard_means_api_only() {
    let dir = test_dir();
    let missing = dir.path().join("never-built");
    let app = app_with_dashboard(Backend::Embedded, &dir, "dashboard_unbuilt", missing).await;
    let response = app.client.get(format!("{}/sites/shop.example/overview", app.url)).send().await.expect("get");
    assert_eq!(response.status(), 503);
    assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
    let page = response.text().await.expect("body");
    assert!(page.contains("The dashboard is not built") && page.contains("npm run build"), "{page}");
    assert!(page.contains("never-built"), "names the directory: {page}");
    let response = app.client.get(format!("{}/assets/app.js", app.url)).send().await.expect("get");
    assert_eq!(response.status(), 404);
    app.stop().await;

    // The server engine: reopening the embedded store right after the first app stops races
    // with its last references (chDB holds one data directory per process).
    let store = store(Backend::Server, &dir, "dashboard_none").await;
    let app = TestApp::start(store, Arc::default()).await;
    let response = app.client.get(format!("{}/", app.url)).send().await.expect("get");
    assert_eq!(response.status(), 404, "an API-only state serves no pages");
    app.stop().await;
}

#[tokio::test]
async fn the_login_policy_is_public_and_follows_the_configuration() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "login_policy").await;
    let config = larder_dashboard_api::auth::AuthConfig {
        max_failed_logins: 3,
        lockout: std::time::Duration::from_secs(600),
        ..auth_config(Arc::default())
    };
    let app = TestApp::start_with(store, config, None).await;
    let (status, body) = app.get("/api/v1/login", &Cred::None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["max_failed_logins"], 3);
    assert_eq!(body["failed_login_window_secs"], 900);
    assert_eq!(body["lockout_secs"], 600);
    assert_eq!(body["min_password_chars"], 12);
    app.stop().await;
}

/// A purchase of `amount` EUR by visitor `visitor` at `at` (RFC 3339).
fn purchase(n: u64, visitor: u64, at: &str, amount: &str) -> larder_core::Event {
    let mut e = event(n, visitor, "10:00:00", "purchase", "/checkout", "Google");
    e.timestamp = DateTime::parse_from_rfc3339(at).expect("time").with_timezone(&Utc);
    e.id = EventId::from_uuid(uuid::Uuid::from_u64_pair(e.timestamp.timestamp() as u64, n));
    e.revenue = Some(Money::parse(amount, "EUR").expect("money"));
    e.currency = Some(Currency::parse("EUR").expect("currency"));
    e
}

/// Revenue (ten-thousandths of EUR) per point of a series.
fn revenue_per_point(points: &Value) -> Vec<i64> {
    points
        .as_array()
        .map(|points| points.iter().map(|p| p["revenue"][0]["amount_e4"].as_i64().unwrap_or(0)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn revenue_comes_per_bucket_and_for_the_previous_period() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "revenue_series").await;
        let events = vec![
            purchase(0, 1, "2026-11-19T09:00:00Z", "10.00"),
            purchase(1, 2, "2026-11-20T09:00:00Z", "25.50"),
            purchase(2, 2, "2026-11-20T11:00:00Z", "4.50"),
            purchase(3, 3, "2026-11-18T12:00:00Z", "7.00"),
            purchase(4, 4, "2026-11-12T12:00:00Z", "99.00"),
        ];
        store.insert_events(&events).await.expect("insert");
        let app = TestApp::start(store, Arc::default()).await;
        app.user("viewer@shop.example", Some((SITE, larder_dashboard_api::auth::Role::Viewer))).await;
        let viewer = app.session("viewer@shop.example").await;
        let site = format!("/api/v1/sites/{SITE}");

        let days = "period=custom&from=2026-11-19&to=2026-11-20";
        let (status, body) =
            app.get(&format!("{site}/timeseries?{days}&include=revenue&compare=previous"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(revenue_per_point(&body["points"]), [100_000, 300_000], "{backend:?}: per day");
        assert_eq!(body["points"][1]["revenue"][0]["orders"], 2, "{backend:?}");
        assert_eq!(body["points"][1]["visitors"], 1, "{backend:?}: the traffic numbers are still there");
        assert_eq!(revenue_per_point(&body["previous"]), [0, 70_000], "{backend:?}: 17 and 18 Nov");
        assert_eq!(
            body["previous"][0]["revenue"],
            serde_json::json!([]),
            "{backend:?}: an empty bucket has no revenue"
        );

        let (status, body) = app.get(&format!("{site}/timeseries?{days}"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}");
        assert!(body["points"][0].get("revenue").is_none(), "{backend:?}: only when asked for");

        let month = "period=custom&from=2026-11-01&to=2026-11-30&interval=week&include=revenue";
        let (status, body) = app.get(&format!("{site}/timeseries?{month}"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        // Weeks from Monday: 26 Oct (1 Nov only), 2, 9 (the 12th), 16 (18th–20th), 23, 30 Nov.
        assert_eq!(revenue_per_point(&body["points"]), [0, 0, 990_000, 470_000, 0, 0], "{backend:?}: per week");

        for (query, field) in [
            ("period=custom&from=2026-11-20&to=2026-11-20&interval=hour&include=revenue", "interval"),
            ("period=7d&include=sessions", "include"),
        ] {
            let (status, body) = app.get(&format!("{site}/timeseries?{query}"), &viewer).await;
            assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{backend:?}: {query}: {body}");
        }

        let (status, body) = app.get(&format!("{site}/overview?{days}&compare=previous"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["revenue"][0]["amount_e4"], 400_000, "{backend:?}");
        assert_eq!(body["previous"]["revenue"][0]["amount_e4"], 70_000, "{backend:?}: the previous period's revenue");
        assert_eq!(body["previous"]["revenue"][0]["orders"], 1, "{backend:?}");
        app.stop().await;
    }
}
