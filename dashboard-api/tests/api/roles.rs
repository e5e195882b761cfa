//! Every operation of `docs/openapi.json`, called by every kind of caller, on both engines: the
//! answer must be the one the operation's `x-larder-role` implies, and one the document lists
//! (status, content type, and a body that validates against the documented schema). Requests
//! are built from the document: the examples of its parameters and bodies, path parameters
//! naming what the fixture made for each caller. Before the walk, every value of every
//! enumerated parameter is tried once, and every integer parameter just past its bounds.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use larder_core::SiteDomain;
use larder_core::fixtures::{FixtureSpec, events};
use larder_dashboard_api::auth::Role;
use larder_store::funnels::{self, FunnelDefinition, FunnelInput, StepInput};
use larder_store::goals::{self, NewGoal};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, Cred, SITE, TestApp, code, store, test_dir};
use crate::openapi::{Operation, Spec};

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
    /// The local channel's token.
    Operator,
}

const EVERYONE: [Who; 12] = [
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
    Who::Operator,
];

const OTHER_SITE: &str = "other.example";
/// The local channel's site to remove.
const LOCAL_SPARE: &str = "local-spare.example";
/// The user whose roles and password the local channel changes.
const LOCAL_MEMBER: &str = "local-member@shop.example";
const LOCAL_SECRET: &str = "local-secret";

fn email(role: Role) -> String {
    format!("{role}@shop.example")
}

/// The site the caller at `i` may delete: theirs alone, with their role on the site.
fn spare(i: usize) -> String {
    format!("spare{i}.example")
}

/// The user whose role the caller at `i` changes and takes away.
fn member(i: usize) -> String {
    format!("member{i}@shop.example")
}

/// What an operation must answer a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Status(u16),
    /// 2xx.
    Success,
    /// An API token where the operation takes sessions only: 400 or 403.
    TokenRefused,
}

/// The answer `x-larder-role` (and `security`, for API tokens) implies. A caller with no role
/// on the site is told it does not exist (404); one whose role is too low is refused (403).
fn expect(op: &Operation<'_>, who: Who) -> Expect {
    let role = op.role();
    match (role, who) {
        ("public", _) => Expect::Success,
        ("operator", Who::Operator) => Expect::Success,
        ("operator", _) | (_, Who::Nobody | Who::Operator) => Expect::Status(401),
        (_, Who::Token(_)) if !op.allows_tokens() => Expect::TokenRefused,
        ("authenticated", _) => Expect::Success,
        ("instance-admin", Who::InstanceAdmin) => Expect::Success,
        ("instance-admin", _) => Expect::Status(403),
        (_, Who::Outsider | Who::InstanceAdmin) => Expect::Status(404),
        (needed, Who::User(have) | Who::Token(have)) => {
            let needed = Role::parse(needed).unwrap_or_else(|| panic!("{op}: x-larder-role {needed}"));
            if have >= needed { Expect::Success } else { Expect::Status(403) }
        }
    }
}

impl Expect {
    fn admits(self, status: u16) -> bool {
        match self {
            Self::Status(want) => status == want,
            Self::Success => (200..300).contains(&status),
            Self::TokenRefused => status == 400 || status == 403,
        }
    }
}

/// What the fixture made, by caller index where each caller needs their own.
struct Fixture {
    creds: Vec<Cred>,
    /// Goals and saved funnels each caller deletes.
    goals: Vec<String>,
    funnels: Vec<String>,
    /// A saved funnel everyone reads.
    funnel: String,
    /// An API token of each caller's own user, which they revoke.
    tokens: Vec<String>,
    /// A token the local channel revokes.
    local_token: String,
}

impl Fixture {
    /// The value of a path parameter that names something of the fixture; `None`: the
    /// parameter's example (the site, a dimension) serves.
    fn path_param(&self, op: &Operation<'_>, name: &str, i: usize) -> Option<String> {
        let local = op.path.starts_with("/api/local/");
        Some(match name {
            "site" if op.method == "delete" && op.path == "/api/v1/sites/{site}" => spare(i),
            "email" if local => LOCAL_MEMBER.to_owned(),
            "email" => member(i),
            "domain" if op.method == "delete" => LOCAL_SPARE.to_owned(),
            "id" if op.path.contains("/goals/") => self.goals[i].clone(),
            "id" if op.path.contains("/funnels/") && op.method == "delete" => self.funnels[i].clone(),
            "id" if op.path.contains("/funnels/") => self.funnel.clone(),
            "id" if local => self.local_token.clone(),
            "id" => self.tokens[i].clone(),
            _ => return None,
        })
    }
}

