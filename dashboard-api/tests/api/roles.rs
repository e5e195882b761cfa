//! Every access-control endpoint, called by every kind of caller, against a table of what each
//! may do.

use std::fmt::Write as _;
use std::sync::Arc;

use larder_dashboard_api::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, Cred, PASSWORD, SITE, TestApp, code, store, test_dir};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    /// A user with a role on another site only.
    Outsider,
    /// An instance administrator with no role on the site.
    InstanceAdmin,
    User(Role),
    Token(Role),
}

const EVERYONE: [Who; 11] = [
    Who::Nobody,
    Who::Outsider,
    Who::InstanceAdmin,
    Who::User(Role::Viewer),
    Who::User(Role::Analyst),
    Who::User(Role::Admin),
    Who::User(Role::Owner),
    Who::Token(Role::Viewer),
    Who::Token(Role::Analyst),
    Who::Token(Role::Admin),
    Who::Token(Role::Owner),
];

fn email(role: Role) -> String {
    format!("{role}@shop.example")
}

/// Sites each caller may delete without disturbing the others' cases.
fn spare_site(i: usize) -> String {
    format!("spare{i}.example")
}

/// The expected status when an endpoint needs `min` on the site and answers `ok`.
fn needs(min: Role, ok: u16) -> impl Fn(Who) -> u16 {
    move |who| match who {
        Who::Nobody => 401,
        Who::Outsider | Who::InstanceAdmin => 404,
        Who::User(role) | Who::Token(role) => {
            if role >= min {
                ok
            } else {
                403
            }
        }
    }
}

fn any_caller(ok: u16) -> impl Fn(Who) -> u16 {
    move |who| if who == Who::Nobody { 401 } else { ok }
}

fn sessions_only(ok: u16, token: u16) -> impl Fn(Who) -> u16 {
    move |who| match who {
        Who::Nobody => 401,
        Who::Token(_) => token,
        _ => ok,
    }
}

fn instance_admins(ok: u16) -> impl Fn(Who) -> u16 {
    move |who| match who {
        Who::Nobody => 401,
        Who::InstanceAdmin => ok,
        _ => 403,
    }
}

struct Case {
    method: Method,
    /// `{i}` is replaced by the caller's index, for things each caller gets their own of.
    path: &'static str,
    body: Option<Value>,
    expect: Box<dyn Fn(Who) -> u16>,
}

