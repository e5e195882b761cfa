//! Larder's query side: the JSON API the dashboard and analysts use, access control, SQL export,
//! and the dashboard's static files.
//!
//! Everything here reads through `larder-store`; no SQL is written outside that crate except
//! the analyst's own statement, which runs on a read-only, site-scoped session. The service is
//! mounted into an actix `App` with [`configure`]: `larder serve` mounts it beside the
//! collector, `larder api` on its own.

pub mod error;
pub mod local;
mod routes;

use std::sync::Arc;

use actix_web::web;
use larder_store::Store;

pub use error::ApiError;
pub use local::LocalToken;

/// What the API's handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// The operator's token of the local control channel; `None` disables the channel.
    pub local_token: Option<LocalToken>,
}

/// Registers the API's routes on an actix app.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::JsonConfig::default().error_handler(error::json_error_handler))
            .configure(routes::configure);
    }
}
