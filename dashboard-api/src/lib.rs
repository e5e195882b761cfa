//! Larder's query side: the JSON API the dashboard and analysts use, access control, SQL export,
//! and the dashboard's static files.
//!
//! Everything here reads through `larder-store`; no SQL is written outside that crate except
//! the analyst's own statement, which runs on a read-only, site-scoped session. The service is
//! mounted into an actix `App` with [`configure`]: `larder serve` mounts it beside the
//! collector, `larder api` on its own.

pub mod auth;
pub mod deletion;
pub mod error;
pub mod local;
mod routes;

use std::sync::Arc;

use actix_web::web;
use larder_store::Store;

pub use error::ApiError;
pub use local::LocalToken;
pub use routes::dashboard::DashboardFiles;

/// What the API's handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// The operator's token of the local control channel; `None` disables the channel.
    pub local_token: Option<LocalToken>,
    /// Access control's configuration and state.
    pub auth: Arc<auth::Auth>,
    /// Settings given to sites created through the API.
    pub site_defaults: SiteDefaults,
    /// The browser dashboard's built files, served at `/`; `None` serves the API only.
    pub dashboard: Option<Arc<DashboardFiles>>,
    /// Told when a site is added, changed or removed (see [`SitesChanged`]).
    pub sites_changed: Option<SitesChanged>,
}

/// What runs after a site is added, changed or removed and before the request is answered: in
/// `larder serve`, the collector of the same process re-reads its sites, so that a site added
/// through the API takes events at once (a collector elsewhere sees it within its reload).
#[derive(Clone)]
pub struct SitesChanged(pub Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>);

impl std::fmt::Debug for SitesChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SitesChanged")
    }
}

impl ApiState {
    /// A state with the default access-control configuration and site defaults.
    pub fn new(store: Arc<dyn Store>, local_token: Option<LocalToken>) -> Self {
        Self {
            store,
            local_token,
            auth: Arc::new(auth::Auth::default()),
            site_defaults: SiteDefaults::default(),
            dashboard: None,
            sites_changed: None,
        }
    }

    /// Runs `hook` whenever a site is added, changed or removed.
    #[must_use]
    pub fn with_sites_changed(mut self, hook: SitesChanged) -> Self {
        self.sites_changed = Some(hook);
        self
    }

    /// Tells [`Self::sites_changed`] that the sites changed.
    pub(crate) async fn notify_sites_changed(&self) {
        if let Some(hook) = &self.sites_changed {
            (hook.0)().await;
        }
    }

    /// Replaces the access-control configuration.
    #[must_use]
    pub fn with_auth(mut self, config: auth::AuthConfig) -> Self {
        self.auth = Arc::new(auth::Auth::new(config));
        self
    }

    /// Replaces the settings of sites created through the API.
    #[must_use]
    pub fn with_site_defaults(mut self, defaults: SiteDefaults) -> Self {
        self.site_defaults = defaults;
        self
    }

    /// Serves the browser dashboard from these built files.
    #[must_use]
    pub fn with_dashboard(mut self, files: DashboardFiles) -> Self {
        self.dashboard = Some(Arc::new(files));
        self
    }
}

/// Settings a new site gets (`[privacy]` in the configuration); each site can change its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteDefaults {
    pub retention_days: u32,
    pub honour_privacy_signals: bool,
}

impl Default for SiteDefaults {
    fn default() -> Self {
        Self { retention_days: 730, honour_privacy_signals: true }
    }
}

/// Every route of the API as (method, path template), in the order they are matched. The
/// OpenAPI document, `docs/openapi.json`, describes exactly these; a test holds the two together.
pub fn routes() -> Vec<(actix_web::http::Method, &'static str)> {
    routes::endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

/// Registers the API's routes (and, when the state has them, the dashboard's files) on an actix
/// app.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let has_dashboard = state.dashboard.is_some();
        cfg.app_data(web::Data::new(state))
            .app_data(web::JsonConfig::default().error_handler(error::json_error_handler))
            .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
            .configure(routes::configure);
        if has_dashboard {
            cfg.configure(routes::dashboard::configure);
        }
    }
}
