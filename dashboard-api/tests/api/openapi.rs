//! `docs/openapi.json` against the code: the document lists exactly the routes the code
//! registers ([`larder_dashboard_api::routes`]), is consistent with itself (its examples match
//! its schemas, each operation states a known `x-larder-role` and security that fits it), and
//! [`Spec::check`] tells whether an answer is one the document allows — the walk in `roles.rs`
//! calls every operation with every kind of caller and checks each answer with it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};

/// The document, as committed.
const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// What `x-larder-role` may say; see the document's description.
pub const ROLES: [&str; 8] =
    ["public", "authenticated", "viewer", "analyst", "admin", "owner", "instance-admin", "operator"];

/// The OpenAPI document, with the schema validators built so far.
pub struct Spec {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// One operation of the document.
#[derive(Clone, Copy)]
pub struct Operation<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The operation object.
    object: &'a Value,
}

impl std::fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.to_uppercase(), self.path)
    }
}

impl<'a> Operation<'a> {
    pub fn http_method(&self) -> Method {
        Method::from_bytes(self.method.to_uppercase().as_bytes()).expect("an HTTP method")
    }

    /// The least a caller needs (`x-larder-role`).
    pub fn role(&self) -> &'a str {
        self.object["x-larder-role"].as_str().unwrap_or("")
    }

    /// The schemes of each alternative of the operation's `security`.
    pub fn security(&self) -> Vec<BTreeSet<&'a str>> {
        self.object["security"]
            .as_array()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .map(|a| a.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an API token may call it.
    pub fn allows_tokens(&self) -> bool {
        self.security().iter().any(|alternative| alternative.contains("apiToken"))
    }

    /// The documented statuses.
    pub fn statuses(&self) -> Vec<u16> {
        self.object["responses"]
            .as_object()
            .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The request body's example, if the operation takes a body.
    pub fn body_example(&self) -> Option<&'a Value> {
        self.object["requestBody"]["content"]["application/json"].get("example")
    }
}

