//! Accepted events land in the store, enriched, on both engines.

use std::time::Duration;

use larder_store::Store;
use larder_store::rows::EventRow;

use crate::helpers::{BOTH, SITE, TestApp, config, count, eventually, store};

async fn stored_rows(store: &dyn Store) -> Vec<EventRow> {
    store.fetch_rows("FROM events ORDER BY event_id").await.expect("read events")
}

#[tokio::test]
async fn an_accepted_event_lands_enriched_on_both_backends() {
    for backend in BOTH {
        let dir = crate::helpers::test_dir();
        let store = store(backend, dir.path(), "enriched").await;
        let app = TestApp::start(store, config(dir.path())).await;
        let body = format!(
            r#"[{{"site":"{SITE}","name":"pageview","url":"https://{SITE}/p/green-tea?utm_source=newsletter&utm_medium=email&utm_campaign=winter&q=Green%20TEA&sessionid=abc#reviews","referrer":"https://www.google.de/search?q=tea"}},
               {{"site":"{SITE}","name":"purchase","url":"https://{SITE}/checkout/done","revenue":{{"amount":"12.50","currency":"eur"}},"order_id":"1001",
                 "items":[{{"id":"p-1","name":"Green Tea","category":"Tea","quantity":2,"price":"4.50"}},{{"id":"p-9","name":"Gift wrap","price":3.5}}],
                 "props":{{"payment":"card","note":"mail me at jane.doe@example.com"}}}},
               {{"site":"{SITE}","name":"search","url":"https://{SITE}/search?q=Earl%20Grey","search":{{"query":"  Earl   GREY ","results":0}}}},
               {{"site":"{SITE}","name":"js_error","url":"https://{SITE}/cart","ux":{{"error":{{"message":"TypeError: x is undefined","source":"https://{SITE}/app.js?v=3#x","line":12}}}}}},
               {{"site":"{SITE}","name":"web_vital","url":"https://{SITE}/","ux":{{"vital":{{"name":"lcp","value":1234.5}}}}}}]"#
        );
        let response = app.post(&body, "8.8.8.8").await;
        assert_eq!(response.status(), 202, "{backend:?}");
        eventually(Duration::from_secs(20), "five events stored", || async {
            count(app.store.as_ref(), "SELECT count() FROM events").await == 5
        })
        .await;
        let rows = stored_rows(app.store.as_ref()).await;
        let by_name =
            |name: &str| rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{backend:?}: no {name}"));

        let view = by_name("pageview");
        assert_eq!(view.hostname, SITE);
        assert_eq!(view.pathname, "/p/green-tea", "{backend:?}: query and fragment dropped");
        assert_eq!(
            (view.utm_source.as_str(), view.utm_medium.as_str(), view.utm_campaign.as_str()),
            ("newsletter", "email", "winter")
        );
        assert_eq!(view.referrer_medium, "email", "{backend:?}: utm_medium decides the medium");
        assert_eq!(view.referrer_host, "www.google.de", "{backend:?}: only the host of the referrer is kept");
        assert_eq!(
            (view.browser.as_str(), view.browser_version.as_str(), view.device.as_str()),
            ("Chrome", "130", "desktop")
        );
        assert_eq!(view.country, "US", "{backend:?}: 8.8.8.8 is in the US per the country database");
        assert!(view.visitor_id != 0 && view.session_id != 0, "{backend:?}: ids assigned");
        assert!(view.props_key.is_empty(), "{backend:?}: unlisted query keys are not kept: {:?}", view.props_key);

        let purchase = by_name("purchase");
        assert_eq!(purchase.revenue_e4, Some(125_000));
        assert_eq!(purchase.currency, "EUR");
        assert_eq!(purchase.order_id, "1001");
        assert_eq!(purchase.items_product_id, vec!["p-1", "p-9"]);
        assert_eq!(purchase.items_quantity, vec![2, 1]);
        assert_eq!(purchase.items_price_e4, vec![45_000, 35_000]);
        let note = purchase.props_value[purchase.props_key.iter().position(|k| k == "note").expect("note")].clone();
        assert_eq!(note, "mail me at [email]", "{backend:?}: e-mail addresses are redacted from properties");
        assert_eq!(purchase.visitor_id, view.visitor_id, "{backend:?}: same client, same visitor");
        assert_eq!(purchase.session_id, view.session_id, "{backend:?}: same visit");

        let search = by_name("search");
        assert_eq!(
            (search.search_query.as_str(), search.search_results),
            ("earl grey", Some(0)),
            "{backend:?}: normalised query, no results"
        );

        let error = by_name("js_error");
        assert_eq!(error.error_source, format!("https://{SITE}/app.js"), "{backend:?}: the script URL loses its query");
        assert_eq!(error.error_line, Some(12));
        let vital = by_name("web_vital");
        assert_eq!((vital.vital_name.as_str(), vital.vital_value), ("LCP", Some(1234.5)));
        app.stop().await;
    }
}

