//! One module per endpoint family. Everything under `/api/v1/` requires a caller (session
//! cookie or API token) with a role on the site it names; `/api/local/` is the operator's
//! channel (see `crate::local`).

pub(crate) mod audit;
pub(crate) mod auth;
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

use actix_web::web;

/// Registers every family's routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    local::configure(cfg);
    auth::configure(cfg);
    users::configure(cfg);
    tokens::configure(cfg);
    audit::configure(cfg);
    sites::configure(cfg);
    stats::configure(cfg);
    goals::configure(cfg);
    funnels::configure(cfg);
    search::configure(cfg);
    ux::configure(cfg);
    sql::configure(cfg);
}
