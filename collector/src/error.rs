//! The collector's one error type, mapped to HTTP in one place. Every client error has the body
//! `{"error":{"code","message","field"}}`; messages never echo IPs, user agents or bodies.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the content type must be application/json or text/plain")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("a batch holds at most {max} events, this one {count}")]
    TooManyEvents { count: usize, max: usize },
    #[error("{message}")]
    Malformed { message: String, field: Option<String> },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{site} is not a registered site")]
    UnknownSite { site: String, field: String },
    #[error("events from this origin are not accepted")]
    OriginNotAllowed { field: Option<String> },
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("the collector cannot store more events right now; retry later")]
    SpoolFull,
    #[error("the collector is not ready: {0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::TooManyEvents { .. } => "too_many_events",
            Self::Malformed { .. } => "malformed",
            Self::Invalid { .. } => "invalid_field",
            Self::UnknownSite { .. } => "unknown_site",
            Self::OriginNotAllowed { .. } => "origin_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::SpoolFull => "spool_full",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::TooManyEvents { .. } => Some("events"),
            Self::Malformed { field, .. } | Self::OriginNotAllowed { field } => field.as_deref(),
            Self::Invalid { field, .. } | Self::UnknownSite { field, .. } => Some(field),
            _ => None,
        }
    }

    fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::RateLimited => Some(1),
            Self::SpoolFull => Some(30),
            Self::Unavailable(_) => Some(5),
            _ => None,
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } | Self::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnknownSite { .. } => StatusCode::NOT_FOUND,
            Self::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::SpoolFull | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(cause) = self {
            tracing::error!(error = %cause, "ingest failed");
        }
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string(), "field": self.field() }
        });
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(body)
    }
}
