//! The business API under `/v1`, authenticated by the business-line signature.

pub mod notifications;
pub mod pay_orders;
pub mod refunds;

use crate::error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;

/// Parses a JSON body strictly (unknown fields refused), mapping every failure to
/// 400 `INVALID_REQUEST` with serde's description of where it went wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}
