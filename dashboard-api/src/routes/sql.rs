//! `POST /api/v1/sql`: analysts' SQL export. Requires the analyst role (or above) on every site
//! the query reads; every request is written to the audit log with its statement, refused ones
//! included, before it runs.
//!
//! Body: `{"sites": ["shop.example"], "query": "SELECT …", "format": "csv"}`. `sites` defaults
//! to every site on which the caller is an analyst or above; `format` is `csv` (default),
//! `tsv`, `jsonl` or `parquet` (not on ClickHouse 18.16). Optional `max_rows` and
//! `timeout_secs` lower the limits for this request; they never raise them.
//!
//! The query sees a table `events` holding the rows of those sites and nothing else (see
//! `larder_store::analyst`). The answer streams as the engine produces it. Errors:
//! - 422 `query_rejected` (field `query`) for a query the validator or the engine refuses, and
//!   for one stopped by a limit: more rows or bytes than allowed, longer than the time limit,
//!   more memory than allowed. Retrying the same query cannot help, so no 5xx; the message
//!   says which limit;
//! - 422 `invalid_field` for a bad `format` (or Parquet where the engine lacks it) or `sites`;
//! - 404 `not_found` for a site the caller has no role on, 403 `forbidden` for one where the
//!   role is below analyst;
//! - 503 when the store is unreachable. A failure after the output started (rare: a server is
//!   asked to finish the query before it answers) aborts the response mid-body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use larder_core::SiteDomain;
use larder_store::analyst::{self, AnalystError, ExportFormat, Limits, Output, Scope};

use super::Endpoint;
use crate::auth::{Caller, Role};
use crate::{ApiError, ApiState};

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::post("/api/v1/sql", |r| r.to(export))]
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    #[serde(default)]
    sites: Option<Vec<String>>,
    query: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    max_rows: Option<u64>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

#[tracing::instrument(skip_all)]
async fn export(
    caller: Caller,
    state: web::Data<ApiState>,
    body: web::Json<SqlRequest>,
) -> Result<HttpResponse, ApiError> {
    let format = parse_format(body.format.as_deref())?;
    let sites = match &body.sites {
        Some(list) if list.is_empty() => {
            return Err(ApiError::Invalid { message: "sites must name at least one site".into(), field: "sites" });
        }
        Some(list) => {
            let mut sites = Vec::with_capacity(list.len());
            for raw in list {
                let site =
                    SiteDomain::parse(raw).map_err(|e| ApiError::Invalid { message: e.to_string(), field: "sites" })?;
                caller.require(&site, Role::Analyst)?;
                sites.push(site);
            }
            sites
        }
        None => caller.sites_with(Role::Analyst),
    };
    let scope = Scope::new(sites).map_err(|_| ApiError::Forbidden)?;
    for site in scope.sites() {
        crate::auth::audit(&state, &caller, "sql", Some(site), &body.query).await;
    }
    let limits = Limits::default().lowered_to(body.max_rows, body.timeout_secs);
    let output =
        analyst::stream(state.store.as_ref(), &scope, &body.query, format, &limits).await.map_err(export_error)?;
    Ok(export_response(output))
}

/// Parses the `format` field (`csv` when absent).
pub(crate) fn parse_format(raw: Option<&str>) -> Result<ExportFormat, ApiError> {
    ExportFormat::parse(raw.unwrap_or("csv"))
        .ok_or(ApiError::Invalid { message: "format must be csv, tsv, jsonl or parquet".into(), field: "format" })
}

/// What an analyst query's failure becomes for the caller.
pub(crate) fn export_error(error: AnalystError) -> ApiError {
    match error {
        AnalystError::FormatUnsupported { .. } => ApiError::Invalid { message: error.to_string(), field: "format" },
        AnalystError::NoSites => ApiError::Invalid { message: error.to_string(), field: "sites" },
        AnalystError::Store(e) => e.into(),
        refused @ (AnalystError::Rejected(_)
        | AnalystError::Engine { .. }
        | AnalystError::TooManyRows { .. }
        | AnalystError::TooManyBytes { .. }
        | AnalystError::TimeLimit { .. }
        | AnalystError::MemoryLimit { .. }) => ApiError::QueryRejected(refused.to_string()),
    }
}

/// The answer to an export: the output streamed as a download.
pub(crate) fn export_response(output: Output) -> HttpResponse {
    let format = output.format;
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("Content-Disposition", format!("attachment; filename=\"larder-export.{}\"", format.name())))
        // Privacy: exports are event-level data; no cache keeps a copy.
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(ExportBody { output: Some(output), pending: None })
}

type NextChunk = Pin<Box<dyn Future<Output = (Output, Result<Option<Bytes>, AnalystError>)>>>;

/// The response body: the query's output, chunk by chunk as the store yields it.
struct ExportBody {
    /// The output, while no chunk is being read.
    output: Option<Output>,
    /// The read in progress, which holds the output until it is done.
    pending: Option<NextChunk>,
}

impl MessageBody for ExportBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let Some(mut output) = this.output.take() else { return Poll::Ready(None) };
            this.pending = Some(Box::pin(async move {
                let next = output.next_chunk().await;
                (output, next)
            }));
        }
        let Some(pending) = this.pending.as_mut() else { return Poll::Ready(None) };
        let (output, next) = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        match next {
            Ok(Some(chunk)) => {
                this.output = Some(output);
                Poll::Ready(Some(Ok(chunk)))
            }
            Ok(None) => Poll::Ready(None),
            Err(error) => {
                // The status is sent already: the response is cut short, which clients see.
                tracing::warn!(%error, "export failed after its output started");
                Poll::Ready(Some(Err(std::io::Error::other(error.to_string()))))
            }
        }
    }
}
