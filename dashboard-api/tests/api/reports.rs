//! Goals, revenue, funnels, site search and UX over HTTP, on both backends: a viewer reads
//! them, writes need an admin and are audited, bad definitions are refused with their field.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use larder_core::{
    Currency, DeviceType, Dimensions, Event, EventId, EventName, Money, Pathname, Search, SessionId, SiteDomain, Ux,
    VisitorId,
};
use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{BOTH, Cred, SITE, TestApp, code, store, test_dir};

const DAY: &str = "period=custom&from=2026-11-20&to=2026-11-20";

pub(crate) fn event(n: u64, visitor: u64, time: &str, name: &str, path: &str, source: &str) -> Event {
    let timestamp = DateTime::parse_from_rfc3339(&format!("2026-11-20T{time}Z")).expect("time").with_timezone(&Utc);
    Event {
        id: EventId::from_uuid(uuid::Uuid::from_u64_pair(timestamp.timestamp() as u64, n)),
        site: SiteDomain::parse(SITE).expect("site"),
        timestamp,
        name: EventName::parse(name).expect("name"),
        visitor_id: VisitorId(visitor),
        session_id: SessionId(visitor * 10),
        hostname: SITE.into(),
        pathname: Pathname::parse(path).expect("path"),
        dimensions: Dimensions {
            referrer_source: source.into(),
            referrer_medium: "direct".into(),
            device: DeviceType::Desktop,
            ..Dimensions::default()
        },
        props: Vec::new(),
        revenue: None,
        currency: None,
        order_id: String::new(),
        items: Vec::new(),
        search: None,
        ux: Ux::default(),
    }
}

/// Visitor 1 (Google) views a product, adds it, searches "tea" and buys for 25.00 EUR;
/// visitor 2 (Instagram) views a product, searches "xyzzy" (no results) and rage-clicks;
/// visitor 3 (Google) only views the home page.
fn events() -> Vec<Event> {
    let mut all = vec![
        event(0, 1, "10:00:00", "pageview", "/p/1", "Google"),
        event(1, 1, "10:01:00", "add_to_cart", "/p/1", "Google"),
        event(2, 1, "10:02:00", "pageview", "/search", "Google"),
        event(3, 1, "10:02:01", "search", "/search", "Google"),
        event(4, 1, "10:03:00", "purchase", "/checkout", "Google"),
        event(5, 2, "11:00:00", "pageview", "/p/2", "Instagram"),
        event(6, 2, "11:01:00", "pageview", "/search", "Instagram"),
        event(7, 2, "11:01:01", "search", "/search", "Instagram"),
        event(8, 2, "11:02:00", "rage_click", "/search", "Instagram"),
        event(9, 3, "12:00:00", "pageview", "/", "Google"),
    ];
    all[3].search = Some(Search { query: "tea".into(), result_count: Some(8), ..Search::default() });
    all[4].revenue = Some(Money::parse("25.00", "EUR").expect("money"));
    all[4].currency = Some(Currency::parse("EUR").expect("currency"));
    all[7].search = Some(Search { query: "xyzzy".into(), result_count: Some(0), ..Search::default() });
    all[8].ux.selector = "button.search".into();
    all
}

fn funnel() -> Value {
    json!({ "steps": [{ "page": "/p/*" }, { "event": "add_to_cart" }, { "event": "purchase" }], "window_seconds": 3600 })
}

