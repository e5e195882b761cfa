use std::sync::Arc;

use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, Cred, SITE, TestApp, code, store, test_dir};

#[tokio::test]
async fn cookie_writes_need_the_sessions_csrf_token_and_token_writes_do_not() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "csrf").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("alice@shop.example", Some((SITE, Role::Admin))).await;
    let session = app.session("alice@shop.example").await;
    let Cred::Session { cookie, .. } = session.clone() else { unreachable!() };
    let Cred::Session { csrf: other_csrf, .. } = app.session("alice@shop.example").await else { unreachable!() };
    let path = format!("/api/v1/sites/{SITE}");
    let patch = json!({ "retention_days": 100 });

    let (status, body) = app.call(Method::PATCH, &path, &session.without_csrf(), Some(patch.clone())).await;
    assert_eq!((status, code(&body)), (403, "csrf"), "no header");
    for (presented, what) in
        [("nope", "a wrong token"), (other_csrf.as_str(), "another session's token"), ("", "empty")]
    {
        let wrong = Cred::Session { cookie: cookie.clone(), csrf: presented.to_owned() };
        let (status, body) = app.call(Method::PATCH, &path, &wrong, Some(patch.clone())).await;
        assert_eq!((status, code(&body)), (403, "csrf"), "{what}");
    }
    let (status, body) = app.call(Method::PATCH, &path, &session, Some(patch)).await;
    assert_eq!(status, 200, "the session's own token: {body}");
    assert_eq!(body["retention_days"], 100);

    for (method, path, body) in [
        (Method::POST, "/api/v1/tokens".to_owned(), Some(json!({ "sites": [SITE], "role": "viewer" }))),
        (Method::PUT, "/api/v1/me/password".to_owned(), Some(json!({ "current_password": "x", "new_password": "y" }))),
        (Method::DELETE, format!("/api/v1/sites/{SITE}/users/alice@shop.example"), None),
        (Method::POST, "/api/v1/logout".to_owned(), None),
    ] {
        let (status, answer) = app.call(method.clone(), &path, &session.without_csrf(), body).await;
        assert_eq!((status, code(&answer)), (403, "csrf"), "{method} {path}");
    }
    let (status, _) = app.get(&path, &session.without_csrf()).await;
    assert_eq!(status, 200, "reads need no csrf header");

    let (_, secret) = app.token("alice@shop.example", &[SITE], Role::Admin, None).await;
    let (status, body) =
        app.call(Method::PATCH, &path, &Cred::Token(secret), Some(json!({ "retention_days": 200 }))).await;
    assert_eq!(status, 200, "a bearer token needs no csrf header: {body}");
    assert_eq!(body["retention_days"], 200);
    app.stop().await;
}
