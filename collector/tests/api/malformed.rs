//! Malformed bodies against the real collector: replays `tests/corpus/malformed/<category>/*`
//! with every accepted content type and checks that each gets a 4xx with the JSON error body,
//! that nothing is stored, and that the process still accepts a valid event afterwards.
//!
//! Each directory of a corpus is a category in a table ([`CATEGORIES`], [`LENIENT`]) that names
//! the status its bodies must get and why. A directory missing from the table (or a row without
//! a directory) fails the test, so new corpus files always carry an expectation.
//! `tests/corpus/lenient/` holds bodies outside the wire format that serde's defaults would let
//! through; the parser refuses them too. Minimised crashes of the fuzz targets
//! (`collector/fuzz/`) belong in `tests/corpus/crashes/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, CHROME, SITE, TestApp, config, count, eventually, pageview, store};

/// (directory, the status its bodies must get, why).
type Category = (&'static str, u16, &'static str);

/// The categories of `tests/corpus/malformed/`.
const CATEGORIES: &[Category] = &[
    ("empty", 400, "no bytes (or only whitespace) are not a JSON object or array"),
    ("not-json", 400, "form data, HTML, JS literals, comments, NaN, gzip: a JSON syntax error"),
    ("root-scalar", 400, "valid JSON, but the root is neither an object nor an array"),
    ("truncated", 400, "a strict prefix of a valid body always ends in an EOF syntax error"),
    (
        "wrong-type",
        422,
        "syntactically valid JSON where a field has the wrong JSON type: serde reports a data \
         error, which names the field",
    ),
    (
        "out-of-range",
        422,
        "numbers that parse, but exceed the field's integer type (u8, u16, u32, u64) or its \
         documented range: a data or validation error naming the field",
    ),
    ("number-overflow", 400, "numbers beyond f64 (1e999): serde_json refuses them while tokenising, a syntax error"),
    (
        "huge-string",
        422,
        "bodies of ~60 KB (inside the 64 KiB limit) whose one string breaks its field's byte \
         bound, or is an unknown key",
    ),
    ("too-large", 413, "bodies above the 64 KiB limit are refused before they are parsed"),
    (
        "invalid-utf8",
        400,
        "invalid UTF-8 (in strings, keys or between tokens), UTF-16 text and lone surrogate \
         escapes: serde_json refuses them as syntax errors",
    ),
    ("nul-raw", 400, "a raw NUL byte is a control character JSON does not allow, in or out of strings"),
    ("nul-escaped", 422, "`\\u0000` is valid JSON, but the decoded control character fails the field's validation"),
    ("bom", 400, "a byte order mark is not `{` or `[`: the body is not a JSON object or array"),
    (
        "nesting",
        422,
        "8,000-10,000 levels where a typed struct is expected: the first level is already the \
         wrong type or an unknown key, a data error; the rest is never parsed",
    ),
    (
        "nesting-in-untyped-value",
        400,
        "10,000 levels in a value parsed without a type first (a prop, a decimal): serde_json \
         stops at its depth limit of 128 with a syntax error, not a stack overflow",
    ),
    ("duplicate-key", 422, "a field given twice is a data error naming the field"),
    ("empty-batch", 400, "`[]` holds no event"),
    ("too-many-events", 413, "a batch holds at most 100 events"),
    ("invalid-value", 422, "well-formed JSON the wire format refuses: missing or unknown fields, bad values"),
];

/// The categories of `tests/corpus/lenient/`: outside the wire format in ways serde's defaults
/// would let through (the parser refuses them explicitly).
const LENIENT: &[Category] = &[
    (
        "trailing-data",
        400,
        "bytes after the event or batch (garbage, a second object, NDJSON, a NUL): the body is not \
         one JSON value, so it is malformed (the parser checks that the value ends the body)",
    ),
    (
        "struct-as-array",
        422,
        "an event, `ux`, `revenue`, item or `search` given as a JSON array of its fields in \
         declaration order: the wire format defines objects (serde's derived structs would read an \
         array by position; `Obj` refuses it)",
    ),
    ("duplicate-prop-key", 422, "a prop key given twice is ambiguous, refused like a repeated event field"),
];

