//! The business API under `/v1`, authenticated by the business-line signature.

pub mod ledger;
pub mod notifications;
pub mod pay_orders;
pub mod payouts;
pub mod refunds;

use crate::error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;

/// Whether `s` is a valid business number (order or refund number): 1-64 characters of
/// `[A-Za-z0-9_-]`.
pub fn is_business_no(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a JSON body strictly (unknown fields refused), mapping every failure to
/// 400 `INVALID_REQUEST` with serde's description of where it went wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}