/// Visitors per step of a funnel answer.
fn visitors(answer: &Value) -> Vec<u64> {
    answer["result"]["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["visitors"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn reports_answer_viewers_and_writes_need_an_admin() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "reports").await;
        store.insert_events(&events()).await.expect("insert");
        let app = TestApp::start(store, Arc::default()).await;
        app.user("viewer@shop.example", Some((SITE, Role::Viewer))).await;
        app.user("admin@shop.example", Some((SITE, Role::Admin))).await;
        let viewer = app.session("viewer@shop.example").await;
        let admin = app.session("admin@shop.example").await;
        let site = format!("/api/v1/sites/{SITE}");

        // Goals: viewers read, admins write.
        let purchase = json!({ "name": "Purchase", "event_name": "purchase" });
        let (status, body) = app.call(Method::POST, &format!("{site}/goals"), &viewer, Some(purchase.clone())).await;
        assert_eq!((status, code(&body)), (403, "forbidden"), "{backend:?}: a viewer cannot add goals");
        let (status, goal) = app.call(Method::POST, &format!("{site}/goals"), &admin, Some(purchase)).await;
        assert_eq!(status, 201, "{backend:?}: {goal}");
        let both = json!({ "name": "Bad", "event_name": "x", "page_pattern": "/x" });
        let (status, body) = app.call(Method::POST, &format!("{site}/goals"), &admin, Some(both)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("event_name")), "{backend:?}: {body}");
        let (status, body) = app.get(&format!("{site}/goals"), &viewer).await;
        assert_eq!((status, body["goals"].as_array().map(Vec::len)), (200, Some(1)), "{backend:?}");
        let (status, body) = app.get(&format!("{site}/goals/conversions?{DAY}"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["visitors"], 3, "{backend:?}");
        assert_eq!(body["goals"][0]["visitors"], 1, "{backend:?}");
        assert_eq!(body["goals"][0]["conversion_rate"], 0.3333, "{backend:?}");
        assert_eq!(body["goals"][0]["revenue"][0]["amount_e4"], 250_000, "{backend:?}");
        let goal_path = format!("{site}/goals/{}", goal["id"].as_str().expect("id"));
        assert_eq!(app.call(Method::DELETE, &goal_path, &viewer, None).await.0, 403, "{backend:?}");
        assert_eq!(app.call(Method::DELETE, &goal_path, &admin, None).await.0, 204, "{backend:?}");
        assert_eq!(app.call(Method::DELETE, &goal_path, &admin, None).await.0, 404, "{backend:?}: gone");

        // Revenue by a visit-level dimension only.
        let (status, body) = app.get(&format!("{site}/revenue?{DAY}&by=source"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(
            (body["rows"][0]["value"].as_str(), body["rows"][0]["amount_e4"].as_i64()),
            (Some("Google"), Some(250_000))
        );
        let (status, body) = app.get(&format!("{site}/revenue?{DAY}&by=page"), &viewer).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("by")), "{backend:?}");

        // Funnels: ad hoc for viewers; saving and deleting for admins.
        let evaluate = format!("{site}/funnels/evaluate?{DAY}&breakdown=source");
        let (status, body) = app.call(Method::POST, &evaluate, &viewer, Some(funnel())).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(visitors(&body), [2, 1, 1], "{backend:?}: both saw a product, one added and bought");
        assert_eq!(body["result"]["steps"][1]["median_seconds_from_previous"], 60, "{backend:?}");
        assert_eq!(body["result"]["breakdown"]["rows"][0]["value"], "Google", "{backend:?}");
        let bad = json!({ "steps": [{ "page": "/p/*" }, { "page": "p/1" }] });
        let (status, body) = app.call(Method::POST, &evaluate, &viewer, Some(bad)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("steps[1].page")), "{backend:?}: {body}");
        let (status, body) = app
            .call(Method::POST, &format!("{site}/funnels/evaluate?{DAY}&breakdown=page"), &viewer, Some(funnel()))
            .await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("breakdown")), "{backend:?}");
        let mut named = funnel();
        named["name"] = json!("Checkout");
        assert_eq!(app.call(Method::POST, &format!("{site}/funnels"), &viewer, Some(named.clone())).await.0, 403);
        let (status, saved) = app.call(Method::POST, &format!("{site}/funnels"), &admin, Some(named)).await;
        assert_eq!(status, 201, "{backend:?}: {saved}");
        let funnel_path = format!("{site}/funnels/{}", saved["id"].as_str().expect("id"));
        let (status, body) = app.get(&format!("{site}/funnels"), &viewer).await;
        assert_eq!((status, body["funnels"][0]["name"].as_str()), (200, Some("Checkout")), "{backend:?}");
        let (status, body) = app.get(&format!("{funnel_path}/result?{DAY}"), &viewer).await;
        assert_eq!((status, visitors(&body)), (200, vec![2, 1, 1]), "{backend:?}: {body}");
        assert_eq!(app.call(Method::DELETE, &funnel_path, &viewer, None).await.0, 403, "{backend:?}");
        assert_eq!(app.call(Method::DELETE, &funnel_path, &admin, None).await.0, 204, "{backend:?}");
        assert_eq!(app.get(&funnel_path, &viewer).await.0, 404, "{backend:?}: deleted");
        assert_eq!(app.get(&format!("{site}/funnels/not-a-uuid"), &viewer).await.0, 404, "{backend:?}");

        // Site search and UX.
        let (status, body) = app.get(&format!("{site}/search?{DAY}"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(
            (body["summary"]["searches"].as_u64(), body["summary"]["no_result_searches"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(body["no_result_queries"][0]["from_pages"][0]["page"], "/p/2", "{backend:?}");
        let (status, body) = app.get(&format!("{site}/search?{DAY}&sections=summary"), &viewer).await;
        assert!(status == 200 && body.get("top_queries").is_none(), "{backend:?}: only the summary: {body}");
        let (status, body) = app.get(&format!("{site}/search?{DAY}&sections=everything"), &viewer).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("sections")), "{backend:?}");
        let (status, body) = app.get(&format!("{site}/ux?{DAY}"), &viewer).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["frustrated_clicks"]["rage"][0]["selector"], "button.search", "{backend:?}");

        // Nobody without credentials; the writes are in the audit log.
        assert_eq!(app.get(&format!("{site}/search?{DAY}"), &Cred::None).await.0, 401, "{backend:?}");
        assert_eq!(app.get(&format!("{site}/ux"), &Cred::None).await.0, 401, "{backend:?}");
        let actions: Vec<String> = app.audit_entries().await.into_iter().map(|(_, action, _, _)| action).collect();
        for action in ["goal_created", "goal_deleted", "funnel_created", "funnel_deleted"] {
            assert!(actions.iter().any(|a| a == action), "{backend:?}: {action} audited in {actions:?}");
        }
        app.stop().await;
    }
}