fn case(method: Method, path: &'static str, body: Option<Value>, expect: impl Fn(Who) -> u16 + 'static) -> Case {
    Case { method, path, body, expect: Box::new(expect) }
}

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_table_says() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "role_matrix").await;
    for i in 0..EVERYONE.len() {
        crate::helpers::add_site(store.as_ref(), &spare_site(i)).await;
    }
    crate::helpers::add_site(store.as_ref(), "other.example").await;
    let app = TestApp::start(store, Arc::default()).await;

    // The cast: one user per role on the site and on every spare site, an outsider, an instance
    // administrator; one token per role (of that role's user) naming the site and the spares;
    // per caller, a user to change, a user to remove and a token to revoke.
    let spares: Vec<String> = (0..EVERYONE.len()).map(spare_site).collect();
    let mut token_sites: Vec<&str> = spares.iter().map(String::as_str).collect();
    token_sites.push(SITE);
    let mut tokens = Vec::new();
    for role in Role::ALL {
        app.user(&email(role), Some((SITE, role))).await;
        for spare in &spares {
            app.grant(&email(role), spare, role).await;
        }
        tokens.push((role, app.token(&email(role), &token_sites, role, None).await.1));
    }
    app.user("outsider@shop.example", Some(("other.example", Role::Owner))).await;
    app.user("root@shop.example", None).await;
    app.make_instance_admin("root@shop.example").await;
    app.user("holder@shop.example", Some((SITE, Role::Viewer))).await;
    let mut held_tokens = Vec::new();
    for i in 0..EVERYONE.len() {
        app.user(&format!("target{i}@shop.example"), Some((SITE, Role::Viewer))).await;
        app.user(&format!("victim{i}@shop.example"), Some((SITE, Role::Viewer))).await;
        held_tokens.push(app.token("holder@shop.example", &[SITE], Role::Viewer, None).await.0);
    }

    let cases = vec![
        case(Method::GET, "/api/v1/me", None, any_caller(200)),
        case(Method::GET, "/api/v1/sites", None, any_caller(200)),
        case(Method::POST, "/api/v1/sites", Some(json!({ "site": "new{i}.example" })), instance_admins(201)),
        case(Method::GET, "/api/v1/sites/shop.example", None, needs(Role::Viewer, 200)),
        case(
            Method::PATCH,
            "/api/v1/sites/shop.example",
            Some(json!({ "retention_days": 400 })),
            needs(Role::Admin, 200),
        ),
        case(Method::DELETE, "/api/v1/sites/spare{i}.example", None, needs(Role::Owner, 204)),
        case(Method::GET, "/api/v1/sites/shop.example/users", None, needs(Role::Owner, 200)),
        case(
            Method::POST,
            "/api/v1/sites/shop.example/users",
            Some(json!({ "email": "new{i}@shop.example", "role": "viewer" })),
            needs(Role::Owner, 201),
        ),
        case(
            Method::PUT,
            "/api/v1/sites/shop.example/users/target{i}@shop.example",
            Some(json!({ "role": "analyst" })),
            needs(Role::Owner, 200),
        ),
        case(Method::DELETE, "/api/v1/sites/shop.example/users/victim{i}@shop.example", None, needs(Role::Owner, 204)),
        case(Method::GET, "/api/v1/sites/shop.example/audit", None, needs(Role::Owner, 200)),
        case(Method::GET, "/api/v1/audit", None, instance_admins(200)),
        case(Method::GET, "/api/v1/tokens", None, any_caller(200)),
        case(Method::POST, "/api/v1/tokens", Some(json!({ "sites": [SITE], "role": "viewer" })), |who| match who {
            Who::Nobody => 401,
            Who::Outsider | Who::InstanceAdmin => 404,
            Who::User(_) => 201,
            Who::Token(_) => 403,
        }),
        case(Method::DELETE, "/api/v1/tokens/{token}", None, |who| match who {
            Who::Nobody => 401,
            Who::User(role) | Who::Token(role) if role >= Role::Admin => 204,
            _ => 404,
        }),
        case(
            Method::PUT,
            "/api/v1/me/password",
            Some(json!({ "current_password": PASSWORD, "new_password": PASSWORD })),
            sessions_only(200, 403),
        ),
        case(Method::POST, "/api/v1/logout", None, sessions_only(204, 400)),
    ];

    let mut table = String::new();
    let mut wrong = 0;
    for case in &cases {
        for (i, who) in EVERYONE.iter().enumerate() {
            let cred = match who {
                Who::Nobody => Cred::None,
                Who::Outsider => app.session("outsider@shop.example").await,
                Who::InstanceAdmin => app.session("root@shop.example").await,
                Who::User(role) => app.session(&email(*role)).await,
                Who::Token(role) => {
                    Cred::Token(tokens.iter().find(|(r, _)| r == role).map(|(_, s)| s.clone()).expect("token"))
                }
            };
            let fill = |text: &str| text.replace("{i}", &i.to_string()).replace("{token}", &held_tokens[i]);
            let path = fill(case.path);
            let body = case.body.as_ref().map(|b| serde_json::from_str(&fill(&b.to_string())).expect("json"));
            let (status, answer) = app.call(case.method.clone(), &path, &cred, body).await;
            let want = (case.expect)(*who);
            if status != want {
                wrong += 1;
                let _ =
                    writeln!(table, "{} {} as {who:?}: {status} {} (want {want})", case.method, path, code(&answer));
            }
        }
    }
    assert_eq!(wrong, 0, "answers that differ from the table:\n{table}");
    app.stop().await;
}