#[tokio::test]
async fn visitors_differ_by_client_and_bots_and_privacy_signals_are_not_recorded() {
    let dir = crate::helpers::test_dir();
    let store = store(crate::helpers::Backend::Embedded, dir.path(), "visitors").await;
    let app = TestApp::start(store, config(dir.path())).await;
    let page = crate::helpers::pageview("/");
    assert_eq!(app.post(&page, "203.0.113.1").await.status(), 202);
    assert_eq!(app.post(&page, "203.0.113.2").await.status(), 202);
    let googlebot = app
        .post_with(
            &page,
            &[
                ("content-type", "application/json"),
                ("user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            ],
        )
        .await;
    assert_eq!(googlebot.status(), 202, "bots get the same answer");
    let gpc = app
        .post_with(
            &page,
            &[("content-type", "application/json"), ("user-agent", crate::helpers::CHROME), ("sec-gpc", "1")],
        )
        .await;
    assert_eq!(gpc.status(), 202);
    let dnt = app
        .post_with(&page, &[("content-type", "application/json"), ("user-agent", crate::helpers::CHROME), ("dnt", "1")])
        .await;
    assert_eq!(dnt.status(), 202);
    eventually(Duration::from_secs(20), "two human events stored", || async {
        count(app.store.as_ref(), "SELECT count() FROM events").await == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        count(app.store.as_ref(), "SELECT uniqExact(visitor_id) FROM events").await,
        2,
        "two addresses, two visitors"
    );
    assert_eq!(
        count(app.store.as_ref(), "SELECT count() FROM events").await,
        2,
        "the bot and the opted-out visitors are not stored"
    );
    let metrics = app.metrics();
    assert!(metrics.contains("larder_collector_dropped_events_total{reason=\"Bot\"} 1"), "{metrics}");
    assert!(metrics.contains("larder_collector_dropped_events_total{reason=\"PrivacySignal\"} 2"), "{metrics}");

    // A site may choose to record visitors who send privacy signals.
    let mut site = larder_store::sites::get(app.store.as_ref(), &larder_core::SiteDomain::parse(SITE).expect("site"))
        .await
        .expect("get")
        .expect("site");
    site.honour_privacy_signals = false;
    larder_store::sites::update(app.store.as_ref(), &site).await.expect("update");
    app.collector.as_ref().expect("collector").state().sites.reload().await.expect("reload");
    let gpc = app
        .post_with(
            &page,
            &[("content-type", "application/json"), ("user-agent", crate::helpers::CHROME), ("sec-gpc", "1")],
        )
        .await;
    assert_eq!(gpc.status(), 202);
    eventually(Duration::from_secs(20), "recorded when the site does not honour signals", || async {
        count(app.store.as_ref(), "SELECT count() FROM events").await == 3
    })
    .await;
}

/// Same visitor, same day: same id. The next day: another id. Once a day's salt is deleted, no
/// salt left in the store gives that day's id again.
#[tokio::test]
async fn visitor_ids_change_with_the_day_and_cannot_be_recomputed_after_the_salt_is_deleted() {
    use larder_collector::clock::OffsetClock;
    use larder_collector::visitor::{ClientIp, Salt, UserAgent, visitor_id};
    let dir = crate::helpers::test_dir();
    let store = store(crate::helpers::Backend::Embedded, dir.path(), "salt_days").await;
    let noon = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z").expect("time").timestamp_millis() as u64;
    let clock = OffsetClock::starting_at(noon);
    let app = TestApp::start_with_clock(store, config(dir.path()), std::sync::Arc::new(clock.clone())).await;
    let visitors = || async {
        #[derive(serde::Deserialize)]
        struct Row {
            visitor_id: u64,
        }
        let rows: Vec<Row> =
            app.store.fetch_json("SELECT visitor_id FROM events ORDER BY timestamp").await.expect("rows");
        rows.into_iter().map(|r| r.visitor_id).collect::<Vec<_>>()
    };
    for n in 1..=2u64 {
        assert_eq!(app.post(&crate::helpers::pageview(&format!("/same-day-{n}")), "203.0.113.50").await.status(), 202);
        eventually(Duration::from_secs(20), "stored", || async { visitors().await.len() as u64 == n }).await;
    }
    clock.advance_ms(24 * 3_600_000);
    assert_eq!(app.post(&crate::helpers::pageview("/next-day"), "203.0.113.50").await.status(), 202);
    eventually(Duration::from_secs(20), "stored", || async { visitors().await.len() == 3 }).await;
    let ids = visitors().await;
    assert_eq!(ids[0], ids[1], "same visitor, same day, same id");
    assert_ne!(ids[1], ids[2], "the next day the same visitor has another id");

    #[derive(serde::Deserialize)]
    struct Stored {
        day: String,
        salt: String,
    }
    let salts = || async {
        let rows: Vec<Stored> = app
            .store
            .fetch_json("SELECT toString(day) AS day, min(salt) AS salt FROM salts GROUP BY day ORDER BY day")
            .await
            .expect("salts");
        rows
    };
    let recompute = |salt_hex: &str| {
        let mut headers = actix_web::http::header::HeaderMap::new();
        headers.insert(actix_web::http::header::USER_AGENT, crate::helpers::CHROME.parse().expect("ua"));
        let ip = ClientIp::from_request(
            Some("203.0.113.50:1".parse().expect("addr")),
            &actix_web::http::header::HeaderMap::new(),
            &[],
        )
        .expect("ip");
        let site = larder_core::SiteDomain::parse(SITE).expect("site");
        let salt = Salt::from_hex(salt_hex).expect("a stored salt is 64 hex digits");
        visitor_id(&salt, &site, &ip, &UserAgent::from_headers(&headers)).0
    };
    let first_day = salts().await.into_iter().find(|s| s.day == "2026-11-20").expect("the first day's salt");
    assert_eq!(recompute(&first_day.salt), ids[0], "while its salt exists, a day's visitor id can be recomputed");

    // Two days on, the first day's salt is deleted.
    clock.advance_ms(24 * 3_600_000);
    let state = app.collector.as_ref().expect("collector").state();
    state.salts.refresh().await.expect("refresh");
    state.salts.expire().await.expect("expire");
    let left = salts().await;
    assert!(
        left.iter().all(|s| s.day.as_str() > "2026-11-20"),
        "the first day's salt is gone: {:?}",
        left.iter().map(|s| &s.day).collect::<Vec<_>>()
    );
    assert!(!left.is_empty(), "today's salts exist");
    for stored in &left {
        assert_ne!(
            recompute(&stored.salt),
            ids[0],
            "no remaining salt ({}) reproduces the first day's visitor id",
            stored.day
        );
    }
}
