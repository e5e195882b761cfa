//! The HTTP contract of `POST /api/event`: statuses, error bodies, limits, CORS.

use serde_json::Value;

use crate::helpers::{Backend, CHROME, SITE, TestApp, config, count, pageview, store};

async fn app() -> (crate::helpers::TestDir, TestApp) {
    let dir = crate::helpers::test_dir();
    let store = store(Backend::Embedded, dir.path(), "contract").await;
    let app = TestApp::start(store, config(dir.path())).await;
    (dir, app)
}

async fn error_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error body");
    let error = body["error"].clone();
    assert!(error["message"].is_string(), "every error has a message: {body}");
    (status, error["code"].as_str().unwrap_or_default().to_owned(), error["field"].clone())
}

#[tokio::test]
async fn post_event_answers_every_bad_input_with_a_clear_json_error() {
    let (_dir, app) = app().await;
    let good = pageview("/");
    let json = [("content-type", "application/json"), ("user-agent", CHROME)];
    // (what, body, headers, status, error code, error field)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16, &'a str, Value);
    let cases: Vec<Case> = vec![
        ("no content type", good.clone(), vec![("user-agent", CHROME)], 415, "unsupported_media_type", Value::Null),
        (
            "form content type",
            good.clone(),
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
            "unsupported_media_type",
            Value::Null,
        ),
        ("truncated JSON", "{\"site\":".into(), json.to_vec(), 400, "malformed", "site".into()),
        ("a JSON string", "\"pageview\"".into(), json.to_vec(), 400, "malformed", Value::Null),
        ("an empty batch", "[]".into(), json.to_vec(), 400, "malformed", "events".into()),
        (
            "unknown site",
            r#"{"site":"nope.example","name":"pageview","url":"https://nope.example/"}"#.into(),
            json.to_vec(),
            404,
            "unknown_site",
            "site".into(),
        ),
        (
            "unknown field",
            format!(r#"{{"site":"{SITE}","name":"pageview","url":"https://{SITE}/","color":"red"}}"#),
            json.to_vec(),
            422,
            "invalid_field",
            "color".into(),
        ),
        (
            "bad currency in the third event of a batch",
            format!(
                r#"[{good},{good},{{"site":"{SITE}","name":"purchase","url":"https://{SITE}/","revenue":{{"amount":"1","currency":"EURO"}}}}]"#
            ),
            json.to_vec(),
            422,
            "invalid_field",
            "events[2].revenue.currency".into(),
        ),
        (
            "a relative URL",
            format!(r#"{{"site":"{SITE}","name":"pageview","url":"/p/1"}}"#),
            json.to_vec(),
            422,
            "invalid_field",
            "url".into(),
        ),
        (
            "101 events",
            format!("[{}]", vec![good.as_str(); 101].join(",")),
            json.to_vec(),
            413,
            "too_many_events",
            "events".into(),
        ),
        (
            "a 70 KiB body",
            format!(r#"{{"site":"{SITE}","name":"{}"}}"#, "x".repeat(70_000)),
            json.to_vec(),
            413,
            "payload_too_large",
            Value::Null,
        ),
    ];
    for (what, body, headers, want_status, want_code, want_field) in cases {
        let (status, code, field) = error_of(app.post_with(&body, &headers).await).await;
        assert_eq!((status, code.as_str(), &field), (want_status, want_code, &want_field), "{what}");
    }
    assert_eq!(count(app.store.as_ref(), "SELECT count() FROM events").await, 0, "nothing rejected was stored");
}

#[tokio::test]
async fn a_batch_with_one_invalid_event_stores_none_of_it() {
    let (_dir, app) = app().await;
    let batch =
        format!(r#"[{},{},{{"site":"{SITE}","name":"","url":"https://{SITE}/"}}]"#, pageview("/a"), pageview("/b"));
    let response = app.post(&batch, "203.0.113.5").await;
    assert_eq!(response.status(), 422);
    let accepted = app.post(&format!("[{},{}]", pageview("/a"), pageview("/b")), "203.0.113.5").await;
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.expect("json");
    assert_eq!(body["accepted"], 2);
    crate::helpers::eventually(std::time::Duration::from_secs(20), "the valid batch lands", || async {
        count(app.store.as_ref(), "SELECT count() FROM events").await == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(app.store.as_ref(), "SELECT count() FROM events").await, 2, "the rejected batch left no trace");
}

#[tokio::test]
async fn send_beacon_text_plain_bodies_are_accepted() {
    let (_dir, app) = app().await;
    let response =
        app.post_with(&pageview("/"), &[("content-type", "text/plain;charset=UTF-8"), ("user-agent", CHROME)]).await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn cors_lets_registered_sites_in_and_keeps_others_out() {
    let (_dir, app) = app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/event", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for origin in ["https://shop.example", "https://www.shop.example", "http://shop.example:8443"] {
        let response = preflight(origin).await.expect("preflight");
        assert_eq!(response.status(), 204, "{origin}");
        assert_eq!(response.headers()["access-control-allow-origin"], origin, "{origin}");
        assert_eq!(response.headers()["access-control-allow-methods"], "POST");
    }
    for origin in ["https://evil.example", "https://shop.example.evil.example", "null"] {
        let response = preflight(origin).await.expect("preflight");
        assert_eq!(response.status(), 403, "{origin}");
        assert!(response.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
    let from_site = app
        .post_with(
            &pageview("/"),
            &[("content-type", "text/plain"), ("origin", "https://www.shop.example"), ("user-agent", CHROME)],
        )
        .await;
    assert_eq!(from_site.status(), 202);
    assert_eq!(from_site.headers()["access-control-allow-origin"], "https://www.shop.example");
    let foreign = app
        .post_with(
            &pageview("/"),
            &[("content-type", "text/plain"), ("origin", "https://evil.example"), ("user-agent", CHROME)],
        )
        .await;
    assert_eq!(foreign.status(), 403, "an unregistered origin cannot post");

    let mut other = larder_store::sites::Site::new(
        larder_core::SiteDomain::parse("other.example").expect("site"),
        chrono::Utc::now(),
    );
    other.timezone = "UTC".into();
    larder_store::sites::add(app.store.as_ref(), &other).await.expect("add");
    app.collector.as_ref().expect("collector").state().sites.reload().await.expect("reload");
    let spoof = app
        .post_with(
            &pageview("/"),
            &[("content-type", "text/plain"), ("origin", "https://other.example"), ("user-agent", CHROME)],
        )
        .await;
    let (status, code, field) = error_of(spoof).await;
    assert_eq!(
        (status, code.as_str(), field),
        (403, "origin_not_allowed", Value::from("site")),
        "a site cannot post another's events"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let dir = crate::helpers::test_dir();
    let store = store(Backend::Embedded, dir.path(), "rate").await;
    let mut config = config(dir.path());
    config.rate_limit_per_second = 1;
    config.rate_limit_burst = 3;
    let app = TestApp::start(store, config).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app.post(&pageview("/"), "198.51.100.20").await;
        if response.status() == 429 {
            assert_eq!(response.headers()["retry-after"], "1");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[202, 202, 202], "the burst passes: {statuses:?}");
    assert!(statuses[3..].contains(&429), "then the limit bites: {statuses:?}");
    let other = app.post(&pageview("/"), "198.51.100.21").await;
    assert_eq!(other.status(), 202, "another client is not limited");
}

#[tokio::test]
async fn the_tracker_script_is_served_with_an_etag_and_long_caching() {
    let dir = crate::helpers::test_dir();
    let store = store(Backend::Embedded, dir.path(), "script").await;
    let script = dir.path().join("larder.js");
    std::fs::write(&script, "(function(){/* tracker */})();").expect("write");
    let mut config = config(dir.path());
    config.tracker_script = Some(script);
    let app = TestApp::start(store, config).await;
    let first = app.client.get(format!("{}/larder.js", app.url)).send().await.expect("get");
    assert_eq!(first.status(), 200);
    assert!(first.headers()["content-type"].to_str().unwrap_or("").starts_with("application/javascript"));
    assert!(first.headers()["cache-control"].to_str().unwrap_or("").contains("max-age=86400"));
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.text().await.expect("body"), "(function(){/* tracker */})();");
    let again =
        app.client.get(format!("{}/larder.js", app.url)).header("if-none-match", etag).send().await.expect("get");
    assert_eq!(again.status(), 304, "revalidation with the ETag");
}
