//! `/healthz` (the process answers) and `/readyz` (the store answers and the spool has room).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use larder_collector::spool::Spool;
use larder_store::Store;

/// What readiness depends on.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    pub store: Arc<dyn Store>,
    /// The collector's spool and its cap, when this process collects.
    pub spool: Option<(Spool, u64)>,
}

pub(crate) fn configure(health: Health) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(health))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz));
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

fn not_ready(code: &str, message: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "5"))
        .json(serde_json::json!({ "error": { "code": code, "message": message, "field": null } }))
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    if let Some((spool, cap)) = &health.spool
        && spool.pending_bytes() >= *cap
    {
        return not_ready("spool_full", "the spool is full; the store has been unreachable too long");
    }
    match health.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "spool_bytes": health.spool.as_ref().map(|(spool, _)| spool.pending_bytes()),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            not_ready("store_unavailable", "the store does not answer")
        }
    }
}
