//! The web layer's one error type. Status codes are chosen in one place;
//! a 500 logs its cause and shows a plain message; API requests get JSON
//! `{error, detail}` and page requests an HTML page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::charts::ChartError;
use crate::experiments::ExperimentError;
use crate::flash::FlashError;
use crate::recorder::ImportError;
use crate::report::ReportError;
use crate::scenario::ScenarioError;
use crate::store::InvalidDevice;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("a valid token is required: `Authorization: Bearer <token>`, or sign in at /login")]
    Unauthorized,
    /// A credential that may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// A device this server talks to refused or failed (its reason).
    #[error("{0}")]
    BadGateway(String),
    /// The cause is kept for the log and never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type WebResult<T> = Result<T, WebError>;

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short machine-readable name for the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            WebError::NotFound(_) => "not_found",
            WebError::BadRequest(_) => "bad_request",
            WebError::Conflict(_) => "conflict",
            WebError::Unauthorized => "unauthorized",
            WebError::Forbidden(_) => "forbidden",
            WebError::PayloadTooLarge => "payload_too_large",
            WebError::Unavailable(_) => "unavailable",
            WebError::BadGateway(_) => "bad_gateway",
            WebError::Internal(_) => "internal",
        }
    }

    /// What a person may see: never the cause of a 500.
    pub fn detail(&self) -> String {
        self.to_string()
    }
}

impl WebError {
    /// A 500 whose cause is logged with its whole source chain.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        WebError::Internal(cause.into())
    }

    /// Logs a 500's cause and every source under it; other errors are the
    /// client's and are not logged as errors.
    pub fn log_if_internal(&self) {
        if let WebError::Internal(cause) = self {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(cause = %chain, "internal error");
        }
    }
}

impl From<tokio::task::JoinError> for WebError {
    fn from(e: tokio::task::JoinError) -> Self {
        WebError::internal(e)
    }
}

impl From<std::io::Error> for WebError {
    fn from(e: std::io::Error) -> Self {
        WebError::internal(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let mut response = (
            self.status(),
            Json(json!({"error": self.code(), "detail": self.detail()})),
        )
            .into_response();
        if matches!(self, WebError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => WebError::NotFound(format!("{what} {id}")),
            StoreError::Conflict(msg) => WebError::Conflict(msg),
            other => WebError::internal(other),
        }
    }
}

impl From<ReportError> for WebError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Store(e) => e.into(),
            other => WebError::internal(other),
        }
    }
}

impl From<ImportError> for WebError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(e) => e.into(),
            ImportError::Artifact(e) => WebError::BadRequest(e.to_string()),
            other => WebError::internal(other),
        }
    }
}

impl From<InvalidDevice> for WebError {
    fn from(e: InvalidDevice) -> Self {
        WebError::BadRequest(e.to_string())
    }
}

impl From<ExperimentError> for WebError {
    fn from(e: ExperimentError) -> Self {
        match e {
            ExperimentError::Store(e) => e.into(),
            ExperimentError::Report(e) => e.into(),
            ExperimentError::Markdown(e) => WebError::BadRequest(e.to_string()),
            ExperimentError::Invalid(msg) => WebError::BadRequest(msg),
        }
    }
}

impl From<ChartError> for WebError {
    fn from(e: ChartError) -> Self {
        match e {
            ChartError::BadParameter { .. } => WebError::BadRequest(e.to_string()),
            ChartError::Draw(cause) => WebError::internal(cause),
        }
    }
}

impl From<ScenarioError> for WebError {
    fn from(e: ScenarioError) -> Self {
        match e {
            ScenarioError::Store(e) => e.into(),
            ScenarioError::Report(e) => e.into(),
            ScenarioError::NotFound(what) => WebError::NotFound(what),
            ScenarioError::Device(msg) => WebError::Conflict(msg),
            ScenarioError::Http(e) => WebError::internal(e),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<FlashError> for WebError {
    fn from(e: FlashError) -> Self {
        match e {
            FlashError::Store(e) => e.into(),
            FlashError::Busy(_) => WebError::Conflict(e.to_string()),
            e if e.is_bad_input() => WebError::BadRequest(e.to_string()),
            // The device refused, was not reached, or did not come back.
            e => WebError::BadGateway(e.to_string()),
        }
    }
}
