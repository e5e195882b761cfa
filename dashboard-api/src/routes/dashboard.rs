//! The browser dashboard's static files, from the directory its build writes (`dashboard/dist`):
//! - `index.html` for the app's own paths (`/`, `/login`, `/account`, `/sites/…`), never cached
//!   (`no-cache`: revalidated each time, so a new build is picked up at once), with a strict
//!   Content-Security-Policy;
//! - `/assets/{file}`: the build's files, whose names carry a hash of their content, cached for a
//!   year as immutable.
//!
//! Files are read from disk on each request (they are small), so rebuilding the dashboard while
//! Larder runs needs no restart. When the directory holds no `index.html`, the app's paths answer
//! `503` with a page that says how to build it; the API keeps working.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::ApiState;

/// Where the dashboard's built files are.
#[derive(Debug, Clone)]
pub struct DashboardFiles {
    dir: PathBuf,
}

impl DashboardFiles {
    /// The built dashboard in `dir` (`index.html` and `assets/`).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory the files are served from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory holds a built dashboard.
    pub fn is_built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/assets/{file}").route(web::get().to(asset)).route(web::head().to(asset))).service(
        web::resource(["/", "/login", "/account", "/sites", "/sites/{rest:.*}"])
            .route(web::get().to(index))
            .route(web::head().to(index)),
    );
}

/// What the page may load: only this origin's scripts, styles and API; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Asset names are what the build writes: letters, digits, `.`, `_`, `-`, not starting with `.`
/// (so never `..`, a hidden file or a path).
fn is_asset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Reads a file off the async threads; `None` when it is not there (or not readable).
async fn read(path: PathBuf) -> Option<Vec<u8>> {
    web::block(move || std::fs::read(path)).await.ok()?.ok()
}

/// A strong ETag of the bytes.
fn etag(body: &[u8]) -> String {
    format!("\"{}\"", &blake3::hash(body).to_hex()[..20])
}

fn matches_etag(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// A 200 with the bytes, or a 304 when the client has them already.
fn file_response(req: &HttpRequest, body: Vec<u8>, content_type: &str, cache_control: &str) -> HttpResponse {
    let tag = etag(&body);
    let unchanged = matches_etag(req, &tag);
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        return response.finish();
    }
    // For HEAD, actix sends the headers (and the length) without the body.
    response.content_type(content_type).body(body)
}

fn files(state: &ApiState) -> Option<&DashboardFiles> {
    state.dashboard.as_deref()
}

async fn asset(req: HttpRequest, state: web::Data<ApiState>, name: web::Path<String>) -> HttpResponse {
    let not_found = || HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such asset");
    let Some(files) = files(&state) else { return not_found() };
    if !is_asset_name(&name) {
        return not_found();
    }
    match read(files.dir.join("assets").join(name.as_str())).await {
        Some(body) => file_response(&req, body, content_type(&name), "public, max-age=31536000, immutable"),
        None => not_found(),
    }
}

async fn index(req: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    let Some(files) = files(&state) else {
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found");
    };
    let mut response = match read(files.dir.join("index.html")).await {
        Some(body) => file_response(&req, body, "text/html; charset=utf-8", "no-cache"),
        None => HttpResponse::ServiceUnavailable()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(not_built_page(&files.dir)),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

/// The page shown instead of the dashboard when it is not built.
fn not_built_page(dir: &Path) -> String {
    let dir = escape_html(&dir.display().to_string());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Larder: the dashboard is not built</title></head>\
         <body>\
         <h1>The dashboard is not built</h1>\
         <p>Larder is running (events are collected and the API answers under <code>/api/v1/</code>), but \
         there is no <code>index.html</code> in <code>{dir}</code>.</p>\
         <p>Build it from the repository: <code>make run</code> does it, or \
         <code>scripts/setup.sh</code>, or by hand <code>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build</code>. \
         Then reload this page; no restart is needed.</p>\
         <p>Elsewhere, set <code>http.dashboard_dir</code> (or <code>LARDER_HTTP__DASHBOARD_DIR</code>) to the \
         directory of a built dashboard.</p></body></html>"
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_plain_file_names() {
        for ok in ["app-3F2A9C1D.js", "app-3F2A9C1D.css", "favicon.svg", "a_b-c.1.map"] {
            assert!(is_asset_name(ok), "{ok}");
        }
        for bad in ["", "..", ".env", "../index.html", "a/b.js", "a\\b.js", "a%2Fb.js", "app.js?x", &"a".repeat(129)] {
            assert!(!is_asset_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("app-1.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app-1.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn the_not_built_page_escapes_the_directory() {
        let page = not_built_page(Path::new("/srv/<x>&"));
        assert!(page.contains("/srv/&lt;x&gt;&amp;"), "{page}");
    }
}
