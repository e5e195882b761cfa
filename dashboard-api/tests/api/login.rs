use std::sync::Arc;
use std::time::Duration;

use larder_dashboard_api::auth::{AuthConfig, PasswordCost, Role};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    BOTH, Cred, PASSWORD, SITE, TestApp, TestClock, code, reopen, session_of, set_cookie, store, test_dir,
};

#[tokio::test]
async fn login_me_and_logout() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "login_me_logout").await;
        crate::helpers::add_site(store.as_ref(), "b.example").await;
        let app = TestApp::start(store, Arc::default()).await;
        app.user("alice@shop.example", Some((SITE, Role::Owner))).await;
        app.grant("alice@shop.example", "b.example", Role::Viewer).await;

        let (status, body) = app.get("/api/v1/me", &Cred::None).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "{backend:?}: no credentials");

        let response = app.login_response("Alice@Shop.Example ", PASSWORD).await;
        assert_eq!(response.status(), 200, "{backend:?}: the address is case-insensitive");
        let cookie = set_cookie(&response).expect("cookie");
        for part in ["larder_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
            assert!(cookie.contains(part), "{backend:?}: {part} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "{backend:?}: plain-http test config: {cookie}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["email"], "alice@shop.example");
        assert_eq!(body["is_admin"], false);
        assert_eq!(
            body["sites"],
            json!([{ "site": "b.example", "role": "viewer" }, { "site": SITE, "role": "owner" }]),
            "{backend:?}"
        );
        let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
        assert_eq!(csrf.len(), 64, "{backend:?}: csrf token {csrf}");
        let value = cookie.split(';').next().and_then(|p| p.strip_prefix("larder_session=")).expect("value");
        let session = Cred::Session { cookie: value.to_owned(), csrf: csrf.clone() };

        let (status, me) = app.get("/api/v1/me", &session).await;
        assert_eq!(status, 200, "{backend:?}: {me}");
        assert_eq!(me["email"], "alice@shop.example");
        assert_eq!(me["csrf_token"], csrf.as_str(), "{backend:?}: the dashboard can get its token back after a reload");
        assert_eq!(me["token_id"], serde_json::Value::Null);
        assert_eq!(me["sites"], body["sites"]);

        let sessions = app.dump("login_sessions").await;
        assert!(!sessions.contains(value), "{backend:?}: the cookie's secret is not stored");
        let hash = blake3::hash(&hex::decode(value).expect("hex")).to_hex().to_string();
        assert!(sessions.contains(&hash), "{backend:?}: its hash is");
        assert!(!sessions.contains(&csrf), "{backend:?}: nor the csrf token");

        let (status, body) = app.call(Method::POST, "/api/v1/logout", &session.without_csrf(), None).await;
        assert_eq!((status, code(&body)), (403, "csrf"), "{backend:?}: logout needs the csrf token");
        let response = app.request(Method::POST, "/api/v1/logout", &session).send().await.expect("logout");
        assert_eq!(response.status(), 204, "{backend:?}");
        let cleared = set_cookie(&response).expect("cleared cookie");
        assert!(cleared.starts_with("larder_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
        let (status, body) = app.get("/api/v1/me", &session).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "{backend:?}: the session is over");
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_account_answer_alike() {
    let dir = test_dir();
    let store = store(crate::helpers::Backend::Embedded, &dir, "wrong_password").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
    let mut answers = Vec::new();
    for (email, password, ip) in [
        ("alice@shop.example", "not the password", "192.0.2.10"),
        ("nobody@shop.example", PASSWORD, "192.0.2.11"),
        ("not an address", PASSWORD, "192.0.2.12"),
        ("alice@shop.example", "", "192.0.2.13"),
    ] {
        let response = app.login_from(email, password, ip).await;
        assert!(set_cookie(&response).is_none(), "{email}: no cookie");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, 401);
    assert!(answers[0].1.contains("\"invalid_credentials\""), "{}", answers[0].1);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer, &answers[0], "attempt {i} answers like a wrong password");
    }
    let (status, body) = app.call(Method::POST, "/api/v1/login", &Cred::None, Some(json!({ "email": "a" }))).await;
    assert_eq!((status, code(&body)), (400, "bad_request"), "a malformed body");
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire() {
    let dir = test_dir();
    for backend in BOTH {
        let store = store(backend, &dir, "sessions_restart").await;
        let clock = Arc::new(TestClock::default());
        let app = TestApp::start(Arc::clone(&store), Arc::clone(&clock)).await;
        app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
        let session = app.session("alice@shop.example").await;
        app.stop().await;
        let store = reopen(store, backend, &dir).await;
        let app = TestApp::start(store, Arc::clone(&clock)).await;
        let (status, _) = app.get("/api/v1/me", &session).await;
        assert_eq!(status, 200, "{backend:?}: the session outlives the process");
        clock.advance(Duration::from_secs(7 * 86_400 - 60));
        assert_eq!(app.get("/api/v1/me", &session).await.0, 200, "{backend:?}: valid until its ttl");
        clock.advance(Duration::from_secs(61));
        let (status, body) = app.get("/api/v1/me", &session).await;
        assert_eq!((status, code(&body)), (401, "unauthenticated"), "{backend:?}: expired after the ttl");
        app.stop().await;
    }
}

#[tokio::test]
async fn cookies_are_secure_when_configured_or_behind_https() {
    let dir = test_dir();
    let store = store(crate::helpers::Backend::Embedded, &dir, "secure_cookie").await;
    let clock = Arc::new(TestClock::default());
    let secure = AuthConfig { secure_cookies: true, ..crate::helpers::auth_config(Arc::clone(&clock)) };
    let app = TestApp::start_with(Arc::clone(&store), secure, None).await;
    app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
    let response = app.login_response("alice@shop.example", PASSWORD).await;
    assert!(set_cookie(&response).is_some_and(|c| c.ends_with("; Secure")), "configured on");
    app.stop().await;

    let app = TestApp::start(store, clock).await;
    let response = app
        .client
        .post(format!("{}/api/v1/login", app.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": "alice@shop.example", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert!(set_cookie(&response).is_some_and(|c| c.ends_with("; Secure")), "a proxy says https");
    app.stop().await;
}

#[tokio::test]
async fn the_production_password_cost_is_argon2id() {
    let dir = test_dir();
    let store = store(crate::helpers::Backend::Embedded, &dir, "argon2_cost").await;
    let clock = Arc::new(TestClock::default());
    let config =
        AuthConfig { password_cost: PasswordCost::default(), ..crate::helpers::auth_config(Arc::clone(&clock)) };
    let app = TestApp::start_with(store, config, None).await;
    app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
    let users = app.dump("users").await;
    assert!(users.contains("$argon2id$v=19$m=19456,t=2,p=1$"), "{users}");
    assert!(!users.contains(PASSWORD), "no plain password");
    assert_eq!(app.login_response("alice@shop.example", PASSWORD).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn changing_a_password_ends_every_other_session() {
    let dir = test_dir();
    let store = store(crate::helpers::Backend::Embedded, &dir, "password_change").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
    let (first, second) = (app.session("alice@shop.example").await, app.session("alice@shop.example").await);
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let (status, body) =
        app.call(Method::PUT, "/api/v1/me/password", &first, Some(change("wrong one", "another long password"))).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"), "the current password is checked");
    let (status, body) = app.call(Method::PUT, "/api/v1/me/password", &first, Some(change(PASSWORD, "short"))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("password")), "the policy applies");
    let response = app
        .request(Method::PUT, "/api/v1/me/password", &first)
        .json(&change(PASSWORD, "another long password"))
        .send()
        .await
        .expect("change");
    assert_eq!(response.status(), 200);
    let renewed = session_of(response).await;
    assert_eq!(app.get("/api/v1/me", &renewed).await.0, 200, "the answer's session works");
    assert_eq!(app.get("/api/v1/me", &first).await.0, 401, "the old session ended");
    assert_eq!(app.get("/api/v1/me", &second).await.0, 401, "the other session ended");
    assert_eq!(app.login_response("alice@shop.example", PASSWORD).await.status(), 401, "old password");
    assert_eq!(app.login_response("alice@shop.example", "another long password").await.status(), 200, "new one");
    app.stop().await;
}
