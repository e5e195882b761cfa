use std::sync::Arc;

use larder_dashboard_api::auth::manage::{self, OPERATOR};
use larder_dashboard_api::auth::{Email, Role};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, Cred, PASSWORD, SITE, TestApp, code, store, test_dir};

#[tokio::test]
async fn each_audited_action_leaves_an_entry_that_owners_read() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "audit").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("owner@shop.example", Some((SITE, Role::Owner))).await;
    app.user("viewer@shop.example", Some((SITE, Role::Viewer))).await;
    app.user("root@shop.example", None).await;
    app.make_instance_admin("root@shop.example").await;

    assert_eq!(app.login_response("owner@shop.example", "a wrong password").await.status(), 401);
    let owner = app.session("owner@shop.example").await;
    let root = app.session("root@shop.example").await;
    let calls = [
        (&root, Method::POST, "/api/v1/sites".to_owned(), Some(json!({ "site": "new.example" }))),
        (&owner, Method::PATCH, format!("/api/v1/sites/{SITE}"), Some(json!({ "retention_days": 90 }))),
        (
            &owner,
            Method::POST,
            format!("/api/v1/sites/{SITE}/users"),
            Some(json!({ "email": "new@shop.example", "role": "viewer" })),
        ),
        (
            &owner,
            Method::PUT,
            format!("/api/v1/sites/{SITE}/users/new@shop.example"),
            Some(json!({ "role": "analyst" })),
        ),
        (&owner, Method::DELETE, format!("/api/v1/sites/{SITE}/users/new@shop.example"), None),
        (&owner, Method::POST, "/api/v1/tokens".to_owned(), Some(json!({ "sites": [SITE], "role": "viewer" }))),
        (&root, Method::DELETE, "/api/v1/sites/new.example".to_owned(), None),
    ];
    let mut token_id = String::new();
    for (cred, method, path, body) in calls {
        let (status, answer) = app.call(method.clone(), &path, cred, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        if let Some(id) = answer["id"].as_str() {
            token_id = id.to_owned();
        }
    }
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/tokens/{token_id}"), &owner, None).await;
    assert_eq!(status, 204);
    let viewer = Email::parse("viewer@shop.example").expect("email");
    let viewer_password = manage::reset_password(&app.state, OPERATOR, &viewer, None).await.expect("reset");
    assert_eq!(app.call(Method::POST, "/api/v1/logout", &owner, None).await.0, 204);

    let entries = app.audit_entries().await;
    let has = |actor: &str, action: &str, site: &str, detail: &str| {
        entries.iter().any(|(a, act, s, d)| a == actor && act == action && s == site && d.contains(detail))
    };
    for (actor, action, site, detail) in [
        ("owner@shop.example", "login_failed", SITE, "wrong password"),
        ("owner@shop.example", "login", SITE, ""),
        ("root@shop.example", "login", "", ""),
        ("root@shop.example", "site_created", "new.example", ""),
        ("root@shop.example", "role_granted", "new.example", "root@shop.example owner"),
        ("owner@shop.example", "site_updated", SITE, "\"retention_days\":90"),
        ("owner@shop.example", "user_created", SITE, "new@shop.example"),
        ("owner@shop.example", "role_granted", SITE, "new@shop.example analyst"),
        ("owner@shop.example", "role_revoked", SITE, "new@shop.example"),
        ("owner@shop.example", "token_created", SITE, &format!("{token_id} for owner@shop.example as viewer")),
        ("owner@shop.example", "token_revoked", SITE, &token_id),
        ("root@shop.example", "site_deleted", "new.example", ""),
        (OPERATOR, "password_reset", SITE, "viewer@shop.example"),
        ("owner@shop.example", "logout", "", ""),
    ] {
        assert!(has(actor, action, site, detail), "{actor} {action} {site} {detail:?} in {entries:#?}");
    }
    let log = app.dump("audit_log").await;
    assert!(!log.contains(PASSWORD) && !log.contains("a wrong password"), "no password in the audit log");

    let owner = app.session("owner@shop.example").await;
    let (status, page) = app.get(&format!("/api/v1/sites/{SITE}/audit?limit=3"), &owner).await;
    assert_eq!(status, 200, "{page}");
    let first = page["entries"].as_array().expect("entries").clone();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|e| e["site"] == SITE), "only this site's entries: {page}");
    assert_eq!(page["next_offset"], 3);
    let (_, next) = app.get(&format!("/api/v1/sites/{SITE}/audit?limit=3&offset=3"), &owner).await;
    let second = next["entries"].as_array().expect("entries").clone();
    assert!(!second.is_empty() && second.iter().all(|e| !first.contains(e)), "pages do not overlap");
    let times: Vec<&str> = first.iter().chain(&second).filter_map(|e| e["at"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let (_, all) = app.get(&format!("/api/v1/sites/{SITE}/audit?limit=1000"), &owner).await;
    assert_eq!(all["next_offset"], serde_json::Value::Null, "the last page says so");
    let (status, body) = app.get(&format!("/api/v1/sites/{SITE}/audit?limit=0"), &owner).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));
    let (status, body) = app.get(&format!("/api/v1/sites/{SITE}/audit?bogus=1"), &owner).await;
    assert_eq!((status, code(&body)), (400, "bad_request"));

    let viewer = app.session_with("viewer@shop.example", &viewer_password.expect("generated")).await;
    assert_eq!(app.get(&format!("/api/v1/sites/{SITE}/audit"), &viewer).await.0, 403, "owners only");
    let root = app.session("root@shop.example").await;
    let (status, everything) = app.get("/api/v1/audit?limit=1000", &root).await;
    assert_eq!(status, 200);
    assert!(everything["entries"].as_array().is_some_and(|e| e.iter().any(|e| e["site"] == "")), "global entries");
    assert_eq!(app.get("/api/v1/audit", &Cred::None).await.0, 401);
    app.stop().await;
}
