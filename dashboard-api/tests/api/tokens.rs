use std::sync::Arc;
use std::time::Duration;

use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{BOTH, Backend, Cred, SITE, TestApp, TestClock, code, store, test_dir};

#[tokio::test]
async fn tokens_are_shown_once_hashed_at_rest_scoped_and_revocable() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "tokens").await;
        crate::helpers::add_site(store.as_ref(), "b.example").await;
        let app = TestApp::start(store, Arc::default()).await;
        app.user("alice@shop.example", Some((SITE, Role::Owner))).await;
        app.grant("alice@shop.example", "b.example", Role::Owner).await;
        let session = app.session("alice@shop.example").await;

        let request = json!({ "sites": [SITE], "role": "viewer", "description": "nightly export" });
        let (status, created) = app.call(Method::POST, "/api/v1/tokens", &session, Some(request)).await;
        assert_eq!(status, 201, "{backend:?}: {created}");
        let secret = created["secret"].as_str().expect("secret").to_owned();
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(secret.starts_with("lrd_") && secret.len() == 68, "{secret}");
        assert_eq!(created["sites"], json!([SITE]));
        assert_eq!(created["role"], "viewer");
        assert_eq!(created["email"], "alice@shop.example");
        assert_eq!(created["expires_at"], serde_json::Value::Null);

        let (status, listed) = app.get("/api/v1/tokens", &session).await;
        assert_eq!(status, 200);
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{backend:?}: {listed}");
        assert_eq!(listed[0]["id"], id.as_str());
        assert!(!listed.to_string().contains(&secret), "{backend:?}: the secret is shown once only");
        let at_rest = app.dump("api_tokens").await;
        assert!(!at_rest.contains(&secret) && !at_rest.contains(&secret[4..]), "{backend:?}: not stored");
        assert!(at_rest.contains(blake3::hash(secret.as_bytes()).to_hex().as_str()), "{backend:?}: its hash is");

        let token = Cred::Token(secret.clone());
        let (status, me) = app.get("/api/v1/me", &token).await;
        assert_eq!(status, 200);
        assert_eq!(me["token_id"], id.as_str());
        assert_eq!(me["csrf_token"], serde_json::Value::Null, "{backend:?}: tokens have no csrf token");
        assert_eq!(me["sites"], json!([{ "site": SITE, "role": "viewer" }]), "{backend:?}: its scope, not the user's");
        assert_eq!(app.get(&format!("/api/v1/sites/{SITE}"), &token).await.0, 200, "{backend:?}: a named site");
        let (status, body) = app.get("/api/v1/sites/b.example", &token).await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{backend:?}: a site it does not name");
        let (status, body) = app
            .call(Method::PATCH, &format!("/api/v1/sites/{SITE}"), &token, Some(json!({ "retention_days": 9 })))
            .await;
        assert_eq!((status, code(&body)), (403, "forbidden"), "{backend:?}: above its role");
        let again = json!({ "sites": [SITE], "role": "viewer" });
        let (status, _) = app.call(Method::POST, "/api/v1/tokens", &token, Some(again)).await;
        assert_eq!(status, 403, "{backend:?}: a token cannot mint tokens");

        let (status, _) = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), &session, None).await;
        assert_eq!(status, 204, "{backend:?}: revoked");
        let (status, body) = app.get("/api/v1/me", &token).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "{backend:?}: a revoked token");
        let (status, _) = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), &session, None).await;
        assert_eq!(status, 404, "{backend:?}: revoked already");
        assert_eq!(app.get("/api/v1/tokens", &session).await.1, json!([]), "{backend:?}: not listed any more");
        let (status, _) = app.get("/api/v1/me", &Cred::Token(format!("lrd_{}", "0".repeat(64)))).await;
        assert_eq!(status, 401, "{backend:?}: an unknown token");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_tokens_role_is_capped_by_its_users() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "token_cap").await;
    crate::helpers::add_site(store.as_ref(), "b.example").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("owner@shop.example", Some((SITE, Role::Owner))).await;
    app.user("bob@shop.example", Some((SITE, Role::Analyst))).await;
    let bob = app.session("bob@shop.example").await;
    let ask = |site: &str, role: &str| Some(json!({ "sites": [site], "role": role }));
    let (status, body) = app.call(Method::POST, "/api/v1/tokens", &bob, ask(SITE, "admin")).await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "a role above bob's");
    let (status, body) = app.call(Method::POST, "/api/v1/tokens", &bob, ask("b.example", "viewer")).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "a site bob has no role on");
    let (status, created) = app.call(Method::POST, "/api/v1/tokens", &bob, ask(SITE, "analyst")).await;
    assert_eq!(status, 201, "{created}");
    let token = Cred::Token(created["secret"].as_str().expect("secret").to_owned());

    app.grant("bob@shop.example", SITE, Role::Viewer).await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(me["sites"], json!([{ "site": SITE, "role": "viewer" }]), "lowering bob lowers his token");
    let owner = app.session("owner@shop.example").await;
    let (status, _) =
        app.call(Method::DELETE, &format!("/api/v1/sites/{SITE}/users/bob@shop.example"), &owner, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.get(&format!("/api/v1/sites/{SITE}"), &token).await;
    assert_eq!(status, 404, "taking bob's role away takes it from his token");
    app.stop().await;
}