#[tokio::test]
async fn removing_a_site_takes_its_roles_with_it() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "site_roles").await;
    let app = TestApp::start(Arc::clone(&store), Arc::default()).await;
    app.user("owner@shop.example", Some((SITE, Role::Owner))).await;
    app.user("root@shop.example", None).await;
    app.make_instance_admin("root@shop.example").await;
    let owner = app.session("owner@shop.example").await;
    assert_eq!(app.call(Method::DELETE, &format!("/api/v1/sites/{SITE}"), &owner, None).await.0, 204);
    let (_, me) = app.get("/api/v1/me", &owner).await;
    assert_eq!(me["sites"], json!([]), "no role on a removed site");
    // Registered again (by the CLI, which does not touch roles, or by someone else): the old
    // owner does not come back.
    crate::helpers::add_site(store.as_ref(), SITE).await;
    let (_, me) = app.get("/api/v1/me", &owner).await;
    assert_eq!(me["sites"], json!([]), "the old roles stay gone");
    let root = app.session("root@shop.example").await;
    let (status, body) = app.call(Method::POST, "/api/v1/sites", &root, Some(json!({ "site": SITE }))).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "registered already");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sites",
            &root,
            Some(json!({ "site": "fresh.example", "timezone": "Mars/Olympus" })),
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("timezone")), "{body}");
    let new_site = json!({ "site": "fresh.example", "timezone": "Europe/Berlin", "search_params": ["q", "s"] });
    let (status, body) = app.call(Method::POST, "/api/v1/sites", &root, Some(new_site)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["role"].as_str(), body["timezone"].as_str()), (Some("owner"), Some("Europe/Berlin")));
    app.stop().await;
}

#[tokio::test]
async fn a_site_keeps_an_owner() {
    let dir = test_dir();
    let store = store(Backend::Embedded, &dir, "last_owner").await;
    let app = TestApp::start(store, Arc::default()).await;
    app.user("owner@shop.example", Some((SITE, Role::Owner))).await;
    let owner = app.session("owner@shop.example").await;
    let me = format!("/api/v1/sites/{SITE}/users/owner@shop.example");
    let (status, body) = app.call(Method::DELETE, &me, &owner, None).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "the last owner cannot leave");
    let (status, body) = app.call(Method::PUT, &me, &owner, Some(json!({ "role": "admin" }))).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "nor step down");
    let add = json!({ "email": "second@shop.example", "role": "owner", "password": "a long enough password" });
    let (status, body) = app.call(Method::POST, &format!("/api/v1/sites/{SITE}/users"), &owner, Some(add)).await;
    assert_eq!((status, body["created"].as_bool()), (201, Some(true)), "{body}");
    assert_eq!(body["password"], Value::Null, "a chosen password is not echoed");
    let (status, _) = app.call(Method::PUT, &me, &owner, Some(json!({ "role": "admin" }))).await;
    assert_eq!(status, 200, "with a second owner, the first may step down");
    let generated = json!({ "email": "third@shop.example", "role": "viewer" });
    let second = app.session_with("second@shop.example", "a long enough password").await;
    let (status, body) = app.call(Method::POST, &format!("/api/v1/sites/{SITE}/users"), &second, Some(generated)).await;
    assert_eq!(status, 201);
    let password = body["password"].as_str().expect("a generated password").to_owned();
    assert_eq!(app.login_response("third@shop.example", &password).await.status(), 200, "it works");
    let again = json!({ "email": "third@shop.example", "role": "viewer", "password": "another long password" });
    let (status, body) = app.call(Method::POST, &format!("/api/v1/sites/{SITE}/users"), &second, Some(again)).await;
    assert_eq!((status, code(&body)), (409, "conflict"), "an existing account's password is never set here");
    app.stop().await;
}
