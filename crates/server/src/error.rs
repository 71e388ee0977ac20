//! API errors: every failure leaves as JSON `{"code", "message"}` with a stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The stable error codes of the API. Clients switch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed JSON, unknown fields, wrong types, values out of range.
    InvalidRequest,
    /// A notify or return URL outside the business line's allowed prefixes.
    UrlNotAllowed,
    /// The body is over the configured limit.
    PayloadTooLarge,
    /// Missing, malformed or wrong signature, unknown or disabled app id.
    Unauthorized,
    /// The request timestamp is more than 300 s from the server's clock.
    TimestampExpired,
    /// The nonce was already used by this app id within the window.
    NonceReplayed,
    /// The operator is signed in but their role does not allow this (viewers cannot write).
    Forbidden,
    /// A rule set failed validation; the body lists the `findings`.
    RulesInvalid,
    /// The active rule set version is not the one the request expected (someone else
    /// published or rolled back first); nothing changed.
    RulesVersionConflict,
    /// No such resource for this caller.
    NotFound,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// The same business number with different fields.
    IdempotencyConflict,
    /// The resource's state does not allow the operation.
    InvalidState,
    /// The checkout method is not offered for this order and terminal (by the rules).
    MethodNotOffered,
    /// The order cannot be paid any more (paid, closed or expired).
    OrderNotPayable,
    /// The order reached its limit of payment attempts.
    TooManyAttempts,
    /// The refund is more than the order's paid amount minus what is already refunded
    /// or being refunded.
    RefundExceedsRefundable,
    /// The payment is older than the provider's refund window, or has too many refunds.
    RefundNotAllowed,
    /// The available balance does not cover the withdrawal; nothing was written.
    InsufficientBalance,
    /// The payout is above the largest single payout, or would take the business line
    /// over its daily payout limit; nothing was written.
    PayoutLimitExceeded,
    /// The pay order is already settled (under another settlement number); nothing was
    /// written.
    AlreadySettled,
    /// The payment provider could not be reached or did not answer in time; nothing was
    /// concluded (the request may be retried).
    ProviderUnavailable,
    /// A dependency (the database) is unavailable.
    ServiceUnavailable,
    /// A bug or an unexpected failure; details are in the server log.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status for the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::UrlNotAllowed | Self::RulesInvalid => {
                StatusCode::BAD_REQUEST
            }
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized | Self::TimestampExpired | Self::NonceReplayed => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MethodNotOffered => StatusCode::BAD_REQUEST,
            Self::IdempotencyConflict
            | Self::InvalidState
            | Self::RulesVersionConflict
            | Self::OrderNotPayable
            | Self::TooManyAttempts
            | Self::RefundExceedsRefundable
            | Self::RefundNotAllowed
            | Self::InsufficientBalance
            | Self::PayoutLimitExceeded
            | Self::AlreadySettled => StatusCode::CONFLICT,
            Self::ProviderUnavailable => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
}

/// An error to answer with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 400 `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 401 `UNAUTHORIZED` with a deliberately vague message.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "the request signature or credentials are not valid",
        )
    }
}

impl From<paydesk_store::StoreError> for ApiError {
    fn from(e: paydesk_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        if e.is_unavailable() {
            ApiError::new(ErrorCode::ServiceUnavailable, "the database is unavailable")
        } else {
            ApiError::new(ErrorCode::InternalError, "internal error")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let mut resp = (
            status,
            Json(ErrorBody {
                code: self.code,
                message: self.message,
            }),
        )
            .into_response();
        // Lets the metrics layer count errors by code without parsing bodies.
        resp.extensions_mut().insert(self.code);
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// Turns any error response that did not come from [`ApiError`] (axum's own extractor
/// rejections: a path segment that is not UTF-8, a query string that does not parse, a
/// wrong content type) into the JSON error shape with a stable code, keeping the status
/// and axum's description as the message.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<ErrorCode>().is_some()
    {
        return resp;
    }
    let code = match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::PayloadTooLarge,
        503 => ErrorCode::ServiceUnavailable,
        400..=499 => ErrorCode::InvalidRequest,
        _ => ErrorCode::InternalError,
    };
    let bytes = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let message: String = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text.trim().chars().take(300).collect()
    };
    let mut out = ApiError::new(code, message).into_response();
    *out.status_mut() = status;
    out
}