#[tokio::test]
async fn tokens_expire() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "token_expiry").await;
    let clock = Arc::new(TestClock::default());
    let app = TestApp::start(store, Arc::clone(&clock)).await;
    app.user("alice@shop.example", Some((SITE, Role::Owner))).await;
    let session = app.session("alice@shop.example").await;
    let ask = |days: u32| Some(json!({ "sites": [SITE], "role": "viewer", "expires_days": days }));
    let (status, body) = app.call(Method::POST, "/api/v1/tokens", &session, ask(0)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("expires_days")));
    let (status, created) = app.call(Method::POST, "/api/v1/tokens", &session, ask(1)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["expires_at"].is_string(), "{created}");
    let token = Cred::Token(created["secret"].as_str().expect("secret").to_owned());
    assert_eq!(app.get("/api/v1/me", &token).await.0, 200);
    clock.advance(Duration::from_secs(86_400 + 60));
    assert_eq!(app.get("/api/v1/me", &token).await.0, 401, "expired");
    let (_, listed) = app.get("/api/v1/tokens", &app.session("alice@shop.example").await).await;
    assert_eq!(listed[0]["expired"], true, "listed as expired: {listed}");
    app.stop().await;
}

/// Besides its own user, an admin or owner of a site a token names sees and may revoke it; for
/// anyone else it does not exist.
#[tokio::test]
async fn admins_of_a_tokens_site_may_revoke_it_and_others_cannot_see_it() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "token_managers").await;
    let app = TestApp::start(store, Arc::default()).await;
    for role in Role::ALL {
        app.user(&format!("{role}@shop.example"), Some((SITE, role))).await;
    }
    app.user("holder@shop.example", Some((SITE, Role::Viewer))).await;
    for role in Role::ALL {
        let (id, _) = app.token("holder@shop.example", &[SITE], Role::Viewer, None).await;
        let caller = app.session(&format!("{role}@shop.example")).await;
        let (_, listed) = app.get("/api/v1/tokens", &caller).await;
        let sees = listed.as_array().is_some_and(|l| l.iter().any(|t| t["id"] == id.as_str()));
        let (status, body) = app.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), &caller, None).await;
        if role >= Role::Admin {
            assert!(sees, "{role} lists the token");
            assert_eq!(status, 204, "{role} revokes it: {body}");
        } else {
            assert!(!sees, "{role} does not list it: {listed}");
            assert_eq!((status, code(&body)), (404, "not_found"), "{role} cannot revoke it");
        }
    }
    app.stop().await;
}
