//! [`ApiError`]: every failure of a `/api/v1` request, as `{"error": message}` with its
//! status code. Refusals (4xx) are the client's business and are not logged as failures;
//! store failures are logged and answered `503`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::AuthError;
use crate::store::StoreError;

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token or an unknown one (`401`), or a token whose scope is too weak (`403`).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The project, pipeline or job does not exist (`404`).
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the current state, such as canceling a finished pipeline (`409`).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed (`400`).
    #[error("{0}")]
    BadRequest(String),
    /// The store failed (`503`; the request may be sent again).
    #[error("the store is unavailable; try again")]
    Unavailable,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            StoreError::Refused { reason } => ApiError::Conflict(reason),
            other => {
                tracing::error!("API request failed in the store: {:#}", anyhow::Error::from(other));
                ApiError::Unavailable
            }
        }
    }
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(AuthError::Forbidden { .. }) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = super::error(status, self.to_string());
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Runs a store call off the async runtime.
pub(super) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(panicked) => {
            tracing::error!("a store call of the API panicked: {panicked}");
            Err(ApiError::Unavailable)
        }
    }
}
