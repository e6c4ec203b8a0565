//! The one place where failures become wire errors.

use confab_proto::ErrorCode;
use confab_store::StoreError;

/// A request failed: the code and message sent back to the client (or
/// printed by `confab admin`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// With `rate_limited`: when to try again.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A `rate_limited` error saying when to try again.
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError {
            code: ErrorCode::RateLimited,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    /// The wire frame for this error.
    pub(crate) fn frame(&self, id: Option<u64>) -> confab_proto::ServerFrame {
        let mut f = confab_proto::ServerFrame::error(id, self.code, self.message.clone());
        if let confab_proto::ServerBody::Error { retry_after_ms, .. } = &mut f.body {
            *retry_after_ms = self.retry_after.map(|d| d.as_millis().max(1) as u64);
        }
        f
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NameTaken(name) => ApiError::new(
                ErrorCode::NameTaken,
                format!("the name `{name}` is already taken"),
            ),
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            other => {
                tracing::error!(error = %other, "storage failed");
                ApiError::new(
                    ErrorCode::Internal,
                    "the server could not reach its storage; try again",
                )
            }
        }
    }
}