/// The content types a body is sent with: both ones the endpoint accepts.
const ACCEPTED_TYPES: [&str; 2] = ["application/json", "text/plain;charset=UTF-8"];

/// Content types the endpoint refuses (415) before it reads the body.
const REFUSED_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    Some("application/jsonp"),
    Some("text/html"),
];

/// Every file of `tests/corpus/<corpus>/`, by category, in name order.
fn read_corpus(corpus: &str) -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(corpus);
    let mut out = BTreeMap::new();
    for category in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let category = category.expect("entry").path();
        let name = category.file_name().and_then(|n| n.to_str()).expect("category name").to_owned();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&category)
            .expect("category directory")
            .map(|f| {
                let path = f.expect("entry").path();
                let file = path.file_name().and_then(|n| n.to_str()).expect("file name").to_owned();
                (file, std::fs::read(&path).expect("read corpus file"))
            })
            .collect();
        files.sort();
        out.insert(name, files);
    }
    out
}

async fn post_bytes(app: &TestApp, body: &[u8], content_type: Option<&str>) -> reqwest::Result<reqwest::Response> {
    let mut request = app.client.post(format!("{}/api/event", app.url)).header("user-agent", CHROME);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.to_vec()).send().await
}

/// Checks that an answer is a JSON error with the status `want`; the problem otherwise.
async fn check_error(what: &str, answer: reqwest::Result<reqwest::Response>, want: u16) -> Result<(), String> {
    let response = answer.map_err(|e| format!("{what}: no answer: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("{what}: {status} with a broken body: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    if status != want {
        return Err(format!("{what}: status {status}, want {want}: {text}"));
    }
    if !is_json_error(&body) {
        return Err(format!("{what}: {status} body is not {{\"error\":{{code,message,field}}}}: {text}"));
    }
    Ok(())
}

/// Whether `body` is `{"error":{"code","message","field"}}` with a code and a message.
fn is_json_error(body: &[u8]) -> bool {
    let Ok(json) = serde_json::from_slice::<Value>(body) else { return false };
    let error = &json["error"];
    error["code"].as_str().is_some_and(|c| !c.is_empty())
        && error["message"].as_str().is_some_and(|m| !m.is_empty())
        && (error["field"].is_null() || error["field"].is_string())
}

/// Posts every body of `corpus` with each accepted content type, then with each refused one,
/// and returns what did not get the expected JSON error.
async fn replay(app: &TestApp, corpus: &str, table: &[Category]) -> Vec<String> {
    let bodies = read_corpus(corpus);
    let on_disk: Vec<&str> = bodies.keys().map(String::as_str).collect();
    let mut in_table: Vec<&str> = table.iter().map(|(name, ..)| *name).collect();
    in_table.sort_unstable();
    assert_eq!(on_disk, in_table, "every directory of {corpus} has a row in its table and the other way round");

    let mut problems = Vec::new();
    for &(category, want, _why) in table {
        assert!(!bodies[category].is_empty(), "{corpus}/{category}: no bodies");
        for (file, body) in &bodies[category] {
            for content_type in ACCEPTED_TYPES {
                let what = format!("{corpus}/{category}/{file} as {content_type}");
                if let Err(problem) = check_error(&what, post_bytes(app, body, Some(content_type)).await, want).await {
                    problems.push(problem);
                }
            }
            // The content type is checked before the body is read, whatever the body holds.
            for content_type in REFUSED_TYPES {
                let what = format!("{corpus}/{category}/{file} as {content_type:?}");
                if let Err(problem) = check_error(&what, post_bytes(app, body, content_type).await, 415).await {
                    problems.push(problem);
                }
            }
        }
    }
    problems
}

/// Checks that nothing of the corpus was accepted or stored and that the collector still takes
/// a valid event, which is then the only one stored: anything accepted earlier would have been
/// spooled, and flushed, before it.
async fn assert_nothing_stored_and_still_up(app: &TestApp) {
    let metrics = app.metrics();
    assert!(!metrics.contains("outcome=\"Accepted\""), "no malformed event was accepted: {metrics}");
    assert!(!metrics.contains("status=\"5"), "no 5xx was answered: {metrics}");
    assert_eq!(count(app.store.as_ref(), "SELECT count() FROM events").await, 0, "nothing malformed was stored");

    let valid = app
        .post_with(
            &pageview("/after-the-corpus"),
            &[("content-type", "application/json"), ("x-forwarded-for", "203.0.113.9"), ("user-agent", CHROME)],
        )
        .await;
    assert_eq!(valid.status(), 202, "a valid event is accepted after the corpus");
    eventually(Duration::from_secs(20), "the valid event lands", || async {
        count(app.store.as_ref(), "SELECT count() FROM events").await >= 1
    })
    .await;
    assert_eq!(
        count(app.store.as_ref(), "SELECT count() FROM events WHERE pathname = '/after-the-corpus'").await,
        count(app.store.as_ref(), "SELECT count() FROM events").await,
        "the valid event is the only one stored"
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_json_4xx_store_nothing_and_leave_the_collector_up() {
    let dir = crate::helpers::test_dir();
    let store = store(Backend::Embedded, dir.path(), "malformed").await;
    let app = TestApp::start(store, config(dir.path())).await;
    let files: usize = read_corpus("malformed").values().map(Vec::len).sum();
    assert!(files >= 40, "the corpus holds {files} bodies");

    let mut problems = replay(&app, "malformed", CATEGORIES).await;
    // Far above the 64 KiB limit, declared with Content-Length (refused before the body is
    // read; the client must still get the answer) or streamed without one (refused once the
    // limit is passed).
    for megabytes in [1, 8] {
        let body = format!(r#"{{"site":"{SITE}","name":"{}"}}"#, "x".repeat(megabytes << 20));
        let what = format!("a {megabytes} MiB body");
        if let Err(problem) =
            check_error(&what, post_bytes(&app, body.as_bytes(), Some("application/json")).await, 413).await
        {
            problems.push(problem);
        }
    }
    match post_chunked(&app.url, 1 << 20).await {
        Ok(413) => {}
        other => problems.push(format!("a chunked 1 MiB body without Content-Length: {other:?}, want Ok(413)")),
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));

    assert_nothing_stored_and_still_up(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn bodies_outside_the_wire_format_are_refused_even_where_serde_is_lenient() {
    let dir = crate::helpers::test_dir();
    let store = store(Backend::Embedded, dir.path(), "lenient").await;
    let app = TestApp::start(store, config(dir.path())).await;
    let problems = replay(&app, "lenient", LENIENT).await;
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_nothing_stored_and_still_up(&app).await;
    app.stop().await;
}

/// Sends a JSON string of about `bytes` bytes with `Transfer-Encoding: chunked` (so the
/// collector cannot refuse it by a declared length) over a raw connection, and returns the
/// status of the JSON error it answers with.
async fn post_chunked(url: &str, bytes: usize) -> Result<u16, String> {
    const CHUNK_BYTES: usize = 16 * 1024;
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    let head = format!(
        "POST /api/event HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {CHROME}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.map_err(|e| format!("write head: {e}"))?;
    let opening = format!(r#"{{"site":"{SITE}","name":""#);
    let mut chunks = vec![format!("{:x}\r\n{opening}\r\n", opening.len())];
    let chunk = format!("{CHUNK_BYTES:x}\r\n{}\r\n", "x".repeat(CHUNK_BYTES));
    chunks.extend(std::iter::repeat_n(chunk, bytes / CHUNK_BYTES));
    chunks.push("0\r\n\r\n".into());
    for chunk in &chunks {
        // The collector answers as soon as the limit is passed and closes the connection, so a
        // failed write is expected: what counts is the answer already sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) => return Ok(()),
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
                Err(e) => return Err(e),
            }
        }
    };
    let read = tokio::time::timeout(Duration::from_secs(10), read_all).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status =
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(format!("no status ({read:?}): {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    if !is_json_error(body.as_bytes()) {
        return Err(format!("{status} without the JSON error body: {text:?}"));
    }
    Ok(status)
}
