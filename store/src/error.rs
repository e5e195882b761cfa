//! The store's one error type. It says whether retrying can help.

use std::path::PathBuf;

/// What went wrong talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine could not be reached or is overloaded; the same request may succeed later.
    #[error("store unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The engine refused the statement; sending it again will not help.
    #[error("store rejected the statement (code {code}): {message}")]
    Rejected { code: u32, message: String },
    /// The engine answered with bytes that do not decode into the expected rows.
    #[error("cannot decode the store's answer: {0}")]
    Decode(String),
    /// Another process holds the embedded store's data directory (chDB allows one).
    #[error("data directory {} is held by another process", dir.display())]
    Locked { dir: PathBuf },
    /// The chDB library could not be loaded.
    #[error("cannot load chDB from {}: {source}", path.display())]
    Library {
        path: PathBuf,
        #[source]
        source: libloading::Error,
    },
    /// A migration statement failed; earlier statements of the same file may have applied.
    #[error("migration {name} failed at statement {statement}: {source}")]
    Migration {
        name: String,
        statement: usize,
        #[source]
        source: Box<StoreError>,
    },
    /// An applied migration's file changed afterwards.
    #[error("migration {name} was applied with checksum {applied} but the file now has {current}")]
    MigrationChanged { name: String, applied: String, current: String },
    /// The caller asked for something the store does not allow.
    #[error("{0}")]
    Invalid(String),
}

/// Error codes that ClickHouse uses for conditions that pass: overload, timeouts, network.
const TRANSIENT_CODES: &[u32] = &[
    3,   // UNEXPECTED_END_OF_FILE (connection cut)
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
];

impl StoreError {
    /// Whether sending the same request again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Classifies an error message from the engine (`Code: 60. DB::Exception: …`).
    pub(crate) fn from_engine_message(message: &str) -> Self {
        let code = parse_error_code(message).unwrap_or(0);
        let message = message.trim().to_owned();
        if TRANSIENT_CODES.contains(&code) {
            Self::Unavailable { message, source: None }
        } else {
            Self::Rejected { code, message }
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into(), source: None }
    }
}

/// Finds `Code: N` in a ClickHouse error message.
pub(crate) fn parse_error_code(message: &str) -> Option<u32> {
    let start = message.find("Code: ")? + "Code: ".len();
    let digits: String = message[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_are_classified_by_code() {
        let missing = StoreError::from_engine_message("Code: 60. DB::Exception: Table x doesn't exist");
        assert!(matches!(missing, StoreError::Rejected { code: 60, .. }), "{missing:?}");
        let old_style = StoreError::from_engine_message("Code: 62, e.displayText() = DB::Exception: Syntax error");
        assert!(matches!(old_style, StoreError::Rejected { code: 62, .. }), "{old_style:?}");
        let overloaded = StoreError::from_engine_message("Code: 202. DB::Exception: Too many simultaneous queries");
        assert!(overloaded.is_retryable(), "{overloaded:?}");
        let unknown = StoreError::from_engine_message("something odd");
        assert!(matches!(unknown, StoreError::Rejected { code: 0, .. }), "{unknown:?}");
    }
}
