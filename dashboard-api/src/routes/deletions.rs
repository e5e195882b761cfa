//! `/api/v1/sites/{site}/deletions`: owners delete events of their site — all of them, a time
//! range, or those of an order or a custom property a customer asked about. The request waits
//! until the engine has removed the rows, and is recorded in the audit log (see
//! [`crate::deletion`]).

use actix_web::{HttpResponse, web};

use super::Endpoint;
use super::sites::parse_site;
use crate::auth::{Caller, Role};
use crate::deletion::{self, DeletionRequest};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::post("/api/v1/sites/{site}/deletions", |r| r.to(delete))]
}

/// `POST /api/v1/sites/{site}/deletions`: answers what was deleted once it is gone.
async fn delete(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<DeletionRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(&path)?;
    caller.require(&site, Role::Owner)?;
    let outcome = deletion::run(&state, caller.name(), &site, &body).await?;
    Ok(HttpResponse::Ok().json(outcome))
}
