//! One module per endpoint family. Everything under `/api/v1/` requires a caller (session
//! cookie or API token) with a role on the site it names; `/api/local/` is the operator's
//! channel (see `crate::local`). The dashboard's static files are in `dashboard`, registered
//! only when the state names their directory.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod dashboard;
pub(crate) mod deletions;
pub(crate) mod funnels;
pub(crate) mod goals;
pub(crate) mod local;
pub(crate) mod search;
pub(crate) mod sites;
pub(crate) mod sql;
pub(crate) mod stats;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod ux;

use actix_web::http::Method;
use actix_web::{Route, web};

/// One route of the API: a method on a path template and its handler. Each family lists its
/// routes as a table of these; [`configure`] registers the tables and [`crate::routes`] lists
/// them, which is how the test that holds `docs/openapi.json` to the code knows every route.
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// Attaches the handler to the route of `method` (`|r| r.to(handler)`).
    handler: fn(Route) -> Route,
}

impl Endpoint {
    pub(crate) fn get(path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self { method: Method::GET, path, handler }
    }

    pub(crate) fn post(path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self { method: Method::POST, path, handler }
    }

    pub(crate) fn put(path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self { method: Method::PUT, path, handler }
    }

    pub(crate) fn patch(path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self { method: Method::PATCH, path, handler }
    }

    pub(crate) fn delete(path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self { method: Method::DELETE, path, handler }
    }
}

/// Every family's routes, in the order they are matched.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    [
        local::endpoints(),
        auth::endpoints(),
        users::endpoints(),
        tokens::endpoints(),
        audit::endpoints(),
        sites::endpoints(),
        deletions::endpoints(),
        stats::endpoints(),
        goals::endpoints(),
        funnels::endpoints(),
        search::endpoints(),
        ux::endpoints(),
        sql::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Registers every family's routes: one resource per path (resources, not scopes: a scope on
/// `/api/v1/sites/{site}` would answer 404 for the other families' routes under that prefix),
/// holding the routes of each method, in table order. A path in several resources would
/// answer 405 for the methods of all but the first.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let endpoints = endpoints();
    let mut paths: Vec<&'static str> = Vec::new();
    for endpoint in &endpoints {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for endpoint in endpoints.iter().filter(|e| e.path == path) {
            resource = resource.route((endpoint.handler)(web::method(endpoint.method.clone())));
        }
        cfg.service(resource);
    }
}
