//! Routes of this family are registered in `configure`.

use actix_web::web;

pub(crate) fn configure(_cfg: &mut web::ServiceConfig) {}