async fn fixture(app: &TestApp, callers: &[Who]) -> Fixture {
    let store = app.store.as_ref();
    let now = Utc::now();
    // An hour of a shop's traffic up to now: every report has rows, realtime included.
    let spec = FixtureSpec {
        seed: 5,
        count: 3_000,
        sites: vec![SiteDomain::parse(SITE).expect("site")],
        start: now - chrono::Duration::minutes(60),
        span_secs: 3_590,
        visitors: 200,
    };
    store.insert_events(&events(&spec)).await.expect("insert events");
    for site in [OTHER_SITE, LOCAL_SPARE] {
        crate::helpers::add_site(store, site).await;
    }
    for i in 0..callers.len() {
        crate::helpers::add_site(store, &spare(i)).await;
    }

    // One user per role; each role's user has that role on the spare sites of the callers
    // acting as them (their session and their token).
    for role in Role::ALL {
        app.user(&email(role), Some((SITE, role))).await;
    }
    for (i, who) in callers.iter().enumerate() {
        if let Who::User(role) | Who::Token(role) = who {
            app.grant(&email(*role), &spare(i), *role).await;
        }
    }
    app.user("outsider@shop.example", Some((OTHER_SITE, Role::Owner))).await;
    app.user("root@shop.example", Some((OTHER_SITE, Role::Viewer))).await;
    app.make_instance_admin("root@shop.example").await;
    // The users the document's examples name.
    app.user("alice@shop.example", Some((SITE, Role::Viewer))).await;
    app.user("dave@shop.example", Some((SITE, Role::Analyst))).await;
    app.user(LOCAL_MEMBER, Some((SITE, Role::Viewer))).await;
    for i in 0..callers.len() {
        app.user(&member(i), Some((SITE, Role::Viewer))).await;
    }

    let site = SiteDomain::parse(SITE).expect("site");
    let mut goal_ids = Vec::new();
    let mut funnel_ids = Vec::new();
    let definition = FunnelDefinition::parse(&FunnelInput {
        steps: vec![
            StepInput { page: Some("/p/*".into()), ..StepInput::default() },
            StepInput { event: Some("add_to_cart".into()), ..StepInput::default() },
            StepInput { event: Some("purchase".into()), ..StepInput::default() },
        ],
        ..FunnelInput::default()
    })
    .expect("funnel");
    for i in 0..callers.len() {
        let goal = NewGoal::parse(&format!("Goal {i}"), Some("purchase"), None).expect("goal");
        goal_ids.push(goals::add(store, &site, &goal).await.expect("add goal").id.to_string());
        let saved = funnels::save(store, &site, &format!("Funnel {i}"), &definition, "test").await.expect("funnel");
        funnel_ids.push(saved.id.to_string());
    }
    let shared = funnels::save(store, &site, "Checkout", &definition, "test").await.expect("funnel");

    let mut creds = Vec::new();
    let mut tokens = Vec::new();
    for (i, who) in callers.iter().enumerate() {
        let (cred, own_token) = match who {
            Who::Nobody => (Cred::None, app.token(&email(Role::Viewer), &[SITE], Role::Viewer, None).await.0),
            Who::Operator => {
                (Cred::Token(LOCAL_SECRET.into()), app.token(&email(Role::Viewer), &[SITE], Role::Viewer, None).await.0)
            }
            Who::Outsider => (
                app.session("outsider@shop.example").await,
                app.token("outsider@shop.example", &[OTHER_SITE], Role::Viewer, None).await.0,
            ),
            Who::InstanceAdmin => (
                app.session("root@shop.example").await,
                app.token("root@shop.example", &[OTHER_SITE], Role::Viewer, None).await.0,
            ),
            Who::User(role) => {
                (app.session(&email(*role)).await, app.token(&email(*role), &[SITE], Role::Viewer, None).await.0)
            }
            Who::Token(role) => {
                let secret = app.token(&email(*role), &[SITE, &spare(i)], *role, None).await.1;
                (Cred::Token(secret), app.token(&email(*role), &[SITE], Role::Viewer, None).await.0)
            }
        };
        creds.push(cred);
        tokens.push(own_token);
    }
    let local_token = app.token("dave@shop.example", &[SITE], Role::Viewer, None).await.0;
    Fixture { creds, goals: goal_ids, funnels: funnel_ids, funnel: shared.id.to_string(), tokens, local_token }
}

