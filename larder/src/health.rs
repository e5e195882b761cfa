//! `/healthz` (the process answers) and `/readyz` (the store answers too).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use larder_store::Store;

pub(crate) fn configure(store: Arc<dyn Store>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(Readiness(store)))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz));
    }
}

struct Readiness(Arc<dyn Store>);

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.0.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store does not answer");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": { "code": "store_unavailable", "message": "the store does not answer", "field": null }
            }))
        }
    }
}
