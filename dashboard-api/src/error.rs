//! The API's one error type, mapped to HTTP status and a JSON body in one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use larder_store::StoreError;

/// Everything a handler can fail with. Client errors carry
/// `{"error":{"code","message","field"}}`; [`ApiError::Unexpected`] becomes a generic 500 and is
/// logged once with its cause.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, missing field).
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    /// A field is well-formed but its value is refused.
    #[error("{message}")]
    Invalid { message: String, field: &'static str },
    /// No credentials, or ones that are not (or no longer) valid.
    #[error("authentication required")]
    Unauthenticated,
    /// A login with a wrong email or password, or one refused by the lock-out: the same answer
    /// for all three, so that neither accounts nor lock-outs can be probed.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The caller is known but their role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// A state-changing request authenticated by the session cookie lacks the session's
    /// `X-CSRF-Token` header, or carries another one.
    #[error("missing or wrong X-CSRF-Token header")]
    Csrf,
    /// The request contradicts what exists (a duplicate, removing the last owner).
    #[error("{message}")]
    Conflict { message: String, field: Option<&'static str> },
    /// The named thing does not exist.
    #[error("{what} not found")]
    NotFound { what: &'static str, field: &'static str },
    /// The engine refused an analyst's statement.
    #[error("the query was refused: {0}")]
    QueryRejected(String),
    /// The store cannot be reached now; retrying later can help.
    #[error("the store is unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or an unexpected store answer.
    #[error("internal error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Invalid { .. } => "invalid_field",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::Csrf => "csrf",
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::QueryRejected(_) => "query_rejected",
            Self::Unavailable(_) => "store_unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::BadRequest { field, .. } => field.as_deref(),
            Self::Invalid { field, .. } | Self::NotFound { field, .. } => Some(field),
            Self::QueryRejected(_) => Some("query"),
            Self::Conflict { field, .. } => *field,
            _ => None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            e if e.is_retryable() => Self::Unavailable(e),
            StoreError::Invalid(message) => Self::BadRequest { message, field: None },
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } | Self::QueryRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unexpected(cause) => tracing::error!(error = %cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "store unavailable"),
            _ => {}
        }
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string(), "field": self.field() }
        });
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unavailable(_)) {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(body)
    }
}

/// Turns actix's JSON extractor failures into [`ApiError::BadRequest`].
pub(crate) fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest { message: format!("the body is not valid JSON for this request: {err}"), field: None }.into()
}

/// Turns actix's query-string extractor failures into [`ApiError::BadRequest`].
pub(crate) fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest { message: format!("the query string is not valid for this request: {err}"), field: None }
        .into()
}