/// Operations that end the caller's session come last: the password change (which answers a
/// new session), then logging out.
fn session_ending(op: &Operation<'_>) -> u8 {
    match (op.method, op.path) {
        ("put", "/api/v1/me/password") => 1,
        ("post", "/api/v1/logout") => 2,
        _ => 0,
    }
}

/// One caller's answer.
struct Answer {
    status: u16,
    content_type: Option<String>,
    /// The session the answer sets, if it sets one.
    session: Option<String>,
    body: Vec<u8>,
}

async fn walk(backend: Backend, callers: &[Who]) {
    let started = Instant::now();
    let dir = test_dir();
    let store = store(backend, &dir, "openapi_walk").await;
    let app = TestApp::start(store, Arc::default()).await;
    let spec = Spec::load();
    let mut fixture = fixture(&app, callers).await;
    eprintln!("{backend:?}: fixture ready after {:?}", started.elapsed());

    let mut table = sweep(&spec, &app, &fixture, callers).await;
    let mut operations = spec.operations();
    operations.sort_by_key(session_ending);
    let mut calls = 0;
    for op in &operations {
        let query = spec.example_query(op);
        // Every caller at once: each works on things of their own (see `Fixture::path_param`).
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..callers.len() {
            let mut path = spec.path(op, |name| fixture.path_param(op, name, i));
            if !query.is_empty() {
                path = format!("{path}?{query}");
            }
            let mut request = app.request(op.http_method(), &path, &fixture.creds[i]);
            if let Some(body) = op.body_example() {
                request = request.json(body);
            }
            requests.spawn(async move {
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                let content_type =
                    response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let session = session_cookie(&response);
                let body = response.bytes().await.expect("body").to_vec();
                (i, path, Answer { status, content_type, session, body })
            });
        }
        let mut answers = requests.join_all().await;
        answers.sort_by_key(|(i, _, _)| *i);
        for (i, path, answer) in answers {
            calls += 1;
            let who = callers[i];
            let want = expect(op, who);
            let mut wrong = Vec::new();
            if !want.admits(answer.status) {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                wrong.push(format!("{} {} (want {want:?})", answer.status, code(&body)));
            }
            if let Err(e) = spec.check(op, answer.status, answer.content_type.as_deref(), &answer.body) {
                wrong.push(e);
            }
            if !wrong.is_empty() {
                let _ = writeln!(table, "{op} as {who:?} ({path}): {}", wrong.join("; "));
            }
            // A password change ends the caller's sessions and answers a new one, which the
            // next calls use.
            let csrf = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|b| b["csrf_token"].as_str().map(str::to_owned));
            if let (Some(cookie), Some(csrf), false) = (answer.session, csrf, op.role() == "public") {
                fixture.creds[i] = Cred::Session { cookie, csrf };
            }
        }
    }
    eprintln!("{backend:?}: {calls} calls in {:?}", started.elapsed());
    assert!(table.is_empty(), "{backend:?}: answers that differ from docs/openapi.json:\n{table}");
    app.stop().await;
}

/// The caller the sweeps use for `op`: the site's owner (session), or the one caller that the
/// operation's role admits.
fn allowed(op: &Operation<'_>, callers: &[Who]) -> usize {
    let who = match op.role() {
        "instance-admin" => Who::InstanceAdmin,
        "operator" => Who::Operator,
        _ => Who::User(Role::Owner),
    };
    callers.iter().position(|c| *c == who).unwrap_or_else(|| panic!("{op}: no {who:?} in the cast"))
}

