//! The local control channel's site, user and token endpoints, which `larder sites …`,
//! `larder users …` and `larder tokens …` use while `larder serve` holds the data directory.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use larder_dashboard_api::{ApiState, LocalToken, SiteDefaults};

use crate::helpers::{Backend, Cred, SITE, TestApp, auth_config, code, store, test_dir};

#[tokio::test]
async fn the_local_channel_manages_users_and_tokens() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "local_users").await;
    let app = TestApp::start(store, Arc::default()).await;
    let operator = Cred::Token("local-secret".into());
    let call = |method: Method, path: &str, body: Option<Value>| {
        let path = format!("/api/local{path}");
        let (app, operator) = (&app, &operator);
        async move { app.call(method, &path, operator, body).await }
    };

    let (status, _) = app.get("/api/local/users", &Cred::Token("wrong".into())).await;
    assert_eq!(status, 401, "the channel's token is required");

    let add = json!({ "email": "Alice@Shop.Example", "site": SITE, "role": "owner", "admin": true });
    let (status, added) = call(Method::POST, "/users", Some(add)).await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["created"], true);
    let password = added["password"].as_str().expect("generated").to_owned();
    let response = app.login_response("alice@shop.example", &password).await;
    assert_eq!(response.status(), 200, "the generated password works");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["is_admin"].clone(), body["sites"].clone()),
        (json!(true), json!([{ "site": SITE, "role": "owner" }]))
    );

    let (status, body) =
        call(Method::POST, "/users", Some(json!({ "email": "bob@shop.example", "password": "short" }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("password")));
    let (status, _) =
        call(Method::POST, "/users", Some(json!({ "email": "bob@shop.example", "password": "bob's long password" })))
            .await;
    assert_eq!(status, 200);
    let (status, _) =
        call(Method::PUT, &format!("/users/bob@shop.example/sites/{SITE}"), Some(json!({ "role": "analyst" }))).await;
    assert_eq!(status, 204);
    let (status, body) =
        call(Method::PUT, "/users/nobody@shop.example/sites/shop.example", Some(json!({ "role": "viewer" }))).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "an unknown user");
    let (status, body) = call(Method::DELETE, &format!("/users/alice@shop.example/sites/{SITE}"), None).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "the last owner stays");

    let (status, users) = call(Method::GET, "/users", None).await;
    assert_eq!(status, 200);
    let summary: Vec<(Value, Value, Value)> = users
        .as_array()
        .expect("list")
        .iter()
        .map(|u| (u["email"].clone(), u["is_admin"].clone(), u["sites"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("alice@shop.example"), json!(true), json!([{ "site": SITE, "role": "owner" }])),
            (json!("bob@shop.example"), json!(false), json!([{ "site": SITE, "role": "analyst" }])),
        ]
    );

    let ask = json!({ "email": "bob@shop.example", "sites": [SITE], "role": "analyst", "expires_days": 30 });
    let (status, token) = call(Method::POST, "/tokens", Some(ask)).await;
    assert_eq!(status, 201, "{token}");
    let secret = Cred::Token(token["secret"].as_str().expect("secret").to_owned());
    assert_eq!(app.get(&format!("/api/v1/sites/{SITE}"), &secret).await.0, 200, "the token works");
    let too_high = json!({ "email": "bob@shop.example", "sites": [SITE], "role": "owner" });
    assert_eq!(call(Method::POST, "/tokens", Some(too_high)).await.0, 403, "not above bob's role");
    let (_, listed) = call(Method::GET, "/tokens", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let id = token["id"].as_str().expect("id");
    assert_eq!(call(Method::DELETE, &format!("/tokens/{id}"), None).await.0, 204);
    assert_eq!(app.get("/api/v1/me", &secret).await.0, 401, "revoked");

    let bob = app.session_with("bob@shop.example", "bob's long password").await;
    let (status, reset) = call(Method::POST, "/users/bob@shop.example/password", Some(json!({}))).await;
    assert_eq!(status, 200);
    let new_password = reset["password"].as_str().expect("generated");
    assert_eq!(app.get("/api/v1/me", &bob).await.0, 401, "a reset ends the sessions");
    assert_eq!(app.login_response("bob@shop.example", new_password).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_local_channel_registers_sites_with_the_configured_defaults() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "local_sites").await;
    let defaults = SiteDefaults { retention_days: 90, honour_privacy_signals: false };
    let state = ApiState::new(store, Some(LocalToken::from_secret("local-secret")))
        .with_auth(auth_config(Arc::default()))
        .with_site_defaults(defaults);
    let app = TestApp::start_state(state).await;
    let operator = Cred::Token("local-secret".into());

    let (status, added) =
        app.call(Method::POST, "/api/local/sites", &operator, Some(json!({ "domain": "tea.example" }))).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        (added["site"]["retention_days"].clone(), added["site"]["honour_privacy_signals"].clone()),
        (json!(90), json!(false)),
        "as configured in [privacy], like `larder sites add` without a server: {added}"
    );
    let (_, listed) = app.get("/api/local/sites", &operator).await;
    let stored = listed.as_array().and_then(|l| l.iter().find(|s| s["domain"] == "tea.example")).cloned();
    assert_eq!(stored.map(|s| s["retention_days"].clone()), Some(json!(90)), "stored so: {listed}");

    // Registered already: left as it is, and the answer shows what is stored.
    let (status, again) = app.call(Method::POST, "/api/local/sites", &operator, Some(json!({ "domain": SITE }))).await;
    assert_eq!((status, again["created"].clone()), (200, json!(false)), "{again}");
    assert_eq!(again["site"]["retention_days"], 730, "the stored site's settings, not the defaults: {again}");
    app.stop().await;
}
