//! `GET /larder.js`: the tracker, from the collector's own origin, cached by browsers and
//! revalidated with an ETag.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::IngestState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/larder.js").route(web::get().to(script)).route(web::head().to(script)));
}

/// The script's bytes and their ETag, read once at start.
#[derive(Debug, Clone)]
pub struct Script {
    pub body: web::Bytes,
    pub etag: String,
}

impl Script {
    pub fn new(body: Vec<u8>) -> Self {
        let etag = format!("\"{}\"", &blake3::hash(&body).to_hex()[..20]);
        Self { body: body.into(), etag }
    }
}

async fn script(req: HttpRequest, state: web::Data<IngestState>) -> HttpResponse {
    let Some(script) = &state.script else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("the tracker script is not built: run `make` (it runs `npm run build` in tracker-js/)");
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == script.etag || tag.trim() == "*"));
    let mut response = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, script.etag.clone()))
        // A day fresh, then revalidated; a stale copy may be used for a week while it is.
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400, stale-while-revalidate=604800"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    if matches {
        response.finish()
    } else {
        response.content_type("application/javascript; charset=utf-8").body(script.body.clone())
    }
}