/// Every value of every enumerated parameter of the GET operations (dimensions, periods,
/// intervals…), each once, sent by a caller it admits with the path's examples, the required
/// parameters and `from`/`to` (which `period=custom` needs and the other periods ignore): each
/// must be accepted (2xx) with an answer the document allows. Returns what did not.
async fn sweep(spec: &Spec, app: &TestApp, fixture: &Fixture, callers: &[Who]) -> String {
    let mut table = String::new();
    let mut swept = std::collections::BTreeSet::new();
    for op in spec.operations().iter().filter(|op| op.method == "get") {
        let caller = allowed(op, callers);
        let params = spec.parameters(op);
        let required: Vec<String> = params
            .iter()
            .filter(|p| p["in"] == "query" && (p["required"] == true || p["name"] == "from" || p["name"] == "to"))
            .filter_map(|p| Some(format!("{}={}", p["name"].as_str()?, p["example"].as_str()?)))
            .collect();
        for param in &params {
            let name = param["name"].as_str().expect("name");
            let schema = &param["schema"];
            let values: Vec<&str> = std::iter::once(schema)
                .chain(schema["anyOf"].as_array().into_iter().flatten())
                .filter_map(|s| s["enum"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for value in values {
                if !swept.insert((name.to_owned(), value.to_owned())) {
                    continue;
                }
                let path = spec
                    .path(op, |n| if n == name { Some(value.to_owned()) } else { fixture.path_param(op, n, caller) });
                let mut query: Vec<String> =
                    required.iter().filter(|pair| !pair.starts_with(&format!("{name}="))).cloned().collect();
                if param["in"] == "query" {
                    query.push(format!("{name}={value}"));
                }
                let url = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
                let response = app.request(Method::GET, &url, &fixture.creds[caller]).send().await.expect("request");
                let status = response.status().as_u16();
                let content_type =
                    response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body = response.bytes().await.expect("body");
                let mut wrong = Vec::new();
                if !(200..300).contains(&status) {
                    wrong.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
                if let Err(e) = spec.check(op, status, content_type.as_deref(), &body) {
                    wrong.push(e);
                }
                if !wrong.is_empty() {
                    let _ = writeln!(table, "{op} with {name}={value} ({url}): {}", wrong.join("; "));
                }
            }
        }
    }
    assert!(swept.len() >= 60, "the sweep covers the enumerated parameters: {swept:?}");
    table.push_str(&sweep_bounds(spec, app, fixture, callers).await);
    table
}

/// Just past each documented bound of each integer query parameter of the GET operations
/// (`limit=0`, `limit=1001`, `page=0`…): refused with 400 or 422 — naming the parameter — as
/// the document lists. Returns what was not.
async fn sweep_bounds(spec: &Spec, app: &TestApp, fixture: &Fixture, callers: &[Who]) -> String {
    let mut table = String::new();
    let mut probes = 0;
    for op in spec.operations().iter().filter(|op| op.method == "get") {
        let caller = allowed(op, callers);
        let params = spec.parameters(op);
        let required: Vec<String> = params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .filter_map(|p| Some(format!("{}={}", p["name"].as_str()?, p["example"].as_str()?)))
            .collect();
        for param in params.iter().filter(|p| p["in"] == "query" && p["schema"]["type"] == "integer") {
            let name = param["name"].as_str().expect("name");
            let below = param["schema"]["minimum"].as_i64().map(|min| min - 1);
            let above = param["schema"]["maximum"].as_i64().map(|max| max + 1);
            for value in below.into_iter().chain(above) {
                probes += 1;
                let path = spec.path(op, |n| fixture.path_param(op, n, caller));
                let mut query = required.clone();
                query.push(format!("{name}={value}"));
                let url = format!("{path}?{}", query.join("&"));
                let response = app.request(Method::GET, &url, &fixture.creds[caller]).send().await.expect("request");
                let status = response.status().as_u16();
                let content_type =
                    response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body = response.bytes().await.expect("body");
                let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut wrong = Vec::new();
                let names_it = status == 400 || answer["error"]["field"] == name;
                if !(status == 400 || status == 422) || !names_it {
                    wrong.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
                if let Err(e) = spec.check(op, status, content_type.as_deref(), &body) {
                    wrong.push(e);
                }
                if !wrong.is_empty() {
                    let _ = writeln!(table, "{op} with {name}={value} ({url}): {}", wrong.join("; "));
                }
            }
        }
    }
    assert!(probes >= 10, "the bounds of limit, page, offset and trending_min are probed: {probes}");
    table
}

/// The session a response sets, if it sets one (not when it clears the cookie).
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let header = crate::helpers::set_cookie(response)?;
    let value = header.split(';').next()?.trim().strip_prefix("larder_session=")?;
    (!value.is_empty()).then(|| value.to_owned())
}

// One test per engine, so that the two run side by side (about 20 s each on two cores).
#[tokio::test]
async fn every_documented_operation_answers_every_caller_as_its_role_says_on_chdb() {
    walk(Backend::Embedded, &EVERYONE).await;
}

#[tokio::test]
async fn every_documented_operation_answers_every_caller_as_its_role_says_on_clickhouse_server() {
    walk(Backend::Server, &EVERYONE).await;
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