impl Spec {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(DOCUMENT).expect("read docs/openapi.json");
        let doc = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
        Self { doc, validators: Mutex::new(HashMap::new()) }
    }

    /// Every operation, in the document's order.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, object) in item.as_object().expect("path item") {
                if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                    out.push(Operation { method, path, object });
                }
            }
        }
        out
    }

    /// Follows a `$ref` to a component (other than a schema: validators resolve those).
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        while let Some(target) = value.get("$ref").and_then(Value::as_str) {
            let pointer = target.strip_prefix('#').expect("only local references");
            value = self.doc.pointer(pointer).unwrap_or_else(|| panic!("{target} does not resolve"));
        }
        value
    }

    /// The operation's parameters, resolved.
    pub fn parameters<'a>(&'a self, op: &Operation<'a>) -> Vec<&'a Value> {
        op.object["parameters"].as_array().map(|ps| ps.iter().map(|p| self.resolve(p)).collect()).unwrap_or_default()
    }

    /// The path with each `{name}` replaced by `value(name)`, or else by the parameter's example.
    pub fn path(&self, op: &Operation<'_>, value: impl Fn(&str) -> Option<String>) -> String {
        let mut path = op.path.to_owned();
        for param in self.parameters(op).into_iter().filter(|p| p["in"] == "path") {
            let name = param["name"].as_str().expect("name");
            let value = value(name)
                .or_else(|| param["example"].as_str().map(str::to_owned))
                .unwrap_or_else(|| panic!("{op}: no value for the path parameter {name}"));
            path = path.replace(&format!("{{{name}}}"), &encode(&value));
        }
        assert!(!path.contains('{'), "{op}: a path parameter is not documented: {path}");
        path
    }

    /// The query string made of the examples of the operation's query parameters (an array
    /// example repeats the parameter).
    pub fn example_query(&self, op: &Operation<'_>) -> String {
        let mut pairs = Vec::new();
        for param in self.parameters(op).into_iter().filter(|p| p["in"] == "query") {
            let name = param["name"].as_str().expect("name");
            let values = match &param["example"] {
                Value::Null => continue,
                Value::Array(items) => items.clone(),
                one => vec![one.clone()],
            };
            for value in values {
                let text = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push(format!("{}={}", encode(name), encode(&text)));
            }
        }
        pairs.join("&")
    }

    /// Whether an answer is one the document allows: its status is listed, its content type is
    /// one listed for that status (none for a response without content), and a JSON body
    /// validates against the listed schema.
    ///
    /// # Errors
    /// What does not match, for a person to read.
    pub fn check(
        &self,
        op: &Operation<'_>,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let Some(response) = op.object["responses"].get(status.to_string()) else {
            return Err(format!("status {status} is not documented ({:?} are)", op.statuses()));
        };
        let response = self.resolve(response);
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{status} has no documented content, yet the answer has {} bytes", body.len()))
            };
        };
        let media_type = content_type.and_then(|t| t.split(';').next()).map(str::trim).unwrap_or("");
        let Some(media) = content.get(media_type) else {
            let listed: Vec<&String> = content.keys().collect();
            return Err(format!("content type {content_type:?} is not documented for {status} ({listed:?} are)"));
        };
        if media_type != "application/json" {
            return Ok(());
        }
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{status}: the body is not JSON ({e}): {}", lossy(body)))?;
        let validator = self.validator(&media["schema"]);
        let errors: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("at {:?}: {e}", e.instance_path().as_str())).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{status}: the body does not match the schema: {}; body: {}", errors.join("; "), lossy(body)))
        }
    }

    /// A validator of `schema`, which may refer to `#/components/schemas/…`: it is validated as
    /// a JSON Schema 2020-12 document beside the components it uses, formats asserted. Built
    /// once per distinct schema.
    fn validator(&self, schema: &Value) -> Arc<jsonschema::Validator> {
        let key = schema.to_string();
        let mut cache = self.validators.lock().expect("validators");
        if let Some(found) = cache.get(&key) {
            return Arc::clone(found);
        }
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
            map.insert("components".into(), json!({ "schemas": self.schemas_used_by(schema) }));
        }
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("a schema does not compile: {e}: {key}"));
        let validator = Arc::new(validator);
        cache.insert(key, Arc::clone(&validator));
        validator
    }

    /// The component schemas `schema` refers to, directly or through each other (only those
    /// are copied beside it: compiling every component for each validator would be slow).
    fn schemas_used_by(&self, schema: &Value) -> serde_json::Map<String, Value> {
        fn refs(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(name) =
                        map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        out.push(name.to_owned());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let all = &self.doc["components"]["schemas"];
        let mut used = serde_json::Map::new();
        let mut pending = Vec::new();
        refs(schema, &mut pending);
        while let Some(name) = pending.pop() {
            if used.contains_key(&name) {
                continue;
            }
            let component = all.get(&name).unwrap_or_else(|| panic!("#/components/schemas/{name} does not exist"));
            refs(component, &mut pending);
            used.insert(name, component.clone());
        }
        used
    }

    /// Whether `value` validates against `schema` (for examples).
    fn validates(&self, schema: &Value, value: &Value) -> Result<(), String> {
        let validator = self.validator(schema);
        let errors: Vec<String> =
            validator.iter_errors(value).map(|e| format!("at {:?}: {e}", e.instance_path().as_str())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

fn lossy(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(600).collect()
}

/// Percent-encodes a path segment or query component.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

#[test]
fn the_document_describes_exactly_the_routes_the_code_registers() {
    let spec = Spec::load();
    let documented: BTreeSet<(String, String)> =
        spec.operations().iter().map(|op| (op.method.to_uppercase(), op.path.to_owned())).collect();
    let registered: Vec<(String, String)> = larder_dashboard_api::routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let registered_set: BTreeSet<(String, String)> = registered.iter().cloned().collect();
    assert_eq!(registered.len(), registered_set.len(), "a route is registered twice: {registered:?}");
    let undocumented: Vec<_> = registered_set.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered_set).collect();
    assert!(
        undocumented.is_empty() && unregistered.is_empty(),
        "registered but not in docs/openapi.json: {undocumented:?}; documented but not registered: {unregistered:?}"
    );
    assert!(registered.len() >= 50, "the table lists every family's routes: {}", registered.len());
}

/// The route table is the only place API routes are registered: no module may add one with
/// actix's own calls, which `larder_dashboard_api::routes` (and so the test above) would miss.
#[test]
fn api_routes_are_registered_only_through_the_route_table() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut offending = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).expect("read dir").map(|e| e.expect("entry").path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let registers = ["resource(", "scope(", "route(", ".service("].iter().any(|call| code.contains(call));
            if registers && code.contains("\"/api") {
                offending.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offending.is_empty(), "API routes registered outside the route table:\n{}", offending.join("\n"));
}

#[test]
fn the_documents_examples_match_its_schemas_and_each_operation_states_role_and_security() {
    let spec = Spec::load();
    let mut problems = Vec::new();
    for op in spec.operations() {
        let role = op.role();
        if !ROLES.contains(&role) {
            problems.push(format!("{op}: x-larder-role {role:?} is not one of {ROLES:?}"));
        }
        // Security fits the role: nothing for public, the local token for the operator, the
        // session cookie (with the CSRF header on writes) for the rest.
        let security = op.security();
        let is_write = op.method != "get";
        let fits = match role {
            "public" => security.is_empty(),
            "operator" => security.len() == 1 && security[0] == BTreeSet::from(["localToken"]),
            _ => {
                let cookie: BTreeSet<&str> = if is_write {
                    BTreeSet::from(["sessionCookie", "csrfHeader"])
                } else {
                    BTreeSet::from(["sessionCookie"])
                };
                security.first() == Some(&cookie)
                    && security[1..].iter().all(|alternative| *alternative == BTreeSet::from(["apiToken"]))
                    && security.len() <= 2
            }
        };
        if !fits {
            problems.push(format!("{op}: security {security:?} does not fit x-larder-role {role}"));
        }
        if role != "public" && !op.statuses().contains(&401) {
            problems.push(format!("{op}: needs credentials but does not document 401"));
        }
        if !op.statuses().iter().any(|s| (200..300).contains(s)) {
            problems.push(format!("{op}: no success status documented"));
        }
        for param in spec.parameters(&op) {
            if let Some(example) = param.get("example") {
                let key = format!("{op} parameter {}", param["name"]);
                if let Err(e) = spec.validates(&param["schema"], example) {
                    problems.push(format!("{key}: the example does not match: {e}"));
                }
            }
        }
        if let Some(example) = op.body_example() {
            let key = format!("{op} body");
            if let Err(e) = spec.validates(&op.object["requestBody"]["content"]["application/json"]["schema"], example)
            {
                problems.push(format!("{key}: the example does not match: {e}"));
            }
        } else if op.object.get("requestBody").is_some() {
            problems.push(format!("{op}: the request body has no example"));
        }
        for status in op.statuses() {
            let response = spec.resolve(&op.object["responses"][status.to_string()]);
            let Some(media) = response["content"].get("application/json") else { continue };
            match media.get("example") {
                Some(example) => {
                    let key = format!("{op} {status} example");
                    if let Err(e) = spec.validates(&media["schema"], example) {
                        problems.push(format!("{key}: does not match: {e}"));
                    }
                }
                None => problems.push(format!("{op} {status}: no example")),
            }
        }
    }
    assert!(problems.is_empty(), "docs/openapi.json:\n{}", problems.join("\n"));
}

/// [`Spec::check`] is what the walk relies on; it must refuse what the document does not allow.
#[test]
fn the_checker_refuses_answers_the_document_does_not_allow() {
    let spec = Spec::load();
    let ops = spec.operations();
    let find = |method: &str, path: &str| {
        *ops.iter().find(|op| op.method == method && op.path == path).unwrap_or_else(|| panic!("{method} {path}"))
    };
    let me = find("get", "/api/v1/me");
    let json = Some("application/json");
    let good = json!({ "email": "a@shop.example", "token_id": null, "csrf_token": "ab", "is_admin": false,
                       "sites": [{ "site": "shop.example", "role": "viewer" }] });
    assert_eq!(spec.check(&me, 200, json, good.to_string().as_bytes()), Ok(()), "a documented answer");
    let mut extra = good.clone();
    extra["password_hash"] = json!("x");
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("sites");
    let mut wrong_type = good.clone();
    wrong_type["is_admin"] = json!("no");
    let mut wrong_enum = good.clone();
    wrong_enum["sites"][0]["role"] = json!("superuser");
    let mut bad_format = good.clone();
    bad_format["email"] = json!("not an address");
    for (body, what) in [
        (extra, "an undocumented field"),
        (missing, "a missing field"),
        (wrong_type, "a wrong type"),
        (wrong_enum, "a value outside the enum"),
        (bad_format, "a bad format"),
    ] {
        assert!(spec.check(&me, 200, json, body.to_string().as_bytes()).is_err(), "{what} is refused");
    }
    assert!(spec.check(&me, 418, json, b"{}").is_err(), "an undocumented status");
    assert!(spec.check(&me, 200, Some("text/html"), good.to_string().as_bytes()).is_err(), "another content type");
    let error = json!({ "error": { "code": "unauthenticated", "message": "authentication required", "field": null } });
    assert_eq!(spec.check(&me, 401, json, error.to_string().as_bytes()), Ok(()), "a documented error");
    let wrong_code = json!({ "error": { "code": "forbidden", "message": "x", "field": null } });
    assert!(spec.check(&me, 401, json, wrong_code.to_string().as_bytes()).is_err(), "a code the status does not have");
    let logout = find("post", "/api/v1/logout");
    assert_eq!(spec.check(&logout, 204, None, b""), Ok(()), "no content");
    assert!(spec.check(&logout, 204, json, b"{}").is_err(), "content where none is documented");
    let sql = find("post", "/api/v1/sql");
    assert_eq!(spec.check(&sql, 200, Some("text/csv; charset=utf-8"), b"\"n\"\n1\n"), Ok(()), "a CSV export");
}
